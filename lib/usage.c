/*
 * The usage writer: every call on a key-protected route is stored in
 * eco_api_usage and counted in its period, never lost and never counted
 * twice.
 *
 * The request path appends each event to its worker's spool segment
 * (spool.c) and goes on. A flusher thread in the same worker, with its
 * own database connection, writes what was appended once flush_batch
 * events are waiting or the oldest has waited flush_interval_ms:
 * multi-row INSERTs and the period counters in one transaction. After
 * each commit the segment's header moves on, so a segment serves many
 * batches and is only replaced (and removed) once full. The thread is
 * what makes a quiet worker flush on time: the request thread may sit in
 * libfcgi's accept(2) for as long as nobody calls.
 *
 * Orphan segments (their worker died) are replayed by any worker, at
 * start and every ORPHAN_SCAN_MS. A kill between a commit and the header
 * update replays that batch again, which is safe because rows are keyed
 * by (user, time, event id): a chunk whose INSERT did not add every row
 * is done again row by row, and only the rows actually added are counted.
 *
 * While the database is down, segments fill up and queue on disk (memory
 * holds only their descriptors), and the backlog is written in chunks of
 * flush_batch when it is back.
 *
 * A call is recorded in room reserved before it is served
 * (usage_reserve): when the disk is full or the spool holds
 * spool_max_bytes, the call is refused instead, so that no call is served
 * unrecorded. Out of room, the segment being appended to is queued at
 * once, so that the flusher can remove it (and give its room back) as
 * soon as it is written.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nexus.h"

#define ORPHAN_SCAN_MS	10000
#define RETRY_MS	1000
#define NOSPACE_RETRY_MS 250	/* out of room: next try at a new segment */
#define CHUNK_MAX	1024	/* events per transaction, whatever flush_batch */

struct usage {
	const struct config	*cfg;
	struct counters		*counters;
	pthread_t		 thread;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	int			 stopping;
	char			 tag[48];	/* names this worker's segments */
	unsigned long		 segno;
	struct spool_segment	 cur;	/* being appended to */
	long long		 unflushed;	/* events of cur not yet written */
	int64_t			 oldest_ms;	/* when the first of them came */
	struct spool_segment	*queue;	/* full ones, oldest first */
	size_t			 nqueue;
	int			 nospace;	/* out of room (logged) */
	int64_t			 retry_ms;	/* then, when to try again */
};

/* What a chunk is written with, and who hears of what was counted. */
struct writer {
	struct db		*db;
	struct counters		*counters;	/* NULL: another's events */
};

/*
 * Multi-row INSERTs of 1, 2, 4 .. CHUNK_MAX rows, and of flush_batch rows
 * (one INSERT a batch); built once, the same for every worker.
 */
static struct multirow insert_rows = {
	.head = "INSERT IGNORE INTO eco_api_usage (user_id, ts, event_id, "
	    "key_id, method, endpoint, status, latency_us) VALUES ",
	.row = "(?, FROM_UNIXTIME(? / 1000), ?, ?, ?, ?, ?, ?)",
	.tail = "",
	.ncol = 8
};
static const char *const sql_last_used = "UPDATE eco_api_keys "
    "SET last_used_at = FROM_UNIXTIME(? / 1000) WHERE id = ? "
    "AND (last_used_at IS NULL OR last_used_at < FROM_UNIXTIME(? / 1000))";

/* Inserts ev[0..n-1]; *added says how many rows were new. */
static int
insert_events(struct db *db, const struct usage_event *ev, size_t n,
    unsigned long long *added)
{
	struct dbp	*p = xcalloc(n * insert_rows.ncol, sizeof(*p)), *q;
	size_t		 i;
	int		 rc;

	for (i = 0, q = p; i < n; i++, q += insert_rows.ncol) {
		q[0] = DBP_S(ev[i].user_id);
		q[1] = DBP_I(ev[i].ts_ms);
		q[2] = DBP_B(ev[i].id, EVENT_ID_LEN);
		q[3] = DBP_I(ev[i].key_id);
		q[4] = DBP_S(ev[i].method);
		q[5] = DBP_S(ev[i].endpoint);
		q[6] = DBP_I(ev[i].status);
		q[7] = DBP_I(ev[i].latency_us);
	}
	rc = multirow_exec(db, &insert_rows, p, n, added);
	free(p);
	return rc;
}

