/*
 * Hostile conditions from outside, on the real stack: a database that
 * accepts and never answers (a TCP proxy in this process between the
 * workers and MariaDB, switched to "hang"), forged X-Forwarded-For
 * headers, a flood of refused admin requests, a Stripe that lists an
 * item without an id, and configurations that must be refused.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#define PING		"/api/secure/ping"
#define OVERVIEW	"/api/admin/analytics/overview"
#define PRO_ALLOWANCE	100000

static struct config	 tcfg;

/* ------------------------------------------------ a TCP proxy to MariaDB */

enum { PROXY_PASS, PROXY_HANG };

#define PROXY_PAIRS	128

/*
 * Accepts on a loopback port. Passing, it joins each client to MariaDB's
 * TCP port; hanging, it accepts and never answers (new clients get no
 * greeting, open ones hear nothing more). Back to passing, it closes
 * every connection it holds, as a restarted server would.
 */
static struct {
	int		 lfd, port, db_port;
	_Atomic int	 mode, stop;
	_Atomic long	 accepted;
	int		 cli[PROXY_PAIRS], srv[PROXY_PAIRS];	/* srv -1: hung */
	pthread_t	 th;
} px;

static void
proxy_drop_all(void)
{
	int	 i;

	for (i = 0; i < PROXY_PAIRS; i++) {
		if (px.cli[i] != -1)
			close(px.cli[i]);
		if (px.srv[i] != -1)
			close(px.srv[i]);
		px.cli[i] = px.srv[i] = -1;
	}
}

static int
proxy_connect_db(void)
{
	struct sockaddr_in	 sin;
	int			 fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)px.db_port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd != -1 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void
proxy_accept(void)
{
	int	 fd, i;

	if ((fd = accept(px.lfd, NULL, NULL)) == -1)
		return;
	px.accepted++;
	for (i = 0; i < PROXY_PAIRS && px.cli[i] != -1; i++)
		;
	if (i == PROXY_PAIRS) {
		close(fd);
		return;
	}
	px.cli[i] = fd;
	px.srv[i] = px.mode == PROXY_PASS ? proxy_connect_db() : -1;
	if (px.mode == PROXY_PASS && px.srv[i] == -1) {
		close(fd);
		px.cli[i] = -1;
	}
}

/* Copies what from has to to; closes the pair at an end. */
static void
proxy_copy(int i, int from, int to)
{
	char	 buf[16384];
	ssize_t	 n = read(from, buf, sizeof(buf));

	if (n <= 0 || write(to, buf, (size_t)n) != n) {
		close(px.cli[i]);
		close(px.srv[i]);
		px.cli[i] = px.srv[i] = -1;
	}
}

static void *
proxy_main(void *arg)
{
	struct pollfd	 pfd[1 + 2 * PROXY_PAIRS];
	int		 who[1 + 2 * PROXY_PAIRS], i, n, mode = PROXY_PASS;

	while (!px.stop) {
		if (px.mode != mode && (mode = px.mode) == PROXY_PASS)
			proxy_drop_all();
		n = 0;
		pfd[n].fd = px.lfd;
		pfd[n++].events = POLLIN;
		for (i = 0; mode == PROXY_PASS && i < PROXY_PAIRS; i++) {
			if (px.cli[i] == -1 || px.srv[i] == -1)
				continue;
			who[n] = i;
			pfd[n].fd = px.cli[i];
			pfd[n++].events = POLLIN;
			who[n] = i;
			pfd[n].fd = px.srv[i];
			pfd[n++].events = POLLIN;
		}
		if (poll(pfd, (nfds_t)n, 20) <= 0)
			continue;
		for (i = 1; i < n; i++) {
			int p = who[i];

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) ||
			    px.cli[p] == -1)
				continue;
			if (pfd[i].fd == px.cli[p])
				proxy_copy(p, px.cli[p], px.srv[p]);
			else
				proxy_copy(p, px.srv[p], px.cli[p]);
		}
		if (pfd[0].revents & POLLIN)
			proxy_accept();
	}
	proxy_drop_all();
	return NULL;
}

