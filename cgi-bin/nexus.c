/*
 * nexus.fcgi: the FastCGI worker.
 *
 *   nexus.fcgi [-f config] [-s socket] [-n workers]
 *
 * With a listen address (-s or "listen" in the config) it binds it and
 * runs as a small prefork supervisor: it starts the workers, restarts one
 * that dies, and passes SIGTERM on. Without one it is a single worker on
 * the socket it inherits as fd 0, as spawn-fcgi and Apache's mod_fcgid
 * start FastCGI programs.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "web.h"

static volatile sig_atomic_t	 stopping;
static int			 listen_fd = -1, null_fd = -1;	/* a worker's */
static struct shm		*host_shm;	/* mapped before any fork */
static pid_t			*children;
static long long		 nchildren;

static void
usage(void)
{
	fprintf(stderr, "usage: nexus.fcgi [-f config] [-s socket] "
	    "[-n workers]\n");
	exit(2);
}

/*
 * libfcgi looks for a pending shutdown just before accept(2): a signal in
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
		if (children[i] > 0)
			kill(children[i], SIGTERM);
}

/* The client's address: REMOTE_ADDR, or the proxy's X-Forwarded-For hop. */
static const char *
remote_addr(const struct request *r)
{
	const char	*addr = req_param(r, "REMOTE_ADDR"), *xff, *last;
	const char	*proxy = r->srv->cfg->trusted_proxy;

	if (addr == NULL)
		return "";
	if (proxy == NULL || strcmp(addr, proxy) != 0 ||
	    (xff = req_header(r, "X-Forwarded-For")) == NULL)
		return addr;
	last = strrchr(xff, ',');
	last = last != NULL ? last + 1 : xff;
	while (*last == ' ')
		last++;
	return *last != '\0' ? last : addr;
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

	r->method = req_param(r, "REQUEST_METHOD");
	uri = req_param(r, "REQUEST_URI");
	r->remote = remote_addr(r);
	if (http_params_size(r->envp) > (size_t)cfg->max_headers) {
		resp_error(r, 431, "headers_too_large",
		    "request headers exceed %lld bytes", cfg->max_headers);
		return -1;
	}
	if (r->method == NULL || uri == NULL) {
		r->method = "";
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

static int
worker_run(struct config *cfg, int fd)
{
	struct server		 srv;
	struct sigaction	 sa;
	FCGX_Request		 fr;
	int			 rc;

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
	srv.keys = keycache_new((size_t)cfg->key_cache_size, cfg->key_cache_ttl,
	    cfg->key_lookup_rate);
	srv.counters = counters_new((size_t)cfg->key_cache_size,
	    cfg->usage_refresh_ms);
	if ((srv.usage = usage_start(cfg, srv.counters)) == NULL) {
		log_warnx("usage tracking unavailable: not serving");
		return 1;
	}
	token_init(cfg);	/* a bad JWT key shows in the log now */
	srv.admins = admins_new(cfg->admin_ids);

	if (FCGX_InitRequest(&fr, fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_warnx("FCGX_InitRequest failed");
		return 1;
	}
	log_info("worker ready");
	while (!stopping) {
		if ((rc = FCGX_Accept_r(&fr)) < 0) {
			if (rc == -EINTR && !stopping)
				continue;
			break;
		}
		serve(&srv, &fr);
	}
	FCGX_Free(&fr, 0);
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

/*
 * Keeps cfg->workers workers running until SIGTERM, then waits for them to
 * finish what they are doing (re-sending SIGTERM to one caught between its
 * check and accept(2)), and kills any left after 30 seconds.
 */
static int
supervise(struct config *cfg, int fd)
{
	struct sigaction	 sa;
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
		children[i] = spawn(cfg, fd);
	log_info("supervising %lld workers", nchildren);
	for (;;) {
		long long live = 0;

		for (i = 0; i < nchildren; i++)
			live += children[i] > 0;
		if (live == 0)
			break;
		if (stopping)
			alarm(1);
		pid = waitpid(-1, &status, 0);
		if (pid == -1) {
			if (errno != EINTR)
				break;
			if (stopping && ++waited > 30) {
				for (i = 0; i < nchildren; i++)
					if (children[i] > 0)
						kill(children[i], SIGKILL);
			} else if (stopping)
				supervisor_term(SIGTERM);
			continue;
		}
		for (i = 0; i < nchildren; i++) {
			if (children[i] != pid)
				continue;
			children[i] = 0;
			if (stopping)
				break;
			log_warnx("worker %ld exited (%s %d); restarting",
			    (long)pid, WIFSIGNALED(status) ? "signal" : "status",
			    WIFSIGNALED(status) ? WTERMSIG(status) :
			    WEXITSTATUS(status));
			sleep(WIFEXITED(status) && WEXITSTATUS(status) != 0);
			children[i] = spawn(cfg, fd);
		}
	}
	free(children);
	return 0;
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
	if (listen_on[0] == '/')
		unlink(listen_on);
	if ((fd = FCGX_OpenSocket(listen_on, 1024)) < 0) {
		log_warnx("cannot listen on %s", listen_on);
		return 1;
	}
	/* The web server runs as another user: let it connect. */
	if (listen_on[0] == '/')
		chmod(listen_on, 0666);
	signal(SIGPIPE, SIG_IGN);
	rc = supervise(&cfg, fd);
	if (listen_on[0] == '/')
		unlink(listen_on);
	config_free(&cfg);
	return rc;
}
