/*
 * The admin API for one user (AUTH_ADMIN): the user's page as JSON, and
 * the operators' actions on the account: a plan change, a key revoked, a
 * failed ledger row sent again. Each action is audited with the admin as
 * actor (lib/admin_user.c) and, where the hot path caches what changed,
 * bumps the host's key generation so that every worker of the host drops
 * its cached keys at once; other hosts follow within key_cache_ttl.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web.h"

#define PAGE_DAYS	30	/* the user page's chart and endpoints */
#define PAGE_KEYS	1000	/* newest first */

static const struct body_field plan_fields[] = {
	{ "plan",	BODY_STR,	0, 0 },
};
#define NPLAN		(sizeof(plan_fields) / sizeof(plan_fields[0]))

static void
add_int(json_object *o, const char *k, long long v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static void
add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v != NULL && *v != '\0' ?
	    json_object_new_string(v) : NULL);
}

static void
add_date(json_object *o, const char *k, time_t t)
{
	char	 s[16];

	time_format_date(t, s, sizeof(s));
	add_str(o, k, s);
}

static void
unavailable(struct request *r, const char *what)
{
	log_warnx("admin %s: %s", what, db_error(r->srv->db));
	resp_error(r, 503, "unavailable", "database unavailable");
}

/*
 * Reads path parameter name as a row id (1 .. 2^63 - 1, digits only).
 * Returns 0, or -1 after answering 404: a malformed id names nothing.
 */
static int
path_id(struct request *r, const char *name, const char *what,
    long long *id)
{
	const char	*v = req_path_param(r, name);
	size_t		 i;

	for (i = 0; v != NULL && v[i] != '\0'; i++)
		if (!isdigit((unsigned char)v[i]))
			break;
	if (v == NULL || v[i] != '\0' || parse_int(v, 1, LLONG_MAX, id) == -1) {
		resp_error(r, 404, "not_found", "no such %s", what);
		return -1;
	}
	return 0;
}

/* A key as an operator sees it: never the key itself. */
static json_object *
key_json(const struct keyinfo *k, time_t now)
{
	json_object	*o = json_object_new_object();

	add_int(o, "id", (long long)k->id);
	add_str(o, "prefix", k->prefix);
	add_str(o, "name", k->name);
	add_str(o, "state", key_state(k, now));
	json_object_object_add(o, "created_at", json_time(k->created));
	json_object_object_add(o, "last_used_at", json_time(k->last_used));
	json_object_object_add(o, "expires_at", json_time(k->expires));
	json_object_object_add(o, "rotated_at", json_time(k->rotated));
	json_object_object_add(o, "revoked_at", json_time(k->revoked));
	return o;
}

static int
key_add(void *arg, const struct keyinfo *k)
{
	json_object_array_add(arg, key_json(k, time(NULL)));
	return 0;
}

static json_object *
ledger_json(const struct ledger_entry *e)
{
	json_object	*o = json_object_new_object();
	char		 month[8];

	snprintf(month, sizeof(month), "%.7s", e->period);
	add_int(o, "id", e->id);
	add_str(o, "period", month);
	add_int(o, "calls_from", e->calls_from);
	add_int(o, "calls_to", e->calls_to);
	add_int(o, "calls", e->calls_to - e->calls_from + 1);
	json_object_object_add(o, "amount", json_money(e->cents));
	add_str(o, "state", e->state);
	add_str(o, "stripe_item_id", e->item);
	add_str(o, "stripe_customer_id", e->customer);
	add_int(o, "attempts", e->attempts);
	add_str(o, "last_error", e->error);
	json_object_object_add(o, "created_at", json_time(e->created));
	json_object_object_add(o, "sent_at", json_time(e->sent));
	return o;
}

static void
ledger_add(void *arg, const struct ledger_entry *e)
{
	json_object_array_add(arg, ledger_json(e));
}

