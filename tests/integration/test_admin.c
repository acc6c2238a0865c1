/*
 * Admin analytics end to end. The business is made through the product:
 * users with nexusctl, calls with their API keys through nginx and the
 * workers, overage billed by nexus-overage through the fake Stripe. Every
 * figure of the overview and of the users page is then checked against
 * what the test itself did.
 *
 * Two fixtures go around the product, both data rather than figures: the
 * Pro plan's allowance is lowered to 100 calls (plans are rows) so that
 * overage takes hundreds of calls instead of 100,001, and one user's
 * creation time is moved into last month so that "new this month" has
 * something to leave out.
 *
 * The admin allow-list is read when a worker starts; the admin's id is
 * random, so the test appends admin_ids to the stack's config once the
 * admin exists and restarts the workers (tests/stack.sh workers-stop,
 * workers-start), as an operator would.
 */
#include "config.h"

#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jwt.h>

#include "itest.h"

#define OVERVIEW	"/api/admin/analytics/overview"
#define USERS		"/api/admin/analytics/users"
#define PING		"/api/secure/ping"
#define JWT_SECRET	"dev-jwt-secret-change-me-0123456789abcdef"
#define ALLOWANCE	100	/* the Pro allowance in this test */

/* The business: who, on which plan, with which Stripe customer, calls. */
struct tuser {
	const char	*email;
	const char	*plan;
	const char	*customer;
	int		 calls;
	char		*id;
	long long	 price;
};

static struct tuser	 people[60];
static size_t		 npeople;
static struct tuser	*admin, *plain, *lastmonth;
static char		*admin_tok, *plain_tok;

static struct tuser *
person(const char *email)
{
	size_t	 i;

	for (i = 0; i < npeople; i++)
		if (strcmp(people[i].email, email) == 0)
			return &people[i];
	ck_abort_msg("no person %s", email);
	return NULL;
}

static struct tuser *
person_id(const char *id)
{
	size_t	 i;

	for (i = 0; i < npeople; i++)
		if (strcmp(people[i].id, id) == 0)
			return &people[i];
	ck_abort_msg("no person with id %s", id);
	return NULL;
}

static long long
overage_of(const struct tuser *u)
{
	return strcmp(u->plan, "pro") == 0 && u->calls > ALLOWANCE ?
	    u->calls - ALLOWANCE : 0;
}

/* Plan price plus $0.001 a call past the allowance, in whole cents. */
static long long
revenue_of(const struct tuser *u)
{
	return u->price + overage_of(u) * 1000 / 10000;
}

/* An HS256 token from libjwt, as an identity provider would issue it. */
static char *
token(const char *sub, long exp_in)
{
	jwt_t	*jwt;
	char	*s, *out;

	ck_assert(jwt_new(&jwt) == 0);
	ck_assert(jwt_set_alg(jwt, JWT_ALG_HS256,
	    (const unsigned char *)JWT_SECRET, strlen(JWT_SECRET)) == 0);
	if (sub != NULL)
		ck_assert(jwt_add_grant(jwt, "sub", sub) == 0);
	ck_assert(jwt_add_grant_int(jwt, "iat", (long)time(NULL)) == 0);
	ck_assert(jwt_add_grant_int(jwt, "exp", (long)time(NULL) + exp_in) == 0);
	ck_assert((s = jwt_encode_str(jwt)) != NULL);
	out = xstrdup(s);
	free(s);	/* libjwt 1.10 allocates with malloc */
	jwt_free(jwt);
	return out;
}

static struct http *
get_as(const char *tok, const char *path)
{
	char		*h;
	const char	*hdrs[2];
	struct http	*r;

	xasprintf(&h, "Authorization: Bearer %s", tok);
	hdrs[0] = h;
	hdrs[1] = NULL;
	r = http_get(path, hdrs);
	free(h);
	return r;
}

