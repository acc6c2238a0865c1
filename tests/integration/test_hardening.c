/*
 * The workers against hostile local conditions: the FastCGI socket's mode
 * and group, a client that stalls mid-record, raw FastCGI requests that
 * no web server would send, a worker that keeps dying, an unsafe spool
 * directory, and the modes make install gives.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

/* FastCGI 1.0 record types and the responder role. */
#define FCGI_BEGIN_REQUEST	1
#define FCGI_END_REQUEST	3
#define FCGI_PARAMS		4
#define FCGI_STDIN		5
#define FCGI_STDOUT		6
#define FCGI_RESPONDER		1

static void
restart_workers(void)
{
	stack("workers-stop");
	stack("workers-start");
}

static void
socket_path(char *path, size_t n)
{
	snprintf(path, n, "%s/nexus.sock", getenv("NEXUS_TEST_DIR"));
}

/* A connection to the workers' socket, past nginx. */
static int
fcgi_connect(void)
{
	struct sockaddr_un	 sun;
	struct timeval		 tv = { 15, 0 };
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	socket_path(sun.sun_path, sizeof(sun.sun_path));
	ck_assert((fd = socket(AF_UNIX, SOCK_STREAM, 0)) != -1);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0,
	    "connect %s: %s", sun.sun_path, strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Appends a record of request 1 with len bytes of content. */
static void
fcgi_record(struct buf *b, int type, const void *data, size_t len)
{
	unsigned char	 h[8] = { 1, (unsigned char)type, 0, 1,
			    (unsigned char)(len >> 8), (unsigned char)len, 0, 0 };

	ck_assert(len <= 65535);
	ck_assert(buf_add(b, h, sizeof(h)) == 0);
	if (len > 0)
		ck_assert(buf_add(b, data, len) == 0);
}

/* Appends a name-value pair's length: 1 byte, or 4 with the top bit. */
static void
fcgi_len(struct buf *b, size_t n)
{
	unsigned char	 l[4] = { (unsigned char)(n >> 24) | 0x80,
			    (unsigned char)(n >> 16), (unsigned char)(n >> 8),
			    (unsigned char)n };

	if (n < 128)
		ck_assert(buf_add(b, &l[3], 1) == 0);
	else
		ck_assert(buf_add(b, l, 4) == 0);
}

/*
 * A whole request: BEGIN_REQUEST, the "NAME=value" params (NULL-ended)
 * in records of at most 65535 bytes, their end, an empty stdin.
 */
static void
fcgi_request(struct buf *b, const char *const *params)
{
	static const unsigned char begin[8] = { 0, FCGI_RESPONDER, 0 };
	struct buf	 p;
	size_t		 off;

	buf_init(&p, 16 * 1024 * 1024);
	for (; *params != NULL; params++) {
		const char *eq = strchr(*params, '=');

		fcgi_len(&p, (size_t)(eq - *params));
		fcgi_len(&p, strlen(eq + 1));
		ck_assert(buf_add(&p, *params, (size_t)(eq - *params)) == 0);
		ck_assert(buf_addstr(&p, eq + 1) == 0);
	}
	fcgi_record(b, FCGI_BEGIN_REQUEST, begin, sizeof(begin));
	for (off = 0; off < p.len; off += 65535)
		fcgi_record(b, FCGI_PARAMS, p.data + off,
		    p.len - off > 65535 ? 65535 : p.len - off);
	fcgi_record(b, FCGI_PARAMS, NULL, 0);
	fcgi_record(b, FCGI_STDIN, NULL, 0);
	buf_free(&p);
}

static int
read_full(int fd, unsigned char *p, size_t n)
{
	ssize_t	 r;

	for (; n > 0; p += r, n -= (size_t)r)
		if ((r = read(fd, p, n)) <= 0)
			return -1;
	return 0;
}

/*
 * Sends the request, and returns the worker's stdout up to its
 * END_REQUEST (caller frees), or NULL if the connection ended first.
 */
static char *
fcgi_exchange(const char *const *params)
{
	struct buf	 req, out;
	unsigned char	 h[8], content[65535 + 255];
	int		 fd = fcgi_connect();

	buf_init(&req, 32 * 1024 * 1024);
	buf_init(&out, 16 * 1024 * 1024);
	fcgi_request(&req, params);
	ck_assert(write(fd, req.data, req.len) == (ssize_t)req.len);
	buf_free(&req);
	for (;;) {
		size_t len;

		if (read_full(fd, h, sizeof(h)) == -1)
			break;
		len = ((size_t)h[4] << 8 | h[5]) + h[6];
		if (read_full(fd, content, len) == -1)
			break;
		if (h[1] == FCGI_STDOUT)
			ck_assert(buf_add(&out, content, len - h[6]) == 0);
		if (h[1] == FCGI_END_REQUEST) {
			close(fd);
			ck_assert(buf_add(&out, "", 1) == 0);
			return out.data;
		}
	}
	close(fd);
	buf_free(&out);
	return NULL;
}

/* Waits for the worker set to differ from pids[0..n-1]: its newcomer. */
static int
wait_new_worker(const int *pids, size_t n, int secs)
{
	int	 now[16];
	size_t	 m, i, j;
	int	 t;

	for (t = 0; t < secs * 100; t++) {
		m = worker_pids(now, 16);
		for (i = 0; i < m; i++) {
			for (j = 0; j < n && now[i] != pids[j]; j++)
				;
			if (j == n)
				return now[i];
		}
		usleep(10000);
	}
	return 0;
}

/* Runs nexus.fcgi on the stack's config with extra environment. */
static int
run_fcgi(const char *env, const char *args, const char *log)
{
	char	 cmd[2048];
	int	 st;

	snprintf(cmd, sizeof(cmd), "cd \"$NEXUS_TEST_DIR\" && env %s "
	    "timeout 20 \"$top_builddir/cgi-bin/nexus.fcgi\" %s </dev/null "
	    ">logs/%s 2>&1", env, args, log);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int
log_has(const char *log, const char *text)
{
	char	 path[600], line[1024];
	FILE	*f;
	int	 found = 0;

	snprintf(path, sizeof(path), "%s/logs/%s", getenv("NEXUS_TEST_DIR"),
	    log);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, text) != NULL;
	fclose(f);
	return found;
}

struct watch {
	const char	*path;
	volatile int	 stop;
	unsigned int	 wider;		/* mode bits seen past 0660 */
	int		 seen;
};

static void *
watch_mode(void *arg)
{
	struct watch	*w = arg;
	struct stat	 st;

	while (!w->stop)
		if (stat(w->path, &st) == 0) {
			w->seen = 1;
			w->wider |= st.st_mode & 0117;
		}
	return NULL;
}

/*
 * The socket is 0660 in the configured group from the moment it exists,
 * and the web server (in that group) still gets through.
 */
START_TEST(socket_mode_and_group)
{
	char		 path[512], name[32];
	struct group	*gr = getgrnam("nogroup");
	gid_t		 gid = gr != NULL ? gr->gr_gid : 65534;
	struct watch	 w;
	struct stat	 st;
	pthread_t	 t;
	struct http	*r;

	/* A group other than ours, by name or else by number. */
	if (gr != NULL)
		snprintf(name, sizeof(name), "%s", gr->gr_name);
	else
		snprintf(name, sizeof(name), "%lu", (unsigned long)gid);
	socket_path(path, sizeof(path));
	setenv("NEXUS_SOCKET_GROUP", name, 1);
	stack("workers-stop");
	memset(&w, 0, sizeof(w));
	w.path = path;
	ck_assert(pthread_create(&t, NULL, watch_mode, &w) == 0);
	stack("workers-start");
	w.stop = 1;
	pthread_join(t, NULL);
	ck_assert(w.seen);
	ck_assert_msg(w.wider == 0, "the socket was once mode %04o wider",
	    w.wider);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_msg((st.st_mode & 07777) == 0660, "socket mode %04o",
	    (unsigned int)(st.st_mode & 07777));
	ck_assert_uint_eq(st.st_gid, gid);
	r = http_get("/api/health", NULL);
	ck_assert_int_eq(r->status, 200);
	http_free(r);

	/* A group that does not exist: refused, not ignored. */
	unsetenv("NEXUS_SOCKET_GROUP");
	stack("workers-stop");
	ck_assert_int_eq(run_fcgi("NEXUS_SOCKET_GROUP=no-such-group-nexus", "",
	    "bad-group.log"), 1);
	ck_assert(log_has("bad-group.log", "no such group"));
	stack("workers-start");
}
END_TEST

/*
 * One worker; a client connects past nginx and sends half a record,
 * another sends nothing. Each is dropped after request_timeout_ms (and
 * libfcgi's close, which waits up to 2 s for the client to hang up), and
 * the worker serves the others.
 */
START_TEST(stalled_client_dropped)
{
	static const unsigned char half[4] = { 1, FCGI_BEGIN_REQUEST, 0, 1 };
	struct http	*r;
	int64_t		 t0;
	int		 fd, fd2;
	char		 c;

	setenv("NEXUS_WORKERS", "1", 1);
	setenv("NEXUS_REQUEST_TIMEOUT_MS", "1000", 1);
	restart_workers();
	r = http_get("/api/health", NULL);	/* the worker is up */
	ck_assert_int_eq(r->status, 200);
	http_free(r);

	fd = fcgi_connect();
	ck_assert(write(fd, half, sizeof(half)) == sizeof(half));
	fd2 = fcgi_connect();			/* and one that sends nothing */
	t0 = mono_ms();
	r = http_get("/api/health", NULL);
	ck_assert_int_eq(r->status, 200);
	http_free(r);
	ck_assert_msg(mono_ms() - t0 < 9000, "served only after %lld ms",
	    (long long)(mono_ms() - t0));
	/* The worker hung up on both. */
	ck_assert_int_eq(read(fd, &c, 1), 0);
	ck_assert_int_eq(read(fd2, &c, 1), 0);
	close(fd);
	close(fd2);

	unsetenv("NEXUS_WORKERS");
	unsetenv("NEXUS_REQUEST_TIMEOUT_MS");
	restart_workers();
}
END_TEST

/*
 * No REQUEST_METHOD and more parameters than max_headers: 431, and the
 * worker lives. No REQUEST_METHOD alone: 400.
 */
START_TEST(no_method_many_params)
{
	enum { NP = 64 };
	char		*params[NP + 2], *out;
	int		 before[16];
	size_t		 n, i;

	n = worker_pids(before, 16);
	ck_assert_uint_ge(n, 1);
	params[0] = xstrdup("REQUEST_URI=/api/health");
	for (i = 1; i <= NP; i++) {
		params[i] = xmalloc(600);
		snprintf(params[i], 600, "HTTP_X_FILL_%zu=", i);
		memset(params[i] + strlen(params[i]), 'a', 500);
		params[i][strlen(params[i]) + 500] = '\0';
	}
	params[NP + 1] = NULL;
	for (i = 0; i < 2 * n; i++) {	/* every worker, likely */
		out = fcgi_exchange((const char *const *)params);
		ck_assert_msg(out != NULL, "no answer: the worker died");
		ck_assert_msg(strncmp(out, "Status: 431", 11) == 0, "%s", out);
		ck_assert_ptr_nonnull(strstr(out, "headers_too_large"));
		free(out);
	}
	for (i = 1; i <= NP; i++)
		free(params[i]);
	params[1] = NULL;
	out = fcgi_exchange((const char *const *)params);
	ck_assert_msg(out != NULL, "no answer: the worker died");
	ck_assert_msg(strncmp(out, "Status: 400", 11) == 0, "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "bad_request"));
	free(out);

	assert_same_workers(before, n);
	free(params[0]);
}
END_TEST

/*
 * A worker that keeps dying young is restarted later and later; once it
 * has lived a while, at once again.
 */
START_TEST(supervisor_backs_off)
{
	int64_t		 gap[4], t;
	int		 pid, i;

	setenv("NEXUS_WORKERS", "1", 1);
	restart_workers();
	ck_assert((pid = wait_new_worker(NULL, 0, 10)) > 0);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		t = mono_ms();
		ck_assert((pid = wait_new_worker(&pid, 1, 40)) > 0);
		gap[i] = mono_ms() - t;
	}
	ck_assert_msg(gap[0] < 1000, "first restart after %lld ms",
	    (long long)gap[0]);
	ck_assert_msg(gap[3] >= 1500 && gap[3] > 3 * gap[0],
	    "restarts after %lld, %lld, %lld, %lld ms: no back-off",
	    (long long)gap[0], (long long)gap[1], (long long)gap[2],
	    (long long)gap[3]);

	sleep(11);			/* it has lived a while */
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	t = mono_ms();
	ck_assert((pid = wait_new_worker(&pid, 1, 10)) > 0);
	ck_assert_msg(mono_ms() - t < 500, "restart after %lld ms: no reset",
	    (long long)(mono_ms() - t));

	unsetenv("NEXUS_WORKERS");
	restart_workers();
}
END_TEST

/*
 * A spool directory that others may write, or that is not ours: the
 * supervisor and a lone worker refuse to start, saying why.
 */
START_TEST(unsafe_spool_dir_refused)
{
	char	 dir[512], env[700], sock[600];

	snprintf(dir, sizeof(dir), "%s/spool-open", getenv("NEXUS_TEST_DIR"));
	snprintf(sock, sizeof(sock), "-s %s/other.sock",
	    getenv("NEXUS_TEST_DIR"));
	snprintf(env, sizeof(env), "NEXUS_SPOOL_DIR=%s", dir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(chmod(dir, 0770), 0);
	ck_assert_int_eq(run_fcgi(env, sock, "spool-open.log"), 1);
	ck_assert(log_has("spool-open.log", "may be written by others"));
	ck_assert_int_eq(chmod(dir, 0757), 0);
	snprintf(env, sizeof(env), "NEXUS_SPOOL_DIR=%s NEXUS_LISTEN=", dir);
	ck_assert_int_eq(run_fcgi(env, "", "spool-open1.log"), 1);
	ck_assert(log_has("spool-open1.log", "may be written by others"));

	/* Closed, but someone else's. */
	ck_assert_int_eq(chmod(dir, 0750), 0);
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(dir, 65534, 65534), 0);
		snprintf(env, sizeof(env), "NEXUS_SPOOL_DIR=%s", dir);
		ck_assert_int_eq(run_fcgi(env, sock, "spool-theirs.log"), 1);
		ck_assert(log_has("spool-theirs.log", "not to this user"));
	}
}
END_TEST

