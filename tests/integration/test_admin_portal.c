/*
 * The admin portal's API end to end: calls per day by plan, a user's
 * page, and the actions (plan change, key revoke, ledger retry) with good
 * and bad input, each bad request checked to change nothing; the hot
 * path seeing a plan change and a revoke; the per-admin rate limit,
 * shared by the host's workers.
 *
 * Users, keys and tokens come from nexusctl, calls from their keys through
 * nginx and the workers. Fixtures written as data: raw usage rows on past
 * days (the writer stamps calls with now), a Free user's period count
 * moved to its limit, and ledger rows in the states a run leaves them.
 * The stack's key_cache_ttl is 30 s: the hot path must see a change in
 * SEEN seconds, as an action names the user's keys in the host's shared
 * region and every worker looks them up again at once.
 */
#include "config.h"

#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define DAILY		"/api/admin/analytics/daily"
#define USER		"/api/admin/users/"
#define LEDGER		"/api/admin/ledger/"
#define PING		"/api/secure/ping"
#define KEY_TTL		30
#define SEEN		3

static char	*admin_id, *admin_tok, *plain_tok;
static char	*pro_id, *pro_key, *free_id, *free_key, *bare_id;
static char	 today[16], month[16];

/* Rewrites the stack's config without keys named in drop, adds add. */
static void
configure(const char *const *drop, const char *add)
{
	const char		*path = getenv("NEXUS_CONFIG");
	const char *const	*d;
	char			 line[4096];
	struct buf		 b;
	FILE			*f;

	buf_init(&b, 1024 * 1024);
	ck_assert((f = fopen(path, "r")) != NULL);
	while (fgets(line, sizeof(line), f) != NULL) {
		for (d = drop; *d != NULL; d++)
			if (strncmp(line, *d, strlen(*d)) == 0)
				break;
		if (*d == NULL)
			buf_addstr(&b, line);
	}
	fclose(f);
	buf_addstr(&b, add);
	ck_assert((f = fopen(path, "w")) != NULL);
	ck_assert(fwrite(b.data, 1, b.len, f) == b.len);
	fclose(f);
	buf_free(&b);
	stack("workers-stop");
	stack("workers-start");
}

static char *
token(const char *id)
{
	char	*t;

	ck_assert_int_eq(ctl(&t, "token", "create", "--user", id, "--ttl",
	    "3600", NULL), 0);
	return t;
}

/* A request as tok (NULL: none) with a JSON body (NULL: none). */
static struct http *
as(const char *tok, const char *method, const char *path, const char *body)
{
	const char	*h[3] = { "Content-Type: application/json", NULL, NULL };
	char		*auth = NULL;
	struct http	*r;

	if (tok != NULL) {
		xasprintf(&auth, "Authorization: Bearer %s", tok);
		h[1] = auth;
	}
	r = http_req(method, path, body, h);
	free(auth);
	return r;
}

static struct http *
admin_req(const char *method, const char *path, const char *body)
{
	return as(admin_tok, method, path, body);
}

/* GET as the admin; asserts 200 and JSON. */
static struct http *
admin_get(const char *path)
{
	struct http	*r = admin_req("GET", path, NULL);

	ck_assert_msg(r->status == 200, "%s: %ld %s", path, r->status, r->body);
	ck_assert_msg(r->json != NULL, "%s: not JSON", path);
	return r;
}

static void
assert_error(struct http *r, long status, const char *code)
{
	ck_assert_msg(r->status == status, "status %ld, want %ld: %s",
	    r->status, status, r->body);
	ck_assert_msg(r->json != NULL, "not JSON: %s", r->body);
	ck_assert_str_eq(json_str(r->json, "error.code"), code);
	ck_assert(json_str(r->json, "error.message") != NULL);
}

static long
ping(const char *key)
{
	char		*h;
	const char	*hdrs[2];
	struct http	*r;
	long		 st;

	xasprintf(&h, "X-API-Key: %s", key);
	hdrs[0] = h;
	hdrs[1] = NULL;
	r = http_get(PING, hdrs);
	st = r->status;
	http_free(r);
	free(h);
	return st;
}

/* Polls the key's answer until it is want or secs pass; returns it. */
static long
ping_until(const char *key, long want, int secs)
{
	long	 st = 0;
	int	 i;

	for (i = 0; i < secs * 10; i++) {
		if ((st = ping(key)) == want)
			break;
		usleep(100000);
	}
	return st;
}

static long long
audit_count(const char *action)
{
	struct dbp	 p[1] = { DBP_S(action) };

	return test_db_int("SELECT COUNT(*) FROM eco_audit_log WHERE action = ?",
	    p, 1);
}

static long long
user_int(const char *sql, const char *id)
{
	struct dbp	 p[1] = { DBP_S(id) };

	return test_db_int(sql, p, 1);
}

