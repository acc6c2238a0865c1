/*
 * The operators' view of the business: the admin allow-list, the overview
 * figures and the users page.
 *
 * Nothing here reads raw usage. Users by plan and new users come from
 * eco_users' indexes; calls and revenue from eco_usage_records, which
 * holds one row per user per period for every user (admin_period_ready
 * makes sure of it) with the plan's terms and the revenue so far;
 * overage from a covering index of the ledger. A users page walks an
 * index to the page's keys and joins only those rows (a deferred join),
 * so page 4,000 of 100,000 users costs an index walk, not a sort.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nexus.h"

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

/*
 * The period's rows. A marker in eco_periods says every user got a row
 * for the period; users created later get theirs from user_create(). The
 * hot path may still create a row without the plan's terms (a user's
 * first call racing the opening): sql_unset finds those with one index
 * probe and sql_fill completes them.
 */
static const char *const sql_opened = "SELECT 1 FROM eco_periods "
    "WHERE period = FROM_UNIXTIME(?)";
/* The last id of the next thousand users: one opening statement's worth. */
static const char *const sql_open_bound = "SELECT id FROM eco_users "
    "WHERE id > ? ORDER BY id LIMIT 1 OFFSET 999";
static const char *const sql_open = "INSERT INTO eco_usage_records "
    "(user_id, period, plan_id, price_cents, overage_micros, revenue_cents, "
    "updated_at) "
    "SELECT u.id, FROM_UNIXTIME(?), u.plan_id, p.price_cents, "
    "p.overage_micros, p.price_cents, UTC_TIMESTAMP() "
    "FROM eco_users u JOIN eco_plans p ON p.id = u.plan_id "
    "WHERE u.id > ? AND (? IS NULL OR u.id <= ?) AND NOT EXISTS "
    "(SELECT 1 FROM eco_usage_records r WHERE r.user_id = u.id "
    "AND r.period = FROM_UNIXTIME(?)) "
    "ON DUPLICATE KEY UPDATE "
    "eco_usage_records.plan_id = eco_usage_records.plan_id";
static const char *const sql_mark = "INSERT INTO eco_periods "
    "(period, opened_at) VALUES (FROM_UNIXTIME(?), UTC_TIMESTAMP()) "
    "ON DUPLICATE KEY UPDATE period = period";
static const char *const sql_unset = "SELECT 1 FROM eco_usage_records "
    "WHERE period = FROM_UNIXTIME(?) AND plan_id IS NULL LIMIT 1";
static const char *const sql_fill = "UPDATE eco_usage_records r "
    "JOIN eco_users u ON u.id = r.user_id "
    "JOIN eco_plans p ON p.id = u.plan_id "
    "SET r.price_cents = p.price_cents, r.overage_micros = p.overage_micros, "
    "r.revenue_cents = p.price_cents + "
    "r.overage_calls * p.overage_micros DIV 10000, r.plan_id = u.plan_id "
    "WHERE r.period = FROM_UNIXTIME(?) AND r.plan_id IS NULL";

/* The period this process has seen opened: one probe a month after that. */
static time_t	 ready_period = -1;

/* Returns 1 when the query yields a row, 0 when not, -1 on error. */
static int
exists(struct db *db, const char *sql, const struct dbp *p, size_t np)
{
	struct dbres	*r;
	int		 rc;

	if ((r = db_query(db, sql, p, np)) == NULL)
		return -1;
	rc = db_next(r);
	db_done(r);
	return rc;
}

/*
 * Gives every user a row for period, a thousand users per statement so
 * that no lock is held long against the hot path. Returns 0 or -1.
 */
static int
period_open(struct db *db, time_t period)
{
	char		 from[USER_ID_MAX + 1] = "", to[USER_ID_MAX + 1];
	struct dbres	*r;
	int		 more;

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
	return 0;
}

/*
 * Makes the period of now ready for the admin figures: every user has a
 * row with the plan's terms. The first call in a period opens it (once
 * for all workers, under a lock); later calls cost one index probe.
 * Returns 0 or -1.
 */
