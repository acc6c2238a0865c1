/*
 * Users: creation, lookup, plan changes and listing. A user's row of the
 * current period carries the plan's terms (period_terms): it is written
 * with the user and again when the plan changes.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <mysqld_error.h>

#include "nexus.h"

#define USER_PREFIX	"eco_usr_"
#define USER_RANDOM	24

static const char *const sql_insert = "INSERT INTO eco_users "
    "(id, email, plan_id, stripe_customer_id, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, UTC_TIMESTAMP(), UTC_TIMESTAMP())";
static const char *const sql_plan_exists =
    "SELECT 1 FROM eco_plans WHERE id = ?";
static const char *const sql_plans = "SELECT id, name, monthly_calls, "
    "hard_limit, price_cents, overage_micros FROM eco_plans "
    "ORDER BY sort_order, id";
static const char *const sql_get = "SELECT id, email, plan_id, "
    "stripe_customer_id, UNIX_TIMESTAMP(created_at) FROM eco_users "
    "WHERE id = ?";
static const char *const sql_set_plan = "UPDATE eco_users "
    "SET plan_id = ?, updated_at = UTC_TIMESTAMP() WHERE id = ?";
static const char *const sql_list = "SELECT id, email, plan_id, "
    "stripe_customer_id, UNIX_TIMESTAMP(created_at) FROM eco_users "
    "ORDER BY created_at, id";

/* A plausible address: one '@', something either side, printable ASCII. */
int
user_email_valid(const char *s)
{
	const char	*at = strchr(s, '@');
	size_t		 i, n = strlen(s);

	if (n < 3 || n > EMAIL_MAX || at == NULL || at == s ||
	    at[1] == '\0' || strchr(at + 1, '@') != NULL)
		return 0;
	for (i = 0; i < n; i++)
		if (!isgraph((unsigned char)s[i]))
			return 0;
	return 1;
}

static int
token_valid(const char *s, const char *prefix, size_t max)
{
	size_t	 i, n = strlen(s), pl = strlen(prefix);

	if (n <= pl || n > max || strncmp(s, prefix, pl) != 0)
		return 0;
	for (i = pl; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return 0;
	return 1;
}

int
user_id_valid(const char *s)
{
	return token_valid(s, USER_PREFIX, USER_ID_MAX);
}

int
user_customer_valid(const char *s)
{
	return token_valid(s, "cus_", CUSTOMER_ID_MAX);
}

/* Returns 1 when the plan exists, 0 when not, -1 on a database error. */
int
plan_exists(struct db *db, const char *plan)
{
	struct dbp	 p[1] = { DBP_S(plan) };
	struct dbres	*r;
	int		 rc;

	if (strlen(plan) > PLAN_ID_MAX)
		return 0;
	if ((r = db_query(db, sql_plan_exists, p, 1)) == NULL)
		return -1;
	rc = db_next(r);
	db_done(r);
	return rc;
}

/*
 * Fills p[0..max - 1] with the plans, in their order for people. Returns
 * how many, or -1 on a database error.
 */
int
plan_list(struct db *db, struct usage_plan *p, size_t max)
{
	struct dbres	*r;
	size_t		 n = 0;
	int		 rc = 0;

	if ((r = db_query(db, sql_plans, NULL, 0)) == NULL)
		return -1;
	while (n < max && (rc = db_next(r)) == 1) {
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

/* Creates a user; fills *u. Returns USER_OK or a negative enum user_err. */
int
user_create(struct db *db, const char *email, const char *plan,
    const char *customer, struct user *u)
{
	char	 id[USER_ID_MAX + 1];
	int	 rc;

	if (!user_email_valid(email) ||
	    (customer != NULL && !user_customer_valid(customer)))
		return USER_ERR_INVALID;
	if ((rc = plan_exists(db, plan)) != 1)
		return rc == 0 ? USER_ERR_NOPLAN : USER_ERR_DB;
	memcpy(id, USER_PREFIX, sizeof(USER_PREFIX) - 1);
	if (random_base62(id + sizeof(USER_PREFIX) - 1, USER_RANDOM) == -1)
		return USER_ERR_DB;

	struct dbp p[4] = { DBP_S(id), DBP_S(email), DBP_S(plan),
	    DBP_SNULL(customer) };
	if (db_begin(db) == -1)
		return USER_ERR_DB;
	if (db_exec(db, sql_insert, p, 4, NULL) == -1) {
		rc = db_errno(db) == ER_DUP_ENTRY ?
		    USER_ERR_EXISTS : USER_ERR_DB;
		db_rollback(db);
		return rc;
	}
	if (period_terms(db, id, period_start(time(NULL)), plan) == -1 ||
	    db_commit(db) == -1) {
		db_rollback(db);
		return USER_ERR_DB;
	}
	return user_get(db, id, u);
}

static void
user_fill(const struct dbres *r, struct user *u)
{
	strlcpy_(u->id, db_str(r, 0), sizeof(u->id));
	strlcpy_(u->email, db_str(r, 1), sizeof(u->email));
	strlcpy_(u->plan, db_str(r, 2), sizeof(u->plan));
	strlcpy_(u->customer, db_str(r, 3), sizeof(u->customer));
	u->created = (time_t)db_int(r, 4);
}

/* Returns USER_OK with *u filled, USER_ERR_NOUSER or USER_ERR_DB. */
int
user_get(struct db *db, const char *id, struct user *u)
{
	struct dbp	 p[1] = { DBP_S(id) };
	struct dbres	*r;
	int		 rc;

	if (!user_id_valid(id))
		return USER_ERR_NOUSER;
	if ((r = db_query(db, sql_get, p, 1)) == NULL)
		return USER_ERR_DB;
	if ((rc = db_next(r)) == 1)
		user_fill(r, u);
	db_done(r);
	return rc == 1 ? USER_OK : rc == 0 ? USER_ERR_NOUSER : USER_ERR_DB;
}

int
user_set_plan(struct db *db, const char *id, const char *plan)
{
	struct dbp		 p[2] = { DBP_S(plan), DBP_S(id) };
	unsigned long long	 n;
	struct user		 u;
	int			 rc;

	if ((rc = user_get(db, id, &u)) != USER_OK)
		return rc;
	if ((rc = plan_exists(db, plan)) != 1)
		return rc == 0 ? USER_ERR_NOPLAN : USER_ERR_DB;
	if (db_begin(db) == -1)
		return USER_ERR_DB;
	if (db_exec(db, sql_set_plan, p, 2, &n) == -1 ||
	    period_terms(db, id, period_start(time(NULL)), plan) == -1 ||
	    db_commit(db) == -1) {
		db_rollback(db);
		return USER_ERR_DB;
	}
	return USER_OK;
}

/* Calls cb for every user, oldest first, until it returns non-zero. */
int
user_list(struct db *db, int (*cb)(void *, const struct user *), void *arg)
{
	struct dbres	*r;
	struct user	 u;
	int		 rc;

	if ((r = db_query(db, sql_list, NULL, 0)) == NULL)
		return USER_ERR_DB;
	while ((rc = db_next(r)) == 1) {
		user_fill(r, &u);
		if (cb(arg, &u) != 0)
			break;
	}
	db_done(r);
	return rc == -1 ? USER_ERR_DB : USER_OK;
}
