/*
 * The hot path end to end: API keys, quotas, rate-limit headers and usage
 * tracking through the web server and the workers, with the crashes and
 * outages the design promises to survive.
 */
#include "config.h"

#include <sys/stat.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define PING	"/api/secure/ping"

static const char *const sql_rows = "SELECT COUNT(*) FROM eco_api_usage "
    "WHERE user_id = ?";
static const char *const sql_rows_status = "SELECT COUNT(*) FROM "
    "eco_api_usage WHERE user_id = ? AND status = ?";
static const char *const sql_calls = "SELECT COALESCE(SUM(api_calls), 0) "
    "FROM eco_usage_records WHERE user_id = ?";
static const char *const sql_overage = "SELECT COALESCE(SUM(overage_calls), "
    "0) FROM eco_usage_records WHERE user_id = ?";
static const char *const sql_has_event = "SELECT COUNT(*) FROM eco_api_usage "
    "WHERE user_id = ? AND event_id = UNHEX(?)";

static void	 assert_401(const char *);

static char *
key_header(const char *key)
{
	char	*h;

	xasprintf(&h, "X-API-Key: %s", key);
	return h;
}

static long long
hdr_int(struct http *r, const char *name)
{
	char		 v[64];
	long long	 n;

	ck_assert_msg(http_hdr(r, name, v, sizeof(v)) != NULL, "no %s", name);
	ck_assert_msg(parse_int(v, -1, INT64_MAX, &n) == 0, "%s: %s", name, v);
	return n;
}

static struct http *
ping(const char *key)
{
	char		*h = key_header(key);
	const char	*hdrs[2] = { h, NULL };
	struct http	*r = http_get(PING, hdrs);

	free(h);
	return r;
}

/* Every 200 a client saw has its event (X-Request-Id) stored, once. */
static void
assert_all_seen_stored(const char *user, const struct load_res *res, size_t n)
{
	size_t	 i, ok = 0;

	for (i = 0; i < n; i++) {
		if (res[i].status != 200)
			continue;
		ck_assert_msg(strlen(res[i].id) == 32, "200 without X-Request-Id");
		struct dbp p[2] = { DBP_S(user), DBP_S(res[i].id) };
		ck_assert_msg(test_db_int(sql_has_event, p, 2) == 1,
		    "a 200 the client saw has no row: %s", res[i].id);
		ok++;
	}
	ck_assert(ok > 0);
}

/* The id of the newest key, as nexusctl takes it. */
static void
newest_key_id(char *id, size_t n)
{
	snprintf(id, n, "%lld",
	    test_db_int("SELECT MAX(id) FROM eco_api_keys", NULL, 0));
}

static void
assert_key_refused(const char *key)
{
	char	*h = key_header(key);

	assert_401(h);
	free(h);
}

static void
assert_no_spool(const char *when)
{
	char	 cmd[1024];

	snprintf(cmd, sizeof(cmd), "ls '%s'/spool/*.spool >/dev/null 2>&1",
	    getenv("NEXUS_TEST_DIR"));
	ck_assert_msg(system(cmd) != 0, "spool files left %s", when);
}

static void
restart_workers(void)
{
	stack("workers-stop");
	stack("workers-start");
}

START_TEST(free_plan_exactly_1000)
{
	char		*user, *key, *h;
	struct load_res	*res = xcalloc(1100, sizeof(*res));
	size_t		 i, j;

	make_user("free-race@example.com", "free", &user, &key);
	h = key_header(key);
	load_run(PING, h, 1100, 64, res);
	ck_assert_uint_eq(load_count(res, 1100, 200), 1000);
	ck_assert_uint_eq(load_count(res, 1100, 429), 100);

	struct dbp p[1] = { DBP_S(user) };
	/* Counted at admission, in the database: exact at once. */
	ck_assert_int_eq(test_db_int(sql_calls, p, 1), 1000);
	/* Every call is an event, 429s included; none counted twice. */
	ck_assert_int_eq(wait_db_int(sql_rows, p, 1, 1100, 20), 1100);
	struct dbp p200[2] = { DBP_S(user), DBP_I(200) };
	struct dbp p429[2] = { DBP_S(user), DBP_I(429) };
	ck_assert_int_eq(test_db_int(sql_rows_status, p200, 2), 1000);
	ck_assert_int_eq(test_db_int(sql_rows_status, p429, 2), 100);
	ck_assert_int_eq(test_db_int(sql_calls, p, 1), 1000);
	for (i = 0; i < 1100; i++)
		for (j = i + 1; j < 1100; j++)
			ck_assert_str_ne(res[i].id, res[j].id);
	free(res);
	free(h);
	free(user);
	free(key);
}
END_TEST

