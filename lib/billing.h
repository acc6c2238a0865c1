/*
 * The billing layer's own header: the Stripe client, the ledger's rows,
 * reconciliation, and the overage run's insides. Only the billing files
 * include it (stripe.c, stripe_items.c, ledger.c, reconcile.c, overage.c,
 * overage_send.c); the rest of the engine sees overage_run() and the
 * ledger's totals in nexus.h.
 */
#ifndef BILLING_H
#define BILLING_H

/*
 * stripe_items.c, stripe.c: the Stripe client (invoice items), over libcurl.
 * Every request is paced to stripe_rate per second and retried on
 * timeouts, 409, 429 and 5xx with backoff (stripe_max_retries).
 */
#define STRIPE_ID_MAX	64
#define STRIPE_IDEM_MAX	64
#define STRIPE_META_MAX	8
struct stripe;
struct stripe_item {
	char		 customer[CUSTOMER_ID_MAX + 1];
	long long	 amount;		/* integer cents */
	char		 currency[4];		/* "usd" */
	char		 description[256];
	time_t		 period_start;		/* 0: no period */
	time_t		 period_end;
	char		 idempotency_key[STRIPE_IDEM_MAX + 1];
	size_t		 nmeta;
	struct {
		char	 key[41];		/* Stripe: 40 at most */
		char	 val[128];
	}		 meta[STRIPE_META_MAX];
};
enum stripe_outcome {
	STRIPE_OK,		/* Stripe holds it: id is set */
	STRIPE_REFUSED,		/* a 4xx: nothing was created */
	STRIPE_IDEM_MISMATCH,	/* the key was first used with other params */
	STRIPE_UNAUTHORIZED,	/* 401/403: the secret key is wrong */
	STRIPE_GAVE_UP		/* out of retries: the outcome is unknown */
};
struct stripe_result {
	enum stripe_outcome outcome;
	long		 http_status;		/* last answer, 0 if none */
	int		 attempts;
	int		 replayed;		/* Idempotent-Replayed: true */
	char		 id[STRIPE_ID_MAX + 1];
	char		 error[256];
	void		*obj;			/* internal: the parsed answer */
};
/* An item of a list, valid only during the callback. */
struct stripe_listed {
	const char	*id;
	long long	 amount;
	const void	*obj;
};
struct stripe	*stripe_open(const struct config *);
void		 stripe_close(struct stripe *);
void		 stripe_invoice_items_create(struct stripe *,
		    int (*)(void *, struct stripe_item *, void **),
		    void (*)(void *, void *, const struct stripe_result *),
		    void *);
int		 stripe_invoice_items_list(struct stripe *, const char *,
		    int (*)(void *, const struct stripe_listed *), void *,
		    char *, size_t);
const char	*stripe_listed_meta(const struct stripe_listed *,
		    const char *);
struct json_object;
int		 stripe_id_valid(struct json_object *);
/* stripe.c's engine, which runs stripe_items.c's calls */
struct stripe_call;
struct stripe_call *stripe_call_new(struct stripe *, const char *,
		    const char *, void *);
void		 stripe_call_form(struct stripe_call *, const char *,
		    const char *);
void		*stripe_call_udata(const struct stripe_call *);
void		 stripe_call_free(struct stripe_call *);
void		 stripe_run(struct stripe *, struct stripe_call *(*)(void *),
		    void (*)(void *, struct stripe_call *,
		    const struct stripe_result *), void *);
int		 stripe_form_add(struct buf *, const char *, const char *);

/* ledger.c: the ledger's rows, and what each stands for at Stripe */
#define LEDGER_CHUNK	500		/* unsent rows read at a time */
struct ledger_row {
	long long	 id;
	char		 user[USER_ID_MAX + 1];
	char		 period[11];		/* "2025-10-01" */
	long long	 calls_from, calls_to, cents, attempts;
	char		 customer[CUSTOMER_ID_MAX + 1];	/* the row's */
	char		 now_customer[CUSTOMER_ID_MAX + 1];	/* the user's */
	char		 key[STRIPE_IDEM_MAX + 1];
	int		 failed;		/* state 'failed' */
	int		 old;			/* pending for a day or more */
	int		 tried;			/* attempts in this run */
};
void		 ledger_tag(const struct ledger_row *, char *, size_t);
void		 ledger_item(const struct ledger_row *, struct stripe_item *);
int		 ledger_add(struct db *, const struct period_unbilled *,
		    struct ledger_row *, size_t);
