/*
 * Integration-test helpers: HTTP over loopback with libcurl against the
 * stack tests/run-test started, nexusctl runs, and a database handle for
 * checking what the product wrote.
 */
#ifndef ITEST_H
#define ITEST_H

#include <check.h>
#include <json-c/json.h>

#include "nexus.h"

struct http {
	long		 status;
	char		*body;
	size_t		 len;
	char		*headers;	/* raw response header block */
	json_object	*json;		/* parsed body, or NULL */
};

/* GET/POST path with extra "Name: value" headers (NULL-terminated). */
struct http	*http_req(const char *, const char *, const char *,
		    const char *const *);
struct http	*http_get(const char *, const char *const *);
void		 http_free(struct http *);
const char	*http_hdr(const struct http *, const char *, char *, size_t);
const char	*json_str(json_object *, const char *);
long long	 json_int(json_object *, const char *);
json_object	*json_get(json_object *, const char *);

/* Runs nexusctl with args; returns its exit status, stdout in *out. */
int		 ctl(char **, const char *, ...);
/* Runs tests/stack.sh CMD on this test's stack (db-stop, db-start...). */
void		 stack(const char *);
/* A connection to the test database, from NEXUS_CONFIG. */
struct db	*test_db(void);
long long	 test_db_int(const char *, const struct dbp *, size_t);
void		 test_db_exec(const char *, const struct dbp *, size_t);
const char	*test_url(void);

/* Runs a Check suite; returns the process exit status. */
int		 check_run(Suite *, enum fork_status);
int		 itest_run(Suite *);



/*
 * Concurrent load: n GETs of path with one extra header, over conc
 * threads each with its own keep-alive connection. Each response's status
 * and X-Request-Id land in res[i]. load_start returns at once; load_wait
 * joins. pause_us spaces each thread's requests.
 */
struct load_res {
	long	 status;
	char	 id[40];
};
struct load;
struct load	*load_start(const char *, const char *, size_t, int,
		    long, struct load_res *);
void		 load_wait(struct load *);
void		 load_run(const char *, const char *, size_t, int,
		    struct load_res *);
size_t		 load_count(const struct load_res *, size_t, long);

/* Polls sql (one integer) until it equals want or secs pass; returns it. */
long long	 wait_db_int(const char *, const struct dbp *, size_t,
		    long long, int);
/* Creates a user and a key; id and key are caller-owned strings. */
void		 make_user(const char *, const char *, char **, char **);
/* The pids of the running workers (children of the supervisor). */
size_t		 worker_pids(int *, size_t);
/* Fails the test unless the workers are still pids[0..n-1]: none died. */
void		 assert_same_workers(const int *, size_t);
#endif