START_TEST(headers_on_200_and_429)
{
	char		*user, *key, v[128], want[128];
	struct http	*r;
	time_t		 now = time(NULL), reset = period_end(now);
	long long	 retry;

	make_user("headers@example.com", "free", &user, &key);
	r = ping(key);
	ck_assert_int_eq(r->status, 200);
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Limit"), 1000);
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Remaining"), 999);
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Used"), 1);
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Reset"), reset);
	snprintf(want, sizeof(want), "\"monthly\";q=1000;w=%lld",
	    (long long)(reset - period_start(now)));
	ck_assert_str_eq(http_hdr(r, "RateLimit-Policy", v, sizeof(v)), want);
	ck_assert(http_hdr(r, "RateLimit", v, sizeof(v)) != NULL);
	ck_assert_msg(strncmp(v, "\"monthly\";r=999;t=", 18) == 0, "%s", v);
	ck_assert(json_object_get_boolean(json_get(r->json, "pong")));
	ck_assert_str_eq(json_str(r->json, "user"), user);
	http_free(r);

	/* Exhaust the month in the database, as 999 more calls would. */
	struct dbp p[1] = { DBP_S(user) };
	struct db *db = test_db();
	ck_assert(db_exec(db, "UPDATE eco_usage_records SET api_calls = 1000 "
	    "WHERE user_id = ?", p, 1, NULL) == 0);
	db_close(db);
	r = ping(key);
	ck_assert_int_eq(r->status, 429);
	ck_assert_str_eq(json_str(r->json, "error.code"), "quota_exceeded");
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Remaining"), 0);
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Used"), 1000);
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Limit"), 1000);
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Reset"), reset);
	retry = hdr_int(r, "Retry-After");
	ck_assert_msg(retry >= reset - time(NULL) - 2 && retry <= reset - now,
	    "Retry-After %lld", retry);
	http_free(r);
	/* A refused call is not counted. */
	ck_assert_int_eq(test_db_int(sql_calls, p, 1), 1000);
	free(user);
	free(key);
}
END_TEST

START_TEST(pro_overage_and_enterprise_unlimited)
{
	char		*user, *key, *ent, *ekey, v[64];
	struct http	*r;
	struct db	*db;

	make_user("over@example.com", "pro", &user, &key);
	/*
	 * This month's earlier usage: exactly the allowance. The user has
	 * this period's row from creation (lib/users.c): set its count.
	 */
	struct dbp p[2] = { DBP_S(user), DBP_I(period_start(time(NULL))) };
	db = test_db();
	ck_assert(db_exec(db, "INSERT INTO eco_usage_records (user_id, period, "
	    "api_calls, updated_at) VALUES (?, FROM_UNIXTIME(?), 100000, "
	    "UTC_TIMESTAMP()) ON DUPLICATE KEY UPDATE api_calls = 100000",
	    p, 2, NULL) == 0);
	db_close(db);
	r = ping(key);
	ck_assert_int_eq(r->status, 200);
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Limit"), 100000);
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Used"), 100001);
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Remaining"), 0);
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Overage"), 1);
	ck_assert(json_object_get_boolean(json_get(r->json, "overage")));
	http_free(r);
	ck_assert_int_eq(wait_db_int(sql_calls, p, 1, 100001, 20), 100001);
	ck_assert_int_eq(test_db_int(sql_overage, p, 1), 1);

	make_user("ent@example.com", "enterprise", &ent, &ekey);
	r = ping(ekey);
	ck_assert_int_eq(r->status, 200);
	ck_assert_str_eq(http_hdr(r, "X-RateLimit-Limit", v, sizeof(v)),
	    "unlimited");
	ck_assert_int_eq(hdr_int(r, "X-RateLimit-Used"), 1);
	http_free(r);
	free(user);
	free(key);
	free(ent);
	free(ekey);
}
END_TEST

