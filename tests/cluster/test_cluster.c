/*
 * The product on a 3-node MariaDB Galera cluster with two worker pools
 * ("hosts"), pool K on node K, behind one nginx upstream: the stack that
 * tests/run-test starts for tests/cluster/ (tests/cluster/cluster.sh).
 *
 * The default run checks what today's product already does right there.
 * CLUSTER_PENDING=1 adds the checks that wait for its multi-primary
 * changes (retries on 1213, lease rows instead of GET_LOCK); they print
 * what they saw before they assert.
 */
#include "config.h"

#include <sys/wait.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

#define PING		"/api/secure/ping"
#define NODES		3
#define PRO_ALLOWANCE	100000

static const char *const sql_rows = "SELECT COUNT(*) FROM eco_api_usage "
    "WHERE user_id = ?";
static const char *const sql_calls = "SELECT COALESCE(SUM(api_calls), 0) "
    "FROM eco_usage_records WHERE user_id = ?";

static char	 balancer[256];
static struct db *nodes[NODES + 1];
static struct config cfgs[NODES + 1];	/* a db keeps its config */

/* DIR/nodeK.conf: the stack's config pointed at node k. */
static void
node_conf(int k, char *dst, size_t n)
{
	snprintf(dst, n, "%s/node%d.conf", getenv("NEXUS_TEST_DIR"), k);
}

/* A connection to node k, kept for the whole run. */
static struct db *
node(int k)
{
	char	 path[1024];

	ck_assert(k >= 1 && k <= NODES);
	if (nodes[k] == NULL) {
		node_conf(k, path, sizeof(path));
		if (cfgs[k].db_name == NULL)
			ck_assert(config_load(&cfgs[k], path) == 0);
		ck_assert_msg((nodes[k] = db_open(&cfgs[k])) != NULL,
		    "node %d", k);
	}
	return nodes[k];
}

static long long
node_int(int k, const char *sql, const struct dbp *p, size_t np)
{
	long long	 v;

	ck_assert_msg(db_query_int(node(k), sql, p, np, &v) == 1,
	    "node %d: %s: %s", k, sql, db_error(node(k)));
	return v;
}

/* Polls sql on node k until it yields want or secs pass; returns it. */
static long long
node_wait(int k, const char *sql, const struct dbp *p, size_t np,
    long long want, int secs)
{
	long long	 v = 0;
	int		 i;

	for (i = 0; i < secs * 10; i++) {
		if ((v = node_int(k, sql, p, np)) == want)
			break;
		usleep(100000);
	}
	return v;
}

/* A status variable of node k, as text. */
static void
node_status(int k, const char *name, char *dst, size_t n)
{
	static const char *const q = "SELECT VARIABLE_VALUE FROM "
	    "information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = ?";
	struct dbp	 p[1] = { DBP_S(name) };
	struct dbres	*r = db_query(node(k), q, p, 1);

	ck_assert_msg(r != NULL && db_next(r) == 1, "node %d: no %s", k, name);
	strlcpy_(dst, db_str(r, 0), n);
	db_done(r);
}

static void
assert_synced(int k)
{
	char	 v[64];

	node_status(k, "WSREP_LOCAL_STATE_COMMENT", v, sizeof(v));
	ck_assert_msg(strcmp(v, "Synced") == 0, "node %d is %s", k, v);
	node_status(k, "WSREP_CLUSTER_SIZE", v, sizeof(v));
	ck_assert_msg(strcmp(v, "3") == 0, "node %d sees %s nodes", k, v);
}

/* nexusctl, nexus-overage and the stack talk to node k (0: node 1). */
static void
use_node(int k)
{
	char	 path[1024];

	if (k == 0)
		snprintf(path, sizeof(path), "%s/nexus.conf",
		    getenv("NEXUS_TEST_DIR"));
	else
		node_conf(k, path, sizeof(path));
	setenv("NEXUS_CONFIG", path, 1);
}

/* HTTP goes to pool k's own address (0: the balancer). */
static void
use_host(int k)
{
	char		 name[32];
	const char	*u;

	if (balancer[0] == '\0')
		strlcpy_(balancer, test_url(), sizeof(balancer));
	snprintf(name, sizeof(name), "NEXUS_URL_%d", k);
	u = k == 0 ? balancer : getenv(name);
	ck_assert_msg(u != NULL, "no %s: run through tests/run-test", name);
	setenv("NEXUS_URL", u, 1);
}

