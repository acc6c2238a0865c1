/*
 * Overage billing: Pro calls past the plan's allowance, billed to Stripe
 * as invoice items, exactly once. This file is the run and its phases.
 *
 * Input is eco_usage_records: api_calls per user per period, and
 * overage_invoiced, the calls past the allowance that ledger rows already
 * cover (lib/period.c). A run, holding a database lock so that two never
 * overlap:
 *
 *  1. checks ledger rows left pending for a day: Stripe forgets
 *     idempotency keys after 24 hours, so before such a row is sent again
 *     it is looked for among the customer's invoice items (reconcile.c);
 *  2. turns unbilled overage into ledger rows: in one transaction the
 *     watermark moves (conditionally on its old value) and a pending row
 *     with its idempotency key is inserted (ledger.c). Only whole cents
 *     are billed: the calls behind a fraction of a cent stay below the
 *     watermark for a later run;
 *  3. sends every unsent row, paced and concurrent, with its key: a row
 *     whose answer was lost (crash, timeout, dropped connection) is sent
 *     again with the same key and parameters, and Stripe replays the first
 *     answer instead of creating a second item. A 200 marks it sent.
 *
 * A 4xx means Stripe created nothing: the row becomes failed, with a new
 * key for its next try, and is retried by later runs with the user's
 * current customer. Every action is in the audit log.
 *
 * What a phase does with the rows it finds is the run's sender's: the
 * Stripe sender writes, bills and records; a dry run's sender only
 * records what would be billed, and writes nothing.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "nexus.h"
#include "billing.h"

/* Notes that the run met user id, and what happened (enum uflag). */
void
run_mark_user(struct userset *u, const char *id, int flag)
{
	size_t	 i;

	if (u->n * 2 >= u->cap) {
		struct userset g = { xcalloc(u->cap ? u->cap * 2 : 256,
		    sizeof(*g.t)), u->cap ? u->cap * 2 : 256, 0 };

		for (i = 0; i < u->cap; i++)
			if (u->t[i].id[0] != '\0')
				run_mark_user(&g, u->t[i].id, u->t[i].flags);
		free(u->t);
		*u = g;
	}
	for (i = fnv1a(id, strlen(id)) % u->cap; u->t[i].id[0] != '\0';
	    i = (i + 1) % u->cap)
		if (strcmp(u->t[i].id, id) == 0) {
			u->t[i].flags |= flag | U_SEEN;
			return;
		}
	strlcpy_(u->t[i].id, id, sizeof(u->t[i].id));
	u->t[i].flags = flag | U_SEEN;
	u->n++;
}

/* The report of what became of ledger row w. */
void
run_item_row(struct overage_item *it, const struct ledger_row *w,
    const char *action, const char *outcome)
{
	memset(it, 0, sizeof(*it));
	it->user_id = w->user;
	it->period = w->period;
	it->ledger_id = w->id;
	it->calls_from = w->calls_from;
	it->calls_to = w->calls_to;
	it->calls = w->calls_to - w->calls_from + 1;
	it->amount_cents = w->cents;
	it->action = action;
	it->outcome = outcome;
	it->stripe_id = it->error = "";
}

/* The report of a user-period that got no ledger row. */
void
run_item_unbilled(struct overage_item *it, const struct period_unbilled *c,
    long long calls, long long cents, const char *action, const char *outcome)
{
	memset(it, 0, sizeof(*it));
	it->user_id = c->user;
	it->period = c->period;
	it->calls = calls;
	it->amount_cents = cents;
	it->action = action;
	it->outcome = outcome;
	it->stripe_id = it->error = "";
}

/*
 * Writes the item to the audit log as `what` ("overage.sent"): its ledger
 * row or its calls, and its Stripe item or error. A dry run writes
 * nothing. Returns 0, or -1 (logged by audit_log).
 */
int
run_audit(struct run *r, const char *what, const struct overage_item *it)
{
	json_object	*d;
	int		 rc;

	if (r->o->dry_run)
		return 0;
	d = json_object_new_object();
	if (it->ledger_id != 0) {
		json_object_object_add(d, "ledger_id",
		    json_object_new_int64(it->ledger_id));
		json_object_object_add(d, "calls_from",
		    json_object_new_int64(it->calls_from));
		json_object_object_add(d, "calls_to",
		    json_object_new_int64(it->calls_to));
	} else
		json_object_object_add(d, "calls",
		    json_object_new_int64(it->calls));
	json_object_object_add(d, "period", json_object_new_string(it->period));
	json_object_object_add(d, "amount_cents",
	    json_object_new_int64(it->amount_cents));
	if (it->stripe_id[0] != '\0')
		json_object_object_add(d, "stripe_item_id",
		    json_object_new_string(it->stripe_id));
	if (it->error[0] != '\0')
		json_object_object_add(d, strcmp(it->outcome, "skipped") == 0 ?
		    "reason" : "error", json_object_new_string(it->error));
	rc = audit_log(r->db, r->o->actor, what, it->user_id,
	    json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN),
	    r->o->remote);
	json_object_put(d);
	return rc;
}

