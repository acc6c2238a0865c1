/*
 * API keys end to end: the key-management API (GET/POST /api/keys,
 * rotate, DELETE) with every answer good and bad, the portal's settings
 * and /api/me, revocation at once on the host, keys checked without the
 * database (their MAC, the hashes of keys made before MACs), the key
 * cache's clocks and its stale entries during an outage, and a flood of
 * random keys beside real clients.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "itest.h"
#include "tokens.h"

#define PING	"/api/secure/ping"
#define DAY	86400

static const char *const sql_keys = "SELECT COUNT(*) FROM eco_api_keys "
    "WHERE user_id = ?";
static const char *const sql_audits = "SELECT COUNT(*) FROM eco_audit_log "
    "WHERE actor = ? AND action LIKE 'key.%'";
/* Everything a change could touch in a user's keys, in one number. */
static const char *const sql_keys_sum = "SELECT COUNT(*) * 1000003 + "
    "COALESCE(SUM(CRC32(CONCAT_WS('|', id, COALESCE(name, '-'), "
    "COALESCE(expires_at, '-'), COALESCE(revoked_at, '-'), "
    "COALESCE(rotated_at, '-')))), 0) FROM eco_api_keys WHERE user_id = ?";

static char *
user_new(const char *plan)
{
	static int	 n;
	char		 email[96], *id;

	snprintf(email, sizeof(email), "keys%d.%ld@example.com", ++n,
	    (long)getpid());
	make_user(email, plan, &id, NULL);
	return id;
}

static char *
token_for(const char *user)
{
	char	*t;

	ck_assert_int_eq(ctl(&t, "token", "create", "--user", user, "--ttl",
	    "3600", NULL), 0);
	return t;
}

static char *
ctl_key(const char *user)
{
	char	*k;

	ck_assert_int_eq(ctl(&k, "key", "create", "--user", user, NULL), 0);
	ck_assert_msg(key_format_valid(k), "%s", k);
	return k;
}

/* method path with a JSON body (NULL: none) and a bearer token (or NULL). */
static struct http *
api(const char *method, const char *path, const char *body, const char *tok)
{
	const char	*h[3] = { "Content-Type: application/json", NULL, NULL };
	char		*auth = NULL;
	struct http	*r;

	if (tok != NULL) {
		xasprintf(&auth, "Authorization: Bearer %s", tok);
		h[1] = auth;
	}
	r = http_req(method, path, body != NULL ? body : "", h);
	free(auth);
	return r;
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

/* Pings key n times (both workers see it); each must answer want. */
static void
ping_n(const char *key, int n, long want)
{
	int	 i;

	for (i = 0; i < n; i++)
		ck_assert_int_eq(ping(key), want);
}

static void
assert_error(struct http *r, long status, const char *code, const char *says)
{
	ck_assert_msg(r->status == status, "status %ld, want %ld: %s",
	    r->status, status, r->body);
	ck_assert_msg(r->json != NULL, "not JSON: %s", r->body);
	ck_assert_str_eq(json_str(r->json, "error.code"), code);
	if (says != NULL)
		ck_assert_msg(strstr(json_str(r->json, "error.message"),
		    says) != NULL, "message: %s", r->body);
}

static long long
user_int(const char *sql, const char *user)
{
	struct dbp	 p[1] = { DBP_S(user) };

	return test_db_int(sql, p, 1);
}

/* The keys array entry with this id, or NULL. */
static json_object *
listed(json_object *list, long long id)
{
	json_object	*keys = json_get(list, "keys"), *e;
	size_t		 i;

	for (i = 0; keys != NULL && i < json_object_array_length(keys); i++) {
		e = json_object_array_get_idx(keys, i);
		if (json_int(e, "id") == id)
			return e;
	}
	return NULL;
}

static void
restart_workers(void)
{
	stack("workers-stop");
	stack("workers-start");
}

START_TEST(create_list_rotate_revoke)
{
	char		*user = user_new("pro"), *tok = token_for(user);
	char		*key, *key2, *key3, path[96], body[128], exp[16];
	struct http	*r, *l;
	long long	 id, id2, id3;

	r = api("GET", "/api/keys", NULL, tok);
	ck_assert_int_eq(r->status, 200);
	ck_assert_int_eq(json_object_array_length(json_get(r->json, "keys")), 0);
	ck_assert_int_eq(json_int(r->json, "key_cache_ttl"), 30);
	ck_assert_int_eq(json_int(r->json, "max_keys"), 20);
	http_free(r);

	/* Created: 201, the whole key once, usable at once. */
	r = api("POST", "/api/keys", "{\"name\": \"ci runner\"}", tok);
	ck_assert_msg(r->status == 201, "%ld %s", r->status, r->body);
	key = xstrdup(json_str(r->json, "key"));
	id = json_int(r->json, "id");
	ck_assert(key_format_valid(key));
	ck_assert(strncmp(key, json_str(r->json, "prefix"), KEY_DISPLAY) == 0);
	ck_assert_uint_eq(strlen(json_str(r->json, "prefix")), KEY_DISPLAY);
	ck_assert_str_eq(json_str(r->json, "name"), "ci runner");
	ck_assert_str_eq(json_str(r->json, "state"), "active");
	ck_assert(json_get(r->json, "expires_at") == NULL);
	http_free(r);
	ck_assert_int_eq(ping(key), 200);

	/* With an expiry: the key stops at the start of that UTC day. */
	time_format_date(time(NULL) + 30 * DAY, exp, sizeof(exp));
	snprintf(body, sizeof(body), "{\"expires_at\": \"%s\", \"name\": null}",
	    exp);
	r = api("POST", "/api/keys", body, tok);
	ck_assert_msg(r->status == 201, "%ld %s", r->status, r->body);
	ck_assert(strncmp(json_str(r->json, "expires_at"), exp, 10) == 0);
	ck_assert(json_get(r->json, "name") == NULL);
	key2 = xstrdup(json_str(r->json, "key"));
	id2 = json_int(r->json, "id");
	http_free(r);
	ck_assert_int_eq(ping(key2), 200);

	/* Listed newest first, in their states, never with the key. */
	l = api("GET", "/api/keys", NULL, tok);
	ck_assert_int_eq(l->status, 200);
	ck_assert(strstr(l->body, key) == NULL && strstr(l->body, key2) == NULL);
	ck_assert_int_eq(json_int(json_object_array_get_idx(json_get(l->json,
	    "keys"), 0), "id"), id2);
	ck_assert_str_eq(json_str(listed(l->json, id), "state"), "active");
	ck_assert_int_eq(json_int(l->json, "live_keys"), 2);
	http_free(l);

	/* Rotated with an hour's grace: both work, the old one "rotating". */
	snprintf(path, sizeof(path), "/api/keys/%lld/rotate", id);
	r = api("POST", path, "{\"grace_seconds\": 3600}", tok);
	ck_assert_msg(r->status == 201, "%ld %s", r->status, r->body);
	key3 = xstrdup(json_str(r->json, "key"));
	id3 = json_int(r->json, "id");
	ck_assert_str_eq(json_str(r->json, "name"), "ci runner");
	ck_assert_str_eq(json_str(r->json, "replaced.state"), "rotating");
	ck_assert_int_eq(json_int(r->json, "grace_seconds"), 3600);
	http_free(r);
	ping_n(key3, 4, 200);
	ping_n(key, 4, 200);
	l = api("GET", "/api/keys", NULL, tok);
	ck_assert_str_eq(json_str(listed(l->json, id), "state"), "rotating");
	ck_assert_str_eq(json_str(listed(l->json, id3), "state"), "active");
	http_free(l);

	/* Rotated with no grace: refused at once by every worker of the host. */
	snprintf(path, sizeof(path), "/api/keys/%lld/rotate", id2);
	ping_n(key2, 4, 200);
	r = api("POST", path, "{\"grace_seconds\": 0}", tok);
	ck_assert_msg(r->status == 201, "%ld %s", r->status, r->body);
	ck_assert_str_eq(json_str(r->json, "replaced.state"), "expired");
	ck_assert(strncmp(json_str(r->json, "expires_at"), exp, 10) == 0);
	ping_n(json_str(r->json, "key"), 2, 200);
	http_free(r);
	ping_n(key2, 4, 401);

	/* Revoked: 200 with the bound; refused at once (TTL is 30 s). */
	snprintf(path, sizeof(path), "/api/keys/%lld", id3);
	r = api("DELETE", path, NULL, tok);
	ck_assert_msg(r->status == 200, "%ld %s", r->status, r->body);
	ck_assert_str_eq(json_str(r->json, "state"), "revoked");
	ck_assert_int_eq(json_int(r->json, "key_cache_ttl"), 30);
	ck_assert(json_str(r->json, "revoked_at") != NULL);
	ck_assert(strstr(r->body, key3) == NULL);
	http_free(r);
	ping_n(key3, 4, 401);
	ping_n(key, 2, 200);	/* the rotated one is still in its grace */
	l = api("GET", "/api/keys", NULL, tok);
	ck_assert_str_eq(json_str(listed(l->json, id3), "state"), "revoked");
	ck_assert_str_eq(json_str(listed(l->json, id2), "state"), "expired");
	ck_assert_int_eq(json_int(l->json, "live_keys"), 2);
	http_free(l);

	/* Every change audited, the user as actor, with the address. */
	ck_assert_int_eq(user_int(sql_audits, user), 5);
	struct dbp p[1] = { DBP_S(user) };
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_audit_log "
	    "WHERE actor = ? AND action = 'key.revoke' AND target = actor "
	    "AND remote_addr = '127.0.0.1'", p, 1), 1);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_audit_log "
	    "WHERE actor = ? AND action = 'key.rotate'", p, 1), 2);
	free(key);
	free(key2);
	free(key3);
	free(tok);
	free(user);
}
END_TEST

