/*
 * The customer usage API end to end: calls made through the real hot path
 * (API keys, GET /api/secure/ping, the spooled usage writer), read back
 * over HTTP with user JWTs. Expected figures are computed here from what
 * the test did and, for latencies, from the raw rows with independent SQL.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tokens.h"
#include "usage_fixture.h"

/* Plans made small so that a few calls reach the limits (plans are data). */
#define PRO_LIMIT	5
#define PRO_MICROS	30000		/* 3 cents a call past the limit */
#define FREE_LIMIT	3
#define A_CALLS		7
#define B_CALLS		2
#define F_CALLS		5

static char	*user_a, *user_b, *user_f, *user_e;	/* pro, pro, free, ent. */
static char	*tok_a, *tok_b, *tok_f, *tok_e, *key_a;

static void
assert_error(struct http *r, long status, const char *code)
{
	ck_assert_msg(r->status == status, "status %ld, want %ld: %s",
	    r->status, status, r->body);
	ck_assert_msg(r->json != NULL, "not JSON: %s", r->body);
	ck_assert_str_eq(json_str(r->json, "error.code"), code);
	ck_assert(json_str(r->json, "error.message") != NULL);
}

static struct http *
get_ok(const char *path, const char *tok)
{
	struct http	*r = fx_get(path, tok);

	ck_assert_msg(r->status == 200, "%s: %ld %s", path, r->status, r->body);
	ck_assert(r->json != NULL);
	return r;
}

/* The nearest-rank p95 and the half-up average of user's raw latencies. */
static long long
raw_p95(const char *user)
{
	struct dbp	 p[2] = { DBP_S(user) };
	long long	 n, rank;

	n = test_db_int("SELECT COUNT(*) FROM eco_api_usage WHERE user_id = ?", p, 1);
	rank = (n * 95 + 99) / 100;
	p[1] = DBP_I(rank - 1);
	return test_db_int("SELECT latency_us FROM eco_api_usage WHERE user_id = ? "
	    "ORDER BY latency_us LIMIT 1 OFFSET ?", p, 2);
}

static long long
raw_avg(const char *user)
{
	struct dbp	 p[1] = { DBP_S(user) };

	return test_db_int("SELECT FLOOR((SUM(latency_us) * 2 + COUNT(*)) / "
	    "(2 * COUNT(*))) FROM eco_api_usage WHERE user_id = ?", p, 1);
}

static void
wait_counted(const char *user, long long calls)
{
	struct dbp	 p[1] = { DBP_S(user) };
	long long	 have = -1;
	int		 i;

	for (i = 0; i < 300; i++) {
		have = test_db_int("SELECT COALESCE(SUM(api_calls), 0) "
		    "FROM eco_usage_records WHERE user_id = ?", p, 1);
		if (have >= calls)
			break;
		usleep(50 * 1000);
	}
	ck_assert_msg(have == calls, "%s: api_calls %lld, want %lld", user,
	    have, calls);
}

START_TEST(setup_data)
{
	char	*kb, *kf;

	/* Usage rows reach the database within flush_interval_ms. */
	fx_config("flush_interval_ms = 200\n", 1);
	test_db_exec("UPDATE eco_plans SET monthly_calls = 5, overage_micros = 30000 "
	    "WHERE id = 'pro'", NULL, 0);
	test_db_exec("UPDATE eco_plans SET monthly_calls = 3 WHERE id = 'free'",
	    NULL, 0);
	user_a = fx_user("pro");
	user_b = fx_user("pro");
	user_f = fx_user("free");
	user_e = fx_user("enterprise");
	key_a = fx_key(user_a);
	kb = fx_key(user_b);
	kf = fx_key(user_f);
	fx_ping(key_a, A_CALLS, 200);		/* Pro is never refused */
	fx_ping(kb, B_CALLS, 200);
	fx_ping(kf, FREE_LIMIT, 200);
	fx_ping(kf, F_CALLS - FREE_LIMIT, 429);	/* recorded as errors */
	fx_wait_rows(user_a, A_CALLS);
	fx_wait_rows(user_b, B_CALLS);
	fx_wait_rows(user_f, F_CALLS);
	wait_counted(user_a, A_CALLS);
	wait_counted(user_f, FREE_LIMIT);
	tok_a = fx_token(user_a, 600);
	tok_b = fx_token(user_b, 600);
	tok_f = fx_token(user_f, 600);
	tok_e = fx_token(user_e, 600);
	free(kb);
	free(kf);
}
END_TEST

