/*
 * The host's shared region: one named mapping in runtime_dir that every
 * worker of the host opens, whoever started it (our supervisor, which
 * maps it before forking, or a web server spawning workers itself, as
 * mod_fcgid does), and that outlives any one worker. Fixed size, no
 * pointers, atomics only: a process killed at any instruction leaves it
 * usable.
 *
 * It holds what the workers of a host must agree on at once:
 *  - the key changes: a ring of the last SHM_KEY_CHANGES keys revoked or
 *    rotated on this host (8 bytes of each key's hash), numbered; a worker
 *    that sees the number move drops those keys from its cache, and all
 *    of them after a change of every key (a plan's) or when it fell
 *    more than the ring behind;
 *  - refusal marks: "user U was refused at limit L in period P", so that
 *    a hard-limited user past the limit is refused without a database
 *    round trip until the period ends or the terms change;
 *  - token buckets (admin rate limits), shared by every worker;
 *  - metrics: counters, per-route statuses and latency histograms, and a
 *    slot of gauges per live worker.
 *
 * Marks and buckets are direct-mapped tables: a collision evicts, which
 * costs a database round trip (a mark) or a fresh burst (a bucket), never
 * a wrong answer. A mark is written under a per-slot sequence number
 * (odd while a writer is in it); a reader that sees it move, or odd,
 * treats the slot as empty. A writer that dies mid-write leaves its slot
 * odd, that is empty for good: one slot of SHM_MARKS.
 *
 * The file name carries the layout version, so that after an upgrade old
 * and new workers never read each other's layout.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nexus.h"

#define SHM_MAGIC	"nexus-shm"
#define SHM_VERSION	2
#define SHM_FILE	"nexus-v2.shm"

struct shm_mark {
	_Atomic uint32_t	 seq;
	uint32_t		 pad;
	_Atomic uint64_t	 user;		/* hash of the user id; 0: empty */
	_Atomic int64_t		 period;
	_Atomic int64_t		 limit;
};

/* tokens in thousandths and the time of the last refill, in one word */
struct shm_bucket {
	_Atomic uint64_t	 name;		/* hash of the name; 0: empty */
	_Atomic uint64_t	 state;		/* tokens << 32 | ms mod 2^32 */
};

struct shm_route {
	_Atomic uint64_t	 status[SHM_STATUS_CLASSES];
	_Atomic uint64_t	 latency[SHM_LATENCY_BUCKETS + 1];
	_Atomic uint64_t	 latency_sum_us;
};

struct shm_worker {
	_Atomic int32_t		 pid;		/* 0: free */
	uint32_t		 pad;
	_Atomic int64_t		 gauge[SHM_GAUGES];
};

/* A key change: its number + 1 (0: never written) and the key, 0: all. */
struct shm_key_change {
	_Atomic uint64_t	 seq;
	_Atomic uint64_t	 key;
};

struct shm_region {
	char			 magic[16];
	uint32_t		 version;
	uint32_t		 size;
	_Atomic uint64_t	 keys_gen;	/* key changes so far */
	struct shm_key_change	 key_change[SHM_KEY_CHANGES];
	_Atomic uint64_t	 counter[SHM_COUNTERS];
	struct shm_route	 route[SHM_ROUTES];
	struct shm_worker	 worker[SHM_WORKERS];
	struct shm_mark		 mark[SHM_MARKS];
	struct shm_bucket	 bucket[SHM_BUCKETS];
};

struct shm {
	struct shm_region	*r;
	int			 named;		/* 0: private, this process only */
	struct shm_worker	*me;
};

/* Upper bounds of the latency buckets, in microseconds (the last: +Inf). */
const unsigned int shm_latency_le[SHM_LATENCY_BUCKETS] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 5000000
};