/* GET as the admin; asserts 200 and JSON. */
static struct http *
admin_get(const char *path)
{
	struct http	*r = get_as(admin_tok, path);

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

static void
assert_money(json_object *o, const char *path, long long cents,
    const char *formatted)
{
	char	 p[128];

	snprintf(p, sizeof(p), "%s.cents", path);
	ck_assert_msg(json_int(o, p) == cents, "%s: %lld, want %lld", p,
	    json_int(o, p), cents);
	snprintf(p, sizeof(p), "%s.formatted", path);
	ck_assert_str_eq(json_str(o, p), formatted);
}

static size_t
on_data(char *p, size_t sz, size_t n, void *arg)
{
	return buf_add(arg, p, sz * n) == 0 ? sz * n : 0;
}

/*
 * Calls the fake Stripe's control API: POSTs json, or GETs when json is
 * NULL. Asserts 200; returns the parsed answer (caller puts it).
 */
static json_object *
stripe_control(const char *what, const char *json)
{
	char			 url[256], env[512];
	FILE			*f;
	long			 port = 0, status = 0;
	CURL			*c = curl_easy_init();
	struct curl_slist	*h = NULL;
	struct buf		 b;
	json_object		*o;

	snprintf(env, sizeof(env), "%s/env", getenv("NEXUS_TEST_DIR"));
	ck_assert((f = fopen(env, "r")) != NULL);
	while (fgets(env, sizeof(env), f) != NULL)
		if (strncmp(env, "STRIPE_PORT=", 12) == 0)
			port = strtol(env + 12, NULL, 10);
	fclose(f);
	ck_assert(port > 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%ld/_control/%s", port,
	    what);
	buf_init(&b, 4 * 1024 * 1024);
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (json != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	ck_assert(curl_easy_perform(c) == CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	ck_assert_msg(status == 200, "fake Stripe %s: %ld", what, status);
	buf_add(&b, "", 1);
	ck_assert((o = json_tokener_parse(b.data)) != NULL);
	buf_free(&b);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return o;
}

/* Sets (or with NULL, takes out) the admin_ids line and restarts. */
static void
set_admin_ids(const char *ids)
{
	const char	*path = getenv("NEXUS_CONFIG");
	char		 line[4096];
	struct buf	 b;
	FILE		*f;

	buf_init(&b, 1024 * 1024);
	ck_assert((f = fopen(path, "r")) != NULL);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "admin_ids", 9) != 0)
			buf_addstr(&b, line);
	fclose(f);
	if (ids != NULL)
		buf_printf(&b, "admin_ids = %s\n", ids);
	ck_assert((f = fopen(path, "w")) != NULL);
	ck_assert(fwrite(b.data, 1, b.len, f) == b.len);
	fclose(f);
	buf_free(&b);
	stack("workers-stop");
	stack("workers-start");
}

static long long
audit_count(void)
{
	return test_db_int("SELECT COUNT(*) FROM eco_audit_log "
	    "WHERE action LIKE 'admin.%'", NULL, 0);
}

static void
add(const char *email, const char *plan, const char *customer, int calls)
{
	struct tuser	*u = &people[npeople++];
	char		*out;
	int		 rc;

	u->email = email;
	u->plan = plan;
	u->customer = customer;
	u->calls = calls;
	u->price = strcmp(plan, "pro") == 0 ? 4900 :
	    strcmp(plan, "enterprise") == 0 ? 50000 : 0;
	if (customer != NULL)
		rc = ctl(&u->id, "user", "create", "--email", email, "--plan",
		    plan, "--stripe-customer", customer, NULL);
	else
		rc = ctl(&u->id, "user", "create", "--email", email, "--plan",
		    plan, NULL);
	ck_assert_msg(rc == 0, "user create %s: %s", email, u->id);
	if (calls == 0)
		return;
	ck_assert_int_eq(ctl(&out, "key", "create", "--user", u->id, NULL), 0);

	char		*h;
	struct load_res	*res = xcalloc((size_t)calls, sizeof(*res));

	xasprintf(&h, "X-API-Key: %s", out);
	load_run(PING, h, (size_t)calls, 4, res);
	ck_assert_uint_eq(load_count(res, (size_t)calls, 200), (size_t)calls);
	free(res);
	free(h);
	free(out);
}

/* Builds the business; see the top of the file. */
START_TEST(setup_business)
{
	static char	 emails[60][64];
	static const char *const sql_calls = "SELECT COALESCE(SUM(api_calls), 0) "
	    "FROM eco_usage_records";
	static const char *const sql_over = "SELECT "
	    "COALESCE(SUM(overage_calls), 0) FROM eco_usage_records";
	char		 cmd[2048];
	size_t		 i;
	int		 st;

	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_users",
	    NULL, 0), 0);
	{
		struct db *db = test_db();
		ck_assert(db_raw(db, "UPDATE eco_plans SET monthly_calls = 100 "
		    "WHERE id = 'pro'") == 0);
		db_close(db);
	}

	add("admin@ops.example", "free", NULL, 0);
	/* The callers: Pro with overage (one without a Stripe customer). */
	add("pro01@shop.example", "pro", "cus_pro01", 350);
	add("pro02@shop.example", "pro", "cus_pro02", 230);
	add("pro03@shop.example", "pro", NULL, 150);
	add("pro04@shop.example", "pro", "cus_pro04", 170);
	add("ent1@corp.example", "enterprise", "cus_ent1", 40);
	add("free01@home.example", "free", NULL, 12);
	for (i = 5; i <= 45; i++) {
		snprintf(emails[i], sizeof(emails[i]), "pro%02zu@shop.example", i);
		add(emails[i], "pro", NULL, 0);
	}
	for (i = 2; i <= 5; i++) {
		snprintf(emails[45 + i], sizeof(emails[0]), "ent%zu@corp.example",
		    i);
		add(emails[45 + i], "enterprise", NULL, 0);
	}
	for (i = 2; i <= 9; i++) {
		snprintf(emails[50 + i], sizeof(emails[0]),
		    "free%02zu@home.example", i);
		add(emails[50 + i], "free", NULL, 0);
	}
	ck_assert_uint_eq(npeople, 60);
	admin = person("admin@ops.example");
	plain = person("pro02@shop.example");
	lastmonth = person("free09@home.example");
	{
		struct db *db = test_db();
		struct dbp p[1] = { DBP_S(lastmonth->id) };
		ck_assert(db_exec(db, "UPDATE eco_users SET created_at = "
		    "DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-01') - INTERVAL 3 DAY "
		    "WHERE id = ?", p, 1, NULL) == 0);
		db_close(db);
	}

	/* The batched writer flushes within 5 s. */
	ck_assert_int_eq(wait_db_int(sql_calls, NULL, 0,
	    350 + 230 + 150 + 170 + 40 + 12, 20), 952);
	ck_assert_int_eq(wait_db_int(sql_over, NULL, 0, 250 + 130 + 50 + 70,
	    20), 500);

	/*
	 * Bill: pro01 goes through; pro02's customer gets 500s past every
	 * retry (its row stays pending); pro04's customer is unknown to
	 * Stripe (failed); pro03 has no customer (skipped, no ledger row).
	 */
	json_object_put(stripe_control("missing_customer",
	    "{\"customer\":\"cus_pro04\"}"));
	json_object_put(stripe_control("fail", "{\"mode\":\"500\","
	    "\"count\":1000,\"customer\":\"cus_pro02\"}"));
	snprintf(cmd, sizeof(cmd), "NEXUS_STRIPE_MAX_RETRIES=1 '%s/src/"
	    "nexus-overage' >/dev/null 2>&1", getenv("top_builddir"));
	st = system(cmd);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1,
	    "nexus-overage: status %d", st);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_overage_ledger",
	    NULL, 0), 3);

	/*
	 * Its requests come faster than the admin rate limit allows
	 * (test_admin_portal tests that): no limit here.
	 */
	{
		FILE *f = fopen(getenv("NEXUS_CONFIG"), "a");

		ck_assert(f != NULL);
		fputs("admin_rate = 0\n", f);
		fclose(f);
	}
	/* The admin allow-list: blanks and a bad entry around the admin. */
	snprintf(cmd, sizeof(cmd), " not-an-id , %s ,", admin->id);
	set_admin_ids(cmd);
	admin_tok = token(admin->id, 3600);
	plain_tok = token(plain->id, 3600);
}
END_TEST