START_TEST(current_pro_overage)
{
	struct http	*r = get_ok("/api/usage/current", tok_a);
	time_t		 now = time(NULL);
	char		 start[32], end[32];

	time_format(period_start(now), start, sizeof(start));
	time_format(period_end(now), end, sizeof(end));
	ck_assert_str_eq(json_str(r->json, "user_id"), user_a);
	ck_assert_str_eq(json_str(r->json, "plan.id"), "pro");
	ck_assert_int_eq(json_int(r->json, "plan.monthly_calls"), PRO_LIMIT);
	ck_assert_int_eq(json_int(r->json, "plan.overage_micros_per_call"),
	    PRO_MICROS);
	ck_assert_str_eq(json_str(r->json, "period.start"), start);
	ck_assert_str_eq(json_str(r->json, "period.end"), end);
	ck_assert_str_eq(json_str(r->json, "resets_at"), end);
	ck_assert_int_eq(json_int(r->json, "calls_used"), A_CALLS);
	ck_assert_int_eq(json_int(r->json, "limit"), PRO_LIMIT);
	ck_assert_int_eq(json_int(r->json, "remaining"), 0);
	/* 7 of 5: 140.00 percent, written with two decimals. */
	ck_assert_msg(strstr(r->body, "\"percent_used\":140.00,") != NULL,
	    "%s", r->body);
	ck_assert_int_eq(json_int(r->json, "overage_calls"), A_CALLS - PRO_LIMIT);
	ck_assert_int_eq(json_int(r->json, "overage_cost_micros"),
	    (A_CALLS - PRO_LIMIT) * PRO_MICROS);
	ck_assert_int_eq(json_int(r->json, "overage_cost_cents"),
	    (A_CALLS - PRO_LIMIT) * PRO_MICROS / 10000);
	http_free(r);

	r = get_ok("/api/usage/current", tok_b);
	ck_assert_int_eq(json_int(r->json, "calls_used"), B_CALLS);
	ck_assert_int_eq(json_int(r->json, "remaining"), PRO_LIMIT - B_CALLS);
	ck_assert_msg(strstr(r->body, "\"percent_used\":40.00,") != NULL,
	    "%s", r->body);
	ck_assert_int_eq(json_int(r->json, "overage_calls"), 0);
	ck_assert_int_eq(json_int(r->json, "overage_cost_cents"), 0);
	http_free(r);
}
END_TEST

START_TEST(current_free_and_enterprise)
{
	struct http	*r = get_ok("/api/usage/current", tok_f);

	/* Refused calls are not used calls. */
	ck_assert_int_eq(json_int(r->json, "calls_used"), FREE_LIMIT);
	ck_assert_int_eq(json_int(r->json, "limit"), FREE_LIMIT);
	ck_assert_int_eq(json_int(r->json, "remaining"), 0);
	ck_assert_msg(strstr(r->body, "\"percent_used\":100.00,") != NULL,
	    "%s", r->body);
	ck_assert(json_object_get_boolean(json_get(r->json, "plan.hard_limit")));
	ck_assert_int_eq(json_int(r->json, "overage_calls"), 0);
	ck_assert_int_eq(json_int(r->json, "overage_cost_micros"), 0);
	http_free(r);

	r = get_ok("/api/usage/current", tok_e);
	ck_assert_str_eq(json_str(r->json, "plan.id"), "enterprise");
	ck_assert_int_eq(json_int(r->json, "calls_used"), 0);
	ck_assert(json_get(r->json, "limit") == NULL);
	ck_assert_msg(strstr(r->body, "\"limit\":null") != NULL, "%s", r->body);
	ck_assert_msg(strstr(r->body, "\"remaining\":null") != NULL, "%s",
	    r->body);
	ck_assert_msg(strstr(r->body, "\"percent_used\":null") != NULL, "%s",
	    r->body);
	http_free(r);
}
END_TEST

