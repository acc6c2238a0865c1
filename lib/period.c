/*
 * The per-period counters, eco_usage_records: one row per user per
 * billing period (UTC calendar month), and this file is the only one that
 * writes it. A row holds the calls admitted (api_calls), those past a soft
 * limit (overage_calls), those the overage ledger already covers
 * (overage_invoiced), and the terms of the user's plan for the period
 * with the revenue they make, which the admin pages sort on; and the
 * user's spend cap for the period (cap_cents), past which overage is
 * neither admitted nor billed.
 *
 * Every statement that creates a row takes the plan's terms from
 * eco_plans and the cap from eco_users in the same statement, so a row is
 * complete from its first write, and every statement that changes a
 * term, the cap or overage_calls sets revenue_cents again
 * (PERIOD_REVENUE, the one place the formula is written).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "nexus.h"

#define STR(x)		#x
#define XSTR(x)		STR(x)

/*
 * The overage calls a period bills: all of them, or no more than its cap
 * pays for (price_calls() in SQL). A price of 0 bills nothing anyway.
 */
#define PERIOD_BILLABLE(overage_calls, micros, cap) \
    "IF(" cap " IS NULL OR " micros " = 0, " overage_calls ", LEAST(" \
    overage_calls ", " cap " * " XSTR(MICROS_PER_CENT) " DIV " micros "))"
/* What a period earns: the plan's price and the overage in whole cents. */
#define PERIOD_REVENUE(price, overage_calls, micros, cap) \
    "(" price " + " PERIOD_BILLABLE(overage_calls, micros, cap) " * " \
    micros " DIV " XSTR(MICROS_PER_CENT) ")"
#define R(col)	"eco_usage_records." col
#define ROW_REVENUE	PERIOD_REVENUE(R("price_cents"), R("overage_calls"), \
    R("overage_micros"), R("cap_cents"))

/*
 * Admission of a call under a hard limit (Free's, or a spend cap's):
 * counts it only while api_calls is under the limit, with the calls past
 * the allowance as overage. Affected rows: 1 when the row was created
 * (the first call), 2 when incremented, 0 when refused, which is why the
 * other columns are assigned first (ON DUPLICATE KEY UPDATE assigns left
 * to right) and only when the call is admitted; LAST_INSERT_ID(expr)
 * hands back the count without a second query. Parameters: period,
 * allowance three times (the first call's overage, twice more in its
 * revenue), user; limit, allowance, limit, limit.
 */
#define ADMIT_FIRST_OVER	"(? < 1)"
static const char *const sql_admit = "INSERT INTO eco_usage_records "
    "(user_id, period, api_calls, overage_calls, plan_id, price_cents, "
    "overage_micros, cap_cents, revenue_cents, updated_at) "
    "SELECT u.id, FROM_UNIXTIME(?), 1, " ADMIT_FIRST_OVER ", u.plan_id, "
    "p.price_cents, p.overage_micros, u.spend_cap_cents, "
    PERIOD_REVENUE("p.price_cents", ADMIT_FIRST_OVER, "p.overage_micros",
    "u.spend_cap_cents") ", UTC_TIMESTAMP() "
    "FROM eco_users u JOIN eco_plans p ON p.id = u.plan_id WHERE u.id = ? "
    "ON DUPLICATE KEY UPDATE "
    R("overage_calls") " = IF(" R("api_calls") " < ?, "
    "GREATEST(CAST(" R("api_calls") " AS SIGNED) + 1 - ?, 0), "
    R("overage_calls") "), "
    R("revenue_cents") " = IF(" R("api_calls") " < ?, " ROW_REVENUE ", "
    R("revenue_cents") "), "
    R("api_calls") " = LAST_INSERT_ID(IF(" R("api_calls") " < ?, "
    R("api_calls") " + 1, " R("api_calls") "))";
/* Parameters: user, period. */
static const char *const sql_calls = "SELECT api_calls "
    "FROM eco_usage_records WHERE user_id = ? AND period = FROM_UNIXTIME(?)";
/*
 * The batch writer's count of soft-limited calls. Parameters: period,
 * calls, overage, overage, overage (the last two for the revenue), user;
 * calls, limit, limit.
 */
