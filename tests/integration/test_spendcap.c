/*
 * The overage spend cap end to end: GET/PUT /api/billing/spend-cap with a
 * user's JWT, the hot path refusing calls past the cap (exactly, under 64
 * concurrent clients) with its rate-limit headers, the usage API, and the
 * biller billing no more than the cap at the fake Stripe.
 *
 * Two plans of the test's own keep it fast: captest (100 calls, then
 * $0.001 a call) and capodd (10 calls, then $0.003 a call: a price that
 * does not divide a cent).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "usage_fixture.h"

#define PING		"/api/secure/ping"
#define CAP		"/api/billing/spend-cap"
#define CRON_SECRET	"dev-cron-secret-change-me-0123456789"

static const char *const sql_row = "SELECT COALESCE(MAX(CONCAT_WS('/', "
    "api_calls, overage_calls, revenue_cents, COALESCE(cap_cents, 'null'))), "
    "'none') FROM eco_usage_records WHERE user_id = ? "
    "AND period = FROM_UNIXTIME(?)";
static const char *const sql_user_cap = "SELECT COALESCE(spend_cap_cents, -1) "
    "FROM eco_users WHERE id = ?";
static const char *const sql_audits = "SELECT COUNT(*) FROM eco_audit_log "
    "WHERE target = ? AND action = 'billing.spend_cap'";

/* ------------------------------------------------------------ helpers */

/* Whether o has key, as JSON null. */
static int
is_null(json_object *o, const char *key)
{
	json_object	*v;

	return json_object_object_get_ex(o, key, &v) && v == NULL;
}

static void
plans_add(void)
{
	test_db_exec("INSERT IGNORE INTO eco_plans (id, name, monthly_calls, "
	    "hard_limit, price_cents, overage_micros, sort_order) VALUES "
	    "('captest', 'Cap test', 100, 0, 4900, 1000, 8), "
	    "('capodd', 'Cap odd', 10, 0, 4900, 3000, 9)", NULL, 0);
}

/* A user on plan with a Stripe customer of its own (NULL: none), no key. */
static char *
mkuser(const char *plan, const char *customer)
{
	static int	 n;
	char		 email[64], *id;

	struct db	*db;

	snprintf(email, sizeof(email), "cap%d-%ld@example.com", ++n,
	    (long)getpid());
	if (customer != NULL)
		ck_assert_int_eq(ctl(&id, "user", "create", "--email", email,
		    "--plan", "pro", "--stripe-customer", customer, NULL), 0);
	else
		ck_assert_int_eq(ctl(&id, "user", "create", "--email", email,
		    "--plan", "pro", NULL), 0);
	/* nexusctl knows the three standard plans; the test's own by SQL. */
	db = test_db();
	ck_assert_int_eq(user_set_plan(db, id, plan), USER_OK);
	db_close(db);
	return id;
}

/* method CAP with body (NULL: none) as user (NULL: no token). */
static struct http *
cap_req(const char *method, const char *user, const char *body)
{
	char		*tok = user != NULL ? fx_token(user, 600) : NULL;
	char		*auth = NULL;
	const char	*h[3] = { "Content-Type: application/json", NULL, NULL };
	struct http	*r;

	if (tok != NULL) {
		xasprintf(&auth, "Authorization: Bearer %s", tok);
		h[1] = auth;
	}
	r = http_req(method, CAP, body, h);
	free(auth);
	free(tok);
	return r;
}

/* PUT CAP body as user; the status must be want. */
static void
cap_put(const char *user, const char *body, long want)
{
	struct http	*r = cap_req("PUT", user, body);

	ck_assert_msg(r->status == want, "PUT %s: %ld, want %ld: %s", body,
	    r->status, want, r->body);
	http_free(r);
}

static struct http *
ping(const char *key)
{
	char		 h[128];
	const char	*hdrs[2] = { h, NULL };

	snprintf(h, sizeof(h), "X-API-Key: %s", key);
	return http_get(PING, hdrs);
}