/* Adds the counted events (new[i] set) to their period and key rows. */
static int
count_rows(struct db *db, const struct usage_event *ev, const char *isnew,
    size_t n)
{
	size_t		 i, j;
	char		*done = xcalloc(n, 1);
	int		 rc = -1;

	for (i = 0; i < n; i++) {
		time_t		 period;
		long long	 calls = 0, limit = ev[i].limit;

		if (done[i] || !isnew[i])
			continue;
		/* Group this user's events of this period; and last use of key. */
		period = period_start((time_t)(ev[i].ts_ms / 1000));
		for (j = i; j < n; j++) {
			if (done[j] || !isnew[j] ||
			    strcmp(ev[j].user_id, ev[i].user_id) != 0 ||
			    period_start((time_t)(ev[j].ts_ms / 1000)) != period)
				continue;
			done[j] = 1;
			calls += ev[j].count;
			limit = ev[j].limit;
		}
		if (calls > 0 && period_count(db, ev[i].user_id, period, calls,
		    limit) == -1)
			goto out;
	}
	/* Keys: one UPDATE per distinct key of the chunk. */
	memset(done, 0, n);
	for (i = 0; i < n; i++) {
		int64_t	 last = ev[i].ts_ms;

		if (done[i] || !isnew[i])
			continue;
		for (j = i; j < n; j++)
			if (!done[j] && isnew[j] && ev[j].key_id == ev[i].key_id) {
				done[j] = 1;
				if (ev[j].ts_ms > last)
					last = ev[j].ts_ms;
			}
		struct dbp p[3] = { DBP_I(last), DBP_I(ev[i].key_id),
		    DBP_I(last) };
		if (db_exec(db, sql_last_used, p, 3, NULL) == -1)
			goto out;
	}
	rc = 0;
out:
	free(done);
	return rc;
}

/*
 * Writes one chunk in one transaction (spool_read's store). Returns 0, or
 * -1 with nothing written. With the worker's counters, tells them what
 * moved from pending.
 */
static int
write_chunk(void *arg, const struct usage_event *ev, size_t n)
{
	struct writer		*w = arg;
	struct db		*db = w->db;
	unsigned long long	 added, a;
	char			*isnew = xcalloc(n, 1);
	size_t			 i;

	if (db_begin(db) == -1)
		goto fail;
	if (insert_events(db, ev, n, &added) == -1)
		goto fail;
	if (added == n)
		memset(isnew, 1, n);
	else {
		/* Some were written before (a replay): find out which. */
		db_rollback(db);
		if (db_begin(db) == -1)
			goto fail;
		for (added = 0, i = 0; i < n; i++) {
			if (insert_events(db, &ev[i], 1, &a) == -1)
				goto fail;
			isnew[i] = a == 1;
			added += a;
		}
		log_info("replay: %zu of %zu events were already written",
		    n - (size_t)added, n);
	}
	if (count_rows(db, ev, isnew, n) == -1 || db_commit(db) == -1)
		goto fail;
	if (w->counters != NULL)
		for (i = 0; i < n; i++)
			if (ev[i].count)
				counters_written(w->counters, ev[i].user_id,
				    period_start((time_t)(ev[i].ts_ms / 1000)), 1);
	free(isnew);
	return 0;
fail:
	log_warnx("usage write failed: %s", db_error(db));
	db_rollback(db);
	free(isnew);
	return -1;
}

/* Writes all of an orphan segment (spool_orphans' replay). */
static int
replay_segment(void *arg, struct spool_segment *s)
{
	struct writer	 w = { arg, NULL };

	return spool_read(s, SIZE_MAX, CHUNK_MAX, 1, write_chunk, &w) == -1 ?
	    -1 : 0;
}