/* n raw calls of user, days ago (at 12:00 UTC), errors of them 500s. */
static void
raw_calls(const char *user, int days, int n, int errors)
{
	struct dbp	 p[4];
	int		 i;

	for (i = 0; i < n; i++) {
		p[0] = DBP_S(user);
		p[1] = DBP_I(days);
		p[2] = DBP_I(i);
		p[3] = DBP_I(i < errors ? 500 : 200);
		test_db_exec("INSERT INTO eco_api_usage (user_id, ts, event_id, "
		    "key_id, method, endpoint, status, latency_us) VALUES (?, "
		    "UTC_DATE() - INTERVAL ? DAY + INTERVAL 12 HOUR + "
		    "INTERVAL ? SECOND, UNHEX(MD5(RAND())), 0, 'GET', "
		    "'/api/secure/ping', ?, 1000)", p, 4);
	}
}

/* A ledger row of user's in state, billed to customer; returns its id. */
static long long
ledger_row(const char *user, const char *state, const char *customer,
    long long from)
{
	struct dbp	 p[6] = { DBP_S(user), DBP_I(from), DBP_I(from + 499),
	    DBP_SNULL(customer), DBP_I(from), DBP_S(state) };

	test_db_exec("INSERT INTO eco_overage_ledger (user_id, period, "
	    "calls_from, calls_to, amount_cents, stripe_customer_id, "
	    "idempotency_key, state, attempts, last_error, created_at) VALUES "
	    "(?, DATE_FORMAT(UTC_DATE(), '%Y-%m-01'), ?, ?, 50, ?, "
	    "CONCAT('ovg_test_', MD5(RAND()), '_', ?), ?, 1, "
	    "'refused by Stripe', UTC_TIMESTAMP())", p, 6);
	return test_db_int("SELECT MAX(id) FROM eco_overage_ledger", NULL, 0);
}

START_TEST(setup_users)
{
	char		*out, *cfg;
	time_t		 now = time(NULL);
	int		 i;

	time_format_date(now, today, sizeof(today));
	time_format_date(period_start(now), month, sizeof(month));
	make_user("admin@ops.example", "free", &admin_id, NULL);
	ck_assert_int_eq(ctl(&pro_id, "user", "create", "--email",
	    "pro@shop.example", "--plan", "pro", "--stripe-customer",
	    "cus_portal_pro", NULL), 0);
	make_user("free@home.example", "free", &free_id, &free_key);
	make_user("bare@shop.example", "pro", &bare_id, NULL);
	ck_assert_int_eq(ctl(&pro_key, "key", "create", "--user", pro_id,
	    "--name", "pro key", NULL), 0);
	xasprintf(&cfg, "admin_ids = %s\nadmin_rate = 0\n"
	    "flush_interval_ms = 200\nkey_cache_ttl = %d\n", admin_id, KEY_TTL);
	configure((const char *const[]){ "admin_", NULL }, cfg);
	free(cfg);
	admin_tok = token(admin_id);
	out = NULL;
	make_user("plain@home.example", "pro", &out, NULL);
	plain_tok = token(out);
	free(out);

	for (i = 0; i < 5; i++)
		ck_assert_int_eq(ping(pro_key), 200);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(ping(free_key), 200);
	ck_assert_int_eq(wait_db_int("SELECT COUNT(*) FROM eco_api_usage",
	    NULL, 0, 8, 20), 8);
	ck_assert_int_eq(wait_db_int("SELECT COALESCE(SUM(api_calls), 0) FROM "
	    "eco_usage_records", NULL, 0, 8, 20), 8);
}
END_TEST

/* The day of history entry i of r, and the figure at path in it. */
static long long
day_int(struct http *r, size_t i, const char *path)
{
	json_object	*h = json_get(r->json, "history");

	ck_assert_uint_gt(json_object_array_length(h), i);
	return json_int(json_object_array_get_idx(h, i), path);
}

static const char *
day_date(struct http *r, size_t i)
{
	return json_str(json_object_array_get_idx(json_get(r->json, "history"),
	    i), "date");
}

