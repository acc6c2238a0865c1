/*
 * Overage billing: Pro calls past the plan's allowance, billed to Stripe
 * as invoice items, exactly once.
 *
 * Input is eco_usage_records: api_calls per user per period, and
 * overage_invoiced, the calls past the allowance that ledger rows already
 * cover. A run, holding a database lock so that two never overlap:
 *
 *  1. reconciles ledger rows left pending for RECONCILE_AGE_H or more:
 *     Stripe forgets idempotency keys after 24 hours, so before such a row
 *     is sent again the customer's invoice items are listed and matched on
 *     our metadata (nexus_ledger);
 *  2. turns unbilled overage into ledger rows: in one transaction the
 *     watermark moves (conditionally on its old value) and a pending row
 *     (user, period, calls_from..calls_to, cents, customer, idempotency
 *     key) is inserted. Only whole cents are billed: the calls behind a
 *     fraction of a cent stay below the watermark for a later run;
 *  3. sends every pending row, paced and concurrent, with its key: a row
 *     whose answer was lost (crash, timeout, dropped connection) is sent
 *     again with the same key and parameters, and Stripe replays the first
 *     answer instead of creating a second item. A 200 marks it sent.
 *
 * A 4xx means Stripe created nothing: the row becomes failed, with a new
 * key for its next try (the old one would replay the refusal), and is
 * retried by later runs with the user's current customer. Every action is
 * in the audit log.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/sha.h>

#include "nexus.h"

#define LOCK_NAME		"nexus.overage"
#define CHUNK			500	/* rows read per query */
#define BATCH			100	/* ledger rows per transaction */
#define RECONCILE_AGE_H		23	/* Stripe keeps keys >= 24 h */
#define RECONCILE_MAX		50000	/* old rows looked at per run */
#define ITEM_CENTS_MAX		99999999LL	/* Stripe's largest amount */
#define MICROS_PER_CENT		10000LL
#define KEY_BASE_LEN		36	/* "ovg_" + 32 hex */

enum uflag { U_SEEN = 1, U_BILLED = 2, U_SKIPPED = 4, U_FAILED = 8 };

static const char *const sql_lock_held =
    "SELECT IS_USED_LOCK(?) = CONNECTION_ID()";
static const char *const sql_candidates = "SELECT r.user_id, "
    "DATE_FORMAT(r.period, '%Y-%m-%d'), r.api_calls, r.overage_invoiced, "
    "p.monthly_calls, p.overage_micros, COALESCE(u.stripe_customer_id, '') "
    "FROM eco_usage_records r "
    "JOIN eco_users u ON u.id = r.user_id "
    "JOIN eco_plans p ON p.id = u.plan_id "
    "WHERE p.overage_micros > 0 AND p.monthly_calls IS NOT NULL "
    "AND r.api_calls > p.monthly_calls + r.overage_invoiced "
    "AND (r.user_id, r.period) > (?, ?) AND (? IS NULL OR r.period = ?) "
    "ORDER BY r.user_id, r.period LIMIT 500";
static const char *const sql_watermark = "UPDATE eco_usage_records "
    "SET overage_invoiced = overage_invoiced + ? "
    "WHERE user_id = ? AND period = ? AND overage_invoiced = ?";
static const char *const sql_ledger_insert = "INSERT INTO eco_overage_ledger "
    "(user_id, period, calls_from, calls_to, amount_cents, "
    "stripe_customer_id, idempotency_key, state, attempts, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, UTC_TIMESTAMP())";
/* Unsent rows, with the user's customer now and whether they are old. */
#define ROW_COLUMNS "SELECT l.id, l.user_id, " \
    "DATE_FORMAT(l.period, '%Y-%m-%d'), l.calls_from, l.calls_to, " \
    "l.amount_cents, COALESCE(l.stripe_customer_id, ''), " \
    "l.idempotency_key, l.state, l.attempts, " \
    "COALESCE(u.stripe_customer_id, ''), " \
    "l.created_at < UTC_TIMESTAMP() - INTERVAL 23 HOUR " \
    "FROM eco_overage_ledger l JOIN eco_users u ON u.id = l.user_id "
static const char *const sql_old_pending = ROW_COLUMNS
    "WHERE l.state = 'pending' "
    "AND l.created_at < UTC_TIMESTAMP() - INTERVAL 23 HOUR "
    "AND (? IS NULL OR l.period = ?) "
    "ORDER BY l.stripe_customer_id, l.id LIMIT 50000";
static const char *const sql_unsent = ROW_COLUMNS
    "WHERE l.state IN ('pending', 'failed') AND l.id > ? "
    "AND (? IS NULL OR l.period = ?) ORDER BY l.id LIMIT 500";
static const char *const sql_sent = "UPDATE eco_overage_ledger "
    "SET state = 'sent', stripe_item_id = ?, sent_at = UTC_TIMESTAMP(), "
    "attempts = attempts + ?, last_error = NULL "
    "WHERE id = ? AND state = 'pending'";
static const char *const sql_refused = "UPDATE eco_overage_ledger "
    "SET state = 'failed', idempotency_key = ?, attempts = attempts + ?, "
    "last_error = ? WHERE id = ? AND state = 'pending'";