/* Queues the current segment for the flusher. Called with the lock held. */
static void
segment_rotate(struct usage *u)
{
	spool_seal(&u->cur);
	u->queue = xrealloc(u->queue, (u->nqueue + 1) * sizeof(*u->queue));
	u->queue[u->nqueue++] = u->cur;
	u->cur.fd = -1;
	u->unflushed = 0;
	pthread_cond_signal(&u->cv);
}

static void
cond_wait_ms(struct usage *u, int64_t ms)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&u->cv, &u->mu, &ts);
}

/*
 * Writes the full segments queued, oldest first, and what the current one
 * holds once it is due; removes a segment once it is all written. On
 * SIGTERM the current segment is queued too, so nothing is left behind
 * unless the database is away.
 */
static void *
flusher(void *arg)
{
	struct usage		*u = arg;
	struct writer		 w = { db_open_tx(u->cfg), u->counters };
	struct spool_segment	 seg;
	size_t			 batch = (size_t)u->cfg->flush_batch;
	int64_t			 interval = u->cfg->flush_interval_ms;
	int64_t			 next_scan = 0;
	long long		 written;
	int			 stopping, due, failed = 0;

	for (;;) {
		int64_t now = mono_ms();

		if (now >= next_scan) {
			spool_orphans(u->cfg->spool_dir, replay_segment, w.db);
			next_scan = now + ORPHAN_SCAN_MS;
		}
		pthread_mutex_lock(&u->mu);
		if ((stopping = u->stopping) && u->cur.fd != -1)
			segment_rotate(u);
		if (u->nqueue > 0) {
			seg = u->queue[0];
			pthread_mutex_unlock(&u->mu);
			if (spool_read(&seg, SIZE_MAX, batch, 1, write_chunk,
			    &w) == -1)
				goto retry;
			spool_close(&seg, 1);
			pthread_mutex_lock(&u->mu);
			memmove(&u->queue[0], &u->queue[1],
			    --u->nqueue * sizeof(*u->queue));
			pthread_mutex_unlock(&u->mu);
			failed = 0;
			continue;
		}
		if (stopping) {
			pthread_mutex_unlock(&u->mu);
			break;		/* nothing left */
		}
		/* Full batches as they come; the rest once it has waited. */
		due = u->unflushed > 0 && now - u->oldest_ms >= interval;
		if (!due && u->unflushed < (long long)batch) {
			int64_t wait = u->unflushed == 0 ? interval :
			    u->oldest_ms + interval - now;
			cond_wait_ms(u, wait);
			pthread_mutex_unlock(&u->mu);
			continue;
		}
		seg = u->cur;
		pthread_mutex_unlock(&u->mu);
		if ((written = spool_read(&seg, seg.off, batch, due,
		    write_chunk, &w)) == -1)
			goto retry;
		pthread_mutex_lock(&u->mu);
		if (u->cur.no == seg.no) {	/* else it is queued: see above */
			u->unflushed -= written;
			if (due)
				u->oldest_ms = now;
		}
		pthread_mutex_unlock(&u->mu);
		failed = 0;
		continue;
retry:
		/* The database is away: keep it on disk, try again later. */
		if (stopping && ++failed >= 2) {
			log_warnx("stopping with unwritten usage in %s: the next "
			    "worker replays it", u->cfg->spool_dir);
			break;
		}
		pthread_mutex_lock(&u->mu);
		cond_wait_ms(u, RETRY_MS);
		pthread_mutex_unlock(&u->mu);
	}
	db_close(w.db);
	return NULL;
}

/*
 * Starts usage tracking for this worker: its spool segments and flusher.
 * Returns NULL if the spool directory is unusable.
 */