START_TEST(daily_from_raw_rows_and_rollup)
{
	static const char *const bad[] = { "0", "366", "-1", "abc", "",
	    "1e3", "99999999999", "30x", NULL };
	struct http	*r;
	char		 path[128], *out;
	size_t		 i, n;
	long long	 sum = 0;

	r = admin_get(DAILY);
	ck_assert_int_eq(json_int(r->json, "days"), 30);
	n = json_object_array_length(json_get(r->json, "history"));
	ck_assert_uint_eq(n, 30);
	ck_assert_str_eq(day_date(r, 29), today);
	ck_assert_str_eq(json_str(r->json, "to"), today);
	ck_assert_str_eq(json_str(r->json, "from"), day_date(r, 0));
	ck_assert_int_eq(json_object_array_length(json_get(r->json, "plans")),
	    3);
	ck_assert_int_eq(day_int(r, 29, "calls"), 8);
	ck_assert_int_eq(day_int(r, 29, "by_plan.pro.calls"), 5);
	ck_assert_int_eq(day_int(r, 29, "by_plan.free.calls"), 3);
	ck_assert_int_eq(day_int(r, 29, "by_plan.enterprise.calls"), 0);
	ck_assert_int_eq(day_int(r, 29, "errors"), 0);
	ck_assert_int_eq(json_int(r->json, "total.calls"), 8);
	http_free(r);

	for (i = 0; bad[i] != NULL; i++) {
		snprintf(path, sizeof(path), DAILY "?days=%s", bad[i]);
		r = admin_req("GET", path, NULL);
		assert_error(r, 400, "invalid_parameter");
		http_free(r);
	}
	r = admin_get(DAILY "?days=365");
	ck_assert_uint_eq(json_object_array_length(json_get(r->json,
	    "history")), 365);
	http_free(r);

	/* Past days, before the roll-up: read from the raw rows. */
	raw_calls(pro_id, 1, 7, 2);
	raw_calls(pro_id, 40, 4, 1);
	for (i = 0; i < 2; i++) {
		r = admin_get(DAILY "?days=60");
		ck_assert_int_eq(day_int(r, 58, "calls"), 7);
		ck_assert_int_eq(day_int(r, 58, "errors"), 2);
		ck_assert_int_eq(day_int(r, 58, "by_plan.pro.calls"), 7);
		ck_assert_int_eq(day_int(r, 19, "calls"), 4);
		ck_assert_int_eq(day_int(r, 19, "by_plan.pro.errors"), 1);
		ck_assert_int_eq(day_int(r, 59, "calls"), 8);
		ck_assert_int_eq(json_int(r->json, "total.calls"), 19);
		ck_assert_int_eq(json_int(r->json, "total.errors"), 3);
		http_free(r);
		if (i == 1)
			break;
		/*
		 * Rolled up, and the past days' raw rows gone as retention
		 * deletes them: the figures stay, from the roll-up.
		 */
		{
			char from[16];

			time_format_date(time(NULL) - 40 * DAY_SECONDS, from,
			    sizeof(from));
			ck_assert_int_eq(ctl(&out, "aggregate", "--from", from,
			    "--to", today, NULL), 0);
			free(out);
		}
		test_db_exec("DELETE FROM eco_api_usage WHERE ts < UTC_DATE()",
		    NULL, 0);
	}

	/* Today is read live: a call after the roll-up counts at once. */
	raw_calls(free_id, 0, 1, 1);
	r = admin_get(DAILY "?days=60");
	ck_assert_int_eq(day_int(r, 59, "by_plan.free.calls"), 4);
	ck_assert_int_eq(day_int(r, 59, "by_plan.free.errors"), 1);
	for (i = 0; i < 60; i++)
		sum += day_int(r, i, "calls");
	ck_assert_int_eq(sum, json_int(r->json, "total.calls"));
	http_free(r);

	/* Calls count under the users' plans now, past days' too. */
	snprintf(path, sizeof(path), USER "%s/plan", pro_id);
	r = admin_req("PUT", path, "{\"plan\":\"enterprise\"}");
	ck_assert_int_eq(r->status, 200);
	http_free(r);
	r = admin_get(DAILY "?days=60");
	ck_assert_int_eq(day_int(r, 59, "by_plan.enterprise.calls"), 5);
	ck_assert_int_eq(day_int(r, 59, "by_plan.pro.calls"), 0);
	ck_assert_int_eq(day_int(r, 58, "by_plan.enterprise.calls"), 7);
	ck_assert_int_eq(day_int(r, 19, "by_plan.enterprise.errors"), 1);
	ck_assert_int_eq(json_int(r->json, "total.by_plan.enterprise.calls"),
	    16);
	http_free(r);
	r = admin_req("PUT", path, "{\"plan\":\"pro\"}");
	ck_assert_int_eq(r->status, 200);
	http_free(r);
}
END_TEST