START_TEST(overview_figures)
{
	struct http	*r = admin_get(OVERVIEW);
	json_object	*o = r->json, *plans, *top;
	char		 start[32], end[32];
	time_t		 now = time(NULL);
	static const struct { const char *plan, *name; long long users, price;
	    const char *mrr; } want[3] = {
		{ "free", "Free", 10, 0, "$0.00" },
		{ "pro", "Pro", 45, 4900, "$2,205.00" },
		{ "enterprise", "Enterprise", 5, 50000, "$2,500.00" },
	};
	static const char *const order[5] = { "pro01@shop.example",
	    "pro02@shop.example", "pro04@shop.example", "pro03@shop.example",
	    "ent1@corp.example" };
	size_t		 i;

	time_format(period_start(now), start, sizeof(start));
	time_format(period_end(now), end, sizeof(end));
	ck_assert_str_eq(json_str(o, "period.start"), start);
	ck_assert_str_eq(json_str(o, "period.end"), end);
	ck_assert_str_eq(json_str(o, "currency"), "usd");

	ck_assert_int_eq(json_int(o, "users.total"), 60);
	ck_assert_int_eq(json_int(o, "users.new_this_month"), 59);
	plans = json_get(o, "users.by_plan");
	ck_assert_int_eq(json_object_array_length(plans), 3);
	for (i = 0; i < 3; i++) {
		json_object *pl = json_object_array_get_idx(plans, i);

		ck_assert_str_eq(json_str(pl, "plan"), want[i].plan);
		ck_assert_str_eq(json_str(pl, "name"), want[i].name);
		ck_assert_int_eq(json_int(pl, "users"), want[i].users);
		ck_assert_int_eq(json_int(pl, "price.cents"), want[i].price);
		ck_assert_int_eq(json_int(pl, "mrr.cents"),
		    want[i].users * want[i].price);
		ck_assert_str_eq(json_str(pl, "mrr.formatted"), want[i].mrr);
	}
	/* 45 Pro and 5 Enterprise make $4,705 (the example). */
	assert_money(o, "mrr", 470500, "$4,705.00");

	/* 250, 130 and 70 calls past 100 at $0.001: 25, 13 and 7 cents. */
	assert_money(o, "overage_revenue.billed", 25, "$0.25");
	ck_assert_int_eq(json_int(o, "overage_revenue.billed.items"), 1);
	assert_money(o, "overage_revenue.pending", 13, "$0.13");
	ck_assert_int_eq(json_int(o, "overage_revenue.pending.items"), 1);
	assert_money(o, "overage_revenue.failed", 7, "$0.07");
	ck_assert_int_eq(json_int(o, "overage_revenue.failed.items"), 1);
	assert_money(o, "overage_revenue.total", 45, "$0.45");

	ck_assert_int_eq(json_int(o, "calls_this_month"), 952);

	top = json_get(o, "top_users");
	ck_assert_int_eq(json_object_array_length(top), 5);
	for (i = 0; i < 5; i++) {
		json_object	*t = json_object_array_get_idx(top, i);
		struct tuser	*u = person(order[i]);
		char		 money[32];

		ck_assert_str_eq(json_str(t, "id"), u->id);
		ck_assert_str_eq(json_str(t, "email"), u->email);
		ck_assert_str_eq(json_str(t, "plan"), u->plan);
		ck_assert_int_eq(json_int(t, "calls"), u->calls);
		ck_assert_int_eq(json_int(t, "overage_calls"), overage_of(u));
		money_format(revenue_of(u), money, sizeof(money));
		assert_money(t, "revenue", revenue_of(u), money);
		ck_assert(json_str(t, "created_at") != NULL);
		ck_assert_msg(json_str(t, "last_call_at") != NULL,
		    "no last call for %s", u->email);
	}
	assert_money(json_object_array_get_idx(top, 0), "revenue", 4925,
	    "$49.25");
	assert_money(json_object_array_get_idx(top, 4), "revenue", 50000,
	    "$500.00");
	http_free(r);
}
END_TEST

/* What the overview calls billed is what the fake Stripe holds. */
START_TEST(overview_billed_matches_stripe)
{
	struct http	*r = admin_get(OVERVIEW);
	json_object	*st = stripe_control("items", NULL), *items;
	long long	 cents = 0;
	size_t		 i;

	items = json_get(st, "items");
	ck_assert(items != NULL);
	ck_assert_int_eq(json_object_array_length(items), 1);
	for (i = 0; i < json_object_array_length(items); i++) {
		json_object *it = json_object_array_get_idx(items, i);

		ck_assert_str_eq(json_str(it, "customer"), "cus_pro01");
		cents += json_int(it, "amount");
	}
	ck_assert_int_eq(cents, 25);
	ck_assert_int_eq(json_int(r->json, "overage_revenue.billed.cents"),
	    cents);
	ck_assert_int_eq(json_int(r->json, "overage_revenue.billed.items"),
	    (long long)json_object_array_length(items));
	json_object_put(st);
	http_free(r);
}
END_TEST

START_TEST(unauthenticated_401)
{
	char		*expired = token(admin->id, -3600);
	char		*nobody = token("eco_usr_nobodyNobodyNobody0", 3600);
	char		*nosub = token(NULL, 3600);
	const char	*bad[] = { NULL, "Authorization: Basic YWRtaW46YWRtaW4=",
	    "Authorization: Bearer not.a.jwt", NULL };
	long long	 before = audit_count();
	struct http	*r;
	size_t		 i;
	char		 www[256];

	for (i = 0; i < 3; i++) {
		const char *h[2] = { bad[i], NULL };

		r = http_get(OVERVIEW, i == 0 ? NULL : h);
		ck_assert_msg(r->status == 401, "%zu: %ld", i, r->status);
		ck_assert(r->json != NULL);
		ck_assert(http_hdr(r, "WWW-Authenticate", www,
		    sizeof(www)) != NULL);
		http_free(r);
	}
	r = get_as(expired, USERS);
	assert_error(r, 401, "invalid_token");
	http_free(r);
	r = get_as(nobody, USERS);
	assert_error(r, 401, "invalid_token");
	http_free(r);
	r = get_as(nosub, OVERVIEW);
	assert_error(r, 401, "invalid_token");
	http_free(r);
	/* A token signed with another secret. */
	{
		char *t = xstrdup(admin_tok);
		t[strlen(t) - 2] = t[strlen(t) - 2] == 'A' ? 'B' : 'A';
		r = get_as(t, OVERVIEW);
		assert_error(r, 401, "invalid_token");
		http_free(r);
		free(t);
	}
	/* Nobody known: nothing to audit. */
	ck_assert_int_eq(audit_count(), before);
	free(expired);
	free(nobody);
	free(nosub);
}
END_TEST