static const char *const sql_unsent_note = "UPDATE eco_overage_ledger "
    "SET attempts = attempts + ?, last_error = ? "
    "WHERE id = ? AND state = 'pending'";
static const char *const sql_reopen = "UPDATE eco_overage_ledger "
    "SET state = 'pending', stripe_customer_id = ? "
    "WHERE id = ? AND state = 'failed'";

static const char *const months[12] = { "January", "February", "March",
    "April", "May", "June", "July", "August", "September", "October",
    "November", "December" };

/* A ledger row on its way to Stripe. */
struct row {
	long long	 id;
	char		 user[USER_ID_MAX + 1];
	char		 period[11];
	long long	 calls_from, calls_to, cents, attempts;
	char		 customer[CUSTOMER_ID_MAX + 1];	/* the row's */
	char		 now_customer[CUSTOMER_ID_MAX + 1];	/* the user's */
	char		 key[STRIPE_IDEM_MAX + 1];
	int		 failed;		/* state 'failed' */
	int		 old;
	int		 tried;			/* attempts in this run */
};

/* Users met by a run, with what happened to them (enum uflag). */
struct uentry {
	char		 id[USER_ID_MAX + 1];
	int		 flags;
};
struct userset {
	struct uentry	*t;
	size_t		 cap, n;
};

struct run {
	struct db			*db;
	const struct config		*cfg;
	const struct overage_opts	*o;
	struct overage_summary		*sum;
	struct stripe			*stripe;
	struct userset			 users;
	long long			*verified;	/* old rows not at Stripe */
	size_t				 nverified;
	long long			 first_new;	/* first row made now */
	struct row			**chunk;
	size_t				 nchunk, pos;
	long long			 last_id;
	int				 exhausted;
	int				 stop;
	struct row			**mismatch;
	size_t				 nmismatch;
};