static void
assert_401(const char *header)
{
	const char	*hdrs[2] = { header, NULL };
	struct http	*r = http_get(PING, header != NULL ? hdrs : NULL);
	char		 v[64];

	ck_assert_msg(r->status == 401, "%s: %ld", header, r->status);
	ck_assert_str_eq(json_str(r->json, "error.code"), "invalid_key");
	ck_assert_str_eq(json_str(r->json, "error.message"),
	    "missing or invalid API key");
	ck_assert(http_hdr(r, "WWW-Authenticate", v, sizeof(v)) != NULL);
	ck_assert(http_hdr(r, "X-RateLimit-Limit", v, sizeof(v)) == NULL);
	http_free(r);
}

START_TEST(bad_keys_all_401)
{
	char		*user, *key, *key2, *out, *h, id[32];
	struct dbp	 p[1];

	make_user("badkeys@example.com", "pro", &user, &key);
	p[0] = DBP_S(user);
	assert_401(NULL);
	assert_401("X-API-Key: ");
	assert_401("X-API-Key: garbage");
	assert_401("X-API-Key: nx_live_short");
	assert_401("Authorization: Bearer ");
	assert_401("Authorization: Basic dXNlcjpwYXNz");
	assert_401("X-API-Key: nx_live_0000000000000000000000000000000000000000000");
	/* Unknown but well formed: the same answer. */
	h = key_header(key);
	h[strlen(h) - 1] = h[strlen(h) - 1] == 'a' ? 'b' : 'a';
	assert_401(h);
	free(h);

	/* Revoked (before its first use, so no worker has it cached). */
	ck_assert_int_eq(ctl(&key2, "key", "create", "--user", user, NULL), 0);
	newest_key_id(id, sizeof(id));
	ck_assert_int_eq(ctl(&out, "key", "revoke", "--id", id, NULL), 0);
	free(out);
	ck_assert_int_eq(ctl(&out, "key", "list", "--user", user, NULL), 0);
	ck_assert_msg(strstr(out, "revoked") != NULL, "%s", out);
	free(out);
	assert_key_refused(key2);

	/* Expired: a key whose expiry has passed. */
	struct db *db = test_db();
	struct dbp kp[1] = { DBP_S(user) };
	free(key2);
	ck_assert_int_eq(ctl(&key2, "key", "create", "--user", user, NULL), 0);
	ck_assert(db_exec(db, "UPDATE eco_api_keys SET expires_at = "
	    "UTC_TIMESTAMP() - INTERVAL 1 SECOND WHERE user_id = ? AND "
	    "id = (SELECT m FROM (SELECT MAX(id) m FROM eco_api_keys) t)",
	    kp, 1, NULL) == 0);
	db_close(db);
	assert_key_refused(key2);
	ck_assert_int_eq(ctl(&out, "key", "list", "--user", user, NULL), 0);
	ck_assert_msg(strstr(out, "expired") != NULL, "%s", out);
	free(out);
	/* None of it was counted. */
	ck_assert_int_eq(test_db_int(sql_calls, p, 1), 0);
	free(key2);
	free(user);
	free(key);
}
END_TEST

START_TEST(revoke_and_rotate_within_cache_ttl)
{
	char		*user, *key, *newkey, *out, id[32];
	struct http	*r;
	int		 i;

	setenv("NEXUS_KEY_CACHE_TTL", "1", 1);
	restart_workers();
	make_user("rotate@example.com", "pro", &user, &key);
	for (i = 0; i < 4; i++) {	/* cached in both workers */
		r = ping(key);
		ck_assert_int_eq(r->status, 200);
		http_free(r);
	}
	newest_key_id(id, sizeof(id));
	ck_assert_int_eq(ctl(&newkey, "key", "rotate", "--id", id, "--grace",
	    "2", NULL), 0);
	ck_assert_msg(strncmp(newkey, "nx_live_", 8) == 0, "%s", newkey);
	/* Both work during the grace period. */
	r = ping(key);
	ck_assert_int_eq(r->status, 200);
	http_free(r);
	r = ping(newkey);
	ck_assert_int_eq(r->status, 200);
	http_free(r);
	sleep(4);	/* grace (2 s) and the cache's TTL (1 s) have passed */
	for (i = 0; i < 4; i++)
		assert_key_refused(key);
	r = ping(newkey);
	ck_assert_int_eq(r->status, 200);
	http_free(r);

	/* Revoking the new one stops it within the TTL. */
	newest_key_id(id, sizeof(id));
	ck_assert_int_eq(ctl(&out, "key", "revoke", "--id", id, NULL), 0);
	free(out);
	sleep(2);
	for (i = 0; i < 4; i++)
		assert_key_refused(newkey);
	unsetenv("NEXUS_KEY_CACHE_TTL");
	restart_workers();
	free(user);
	free(key);
	free(newkey);
}
END_TEST