/* Alive, or alive as another user's (kill(2) may not signal it). */
static int
pid_alive(int32_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

static uint64_t
name_hash(const char *s)
{
	uint64_t	 h = fnv1a(s, strlen(s));

	return h != 0 ? h : 1;
}

/*
 * Opens the mapping in dir (creating it if need be, with create), or a
 * private one if dir is NULL. Returns NULL when the file cannot be used:
 * it is not ours, not a regular file, or a link (logged); or, without
 * create, when there is none of this layout (not logged when missing).
 */
static struct shm *
shm_map(const char *dir, int create)
{
	struct shm	*s;
	struct stat	 st;
	char		 path[PATH_MAX];
	void		*map;
	int		 fd = -1, flags = MAP_SHARED;

	if (dir != NULL) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, SHM_FILE) >=
		    (int)sizeof(path)) {
			log_warnx("runtime_dir too long");
			return NULL;
		}
		fd = open(path, O_RDWR | (create ? O_CREAT : 0) | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd == -1) {
			if (create || errno != ENOENT)
				log_warnx("%s: %s", path, strerror(errno));
			return NULL;
		}
		/* One process sizes and stamps it; the others wait for that. */
		if (flock(fd, LOCK_EX) == -1 || fstat(fd, &st) == -1)
			goto fail;
		if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
			log_warnx("%s: not a regular file of this user", path);
			goto fail;
		}
		if (!create && st.st_size != (off_t)sizeof(struct shm_region)) {
			log_warnx("%s: not of this layout", path);
			goto fail;
		}
		if (st.st_size != (off_t)sizeof(struct shm_region) &&
		    (ftruncate(fd, 0) == -1 ||
		    ftruncate(fd, (off_t)sizeof(struct shm_region)) == -1))
			goto fail;
	} else
		flags = MAP_SHARED | MAP_ANONYMOUS;
	map = mmap(NULL, sizeof(struct shm_region), PROT_READ | PROT_WRITE,
	    flags, fd, 0);
	if (map == MAP_FAILED)
		goto fail;
	s = xcalloc(1, sizeof(*s));
	s->r = map;
	s->named = dir != NULL;
	if (!create && memcmp(s->r->magic, SHM_MAGIC, sizeof(SHM_MAGIC)) != 0) {
		munmap(map, sizeof(struct shm_region));
		free(s);
		log_warnx("%s: not of this layout", path);
		goto fail;
	}
	if (memcmp(s->r->magic, SHM_MAGIC, sizeof(SHM_MAGIC)) != 0) {
		memset(s->r, 0, sizeof(*s->r));
		memcpy(s->r->magic, SHM_MAGIC, sizeof(SHM_MAGIC));
		s->r->version = SHM_VERSION;
		s->r->size = (uint32_t)sizeof(*s->r);
	}
	if (fd != -1) {
		/* The mapping holds the file open: unlock, or the lock stays. */
		flock(fd, LOCK_UN);
		close(fd);
	}
	return s;
fail:
	if (dir != NULL)
		log_warnx("%s: %s", path, strerror(errno));
	if (fd != -1)
		close(fd);
	return NULL;
}

/* The host's mapping in dir, made if missing; a private one if NULL. */
struct shm *
shm_open_host(const char *dir)
{
	return shm_map(dir, 1);
}

/*
 * The host's mapping in dir if its workers made one (nexusctl: to tell
 * them of a revoked key), else NULL.
 */
struct shm *
shm_open_existing(const char *dir)
{
	return dir != NULL ? shm_map(dir, 0) : NULL;
}

void
shm_close(struct shm *s)
{
	if (s == NULL)
		return;
	shm_worker_leave(s);
	munmap(s->r, sizeof(*s->r));
	free(s);
}

/* Whether the region is shared by name (1) or private to a process (0). */
int
shm_named(const struct shm *s)
{
	return s->named;
}

/* How many key changes the host has seen. */
uint64_t
shm_keys_generation(const struct shm *s)
{
	return atomic_load(&s->r->keys_gen);
}

/*
 * Tells every worker of the host that the key whose SHA-256 is hash (NULL:
 * every key) changed: they look it up again at its next use. Call it once
 * the change is committed.
 */
void
shm_keys_changed(struct shm *s, const unsigned char *hash)
{
	uint64_t		 n, key = 0;
	struct shm_key_change	*c;

	if (hash != NULL)
		memcpy(&key, hash, sizeof(key));
	n = atomic_fetch_add(&s->r->keys_gen, 1);
	c = &s->r->key_change[n % SHM_KEY_CHANGES];
	atomic_store(&c->seq, 0);
	atomic_store(&c->key, key);
	atomic_store(&c->seq, n + 1);
}

/* Every worker of the host drops its cached keys at its next request. */
void
shm_keys_bump(struct shm *s)
{
	shm_keys_changed(s, NULL);
}

/*
 * Calls cb(arg, key) for each key changed since change *pos (key: the
 * first 8 bytes of its hash, as memcpy reads them) and moves *pos on.
 * Returns 0, or -1 when the caller must drop every key: a change was of
 * all of them, or the caller fell too far behind to know which, or met a
 * change being written (a writer killed there would stop it for good).
 */
