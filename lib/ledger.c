/*
 * The overage ledger, eco_overage_ledger: one row per charge, written
 * before Stripe is called and carrying the request's Idempotency-Key.
 * This file holds every statement that reads or writes it, and what a
 * row stands for at Stripe (its invoice item and the tag that finds it).
 *
 * A row is 'pending' until Stripe holds its item ('sent'); a refusal
 * makes it 'failed' with a fresh key for its next try.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "nexus.h"
#include "billing.h"

#define STR(x)			#x
#define XSTR(x)			STR(x)

#define LEDGER_OLD_H		23	/* Stripe keeps keys >= 24 h */
#define LEDGER_OLD_MAX		50000	/* old rows looked at per run */
#define ITEM_CENTS_MAX		99999999LL	/* Stripe's largest amount */
#define KEY_BASE_LEN		36	/* "ovg_" + 32 hex */

static const char *const sql_insert = "INSERT INTO eco_overage_ledger "
    "(user_id, period, calls_from, calls_to, amount_cents, "
    "stripe_customer_id, idempotency_key, state, attempts, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, UTC_TIMESTAMP())";
/*
 * Unsent rows, with the user's customer now and whether they are old,
 * in the order row_read() takes them.
 */
#define ROW_COLUMNS "SELECT l.id, l.user_id, " \
    "DATE_FORMAT(l.period, '%Y-%m-%d'), l.calls_from, l.calls_to, " \
    "l.amount_cents, COALESCE(l.stripe_customer_id, ''), " \
    "l.idempotency_key, l.state, l.attempts, " \
    "COALESCE(u.stripe_customer_id, ''), " \
    "l.created_at < UTC_TIMESTAMP() - INTERVAL " XSTR(LEDGER_OLD_H) " HOUR " \
    "FROM eco_overage_ledger l JOIN eco_users u ON u.id = l.user_id "
/* Parameters: period, period (NULL: every period). */
static const char *const sql_old_pending = ROW_COLUMNS
    "WHERE l.state = 'pending' "
    "AND l.created_at < UTC_TIMESTAMP() - INTERVAL " XSTR(LEDGER_OLD_H)
    " HOUR AND (? IS NULL OR l.period = ?) "
    "ORDER BY l.stripe_customer_id, l.id LIMIT " XSTR(LEDGER_OLD_MAX);
/* Parameters: after id, period, period. */
static const char *const sql_unsent = ROW_COLUMNS
    "WHERE l.state IN ('pending', 'failed') AND l.id > ? "
    "AND (? IS NULL OR l.period = ?) ORDER BY l.id "
    "LIMIT " XSTR(LEDGER_CHUNK);
static const char *const sql_sent = "UPDATE eco_overage_ledger "
    "SET state = 'sent', stripe_item_id = ?, sent_at = UTC_TIMESTAMP(), "
    "attempts = attempts + ?, last_error = NULL "
    "WHERE id = ? AND state = 'pending'";
static const char *const sql_refused = "UPDATE eco_overage_ledger "
    "SET state = 'failed', idempotency_key = ?, attempts = attempts + ?, "
    "last_error = ? WHERE id = ? AND state = 'pending'";
static const char *const sql_note = "UPDATE eco_overage_ledger "
    "SET attempts = attempts + ?, last_error = ? "
    "WHERE id = ? AND state = 'pending'";
static const char *const sql_reopen = "UPDATE eco_overage_ledger "
    "SET state = 'pending', stripe_customer_id = ? "
    "WHERE id = ? AND state = 'failed'";
/* The admin overview: a period's rows by state, from a covering index. */
static const char *const sql_period_states = "SELECT state, COUNT(*), "
    "COALESCE(SUM(amount_cents), 0) FROM eco_overage_ledger "
    "FORCE INDEX (eco_overage_ledger_period_state) "
    "WHERE period = FROM_UNIXTIME(?) GROUP BY state";
/* The admin pages: one row, a user's newest rows. */
#define ENTRY_COLUMNS "SELECT id, user_id, " \
    "DATE_FORMAT(period, '%Y-%m-%d'), calls_from, calls_to, amount_cents, " \
    "state, COALESCE(stripe_item_id, ''), attempts, " \
    "COALESCE(last_error, ''), COALESCE(stripe_customer_id, ''), " \
    "UNIX_TIMESTAMP(created_at), UNIX_TIMESTAMP(sent_at) " \
    "FROM eco_overage_ledger "
static const char *const sql_entry = ENTRY_COLUMNS "WHERE id = ?";
static const char *const sql_user_entries = ENTRY_COLUMNS
    "WHERE user_id = ? ORDER BY period DESC, calls_from DESC "
    "LIMIT " XSTR(LEDGER_USER_ROWS);