static long long
hdr_int(const struct http *r, const char *name)
{
	char		 v[64];
	long long	 n;

	ck_assert_msg(http_hdr(r, name, v, sizeof(v)) != NULL, "no %s", name);
	ck_assert_msg(parse_int(v, -1, INT64_MAX, &n) == 0, "%s: %s", name, v);
	return n;
}

/* "api_calls/overage_calls/revenue_cents/cap_cents" of this period. */
static char *
row(const char *user)
{
	struct dbp	 p[2] = { DBP_S(user), DBP_I(period_start(time(NULL))) };

	return fx_str(sql_row, p, 2);
}

static void
row_is(const char *user, const char *want)
{
	char	*got = row(user);

	ck_assert_msg(strcmp(got, want) == 0, "%s: period row %s, want %s",
	    user, got, want);
	free(got);
}

static long long
user_int(const char *sql, const char *user)
{
	struct dbp	 p[1] = { DBP_S(user) };

	return test_db_int(sql, p, 1);
}

/* Sets the period row's calls (and overage past allowance) by hand. */
static void
calls_set(const char *user, time_t period, long long calls, long long allow)
{
	struct dbp	 p[4] = { DBP_I(calls), DBP_I(calls > allow ?
	    calls - allow : 0), DBP_S(user), DBP_I(period) };

	test_db_exec("UPDATE eco_usage_records SET api_calls = ?, "
	    "overage_calls = ? WHERE user_id = ? AND period = FROM_UNIXTIME(?)",
	    p, 4);
}

static size_t
on_data(char *p, size_t sz, size_t n, void *arg)
{
	return buf_add(arg, p, sz * n) == -1 ? 0 : sz * n;
}

/* The cents of the fake Stripe's items for customer; *n: how many. */
static long long
stripe_cents(const char *customer, size_t *n)
{
	static struct config	 cfg;
	static int		 loaded;
	CURL			*c = curl_easy_init();
	struct buf		 b;
	char			 url[512];
	json_object		*j, *items;
	long long		 sum = 0;
	size_t			 i;

	if (!loaded) {
		ck_assert(config_load(&cfg, NULL) == 0);
		loaded = 1;
	}
	buf_init(&b, 16 * 1024 * 1024);
	snprintf(url, sizeof(url), "%s/_control/items?customer=%s",
	    cfg.stripe_api_base, customer);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	ck_assert(curl_easy_perform(c) == CURLE_OK);
	curl_easy_cleanup(c);
	buf_add(&b, "", 1);
	ck_assert((j = json_tokener_parse(b.data)) != NULL);
	ck_assert(json_object_object_get_ex(j, "items", &items));
	*n = json_object_array_length(items);
	for (i = 0; i < *n; i++)
		sum += json_int(json_object_array_get_idx(items, i), "amount");
	json_object_put(j);
	buf_free(&b);
	return sum;
}

/* Runs the overage biller as cron does over HTTP; it must answer 200. */
static void
bill(void)
{
	const char	*h[2] = { "Authorization: Bearer " CRON_SECRET, NULL };
	struct http	*r = http_req("POST", "/api/cron/process-overage", "",
	    h);

	ck_assert_msg(r->status == 200, "biller: %ld %s", r->status, r->body);
	http_free(r);
}

/* The ledger's calls_from-calls_to of user, oldest first. */
static char *
ledger(const char *user)
{
	struct dbp	 p[1] = { DBP_S(user) };

	return fx_rows("SELECT calls_from, calls_to, amount_cents FROM "
	    "eco_overage_ledger WHERE user_id = ? ORDER BY id", p, 1, 3);
}

/* --------------------------------------------------------------- tests */

START_TEST(setup_plans)
{
	plans_add();
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_plans "
	    "WHERE id IN ('captest', 'capodd')", NULL, 0), 2);
}
END_TEST

/*
 * 64 clients over every worker at a capped user: exactly the allowance
 * and the calls the cap pays for get through, and the writer, which sees
 * every event, counts none of them again.
 */
