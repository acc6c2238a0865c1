/*
 * A user's own usage, as the usage API reports it: the current period,
 * day-by-day history, per-route figures and overage per period.
 *
 * Past days come from the roll-up's aggregates when the day's roll-up is
 * complete (eco_rollup_days.complete: it ran after the day ended); any
 * other day (today, and a day the roll-up has not reached yet) is read
 * live from the raw rows with the roll-up's own aggregator, so both give
 * the same numbers. Every query is keyed by the caller's user id.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nexus.h"

static const char *const sql_plan = "SELECT p.id, p.name, "
    "p.monthly_calls, p.hard_limit, p.price_cents, p.overage_micros, "
    "COALESCE(r.api_calls, 0), COALESCE(r.overage_calls, 0) "
    "FROM eco_users u JOIN eco_plans p ON p.id = u.plan_id "
    "LEFT JOIN eco_usage_records r ON r.user_id = u.id AND r.period = ? "
    "WHERE u.id = ?";
static const char *const sql_complete_days = "SELECT UNIX_TIMESTAMP(day) "
    "FROM eco_rollup_days WHERE day BETWEEN ? AND ? AND complete = 1";
static const char *const sql_oldest_user_raw = "SELECT "
    "UNIX_TIMESTAMP(MIN(ts)) FROM eco_api_usage WHERE user_id = ?";
static const char *const sql_daily = "SELECT UNIX_TIMESTAMP(day), calls, "
    "errors, latency_avg_us, latency_p95_us FROM eco_usage_daily "
    "WHERE user_id = ? AND day BETWEEN ? AND ?";
static const char *const sql_daily_routes = "SELECT UNIX_TIMESTAMP(day), "
    "method, endpoint, calls, errors, latency_sum_us, latency_max_us, "
    "latency_hist FROM eco_usage_daily_routes "
    "WHERE user_id = ? AND day BETWEEN ? AND ?";
static const char *const sql_records = "SELECT UNIX_TIMESTAMP(period), "
    "api_calls, overage_calls FROM eco_usage_records WHERE user_id = ? "
    "ORDER BY period DESC LIMIT 24";	/* two years */

/*
 * Reads the user's plan and current-period counters as of now. Returns
 * REPORT_OK, REPORT_NOUSER or REPORT_ERR_DB.
 */
int
usage_current(struct db *db, const char *user, time_t now,
    struct usage_current *c)
{
	char		 period[16];
	struct dbres	*r;
	int		 rc;

	memset(c, 0, sizeof(*c));
	c->period_start = period_start(now);
	c->period_end = period_end(now);
	time_format_date(c->period_start, period, sizeof(period));
	struct dbp p[2] = { DBP_S(period), DBP_S(user) };
	if ((r = db_query(db, sql_plan, p, 2)) == NULL)
		return REPORT_ERR_DB;
	if ((rc = db_next(r)) == 1) {
		struct usage_plan *pl = &c->plan;

		strlcpy_(pl->id, db_str(r, 0), sizeof(pl->id));
		strlcpy_(pl->name, db_str(r, 1), sizeof(pl->name));
		pl->monthly_calls = db_isnull(r, 2) ? -1 : db_int(r, 2);
		pl->hard_limit = (int)db_int(r, 3);
		pl->price_cents = db_int(r, 4);
		pl->overage_micros = db_int(r, 5);
		c->calls = db_int(r, 6);
		c->overage_calls = db_int(r, 7);
	}
	db_done(r);
	if (rc == 0)
		return REPORT_NOUSER;
	return rc == 1 ? REPORT_OK : REPORT_ERR_DB;
}

/* Does the plan bill calls past its allowance? (Pro does.) */
int
usage_plan_bills_overage(const struct usage_plan *p)
{
	return p->monthly_calls >= 0 && !p->hard_limit && p->overage_micros > 0;
}

/*
 * Marks in complete[] (one per day from first) the days whose roll-up is
 * complete, and sets *live_from to the first day the user has raw rows
 * (or past the last day if none). Returns 0 or -1.
 */
static int
days_state(struct db *db, const char *user, time_t first, int days,
    char *complete, time_t *live_from)
{
	char		 d0[16], d1[16];
	struct dbres	*r;
	long long	 i;
	int		 rc;

	memset(complete, 0, (size_t)days);
	time_format_date(first, d0, sizeof(d0));
	time_format_date(first + (time_t)(days - 1) * DAY_SECONDS, d1,
	    sizeof(d1));
	struct dbp p[2] = { DBP_S(d0), DBP_S(d1) };
	if ((r = db_query(db, sql_complete_days, p, 2)) == NULL)
		return -1;
	while ((rc = db_next(r)) == 1) {
		i = (db_int(r, 0) - (long long)first) / DAY_SECONDS;
		if (i >= 0 && i < days)
			complete[i] = 1;
	}
	db_done(r);
	if (rc == -1)
		return -1;
	struct dbp q[1] = { DBP_S(user) };
	if ((r = db_query(db, sql_oldest_user_raw, q, 1)) == NULL)
		return -1;
	*live_from = first + (time_t)days * DAY_SECONDS;
	if ((rc = db_next(r)) == 1 && !db_isnull(r, 0))
		*live_from = day_start((time_t)db_int(r, 0));
	db_done(r);
	return rc == -1 ? -1 : 0;
}

/*
 * Fills out[0..days-1] with the user's last days UTC days, oldest first,
 * today (as of now) last. Returns 0 or -1.
 */
int
usage_history(struct db *db, const char *user, time_t now, int days,
    struct usage_day *out)
{
	time_t		 first, from;
	char		*complete = xmalloc((size_t)days), d0[16], d1[16];
	struct usage_agg a;
	struct dbres	*r;
	long long	 i;
	int		 rc = -1, got;