/* An audit row; its detail as JSON when it is (it may be cut short). */
static void
audit_add(void *arg, const struct audit_entry *e)
{
	json_object	*o = json_object_new_object(), *d = NULL;
	json_tokener	*tok;

	add_int(o, "id", e->id);
	json_object_object_add(o, "at", json_time(e->at));
	add_str(o, "actor", e->actor);
	add_str(o, "action", e->action);
	add_str(o, "target", e->target);
	if (e->detail[0] != '\0') {
		tok = json_tokener_new_ex(8);
		d = json_tokener_parse_ex(tok, e->detail,
		    (int)strlen(e->detail));
		json_tokener_free(tok);
		if (d == NULL)
			d = json_object_new_string(e->detail);
	}
	json_object_object_add(o, "detail", d);
	add_str(o, "remote_addr", e->remote);
	json_object_array_add(arg, o);
}

/* This period: calls against the allowance, overage and revenue so far. */
static json_object *
period_json(const struct usage_current *c)
{
	json_object	*o = json_object_new_object();
	long long	 lim = c->plan.monthly_calls, over = 0;

	if (usage_plan_bills_overage(&c->plan))
		over = c->overage_calls * c->plan.overage_micros /
		    MICROS_PER_CENT;
	json_object_object_add(o, "start", json_time(c->period_start));
	json_object_object_add(o, "end", json_time(c->period_end));
	add_int(o, "calls", c->calls);
	json_object_object_add(o, "limit", lim < 0 ? NULL :
	    json_object_new_int64(lim));
	json_object_object_add(o, "remaining", lim < 0 ? NULL :
	    json_object_new_int64(c->calls < lim ? lim - c->calls : 0));
	add_int(o, "overage_calls", usage_plan_bills_overage(&c->plan) ?
	    c->overage_calls : 0);
	json_object_object_add(o, "overage_cost", json_money(over));
	json_object_object_add(o, "revenue",
	    json_money(c->plan.price_cents + over));
	return o;
}

static json_object *
user_json(const struct user *u)
{
	json_object	*o = json_object_new_object();

	add_str(o, "id", u->id);
	add_str(o, "email", u->email);
	add_str(o, "plan", u->plan);
	add_str(o, "stripe_customer_id", u->customer);
	json_object_object_add(o, "created_at", json_time(u->created));
	return o;
}

static json_object *
plan_json(const struct usage_plan *p)
{
	json_object	*o = json_object_new_object();

	add_str(o, "id", p->id);
	add_str(o, "name", p->name);
	json_object_object_add(o, "price", json_money(p->price_cents));
	json_object_object_add(o, "monthly_calls", p->monthly_calls < 0 ?
	    NULL : json_object_new_int64(p->monthly_calls));
	json_object_object_add(o, "hard_limit",
	    json_object_new_boolean(p->hard_limit));
	add_int(o, "overage_micros_per_call", p->overage_micros);
	return o;
}

static json_object *
daily_json(const struct usage_day *d, int days)
{
	json_object	*o = json_object_new_object(), *arr, *e;
	int		 i;

	add_int(o, "days", days);
	add_date(o, "from", d[0].day);
	add_date(o, "to", d[days - 1].day);
	arr = json_object_new_array_ext(days);
	for (i = 0; i < days; i++) {
		e = json_object_new_object();
		add_date(e, "date", d[i].day);
		add_int(e, "calls", (long long)d[i].calls);
		add_int(e, "errors", (long long)d[i].errors);
		json_object_array_add(arr, e);
	}
	json_object_object_add(o, "history", arr);
	return o;
}

static json_object *
routes_json(const struct usage_agg *a, time_t now, int days)
{
	json_object	*o = json_object_new_object(), *arr, *e;
	size_t		 i;

	add_int(o, "days", days);
	add_date(o, "from", day_start(now) - (time_t)(days - 1) * DAY_SECONDS);
	add_date(o, "to", day_start(now));
	add_int(o, "calls", (long long)a->calls);
	add_int(o, "errors", (long long)a->errors);
	arr = json_object_new_array();
	for (i = 0; i < a->nroutes; i++) {
		const struct route_stats *s = &a->routes[i];

		e = json_object_new_object();
		add_str(e, "method", s->method);
		add_str(e, "endpoint", s->endpoint);
		add_int(e, "calls", (long long)s->calls);
		add_int(e, "errors", (long long)s->errors);
		add_int(e, "latency_avg_us", (long long)avg_round(s->lat_sum,
		    s->calls));
		add_int(e, "latency_p95_us", hist_p95(s->hist, s->calls,
		    s->lat_max));
		json_object_array_add(arr, e);
	}
	json_object_object_add(o, "endpoints", arr);
	return o;
}