int
admin_period_ready(struct db *db, time_t now)
{
	time_t		 period = period_start(now);
	struct dbp	 p[1] = { DBP_I(period) };
	int		 rc;

	if (ready_period != period) {
		if ((rc = exists(db, sql_opened, p, 1)) == -1)
			return -1;
		if (rc == 0) {
			if (db_lock(db, "nexus_period_open", 60) != 1)
				return -1;
			if ((rc = exists(db, sql_opened, p, 1)) == 0) {
				log_info("opening period %lld for every user",
				    (long long)period);
				if (period_open(db, period) == -1 ||
				    db_exec(db, sql_mark, p, 1, NULL) == -1)
					rc = -1;
			}
			db_unlock(db, "nexus_period_open");
			if (rc == -1)
				return -1;
		}
		ready_period = period;
	}
	if ((rc = exists(db, sql_unset, p, 1)) == 1)
		rc = db_exec(db, sql_fill, p, 1, NULL);
	return rc == -1 ? -1 : 0;
}

int
admin_plan_exists(struct db *db, const char *plan)
{
	static const char	*sql = "SELECT 1 FROM eco_plans WHERE id = ?";
	struct dbp		 p[1] = { DBP_S(plan) };

	if (strlen(plan) > PLAN_ID_MAX)
		return 0;
	return exists(db, sql, p, 1);
}

/*
 * The users page. Each sort, direction and way of finding the page has
 * its own fixed statement: the outer query joins the details of the
 * page's keys; the inner one finds the keys, either by walking the sort's
 * index (with a plan filter, the plan's index) or, for a search that
 * matches few users, by sorting the matches. The walk is forced: with a
 * deep OFFSET the optimizer would rather sort every user, which is what
 * the index is there to avoid. A walk stays within its index (a search is
 * a probe into the materialized set of matching ids) and an absent search
 * is written "? IS NULL OR ...", which MariaDB folds away.
 */
enum page_way { WAY_INDEX, WAY_PLAN_INDEX, WAY_MATCHES, WAYS };

#define MATCHES "SELECT s.id FROM eco_users s FORCE INDEX (eco_users_email) " \
    "WHERE s.email LIKE ? ESCAPE '!' OR s.id LIKE ? ESCAPE '!'"
#define CALLS	"COALESCE(r.api_calls, 0)"
#define REVENUE	"COALESCE(r.revenue_cents, p.price_cents)"

/* STRAIGHT_JOIN: the page's keys drive, each joined by primary key. */
#define PAGE(keys, order) \
    "SELECT STRAIGHT_JOIN u.id, u.email, u.plan_id, " CALLS ", " \
    "COALESCE(r.overage_calls, 0), " REVENUE ", " \
    "UNIX_TIMESTAMP(u.created_at), " \
    "(SELECT UNIX_TIMESTAMP(MAX(k.last_used_at)) FROM eco_api_keys k " \
    "WHERE k.user_id = u.id) " \
    "FROM (" keys ") pg JOIN eco_users u ON u.id = pg.id " \
    "JOIN eco_plans p ON p.id = u.plan_id " \
    "LEFT JOIN eco_usage_records r ON r.user_id = u.id " \
    "AND r.period = FROM_UNIXTIME(?) ORDER BY " order
/* Keys from the period's rows, walking idx (plan: "r.plan_id = ? AND "). */
#define KEYS_RECORDS(idx, plan, col, dir) \
    "SELECT r.user_id AS id FROM eco_usage_records r FORCE INDEX (" idx ") " \
    "WHERE r.period = FROM_UNIXTIME(?) AND " plan \
    "(? IS NULL OR r.user_id IN (" MATCHES ")) " \
    "ORDER BY r." col " " dir ", r.user_id " dir " LIMIT ? OFFSET ?"
/* Keys from the users, walking idx. */
#define KEYS_USERS(idx, plan, order) \
    "SELECT u.id FROM eco_users u FORCE INDEX (" idx ") " \
    "WHERE " plan "(? IS NULL OR u.id IN (" MATCHES ")) " \
    "ORDER BY " order " LIMIT ? OFFSET ?"
/*
 * Keys from the matching users, sorted: the search scans the index that
 * holds (plan, email, id), then only the matches are joined for their
 * sort key.
 */
#define SEARCHED \
    "WHERE (? IS NULL OR m.plan_id = ?) AND " \
    "(m.email LIKE ? ESCAPE '!' OR m.id LIKE ? ESCAPE '!') "
#define KEYS_FOUND(expr, dir) \
    "SELECT STRAIGHT_JOIN m.id FROM eco_users m " \
    "FORCE INDEX (eco_users_plan_email) " \
    "JOIN eco_users u ON u.id = m.id JOIN eco_plans p ON p.id = u.plan_id " \
    "LEFT JOIN eco_usage_records r ON r.user_id = u.id " \
    "AND r.period = FROM_UNIXTIME(?) " SEARCHED \
    "ORDER BY " expr " " dir ", u.id " dir " LIMIT ? OFFSET ?"
