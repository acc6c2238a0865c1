/*
 * The overage spend cap: the signed-in user's (AUTH_USER), GET and PUT
 * /api/billing/spend-cap, and any user's for an admin (AUTH_ADMIN), PUT
 * /api/admin/users/{id}/spend-cap (the admin's user page shows it).
 *
 * A cap is integer cents a month: calls past the plan's allowance and the
 * overage calls the cap pays for are refused (429 spend_cap_reached), and
 * the biller never bills more (users.c, quota.c, period.c). Only a plan
 * that bills overage takes one: on another the request is well formed but
 * meets the account as it is, so it is a 409, which the same request
 * would not meet after an upgrade. Every change is audited with the user
 * as actor; this host's workers take it at once, others within
 * key_cache_ttl, which the answer states.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "web.h"

static const struct body_field cap_fields[] = {
	{ "cap_cents",	BODY_INT,	0, SPEND_CAP_MAX },
};
#define NCAP	(sizeof(cap_fields) / sizeof(cap_fields[0]))

static void
cap_unavailable(struct request *r)
{
	log_warnx("spend cap: %s", db_error(r->srv->db));
	resp_error(r, 503, "unavailable", "database unavailable");
}

/* The cap's JSON with how long other servers may take to see it. */
static json_object *
cap_json(struct request *r, const struct spend_cap *c)
{
	json_object	*o = spendcap_json(c);

	json_object_object_add(o, "key_cache_ttl",
	    json_object_new_int64(r->srv->cfg->key_cache_ttl));
	return o;
}

/*
 * Whether the body names field, null included. The strict parser has
 * already taken the body as an object of known fields, and counts null
 * as absent; json-c here only looks at what it accepted.
 */
static int
body_names(const struct request *r, const char *field)
{
	json_tokener	*t;
	json_object	*o;
	int		 has;

	if (r->bodylen == 0 || r->bodylen > BODY_MAX)
		return 0;
	t = json_tokener_new();
	o = json_tokener_parse_ex(t, r->body, (int)r->bodylen);
	has = o != NULL && json_object_is_type(o, json_type_object) &&
	    json_object_object_get_ex(o, field, NULL);
	json_object_put(o);
	json_tokener_free(t);
	return has;
}

/* GET /api/billing/spend-cap: the cap and how close the period is to it. */
void
api_billing_cap_get(struct request *r)
{
	struct spend_cap	 c;

	switch (spendcap_get(r->srv->db, r->user_id, time(NULL), &c)) {
	case USER_OK:
		resp_json(r, 200, cap_json(r, &c));
		break;
	case USER_ERR_NOUSER:	/* deleted since auth_user() */
		resp_error(r, 404, "not_found", "no such user");
		break;
	default:
		cap_unavailable(r);
		break;
	}
}

/*
 * {"cap_cents": N} sets user's cap (0 allows no overage at all);
 * {"cap_cents": null} removes it. 200 with the cap as it is now. The
 * caller (r->user_id) is the actor: the user, or an admin.
 */
static void
cap_put(struct request *r, const char *user)
{
	const struct config	*cfg = r->srv->cfg;
	struct body_value	 v[NCAP];
	struct cap_op		 op;
	struct spend_cap	 c;
	json_object		*o;
	long long		 cents;
	char			 msg[160];

	if (req_body(r, cap_fields, NCAP, v) == -1)
		return;
	body_free(v, NCAP);
	if (!v[0].set && !body_names(r, "cap_cents")) {
		resp_error(r, 400, "invalid_body", "cap_cents is required: "
		    "whole cents from 0 to %lld, or null to remove the cap",
		    SPEND_CAP_MAX);
		return;
	}
	cents = v[0].set ? v[0].i : -1;
	op.actor = r->user_id;
	op.remote = r->remote;
	op.shm = r->srv->shm;
	switch (spendcap_set(r->srv->db, &op, user, cents, time(NULL),
	    &c)) {
	case USER_OK:
		break;
	case USER_ERR_NOCAP:
		resp_error(r, 409, "spend_cap_unavailable", "the %s plan bills "
		    "no overage, so there is nothing to cap: a cap is for "
		    "plans that charge for calls past their allowance", c.plan);
		return;
	case USER_ERR_NOUSER:
		resp_error(r, 404, "not_found", "no such user");
		return;
	default:
		cap_unavailable(r);
		return;
	}
	o = cap_json(r, &c);
	snprintf(msg, sizeof(msg), "the cap holds at once on this server and "
	    "on every server within %lld seconds", cfg->key_cache_ttl);
	json_object_object_add(o, "message", json_object_new_string(msg));
	resp_json(r, 200, o);
}

/* PUT /api/billing/spend-cap: the signed-in user's own cap. */
void
api_billing_cap_put(struct request *r)
{
	cap_put(r, r->user_id);
}

/* PUT /api/admin/users/{id}/spend-cap: an admin sets a user's cap. */
void
api_admin_user_cap(struct request *r)
{
	cap_put(r, req_path_param(r, "id"));
}