static const char *const sql_count = "INSERT INTO eco_usage_records "
    "(user_id, period, api_calls, overage_calls, plan_id, price_cents, "
    "overage_micros, cap_cents, revenue_cents, updated_at) "
    "SELECT u.id, FROM_UNIXTIME(?), ?, ?, u.plan_id, p.price_cents, "
    "p.overage_micros, u.spend_cap_cents, "
    PERIOD_REVENUE("p.price_cents", "?", "p.overage_micros",
    "u.spend_cap_cents") ", UTC_TIMESTAMP() "
    "FROM eco_users u JOIN eco_plans p ON p.id = u.plan_id WHERE u.id = ? "
    "ON DUPLICATE KEY UPDATE "
    R("api_calls") " = " R("api_calls") " + ?, "
    R("overage_calls") " = IF(? < 0, 0, "
    "GREATEST(CAST(" R("api_calls") " AS SIGNED) - ?, 0)), "
    R("revenue_cents") " = " ROW_REVENUE ", "
    R("updated_at") " = UTC_TIMESTAMP()";
/*
 * The plan's terms on a user's row, when the user is created and when the
 * plan changes. ON DUPLICATE KEY UPDATE assigns left to right, so the
 * revenue is computed from the new terms. Parameters: user, period, user,
 * plan.
 */
static const char *const sql_terms = "INSERT INTO eco_usage_records "
    "(user_id, period, plan_id, price_cents, overage_micros, cap_cents, "
    "revenue_cents, updated_at) "
    "SELECT ?, FROM_UNIXTIME(?), id, price_cents, overage_micros, "
    "(SELECT spend_cap_cents FROM eco_users WHERE id = ?), "
    "price_cents, UTC_TIMESTAMP() FROM eco_plans WHERE id = ? "
    "ON DUPLICATE KEY UPDATE " R("plan_id") " = VALUES(plan_id), "
    R("price_cents") " = VALUES(price_cents), "
    R("overage_micros") " = VALUES(overage_micros), "
    R("revenue_cents") " = " ROW_REVENUE;
/*
 * The user's spend cap on their row of the period, when it changes.
 * Parameters: period, cap (NULL: none), user.
 */
static const char *const sql_cap = "INSERT INTO eco_usage_records "
    "(user_id, period, plan_id, price_cents, overage_micros, cap_cents, "
    "revenue_cents, updated_at) "
    "SELECT u.id, FROM_UNIXTIME(?), u.plan_id, p.price_cents, "
    "p.overage_micros, ?, p.price_cents, UTC_TIMESTAMP() "
    "FROM eco_users u JOIN eco_plans p ON p.id = u.plan_id WHERE u.id = ? "
    "ON DUPLICATE KEY UPDATE " R("cap_cents") " = VALUES(cap_cents), "
    R("revenue_cents") " = " ROW_REVENUE;

/*
 * Opening a period gives every user a row for it. A marker in
 * eco_periods says it was done; users created later get theirs from
 * user_create().
 */
static const char *const sql_opened = "SELECT 1 FROM eco_periods "
    "WHERE period = FROM_UNIXTIME(?)";
/* The last id of the next thousand users: one opening statement's worth. */
static const char *const sql_open_bound = "SELECT id FROM eco_users "
    "WHERE id > ? ORDER BY id LIMIT 1 OFFSET 999";
/* Parameters: period, from (exclusive), to, to (NULL: the last), period. */
static const char *const sql_open = "INSERT INTO eco_usage_records "
    "(user_id, period, plan_id, price_cents, overage_micros, cap_cents, "
    "revenue_cents, updated_at) "
    "SELECT u.id, FROM_UNIXTIME(?), u.plan_id, p.price_cents, "
    "p.overage_micros, u.spend_cap_cents, p.price_cents, UTC_TIMESTAMP() "
    "FROM eco_users u JOIN eco_plans p ON p.id = u.plan_id "
    "WHERE u.id > ? AND (? IS NULL OR u.id <= ?) AND NOT EXISTS "
    "(SELECT 1 FROM eco_usage_records r WHERE r.user_id = u.id "
    "AND r.period = FROM_UNIXTIME(?)) "
    "ON DUPLICATE KEY UPDATE "
    "eco_usage_records.plan_id = eco_usage_records.plan_id";
/* Rows written without terms by versions that did not keep them. */
static const char *const sql_complete = "UPDATE eco_usage_records r "
    "JOIN eco_users u ON u.id = r.user_id "
    "JOIN eco_plans p ON p.id = u.plan_id "
    "SET r.price_cents = p.price_cents, r.overage_micros = p.overage_micros, "
    "r.revenue_cents = "
    PERIOD_REVENUE("p.price_cents", "r.overage_calls", "p.overage_micros",
    "r.cap_cents") ", "
    "r.plan_id = u.plan_id "
    "WHERE r.period = FROM_UNIXTIME(?) AND r.plan_id IS NULL";
static const char *const sql_mark = "INSERT INTO eco_periods "
    "(period, opened_at) VALUES (FROM_UNIXTIME(?), UTC_TIMESTAMP()) "
    "ON DUPLICATE KEY UPDATE period = period";