/* A bad request answers status with a message containing says. */
static void
bad(const char *user, const char *tok, const char *method, const char *path,
    const char *body, long status, const char *code, const char *says)
{
	long long	 sum = user_int(sql_keys_sum, user);
	long long	 audits = user_int(sql_audits, user);
	struct http	*r = api(method, path, body, tok);

	assert_error(r, status, code, says);
	http_free(r);
	ck_assert_msg(user_int(sql_keys_sum, user) == sum &&
	    user_int(sql_audits, user) == audits, "%s %s %s changed keys",
	    method, path, body);
}

START_TEST(bad_requests_change_nothing)
{
	char		*user = user_new("pro"), *tok = token_for(user);
	char		*big, body[256], path[64], d[16];
	char		 n101[128], n100[512];
	struct http	*r;
	long long	 id;
	int		 i;

	r = api("POST", "/api/keys", "{\"name\": \"keep\"}", tok);
	ck_assert_int_eq(r->status, 201);
	id = json_int(r->json, "id");
	http_free(r);
	snprintf(path, sizeof(path), "/api/keys/%lld/rotate", id);

	bad(user, tok, "POST", "/api/keys", "{", 400, "invalid_body",
	    "not valid JSON");
	bad(user, tok, "POST", "/api/keys", "{\"name\":\"a\",}", 400,
	    "invalid_body", "not valid JSON");
	bad(user, tok, "POST", "/api/keys", "{'name':'a'}", 400,
	    "invalid_body", "not valid JSON");
	bad(user, tok, "POST", "/api/keys", "[]", 400, "invalid_body",
	    "must be a JSON object");
	bad(user, tok, "POST", "/api/keys", "{\"nam\":\"x\"}", 400,
	    "invalid_body", "unknown field \"nam\"");
	bad(user, tok, "POST", "/api/keys", "{\"name\":\"a\",\"name\":\"b\"}",
	    400, "invalid_body", "name is given twice");
	bad(user, tok, "POST", "/api/keys", "{\"name\":5}", 400,
	    "invalid_body", "name must be a string");
	bad(user, tok, "POST", "/api/keys",
	    "{\"name\":[[[[[[[[[[\"x\"]]]]]]]]]]}", 400, "invalid_body",
	    "nested too deep");
	memset(n101, 'x', 101);
	n101[101] = '\0';
	snprintf(body, sizeof(body), "{\"name\":\"%s\"}", n101);
	bad(user, tok, "POST", "/api/keys", body, 400, "invalid_parameter",
	    "name must be 1 to 100 characters");
	bad(user, tok, "POST", "/api/keys", "{\"name\":\"\"}", 400,
	    "invalid_parameter", "name must be 1 to 100 characters");
	bad(user, tok, "POST", "/api/keys", "{\"name\":\"a\\u0007b\"}", 400,
	    "invalid_parameter", "name must not contain control characters");
	bad(user, tok, "POST", "/api/keys", "{\"name\":\"a\\nb\"}", 400,
	    "invalid_parameter", "name must not contain control characters");
	bad(user, tok, "POST", "/api/keys", "{\"name\":\"\\u0000\"}", 400,
	    "invalid_body", "U+0000");
	bad(user, tok, "POST", "/api/keys", "{\"name\":\"\xc3\x28\"}", 400,
	    "invalid_body", "UTF-8");
	bad(user, tok, "POST", "/api/keys", "{\"expires_at\":\"2020-01-01\"}",
	    400, "invalid_parameter", "expires_at must be a date after today");
	time_format_date(time(NULL), d, sizeof(d));
	snprintf(body, sizeof(body), "{\"expires_at\":\"%s\"}", d);
	bad(user, tok, "POST", "/api/keys", body, 400, "invalid_parameter",
	    "expires_at must be a date after today");
	time_format_date(time(NULL) + 3660LL * DAY, d, sizeof(d));
	snprintf(body, sizeof(body), "{\"expires_at\":\"%s\"}", d);
	bad(user, tok, "POST", "/api/keys", body, 400, "invalid_parameter",
	    "expires_at must be within 10 years");
	static const char *const dates[] = { "2030-13-01", "2030-02-30",
	    "2030-1-01", "2030- 1-01", "tomorrow", "", "2030-01-01T00:00:00Z",
	    "+030-01-01" };
	for (i = 0; i < (int)(sizeof(dates) / sizeof(dates[0])); i++) {
		snprintf(body, sizeof(body), "{\"expires_at\":\"%s\"}", dates[i]);
		bad(user, tok, "POST", "/api/keys", body, 400,
		    "invalid_parameter", "expires_at must be a date, YYYY-MM-DD");
	}
	bad(user, tok, "POST", "/api/keys", "{\"expires_at\":20300101}", 400,
	    "invalid_body", "expires_at must be a string");
	big = xmalloc(BODY_MAX + 64);
	memset(big, ' ', BODY_MAX + 63);
	memcpy(big, "{\"name\":\"x\"", 11);
	big[BODY_MAX + 62] = '}';
	big[BODY_MAX + 63] = '\0';
	bad(user, tok, "POST", "/api/keys", big, 413, "body_too_large", NULL);
	free(big);

	bad(user, tok, "POST", path, "{\"grace_seconds\":604801}", 400,
	    "invalid_body", "grace_seconds must be an integer from 0 to 604800");
	bad(user, tok, "POST", path, "{\"grace_seconds\":-1}", 400,
	    "invalid_body", "from 0 to 604800");
	bad(user, tok, "POST", path, "{\"grace_seconds\":1.5}", 400,
	    "invalid_body", "from 0 to 604800");
	bad(user, tok, "POST", path, "{\"grace_seconds\":\"3600\"}", 400,
	    "invalid_body", "from 0 to 604800");
	bad(user, tok, "POST", path, "{\"grace\":3600}", 400,
	    "invalid_body", "unknown field \"grace\"");

	/* Without a token, or with an expired one: 401, nothing done. */
	bad(user, NULL, "POST", "/api/keys", "{}", 401, "missing_token", NULL);
	bad(user, NULL, "POST", path, "{}", 401, "missing_token", NULL);
	snprintf(path, sizeof(path), "/api/keys/%lld", id);
	bad(user, NULL, "DELETE", path, NULL, 401, "missing_token", NULL);
	r = api("GET", "/api/keys", NULL, NULL);
	assert_error(r, 401, "missing_token", NULL);
	http_free(r);
	{
		struct config	 c;
		char		 claims[160], *t;

		ck_assert_int_eq(config_load(&c, NULL), 0);
		snprintf(claims, sizeof(claims), "{\"sub\":\"%s\",\"exp\":%lld}",
		    user, (long long)time(NULL) - 3600);
		t = mint_token("HS256", c.jwt_secret, strlen(c.jwt_secret),
		    NULL, claims);
		bad(user, t, "DELETE", path, NULL, 401, "invalid_token", NULL);
		bad(user, t, "POST", "/api/keys", "{}", 401, "invalid_token",
		    NULL);
		free(t);
		config_free(&c);
	}
	/* A name of 100 characters of 3 bytes each is fine. */
	for (i = 0; i < 100; i++)
		memcpy(n100 + i * 3, "\xe2\x82\xac", 3);
	n100[300] = '\0';
	{
		char *b;

		xasprintf(&b, "{\"name\":\"%s\"}", n100);
		r = api("POST", "/api/keys", b, tok);
		ck_assert_msg(r->status == 201, "%ld %s", r->status, r->body);
		ck_assert_str_eq(json_str(r->json, "name"), n100);
		http_free(r);
		free(b);
	}
	free(tok);
	free(user);
}
END_TEST