START_TEST(user_page)
{
	struct http	*r;
	json_object	*o, *k, *l;
	char		 path[256], prefix[16];
	long long	 failed, sent;

	failed = ledger_row(pro_id, "failed", "cus_portal_pro", 101);
	sent = ledger_row(pro_id, "sent", "cus_portal_pro", 601);
	snprintf(path, sizeof(path), USER "%s", pro_id);
	r = admin_get(path);
	o = r->json;
	ck_assert_str_eq(json_str(o, "user.id"), pro_id);
	ck_assert_str_eq(json_str(o, "user.email"), "pro@shop.example");
	ck_assert_str_eq(json_str(o, "user.plan"), "pro");
	ck_assert_str_eq(json_str(o, "user.stripe_customer_id"),
	    "cus_portal_pro");
	ck_assert(json_str(o, "user.created_at") != NULL);
	ck_assert_str_eq(json_str(o, "plan.name"), "Pro");
	ck_assert_int_eq(json_int(o, "plan.price.cents"), 4900);
	ck_assert_int_eq(json_int(o, "plan.monthly_calls"), 100000);
	ck_assert_int_eq(json_int(o, "period.calls"), 5);
	ck_assert_int_eq(json_int(o, "period.limit"), 100000);
	ck_assert_int_eq(json_int(o, "period.remaining"), 99995);
	ck_assert_int_eq(json_int(o, "period.revenue.cents"), 4900);
	ck_assert_int_eq(json_int(o, "daily.days"), 30);
	ck_assert_str_eq(json_str(o, "daily.to"), today);
	ck_assert_int_eq(json_int(json_object_array_get_idx(json_get(o,
	    "daily.history"), 29), "calls"), 5);
	ck_assert_int_eq(json_int(o, "endpoints.calls"), 5 + 7);
	ck_assert_str_eq(json_str(json_object_array_get_idx(json_get(o,
	    "endpoints.endpoints"), 0), "endpoint"), PING);

	/* Keys: the prefix, never the key. */
	ck_assert_int_eq(json_object_array_length(json_get(o, "keys")), 1);
	k = json_object_array_get_idx(json_get(o, "keys"), 0);
	snprintf(prefix, sizeof(prefix), "%.12s", pro_key);
	ck_assert_str_eq(json_str(k, "prefix"), prefix);
	ck_assert_str_eq(json_str(k, "name"), "pro key");
	ck_assert_str_eq(json_str(k, "state"), "active");
	ck_assert(json_str(k, "last_used_at") != NULL);
	ck_assert(strstr(r->body, pro_key) == NULL);
	ck_assert(strstr(r->body, pro_key + 12) == NULL);
	ck_assert_int_eq(json_int(o, "key_cache_ttl"), KEY_TTL);

	/* The ledger, newest first; the audit log about the user. */
	ck_assert_int_eq(json_object_array_length(json_get(o, "ledger")), 2);
	l = json_object_array_get_idx(json_get(o, "ledger"), 0);
	ck_assert_int_eq(json_int(l, "id"), sent);
	ck_assert_str_eq(json_str(l, "state"), "sent");
	l = json_object_array_get_idx(json_get(o, "ledger"), 1);
	ck_assert_int_eq(json_int(l, "id"), failed);
	ck_assert_str_eq(json_str(l, "state"), "failed");
	ck_assert_int_eq(json_int(l, "calls"), 500);
	ck_assert_int_eq(json_int(l, "amount.cents"), 50);
	ck_assert_str_eq(json_str(l, "last_error"), "refused by Stripe");
	ck_assert_int_eq(strncmp(json_str(l, "period"), month, 7), 0);
	ck_assert_uint_eq(strlen(json_str(l, "period")), 7);
	http_free(r);
}
END_TEST

START_TEST(user_page_audit_and_refusals)
{
	static const char *const unknown[] = { "eco_usr_nope", "nope",
	    "eco_usr_%3Cb%3E", "eco_usr_a%2Fb", NULL };
	struct http	*r;
	json_object	*a;
	char		 path[512];
	size_t		 i, n;
	int		 seen = 0;

	snprintf(path, sizeof(path), USER "%s", pro_id);
	r = admin_get(path);
	a = json_get(r->json, "audit");
	n = json_object_array_length(a);
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);

		if (strcmp(json_str(e, "action"), "user.create") == 0) {
			ck_assert_str_eq(json_str(e, "actor"), "nexusctl");
			ck_assert_str_eq(json_str(e, "target"), pro_id);
			seen++;
		}
		/* Newest first. */
		if (i > 0)
			ck_assert_int_lt(json_int(e, "id"), json_int(
			    json_object_array_get_idx(a, i - 1), "id"));
	}
	ck_assert_int_eq(seen, 1);
	ck_assert_int_eq(json_object_array_length(json_get(r->json, "plans")),
	    3);
	http_free(r);

	for (i = 0; unknown[i] != NULL; i++) {
		snprintf(path, sizeof(path), USER "%s", unknown[i]);
		r = admin_req("GET", path, NULL);
		assert_error(r, 404, "not_found");
		http_free(r);
	}
	/* Longer than a path segment may be: no such endpoint. */
	snprintf(path, sizeof(path), USER "eco_usr_%080d", 7);
	r = admin_req("GET", path, NULL);
	assert_error(r, 404, "not_found");
	http_free(r);

	snprintf(path, sizeof(path), USER "%s", pro_id);
	r = as(NULL, "GET", path, NULL);
	assert_error(r, 401, "missing_token");
	http_free(r);
	r = as(plain_tok, "GET", path, NULL);
	assert_error(r, 403, "forbidden");
	ck_assert(strstr(r->body, "pro@shop.example") == NULL);
	http_free(r);
	r = admin_req("POST", path, "{}");
	assert_error(r, 405, "method_not_allowed");
	http_free(r);
}
END_TEST