START_TEST(not_admin_403_audited)
{
	struct dbp	 p[1] = { DBP_S(plain->id) };
	long long	 before = test_db_int("SELECT COUNT(*) FROM eco_audit_log "
	    "WHERE actor = ? AND action = 'admin.denied'", p, 1);
	struct http	*r;

	r = get_as(plain_tok, OVERVIEW);
	assert_error(r, 403, "forbidden");
	http_free(r);
	r = get_as(plain_tok, USERS "?sort=revenue&page=2");
	assert_error(r, 403, "forbidden");
	ck_assert(strstr(r->body, plain->email) == NULL);
	http_free(r);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_audit_log "
	    "WHERE actor = ? AND action = 'admin.denied'", p, 1), before + 2);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_audit_log "
	    "WHERE actor = ? AND action = 'admin.denied' "
	    "AND target = '/api/admin/analytics/users' "
	    "AND JSON_VALUE(detail, '$.query') = 'sort=revenue&page=2'",
	    p, 1), 1);
}
END_TEST

START_TEST(audit_trail)
{
	static const char *const sql_row = "SELECT COUNT(*) FROM eco_audit_log "
	    "WHERE actor = ? AND action = 'admin.request' AND target = ? "
	    "AND JSON_VALUE(detail, '$.method') = 'GET' "
	    "AND JSON_VALUE(detail, '$.path') = ? "
	    "AND JSON_VALUE(detail, '$.query') = ? "
	    "AND remote_addr = '127.0.0.1' "
	    "AND at > UTC_TIMESTAMP(3) - INTERVAL 30 SECOND AND id > ?";
	long long	 before = audit_count(), last = test_db_int(
	    "SELECT COALESCE(MAX(id), 0) FROM eco_audit_log", NULL, 0);
	struct http	*r;

	r = admin_get(USERS "?plan=pro&search=pro1&sort=email");
	http_free(r);
	r = admin_get(OVERVIEW);
	http_free(r);
	/* Refused for a bad parameter: asked all the same. */
	r = get_as(admin_tok, USERS "?per_page=500");
	assert_error(r, 400, "invalid_parameter");
	http_free(r);
	ck_assert_int_eq(audit_count(), before + 3);

	struct dbp p[5] = { DBP_S(admin->id), DBP_S(USERS), DBP_S(USERS),
	    DBP_S("plan=pro&search=pro1&sort=email"), DBP_I(last) };
	ck_assert_int_eq(test_db_int(sql_row, p, 5), 1);
	p[1] = p[2] = DBP_S(OVERVIEW);
	p[3] = DBP_S("");
	ck_assert_int_eq(test_db_int(sql_row, p, 5), 1);
	p[1] = p[2] = DBP_S(USERS);
	p[3] = DBP_S("per_page=500");
	ck_assert_int_eq(test_db_int(sql_row, p, 5), 1);
}
END_TEST

/* Checks a row's figures against the business the test made. */
static void
assert_row(json_object *row)
{
	struct tuser	*u = person_id(json_str(row, "id"));
	char		 money[32];

	ck_assert_str_eq(json_str(row, "email"), u->email);
	ck_assert_str_eq(json_str(row, "plan"), u->plan);
	ck_assert_int_eq(json_int(row, "calls"), u->calls);
	ck_assert_int_eq(json_int(row, "overage_calls"), overage_of(u));
	money_format(revenue_of(u), money, sizeof(money));
	assert_money(row, "revenue", revenue_of(u), money);
	ck_assert(json_str(row, "created_at") != NULL);
	if (u->calls > 0)
		ck_assert(json_str(row, "last_call_at") != NULL);
	else
		ck_assert(json_get(row, "last_call_at") == NULL);
}

/* -1, 0, 1 as a sorts before, with, after b on key (then id). */
static int
row_cmp(json_object *a, json_object *b, const char *key)
{
	int	 c;

	if (strcmp(key, "email") == 0)
		return strcasecmp(json_str(a, "email"), json_str(b, "email"));
	if (strcmp(key, "created") == 0)
		c = strcmp(json_str(a, "created_at"), json_str(b, "created_at"));
	else {
		long long x = json_int(a, strcmp(key, "calls") == 0 ? "calls" :
		    "revenue.cents");
		long long y = json_int(b, strcmp(key, "calls") == 0 ? "calls" :
		    "revenue.cents");
		c = x < y ? -1 : x > y;
	}
	/* Ids are ASCII, ordered without case by the database. */
	return c != 0 ? c : strcasecmp(json_str(a, "id"), json_str(b, "id"));
}

/* Every row in order, each figure right, each user once. */
static void
assert_sorted(json_object *rows, const char *key, int desc, size_t want)
{
	size_t	 i, j, n = json_object_array_length(rows);

	ck_assert_uint_eq(n, want);
	for (i = 0; i < n; i++) {
		json_object *a = json_object_array_get_idx(rows, i);

		assert_row(a);
		for (j = 0; j < i; j++)
			ck_assert_str_ne(json_str(a, "id"), json_str(
			    json_object_array_get_idx(rows, j), "id"));
		if (i > 0) {
			int c = row_cmp(json_object_array_get_idx(rows, i - 1),
			    a, key);
			ck_assert_msg(desc ? c > 0 : c < 0, "%s %s: row %zu "
			    "out of order", key, desc ? "desc" : "asc", i);
		}
	}
}