/* Another user's key, an unknown id and malformed ones: the same 404. */
START_TEST(foreign_unknown_and_malformed_ids_same_404)
{
	char		*owner = user_new("pro"), *other = user_new("pro");
	char		*tok = token_for(other), *key = ctl_key(owner);
	char		 path[96], *first = NULL;
	long long	 id;
	struct http	*r;
	size_t		 i, m;
	static const char *const ids[] = { NULL, "99999999999", "abc", "0",
	    "-1", "007", "1e3", "1.0", "%31%32x", "99999999999999999999999",
	    "18446744073709551617", "+1", " 1" };
	static const char *const methods[] = { "DELETE", "POST" };
	static const char *const tails[] = { "", "/rotate" };

	id = test_db_int("SELECT MAX(id) FROM eco_api_keys", NULL, 0);
	for (m = 0; m < 2; m++)
		for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
			if (ids[i] == NULL)
				snprintf(path, sizeof(path), "/api/keys/%lld%s",
				    id, tails[m]);
			else if (ids[i][0] == ' ')
				snprintf(path, sizeof(path), "/api/keys/%%201%s",
				    tails[m]);
			else
				snprintf(path, sizeof(path), "/api/keys/%s%s",
				    ids[i], tails[m]);
			r = api(methods[m], path, m == 1 ?
			    "{\"grace_seconds\":0}" : NULL, tok);
			ck_assert_msg(r->status == 404, "%s %s: %ld %s",
			    methods[m], path, r->status, r->body);
			if (first == NULL)
				first = xstrdup(r->body);
			ck_assert_msg(strcmp(first, r->body) == 0,
			    "%s %s: %s, not %s", methods[m], path, r->body,
			    first);
			http_free(r);
		}
	/* The owner's key is untouched and still works. */
	ping_n(key, 2, 200);
	ck_assert_int_eq(user_int(sql_audits, other), 0);
	free(first);
	free(key);
	free(tok);
	free(owner);
	free(other);
}
END_TEST

