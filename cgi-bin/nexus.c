/*
 * nexus.fcgi: the FastCGI worker.
 *
 *   nexus.fcgi [-f config] [-s socket] [-n workers]
 *
 * With a listen address (-s or "listen" in the config) it binds it and
 * runs as a small prefork supervisor: it starts the workers, restarts one
 * that dies (later and later if it keeps dying), and passes SIGTERM on.
 * Without one it is a single worker on the socket it inherits as fd 0, as
 * spawn-fcgi and Apache's mod_fcgid start FastCGI programs.
 *
 * A unix socket is the web server's only: mode 0660, group socket_group.
 * Workers accept connections themselves, not through libfcgi, so that a
 * connection whose client stalls is dropped after request_timeout_ms
 * instead of holding a worker for ever.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "web.h"

#define BACKOFF_MIN_MS	250	/* a worker that died young: first wait */
#define BACKOFF_MAX_MS	30000
#define WORKER_STABLE_MS 10000	/* lived this long: restarted at once */

/* A worker slot of the supervisor. */
struct child {
	pid_t		 pid;		/* 0: none */
	int64_t		 born;		/* mono_ms() */
	int64_t		 delay;		/* wait before the next restart */
	int64_t		 due;		/* restart then; 0: none pending */
};

static volatile sig_atomic_t	 stopping;
static int			 listen_fd = -1, null_fd = -1;	/* a worker's */
static struct shm		*host_shm;	/* mapped before any fork */
static struct child		*children;
static long long		 nchildren;

static void
usage(void)
{
	fprintf(stderr, "usage: nexus.fcgi [-f config] [-s socket] "
	    "[-n workers]\n");
	exit(2);
}

/*
 * The accept loop looks at stopping just before accept(2): a signal in
 * between would leave the worker there until SIGKILL (mod_fcgid sends
 * SIGTERM once when it retires one). With this process's descriptor of
 * the listening socket pointed at /dev/null, that accept(2) fails at once;
 * the socket itself stays open for the other workers.
 */
static void
worker_term(int sig)
{
	int	 saved = errno;

	stopping = 1;
	FCGX_ShutdownPending();
	if (null_fd != -1)
		dup2(null_fd, listen_fd);
	errno = saved;
}

static void
supervisor_term(int sig)
{
	long long	 i;

	stopping = 1;
	for (i = 0; i < nchildren; i++)
		if (children[i].pid > 0)
			kill(children[i].pid, SIGTERM);
}

#define XFF_FIELDS_MAX	16	/* X-Forwarded-For fields read, the last ones */

/*
 * The client's address: REMOTE_ADDR, or behind trusted_proxies the
 * rightmost X-Forwarded-For address that is not one of them (proxy.c).
 * Every X-Forwarded-For field counts, in order: a web server may pass a
 * repeated header as several parameters. The answer lives until the next
 * request (a worker serves one at a time).
 */
static const char *
remote_addr(const struct request *r)
{
	static char	 client[INET6_ADDRSTRLEN];
	const char	*addr = req_param(r, "REMOTE_ADDR"), *xff[XFF_FIELDS_MAX];
	size_t		 n = 0, len = sizeof("HTTP_X_FORWARDED_FOR=") - 1;
	char		**e;

	if (addr == NULL)
		return "";
	for (e = r->envp; e != NULL && *e != NULL; e++) {
		if (strncmp(*e, "HTTP_X_FORWARDED_FOR=", len) != 0)
			continue;
		if (n == XFF_FIELDS_MAX)
			memmove(xff, xff + 1, --n * sizeof(*xff));
		xff[n++] = *e + len;
	}
	return proxies_client(r->srv->cfg->proxies, addr, xff, n, client,
	    sizeof(client));
}

/*
 * Checks sizes and shape before anything else runs. Returns 0 when the
 * request may be routed, -1 when an error response is already set.
 */