START_TEST(quiet_worker_flushes_within_interval)
{
	char		*user, *key;
	struct http	*r;
	time_t		 t0;

	make_user("quiet@example.com", "pro", &user, &key);
	r = ping(key);
	ck_assert_int_eq(r->status, 200);
	http_free(r);
	t0 = time(NULL);
	struct dbp p[1] = { DBP_S(user) };
	/* No other call follows: only the flusher's timer can write it. */
	ck_assert_int_eq(wait_db_int(sql_rows, p, 1, 1, 10), 1);
	ck_assert_msg(time(NULL) - t0 <= 7, "took %lds", (long)(time(NULL) - t0));
	ck_assert_int_eq(test_db_int(sql_calls, p, 1), 1);
	free(user);
	free(key);
}
END_TEST

START_TEST(sigterm_flushes_everything)
{
	char		*user, *key, *h;
	struct load_res	 res[50];

	setenv("NEXUS_FLUSH_INTERVAL_MS", "60000", 1);
	setenv("NEXUS_FLUSH_BATCH", "1000", 1);
	restart_workers();
	make_user("sigterm@example.com", "pro", &user, &key);
	h = key_header(key);
	load_run(PING, h, 50, 4, res);
	ck_assert_uint_eq(load_count(res, 50, 200), 50);
	struct dbp p[1] = { DBP_S(user) };
	ck_assert_int_eq(test_db_int(sql_rows, p, 1), 0);	/* not yet */
	stack("workers-stop");					/* SIGTERM */
	ck_assert_int_eq(test_db_int(sql_rows, p, 1), 50);
	ck_assert_int_eq(test_db_int(sql_calls, p, 1), 50);
	assert_no_spool("after SIGTERM");
	unsetenv("NEXUS_FLUSH_INTERVAL_MS");
	unsetenv("NEXUS_FLUSH_BATCH");
	stack("workers-start");
	assert_all_seen_stored(user, res, 50);
	free(h);
	free(user);
	free(key);
}
END_TEST

START_TEST(kill9_under_load_loses_nothing)
{
	enum { N = 4000 };
	char		*user, *key, *h;
	struct load_res	*res = xcalloc(N, sizeof(*res));
	struct load	*l;
	int		 pids[16];
	size_t		 n;

	make_user("kill9@example.com", "pro", &user, &key);
	h = key_header(key);
	l = load_start(PING, h, N, 16, 0, res);
	usleep(400000);
	ck_assert((n = worker_pids(pids, 16)) >= 2);
	ck_assert_int_eq(kill(pids[0], SIGKILL), 0);
	usleep(400000);
	ck_assert((n = worker_pids(pids, 16)) >= 2);	/* restarted */
	ck_assert_int_eq(kill(pids[n - 1], SIGKILL), 0);
	load_wait(l);
	size_t ok = load_count(res, N, 200);
	ck_assert_msg(ok > N / 2, "only %zu of %d calls answered 200", ok, N);

	struct dbp p[1] = { DBP_S(user) };
	/* The killed workers' spools are replayed by their successors. */
	long long rows = wait_db_int("SELECT COUNT(*) FROM eco_api_usage "
	    "WHERE user_id = ? AND status = 200", p, 1, (long long)ok, 30);
	ck_assert_msg(rows >= (long long)ok, "%lld rows for %zu 200s",
	    rows, ok);
	sleep(1);
	rows = test_db_int(sql_rows, p, 1);
	ck_assert_int_eq(test_db_int(sql_calls, p, 1), rows);
	assert_all_seen_stored(user, res, N);
	free(res);
	free(h);
	free(user);
	free(key);
}
END_TEST

/*
 * A worker's segment records how far it is written. An orphan is replayed
 * from there: a line before that offset is not written again (A, left out
 * of the database on purpose to show it), and one after it that is already
 * stored (B: a kill between the commit and the header update) is neither
 * duplicated nor counted again.
 */