/* Hands the item to the caller's on_item. */
void
run_emit(struct run *r, const struct overage_item *it)
{
	if (r->o->on_item != NULL)
		r->o->on_item(r->o->arg, it);
}

/* Counts w as billed by this run. */
void
run_billed(struct run *r, const struct ledger_row *w)
{
	r->sum->total_cents += w->cents;
	r->sum->calls_billed += w->calls_to - w->calls_from + 1;
	run_mark_user(&r->users, w->user, U_BILLED);
}

/* "bill" for a row this run made, "retry" for an older one. */
const char *
run_action(const struct run *r, const struct ledger_row *w)
{
	return r->first_new != 0 && w->id >= r->first_new ? "bill" : "retry";
}

/* Phase 1: rows pending for a day may be at Stripe already. 0 or -1. */
static int
phase_check(struct run *r)
{
	struct ledger_row	**rows;
	size_t			 n;

	if (ledger_old_pending(r->db, r->o->period, &rows, &n) == -1)
		return -1;
	if (n > 0)
		r->tx->check(r, rows, n);
	ledger_rows_free(rows, n);
	return 0;
}

/*
 * Sorts out a user-period with unbilled overage: without a Stripe
 * customer it is skipped, under a cent it is carried to a later run.
 * Returns 1 when it is to be billed.
 */
static int
unbilled_due(struct run *r, const struct period_unbilled *c)
{
	struct overage_item	 it;
	long long		 unbilled, calls, cents;

	unbilled = c->api_calls - c->allowance - c->invoiced;
	run_mark_user(&r->users, c->user, 0);
	if (overage_billable(unbilled, c->micros, &calls, &cents) == -1)
		calls = cents = 0;
	if (c->customer[0] == '\0') {
		run_mark_user(&r->users, c->user, U_SKIPPED);
		run_item_unbilled(&it, c, unbilled, cents, "skip", "skipped");
		it.error = "no Stripe customer";
		(void)run_audit(r, "overage.skipped", &it);
		run_emit(r, &it);
		return 0;
	}
	if (calls == 0) {
		r->sum->calls_carried += unbilled;
		run_item_unbilled(&it, c, unbilled, 0, "carry", "pending");
		run_emit(r, &it);
		return 0;
	}
	return 1;
}

/* Phase 2: unbilled overage into ledger rows. Returns 0 or -1. */
static int
phase_bill(struct run *r)
{
	struct period_unbilled	*c;
	char			 user[USER_ID_MAX + 1] = "";
	char			 period[11] = "1970-01-01";
	int			 n, i, nb, ret = -1;

	c = xcalloc(PERIOD_UNBILLED_MAX, sizeof(*c));
	do {
		if ((n = period_unbilled(r->db, r->o->period, user, period,
		    c)) == -1)
			goto out;
		if (n > 0) {
			strlcpy_(user, c[n - 1].user, sizeof(user));
			strlcpy_(period, c[n - 1].period, sizeof(period));
		}
		for (i = nb = 0; i < n; i++) {
			if (!unbilled_due(r, &c[i]))
				continue;
			if (nb != i)
				c[nb] = c[i];
			nb++;
		}
		for (i = 0; i < nb; i += BATCH)
			if (r->tx->bill(r, c + i, (size_t)(nb - i < BATCH ?
			    nb - i : BATCH)) == -1)
				goto out;
	} while (n == PERIOD_UNBILLED_MAX);
	ret = 0;
out:
	free(c);
	return ret;
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
	int		 rc;

	memset(sum, 0, sizeof(*sum));
	memset(&r, 0, sizeof(r));
	r.db = db;
	r.cfg = cfg;
	r.o = o;
	r.sum = sum;
	r.tx = o->dry_run ? &sender_dry : &sender_stripe;
	sum->dry_run = o->dry_run;

	if ((rc = r.tx->start(&r)) == OVERAGE_OK) {
		if (phase_check(&r) == 0 && phase_bill(&r) == 0)
			r.tx->send(&r);	/* phase 3: every unsent row */
		else if (sum->error[0] == '\0')
			snprintf(sum->error, sizeof(sum->error),
			    "database: %s", db_error(db));
		if (sum->error[0] != '\0')
			rc = OVERAGE_ERROR;
	}
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
	r.tx->finish(&r);
	for (i = r.pos; i < r.nchunk; i++)
		free(r.chunk[i]);
	ledger_rows_free(r.mismatch, r.nmismatch);
	free(r.chunk);
	free(r.users.t);
	free(r.verified);
	return rc;
}