#define KEYS_USERS_FOUND(order) \
    "SELECT STRAIGHT_JOIN m.id FROM eco_users m " \
    "FORCE INDEX (eco_users_plan_email) " \
    "JOIN eco_users u ON u.id = m.id " SEARCHED \
    "ORDER BY " order " LIMIT ? OFFSET ?"

#define BY_PERIOD(idx, plan_idx, col, expr, dir) { \
	PAGE(KEYS_RECORDS(idx, "", col, dir), \
	    expr " " dir ", u.id " dir), \
	PAGE(KEYS_RECORDS(plan_idx, "r.plan_id = ? AND ", col, dir), \
	    expr " " dir ", u.id " dir), \
	PAGE(KEYS_FOUND(expr, dir), expr " " dir ", u.id " dir) }
/* order: a user column, then the id unless the column is unique. */
#define BY_USER(idx, plan_idx, order) { \
	PAGE(KEYS_USERS(idx, "", order), order), \
	PAGE(KEYS_USERS(plan_idx, "u.plan_id = ? AND ", order), order), \
	PAGE(KEYS_USERS_FOUND(order), order) }

static const struct sortkey {
	const char	*name;
	int		 desc;		/* the default direction */
	int		 period;	/* the keys query takes the period */
	const char	*sql[2][WAYS];	/* [desc][way] */
} sortkeys[SORT_KEYS] = {
	[SORT_CALLS] = { "calls", 1, 1, {
	    BY_PERIOD("eco_usage_records_period",
		"eco_usage_records_plan_calls", "api_calls", CALLS, "ASC"),
	    BY_PERIOD("eco_usage_records_period",
		"eco_usage_records_plan_calls", "api_calls", CALLS, "DESC") } },
	[SORT_REVENUE] = { "revenue", 1, 1, {
	    BY_PERIOD("eco_usage_records_revenue",
		"eco_usage_records_plan_revenue", "revenue_cents", REVENUE,
		"ASC"),
	    BY_PERIOD("eco_usage_records_revenue",
		"eco_usage_records_plan_revenue", "revenue_cents", REVENUE,
		"DESC") } },
	[SORT_CREATED] = { "created", 1, 0, {
	    BY_USER("eco_users_created", "eco_users_plan",
		"u.created_at ASC, u.id ASC"),
	    BY_USER("eco_users_created", "eco_users_plan",
		"u.created_at DESC, u.id DESC") } },
	[SORT_EMAIL] = { "email", 0, 0, {
	    BY_USER("eco_users_email", "eco_users_plan_email", "u.email ASC"),
	    BY_USER("eco_users_email", "eco_users_plan_email",
		"u.email DESC") } },
};

