/*
 * The daily roll-up (nexusctl aggregate) and retention, end to end.
 *
 * Today's calls go through the real hot path. Calls on past days cannot:
 * the hot path stamps each call with the time it is served. Those rows are
 * inserted straight into eco_api_usage, exactly as a late spool flush (or
 * a replay after a crash) would write them, and each such insert says so.
 * Every expected figure is computed here from the raw rows with SQL.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "usage_fixture.h"

#define DAY	86400

static char	*p1, *p2, *tok1, *tok2;
static time_t	 today, yday;

/* Simulated late flush: one raw row for user at t (see the file comment). */
static void
late_row(const char *user, time_t t, const char *method, const char *path,
    int status, long latency)
{
	struct dbp	 p[6] = { DBP_S(user), DBP_I(t), DBP_S(method),
	    DBP_S(path), DBP_I(status), DBP_I(latency) };

	test_db_exec("INSERT INTO eco_api_usage (user_id, ts, event_id, key_id, "
	    "method, endpoint, status, latency_us) VALUES (?, FROM_UNIXTIME(?), "
	    "UNHEX(REPLACE(UUID(), '-', '')), 0, ?, ?, ?, ?)", p, 6);
}

static char *
date_of(time_t t)
{
	char	*s = xmalloc(16);

	time_format_date(t, s, 16);
	return s;
}

static void
aggregate(const char *a1, const char *a2, const char *a3, const char *a4)
{
	char	*out;
	int	 rc = ctl(&out, "aggregate", a1, a2, a3, a4, NULL);

	ck_assert_msg(rc == 0, "aggregate: exit %d: %s", rc, out);
	free(out);
}

/* The figures of (user, day) computed from the raw rows. */
static void
check_day(const char *user, time_t day)
{
	struct dbp	 p[3] = { DBP_S(user), DBP_I(day), DBP_I(day + DAY) };
	struct dbp	 q[2];
	char		*date = date_of(day), *top, *want, *got;
	long long	 n, rank;
	struct db	*db;
	struct dbres	*r;
	struct buf	 b;

	n = test_db_int("SELECT COUNT(*) FROM eco_api_usage WHERE user_id = ? AND "
	    "ts >= FROM_UNIXTIME(?) AND ts < FROM_UNIXTIME(?)", p, 3);
	ck_assert_int_gt(n, 0);
	q[0] = DBP_S(user);
	q[1] = DBP_S(date);
	ck_assert_int_eq(test_db_int("SELECT calls FROM eco_usage_daily WHERE "
	    "user_id = ? AND day = ?", q, 2), n);
	ck_assert_int_eq(test_db_int("SELECT errors FROM eco_usage_daily WHERE "
	    "user_id = ? AND day = ?", q, 2), test_db_int("SELECT COUNT(*) FROM "
	    "eco_api_usage WHERE user_id = ? AND ts >= FROM_UNIXTIME(?) AND "
	    "ts < FROM_UNIXTIME(?) AND status >= 400", p, 3));
	ck_assert_int_eq(test_db_int("SELECT successes + errors FROM eco_usage_daily "
	    "WHERE user_id = ? AND day = ?", q, 2), n);
	ck_assert_int_eq(test_db_int("SELECT latency_avg_us FROM eco_usage_daily "
	    "WHERE user_id = ? AND day = ?", q, 2), test_db_int("SELECT "
	    "FLOOR((SUM(latency_us) * 2 + COUNT(*)) / (2 * COUNT(*))) FROM "
	    "eco_api_usage WHERE user_id = ? AND ts >= FROM_UNIXTIME(?) AND "
	    "ts < FROM_UNIXTIME(?)", p, 3));
	rank = (n * 95 + 99) / 100;
	{
		struct dbp pr[4] = { p[0], p[1], p[2], DBP_I(rank - 1) };

		ck_assert_int_eq(test_db_int("SELECT latency_p95_us FROM "
		    "eco_usage_daily WHERE user_id = ? AND day = ?", q, 2),
		    test_db_int("SELECT latency_us FROM eco_api_usage WHERE "
		    "user_id = ? AND ts >= FROM_UNIXTIME(?) AND "
		    "ts < FROM_UNIXTIME(?) ORDER BY latency_us LIMIT 1 OFFSET ?",
		    pr, 4));
	}
	/* Top 5 routes, most calls first, as JSON. */
	buf_init(&b, 65536);
	buf_addstr(&b, "[");
	db = test_db();
	r = db_query(db, "SELECT method, endpoint, COUNT(*) c FROM eco_api_usage "
	    "WHERE user_id = ? AND ts >= FROM_UNIXTIME(?) AND "
	    "ts < FROM_UNIXTIME(?) GROUP BY method, endpoint "
	    "ORDER BY c DESC, endpoint, method LIMIT 5", p, 3);
	ck_assert(r != NULL);
	while (db_next(r) == 1)
		buf_printf(&b, "%s{\"method\":\"%s\",\"endpoint\":\"%s\","
		    "\"calls\":%s}", b.len > 1 ? "," : "", db_str(r, 0),
		    db_str(r, 1), db_str(r, 2));
	db_done(r);
	db_close(db);
	buf_addstr(&b, "]");
	want = b.data;
	top = fx_str("SELECT top_endpoints FROM eco_usage_daily WHERE "
	    "user_id = ? AND day = ?", q, 2);
	ck_assert_str_eq(top, want);
	/* Per route: the same counts as the raw rows. */
	got = fx_rows("SELECT method, endpoint, calls, errors, latency_sum_us, "
	    "latency_max_us FROM eco_usage_daily_routes WHERE user_id = ? AND "
	    "day = ? ORDER BY method, endpoint", q, 2, 6);
	free(want);
	want = fx_rows("SELECT method, endpoint, COUNT(*), SUM(status >= 400), "
	    "SUM(latency_us), MAX(latency_us) FROM eco_api_usage WHERE "
	    "user_id = ? AND ts >= FROM_UNIXTIME(?) AND ts < FROM_UNIXTIME(?) "
	    "GROUP BY method, endpoint ORDER BY method, endpoint", p, 3, 6);
	ck_assert_msg(strchr(want, '|') != NULL, "no routes");
	ck_assert_str_eq(got, want);
	free(got);
	free(want);
	free(top);
	free(date);
}