static int
request_read(struct request *r, FCGX_Request *fr)
{
	const struct config	*cfg = r->srv->cfg;
	const char		*uri, *cl;
	long long		 len = 0;
	int			 rc;

	/* Never NULL from here on, whatever the answer. */
	if ((r->method = req_param(r, "REQUEST_METHOD")) == NULL)
		r->method = "";
	uri = req_param(r, "REQUEST_URI");
	r->remote = remote_addr(r);
	if (http_params_size(r->envp) > (size_t)cfg->max_headers) {
		resp_error(r, 431, "headers_too_large",
		    "request headers exceed %lld bytes", cfg->max_headers);
		return -1;
	}
	if (*r->method == '\0' || uri == NULL) {
		resp_error(r, 400, "bad_request", "not an HTTP request");
		return -1;
	}
	if ((rc = http_path_from_uri(uri, r->path, sizeof(r->path),
	    &r->query)) != 0) {
		resp_error(r, rc == -2 ? 414 : 400, rc == -2 ? "uri_too_long" :
		    "bad_request", rc == -2 ? "request path too long" :
		    "malformed request path");
		return -1;
	}
	if ((cl = req_param(r, "CONTENT_LENGTH")) != NULL && *cl != '\0' &&
	    parse_int(cl, 0, INT64_MAX, &len) == -1) {
		resp_error(r, 400, "bad_request", "malformed Content-Length");
		return -1;
	}
	if (len > cfg->max_body) {
		resp_error(r, 413, "body_too_large",
		    "request body exceeds %lld bytes", cfg->max_body);
		return -1;
	}
	if (len > 0) {
		r->body = xmalloc((size_t)len + 1);
		if (FCGX_GetStr(r->body, (int)len, fr->in) != (int)len) {
			resp_error(r, 400, "bad_request", "request body cut short");
			return -1;
		}
		r->body[len] = '\0';
		r->bodylen = (size_t)len;
	}
	return 0;
}

static void
response_write(struct request *r, FCGX_Request *fr)
{
	char	 head[256];
	int	 n;

	/* libfcgi's own printf knows no %zu: format here. */
	n = snprintf(head, sizeof(head), "Status: %d %s\r\n"
	    "Content-Type: application/json\r\n"
	    "Cache-Control: no-store\r\n"
	    "Content-Length: %zu\r\n", r->status, http_reason(r->status),
	    r->out.len);
	FCGX_PutStr(head, n, fr->out);
	if (r->headers.len > 0)
		FCGX_PutStr(r->headers.data, (int)r->headers.len, fr->out);
	FCGX_PutStr("\r\n", 2, fr->out);
	if (r->out.len > 0 && strcmp(r->method, "HEAD") != 0)
		FCGX_PutStr(r->out.data, (int)r->out.len, fr->out);
}

static void
serve(struct server *srv, FCGX_Request *fr)
{
	struct request	 r;

	req_init(&r, srv, fr->envp);
	if (request_read(&r, fr) == 0)
		route_dispatch(&r);
	resp_finish(&r);
	response_write(&r, fr);
	route_after(&r);	/* e.g. an API-key call's usage event */
	FCGX_Finish_r(fr);
	req_free(&r);
}

/*
 * Accepts a connection on lfd, its reads and writes bounded by timeout_ms
 * each: libfcgi reads without a timeout of its own. Returns it, or -1
 * with errno set.
 */
static int
conn_accept(int lfd, long long timeout_ms)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	struct timeval		 tv;
	int			 fd, on = 1;

	if ((fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC)) ==
	    -1)
		return -1;
	tv.tv_sec = (time_t)(timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1) {
		log_warnx("setsockopt: %s", strerror(errno));
		close(fd);
		errno = ECONNABORTED;
		return -1;
	}
	if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	return fd;
}

static int
worker_run(struct config *cfg, int fd)
{
	struct server		 srv;
	struct sigaction	 sa;
	FCGX_Request		 fr;

	listen_fd = fd;
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = worker_term;	/* no SA_RESTART: accept(2) must end */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/*
	 * Apache's prefork MPM restarts by sending SIGHUP to its process
	 * group, mod_fcgid's workers included: a clean stop, as for SIGTERM.
	 */
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	memset(&srv, 0, sizeof(srv));
	srv.cfg = cfg;
	srv.listen_fd = fd;
	srv.shm = host_shm;
	if (shm_worker_join(srv.shm) == -1)
		log_warnx("no worker slot left in the shared region");
	if (random_bytes(srv.event_prefix, sizeof(srv.event_prefix)) == -1) {
		log_warnx("no randomness for usage event ids: not serving");
		return 1;
	}
	srv.db = db_open(cfg);
	srv.keys = keycache_new(cfg, srv.db, srv.shm);
	srv.counters = counters_new((size_t)cfg->key_cache_size,
	    cfg->usage_refresh_ms);
	if ((srv.usage = usage_start(cfg, srv.counters)) == NULL) {
		log_warnx("usage tracking unavailable: not serving");
		return 1;
	}
	token_init(cfg);	/* a bad JWT key shows in the log now */
	srv.admins = admins_new(cfg->admin_ids);

	/*
	 * libfcgi gets no listening socket (-1): it reads a request from the
	 * connection put in fr.ipcFd (kept, not closed, by FCGX_Accept_r's
	 * finishing of the last request), and when it drops one (a protocol
	 * error, a timeout) it fails instead of accepting without bounds.
	 */
	FCGX_InitRequest(&fr, -1, 0);
	log_info("worker ready");
	while (!stopping) {
		if (fr.ipcFd < 0) {
			if ((fr.ipcFd = conn_accept(fd,
			    cfg->request_timeout_ms)) == -1) {
				if (errno == EINTR || errno == ECONNABORTED ||
				    errno == EPROTO)
					continue;
				if (!stopping)	/* else see worker_term() */
					log_warnx("accept: %s", strerror(errno));
				break;
			}
			fr.keepConnection = 1;
		}
		if (FCGX_Accept_r(&fr) < 0)
			continue;	/* dropped: a bad or stalled client */
		serve(&srv, &fr);
	}
	FCGX_Free(&fr, 1);
	usage_stop(srv.usage);
	counters_free(srv.counters);
	keycache_free(srv.keys);
	admins_free(srv.admins);
	db_close(srv.db);
	log_info("worker stopped");
	return 0;
}

