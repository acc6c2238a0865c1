/*
 * The daily roll-up (aggregate_daily_usage) and raw-usage retention.
 *
 * A day is rolled up user by user: each user's raw rows of that UTC day
 * are read along the primary key (user_id, ts, ...) and aggregated here,
 * in C, into one eco_usage_daily row (calls, successes, errors, average
 * and exact p95 latency, top 5 routes) and one eco_usage_daily_routes row
 * per route (exact counts, latency sum and maximum, and a latency
 * histogram). Rows are rewritten only where a value changed, so running
 * the roll-up twice changes nothing. eco_rollup_days records each run.
 *
 * Retention deletes raw rows older than retention_days, oldest day first,
 * in chunks of ROLLUP_PURGE_CHUNK rows, and only a day whose roll-up is
 * complete and counted every raw row it still has (a day with late events
 * is rolled up again first).
 *
 * The adding up is the aggregator's (agg.c), which the usage API shares.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "nexus.h"

#define ROLLUP_LOCK		"nexus_rollup"
#define ROLLUP_COMMIT_EVERY	128	/* users per transaction */
#define ROLLUP_PURGE_CHUNK	10000	/* raw rows per DELETE */
#define STR_(x)			#x
#define STR(x)			STR_(x)
#define TOP_ROUTES		5

/* Who has raw rows that day: the ts index holds user_id (the PK) too. */
static const char *const sql_day_users = "SELECT DISTINCT user_id "
    "FROM eco_api_usage FORCE INDEX (eco_api_usage_ts) "
    "WHERE ts >= FROM_UNIXTIME(?) AND ts < FROM_UNIXTIME(?)";
static const char *const sql_day_rolled_users = "SELECT user_id "
    "FROM eco_usage_daily WHERE day = ?";
static const char *const sql_day_state = "SELECT complete, raw_rows, "
    "purged_at IS NOT NULL FROM eco_rollup_days WHERE day = ?";
/*
 * The roll-up writes with multi-row upserts of 1, 2, 4 .. BATCH_MAX rows.
 * In eco_usage_daily, rolled_up_at is assigned first, while the other
 * columns still hold their old values: it moves only when something else
 * changes. Unchanged rows are not rewritten.
 */
#define BATCH_MAX	256
static struct multirow daily_rows = {
	.head = "INSERT INTO eco_usage_daily (user_id, day, calls, successes, "
	    "errors, latency_avg_us, latency_p95_us, top_endpoints, "
	    "rolled_up_at) VALUES ",
	.row = "(?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP())",
	.tail = " ON DUPLICATE KEY UPDATE rolled_up_at = IF(calls = "
	    "VALUES(calls) AND successes = VALUES(successes) AND "
	    "errors = VALUES(errors) AND "
	    "latency_avg_us = VALUES(latency_avg_us) AND "
	    "latency_p95_us = VALUES(latency_p95_us) AND "
	    "top_endpoints = VALUES(top_endpoints), rolled_up_at, "
	    "VALUES(rolled_up_at)), calls = VALUES(calls), "
	    "successes = VALUES(successes), errors = VALUES(errors), "
	    "latency_avg_us = VALUES(latency_avg_us), "
	    "latency_p95_us = VALUES(latency_p95_us), "
	    "top_endpoints = VALUES(top_endpoints)",
	.ncol = 8
};
static struct multirow routes_rows = {
	.head = "INSERT INTO eco_usage_daily_routes (user_id, day, method, "
	    "endpoint, calls, errors, latency_sum_us, latency_max_us, "
	    "latency_hist) VALUES ",
	.row = "(?, ?, ?, ?, ?, ?, ?, ?, ?)",
	.tail = " ON DUPLICATE KEY UPDATE calls = VALUES(calls), "
	    "errors = VALUES(errors), latency_sum_us = VALUES(latency_sum_us), "
	    "latency_max_us = VALUES(latency_max_us), "
	    "latency_hist = VALUES(latency_hist)",
	.ncol = 9
};
static const char *const sql_daily_delete = "DELETE FROM eco_usage_daily "
    "WHERE user_id = ? AND day = ?";
static const char *const sql_routes_existing = "SELECT user_id, method, "
    "endpoint FROM eco_usage_daily_routes WHERE day = ?";
