/*
 * Who is calling: the user behind a bearer JWT (RFC 6750). The admin
 * check (AUTH_ADMIN) builds on auth_user().
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "web.h"

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
 * 0 with r->user_id set, or -1 after
 * answering 401 (bad or missing token, unknown user), 500 (verification
 * not configured) or 503 (database down).
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
	if (rc != TOKEN_OK)
		return auth_refuse(r, "invalid_token", token_strerror(rc));
	switch (user_get(r->srv->db, sub, &u)) {
	case USER_OK:
		break;
	case USER_ERR_NOUSER:
		return auth_refuse(r, "invalid_token", "token user does not exist");
	default:
		resp_error(r, 503, "unavailable", "database unavailable");
		return -1;
	}
	strlcpy_(r->user_id, u.id, sizeof(r->user_id));
	return 0;
}
