/* The foundation, end to end: health, JSON errors, outages, nexusctl. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

static void
assert_error(struct http *r, long status, const char *code)
{
	ck_assert_msg(r->status == status, "status %ld, want %ld: %s",
	    r->status, status, r->body);
	ck_assert_msg(r->json != NULL, "not JSON: %s", r->body);
	ck_assert_str_eq(json_str(r->json, "error.code"), code);
	ck_assert(json_str(r->json, "error.message") != NULL);
}

static void
assert_up(void)
{
	struct http	*r = http_get("/api/health", NULL);

	ck_assert_int_eq(r->status, 200);
	http_free(r);
}

START_TEST(health_ok)
{
	struct http	*r = http_get("/api/health", NULL);
	char		 ct[128];

	ck_assert_int_eq(r->status, 200);
	ck_assert_str_eq(json_str(r->json, "status"), "ok");
	ck_assert_str_eq(json_str(r->json, "db"), "ok");
	ck_assert_str_eq(json_str(r->json, "version"), PACKAGE_VERSION);
	ck_assert_str_eq(http_hdr(r, "Content-Type", ct, sizeof(ct)),
	    "application/json");
	http_free(r);
}
END_TEST

START_TEST(unknown_path_404)
{
	struct http	*r;

	r = http_get("/api/nope", NULL);
	assert_error(r, 404, "not_found");
	http_free(r);
	r = http_get("/elsewhere", NULL);
	assert_error(r, 404, "not_found");
	http_free(r);
	r = http_get("/api/health/", NULL);
	assert_error(r, 404, "not_found");
	http_free(r);
}
END_TEST

START_TEST(wrong_method_405)
{
	struct http	*r = http_req("DELETE", "/api/health", NULL, NULL);
	char		 allow[64];

	assert_error(r, 405, "method_not_allowed");
	ck_assert_str_eq(http_hdr(r, "Allow", allow, sizeof(allow)), "GET");
	http_free(r);
	r = http_req("POST", "/api/health", "{}", NULL);
	assert_error(r, 405, "method_not_allowed");
	http_free(r);
}
END_TEST

START_TEST(huge_header_431)
{
	char		*h = xmalloc(100 * 1024 + 16);
	const char	*hdrs[2] = { h, NULL };
	struct http	*r;

	memcpy(h, "X-Big: ", 7);
	memset(h + 7, 'a', 100 * 1024);
	h[7 + 100 * 1024] = '\0';
	r = http_get("/api/health", hdrs);
	assert_error(r, 431, "headers_too_large");
	http_free(r);
	free(h);
	assert_up();	/* the worker and the web server */
}
END_TEST

START_TEST(many_headers_431_from_worker)
{
	/* Under the web server's per-line limit, over the worker's total. */
	char		 lines[8][8200];
	const char	*hdrs[9];
	struct http	*r;
	int		 i;

	for (i = 0; i < 8; i++) {
		snprintf(lines[i], 16, "X-H%d: ", i);
		memset(lines[i] + strlen(lines[i]), 'b', 3000);
		lines[i][strlen(lines[i]) + 3000] = '\0';
		hdrs[i] = lines[i];
	}
	hdrs[8] = NULL;
	r = http_get("/api/health", hdrs);
	assert_error(r, 431, "headers_too_large");
	http_free(r);
}
END_TEST

START_TEST(huge_body_413)
{
	char		*body = xmalloc(200 * 1024 + 1);
	/* As real clients do for large bodies: the refusal comes first. */
	const char	*hdrs[2] = { "Expect: 100-continue", NULL };
	struct http	*r;

	memset(body, 'x', 200 * 1024);
	body[200 * 1024] = '\0';
	r = http_req("POST", "/api/health", body, hdrs);
	assert_error(r, 413, "body_too_large");
	http_free(r);
	free(body);
}
END_TEST

START_TEST(long_uri_414)
{
	char		*path = xmalloc(20 * 1024 + 8);
	struct http	*r;

	/*
	 * Past the worker's bound on a path, then past the web server's on
	 * a request line: each answers 414 in JSON.
	 */
	memcpy(path, "/api/", 5);
	memset(path + 5, 'a', 1000);
	path[1005] = '\0';
	r = http_get(path, NULL);
	assert_error(r, 414, "uri_too_long");
	http_free(r);
	memset(path + 5, 'a', 20 * 1024);
	path[5 + 20 * 1024] = '\0';
	r = http_get(path, NULL);
	assert_error(r, 414, "uri_too_long");
	http_free(r);
	free(path);
	assert_up();
}
END_TEST

/* With the workers stopped, the web server answers for them, in JSON. */
START_TEST(workers_down_503)
{
	struct http	*r;

	stack("workers-stop");
	r = http_get("/api/health", NULL);
	assert_error(r, 503, "unavailable");
	http_free(r);
	stack("workers-start");
	assert_up();
}
END_TEST

START_TEST(db_outage_503_and_recovery)
{
	struct http	*r;
	int		 i, ok;

	stack("db-stop");
	r = http_get("/api/health", NULL);
	ck_assert_int_eq(r->status, 503);
	ck_assert_str_eq(json_str(r->json, "db"), "down");
	ck_assert_str_eq(json_str(r->json, "status"), "degraded");
	http_free(r);
	stack("db-start");
	/*
	 * Each worker reconnects on its own, without a restart: a worker
	 * whose connect failed tries again after db_retry_ms (1 s), and health
	 * does not make it try sooner. Ten answers in a row mean both are back.
	 */
	for (i = 0, ok = 0; i < 100 && ok < 10; i++) {
		r = http_get("/api/health", NULL);
		ok = r->status == 200 ? ok + 1 : 0;
		http_free(r);
		if (ok == 0)
			usleep(100000);
	}
	for (i = 0; i < 20; i++) {
		r = http_get("/api/health", NULL);
		ck_assert_msg(r->status == 200, "after restart: %ld %s",
		    r->status, r->body);
		http_free(r);
	}
}
END_TEST