/* Everything the roll-up wrote, rolled_up_at and histograms included. */
static char *
snapshot(void)
{
	char	*a, *b, *s;

	a = fx_rows("SELECT user_id, day, calls, successes, errors, "
	    "latency_avg_us, latency_p95_us, top_endpoints, rolled_up_at "
	    "FROM eco_usage_daily ORDER BY user_id, day", NULL, 0, 9);
	b = fx_rows("SELECT user_id, day, method, endpoint, calls, errors, "
	    "latency_sum_us, latency_max_us, HEX(latency_hist) "
	    "FROM eco_usage_daily_routes ORDER BY user_id, day, method, "
	    "endpoint", NULL, 0, 9);
	xasprintf(&s, "%s--\n%s", a, b);
	free(a);
	free(b);
	return s;
}

START_TEST(setup_data)
{
	static const char *const routes[] = { "/r/a", "/r/b", "/r/c", "/r/d",
	    "/r/e", "/r/f", "/r/g" };
	char		*k1, *k2;
	int		 i, j;

	today = day_start(time(NULL));
	yday = today - DAY;
	fx_config("flush_interval_ms = 200\n", 1);
	p1 = fx_user("pro");
	p2 = fx_user("pro");
	k1 = fx_key(p1);
	k2 = fx_key(p2);
	fx_ping(k1, 4, 200);
	fx_ping(k2, 3, 200);
	fx_wait_rows(p1, 4);
	fx_wait_rows(p2, 3);
	/* Late flushes for yesterday: 7 routes (only 5 make the top list). */
	for (i = 0; i < 7; i++)
		for (j = 0; j <= i; j++)
			late_row(p1, yday + 60 * (i * 8 + j), j % 2 ? "POST" :
			    "GET", routes[i], j == 3 ? 500 : 200,
			    100 + 37L * i * j);
	late_row(p2, yday + 10, "GET", "/api/secure/ping", 200, 900);
	late_row(p2, yday + 20, "GET", "/api/secure/ping", 429, 80);
	/* ... and three days ago, not in the default range. */
	for (i = 0; i < 3; i++)
		late_row(p1, today - 3 * DAY + 100 * i, "GET", "/api/secure/ping",
		    200, 1000 + i);
	tok1 = fx_token(p1, 600);
	tok2 = fx_token(p2, 600);
	free(k1);
	free(k2);
}
END_TEST

