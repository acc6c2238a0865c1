/* Integration-test helpers (see itest.h). */
#include "config.h"

#include <sys/wait.h>

#include <pthread.h>
#include <strings.h>
#include <unistd.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "itest.h"

static struct config	 cfg;
static int		 cfg_loaded;

const char *
test_url(void)
{
	const char	*u = getenv("NEXUS_URL");

	ck_assert_msg(u != NULL, "NEXUS_URL not set: run through tests/run-test");
	return u;
}

static size_t
on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct buf	*b = arg;

	if (buf_add(b, p, sz * n) == -1)
		return 0;
	return sz * n;
}

/* Sends method path (with body if not NULL) and returns the response. */
struct http *
http_req(const char *method, const char *path, const char *body,
    const char *const *headers)
{
	CURL			*c;
	struct curl_slist	*h = NULL;
	struct buf		 b, hb;
	struct http		*r = xcalloc(1, sizeof(*r));
	char			*url;
	CURLcode		 rc;
	int			 expect = 0;

	buf_init(&b, 64 * 1024 * 1024);
	buf_init(&hb, 1024 * 1024);
	xasprintf(&url, "%s%s", test_url(), path);	/* any length: 414s */
	c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &hb);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	for (; headers != NULL && *headers != NULL; headers++) {
		h = curl_slist_append(h, *headers);
		expect |= strncasecmp(*headers, "Expect:", 7) == 0;
	}
	if (!expect)
		h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	rc = curl_easy_perform(c);
	ck_assert_msg(rc == CURLE_OK, "%s %s: %s", method, path,
	    curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(url);
	r->body = b.data != NULL ? b.data : xstrdup("");
	r->len = b.len;
	r->headers = hb.data != NULL ? hb.data : xstrdup("");
	r->json = json_tokener_parse(r->body);
	return r;
}

struct http *
http_get(const char *path, const char *const *headers)
{
	return http_req("GET", path, NULL, headers);
}

void
http_free(struct http *r)
{
	if (r == NULL)
		return;
	json_object_put(r->json);
	free(r->body);
	free(r->headers);
	free(r);
}

/* Copies the value of response header name into dst; NULL if absent. */
const char *
http_hdr(const struct http *r, const char *name, char *dst, size_t n)
{
	const char	*p = r->headers;
	size_t		 nl = strlen(name);

	while (p != NULL && *p != '\0') {
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			size_t len;

			while (*v == ' ')
				v++;
			len = strcspn(v, "\r\n");
			if (len >= n)
				len = n - 1;
			memcpy(dst, v, len);
			dst[len] = '\0';
			return dst;
		}
		p = strchr(p, '\n');
		p = p != NULL ? p + 1 : NULL;
	}
	return NULL;
}

/* Walks a dotted path ("error.code") in obj. */
json_object *
json_get(json_object *obj, const char *path)
{
	char		 key[128];
	const char	*dot;

	while (obj != NULL && *path != '\0') {
		dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		ck_assert(n < sizeof(key));
		memcpy(key, path, n);
		key[n] = '\0';
		if (!json_object_object_get_ex(obj, key, &obj))
			return NULL;
		path = dot ? dot + 1 : path + n;
	}
	return obj;
}

const char *
json_str(json_object *obj, const char *path)
{
	json_object	*v = json_get(obj, path);

	return v != NULL ? json_object_get_string(v) : NULL;
}

long long
json_int(json_object *obj, const char *path)
{
	json_object	*v = json_get(obj, path);

	ck_assert_msg(v != NULL, "no %s in the response", path);
	return json_object_get_int64(v);
}

/*
 * Runs the built nexusctl with the given arguments (NULL-terminated),
 * through sh with each argument single-quoted. Returns its exit status;
 * *out (if not NULL) gets its stdout, trimmed.
 */