START_TEST(ctl_migrate_twice)
{
	char	*out;

	ck_assert_int_eq(ctl(&out, "migrate", NULL), 0);
	ck_assert_msg(strstr(out, "0 migrations applied") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM schema_migrations "
	    "WHERE version = 1", NULL, 0), 1);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_plans",
	    NULL, 0), 3);
	ck_assert_int_eq(test_db_int("SELECT monthly_calls FROM eco_plans "
	    "WHERE id = 'free'", NULL, 0), 1000);
	ck_assert_int_eq(test_db_int("SELECT price_cents FROM eco_plans "
	    "WHERE id = 'pro'", NULL, 0), 4900);
}
END_TEST

START_TEST(ctl_user_create_list_set_plan)
{
	char		*id, *out;
	struct dbp	 p[1];

	ck_assert_int_eq(ctl(&id, "user", "create", "--email", "a@example.com",
	    "--plan", "free", NULL), 0);
	ck_assert_msg(strncmp(id, "eco_usr_", 8) == 0, "id %s", id);
	ck_assert_uint_eq(strlen(id), 32);
	p[0] = DBP_S(id);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_users "
	    "WHERE id = ? AND plan_id = 'free'", p, 1), 1);

	/* The same email twice is refused. */
	ck_assert_int_eq(ctl(&out, "user", "create", "--email",
	    "a@example.com", "--plan", "pro", NULL), 1);
	free(out);

	ck_assert_int_eq(ctl(&out, "user", "set-plan", "--user", id,
	    "--plan", "pro", NULL), 0);
	free(out);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_users "
	    "WHERE id = ? AND plan_id = 'pro'", p, 1), 1);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_audit_log "
	    "WHERE target = ?", p, 1), 2);

	ck_assert_int_eq(ctl(&out, "user", "list", NULL), 0);
	ck_assert_msg(strstr(out, id) != NULL, "%s", out);
	ck_assert_msg(strstr(out, "a@example.com") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(ctl(&out, "user", "set-plan", "--user",
	    "eco_usr_doesnotexist", "--plan", "pro", NULL), 1);
	free(out);
	free(id);
}
END_TEST

START_TEST(ctl_bad_arguments_touch_nothing)
{
	static const char *const bad[][6] = {
		{ "user", "create", "--email", "not-an-email", "--plan", "free" },
		{ "user", "create", "--email", "b@example.com", "--plan", "gold" },
		{ "user", "create", "--email", "b@example.com", NULL },
		{ "user", "create", "--plan", "free", "--bogus", "x" },
		{ "user", "set-plan", "--user", "nope", "--plan", "pro" },
		{ "user", "frobnicate", NULL },
	};
	char	*out;
	size_t	 i;
	long long before = test_db_int("SELECT COUNT(*) FROM eco_users",
	    NULL, 0);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(ctl(&out, bad[i][0], bad[i][1], bad[i][2],
		    bad[i][3], bad[i][4], bad[i][5], NULL), 2);
		free(out);
	}
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_users",
	    NULL, 0), before);
}
END_TEST

START_TEST(ctl_token_create_is_accepted)
{
	char		*id, *tok, *out, auth[9000];
	const char	*hdrs[2] = { auth, NULL };
	struct http	*r;

	ck_assert_int_eq(ctl(&id, "user", "create", "--email",
	    "token@example.com", "--plan", "pro", NULL), 0);
	ck_assert_int_eq(ctl(&tok, "token", "create", "--user", id, "--ttl",
	    "120", NULL), 0);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	r = http_get("/api/usage/current", hdrs);
	ck_assert_msg(r->status == 200, "%ld %s", r->status, r->body);
	http_free(r);
	ck_assert_int_eq(ctl(&out, "token", "create", "--user", id, "--ttl",
	    "0", NULL), 2);
	free(out);
	ck_assert_int_eq(ctl(&out, "token", "create", "--user",
	    "eco_usr_nosuchuser", NULL), 1);
	free(out);
	free(tok);
	free(id);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("foundation");
	TCase	*tc = tcase_create("http");
	/* Workers that stop apart from the web server (tests/run-test). */
	TCase	*pool = tcase_create("supervisor");

	tcase_set_tags(pool, "supervisor");
	tcase_add_test(tc, health_ok);
	tcase_add_test(tc, unknown_path_404);
	tcase_add_test(tc, wrong_method_405);
	tcase_add_test(tc, huge_header_431);
	tcase_add_test(tc, many_headers_431_from_worker);
	tcase_add_test(tc, huge_body_413);
	tcase_add_test(tc, long_uri_414);
	tcase_add_test(pool, workers_down_503);
	tcase_add_test(tc, db_outage_503_and_recovery);
	tcase_add_test(tc, ctl_migrate_twice);
	tcase_add_test(tc, ctl_user_create_list_set_plan);
	tcase_add_test(tc, ctl_bad_arguments_touch_nothing);
	tcase_add_test(tc, ctl_token_create_is_accepted);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, pool);
	return itest_run(s);
}