START_TEST(history_today_live)
{
	static const int	 sizes[] = { 3, 1, 30, 365 };
	struct http		*r;
	json_object		*h, *e;
	char			 path[64], want[16], today[16];
	time_t			 now = time(NULL);
	size_t			 k;
	int			 i, days;

	time_format_date(day_start(now), today, sizeof(today));
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		days = sizes[k];
		snprintf(path, sizeof(path), "/api/usage/history?days=%d", days);
		r = get_ok(path, tok_a);
		ck_assert_int_eq(json_int(r->json, "days"), days);
		h = json_get(r->json, "history");
		ck_assert_int_eq(json_object_array_length(h), days);
		ck_assert_str_eq(json_str(r->json, "to"), today);
		for (i = 0; i < days; i++) {
			e = json_object_array_get_idx(h, i);
			time_format_date(day_start(now) - (time_t)(days - 1 - i) *
			    86400, want, sizeof(want));
			ck_assert_str_eq(json_str(e, "date"), want);
			if (i < days - 1) {
				ck_assert_int_eq(json_int(e, "calls"), 0);
				ck_assert_int_eq(json_int(e, "latency_p95_us"), 0);
				continue;
			}
			ck_assert_int_eq(json_int(e, "calls"), A_CALLS);
			ck_assert_int_eq(json_int(e, "errors"), 0);
			ck_assert_int_eq(json_int(e, "latency_avg_us"),
			    raw_avg(user_a));
			ck_assert_int_eq(json_int(e, "latency_p95_us"),
			    raw_p95(user_a));
			ck_assert_int_gt(json_int(e, "latency_p95_us"), 0);
		}
		http_free(r);
	}
	/* The default is 30 days. */
	r = get_ok("/api/usage/history", tok_a);
	ck_assert_int_eq(json_object_array_length(json_get(r->json, "history")),
	    30);
	http_free(r);

	/* Refused calls are calls, and errors. */
	r = get_ok("/api/usage/history?days=1", tok_f);
	e = json_object_array_get_idx(json_get(r->json, "history"), 0);
	ck_assert_int_eq(json_int(e, "calls"), F_CALLS);
	ck_assert_int_eq(json_int(e, "errors"), F_CALLS - FREE_LIMIT);
	ck_assert_int_eq(json_int(e, "latency_p95_us"), raw_p95(user_f));
	http_free(r);
}
END_TEST

static void
check_bad_days(const char *path, const char *tok, const char *range)
{
	static const char *const bad[] = {
		"0", "-1", "366", "91", "abc", "", "1.5", "7%20", "%2B7",
		"99999999999999999999", "0x10", "1e2", "%00",
	};
	struct http	*r;
	char		 url[128], msg[64];
	size_t		 i;
	int		 max = strcmp(range, "1 to 365") == 0 ? 365 : 90;

	snprintf(msg, sizeof(msg), "days must be an integer from %s", range);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* 91 is fine for history, 366 for neither. */
		if (strcmp(bad[i], "91") == 0 && max == 365)
			continue;
		snprintf(url, sizeof(url), "%s?days=%s", path, bad[i]);
		r = fx_get(url, tok);
		assert_error(r, 400, "invalid_parameter");
		ck_assert_msg(strcmp(json_str(r->json, "error.message"),
		    msg) == 0, "%s: %s", url, r->body);
		http_free(r);
	}
	snprintf(url, sizeof(url), "%s?days", path);
	r = fx_get(url, tok);
	assert_error(r, 400, "invalid_parameter");
	http_free(r);
	snprintf(url, sizeof(url), "%s?days=%d", path, max);
	r = fx_get(url, tok);
	ck_assert_int_eq(r->status, 200);
	http_free(r);
	/* Unknown parameters are ignored, not errors. */
	snprintf(url, sizeof(url), "%s?foo=bar&days=1", path);
	r = fx_get(url, tok);
	ck_assert_int_eq(r->status, 200);
	http_free(r);
}

START_TEST(bad_parameters_400)
{
	check_bad_days("/api/usage/history", tok_a, "1 to 365");
	check_bad_days("/api/usage/endpoints", tok_a, "1 to 90");
}
END_TEST