static const char *const sql_routes_delete_one = "DELETE FROM "
    "eco_usage_daily_routes WHERE user_id = ? AND day = ? AND method = ? "
    "AND endpoint = ?";
static const char *const sql_day_record = "INSERT INTO eco_rollup_days "
    "(day, complete, raw_rows, users, rolled_up_at) "
    "VALUES (?, ?, ?, ?, UTC_TIMESTAMP()) ON DUPLICATE KEY UPDATE "
    "complete = VALUES(complete), raw_rows = VALUES(raw_rows), "
    "users = VALUES(users), rolled_up_at = VALUES(rolled_up_at)";
static const char *const sql_oldest_raw = "SELECT UNIX_TIMESTAMP(MIN(ts)) "
    "FROM eco_api_usage";
static const char *const sql_count_raw_day = "SELECT COUNT(*) "
    "FROM eco_api_usage FORCE INDEX (eco_api_usage_ts) "
    "WHERE ts >= FROM_UNIXTIME(?) AND ts < FROM_UNIXTIME(?)";
static const char *const sql_mark_purged = "UPDATE eco_rollup_days "
    "SET purged_at = UTC_TIMESTAMP() WHERE day = ? AND purged_at IS NULL";
static const char *const sql_purge_chunk = "DELETE FROM eco_api_usage "
    "WHERE ts < FROM_UNIXTIME(?) ORDER BY ts LIMIT " STR(ROLLUP_PURGE_CHUNK);