int
ctl(char **out, const char *arg, ...)
{
	struct buf	 cmd, o;
	va_list		 ap;
	FILE		*p;
	char		 chunk[4096];
	size_t		 n;
	int		 st;

	buf_init(&cmd, 65536);
	buf_init(&o, 1024 * 1024);
	buf_printf(&cmd, "'%s/src/nexusctl'", getenv("top_builddir"));
	va_start(ap, arg);
	for (; arg != NULL; arg = va_arg(ap, const char *)) {
		ck_assert(strchr(arg, '\'') == NULL);
		buf_printf(&cmd, " '%s'", arg);
	}
	va_end(ap);
	ck_assert((p = popen(cmd.data, "r")) != NULL);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		buf_add(&o, chunk, n);
	st = pclose(p);
	while (o.len > 0 && (o.data[o.len - 1] == '\n'))
		o.data[--o.len] = '\0';
	if (out != NULL)
		*out = o.data != NULL ? o.data : xstrdup("");
	else
		buf_free(&o);
	buf_free(&cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

void
stack(const char *cmd)
{
	char	 line[4096];

	snprintf(line, sizeof(line), "'%s/tests/stack.sh' %s '%s' >/dev/null",
	    getenv("top_srcdir"), cmd, getenv("NEXUS_TEST_DIR"));
	ck_assert_msg(system(line) == 0, "stack.sh %s failed", cmd);
}

/* The stack's config (NEXUS_CONFIG), loaded once. */
static const struct config *
test_cfg(void)
{
	if (!cfg_loaded) {
		ck_assert(config_load(&cfg, NULL) == 0);
		cfg_loaded = 1;
	}
	return &cfg;
}

struct db *
test_db(void)
{
	return db_open(test_cfg());
}

/*
 * Calls the fake Stripe (tests/fake_stripe.py) at the config's
 * stripe_api_base: its control API (JSON in and out) or /v1 (a form, with
 * the test key). Returns the answer, which must be JSON.
 */
json_object *
fake_stripe(const char *method, const char *path, const char *body)
{
	CURL			*c = curl_easy_init();
	struct curl_slist	*h = NULL;
	struct buf		 b;
	char			 url[1024];
	json_object		*j;
	CURLcode		 rc;

	buf_init(&b, 64 * 1024 * 1024);
	snprintf(url, sizeof(url), "%s%s", test_cfg()->stripe_api_base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	h = curl_slist_append(h, "Authorization: Bearer sk_test_dev");
	h = curl_slist_append(h, strncmp(path, "/v1", 3) == 0 ?
	    "Content-Type: application/x-www-form-urlencoded" :
	    "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	rc = curl_easy_perform(c);
	ck_assert_msg(rc == CURLE_OK, "fake %s %s: %s", method, path,
	    curl_easy_strerror(rc));
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	j = json_tokener_parse(b.data != NULL ? b.data : "");
	ck_assert_msg(j != NULL, "fake %s %s: not JSON", method, path);
	buf_free(&b);
	return j;
}

void
fake_stripe_do(const char *method, const char *path, const char *body)
{
	json_object_put(fake_stripe(method, path, body));
}

/* One of the fake Stripe's counters (GET /_control/stats). */
long long
fake_stripe_stat(const char *name)
{
	json_object	*j = fake_stripe("GET", "/_control/stats", NULL);
	long long	 v = json_int(j, name);

	json_object_put(j);
	return v;
}

/* Runs a statement; fails the test on error. */
void
test_db_exec(const char *sql, const struct dbp *p, size_t np)
{
	struct db	*db = test_db();

	ck_assert_msg(db_exec(db, sql, p, np, NULL) == 0, "%s: %s", sql,
	    db_error(db));
	db_close(db);
}

/* Runs a query that yields one integer; fails the test on error. */
long long
test_db_int(const char *sql, const struct dbp *p, size_t np)
{
	struct db	*db = test_db();
	struct dbres	*r;
	long long	 v;

	r = db_query(db, sql, p, np);
	ck_assert_msg(r != NULL, "%s: %s", sql, db_error(db));
	ck_assert_msg(db_next(r) == 1, "%s: no row", sql);
	v = db_int(r, 0);
	db_done(r);
	db_close(db);
	return v;
}

/* Runs a suite; returns the process exit status. */
int
check_run(Suite *s, enum fork_status fork)
{
	SRunner	*sr = srunner_create(s);
	int	 failed;

	srunner_set_fork_status(sr, fork);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}

int
itest_run(Suite *s)
{
	int	 rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* The stack is shared by the whole file: one test at a time, in order. */
	rc = check_run(s, CK_NOFORK);
	curl_global_cleanup();
	return rc;
}

struct load {
	char		 url[2048];
	char		 header[512];
	size_t		 n;
	long		 pause_us;
	struct load_res	*res;
	pthread_mutex_t	 mu;
	size_t		 next;
	int		 nthreads;
	pthread_t	*threads;
};

static size_t
on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct load_res	*r = arg;
	size_t		 len = sz * n;

	if (len > 14 && strncasecmp(p, "X-Request-Id: ", 14) == 0) {
		size_t idl = strcspn(p + 14, "\r\n");
		if (idl < sizeof(r->id)) {
			memcpy(r->id, p + 14, idl);
			r->id[idl] = '\0';
		}
	}
	return len;
}

static size_t
on_discard(char *p, size_t sz, size_t n, void *arg)
{
	return sz * n;
}

static void *
load_thread(void *arg)
{
	struct load		*l = arg;
	CURL			*c = curl_easy_init();
	struct curl_slist	*h = curl_slist_append(NULL, l->header);
	size_t			 i;

	curl_easy_setopt(c, CURLOPT_URL, l->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_discard);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	for (;;) {
		pthread_mutex_lock(&l->mu);
		i = l->next++;
		pthread_mutex_unlock(&l->mu);
		if (i >= l->n)
			break;
		curl_easy_setopt(c, CURLOPT_HEADERDATA, &l->res[i]);
		l->res[i].id[0] = '\0';
		if (curl_easy_perform(c) == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE,
			    &l->res[i].status);
		else
			l->res[i].status = 0;
		if (l->pause_us > 0)
			usleep((useconds_t)l->pause_us);
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return NULL;
}

struct load *
load_start(const char *path, const char *header, size_t n, int conc,
    long pause_us, struct load_res *res)
{
	struct load	*l = xcalloc(1, sizeof(*l));
	int		 i;

	snprintf(l->url, sizeof(l->url), "%s%s", test_url(), path);
	strlcpy_(l->header, header, sizeof(l->header));
	l->n = n;
	l->res = res;
	l->pause_us = pause_us;
	l->nthreads = conc;
	pthread_mutex_init(&l->mu, NULL);
	l->threads = xcalloc((size_t)conc, sizeof(*l->threads));
	for (i = 0; i < conc; i++)
		ck_assert(pthread_create(&l->threads[i], NULL, load_thread, l) == 0);
	return l;
}

void
load_wait(struct load *l)
{
	int	 i;

	for (i = 0; i < l->nthreads; i++)
		pthread_join(l->threads[i], NULL);
	pthread_mutex_destroy(&l->mu);
	free(l->threads);
	free(l);
}

void
load_run(const char *path, const char *header, size_t n, int conc,
    struct load_res *res)
{
	load_wait(load_start(path, header, n, conc, 0, res));
}

size_t
load_count(const struct load_res *res, size_t n, long status)
{
	size_t	 i, c = 0;

	for (i = 0; i < n; i++)
		c += res[i].status == status;
	return c;
}

long long
wait_db_int(const char *sql, const struct dbp *p, size_t np, long long want,
    int secs)
{
	long long	 v = 0;
	int		 i;

	for (i = 0; i < secs * 10; i++) {
		if ((v = test_db_int(sql, p, np)) == want)
			break;
		usleep(100000);
	}
	return v;
}

void
make_user(const char *email, const char *plan, char **id, char **key)
{
	ck_assert_int_eq(ctl(id, "user", "create", "--email", email, "--plan",
	    plan, NULL), 0);
	if (key != NULL)
		ck_assert_int_eq(ctl(key, "key", "create", "--user", *id,
		    NULL), 0);
}

/* The size of a file in the test's directory (logs/workers.log), or 0. */
long
test_file_size(const char *name)
{
	char	 path[1024];
	FILE	*f;
	long	 n = 0;

	snprintf(path, sizeof(path), "%s/%s", getenv("NEXUS_TEST_DIR"), name);
	if ((f = fopen(path, "r")) != NULL) {
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		fclose(f);
	}
	return n;
}

/* Returns 1 when the file, from offset from on, has a line holding what. */
int
test_file_has(const char *name, long from, const char *what)
{
	char	 path[1024], line[4096];
	FILE	*f;
	int	 found = 0;

	snprintf(path, sizeof(path), "%s/%s", getenv("NEXUS_TEST_DIR"), name);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	fseek(f, from, SEEK_SET);
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}

size_t
worker_pids(int *pids, size_t max)
{
	char	 cmd[1024], line[64];
	FILE	*p;
	size_t	 n = 0;

	snprintf(cmd, sizeof(cmd), "pgrep -P \"$(cat '%s/workers.pid')\"",
	    getenv("NEXUS_TEST_DIR"));
	ck_assert((p = popen(cmd, "r")) != NULL);
	while (n < max && fgets(line, sizeof(line), p) != NULL) {
		long long pid;

		line[strcspn(line, "\n")] = '\0';
		if (parse_int(line, 1, INT32_MAX, &pid) == 0)
			pids[n++] = (int)pid;
	}
	pclose(p);
	return n;
}

void
assert_same_workers(const int *pids, size_t n)
{
	int	 now[64];
	size_t	 m = worker_pids(now, 64), i, j;

	ck_assert_msg(m == n, "%zu workers, had %zu", m, n);
	for (i = 0; i < n; i++) {
		for (j = 0; j < m && now[j] != pids[i]; j++)
			;
		ck_assert_msg(j < m, "worker %d is gone", pids[i]);
	}
}