/* The usage API: a user's billed and other cents per period. */
static const char *const sql_user_periods = "SELECT UNIX_TIMESTAMP(period), "
    "COALESCE(SUM(CASE WHEN state = 'sent' THEN amount_cents END), 0), "
    "COALESCE(SUM(CASE WHEN state <> 'sent' THEN amount_cents END), 0) "
    "FROM eco_overage_ledger WHERE user_id = ? GROUP BY period";

static const char *const states[LEDGER_STATES] = {
	[LEDGER_SENT] = "sent",
	[LEDGER_PENDING] = "pending",
	[LEDGER_FAILED] = "failed",
};

/* The row's first key: a digest of what it bills, "ovg_" + 32 hex. */
static void
ledger_key(const char *user, const char *period, long long from, char *dst)
{
	unsigned char	 md[SHA256_DIGEST_LENGTH];
	char		 in[128];
	int		 n;

	n = snprintf(in, sizeof(in), "nexus-overage|%s|%s|%lld", user,
	    period, from);
	SHA256((const unsigned char *)in, (size_t)n, md);
	memcpy(dst, "ovg_", 4);
	hex_encode(md, 16, dst + 4);
}

/*
 * The tag a row's item carries at Stripe (metadata nexus_ledger), which
 * reconciliation looks for: "user/YYYY-MM/calls_from".
 */
void
ledger_tag(const struct ledger_row *w, char *dst, size_t n)
{
	snprintf(dst, n, "%s/%.7s/%lld", w->user, w->period, w->calls_from);
}

/* The invoice item a row stands for: a function of the row alone. */
void
ledger_item(const struct ledger_row *w, struct stripe_item *it)
{
	static const char *const meta[] = { "nexus_ledger", "nexus_ledger_id",
	    "nexus_user_id", "nexus_period", "nexus_calls" };
	long long	 calls = w->calls_to - w->calls_from + 1;
	time_t		 start = 0;
	size_t		 i;

	memset(it, 0, sizeof(*it));
	time_parse_date(w->period, &start);
	strlcpy_(it->customer, w->customer, sizeof(it->customer));
	it->amount = w->cents;
	strlcpy_(it->currency, "usd", sizeof(it->currency));
	overage_describe(it->description, sizeof(it->description), calls,
	    w->cents * MICROS_PER_CENT / calls, start);
	it->period_start = start;
	it->period_end = period_end(start) - 1;
	strlcpy_(it->idempotency_key, w->key, sizeof(it->idempotency_key));
	for (i = 0; i < sizeof(meta) / sizeof(meta[0]); i++)
		strlcpy_(it->meta[i].key, meta[i], sizeof(it->meta[i].key));
	it->nmeta = i;
	ledger_tag(w, it->meta[0].val, sizeof(it->meta[0].val));
	snprintf(it->meta[1].val, sizeof(it->meta[1].val), "%lld", w->id);
	strlcpy_(it->meta[2].val, w->user, sizeof(it->meta[2].val));
	snprintf(it->meta[3].val, sizeof(it->meta[3].val), "%.7s", w->period);
	snprintf(it->meta[4].val, sizeof(it->meta[4].val), "%lld-%lld",
	    w->calls_from, w->calls_to);
}

/*
 * Bills the whole cents of c's unbilled overage in the caller's
 * transaction: moves the watermark (from the value read) and writes the
 * rows into rows[0..max-1], one per item under Stripe's largest amount.
 * Returns how many rows, -2 when another writer moved the watermark
 * first, -1 on a database error.
 */
int
ledger_add(struct db *db, const struct period_unbilled *c,
    struct ledger_row *rows, size_t max)
{
	long long		 unbilled, calls, cents, invoiced = c->invoiced;
	long long		 step_calls, step_cents;
	unsigned long long	 id;
	size_t			 n = 0;
	int			 rc;

	unbilled = c->api_calls - c->allowance - c->invoiced;
	if (overage_billable(unbilled, c->micros, &calls, &cents) == -1 ||
	    price_step(c->micros, &step_calls, &step_cents) == -1)
		return -1;
	while (calls > 0 && n < max) {
		struct ledger_row	*w = &rows[n];
		long long		 take = calls, tc = cents;

		if (tc > ITEM_CENTS_MAX) {
			take = ITEM_CENTS_MAX / step_cents * step_calls;
			tc = ITEM_CENTS_MAX / step_cents * step_cents;
		}
		memset(w, 0, sizeof(*w));
		strlcpy_(w->user, c->user, sizeof(w->user));
		strlcpy_(w->period, c->period, sizeof(w->period));
		strlcpy_(w->customer, c->customer, sizeof(w->customer));
		w->calls_from = c->allowance + invoiced + 1;
		w->calls_to = w->calls_from + take - 1;
		w->cents = tc;
		ledger_key(w->user, w->period, w->calls_from, w->key);
		if ((rc = period_invoice(db, c->user, c->period, invoiced,
		    take)) != 1)
			return rc == 0 ? -2 : -1;

		struct dbp p[7] = { DBP_S(w->user), DBP_S(w->period),
		    DBP_I(w->calls_from), DBP_I(w->calls_to), DBP_I(w->cents),
		    DBP_S(w->customer), DBP_S(w->key) };
		if (db_exec_id(db, sql_insert, p, 7, &id) == -1)
			return -1;
		w->id = (long long)id;
		invoiced += take;
		calls -= take;
		cents -= tc;
		n++;
	}
	return (int)n;
}

