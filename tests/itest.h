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
const char	*test_url(void);

/* Runs a Check suite; returns the process exit status. */
int		 itest_run(Suite *);

#endif