START_TEST(cap_exact_under_concurrency)
{
	char		*user = mkuser("captest", NULL), *key = fx_key(user), *h;
	struct load_res	*res = xcalloc(400, sizeof(*res));
	struct http	*r;

	cap_put(user, "{\"cap_cents\": 5}", 200);	/* 50 calls */
	xasprintf(&h, "X-API-Key: %s", key);
	load_run(PING, h, 400, 64, res);
	ck_assert_uint_eq(load_count(res, 400, 200), 150);
	ck_assert_uint_eq(load_count(res, 400, 429), 250);
	fx_wait_rows(user, 400);
	row_is(user, "150/50/4905/5");
	r = ping(key);
	ck_assert_int_eq(r->status, 429);
	ck_assert_str_eq(json_str(r->json, "error.code"), "spend_cap_reached");
	ck_assert_msg(strstr(json_str(r->json, "error.message"), "$0.05") !=
	    NULL, "%s", r->body);
	http_free(r);
	fx_wait_rows(user, 401);
	row_is(user, "150/50/4905/5");
	free(res);
	free(h);
	free(key);
	free(user);
}
END_TEST

/*
 * Headers at a price that does not divide a cent: 10 cents buys 33 calls
 * at $0.003 (99,000 micro-dollars), so the limit is 10 + 33. Raising,
 * removing and zeroing the cap hold at once on this host.
 */
START_TEST(cap_headers_and_changes)
{
	char		*user = mkuser("capodd", NULL), *key = fx_key(user);
	time_t		 now = time(NULL), reset = period_end(now);
	struct http	*r;
	char		 v[128];
	long long	 i, retry;

	cap_put(user, "{\"cap_cents\": 10}", 200);
	calls_set(user, period_start(now), 40, 10);
	for (i = 1; i <= 3; i++) {
		r = ping(key);
		ck_assert_msg(r->status == 200, "call %lld: %ld", i, r->status);
		ck_assert_int_eq(hdr_int(r, "X-RateLimit-Limit"), 43);
		ck_assert_int_eq(hdr_int(r, "X-RateLimit-Used"), 40 + i);
		ck_assert_int_eq(hdr_int(r, "X-RateLimit-Remaining"), 3 - i);
		ck_assert_int_eq(hdr_int(r, "X-RateLimit-Overage"), 30 + i);
		snprintf(v, sizeof(v), "\"monthly\";q=43;w=%lld",
		    (long long)(reset - period_start(now)));
		ck_assert_str_eq(http_hdr(r, "RateLimit-Policy", v, sizeof(v)),
		    v);
		http_free(r);
	}
	/* 33 overage calls at $0.003: 9 cents (99,000 micros) so far. */
	row_is(user, "43/33/4909/10");
	r = ping(key);
	ck_assert_int_eq(r->status, 429);
	ck_assert_str_eq(json_str(r->json, "error.code"), "spend_cap_reached");
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Limit"), 43);
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Remaining"), 0);
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Used"), 43);
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Reset"), (long long)reset);
	retry = hdr_int(r, "Retry-After");
	ck_assert_msg(retry >= reset - time(NULL) - 2 && retry <= reset - now,
	    "Retry-After %lld", retry);
	ck_assert_msg(strstr(http_hdr(r, "RateLimit", v, sizeof(v)), "r=0;") !=
	    NULL, "RateLimit: %s", v);
	http_free(r);
	row_is(user, "43/33/4909/10");

	/* Raised: the next call is admitted, under the new limit. */
	cap_put(user, "{\"cap_cents\": 20}", 200);	/* 66 calls */
	r = ping(key);
	ck_assert_int_eq(r->status, 200);
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Limit"), 76);
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Remaining"), 32);
	http_free(r);

	/* Zero: no overage at all, refused at once. */
	cap_put(user, "{\"cap_cents\": 0}", 200);
	r = ping(key);
	ck_assert_int_eq(r->status, 429);
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Limit"), 10);
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Used"), 44);
	http_free(r);
	/* The period's revenue counts no overage past the cap. */
	row_is(user, "44/34/4900/0");

	/* Removed: the plain soft limit again, past it as overage. */
	cap_put(user, "{\"cap_cents\": null}", 200);
	r = ping(key);
	ck_assert_int_eq(r->status, 200);
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Limit"), 10);
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Remaining"), 0);
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Overage"), 35);
	http_free(r);
	free(key);
	free(user);
}
END_TEST

