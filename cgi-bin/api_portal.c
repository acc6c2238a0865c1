/*
 * What the portal's pages ask before anything else: the settings they
 * need without a token (GET /api/portal/config: where to sign in and
 * upgrade, the key cache's bound, the plans side by side) and who is
 * signed in (GET /api/me).
 */
#include "config.h"

#include "web.h"

#define PORTAL_PLANS_MAX	16

static json_object *
string_or_null(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

/*
 * GET /api/portal/config (no token). Without the database it still
 * answers, with "plans": null: the sign-in view needs login_url most
 * when something is wrong.
 */
void
api_portal_config(struct request *r)
{
	const struct config	*cfg = r->srv->cfg;
	struct usage_plan	 p[PORTAL_PLANS_MAX];
	json_object		*o, *plans = NULL;
	int			 n, i;

	if ((n = plan_list(r->srv->db, p, PORTAL_PLANS_MAX)) == -1)
		log_warnx("portal: plans: %s", db_error(r->srv->db));
	else {
		plans = json_object_new_array();
		for (i = 0; i < n; i++)
			json_object_array_add(plans, usage_plan_json(&p[i]));
	}
	o = json_object_new_object();
	json_object_object_add(o, "login_url", string_or_null(cfg->login_url));
	json_object_object_add(o, "upgrade_url",
	    string_or_null(cfg->upgrade_url));
	json_object_object_add(o, "key_cache_ttl",
	    json_object_new_int64(cfg->key_cache_ttl));
	json_object_object_add(o, "max_keys_per_user",
	    json_object_new_int64(cfg->max_keys_per_user));
	json_object_object_add(o, "plans", plans);
	resp_json(r, 200, o);
}

/* GET /api/me: the signed-in user, and whether they are an admin. */
void
api_me(struct request *r)
{
	struct user	 u;
	json_object	*o;

	switch (user_get(r->srv->db, r->user_id, &u)) {
	case USER_OK:
		break;
	case USER_ERR_NOUSER:	/* deleted since auth_user() */
		resp_error(r, 404, "not_found", "no such user");
		return;
	default:
		resp_error(r, 503, "unavailable", "database unavailable");
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "user_id", json_object_new_string(u.id));
	json_object_object_add(o, "email", json_object_new_string(u.email));
	json_object_object_add(o, "plan", json_object_new_string(u.plan));
	json_object_object_add(o, "admin",
	    json_object_new_boolean(admins_has(r->srv->admins, u.id)));
	resp_json(r, 200, o);
}
