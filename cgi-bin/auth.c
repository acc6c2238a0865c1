/*
 * The bearer authenticators (RFC 6750): the user behind a JWT
 * (AUTH_USER), an admin among users (AUTH_ADMIN) and the cron secret
 * (AUTH_CRON). API keys have their own path, in apikey.c.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "web.h"

/*
 * admin.denied rows: a user refused at the admin routes is written at most
 * this often (shared buckets of the host), so that a script hammering them
 * cannot grow the audit log without bound. Each row says how many refusals
 * its worker left unwritten since its previous one.
 */
#define DENIED_USER_RATE	1	/* rows a second, per user */
#define DENIED_USER_BURST	5
#define DENIED_HOST_RATE	10	/* rows a second, all users */
#define DENIED_HOST_BURST	50

static long long	 denied_unwritten;	/* this worker's, since its last row */

/* What every refused JWT is told; the reason goes to the log. */
#define TOKEN_REFUSED	"the bearer token is not accepted"

/* Answers 401 with the RFC 6750 3 challenge; returns -1. */
static int
auth_refuse(struct request *r, const char *code, const char *msg)
{
	if (strcmp(code, "invalid_token") == 0)
		resp_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
	else
		resp_header(r, "WWW-Authenticate", "Bearer realm=\"nexus\"");
	resp_error(r, 401, code, "%s", msg);
	return -1;
}

/*
 * Returns the token of an "Authorization: Bearer <token>" header (the
 * scheme is case-insensitive, RFC 9110 11.1), or NULL.
 */
const char *
auth_bearer(const struct request *r)
{
	const char	*h = req_header(r, "Authorization");

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h != '\0' ? h : NULL;
}

/*
 * Verifies the caller's JWT and that its sub is an existing user. Returns
 * 0 with r->user_id set, or -1 after answering 401 (bad or missing token,
 * unknown user), 500 (verification not configured) or 503 (database
 * down). AUTH_ADMIN runs it first, then checks r->user_id.
 */
int
auth_user(struct request *r)
{
	const struct config	*cfg = r->srv->cfg;
	const char		*tok;
	struct user		 u;
	char			 sub[USER_ID_MAX + 1];
	int			 rc;

	if ((tok = auth_bearer(r)) == NULL)
		return auth_refuse(r, "missing_token",
		    "Authorization: Bearer <JWT> is required");
	rc = token_verify(cfg, tok, time(NULL), sub, sizeof(sub));
	if (rc == TOKEN_CONFIG) {
		log_warnx("JWT verification is not configured");
		resp_error(r, 500, "internal", "authentication is not configured");
		return -1;
	}
	/*
	 * Which check failed is for our log only: telling the caller would
	 * help someone forging tokens (RFC 8725 3.2, RFC 6750 3.1).
	 */
	if (rc != TOKEN_OK) {
		log_info("JWT refused from %s: %s", r->remote,
		    token_strerror(rc));
		return auth_refuse(r, "invalid_token", TOKEN_REFUSED);
	}
	switch (user_get(r->srv->db, sub, &u)) {
	case USER_OK:
		break;
	case USER_ERR_NOUSER:
		log_info("JWT refused from %s: token user does not exist",
		    r->remote);
		return auth_refuse(r, "invalid_token", TOKEN_REFUSED);
	default:
		resp_error(r, 503, "unavailable", "database unavailable");
		return -1;
	}
	strlcpy_(r->user_id, u.id, sizeof(r->user_id));
	return 0;
}

/*
 * Writes the admin request to the audit log: who (actor), what (action,
 * and the method, path and query in detail), when (the row's time) and
 * from where. Returns 0 or -1.
 */
static int
auth_audit(struct request *r, const char *action, long long unwritten)
{
	json_object	*d = json_object_new_object();
	int		 rc;

	json_object_object_add(d, "method", json_object_new_string(r->method));
	json_object_object_add(d, "path", json_object_new_string(r->path));
	json_object_object_add(d, "query", json_object_new_string(r->query));
	if (unwritten > 0)
		json_object_object_add(d, "unwritten_before",
		    json_object_new_int64(unwritten));
	rc = audit_log(r->srv->db, r->user_id, action, r->path,
	    json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE), r->remote);
	json_object_put(d);
	return rc;
}