START_TEST(conflicts_and_the_live_key_limit)
{
	char		*user = user_new("pro"), *tok = token_for(user);
	char		 path[96], body[64];
	long long	 ids[20], id;
	struct http	*r;
	int		 i;

	for (i = 0; i < 20; i++) {
		snprintf(body, sizeof(body), "{\"name\":\"k%d\"}", i);
		r = api("POST", "/api/keys", body, tok);
		ck_assert_msg(r->status == 201, "%d: %ld %s", i, r->status,
		    r->body);
		ids[i] = json_int(r->json, "id");
		http_free(r);
	}
	bad(user, tok, "POST", "/api/keys", "{}", 409, "too_many_keys",
	    "20 live keys");
	/* Rotating with a grace would hold 21 for a while: refused... */
	snprintf(path, sizeof(path), "/api/keys/%lld/rotate", ids[0]);
	bad(user, tok, "POST", path, "{\"grace_seconds\":60}", 409,
	    "too_many_keys", "grace_seconds 0");
	/* ...without one, the count stays: allowed. */
	r = api("POST", path, "{\"grace_seconds\":0}", tok);
	ck_assert_msg(r->status == 201, "%ld %s", r->status, r->body);
	id = json_int(r->json, "id");
	http_free(r);
	/* The rotated key: expired, so neither rotated nor rotated again. */
	bad(user, tok, "POST", path, "{}", 409, "key_expired", NULL);
	/* Revoking one frees a place. */
	snprintf(path, sizeof(path), "/api/keys/%lld", ids[1]);
	r = api("DELETE", path, NULL, tok);
	ck_assert_int_eq(r->status, 200);
	http_free(r);
	bad(user, tok, "DELETE", path, NULL, 409, "key_revoked", NULL);
	snprintf(path, sizeof(path), "/api/keys/%lld/rotate", ids[1]);
	bad(user, tok, "POST", path, "{}", 409, "key_revoked", NULL);
	/* A key in its grace period is not rotated twice. */
	snprintf(path, sizeof(path), "/api/keys/%lld/rotate", ids[2]);
	r = api("POST", path, "{\"grace_seconds\":600}", tok);
	ck_assert_msg(r->status == 201, "%ld %s", r->status, r->body);
	http_free(r);
	bad(user, tok, "POST", path, "{}", 409, "key_rotated", NULL);
	bad(user, tok, "POST", "/api/keys", "{}", 409, "too_many_keys", NULL);
	/* The one in its grace can still be revoked. */
	snprintf(path, sizeof(path), "/api/keys/%lld", ids[2]);
	r = api("DELETE", path, NULL, tok);
	ck_assert_int_eq(r->status, 200);
	http_free(r);
	r = api("POST", "/api/keys", "{}", tok);
	ck_assert_int_eq(r->status, 201);
	http_free(r);
	ck_assert(id > ids[19]);
	/* nexusctl is the operator's: not limited. */
	free(ctl_key(user));
	free(tok);
	free(user);
}
END_TEST

START_TEST(portal_config_and_me)
{
	char		*user = user_new("free"), *admin = user_new("enterprise");
	char		*tok = token_for(user), *atok = token_for(admin);
	json_object	*plans, *p;
	struct http	*r;

	r = api("GET", "/api/portal/config", NULL, NULL);
	ck_assert_msg(r->status == 200, "%ld %s", r->status, r->body);
	ck_assert_int_eq(json_int(r->json, "key_cache_ttl"), 30);
	ck_assert(json_object_object_get_ex(r->json, "login_url", NULL));
	ck_assert(json_object_object_get_ex(r->json, "upgrade_url", NULL));
	plans = json_get(r->json, "plans");
	ck_assert_int_eq(json_object_array_length(plans), 3);
	p = json_object_array_get_idx(plans, 0);
	ck_assert_str_eq(json_str(p, "id"), "free");
	ck_assert_str_eq(json_str(p, "name"), "Free");
	ck_assert_int_eq(json_int(p, "price_cents"), 0);
	ck_assert_int_eq(json_int(p, "monthly_calls"), 1000);
	ck_assert(json_object_get_boolean(json_get(p, "hard_limit")));
	p = json_object_array_get_idx(plans, 1);
	ck_assert_int_eq(json_int(p, "price_cents"), 4900);
	ck_assert_int_eq(json_int(p, "overage_micros_per_call"), 1000);
	p = json_object_array_get_idx(plans, 2);
	ck_assert_str_eq(json_str(p, "id"), "enterprise");
	ck_assert(json_object_object_get_ex(p, "monthly_calls", NULL) &&
	    json_get(p, "monthly_calls") == NULL);
	http_free(r);

	r = api("GET", "/api/me", NULL, tok);
	ck_assert_msg(r->status == 200, "%ld %s", r->status, r->body);
	ck_assert_str_eq(json_str(r->json, "user_id"), user);
	ck_assert(strstr(json_str(r->json, "email"), "@example.com") != NULL);
	ck_assert(!json_object_get_boolean(json_get(r->json, "admin")));
	http_free(r);
	r = api("GET", "/api/me", NULL, NULL);
	assert_error(r, 401, "missing_token", NULL);
	http_free(r);

	ck_assert_int_eq(setenv("ADMIN_ECO_IDS", admin, 1), 0);
	restart_workers();
	r = api("GET", "/api/me", NULL, atok);
	ck_assert_str_eq(json_str(r->json, "user_id"), admin);
	ck_assert(json_object_get_boolean(json_get(r->json, "admin")));
	http_free(r);
	r = api("GET", "/api/me", NULL, tok);
	ck_assert(!json_object_get_boolean(json_get(r->json, "admin")));
	http_free(r);
	unsetenv("ADMIN_ECO_IDS");
	restart_workers();

	/* Without the database the sign-in settings are still there. */
	stack("db-stop");
	r = api("GET", "/api/portal/config", NULL, NULL);
	ck_assert_msg(r->status == 200, "%ld %s", r->status, r->body);
	ck_assert(json_object_object_get_ex(r->json, "plans", NULL) &&
	    json_get(r->json, "plans") == NULL);
	http_free(r);
	stack("db-start");
	free(tok);
	free(atok);
	free(user);
	free(admin);
}
END_TEST

/* Statements this connection has executed (this query included). */
static long long
session_statements(struct db *db)
{
	long long	 v;

	ck_assert_int_eq(db_query_int(db, "SELECT VARIABLE_VALUE FROM "
	    "information_schema.SESSION_STATUS "
	    "WHERE VARIABLE_NAME = 'COM_STMT_EXECUTE'", NULL, 0, &v), 1);
	return v;
}

