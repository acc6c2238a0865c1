/*
 * The operators' view of the business: the overview figures, calls per
 * day by plan, and the users page.
 *
 * Only calls per day read raw usage, for days the roll-up has not
 * completed (as the usage API does). Users by plan and new users come from
 * eco_users' indexes; calls and revenue from eco_usage_records, which
 * holds one row per user per period for every user (period_ready makes
 * sure of it) with the plan's terms and the revenue so far; overage from
 * the ledger (ledger_period_states). A users page walks an index to the
 * page's keys and joins only those rows (a deferred join), so page 4,000
 * of 100,000 users costs an index walk, not a sort.
 *
 * The statements are one table, stmts[], each written whole (a users
 * page once for both directions) with the names of its parameters in the
 * order of its "?"s, which stmt_query() fills from a struct args. Scans
 * are forced onto the index that holds what they read: MariaDB 10.11
 * re-plans a prepared statement at each run and may then prefer reading
 * every row (the calls total: 20 ms on its index, 160 ms scanning rows)
 * or sorting every user for a deep OFFSET.
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "nexus.h"

/* What a statement may take, by name: the fields of struct args. */
enum param {
	P_END,
	P_PERIOD,		/* the period's first second */
	P_PERIOD_END,		/* the next period's */
	P_PLAN,			/* a plan id, NULL: every plan */
	P_LIKE,			/* the search's pattern, NULL: none */
	P_LIMIT,
	P_OFFSET,
	P_FROM,			/* a range of days: its first second */
	P_TO			/* the first second after it */
};
#define PARAMS_MAX	8

struct args {
	long long	 period, period_end;
	const char	*plan;
	const char	*like;
	long long	 limit, offset;
	long long	 from, to;
};

struct stmt {
	const char	*sql;
	enum param	 params[PARAMS_MAX];	/* in order, then P_END */
};

/*
 * A users page. The inner query (keys) finds the page's user ids: by
 * walking the sort's index (WAY_INDEX), the plan's index with a plan
 * filter (WAY_PLAN_INDEX), or, for a search that matches few users, by
 * sorting the matches (WAY_MATCHES). The walk stays within its index: a
 * search is a probe into the set of matching ids (MATCHES), and an absent
 * one is written "? IS NULL OR ...", which MariaDB folds away. The outer
 * query joins the page's columns, COL_* in order, by primary key.
 */
enum page_way { WAY_INDEX, WAY_PLAN_INDEX, WAY_MATCHES, WAYS };
enum { COL_ID, COL_EMAIL, COL_PLAN, COL_CALLS, COL_OVERAGE, COL_REVENUE,
    COL_CREATED, COL_LAST_CALL };
#define PAGE(keys, order) \
    "SELECT STRAIGHT_JOIN u.id, u.email, u.plan_id, " \
    "COALESCE(r.api_calls, 0), COALESCE(r.overage_calls, 0), " \
    "COALESCE(r.revenue_cents, p.price_cents), " \
    "UNIX_TIMESTAMP(u.created_at), " \
    "(SELECT UNIX_TIMESTAMP(MAX(k.last_used_at)) FROM eco_api_keys k " \
    "WHERE k.user_id = u.id) " \
    "FROM (" keys ") pg JOIN eco_users u ON u.id = pg.id " \
    "JOIN eco_plans p ON p.id = u.plan_id " \
    "LEFT JOIN eco_usage_records r ON r.user_id = u.id " \
    "AND r.period = FROM_UNIXTIME(?) ORDER BY " order
#define MATCHES "SELECT s.id FROM eco_users s FORCE INDEX (eco_users_email) " \
    "WHERE s.email LIKE ? ESCAPE '!' OR s.id LIKE ? ESCAPE '!'"
/*
 * The users a search matches, from the index that holds (plan, email,
 * id): the ?s are plan, plan, pattern, pattern. FOUND_IN_PERIOD joins
 * their row of the period (?, before them) for the sort keys on it.
 */
