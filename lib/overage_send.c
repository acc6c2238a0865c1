/*
 * The overage run's two senders (struct sender in billing.h): what the
 * phases do with the rows they find. The Stripe sender holds the run
 * lock, writes the ledger, bills at Stripe and records every answer with
 * its audit line; a dry run's sender reports what would be billed and
 * writes nothing.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "nexus.h"
#include "billing.h"

#define LOCK_NAME	"nexus.overage"
#define ROWS_MAX	4	/* ledger rows per user-period and run */

/* How a reconciliation's verdicts are recorded (on_reconciled). */
struct verdicts {
	struct run	*r;
	int		 refresh;	/* absent rows fail with a fresh key */
	const char	*action;
};

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

/*
 * Writes, in the caller's transaction, that Stripe holds w as item id,
 * with its audit line as `what`. Returns 0 or -1.
 */
static int
sent_write(struct run *r, const struct ledger_row *w, const char *id,
    int attempts, const char *what)
{
	struct overage_item	 it;
	int			 rc;

	if ((rc = ledger_sent(r->db, w, id, attempts)) != 1)
		return rc;	/* 0: no longer pending, nothing to say */
	run_item_row(&it, w, NULL, "sent");	/* the audit has no action */
	it.stripe_id = id;
	return run_audit(r, what, &it);
}

/*
 * Records that w could not be billed now and stays for a later run:
 * refused (Stripe created nothing: a fresh key) or with its outcome
 * unknown after attempts more tries.
 */
static void
row_failed(struct run *r, const struct ledger_row *w, const char *why,
    int attempts, int refused, const char *action)
{
	struct overage_item	 it;
	char			 err[256];
	int			 rc = 0;

	ascii_copy(err, why, sizeof(err));
	run_item_row(&it, w, action, "failed");
	it.error = err;
	if (db_begin(r->db) == -1)
		rc = -1;
	else if (refused)
		rc = ledger_refused(r->db, w, attempts, err);
	else if (attempts > 0)
		rc = ledger_unsent_note(r->db, w, attempts, err);
	if (rc == 0 && run_audit(r, "overage.failed", &it) == 0 &&
	    db_commit(r->db) == 0)
		rc = 1;
	if (rc != 1) {
		log_warnx("overage: ledger row %lld: recording \"%s\": %s",
		    w->id, err, db_error(r->db));
		db_rollback(r->db);
	}
	r->sum->items_failed++;
	run_mark_user(&r->users, w->user, U_FAILED);
	run_emit(r, &it);
}

/* 1 while this connection holds the run lock, 0 when lost, -1 on error. */
static int
lock_held(struct run *r)
{
	static const char	*sql =
	    "SELECT IS_USED_LOCK(?) = CONNECTION_ID()";
	struct dbp		 p[1] = { DBP_S(LOCK_NAME) };
	long long		 v;

	if (db_query_int(r->db, sql, p, 1, &v) == -1)
		return -1;
	return v == 1;
}