int
shm_keys_since(const struct shm *s, uint64_t *pos,
    void (*cb)(void *, uint64_t), void *arg)
{
	uint64_t		 head = atomic_load(&s->r->keys_gen), seq, key;
	const struct shm_key_change *c;

	if (head - *pos > SHM_KEY_CHANGES / 2)
		goto all;
	for (; *pos < head; (*pos)++) {
		c = &s->r->key_change[*pos % SHM_KEY_CHANGES];
		seq = atomic_load(&c->seq);
		key = atomic_load(&c->key);
		if (seq != *pos + 1 || atomic_load(&c->seq) != seq || key == 0)
			goto all;
		cb(arg, key);
	}
	return 0;
all:
	*pos = head;
	return -1;
}

static struct shm_mark *
mark_slot(struct shm *s, uint64_t h)
{
	return &s->r->mark[h % SHM_MARKS];
}

/*
 * Marks user as refused in period at limit (the plan's or the cap's, as
 * the caller admits against it). Best effort: a slot another writer is in
 * is left alone.
 */
void
shm_mark_refused(struct shm *s, const char *user, time_t period,
    long long limit)
{
	uint64_t		 h = name_hash(user);
	struct shm_mark		*m = mark_slot(s, h);
	uint32_t		 seq = atomic_load(&m->seq);

	if ((seq & 1) != 0 || !atomic_compare_exchange_strong(&m->seq, &seq,
	    seq + 1))
		return;
	atomic_store_explicit(&m->user, h, memory_order_relaxed);
	atomic_store_explicit(&m->period, (int64_t)period,
	    memory_order_relaxed);
	atomic_store_explicit(&m->limit, (int64_t)limit, memory_order_relaxed);
	atomic_store_explicit(&m->seq, seq + 2, memory_order_release);
}

/* Returns 1 when user is marked refused in period at this same limit. */
int
shm_is_refused(struct shm *s, const char *user, time_t period,
    long long limit)
{
	uint64_t		 h = name_hash(user), u;
	struct shm_mark		*m = mark_slot(s, h);
	uint32_t		 seq;
	int64_t			 p, l;

	seq = atomic_load_explicit(&m->seq, memory_order_acquire);
	if ((seq & 1) != 0)
		return 0;
	u = atomic_load_explicit(&m->user, memory_order_relaxed);
	p = atomic_load_explicit(&m->period, memory_order_relaxed);
	l = atomic_load_explicit(&m->limit, memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&m->seq, memory_order_relaxed) != seq)
		return 0;
	return u == h && p == (int64_t)period && l == (int64_t)limit;
}

/* Forgets user's mark (its terms changed on this host). */
void
shm_mark_clear(struct shm *s, const char *user)
{
	uint64_t		 h = name_hash(user);
	struct shm_mark		*m = mark_slot(s, h);
	uint32_t		 seq = atomic_load(&m->seq);

	if ((seq & 1) != 0 || atomic_load(&m->user) != h ||
	    !atomic_compare_exchange_strong(&m->seq, &seq, seq + 1))
		return;
	atomic_store_explicit(&m->user, 0, memory_order_relaxed);
	atomic_store_explicit(&m->seq, seq + 2, memory_order_release);
}

/*
 * Takes one token from name's bucket (rate tokens a second, up to burst),
 * shared by every worker of the host. Returns 1 when taken; 0 when empty,
 * with *retry_ms (if not NULL) the wait for the next token.
 */
int
shm_bucket_take(struct shm *s, const char *name, long long rate,
    long long burst, int64_t now_ms, int64_t *retry_ms)
{
	uint64_t		 h = name_hash(name), cur, next, held;
	struct shm_bucket	*b = &s->r->bucket[h % SHM_BUCKETS];
	uint32_t		 now = (uint32_t)now_ms, then;
	int64_t			 tokens, full = burst * 1000;

	if (rate <= 0 || burst <= 0)
		return 1;
	if (full > 4000000000LL)
		full = 4000000000LL;	/* thousandths must fit 32 bits */
	held = atomic_load(&b->name);
	if (held != h) {
		/* Empty or another's: take it over, full. */
		atomic_store(&b->state, (uint64_t)full << 32 | now);
		atomic_store(&b->name, h);
	}
	cur = atomic_load(&b->state);
	do {
		then = (uint32_t)cur;
		tokens = (int64_t)(cur >> 32);
		/* Unsigned difference: right across the 49-day wrap. */
		tokens += (int64_t)(uint32_t)(now - then) * rate;
		if (tokens > full || (uint32_t)(now - then) > 86400000U)
			tokens = full;
		if (tokens < 1000) {
			if (retry_ms != NULL)
				*retry_ms = (1000 - tokens + rate - 1) / rate;
			return 0;
		}
		next = (uint64_t)(tokens - 1000) << 32 | now;
	} while (!atomic_compare_exchange_weak(&b->state, &cur, next));
	return 1;
}