START_TEST(endpoints_live)
{
	struct http	*r = get_ok("/api/usage/endpoints?days=7", tok_a);
	json_object	*arr = json_get(r->json, "endpoints"), *e;
	long long	 exact = raw_p95(user_a), p95;

	ck_assert_int_eq(json_int(r->json, "days"), 7);
	ck_assert_int_eq(json_int(r->json, "calls"), A_CALLS);
	ck_assert_int_eq(json_object_array_length(arr), 1);
	e = json_object_array_get_idx(arr, 0);
	ck_assert_str_eq(json_str(e, "method"), "GET");
	ck_assert_str_eq(json_str(e, "endpoint"), "/api/secure/ping");
	ck_assert_int_eq(json_int(e, "calls"), A_CALLS);
	ck_assert_int_eq(json_int(e, "errors"), 0);
	ck_assert_msg(strstr(r->body, "\"error_rate\":0.0000,") != NULL, "%s",
	    r->body);
	ck_assert_int_eq(json_int(e, "latency_avg_us"), raw_avg(user_a));
	/* From the histogram: never below the exact p95, at most 1/8 above. */
	p95 = json_int(e, "latency_p95_us");
	ck_assert_msg(p95 >= exact && p95 <= exact + exact / 8,
	    "p95 %lld, exact %lld", p95, exact);
	http_free(r);

	r = get_ok("/api/usage/endpoints", tok_f);	/* default 7 days */
	ck_assert_int_eq(json_int(r->json, "days"), 7);
	e = json_object_array_get_idx(json_get(r->json, "endpoints"), 0);
	ck_assert_int_eq(json_int(e, "calls"), F_CALLS);
	ck_assert_int_eq(json_int(e, "errors"), F_CALLS - FREE_LIMIT);
	ck_assert_msg(strstr(r->body, "\"error_rate\":0.4000,") != NULL, "%s",
	    r->body);
	http_free(r);

	r = get_ok("/api/usage/endpoints?days=90", tok_e);
	ck_assert_int_eq(json_int(r->json, "calls"), 0);
	ck_assert_int_eq(json_object_array_length(json_get(r->json,
	    "endpoints")), 0);
	http_free(r);
}
END_TEST

START_TEST(overage_pro)
{
	struct http	*r;
	json_object	*per;
	char		 month[16], idem[64];
	long long	 cost = (A_CALLS - PRO_LIMIT) * PRO_MICROS / 10000;

	time_format_date(period_start(time(NULL)), month, sizeof(month));
	r = get_ok("/api/usage/overage", tok_a);
	ck_assert(json_object_get_boolean(json_get(r->json, "bills_overage")));
	ck_assert_int_eq(json_int(r->json, "included_calls"), PRO_LIMIT);
	ck_assert_int_eq(json_int(r->json, "price_per_call_micros"),
	    PRO_MICROS);
	ck_assert_int_eq(json_int(r->json, "overage_calls"), A_CALLS - PRO_LIMIT);
	ck_assert_int_eq(json_int(r->json, "cost_cents"), cost);
	per = json_object_array_get_idx(json_get(r->json, "periods"), 0);
	month[7] = '\0';
	ck_assert_str_eq(json_str(per, "period"), month);
	ck_assert_int_eq(json_int(per, "api_calls"), A_CALLS);
	ck_assert_int_eq(json_int(per, "overage_calls"), A_CALLS - PRO_LIMIT);
	ck_assert_int_eq(json_int(per, "cost_micros"),
	    (A_CALLS - PRO_LIMIT) * PRO_MICROS);
	ck_assert_int_eq(json_int(per, "billed_cents"), 0);
	ck_assert_int_eq(json_int(per, "pending_cents"), 0);
	ck_assert_int_eq(json_int(per, "not_yet_invoiced_cents"), cost);
	http_free(r);

	/*
	 * The overage biller is not part of this test: ledger rows are
	 * written here as it would write them, one sent, one not yet.
	 */
	snprintf(idem, sizeof(idem), "test-%s-1", user_a);
	{
		struct dbp p[3] = { DBP_S(user_a), DBP_I(4), DBP_S(idem) };
		test_db_exec("INSERT INTO eco_overage_ledger (user_id, period, "
		    "calls_from, calls_to, amount_cents, idempotency_key, state, "
		    "created_at, sent_at) VALUES (?, DATE_FORMAT(UTC_DATE(), "
		    "'%Y-%m-01'), 5, 6, ?, ?, 'sent', UTC_TIMESTAMP(), "
		    "UTC_TIMESTAMP())", p, 3);
	}
	snprintf(idem, sizeof(idem), "test-%s-2", user_a);
	{
		struct dbp p[3] = { DBP_S(user_a), DBP_I(2), DBP_S(idem) };
		test_db_exec("INSERT INTO eco_overage_ledger (user_id, period, "
		    "calls_from, calls_to, amount_cents, idempotency_key, state, "
		    "created_at) VALUES (?, DATE_FORMAT(UTC_DATE(), '%Y-%m-01'), "
		    "6, 7, ?, ?, 'pending', UTC_TIMESTAMP())", p, 3);
	}
	r = get_ok("/api/usage/overage", tok_a);
	ck_assert_int_eq(json_int(r->json, "billed_cents"), 4);
	ck_assert_int_eq(json_int(r->json, "pending_cents"), 2);
	per = json_object_array_get_idx(json_get(r->json, "periods"), 0);
	ck_assert_int_eq(json_int(per, "billed_cents"), 4);
	ck_assert_int_eq(json_int(per, "pending_cents"), 2);
	ck_assert_int_eq(json_int(per, "not_yet_invoiced_cents"), cost - 6);
	http_free(r);

	/* B has no overage and nobody else's ledger. */
	r = get_ok("/api/usage/overage", tok_b);
	ck_assert_int_eq(json_int(r->json, "overage_calls"), 0);
	ck_assert_int_eq(json_int(r->json, "billed_cents"), 0);
	ck_assert_int_eq(json_int(r->json, "pending_cents"), 0);
	http_free(r);
}
END_TEST