static const char *const sql_count = "SELECT COUNT(*) FROM eco_users u "
    "FORCE INDEX (eco_users_plan_email) "
    "WHERE (? IS NULL OR u.plan_id = ?) AND (? IS NULL OR "
    "u.email LIKE ? ESCAPE '!' OR u.id LIKE ? ESCAPE '!')";

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
	strlcpy_(u->id, db_str(r, 0), sizeof(u->id));
	strlcpy_(u->email, db_str(r, 1), sizeof(u->email));
	strlcpy_(u->plan, db_str(r, 2), sizeof(u->plan));
	u->calls = db_int(r, 3);
	u->overage_calls = db_int(r, 4);
	u->revenue_cents = db_int(r, 5);
	u->created = (time_t)db_int(r, 6);
	u->last_call = db_isnull(r, 7) ? 0 : (time_t)db_int(r, 7);
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
	const struct sortkey	*sk = &sortkeys[q->sort];
	time_t			 period = period_start(now);
	char			 like[ADMIN_SEARCH_MAX * 2 + 3];
	struct dbp		 f[5], p[10];
	struct dbres		*r;
	struct admin_user	 u;
	long long		 matches = -1, offset;
	size_t			 np = 0, i;
	enum page_way		 way;
	int			 rc;

	if (q->search != NULL)
		like_pattern(q->search, like, sizeof(like));
	f[0] = f[1] = DBP_SNULL(q->plan);
	f[2] = f[3] = f[4] = q->search != NULL ? DBP_S(like) : DBP_NUL;

	if (total != NULL || q->search != NULL) {
		if ((r = db_query(db, sql_count, f, 5)) == NULL)
			return -1;
		rc = db_next(r);
		matches = rc == 1 ? db_int(r, 0) : 0;
		db_done(r);
		if (rc == -1)
			return -1;
		if (total != NULL)
			*total = matches;
	}
	if (q->search != NULL && matches <= q->sort_max)
		way = WAY_MATCHES;
	else
		way = q->plan != NULL ? WAY_PLAN_INDEX : WAY_INDEX;
	offset = (q->page - 1) * q->per_page;
	if (matches >= 0 && offset >= matches)
		return 0;	/* past the last page: nothing to read */

	/* Parameters in the order of the statement's text. */
	if (sk->period)
		p[np++] = DBP_I(period);
	if (way == WAY_MATCHES)
		p[np++] = f[0];
	if (way != WAY_INDEX)
		p[np++] = f[1];
	for (i = way == WAY_MATCHES ? 3 : 2; i < 5; i++)
		p[np++] = f[i];
	p[np++] = DBP_I(q->per_page);
	p[np++] = DBP_I(offset);
	p[np++] = DBP_I(period);
	if ((r = db_query(db, sk->sql[q->desc != 0][way], p, np)) == NULL)
		return -1;
	while ((rc = db_next(r)) == 1) {
		user_row(r, &u);
		if (cb(arg, &u) != 0)
			break;
	}
	db_done(r);
	return rc == -1 ? -1 : 0;
}

/* The overview. */
/*
 * The scans are forced onto the index that holds what they read: MariaDB
 * 10.11 re-plans a prepared statement at each run, and once other
 * statements have used the table in the connection it may prefer reading
 * every row (the calls total: 20 ms on its index, 160 ms scanning rows).
 */
static const char *const sql_plans = "SELECT p.id, p.name, p.price_cents, "
    "(SELECT COUNT(*) FROM eco_users u FORCE INDEX (eco_users_plan) "
    "WHERE u.plan_id = p.id) FROM eco_plans p ORDER BY p.sort_order, p.id";
static const char *const sql_new_users = "SELECT COUNT(*) FROM eco_users "
    "FORCE INDEX (eco_users_created) "
    "WHERE created_at >= FROM_UNIXTIME(?) AND created_at < FROM_UNIXTIME(?)";
static const char *const sql_calls = "SELECT COALESCE(SUM(api_calls), 0) "
    "FROM eco_usage_records FORCE INDEX (eco_usage_records_period) "
    "WHERE period = FROM_UNIXTIME(?)";
static const char *const sql_ledger = "SELECT state, COUNT(*), "
    "COALESCE(SUM(amount_cents), 0) FROM eco_overage_ledger "
    "FORCE INDEX (eco_overage_ledger_period_state) "
    "WHERE period = FROM_UNIXTIME(?) GROUP BY state";

/* The ledger's states (lib/overage.c) as the overview counts them. */
static const char *const ledger_states[LEDGER_STATES] = {
	[LEDGER_SENT] = "sent",
	[LEDGER_PENDING] = "pending",
	[LEDGER_FAILED] = "failed",
};

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
	struct dbp		 p[2];
	struct dbres		*r;
	size_t			 i;
	int			 rc;

	memset(o, 0, sizeof(*o));
	o->period = period_start(now);
	o->period_end = period_end(now);
	p[0] = DBP_I(o->period);
	p[1] = DBP_I(o->period_end);

	if ((r = db_query(db, sql_plans, NULL, 0)) == NULL)
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
	if (rc == -1)
		return -1;

	if (db_query_int(db, sql_new_users, p, 2, &o->new_users) == -1 ||
	    db_query_int(db, sql_calls, p, 1, &o->calls) == -1)
		return -1;

	if ((r = db_query(db, sql_ledger, p, 1)) == NULL)
		return -1;
	while ((rc = db_next(r)) == 1)
		for (i = 0; i < LEDGER_STATES; i++)
			if (strcmp(db_str(r, 0), ledger_states[i]) == 0) {
				o->ledger_items[i] = db_int(r, 1);
				o->ledger_cents[i] = db_int(r, 2);
			}
	db_done(r);
	if (rc == -1)
		return -1;

	return admin_users(db, now, &top, NULL, top_add, o);
}