START_TEST(plan_change_by_admin)
{
	static const char *const bad[] = { "", "{", "[]", "null", "\"pro\"",
	    "{\"plan\":1}", "{\"plan\":null}", "{\"plan\":\"\"}",
	    "{\"plan\":\"pro\",\"x\":1}", "{\"plan\":\"pro\"} x",
	    "{\"plan\":\"pro\"}{}", "{\"plan\":{\"a\":{\"b\":{}}}}",
	    "{\"plan\":\"pro pro\"}", "{\"plan\":\"PRO\"}", "{\"plan\":\"Pro\"}",
	    "{\"plan\":\"gold\"}", "{\"Plan\":\"pro\"}",
	    "{\"plan\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", NULL };
	static const char *const sql_plan = "SELECT COUNT(*) FROM eco_users u "
	    "JOIN eco_usage_records r ON r.user_id = u.id AND r.period = "
	    "DATE_FORMAT(UTC_DATE(), '%Y-%m-01') WHERE u.id = ? AND "
	    "u.plan_id = ? AND r.plan_id = ? AND r.price_cents = ? AND "
	    "r.revenue_cents = ?";
	struct http	*r;
	char		 path[256], big[9000];
	size_t		 i;
	long long	 changes = audit_count("admin.user.plan");

	/* The Free user at its limit is refused. */
	{
		struct dbp p[1] = { DBP_S(free_id) };
		test_db_exec("UPDATE eco_usage_records SET api_calls = 1000 "
		    "WHERE user_id = ?", p, 1);
	}
	ck_assert_int_eq(ping(free_key), 429);

	snprintf(path, sizeof(path), USER "%s/plan", free_id);
	for (i = 0; bad[i] != NULL; i++) {
		r = admin_req("PUT", path, bad[i]);
		ck_assert_msg(r->status == 400, "%s: %ld %s", bad[i], r->status,
		    r->body);
		ck_assert_str_eq(json_str(r->json, "error.code"),
		    "invalid_body");
		http_free(r);
	}
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "{\"plan\":\"pro\"", 13);
	big[sizeof(big) - 2] = '}';
	r = admin_req("PUT", path, big);
	assert_error(r, 413, "body_too_large");
	http_free(r);
	/* Nothing changed: the plan, its period's terms, the audit log. */
	{
		struct dbp p[5] = { DBP_S(free_id), DBP_S("free"),
		    DBP_S("free"), DBP_I(0), DBP_I(0) };
		ck_assert_int_eq(test_db_int(sql_plan, p, 5), 1);
	}
	ck_assert_int_eq(audit_count("admin.user.plan"), changes);

	r = admin_req("PUT", USER "eco_usr_nope/plan", "{\"plan\":\"pro\"}");
	assert_error(r, 404, "not_found");
	http_free(r);
	r = admin_req("PUT", path, "{\"plan\":\"free\"}");
	assert_error(r, 409, "conflict");
	http_free(r);
	r = admin_req("GET", path, NULL);
	assert_error(r, 405, "method_not_allowed");
	http_free(r);
	ck_assert_int_eq(audit_count("admin.user.plan"), changes);
	ck_assert_int_eq(ping(free_key), 429);

	r = admin_req("PUT", path, " {\"plan\": \"pro\"}\n");
	ck_assert_msg(r->status == 200, "%ld %s", r->status, r->body);
	ck_assert_str_eq(json_str(r->json, "plan"), "pro");
	ck_assert_str_eq(json_str(r->json, "previous_plan"), "free");
	ck_assert_str_eq(json_str(r->json, "user_id"), free_id);
	ck_assert_int_eq(json_int(r->json, "key_cache_ttl"), KEY_TTL);
	http_free(r);
	{
		struct dbp p[5] = { DBP_S(free_id), DBP_S("pro"), DBP_S("pro"),
		    DBP_I(4900), DBP_I(4900) };
		ck_assert_int_eq(test_db_int(sql_plan, p, 5), 1);
	}
	/* The audit row: the admin, the user, what changed, from where. */
	{
		struct dbp p[2] = { DBP_S(admin_id), DBP_S(free_id) };
		ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_audit_log "
		    "WHERE action = 'admin.user.plan' AND actor = ? AND "
		    "target = ? AND JSON_VALUE(detail, '$.from') = 'free' AND "
		    "JSON_VALUE(detail, '$.to') = 'pro' AND "
		    "remote_addr = '127.0.0.1'", p, 2), 1);
	}
	/* The hot path admits the Pro user past the Free limit. */
	ck_assert_int_eq(ping_until(free_key, 200, SEEN), 200);
	snprintf(path, sizeof(path), USER "%s", free_id);
	r = admin_get(path);
	ck_assert_str_eq(json_str(r->json, "plan.id"), "pro");
	ck_assert_int_eq(json_int(r->json, "period.limit"), 100000);
	ck_assert_int_eq(json_int(r->json, "period.revenue.cents"), 4900);
	http_free(r);
}
END_TEST