/*
 * Overage: the user-periods with calls past the allowance that no ledger
 * row covers yet, after (user, period), in one period or all (?, ?).
 * Calls past what the period's cap pays for are never billed, however
 * late the cap was set or lowered: the biller sees at most the allowance
 * and those calls (PERIOD_BILLED) as the period's calls.
 */
#define PERIOD_BILLED	"(p.monthly_calls + " PERIOD_BILLABLE( \
    "GREATEST(CAST(r.api_calls AS SIGNED) - " \
    "CAST(p.monthly_calls AS SIGNED), 0)", "p.overage_micros", \
    "r.cap_cents") ")"
static const char *const sql_unbilled = "SELECT r.user_id, "
    "DATE_FORMAT(r.period, '%Y-%m-%d'), " PERIOD_BILLED ", "
    "r.overage_invoiced, p.monthly_calls, p.overage_micros, "
    "COALESCE(u.stripe_customer_id, '') "
    "FROM eco_usage_records r "
    "JOIN eco_users u ON u.id = r.user_id "
    "JOIN eco_plans p ON p.id = u.plan_id "
    "WHERE p.overage_micros > 0 AND p.monthly_calls IS NOT NULL "
    "AND r.api_calls > p.monthly_calls + r.overage_invoiced "
    "AND " PERIOD_BILLED " > p.monthly_calls + r.overage_invoiced "
    "AND (r.user_id, r.period) > (?, ?) AND (? IS NULL OR r.period = ?) "
    "ORDER BY r.user_id, r.period LIMIT " XSTR(PERIOD_UNBILLED_MAX);
/* Moves the watermark, only from the value the caller read. */
static const char *const sql_invoice = "UPDATE eco_usage_records "
    "SET overage_invoiced = overage_invoiced + ? "
    "WHERE user_id = ? AND period = ? AND overage_invoiced = ?";

/* The period this process has seen opened: one probe a month after that. */
static time_t	 ready_period = -1;

/*
 * Counts a call in user's period if the period's count is under limit (a
 * hard-limited plan's, or the allowance and what a spend cap pays for),
 * with the calls past allowance as overage; *used gets the count (this
 * call included when admitted). Returns 1 admitted, 0 refused, -1 on a
 * database error.
 */
int
period_admit(struct db *db, const char *user, time_t period, long long limit,
    long long allowance, long long *used)
{
	struct dbp		 p[9] = { DBP_I(period), DBP_I(allowance),
	    DBP_I(allowance), DBP_I(allowance), DBP_S(user), DBP_I(limit),
	    DBP_I(allowance), DBP_I(limit), DBP_I(limit) };
	unsigned long long	 affected, count;

	if (db_exec_affected_id(db, sql_admit, p, 9, &affected, &count) == -1)
		return -1;
	*used = affected == 1 ? 1 : (long long)count;
	return affected != 0;
}

/* The period's count as the database has it: as db_query_int(). */
int
period_calls(struct db *db, const char *user, time_t period, long long *calls)
{
	struct dbp	 p[2] = { DBP_S(user), DBP_I(period) };

	return db_query_int(db, sql_calls, p, 2, calls);
}

/*
 * Adds calls of a soft-limited (or unlimited, limit < 0) plan to user's
 * period, with the calls past limit as overage. Returns 0 or -1.
 */
int
period_count(struct db *db, const char *user, time_t period, long long calls,
    long long limit)
{
	long long	 over = limit < 0 || calls < limit ? 0 : calls - limit;
	struct dbp	 p[9] = { DBP_I(period), DBP_I(calls), DBP_I(over),
	    DBP_I(over), DBP_I(over), DBP_S(user), DBP_I(calls), DBP_I(limit),
	    DBP_I(limit) };

	return db_exec(db, sql_count, p, 9, NULL);
}

/* Sets plan's terms on user's row of the period. Returns 0 or -1. */
int
period_terms(struct db *db, const char *user, time_t period, const char *plan)
{
	struct dbp	 p[4] = { DBP_S(user), DBP_I(period), DBP_S(user),
	    DBP_S(plan) };

	return db_exec(db, sql_terms, p, 4, NULL);
}

/*
 * Sets the spend cap (cents; -1: none) on user's row of the period, in
 * the caller's transaction. Returns 0 or -1.
 */
int
period_cap(struct db *db, const char *user, time_t period, long long cap)
{
	struct dbp	 p[3] = { DBP_I(period),
	    cap >= 0 ? DBP_I(cap) : DBP_NUL, DBP_S(user) };

	return db_exec(db, sql_cap, p, 3, NULL);
}