/* A key of the old format (43 random), stored as a release before MACs did. */
static char *
legacy_key(const char *user)
{
	char		*key = xmalloc(KEY_LEN + 1);
	unsigned char	 hash[KEY_HASH_LEN];

	memcpy(key, KEY_PREFIX, sizeof(KEY_PREFIX) - 1);
	ck_assert_int_eq(random_base62(key + 8, KEY_BODY), 0);
	key_hash(key, hash);
	struct dbp p[3] = { DBP_S(user), DBP_B(hash, sizeof(hash)),
	    DBP_SN(key, KEY_DISPLAY) };
	test_db_exec("INSERT INTO eco_api_keys (user_id, key_hash, prefix, "
	    "created_at) VALUES (?, ?, ?, UTC_TIMESTAMP())", p, 3);
	return key;
}

static void
revoke_in_db(const char *key)
{
	unsigned char	 hash[KEY_HASH_LEN];

	key_hash(key, hash);
	struct dbp p[1] = { DBP_B(hash, sizeof(hash)) };
	test_db_exec("UPDATE eco_api_keys SET revoked_at = UTC_TIMESTAMP() "
	    "WHERE key_hash = ?", p, 1);
}

/*
 * The cache itself, in this process, against the stack's database and
 * with clocks the test sets: what reaches the database, the monotonic
 * TTL against a wall clock stepped back, the host generation, old keys,
 * and stale entries through an outage.
 */
START_TEST(cache_checks_clocks_and_outage)
{
	struct config	 cfg;
	struct db	*db;
	struct shm	*shm = shm_open_host(NULL);
	struct keycache	*kc;
	struct apikey	 k;
	char		*user = user_new("pro"), *key = ctl_key(user);
	char		*key2 = ctl_key(user), *key3 = ctl_key(user);
	char		*key4 = ctl_key(user), *key5 = ctl_key(user);
	char		*key6 = ctl_key(user), *old = legacy_key(user), *old2;
	unsigned char	 hash[KEY_HASH_LEN];
	char		 rnd[KEY_LEN + 1];
	int64_t		 t;
	time_t		 now = time(NULL);
	long long	 s0;
	int		 i;

	ck_assert_int_eq(config_load(&cfg, NULL), 0);
	db = db_open(&cfg);
	kc = keycache_new(&cfg, db, shm);
	t = mono_ms();

	/* Made-up keys, well formed or not: no statement at all. */
	s0 = session_statements(db);
	memcpy(rnd, KEY_PREFIX, 8);
	for (i = 0; i < 2000; i++) {
		ck_assert_int_eq(random_base62(rnd + 8, KEY_BODY), 0);
		if (i % 4 == 3)
			rnd[8 + i % KEY_BODY] = '-';
		ck_assert_int_eq(keycache_get(kc, db, rnd, t, now, &k),
		    KEY_INVALID);
	}
	ck_assert_int_eq(session_statements(db) - s0, 1);
	/* The server's keys, new and old, are looked up once each. */
	ck_assert_int_eq(keycache_get(kc, db, key, t, now, &k), KEY_OK);
	ck_assert_str_eq(k.user_id, user);
	ck_assert_int_eq(keycache_get(kc, db, old, t, now, &k), KEY_OK);
	s0 = session_statements(db);
	ck_assert_int_eq(keycache_get(kc, db, key, t + 1, now, &k), KEY_OK);
	ck_assert_int_eq(keycache_get(kc, db, old, t + 1, now, &k), KEY_OK);
	ck_assert_int_eq(session_statements(db) - s0, 1);

	/* An old key stored after the load: refused until the next poll. */
	old2 = legacy_key(user);
	ck_assert_int_eq(keycache_get(kc, db, old2, t + 2, now, &k), KEY_INVALID);

	/*
	 * Revoked in the database: trusted for the TTL on the monotonic
	 * clock, not a second longer, whatever the wall clock does.
	 */
	revoke_in_db(key);
	ck_assert_int_eq(keycache_get(kc, db, key, t + 29999, now - 7200, &k),
	    KEY_OK);
	ck_assert_int_eq(keycache_get(kc, db, key, t + 30000, now - 7200, &k),
	    KEY_INVALID);
	/* The poll (every 30 s) found the old key stored since. */
	ck_assert_int_eq(keycache_get(kc, db, old2, t + 30001, now - 7200, &k),
	    KEY_OK);
	/* A wall clock stepped back refuses no new key. */
	ck_assert_int_eq(keycache_get(kc, db, key3, t + 30002, now - 86400, &k),
	    KEY_OK);
	/* Expiry is a wall-clock date: checked as one, even while cached. */
	ck_assert_int_eq(keycache_get(kc, db, key3, t + 30003, now, &k), KEY_OK);
	ck_assert_int_eq(keycache_get(kc, db, key3, t + 30004, now + 366 * DAY,
	    &k), KEY_OK);
	struct dbp p[1] = { DBP_S(user) };
	test_db_exec("UPDATE eco_api_keys SET expires_at = UTC_TIMESTAMP() + "
	    "INTERVAL 1 HOUR WHERE user_id = ?", p, 1);
	ck_assert_int_eq(keycache_get(kc, db, key4, t + 30005, now, &k), KEY_OK);
	ck_assert_int_eq(keycache_get(kc, db, key4, t + 30006, now + 7200, &k),
	    KEY_INVALID);

	/* The host's generation moves: every cached key is asked again. */
	ck_assert_int_eq(keycache_get(kc, db, key2, t + 30007, now, &k), KEY_OK);
	revoke_in_db(key2);
	ck_assert_int_eq(keycache_get(kc, db, key2, t + 30008, now, &k), KEY_OK);
	shm_keys_bump(shm);
	ck_assert_int_eq(keycache_get(kc, db, key2, t + 30009, now, &k),
	    KEY_INVALID);
	ck_assert_int_eq(keycache_get(kc, db, key3, t + 30010, now, &k), KEY_OK);
	ck_assert_int_eq(keycache_get(kc, db, old, t + 30011, now, &k), KEY_OK);

	/* A change naming one key: only that key is asked again. */
	ck_assert_int_eq(keycache_get(kc, db, key6, t + 30012, now, &k), KEY_OK);
	revoke_in_db(key6);
	key_hash(key6, hash);
	shm_keys_changed(shm, hash);
	s0 = session_statements(db);
	ck_assert_int_eq(keycache_get(kc, db, key6, t + 30013, now, &k),
	    KEY_INVALID);
	ck_assert_int_eq(keycache_get(kc, db, old, t + 30013, now, &k), KEY_OK);
	ck_assert_int_eq(keycache_get(kc, db, key3, t + 30013, now, &k), KEY_OK);
	ck_assert_int_eq(session_statements(db) - s0, 2);

	/*
	 * The database goes away: a key found before keeps working from its
	 * stale entry; one never seen gets "unavailable"; after a failure the
	 * database is left alone for a second, even once it is back.
	 */
	stack("db-stop");
	t += 60000;
	ck_assert_int_eq(keycache_get(kc, db, key3, t, now, &k), KEY_OK);
	ck_assert_int_eq(keycache_get(kc, db, key5, t, now, &k),
	    KEY_UNAVAILABLE);
	for (i = 0; i < 100; i++)
		ck_assert_int_eq(keycache_get(kc, db, key3, t + i, now, &k),
		    KEY_OK);
	ck_assert_int_eq(keycache_get(kc, db, old, t + 100, now, &k), KEY_OK);
	stack("db-start");
	sleep(2);	/* past db.c's own throttle on connecting */
	ck_assert_int_eq(keycache_get(kc, db, key2, t + 999, now, &k),
	    KEY_INVALID);	/* a stale "revoked" stays refused */
	ck_assert_int_eq(keycache_get(kc, db, key5, t + 999, now, &k),
	    KEY_UNAVAILABLE);
	ck_assert_int_eq(keycache_get(kc, db, key5, t + 1000, now, &k), KEY_OK);
	s0 = session_statements(db);
	ck_assert_int_eq(keycache_get(kc, db, key5, t + 1001, now, &k), KEY_OK);
	ck_assert_int_eq(keycache_get(kc, db, key3, t + 1001, now, &k), KEY_OK);
	ck_assert_int_eq(session_statements(db) - s0, 2);	/* key3 again */

	keycache_free(kc);
	shm_close(shm);
	db_close(db);
	config_free(&cfg);
	free(user);
	free(key);
	free(key2);
	free(key3);
	free(key4);
	free(key5);
	free(key6);
	free(old);
	free(old2);
}
END_TEST

