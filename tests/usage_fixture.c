/* Integration fixtures for the usage API and the roll-up (see usage_fixture.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tokens.h"
#include "usage_fixture.h"

#define WAIT_MS		15000	/* longest wait for the usage writer */

static struct config	 cfg;
static int		 loaded;
static char		*saved_conf;

static const struct config *
fx_cfg(void)
{
	if (!loaded) {
		ck_assert(config_load(&cfg, NULL) == 0);
		loaded = 1;
	}
	return &cfg;
}

const char *
fx_secret(void)
{
	ck_assert(fx_cfg()->jwt_secret != NULL);
	return fx_cfg()->jwt_secret;
}

/* Creates a user on plan with a unique email; returns its id. */
char *
fx_user(const char *plan)
{
	static int	 n;
	char		 email[64], *id;

	snprintf(email, sizeof(email), "u%d-%ld@example.com", ++n,
	    (long)getpid());
	ck_assert_int_eq(ctl(&id, "user", "create", "--email", email,
	    "--plan", plan, NULL), 0);
	ck_assert_msg(user_id_valid(id), "user id %s", id);
	return id;
}

/* Creates an API key for user with nexusctl; returns the key. */
char *
fx_key(const char *user)
{
	char	*key;

	ck_assert_int_eq(ctl(&key, "key", "create", "--user", user, NULL), 0);
	ck_assert_msg(strncmp(key, "nx_live_", 8) == 0, "key %s", key);
	return key;
}

/* Calls GET /api/secure/ping n times with key; each must answer want. */
void
fx_ping(const char *key, int n, long want)
{
	char		 hdr[128];
	const char	*h[2] = { hdr, NULL };
	struct http	*r;
	int		 i;

	snprintf(hdr, sizeof(hdr), "X-API-Key: %s", key);
	for (i = 0; i < n; i++) {
		r = http_get("/api/secure/ping", h);
		ck_assert_msg(r->status == want, "ping: %ld, want %ld: %s",
		    r->status, want, r->body);
		http_free(r);
	}
}

/* Polls until user has n raw usage rows (the writer batches them). */
void
fx_wait_rows(const char *user, long long n)
{
	struct dbp	 p[1] = { DBP_S(user) };
	long long	 have = -1;
	int		 waited;

	for (waited = 0; waited <= WAIT_MS; waited += 50) {
		have = test_db_int("SELECT COUNT(*) FROM eco_api_usage "
		    "WHERE user_id = ?", p, 1);
		if (have >= n)
			break;
		usleep(50 * 1000);
	}
	ck_assert_msg(have == n, "%s: %lld usage rows after %d ms, want %lld",
	    user, have, WAIT_MS, n);
}

/* An HS256 token for user with the stack's secret, valid ttl seconds. */
char *
fx_token(const char *user, long ttl)
{
	char	 claims[256];

	snprintf(claims, sizeof(claims), "{\"sub\":\"%s\",\"exp\":%lld,"
	    "\"iat\":%lld,\"role\":\"authenticated\"}", user,
	    (long long)time(NULL) + ttl, (long long)time(NULL));
	return mint_token("HS256", fx_secret(), strlen(fx_secret()), NULL,
	    claims);
}

/* GET path with the token as a bearer (none if NULL). */
struct http *
fx_get(const char *path, const char *token)
{
	char		*hdr = NULL;
	const char	*h[2] = { NULL, NULL };
	struct http	*r;

	if (token != NULL) {
		xasprintf(&hdr, "Authorization: Bearer %s", token);
		h[0] = hdr;
	}
	r = http_get(path, h);
	free(hdr);
	return r;
}

/* Runs a one-value query; returns its text (NULL for SQL NULL), to free. */
char *
fx_str(const char *sql, const struct dbp *p, size_t np)
{
	struct db	*db = test_db();
	struct dbres	*r;
	char		*s = NULL;

	ck_assert_msg((r = db_query(db, sql, p, np)) != NULL, "%s: %s", sql,
	    db_error(db));
	if (db_next(r) == 1 && !db_isnull(r, 0))
		s = xstrdup(db_str(r, 0));
	db_done(r);
	db_close(db);
	return s;
}

/* Returns every row of a query (ncol columns joined by '|'), one a line. */
char *
fx_rows(const char *sql, const struct dbp *p, size_t np, unsigned int ncol)
{
	struct db	*db = test_db();
	struct dbres	*r;
	struct buf	 b;
	unsigned int	 i;

	buf_init(&b, 64 * 1024 * 1024);
	buf_addstr(&b, "");
	ck_assert_msg((r = db_query(db, sql, p, np)) != NULL, "%s: %s", sql,
	    db_error(db));
	while (db_next(r) == 1)
		for (i = 0; i < ncol; i++)
			buf_printf(&b, "%s%s", db_isnull(r, i) ? "NULL" :
			    db_str(r, i), i + 1 < ncol ? "|" : "\n");
	db_done(r);
	db_close(db);
	return b.data;
}

static char *
slurp(const char *path)
{
	FILE	*f = fopen(path, "r");
	char	*s = xmalloc(65536);
	size_t	 n;

	ck_assert(f != NULL);
	n = fread(s, 1, 65535, f);
	s[n] = '\0';
	fclose(f);
	return s;
}

/*
 * Appends lines to the stack's config and restarts the workers. Unless
 * keep, fx_config_reset() takes them out again.
 */
void
fx_config(const char *lines, int keep)
{
	const char	*path = getenv("NEXUS_CONFIG");
	FILE		*f;

	ck_assert(path != NULL);
	if (saved_conf == NULL)
		saved_conf = slurp(path);
	ck_assert((f = fopen(path, "a")) != NULL);
	fputs(lines, f);
	fclose(f);
	if (keep) {
		free(saved_conf);
		saved_conf = NULL;
	}
	stack("workers-stop");
	stack("workers-start");
}

/* Puts the config back as it was before fx_config() and restarts. */
void
fx_config_reset(void)
{
	const char	*path = getenv("NEXUS_CONFIG");
	FILE		*f;

	if (saved_conf == NULL)
		return;
	ck_assert((f = fopen(path, "w")) != NULL);
	fputs(saved_conf, f);
	fclose(f);
	free(saved_conf);
	saved_conf = NULL;
	stack("workers-stop");
	stack("workers-start");
}