/* Returns 1 when the period is marked opened, 0 when not, -1 on error. */
static int
period_opened(struct db *db, time_t period)
{
	struct dbp	 p[1] = { DBP_I(period) };
	long long	 one;

	return db_query_int(db, sql_opened, p, 1, &one);
}

/*
 * Gives every user a complete row for period, a thousand users per
 * statement so that no lock is held long against the hot path, then
 * marks it opened. The caller holds the opening lock. Returns 0 or -1.
 */
static int
period_fill(struct db *db, time_t period)
{
	char		 from[USER_ID_MAX + 1] = "", to[USER_ID_MAX + 1];
	struct dbp	 pp[1] = { DBP_I(period) };
	struct dbres	*r;
	int		 more;

	log_info("opening period %lld for every user", (long long)period);
	do {
		struct dbp pb[1] = { DBP_S(from) };

		if ((r = db_query(db, sql_open_bound, pb, 1)) == NULL)
			return -1;
		if ((more = db_next(r)) == 1)
			strlcpy_(to, db_str(r, 0), sizeof(to));
		db_done(r);
		if (more == -1)
			return -1;
		struct dbp po[5] = { DBP_I(period), DBP_S(from),
		    more ? DBP_S(to) : DBP_NUL, more ? DBP_S(to) : DBP_NUL,
		    DBP_I(period) };
		if (db_exec(db, sql_open, po, 5, NULL) == -1)
			return -1;
		if (more)
			memcpy(from, to, sizeof(from));
	} while (more);
	if (db_exec(db, sql_complete, pp, 1, NULL) == -1)
		return -1;
	return db_exec(db, sql_mark, pp, 1, NULL);
}

/*
 * Opens the period of now (see period_fill), once for all workers under
 * a lock. With again set it is done even if the period is marked opened,
 * which completes rows left by older versions. Returns 0 or -1.
 */
int
period_open(struct db *db, time_t now, int again)
{
	time_t	 period = period_start(now);
	int	 rc = 0;

	if (db_lock(db, "nexus_period_open", 60) != 1)
		return -1;
	if (again || (rc = period_opened(db, period)) == 0)
		rc = period_fill(db, period);
	db_unlock(db, "nexus_period_open");
	return rc == -1 ? -1 : 0;
}

/*
 * Makes sure the period of now is open before the admin pages read it:
 * the first call in a period opens it; later ones cost nothing.
 * Returns 0 or -1.
 */
int
period_ready(struct db *db, time_t now)
{
	time_t	 period = period_start(now);
	int	 rc;

	if (ready_period == period)
		return 0;
	if ((rc = period_opened(db, period)) == -1)
		return -1;
	if (rc == 0 && period_open(db, now, 0) == -1)
		return -1;
	ready_period = period;
	return 0;
}

/*
 * Reads the next PERIOD_UNBILLED_MAX user-periods with unbilled overage
 * into out, in (user, period) order after (after_user, after_period),
 * in period `only` ("YYYY-MM-01") or in every one when it is NULL.
 * Returns how many, or -1.
 */
int
period_unbilled(struct db *db, const char *only, const char *after_user,
    const char *after_period, struct period_unbilled *out)
{
	struct dbp	 p[4] = { DBP_S(after_user), DBP_S(after_period),
	    DBP_SNULL(only), DBP_SNULL(only) };
	struct dbres	*q;
	int		 n = 0, rc = 0;

	if ((q = db_query(db, sql_unbilled, p, 4)) == NULL)
		return -1;
	while (n < PERIOD_UNBILLED_MAX && (rc = db_next(q)) == 1) {
		struct period_unbilled *c = &out[n++];

		strlcpy_(c->user, db_str(q, 0), sizeof(c->user));
		strlcpy_(c->period, db_str(q, 1), sizeof(c->period));
		c->api_calls = db_int(q, 2);
		c->invoiced = db_int(q, 3);
		c->allowance = db_int(q, 4);
		c->micros = db_int(q, 5);
		strlcpy_(c->customer, db_str(q, 6), sizeof(c->customer));
	}
	db_done(q);
	return rc == -1 ? -1 : n;
}

/*
 * Moves the user's watermark of period from invoiced by calls, in the
 * caller's transaction. Returns 1 when moved, 0 when another writer
 * moved it first, -1 on a database error.
 */
int
period_invoice(struct db *db, const char *user, const char *period,
    long long invoiced, long long calls)
{
	struct dbp		 p[4] = { DBP_I(calls), DBP_S(user),
	    DBP_S(period), DBP_I(invoiced) };
	unsigned long long	 n;

	if (db_exec(db, sql_invoice, p, 4, &n) == -1)
		return -1;
	return n == 1;
}