#define FOUND "SELECT STRAIGHT_JOIN m.id FROM eco_users m " \
    "FORCE INDEX (eco_users_plan_email) JOIN eco_users u ON u.id = m.id " \
    "WHERE (? IS NULL OR m.plan_id = ?) " \
    "AND (m.email LIKE ? ESCAPE '!' OR m.id LIKE ? ESCAPE '!') "
#define FOUND_IN_PERIOD "SELECT STRAIGHT_JOIN m.id FROM eco_users m " \
    "FORCE INDEX (eco_users_plan_email) JOIN eco_users u ON u.id = m.id " \
    "JOIN eco_plans p ON p.id = u.plan_id " \
    "LEFT JOIN eco_usage_records r ON r.user_id = u.id " \
    "AND r.period = FROM_UNIXTIME(?) " \
    "WHERE (? IS NULL OR m.plan_id = ?) " \
    "AND (m.email LIKE ? ESCAPE '!' OR m.id LIKE ? ESCAPE '!') "

/* By calls this period: walks eco_usage_records_period. */
#define CALLS_INDEX(dir) { PAGE( \
    "SELECT r.user_id AS id FROM eco_usage_records r " \
    "FORCE INDEX (eco_usage_records_period) " \
    "WHERE r.period = FROM_UNIXTIME(?) AND " \
    "(? IS NULL OR r.user_id IN (" MATCHES ")) " \
    "ORDER BY r.api_calls " dir ", r.user_id " dir " LIMIT ? OFFSET ?", \
    "COALESCE(r.api_calls, 0) " dir ", u.id " dir), \
    { P_PERIOD, P_LIKE, P_LIKE, P_LIKE, P_LIMIT, P_OFFSET, P_PERIOD } }

/* By calls this period: walks eco_usage_records_plan_calls (one plan). */
#define CALLS_PLAN(dir) { PAGE( \
    "SELECT r.user_id AS id FROM eco_usage_records r " \
    "FORCE INDEX (eco_usage_records_plan_calls) " \
    "WHERE r.period = FROM_UNIXTIME(?) AND r.plan_id = ? AND " \
    "(? IS NULL OR r.user_id IN (" MATCHES ")) " \
    "ORDER BY r.api_calls " dir ", r.user_id " dir " LIMIT ? OFFSET ?", \
    "COALESCE(r.api_calls, 0) " dir ", u.id " dir), \
    { P_PERIOD, P_PLAN, P_LIKE, P_LIKE, P_LIKE, P_LIMIT, P_OFFSET, P_PERIOD } }

/* By calls this period: sorts the matches of a search. */
#define CALLS_FOUND(dir) { PAGE(FOUND_IN_PERIOD \
    "ORDER BY COALESCE(r.api_calls, 0) " dir ", u.id " dir \
    " LIMIT ? OFFSET ?", \
    "COALESCE(r.api_calls, 0) " dir ", u.id " dir), \
    { P_PERIOD, P_PLAN, P_PLAN, P_LIKE, P_LIKE, P_LIMIT, P_OFFSET, P_PERIOD } }

/* By revenue this period: walks eco_usage_records_revenue. */
#define REVENUE_INDEX(dir) { PAGE( \
    "SELECT r.user_id AS id FROM eco_usage_records r " \
    "FORCE INDEX (eco_usage_records_revenue) " \
    "WHERE r.period = FROM_UNIXTIME(?) AND " \
    "(? IS NULL OR r.user_id IN (" MATCHES ")) " \
    "ORDER BY r.revenue_cents " dir ", r.user_id " dir " LIMIT ? OFFSET ?", \
    "COALESCE(r.revenue_cents, p.price_cents) " dir ", u.id " dir), \
    { P_PERIOD, P_LIKE, P_LIKE, P_LIKE, P_LIMIT, P_OFFSET, P_PERIOD } }