/* Before any test runs: no ck_assert here. Returns 0 or -1. */
static int
proxy_start(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 i;

	for (i = 0; i < PROXY_PAIRS; i++)
		px.cli[i] = px.srv[i] = -1;
	px.db_port = (int)tcfg.db_port;
	px.mode = PROXY_PASS;
	px.stop = 0;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((px.lfd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(px.lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(px.lfd, 128) == -1 ||
	    getsockname(px.lfd, (struct sockaddr *)&sin, &len) == -1)
		return -1;
	px.port = ntohs(sin.sin_port);
	return pthread_create(&px.th, NULL, proxy_main, NULL) == 0 ? 0 : -1;
}

static void
proxy_stop(void)
{
	px.stop = 1;
	pthread_join(px.th, NULL);
	close(px.lfd);
}

/* ------------------------------------------------------------ helpers */

/* Restarts the workers with extra NAME=value settings (NULL-ended). */
static void
workers_restart(const char *const *env)
{
	const char *const *e;
	char		 name[128];

	stack("workers-stop");
	for (e = env; e != NULL && *e != NULL; e++) {
		size_t n = strcspn(*e, "=");

		ck_assert(n < sizeof(name));
		memcpy(name, *e, n);
		name[n] = '\0';
		setenv(name, *e + n + 1, 1);
	}
	stack("workers-start");
	for (e = env; e != NULL && *e != NULL; e++) {
		size_t n = strcspn(*e, "=");

		memcpy(name, *e, n);
		name[n] = '\0';
		unsetenv(name);
	}
}

static struct http *
get_with(const char *path, const char *h1, const char *h2)
{
	const char	*hdrs[3] = { h1, h2, NULL };

	return http_get(path, hdrs);
}

static struct http *
ping(const char *key, int64_t *ms)
{
	char		*h;
	struct http	*r;
	int64_t		 t = mono_ms();

	xasprintf(&h, "X-API-Key: %s", key);
	r = get_with(PING, h, NULL);
	*ms = mono_ms() - t;
	free(h);
	return r;
}

static struct http *
as_user(const char *tok, const char *path, const char *extra)
{
	char		*h;
	struct http	*r;

	xasprintf(&h, "Authorization: Bearer %s", tok);
	r = get_with(path, h, extra);
	free(h);
	return r;
}

static char *
user_token(const char *id)
{
	char	*tok;

	ck_assert_int_eq(ctl(&tok, "token", "create", "--user", id, "--ttl",
	    "3600", NULL), 0);
	return tok;
}

/* The string a one-column query answers (caller frees). */
static char *
db_string(const char *sql, const struct dbp *p, size_t np)
{
	struct db	*db = test_db();
	struct dbres	*r = db_query(db, sql, p, np);
	char		*s;

	ck_assert_msg(r != NULL, "%s: %s", sql, db_error(db));
	ck_assert_msg(db_next(r) == 1, "%s: no row", sql);
	s = xstrdup(db_str(r, 0));
	db_done(r);
	db_close(db);
	return s;
}

/* Runs a shell command line; returns its exit status (128+n: signal n). */
static int
run(const char *fmt, ...)
{
	char	 line[4096];
	va_list	 ap;
	int	 st;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	st = system(line);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

/* --------------------------------------------------------- billing */

/* A Pro user with a Stripe customer, this many calls past the allowance. */
static char *
pro_user_over(const char *email, const char *customer, long long over)
{
	char		*id, period[11];
	struct dbp	 p[3];

	ck_assert_int_eq(ctl(&id, "user", "create", "--email", email, "--plan",
	    "pro", "--stripe-customer", customer, NULL), 0);
	time_format_date(period_start(time(NULL)), period, sizeof(period));
	p[0] = DBP_I(PRO_ALLOWANCE + over);
	p[1] = DBP_S(id);
	p[2] = DBP_S(period);
	test_db_exec("UPDATE eco_usage_records SET api_calls = ? "
	    "WHERE user_id = ? AND period = ?", p, 3);
	return id;
}

/* Runs nexus-overage with the environment it has; returns its status. */
static int
biller(const char *log)
{
	return run("'%s/src/nexus-overage' --json >/dev/null 2>'%s/%s'",
	    getenv("top_builddir"), getenv("NEXUS_TEST_DIR"), log);
}

/* -------------------------------------------------------------- tests */

static int
cmp_ms(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The database accepts and never answers. Once each worker has seen its
 * connection time out, a Free call gets 503 at once, health 503 at once,
 * a Pro call with its key cached 200; nobody connects more than once per
 * db_retry_ms + db_connect_timeout. When the database answers again the
 * service comes back by itself and the Pro calls made meanwhile are
 * written.
 */
START_TEST(hung_database)
{
	static const char *const env[] = {
		"NEXUS_DB_SOCKET=", "NEXUS_DB_HOST=127.0.0.1", NULL,
		"NEXUS_DB_CONNECT_TIMEOUT=1", "NEXUS_DB_READ_TIMEOUT=1",
		"NEXUS_DB_WRITE_TIMEOUT=1", "NEXUS_DB_RETRY_MS=500", NULL
	};
	const char	*e[sizeof(env) / sizeof(env[0])];
	char		*free_id, *free_key, *pro_id, *pro_key, *h, port[64];
	char		 ids[20][40];
	struct load_res	 res[64];
	struct http	*r;
	int64_t		 ms, t0, tfree[20], thealth[10], tpro[20];
	long		 accepted;
	struct dbp	 p[2];
	int		 i;

	memcpy(e, env, sizeof(env));
	snprintf(port, sizeof(port), "NEXUS_DB_PORT=%d", px.port);
	e[2] = port;
	make_user("hang-free@robust.test", "free", &free_id, &free_key);
	make_user("hang-pro@robust.test", "pro", &pro_id, &pro_key);
	workers_restart(e);

	/* Both workers serve both keys (and so have them cached). */
	xasprintf(&h, "X-API-Key: %s", free_key);
	load_run(PING, h, 32, 4, res);
	ck_assert_int_eq(load_count(res, 32, 200), 32);
	free(h);
	xasprintf(&h, "X-API-Key: %s", pro_key);
	load_run(PING, h, 32, 4, res);
	ck_assert_int_eq(load_count(res, 32, 200), 32);
	free(h);
	r = http_get("/api/health", NULL);
	ck_assert_int_eq(r->status, 200);
	http_free(r);

	px.mode = PROXY_HANG;
	/* Each worker's first call waits out its read, then a connect. */
	xasprintf(&h, "X-API-Key: %s", free_key);
	load_run(PING, h, 16, 4, res);
	ck_assert_int_eq(load_count(res, 16, 503), 16);
	free(h);

	accepted = px.accepted;
	t0 = mono_ms();
	for (i = 0; i < 20; i++) {
		r = ping(free_key, &tfree[i]);
		ck_assert_msg(r->status == 503, "Free: %ld %s", r->status,
		    r->body);
		ck_assert_str_eq(json_str(r->json, "error.code"), "unavailable");
		http_free(r);
	}
	for (i = 0; i < 10; i++) {
		ms = mono_ms();
		r = http_get("/api/health", NULL);
		thealth[i] = mono_ms() - ms;
		ck_assert_int_eq(r->status, 503);
		ck_assert_str_eq(json_str(r->json, "db"), "down");
		http_free(r);
	}
	for (i = 0; i < 20; i++) {
		r = ping(pro_key, &tpro[i]);
		ck_assert_msg(r->status == 200, "Pro: %ld %s", r->status,
		    r->body);
		ck_assert(http_hdr(r, "X-Request-Id", ids[i],
		    sizeof(ids[i])) != NULL);
		http_free(r);
	}
	/* More calls, for the connect count over a longer while. */
	for (i = 0; i < 100; i++) {
		r = ping(free_key, &ms);
		ck_assert_int_eq(r->status, 503);
		http_free(r);
		usleep(10000);
	}
	ms = mono_ms() - t0;
	/* Two connections a worker (requests, writer), each one attempt per
	 * 1.5 s at most; a request-path connect per call would be 150. */
	ck_assert_msg(px.accepted - accepted <= 4 * (ms / 1500 + 2),
	    "%ld connects in %lld ms", px.accepted - accepted, (long long)ms);
	qsort(tfree, 20, sizeof(tfree[0]), cmp_ms);
	qsort(thealth, 10, sizeof(thealth[0]), cmp_ms);
	qsort(tpro, 20, sizeof(tpro[0]), cmp_ms);
	printf("hung database: Free 503 median %lld ms (max %lld), health 503 "
	    "median %lld ms (max %lld), Pro 200 median %lld ms (max %lld); "
	    "%ld connects in %lld ms\n", (long long)tfree[10],
	    (long long)tfree[19], (long long)thealth[5], (long long)thealth[9],
	    (long long)tpro[10], (long long)tpro[19], px.accepted - accepted,
	    (long long)ms);
	/* The medians are what the design promises; no call waited anything
	 * like a connect (1 s) or a read (1 s) either. */
	ck_assert_msg(tfree[10] < 50 && tfree[19] < 500, "Free: median %lld, "
	    "max %lld ms", (long long)tfree[10], (long long)tfree[19]);
	ck_assert_msg(thealth[5] < 50 && thealth[9] < 500, "health: median "
	    "%lld, max %lld ms", (long long)thealth[5], (long long)thealth[9]);
	ck_assert_msg(tpro[10] < 50 && tpro[19] < 500, "Pro: median %lld, "
	    "max %lld ms", (long long)tpro[10], (long long)tpro[19]);

	/* Back: the workers find it again by themselves. */
	px.mode = PROXY_PASS;
	for (i = 0; i < 100; i++) {
		r = ping(free_key, &ms);
		ms = r->status;
		http_free(r);
		if (ms == 200)
			break;
		usleep(100000);
	}
	ck_assert_msg(i < 100, "Free calls still refused 10 s after");
	for (i = 0; i < 50; i++) {
		r = http_get("/api/health", NULL);
		ms = r->status;
		http_free(r);
		if (ms == 200)
			break;
		usleep(100000);
	}
	ck_assert_int_eq(ms, 200);
	p[0] = DBP_S(pro_id);
	ck_assert_int_eq(wait_db_int("SELECT COUNT(*) FROM eco_api_usage "
	    "WHERE user_id = ?", p, 1, 52, 30), 52);
	for (i = 0; i < 20; i++) {
		p[1] = DBP_S(ids[i]);
		ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM "
		    "eco_api_usage WHERE user_id = ? AND event_id = UNHEX(?)",
		    p, 2), 1);
	}
	workers_restart(NULL);
	free(free_id);
	free(free_key);
	free(pro_id);
	free(pro_key);
}
END_TEST

/* The audit row of the admin's last request. */
static char *
last_remote(const char *admin)
{
	struct dbp	 p[1] = { DBP_S(admin) };

	return db_string("SELECT COALESCE(remote_addr, '') FROM eco_audit_log "
	    "WHERE actor = ? ORDER BY id DESC LIMIT 1", p, 1);
}

static void
assert_client(const char *tok, const char *admin, const char *xff1,
    const char *xff2, const char *want)
{
	char		*auth, *h1 = NULL, *h2 = NULL, *got;
	const char	*hdrs[4];
	size_t		 n = 0;
	struct http	*r;

	xasprintf(&auth, "Authorization: Bearer %s", tok);
	hdrs[n++] = auth;
	if (xff1 != NULL) {
		xasprintf(&h1, "X-Forwarded-For: %s", xff1);
		hdrs[n++] = h1;
	}
	if (xff2 != NULL) {
		xasprintf(&h2, "X-Forwarded-For: %s", xff2);
		hdrs[n++] = h2;
	}
	hdrs[n] = NULL;
	r = http_get(OVERVIEW, hdrs);
	ck_assert_msg(r->status == 200, "%ld %s", r->status, r->body);
	http_free(r);
	got = last_remote(admin);
	ck_assert_msg(strcmp(got, want) == 0, "X-Forwarded-For %s%s%s: got "
	    "%s, want %s", xff1 ? xff1 : "-", xff2 ? " + " : "",
	    xff2 ? xff2 : "", got, want);
	free(got);
	free(auth);
	free(h1);
	free(h2);
}

/*
 * The client address in the audit log, behind trusted proxies: the
 * rightmost X-Forwarded-For entry that is not a trusted proxy; forged
 * entries to its left, garbage and untrusted senders change nothing.
 */
START_TEST(forged_forwarded_for)
{
	char		*admin, *tok, *ids;
	const char	*env[4];

	make_user("xff-admin@robust.test", "free", &admin, NULL);
	tok = user_token(admin);
	xasprintf(&ids, "NEXUS_ADMIN_IDS=%s", admin);
	env[0] = ids;
	env[1] = "NEXUS_TRUSTED_PROXIES=127.0.0.1, 10.0.0.0/8 "
	    "2001:db8:ffff::/48";
	env[2] = NULL;
	workers_restart(env);

	assert_client(tok, admin, NULL, NULL, "127.0.0.1");
	assert_client(tok, admin, "203.0.113.9", NULL, "203.0.113.9");
	assert_client(tok, admin, "6.6.6.6, 203.0.113.9", NULL, "203.0.113.9");
	assert_client(tok, admin, "6.6.6.6, 203.0.113.9, 10.1.2.3", NULL,
	    "203.0.113.9");
	assert_client(tok, admin, "6.6.6.6,203.0.113.9,10.1.2.3 , 10.9.9.9",
	    NULL, "203.0.113.9");
	assert_client(tok, admin, "6.6.6.6, not-an-address", NULL,
	    "127.0.0.1");
	assert_client(tok, admin, "6.6.6.6, <script>, 10.1.2.3", NULL,
	    "10.1.2.3");
	assert_client(tok, admin, "10.1.2.3, 10.4.5.6", NULL, "10.1.2.3");
	assert_client(tok, admin, "2001:db8::1, 2001:db8:ffff::7", NULL,
	    "2001:db8::1");
	assert_client(tok, admin, "::ffff:198.51.100.4", NULL,
	    "198.51.100.4");
	/* Two fields are one list: the client's own comes first. */
	assert_client(tok, admin, "6.6.6.6", "198.51.100.4", "198.51.100.4");

	/* REMOTE_ADDR is not a trusted proxy: X-Forwarded-For is not read. */
	env[1] = "NEXUS_TRUSTED_PROXIES=10.0.0.0/8";
	workers_restart(env);
	assert_client(tok, admin, "203.0.113.9", NULL, "127.0.0.1");
	/* The old name still works. */
	env[1] = "NEXUS_TRUSTED_PROXY=127.0.0.1";
	workers_restart(env);
	assert_client(tok, admin, "6.6.6.6, 203.0.113.9", NULL, "203.0.113.9");
	/* No trusted proxy at all. */
	env[1] = NULL;
	workers_restart(env);
	assert_client(tok, admin, "203.0.113.9", NULL, "127.0.0.1");

	/* A list that is not addresses: the workers refuse to start. */
	ck_assert_int_eq(run("NEXUS_TRUSTED_PROXIES='10.0.0.0/33' "
	    "'%s/cgi-bin/nexus.fcgi' -s '%s/other.sock' 2>/dev/null",
	    getenv("top_builddir"), getenv("NEXUS_TEST_DIR")), 1);
	workers_restart(NULL);
	free(ids);
	free(tok);
	free(admin);
}
END_TEST

/*
 * A user hammering the admin routes gets 403 every time, and the audit
 * log a bounded number of rows (the host's buckets: 5 at once, then one
 * a second).
 */
START_TEST(denied_audit_is_bounded)
{
	char		*user, *tok;
	struct http	*r;
	struct dbp	 p[1];
	int64_t		 t0 = mono_ms(), secs;
	long long	 rows;
	int		 i;

	make_user("hammer@robust.test", "free", &user, NULL);
	tok = user_token(user);
	for (i = 0; i < 100; i++) {
		r = as_user(tok, OVERVIEW, NULL);
		ck_assert_int_eq(r->status, 403);
		http_free(r);
	}
	secs = (mono_ms() - t0) / 1000 + 1;
	p[0] = DBP_S(user);
	rows = test_db_int("SELECT COUNT(*) FROM eco_audit_log WHERE actor = ? "
	    "AND action = 'admin.denied'", p, 1);
	ck_assert_msg(rows >= 1 && rows <= 5 + secs, "%lld rows in %lld s",
	    rows, (long long)secs);
	/* After a pause it is written again, saying how many were not. */
	sleep(2);
	r = as_user(tok, OVERVIEW, NULL);
	ck_assert_int_eq(r->status, 403);
	http_free(r);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_audit_log WHERE "
	    "actor = ? AND action = 'admin.denied'", p, 1), rows + 1);
	ck_assert(test_db_int("SELECT COALESCE(SUM(JSON_VALUE(detail, "
	    "'$.unwritten_before')), 0) FROM eco_audit_log WHERE actor = ?",
	    p, 1) > 0);
	free(tok);
	free(user);
}
END_TEST

