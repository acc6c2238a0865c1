/*
 * The customer usage API (AUTH_USER): a user's own numbers only, keyed by
 * r->user_id from their JWT. Counts, microseconds and money are integers;
 * the two ratios (percent_used, error_rate) are computed in integers and
 * written with a fixed number of decimals.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web.h"

#define HISTORY_DAYS_MAX	365
#define HISTORY_DAYS_DEF	30
#define ROUTES_DAYS_MAX		90
#define ROUTES_DAYS_DEF		7

static void
add_int(json_object *o, const char *k, long long v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static void
add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void
add_time(json_object *o, const char *k, time_t t)
{
	char	 s[32];

	time_format(t, s, sizeof(s));
	add_str(o, k, s);
}

static void
add_date(json_object *o, const char *k, time_t t)
{
	char	 s[16];

	time_format_date(t, s, sizeof(s));
	add_str(o, k, s);
}

/* Adds num/den (den > 0) with 2 or 4 decimals, rounded down or half up. */
static void
add_ratio(json_object *o, const char *k, unsigned long long num,
    unsigned long long den, int places, int round_half_up)
{
	unsigned long long	 scale = places == 2 ? 100 : 10000, v;
	char			 s[48];

	if (den == 0) {
		json_object_object_add(o, k, NULL);
		return;
	}
	v = num * scale / den;
	if (round_half_up && (num * scale % den) * 2 >= den)
		v++;
	snprintf(s, sizeof(s), "%llu.%0*llu", v / scale, places, v % scale);
	json_object_object_add(o, k, json_object_new_double_s((double)v /
	    (double)scale, s));
}

static void
db_unavailable(struct request *r)
{
	log_warnx("usage: %s", db_error(r->srv->db));
	resp_error(r, 503, "unavailable", "database unavailable");
}

/* Reads the caller's plan and period; answers the error itself. */
static int
current_get(struct request *r, time_t now, struct usage_current *c)
{
	switch (usage_current(r->srv->db, r->user_id, now, c)) {
	case REPORT_OK:
		return 0;
	case REPORT_NOUSER:	/* deleted since auth_user() */
		resp_error(r, 404, "not_found", "no such user");
		return -1;
	default:
		db_unavailable(r);
		return -1;
	}
}

/* A plan's terms, as the usage API and the portal's settings give them. */
json_object *
usage_plan_json(const struct usage_plan *p)
{
	json_object	*o = json_object_new_object();

	add_str(o, "id", p->id);
	add_str(o, "name", p->name);
	json_object_object_add(o, "monthly_calls", p->monthly_calls < 0 ?
	    NULL : json_object_new_int64(p->monthly_calls));
	json_object_object_add(o, "hard_limit",
	    json_object_new_boolean(p->hard_limit));
	add_int(o, "price_cents", p->price_cents);
	add_int(o, "overage_micros_per_call", p->overage_micros);
	return o;
}

/* GET /api/usage/current: this period's calls against the plan. */
void
api_usage_current(struct request *r)
{
	struct usage_current	 c;
	json_object		*o, *per;
	long long		 lim, over = 0, micros = 0;

	if (current_get(r, time(NULL), &c) == -1)
		return;
	lim = c.plan.monthly_calls;
	if (usage_plan_bills_overage(&c.plan)) {
		over = c.overage_calls;
		micros = over * c.plan.overage_micros;
	}
	o = json_object_new_object();
	add_str(o, "user_id", r->user_id);
	json_object_object_add(o, "plan", usage_plan_json(&c.plan));
	per = json_object_new_object();
	add_time(per, "start", c.period_start);
	add_time(per, "end", c.period_end);
	json_object_object_add(o, "period", per);
	add_int(o, "calls_used", c.calls);
	if (lim < 0) {
		json_object_object_add(o, "limit", NULL);
		json_object_object_add(o, "remaining", NULL);
		json_object_object_add(o, "percent_used", NULL);
	} else {
		add_int(o, "limit", lim);
		add_int(o, "remaining", c.calls < lim ? lim - c.calls : 0);
		if (lim > 0)
			add_ratio(o, "percent_used",
			    (unsigned long long)c.calls * 100,
			    (unsigned long long)lim, 2, 0);
		else
			json_object_object_add(o, "percent_used", NULL);
	}
	add_int(o, "overage_calls", over);
	add_int(o, "overage_cost_micros", micros);
	add_int(o, "overage_cost_cents", micros / MICROS_PER_CENT);
	add_time(o, "resets_at", c.period_end);
	resp_json(r, 200, o);
}