/* tests/stack.sh CMD DIR K: node-kill, node-start, pool-kill... */
static void
stack_k(const char *cmd, int k)
{
	char	 line[4096];

	snprintf(line, sizeof(line), "'%s/tests/stack.sh' %s '%s' %d "
	    ">/dev/null", getenv("top_srcdir"), cmd, getenv("NEXUS_TEST_DIR"),
	    k);
	ck_assert_msg(system(line) == 0, "stack.sh %s %d failed", cmd, k);
}

static char *
key_header(const char *key)
{
	char	*h;

	xasprintf(&h, "X-API-Key: %s", key);
	return h;
}

static long
ping_status(const char *key)
{
	char		*h = key_header(key);
	const char	*hdrs[2] = { h, NULL };
	struct http	*r = http_get(PING, hdrs);
	long		 st = r->status;

	http_free(r);
	free(h);
	return st;
}

static int
idcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Every 200 a client saw has its event (X-Request-Id) stored on node k:
 * the user's ids read at once, then looked up one by one.
 */
static void
assert_all_stored(int k, const char *user, const struct load_res *res,
    size_t n)
{
	static const char *const q = "SELECT LOWER(HEX(event_id)) FROM "
	    "eco_api_usage WHERE user_id = ?";
	struct dbp	 p[1] = { DBP_S(user) };
	struct dbres	*r = db_query(node(k), q, p, 1);
	char		**ids = NULL;
	const char	*id;
	size_t		 nids = 0, i;

	ck_assert_msg(r != NULL, "node %d: %s", k, db_error(node(k)));
	while (db_next(r) == 1) {
		ids = xrealloc(ids, (nids + 1) * sizeof(*ids));
		ids[nids++] = xstrdup(db_str(r, 0));
	}
	db_done(r);
	qsort(ids, nids, sizeof(*ids), idcmp);
	for (i = 0; i < n; i++) {
		if (res[i].status != 200)
			continue;
		ck_assert_msg(strlen(res[i].id) == 32, "200 without X-Request-Id");
		id = res[i].id;
		ck_assert_msg(bsearch(&id, ids, nids, sizeof(*ids), idcmp) !=
		    NULL, "node %d: a 200 the client saw has no row: %s", k, id);
	}
	for (i = 0; i < nids; i++)
		free(ids[i]);
	free(ids);
}

/* ------------------------------------------------------------ default */

/*
 * The stack migrated through node 1; a migration applied through node 3
 * (a table, a row, a column added) is then on every node, recorded once.
 */
START_TEST(migrations_on_every_node)
{
	static const char *const q_count = "SELECT COUNT(*) FROM "
	    "schema_migrations";
	static const char *const q_cols = "SELECT COUNT(*) FROM "
	    "information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()";
	char		 dir[1024], cmd[4096], *out;
	long long	 n1, c1;
	int		 k;
	FILE		*f;

	n1 = node_int(1, q_count, NULL, 0);
	c1 = node_int(1, q_cols, NULL, 0);
	ck_assert(n1 >= 4 && c1 > 0);
	for (k = 2; k <= NODES; k++) {
		ck_assert_int_eq(node_int(k, q_count, NULL, 0), n1);
		ck_assert_int_eq(node_int(k, q_cols, NULL, 0), c1);
	}

	snprintf(dir, sizeof(dir), "%s/migrations", getenv("NEXUS_TEST_DIR"));
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s' && ln -sf '%s'/db/*.sql '%s'/",
	    dir, getenv("top_srcdir"), dir);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/900_cluster_probe.sql", dir);
	ck_assert_ptr_nonnull(f = fopen(cmd, "w"));
	fputs("CREATE TABLE IF NOT EXISTS cluster_probe (\n"
	    "  id INT NOT NULL PRIMARY KEY,\n  v INT NOT NULL\n) ENGINE=InnoDB;\n"
	    "INSERT IGNORE INTO cluster_probe (id, v) VALUES (1, 42);\n"
	    "ALTER TABLE cluster_probe ADD COLUMN IF NOT EXISTS note "
	    "VARCHAR(20) NULL;\n", f);
	fclose(f);
	setenv("NEXUS_MIGRATIONS_DIR", dir, 1);
	use_node(3);
	ck_assert_int_eq(ctl(&out, "migrate", NULL), 0);
	ck_assert_msg(strstr(out, "applied 900_cluster_probe.sql") != NULL,
	    "%s", out);
	free(out);
	use_node(0);
	unsetenv("NEXUS_MIGRATIONS_DIR");

	for (k = 1; k <= NODES; k++) {
		ck_assert_int_eq(node_wait(k, q_count, NULL, 0, n1 + 1, 10),
		    n1 + 1);
		ck_assert_int_eq(node_wait(k, "SELECT COALESCE(SUM(v), 0) "
		    "FROM cluster_probe", NULL, 0, 42, 10), 42);
		ck_assert_int_eq(node_int(k, q_cols, NULL, 0), c1 + 3);
	}
}
END_TEST