START_TEST(overage_other_plans)
{
	struct http	*r = get_ok("/api/usage/overage", tok_f);

	ck_assert(!json_object_get_boolean(json_get(r->json, "bills_overage")));
	ck_assert_str_eq(json_str(r->json, "plan"), "free");
	ck_assert_msg(strstr(json_str(r->json, "reason"), "3-call monthly "
	    "limit") != NULL, "%s", r->body);
	ck_assert_int_eq(json_int(r->json, "overage_calls"), 0);
	ck_assert_int_eq(json_int(r->json, "cost_cents"), 0);
	ck_assert_int_eq(json_int(r->json, "billed_cents"), 0);
	ck_assert_int_eq(json_int(r->json, "pending_cents"), 0);
	http_free(r);

	r = get_ok("/api/usage/overage", tok_e);
	ck_assert(!json_object_get_boolean(json_get(r->json, "bills_overage")));
	ck_assert_msg(strstr(json_str(r->json, "reason"), "no monthly call "
	    "limit") != NULL, "%s", r->body);
	ck_assert_int_eq(json_int(r->json, "cost_cents"), 0);
	http_free(r);
}
END_TEST

START_TEST(isolation)
{
	struct http	*r;
	json_object	*e;
	char		 path[128];

	/* B sees B's calls only, whatever the query says. */
	snprintf(path, sizeof(path), "/api/usage/history?days=1&user_id=%s",
	    user_a);
	r = get_ok(path, tok_b);
	e = json_object_array_get_idx(json_get(r->json, "history"), 0);
	ck_assert_int_eq(json_int(e, "calls"), B_CALLS);
	http_free(r);
	snprintf(path, sizeof(path), "/api/usage/endpoints?user=%s", user_a);
	r = get_ok(path, tok_b);
	ck_assert_int_eq(json_int(r->json, "calls"), B_CALLS);
	http_free(r);
	r = get_ok("/api/usage/current", tok_b);
	ck_assert_str_eq(json_str(r->json, "user_id"), user_b);
	ck_assert_int_eq(json_int(r->json, "calls_used"), B_CALLS);
	http_free(r);
	/* Nothing in any of B's answers names A. */
	r = get_ok("/api/usage/overage", tok_b);
	ck_assert(strstr(r->body, user_a) == NULL);
	http_free(r);
}
END_TEST