/* The top routes as the JSON array kept in eco_usage_daily.top_endpoints. */
static char *
top_json(const struct usage_agg *a)
{
	json_object	*arr = json_object_new_array(), *o;
	size_t		 i;
	char		*s;

	for (i = 0; i < a->nroutes && i < TOP_ROUTES; i++) {
		o = json_object_new_object();
		json_object_object_add(o, "method",
		    json_object_new_string(a->routes[i].method));
		json_object_object_add(o, "endpoint",
		    json_object_new_string(a->routes[i].endpoint));
		json_object_object_add(o, "calls",
		    json_object_new_int64((int64_t)a->routes[i].calls));
		json_object_array_add(arr, o);
	}
	s = xstrdup(json_object_to_json_string_ext(arr,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(arr);
	return s;
}

/*
 * Rows waiting for one multi-row upsert. Strings and blobs are copied
 * into arena; until the flush, their dbp holds an offset into it.
 */
struct batch {
	struct multirow		*m;
	struct dbp		*p;
	size_t			 rows;
	struct buf		 arena;
};

static void
batch_init(struct batch *b, struct multirow *m)
{
	multirow_build(m, BATCH_MAX, 0);
	b->m = m;
	b->p = xcalloc((size_t)BATCH_MAX * m->ncol, sizeof(*b->p));
	b->rows = 0;
	buf_init(&b->arena, 64 * 1024 * 1024);
}

static void
batch_free(struct batch *b)
{
	free(b->p);
	buf_free(&b->arena);
}

/* Writes the pending rows. Returns 0 or -1. */
static int
batch_flush(struct db *db, struct batch *b)
{
	unsigned long long	 n;
	size_t			 i;

	for (i = 0; i < b->rows * b->m->ncol; i++)
		if (b->p[i].type == DBP_STR || b->p[i].type == DBP_BLOB)
			b->p[i].s = b->arena.data + (uintptr_t)b->p[i].s;
	if (multirow_exec(db, b->m, b->p, b->rows, &n) == -1)
		return -1;
	b->rows = 0;
	buf_reset(&b->arena);
	return 0;
}

/* Queues one row (m->ncol values), flushing a full batch. Returns 0 or -1. */
static int
batch_add(struct db *db, struct batch *b, const struct dbp *row)
{
	struct dbp	*p = b->p + b->rows * b->m->ncol;
	unsigned int	 i;

	for (i = 0; i < b->m->ncol; i++) {
		p[i] = row[i];
		if (row[i].type != DBP_STR && row[i].type != DBP_BLOB)
			continue;
		p[i].s = (const void *)(uintptr_t)b->arena.len;
		if (buf_add(&b->arena, row[i].s, row[i].n) == -1)
			return -1;
	}
	if (++b->rows == BATCH_MAX)
		return batch_flush(db, b);
	return 0;
}

static int
strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Deletes the stored routes of user (from the day's sorted list of
 * "user\tmethod\tendpoint") that a holds no more: only when raw rows
 * went away behind the roll-up's back.
 */
static int
routes_prune(struct db *db, const char *user, const char *day,
    const struct usage_agg *a, char **stored, size_t nstored)
{
	size_t		 lo = 0, hi = nstored, ul = strlen(user), i, j;
	char		*method, *endpoint, *tab;

	while (lo < hi) {	/* the first entry not below user's */
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(stored[mid], user) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < nstored && strncmp(stored[i], user, ul) == 0 &&
	    stored[i][ul] == '\t'; i++) {
		method = stored[i] + ul + 1;
		if ((tab = strchr(method, '\t')) == NULL)
			continue;
		endpoint = tab + 1;
		for (j = 0; j < a->nroutes; j++)
			if (strncmp(a->routes[j].method, method,
			    (size_t)(tab - method)) == 0 &&
			    a->routes[j].method[tab - method] == '\0' &&
			    strcmp(a->routes[j].endpoint, endpoint) == 0)
				break;
		if (j < a->nroutes)
			continue;
		struct dbp p[4] = { DBP_S(user), DBP_S(day),
		    DBP_SN(method, (size_t)(tab - method)), DBP_S(endpoint) };
		if (db_exec(db, sql_routes_delete_one, p, 4, NULL) == -1)
			return -1;
	}
	return 0;
}

/* Queues (or deletes) one user's day. Returns 0 or -1. */
static int
rollup_write(struct db *db, const char *user, const char *day,
    struct usage_agg *a, struct batch *daily, struct batch *routes)
{
	unsigned char	 hist[HIST_BUCKETS * 11];
	char		*top;
	size_t		 i, hl;
	int		 rc = 0;

	if (a->calls == 0) {
		struct dbp p[2] = { DBP_S(user), DBP_S(day) };

		return db_exec(db, sql_daily_delete, p, 2, NULL);
	}
	agg_sort(a);
	top = top_json(a);
	struct dbp d[8] = { DBP_S(user), DBP_S(day), DBP_I(a->calls),
	    DBP_I(a->calls - a->errors), DBP_I(a->errors),
	    DBP_I(avg_round(a->lat_sum, a->calls)), DBP_I(agg_p95(a)),
	    DBP_S(top) };
	if (batch_add(db, daily, d) == -1)
		rc = -1;
	free(top);
	for (i = 0; rc == 0 && i < a->nroutes; i++) {
		struct route_stats *r = &a->routes[i];

		hl = hist_encode(r->hist, hist, sizeof(hist));
		struct dbp q[9] = { DBP_S(user), DBP_S(day), DBP_S(r->method),
		    DBP_S(r->endpoint), DBP_I(r->calls), DBP_I(r->errors),
		    DBP_I(r->lat_sum), DBP_I(r->lat_max), DBP_B(hist, hl) };
		if (batch_add(db, routes, q) == -1)
			rc = -1;
	}
	return rc;
}

/*
 * Adds the strings of column 0 of sql's rows (columns 0..ncol-1 joined by
 * tabs when ncol > 1) to *list. Returns 0 or -1.
 */
static int
strings_collect(struct db *db, const char *sql, const struct dbp *p,
    size_t np, unsigned int ncol, char ***list, size_t *n)
{
	struct dbres	*r;
	struct buf	 b;
	unsigned int	 i;
	int		 rc;

	if ((r = db_query(db, sql, p, np)) == NULL)
		return -1;
	buf_init(&b, 4096);
	while ((rc = db_next(r)) == 1) {
		buf_reset(&b);
		for (i = 0; i < ncol; i++)
			if (buf_addstr(&b, i > 0 ? "\t" : "") == -1 ||
			    buf_addstr(&b, db_str(r, i)) == -1)
				break;
		*list = xrealloc(*list, (*n + 1) * sizeof(**list));
		(*list)[(*n)++] = xstrdup(b.data);
	}
	buf_free(&b);
	db_done(r);
	return rc;
}

/* The user of a "user\tmethod\tendpoint" entry, as a new string. */
static char *
entry_user(const char *e)
{
	size_t	 n = strcspn(e, "\t");
	char	*u = xmalloc(n + 1);

	memcpy(u, e, n);
	u[n] = '\0';
	return u;
}

static void
strings_free(char **list, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* Reads eco_rollup_days for day: returns 1 found, 0 not, -1 error. */
static int
day_state(struct db *db, const char *day, int *complete,
    long long *raw_rows, int *purged)
{
	struct dbp	 p[1] = { DBP_S(day) };
	struct dbres	*r;
	int		 rc;

	if ((r = db_query(db, sql_day_state, p, 1)) == NULL)
		return -1;
	if ((rc = db_next(r)) == 1) {
		*complete = (int)db_int(r, 0);
		*raw_rows = db_int(r, 1);
		*purged = (int)db_int(r, 2);
	}
	db_done(r);
	return rc;
}

/*
 * Rolls up the UTC day starting at day (a midnight), as of now. Adds to
 * *st. Returns ROLLUP_DONE, ROLLUP_PURGED (the day's raw rows were deleted
 * by retention: its aggregates are final and left alone) or ROLLUP_ERR.
 * The caller holds the roll-up lock.
 */
static int
rollup_day_locked(struct db *db, time_t day, time_t now,
    struct rollup_stats *st)
{
	char		 date[16], **users = NULL, **stored = NULL;
	size_t		 nusers = 0, nstored = 0, i, active = 0, pending = 0;
	struct usage_agg a;
	struct batch	 daily, routes;
	long long	 rows = 0, n, raw_rows;
	int		 complete, purged = 0, rc = ROLLUP_ERR;
	int64_t		 t0 = now_usec();

	time_format_date(day, date, sizeof(date));
	if (day_state(db, date, &complete, &raw_rows, &purged) == -1)
		return ROLLUP_ERR;
	if (purged)
		return ROLLUP_PURGED;
	complete = now >= day + DAY_SECONDS;
	agg_init(&a, 1);
	batch_init(&daily, &daily_rows);
	batch_init(&routes, &routes_rows);
	{
		struct dbp p[2] = { DBP_I(day), DBP_I(day + DAY_SECONDS) };
		struct dbp q[1] = { DBP_S(date) };

		/* Users with raw rows, and users with aggregates to redo. */
		if (strings_collect(db, sql_day_users, p, 2, 1, &users,
		    &nusers) == -1 || strings_collect(db, sql_day_rolled_users,
		    q, 1, 1, &users, &nusers) == -1 ||
		    strings_collect(db, sql_routes_existing, q, 1, 3, &stored,
		    &nstored) == -1)
			goto out;
	}
	for (i = 0; i < nstored; i++) {
		users = xrealloc(users, (nusers + 1) * sizeof(*users));
		users[nusers++] = entry_user(stored[i]);
	}
	qsort(users, nusers, sizeof(*users), strp_cmp);
	qsort(stored, nstored, sizeof(*stored), strp_cmp);
	for (i = 0; i < nusers; i++) {
		if (i > 0 && strcmp(users[i], users[i - 1]) == 0)
			continue;
		if (pending == 0 && db_begin(db) == -1)
			goto out;
		agg_free(&a);
		if ((n = agg_raw(db, &a, users[i], day, day + DAY_SECONDS)) == -1 ||
		    rollup_write(db, users[i], date, &a, &daily, &routes) == -1 ||
		    routes_prune(db, users[i], date, &a, stored, nstored) == -1)
			goto fail;
		rows += n;
		active += n > 0;
		if (++pending == ROLLUP_COMMIT_EVERY) {
			if (batch_flush(db, &daily) == -1 ||
			    batch_flush(db, &routes) == -1 || db_commit(db) == -1)
				goto fail;
			pending = 0;
		}
	}
	if (pending > 0 && (batch_flush(db, &daily) == -1 ||
	    batch_flush(db, &routes) == -1 || db_commit(db) == -1))
		goto fail;
	pending = 0;
	{
		struct dbp p[4] = { DBP_S(date), DBP_I(complete), DBP_I(rows),
		    DBP_I(active) };

		if (db_exec(db, sql_day_record, p, 4, NULL) == -1)
			goto out;
	}
	st->days++;
	st->users += (long long)active;
	st->rows += rows;
	st->usec += now_usec() - t0;
	rc = ROLLUP_DONE;
	goto out;
fail:
	if (pending > 0)
		db_rollback(db);
out:
	agg_free(&a);
	batch_free(&daily);
	batch_free(&routes);
	strings_free(users, nusers);
	strings_free(stored, nstored);
	return rc;
}

/* Takes the roll-up lock (waiting up to 60 s). Returns 0 or -1. */
static int
rollup_lock(struct db *db)
{
	int	 rc = db_lock(db, ROLLUP_LOCK, 60);

	if (rc != 1)
		log_warnx("roll-up: %s", rc == 0 ?
		    "another roll-up holds the lock" : db_error(db));
	return rc == 1 ? 0 : -1;
}

/*
 * Rolls up every UTC day from from to to (midnights, inclusive) as of now,
 * calling done(day, result, stats of that day) after each. Returns 0, or -1
 * if any day failed.
 */
int
rollup_range(struct db *db, time_t from, time_t to, time_t now,
    void (*done)(time_t, int, const struct rollup_stats *, void *), void *arg)
{
	struct rollup_stats	 st;
	time_t			 d;
	int			 rc = 0, r;

	if (rollup_lock(db) == -1)
		return -1;
	for (d = day_start(from); d <= to; d += DAY_SECONDS) {
		memset(&st, 0, sizeof(st));
		if ((r = rollup_day_locked(db, d, now, &st)) == ROLLUP_ERR) {
			log_warnx("roll-up: %s", db_error(db));
			rc = -1;
		}
		if (done != NULL)
			done(d, r, &st, arg);
	}
	db_unlock(db, ROLLUP_LOCK);
	return rc;
}

/*
 * Makes sure day is rolled up with every raw row it has, before its raw
 * rows go. Returns 0 when they may be deleted, -1 on error.
 */
static int
retention_ready(struct db *db, time_t day, time_t now, const char *date,
    struct retention_stats *rs)
{
	struct rollup_stats	 st;
	struct dbp		 p[2] = { DBP_I(day), DBP_I(day + DAY_SECONDS) };
	long long		 raw_rows = 0, have = 0;
	int			 complete = 0, purged = 0, found;

	if ((found = day_state(db, date, &complete, &raw_rows, &purged)) == -1)
		return -1;
	if (found && purged)
		return 0;	/* deletion under way */
	if (db_query_int(db, sql_count_raw_day, p, 2, &have) == -1)
		return -1;
	/* Never rolled up, rolled up before the day ended, or late events. */
	if (!found || !complete || have > raw_rows) {
		memset(&st, 0, sizeof(st));
		if (rollup_day_locked(db, day, now, &st) == ROLLUP_ERR)
			return -1;
		rs->rerolled++;
	}
	return 0;
}

/*
 * Deletes raw usage older than retention_days (whole UTC days, oldest
 * first, ROLLUP_PURGE_CHUNK rows per statement), rolling up first any day
 * that is not fully rolled up. Fills *rs. Returns 0 or -1.
 */
int
retention_run(struct db *db, long long retention_days, time_t now,
    struct retention_stats *rs)
{
	time_t			 cutoff = day_start(now) - retention_days * DAY_SECONDS;
	time_t			 day;
	char			 date[16];
	unsigned long long	 n;
	long long		 oldest;
	int			 got, rc = -1;

	memset(rs, 0, sizeof(*rs));
	if (rollup_lock(db) == -1)
		return -1;
	for (;;) {
		if ((got = db_query_int(db, sql_oldest_raw, NULL, 0, &oldest)) == -1)
			goto out;
		if (got == 0)
			break;
		day = day_start((time_t)oldest);
		if (day + DAY_SECONDS > cutoff)
			break;
		time_format_date(day, date, sizeof(date));
		if (retention_ready(db, day, now, date, rs) == -1)
			goto out;
		struct dbp m[1] = { DBP_S(date) };
		if (db_exec(db, sql_mark_purged, m, 1, NULL) == -1)
			goto out;
		struct dbp p[1] = { DBP_I(day + DAY_SECONDS) };
		do {
			if (db_exec(db, sql_purge_chunk, p, 1, &n) == -1)
				goto out;
			rs->deleted += (long long)n;
			rs->chunks++;
		} while (n == ROLLUP_PURGE_CHUNK);
		rs->days++;
	}
	rc = 0;
out:
	if (rc == -1)
		log_warnx("retention: %s", db_error(db));
	db_unlock(db, ROLLUP_LOCK);
	return rc;
}