static struct ledger_row *
row_read(const struct dbres *q)
{
	struct ledger_row	*w = xcalloc(1, sizeof(*w));

	w->id = db_int(q, 0);
	strlcpy_(w->user, db_str(q, 1), sizeof(w->user));
	strlcpy_(w->period, db_str(q, 2), sizeof(w->period));
	w->calls_from = db_int(q, 3);
	w->calls_to = db_int(q, 4);
	w->cents = db_int(q, 5);
	strlcpy_(w->customer, db_str(q, 6), sizeof(w->customer));
	strlcpy_(w->key, db_str(q, 7), sizeof(w->key));
	w->failed = strcmp(db_str(q, 8), "failed") == 0;
	w->attempts = db_int(q, 9);
	strlcpy_(w->now_customer, db_str(q, 10), sizeof(w->now_customer));
	w->old = db_int(q, 11) == 1;
	return w;
}

/* Reads the rows of a query into *rows (to free). Returns 0 or -1. */
static int
rows_read(struct db *db, const char *sql, const struct dbp *p, size_t np,
    struct ledger_row ***rows, size_t *n)
{
	struct dbres	*q;
	size_t		 cap = 0;
	int		 rc;

	*rows = NULL;
	*n = 0;
	if ((q = db_query(db, sql, p, np)) == NULL)
		return -1;
	while ((rc = db_next(q)) == 1) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*rows = xrealloc(*rows, cap * sizeof(**rows));
		}
		(*rows)[(*n)++] = row_read(q);
	}
	db_done(q);
	if (rc == -1) {
		ledger_rows_free(*rows, *n);
		*rows = NULL;
		*n = 0;
		return -1;
	}
	return 0;
}

void
ledger_rows_free(struct ledger_row **rows, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(rows[i]);
	free(rows);
}

/*
 * Rows pending for LEDGER_OLD_H hours or more, in `only` period or every
 * one, by customer: Stripe may have forgotten their keys. Returns 0 or -1.
 */
int
ledger_old_pending(struct db *db, const char *only, struct ledger_row ***rows,
    size_t *n)
{
	struct dbp	 p[2] = { DBP_SNULL(only), DBP_SNULL(only) };

	return rows_read(db, sql_old_pending, p, 2, rows, n);
}

/*
 * The next LEDGER_CHUNK unsent rows (pending or failed) after id, in
 * `only` period or every one. Returns 0 or -1.
 */
int
ledger_unsent(struct db *db, const char *only, long long after,
    struct ledger_row ***rows, size_t *n)
{
	struct dbp	 p[3] = { DBP_I(after), DBP_SNULL(only),
	    DBP_SNULL(only) };

	return rows_read(db, sql_unsent, p, 3, rows, n);
}

/*
 * Records that Stripe holds w as item id, after attempts more tries.
 * Returns 1, 0 when the row was no longer pending, -1 on error.
 */
int
ledger_sent(struct db *db, const struct ledger_row *w, const char *id,
    int attempts)
{
	struct dbp		 p[3] = { DBP_S(id), DBP_I(attempts),
	    DBP_I(w->id) };
	unsigned long long	 n = 0;

	if (db_exec(db, sql_sent, p, 3, &n) == -1)
		return -1;
	return n == 1;
}

/*
 * Records that Stripe refused w (so created nothing): the row fails with
 * a fresh key for its next try, as the old one would replay the refusal.
 * Returns 0 or -1.
 */
int
ledger_refused(struct db *db, const struct ledger_row *w, int attempts,
    const char *why)
{
	char		 key[STRIPE_IDEM_MAX + 1];
	struct dbp	 p[4];

	snprintf(key, sizeof(key), "%.*s_r%lld", KEY_BASE_LEN, w->key,
	    w->attempts + attempts);
	p[0] = DBP_S(key);
	p[1] = DBP_I(attempts);
	p[2] = DBP_S(why);
	p[3] = DBP_I(w->id);
	return db_exec(db, sql_refused, p, 4, NULL);
}

/* Notes attempts that left w's outcome unknown: it stays pending. */
int
ledger_unsent_note(struct db *db, const struct ledger_row *w, int attempts,
    const char *why)
{
	struct dbp	 p[3] = { DBP_I(attempts), DBP_S(why), DBP_I(w->id) };

	return db_exec(db, sql_note, p, 3, NULL);
}