START_TEST(rollup_default_range)
{
	char		*y = date_of(yday), *t = date_of(today);
	char		*d3 = date_of(today - 3 * DAY);
	struct dbp	 p[1];

	aggregate(NULL, NULL, NULL, NULL);
	check_day(p1, yday);
	check_day(p2, yday);
	check_day(p1, today);
	check_day(p2, today);
	p[0] = DBP_S(y);
	ck_assert_int_eq(test_db_int("SELECT complete FROM eco_rollup_days "
	    "WHERE day = ?", p, 1), 1);
	ck_assert_int_eq(test_db_int("SELECT raw_rows FROM eco_rollup_days "
	    "WHERE day = ?", p, 1), 28 + 2);
	ck_assert_int_eq(test_db_int("SELECT users FROM eco_rollup_days "
	    "WHERE day = ?", p, 1), 2);
	p[0] = DBP_S(t);
	ck_assert_int_eq(test_db_int("SELECT complete FROM eco_rollup_days "
	    "WHERE day = ?", p, 1), 0);
	/* The default range is yesterday and today only. */
	p[0] = DBP_S(d3);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_usage_daily "
	    "WHERE day = ?", p, 1), 0);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_rollup_days "
	    "WHERE day = ?", p, 1), 0);
	free(y);
	free(t);
	free(d3);
}
END_TEST

START_TEST(rollup_idempotent)
{
	char	*before, *after;

	before = snapshot();
	sleep(1);	/* a rewrite would show in rolled_up_at */
	aggregate(NULL, NULL, NULL, NULL);
	aggregate("--from", date_of(yday), "--to", date_of(today));
	after = snapshot();
	ck_assert_str_eq(after, before);
	free(before);
	free(after);
}
END_TEST

START_TEST(late_event_rerolled)
{
	char		*y = date_of(yday), *at1, *at2, *at1b, *at2b;
	struct dbp	 p1d[2] = { DBP_S(p1), DBP_S(y) };
	struct dbp	 p2d[2] = { DBP_S(p2), DBP_S(y) };
	long long	 calls;

	calls = test_db_int("SELECT calls FROM eco_usage_daily WHERE user_id = ? "
	    "AND day = ?", p1d, 2);
	at1 = fx_str("SELECT rolled_up_at FROM eco_usage_daily WHERE "
	    "user_id = ? AND day = ?", p1d, 2);
	at2 = fx_str("SELECT rolled_up_at FROM eco_usage_daily WHERE "
	    "user_id = ? AND day = ?", p2d, 2);
	sleep(1);
	/* Simulated late flush of a call made yesterday on a new route. */
	late_row(p1, yday + DAY - 1, "DELETE", "/r/late", 404, 5000);
	aggregate(NULL, NULL, NULL, NULL);	/* re-rolls yesterday */
	check_day(p1, yday);
	ck_assert_int_eq(test_db_int("SELECT calls FROM eco_usage_daily WHERE "
	    "user_id = ? AND day = ?", p1d, 2), calls + 1);
	ck_assert_int_eq(test_db_int("SELECT calls FROM eco_usage_daily_routes "
	    "WHERE user_id = ? AND day = ? AND endpoint = '/r/late'", p1d, 2), 1);
	at1b = fx_str("SELECT rolled_up_at FROM eco_usage_daily WHERE "
	    "user_id = ? AND day = ?", p1d, 2);
	at2b = fx_str("SELECT rolled_up_at FROM eco_usage_daily WHERE "
	    "user_id = ? AND day = ?", p2d, 2);
	/* Only the user whose numbers changed was rewritten. */
	ck_assert_str_ne(at1b, at1);
	ck_assert_str_eq(at2b, at2);
	free(at1);
	free(at2);
	free(at1b);
	free(at2b);
	free(y);
}
END_TEST