/*
 * GET /api/admin/users/{id}: the user, the plan and this period, calls
 * and errors per day and per endpoint over PAGE_DAYS days, the keys, the
 * newest ledger rows and audit entries, the plans to move to, and the
 * spend cap (null when it cannot be read).
 */
void
api_admin_user(struct request *r)
{
	struct db		*db = r->srv->db;
	const char		*id = req_path_param(r, "id");
	struct usage_day	 days[PAGE_DAYS];
	struct usage_plan	 pl[ADMIN_PLANS_MAX];
	struct usage_current	 c;
	struct usage_agg	 a;
	struct spend_cap	 cap;
	struct user		 u;
	json_object		*o, *keys, *ledger, *audit;
	time_t			 now = time(NULL);
	int			 npl;

	switch (user_get(db, id, &u)) {
	case USER_OK:
		break;
	case USER_ERR_NOUSER:
		resp_error(r, 404, "not_found", "no such user");
		return;
	default:
		unavailable(r, "user");
		return;
	}
	keys = json_object_new_array();
	ledger = json_object_new_array();
	audit = json_object_new_array();
	agg_init(&a, 0);
	if (usage_current(db, u.id, now, &c) != REPORT_OK ||
	    usage_history(db, u.id, now, PAGE_DAYS, days) == -1 ||
	    usage_routes(db, u.id, now, PAGE_DAYS, &a) == -1 ||
	    key_list(db, u.id, PAGE_KEYS, key_add, keys) == -1 ||
	    ledger_user_rows(db, u.id, ledger_add, ledger) == -1 ||
	    admin_audit_about(db, u.id, audit_add, audit) == -1 ||
	    (npl = admin_plans(db, pl, ADMIN_PLANS_MAX)) == -1) {
		agg_free(&a);
		json_object_put(keys);
		json_object_put(ledger);
		json_object_put(audit);
		unavailable(r, "user");
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "user", user_json(&u));
	json_object_object_add(o, "plan", plan_json(&c.plan));
	json_object_object_add(o, "period", period_json(&c));
	json_object_object_add(o, "daily", daily_json(days, PAGE_DAYS));
	json_object_object_add(o, "endpoints", routes_json(&a, now,
	    PAGE_DAYS));
	json_object_object_add(o, "keys", keys);
	add_int(o, "key_cache_ttl", r->srv->cfg->key_cache_ttl);
	json_object_object_add(o, "ledger", ledger);
	add_int(o, "ledger_rows_max", LEDGER_USER_ROWS);
	json_object_object_add(o, "audit", audit);
	add_int(o, "audit_rows_max", ADMIN_AUDIT_ROWS);
	json_object_object_add(o, "plans", plans_json(pl, (size_t)npl));
	json_object_object_add(o, "spend_cap", spendcap_get(db, u.id, now,
	    &cap) == USER_OK ? spendcap_json(&cap) : NULL);
	agg_free(&a);
	resp_json(r, 200, o);
}

static int
key_forget(void *arg, const struct keyinfo *k)
{
	if (k->revoked == 0)
		shm_keys_changed(arg, k->hash);
	return 0;
}

/*
 * Every worker of the host looks user's keys up again at their next use
 * (all keys, if they cannot be listed), and forgets the user's refusal
 * mark: the plan, its limit with it, changed.
 */
static void
plan_changed(struct request *r, const char *user)
{
	if (r->srv->shm == NULL)
		return;
	shm_mark_clear(r->srv->shm, user);
	if (key_list(r->srv->db, user, PAGE_KEYS, key_forget,
	    r->srv->shm) == -1)
		shm_keys_bump(r->srv->shm);
}

/*
 * PUT /api/admin/users/{id}/plan {"plan": "pro"}: the user's plan, the
 * period's terms with it. 400 for a bad body or an unknown plan, 404 for
 * an unknown user, 409 when the user is on that plan already.
 */
