/*
 * Usage events: every call on a key-protected route, never lost and never
 * counted twice (DESIGN.md, decision 4).
 *
 * The request path appends each event as one line to its worker's spool
 * segment and goes on. A segment is a file mapped MAP_SHARED: an event is
 * in the page cache as soon as it is copied, so it survives the process
 * being killed, and appending costs no system call. A flusher thread in
 * the same worker, with its own database connection, writes what was
 * appended once flush_batch events are waiting or the oldest has waited
 * flush_interval_ms: multi-row INSERTs and the period counters in one
 * transaction. After each commit it records in the segment's header how
 * far the file is written, so a segment serves many batches and is only
 * replaced (and unlinked) once SEGMENT_BYTES are used. The thread is what
 * makes a quiet worker flush on time: the request thread may sit in
 * libfcgi's accept(2) for as long as nobody calls.
 *
 * Ownership is a flock(2) on the segment, held from its creation until it
 * is unlinked. A segment whose lock can be taken has lost its worker (a
 * SIGKILL, a crash): any worker replays it from its header's offset, at
 * start and every ORPHAN_SCAN_MS. A kill between a commit and the header
 * update replays that batch again, which is safe because rows are keyed
 * by (user, time, event id): a chunk whose INSERT did not add every row is
 * done again row by row, and only the rows actually added are counted.
 *
 * While the database is down, segments fill up and queue on disk (memory
 * holds only their descriptors), and the backlog is written in chunks of
 * flush_batch when it is back.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nexus.h"

#define ORPHAN_SCAN_MS	10000
#define RETRY_MS	1000
#define LINE_MAX_LEN	512
#define CHUNK_MAX	1024	/* events per transaction, whatever flush_batch */
#define INSERT_SIZES	12	/* multi-row INSERTs of 1, 2, 4 .. 1024 rows, and
				   of flush_batch rows (one INSERT a batch) */
#define SEGMENT_BYTES	(16 * 1024 * 1024)	/* sparse until written */
#define HEADER_TAG	"#spool written="
#define HEADER_LEN	32	/* HEADER_TAG, 16 hex digits, newline */

struct segment {
	int		 fd;		/* -1: none */
	unsigned long	 no;
	char		 path[PATH_MAX];
	char		*map;		/* while being appended to */
	size_t		 off;		/* end of what is appended */
};

struct usage {
	const struct config	*cfg;
	struct counters		*counters;
	pthread_t		 thread;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	int			 stopping;
	char			 tag[48];
	unsigned char		 idprefix[8];
	uint64_t		 seq;
	unsigned long		 segno;
	struct segment		 cur;	/* being appended to */
	long long		 unflushed;	/* events of cur not yet written */
	int64_t			 oldest_ms;	/* when the first of them came */
	struct segment		*queue;	/* full ones, oldest first */
	size_t			 nqueue;
};

/* One row's columns, in the order of the INSERT below. */
#define ROW_PARAMS	8
static const char *const sql_insert_head = "INSERT IGNORE INTO eco_api_usage "
    "(user_id, ts, event_id, key_id, method, endpoint, status, latency_us) "
    "VALUES ";
static const char *const sql_insert_row =
    "(?, FROM_UNIXTIME(? / 1000), ?, ?, ?, ?, ?, ?)";
static char *sql_insert[INSERT_SIZES];	/* built once, same for every worker */
static size_t insert_rows_n[INSERT_SIZES];	/* ascending */
static size_t ninserts;

static const char *const sql_count = "INSERT INTO eco_usage_records "
    "(user_id, period, api_calls, overage_calls, updated_at) "
    "VALUES (?, FROM_UNIXTIME(?), ?, ?, UTC_TIMESTAMP()) "
    "ON DUPLICATE KEY UPDATE api_calls = api_calls + VALUES(api_calls), "
    "overage_calls = IF(? < 0, 0, GREATEST(CAST(api_calls AS SIGNED) - ?, 0)), "
    "revenue_cents = price_cents + overage_calls * overage_micros DIV 10000, "
    "updated_at = UTC_TIMESTAMP()";
static const char *const sql_last_used = "UPDATE eco_api_keys "
    "SET last_used_at = FROM_UNIXTIME(? / 1000) WHERE id = ? "
    "AND (last_used_at IS NULL OR last_used_at < FROM_UNIXTIME(? / 1000))";