/* Raw rows removed behind the roll-up's back (an operator's DELETE). */
START_TEST(removed_rows_pruned)
{
	char		*y = date_of(yday);
	struct dbp	 p1d[2] = { DBP_S(p1), DBP_S(y) };
	struct dbp	 p2d[2] = { DBP_S(p2), DBP_S(y) };
	struct dbp	 r2[3] = { DBP_S(p2), DBP_I(yday), DBP_I(yday + DAY) };

	test_db_exec("DELETE FROM eco_api_usage WHERE endpoint = '/r/late'", NULL, 0);
	test_db_exec("DELETE FROM eco_api_usage WHERE user_id = ? AND "
	    "ts >= FROM_UNIXTIME(?) AND ts < FROM_UNIXTIME(?)", r2, 3);
	aggregate(NULL, NULL, NULL, NULL);
	check_day(p1, yday);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_usage_daily_routes "
	    "WHERE user_id = ? AND day = ? AND endpoint = '/r/late'", p1d, 2), 0);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_usage_daily "
	    "WHERE user_id = ? AND day = ?", p2d, 2), 0);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_usage_daily_routes "
	    "WHERE user_id = ? AND day = ?", p2d, 2), 0);
	check_day(p2, today);
	free(y);
}
END_TEST

START_TEST(backfill_dates)
{
	char		*d3 = date_of(today - 3 * DAY), *d5 = date_of(today - 5 * DAY);
	struct dbp	 p[1] = { DBP_S(d3) };
	struct http	*r;
	json_object	*e;

	aggregate("--date", d3, NULL, NULL);
	check_day(p1, today - 3 * DAY);
	ck_assert_int_eq(test_db_int("SELECT complete FROM eco_rollup_days "
	    "WHERE day = ?", p, 1), 1);
	aggregate("--from", d5, "--to", d3);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_rollup_days "
	    "WHERE day BETWEEN DATE_SUB(?, INTERVAL 2 DAY) AND ?",
	    (struct dbp[]){ DBP_S(d3), DBP_S(d3) }, 2), 3);
	check_day(p1, today - 3 * DAY);
	/* The API now reads that day from the aggregates. */
	r = fx_get("/api/usage/history?days=4", tok1);
	ck_assert_int_eq(r->status, 200);
	e = json_object_array_get_idx(json_get(r->json, "history"), 0);
	ck_assert_str_eq(json_str(e, "date"), d3);
	ck_assert_int_eq(json_int(e, "calls"), 3);
	ck_assert_int_eq(json_int(e, "latency_avg_us"), 1001);
	ck_assert_int_eq(json_int(e, "latency_p95_us"), 1002);
	http_free(r);
	free(d3);
	free(d5);
}
END_TEST

START_TEST(bad_arguments_change_nothing)
{
	static const char *const bad[][4] = {
		{ "--date", "2025-13-01", NULL, NULL },
		{ "--date", "2025-02-30", NULL, NULL },
		{ "--date", "yesterday", NULL, NULL },
		{ "--date", "2999-01-01", NULL, NULL },
		{ "--from", "2025-01-01", NULL, NULL },
		{ "--to", "2025-01-01", NULL, NULL },
		{ "--from", "2025-01-05", "--to", "2025-01-01" },
		{ "--from", "1990-01-01", "--to", "2025-01-01" },
		{ "--date", "2025-01-01", "--from", "2025-01-01" },
		{ "--bogus", "x", NULL, NULL },
		{ "2025-01-01", NULL, NULL, NULL },
	};
	char		*before = snapshot(), *after, *out;
	long long	 days = test_db_int("SELECT COUNT(*) FROM eco_rollup_days",
	    NULL, 0);
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(ctl(&out, "aggregate", bad[i][0], bad[i][1],
		    bad[i][2], bad[i][3], NULL) == 2, "%s %s: %s", bad[i][0],
		    bad[i][1] ? bad[i][1] : "", out);
		free(out);
	}
	after = snapshot();
	ck_assert_str_eq(after, before);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_rollup_days", NULL,
	    0), days);
	free(before);
	free(after);
}
END_TEST