/*
 * A user and key made through node 3, which no pool uses, work at once
 * through each host and through the balancer, and their calls are counted
 * on every node.
 */
START_TEST(key_from_one_node_works_on_both_hosts)
{
	char	*user, *key;
	int	 i, k;

	use_node(3);
	make_user("cluster-key@example.com", "pro", &user, &key);
	use_node(0);
	for (k = 1; k <= 2; k++) {
		use_host(k);
		ck_assert_int_eq(ping_status(key), 200);
	}
	use_host(0);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(ping_status(key), 200);

	struct dbp p[1] = { DBP_S(user) };
	for (k = 1; k <= NODES; k++) {
		ck_assert_int_eq(node_wait(k, sql_rows, p, 1, 12, 15), 12);
		ck_assert_int_eq(node_wait(k, sql_calls, p, 1, 12, 5), 12);
	}
	free(user);
	free(key);
}
END_TEST

/* Starts tests/stack.sh CMD DIR K in the background; returns its pid. */
static pid_t
stack_k_start(const char *cmd, int k)
{
	char	 prog[1024], num[16];
	pid_t	 pid;

	snprintf(prog, sizeof(prog), "%s/tests/stack.sh", getenv("top_srcdir"));
	snprintf(num, sizeof(num), "%d", k);
	if ((pid = fork()) == 0) {
		dup2(open("/dev/null", O_WRONLY), 1);
		execl(prog, prog, cmd, getenv("NEXUS_TEST_DIR"), num,
		    (char *)NULL);
		_exit(127);
	}
	ck_assert(pid > 0);
	return pid;
}

/*
 * Node 2, under pool 2, is killed under load and rejoins while the load
 * goes on (rounds of calls until the stack says it is Synced, and one
 * more): the hosts answered every call, every node is Synced again, and
 * every 200 has its row on every node, counted once (pool 2 spooled while
 * its node was away and replayed when it came back).
 */
START_TEST(node_killed_under_load_rejoins)
{
	enum { ROUND = 500, MAX = 40 * ROUND };
	char		*user, *key, *h;
	struct load_res	 warm[200], *res = xcalloc(MAX, sizeof(*res));
	struct load	*l;
	size_t		 n = 0, ok;
	pid_t		 pid;
	int		 k, st, back = 0;

	make_user("cluster-kill@example.com", "pro", &user, &key);
	h = key_header(key);
	load_run(PING, h, 200, 16, warm);	/* every worker knows the key */
	ck_assert_uint_eq(load_count(warm, 200, 200), 200);
	l = load_start(PING, h, 2 * ROUND, 4, 2000, res);
	usleep(300000);
	stack_k("node-kill", 2);
	load_wait(l);
	n = 2 * ROUND;
	pid = stack_k_start("node-start", 2);
	while (!back) {
		back = waitpid(pid, &st, WNOHANG) == pid;
		ck_assert_msg(n + ROUND <= MAX, "node 2 took too long to rejoin");
		load_wait(load_start(PING, h, ROUND, 4, 2000, res + n));
		n += ROUND;
	}
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "stack.sh node-start 2 failed");
	db_close(nodes[2]);			/* its connection died with it */
	nodes[2] = NULL;
	ok = load_count(res, n, 200);
	ck_assert_msg(ok == n, "%zu of %zu calls answered 200", ok, n);
	for (k = 1; k <= NODES; k++)
		assert_synced(k);

	struct dbp p[1] = { DBP_S(user) };
	for (k = 1; k <= NODES; k++) {
		ck_assert_int_eq(node_wait(k, sql_rows, p, 1, n + 200, 30),
		    n + 200);
		ck_assert_int_eq(node_wait(k, sql_calls, p, 1, n + 200, 10),
		    n + 200);
	}
	assert_all_stored(2, user, res, n);
	free(res);
	free(h);
	free(user);
	free(key);
}
END_TEST

/*
 * Host 2 dies (its supervisor and workers, SIGKILL) under load and comes
 * back: nginx sends its share to host 1 meanwhile, and what host 2 had
 * spooled but not written is replayed by its new workers.
 */