START_TEST(ctl_needs_the_secret_and_tells_the_workers)
{
	char		*user = user_new("pro"), *key = ctl_key(user), *out;
	char		*key2, id[32];
	long long	 n;

	/* Cached by both workers (TTL 30 s), refused at once after a revoke. */
	ping_n(key, 4, 200);
	snprintf(id, sizeof(id), "%lld",
	    test_db_int("SELECT MAX(id) FROM eco_api_keys", NULL, 0));
	ck_assert_int_eq(ctl(&out, "key", "revoke", "--id", id, NULL), 0);
	free(out);
	ping_n(key, 4, 401);
	ck_assert_int_ne(ctl(&out, "key", "revoke", "--id", id, NULL), 0);
	free(out);

	key2 = ctl_key(user);
	ping_n(key2, 4, 200);
	snprintf(id, sizeof(id), "%lld",
	    test_db_int("SELECT MAX(id) FROM eco_api_keys", NULL, 0));
	ck_assert_int_eq(ctl(&out, "key", "rotate", "--id", id, "--grace", "0",
	    NULL), 0);
	ck_assert(key_format_valid(out));
	ping_n(key2, 4, 401);
	ping_n(out, 2, 200);
	free(out);

	/* No key without a secret of 32 bytes; revoking needs none. */
	n = user_int(sql_keys, user);
	ck_assert_int_eq(setenv("NEXUS_KEY_SECRET", "", 1), 0);
	ck_assert_int_eq(ctl(&out, "key", "create", "--user", user, NULL), 1);
	ck_assert_str_eq(out, "");
	free(out);
	ck_assert_int_eq(ctl(&out, "key", "rotate", "--id", id, NULL), 1);
	free(out);
	ck_assert_int_eq(setenv("NEXUS_KEY_SECRET", "0123456789abcdef", 1), 0);
	ck_assert_int_eq(ctl(&out, "key", "create", "--user", user, NULL), 1);
	free(out);
	ck_assert_int_eq(user_int(sql_keys, user), n);
	unsetenv("NEXUS_KEY_SECRET");
	/* Names follow the API's rules. */
	ck_assert_int_eq(ctl(&out, "key", "create", "--user", user, "--name",
	    "a\tb", NULL), 2);
	free(out);
	ck_assert_int_eq(ctl(&out, "key", "create", "--user", user,
	    "--expires", "2020-01-01", NULL), 2);
	free(out);
	ck_assert_int_eq(user_int(sql_keys, user), n);
	free(key);
	free(key2);
	free(user);
}
END_TEST

static int
log_has(const char *what)
{
	char		 path[1024], line[4096];
	FILE		*f;
	int		 found = 0;

	snprintf(path, sizeof(path), "%s/logs/workers.log",
	    getenv("NEXUS_TEST_DIR"));
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}

START_TEST(workers_without_a_secret_say_why_and_serve)
{
	char		*user = user_new("pro"), *tok = token_for(user);
	char		*key = ctl_key(user), path[64];
	struct http	*r;

	ck_assert_int_eq(setenv("NEXUS_KEY_SECRET", "", 1), 0);
	restart_workers();
	ck_assert(log_has("key_secret (KEY_SECRET) is not set"));
	ping_n(key, 2, 200);
	ck_assert_int_eq(ping("nx_live_0000000000000000000000000000000000000000000"),
	    401);
	bad(user, tok, "POST", "/api/keys", "{}", 500, "internal",
	    "not configured");
	snprintf(path, sizeof(path), "/api/keys/%lld",
	    test_db_int("SELECT MAX(id) FROM eco_api_keys", NULL, 0));
	r = api("DELETE", path, NULL, tok);
	ck_assert_int_eq(r->status, 200);
	http_free(r);
	ping_n(key, 2, 401);
	unsetenv("NEXUS_KEY_SECRET");
	restart_workers();
	free(key);
	free(tok);
	free(user);
}
END_TEST