/*
 * make install: the config (secrets) 0640, an existing one kept but
 * closed to others; the spool directory 0750.
 */
START_TEST(install_modes)
{
	char		 dest[512], cmd[2048], path[1024], line[64];
	struct stat	 st;
	FILE		*f;

	snprintf(dest, sizeof(dest), "%s/destdir", getenv("NEXUS_TEST_DIR"));
	snprintf(cmd, sizeof(cmd), "umask 022 && make -s -C \"$top_builddir\" "
	    "install-data-local DESTDIR='%s' >/dev/null", dest);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(path, sizeof(path), "%s%s/nexus.conf", dest, SYSCONFDIR);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_msg((st.st_mode & 07777) == 0640, "config mode %04o",
	    (unsigned int)(st.st_mode & 07777));
	snprintf(path, sizeof(path), "%s%s", dest, SPOOL_DIR);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_msg((st.st_mode & 07777) == 0750, "spool mode %04o",
	    (unsigned int)(st.st_mode & 07777));

	/* An existing config: not replaced, but no longer world-readable. */
	snprintf(path, sizeof(path), "%s%s/nexus.conf", dest, SYSCONFDIR);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("# mine\n", f);
	fclose(f);
	ck_assert_int_eq(chmod(path, 0666), 0);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_msg((st.st_mode & 07777) == 0640, "config mode %04o",
	    (unsigned int)(st.st_mode & 07777));
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	fclose(f);
	ck_assert_str_eq(line, "# mine\n");
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("hardening");
	TCase	*tc = tcase_create("hostile");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, socket_mode_and_group);
	tcase_add_test(tc, no_method_many_params);
	tcase_add_test(tc, stalled_client_dropped);
	tcase_add_test(tc, supervisor_backs_off);
	tcase_add_test(tc, unsafe_spool_dir_refused);
	tcase_add_test(tc, install_modes);
	suite_add_tcase(s, tc);
	return itest_run(s);
}