START_TEST(host_killed_under_load_loses_nothing)
{
	enum { N = 3000 };
	char		*user, *key, *h;
	struct load_res	*res = xcalloc(N, sizeof(*res));
	struct load	*l;
	size_t		 ok;
	int		 k;

	make_user("cluster-host@example.com", "pro", &user, &key);
	h = key_header(key);
	l = load_start(PING, h, N, 4, 1000, res);
	usleep(500000);
	stack_k("pool-kill", 2);
	usleep(500000);
	stack_k("pool-start", 2);
	load_wait(l);
	ok = load_count(res, N, 200);
	/* Only a call cut off in a killed worker can have failed. */
	ck_assert_msg(ok + load_count(res, N, 0) == N && ok >= N - 4,
	    "%zu of %d calls answered 200", ok, N);

	struct dbp p[1] = { DBP_S(user) };
	long long rows = node_wait(2, "SELECT COUNT(*) >= ? FROM eco_api_usage "
	    "WHERE user_id = ?", (struct dbp[2]){ DBP_I(ok), DBP_S(user) }, 2,
	    1, 30);
	ck_assert_msg(rows == 1, "not every 200 has its row after 30 s");
	assert_all_stored(2, user, res, N);
	rows = node_int(2, sql_rows, p, 1);
	for (k = 1; k <= NODES; k++)
		ck_assert_int_eq(node_wait(k, sql_calls, p, 1, rows, 10), rows);
	free(res);
	free(h);
	free(user);
	free(key);
}
END_TEST

/* ------------------------------------------- pending (CLUSTER_PENDING) */

/*
 * A Free key used by 64 clients through both hosts, so that its
 * admissions are decided on two nodes at once: exactly the limit is
 * admitted, the rest refused, and no call fails.
 */
START_TEST(free_exact_across_nodes)
{
	enum { N = 1100 };
	char		*user, *key, *h;
	struct load_res	*res = xcalloc(N, sizeof(*res));
	size_t		 ok, refused;

	make_user("cluster-free@example.com", "free", &user, &key);
	h = key_header(key);
	load_run(PING, h, N, 64, res);
	ok = load_count(res, N, 200);
	refused = load_count(res, N, 429);
	struct dbp p[1] = { DBP_S(user) };
	long long calls = node_int(1, sql_calls, p, 1);
	printf("free_exact_across_nodes: %zu x 200, %zu x 429, %zu x 503, "
	    "%zu other; api_calls %lld\n", ok, refused,
	    load_count(res, N, 503), N - ok - refused - load_count(res, N, 503),
	    calls);
	ck_assert_uint_eq(ok, 1000);
	ck_assert_uint_eq(refused, N - 1000);
	ck_assert_int_eq(calls, 1000);
	free(res);
	free(h);
	free(user);
	free(key);
}
END_TEST

static const char *const sql_usage_set = "INSERT INTO eco_usage_records "
    "(user_id, period, api_calls, updated_at) VALUES (?, "
    "DATE_FORMAT(UTC_DATE(), '%Y-%m-01'), ?, UTC_TIMESTAMP()) "
    "ON DUPLICATE KEY UPDATE api_calls = ?";

/* Control calls to the fake Stripe (the config's stripe_api_base). */
static json_object *
fake(const char *method, const char *path, const char *body)
{
	const char	*hdrs[2] = { "Content-Type: application/json", NULL };
	static struct config cfg;
	struct http	*r;
	json_object	*j;

	if (cfg.stripe_api_base == NULL)
		ck_assert(config_load(&cfg, NULL) == 0);
	use_host(0);	/* remembers the balancer before it is replaced */
	setenv("NEXUS_URL", cfg.stripe_api_base, 1);
	r = http_req(method, path, body, hdrs);
	use_host(0);
	ck_assert_msg(r->status == 200 && r->json != NULL, "fake %s %s: %ld",
	    method, path, r->status);
	j = json_object_get(r->json);
	http_free(r);
	return j;
}

/* Runs nexus-overage --json on node k; returns its pid. */
static pid_t
biller_on(int k)
{
	char	 prog[1024];
	pid_t	 pid;

	snprintf(prog, sizeof(prog), "%s/src/nexus-overage",
	    getenv("top_builddir"));
	if ((pid = fork()) == 0) {
		use_node(k);
		dup2(open("/dev/null", O_WRONLY), 1);
		execl(prog, prog, "--json", (char *)NULL);
		_exit(127);
	}
	ck_assert(pid > 0);
	return pid;
}