START_TEST(users_every_sort)
{
	static const char *const keys[4] = { "calls", "revenue", "created",
	    "email" };
	char		 path[256];
	size_t		 k, d;

	for (k = 0; k < 4; k++)
		for (d = 0; d < 2; d++) {
			struct http *r;

			snprintf(path, sizeof(path), USERS "?per_page=100&sort=%s"
			    "&order=%s", keys[k], d ? "desc" : "asc");
			r = admin_get(path);
			ck_assert_int_eq(json_int(r->json, "total"), 60);
			ck_assert_str_eq(json_str(r->json, "sort"), keys[k]);
			ck_assert_str_eq(json_str(r->json, "order"),
			    d ? "desc" : "asc");
			assert_sorted(json_get(r->json, "users"), keys[k],
			    (int)d, 60);
			http_free(r);
		}
}
END_TEST

START_TEST(users_sort_by_calls_and_revenue)
{
	struct http	*r;
	json_object	*rows;
	static const char *const calls[6] = { "pro01@shop.example",
	    "pro02@shop.example", "pro04@shop.example", "pro03@shop.example",
	    "ent1@corp.example", "free01@home.example" };
	size_t		 i;

	r = admin_get(USERS "?sort=calls&per_page=6");
	ck_assert_str_eq(json_str(r->json, "order"), "desc");
	rows = json_get(r->json, "users");
	for (i = 0; i < 6; i++)
		ck_assert_str_eq(json_str(json_object_array_get_idx(rows, i),
		    "email"), calls[i]);
	http_free(r);

	/* Enterprise first ($500), then Pro by overage, then Free. */
	r = admin_get(USERS "?sort=revenue&per_page=9");
	rows = json_get(r->json, "users");
	for (i = 0; i < 5; i++)
		ck_assert_str_eq(json_str(json_object_array_get_idx(rows, i),
		    "plan"), "enterprise");
	ck_assert_str_eq(json_str(json_object_array_get_idx(rows, 5),
	    "email"), "pro01@shop.example");
	ck_assert_str_eq(json_str(json_object_array_get_idx(rows, 8),
	    "email"), "pro03@shop.example");
	http_free(r);

	/* The default order of email is ascending. */
	r = admin_get(USERS "?sort=email&per_page=1");
	ck_assert_str_eq(json_str(r->json, "order"), "asc");
	ck_assert_str_eq(json_str(json_object_array_get_idx(json_get(r->json,
	    "users"), 0), "email"), "admin@ops.example");
	http_free(r);
}
END_TEST

static void
assert_link(json_object *o, const char *name, const char *want)
{
	json_object	*l = json_get(o, name);

	if (want == NULL) {
		ck_assert_msg(l == NULL, "%s: %s", name,
		    l ? json_object_get_string(l) : "");
		return;
	}
	ck_assert_msg(l != NULL, "no %s link", name);
	ck_assert_str_eq(json_object_get_string(l), want);
}

START_TEST(users_pages_and_links)
{
	struct http	*r;
	json_object	*all = json_object_new_array();
	char		*next;
	size_t		 pages = 0, i;

	r = admin_get(USERS);
	ck_assert_int_eq(json_int(r->json, "page"), 1);
	ck_assert_int_eq(json_int(r->json, "per_page"), 25);
	ck_assert_int_eq(json_int(r->json, "total"), 60);
	ck_assert_int_eq(json_int(r->json, "pages"), 3);
	ck_assert_str_eq(json_str(r->json, "sort"), "created");
	ck_assert_str_eq(json_str(r->json, "order"), "desc");
	ck_assert(json_get(r->json, "filters.plan") == NULL);
	ck_assert(json_get(r->json, "filters.search") == NULL);
	assert_link(r->json, "links.self",
	    USERS "?page=1&per_page=25&sort=created&order=desc");
	assert_link(r->json, "links.first",
	    USERS "?page=1&per_page=25&sort=created&order=desc");
	assert_link(r->json, "links.prev", NULL);
	assert_link(r->json, "links.next",
	    USERS "?page=2&per_page=25&sort=created&order=desc");
	assert_link(r->json, "links.last",
	    USERS "?page=3&per_page=25&sort=created&order=desc");
	ck_assert_int_eq(json_object_array_length(json_get(r->json, "users")),
	    25);
	http_free(r);

	/* Follow next from the first page of 7 to the end: 9 pages, 60 users. */
	next = xstrdup(USERS "?per_page=7&sort=calls&order=asc&plan=&search=");
	while (next != NULL) {
		json_object *rows, *n;

		r = admin_get(next);
		free(next);
		pages++;
		rows = json_get(r->json, "users");
		for (i = 0; i < json_object_array_length(rows); i++)
			json_object_array_add(all, json_object_get(
			    json_object_array_get_idx(rows, i)));
		ck_assert_int_eq(json_object_array_length(rows),
		    pages < 9 ? 7 : 4);
		n = json_get(r->json, "links.next");
		next = n != NULL ? xstrdup(json_object_get_string(n)) : NULL;
		http_free(r);
	}
	ck_assert_uint_eq(pages, 9);
	assert_sorted(all, "calls", 0, 60);
	json_object_put(all);

	/* The last page, and the empty one after it. */
	r = admin_get(USERS "?per_page=7&page=9&sort=email");
	ck_assert_int_eq(json_object_array_length(json_get(r->json, "users")),
	    4);
	assert_link(r->json, "links.next", NULL);
	assert_link(r->json, "links.prev",
	    USERS "?page=8&per_page=7&sort=email&order=asc");
	http_free(r);
	r = admin_get(USERS "?per_page=7&page=10&sort=email");
	ck_assert_int_eq(json_object_array_length(json_get(r->json, "users")),
	    0);
	ck_assert_int_eq(json_int(r->json, "total"), 60);
	assert_link(r->json, "links.next", NULL);
	assert_link(r->json, "links.prev",
	    USERS "?page=9&per_page=7&sort=email&order=asc");
	assert_link(r->json, "links.last",
	    USERS "?page=9&per_page=7&sort=email&order=asc");
	http_free(r);
	r = admin_get(USERS "?page=1000000");
	ck_assert_int_eq(json_object_array_length(json_get(r->json, "users")),
	    0);
	http_free(r);

	/* per_page bounds: 1 and 100. */
	r = admin_get(USERS "?per_page=1&sort=calls");
	ck_assert_int_eq(json_int(r->json, "pages"), 60);
	ck_assert_int_eq(json_object_array_length(json_get(r->json, "users")),
	    1);
	assert_link(r->json, "links.last",
	    USERS "?page=60&per_page=1&sort=calls&order=desc");
	http_free(r);
	r = admin_get(USERS "?per_page=100");
	ck_assert_int_eq(json_int(r->json, "pages"), 1);
	ck_assert_int_eq(json_object_array_length(json_get(r->json, "users")),
	    60);
	assert_link(r->json, "links.next", NULL);
	assert_link(r->json, "links.last",
	    USERS "?page=1&per_page=100&sort=created&order=desc");
	http_free(r);
}
END_TEST