/* GET and /api/usage/current show the cap and how close the user is. */
START_TEST(cap_shown)
{
	char		*user = mkuser("captest", NULL), *tok;
	struct http	*r;

	r = cap_req("GET", user, NULL);
	ck_assert_int_eq(r->status, 200);
	ck_assert(is_null(r->json, "cap_cents"));
	ck_assert(json_object_get_boolean(json_get(r->json, "available")));
	ck_assert(!json_object_get_boolean(json_get(r->json, "applies")));
	http_free(r);

	cap_put(user, "{\"cap_cents\": 250}", 200);	/* 2,500 calls */
	calls_set(user, period_start(time(NULL)), 600, 100);
	r = cap_req("GET", user, NULL);
	ck_assert_int_eq(r->status, 200);
	ck_assert_int_eq(json_int(r->json, "cap_cents"), 250);
	ck_assert_str_eq(json_str(r->json, "cap_formatted"), "$2.50");
	ck_assert_int_eq(json_int(r->json, "cap_calls"), 2500);
	ck_assert_int_eq(json_int(r->json, "limit"), 2600);
	ck_assert_int_eq(json_int(r->json, "calls_used"), 600);
	ck_assert_int_eq(json_int(r->json, "remaining"), 2000);
	ck_assert_int_eq(json_int(r->json, "overage_cents"), 50);
	ck_assert_str_eq(json_str(r->json, "percent_of_cap"), "20.00");
	ck_assert(!json_object_get_boolean(json_get(r->json, "reached")));
	ck_assert_int_eq(json_int(r->json, "key_cache_ttl"), 30);
	http_free(r);

	tok = fx_token(user, 600);
	r = fx_get("/api/usage/current", tok);
	ck_assert_int_eq(r->status, 200);
	ck_assert_int_eq(json_int(r->json, "spend_cap.cap_cents"), 250);
	ck_assert_int_eq(json_int(r->json, "spend_cap.remaining"), 2000);
	ck_assert_int_eq(json_int(r->json, "limit"), 100);
	http_free(r);
	free(tok);

	/* A Free user has no cap to show. */
	free(user);
	user = mkuser("free", NULL);
	tok = fx_token(user, 600);
	r = fx_get("/api/usage/current", tok);
	ck_assert_int_eq(r->status, 200);
	ck_assert(is_null(r->json, "spend_cap"));
	http_free(r);
	free(tok);
	free(user);
}
END_TEST