/* Days read from the roll-up's aggregates answer as the raw rows did. */
START_TEST(rolled_up_matches_live)
{
	struct http	*before_h, *before_e, *after_h, *after_e;
	time_t		 y = day_start(time(NULL)) - 86400;
	char		*out;

	/*
	 * A late event for yesterday, written straight into eco_api_usage as
	 * a late flush would (the hot path stamps calls with the time they
	 * are served, so it cannot make yesterday's calls).
	 */
	{
		struct dbp p[2] = { DBP_S(user_a), DBP_I(y + 3600) };
		test_db_exec("INSERT INTO eco_api_usage (user_id, ts, event_id, key_id, "
		    "method, endpoint, status, latency_us) VALUES (?, "
		    "FROM_UNIXTIME(?), UNHEX(REPLACE(UUID(), '-', '')), 0, 'POST', "
		    "'/api/secure/other', 503, 12345)", p, 2);
	}
	before_h = get_ok("/api/usage/history?days=7", tok_a);
	before_e = get_ok("/api/usage/endpoints?days=7", tok_a);
	ck_assert_int_eq(json_int(before_e->json, "calls"), A_CALLS + 1);
	ck_assert_int_eq(json_int(before_e->json, "errors"), 1);
	ck_assert_int_eq(json_int(json_object_array_get_idx(json_get(
	    before_h->json, "history"), 5), "calls"), 1);
	ck_assert_int_eq(ctl(&out, "aggregate", NULL), 0);
	free(out);
	{
		char date[16];
		struct dbp p[1];

		time_format_date(y, date, sizeof(date));
		p[0] = DBP_S(date);
		ck_assert_int_eq(test_db_int("SELECT complete FROM eco_rollup_days "
		    "WHERE day = ?", p, 1), 1);
	}
	after_h = get_ok("/api/usage/history?days=7", tok_a);
	after_e = get_ok("/api/usage/endpoints?days=7", tok_a);
	ck_assert_str_eq(json_object_to_json_string(json_get(after_h->json,
	    "history")), json_object_to_json_string(json_get(before_h->json,
	    "history")));
	ck_assert_str_eq(json_object_to_json_string(json_get(after_e->json,
	    "endpoints")), json_object_to_json_string(json_get(before_e->json,
	    "endpoints")));
	http_free(before_h);
	http_free(before_e);
	http_free(after_h);
	http_free(after_e);
}
END_TEST

/*
 * A 401 for a bad token, with the RFC 6750 challenge, says the same
 * whatever check failed (no help for forgers); the log says which.
 */
static void
assert_invalid_token(const char *tok, const char *why)
{
	long		 mark = test_file_size("logs/workers.log");
	struct http	*r = fx_get("/api/usage/current", tok);
	char		 h[128], logged[256];

	assert_error(r, 401, "invalid_token");
	ck_assert_msg(http_hdr(r, "WWW-Authenticate", h, sizeof(h)) != NULL,
	    "no WWW-Authenticate: %s", r->headers);
	ck_assert_str_eq(h, "Bearer error=\"invalid_token\"");
	ck_assert_msg(strcmp(json_str(r->json, "error.message"),
	    "the bearer token is not accepted") == 0, "%s", r->body);
	if (why != NULL) {
		snprintf(logged, sizeof(logged), "JWT refused from 127.0.0.1: "
		    "%s", why);
		ck_assert_msg(test_file_has("logs/workers.log", mark, logged),
		    "not in the log: %s", logged);
	}
	http_free(r);
}

static char *
claims(const char *sub, long long exp_off, const char *extra)
{
	char	*c;

	xasprintf(&c, "{\"sub\":\"%s\",\"exp\":%lld%s}", sub,
	    (long long)time(NULL) + exp_off, extra);
	return c;
}