START_TEST(orphan_spool_replays_from_its_header)
{
	char		*user, *key, dir[1024], path[1100], line[3][256];
	char		 key_id[32];
	struct stat	 st;
	struct http	*r;
	const char	*ids[3] = { "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a",
			    "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
			    "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c" };
	long long	 ts = (long long)time(NULL) * 1000;
	FILE		*f;
	int		 i;

	make_user("orphan@example.com", "pro", &user, &key);
	newest_key_id(key_id, sizeof(key_id));
	for (i = 0; i < 3; i++)
		snprintf(line[i], sizeof(line[i]), "%s\t%s\t%s\t%lld\tGET\t%s\t"
		    "200\t150\t1\t100000\n", ids[i], user, key_id, ts + i, PING);
	struct dbp b[4] = { DBP_S(user), DBP_I(ts + 1), DBP_S(ids[1]),
	    DBP_S(key_id) };
	test_db_exec("INSERT INTO eco_api_usage (user_id, ts, event_id, key_id, "
	    "method, endpoint, status, latency_us) VALUES (?, "
	    "FROM_UNIXTIME(? / 1000), UNHEX(?), ?, 'GET', '" PING "', 200, 150)",
	    b, 4);
	struct dbp p[1] = { DBP_S(user) };
	test_db_exec("UPDATE eco_usage_records SET api_calls = 1 "
	    "WHERE user_id = ?", p, 1);

	snprintf(dir, sizeof(dir), "%s/spool", getenv("NEXUS_TEST_DIR"));
	snprintf(path, sizeof(path), "%s/orphan-000001.spool", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fprintf(f, "#spool written=%016zx\n%s%s%s", 32 + strlen(line[0]),
	    line[0], line[1], line[2]);
	fclose(f);
	/* The workers' user owns it, as it would a dead worker's segment. */
	ck_assert(stat(dir, &st) == 0);
	ck_assert(chown(path, st.st_uid, st.st_gid) == 0);

	/*
	 * A live worker scans for orphans every 10 seconds; one that starts
	 * scans at once (mod_fcgid starts them as requests come).
	 */
	r = http_get("/api/health", NULL);
	http_free(r);
	struct dbp c[2] = { DBP_S(user), DBP_S(ids[2]) };
	ck_assert_int_eq(wait_db_int(sql_has_event, c, 2, 1, 15), 1);
	ck_assert_int_eq(test_db_int(sql_rows, p, 1), 2);	/* B and C */
	ck_assert_int_eq(test_db_int(sql_calls, p, 1), 2);
	ck_assert_msg(access(path, F_OK) == -1, "replayed segment left behind");
	free(user);
	free(key);
}
END_TEST

START_TEST(db_outage_under_load_loses_nothing)
{
	enum { N = 3000 };
	char		*user, *key, *h;
	struct load_res	 warm[20], *res = xcalloc(N, sizeof(*res));
	struct load	*l;

	make_user("outage@example.com", "pro", &user, &key);
	h = key_header(key);
	load_run(PING, h, 20, 4, warm);		/* both workers know the key */
	ck_assert_uint_eq(load_count(warm, 20, 200), 20);
	l = load_start(PING, h, N, 4, 2000, res);
	usleep(300000);
	stack("db-stop");
	sleep(3);
	stack("db-start");
	load_wait(l);
	size_t ok = load_count(res, N, 200);
	/* Workers kept answering while the database was away. */
	ck_assert_msg(ok == N, "%zu of %d calls answered 200", ok, N);

	struct dbp p[1] = { DBP_S(user) };
	ck_assert_int_eq(wait_db_int(sql_rows, p, 1, N + 20, 30), N + 20);
	ck_assert_int_eq(wait_db_int(sql_calls, p, 1, N + 20, 10), N + 20);
	assert_all_seen_stored(user, res, N);
	free(res);
	free(h);
	free(user);
	free(key);
}
END_TEST

/* Statements the server has executed so far (all sessions). */
static long long
statements(void)
{
	struct db	*db = test_db();
	struct dbres	*r;
	long long	 v;

	r = db_query(db, "SELECT VARIABLE_VALUE FROM "
	    "information_schema.GLOBAL_STATUS "
	    "WHERE VARIABLE_NAME = 'COM_STMT_EXECUTE'", NULL, 0);
	ck_assert(r != NULL && db_next(r) == 1);
	v = db_int(r, 0);
	db_done(r);
	db_close(db);
	return v;
}

START_TEST(bad_key_flood_spares_the_database)
{
	enum { N = 400 };
	struct load_res	*res = xcalloc(N, sizeof(*res));
	char		 key[KEY_LEN + 1], h[KEY_LEN + 32];
	long long	 before, used;
	size_t		 i, refused = 0;

	setenv("NEXUS_KEY_LOOKUP_RATE", "20", 1);
	restart_workers();
	/* The same unknown key again and again: looked up once per worker. */
	snprintf(h, sizeof(h), "X-API-Key: nx_live_%043d", 7);
	before = statements();
	load_run(PING, h, N, 8, res);
	used = statements() - before;
	ck_assert_uint_eq(load_count(res, N, 401), N);
	ck_assert_msg(used <= 2 + 2, "%lld statements for one bad key", used);

	/*
	 * N different random keys: their MACs fail, so they are refused
	 * without the database (and without the lookup budget: no 503).
	 */
	before = statements();
	for (i = 0; i < N; i++) {
		struct http *r;
		const char *hdrs[2] = { h, NULL };

		ck_assert(random_base62(key + 8, KEY_BODY) == 0);
		memcpy(key, KEY_PREFIX, 8);
		snprintf(h, sizeof(h), "X-API-Key: %s", key);
		r = http_get(PING, hdrs);
		ck_assert_msg(r->status == 401, "%ld", r->status);
		refused += r->status == 401;
		http_free(r);
	}
	used = statements() - before;
	ck_assert_msg(used <= 2 + 2, "%lld statements for %d random keys",
	    used, N);
	ck_assert_uint_eq(refused, N);
	unsetenv("NEXUS_KEY_LOOKUP_RATE");
	restart_workers();
	free(res);
}
END_TEST

/*
 * mod_fcgid retires a worker after MaxRequestsPerProcess requests (the
 * stack's NEXUS_FCGID_MAX_REQUESTS): SIGTERM, then SIGKILL a few seconds
 * later. Calls one at a time go to the same worker until it retires, so
 * two workers serve these and both retire; with a minute's flush interval
 * only their stopping writes the events, and with none left alive no
 * other worker could replay what they left.
 */
START_TEST(fcgid_retired_workers_flush)
{
	enum { PER = 50, N = 2 * PER };
	char		*user, *key, *h, max[16];
	struct load_res	 res[N];

	setenv("NEXUS_FLUSH_INTERVAL_MS", "60000", 1);
	setenv("NEXUS_FLUSH_BATCH", "1000", 1);
	snprintf(max, sizeof(max), "%d", PER);
	setenv("NEXUS_FCGID_MAX_REQUESTS", max, 1);
	restart_workers();
	make_user("retired@example.com", "pro", &user, &key);
	h = key_header(key);
	load_run(PING, h, N, 1, res);
	ck_assert_uint_eq(load_count(res, N, 200), N);

	struct dbp p[1] = { DBP_S(user) };
	ck_assert_int_eq(wait_db_int(sql_rows, p, 1, N, 15), N);
	ck_assert_int_eq(test_db_int(sql_calls, p, 1), N);
	assert_all_seen_stored(user, res, N);
	assert_no_spool("by retired workers");
	unsetenv("NEXUS_FLUSH_INTERVAL_MS");
	unsetenv("NEXUS_FLUSH_BATCH");
	unsetenv("NEXUS_FCGID_MAX_REQUESTS");
	restart_workers();
	free(h);
	free(user);
	free(key);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("hotpath");
	TCase	*tc = tcase_create("keys-quota-usage");
	/*
	 * Cases that count on our supervisor's fixed pool of workers (their
	 * number, pids, warm caches), and one on mod_fcgid's retirements:
	 * tests/run-test runs each where it applies.
	 */
	TCase	*pool = tcase_create("supervisor");
	TCase	*fcgid = tcase_create("fcgid");

	tcase_set_tags(pool, "supervisor");
	tcase_set_tags(fcgid, "fcgid");
	tcase_add_test(tc, free_plan_exactly_1000);
	tcase_add_test(tc, headers_on_200_and_429);
	tcase_add_test(tc, pro_overage_and_enterprise_unlimited);
	tcase_add_test(tc, bad_keys_all_401);
	tcase_add_test(pool, bad_key_flood_spares_the_database);
	tcase_add_test(tc, revoke_and_rotate_within_cache_ttl);
	tcase_add_test(tc, quiet_worker_flushes_within_interval);
	tcase_add_test(tc, sigterm_flushes_everything);
	tcase_add_test(pool, kill9_under_load_loses_nothing);
	tcase_add_test(tc, orphan_spool_replays_from_its_header);
	tcase_add_test(pool, db_outage_under_load_loses_nothing);
	tcase_add_test(fcgid, fcgid_retired_workers_flush);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, pool);
	suite_add_tcase(s, fcgid);
	return itest_run(s);
}
