/*
 * nexus-usage engine: everything that is not HTTP and not a main().
 *
 * Out-of-memory policy: the x*alloc() wrappers abort (as tmux and redis
 * do). A worker that cannot allocate a few bytes cannot serve anyone, and
 * its spool is replayed by the next worker; every other failure is
 * returned to the caller.
 */
#ifndef NEXUS_H
#define NEXUS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct db;

/* Plans, users and keys: identifiers have fixed maximum lengths. */
#define USER_ID_MAX	40	/* "eco_usr_" + 24 base62, with room */
#define EMAIL_MAX	254	/* RFC 5321 path limit */
#define PLAN_ID_MAX	32
#define CUSTOMER_ID_MAX	64	/* Stripe "cus_..." */

/* util.c */
void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
void		*xrealloc(void *, size_t);
char		*xstrdup(const char *);
int		 xasprintf(char **, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
size_t		 strlcpy_(char *, const char *, size_t);
int		 parse_int(const char *, long long, long long, long long *);
int		 ct_equal(const char *, const char *);
int		 random_bytes(void *, size_t);
int		 random_base62(char *, size_t);
void		 hex_encode(const unsigned char *, size_t, char *);
time_t		 period_start(time_t);
time_t		 period_end(time_t);
time_t		 day_start(time_t);
int		 time_parse_date(const char *, time_t *);
void		 time_format(time_t, char *, size_t);
void		 time_format_date(time_t, char *, size_t);
int64_t		 now_usec(void);

/*
 * A growable byte buffer with a hard cap: buf_add() fails rather than
 * grow past it (curl's dynbuf "toobig").
 */
struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
	size_t	 max;
};
void		 buf_init(struct buf *, size_t);
int		 buf_add(struct buf *, const void *, size_t);
int		 buf_addstr(struct buf *, const char *);
int		 buf_printf(struct buf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 buf_reset(struct buf *);
void		 buf_free(struct buf *);

/* config.c */
struct config {
	char	*db_host;
	long long db_port;
	char	*db_socket;
	char	*db_user;
	char	*db_password;
	char	*db_name;
	long long db_connect_timeout;
	char	*migrations_dir;

	char	*listen;		/* unix socket path or host:port */
	long long workers;
	char	*spool_dir;
	long long flush_interval_ms;
	long long flush_batch;
	long long max_body;
	long long max_headers;
	char	*trusted_proxy;

	long long key_cache_ttl;	/* seconds a key lookup is trusted */
	long long key_cache_size;
	long long key_lookup_rate;	/* uncached key lookups a second */
	long long usage_refresh_ms;

	char	*jwt_secret;
	char	*jwt_alg;
	char	*jwt_public_key_file;
	char	*jwt_issuer;
	char	*jwt_audience;
	long long jwt_leeway;
	char	*admin_ids;
	char	*cron_secret;

	char	*stripe_secret_key;
	char	*stripe_api_base;
	long long stripe_rate;
	long long stripe_timeout_ms;
	long long stripe_max_retries;

	long long retention_days;
	char	*log_level;
};
int		 config_load(struct config *, const char *);
void		 config_free(struct config *);
const char	*config_default_path(void);

/* log.c */
void		 log_init(const char *, const char *);
void		 log_info(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_warnx(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_debug(const char *, ...)
		    __attribute__((format(printf, 1, 2)));

/*
 * db.c: one connection, its prepared statements, and reconnection.
 *
 * Statements are named by their SQL text (a static string): db_stmt()
 * prepares each once per connection and keeps it until the connection is
 * lost (sqlbox's statement table, without a global enum). Parameters are
 * passed as arrays of struct dbp; results come back as text columns that
 * the caller reads with db_int()/db_str().
 */
enum dbp_type { DBP_NULL, DBP_INT, DBP_STR, DBP_BLOB };
struct dbp {
	enum dbp_type	 type;
	long long	 i;
	const void	*s;
	size_t		 n;
};
#define DBP_I(v)	((struct dbp){ DBP_INT, (long long)(v), NULL, 0 })
#define DBP_S(v)	((struct dbp){ DBP_STR, 0, (v), strlen(v) })
#define DBP_SN(v, len)	((struct dbp){ DBP_STR, 0, (v), (len) })
#define DBP_B(v, len)	((struct dbp){ DBP_BLOB, 0, (v), (len) })
#define DBP_NUL		((struct dbp){ DBP_NULL, 0, NULL, 0 })
#define DBP_SNULL(v)	((v) != NULL ? DBP_S(v) : DBP_NUL)

struct dbres;

struct db	*db_open(const struct config *);
void		 db_close(struct db *);
int		 db_ping(struct db *);
int		 db_exec(struct db *, const char *, const struct dbp *, size_t,
		    unsigned long long *);
int		 db_exec_id(struct db *, const char *, const struct dbp *,
		    size_t, unsigned long long *);
int		 db_exec2(struct db *, const char *, const struct dbp *,
		    size_t, unsigned long long *, unsigned long long *);
struct dbres	*db_query(struct db *, const char *, const struct dbp *, size_t);
int		 db_next(struct dbres *);
int		 db_isnull(const struct dbres *, unsigned int);
long long	 db_int(const struct dbres *, unsigned int);
const char	*db_str(const struct dbres *, unsigned int);
size_t		 db_len(const struct dbres *, unsigned int);
void		 db_done(struct dbres *);
int		 db_begin(struct db *);
int		 db_commit(struct db *);
void		 db_rollback(struct db *);
int		 db_raw(struct db *, const char *);
int		 db_lock(struct db *, const char *, int);
void		 db_unlock(struct db *, const char *);
const char	*db_error(const struct db *);
int		 db_errno(const struct db *);
void		*db_handle(struct db *);

/* migrate.c */
int		 migrate_apply(struct db *, const char *,
		    void (*)(int, const char *));

/* audit.c */
int		 audit_log(struct db *, const char *, const char *,
		    const char *, const char *, const char *);

/* users.c */
struct user {
	char	 id[USER_ID_MAX + 1];
	char	 email[EMAIL_MAX + 1];
	char	 plan[PLAN_ID_MAX + 1];
	char	 customer[CUSTOMER_ID_MAX + 1];	/* "" when none */
	time_t	 created;
};
enum user_err {
	USER_OK = 0,
	USER_ERR_DB = -1,
	USER_ERR_EXISTS = -2,
	USER_ERR_NOPLAN = -3,
	USER_ERR_NOUSER = -4,
	USER_ERR_INVALID = -5
};
int		 user_email_valid(const char *);
int		 user_id_valid(const char *);
int		 user_customer_valid(const char *);
int		 user_create(struct db *, const char *, const char *,
		    const char *, struct user *);
int		 user_get(struct db *, const char *, struct user *);
int		 user_set_plan(struct db *, const char *, const char *);
int		 user_list(struct db *, int (*)(void *, const struct user *),
		    void *);

/* keys.c */
#define KEY_PREFIX	"nx_live_"
#define KEY_RANDOM	43		/* base62: 256 bits */
#define KEY_LEN		(sizeof(KEY_PREFIX) - 1 + KEY_RANDOM)
#define KEY_DISPLAY	12		/* "nx_live_AbCd" */
#define KEY_HASH_LEN	32		/* SHA-256 */
#define KEY_NAME_MAX	100
struct apikey {
	unsigned long long id;
	char		 user_id[USER_ID_MAX + 1];
	char		 plan[PLAN_ID_MAX + 1];
	long long	 limit;		/* calls a month; -1 unlimited */
	int		 hard;		/* refuse calls past the limit */
	time_t		 expires;	/* 0: never */
	int		 revoked;
};
struct keyinfo {
	unsigned long long id;
	char		 prefix[KEY_DISPLAY + 1];
	char		 name[KEY_NAME_MAX + 1];
	time_t		 created, last_used, expires, revoked;	/* 0: never */
};
int		 key_format_valid(const char *);
void		 key_hash(const char *, unsigned char[KEY_HASH_LEN]);
int		 key_create(struct db *, const char *, const char *, time_t,
		    char[KEY_LEN + 1], unsigned long long *);
int		 key_lookup(struct db *, const unsigned char[KEY_HASH_LEN],
		    struct apikey *);
int		 key_list(struct db *, const char *,
		    int (*)(void *, const struct keyinfo *), void *);
int		 key_revoke(struct db *, unsigned long long);
int		 key_rotate(struct db *, unsigned long long, long long,
		    char[KEY_LEN + 1], unsigned long long *);

/* keycache.c */
enum key_result { KEY_OK, KEY_INVALID, KEY_UNAVAILABLE };
struct keycache;
struct keycache	*keycache_new(size_t, long long, long long);
void		 keycache_free(struct keycache *);
int		 keycache_get(struct keycache *, struct db *, const char *,
		    int64_t, struct apikey *);

/* quota.c */
struct quota {
	long long	 limit;		/* -1: unlimited */
	long long	 used;		/* in the period, this call included */
	long long	 remaining;	/* -1: unlimited */
	long long	 overage;	/* calls past a soft limit */
	int		 hard;
	int		 admitted;
	int		 counted;	/* already in the period's count */
	time_t		 period;	/* first second of the month */
	time_t		 reset;		/* first second of the next */
};
struct counters;
struct counters	*counters_new(size_t, long long);
void		 counters_free(struct counters *);
void		 counters_written(struct counters *, const char *, time_t,
		    long long);
int		 quota_admit(struct db *, struct counters *,
		    const struct apikey *, int64_t, struct quota *);

/* usage.c */
#define EVENT_ID_LEN	16
#define ENDPOINT_MAX	128
#define METHOD_MAX	8
struct usage_event {
	unsigned char	 id[EVENT_ID_LEN];
	char		 user_id[USER_ID_MAX + 1];
	unsigned long long key_id;
	int64_t		 ts_ms;
	char		 method[METHOD_MAX + 1];
	char		 endpoint[ENDPOINT_MAX + 1];
	int		 status;
	unsigned int	 latency_us;
	int		 count;		/* the writer adds it to the period */
	long long	 limit;		/* the plan's, for overage; -1 none */
};
struct usage;
struct usage	*usage_start(const struct config *, struct counters *);
void		 usage_new_id(struct usage *, unsigned char[EVENT_ID_LEN]);
int		 usage_record(struct usage *, const struct usage_event *);
void		 usage_stop(struct usage *);
int		 usage_replay(const struct config *, struct db *);

#endif /* NEXUS_H */