/* GET /api/usage/history?days=30: one entry per UTC day, oldest first. */
void
api_usage_history(struct request *r)
{
	struct usage_day	*d;
	json_object		*o, *arr, *e;
	long long		 days, i;

	if (req_query_int(r, "days", 1, HISTORY_DAYS_MAX, HISTORY_DAYS_DEF,
	    &days) == -1)
		return;
	d = xcalloc((size_t)days, sizeof(*d));
	if (usage_history(r->srv->db, r->user_id, time(NULL), (int)days,
	    d) == -1) {
		db_unavailable(r);
		free(d);
		return;
	}
	o = json_object_new_object();
	add_int(o, "days", days);
	add_date(o, "from", d[0].day);
	add_date(o, "to", d[days - 1].day);
	arr = json_object_new_array_ext((int)days);
	for (i = 0; i < days; i++) {
		e = json_object_new_object();
		add_date(e, "date", d[i].day);
		add_int(e, "calls", (long long)d[i].calls);
		add_int(e, "errors", (long long)d[i].errors);
		add_int(e, "latency_avg_us", (long long)d[i].avg_us);
		add_int(e, "latency_p95_us", (long long)d[i].p95_us);
		json_object_array_add(arr, e);
	}
	json_object_object_add(o, "history", arr);
	free(d);
	resp_json(r, 200, o);
}

/* GET /api/usage/endpoints?days=7: per route, most called first. */
void
api_usage_endpoints(struct request *r)
{
	struct usage_agg	 a;
	json_object		*o, *arr, *e;
	time_t			 now = time(NULL);
	long long		 days;
	size_t			 i;

	if (req_query_int(r, "days", 1, ROUTES_DAYS_MAX, ROUTES_DAYS_DEF,
	    &days) == -1)
		return;
	if (usage_routes(r->srv->db, r->user_id, now, (int)days, &a) == -1) {
		agg_free(&a);
		db_unavailable(r);
		return;
	}
	o = json_object_new_object();
	add_int(o, "days", days);
	add_date(o, "from", day_start(now) - (time_t)(days - 1) * DAY_SECONDS);
	add_date(o, "to", day_start(now));
	add_int(o, "calls", (long long)a.calls);
	add_int(o, "errors", (long long)a.errors);
	arr = json_object_new_array();
	for (i = 0; i < a.nroutes; i++) {
		const struct route_stats *s = &a.routes[i];

		e = json_object_new_object();
		add_str(e, "method", s->method);
		add_str(e, "endpoint", s->endpoint);
		add_int(e, "calls", (long long)s->calls);
		add_int(e, "errors", (long long)s->errors);
		add_ratio(e, "error_rate", s->errors, s->calls, 4, 1);
		add_int(e, "latency_avg_us", (long long)avg_round(s->lat_sum,
		    s->calls));
		add_int(e, "latency_p95_us", hist_p95(s->hist, s->calls,
		    s->lat_max));
		json_object_array_add(arr, e);
	}
	json_object_object_add(o, "endpoints", arr);
	add_str(o, "latency_p95_note", "p95 per route is the upper bound of "
	    "the latency histogram bucket holding it (buckets are at most "
	    "12.5% wide), capped at the largest latency seen");
	agg_free(&a);
	resp_json(r, 200, o);
}

/* Why a plan never bills overage, from its data. */
static void
overage_reason(const struct usage_plan *p, char *buf, size_t n)
{
	if (p->monthly_calls < 0)
		snprintf(buf, n, "The %s plan has no monthly call limit, so "
		    "no call is ever overage.", p->name);
	else if (p->hard_limit)
		snprintf(buf, n, "The %s plan stops calls at its %lld-call "
		    "monthly limit, so no call is ever overage.", p->name,
		    p->monthly_calls);
	else
		snprintf(buf, n, "The %s plan does not charge for calls past "
		    "its allowance.", p->name);
}

