/*
 * Users: creation, lookup, plan changes and listing, and the overage
 * spend cap. A user's row of the current period carries the plan's terms
 * (period_terms) and the cap (period_cap): it is written with the user
 * and again when the plan or the cap changes.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
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
/* A user's cap, plan and calls in a period; spendcap_set locks the row. */
#define CAP_COLUMNS	"SELECT u.spend_cap_cents, u.plan_id, " \
    "p.monthly_calls, p.hard_limit, p.overage_micros, " \
    "COALESCE(r.api_calls, 0) FROM eco_users u " \
    "JOIN eco_plans p ON p.id = u.plan_id " \
    "LEFT JOIN eco_usage_records r ON r.user_id = u.id " \
    "AND r.period = FROM_UNIXTIME(?) WHERE u.id = ?"
static const char *const sql_cap_get = CAP_COLUMNS;
static const char *const sql_cap_lock = CAP_COLUMNS " FOR UPDATE";
static const char *const sql_cap_set = "UPDATE eco_users "
    "SET spend_cap_cents = ?, updated_at = UTC_TIMESTAMP() WHERE id = ?";

/* Live keys a cap change names to the host's workers, one by one. */
#define CAP_KEYS_NAMED	32

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

/*
 * Fills the figures of c from its cap, plan and calls: what the cap pays
 * for, the limit it makes, how much of it is spent. Overage past the cap
 * (a cap lowered after the calls) costs nothing: it is never billed.
 */
void
spendcap_figures(struct spend_cap *c)
{
	c->available = c->allowance >= 0 && !c->hard && c->micros > 0;
	c->cap_calls = c->limit = c->remaining = -1;
	c->overage_calls = c->available && c->calls > c->allowance ?
	    c->calls - c->allowance : 0;
	if (c->available && c->cap_cents >= 0) {
		c->cap_calls = price_calls(c->cap_cents, c->micros);
		c->limit = c->allowance + c->cap_calls;
		c->remaining = c->calls < c->limit ? c->limit - c->calls : 0;
	}
	c->overage_cents = (c->cap_calls >= 0 && c->overage_calls >
	    c->cap_calls ? c->cap_calls : c->overage_calls) * c->micros /
	    MICROS_PER_CENT;
	c->reached = c->limit >= 0 && c->calls >= c->limit;
}

/* Reads a row of CAP_COLUMNS into *c, for the period of now. */
static void
spendcap_fill(const struct dbres *r, time_t now, struct spend_cap *c)
{
	memset(c, 0, sizeof(*c));
	c->cap_cents = db_isnull(r, 0) ? -1 : db_int(r, 0);
	strlcpy_(c->plan, db_str(r, 1), sizeof(c->plan));
	c->allowance = db_isnull(r, 2) ? -1 : db_int(r, 2);
	c->hard = (int)db_int(r, 3);
	c->micros = db_int(r, 4);
	c->calls = db_int(r, 5);
	c->period = period_start(now);
	c->reset = period_end(now);
	spendcap_figures(c);
}

/* Reads user's cap with sql. Returns USER_OK, USER_ERR_NOUSER or _DB. */
static int
spendcap_read(struct db *db, const char *sql, const char *user, time_t now,
    struct spend_cap *c)
{
	struct dbp	 p[2] = { DBP_I(period_start(now)), DBP_S(user) };
	struct dbres	*r;
	int		 rc;

	if (!user_id_valid(user))
		return USER_ERR_NOUSER;
	if ((r = db_query(db, sql, p, 2)) == NULL)
		return USER_ERR_DB;
	if ((rc = db_next(r)) == 1)
		spendcap_fill(r, now, c);
	db_done(r);
	return rc == 1 ? USER_OK : rc == 0 ? USER_ERR_NOUSER : USER_ERR_DB;
}

/*
 * User's spend cap and how close the period of now is to it. A cap kept
 * from a plan that billed overage is given, but does not apply
 * (available is 0). Returns USER_OK, USER_ERR_NOUSER or USER_ERR_DB.
 */