START_TEST(jwt_rejections)
{
	const char	*s = fx_secret();
	char		*c = claims(user_a, 600, ""), *t, *priv, *pub, *big;

	/* The control: this token is fine. */
	t = mint_token("HS256", s, strlen(s), NULL, c);
	http_free(get_ok("/api/usage/current", t));
	free(t);

	t = mint_token("none", NULL, 0, "{\"alg\":\"none\",\"typ\":\"JWT\"}", c);
	assert_invalid_token(t, "token algorithm is not accepted");
	free(t);
	t = mint_token("HS256", s, strlen(s), "{\"alg\":\"HS512\"}", c);
	assert_invalid_token(t, "token algorithm is not accepted");
	free(t);
	mint_keypair("RSA", &priv, &pub);
	t = mint_token("RS256", priv, strlen(priv), NULL, c);
	assert_invalid_token(t, "token algorithm is not accepted");
	free(t);
	free(priv);
	free(pub);
	t = mint_token("HS256", "another-secret-another-secret-0123",
	    34, NULL, c);
	assert_invalid_token(t, "token signature is invalid");
	free(t);
	free(c);

	c = claims(user_a, -3600, "");
	t = mint_token("HS256", s, strlen(s), NULL, c);
	assert_invalid_token(t, "token has expired");
	free(t);
	free(c);
	xasprintf(&c, "{\"sub\":\"%s\"}", user_a);
	t = mint_token("HS256", s, strlen(s), NULL, c);
	assert_invalid_token(t, "token has no valid exp claim");
	free(t);
	free(c);
	xasprintf(&big, ",\"nbf\":%lld", (long long)time(NULL) + 3600);
	c = claims(user_a, 7200, big);
	t = mint_token("HS256", s, strlen(s), NULL, c);
	assert_invalid_token(t, "token is not valid yet (nbf)");
	free(t);
	free(c);
	free(big);

	c = claims("eco_usr_NoSuchUserNoSuchUserNoSu", 600, "");
	t = mint_token("HS256", s, strlen(s), NULL, c);
	assert_invalid_token(t, "token user does not exist");
	free(t);
	free(c);
	c = claims("8f14e45f-ceea-467f-a8c8-2ed5b8a2f1c1", 600, "");
	t = mint_token("HS256", s, strlen(s), NULL, c);
	assert_invalid_token(t, "token has no valid sub claim");
	free(t);
	free(c);

	assert_invalid_token("not.a.jwt", "token is malformed");
	assert_invalid_token("garbage", "token is malformed");
	assert_invalid_token(key_a, "token is malformed");
	big = xmalloc(TOKEN_MAX + 2);
	memset(big, 'A', TOKEN_MAX + 1);
	big[TOKEN_MAX + 1] = '\0';
	assert_invalid_token(big, "token is too long");
	free(big);
}
END_TEST

START_TEST(jwt_missing)
{
	static const char *const hdrs[] = {
		"Authorization: Basic dXNlcjpwYXNz", "Authorization: Bearer",
		"Authorization: Bearer   ", "X-API-Key: nx_live_whatever",
	};
	struct http	*r;
	const char	*h[2] = { NULL, NULL };
	char		 v[128];
	size_t		 i;

	r = fx_get("/api/usage/history", NULL);
	assert_error(r, 401, "missing_token");
	ck_assert_str_eq(http_hdr(r, "WWW-Authenticate", v, sizeof(v)),
	    "Bearer realm=\"nexus\"");
	http_free(r);
	for (i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
		h[0] = hdrs[i];
		r = http_get("/api/usage/endpoints", h);
		assert_error(r, 401, "missing_token");
		http_free(r);
	}
	/* The scheme is case-insensitive (RFC 9110 11.1). */
	xasprintf((char **)&h[0], "Authorization: bEaReR %s", tok_a);
	r = http_get("/api/usage/current", h);
	ck_assert_int_eq(r->status, 200);
	http_free(r);
	free((char *)h[0]);
	/* Authentication comes before parameters. */
	r = fx_get("/api/usage/history?days=0", "bad");
	assert_error(r, 401, "invalid_token");
	http_free(r);
	r = http_req("POST", "/api/usage/current", "{}", NULL);
	assert_error(r, 405, "method_not_allowed");
	http_free(r);
}
END_TEST

START_TEST(jwt_issuer_audience)
{
	const char	*s = fx_secret();
	char		*c, *t;
	size_t		 i;
	static const struct {
		const char	*extra;
		const char	*why;	/* NULL: accepted */
	} cases[] = {
		{ ",\"iss\":\"https://auth.test/v1\",\"aud\":\"authenticated\"",
		    NULL },
		{ ",\"iss\":\"https://auth.test/v1\",\"aud\":[\"x\","
		    "\"authenticated\"]", NULL },
		{ ",\"aud\":\"authenticated\"", "token issuer is not accepted" },
		{ ",\"iss\":\"https://evil.test/v1\",\"aud\":\"authenticated\"",
		    "token issuer is not accepted" },
		{ ",\"iss\":\"https://auth.test/v1\"",
		    "token audience is not accepted" },
		{ ",\"iss\":\"https://auth.test/v1\",\"aud\":\"anon\"",
		    "token audience is not accepted" },
		{ ",\"iss\":\"https://auth.test/v1\",\"aud\":[\"anon\"]",
		    "token audience is not accepted" },
	};

	fx_config("jwt_issuer = https://auth.test/v1\n"
	    "jwt_audience = authenticated\n", 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = claims(user_a, 600, cases[i].extra);
		t = mint_token("HS256", s, strlen(s), NULL, c);
		if (cases[i].why == NULL)
			http_free(get_ok("/api/usage/current", t));
		else
			assert_invalid_token(t, cases[i].why);
		free(t);
		free(c);
	}
	fx_config_reset();
}
END_TEST

