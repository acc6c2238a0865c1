/*
 * The engine's accounts: users and plans, API keys and their cache,
 * quotas and the per-period counters, JWT verification. Included by
 * nexus.h.
 */
#ifndef ACCOUNTS_H
#define ACCOUNTS_H

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
struct usage_plan;		/* usage.h */
int		 plan_list(struct db *, struct usage_plan *, size_t);

/*
 * keyfmt.c: what a key looks like. "nx_live_", 32 random base62 and 11
 * base62 of a MAC of the rest under key_secret (a key made before MACs:
 * 43 random). Only SHA-256 of the whole key is stored.
 */
#define KEY_PREFIX	"nx_live_"
#define KEY_BODY	43		/* base62 after the prefix */
#define KEY_RANDOM	32		/* of which random: 190 bits */
#define KEY_MAC		11		/* then 64 bits of HMAC-SHA256 */
#define KEY_LEN		(sizeof(KEY_PREFIX) - 1 + KEY_BODY)
#define KEY_DISPLAY	12		/* "nx_live_AbCd" */
#define KEY_HASH_LEN	32		/* SHA-256 */
#define KEY_NAME_MAX	100		/* characters */
#define KEY_NAME_BYTES	(KEY_NAME_MAX * 4)	/* of UTF-8 */
#define KEY_SECRET_MIN	32		/* bytes of key_secret */
#define KEY_EXPIRY_DAYS	3650		/* an expiry at most this far ahead */
int		 key_format_valid(const char *);
void		 key_hash(const char *, unsigned char[KEY_HASH_LEN]);
const char	*key_secret_problem(const char *);
int		 key_generate(const char *, char[KEY_LEN + 1]);
int		 key_mac_valid(const char *, const char *);
const char	*key_name_problem(const char *, size_t);
const char	*key_expiry_problem(time_t, time_t);

/* keys.c: API keys in the database */
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
	char		 user_id[USER_ID_MAX + 1];
	char		 prefix[KEY_DISPLAY + 1];
	char		 name[KEY_NAME_BYTES + 1];	/* "": none */
	time_t		 created, last_used, expires, revoked, rotated;	/* 0: never */
	int		 expired;	/* by the database's clock, when read */
	unsigned char	 hash[KEY_HASH_LEN];
};
/* Who changes keys, and under which rules (key_create, _revoke, _rotate). */
struct key_op {
	const char	*secret;	/* key_secret: the MAC of new keys */
	const char	*actor;		/* for the audit log: a user id, "nexusctl" */
	const char	*owner;		/* only this user's keys; NULL: any key */
	const char	*remote;	/* the client's address, or NULL */
	long long	 max_live;	/* live keys a user may hold; 0: no limit */
};
/* What the key functions return besides 0. */
enum key_err {
	KEY_ERR_DB = -1,
	KEY_ERR_NOUSER = -2,	/* no such user to give a key to */
	KEY_ERR_NOKEY = -3,	/* no such key (of op->owner) */
	KEY_ERR_REVOKED = -4,	/* the key is revoked */
	KEY_ERR_EXPIRED = -5,	/* the key to rotate has expired */
	KEY_ERR_ROTATED = -6,	/* the key to rotate was rotated already */
	KEY_ERR_LIMIT = -7,	/* the user holds op->max_live live keys */
	KEY_ERR_NOSECRET = -8	/* no usable key_secret: no new keys */
};
const char	*key_state(const struct keyinfo *, time_t);
const char	*key_strerror(int);
int		 key_create(struct db *, const struct key_op *, const char *,
		    const char *, time_t, char[KEY_LEN + 1], struct keyinfo *);
int		 key_revoke(struct db *, const struct key_op *,
		    unsigned long long, struct keyinfo *);
int		 key_rotate(struct db *, const struct key_op *,
		    unsigned long long, long long, char[KEY_LEN + 1],
		    struct keyinfo *, struct keyinfo *);
int		 key_list(struct db *, const char *, long long,
		    int (*)(void *, const struct keyinfo *), void *);
int		 key_lookup(struct db *, const unsigned char[KEY_HASH_LEN],
		    struct apikey *);
int		 key_legacy(struct db *, unsigned long long,
		    void (*)(void *, const unsigned char *, unsigned long long),
		    void *);

/*
 * keycache.c: the per-worker key cache. keycache_get takes the monotonic
 * clock (for its TTLs) and the wall clock (for keys' expiry dates).
 */
enum key_result { KEY_OK, KEY_INVALID, KEY_UNAVAILABLE };
struct keycache;
struct keycache	*keycache_new(const struct config *, struct db *,
		    struct shm *);
void		 keycache_free(struct keycache *);
int		 keycache_get(struct keycache *, struct db *, const char *,
		    int64_t, time_t, struct apikey *);

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

#endif /* ACCOUNTS_H */