/* By revenue this period: walks eco_usage_records_plan_revenue (one plan). */
#define REVENUE_PLAN(dir) { PAGE( \
    "SELECT r.user_id AS id FROM eco_usage_records r " \
    "FORCE INDEX (eco_usage_records_plan_revenue) " \
    "WHERE r.period = FROM_UNIXTIME(?) AND r.plan_id = ? AND " \
    "(? IS NULL OR r.user_id IN (" MATCHES ")) " \
    "ORDER BY r.revenue_cents " dir ", r.user_id " dir " LIMIT ? OFFSET ?", \
    "COALESCE(r.revenue_cents, p.price_cents) " dir ", u.id " dir), \
    { P_PERIOD, P_PLAN, P_LIKE, P_LIKE, P_LIKE, P_LIMIT, P_OFFSET, P_PERIOD } }

/* By revenue this period: sorts the matches of a search. */
#define REVENUE_FOUND(dir) { PAGE(FOUND_IN_PERIOD \
    "ORDER BY COALESCE(r.revenue_cents, p.price_cents) " dir \
    ", u.id " dir " LIMIT ? OFFSET ?", \
    "COALESCE(r.revenue_cents, p.price_cents) " dir ", u.id " dir), \
    { P_PERIOD, P_PLAN, P_PLAN, P_LIKE, P_LIKE, P_LIMIT, P_OFFSET, P_PERIOD } }

/* By creation time: walks eco_users_created. */
#define CREATED_INDEX(dir) { PAGE( \
    "SELECT u.id FROM eco_users u FORCE INDEX (eco_users_created) " \
    "WHERE (? IS NULL OR u.id IN (" MATCHES ")) " \
    "ORDER BY u.created_at " dir ", u.id " dir " LIMIT ? OFFSET ?", \
    "u.created_at " dir ", u.id " dir), \
    { P_LIKE, P_LIKE, P_LIKE, P_LIMIT, P_OFFSET, P_PERIOD } }

/* By creation time: walks eco_users_plan (one plan). */
#define CREATED_PLAN(dir) { PAGE( \
    "SELECT u.id FROM eco_users u FORCE INDEX (eco_users_plan) " \
    "WHERE u.plan_id = ? AND (? IS NULL OR u.id IN (" MATCHES ")) " \
    "ORDER BY u.created_at " dir ", u.id " dir " LIMIT ? OFFSET ?", \
    "u.created_at " dir ", u.id " dir), \
    { P_PLAN, P_LIKE, P_LIKE, P_LIKE, P_LIMIT, P_OFFSET, P_PERIOD } }

/* By creation time: sorts the matches of a search. */
#define CREATED_FOUND(dir) { PAGE(FOUND \
    "ORDER BY u.created_at " dir ", u.id " dir " LIMIT ? OFFSET ?", \
    "u.created_at " dir ", u.id " dir), \
    { P_PLAN, P_PLAN, P_LIKE, P_LIKE, P_LIMIT, P_OFFSET, P_PERIOD } }

/* By email: walks eco_users_email. */
#define EMAIL_INDEX(dir) { PAGE( \
    "SELECT u.id FROM eco_users u FORCE INDEX (eco_users_email) " \
    "WHERE (? IS NULL OR u.id IN (" MATCHES ")) " \
    "ORDER BY u.email " dir " LIMIT ? OFFSET ?", \
    "u.email " dir), \
    { P_LIKE, P_LIKE, P_LIKE, P_LIMIT, P_OFFSET, P_PERIOD } }

/* By email: walks eco_users_plan_email (one plan). */
#define EMAIL_PLAN(dir) { PAGE( \
    "SELECT u.id FROM eco_users u FORCE INDEX (eco_users_plan_email) " \
    "WHERE u.plan_id = ? AND (? IS NULL OR u.id IN (" MATCHES ")) " \
    "ORDER BY u.email " dir " LIMIT ? OFFSET ?", \
    "u.email " dir), \
    { P_PLAN, P_LIKE, P_LIKE, P_LIKE, P_LIMIT, P_OFFSET, P_PERIOD } }