int
spendcap_get(struct db *db, const char *user, time_t now, struct spend_cap *c)
{
	return spendcap_read(db, sql_cap_get, user, now, c);
}

struct cap_keys {
	unsigned char	 hash[CAP_KEYS_NAMED + 1][KEY_HASH_LEN];
	size_t		 n, live;
	time_t		 now;
};

static int
spendcap_key(void *arg, const struct keyinfo *k)
{
	struct cap_keys	*ks = arg;
	const char	*state = key_state(k, ks->now);

	ks->n++;
	if (strcmp(state, "active") == 0 || strcmp(state, "rotating") == 0)
		memcpy(ks->hash[ks->live++], k->hash, KEY_HASH_LEN);
	return 0;
}

/*
 * Tells the host's workers that user's keys (and so the cap they carry)
 * changed: each live key is named, so that no other user's cached key is
 * dropped; after a user with more keys than CAP_KEYS_NAMED, or when they
 * cannot be listed, every worker drops every key.
 */
static void
spendcap_notify(struct db *db, struct shm *shm, const char *user, time_t now)
{
	struct cap_keys	*ks;
	size_t		 i;

	if (shm == NULL)
		return;
	ks = xcalloc(1, sizeof(*ks));
	ks->now = now;
	if (key_list(db, user, CAP_KEYS_NAMED + 1, spendcap_key, ks) == -1 ||
	    ks->n > CAP_KEYS_NAMED)
		shm_keys_bump(shm);
	else
		for (i = 0; i < ks->live; i++)
			shm_keys_changed(shm, ks->hash[i]);
	free(ks);
}

/*
 * Sets user's spend cap to cents (-1 removes it) with its audit row, in
 * one transaction, from the period of now on: earlier periods keep
 * theirs. Only a plan that bills overage takes a cap; any plan may drop
 * one. Then the host's workers are told (op->shm), others see it within
 * key_cache_ttl. Returns USER_OK with *c as it is now, or
 * USER_ERR_NOUSER, USER_ERR_INVALID (cents out of range), USER_ERR_NOCAP
 * or USER_ERR_DB.
 */
int
spendcap_set(struct db *db, const struct cap_op *op, const char *user,
    long long cents, time_t now, struct spend_cap *c)
{
	char	 detail[96], from[24], to[24];
	int	 rc;

	if (cents < -1 || cents > SPEND_CAP_MAX)
		return USER_ERR_INVALID;
	if (db_begin(db) == -1)
		return USER_ERR_DB;
	if ((rc = spendcap_read(db, sql_cap_lock, user, now, c)) != USER_OK)
		goto fail;
	rc = USER_ERR_NOCAP;
	if (cents >= 0 && !c->available)
		goto fail;
	if (cents == c->cap_cents) {
		db_rollback(db);	/* nothing changes, nothing to audit */
		return USER_OK;
	}
	snprintf(from, sizeof(from), c->cap_cents < 0 ? "null" : "%lld",
	    c->cap_cents);
	snprintf(to, sizeof(to), cents < 0 ? "null" : "%lld", cents);
	snprintf(detail, sizeof(detail), "{\"from_cents\":%s,\"to_cents\":%s}",
	    from, to);

	struct dbp p[2] = { cents >= 0 ? DBP_I(cents) : DBP_NUL, DBP_S(user) };
	rc = USER_ERR_DB;
	if (db_exec(db, sql_cap_set, p, 2, NULL) == -1 ||
	    period_cap(db, user, period_start(now), cents) == -1 ||
	    audit_log(db, op->actor, "billing.spend_cap", user, detail,
	    op->remote) == -1 || db_commit(db) == -1)
		goto fail;
	c->cap_cents = cents;
	spendcap_figures(c);
	spendcap_notify(db, op->shm, user, now);
	return USER_OK;
fail:
	db_rollback(db);
	return rc;
}