static void
write_key(const char *name, const char *pem, char *path, size_t n)
{
	FILE	*f;

	snprintf(path, n, "%s/%s", getenv("NEXUS_TEST_DIR"), name);
	ck_assert((f = fopen(path, "w")) != NULL);
	fputs(pem, f);
	fclose(f);
}

/* With an asymmetric key configured, only that algorithm and key pass. */
static void
check_public_key(const char *alg, const char *type)
{
	char	*priv, *pub, *opriv, *opub, *c, *t, path[512], conf[700];
	const char *s = fx_secret();

	mint_keypair(type, &priv, &pub);
	mint_keypair(type, &opriv, &opub);
	write_key("jwt.pub", pub, path, sizeof(path));
	snprintf(conf, sizeof(conf), "jwt_alg = %s\njwt_public_key_file = %s\n",
	    alg, path);
	fx_config(conf, 0);
	c = claims(user_a, 600, "");
	t = mint_token(alg, priv, strlen(priv), NULL, c);
	http_free(get_ok("/api/usage/current", t));
	free(t);
	/* Another key pair, the shared secret, the public key as a secret. */
	t = mint_token(alg, opriv, strlen(opriv), NULL, c);
	assert_invalid_token(t, "token signature is invalid");
	free(t);
	t = mint_token("HS256", s, strlen(s), NULL, c);
	assert_invalid_token(t, "token algorithm is not accepted");
	free(t);
	t = mint_token("HS256", pub, strlen(pub), NULL, c);
	assert_invalid_token(t, "token algorithm is not accepted");
	free(t);
	xasprintf(&t, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
	free(priv);
	priv = mint_token("HS256", pub, strlen(pub), t, c);
	assert_invalid_token(priv, "token signature is invalid");
	free(t);
	t = mint_token("none", NULL, 0, "{\"alg\":\"none\"}", c);
	assert_invalid_token(t, "token algorithm is not accepted");
	free(t);
	fx_config_reset();
	free(c);
	free(priv);
	free(pub);
	free(opriv);
	free(opub);
}

START_TEST(jwt_rs256_and_es256)
{
	check_public_key("RS256", "RSA");
	check_public_key("ES256", "EC");
}
END_TEST

START_TEST(jwt_key_missing_500)
{
	struct http	*r;

	fx_config("jwt_alg = RS256\njwt_public_key_file = /nonexistent/jwt.pub\n",
	    0);
	r = fx_get("/api/usage/current", tok_a);
	assert_error(r, 500, "internal");
	http_free(r);
	fx_config_reset();
	http_free(get_ok("/api/usage/current", tok_a));
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("usage_api");
	TCase	*tc = tcase_create("http");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, setup_data);
	tcase_add_test(tc, current_pro_overage);
	tcase_add_test(tc, current_free_and_enterprise);
	tcase_add_test(tc, history_today_live);
	tcase_add_test(tc, bad_parameters_400);
	tcase_add_test(tc, endpoints_live);
	tcase_add_test(tc, overage_pro);
	tcase_add_test(tc, overage_other_plans);
	tcase_add_test(tc, isolation);
	tcase_add_test(tc, rolled_up_matches_live);
	tcase_add_test(tc, jwt_rejections);
	tcase_add_test(tc, jwt_missing);
	tcase_add_test(tc, jwt_issuer_audience);
	tcase_add_test(tc, jwt_rs256_and_es256);
	tcase_add_test(tc, jwt_key_missing_500);
	suite_add_tcase(s, tc);
	return itest_run(s);
}