static int
biller_status(pid_t pid)
{
	int	 st;

	ck_assert(waitpid(pid, &st, 0) == pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * Two overage runs started at once, one on node 1 and one on node 2:
 * Stripe holds exactly one item per ledger row, and one run bills while
 * the other says another run holds the lock (exit status 3).
 */
START_TEST(two_overage_runs_on_two_nodes)
{
	enum { USERS = 12 };
	char		 email[64], cus[32], *user;
	long long	 rows, sent, cents, total = 0, items_cents = 0;
	json_object	*items, *tags, *it;
	size_t		 i, n, twice = 0;
	int		 sa, sb;
	pid_t		 a, b;

	json_object_put(fake("POST", "/_control/reset", "{\"all\":true}"));
	json_object_put(fake("POST", "/_control/config", "{\"latency_ms\":40}"));
	for (i = 0; i < USERS; i++) {
		snprintf(email, sizeof(email), "over%02zu@cluster.test", i);
		snprintf(cus, sizeof(cus), "cus_cluster%02zu", i);
		ck_assert_int_eq(ctl(&user, "user", "create", "--email", email,
		    "--plan", "pro", "--stripe-customer", cus, NULL), 0);
		struct dbp p[3] = { DBP_S(user),
		    DBP_I(PRO_ALLOWANCE + 1000 * (i + 1)),
		    DBP_I(PRO_ALLOWANCE + 1000 * (i + 1)) };
		ck_assert_msg(db_exec(node(1), sql_usage_set, p, 3, NULL) == 0,
		    "%s", db_error(node(1)));
		total += 100 * (long long)(i + 1);	/* $0.001 a call */
		free(user);
	}
	setenv("NEXUS_STRIPE_RATE", "100", 1);
	a = biller_on(1);
	b = biller_on(2);
	sa = biller_status(a);
	sb = biller_status(b);
	unsetenv("NEXUS_STRIPE_RATE");
	json_object_put(fake("POST", "/_control/config", "{\"latency_ms\":0}"));

	rows = node_int(1, "SELECT COUNT(*) FROM eco_overage_ledger", NULL, 0);
	sent = node_int(1, "SELECT COUNT(*) FROM eco_overage_ledger "
	    "WHERE state = 'sent'", NULL, 0);
	cents = node_int(1, "SELECT COALESCE(SUM(amount_cents), 0) FROM "
	    "eco_overage_ledger", NULL, 0);
	it = fake("GET", "/_control/items", NULL);
	ck_assert(json_object_object_get_ex(it, "items", &items));
	n = json_object_array_length(items);
	tags = json_object_new_object();
	for (i = 0; i < n; i++) {
		json_object	*x = json_object_array_get_idx(items, i);
		const char	*t = json_str(x, "metadata.nexus_ledger");

		items_cents += json_int(x, "amount");
		if (t == NULL || json_object_object_get_ex(tags, t, NULL))
			twice++;
		else
			json_object_object_add(tags, t, NULL);
	}
	printf("two_overage_runs_on_two_nodes: exit %d and %d; %lld ledger "
	    "rows (%lld sent, %lld cents); %zu Stripe items (%lld cents, %zu "
	    "with a ledger tag seen before); due %lld cents\n", sa, sb, rows,
	    sent, cents, n, items_cents, twice, total);
	json_object_put(tags);
	json_object_put(it);
	ck_assert_int_eq(twice, 0);
	ck_assert_int_eq((long long)n, rows);
	ck_assert_int_eq(sent, rows);
	ck_assert_int_eq(items_cents, total);
	ck_assert_int_eq(cents, total);
	/* Each run takes half a second at least: they overlap. */
	ck_assert_msg((sa == 0 && sb == 3) || (sa == 3 && sb == 0),
	    "exit %d and %d: both ran", sa, sb);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("cluster");
	TCase	*tc = tcase_create("galera");
	int	 rc, k;

	tcase_add_test(tc, migrations_on_every_node);
	tcase_add_test(tc, key_from_one_node_works_on_both_hosts);
	tcase_add_test(tc, node_killed_under_load_rejoins);
	tcase_add_test(tc, host_killed_under_load_loses_nothing);
	if (getenv("CLUSTER_PENDING") != NULL) {
		tcase_add_test(tc, free_exact_across_nodes);
		tcase_add_test(tc, two_overage_runs_on_two_nodes);
	}
	suite_add_tcase(s, tc);
	rc = itest_run(s);
	for (k = 1; k <= NODES; k++)
		db_close(nodes[k]);
	return rc;
}
