/*
 * The route table: (method, path) -> what auth it needs and its handler;
 * and the authentication kinds: how each is checked and what follows
 * the response. Routing is on the path of REQUEST_URI, which nginx and
 * Apache both pass unchanged (SCRIPT_NAME/PATH_INFO differ between them).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "web.h"

static const struct route routes[] = {
	{ "GET",  "/api/health",		AUTH_NONE,  api_health },
	{ "GET",  "/api/live",			AUTH_NONE,  api_live },
	{ "GET",  "/api/secure/ping",		AUTH_KEY,   api_ping },
	{ "GET",  "/api/usage/current",		AUTH_USER,  api_usage_current },
	{ "GET",  "/api/usage/history",		AUTH_USER,  api_usage_history },
	{ "GET",  "/api/usage/endpoints",	AUTH_USER,  api_usage_endpoints },
	{ "GET",  "/api/usage/overage",		AUTH_USER,  api_usage_overage },
	{ "GET",  "/api/keys",			AUTH_USER,  api_keys_list },
	{ "POST", "/api/keys",			AUTH_USER,  api_keys_create },
	{ "POST", "/api/keys/{id}/rotate",	AUTH_USER,  api_keys_rotate },
	{ "DELETE", "/api/keys/{id}",		AUTH_USER,  api_keys_revoke },
	{ "GET",  "/api/billing/spend-cap",	AUTH_USER,  api_billing_cap_get },
	{ "PUT",  "/api/billing/spend-cap",	AUTH_USER,  api_billing_cap_put },
	{ "GET",  "/api/me",			AUTH_USER,  api_me },
	{ "GET",  "/api/portal/config",		AUTH_NONE,  api_portal_config },
	{ "GET",  "/api/admin/analytics/overview", AUTH_ADMIN, api_admin_overview },
	{ "GET",  "/api/admin/analytics/users",	AUTH_ADMIN, api_admin_users },
	{ "GET",  "/api/admin/analytics/daily",	AUTH_ADMIN, api_admin_daily },
	{ "GET",  "/api/admin/users/{id}",	AUTH_ADMIN, api_admin_user },
	{ "PUT",  "/api/admin/users/{id}/plan",	AUTH_ADMIN, api_admin_user_plan },
	{ "PUT",  "/api/admin/users/{id}/spend-cap", AUTH_ADMIN,
	    api_admin_user_cap },
	{ "DELETE", "/api/admin/users/{id}/keys/{key_id}", AUTH_ADMIN,
	    api_admin_user_key_revoke },
	{ "POST", "/api/admin/ledger/{id}/retry", AUTH_ADMIN,
	    api_admin_ledger_retry },
	{ "POST", "/api/cron/process-overage",	AUTH_CRON,  api_cron_overage },
};

static const struct auth auths[] = {
	{ AUTH_NONE,	NULL,		NULL },
	{ AUTH_KEY,	apikey_auth,	apikey_record },	/* apikey.c */
	{ AUTH_USER,	auth_user,	NULL },			/* auth.c */
	{ AUTH_ADMIN,	auth_admin,	NULL },
	{ AUTH_CRON,	auth_cron,	NULL },
};

#define NROUTES	(sizeof(routes) / sizeof(routes[0]))
#define NAUTHS	(sizeof(auths) / sizeof(auths[0]))

static const struct auth *
auth_find(enum auth_kind kind)
{
	size_t	 i;

	for (i = 0; i < NAUTHS; i++)
		if (auths[i].kind == kind)
			return &auths[i];
	return NULL;
}

/*
 * Matches path against a route's pattern, in which a "{name}" segment
 * takes any one segment of the path: percent-decoded, 1 to PATH_PARAM_MAX
 * bytes. Returns 1 with the values captured in p[0..*np - 1], or 0.
 */
int
route_match(const char *pattern, const char *path, struct path_param *p,
    size_t *np)
{
	size_t	 pl, sl;

	*np = 0;
	while (*pattern == '/' && *path == '/') {
		pattern++;
		path++;
		pl = strcspn(pattern, "/");
		sl = strcspn(path, "/");
		if (pl > 2 && pattern[0] == '{' && pattern[pl - 1] == '}') {
			if (*np == PATH_PARAMS_MAX || sl == 0 ||
			    http_pct_decode(path, sl, 0, p[*np].value,
			    sizeof(p[*np].value)) == -1)
				return 0;
			p[*np].name = pattern + 1;
			p[*np].namelen = pl - 2;
			(*np)++;
		} else if (pl != sl || strncmp(pattern, path, pl) != 0)
			return 0;
		pattern += pl;
		path += sl;
	}
	return *pattern == '\0' && *path == '\0';
}

/* The value the route's "{name}" segment captured, or NULL. */
const char *
req_path_param(const struct request *r, const char *name)
{
	size_t	 i, n = strlen(name);

	for (i = 0; i < r->nparams; i++)
		if (r->params[i].namelen == n &&
		    strncmp(r->params[i].name, name, n) == 0)
			return r->params[i].value;
	return NULL;
}

/* Adds method to the ", "-separated list unless it is there. */
static void
allow_add(char *allow, size_t size, const char *method)
{
	size_t		 ml = strlen(method), len = strlen(allow);
	const char	*p;

	for (p = allow; (p = strstr(p, method)) != NULL; p += ml)
		if ((p == allow || p[-1] == ' ') &&
		    (p[ml] == ',' || p[ml] == '\0'))
			return;
	snprintf(allow + len, size - len, "%s%s", len > 0 ? ", " : "",
	    method);
}

/* Authenticates the caller as the route says, then runs its handler. */
static void
route_run(struct request *r)
{
	const struct auth	*a = auth_find(r->route->auth);

	if (a == NULL) {
		resp_error(r, 500, "internal", "route has no authenticator");
		return;
	}
	if (a->authenticate == NULL || a->authenticate(r) == 0)
		r->route->handler(r);
}

/*
 * Finds the route of r in table (the first whose method and path match)
 * and runs it; answers 404 or 405 (with Allow) itself.
 */
void
route_dispatch_table(struct request *r, const struct route *table, size_t n)
{
	struct path_param	 p[PATH_PARAMS_MAX];
	char			 allow[128] = "";
	size_t			 i, np;

	for (i = 0; i < n; i++) {
		if (!route_match(table[i].path, r->path, p, &np))
			continue;
		if (strcmp(table[i].method, r->method) == 0) {
			r->route = &table[i];
			memcpy(r->params, p, np * sizeof(*p));
			r->nparams = np;
			route_run(r);
			return;
		}
		allow_add(allow, sizeof(allow), table[i].method);
	}
	if (allow[0] == '\0') {
		resp_error(r, 404, "not_found", "no such endpoint");
		return;
	}
	resp_header(r, "Allow", "%s", allow);
	resp_error(r, 405, "method_not_allowed",
	    "%s is not allowed here; allowed: %s", r->method, allow);
}

void
route_dispatch(struct request *r)
{
	route_dispatch_table(r, routes, NROUTES);
}

/* What the route's kind does once the response is written. */
void
route_after(struct request *r)
{
	const struct auth	*a;

	if (r->route != NULL && (a = auth_find(r->route->auth)) != NULL &&
	    a->after != NULL)
		a->after(r);
}