/* By email: sorts the matches of a search. */
#define EMAIL_FOUND(dir) { PAGE(FOUND \
    "ORDER BY u.email " dir " LIMIT ? OFFSET ?", \
    "u.email " dir), \
    { P_PLAN, P_PLAN, P_LIKE, P_LIKE, P_LIMIT, P_OFFSET, P_PERIOD } }

enum stmt_id { ST_PLANS, ST_NEW_USERS, ST_CALLS, ST_COUNT, ST_DAYS,
    ST_DAILY, ST_DAILY_RAW, ST_PAGES };
#define ST_PAGE(sort, desc, way) \
    (ST_PAGES + ((sort) * 2 + (desc)) * WAYS + (way))
#define ST_MAX		ST_PAGE(SORT_KEYS, 0, 0)
#define ASC		0
#define DESC		1

static const struct stmt stmts[ST_MAX] = {
[ST_PLANS] = { "SELECT p.id, p.name, p.price_cents, "
    "(SELECT COUNT(*) FROM eco_users u FORCE INDEX (eco_users_plan) "
    "WHERE u.plan_id = p.id) FROM eco_plans p ORDER BY p.sort_order, p.id",
    { P_END } },
[ST_NEW_USERS] = { "SELECT COUNT(*) FROM eco_users "
    "FORCE INDEX (eco_users_created) "
    "WHERE created_at >= FROM_UNIXTIME(?) AND created_at < FROM_UNIXTIME(?)",
    { P_PERIOD, P_PERIOD_END } },
[ST_CALLS] = { "SELECT COALESCE(SUM(api_calls), 0) "
    "FROM eco_usage_records FORCE INDEX (eco_usage_records_period) "
    "WHERE period = FROM_UNIXTIME(?)",
    { P_PERIOD } },
/* The users a page's filters match. */
[ST_COUNT] = { "SELECT COUNT(*) FROM eco_users u "
    "FORCE INDEX (eco_users_plan_email) "
    "WHERE (? IS NULL OR u.plan_id = ?) AND (? IS NULL OR "
    "u.email LIKE ? ESCAPE '!' OR u.id LIKE ? ESCAPE '!')",
    { P_PLAN, P_PLAN, P_LIKE, P_LIKE, P_LIKE } },
/* The days of a range that the roll-up has, complete or not. */
[ST_DAYS] = { "SELECT UNIX_TIMESTAMP(day), complete FROM eco_rollup_days "
    "WHERE day >= DATE(FROM_UNIXTIME(?)) AND day < DATE(FROM_UNIXTIME(?))",
    { P_FROM, P_TO } },
/*
 * Calls and errors by day and by the users' plans now, from the roll-up:
 * an index holds (day, calls, errors, user). A user gone counts under no
 * plan.
 */
[ST_DAILY] = { "SELECT UNIX_TIMESTAMP(d.day), u.plan_id, SUM(d.calls), "
    "SUM(d.errors) FROM eco_usage_daily d "
    "FORCE INDEX (eco_usage_daily_day_calls) "
    "LEFT JOIN eco_users u ON u.id = d.user_id "
    "WHERE d.day >= DATE(FROM_UNIXTIME(?)) AND d.day < DATE(FROM_UNIXTIME(?)) "
    "GROUP BY d.day, u.plan_id",
    { P_FROM, P_TO } },
/* The same from the raw rows: their ts index holds (ts, status, user). */
[ST_DAILY_RAW] = { "SELECT UNIX_TIMESTAMP(x.day), u.plan_id, SUM(x.calls), "
    "SUM(x.errors) FROM (SELECT a.user_id, DATE(a.ts) AS day, "
    "COUNT(*) AS calls, SUM(a.status >= 400) AS errors "
    "FROM eco_api_usage a FORCE INDEX (eco_api_usage_ts) "
    "WHERE a.ts >= FROM_UNIXTIME(?) AND a.ts < FROM_UNIXTIME(?) "
    "GROUP BY a.user_id, DATE(a.ts)) x "
    "LEFT JOIN eco_users u ON u.id = x.user_id GROUP BY x.day, u.plan_id",
    { P_FROM, P_TO } },
[ST_PAGE(SORT_CALLS, ASC, WAY_INDEX)] = CALLS_INDEX("ASC"),
[ST_PAGE(SORT_CALLS, DESC, WAY_INDEX)] = CALLS_INDEX("DESC"),
[ST_PAGE(SORT_CALLS, ASC, WAY_PLAN_INDEX)] = CALLS_PLAN("ASC"),
[ST_PAGE(SORT_CALLS, DESC, WAY_PLAN_INDEX)] = CALLS_PLAN("DESC"),
[ST_PAGE(SORT_CALLS, ASC, WAY_MATCHES)] = CALLS_FOUND("ASC"),
[ST_PAGE(SORT_CALLS, DESC, WAY_MATCHES)] = CALLS_FOUND("DESC"),
[ST_PAGE(SORT_REVENUE, ASC, WAY_INDEX)] = REVENUE_INDEX("ASC"),
[ST_PAGE(SORT_REVENUE, DESC, WAY_INDEX)] = REVENUE_INDEX("DESC"),
[ST_PAGE(SORT_REVENUE, ASC, WAY_PLAN_INDEX)] = REVENUE_PLAN("ASC"),
[ST_PAGE(SORT_REVENUE, DESC, WAY_PLAN_INDEX)] = REVENUE_PLAN("DESC"),
[ST_PAGE(SORT_REVENUE, ASC, WAY_MATCHES)] = REVENUE_FOUND("ASC"),
[ST_PAGE(SORT_REVENUE, DESC, WAY_MATCHES)] = REVENUE_FOUND("DESC"),
[ST_PAGE(SORT_CREATED, ASC, WAY_INDEX)] = CREATED_INDEX("ASC"),
[ST_PAGE(SORT_CREATED, DESC, WAY_INDEX)] = CREATED_INDEX("DESC"),
[ST_PAGE(SORT_CREATED, ASC, WAY_PLAN_INDEX)] = CREATED_PLAN("ASC"),
[ST_PAGE(SORT_CREATED, DESC, WAY_PLAN_INDEX)] = CREATED_PLAN("DESC"),
[ST_PAGE(SORT_CREATED, ASC, WAY_MATCHES)] = CREATED_FOUND("ASC"),
[ST_PAGE(SORT_CREATED, DESC, WAY_MATCHES)] = CREATED_FOUND("DESC"),
[ST_PAGE(SORT_EMAIL, ASC, WAY_INDEX)] = EMAIL_INDEX("ASC"),
[ST_PAGE(SORT_EMAIL, DESC, WAY_INDEX)] = EMAIL_INDEX("DESC"),
[ST_PAGE(SORT_EMAIL, ASC, WAY_PLAN_INDEX)] = EMAIL_PLAN("ASC"),
[ST_PAGE(SORT_EMAIL, DESC, WAY_PLAN_INDEX)] = EMAIL_PLAN("DESC"),
[ST_PAGE(SORT_EMAIL, ASC, WAY_MATCHES)] = EMAIL_FOUND("ASC"),
[ST_PAGE(SORT_EMAIL, DESC, WAY_MATCHES)] = EMAIL_FOUND("DESC"),
};