void
api_admin_user_plan(struct request *r)
{
	struct admin_actor	 a = { r->user_id, r->remote };
	const char		*id = req_path_param(r, "id"), *plan;
	char			 from[PLAN_ID_MAX + 1] = "";
	struct body_value	 v[NPLAN];
	json_object		*o;
	size_t			 i;

	if (req_body(r, plan_fields, NPLAN, v) == -1)
		return;
	plan = v[0].set ? v[0].s : "";
	for (i = 0; plan[i] != '\0' && isgraph((unsigned char)plan[i]); i++)
		;
	if (i == 0 || i > PLAN_ID_MAX || plan[i] != '\0') {
		resp_error(r, 400, "invalid_body", "the body must be "
		    "{\"plan\": \"<plan id>\"}");
		goto out;
	}
	switch (admin_set_plan(r->srv->db, &a, id, plan, from)) {
	case ADMIN_OK:
		break;
	case ADMIN_ERR_NOUSER:
		resp_error(r, 404, "not_found", "no such user");
		goto out;
	case ADMIN_ERR_NOPLAN:
		resp_error(r, 400, "invalid_body", "unknown plan \"%s\"", plan);
		goto out;
	case ADMIN_ERR_SAME:
		resp_error(r, 409, "conflict", "the user is on the %s plan "
		    "already", plan);
		goto out;
	default:
		unavailable(r, "plan change");
		goto out;
	}
	plan_changed(r, id);
	o = json_object_new_object();
	add_str(o, "user_id", id);
	add_str(o, "plan", plan);
	add_str(o, "previous_plan", from);
	add_int(o, "key_cache_ttl", r->srv->cfg->key_cache_ttl);
	resp_json(r, 200, o);
out:
	body_free(v, NPLAN);
}

/*
 * DELETE /api/admin/users/{id}/keys/{key_id}: revokes one of the user's
 * keys. 404 for an unknown user or a key that is not theirs, 409 when it
 * is revoked already.
 */
void
api_admin_user_key_revoke(struct request *r)
{
	struct admin_actor	 a = { r->user_id, r->remote };
	struct keyinfo		 k;
	json_object		*o;
	long long		 kid;

	if (path_id(r, "key_id", "key", &kid) == -1)
		return;
	switch (admin_key_revoke(r->srv->db, &a, req_path_param(r, "id"),
	    (unsigned long long)kid, &k)) {
	case ADMIN_OK:
		break;
	case ADMIN_ERR_NOUSER:
		resp_error(r, 404, "not_found", "no such user");
		return;
	case ADMIN_ERR_NOKEY:
		resp_error(r, 404, "not_found", "no such key of this user");
		return;
	case ADMIN_ERR_REVOKED:
		resp_error(r, 409, "conflict", "the key is revoked already");
		return;
	default:
		unavailable(r, "key revoke");
		return;
	}
	if (r->srv->shm != NULL)
		shm_keys_changed(r->srv->shm, k.hash);
	o = json_object_new_object();
	json_object_object_add(o, "key", key_json(&k, time(NULL)));
	add_int(o, "key_cache_ttl", r->srv->cfg->key_cache_ttl);
	resp_json(r, 200, o);
}

/*
 * POST /api/admin/ledger/{id}/retry: a failed row back to pending, for
 * the next overage run to send. 404 for an unknown row, 409 when it is
 * not failed or its user has no Stripe customer to bill.
 */
void
api_admin_ledger_retry(struct request *r)
{
	static const struct body_field none[1];
	struct admin_actor	 a = { r->user_id, r->remote };
	struct ledger_entry	 e;
	struct body_value	 v[1];
	json_object		*o;
	long long		 id;

	if (path_id(r, "id", "ledger row", &id) == -1 ||
	    req_body(r, none, 0, v) == -1)	/* none, or {} */
		return;
	switch (admin_ledger_retry(r->srv->db, &a, id, &e)) {
	case ADMIN_OK:
		break;
	case ADMIN_ERR_NOROW:
		resp_error(r, 404, "not_found", "no such ledger row");
		return;
	case ADMIN_ERR_STATE:
		resp_error(r, 409, "conflict", "only a failed row can be "
		    "retried; this one is %s", e.state);
		return;
	case ADMIN_ERR_NOCUSTOMER:
		resp_error(r, 409, "no_customer", "the user has no Stripe "
		    "customer to bill: set one first");
		return;
	default:
		unavailable(r, "ledger retry");
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "ledger", ledger_json(&e));
	add_str(o, "note", "the next overage run sends it");
	resp_json(r, 200, o);
}