START_TEST(migration_006_applies_again)
{
	char	*out, *user = user_new("pro"), *key = ctl_key(user);
	char	*old = legacy_key(user);
	int	 i;

	for (i = 0; i < 2; i++) {
		test_db_exec("DELETE FROM schema_migrations WHERE version = 6",
		    NULL, 0);
		ck_assert_int_eq(ctl(&out, "migrate", NULL), 0);
		free(out);
	}
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM "
	    "information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND "
	    "TABLE_NAME = 'eco_api_keys' AND COLUMN_NAME IN "
	    "('key_format', 'rotated_at')", NULL, 0), 2);
	struct dbp p[1] = { DBP_S(user) };
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_api_keys "
	    "WHERE user_id = ? AND key_format = 1", p, 1), 1);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_api_keys "
	    "WHERE user_id = ? AND key_format = 0", p, 1), 1);
	ping_n(key, 2, 200);
	free(key);
	free(old);
	free(user);
}
END_TEST

/*
 * The flood: FLOOD_THREADS threads sending FLOOD_RATE made-up keys a
 * second in all (well formed or not, in either header), from 127.0.0.1
 * like the real clients beside them.
 */
#define FLOOD_RATE	2200
#define FLOOD_THREADS	8
#define FLOOD_SECS	20

static int64_t
mono_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t
discard(char *p, size_t sz, size_t n, void *arg)
{
	return sz * n;
}

static size_t
keep(char *p, size_t sz, size_t n, void *arg)
{
	struct buf	*b = arg;

	buf_add(b, p, sz * n);
	return sz * n;
}

/* One request on c; returns its status (0: no answer), the body in b. */
static long
call(CURL *c, const char *method, const char *path, const char *h1,
    const char *body, struct buf *b)
{
	struct curl_slist	*h = NULL;
	char			 url[1024];
	long			 st = 0;

	snprintf(url, sizeof(url), "%s%s", getenv("NEXUS_URL"), path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, b != NULL ? keep : discard);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	h = curl_slist_append(h, h1);
	h = curl_slist_append(h, "Expect:");
	if (body != NULL) {
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	} else
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
	curl_slist_free_all(h);
	return st;
}

struct flood {
	int64_t		 until_us;
	long		 sent, refused, other, other_status;
};

static void *
flood_run(void *arg)
{
	struct flood	*f = arg;
	CURL		*c = curl_easy_init();
	char		 key[256], h[300];
	int64_t		 next = mono_us(), gap = 1000000LL * FLOOD_THREADS /
			    FLOOD_RATE, now;
	long		 st;

	memcpy(key, KEY_PREFIX, 8);
	while ((now = mono_us()) < f->until_us) {
		random_base62(key + 8, KEY_BODY);
		switch (f->sent % 8) {
		case 5:		/* one short */
			key[KEY_LEN - 1] = '\0';
			break;
		case 6:		/* not base62 */
			key[20] = '_';
			break;
		case 7:		/* too long, and another prefix */
			random_base62(key + 8, 200);
			key[3] = 't';
			break;
		}
		snprintf(h, sizeof(h), f->sent % 2 ? "X-API-Key: %s" :
		    "Authorization: Bearer %s", key);
		key[3] = 'l';
		st = call(c, "GET", PING, h, NULL, NULL);
		f->sent++;
		if (st == 401)
			f->refused++;
		else {
			f->other++;
			f->other_status = st;
		}
		if ((next += gap) > (now = mono_us()))
			usleep((useconds_t)(next - now));
	}
	curl_easy_cleanup(c);
	return NULL;
}

/* The real clients: keys made before, used; keys made now, used at once. */
struct clients {
	int64_t		 until_us;
	char		*keys[4];
	const char	*tok, *user;
	long		 calls, failed, last_status, made, made_failed;
	char		 what[128];
};

static void
client_ping(struct clients *cl, CURL *c, const char *key, const char *what)
{
	char	 h[128];
	long	 st;

	snprintf(h, sizeof(h), "X-API-Key: %s", key);
	st = call(c, "GET", PING, h, NULL, NULL);
	cl->calls++;
	if (st != 200) {
		cl->failed++;
		cl->last_status = st;
		snprintf(cl->what, sizeof(cl->what), "%s", what);
	}
}

static void *
clients_old(void *arg)
{
	struct clients	*cl = arg;
	CURL		*c = curl_easy_init();
	size_t		 i = 0;

	while (mono_us() < cl->until_us) {
		client_ping(cl, c, cl->keys[i % 4], i % 4 == 3 ?
		    "a key made before MACs" : "a key made before the flood");
		i++;
		usleep(10000);
	}
	curl_easy_cleanup(c);
	return NULL;
}

/* The id of the user's key that starts like key (GET /api/keys), or 0. */
static long long
client_key_id(CURL *c, const char *h, const char *key)
{
	struct buf	 b;
	json_object	*o, *keys, *e, *v;
	long long	 id = 0;
	size_t		 i;

	buf_init(&b, 1024 * 1024);
	if (call(c, "GET", "/api/keys", h, NULL, &b) == 200 &&
	    buf_add(&b, "", 1) == 0 && (o = json_tokener_parse(b.data)) != NULL) {
		if (json_object_object_get_ex(o, "keys", &keys))
			for (i = 0; id == 0 && i < json_object_array_length(keys);
			    i++) {
				e = json_object_array_get_idx(keys, i);
				if (json_object_object_get_ex(e, "prefix", &v) &&
				    strncmp(json_object_get_string(v), key,
				    KEY_DISPLAY) == 0 &&
				    json_object_object_get_ex(e, "id", &v))
					id = json_object_get_int64(v);
			}
		json_object_put(o);
	}
	buf_free(&b);
	return id;
}

/*
 * Makes a key (through the API, or nexusctl every third time), uses it,
 * revokes it through the API (the user's live keys are limited) and sees
 * it refused at once.
 */