static const struct {
	const char	*name;
	int		 desc;		/* the default direction */
} sortkeys[SORT_KEYS] = {
	[SORT_CALLS] = { "calls", 1 },
	[SORT_REVENUE] = { "revenue", 1 },
	[SORT_CREATED] = { "created", 1 },
	[SORT_EMAIL] = { "email", 0 },
};

/* Sets *sort and *desc (its default direction) from a name; 0 or -1. */
int
admin_sort_parse(const char *name, enum admin_sort *sort, int *desc)
{
	size_t	 i;

	for (i = 0; i < SORT_KEYS; i++)
		if (strcmp(sortkeys[i].name, name) == 0) {
			*sort = (enum admin_sort)i;
			*desc = sortkeys[i].desc;
			return 0;
		}
	return -1;
}

const char *
admin_sort_name(enum admin_sort sort)
{
	return sortkeys[sort].name;
}

/* Where each parameter is in struct args, and whether it is a string. */
static const struct {
	size_t	 off;
	int	 str;
} fields[] = {
	[P_PERIOD] = { offsetof(struct args, period), 0 },
	[P_PERIOD_END] = { offsetof(struct args, period_end), 0 },
	[P_PLAN] = { offsetof(struct args, plan), 1 },
	[P_LIKE] = { offsetof(struct args, like), 1 },
	[P_LIMIT] = { offsetof(struct args, limit), 0 },
	[P_OFFSET] = { offsetof(struct args, offset), 0 },
	[P_FROM] = { offsetof(struct args, from), 0 },
	[P_TO] = { offsetof(struct args, to), 0 },
};