void
shm_count(struct shm *s, unsigned int counter, uint64_t n)
{
	if (counter < SHM_COUNTERS)
		atomic_fetch_add_explicit(&s->r->counter[counter], n,
		    memory_order_relaxed);
}

uint64_t
shm_counter(const struct shm *s, unsigned int counter)
{
	return counter < SHM_COUNTERS ? atomic_load_explicit(
	    &s->r->counter[counter], memory_order_relaxed) : 0;
}

/* Counts one answered request of route (its index in the route table). */
void
shm_route_observe(struct shm *s, unsigned int route, int status,
    unsigned int latency_us)
{
	struct shm_route	*rt;
	unsigned int		 b, cls = (unsigned int)status / 100;

	if (route >= SHM_ROUTES)
		return;
	rt = &s->r->route[route];
	if (cls < 1 || cls > 5)
		cls = 0;		/* anything else */
	atomic_fetch_add_explicit(&rt->status[cls], 1, memory_order_relaxed);
	for (b = 0; b < SHM_LATENCY_BUCKETS &&
	    latency_us > shm_latency_le[b]; b++)
		;
	atomic_fetch_add_explicit(&rt->latency[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&rt->latency_sum_us, latency_us,
	    memory_order_relaxed);
}

/* A route's figures, read one by one (a scrape may see a request half). */
void
shm_route_read(const struct shm *s, unsigned int route,
    struct shm_route_stats *out)
{
	const struct shm_route	*rt;
	unsigned int		 i;

	memset(out, 0, sizeof(*out));
	if (route >= SHM_ROUTES)
		return;
	rt = &s->r->route[route];
	for (i = 0; i < SHM_STATUS_CLASSES; i++)
		out->status[i] = atomic_load_explicit(&rt->status[i],
		    memory_order_relaxed);
	for (i = 0; i <= SHM_LATENCY_BUCKETS; i++)
		out->latency[i] = atomic_load_explicit(&rt->latency[i],
		    memory_order_relaxed);
	out->latency_sum_us = atomic_load_explicit(&rt->latency_sum_us,
	    memory_order_relaxed);
}

/*
 * Takes a gauge slot for this process (a worker), freeing slots whose
 * process is gone. Returns 0, or -1 when every slot is held.
 */
int
shm_worker_join(struct shm *s)
{
	int32_t		 pid = (int32_t)getpid(), held;
	size_t		 i, g;

	for (i = 0; i < SHM_WORKERS; i++) {
		struct shm_worker *w = &s->r->worker[i];

		held = atomic_load(&w->pid);
		if (held != 0 && held != pid && pid_alive(held))
			continue;
		if (held != 0 && !atomic_compare_exchange_strong(&w->pid,
		    &held, 0))
			continue;
		held = 0;
		if (!atomic_compare_exchange_strong(&w->pid, &held, pid))
			continue;
		for (g = 0; g < SHM_GAUGES; g++)
			atomic_store(&w->gauge[g], 0);
		s->me = w;
		return 0;
	}
	return -1;
}

void
shm_worker_leave(struct shm *s)
{
	int32_t		 pid = (int32_t)getpid();

	if (s->me != NULL)
		atomic_compare_exchange_strong(&s->me->pid, &pid, 0);
	s->me = NULL;
}

/* Sets one of this worker's gauges (no slot: nothing). */
void
shm_gauge_set(struct shm *s, unsigned int gauge, int64_t v)
{
	if (s->me != NULL && gauge < SHM_GAUGES)
		atomic_store_explicit(&s->me->gauge[gauge], v,
		    memory_order_relaxed);
}

/*
 * Calls cb with each live worker's pid and gauges. A slot whose process
 * has gone is skipped (and freed by the next shm_worker_join).
 */
void
shm_workers_each(const struct shm *s,
    void (*cb)(void *, int, const int64_t *), void *arg)
{
	int64_t		 g[SHM_GAUGES];
	int32_t		 pid;
	size_t		 i, j;

	for (i = 0; i < SHM_WORKERS; i++) {
		const struct shm_worker *w = &s->r->worker[i];

		if ((pid = atomic_load(&w->pid)) == 0 || !pid_alive(pid))
			continue;
		for (j = 0; j < SHM_GAUGES; j++)
			g[j] = atomic_load_explicit(&w->gauge[j],
			    memory_order_relaxed);
		cb(arg, pid, g);
	}
}