static void *
clients_new(void *arg)
{
	struct clients	*cl = arg;
	CURL		*c = curl_easy_init();
	struct buf	 b;
	json_object	*o;
	char		 h[1024], key[KEY_LEN + 2], cmd[1024], path[64];
	FILE		*p;
	long long	 id;
	long		 st;
	int		 i, n = 0;

	snprintf(h, sizeof(h), "Authorization: Bearer %s", cl->tok);
	while (mono_us() < cl->until_us) {
		key[0] = '\0';
		if (n++ % 3 == 2) {
			snprintf(cmd, sizeof(cmd), "'%s/src/nexusctl' key create "
			    "--user %s 2>/dev/null", getenv("top_builddir"),
			    cl->user);
			if ((p = popen(cmd, "r")) != NULL) {
				if (fgets(key, sizeof(key), p) == NULL)
					key[0] = '\0';
				key[strcspn(key, "\n")] = '\0';
				pclose(p);
			}
		} else {
			buf_init(&b, 65536);
			st = call(c, "POST", "/api/keys", h, "{\"name\":\"new\"}",
			    &b);
			if (st == 201 && buf_add(&b, "", 1) == 0 &&
			    (o = json_tokener_parse(b.data)) != NULL) {
				json_object *k;
				if (json_object_object_get_ex(o, "key", &k))
					snprintf(key, sizeof(key), "%s",
					    json_object_get_string(k));
				json_object_put(o);
			}
			buf_free(&b);
		}
		cl->made++;
		if (!key_format_valid(key) ||
		    (id = client_key_id(c, h, key)) == 0) {
			cl->made_failed++;
			continue;
		}
		for (i = 0; i < 4; i++)
			client_ping(cl, c, key, "a key made during the flood");
		snprintf(path, sizeof(path), "/api/keys/%lld", id);
		if (call(c, "DELETE", path, h, NULL, NULL) != 200)
			cl->made_failed++;
		for (i = 0; i < 4; i++) {
			snprintf(cmd, sizeof(cmd), "X-API-Key: %s", key);
			if ((st = call(c, "GET", PING, cmd, NULL, NULL)) != 401) {
				cl->failed++;
				cl->last_status = st;
				snprintf(cl->what, sizeof(cl->what),
				    "a key revoked during the flood");
			}
		}
		usleep(500000);
	}
	curl_easy_cleanup(c);
	return NULL;
}

/* Statements the server has executed so far (all sessions). */
static long long
statements(void)
{
	return test_db_int("SELECT VARIABLE_VALUE FROM "
	    "information_schema.GLOBAL_STATUS "
	    "WHERE VARIABLE_NAME = 'COM_STMT_EXECUTE'", NULL, 0);
}

/* Runs the flood for secs; returns what the threads saw, summed. */
static void
flood(int secs, struct flood *sum, struct clients *cl)
{
	struct flood	 f[FLOOD_THREADS];
	pthread_t	 t[FLOOD_THREADS + 2];
	int64_t		 until = mono_us() + (int64_t)secs * 1000000;
	int		 i;

	memset(f, 0, sizeof(f));
	for (i = 0; i < FLOOD_THREADS; i++) {
		f[i].until_us = until;
		ck_assert_int_eq(pthread_create(&t[i], NULL, flood_run, &f[i]), 0);
	}
	if (cl != NULL) {
		cl->until_us = until;
		ck_assert_int_eq(pthread_create(&t[i], NULL, clients_old, cl), 0);
		ck_assert_int_eq(pthread_create(&t[i + 1], NULL, clients_new,
		    cl), 0);
	}
	for (i = 0; i < FLOOD_THREADS + (cl != NULL ? 2 : 0); i++)
		pthread_join(t[i], NULL);
	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < FLOOD_THREADS; i++) {
		sum->sent += f[i].sent;
		sum->refused += f[i].refused;
		sum->other += f[i].other;
		if (f[i].other > 0)
			sum->other_status = f[i].other_status;
	}
}

START_TEST(random_key_flood_beside_real_clients)
{
	struct clients	 cl;
	struct flood	 f;
	char		*user = user_new("pro");
	long long	 before, used;
	int		 i;

	memset(&cl, 0, sizeof(cl));
	cl.user = user;
	cl.tok = token_for(user);
	for (i = 0; i < 3; i++)
		cl.keys[i] = ctl_key(user);
	cl.keys[3] = legacy_key(user);
	restart_workers();	/* which load the old key */
	for (i = 0; i < 4; i++)
		ping_n(cl.keys[i], 2, 200);

	/* The flood alone: not one statement for it. */
	before = statements();
	flood(3, &f, NULL);
	used = statements() - before;
	ck_assert_msg(f.other == 0, "%ld of %ld made-up keys not refused "
	    "(%ld)", f.other, f.sent, f.other_status);
	ck_assert_msg(f.sent >= 3 * 2000, "only %ld keys in 3 s", f.sent);
	ck_assert_msg(used <= 6, "%lld statements for %ld made-up keys", used,
	    f.sent);

	/* Beside real clients, for FLOOD_SECS. */
	before = statements();
	flood(FLOOD_SECS, &f, &cl);
	used = statements() - before;
	printf("flood: %ld made-up keys in %d s, all refused; real clients: "
	    "%ld calls, %ld keys made; %lld statements in all\n", f.sent,
	    FLOOD_SECS, cl.calls, cl.made, used);
	ck_assert_msg(cl.failed == 0, "%ld of %ld real calls failed, the "
	    "last %ld for %s", cl.failed, cl.calls, cl.last_status, cl.what);
	ck_assert_msg(cl.made_failed == 0, "%ld of %ld keys not made, found "
	    "or revoked", cl.made_failed, cl.made);
	ck_assert_msg(cl.made >= FLOOD_SECS / 2, "only %ld keys made", cl.made);
	ck_assert_msg(cl.calls >= FLOOD_SECS * 25, "only %ld real calls",
	    cl.calls);
	ck_assert_msg(f.other == 0, "%ld made-up keys not refused (%ld)",
	    f.other, f.other_status);
	ck_assert_msg(f.sent >= FLOOD_SECS * 2000, "only %ld keys in %d s",
	    f.sent, FLOOD_SECS);
	/*
	 * What the real clients cost: making, listing and revoking a key
	 * (with their JWT checks and audit rows) and its first lookups, about
	 * 25 statements each; usage batches. One statement per made-up key
	 * would be over 40,000.
	 */
	ck_assert_msg(used <= 30 * cl.made + 100, "%lld statements for %ld "
	    "keys made", used, cl.made);
	for (i = 0; i < 4; i++)
		free(cl.keys[i]);
	free((char *)cl.tok);
	free(user);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("keys");
	TCase	*tc = tcase_create("keys");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, create_list_rotate_revoke);
	tcase_add_test(tc, bad_requests_change_nothing);
	tcase_add_test(tc, foreign_unknown_and_malformed_ids_same_404);
	tcase_add_test(tc, conflicts_and_the_live_key_limit);
	tcase_add_test(tc, portal_config_and_me);
	tcase_add_test(tc, cache_checks_clocks_and_outage);
	tcase_add_test(tc, ctl_needs_the_secret_and_tells_the_workers);
	tcase_add_test(tc, workers_without_a_secret_say_why_and_serve);
	tcase_add_test(tc, migration_006_applies_again);
	tcase_add_test(tc, random_key_flood_beside_real_clients);
	suite_add_tcase(s, tc);
	return itest_run(s);
}
