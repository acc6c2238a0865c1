/*
 * The route table: (method, path) -> what auth it needs and its handler.
 * Routing is on the path of REQUEST_URI, which nginx and Apache both pass
 * unchanged (SCRIPT_NAME/PATH_INFO differ between them).
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
	{ "GET",  "/api/admin/analytics/overview", AUTH_ADMIN, api_admin_overview },
	{ "GET",  "/api/admin/analytics/users",	AUTH_ADMIN, api_admin_users },
	{ "POST", "/api/cron/process-overage",	AUTH_CRON,  api_cron_overage },
};

#define NROUTES	(sizeof(routes) / sizeof(routes[0]))

static void
route_run(struct request *r)
{
	switch (r->route->auth) {
	case AUTH_NONE:
		r->route->handler(r);
		return;
	case AUTH_KEY:
		if (auth_key(r) == 0)
			r->route->handler(r);
		ratelimit_headers(r);
		return;
	case AUTH_USER:
		if (auth_user(r) == 0)
			r->route->handler(r);
		return;
	case AUTH_ADMIN:
		if (auth_admin(r) == 0)
			r->route->handler(r);
		return;
	case AUTH_CRON:
		if (api_cron_auth(r) == 0)
			r->route->handler(r);
		return;
	default:
		resp_error(r, 500, "internal", "route has no authenticator");
		return;
	}
}

/* Finds the route and runs it; answers 404 or 405 (with Allow) itself. */
void
route_dispatch(struct request *r)
{
	char	 allow[128] = "";
	size_t	 i, n = 0;

	for (i = 0; i < NROUTES; i++) {
		if (strcmp(routes[i].path, r->path) != 0)
			continue;
		if (strcmp(routes[i].method, r->method) == 0) {
			r->route = &routes[i];
			route_run(r);
			return;
		}
		n += (size_t)snprintf(allow + n, sizeof(allow) - n, "%s%s",
		    n > 0 ? ", " : "", routes[i].method);
	}
	if (allow[0] == '\0') {
		resp_error(r, 404, "not_found", "no such endpoint");
		return;
	}
	resp_header(r, "Allow", "%s", allow);
	resp_error(r, 405, "method_not_allowed",
	    "%s is not allowed here; allowed: %s", r->method, allow);
}