/* Builds the INSERTs once per process (usage_start runs once, first). */
static void
sql_build(size_t batch)
{
	struct buf	 b;
	size_t		 i, n, size;

	for (i = 0; i < INSERT_SIZES - 1; i++) {
		size = (size_t)1 << i;
		if (batch < size && batch > size / 2 && batch <= CHUNK_MAX)
			insert_rows_n[ninserts++] = batch;
		insert_rows_n[ninserts++] = size;
	}
	for (i = 0; i < ninserts; i++) {
		buf_init(&b, 1024 * 1024);
		buf_addstr(&b, sql_insert_head);
		for (n = 0; n < insert_rows_n[i]; n++) {
			if (n > 0)
				buf_addstr(&b, ",");
			buf_addstr(&b, sql_insert_row);
		}
		sql_insert[i] = b.data;
	}
}

/* Event line: id user key ts method endpoint status latency count limit. */
static int
event_format(const struct usage_event *ev, char *line, size_t n)
{
	char	 id[EVENT_ID_LEN * 2 + 1];
	int	 len;

	hex_encode(ev->id, EVENT_ID_LEN, id);
	len = snprintf(line, n, "%s\t%s\t%llu\t%lld\t%s\t%s\t%d\t%u\t%d\t%lld\n",
	    id, ev->user_id, ev->key_id, (long long)ev->ts_ms, ev->method,
	    ev->endpoint, ev->status, ev->latency_us, ev->count, ev->limit);
	return len > 0 && (size_t)len < n ? len : -1;
}