/* A cron secret shorter than 32 bytes: nexus.fcgi does not start. */
START_TEST(short_cron_secret_refused)
{
	ck_assert_int_eq(run("NEXUS_CRON_SECRET=short-secret timeout 10 "
	    "'%s/cgi-bin/nexus.fcgi' -s '%s/other.sock' 2>'%s/cron.err'",
	    getenv("top_builddir"), getenv("NEXUS_TEST_DIR"),
	    getenv("NEXUS_TEST_DIR")), 1);
	ck_assert(test_file_has("cron.err", 0, "cron_secret must be at least 32"));
	ck_assert(!test_file_has("cron.err", 0, "short-secret"));
}
END_TEST

/*
 * stripe_api_base over plain http:// would send the secret key in clear:
 * refused unless the test switch says otherwise; nothing reaches Stripe.
 */
START_TEST(stripe_http_refused)
{
	char		*id = pro_user_over("http@robust.test", "cus_http", 5000);
	long long	 before;

	fake_stripe_do("POST", "/_control/reset", "{\"all\":true}");
	before = fake_stripe_stat("requests_total");
	setenv("NEXUS_STRIPE_ALLOW_HTTP", "0", 1);
	ck_assert_int_eq(biller("biller-http.err"), 1);
	unsetenv("NEXUS_STRIPE_ALLOW_HTTP");
	ck_assert(test_file_has("biller-http.err", 0, "stripe_api_base must "
	    "be an https:// URL"));
	ck_assert_int_eq(fake_stripe_stat("requests_total"), before);
	/* With the switch (the stack's), the same run bills. */
	ck_assert_int_eq(biller("biller-http2.err"), 0);
	ck_assert_int_eq(fake_stripe_stat("invoiceitem_posts"), 1);
	test_db_exec("UPDATE eco_users SET plan_id = 'free' WHERE id = ?",
	    (struct dbp[]){ DBP_S(id) }, 1);
	free(id);
}
END_TEST