static int
idcmp(const void *a, const void *b)
{
	long long	 x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/* Reads the next chunk of unsent rows. Returns 0 or -1. */
static int
chunk_load(struct run *r)
{
	free(r->chunk);
	r->chunk = NULL;
	r->nchunk = r->pos = 0;
	if (r->locked && lock_held(r) != 1) {
		snprintf(r->sum->error, sizeof(r->sum->error),
		    "lost the run lock");
		return -1;
	}
	if (ledger_unsent(r->db, r->o->period, r->last_id, &r->chunk,
	    &r->nchunk) == -1)
		return -1;
	if (r->nchunk > 0)
		r->last_id = r->chunk[r->nchunk - 1]->id;
	if (r->nchunk < LEDGER_CHUNK)
		r->exhausted = 1;
	return 0;
}

/*
 * Phase 3's walk: the next unsent row (the caller frees it), or NULL
 * after the last one or when the run stops (sum->error says why).
 */
static struct ledger_row *
unsent_next(struct run *r)
{
	while (!r->stop) {
		if (r->pos < r->nchunk)
			return r->chunk[r->pos++];
		if (r->exhausted)
			break;
		if (chunk_load(r) == -1) {
			r->stop = 1;
			if (r->sum->error[0] == '\0')
				snprintf(r->sum->error, sizeof(r->sum->error),
				    "database: %s", db_error(r->db));
		}
	}
	return NULL;
}

/*
 * The dry run's sender: reports every row as it would be billed, and
 * writes nothing (run_audit leaves the log alone in a dry run).
 */
static void
dry_record(struct run *r, const struct ledger_row *w, const char *action)
{
	struct overage_item	 it;

	run_billed(r, w);
	run_item_row(&it, w, action, "dry_run");
	run_emit(r, &it);
}

static int
dry_start(struct run *r)
{
	return OVERAGE_OK;
}

static void
dry_check(struct run *r, struct ledger_row **rows, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		dry_record(r, rows[i], "reconcile");
}

/* The row phase 2 would write (one, however large). */
static int
dry_bill(struct run *r, struct period_unbilled *c, size_t n)
{
	struct ledger_row	 w;
	long long		 unbilled, calls;
	size_t			 i;

	for (i = 0; i < n; i++) {
		memset(&w, 0, sizeof(w));
		unbilled = c[i].api_calls - c[i].allowance - c[i].invoiced;
		overage_billable(unbilled, c[i].micros, &calls, &w.cents);
		strlcpy_(w.user, c[i].user, sizeof(w.user));
		strlcpy_(w.period, c[i].period, sizeof(w.period));
		w.calls_from = c[i].allowance + c[i].invoiced + 1;
		w.calls_to = w.calls_from + calls - 1;
		r->sum->calls_carried += unbilled - calls;
		dry_record(r, &w, "bill");
	}
	return 0;
}

static void
dry_send(struct run *r)
{
	struct ledger_row	*w;

	while ((w = unsent_next(r)) != NULL) {
		if (w->failed || !w->old)	/* else phase 1 reported it */
			dry_record(r, w, run_action(r, w));
		free(w);
	}
}

static void
dry_finish(struct run *r)
{
}

const struct sender sender_dry = {
	dry_start, dry_check, dry_bill, dry_send, dry_finish
};

/*
 * The Stripe sender. It holds the run lock from start to finish, and
 * records every answer in the ledger with its audit line.
 */
static int
stripe_start(struct run *r)
{
	switch (db_lock(r->db, LOCK_NAME, 0)) {
	case 1:
		r->locked = 1;
		break;
	case 0:
		snprintf(r->sum->error, sizeof(r->sum->error),
		    "another overage run is in progress");
		return OVERAGE_BUSY;
	default:
		snprintf(r->sum->error, sizeof(r->sum->error),
		    "database: %s", db_error(r->db));
		return OVERAGE_ERROR;
	}
	if ((r->stripe = stripe_open(r->cfg)) == NULL) {
		snprintf(r->sum->error, sizeof(r->sum->error),
		    "Stripe is not configured (stripe_secret_key)");
		return OVERAGE_ERROR;
	}
	return OVERAGE_OK;
}

/* Records a reconciliation's verdict on w. */
static void
on_reconciled(void *arg, struct ledger_row *w, const struct reconciled *v)
{
	struct verdicts		*vs = arg;
	struct run		*r = vs->r;
	struct overage_item	 it;
	int			 ok;

	run_mark_user(&r->users, w->user, 0);
	switch (v->verdict) {
	case RECONCILE_FOUND:
		ok = db_begin(r->db) == 0;
		if (ok && (sent_write(r, w, v->item_id, w->tried,
		    "overage.reconciled") == -1 || db_commit(r->db) == -1)) {
			db_rollback(r->db);
			ok = 0;
		}
		if (!ok) {
			row_failed(r, w, db_error(r->db), w->tried, 0,
			    vs->action);
			break;
		}
		r->sum->items_sent++;
		r->sum->items_reconciled++;
		run_billed(r, w);
		run_item_row(&it, w, vs->action, "sent");
		it.stripe_id = v->item_id;
		run_emit(r, &it);
		break;
	case RECONCILE_ABSENT:
		if (vs->refresh)
			row_failed(r, w, "idempotency key reused with other "
			    "parameters; no item found, retrying with a new "
			    "key", w->tried, 1, vs->action);
		else	/* room was made by stripe_check() */
			r->verified[r->nverified++] = w->id;
		break;
	default:
		row_failed(r, w, v->why, w->tried, 0, vs->action);
		break;
	}
}

static void
stripe_check(struct run *r, struct ledger_row **rows, size_t n)
{
	struct verdicts	 vs = { r, 0, "reconcile" };

	r->verified = xcalloc(n, sizeof(*r->verified));
	reconcile_rows(r->stripe, rows, n, on_reconciled, &vs);
	qsort(r->verified, r->nverified, sizeof(*r->verified), idcmp);
}

/*
 * Writes the ledger rows of c[0..n-1] in one transaction; billed[i] gets
 * the calls of c[i] they cover and *first the lowest row id. Returns 0,
 * -1 on a database error, -2 when a watermark had moved (rolled back).
 */
static int
ledger_tx(struct run *r, const struct period_unbilled *c, size_t n,
    long long *billed, long long *first)
{
	struct ledger_row	 rows[ROWS_MAX];
	struct overage_item	 it;
	size_t			 i;
	int			 k, m;

	*first = 0;
	if (db_begin(r->db) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if ((m = ledger_add(r->db, &c[i], rows, ROWS_MAX)) < 0) {
			db_rollback(r->db);
			return m;
		}
		for (billed[i] = 0, k = 0; k < m; k++) {
			run_item_row(&it, &rows[k], "bill", "pending");
			if (run_audit(r, "overage.ledger", &it) == -1) {
				db_rollback(r->db);
				return -1;
			}
			billed[i] += it.calls;
			if (*first == 0 || rows[k].id < *first)
				*first = rows[k].id;
		}
	}
	return db_commit(r->db);
}

/* Counts what a committed user-period left for later, notes new rows. */
static void
billed_count(struct run *r, const struct period_unbilled *c,
    long long billed, long long first)
{
	r->sum->calls_carried += c->api_calls - c->allowance - c->invoiced -
	    billed;
	if (first != 0 && (r->first_new == 0 || first < r->first_new))
		r->first_new = first;
}

static int
stripe_bill(struct run *r, struct period_unbilled *c, size_t n)
{
	struct overage_item	 it;
	long long		 billed[BATCH], first;
	size_t			 i;
	int			 rc;

	if (ledger_tx(r, c, n, billed, &first) == 0) {
		for (i = 0; i < n; i++)
			billed_count(r, &c[i], billed[i], first);
		return 0;
	}
	/* One at a time, so that one bad user-period spoils only itself. */
	for (i = 0; i < n; i++) {
		if ((rc = ledger_tx(r, &c[i], 1, &billed[i], &first)) == 0) {
			billed_count(r, &c[i], billed[i], first);
			continue;
		}
		if (rc == -2)	/* another writer got there: next run */
			continue;
		log_warnx("overage: ledger for %s %s: %s", c[i].user,
		    c[i].period, db_error(r->db));
		r->sum->items_failed++;
		run_mark_user(&r->users, c[i].user, U_FAILED);
		run_item_unbilled(&it, &c[i], 0, 0, "bill", "failed");
		it.error = db_error(r->db);
		run_emit(r, &it);
		if (db_errno(r->db) >= 2000)	/* client: connection gone */
			return -1;
	}
	return 0;
}

/*
 * Whether w may be sent now: old pending rows only once reconciliation
 * found them absent; failed rows are reopened with the user's customer.
 */
static int
row_ready(struct run *r, struct ledger_row *w)
{
	struct overage_item	 it;

	run_mark_user(&r->users, w->user, 0);
	if (!w->failed && w->old && bsearch(&w->id, r->verified, r->nverified,
	    sizeof(*r->verified), idcmp) == NULL)
		return 0;	/* reconciliation reported it */
	if (!w->failed)
		return w->customer[0] != '\0';
	if (w->now_customer[0] == '\0') {
		run_mark_user(&r->users, w->user, U_SKIPPED);
		run_item_row(&it, w, run_action(r, w), "skipped");
		it.error = "no Stripe customer";
		(void)run_audit(r, "overage.skipped", &it);
		run_emit(r, &it);
		return 0;
	}
	if (ledger_reopen(r->db, w) == -1) {
		row_failed(r, w, db_error(r->db), 0, 0, run_action(r, w));
		return 0;
	}
	return 1;
}

/*
 * Records the buffered answers in one transaction: one commit per
 * MARK_BATCH items rather than per item. Answers lost with a crash are
 * replayed by Stripe on the next run (same key), so nothing is charged
 * twice for the saving.
 */
static void
marks_flush(struct run *r)
{
	struct overage_item	 it;
	size_t			 i;
	int			 ok;

	if (r->nmarks == 0)
		return;
	ok = db_begin(r->db) == 0;
	for (i = 0; ok && i < r->nmarks; i++)
		ok = sent_write(r, r->marks[i].w, r->marks[i].id,
		    r->marks[i].attempts, "overage.sent") == 0;
	if (ok)
		ok = db_commit(r->db) == 0;
	else
		db_rollback(r->db);
	for (i = 0; i < r->nmarks; i++) {
		struct mark	*m = &r->marks[i];
		const char	*action = run_action(r, m->w);

		if (ok) {
			r->sum->items_sent++;
			run_billed(r, m->w);
			run_item_row(&it, m->w, action, "sent");
			it.stripe_id = m->id;
			run_emit(r, &it);
		} else
			row_failed(r, m->w, db_error(r->db), m->attempts, 0,
			    action);
		free(m->w);
	}
	r->nmarks = 0;
}

static int
send_next(void *arg, struct stripe_item *it, void **udata)
{
	struct run		*r = arg;
	struct ledger_row	*w;

	while ((w = unsent_next(r)) != NULL) {
		if (row_ready(r, w)) {
			ledger_item(w, it);
			*udata = w;
			return 1;
		}
		free(w);
	}
	return 0;
}

static void
send_done(void *arg, void *udata, const struct stripe_result *res)
{
	struct run		*r = arg;
	struct ledger_row	*w = udata;
	const char		*action = run_action(r, w);

	switch (res->outcome) {
	case STRIPE_OK:
		r->marks[r->nmarks].w = w;
		strlcpy_(r->marks[r->nmarks].id, res->id,
		    sizeof(r->marks[0].id));
		r->marks[r->nmarks].attempts = res->attempts;
		if (++r->nmarks == MARK_BATCH)
			marks_flush(r);
		return;
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

static void
stripe_send(struct run *r)
{
	struct verdicts	 vs = { r, 1, "retry" };

	stripe_invoice_items_create(r->stripe, send_next, send_done, r);
	marks_flush(r);
	if (r->nmismatch > 0)
		reconcile_rows(r->stripe, r->mismatch, r->nmismatch,
		    on_reconciled, &vs);
}

/* Writes the run's summary to the audit log and lets the lock go. */
static void
stripe_finish(struct run *r)
{
	json_object	*j;

	if (r->locked) {
		j = overage_summary_json(r->sum);
		(void)audit_log(r->db, r->o->actor, "overage.run", NULL,
		    json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN),
		    r->o->remote);
		json_object_put(j);
		db_unlock(r->db, LOCK_NAME);
	}
	stripe_close(r->stripe);
}

const struct sender sender_stripe = {
	stripe_start, stripe_check, stripe_bill, stripe_send, stripe_finish
};

