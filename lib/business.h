/*
 * The engine's view of the business: the overage ledger's totals, the
 * admin figures, and the overage run. Included by nexus.h.
 */
#ifndef BUSINESS_H
#define BUSINESS_H

/* ledger.c: the overage ledger; its rows' I/O is in billing.h */
enum ledger_state { LEDGER_SENT, LEDGER_PENDING, LEDGER_FAILED, LEDGER_STATES };
int		 ledger_period_states(struct db *, time_t,
		    long long[LEDGER_STATES], long long[LEDGER_STATES]);
int		 ledger_user_periods(struct db *, const char *,
		    void (*)(void *, time_t, long long, long long), void *);
#define LEDGER_USER_ROWS	100	/* a user's rows on the admin pages */
struct ledger_entry {			/* a row as the admin pages show it */
	long long	 id;
	char		 user[USER_ID_MAX + 1];
	char		 period[11];		/* "2025-10-01" */
	long long	 calls_from, calls_to, cents, attempts;
	char		 state[17];		/* sent, pending, failed */
	char		 item[65];		/* Stripe's item id, or "" */
	char		 error[256];		/* the last one, or "" */
	char		 customer[CUSTOMER_ID_MAX + 1];	/* billed to, or "" */
	time_t		 created, sent;		/* sent 0: not yet */
};
int		 ledger_get(struct db *, long long, struct ledger_entry *);
int		 ledger_user_rows(struct db *, const char *,
		    void (*)(void *, const struct ledger_entry *), void *);
int		 ledger_retry(struct db *, long long, const char *);

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
#define ADMIN_DAYS_MAX		365	/* of calls per day */

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
struct admin_day {
	time_t		 day;
	long long	 calls, errors;
	long long	 plan_calls[ADMIN_PLANS_MAX];	/* admin_daily's plans */
	long long	 plan_errors[ADMIN_PLANS_MAX];
};
struct admin_daily {
	time_t		 first;			/* the first day */
	int		 days;
	struct usage_plan plans[ADMIN_PLANS_MAX];
	size_t		 nplans;
	struct admin_day *day;			/* days of them, to free */
};
int		 admin_daily(struct db *, time_t, int, struct admin_daily *);

/*
 * admin_user.c: who the operators are (the allow-list), and a user's
 * account as they see and change it. Each change writes an audit row
 * naming the operator (actor) and the user (target), with what changed.
 */
struct admins;
struct admins	*admins_new(const char *);
void		 admins_free(struct admins *);
int		 admins_has(const struct admins *, const char *);
size_t		 admins_count(const struct admins *);

#define ADMIN_AUDIT_ROWS	50	/* audit rows on a user's page */
#define ADMIN_AUDIT_DETAIL	2000	/* bytes of an audit row's detail */
struct admin_actor {
	const char	*id;			/* the operator's user id */
	const char	*remote;		/* their address, or NULL */
};
struct audit_entry {
	long long	 id;
	time_t		 at;
	char		 actor[65], action[65], target[129], remote[65];
	char		 detail[ADMIN_AUDIT_DETAIL + 1];	/* JSON, or "" */
};
enum admin_err {
	ADMIN_OK = 0,
	ADMIN_ERR_DB = -1,
	ADMIN_ERR_NOUSER = -2,
	ADMIN_ERR_NOPLAN = -3,
	ADMIN_ERR_SAME = -4,		/* the user is on that plan */
	ADMIN_ERR_NOKEY = -5,		/* no such key of this user */
	ADMIN_ERR_REVOKED = -6,		/* the key is revoked already */
	ADMIN_ERR_NOROW = -7,		/* no such ledger row */
	ADMIN_ERR_STATE = -8,		/* the row is not failed */
	ADMIN_ERR_NOCUSTOMER = -9	/* the user has no Stripe customer */
};
int		 admin_plans(struct db *, struct usage_plan *, size_t);
int		 admin_audit_about(struct db *, const char *,
		    void (*)(void *, const struct audit_entry *), void *);
int		 admin_set_plan(struct db *, const struct admin_actor *,
		    const char *, const char *, char[PLAN_ID_MAX + 1]);
int		 admin_key_revoke(struct db *, const struct admin_actor *,
		    const char *, unsigned long long, struct keyinfo *);
int		 admin_ledger_retry(struct db *, const struct admin_actor *,
		    long long, struct ledger_entry *);

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

#endif /* BUSINESS_H */