static size_t
users_hash(const char *s)
{
	size_t	 h = 14695981039346656037ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void
users_mark(struct userset *u, const char *id, int flag)
{
	size_t	 i;

	if (u->n * 2 >= u->cap) {
		struct userset g = { xcalloc(u->cap ? u->cap * 2 : 256,
		    sizeof(*g.t)), u->cap ? u->cap * 2 : 256, 0 };

		for (i = 0; i < u->cap; i++)
			if (u->t[i].id[0] != '\0')
				users_mark(&g, u->t[i].id, u->t[i].flags);
		free(u->t);
		*u = g;
	}
	for (i = users_hash(id) % u->cap; u->t[i].id[0] != '\0';
	    i = (i + 1) % u->cap)
		if (strcmp(u->t[i].id, id) == 0) {
			u->t[i].flags |= flag | U_SEEN;
			return;
		}
	strlcpy_(u->t[i].id, id, sizeof(u->t[i].id));
	u->t[i].flags = flag | U_SEEN;
	u->n++;
}

static long long
gcd(long long a, long long b)
{
	while (b != 0) {
		long long t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/*
 * The fewest calls whose price is whole cents at `micros` a call, and
 * those cents (at $0.001: 10 calls, 1 cent). Returns 0, -1 if micros <= 0.
 */
static int
price_step(long long micros, long long *calls, long long *cents)
{
	long long	 g;

	if (micros <= 0)
		return -1;
	g = gcd(micros, MICROS_PER_CENT);
	*calls = MICROS_PER_CENT / g;
	*cents = micros / g;
	return 0;
}

/*
 * How much of `unbilled` calls at `micros` micro-dollars each can be
 * billed in whole cents: the most calls whose price is a whole number of
 * cents (at $0.001 a call: multiples of 10). Returns 0 with *calls and
 * *cents set, or -1 for a price of zero or an amount too large.
 */
int
overage_billable(long long unbilled, long long micros, long long *calls,
    long long *cents)
{
	long long	 step, per_step;

	*calls = *cents = 0;
	if (unbilled < 0 || price_step(micros, &step, &per_step) == -1)
		return -1;
	if (unbilled / step > INT64_MAX / per_step)
		return -1;
	*calls = unbilled / step * step;
	*cents = unbilled / step * per_step;
	return 0;
}

/* Writes n with thousands separators ("5,000"). */
static void
group_digits(long long n, char *dst, size_t size)
{
	char	 raw[32];
	size_t	 len, i, o = 0;

	len = (size_t)snprintf(raw, sizeof(raw), "%lld", n < 0 ? 0 : n);
	for (i = 0; i < len && o + 2 < size; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			dst[o++] = ',';
		dst[o++] = raw[i];
	}
	dst[o] = '\0';
}

/*
 * The item's description, as a customer reads it:
 * "API overage: 5,000 calls x $0.001, October 2025".
 * Returns 0, or -1 if it did not fit.
 */
int
overage_describe(char *dst, size_t n, long long calls, long long micros,
    time_t period)
{
	struct tm	 tm;
	char		 num[40], frac[8];
	int		 len, w;

	group_digits(calls, num, sizeof(num));
	/* Dollars with as many decimals as the price needs, at least 2. */
	snprintf(frac, sizeof(frac), "%06lld", micros % 1000000);
	for (w = 6; w > 2 && frac[w - 1] == '0'; w--)
		frac[w - 1] = '\0';
	gmtime_r(&period, &tm);
	len = snprintf(dst, n, "API overage: %s call%s x $%lld.%s, %s %d",
	    num, calls == 1 ? "" : "s", micros / 1000000, frac,
	    months[tm.tm_mon], tm.tm_year + 1900);
	return len < 0 || (size_t)len >= n ? -1 : 0;
}

/* Parses "YYYY-MM" into the period's first day "YYYY-MM-01". */
int
overage_period_parse(const char *s, char *dst, size_t n)
{
	char	 day[16];
	time_t	 t;
	size_t	 i;

	if (strlen(s) != 7 || s[4] != '-' || n < 11)
		return -1;
	for (i = 0; i < 7; i++)
		if (i != 4 && (s[i] < '0' || s[i] > '9'))
			return -1;
	snprintf(day, sizeof(day), "%s-01", s);
	if (time_parse_date(day, &t) == -1 || t < 0)
		return -1;
	strlcpy_(dst, day, n);
	return 0;
}

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

/* Audit detail (and error text) must stay ASCII within `max` bytes. */
static void
ascii_copy(char *dst, const char *src, size_t max)
{
	size_t	 i;

	for (i = 0; src[i] != '\0' && i + 1 < max; i++)
		dst[i] = (unsigned char)src[i] < 0x20 ||
		    (unsigned char)src[i] > 0x7e ? '?' : src[i];
	dst[i] = '\0';
}

static void
audit(struct run *r, const char *action, const struct row *w,
    const char *user, const char *period, long long calls, long long cents,
    const char *extra_key, const char *extra)
{
	json_object	*d = json_object_new_object();

	if (w != NULL) {
		json_object_object_add(d, "ledger_id",
		    json_object_new_int64(w->id));
		json_object_object_add(d, "calls_from",
		    json_object_new_int64(w->calls_from));
		json_object_object_add(d, "calls_to",
		    json_object_new_int64(w->calls_to));
		user = w->user;
		period = w->period;
		cents = w->cents;
	} else
		json_object_object_add(d, "calls",
		    json_object_new_int64(calls));
	json_object_object_add(d, "period", json_object_new_string(period));
	json_object_object_add(d, "amount_cents", json_object_new_int64(cents));
	if (extra_key != NULL)
		json_object_object_add(d, extra_key,
		    json_object_new_string(extra));
	audit_log(r->db, r->o->actor, action, user,
	    json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN),
	    r->o->remote);
	json_object_put(d);
}

static void
emit(struct run *r, const struct row *w, const char *user,
    const char *period, long long calls, long long cents, const char *action,
    const char *outcome, const char *stripe_id, const char *error)
{
	struct overage_item	 it;

	if (r->o->on_item == NULL)
		return;
	memset(&it, 0, sizeof(it));
	it.user_id = w != NULL ? w->user : user;
	it.period = w != NULL ? w->period : period;
	if (w != NULL) {
		it.ledger_id = w->id;
		it.calls_from = w->calls_from;
		it.calls_to = w->calls_to;
		calls = w->calls_to - w->calls_from + 1;
		cents = w->cents;
	}
	it.calls = calls;
	it.amount_cents = cents;
	it.action = action;
	it.outcome = outcome;
	it.stripe_id = stripe_id != NULL ? stripe_id : "";
	it.error = error != NULL ? error : "";
	r->o->on_item(r->o->arg, &it);
}

/* 1 while this connection holds the run lock, 0 when lost, -1 on error. */
static int
lock_held(struct run *r)
{
	struct dbp	 p[1] = { DBP_S(LOCK_NAME) };
	struct dbres	*q;
	int		 rc = -1;

	if ((q = db_query(r->db, sql_lock_held, p, 1)) == NULL)
		return -1;
	if (db_next(q) == 1)
		rc = db_int(q, 0) == 1;
	db_done(q);
	return rc;
}

static struct row *
row_read(const struct dbres *q)
{
	struct row	*w = xcalloc(1, sizeof(*w));

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

/* The invoice item a row stands for: a function of the row alone. */
static void
item_fill(const struct row *w, struct stripe_item *it)
{
	long long	 calls = w->calls_to - w->calls_from + 1;
	time_t		 start = 0;

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
#define META(k, ...) do {						\
	strlcpy_(it->meta[it->nmeta].key, k, sizeof(it->meta[0].key));	\
	snprintf(it->meta[it->nmeta].val, sizeof(it->meta[0].val),	\
	    __VA_ARGS__);						\
	it->nmeta++;							\
} while (0)
	META("nexus_ledger", "%s/%.7s/%lld", w->user, w->period,
	    w->calls_from);
	META("nexus_ledger_id", "%lld", w->id);
	META("nexus_user_id", "%s", w->user);
	META("nexus_period", "%.7s", w->period);
	META("nexus_calls", "%lld-%lld", w->calls_from, w->calls_to);
#undef META
}

/* Records that a row is at Stripe as item id. Returns 0 or -1. */
static int
row_sent(struct run *r, struct row *w, const char *id, int attempts,
    const char *action)
{
	struct dbp		 p[3] = { DBP_S(id), DBP_I(attempts),
	    DBP_I(w->id) };
	unsigned long long	 n = 0;

	if (db_begin(r->db) == -1)
		return -1;
	if (db_exec(r->db, sql_sent, p, 3, &n) == -1) {
		db_rollback(r->db);
		return -1;
	}
	if (n == 1)
		audit(r, action, w, NULL, NULL, 0, 0, "stripe_item_id", id);
	if (db_commit(r->db) == -1)
		return -1;
	r->sum->items_sent++;
	r->sum->total_cents += w->cents;
	r->sum->calls_billed += w->calls_to - w->calls_from + 1;
	users_mark(&r->users, w->user, U_BILLED);
	return 0;
}

/* Records a row that could not be billed now (it stays for later). */
static void
row_failed(struct run *r, struct row *w, const char *why, int attempts,
    int refused, const char *action)
{
	char		 err[256], key[STRIPE_IDEM_MAX + 1];
	struct dbp	 p[4];
	int		 tx;

	ascii_copy(err, why, sizeof(err));
	tx = db_begin(r->db) == 0;
	if (refused) {
		/* Nothing was created: the next try gets a fresh key. */
		snprintf(key, sizeof(key), "%.*s_r%lld", KEY_BASE_LEN, w->key,
		    w->attempts + attempts);
		p[0] = DBP_S(key);
		p[1] = DBP_I(attempts);
		p[2] = DBP_S(err);
		p[3] = DBP_I(w->id);
		db_exec(r->db, sql_refused, p, 4, NULL);
	} else if (attempts > 0) {
		p[0] = DBP_I(attempts);
		p[1] = DBP_S(err);
		p[2] = DBP_I(w->id);
		db_exec(r->db, sql_unsent_note, p, 3, NULL);
	}
	audit(r, "overage.failed", w, NULL, NULL, 0, 0, "error", err);
	if (tx)
		db_commit(r->db);
	r->sum->items_failed++;
	users_mark(&r->users, w->user, U_FAILED);
	emit(r, w, NULL, NULL, 0, 0, action, "failed", NULL, err);
}

/* Matching a customer's listed items against a group of rows. */
struct match {
	struct row	**rows;
	size_t		 n;
	char		(*found)[STRIPE_ID_MAX + 1];
	long long	*amount;
};

static int
match_item(void *arg, const struct stripe_listed *it)
{
	struct match	*m = arg;
	const char	*tag = stripe_listed_meta(it, "nexus_ledger");
	char		 want[128];
	size_t		 i;

	if (tag == NULL)
		return 0;
	for (i = 0; i < m->n; i++) {
		snprintf(want, sizeof(want), "%s/%.7s/%lld", m->rows[i]->user,
		    m->rows[i]->period, m->rows[i]->calls_from);
		if (strcmp(tag, want) == 0 && m->found[i][0] == '\0') {
			strlcpy_(m->found[i], it->id, sizeof(m->found[i]));
			m->amount[i] = it->amount;
		}
	}
	return 0;
}

static void
verified_add(struct run *r, long long id)
{
	r->verified = xrealloc(r->verified,
	    (r->nverified + 1) * sizeof(*r->verified));
	r->verified[r->nverified++] = id;
}

static int
idcmp(const void *a, const void *b)
{
	long long	 x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/*
 * Looks for rows[0..n-1], all of one customer, among that customer's
 * invoice items. Found ones are marked sent; the others are known not to
 * be at Stripe and may be sent (added to r->verified, or failed with a
 * fresh key when `refresh` is set).
 */
static void
reconcile_group(struct run *r, struct row **rows, size_t n, int refresh,
    const char *action)
{
	struct match	 m;
	char		 err[256], msg[320];
	size_t		 i;

	m.rows = rows;
	m.n = n;
	m.found = xcalloc(n, sizeof(*m.found));
	m.amount = xcalloc(n, sizeof(*m.amount));
	if (rows[0]->customer[0] == '\0')
		snprintf(err, sizeof(err), "row has no customer");
	else if (stripe_invoice_items_list(r->stripe, rows[0]->customer,
	    match_item, &m, err, sizeof(err)) == 0)
		err[0] = '\0';
	for (i = 0; i < n; i++) {
		struct row *w = rows[i];

		users_mark(&r->users, w->user, 0);
		if (err[0] != '\0') {
			snprintf(msg, sizeof(msg), "reconcile: %s", err);
			row_failed(r, w, msg, w->tried, 0, action);
		} else if (m.found[i][0] != '\0' && m.amount[i] != w->cents) {
			snprintf(msg, sizeof(msg), "reconcile: %s has amount "
			    "%lld, the ledger %lld", m.found[i], m.amount[i],
			    w->cents);
			row_failed(r, w, msg, w->tried, 0, action);
		} else if (m.found[i][0] != '\0') {
			if (row_sent(r, w, m.found[i], w->tried,
			    "overage.reconciled") == -1) {
				row_failed(r, w, db_error(r->db), w->tried, 0,
				    action);
				continue;
			}
			r->sum->items_reconciled++;
			emit(r, w, NULL, NULL, 0, 0, action, "sent",
			    m.found[i], NULL);
		} else if (refresh)
			row_failed(r, w, "idempotency key reused with other "
			    "parameters; no item found, retrying with a new "
			    "key", w->tried, 1, action);
		else
			verified_add(r, w->id);
	}
	free(m.found);
	free(m.amount);
}

/* Calls reconcile_group() for each run of rows with the same customer. */
static void
reconcile_rows(struct run *r, struct row **rows, size_t n, int refresh,
    const char *action)
{
	size_t	 i, j;

	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n &&
		    strcmp(rows[j]->customer, rows[i]->customer) == 0; j++)
			;
		reconcile_group(r, rows + i, j - i, refresh, action);
	}
}

static int
custcmp(const void *a, const void *b)
{
	const struct row	*x = *(struct row *const *)a;
	const struct row	*y = *(struct row *const *)b;
	int			 c = strcmp(x->customer, y->customer);

	return c != 0 ? c : x->id < y->id ? -1 : x->id > y->id;
}

static struct dbp
period_param(const struct run *r)
{
	return r->o->period != NULL ? DBP_S(r->o->period) : DBP_NUL;
}

/* Phase 1: old pending rows. Returns 0 or -1 (database). */
static int
phase_reconcile(struct run *r)
{
	struct dbp	 p[2] = { period_param(r), period_param(r) };
	struct dbres	*q;
	struct row	**rows = NULL;
	size_t		 n = 0, i;
	int		 rc;

	if ((q = db_query(r->db, sql_old_pending, p, 2)) == NULL)
		return -1;
	while ((rc = db_next(q)) == 1) {
		rows = xrealloc(rows, (n + 1) * sizeof(*rows));
		rows[n++] = row_read(q);
	}
	db_done(q);
	if (rc == -1) {
		for (i = 0; i < n; i++)
			free(rows[i]);
		free(rows);
		return -1;
	}
	if (r->o->dry_run) {
		for (i = 0; i < n; i++) {
			users_mark(&r->users, rows[i]->user, U_BILLED);
			r->sum->total_cents += rows[i]->cents;
			r->sum->calls_billed += rows[i]->calls_to -
			    rows[i]->calls_from + 1;
			emit(r, rows[i], NULL, NULL, 0, 0, "reconcile",
			    "dry_run", NULL, NULL);
		}
	} else if (n > 0) {
		qsort(rows, n, sizeof(*rows), custcmp);
		reconcile_rows(r, rows, n, 0, "reconcile");
		qsort(r->verified, r->nverified, sizeof(*r->verified), idcmp);
	}
	for (i = 0; i < n; i++)
		free(rows[i]);
	free(rows);
	return 0;
}

/* A user-period with unbilled overage, and what became of it. */
struct cand {
	char		 user[USER_ID_MAX + 1];
	char		 period[11];
	long long	 api_calls, invoiced, allowance, micros;
	char		 customer[CUSTOMER_ID_MAX + 1];
	struct row	 rows[4];	/* made in this transaction */
	size_t		 nrows;
	int		 raced;		/* the watermark moved under us */
};

/*
 * Writes the ledger rows for c (no transaction handling). Returns 0, 1
 * when another writer moved the watermark first, -1 on a database error.
 */
static int
ledger_add(struct run *r, struct cand *c)
{
	long long		 unbilled, calls, cents, invoiced = c->invoiced;
	unsigned long long	 n, id;

	c->nrows = 0;
	unbilled = c->api_calls - c->allowance - c->invoiced;
	if (overage_billable(unbilled, c->micros, &calls, &cents) == -1)
		return -1;
	while (calls > 0 && c->nrows < sizeof(c->rows) / sizeof(c->rows[0])) {
		struct row	*w = &c->rows[c->nrows];
		long long	 take = calls, tc = cents;

		if (tc > ITEM_CENTS_MAX) {
			/* Split into items under Stripe's largest amount. */
			long long step_calls = 1, step_cents = 1;

			price_step(c->micros, &step_calls, &step_cents);
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

		struct dbp pw[4] = { DBP_I(take), DBP_S(c->user),
		    DBP_S(c->period), DBP_I(invoiced) };
		if (db_exec(r->db, sql_watermark, pw, 4, &n) == -1)
			return -1;
		if (n != 1)
			return 1;
		struct dbp pl[7] = { DBP_S(w->user), DBP_S(w->period),
		    DBP_I(w->calls_from), DBP_I(w->calls_to), DBP_I(w->cents),
		    DBP_S(w->customer), DBP_S(w->key) };
		if (db_exec_id(r->db, sql_ledger_insert, pl, 7, &id) == -1)
			return -1;
		w->id = (long long)id;
		audit(r, "overage.ledger", w, NULL, NULL, 0, 0, NULL, NULL);
		invoiced += take;
		calls -= take;
		cents -= tc;
		c->nrows++;
	}
	return 0;
}

/* Runs ledger_add() for c[0..n-1] in one transaction. Returns 0 or -1. */
static int
ledger_tx(struct run *r, struct cand *c, size_t n)
{
	size_t	 i;
	int	 rc;

	if (db_begin(r->db) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if ((rc = ledger_add(r, &c[i])) == -1) {
			db_rollback(r->db);
			return -1;
		}
		c[i].raced = rc == 1;
		if (c[i].raced) {
			/* Undo this one's rows only: redo the batch without it. */
			db_rollback(r->db);
			return -2;
		}
	}
	return db_commit(r->db);
}

/* Reports what a committed candidate became. */
static void
cand_report(struct run *r, struct cand *c)
{
	long long	 unbilled = c->api_calls - c->allowance - c->invoiced;
	long long	 billed = 0;
	size_t		 i;

	for (i = 0; i < c->nrows; i++) {
		billed += c->rows[i].calls_to - c->rows[i].calls_from + 1;
		if (r->first_new == 0 || c->rows[i].id < r->first_new)
			r->first_new = c->rows[i].id;
	}
	r->sum->calls_carried += unbilled - billed;
}

/* Turns a batch of candidates into ledger rows. */
static int
ledger_batch(struct run *r, struct cand *c, size_t n)
{
	size_t	 i;
	int	 rc;

	if ((rc = ledger_tx(r, c, n)) == 0) {
		for (i = 0; i < n; i++)
			cand_report(r, &c[i]);
		return 0;
	}
	/* One at a time, so that one bad candidate spoils only itself. */
	for (i = 0; i < n; i++) {
		if ((rc = ledger_tx(r, &c[i], 1)) == 0) {
			cand_report(r, &c[i]);
			continue;
		}
		if (rc == -2)	/* another writer got there: next run */
			continue;
		log_warnx("overage: ledger for %s %s: %s", c[i].user,
		    c[i].period, db_error(r->db));
		r->sum->items_failed++;
		users_mark(&r->users, c[i].user, U_FAILED);
		emit(r, NULL, c[i].user, c[i].period, 0, 0, "bill", "failed",
		    NULL, db_error(r->db));
		if (db_errno(r->db) >= 2000)	/* client: connection gone */
			return -1;
	}
	return 0;
}

/* Phase 2: unbilled overage into ledger rows. Returns 0 or -1. */
static int
phase_ledger(struct run *r)
{
	struct cand	*batch = xcalloc(BATCH, sizeof(*batch));
	struct dbres	*q;
	char		 after_user[USER_ID_MAX + 1] = "";
	char		 after_period[11] = "1970-01-01";
	size_t		 nb = 0;
	int		 rc, got, ret = -1;

	do {
		struct dbp p[4] = { DBP_S(after_user), DBP_S(after_period),
		    period_param(r), period_param(r) };

		if ((q = db_query(r->db, sql_candidates, p, 4)) == NULL)
			goto out;
		got = 0;
		while ((rc = db_next(q)) == 1) {
			struct cand	*c = &batch[nb];
			long long	 calls, cents, unbilled;

			got++;
			memset(c, 0, sizeof(*c));
			strlcpy_(c->user, db_str(q, 0), sizeof(c->user));
			strlcpy_(c->period, db_str(q, 1), sizeof(c->period));
			c->api_calls = db_int(q, 2);
			c->invoiced = db_int(q, 3);
			c->allowance = db_int(q, 4);
			c->micros = db_int(q, 5);
			strlcpy_(c->customer, db_str(q, 6), sizeof(c->customer));
			strlcpy_(after_user, c->user, sizeof(after_user));
			strlcpy_(after_period, c->period, sizeof(after_period));
			unbilled = c->api_calls - c->allowance - c->invoiced;
			users_mark(&r->users, c->user, 0);
			if (overage_billable(unbilled, c->micros, &calls,
			    &cents) == -1)
				calls = cents = 0;
			if (c->customer[0] == '\0') {
				users_mark(&r->users, c->user, U_SKIPPED);
				if (!r->o->dry_run)
					audit(r, "overage.skipped", NULL,
					    c->user, c->period, unbilled,
					    cents, "reason",
					    "no Stripe customer");
				emit(r, NULL, c->user, c->period, unbilled,
				    cents, "skip", "skipped", NULL,
				    "no Stripe customer");
				continue;
			}
			if (calls == 0) {
				r->sum->calls_carried += unbilled;
				emit(r, NULL, c->user, c->period, unbilled, 0,
				    "carry", "pending", NULL, NULL);
				continue;
			}
			if (r->o->dry_run) {
				struct row w;

				memset(&w, 0, sizeof(w));
				strlcpy_(w.user, c->user, sizeof(w.user));
				strlcpy_(w.period, c->period, sizeof(w.period));
				w.calls_from = c->allowance + c->invoiced + 1;
				w.calls_to = w.calls_from + calls - 1;
				w.cents = cents;
				users_mark(&r->users, c->user, U_BILLED);
				r->sum->total_cents += cents;
				r->sum->calls_billed += calls;
				r->sum->calls_carried += unbilled - calls;
				emit(r, &w, NULL, NULL, 0, 0, "bill", "dry_run",
				    NULL, NULL);
				continue;
			}
			if (++nb == BATCH) {
				if (ledger_batch(r, batch, nb) == -1) {
					db_done(q);
					goto out;
				}
				nb = 0;
			}
		}
		db_done(q);
		if (rc == -1)
			goto out;
	} while (got == CHUNK);
	if (nb > 0 && ledger_batch(r, batch, nb) == -1)
		goto out;
	ret = 0;
out:
	free(batch);
	return ret;
}

/* Reads the next chunk of unsent rows. Returns 0 or -1. */
static int
chunk_load(struct run *r)
{
	struct dbp	 p[3] = { DBP_I(r->last_id), period_param(r),
	    period_param(r) };
	struct dbres	*q;
	int		 rc;

	free(r->chunk);
	r->chunk = NULL;
	r->nchunk = r->pos = 0;
	if (!r->o->dry_run && lock_held(r) != 1) {
		snprintf(r->sum->error, sizeof(r->sum->error),
		    "lost the run lock");
		return -1;
	}
	if ((q = db_query(r->db, sql_unsent, p, 3)) == NULL)
		return -1;
	r->chunk = xcalloc(CHUNK, sizeof(*r->chunk));
	while (r->nchunk < CHUNK && (rc = db_next(q)) == 1) {
		r->chunk[r->nchunk] = row_read(q);
		r->last_id = r->chunk[r->nchunk++]->id;
	}
	db_done(q);
	if (r->nchunk < CHUNK)
		r->exhausted = 1;
	return 0;
}

static const char *
row_action(const struct run *r, const struct row *w)
{
	return r->first_new != 0 && w->id >= r->first_new ? "bill" : "retry";
}

/*
 * Whether w may be sent now: old pending rows only once reconciliation
 * found them absent; failed rows are reopened with the user's customer.
 */
static int
row_ready(struct run *r, struct row *w)
{
	struct dbp	 p[2];

	if (!w->failed && w->old && r->o->dry_run)
		return 0;	/* phase 1 reported it */
	users_mark(&r->users, w->user, 0);
	if (r->o->dry_run) {
		users_mark(&r->users, w->user, U_BILLED);
		r->sum->total_cents += w->cents;
		r->sum->calls_billed += w->calls_to - w->calls_from + 1;
		emit(r, w, NULL, NULL, 0, 0, row_action(r, w), "dry_run",
		    NULL, NULL);
		return 0;
	}
	if (!w->failed && w->old && bsearch(&w->id, r->verified, r->nverified,
	    sizeof(*r->verified), idcmp) == NULL)
		return 0;	/* reconciliation reported it */
	if (!w->failed)
		return w->customer[0] != '\0';
	if (w->now_customer[0] == '\0') {
		users_mark(&r->users, w->user, U_SKIPPED);
		audit(r, "overage.skipped", w, NULL, NULL, 0, 0, "reason",
		    "no Stripe customer");
		emit(r, w, NULL, NULL, 0, 0, row_action(r, w), "skipped", NULL,
		    "no Stripe customer");
		return 0;
	}
	p[0] = DBP_S(w->now_customer);
	p[1] = DBP_I(w->id);
	if (db_exec(r->db, sql_reopen, p, 2, NULL) == -1) {
		row_failed(r, w, db_error(r->db), 0, 0, row_action(r, w));
		return 0;
	}
	strlcpy_(w->customer, w->now_customer, sizeof(w->customer));
	w->failed = 0;
	return 1;
}

static int
send_next(void *arg, struct stripe_item *it, void **udata)
{
	struct run	*r = arg;
	struct row	*w;

	while (!r->stop) {
		if (r->pos == r->nchunk) {
			if (r->exhausted)
				return 0;
			if (chunk_load(r) == -1) {
				r->stop = 1;
				return 0;
			}
			continue;
		}
		w = r->chunk[r->pos++];
		if (!row_ready(r, w)) {
			free(w);
			continue;
		}
		item_fill(w, it);
		*udata = w;
		return 1;
	}
	return 0;
}

static void
send_done(void *arg, void *udata, const struct stripe_result *res)
{
	struct run	*r = arg;
	struct row	*w = udata;
	const char	*action = row_action(r, w);

	switch (res->outcome) {
	case STRIPE_OK:
		if (row_sent(r, w, res->id, res->attempts,
		    "overage.sent") == -1)
			row_failed(r, w, db_error(r->db), 0, 0, action);
		else
			emit(r, w, NULL, NULL, 0, 0, action, "sent", res->id,
			    NULL);
		break;
	case STRIPE_REFUSED:
		row_failed(r, w, res->error, res->attempts, 1, action);
		break;
	case STRIPE_IDEM_MISMATCH:
		/* Was it created with other parameters? Look, after the run. */
		w->tried = res->attempts;
		r->mismatch = xrealloc(r->mismatch,
		    (r->nmismatch + 1) * sizeof(*r->mismatch));
		r->mismatch[r->nmismatch++] = w;
		return;
	case STRIPE_UNAUTHORIZED:
		r->stop = 1;
		snprintf(r->sum->error, sizeof(r->sum->error),
		    "Stripe refused the secret key: %.200s", res->error);
		row_failed(r, w, res->error, res->attempts, 0, action);
		break;
	case STRIPE_GAVE_UP:
		row_failed(r, w, res->error, res->attempts, 0, action);
		break;
	}
	free(w);
}

/* Phase 3: every unsent row to Stripe. Returns 0 or -1. */
static int
phase_send(struct run *r)
{
	size_t	 i;

	if (r->o->dry_run) {
		struct stripe_item	 it;
		void			*u;

		while (send_next(r, &it, &u) == 1)
			;
		return r->sum->error[0] != '\0' ? -1 : 0;
	}
	stripe_invoice_items_create(r->stripe, send_next, send_done, r);
	if (r->nmismatch > 0) {
		qsort(r->mismatch, r->nmismatch, sizeof(*r->mismatch), custcmp);
		reconcile_rows(r, r->mismatch, r->nmismatch, 1, "retry");
		for (i = 0; i < r->nmismatch; i++)
			free(r->mismatch[i]);
	}
	for (i = r->pos; i < r->nchunk; i++)
		free(r->chunk[i]);
	return r->sum->error[0] != '\0' ? -1 : 0;
}

static const struct {
	const char	*name;
	size_t		 off;
} summary_fields[] = {
#define F(f)	{ #f, offsetof(struct overage_summary, f) }
	F(users_seen), F(users_billed), F(users_skipped), F(users_failed),
	F(items_sent), F(items_reconciled), F(items_failed), F(total_cents),
	F(calls_billed), F(calls_carried),
#undef F
};

/* The summary as a JSON object (the caller owns the reference). */
struct json_object *
overage_summary_json(const struct overage_summary *s)
{
	json_object	*o = json_object_new_object();
	size_t		 i;
	int		 ok = s->users_skipped == 0 && s->users_failed == 0 &&
	    s->error[0] == '\0';

	json_object_object_add(o, "status",
	    json_object_new_string(ok ? "ok" : "partial"));
	json_object_object_add(o, "dry_run",
	    json_object_new_boolean(s->dry_run));
	for (i = 0; i < sizeof(summary_fields) / sizeof(summary_fields[0]);
	    i++)
		json_object_object_add(o, summary_fields[i].name,
		    json_object_new_int64(*(const long long *)(const void *)
		    ((const char *)s + summary_fields[i].off)));
	if (s->error[0] != '\0')
		json_object_object_add(o, "error",
		    json_object_new_string(s->error));
	return o;
}

/*
 * Bills every Pro user's unbilled overage (in opts->period, or in every
 * period) and finishes what earlier runs left unsent. Fills *sum.
 * Returns OVERAGE_OK when everything due was billed, OVERAGE_PARTIAL
 * when a user was skipped or an item failed, OVERAGE_BUSY when another
 * run holds the lock, OVERAGE_ERROR when the run could not go on.
 */
int
overage_run(struct db *db, const struct config *cfg,
    const struct overage_opts *o, struct overage_summary *sum)
{
	struct run	 r;
	size_t		 i;
	int		 rc = OVERAGE_ERROR, locked = 0;

	memset(sum, 0, sizeof(*sum));
	memset(&r, 0, sizeof(r));
	r.db = db;
	r.cfg = cfg;
	r.o = o;
	r.sum = sum;
	sum->dry_run = o->dry_run;

	if (!o->dry_run) {
		switch (db_lock(db, LOCK_NAME, 0)) {
		case 1:
			locked = 1;
			break;
		case 0:
			snprintf(sum->error, sizeof(sum->error),
			    "another overage run is in progress");
			return OVERAGE_BUSY;
		default:
			snprintf(sum->error, sizeof(sum->error),
			    "database: %s", db_error(db));
			return OVERAGE_ERROR;
		}
		if ((r.stripe = stripe_open(cfg)) == NULL) {
			snprintf(sum->error, sizeof(sum->error),
			    "Stripe is not configured (stripe_secret_key)");
			goto out;
		}
	}
	if (phase_reconcile(&r) == -1 || phase_ledger(&r) == -1) {
		if (sum->error[0] == '\0')
			snprintf(sum->error, sizeof(sum->error),
			    "database: %s", db_error(db));
		goto out;
	}
	if (phase_send(&r) == -1) {
		if (sum->error[0] == '\0')
			snprintf(sum->error, sizeof(sum->error),
			    "database: %s", db_error(db));
		goto out;
	}
	rc = OVERAGE_OK;
out:
	for (i = 0; i < r.users.cap; i++) {
		int f = r.users.t[i].flags;

		if (r.users.t[i].id[0] == '\0')
			continue;
		sum->users_seen++;
		sum->users_billed += (f & U_BILLED) != 0;
		sum->users_skipped += (f & U_SKIPPED) != 0;
		sum->users_failed += (f & U_FAILED) != 0;
	}
	if (rc == OVERAGE_OK && (sum->users_skipped > 0 ||
	    sum->users_failed > 0))
		rc = OVERAGE_PARTIAL;
	if (!o->dry_run) {
		json_object *j = overage_summary_json(sum);

		audit_log(db, o->actor, "overage.run", NULL,
		    json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN),
		    o->remote);
		json_object_put(j);
	}
	stripe_close(r.stripe);
	if (locked)
		db_unlock(db, LOCK_NAME);
	free(r.users.t);
	free(r.verified);
	free(r.mismatch);
	free(r.chunk);
	return rc;
}