START_TEST(key_revoke_by_admin)
{
	static const char *const bad[] = { "abc", "0", "-1", "1.5", "+1",
	    "99999999999999999999", "%201", "1%2F2", NULL };
	struct http	*r;
	char		*key2, path[256];
	long long	 id2, free_kid;
	size_t		 i;
	long long	 revokes = audit_count("key.revoke");

	ck_assert_int_eq(ctl(&key2, "key", "create", "--user", pro_id,
	    "--name", "second", NULL), 0);
	ck_assert_int_eq(ping(key2), 200);
	id2 = user_int("SELECT MAX(id) FROM eco_api_keys WHERE user_id = ?",
	    pro_id);
	free_kid = user_int("SELECT MIN(id) FROM eco_api_keys WHERE "
	    "user_id = ?", free_id);

	/* Another user's key, unknown and malformed ids: 404, no change. */
	snprintf(path, sizeof(path), USER "%s/keys/%lld", pro_id, free_kid);
	r = admin_req("DELETE", path, NULL);
	assert_error(r, 404, "not_found");
	http_free(r);
	snprintf(path, sizeof(path), USER "%s/keys/%lld", pro_id, id2 + 1000);
	r = admin_req("DELETE", path, NULL);
	assert_error(r, 404, "not_found");
	http_free(r);
	for (i = 0; bad[i] != NULL; i++) {
		snprintf(path, sizeof(path), USER "%s/keys/%s", pro_id, bad[i]);
		r = admin_req("DELETE", path, NULL);
		ck_assert_msg(r->status == 404, "%s: %ld %s", bad[i],
		    r->status, r->body);
		http_free(r);
	}
	snprintf(path, sizeof(path), USER "eco_usr_nope/keys/%lld", id2);
	r = admin_req("DELETE", path, NULL);
	assert_error(r, 404, "not_found");
	http_free(r);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_api_keys "
	    "WHERE revoked_at IS NOT NULL", NULL, 0), 0);
	ck_assert_int_eq(audit_count("key.revoke"), revokes);
	ck_assert_int_eq(ping(free_key), 200);

	snprintf(path, sizeof(path), USER "%s/keys/%lld", pro_id, id2);
	r = admin_req("DELETE", path, NULL);
	ck_assert_msg(r->status == 200, "%ld %s", r->status, r->body);
	ck_assert_str_eq(json_str(r->json, "key.state"), "revoked");
	ck_assert_int_eq(json_int(r->json, "key.id"), id2);
	ck_assert(json_str(r->json, "key.revoked_at") != NULL);
	ck_assert(strstr(r->body, key2) == NULL);
	http_free(r);
	{
		struct dbp p[3] = { DBP_S(admin_id), DBP_S(pro_id), DBP_I(id2) };
		ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_audit_log "
		    "WHERE action = 'key.revoke' AND actor = ? AND "
		    "target = ? AND JSON_VALUE(detail, '$.key_id') = ?", p, 3),
		    1);
	}
	ck_assert_int_eq(ping_until(key2, 401, SEEN), 401);
	ck_assert_int_eq(ping(pro_key), 200);
	r = admin_req("DELETE", path, NULL);
	assert_error(r, 409, "conflict");
	http_free(r);
	ck_assert_int_eq(audit_count("key.revoke"), revokes + 1);
	free(key2);
}
END_TEST