struct usage *
usage_start(const struct config *cfg, struct counters *cs)
{
	struct usage		*u;
	pthread_condattr_t	 ca;
	unsigned char		 r[4];
	char			 hex[9];
	sigset_t		 all, old;
	int			 rc;

	if (spool_dir_check(cfg->spool_dir) == -1)
		return NULL;
	multirow_build(&insert_rows, CHUNK_MAX, (size_t)cfg->flush_batch);
	if (random_bytes(r, sizeof(r)) == -1)
		return NULL;
	u = xcalloc(1, sizeof(*u));
	u->cfg = cfg;
	u->counters = cs;
	u->cur.fd = -1;
	hex_encode(r, sizeof(r), hex);
	snprintf(u->tag, sizeof(u->tag), "w%ld-%s", (long)getpid(), hex);
	pthread_mutex_init(&u->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&u->cv, &ca);
	pthread_condattr_destroy(&ca);
	/* Signals are the accept loop's business: the flusher takes none. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&u->thread, NULL, flusher, u);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_warnx("cannot start the usage flusher");
		free(u);
		return NULL;
	}
	return u;
}

/*
 * Room in the current segment for one more event, or a new segment. Out
 * of room, the current one is queued (the flusher removes it once
 * written) and a new one is tried at most every NOSPACE_RETRY_MS. Called
 * with the lock held. Returns 0 or -1.
 */
static int
room_get(struct usage *u)
{
	const struct config	*cfg = u->cfg;
	int			 rc;

	if (u->cur.fd != -1) {
		if (spool_reserve(&u->cur, cfg->spool_dir, cfg->spool_max_bytes,
		    SPOOL_LINE_MAX) == SPOOL_OK)
			return 0;
		segment_rotate(u);	/* full, or out of room */
	}
	if (u->nospace && mono_ms() < u->retry_ms)
		return -1;
	rc = spool_create(cfg->spool_dir, u->tag, ++u->segno,
	    cfg->spool_max_bytes, &u->cur);
	if (rc == SPOOL_OK) {
		if (u->nospace)
			log_info("%s has room again: recording calls",
			    cfg->spool_dir);
		u->nospace = 0;
		return 0;
	}
	if (!u->nospace)
		log_warnx("%s has no room for usage (%s): API-key calls are "
		    "refused until it has", cfg->spool_dir, rc == SPOOL_NOSPACE ?
		    "disk full or spool_max_bytes reached" : "see above");
	u->nospace = 1;
	u->retry_ms = mono_ms() + NOSPACE_RETRY_MS;
	return -1;
}

/*
 * Reserves room on disk for the next event, so that usage_record cannot
 * fail: called before a call is served. Returns 0, or -1 when the spool
 * is out of room (the disk is full or the spool at spool_max_bytes).
 */
int
usage_reserve(struct usage *u)
{
	int	 rc;

	pthread_mutex_lock(&u->mu);
	rc = room_get(u);
	pthread_mutex_unlock(&u->mu);
	return rc;
}

/*
 * Appends ev to the spool. Returns 0, or -1 if it could not be stored,
 * which usage_reserve beforehand rules out.
 */
int
usage_record(struct usage *u, const struct usage_event *ev)
{
	int	 rc;

	pthread_mutex_lock(&u->mu);
	if ((rc = room_get(u)) == 0 && (rc = spool_append(&u->cur, ev)) == 0) {
		if (u->unflushed++ == 0)
			u->oldest_ms = mono_ms();
		if (u->unflushed == u->cfg->flush_batch)
			pthread_cond_signal(&u->cv);
	}
	pthread_mutex_unlock(&u->mu);
	return rc;
}

/* Writes what is left (SIGTERM) and stops the flusher. */
void
usage_stop(struct usage *u)
{
	if (u == NULL)
		return;
	pthread_mutex_lock(&u->mu);
	u->stopping = 1;
	pthread_cond_signal(&u->cv);
	pthread_mutex_unlock(&u->mu);
	pthread_join(u->thread, NULL);
	/* What could not be written stays for the next worker to replay. */
	if (u->cur.fd != -1)
		spool_close(&u->cur, 0);
	while (u->nqueue > 0)
		spool_close(&u->queue[--u->nqueue], 0);
	free(u->queue);
	pthread_mutex_destroy(&u->mu);
	pthread_cond_destroy(&u->cv);
	free(u);
}