/* Makes failed row w pending again, for the user's customer now. */
int
ledger_reopen(struct db *db, struct ledger_row *w)
{
	struct dbp	 p[2] = { DBP_S(w->now_customer), DBP_I(w->id) };

	if (db_exec(db, sql_reopen, p, 2, NULL) == -1)
		return -1;
	strlcpy_(w->customer, w->now_customer, sizeof(w->customer));
	w->failed = 0;
	return 0;
}

/*
 * Fills items[] and cents[] with the rows of period by state.
 * Returns 0 or -1.
 */
int
ledger_period_states(struct db *db, time_t period,
    long long items[LEDGER_STATES], long long cents[LEDGER_STATES])
{
	struct dbp	 p[1] = { DBP_I(period) };
	struct dbres	*r;
	size_t		 i;
	int		 rc;

	memset(items, 0, LEDGER_STATES * sizeof(*items));
	memset(cents, 0, LEDGER_STATES * sizeof(*cents));
	if ((r = db_query(db, sql_period_states, p, 1)) == NULL)
		return -1;
	while ((rc = db_next(r)) == 1)
		for (i = 0; i < LEDGER_STATES; i++)
			if (strcmp(db_str(r, 0), states[i]) == 0) {
				items[i] = db_int(r, 1);
				cents[i] = db_int(r, 2);
			}
	db_done(r);
	return rc == -1 ? -1 : 0;
}

/*
 * Calls cb(arg, period, billed, pending) for each period in which user
 * has rows: billed is sent cents, pending the others. Returns 0 or -1.
 */
int
ledger_user_periods(struct db *db, const char *user,
    void (*cb)(void *, time_t, long long, long long), void *arg)
{
	struct dbp	 p[1] = { DBP_S(user) };
	struct dbres	*r;
	int		 rc;

	if ((r = db_query(db, sql_user_periods, p, 1)) == NULL)
		return -1;
	while ((rc = db_next(r)) == 1)
		cb(arg, (time_t)db_int(r, 0), db_int(r, 1), db_int(r, 2));
	db_done(r);
	return rc == -1 ? -1 : 0;
}

static void
entry_read(const struct dbres *r, struct ledger_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->id = db_int(r, 0);
	strlcpy_(e->user, db_str(r, 1), sizeof(e->user));
	strlcpy_(e->period, db_str(r, 2), sizeof(e->period));
	e->calls_from = db_int(r, 3);
	e->calls_to = db_int(r, 4);
	e->cents = db_int(r, 5);
	strlcpy_(e->state, db_str(r, 6), sizeof(e->state));
	strlcpy_(e->item, db_str(r, 7), sizeof(e->item));
	e->attempts = db_int(r, 8);
	strlcpy_(e->error, db_str(r, 9), sizeof(e->error));
	strlcpy_(e->customer, db_str(r, 10), sizeof(e->customer));
	e->created = (time_t)db_int(r, 11);
	e->sent = (time_t)db_int(r, 12);	/* NULL: 0 */
}

/* Reads row id into *e. Returns 1, 0 when there is none, or -1. */
int
ledger_get(struct db *db, long long id, struct ledger_entry *e)
{
	struct dbp	 p[1] = { DBP_I(id) };
	struct dbres	*r;
	int		 rc;

	if ((r = db_query(db, sql_entry, p, 1)) == NULL)
		return -1;
	if ((rc = db_next(r)) == 1)
		entry_read(r, e);
	db_done(r);
	return rc;
}

/*
 * Calls cb for user's newest LEDGER_USER_ROWS rows, newest period first.
 * Returns 0 or -1.
 */
int
ledger_user_rows(struct db *db, const char *user,
    void (*cb)(void *, const struct ledger_entry *), void *arg)
{
	struct dbp		 p[1] = { DBP_S(user) };
	struct ledger_entry	 e;
	struct dbres		*r;
	int			 rc;

	if ((r = db_query(db, sql_user_entries, p, 1)) == NULL)
		return -1;
	while ((rc = db_next(r)) == 1) {
		entry_read(r, &e);
		cb(arg, &e);
	}
	db_done(r);
	return rc == -1 ? -1 : 0;
}

/*
 * An operator's retry: failed row id becomes pending for customer, so the
 * next overage run sends it (with the fresh key its refusal gave it).
 * Returns 1, 0 when the row is not failed (any more), or -1.
 */
int
ledger_retry(struct db *db, long long id, const char *customer)
{
	struct dbp		 p[2] = { DBP_S(customer), DBP_I(id) };
	unsigned long long	 n = 0;

	if (db_exec(db, sql_reopen, p, 2, &n) == -1)
		return -1;
	return n == 1;
}
