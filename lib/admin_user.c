/*
 * The operators and what they do to an account: the admin allow-list; the
 * plans to choose from and the audit entries about a user, for a user's
 * page; and the actions (a plan change, a key revoked, a failed ledger
 * row sent again), each with an audit row that names the operator
 * (actor), the user (target) and what changed.
 *
 * A key revoke (keys.c's) and a ledger retry commit their audit row in
 * the same transaction as the change. A plan change is users.c's own
 * transaction (the user and the period's terms), so its row is written
 * first: a change is never unaudited, and a change that then fails leaves
 * a row that the user's plan does not bear out.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "nexus.h"

#define STR(x)		#x
#define XSTR(x)		STR(x)

static const char *const sql_plans = "SELECT id, name, monthly_calls, "
    "hard_limit, price_cents, overage_micros FROM eco_plans "
    "ORDER BY sort_order, id";
/*
 * The newest rows naming the user as target (what was done to them) or
 * as actor (what they did), each side read newest first from its index.
 */
#define AUDIT_COLUMNS "SELECT id, FLOOR(UNIX_TIMESTAMP(at)), actor, action, " \
    "COALESCE(target, ''), COALESCE(LEFT(detail, " XSTR(ADMIN_AUDIT_DETAIL) \
    "), ''), COALESCE(remote_addr, '') FROM eco_audit_log "
static const char *const sql_audit_about = "(" AUDIT_COLUMNS
    "FORCE INDEX (eco_audit_log_target) WHERE target = ? "
    "ORDER BY id DESC LIMIT " XSTR(ADMIN_AUDIT_ROWS) ") UNION (" AUDIT_COLUMNS
    "FORCE INDEX (eco_audit_log_actor) WHERE actor = ? "
    "ORDER BY at DESC, id DESC LIMIT " XSTR(ADMIN_AUDIT_ROWS) ") "
    "ORDER BY 1 DESC LIMIT " XSTR(ADMIN_AUDIT_ROWS);

struct admins {
	char	**ids;
	size_t	  n;
};

/*
 * Parses a comma-separated list of user ids (ADMIN_ECO_IDS). Blanks
 * around entries are ignored; an entry that is not a user id is logged
 * and skipped, so a typo grants nothing. Never returns NULL.
 */
struct admins *
admins_new(const char *list)
{
	struct admins	*a = xcalloc(1, sizeof(*a));
	const char	*p = list != NULL ? list : "", *e, *s, *t;
	char		 id[USER_ID_MAX + 1];

	while (*p != '\0') {
		e = p + strcspn(p, ",");
		for (s = p; s < e && isspace((unsigned char)*s); s++)
			;
		for (t = e; t > s && isspace((unsigned char)t[-1]); t--)
			;
		if (t > s) {
			size_t len = (size_t)(t - s);

			if (len < sizeof(id)) {
				memcpy(id, s, len);
				id[len] = '\0';
			}
			if (len >= sizeof(id) || !user_id_valid(id))
				log_warnx("admin_ids: ignoring \"%.*s\": not a "
				    "user id", (int)(len > 64 ? 64 : len), s);
			else {
				a->ids = xrealloc(a->ids,
				    (a->n + 1) * sizeof(*a->ids));
				a->ids[a->n++] = xstrdup(id);
			}
		}
		p = *e == ',' ? e + 1 : e;
	}
	return a;
}

void
admins_free(struct admins *a)
{
	size_t	 i;

	if (a == NULL)
		return;
	for (i = 0; i < a->n; i++)
		free(a->ids[i]);
	free(a->ids);
	free(a);
}

/* Returns 1 when id is on the list (exact, case-sensitive match). */
int
admins_has(const struct admins *a, const char *id)
{
	size_t	 i;

	for (i = 0; a != NULL && i < a->n; i++)
		if (strcmp(a->ids[i], id) == 0)
			return 1;
	return 0;
}

size_t
admins_count(const struct admins *a)
{
	return a != NULL ? a->n : 0;
}

