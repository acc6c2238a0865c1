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
 * shm.c: the host's shared region (counters, key generation, refusal
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
struct shm;
struct shm_route_stats {
	uint64_t	 status[SHM_STATUS_CLASSES];
	uint64_t	 latency[SHM_LATENCY_BUCKETS + 1];
	uint64_t	 latency_sum_us;
};
extern const unsigned int shm_latency_le[SHM_LATENCY_BUCKETS];
struct shm	*shm_open_host(const char *);
void		 shm_close(struct shm *);
int		 shm_named(const struct shm *);
uint64_t	 shm_keys_generation(const struct shm *);
void		 shm_keys_bump(struct shm *);
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
int		 plan_exists(struct db *, const char *);

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
/* What key_create, key_revoke and key_rotate return besides 0. */
enum key_err {
	KEY_ERR_DB = -1,
	KEY_ERR_NOUSER = -2,	/* no such user to give a key to */
	KEY_ERR_NOKEY = -3,	/* no such key (to revoke: no such live key) */
	KEY_ERR_REVOKED = -4	/* the key to rotate is revoked */
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

/* period.c: the per-period counters (eco_usage_records), their writer */
#define PERIOD_UNBILLED_MAX	500
struct period_unbilled {		/* a user-period with overage */
	char		 user[USER_ID_MAX + 1];
	char		 period[11];		/* "2025-10-01" */
	long long	 api_calls, invoiced;	/* invoiced: the watermark */
	long long	 allowance, micros;	/* the plan's, now */
	char		 customer[CUSTOMER_ID_MAX + 1];	/* "" when none */
};
int		 period_admit(struct db *, const char *, time_t, long long,
		    long long *);
int		 period_calls(struct db *, const char *, time_t, long long *);
int		 period_count(struct db *, const char *, time_t, long long,
		    long long);
int		 period_terms(struct db *, const char *, time_t, const char *);
int		 period_open(struct db *, time_t, int);
int		 period_ready(struct db *, time_t);
int		 period_unbilled(struct db *, const char *, const char *,
		    const char *, struct period_unbilled *);
int		 period_invoice(struct db *, const char *, const char *,
		    long long, long long);

/*
 * usage.c: usage events, never lost and never counted twice. The request
 * path appends each to the spool; a thread of the worker writes them.
 */
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
int		 usage_record(struct usage *, const struct usage_event *);
void		 usage_stop(struct usage *);

/* spool.c: the usage spool's segment files, one event a line */
#define SPOOL_SEGMENT_BYTES	(16 * 1024 * 1024)	/* sparse until written */
#define SPOOL_HEADER_LEN	32	/* "#spool written=", 16 hex, newline */
#define SPOOL_LINE_MAX		512
struct spool_segment {
	int		 fd;		/* -1: none */
	unsigned long	 no;
	char		 path[PATH_MAX];
	char		*map;		/* while being appended to */
	size_t		 off;		/* end of what is appended */
};
int		 spool_event_format(const struct usage_event *, char *,
		    size_t);
int		 spool_event_parse(char *, struct usage_event *);
int		 spool_create(const char *, const char *, unsigned long,
		    struct spool_segment *);
int		 spool_append(struct spool_segment *,
		    const struct usage_event *);
void		 spool_seal(struct spool_segment *);
void		 spool_close(struct spool_segment *, int);
size_t		 spool_written(const struct spool_segment *);
long long	 spool_read(struct spool_segment *, size_t, size_t, int,
		    int (*)(void *, const struct usage_event *, size_t),
		    void *);
int		 spool_orphans(const char *,
		    int (*)(void *, struct spool_segment *), void *);

/*
 * agg.c: the aggregator and its latency histogram, which both the roll-up
 * and the usage API (for days not rolled up) use.
 */
#define HIST_BUCKETS		240	/* latency histogram, see agg.c */
struct route_stats {
	char			 method[METHOD_MAX + 1];
	char			 endpoint[ENDPOINT_MAX + 1];
	unsigned long long	 calls;
	unsigned long long	 errors;	/* status >= 400 */
	unsigned long long	 lat_sum;	/* microseconds */
	unsigned int		 lat_max;
	unsigned long long	 hist[HIST_BUCKETS];
};
struct usage_agg {
	struct route_stats	*routes;
	size_t			 nroutes, cap;
	long			 last;		/* route of the last row */
	unsigned long long	 calls, errors, lat_sum;
	int			 keep;		/* keep every latency (exact p95) */
	unsigned int		*lat;
	size_t			 nlat, latcap;
};
unsigned int	 hist_bucket(unsigned int);
unsigned int	 hist_upper(unsigned int);
unsigned int	 hist_p95(const unsigned long long *, unsigned long long,
		    unsigned int);
size_t		 hist_encode(const unsigned long long *, unsigned char *,
		    size_t);
int		 hist_decode_add(const unsigned char *, size_t,
		    unsigned long long *);
void		 agg_init(struct usage_agg *, int);
void		 agg_free(struct usage_agg *);
void		 agg_add(struct usage_agg *, const char *, const char *,
		    long long, long long);
int		 agg_add_route(struct usage_agg *, const char *, const char *,
		    unsigned long long, unsigned long long, unsigned long long,
		    unsigned int, const unsigned char *, size_t);
long long	 agg_raw(struct db *, struct usage_agg *, const char *, time_t,
		    time_t);
unsigned int	 agg_p95(struct usage_agg *);
void		 agg_sort(struct usage_agg *);
unsigned long long avg_round(unsigned long long, unsigned long long);

/* rollup.c: the daily roll-up and raw-usage retention */
struct rollup_stats {
	long long	 days, users, rows;
	int64_t		 usec;
};
struct retention_stats {
	long long	 days, deleted, chunks, rerolled;
};
enum rollup_result { ROLLUP_DONE = 0, ROLLUP_PURGED = 1, ROLLUP_ERR = -1 };
int		 rollup_range(struct db *, time_t, time_t, time_t,
		    void (*)(time_t, int, const struct rollup_stats *, void *),
		    void *);
int		 retention_run(struct db *, long long, time_t,
		    struct retention_stats *);

/* usage_report.c: a user's own usage, for the usage API */
enum report_result { REPORT_OK = 0, REPORT_ERR_DB = -1, REPORT_NOUSER = -2 };
struct usage_plan {
	char		 id[PLAN_ID_MAX + 1];
	char		 name[65];
	long long	 monthly_calls;		/* -1: unlimited */
	int		 hard_limit;
	long long	 price_cents;
	long long	 overage_micros;	/* per call past monthly_calls */
};
struct usage_current {
	struct usage_plan plan;
	time_t		 period_start, period_end;
	long long	 calls;			/* eco_usage_records.api_calls */
	long long	 overage_calls;
};
struct usage_day {
	time_t			 day;
	unsigned long long	 calls, errors, avg_us, p95_us;
};
struct overage_period {
	time_t		 period;
	long long	 api_calls, overage_calls;
	long long	 billed_cents, pending_cents;	/* ledger: sent, other */
};
int		 usage_current(struct db *, const char *, time_t,
		    struct usage_current *);
int		 usage_plan_bills_overage(const struct usage_plan *);
int		 usage_history(struct db *, const char *, time_t, int,
		    struct usage_day *);
int		 usage_routes(struct db *, const char *, time_t, int,
		    struct usage_agg *);
int		 usage_overage(struct db *, const char *,
		    struct overage_period **);

/* token.c: JWT verification (RFC 7519, RFC 8725) */
#define TOKEN_MAX	8192	/* longer bearer tokens are refused unread */
enum token_result {
	TOKEN_OK = 0,
	TOKEN_MALFORMED,	/* not a compact JWS with JSON header and claims */
	TOKEN_TOO_LONG,
	TOKEN_ALG,		/* alg is not the configured one (or "none") */
	TOKEN_SIGNATURE,
	TOKEN_NO_EXP,
	TOKEN_EXPIRED,
	TOKEN_NOT_YET,		/* nbf in the future */
	TOKEN_ISSUER,
	TOKEN_AUDIENCE,
	TOKEN_SUBJECT,		/* sub missing or not a user id */
	TOKEN_CONFIG		/* no usable secret or public key: our fault */
};
int		 token_init(const struct config *);
int		 token_verify(const struct config *, const char *, time_t,
		    char *, size_t);
const char	*token_strerror(int);
char		*token_issue(const struct config *, const char *, long long,
		    time_t);

/* ledger.c: the overage ledger; its rows' I/O is in billing.h */
enum ledger_state { LEDGER_SENT, LEDGER_PENDING, LEDGER_FAILED, LEDGER_STATES };
int		 ledger_period_states(struct db *, time_t,
		    long long[LEDGER_STATES], long long[LEDGER_STATES]);
int		 ledger_user_periods(struct db *, const char *,
		    void (*)(void *, time_t, long long, long long), void *);

/*
 * admin.c: the operators' view of the business. Money is integer cents;
 * figures are for the period (UTC calendar month) that holds now.
 */
#define ADMIN_PLANS_MAX		16
#define ADMIN_TOP		5
#define ADMIN_SEARCH_MAX	100	/* characters of a users search */
#define ADMIN_PER_PAGE_MAX	100
#define ADMIN_PAGE_MAX		1000000
#define ADMIN_SORT_MAX		2000	/* see struct admin_query */

struct admins;
struct admins	*admins_new(const char *);
void		 admins_free(struct admins *);
int		 admins_has(const struct admins *, const char *);
size_t		 admins_count(const struct admins *);

struct admin_plan {
	char		 id[PLAN_ID_MAX + 1];
	char		 name[65];
	long long	 price_cents;
	long long	 users;
	long long	 mrr_cents;	/* users x price */
};
struct admin_user {
	char		 id[USER_ID_MAX + 1];
	char		 email[EMAIL_MAX + 1];
	char		 plan[PLAN_ID_MAX + 1];
	long long	 calls;		/* this period */
	long long	 overage_calls;
	long long	 revenue_cents;	/* plan price + overage so far */
	time_t		 created;
	time_t		 last_call;	/* 0: never */
};
struct admin_overview {
	time_t		 period, period_end;
	struct admin_plan plans[ADMIN_PLANS_MAX];
	size_t		 nplans;
	long long	 users, new_users, mrr_cents, calls;
	long long	 ledger_cents[LEDGER_STATES];
	long long	 ledger_items[LEDGER_STATES];
	struct admin_user top[ADMIN_TOP];
	size_t		 ntop;
};
enum admin_sort { SORT_CALLS, SORT_REVENUE, SORT_CREATED, SORT_EMAIL,
    SORT_KEYS };
struct admin_query {
	enum admin_sort	 sort;
	int		 desc;
	const char	*plan;		/* NULL: every plan */
	const char	*search;	/* NULL: everyone; else in email or id */
	long long	 page, per_page;
	long long	 sort_max;	/* a search matching at most this many
					   users sorts them; more walk the index */
};
int		 admin_sort_parse(const char *, enum admin_sort *, int *);
const char	*admin_sort_name(enum admin_sort);
int		 admin_overview(struct db *, time_t, struct admin_overview *);
int		 admin_users(struct db *, time_t, const struct admin_query *,
		    long long *, int (*)(void *, const struct admin_user *),
		    void *);
int		 admin_stmt_try(struct db *, size_t, time_t, const char **);

/*
 * overage.c: billing Pro overage to Stripe from the ledger, exactly once.
 * The cron program and POST /api/cron/process-overage both call
 * overage_run().
 */
struct json_object;
struct overage_item {			/* one line of what a run did */
	const char	*user_id;
	const char	*period;		/* "2025-10-01" */
	long long	 ledger_id;		/* 0: no ledger row */
	long long	 calls_from, calls_to;
	long long	 calls;
	long long	 amount_cents;
	const char	*action;	/* bill, retry, reconcile, skip, carry */
	const char	*outcome;	/* sent, failed, pending, skipped, dry_run */
	const char	*stripe_id;		/* "" when none */
	const char	*error;			/* "" when none */
};
struct overage_opts {
	int		 dry_run;		/* report, touch nothing */
	const char	*period;		/* "2025-10-01", NULL: all */
	const char	*actor;			/* audit actor: "cron", "http" */
	const char	*remote;		/* client address or NULL */
	void		(*on_item)(void *, const struct overage_item *);
	void		*arg;
};
struct overage_summary {
	int		 dry_run;
	long long	 users_seen;		/* with overage or unsent rows */
	long long	 users_billed;		/* had an item sent */
	long long	 users_skipped;		/* no Stripe customer */
	long long	 users_failed;		/* had an item refused/unsent */
	long long	 items_sent;		/* reconciled ones included */
	long long	 items_reconciled;
	long long	 items_failed;
	long long	 total_cents;		/* sent by this run */
	long long	 calls_billed;
	long long	 calls_carried;		/* behind a fraction of a cent */
	char		 error[256];		/* why the run stopped, or "" */
};
enum overage_rc {
	OVERAGE_OK = 0,		/* everything due was billed */
	OVERAGE_PARTIAL = 1,	/* something was skipped or failed */
	OVERAGE_BUSY = 2,	/* another run holds the lock */
	OVERAGE_ERROR = -1	/* the run could not proceed (error says) */
};
int		 overage_run(struct db *, const struct config *,
		    const struct overage_opts *, struct overage_summary *);
struct json_object *overage_summary_json(const struct overage_summary *);
int		 overage_period_parse(const char *, char *, size_t);

#endif /* NEXUS_H */