/* Runs statement id with its parameters filled from a, by name. */
static struct dbres *
stmt_query(struct db *db, enum stmt_id id, const struct args *a)
{
	const struct stmt	*st = &stmts[id];
	struct dbp		 p[PARAMS_MAX];
	const void		*f;
	size_t			 n;

	for (n = 0; n < PARAMS_MAX && st->params[n] != P_END; n++) {
		f = (const char *)a + fields[st->params[n]].off;
		p[n] = fields[st->params[n]].str ?
		    DBP_SNULL(*(const char *const *)f) :
		    DBP_I(*(const long long *)f);
	}
	return db_query(db, st->sql, p, n);
}

/* Reads statement id's one number into *v. Returns 0 or -1. */
static int
stmt_int(struct db *db, enum stmt_id id, const struct args *a, long long *v)
{
	struct dbres	*r;
	int		 rc;

	if ((r = stmt_query(db, id, a)) == NULL)
		return -1;
	*v = (rc = db_next(r)) == 1 ? db_int(r, 0) : 0;
	db_done(r);
	return rc == -1 ? -1 : 0;
}

/* Writes "%term%" with LIKE's wildcards and '!' escaped by '!'. */
static void
like_pattern(const char *term, char *dst, size_t n)
{
	size_t	 o = 0;

	dst[o++] = '%';
	for (; *term != '\0' && o + 4 < n; term++) {
		if (*term == '%' || *term == '_' || *term == '!')
			dst[o++] = '!';
		dst[o++] = *term;
	}
	dst[o++] = '%';
	dst[o] = '\0';
}

static void
user_row(const struct dbres *r, struct admin_user *u)
{
	memset(u, 0, sizeof(*u));
	strlcpy_(u->id, db_str(r, COL_ID), sizeof(u->id));
	strlcpy_(u->email, db_str(r, COL_EMAIL), sizeof(u->email));
	strlcpy_(u->plan, db_str(r, COL_PLAN), sizeof(u->plan));
	u->calls = db_int(r, COL_CALLS);
	u->overage_calls = db_int(r, COL_OVERAGE);
	u->revenue_cents = db_int(r, COL_REVENUE);
	u->created = (time_t)db_int(r, COL_CREATED);
	u->last_call = (time_t)db_int(r, COL_LAST_CALL);	/* NULL: 0 */
}

/*
 * Finds one page of users for q in the period of now and calls cb for
 * each row, in order, until cb returns non-zero. *total (when not NULL)
 * gets the number of users matching q's filters. Returns 0 or -1.
 */