START_TEST(ledger_row_retried)
{
	static const char *const sql_state = "SELECT COUNT(*) FROM "
	    "eco_overage_ledger WHERE id = ? AND state = ? AND "
	    "COALESCE(stripe_customer_id, '') = ?";
	struct http	*r;
	char		 path[128], cmd[1024];
	long long	 failed, sent, bare, other;
	long long	 retries = audit_count("admin.ledger.retry");

	/* Billed to an old customer: the retry bills the user's now. */
	failed = ledger_row(pro_id, "failed", "cus_old", 1101);
	sent = user_int("SELECT MIN(id) FROM eco_overage_ledger WHERE "
	    "user_id = ? AND state = 'sent'", pro_id);
	bare = ledger_row(bare_id, "failed", NULL, 101);
	other = ledger_row(pro_id, "failed", "cus_portal_pro", 1601);

	r = admin_req("POST", LEDGER "999999/retry", NULL);
	assert_error(r, 404, "not_found");
	http_free(r);
	r = admin_req("POST", LEDGER "x/retry", NULL);
	assert_error(r, 404, "not_found");
	http_free(r);
	snprintf(path, sizeof(path), LEDGER "%lld/retry", other);
	r = admin_req("POST", path, "{\"now\":true}");
	assert_error(r, 400, "invalid_body");
	http_free(r);
	r = admin_req("POST", path, "[");
	assert_error(r, 400, "invalid_body");
	http_free(r);
	snprintf(path, sizeof(path), LEDGER "%lld/retry", sent);
	r = admin_req("POST", path, NULL);
	assert_error(r, 409, "conflict");
	http_free(r);
	snprintf(path, sizeof(path), LEDGER "%lld/retry", bare);
	r = admin_req("POST", path, "{}");
	assert_error(r, 409, "no_customer");
	http_free(r);
	{
		struct dbp p[3] = { DBP_I(other), DBP_S("failed"),
		    DBP_S("cus_portal_pro") };
		ck_assert_int_eq(test_db_int(sql_state, p, 3), 1);
		struct dbp q[3] = { DBP_I(bare), DBP_S("failed"), DBP_S("") };
		ck_assert_int_eq(test_db_int(sql_state, q, 3), 1);
	}
	ck_assert_int_eq(audit_count("admin.ledger.retry"), retries);

	snprintf(path, sizeof(path), LEDGER "%lld/retry", failed);
	r = admin_req("POST", path, "{}");
	ck_assert_msg(r->status == 200, "%ld %s", r->status, r->body);
	ck_assert_str_eq(json_str(r->json, "ledger.state"), "pending");
	ck_assert_str_eq(json_str(r->json, "ledger.stripe_customer_id"),
	    "cus_portal_pro");
	http_free(r);
	{
		struct dbp p[3] = { DBP_I(failed), DBP_S("pending"),
		    DBP_S("cus_portal_pro") };
		ck_assert_int_eq(test_db_int(sql_state, p, 3), 1);
		struct dbp q[3] = { DBP_S(admin_id), DBP_S(pro_id),
		    DBP_I(failed) };
		ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM "
		    "eco_audit_log WHERE action = 'admin.ledger.retry' AND "
		    "actor = ? AND target = ? AND "
		    "JSON_VALUE(detail, '$.ledger_id') = ?", q, 3), 1);
	}
	r = admin_req("POST", path, NULL);
	assert_error(r, 409, "conflict");
	http_free(r);

	/* The next overage run sends it. */
	snprintf(cmd, sizeof(cmd), "'%s/src/nexus-overage' >/dev/null 2>&1",
	    getenv("top_builddir"));
	(void)system(cmd);
	{
		struct dbp p[1] = { DBP_I(failed) };
		ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM "
		    "eco_overage_ledger WHERE id = ? AND state = 'sent' AND "
		    "stripe_item_id LIKE 'ii_%'", p, 1), 1);
	}
}
END_TEST

/*
 * admin_rate 1 a second in bursts of 3, for all workers of the host
 * together: 20 requests at once over 4 connections get 3 answers (one
 * more per second they take), not 3 per worker.
 */
/* An admin sets, sees and removes a Pro user's spend cap. */
START_TEST(spend_cap_by_admin)
{
	static const char *const bad[] = { "", "{}", "{\"cap_cents\":-1}",
	    "{\"cap_cents\":\"5\"}", "{\"cap_cents\":1.5}",
	    "{\"cap\":5}", "{\"cap_cents\":5,\"x\":1}", NULL };
	struct http	*r;
	char		 path[256];
	size_t		 i;
	long long	 sets = audit_count("billing.spend_cap");

	snprintf(path, sizeof(path), USER "%s/spend-cap", pro_id);
	for (i = 0; bad[i] != NULL; i++) {
		r = admin_req("PUT", path, bad[i]);
		ck_assert_msg(r->status == 400, "%s: %ld %s", bad[i], r->status,
		    r->body);
		http_free(r);
	}
	r = admin_req("PUT", USER "eco_usr_nope/spend-cap",
	    "{\"cap_cents\":0}");
	assert_error(r, 404, "not_found");
	http_free(r);
	/* The admin is on Free: nothing to cap. */
	snprintf(path, sizeof(path), USER "%s/spend-cap", admin_id);
	r = admin_req("PUT", path, "{\"cap_cents\":0}");
	assert_error(r, 409, "spend_cap_unavailable");
	http_free(r);
	r = as(plain_tok, "PUT", path, "{\"cap_cents\":0}");
	assert_error(r, 403, "forbidden");
	http_free(r);
	sets = audit_count("billing.spend_cap");

	/* At the allowance with a cap of $0: refused, at once on this host. */
	{
		struct dbp p[1] = { DBP_S(pro_id) };
		test_db_exec("UPDATE eco_usage_records SET api_calls = 100000 "
		    "WHERE user_id = ? AND period = DATE_FORMAT(UTC_DATE(), "
		    "'%Y-%m-01')", p, 1);
	}
	snprintf(path, sizeof(path), USER "%s/spend-cap", pro_id);
	r = admin_req("PUT", path, "{\"cap_cents\":0}");
	ck_assert_msg(r->status == 200, "%ld %s", r->status, r->body);
	ck_assert_int_eq(json_int(r->json, "cap_cents"), 0);
	http_free(r);
	ck_assert_int_eq(ping_until(pro_key, 429, SEEN), 429);
	ck_assert_int_eq(audit_count("billing.spend_cap"), sets + 1);
	{
		struct dbp p[2] = { DBP_S(admin_id), DBP_S(pro_id) };
		ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_audit_log "
		    "WHERE action = 'billing.spend_cap' AND actor = ? AND "
		    "target = ?", p, 2), 1);
	}
	snprintf(path, sizeof(path), USER "%s", pro_id);
	r = admin_get(path);
	ck_assert_int_eq(json_int(r->json, "spend_cap.cap_cents"), 0);
	ck_assert_int_eq(json_int(r->json, "spend_cap.reached"), 1);
	http_free(r);

	/* Removed: the Pro user's overage is served again. */
	snprintf(path, sizeof(path), USER "%s/spend-cap", pro_id);
	r = admin_req("PUT", path, "{\"cap_cents\":null}");
	ck_assert_msg(r->status == 200, "%ld %s", r->status, r->body);
	http_free(r);
	ck_assert_int_eq(ping_until(pro_key, 200, SEEN), 200);
	snprintf(path, sizeof(path), USER "%s", pro_id);
	r = admin_get(path);
	ck_assert_int_eq(json_int(r->json, "spend_cap.applies"), 0);
	http_free(r);
}
END_TEST