int		 ledger_old_pending(struct db *, const char *,
		    struct ledger_row ***, size_t *);
int		 ledger_unsent(struct db *, const char *, long long,
		    struct ledger_row ***, size_t *);
void		 ledger_rows_free(struct ledger_row **, size_t);
int		 ledger_sent(struct db *, const struct ledger_row *,
		    const char *, int);
int		 ledger_refused(struct db *, const struct ledger_row *, int,
		    const char *);
int		 ledger_unsent_note(struct db *, const struct ledger_row *, int,
		    const char *);
int		 ledger_reopen(struct db *, struct ledger_row *);

/* reconcile.c: are these ledger rows at Stripe already? */
enum reconcile_verdict {
	RECONCILE_FOUND,	/* item_id holds it, for the same amount */
	RECONCILE_ABSENT,	/* not among the customer's items */
	RECONCILE_DIFFERS,	/* found with another amount (why says) */
	RECONCILE_UNKNOWN	/* the items could not be listed (why says) */
};
struct reconciled {
	enum reconcile_verdict verdict;
	const char	*item_id;
	char		 why[320];
};
void		 reconcile_rows(struct stripe *, struct ledger_row **, size_t,
		    void (*)(void *, struct ledger_row *,
		    const struct reconciled *), void *);

/* overage.c, overage_send.c: the run */
#define BATCH		100	/* user-periods per ledger transaction */
#define MARK_BATCH	25	/* Stripe answers recorded per commit */

enum uflag { U_SEEN = 1, U_BILLED = 2, U_SKIPPED = 4, U_FAILED = 8 };

/* Users met by a run, with what happened to them (enum uflag). */
struct uentry {
	char		 id[USER_ID_MAX + 1];
	int		 flags;
};
struct userset {
	struct uentry	*t;
	size_t		 cap, n;
};

/* An answer from Stripe waiting to be recorded. */
struct mark {
	struct ledger_row	*w;
	char			 id[STRIPE_ID_MAX + 1];
	int			 attempts;
};

struct run;

/*
 * What the phases do with what they find. Phase 1 hands check() the rows
 * pending for a day, phase 2 hands bill() the user-periods due a ledger
 * row, phase 3 is send(): every unsent row. start() and finish() go
 * around them; start() returns an enum overage_rc.
 */
struct sender {
	int	(*start)(struct run *);
	void	(*check)(struct run *, struct ledger_row **, size_t);
	int	(*bill)(struct run *, struct period_unbilled *, size_t);
	void	(*send)(struct run *);
	void	(*finish)(struct run *);
};
extern const struct sender sender_dry, sender_stripe;

struct run {
	struct db			*db;
	const struct config		*cfg;
	const struct overage_opts	*o;
	struct overage_summary		*sum;
	const struct sender		*tx;
	struct stripe			*stripe;
	int				 locked;	/* the run lock */
	struct userset			 users;
	long long			*verified;	/* old, not at Stripe */
	size_t				 nverified;
	long long			 first_new;	/* first row made now */
	struct ledger_row		**chunk;	/* unsent rows */
	size_t				 nchunk, pos;
	long long			 last_id;
	int				 exhausted;
	int				 stop;
	struct ledger_row		**mismatch;
	size_t				 nmismatch;
	struct mark			 marks[MARK_BATCH];
	size_t				 nmarks;
};

/* overage.c: what a run says about the items it meets. */
void		 run_mark_user(struct userset *, const char *, int);
void		 run_item_row(struct overage_item *, const struct ledger_row *,
		    const char *, const char *);
void		 run_item_unbilled(struct overage_item *,
		    const struct period_unbilled *, long long, long long,
		    const char *, const char *);
int		 run_audit(struct run *, const char *,
		    const struct overage_item *);
void		 run_emit(struct run *, const struct overage_item *);
void		 run_billed(struct run *, const struct ledger_row *);
const char	*run_action(const struct run *, const struct ledger_row *);

#endif /* BILLING_H */