static void
on_alarm(int sig)
{
}

static pid_t
spawn(struct config *cfg, int fd)
{
	pid_t	 pid;

	if ((pid = fork()) == -1) {
		log_warnx("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGALRM, SIG_DFL);
		_exit(worker_run(cfg, fd));
	}
	return pid;
}

/* Arms SIGALRM in ms, and every 100 ms after until disarmed (ms 0). */
static void
timer_ms(int64_t ms)
{
	struct itimerval	 it;

	memset(&it, 0, sizeof(it));
	if (ms > 0) {
		it.it_value.tv_sec = (time_t)(ms / 1000);
		it.it_value.tv_usec = (suseconds_t)(ms % 1000) * 1000;
		it.it_interval.tv_usec = 100000;	/* should one be missed */
	}
	setitimer(ITIMER_REAL, &it, NULL);
}

/*
 * Schedules the restart of slot c's worker, dead at now: at once if it
 * had lived WORKER_STABLE_MS, else after a wait that doubles each time up
 * to BACKOFF_MAX_MS, so that a worker that dies young does not spin.
 */
static void
child_died(struct child *c, int64_t now)
{
	if (now - c->born >= WORKER_STABLE_MS)
		c->delay = 0;
	else if (c->delay == 0)
		c->delay = BACKOFF_MIN_MS;
	else if ((c->delay *= 2) > BACKOFF_MAX_MS)
		c->delay = BACKOFF_MAX_MS;
	c->pid = 0;
	c->due = now + c->delay;
}

static void
child_start(struct config *cfg, int fd, struct child *c)
{
	c->due = 0;
	c->born = mono_ms();
	if ((c->pid = spawn(cfg, fd)) == -1)
		child_died(c, c->born);
}

/*
 * Keeps cfg->workers workers running until SIGTERM, then waits for them to
 * finish what they are doing (re-sending SIGTERM to one caught between its
 * check and accept(2)), and kills any left after 30 seconds.
 */
static int
supervise(struct config *cfg, int fd)
{
	struct sigaction	 sa;
	struct timespec		 ts;
	long long		 i;
	int			 status, waited = 0;
	pid_t			 pid;

	nchildren = cfg->workers;
	children = xcalloc((size_t)nchildren, sizeof(*children));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = supervisor_term;	/* no SA_RESTART: waitpid must end */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	for (i = 0; i < nchildren; i++)
		child_start(cfg, fd, &children[i]);
	log_info("supervising %lld workers", nchildren);
	for (;;) {
		int64_t		 now = mono_ms(), next = 0;
		long long	 live = 0;

		for (i = 0; i < nchildren; i++) {
			struct child *c = &children[i];

			if (stopping)
				c->due = 0;
			else if (c->due > 0 && c->due <= now)
				child_start(cfg, fd, c);
			if (c->due > 0 && (next == 0 || c->due < next))
				next = c->due;
			live += c->pid > 0;
		}
		if (live == 0 && next == 0)
			break;
		if (live == 0) {	/* only restarts to wait for */
			ts.tv_sec = (time_t)((next - now) / 1000);
			ts.tv_nsec = (long)((next - now) % 1000) * 1000000;
			nanosleep(&ts, NULL);
			continue;
		}
		if (stopping)
			alarm(1);
		else if (next > 0)
			timer_ms(next - now);
		pid = waitpid(-1, &status, 0);
		if (!stopping && next > 0)
			timer_ms(0);
		if (pid == -1) {
			if (errno != EINTR)
				break;
			if (stopping && ++waited > 30) {
				for (i = 0; i < nchildren; i++)
					if (children[i].pid > 0)
						kill(children[i].pid, SIGKILL);
			} else if (stopping)
				supervisor_term(SIGTERM);
			continue;
		}
		for (i = 0; i < nchildren; i++) {
			struct child *c = &children[i];

			if (c->pid != pid)
				continue;
			c->pid = 0;
			if (stopping)
				break;
			child_died(c, mono_ms());
			log_warnx("worker %ld exited (%s %d); restarting in "
			    "%lld ms", (long)pid, WIFSIGNALED(status) ?
			    "signal" : "status", WIFSIGNALED(status) ?
			    WTERMSIG(status) : WEXITSTATUS(status),
			    (long long)c->delay);
		}
	}
	free(children);
	return 0;
}

/*
 * Binds the unix socket at path for the web server: mode 0660, group
 * socket_group. It is made under a umask that leaves it 0600 until its
 * group is set, so that it is never open wider than that. Returns the
 * listening socket, or -1 (logged).
 */
static int
socket_open(const struct config *cfg, const char *path)
{
	struct group	*gr;
	long long	 gid = -1;
	mode_t		 mask;
	int		 fd;

	if (cfg->socket_group != NULL) {
		if ((gr = getgrnam(cfg->socket_group)) != NULL)
			gid = gr->gr_gid;
		else if (parse_int(cfg->socket_group, 0, INT32_MAX, &gid) ==
		    -1) {
			log_warnx("socket_group %s: no such group",
			    cfg->socket_group);
			return -1;
		}
	}
	unlink(path);
	mask = umask(0177);
	fd = FCGX_OpenSocket(path, 1024);
	umask(mask);
	if (fd < 0) {
		log_warnx("cannot listen on %s", path);
		return -1;
	}
	if ((gid != -1 && chown(path, (uid_t)-1, (gid_t)gid) == -1) ||
	    chmod(path, 0660) == -1) {
		log_warnx("%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

int
main(int argc, char *argv[])
{
	struct config	 cfg;
	struct rlimit	 rl;
	const char	*path = NULL, *listen_on = NULL;
	long long	 workers = 0;
	int		 ch, fd = 0, rc;

	while ((ch = getopt(argc, argv, "f:s:n:h")) != -1) {
		switch (ch) {
		case 'f':
			path = optarg;
			break;
		case 's':
			listen_on = optarg;
			break;
		case 'n':
			if (parse_int(optarg, 1, 256, &workers) == -1)
				usage();
			break;
		default:
			usage();
		}
	}
	if (config_load(&cfg, path) == -1)
		return 1;
	log_init("nexus.fcgi", cfg.log_level);
	if (workers > 0)
		cfg.workers = workers;
	if (listen_on == NULL)
		listen_on = cfg.listen;
	if (FCGX_Init() != 0) {
		log_warnx("FCGX_Init failed");
		return 1;
	}
	/*
	 * While the database is away, each full spool segment keeps its
	 * descriptor (and so its lock): let a long outage take more than the
	 * usual soft limit of 1024.
	 */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/*
	 * The host's shared region, mapped once here: our workers inherit it,
	 * and workers that a web server spawns open the same file.
	 */
	if (cfg.runtime_dir != NULL && mkdir(cfg.runtime_dir, 0750) == -1 &&
	    errno != EEXIST)
		log_warnx("%s: %s", cfg.runtime_dir, strerror(errno));
	if ((host_shm = shm_open_host(cfg.runtime_dir)) == NULL) {
		log_warnx("runtime_dir %s is unusable: not starting",
		    cfg.runtime_dir != NULL ? cfg.runtime_dir : "(unset)");
		return 1;
	}
	if (listen_on == NULL) {
		rc = worker_run(&cfg, 0);
		config_free(&cfg);
		return rc;
	}
	/* Workers would only refuse to start, one after the other. */
	if (spool_dir_check(cfg.spool_dir) == -1) {
		log_warnx("spool_dir is unsafe: not starting");
		return 1;
	}
	if (listen_on[0] == '/')
		fd = socket_open(&cfg, listen_on);
	else if ((fd = FCGX_OpenSocket(listen_on, 1024)) < 0)
		log_warnx("cannot listen on %s", listen_on);
	if (fd < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	rc = supervise(&cfg, fd);
	if (listen_on[0] == '/')
		unlink(listen_on);
	config_free(&cfg);
	return rc;
}