START_TEST(users_bad_parameters_400)
{
	static const struct { const char *query, *msg; } bad[] = {
		{ "page=0", "page must be an integer from 1 to 1000000" },
		{ "page=-1", "page must be an integer" },
		{ "page=abc", "page must be an integer" },
		{ "page=99999999999", "page must be an integer" },
		{ "page=1000001", "page must be an integer" },
		{ "page=", "page must be an integer" },
		{ "per_page=0", "per_page must be an integer from 1 to 100" },
		{ "per_page=101", "per_page must be an integer from 1 to 100" },
		{ "per_page=1e2", "per_page must be an integer" },
		{ "sort=name", "sort must be one of calls, revenue, created, "
		    "email" },
		{ "sort=", "sort must be one of" },
		{ "sort=CALLS", "sort must be one of" },
		{ "sort=calls%00", "sort must be one of" },
		{ "order=up", "order must be asc or desc" },
		{ "order=", "order must be asc or desc" },
		{ "plan=gold", "unknown plan" },
		{ "plan=free%27%20OR%20%271%27=%271", "unknown plan" },
		{ "search=%01", "search must be at most 100 printable ASCII" },
		{ "search=caf%C3%A9", "search must be at most 100" },
	};
	char		 path[512], longq[256];
	struct http	*r;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(path, sizeof(path), USERS "?%s", bad[i].query);
		r = get_as(admin_tok, path);
		assert_error(r, 400, "invalid_parameter");
		ck_assert_msg(strstr(json_str(r->json, "error.message"),
		    bad[i].msg) != NULL, "%s: %s", bad[i].query,
		    json_str(r->json, "error.message"));
		http_free(r);
	}
	memset(longq, 'a', 101);
	longq[101] = '\0';
	snprintf(path, sizeof(path), USERS "?search=%s", longq);
	r = get_as(admin_tok, path);
	assert_error(r, 400, "invalid_parameter");
	http_free(r);
	longq[100] = '\0';	/* 100 is allowed */
	snprintf(path, sizeof(path), USERS "?search=%s", longq);
	r = admin_get(path);
	ck_assert_int_eq(json_int(r->json, "total"), 0);
	http_free(r);
}
END_TEST

static long long
total_of(const char *path)
{
	struct http	*r = admin_get(path);
	long long	 n = json_int(r->json, "total");

	ck_assert_int_eq(json_object_array_length(json_get(r->json, "users")),
	    n < 100 ? n : 100);
	http_free(r);
	return n;
}

START_TEST(users_filters)
{
	struct http	*r;
	json_object	*rows;
	char		 path[256], frag[16];
	size_t		 i;

	r = admin_get(USERS "?plan=enterprise&sort=revenue&per_page=100");
	ck_assert_int_eq(json_int(r->json, "total"), 5);
	ck_assert_str_eq(json_str(r->json, "filters.plan"), "enterprise");
	rows = json_get(r->json, "users");
	for (i = 0; i < 5; i++)
		ck_assert_str_eq(json_str(json_object_array_get_idx(rows, i),
		    "plan"), "enterprise");
	assert_sorted(rows, "revenue", 1, 5);
	assert_link(r->json, "links.self", USERS
	    "?page=1&per_page=100&sort=revenue&order=desc&plan=enterprise");
	http_free(r);

	r = admin_get(USERS "?plan=pro&sort=calls&per_page=100");
	ck_assert_int_eq(json_int(r->json, "total"), 45);
	rows = json_get(r->json, "users");
	assert_sorted(rows, "calls", 1, 45);
	ck_assert_str_eq(json_str(json_object_array_get_idx(rows, 0), "email"),
	    "pro01@shop.example");
	http_free(r);
	ck_assert_int_eq(total_of(USERS "?plan=free&per_page=100"), 10);

	/* Search: email or id, without case, wildcards taken literally. */
	ck_assert_int_eq(total_of(USERS "?search=pro0&per_page=100"), 9);
	ck_assert_int_eq(total_of(USERS "?search=PRO01&per_page=100"), 1);
	ck_assert_int_eq(total_of(USERS "?search=%40corp.example"), 5);
	ck_assert_int_eq(total_of(USERS "?search=pro_1"), 0);
	ck_assert_int_eq(total_of(USERS "?search=%25"), 0);
	ck_assert_int_eq(total_of(USERS "?search=!"), 0);
	ck_assert_int_eq(total_of(USERS "?search=%5C"), 0);
	ck_assert_int_eq(total_of(USERS "?search=eco_usr_&per_page=100"), 60);
	memcpy(frag, person("pro04@shop.example")->id + 12, 12);
	frag[12] = '\0';
	snprintf(path, sizeof(path), USERS "?search=%s&sort=calls", frag);
	r = admin_get(path);
	ck_assert_int_eq(json_int(r->json, "total"), 1);
	assert_row(json_object_array_get_idx(json_get(r->json, "users"), 0));
	ck_assert_str_eq(json_str(json_object_array_get_idx(json_get(r->json,
	    "users"), 0), "email"), "pro04@shop.example");
	http_free(r);

	/* Both, sorted and paged, with the filters kept in the links. */
	r = admin_get(USERS "?plan=pro&search=shop.example&sort=revenue"
	    "&per_page=10&page=2");
	ck_assert_int_eq(json_int(r->json, "total"), 45);
	ck_assert_int_eq(json_int(r->json, "pages"), 5);
	assert_sorted(json_get(r->json, "users"), "revenue", 1, 10);
	assert_link(r->json, "links.next", USERS "?page=3&per_page=10"
	    "&sort=revenue&order=desc&plan=pro&search=shop.example");
	http_free(r);
	r = admin_get(USERS "?plan=free&search=a%20b%26c%3Dd");
	ck_assert_int_eq(json_int(r->json, "total"), 0);
	assert_link(r->json, "links.self", USERS "?page=1&per_page=25"
	    "&sort=created&order=desc&plan=free&search=a%20b%26c%3Dd");
	http_free(r);
	/* Blank filters filter nothing. */
	ck_assert_int_eq(total_of(USERS "?plan=&search=&per_page=100"), 60);
}
END_TEST