/*
 * Stripe lists an invoice item with "id": null while a row is being
 * reconciled: the run does not crash, sends nothing again (the item could
 * be the row's), and leaves the row pending, the reason in the audit log.
 */
START_TEST(stripe_null_id)
{
	char		*id = pro_user_over("null@robust.test", "cus_null", 7000);
	struct dbp	 p[1] = { DBP_S(id) };
	long long	 posts;

	fake_stripe_do("POST", "/_control/reset", "{\"all\":true}");
	setenv("NEXUS_STRIPE_MAX_RETRIES", "0", 1);
	fake_stripe_do("POST", "/_control/fail", "{\"mode\":"
	    "\"drop_after_store\",\"count\":1,\"customer\":\"cus_null\"}");
	ck_assert_int_eq(biller("biller-null1.err"), 1);	/* answer lost */
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_overage_ledger "
	    "WHERE user_id = ? AND state = 'pending'", p, 1), 1);
	/* A day on, Stripe has forgotten the key: the row is looked for. */
	fake_stripe_do("POST", "/_control/expire_idempotency", NULL);
	test_db_exec("UPDATE eco_overage_ledger SET created_at = created_at - "
	    "INTERVAL 25 HOUR WHERE user_id = ?", p, 1);
	fake_stripe_do("POST", "/_control/null_ids",
	    "{\"customer\":\"cus_null\"}");
	posts = fake_stripe_stat("invoiceitem_posts");
	ck_assert_int_eq(biller("biller-null2.err"), 1);
	unsetenv("NEXUS_STRIPE_MAX_RETRIES");
	ck_assert_int_eq(fake_stripe_stat("invoiceitem_posts"), posts);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_overage_ledger "
	    "WHERE user_id = ? AND state = 'pending'", p, 1), 1);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_audit_log "
	    "WHERE target = ? AND action = 'overage.failed' AND detail LIKE "
	    "'%no valid id%'", p, 1), 1);
	test_db_exec("UPDATE eco_users SET plan_id = 'free' WHERE id = ?", p, 1);
	free(id);
}
END_TEST