/* Reads the plans into p[0..max - 1]. Returns how many, or -1. */
int
admin_plans(struct db *db, struct usage_plan *p, size_t max)
{
	struct dbres	*r;
	size_t		 n = 0;
	int		 rc;

	if ((r = db_query(db, sql_plans, NULL, 0)) == NULL)
		return -1;
	while ((rc = db_next(r)) == 1 && n < max) {
		memset(&p[n], 0, sizeof(p[n]));
		strlcpy_(p[n].id, db_str(r, 0), sizeof(p[n].id));
		strlcpy_(p[n].name, db_str(r, 1), sizeof(p[n].name));
		p[n].monthly_calls = db_isnull(r, 2) ? -1 : db_int(r, 2);
		p[n].hard_limit = (int)db_int(r, 3);
		p[n].price_cents = db_int(r, 4);
		p[n].overage_micros = db_int(r, 5);
		n++;
	}
	db_done(r);
	return rc == -1 ? -1 : (int)n;
}

/*
 * Calls cb with the newest ADMIN_AUDIT_ROWS audit rows about user,
 * newest first. Returns 0 or -1.
 */
int
admin_audit_about(struct db *db, const char *user,
    void (*cb)(void *, const struct audit_entry *), void *arg)
{
	struct dbp		 p[2] = { DBP_S(user), DBP_S(user) };
	struct audit_entry	 e;
	struct dbres		*r;
	int			 rc;

	if ((r = db_query(db, sql_audit_about, p, 2)) == NULL)
		return -1;
	while ((rc = db_next(r)) == 1) {
		memset(&e, 0, sizeof(e));
		e.id = db_int(r, 0);
		e.at = (time_t)db_int(r, 1);
		strlcpy_(e.actor, db_str(r, 2), sizeof(e.actor));
		strlcpy_(e.action, db_str(r, 3), sizeof(e.action));
		strlcpy_(e.target, db_str(r, 4), sizeof(e.target));
		strlcpy_(e.detail, db_str(r, 5), sizeof(e.detail));
		strlcpy_(e.remote, db_str(r, 6), sizeof(e.remote));
		cb(arg, &e);
	}
	db_done(r);
	return rc == -1 ? -1 : 0;
}

/* Writes the audit row of an action on user; detail is put. 0 or -1. */
static int
admin_audit(struct db *db, const struct admin_actor *a, const char *action,
    const char *user, json_object *detail)
{
	int	 rc;

	rc = audit_log(db, a->id, action, user,
	    json_object_to_json_string_ext(detail, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE), a->remote);
	json_object_put(detail);
	return rc;
}

/*
 * Moves user to plan (the period's allowance and revenue with it, as
 * user_set_plan does); *from gets the plan before. Returns ADMIN_OK,
 * ADMIN_ERR_NOUSER, ADMIN_ERR_NOPLAN, ADMIN_ERR_SAME or ADMIN_ERR_DB.
 */
int
admin_set_plan(struct db *db, const struct admin_actor *a, const char *user,
    const char *plan, char from[PLAN_ID_MAX + 1])
{
	struct usage_plan pl[ADMIN_PLANS_MAX];
	struct user	 u;
	json_object	*d;
	int		 rc, n;

	if ((rc = user_get(db, user, &u)) != USER_OK)
		return rc == USER_ERR_NOUSER ? ADMIN_ERR_NOUSER : ADMIN_ERR_DB;
	strlcpy_(from, u.plan, PLAN_ID_MAX + 1);
	/* Exactly a plan's id: the column compares case-insensitively. */
	if ((n = admin_plans(db, pl, ADMIN_PLANS_MAX)) == -1)
		return ADMIN_ERR_DB;
	while (--n >= 0 && strcmp(pl[n].id, plan) != 0)
		;
	if (n < 0)
		return ADMIN_ERR_NOPLAN;
	if (strcmp(u.plan, plan) == 0)
		return ADMIN_ERR_SAME;
	d = json_object_new_object();
	json_object_object_add(d, "from", json_object_new_string(u.plan));
	json_object_object_add(d, "to", json_object_new_string(plan));
	if (admin_audit(db, a, "admin.user.plan", user, d) == -1)
		return ADMIN_ERR_DB;
	switch (user_set_plan(db, user, plan)) {
	case USER_OK:
		return ADMIN_OK;
	case USER_ERR_NOUSER:
		return ADMIN_ERR_NOUSER;
	case USER_ERR_NOPLAN:
		return ADMIN_ERR_NOPLAN;
	default:
		return ADMIN_ERR_DB;
	}
}