static int
hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes exactly 2n lowercase hex digits (as hex_encode writes them). */
static int
unhex(const char *s, unsigned char *out, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		int hi = hexdigit(s[2 * i]), lo = hi < 0 ? -1 : hexdigit(s[2 * i + 1]);

		if (lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return s[2 * n] == '\0' ? 0 : -1;
}

static int
field_copy(char *dst, size_t n, const char *src)
{
	const char	*p;

	if (*src == '\0' || strlen(src) >= n)
		return -1;
	for (p = src; *p != '\0'; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			return -1;
	strlcpy_(dst, src, n);
	return 0;
}

/* Parses one spool line (without its newline). Returns 0 or -1. */
int
usage_event_parse(char *line, struct usage_event *ev)
{
	char		*f[10], *save = NULL, *t;
	long long	 v;
	int		 n = 0;

	for (t = strtok_r(line, "\t", &save); t != NULL && n < 10;
	    t = strtok_r(NULL, "\t", &save))
		f[n++] = t;
	if (n != 10 || t != NULL)
		return -1;
	memset(ev, 0, sizeof(*ev));
	if (unhex(f[0], ev->id, EVENT_ID_LEN) == -1 || !user_id_valid(f[1]) ||
	    field_copy(ev->user_id, sizeof(ev->user_id), f[1]) == -1 ||
	    field_copy(ev->method, sizeof(ev->method), f[4]) == -1 ||
	    field_copy(ev->endpoint, sizeof(ev->endpoint), f[5]) == -1)
		return -1;
	if (parse_int(f[2], 0, LLONG_MAX, &v) == -1)
		return -1;
	ev->key_id = (unsigned long long)v;
	if (parse_int(f[3], 0, LLONG_MAX, &v) == -1)
		return -1;
	ev->ts_ms = v;
	if (parse_int(f[6], 100, 599, &v) == -1)
		return -1;
	ev->status = (int)v;
	if (parse_int(f[7], 0, UINT_MAX, &v) == -1)
		return -1;
	ev->latency_us = (unsigned int)v;
	if (parse_int(f[8], 0, 1, &v) == -1)
		return -1;
	ev->count = (int)v;
	if (parse_int(f[9], -1, LLONG_MAX, &ev->limit) == -1)
		return -1;
	return 0;
}

/* Inserts ev[0..n-1] with as few statements as the prepared sizes allow. */
static int
insert_rows(struct db *db, const struct usage_event *ev, size_t n,
    unsigned long long *added)
{
	struct dbp		*p;
	unsigned long long	 a;
	size_t			 size, i, k;
	int			 s;

	*added = 0;
	p = xcalloc((n < CHUNK_MAX ? n : CHUNK_MAX) * ROW_PARAMS, sizeof(*p));
	while (n > 0) {
		for (s = (int)ninserts - 1; insert_rows_n[s] > n; s--)
			;
		size = insert_rows_n[s];
		for (i = 0; i < size; i++) {
			k = i * ROW_PARAMS;
			p[k] = DBP_S(ev[i].user_id);
			p[k + 1] = DBP_I(ev[i].ts_ms);
			p[k + 2] = DBP_B(ev[i].id, EVENT_ID_LEN);
			p[k + 3] = DBP_I(ev[i].key_id);
			p[k + 4] = DBP_S(ev[i].method);
			p[k + 5] = DBP_S(ev[i].endpoint);
			p[k + 6] = DBP_I(ev[i].status);
			p[k + 7] = DBP_I(ev[i].latency_us);
		}
		if (db_exec(db, sql_insert[s], p, size * ROW_PARAMS, &a) == -1) {
			free(p);
			return -1;
		}
		*added += a;
		ev += size;
		n -= size;
	}
	free(p);
	return 0;
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
		if (calls > 0) {
			long long over = limit < 0 || calls < limit ? 0 :
			    calls - limit;
			struct dbp p[6] = { DBP_S(ev[i].user_id), DBP_I(period),
			    DBP_I(calls), DBP_I(over), DBP_I(limit),
			    DBP_I(limit) };
			if (db_exec(db, sql_count, p, 6, NULL) == -1)
				goto out;
		}
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
 * Writes one chunk in one transaction. Returns 0, or -1 with nothing
 * written. With own set, tells the counters what moved from pending.
 */
static int
write_chunk(struct db *db, struct counters *cs, const struct usage_event *ev,
    size_t n)
{
	unsigned long long	 added, a;
	char			*isnew = xcalloc(n, 1);
	size_t			 i;

	if (db_begin(db) == -1)
		goto fail;
	if (insert_rows(db, ev, n, &added) == -1)
		goto fail;
	if (added == n)
		memset(isnew, 1, n);
	else {
		/* Some were written before (a replay): find out which. */
		db_rollback(db);
		if (db_begin(db) == -1)
			goto fail;
		for (added = 0, i = 0; i < n; i++) {
			if (insert_rows(db, &ev[i], 1, &a) == -1)
				goto fail;
			isnew[i] = a == 1;
			added += a;
		}
		log_info("replay: %zu of %zu events were already written",
		    n - (size_t)added, n);
	}
	if (count_rows(db, ev, isnew, n) == -1 || db_commit(db) == -1)
		goto fail;
	if (cs != NULL)
		for (i = 0; i < n; i++)
			if (ev[i].count)
				counters_written(cs, ev[i].user_id,
				    period_start((time_t)(ev[i].ts_ms / 1000)), 1);
	free(isnew);
	return 0;
fail:
	log_warnx("usage write failed: %s", db_error(db));
	db_rollback(db);
	free(isnew);
	return -1;
}

/*
 * Where the segment open on fd is written up to, from its header. A header
 * that cannot be read (a worker killed while creating the file) means
 * nothing is known to be written: everything is replayed.
 */
static size_t
header_read(int fd)
{
	char		 h[HEADER_LEN + 1];
	long long	 v;

	if (pread(fd, h, HEADER_LEN, 0) != HEADER_LEN ||
	    strncmp(h, HEADER_TAG, sizeof(HEADER_TAG) - 1) != 0 ||
	    h[HEADER_LEN - 1] != '\n')
		return HEADER_LEN;
	h[HEADER_LEN - 1] = '\0';
	v = strtoll(h + sizeof(HEADER_TAG) - 1, NULL, 16);
	return v > HEADER_LEN && v <= SEGMENT_BYTES ? (size_t)v : HEADER_LEN;
}

static void
header_write(int fd, const char *path, size_t written)
{
	char	 h[HEADER_LEN + 1];

	snprintf(h, sizeof(h), HEADER_TAG "%016zx\n", written);
	if (pwrite(fd, h, HEADER_LEN, 0) != HEADER_LEN)
		log_warnx("%s: %s", path, strerror(errno));
}

/*
 * Writes the events of the segment open on fd from its header's offset to
 * end (or to its end of file), in chunks, moving the header on after each
 * commit. With all unset, events short of a full chunk at the end are left
 * for later. Returns the number of events written, or -1 to try again
 * later. Malformed lines (none are written by this code) are logged and
 * skipped.
 */
static long long
segment_write(struct db *db, struct counters *cs, int fd, const char *path,
    size_t end, size_t chunk, int all)
{
	struct usage_event	*ev = xcalloc(chunk, sizeof(*ev));
	char			 buf[65536], line[LINE_MAX_LEN];
	size_t			 nev = 0, ll = 0, off = header_read(fd), eol = off;
	ssize_t			 r, i;
	long long		 written = -1, n = 0;
	int			 toolong = 0;

	while (off < end) {
		size_t want = end - off < sizeof(buf) ? end - off : sizeof(buf);

		if ((r = pread(fd, buf, want, (off_t)off)) == -1) {
			log_warnx("%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		for (i = 0; i < r; i++) {
			if (buf[i] == '\0') {	/* the unwritten, zero tail */
				end = off;
				break;
			}
			if (buf[i] != '\n') {
				if (ll + 1 < sizeof(line))
					line[ll++] = buf[i];
				else
					toolong = 1;
				continue;
			}
			line[ll] = '\0';
			eol = off + (size_t)i + 1;
			if (toolong || usage_event_parse(line, &ev[nev]) == -1)
				log_warnx("%s: skipping a malformed event", path);
			else if (++nev == chunk) {
				if (write_chunk(db, cs, ev, nev) == -1)
					goto out;
				header_write(fd, path, eol);
				n += (long long)nev;
				nev = 0;
			}
			ll = 0;
			toolong = 0;
		}
		off += (size_t)r;
	}
	/* A last line without its newline was cut off mid-write: not an event. */
	if (nev > 0 && all) {
		if (write_chunk(db, cs, ev, nev) == -1)
			goto out;
		header_write(fd, path, eol);
		n += (long long)nev;
	}
	written = n;
out:
	free(ev);
	return written;
}

/* Creates, locks and maps a new segment. Returns 0 or -1 (logged). */
static int
segment_open(struct usage *u, struct segment *s)
{
	void	*map;

	snprintf(s->path, sizeof(s->path), "%s/%s-%06lu.spool",
	    u->cfg->spool_dir, u->tag, ++u->segno);
	s->fd = open(s->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (s->fd == -1) {
		log_warnx("%s: %s", s->path, strerror(errno));
		return -1;
	}
	if (flock(s->fd, LOCK_EX | LOCK_NB) == -1 ||
	    ftruncate(s->fd, SEGMENT_BYTES) == -1 ||
	    (map = mmap(NULL, SEGMENT_BYTES, PROT_READ | PROT_WRITE,
	    MAP_SHARED, s->fd, 0)) == MAP_FAILED) {
		log_warnx("%s: %s", s->path, strerror(errno));
		unlink(s->path);
		close(s->fd);
		s->fd = -1;
		return -1;
	}
	s->no = u->segno;
	s->map = map;
	s->off = HEADER_LEN;
	header_write(s->fd, s->path, HEADER_LEN);
	return 0;
}

/* Done appending: unmap, and cut the file to what was written. */
static void
segment_seal(struct segment *s)
{
	if (s->map == NULL)
		return;
	munmap(s->map, SEGMENT_BYTES);
	s->map = NULL;
	if (ftruncate(s->fd, (off_t)s->off) == -1)
		log_warnx("%s: %s", s->path, strerror(errno));
}

/* Queues the current segment for the flusher. Called with the lock held. */
static void
segment_rotate(struct usage *u)
{
	segment_seal(&u->cur);
	u->queue = xrealloc(u->queue, (u->nqueue + 1) * sizeof(*u->queue));
	u->queue[u->nqueue++] = u->cur;
	u->cur.fd = -1;
	u->unflushed = 0;
	pthread_cond_signal(&u->cv);
}

/*
 * Replays every segment in the spool directory that no live worker holds.
 * Returns the number of segments written, or -1 if one could not be.
 */
int
usage_replay(const struct config *cfg, struct db *db)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	char		 path[PATH_MAX];
	int		 fd, n = 0, rc = 0;

	if ((d = opendir(cfg->spool_dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len < 7 || strcmp(de->d_name + len - 6, ".spool") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", cfg->spool_dir, de->d_name);
		if ((fd = open(path, O_RDWR | O_CLOEXEC)) == -1)
			continue;
		/* Held: its worker is alive. Gone: written meanwhile. */
		if (flock(fd, LOCK_EX | LOCK_NB) == -1 ||
		    fstat(fd, &st) == -1 || st.st_nlink == 0) {
			close(fd);
			continue;
		}
		if (segment_write(db, NULL, fd, path, SIZE_MAX, CHUNK_MAX,
		    1) != -1) {
			log_info("replayed %s", de->d_name);
			unlink(path);
			n++;
		} else
			rc = -1;
		close(fd);
	}
	closedir(d);
	return rc == -1 ? -1 : n;
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
 * holds once it is due; unlinks a segment once it is all written. On
 * SIGTERM the current segment is queued too, so nothing is left behind
 * unless the database is away.
 */
static void *
flusher(void *arg)
{
	struct usage	*u = arg;
	struct db	*db = db_open_tx(u->cfg);
	struct segment	 seg;
	size_t		 batch = (size_t)u->cfg->flush_batch;
	int64_t		 interval = u->cfg->flush_interval_ms, next_scan = 0;
	long long	 written;
	int		 stopping, due, failed = 0;

	for (;;) {
		int64_t now = mono_ms();

		if (now >= next_scan) {
			usage_replay(u->cfg, db);
			next_scan = now + ORPHAN_SCAN_MS;
		}
		pthread_mutex_lock(&u->mu);
		if ((stopping = u->stopping) && u->cur.fd != -1)
			segment_rotate(u);
		if (u->nqueue > 0) {
			seg = u->queue[0];
			pthread_mutex_unlock(&u->mu);
			if (segment_write(db, u->counters, seg.fd, seg.path,
			    SIZE_MAX, batch, 1) == -1)
				goto retry;
			unlink(seg.path);
			close(seg.fd);
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
		if ((written = segment_write(db, u->counters, seg.fd, seg.path,
		    seg.off, batch, due)) == -1)
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
	db_close(db);
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

	if (mkdir(cfg->spool_dir, 0700) == -1 && errno != EEXIST) {
		log_warnx("%s: %s", cfg->spool_dir, strerror(errno));
		return NULL;
	}
	if (ninserts == 0)
		sql_build((size_t)cfg->flush_batch);
	u = xcalloc(1, sizeof(*u));
	u->cfg = cfg;
	u->counters = cs;
	u->cur.fd = -1;
	if (random_bytes(u->idprefix, sizeof(u->idprefix)) == -1 ||
	    random_bytes(r, sizeof(r)) == -1) {
		free(u);
		return NULL;
	}
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
 * A new event id: this worker's 64 random bits and a sequence number,
 * unique across workers and hosts without coordination.
 */
void
usage_new_id(struct usage *u, unsigned char id[EVENT_ID_LEN])
{
	uint64_t	 seq;
	int		 i;

	pthread_mutex_lock(&u->mu);
	seq = ++u->seq;
	pthread_mutex_unlock(&u->mu);
	memcpy(id, u->idprefix, 8);
	for (i = 0; i < 8; i++)
		id[8 + i] = (unsigned char)(seq >> (56 - 8 * i));
}

/*
 * Appends ev (its id from usage_new_id) to the spool. Returns 0, or -1 if
 * it could not be stored (logged: the disk is full or the spool unwritable).
 */
int
usage_record(struct usage *u, const struct usage_event *ev)
{
	char		 line[LINE_MAX_LEN];
	int		 len, rc = -1;

	pthread_mutex_lock(&u->mu);
	if ((len = event_format(ev, line, sizeof(line))) == -1)
		goto out;
	if (u->cur.fd != -1 && u->cur.off + (size_t)len > SEGMENT_BYTES)
		segment_rotate(u);	/* full: on to the next one */
	if (u->cur.fd == -1 && segment_open(u, &u->cur) == -1)
		goto out;
	/* A kill mid-copy leaves a line without its newline: not an event. */
	memcpy(u->cur.map + u->cur.off, line, (size_t)len);
	u->cur.off += (size_t)len;
	if (u->unflushed++ == 0)
		u->oldest_ms = mono_ms();
	if (u->unflushed == u->cfg->flush_batch)
		pthread_cond_signal(&u->cv);
	rc = 0;
out:
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
	if (u->cur.fd != -1) {
		segment_seal(&u->cur);
		close(u->cur.fd);
	}
	while (u->nqueue > 0)
		close(u->queue[--u->nqueue].fd);
	free(u->queue);
	pthread_mutex_destroy(&u->mu);
	pthread_cond_destroy(&u->cv);
	free(u);
}