/*
 * Values longer than a column's buffer (one of DB_COLUMN_INLINE bytes)
 * come back whole, and the columns beside them untouched.
 */
START_TEST(long_columns_whole)
{
	static const char *const sql = "SELECT REPEAT('x', n), 'tail', n "
	    "FROM (SELECT 10 AS n UNION ALL SELECT 70000 UNION ALL "
	    "SELECT 300000 UNION ALL SELECT 3) t ORDER BY n";
	static const long long want[] = { 3, 10, 70000, 300000 };
	struct db	*db = test_db();
	struct dbres	*r = db_query(db, sql, NULL, 0);
	const char	*v;
	size_t		 i, j;

	ck_assert_msg(r != NULL, "%s", db_error(db));
	for (i = 0; i < 4; i++) {
		ck_assert_msg(db_next(r) == 1, "row %zu: %s", i, db_error(db));
		ck_assert_int_eq(db_int(r, 2), want[i]);
		ck_assert_int_eq(db_len(r, 0), want[i]);
		v = db_str(r, 0);
		for (j = 0; j < (size_t)want[i] && v[j] == 'x'; j++)
			;
		ck_assert_int_eq(j, want[i]);
		ck_assert(v[j] == '\0');
		ck_assert_str_eq(db_str(r, 1), "tail");
	}
	ck_assert_int_eq(db_next(r), 0);
	db_done(r);
	db_close(db);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("robust");
	TCase	*tc = tcase_create("hostile");
	int	 rc;

	if (config_load(&tcfg, NULL) == -1 || proxy_start() == -1) {
		fprintf(stderr, "test_robust: no config or no proxy\n");
		return 1;
	}
	tcase_add_test(tc, long_columns_whole);
	tcase_add_test(tc, short_cron_secret_refused);
	tcase_add_test(tc, forged_forwarded_for);
	tcase_add_test(tc, denied_audit_is_bounded);
	tcase_add_test(tc, stripe_http_refused);
	tcase_add_test(tc, stripe_null_id);
	tcase_add_test(tc, hung_database);
	suite_add_tcase(s, tc);
	rc = itest_run(s);
	proxy_stop();
	config_free(&tcfg);
	return rc;
}