int
admin_users(struct db *db, time_t now, const struct admin_query *q,
    long long *total, int (*cb)(void *, const struct admin_user *),
    void *arg)
{
	char			 like[ADMIN_SEARCH_MAX * 2 + 3];
	struct args		 a;
	struct dbres		*r;
	struct admin_user	 u;
	long long		 matches = -1;
	enum page_way		 way;
	int			 rc;

	memset(&a, 0, sizeof(a));
	a.period = period_start(now);
	a.plan = q->plan;
	if (q->search != NULL) {
		like_pattern(q->search, like, sizeof(like));
		a.like = like;
	}
	if (total != NULL || q->search != NULL) {
		if (stmt_int(db, ST_COUNT, &a, &matches) == -1)
			return -1;
		if (total != NULL)
			*total = matches;
	}
	if (q->search != NULL && matches <= q->sort_max)
		way = WAY_MATCHES;
	else
		way = q->plan != NULL ? WAY_PLAN_INDEX : WAY_INDEX;
	a.limit = q->per_page;
	a.offset = (q->page - 1) * q->per_page;
	if (matches >= 0 && a.offset >= matches)
		return 0;	/* past the last page: nothing to read */
	if ((r = stmt_query(db, ST_PAGE(q->sort, q->desc != 0, way), &a)) ==
	    NULL)
		return -1;
	while ((rc = db_next(r)) == 1) {
		user_row(r, &u);
		if (cb(arg, &u) != 0)
			break;
	}
	db_done(r);
	return rc == -1 ? -1 : 0;
}

static int
top_add(void *arg, const struct admin_user *u)
{
	struct admin_overview	*o = arg;

	if (u->calls == 0 || o->ntop == ADMIN_TOP)
		return 1;	/* the rest made no calls */
	o->top[o->ntop++] = *u;
	return 0;
}

/* Fills *o with the figures of the period of now. Returns 0 or -1. */
int
admin_overview(struct db *db, time_t now, struct admin_overview *o)
{
	const struct admin_query top = { SORT_CALLS, 1, NULL, NULL, 1,
	    ADMIN_TOP, 0 };
	struct args		 a;
	struct dbres		*r;
	int			 rc;

	memset(o, 0, sizeof(*o));
	memset(&a, 0, sizeof(a));
	a.period = o->period = period_start(now);
	a.period_end = o->period_end = period_end(now);

	if ((r = stmt_query(db, ST_PLANS, &a)) == NULL)
		return -1;
	while ((rc = db_next(r)) == 1 && o->nplans < ADMIN_PLANS_MAX) {
		struct admin_plan *pl = &o->plans[o->nplans++];

		strlcpy_(pl->id, db_str(r, 0), sizeof(pl->id));
		strlcpy_(pl->name, db_str(r, 1), sizeof(pl->name));
		pl->price_cents = db_int(r, 2);
		pl->users = db_int(r, 3);
		pl->mrr_cents = pl->users * pl->price_cents;
		o->users += pl->users;
		o->mrr_cents += pl->mrr_cents;
	}
	db_done(r);
	if (rc == -1 ||
	    stmt_int(db, ST_NEW_USERS, &a, &o->new_users) == -1 ||
	    stmt_int(db, ST_CALLS, &a, &o->calls) == -1 ||
	    ledger_period_states(db, o->period, o->ledger_items,
	    o->ledger_cents) == -1)
		return -1;
	return admin_users(db, now, &top, NULL, top_add, o);
}

/*
 * Adds the rows of statement id (day, plan, calls, errors) to d's days,
 * only to days marked in take when it is not NULL. Returns 0 or -1.
 */
static int
daily_add(struct db *db, enum stmt_id id, const struct args *a,
    struct admin_daily *d, const char *take)
{
	struct admin_day	*day;
	struct dbres		*r;
	long long		 i, calls, errors;
	size_t			 p;
	int			 rc;

