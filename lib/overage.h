/*
 * The overage run's insides, shared by overage.c (the run and its
 * phases) and overage_send.c (its senders). Nothing else includes it.
 */
#ifndef OVERAGE_H
#define OVERAGE_H

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

#endif /* OVERAGE_H */