/*
 * Revokes user's key id (keys.c writes its audit row, with the operator
 * as actor); *k gets the key as it now is. Returns ADMIN_OK,
 * ADMIN_ERR_NOUSER, ADMIN_ERR_NOKEY (none of user's), ADMIN_ERR_REVOKED
 * or ADMIN_ERR_DB.
 */
int
admin_key_revoke(struct db *db, const struct admin_actor *a,
    const char *user, unsigned long long id, struct keyinfo *k)
{
	struct key_op	 op;
	struct user	 u;
	int		 rc;

	if ((rc = user_get(db, user, &u)) != USER_OK)
		return rc == USER_ERR_NOUSER ? ADMIN_ERR_NOUSER : ADMIN_ERR_DB;
	memset(&op, 0, sizeof(op));
	op.actor = a->id;
	op.owner = u.id;
	op.remote = a->remote;
	switch (key_revoke(db, &op, id, k)) {
	case 0:
		return ADMIN_OK;
	case KEY_ERR_NOKEY:
		return ADMIN_ERR_NOKEY;
	case KEY_ERR_REVOKED:
		return ADMIN_ERR_REVOKED;
	default:
		return ADMIN_ERR_DB;
	}
}

/*
 * Makes failed ledger row id pending again, billed to its user's Stripe
 * customer now, so that the next overage run sends it: the run is paced,
 * retried and reconciled, which a request must not wait for. *e gets the
 * row as it now is. Returns ADMIN_OK, ADMIN_ERR_NOROW, ADMIN_ERR_STATE,
 * ADMIN_ERR_NOCUSTOMER or ADMIN_ERR_DB.
 */
int
admin_ledger_retry(struct db *db, const struct admin_actor *a, long long id,
    struct ledger_entry *e)
{
	struct user	 u;
	json_object	*d;
	int		 rc;

	if ((rc = ledger_get(db, id, e)) != 1)
		return rc == 0 ? ADMIN_ERR_NOROW : ADMIN_ERR_DB;
	if (strcmp(e->state, "failed") != 0)
		return ADMIN_ERR_STATE;
	if ((rc = user_get(db, e->user, &u)) != USER_OK)
		return rc == USER_ERR_NOUSER ? ADMIN_ERR_NOROW : ADMIN_ERR_DB;
	if (u.customer[0] == '\0')
		return ADMIN_ERR_NOCUSTOMER;
	if (db_begin(db) == -1)
		return ADMIN_ERR_DB;
	if ((rc = ledger_retry(db, id, u.customer)) != 1) {
		db_rollback(db);
		if (rc == 0 && ledger_get(db, id, e) == 1)
			return ADMIN_ERR_STATE;	/* a run moved it */
		return ADMIN_ERR_DB;
	}
	d = json_object_new_object();
	json_object_object_add(d, "ledger_id", json_object_new_int64(id));
	json_object_object_add(d, "period", json_object_new_string(e->period));
	json_object_object_add(d, "amount_cents",
	    json_object_new_int64(e->cents));
	json_object_object_add(d, "from", json_object_new_string("failed"));
	json_object_object_add(d, "to", json_object_new_string("pending"));
	json_object_object_add(d, "customer",
	    json_object_new_string(u.customer));
	if (admin_audit(db, a, "admin.ledger.retry", e->user, d) == -1 ||
	    db_commit(db) == -1) {
		db_rollback(db);
		return ADMIN_ERR_DB;
	}
	strlcpy_(e->state, "pending", sizeof(e->state));
	strlcpy_(e->customer, u.customer, sizeof(e->customer));
	return ADMIN_OK;
}
