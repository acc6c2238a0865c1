/*
 * The HTTP face: FastCGI requests, the route table and the handlers.
 * Out-of-memory policy as in lib/nexus.h (abort).
 */
#ifndef WEB_H
#define WEB_H

#include <json-c/json.h>

#include "nexus.h"

#define PATH_MAX_LEN	512	/* longer request paths get 414 */

/* What a route needs before its handler runs. */
enum auth_kind {
	AUTH_NONE,	/* open: health and liveness */
	AUTH_KEY,	/* API key, quota, usage tracking */
	AUTH_USER,	/* a user's JWT */
	AUTH_ADMIN,	/* a user's JWT whose sub is an admin */
	AUTH_CRON	/* the cron secret */
};

/* One per worker process: what lives across requests. */
struct server {
	struct config	*cfg;
	struct db	*db;
	struct keycache	*keys;
	struct counters	*counters;
	struct usage	*usage;
	struct admins	*admins;	/* admin_ids, parsed once */
	int		 listen_fd;
};

/* One per accept-loop turn, freed in one place (req_free). */
struct request {
	struct server	*srv;
	char		**envp;
	const char	*method;
	char		 path[PATH_MAX_LEN];
	const char	*query;		/* after '?', or "" */
	const char	*remote;
	char		*body;
	size_t		 bodylen;
	int64_t		 start_us;

	/* Who is calling, once authenticated. */
	char		 user_id[USER_ID_MAX + 1];
	struct apikey	 key;		/* key.id != 0: an API-key call */
	unsigned char	 event_id[EVENT_ID_LEN];
	struct quota	 quota;
	int		 quota_known;
	const struct route *route;

	/* The response. */
	int		 status;
	struct buf	 headers;
	struct buf	 out;
};

typedef void (*handler_fn)(struct request *);

struct route {
	const char	*method;
	const char	*path;
	enum auth_kind	 auth;
	handler_fn	 handler;
};

/* http.c */
void		 req_init(struct request *, struct server *, char **);
void		 req_free(struct request *);
const char	*req_param(const struct request *, const char *);
const char	*req_header(const struct request *, const char *);
int		 req_query(const struct request *, const char *, char *,
		    size_t);
int		 req_query_int(struct request *, const char *, long long,
		    long long, long long, long long *);
void		 resp_header(struct request *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
void		 resp_json(struct request *, int, json_object *);
void		 resp_error(struct request *, int, const char *, const char *,
		    ...) __attribute__((format(printf, 4, 5)));
const char	*http_reason(int);
size_t		 http_params_size(char **);
int		 http_path_from_uri(const char *, char *, size_t,
		    const char **);

/* api_usage.c */
void		 api_usage_current(struct request *);
void		 api_usage_history(struct request *);
void		 api_usage_endpoints(struct request *);
void		 api_usage_overage(struct request *);

/* auth.c */
const char	*auth_bearer(const struct request *);
int		 auth_user(struct request *);
int		 auth_admin(struct request *);

/* routes.c */
void		 route_dispatch(struct request *);

/* apikey.c */
int		 auth_key(struct request *);
void		 ratelimit_headers(struct request *);

/* api_secure.c */
void		 api_ping(struct request *);

/* api_admin.c */
void		 api_admin_overview(struct request *);
void		 api_admin_users(struct request *);

/* api_cron.c */
int		 api_cron_auth(struct request *);
void		 api_cron_overage(struct request *);

/* api_health.c */
void		 api_health(struct request *);
void		 api_live(struct request *);

#endif /* WEB_H */