static int
collect(void *arg, const struct admin_user *u)
{
	struct buf	*b = arg;

	buf_printf(b, "%s:%lld:%lld ", u->id, u->calls, u->revenue_cents);
	return 0;
}

/* A search found by walking the index pages like one found by sorting. */
START_TEST(users_search_ways_agree)
{
	static const char *const plans[] = { NULL, "pro", "free" };
	static const char *const searches[] = { "example", "shop", "o0",
	    "eco_usr" };
	struct db	*db = test_db();
	size_t		 s, k, d, pl, page;

	for (s = 0; s < 4; s++)
		for (k = 0; k < SORT_KEYS; k++)
			for (d = 0; d < 2; d++)
				for (pl = 0; pl < 3; pl++)
					for (page = 1; page <= 3; page++) {
		struct admin_query q = { (enum admin_sort)k, (int)d, plans[pl],
		    searches[s], (long long)page, 9, ADMIN_SORT_MAX };
		struct buf a, b;
		long long ta, tb;

		buf_init(&a, 65536);
		buf_init(&b, 65536);
		ck_assert(admin_users(db, time(NULL), &q, &ta, collect,
		    &a) == 0);
		q.sort_max = 0;
		ck_assert(admin_users(db, time(NULL), &q, &tb, collect,
		    &b) == 0);
		ck_assert_int_eq(ta, tb);
		ck_assert_msg(a.len == b.len && (a.len == 0 ||
		    memcmp(a.data, b.data, a.len) == 0),
		    "%s sort %zu desc %zu plan %s page %zu:\n%.*s\n%.*s",
		    searches[s], k, d, plans[pl] ? plans[pl] : "-", page,
		    (int)a.len, a.data, (int)b.len, b.data);
		buf_free(&a);
		buf_free(&b);
	}
	db_close(db);
}
END_TEST

/*
 * A period row the hot path made without the plan's terms, and a user
 * with no row at all (made before the period was opened), are both made
 * whole by the next admin request.
 */
START_TEST(period_rows_repaired)
{
	struct tuser	*u = person("pro01@shop.example");
	struct tuser	*z = person("pro44@shop.example");
	struct dbp	 p[1] = { DBP_S(u->id) }, pz[1] = { DBP_S(z->id) };
	struct db	*db = test_db();
	struct http	*r;

	ck_assert(db_exec(db, "UPDATE eco_usage_records SET plan_id = NULL, "
	    "price_cents = 0, overage_micros = 0, revenue_cents = 0 "
	    "WHERE user_id = ?", p, 1, NULL) == 0);
	ck_assert(db_exec(db, "DELETE FROM eco_usage_records WHERE user_id = ?",
	    pz, 1, NULL) == 0);
	ck_assert(db_raw(db, "DELETE FROM eco_periods") == 0);
	db_close(db);
	/* Workers remember the period they opened: new ones do not. */
	stack("workers-stop");
	stack("workers-start");

	r = admin_get(USERS "?sort=revenue&per_page=100");
	assert_sorted(json_get(r->json, "users"), "revenue", 1, 60);
	http_free(r);
	ck_assert_int_eq(test_db_int("SELECT revenue_cents FROM "
	    "eco_usage_records WHERE user_id = ?", p, 1), 4925);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_usage_records "
	    "WHERE user_id = ? AND plan_id = 'pro' AND price_cents = 4900",
	    pz, 1), 1);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_periods",
	    NULL, 0), 1);
}
END_TEST

/* Cron's way: nexusctl period open gives the missing rows back. */
START_TEST(period_open_by_nexusctl)
{
	struct tuser	*z = person("ent5@corp.example");
	struct dbp	 pz[1] = { DBP_S(z->id) };
	struct db	*db = test_db();
	char		*out;

	ck_assert(db_exec(db, "DELETE FROM eco_usage_records WHERE user_id = ?",
	    pz, 1, NULL) == 0);
	ck_assert(db_raw(db, "DELETE FROM eco_periods") == 0);
	db_close(db);
	ck_assert_int_eq(ctl(&out, "period", "open", NULL), 0);
	ck_assert_msg(strstr(out, "is open for every user") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_usage_records "
	    "WHERE user_id = ? AND plan_id = 'enterprise' "
	    "AND revenue_cents = 50000", pz, 1), 1);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_periods",
	    NULL, 0), 1);
	/* Once open, again is a no-op. */
	ck_assert_int_eq(ctl(&out, "period", "open", NULL), 0);
	free(out);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_usage_records "
	    "WHERE period = DATE_FORMAT(UTC_DATE(), '%Y-%m-01')", NULL, 0), 60);
}
END_TEST

/* A plan change moves the user between plans and revenues at once. */
START_TEST(plan_change_follows)
{
	struct tuser	*u = person("free05@home.example");
	char		*out, path[256];
	struct http	*r;

	ck_assert_int_eq(ctl(&out, "user", "set-plan", "--user", u->id,
	    "--plan", "enterprise", NULL), 0);
	free(out);
	snprintf(path, sizeof(path), USERS "?search=%s", u->email);
	r = admin_get(path);
	ck_assert_str_eq(json_str(json_object_array_get_idx(json_get(r->json,
	    "users"), 0), "plan"), "enterprise");
	assert_money(json_object_array_get_idx(json_get(r->json, "users"), 0),
	    "revenue", 50000, "$500.00");
	http_free(r);
	r = admin_get(OVERVIEW);
	assert_money(r->json, "mrr", 520500, "$5,205.00");
	http_free(r);
	ck_assert_int_eq(ctl(&out, "user", "set-plan", "--user", u->id,
	    "--plan", "free", NULL), 0);
	free(out);
	r = admin_get(OVERVIEW);
	assert_money(r->json, "mrr", 470500, "$4,705.00");
	http_free(r);
}
END_TEST