START_TEST(rate_limited_per_admin)
{
	struct load_res	 res[20];
	struct http	*r;
	char		*h, *second, *second_tok, *cfg, ra[16], path[256];
	struct timespec	 t0, t1;
	double		 secs;
	size_t		 ok;
	long long	 limited;

	make_user("second@ops.example", "free", &second, NULL);
	xasprintf(&cfg, "admin_ids = %s,%s\nadmin_rate = 1\nadmin_burst = 3\n",
	    admin_id, second);
	configure((const char *const[]){ "admin_", NULL }, cfg);
	free(cfg);
	second_tok = token(second);
	limited = audit_count("admin.rate_limited");

	xasprintf(&h, "Authorization: Bearer %s", admin_tok);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	load_run(DAILY "?days=1", h, 20, 4, res);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ok = load_count(res, 20, 200);
	ck_assert_uint_eq(ok + load_count(res, 20, 429), 20);
	ck_assert_msg(ok >= 3 && ok <= 3 + (size_t)secs + 1,
	    "%zu answered in %.2f s", ok, secs);

	/* Past it: 429 with Retry-After, and nothing done. */
	snprintf(path, sizeof(path), USER "%s/plan", bare_id);
	r = admin_req("PUT", path, "{\"plan\":\"enterprise\"}");
	assert_error(r, 429, "rate_limited");
	ck_assert(http_hdr(r, "Retry-After", ra, sizeof(ra)) != NULL);
	ck_assert_msg(atoi(ra) >= 1 && atoi(ra) <= 2, "Retry-After: %s", ra);
	http_free(r);
	ck_assert_int_eq(user_int("SELECT COUNT(*) FROM eco_users WHERE "
	    "id = ? AND plan_id = 'pro'", bare_id), 1);

	/* Each admin has a bucket; non-admins are refused as before. */
	r = as(second_tok, "GET", DAILY "?days=1", NULL);
	ck_assert_int_eq(r->status, 200);
	http_free(r);
	r = as(plain_tok, "GET", DAILY "?days=1", NULL);
	assert_error(r, 403, "forbidden");
	http_free(r);

	/* Refusals are audited, at most once a second. */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_int_ge(audit_count("admin.rate_limited"), limited + 1);
	ck_assert_int_le(audit_count("admin.rate_limited"),
	    limited + (long long)secs + 2);

	/* A token comes back after Retry-After. */
	sleep(2);
	r = admin_req("GET", DAILY "?days=1", NULL);
	ck_assert_int_eq(r->status, 200);
	http_free(r);
	free(h);
	free(second);
	free(second_tok);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("admin_portal");
	TCase	*tc = tcase_create("admin_portal");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, setup_users);
	tcase_add_test(tc, daily_from_raw_rows_and_rollup);
	tcase_add_test(tc, user_page);
	tcase_add_test(tc, user_page_audit_and_refusals);
	tcase_add_test(tc, plan_change_by_admin);
	tcase_add_test(tc, key_revoke_by_admin);
	tcase_add_test(tc, ledger_row_retried);
	tcase_add_test(tc, spend_cap_by_admin);
	tcase_add_test(tc, rate_limited_per_admin);
	suite_add_tcase(s, tc);
	return itest_run(s);
}