/* Audits a refusal, unless its user's or the host's bucket is empty. */
static void
auth_audit_denied(struct request *r)
{
	struct shm	*shm = r->srv->shm;
	char		 name[sizeof("audit.denied.") + USER_ID_MAX];
	int64_t		 now = mono_ms();

	snprintf(name, sizeof(name), "audit.denied.%s", r->user_id);
	if (shm != NULL && (!shm_bucket_take(shm, name, DENIED_USER_RATE,
	    DENIED_USER_BURST, now, NULL) || !shm_bucket_take(shm,
	    "audit.denied", DENIED_HOST_RATE, DENIED_HOST_BURST, now, NULL))) {
		denied_unwritten++;
		return;
	}
	if (auth_audit(r, "admin.denied", denied_unwritten) == 0)
		denied_unwritten = 0;
}

/*
 * Takes one of the admin's tokens (admin_rate a second, bursts of
 * admin_burst) from the host's shared buckets, so that every worker
 * counts them. Returns 0, or -1 after answering 429; a refusal is
 * audited at most once a second per admin.
 */
static int
auth_admin_rate(struct request *r)
{
	const struct config	*cfg = r->srv->cfg;
	char			 name[USER_ID_MAX + 16];
	int64_t			 wait_ms = 1000, now = mono_ms();

	if (r->srv->shm == NULL)
		return 0;
	snprintf(name, sizeof(name), "admin:%s", r->user_id);
	if (shm_bucket_take(r->srv->shm, name, cfg->admin_rate,
	    cfg->admin_burst, now, &wait_ms))
		return 0;
	snprintf(name, sizeof(name), "admin-429:%s", r->user_id);
	if (shm_bucket_take(r->srv->shm, name, 1, 1, now, NULL))
		auth_audit(r, "admin.rate_limited", 0);
	resp_header(r, "Retry-After", "%lld",
	    (long long)(wait_ms + 999) / 1000);
	resp_error(r, 429, "rate_limited", "too many admin requests: "
	    "%lld a second are allowed, in bursts of %lld", cfg->admin_rate,
	    cfg->admin_burst);
	return -1;
}

/*
 * An admin: a user (auth_user) whose id is in admin_ids, within the
 * admin rate. Every request that gets this far is audited, refused ones
 * too (past the rate: once a second; denied ones at a bounded rate); an
 * allowed request that cannot be audited is not served. Returns 0, or -1 after answering 401 (as
 * auth_user), 403 (not an admin), 429 (too many) or 503 (no audit log).
 */
int
auth_admin(struct request *r)
{
	if (auth_user(r) == -1)
		return -1;
	if (!admins_has(r->srv->admins, r->user_id)) {
		auth_audit_denied(r);
		resp_error(r, 403, "forbidden",
		    "this endpoint is for administrators");
		return -1;
	}
	if (auth_admin_rate(r) == -1)
		return -1;
	if (auth_audit(r, "admin.request", 0) == -1) {
		resp_error(r, 503, "unavailable", "audit log unavailable");
		return -1;
	}
	return 0;
}

/*
 * AUTH_CRON: "Authorization: Bearer <cron_secret>", compared in constant
 * time (RFC 6750 section 2.1). No secret configured means nobody gets in.
 * Returns 0 when allowed, -1 after answering 401.
 */
int
auth_cron(struct request *r)
{
	const char	*token = auth_bearer(r);
	const char	*secret = r->srv->cfg->cron_secret;

	if (token != NULL && secret != NULL && ct_equal(token, secret))
		return 0;
	resp_header(r, "WWW-Authenticate", "Bearer realm=\"nexus-cron\"");
	resp_error(r, 401, "unauthorized",
	    "this endpoint needs Authorization: Bearer <CRON_SECRET>");
	return -1;
}