/* ADMIN_ECO_IDS in the environment wins over the file. */
START_TEST(admin_ids_from_environment)
{
	struct http	*r;
	char		*t = token(person("pro03@shop.example")->id, 3600);

	ck_assert(setenv("ADMIN_ECO_IDS", person("pro03@shop.example")->id,
	    1) == 0);
	stack("workers-stop");
	stack("workers-start");
	r = get_as(t, OVERVIEW);
	ck_assert_int_eq(r->status, 200);
	http_free(r);
	r = get_as(admin_tok, OVERVIEW);
	assert_error(r, 403, "forbidden");
	http_free(r);

	/* Exact match only: a prefix of an admin's id is not an admin. */
	ck_assert(unsetenv("ADMIN_ECO_IDS") == 0);
	{
		char list[128];
		snprintf(list, sizeof(list), "%.*s", (int)strlen(admin->id) - 1,
		    admin->id);
		set_admin_ids(list);
	}
	r = get_as(admin_tok, OVERVIEW);
	assert_error(r, 403, "forbidden");
	http_free(r);
	set_admin_ids(admin->id);
	r = get_as(admin_tok, OVERVIEW);
	ck_assert_int_eq(r->status, 200);
	http_free(r);
	free(t);
}
END_TEST

START_TEST(wrong_method_405)
{
	struct http	*r = http_req("POST", OVERVIEW, "{}", NULL);

	assert_error(r, 405, "method_not_allowed");
	http_free(r);
}
END_TEST

/*
 * Every statement of the admin table prepares, binds its parameters and
 * gives rows: with the plan "pro" and a search for "example", each of
 * them finds something in this business, once the roll-up has run for
 * today (calls per day read it).
 */
START_TEST(every_statement_runs)
{
	struct db	*db = test_db();
	const char	*sql;
	char		*out;
	size_t		 i;
	int		 rc;

	ck_assert_int_eq(ctl(&out, "aggregate", NULL), 0);
	free(out);
	for (i = 0; (rc = admin_stmt_try(db, i, time(NULL), &sql)) != -2; i++)
		ck_assert_msg(rc > 0, "statement %zu gave %d (%s): %s", i, rc,
		    db_error(db), sql);
	/* The overview's, calls per day's, then the pages'. */
	ck_assert_uint_eq(i, 4 + 3 + 24);
	db_close(db);
}
END_TEST

/* A new key for u, in an X-API-Key header (to free). */
static char *
key_header(const struct tuser *u)
{
	char	*key, *h;

	ck_assert_int_eq(ctl(&key, "key", "create", "--user", u->id, NULL), 0);
	xasprintf(&h, "X-API-Key: %s", key);
	free(key);
	return h;
}

/*
 * The hot path writes a period's row complete, with the plan's terms, and
 * no admin request has to make it whole: here the period is open and the
 * rows of a Free and a Pro caller are gone when their next calls come.
 */
START_TEST(hot_path_rows_complete)
{
	static const char *const sql_row = "SELECT COUNT(*) "
	    "FROM eco_usage_records WHERE user_id = ? "
	    "AND period = DATE_FORMAT(UTC_DATE(), '%Y-%m-01') "
	    "AND plan_id = ? AND price_cents = ? AND overage_micros = ? "
	    "AND api_calls = ? AND overage_calls = ? AND revenue_cents = ?";
	struct tuser	*f = person("free02@home.example");
	struct tuser	*p = person("pro05@shop.example");
	struct load_res	 res[150];
	char		*fh = key_header(f), *ph = key_header(p);

	struct dbp del[2] = { DBP_S(f->id), DBP_S(p->id) };
	test_db_exec("DELETE FROM eco_usage_records WHERE user_id IN (?, ?)",
	    del, 2);
	/* Free: the admission's own statement makes the row. */
	load_run(PING, fh, 1, 1, res);
	ck_assert_uint_eq(load_count(res, 1, 200), 1);
	struct dbp fr[7] = { DBP_S(f->id), DBP_S("free"), DBP_I(0), DBP_I(0),
	    DBP_I(1), DBP_I(0), DBP_I(0) };
	ck_assert_int_eq(test_db_int(sql_row, fr, 7), 1);
	/* Pro: the batched writer's; 50 past the allowance make 5 cents. */
	load_run(PING, ph, 150, 4, res);
	ck_assert_uint_eq(load_count(res, 150, 200), 150);
	struct dbp pr[7] = { DBP_S(p->id), DBP_S("pro"), DBP_I(4900),
	    DBP_I(1000), DBP_I(150), DBP_I(50), DBP_I(4905) };
	ck_assert_int_eq(wait_db_int(sql_row, pr, 7, 1, 20), 1);
	free(fh);
	free(ph);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("admin");
	TCase	*tc = tcase_create("admin");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, setup_business);
	tcase_add_test(tc, overview_figures);
	tcase_add_test(tc, overview_billed_matches_stripe);
	tcase_add_test(tc, unauthenticated_401);
	tcase_add_test(tc, not_admin_403_audited);
	tcase_add_test(tc, audit_trail);
	tcase_add_test(tc, users_every_sort);
	tcase_add_test(tc, users_sort_by_calls_and_revenue);
	tcase_add_test(tc, users_pages_and_links);
	tcase_add_test(tc, users_bad_parameters_400);
	tcase_add_test(tc, users_filters);
	tcase_add_test(tc, users_search_ways_agree);
	tcase_add_test(tc, period_rows_repaired);
	tcase_add_test(tc, period_open_by_nexusctl);
	tcase_add_test(tc, plan_change_follows);
	tcase_add_test(tc, admin_ids_from_environment);
	tcase_add_test(tc, wrong_method_405);
	tcase_add_test(tc, every_statement_runs);
	tcase_add_test(tc, hot_path_rows_complete);
	suite_add_tcase(s, tc);
	return itest_run(s);
}