	if ((r = stmt_query(db, id, a)) == NULL)
		return -1;
	while ((rc = db_next(r)) == 1) {
		i = (db_int(r, 0) - (long long)d->first) / DAY_SECONDS;
		if (i < 0 || i >= d->days || (take != NULL && !take[i]))
			continue;
		day = &d->day[i];
		day->calls += calls = db_int(r, 2);
		day->errors += errors = db_int(r, 3);
		for (p = 0; p < d->nplans; p++)
			if (strcmp(d->plans[p].id, db_str(r, 1)) == 0) {
				day->plan_calls[p] += calls;
				day->plan_errors[p] += errors;
			}
	}
	db_done(r);
	return rc == -1 ? -1 : 0;
}

/*
 * Fills d with calls and errors per UTC day, in total and per plan, for
 * the last days days (today, as of now, last). A day the roll-up has
 * complete comes from its aggregates; the others (today, and a day it
 * has not reached) from the raw rows, one range scan per run of them.
 * Returns 0 or -1; the caller frees d->day either way.
 */
int
admin_daily(struct db *db, time_t now, int days, struct admin_daily *d)
{
	struct args	 a;
	struct dbres	*r;
	char		*complete = xcalloc((size_t)days, 1);
	long long	 i, run = -1;
	int		 n, rc = -1;

	memset(d, 0, sizeof(*d));
	memset(&a, 0, sizeof(a));
	d->days = days;
	d->first = day_start(now) - (time_t)(days - 1) * DAY_SECONDS;
	d->day = xcalloc((size_t)days, sizeof(*d->day));
	for (i = 0; i < days; i++)
		d->day[i].day = d->first + (time_t)i * DAY_SECONDS;
	if ((n = admin_plans(db, d->plans, ADMIN_PLANS_MAX)) == -1)
		goto out;
	d->nplans = (size_t)n;
	a.from = d->first;
	a.to = d->first + (time_t)days * DAY_SECONDS;
	if ((r = stmt_query(db, ST_DAYS, &a)) == NULL)
		goto out;
	while ((n = db_next(r)) == 1) {
		i = (db_int(r, 0) - (long long)d->first) / DAY_SECONDS;
		if (i >= 0 && i < days)
			complete[i] = db_int(r, 1) == 1;
	}
	db_done(r);
	if (n == -1 || daily_add(db, ST_DAILY, &a, d, complete) == -1)
		goto out;
	for (i = 0; i <= days; i++) {
		if (i < days && !complete[i]) {
			if (run == -1)
				run = i;
			continue;
		}
		if (run == -1)
			continue;
		a.from = d->first + (time_t)run * DAY_SECONDS;
		a.to = d->first + (time_t)i * DAY_SECONDS;
		if (daily_add(db, ST_DAILY_RAW, &a, d, NULL) == -1)
			goto out;
		run = -1;
	}
	rc = 0;
out:
	free(complete);
	return rc;
}

/*
 * For the tests: runs statement i of the table (with plan "pro", a
 * search, the period of now and the last 30 days) and points *sql at its
 * text. Returns the
 * rows it gave, -1 on an error, -2 past the last statement.
 */
int
admin_stmt_try(struct db *db, size_t i, time_t now, const char **sql)
{
	struct args	 a = { period_start(now), period_end(now), "pro",
	    "%example%", 10, 0, day_start(now) - 29 * DAY_SECONDS,
	    day_start(now) + DAY_SECONDS };
	struct dbres	*r;
	int		 n = 0, rc;

	if (i >= ST_MAX)
		return -2;
	*sql = stmts[i].sql;
	if ((r = stmt_query(db, (enum stmt_id)i, &a)) == NULL)
		return -1;
	while ((rc = db_next(r)) == 1)
		n++;
	db_done(r);
	return rc == -1 ? -1 : n;
}
