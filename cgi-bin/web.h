/*
 * The HTTP face: FastCGI requests, the route table and the handlers.
 * Out-of-memory policy as in lib/nexus.h (abort).
 */
#ifndef WEB_H
#define WEB_H

#include <json-c/json.h>

#include "nexus.h"

#define PATH_MAX_LEN	512	/* longer request paths get 414 */
#define PATH_PARAMS_MAX	4	/* {name} segments in a route's path */
#define PATH_PARAM_MAX	64	/* bytes of a captured value, decoded */

/* What a route needs before its handler runs (their table: routes.c). */
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
	struct shm	*shm;		/* the host's shared region */
	int		 listen_fd;
	unsigned char	 event_prefix[8];	/* random: see apikey.c */
	uint64_t	 event_seq;
};

/* A value a route's "{name}" path segment captured (routes.c). */
struct path_param {
	const char	*name;		/* in the route's path: namelen bytes */
	size_t		 namelen;
	char		 value[PATH_PARAM_MAX + 1];
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
	const struct route *route;
	struct path_param params[PATH_PARAMS_MAX];
	size_t		 nparams;

	/* Who is calling, once authenticated. */
	char		 user_id[USER_ID_MAX + 1];
	struct apikey	 key;		/* key.id != 0: an API-key call */
	unsigned char	 event_id[EVENT_ID_LEN];
	struct quota	 quota;

	/* The response. */
	int		 status;
	struct buf	 headers;
	struct buf	 out;
	int		 broken;	/* a header was lost: answer 500 */
};

typedef void (*handler_fn)(struct request *);

struct route {
	const char	*method;
	const char	*path;		/* "{name}" segments capture a value */
	enum auth_kind	 auth;
	handler_fn	 handler;
};

/*
 * An authentication kind: authenticate() returns 0 when the handler may
 * run, -1 with the refusal answered; after() runs once the response is
 * written, before the request is finished.
 */
struct auth {
	enum auth_kind	 kind;
	int		(*authenticate)(struct request *);	/* NULL: anyone */
	void		(*after)(struct request *);		/* or NULL */
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
int		 req_body(struct request *, const struct body_field *, size_t,
		    struct body_value *);
json_object	*json_time(time_t);
void		 resp_header(struct request *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
void		 resp_json(struct request *, int, json_object *);
void		 resp_error(struct request *, int, const char *, const char *,
		    ...) __attribute__((format(printf, 4, 5)));
void		 resp_finish(struct request *);
const char	*http_reason(int);
int		 http_pct_decode(const char *, size_t, int, char *, size_t);
size_t		 http_params_size(char **);
int		 http_path_from_uri(const char *, char *, size_t,
		    const char **);

/* api_usage.c */
json_object	*usage_plan_json(const struct usage_plan *);
json_object	*spendcap_json(const struct spend_cap *);
void		 api_usage_current(struct request *);
void		 api_usage_history(struct request *);
void		 api_usage_endpoints(struct request *);
void		 api_usage_overage(struct request *);

/* auth.c */
const char	*auth_bearer(const struct request *);
int		 auth_user(struct request *);
int		 auth_admin(struct request *);
int		 auth_cron(struct request *);

/* routes.c */
void		 route_dispatch(struct request *);
void		 route_dispatch_table(struct request *, const struct route *,
		    size_t);
void		 route_after(struct request *);
int		 route_match(const char *, const char *, struct path_param *,
		    size_t *);
const char	*req_path_param(const struct request *, const char *);

/* apikey.c */
int		 apikey_auth(struct request *);
void		 apikey_record(struct request *);

/* api_keys.c */
void		 api_keys_list(struct request *);
void		 api_keys_create(struct request *);
void		 api_keys_rotate(struct request *);
void		 api_keys_revoke(struct request *);

/* api_billing.c */
void		 api_billing_cap_get(struct request *);
void		 api_billing_cap_put(struct request *);
void		 api_admin_user_cap(struct request *);

/* api_portal.c */
void		 api_portal_config(struct request *);
void		 api_me(struct request *);

/* api_secure.c */
void		 api_ping(struct request *);

/* api_admin.c */
json_object	*json_money(long long);
json_object	*plans_json(const struct usage_plan *, size_t);
void		 api_admin_overview(struct request *);
void		 api_admin_users(struct request *);
void		 api_admin_daily(struct request *);

/* api_admin_user.c */
void		 api_admin_user(struct request *);
void		 api_admin_user_plan(struct request *);
void		 api_admin_user_key_revoke(struct request *);
void		 api_admin_ledger_retry(struct request *);

/* api_cron.c */
void		 api_cron_overage(struct request *);

/* api_health.c */
void		 api_health(struct request *);
void		 api_live(struct request *);

#endif /* WEB_H */