/* Bad inputs: a clear error each, and nothing changes. */
START_TEST(cap_bad_inputs)
{
	static const char *const bad[] = {
		"", "{}", "{\"cap_cents\": -1}", "{\"cap_cents\": 1.5}",
		"{\"cap_cents\": \"500\"}", "{\"cap_cents\": true}",
		"{\"cap_cents\": 100000001}", "{\"cap_cents\": 1e3}",
		"{\"cap_cents\": 99999999999999999999999}",
		"{\"cap_cents\": 5, \"cap_cents\": 6}",
		"{\"cap_cents\": 5, \"currency\": \"usd\"}",
		"{\"cap_cents\": [5]}", "[5]", "5", "null", "{\"cap_cents\": 5",
		"{'cap_cents': 5}", "{\"cap_cents\": 5} {}",
	};
	char		*user = mkuser("captest", NULL), *free_user, *ent, *big;
	struct http	*r;
	size_t		 i;

	cap_put(user, "{\"cap_cents\": 700}", 200);
	ck_assert_int_eq(user_int(sql_audits, user), 1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = cap_req("PUT", user, bad[i]);
		ck_assert_msg(r->status == 400, "%s: %ld %s", bad[i],
		    r->status, r->body);
		ck_assert_str_eq(json_str(r->json, "error.code"),
		    "invalid_body");
		http_free(r);
	}
	big = xcalloc(1, 9000);
	memset(big, ' ', 8990);
	memcpy(big + 8980, "{\"cap_cents\":1}", 15);
	cap_put(user, big, 413);
	free(big);
	cap_put(NULL, "{\"cap_cents\": 1}", 401);
	r = http_req("PUT", CAP, "{\"cap_cents\": 1}", (const char *const[]){
	    "Authorization: Bearer not.a.jwt", NULL });
	ck_assert_int_eq(r->status, 401);
	http_free(r);
	r = cap_req("DELETE", user, NULL);
	ck_assert_int_eq(r->status, 405);
	http_free(r);
	ck_assert_int_eq(user_int(sql_user_cap, user), 700);
	ck_assert_int_eq(user_int(sql_audits, user), 1);
	row_is(user, "0/0/4900/700");

	/* The same cap again changes nothing and is not audited. */
	cap_put(user, "{\"cap_cents\": 700}", 200);
	ck_assert_int_eq(user_int(sql_audits, user), 1);

	/* Plans without overage: 409, nothing changes; null is fine. */
	free_user = mkuser("free", NULL);
	ent = mkuser("enterprise", NULL);
	r = cap_req("PUT", free_user, "{\"cap_cents\": 100}");
	ck_assert_int_eq(r->status, 409);
	ck_assert_str_eq(json_str(r->json, "error.code"),
	    "spend_cap_unavailable");
	http_free(r);
	cap_put(ent, "{\"cap_cents\": 0}", 409);
	cap_put(free_user, "{\"cap_cents\": null}", 200);
	ck_assert_int_eq(user_int(sql_user_cap, free_user), -1);
	ck_assert_int_eq(user_int(sql_user_cap, ent), -1);
	ck_assert_int_eq(user_int(sql_audits, free_user), 0);
	ck_assert_int_eq(user_int(sql_audits, ent), 0);

	/* Removal, audited with the user as actor. */
	cap_put(user, "{\"cap_cents\": null}", 200);
	ck_assert_int_eq(user_int(sql_user_cap, user), -1);
	row_is(user, "0/0/4900/null");
	{
		struct dbp p[1] = { DBP_S(user) };
		char *a = fx_rows("SELECT actor, detail FROM eco_audit_log "
		    "WHERE target = ? AND action = 'billing.spend_cap' "
		    "ORDER BY id", p, 1, 2);
		char *want;

		xasprintf(&want, "%s|{\"from_cents\":null,\"to_cents\":700}\n"
		    "%s|{\"from_cents\":700,\"to_cents\":null}\n", user, user);
		ck_assert_str_eq(a, want);
		free(a);
		free(want);
	}
	free(free_user);
	free(ent);
	free(user);
}
END_TEST

/* One user's cap is theirs alone: another's token changes only its own. */
START_TEST(cap_isolation)
{
	char	*a = mkuser("captest", NULL), *b = mkuser("captest", NULL);
	char	*kb = fx_key(b);
	struct http *r;

	cap_put(a, "{\"cap_cents\": 0}", 200);
	ck_assert_int_eq(user_int(sql_user_cap, b), -1);
	calls_set(b, period_start(time(NULL)), 100, 100);
	r = ping(kb);
	ck_assert_int_eq(r->status, 200);	/* b is uncapped */
	http_free(r);
	r = cap_req("GET", b, NULL);
	ck_assert(is_null(r->json, "cap_cents"));
	http_free(r);
	free(kb);
	free(a);
	free(b);
}
END_TEST