START_TEST(retention_rolls_up_then_deletes)
{
	time_t		 d10 = today - 10 * DAY, d3 = today - 3 * DAY;
	char		*s10 = date_of(d10), *s3 = date_of(d3), *out;
	struct dbp	 q10[2] = { DBP_S(p2), DBP_S(s10) };
	struct dbp	 q3[2] = { DBP_S(p1), DBP_S(s3) };
	struct dbp	 c[1] = { DBP_I(today - 2 * DAY) };
	struct http	*r;
	json_object	*e;

	/*
	 * 25,000 late rows ten days ago that no roll-up has seen (simulated
	 * late flush, in bulk), and one more late row three days ago, after
	 * that day was rolled up.
	 */
	{
		struct dbp p[2] = { DBP_S(p2), DBP_I(d10) };
		test_db_exec("INSERT INTO eco_api_usage (user_id, ts, event_id, key_id, "
		    "method, endpoint, status, latency_us) SELECT ?, "
		    "FROM_UNIXTIME(? + seq), UNHEX(MD5(CONCAT('r', seq))), 0, "
		    "'GET', '/api/secure/ping', IF(seq % 10 = 0, 500, 200), "
		    "seq % 997 FROM seq_1_to_25000", p, 2);
	}
	late_row(p1, d3 + 7200, "GET", "/api/secure/ping", 200, 4000);
	ck_assert_int_eq(test_db_int("SELECT calls FROM eco_usage_daily WHERE "
	    "user_id = ? AND day = ?", q3, 2), 3);

	setenv("NEXUS_RETENTION_DAYS", "2", 1);
	ck_assert_int_eq(ctl(&out, "aggregate", NULL), 0);
	unsetenv("NEXUS_RETENTION_DAYS");
	ck_assert_msg(strstr(out, "25004 raw rows deleted from 2 days in 4 "
	    "chunks, 2 days rolled up first") != NULL, "%s", out);
	free(out);

	/* Rolled up before deletion: nothing was lost. */
	ck_assert_int_eq(test_db_int("SELECT calls FROM eco_usage_daily WHERE "
	    "user_id = ? AND day = ?", q10, 2), 25000);
	ck_assert_int_eq(test_db_int("SELECT errors FROM eco_usage_daily WHERE "
	    "user_id = ? AND day = ?", q10, 2), 2500);
	ck_assert_int_eq(test_db_int("SELECT calls FROM eco_usage_daily WHERE "
	    "user_id = ? AND day = ?", q3, 2), 4);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_api_usage WHERE "
	    "ts < FROM_UNIXTIME(?)", c, 1), 0);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_rollup_days WHERE "
	    "purged_at IS NOT NULL", NULL, 0), 2);
	/* Within retention: untouched. */
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_api_usage WHERE "
	    "ts >= FROM_UNIXTIME(?)", c, 1), 4 + 3 + 28);

	/* A purged day is never rolled up again (its raw rows are gone). */
	ck_assert_int_eq(ctl(&out, "aggregate", "--date", s10, NULL), 0);
	ck_assert_msg(strstr(out, "deleted by retention") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(test_db_int("SELECT calls FROM eco_usage_daily WHERE "
	    "user_id = ? AND day = ?", q10, 2), 25000);

	/* And the API still shows it, from the aggregates. */
	r = fx_get("/api/usage/history?days=11", tok2);
	ck_assert_int_eq(r->status, 200);
	e = json_object_array_get_idx(json_get(r->json, "history"), 0);
	ck_assert_str_eq(json_str(e, "date"), s10);
	ck_assert_int_eq(json_int(e, "calls"), 25000);
	ck_assert_int_eq(json_int(e, "errors"), 2500);
	http_free(r);
	r = fx_get("/api/usage/endpoints?days=11", tok2);
	ck_assert_int_eq(json_int(r->json, "calls"), 25000 + 3);
	http_free(r);

	/* Nothing left to delete: a second run deletes nothing. */
	setenv("NEXUS_RETENTION_DAYS", "2", 1);
	ck_assert_int_eq(ctl(&out, "aggregate", NULL), 0);
	unsetenv("NEXUS_RETENTION_DAYS");
	ck_assert_msg(strstr(out, " 0 raw rows deleted") != NULL, "%s", out);
	free(out);
	free(s10);
	free(s3);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("rollup");
	TCase	*tc = tcase_create("aggregate");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, setup_data);
	tcase_add_test(tc, rollup_default_range);
	tcase_add_test(tc, rollup_idempotent);
	tcase_add_test(tc, late_event_rerolled);
	tcase_add_test(tc, removed_rows_pruned);
	tcase_add_test(tc, backfill_dates);
	tcase_add_test(tc, bad_arguments_change_nothing);
	tcase_add_test(tc, retention_rolls_up_then_deletes);
	suite_add_tcase(s, tc);
	return itest_run(s);
}