	first = day_start(now) - (time_t)(days - 1) * DAY_SECONDS;
	memset(out, 0, (size_t)days * sizeof(*out));
	for (i = 0; i < days; i++)
		out[i].day = first + (time_t)i * DAY_SECONDS;
	if (days_state(db, user, first, days, complete, &from) == -1)
		goto out;
	time_format_date(first, d0, sizeof(d0));
	time_format_date(out[days - 1].day, d1, sizeof(d1));
	struct dbp p[3] = { DBP_S(user), DBP_S(d0), DBP_S(d1) };
	if ((r = db_query(db, sql_daily, p, 3)) == NULL)
		goto out;
	while ((got = db_next(r)) == 1) {
		i = (db_int(r, 0) - (long long)first) / DAY_SECONDS;
		if (i < 0 || i >= days || !complete[i])
			continue;
		out[i].calls = (unsigned long long)db_int(r, 1);
		out[i].errors = (unsigned long long)db_int(r, 2);
		out[i].avg_us = (unsigned long long)db_int(r, 3);
		out[i].p95_us = (unsigned long long)db_int(r, 4);
	}
	db_done(r);
	if (got == -1)
		goto out;
	agg_init(&a, 1);
	for (i = 0; i < days; i++) {
		if (complete[i] || out[i].day + DAY_SECONDS <= from)
			continue;
		agg_free(&a);
		if (agg_raw(db, &a, user, out[i].day,
		    out[i].day + DAY_SECONDS) == -1) {
			agg_free(&a);
			goto out;
		}
		out[i].calls = a.calls;
		out[i].errors = a.errors;
		out[i].avg_us = avg_round(a.lat_sum, a.calls);
		out[i].p95_us = agg_p95(&a);
	}
	agg_free(&a);
	rc = 0;
out:
	free(complete);
	return rc;
}

/*
 * Aggregates the user's calls per route over the last days UTC days
 * (today included) into a, sorted by calls. Returns 0 or -1.
 */
int
usage_routes(struct db *db, const char *user, time_t now, int days,
    struct usage_agg *a)
{
	time_t		 first, from;
	time_t		 run = 0, d;
	char		*complete = xmalloc((size_t)days), d0[16], d1[16];
	struct dbres	*r;
	long long	 i;
	int		 rc = -1, got, inrun = 0;

	first = day_start(now) - (time_t)(days - 1) * DAY_SECONDS;
	agg_init(a, 0);
	if (days_state(db, user, first, days, complete, &from) == -1)
		goto out;
	time_format_date(first, d0, sizeof(d0));
	time_format_date(first + (time_t)(days - 1) * DAY_SECONDS, d1,
	    sizeof(d1));
	struct dbp p[3] = { DBP_S(user), DBP_S(d0), DBP_S(d1) };
	if ((r = db_query(db, sql_daily_routes, p, 3)) == NULL)
		goto out;
	while ((got = db_next(r)) == 1) {
		i = (db_int(r, 0) - (long long)first) / DAY_SECONDS;
		if (i < 0 || i >= days || !complete[i])
			continue;
		if (agg_add_route(a, db_str(r, 1), db_str(r, 2),
		    (unsigned long long)db_int(r, 3),
		    (unsigned long long)db_int(r, 4),
		    (unsigned long long)db_int(r, 5),
		    (unsigned int)db_int(r, 6),
		    (const unsigned char *)db_str(r, 7), db_len(r, 7)) == -1)
			log_warnx("%s: bad latency histogram in %s", user, d0);
	}
	db_done(r);
	if (got == -1)
		goto out;
	/* Each run of days not rolled up is read live in one range scan. */
	for (i = 0; i <= days; i++) {
		d = first + (time_t)i * DAY_SECONDS;
		if (i < days && !complete[i] && d + DAY_SECONDS > from) {
			if (!inrun)
				run = d;
			inrun = 1;
			continue;
		}
		if (inrun && agg_raw(db, a, user, run, d) == -1)
			goto out;
		inrun = 0;
	}
	agg_sort(a);
	rc = 0;
out:
	free(complete);
	return rc;
}

struct periods {
	struct overage_period	*v;
	size_t			 n;
};

/* Puts a period's ledger cents on its line (one past the 24: dropped). */
static void
period_ledger(void *arg, time_t period, long long billed, long long pending)
{
	struct periods	*ps = arg;
	size_t		 i;

	for (i = 0; i < ps->n; i++)
		if (ps->v[i].period == period) {
			ps->v[i].billed_cents = billed;
			ps->v[i].pending_cents = pending;
		}
}

/*
 * Lists the user's billing periods (newest first, at most 24) with what
 * the overage ledger holds for each. Returns the number of periods in
 * *out (to free), or -1.
 */
int
usage_overage(struct db *db, const char *user, struct overage_period **out)
{
	struct periods	 ps = { NULL, 0 };
	struct dbres	*r;
	int		 rc;

	*out = NULL;
	struct dbp p[1] = { DBP_S(user) };
	if ((r = db_query(db, sql_records, p, 1)) == NULL)
		return -1;
	while ((rc = db_next(r)) == 1) {
		ps.v = xrealloc(ps.v, (ps.n + 1) * sizeof(*ps.v));
		memset(&ps.v[ps.n], 0, sizeof(*ps.v));
		ps.v[ps.n].period = (time_t)db_int(r, 0);
		ps.v[ps.n].api_calls = db_int(r, 1);
		ps.v[ps.n].overage_calls = db_int(r, 2);
		ps.n++;
	}
	db_done(r);
	if (rc == -1 ||
	    ledger_user_periods(db, user, period_ledger, &ps) == -1) {
		free(ps.v);
		return -1;
	}
	*out = ps.v;
	return (int)ps.n;
}