/* The biller bills exactly what the cap pays for, from the hot path. */
START_TEST(biller_bills_the_cap)
{
	char		*user = mkuser("captest", "cus_capA"), *key = fx_key(user);
	char		*h, *l;
	struct load_res	*res = xcalloc(200, sizeof(*res));
	size_t		 n;

	cap_put(user, "{\"cap_cents\": 5}", 200);
	xasprintf(&h, "X-API-Key: %s", key);
	load_run(PING, h, 200, 64, res);
	ck_assert_uint_eq(load_count(res, 200, 200), 150);
	fx_wait_rows(user, 200);
	bill();
	ck_assert_int_eq(stripe_cents("cus_capA", &n), 5);
	ck_assert_uint_eq(n, 1);
	l = ledger(user);
	ck_assert_str_eq(l, "101|150|5\n");
	free(l);
	bill();		/* nothing more */
	ck_assert_int_eq(stripe_cents("cus_capA", &n), 5);
	ck_assert_uint_eq(n, 1);
	free(res);
	free(h);
	free(key);
	free(user);
}
END_TEST

/*
 * A cap lowered after the calls: the period bills up to the cap and no
 * more; the calls past it were served and are not billed (unless the cap
 * is raised again in the period). What was billed before a lowering
 * stays billed. A cap set now leaves last month's bill alone.
 */
START_TEST(biller_cap_lowered)
{
	char		*u1 = mkuser("captest", "cus_capB");
	char		*u2 = mkuser("captest", "cus_capC");
	char		*u3 = mkuser("captest", "cus_capD");
	time_t		 now = time(NULL), last = period_start(period_start(now) - 1);
	char		*l;
	size_t		 n;

	/* u1: 80 overage calls (8 cents), then a cap of 3 cents. */
	calls_set(u1, period_start(now), 180, 100);
	cap_put(u1, "{\"cap_cents\": 3}", 200);
	row_is(u1, "180/80/4903/3");
	/* u2: 8 cents billed, then the cap lowered to 3. */
	calls_set(u2, period_start(now), 180, 100);
	bill();
	ck_assert_int_eq(stripe_cents("cus_capC", &n), 8);
	cap_put(u2, "{\"cap_cents\": 3}", 200);
	/* u3: 40 overage calls last month, uncapped then; a cap of 0 now. */
	{
		struct dbp p[2] = { DBP_S(u3), DBP_I(last) };

		test_db_exec("INSERT INTO eco_usage_records (user_id, period, "
		    "api_calls, overage_calls, updated_at) VALUES (?, "
		    "FROM_UNIXTIME(?), 140, 40, UTC_TIMESTAMP())", p, 2);
	}
	cap_put(u3, "{\"cap_cents\": 0}", 200);

	bill();
	ck_assert_int_eq(stripe_cents("cus_capB", &n), 3);
	ck_assert_uint_eq(n, 1);
	l = ledger(u1);
	ck_assert_str_eq(l, "101|130|3\n");
	free(l);
	ck_assert_int_eq(stripe_cents("cus_capC", &n), 8);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(stripe_cents("cus_capD", &n), 4);
	bill();
	ck_assert_int_eq(stripe_cents("cus_capB", &n), 3);

	/* Raised again in the period: served calls up to the new cap. */
	cap_put(u1, "{\"cap_cents\": 5}", 200);
	bill();
	ck_assert_int_eq(stripe_cents("cus_capB", &n), 5);
	ck_assert_uint_eq(n, 2);
	l = ledger(u1);
	ck_assert_str_eq(l, "101|130|3\n131|150|2\n");
	free(l);
	free(u1);
	free(u2);
	free(u3);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("spendcap");
	TCase	*tc = tcase_create("http");

	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, setup_plans);
	tcase_add_test(tc, cap_exact_under_concurrency);
	tcase_add_test(tc, cap_headers_and_changes);
	tcase_add_test(tc, cap_shown);
	tcase_add_test(tc, cap_bad_inputs);
	tcase_add_test(tc, cap_isolation);
	tcase_add_test(tc, biller_bills_the_cap);
	tcase_add_test(tc, biller_cap_lowered);
	suite_add_tcase(s, tc);
	return itest_run(s);
}
