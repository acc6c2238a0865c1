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

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct db;

/* Plans, users and keys: identifiers have fixed maximum lengths. */
#define USER_ID_MAX	40	/* "eco_usr_" + 24 base62, with room */
#define EMAIL_MAX	254	/* RFC 5321 path limit */
#define PLAN_ID_MAX	32
#define CUSTOMER_ID_MAX	64	/* Stripe "cus_..." */

#define MICROS_PER_CENT	10000	/* prices a call are in micro-dollars */

/* util.c */
#define DAY_SECONDS	86400
void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
void		*xrealloc(void *, size_t);
char		*xstrdup(const char *);
int		 xasprintf(char **, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
size_t		 strlcpy_(char *, const char *, size_t);
int		 parse_int(const char *, long long, long long, long long *);
size_t		 utf8_decode(const unsigned char *, size_t, uint32_t *);
int		 ct_equal(const char *, const char *);
int		 random_bytes(void *, size_t);
int		 random_base62(char *, size_t);
void		 hex_encode(const unsigned char *, size_t, char *);
int		 hex_decode(const char *, size_t, unsigned char *);
time_t		 period_start(time_t);
time_t		 period_end(time_t);
time_t		 day_start(time_t);
int		 time_parse_date(const char *, time_t *);
void		 time_format(time_t, char *, size_t);
void		 time_format_date(time_t, char *, size_t);
int64_t		 now_usec(void);
int64_t		 mono_ms(void);
uint64_t	 fnv1a(const void *, size_t);

/* money.c: integer cents and micro-dollars; the overage price */
void		 num_group(long long, char *, size_t);
void		 money_format(long long, char *, size_t);
int		 price_step(long long, long long *, long long *);
int		 overage_billable(long long, long long, long long *,
		    long long *);
int		 overage_describe(char *, size_t, long long, long long,
		    time_t);

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
	char	*socket_group;		/* the web server's: may connect */
	long long request_timeout_ms;	/* a stalled connection is dropped */
	long long workers;
	char	*spool_dir;
	long long spool_max_bytes;	/* then API-key calls get 503 */
	long long flush_interval_ms;
	long long flush_batch;
	long long max_body;
	long long max_headers;
	char	*trusted_proxy;

	long long key_cache_ttl;	/* seconds a key lookup is trusted */
	long long key_cache_size;
	long long key_lookup_rate;	/* uncached key lookups a second */
	char	*key_secret;		/* the MAC of new keys (keys.c) */
	long long max_keys_per_user;	/* live keys a user may hold */
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
	char	*runtime_dir;		/* the host's shared region (shm.c) */

	char	*public_url;		/* where the portal is: sign-in links */
	char	*login_url;		/* the platform's sign-in page */
	char	*upgrade_url;		/* the platform's plan checkout */
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
 * A statement is named by the address of its SQL text, which must be a
 * static string: db_stmt() prepares each once per connection and keeps
 * it until the connection is lost (sqlbox's statement table, without a
 * global enum). Parameters are
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
struct db	*db_open_tx(const struct config *);
void		 db_close(struct db *);
int		 db_ping(struct db *);
int		 db_exec(struct db *, const char *, const struct dbp *, size_t,
		    unsigned long long *);
int		 db_exec_id(struct db *, const char *, const struct dbp *,
		    size_t, unsigned long long *);
int		 db_exec_affected_id(struct db *, const char *,
		    const struct dbp *, size_t, unsigned long long *,
		    unsigned long long *);
struct dbres	*db_query(struct db *, const char *, const struct dbp *, size_t);
int		 db_next(struct dbres *);
int		 db_isnull(const struct dbres *, unsigned int);
long long	 db_int(const struct dbres *, unsigned int);
const char	*db_str(const struct dbres *, unsigned int);
size_t		 db_len(const struct dbres *, unsigned int);
void		 db_done(struct dbres *);
int		 db_query_int(struct db *, const char *, const struct dbp *,
		    size_t, long long *);
int		 db_begin(struct db *);
int		 db_commit(struct db *);
void		 db_rollback(struct db *);
int		 db_raw(struct db *, const char *);
int		 db_lock(struct db *, const char *, int);
void		 db_unlock(struct db *, const char *);
const char	*db_error(const struct db *);
int		 db_errno(const struct db *);
void		*db_handle(struct db *);

/* multirow.c: multi-row statements, built once per process */
#define MULTIROW_SIZES	16
struct multirow {
	const char	*head, *row, *tail;	/* tail: "" for none */
	size_t		 ncol;			/* parameters a row */
	size_t		 nsql;			/* 0 until built */
	size_t		 rows[MULTIROW_SIZES];	/* ascending, from 1 */
	char		*sql[MULTIROW_SIZES];
};
void		 multirow_build(struct multirow *, size_t, size_t);
int		 multirow_exec(struct db *, const struct multirow *,
		    const struct dbp *, size_t, unsigned long long *);

/*
 * shm.c: the host's shared region (counters, key changes, refusal
 * marks, token buckets), a named mapping that every worker opens.
 */
#define SHM_COUNTERS		128
#define SHM_ROUTES		64
#define SHM_STATUS_CLASSES	6	/* [0] other, [1..5] 1xx..5xx */
#define SHM_LATENCY_BUCKETS	12	/* shm_latency_le[], then +Inf */
#define SHM_WORKERS		256
#define SHM_GAUGES		8
#define SHM_MARKS		16384
#define SHM_BUCKETS		1024
#define SHM_KEY_CHANGES		256
struct shm;
struct shm_route_stats {
	uint64_t	 status[SHM_STATUS_CLASSES];
	uint64_t	 latency[SHM_LATENCY_BUCKETS + 1];
	uint64_t	 latency_sum_us;
};
extern const unsigned int shm_latency_le[SHM_LATENCY_BUCKETS];
struct shm	*shm_open_host(const char *);
struct shm	*shm_open_existing(const char *);
void		 shm_close(struct shm *);
int		 shm_named(const struct shm *);
uint64_t	 shm_keys_generation(const struct shm *);
void		 shm_keys_changed(struct shm *, const unsigned char *);
void		 shm_keys_bump(struct shm *);
int		 shm_keys_since(const struct shm *, uint64_t *,
		    void (*)(void *, uint64_t), void *);
void		 shm_mark_refused(struct shm *, const char *, time_t,
		    long long);
int		 shm_is_refused(struct shm *, const char *, time_t,
		    long long);
void		 shm_mark_clear(struct shm *, const char *);
int		 shm_bucket_take(struct shm *, const char *, long long,
		    long long, int64_t, int64_t *);
void		 shm_count(struct shm *, unsigned int, uint64_t);
uint64_t	 shm_counter(const struct shm *, unsigned int);
void		 shm_route_observe(struct shm *, unsigned int, int,
		    unsigned int);
void		 shm_route_read(const struct shm *, unsigned int,
		    struct shm_route_stats *);
int		 shm_worker_join(struct shm *);
void		 shm_worker_leave(struct shm *);
void		 shm_gauge_set(struct shm *, unsigned int, int64_t);
void		 shm_workers_each(const struct shm *,
		    void (*)(void *, int, const int64_t *), void *);

/* migrate.c */
int		 migrate_apply(struct db *, const char *,
		    void (*)(int, const char *));

/* body.c: JSON request bodies, checked against a table of fields */
#define BODY_MAX	8192	/* bytes */
#define BODY_DEPTH	8	/* arrays and objects, the body's included */
#define BODY_FIELDS	8	/* in one table */
enum body_type { BODY_STR, BODY_INT, BODY_BOOL };
struct body_field {
	const char	*name;
	enum body_type	 type;
	long long	 min, max;	/* BODY_INT: its range */
};
struct body_value {
	int		 set;		/* given, and not null */
	char		*s;		/* BODY_STR: UTF-8, no NUL */
	size_t		 len;
	long long	 i;		/* BODY_INT; BODY_BOOL: 0 or 1 */
};
enum body_result { BODY_OK = 0, BODY_INVALID = -1, BODY_TOO_LARGE = -2 };
int		 body_parse(const char *, size_t, const struct body_field *,
		    size_t, struct body_value *, char *, size_t);
void		 body_free(struct body_value *, size_t);

/* audit.c */
int		 audit_log(struct db *, const char *, const char *,
		    const char *, const char *, const char *);

/* The rest of the engine, by concern. */
#include "accounts.h"
#include "usage.h"
#include "business.h"

#endif /* NEXUS_H */