static json_object *
period_json(const struct overage_period *v, long long micros_per_call)
{
	json_object	*e = json_object_new_object();
	long long	 micros = v->overage_calls * micros_per_call;
	long long	 cents = micros / MICROS_PER_CENT, rest;
	char		 month[16];

	time_format_date(v->period, month, sizeof(month));
	month[7] = '\0';
	add_str(e, "period", month);
	add_time(e, "start", v->period);
	add_time(e, "end", period_end(v->period));
	add_int(e, "api_calls", v->api_calls);
	add_int(e, "overage_calls", v->overage_calls);
	add_int(e, "cost_micros", micros);
	add_int(e, "cost_cents", cents);
	add_int(e, "billed_cents", v->billed_cents);
	add_int(e, "pending_cents", v->pending_cents);
	rest = cents - v->billed_cents - v->pending_cents;
	add_int(e, "not_yet_invoiced_cents", rest > 0 ? rest : 0);
	return e;
}

/*
 * GET /api/usage/overage: per billing period, overage calls, cost, and
 * what the ledger has billed (sent to Stripe) or holds pending.
 */
void
api_usage_overage(struct request *r)
{
	struct usage_current	 c;
	struct overage_period	*v = NULL, cur;
	json_object		*o, *arr;
	char			 why[256];
	int			 n, i;
	long long		 tot_calls = 0, tot_micros = 0, tot_cents = 0;
	long long		 tot_billed = 0, tot_pending = 0, micros;

	if (current_get(r, time(NULL), &c) == -1)
		return;
	o = json_object_new_object();
	add_str(o, "plan", c.plan.id);
	if (!usage_plan_bills_overage(&c.plan)) {
		overage_reason(&c.plan, why, sizeof(why));
		json_object_object_add(o, "bills_overage",
		    json_object_new_boolean(0));
		add_str(o, "reason", why);
		add_int(o, "overage_calls", 0);
		add_int(o, "price_per_call_micros", 0);
		add_int(o, "cost_micros", 0);
		add_int(o, "cost_cents", 0);
		add_int(o, "billed_cents", 0);
		add_int(o, "pending_cents", 0);
		json_object_object_add(o, "periods", json_object_new_array());
		resp_json(r, 200, o);
		return;
	}
	if ((n = usage_overage(r->srv->db, r->user_id, &v)) == -1) {
		json_object_put(o);
		db_unavailable(r);
		return;
	}
	json_object_object_add(o, "bills_overage", json_object_new_boolean(1));
	add_int(o, "included_calls", c.plan.monthly_calls);
	add_int(o, "price_per_call_micros", c.plan.overage_micros);
	arr = json_object_new_array();
	/* The current period is always listed, even before its first call. */
	if (n == 0 || v[0].period != c.period_start) {
		memset(&cur, 0, sizeof(cur));
		cur.period = c.period_start;
		json_object_array_add(arr, period_json(&cur,
		    c.plan.overage_micros));
	}
	for (i = 0; i < n; i++) {
		json_object_array_add(arr, period_json(&v[i],
		    c.plan.overage_micros));
		micros = v[i].overage_calls * c.plan.overage_micros;
		tot_calls += v[i].overage_calls;
		tot_micros += micros;
		tot_cents += micros / MICROS_PER_CENT;
		tot_billed += v[i].billed_cents;
		tot_pending += v[i].pending_cents;
	}
	add_int(o, "overage_calls", tot_calls);
	add_int(o, "cost_micros", tot_micros);
	add_int(o, "cost_cents", tot_cents);	/* each period rounds down */
	add_int(o, "billed_cents", tot_billed);
	add_int(o, "pending_cents", tot_pending);
	json_object_object_add(o, "periods", arr);
	free(v);
	resp_json(r, 200, o);
}
