/*
 * The per-worker API key cache: a fixed table of KEY_HASH -> lookup
 * result, two-way set associative, each entry trusted for key_cache_ttl
 * seconds of the monotonic clock (a wall clock stepped back neither keeps
 * an entry longer nor refuses keys; a key's expiry date is a wall-clock
 * date and is checked as one).
 *
 * What reaches the cache and the database is only what this server made:
 * a key whose MAC holds under key_secret (keyfmt.c), or one of the keys
 * made before MACs, whose hashes (8 bytes of each) every worker loads at
 * start and reads again now and then. Any other key is refused for the
 * price of an HMAC and a binary search: a flood of made-up keys, well
 * formed or not, costs no statement and evicts nothing. Only while that
 * check is impossible (no key_secret, or the old keys not loaded yet) are
 * the lookups of keys never seen limited to key_lookup_rate a second, as
 * a last defence; a key the check let through never waits for that budget.
 *
 * Revocation: a key revoked or rotated on this host is named in the
 * host's list of key changes (shm.c); a worker that sees the list grow
 * drops those keys (all of its keys after a change of every key, or if it
 * cannot tell which), so that revoking costs no worker more than one
 * lookup. Elsewhere a revoked key keeps working for at most key_cache_ttl.
 *
 * Database outage: after a lookup failed twice (the second on a new
 * connection) the database is left alone for KEYCACHE_RETRY_MS at a time;
 * meanwhile a key that was found before keeps working from its stale
 * entry, and a key never seen gets 503.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "nexus.h"

#define KEYCACHE_RETRY_MS	1000	/* after a failed lookup */
#define KEYSET_POLL_MS		30000	/* old keys added since: id > last */
#define KEYSET_RELOAD_MS	600000	/* all of them again */
#define KEYSET_RETRY_MS		5000	/* until they are first loaded */

struct kc_entry {
	unsigned char	 hash[KEY_HASH_LEN];
	int64_t		 at_ms;		/* monotonic: when looked up */
	int		 used;
	int		 found;
	struct apikey	 key;
};

/* Hashes of the live keys made before MACs: first 8 bytes, sorted. */
struct keyset {
	uint64_t	*h;
	size_t		 n, cap;
	unsigned long long last_id;
	int		 loaded;
	int64_t		 poll_ms, reload_ms;	/* when to read next */
};

struct keycache {
	struct kc_entry	*e;
	size_t		 sets;
	int64_t		 ttl_ms;
	double		 tokens, rate;
	int64_t		 refill_ms;
	int64_t		 retry_ms;	/* failing: no lookup before; else 0 */
	struct shm	*shm;		/* NULL: no host changes to follow */
	uint64_t	 changes;	/* the host's key changes seen */
	char		*secret;	/* NULL: MACs cannot be checked */
	struct keyset	 old;
};

static uint64_t
hash_word(const unsigned char *hash)
{
	uint64_t	 h;

	memcpy(&h, hash, sizeof(h));
	return h;
}

static int
word_cmp(const void *a, const void *b)
{
	uint64_t	 x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
keyset_add(void *arg, const unsigned char *hash, unsigned long long id)
{
	struct keyset	*s = arg;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->h = xrealloc(s->h, s->cap * sizeof(*s->h));
	}
	s->h[s->n++] = hash_word(hash);
	if (id > s->last_id)
		s->last_id = id;
}

/* Sorts and drops duplicates (a key read by both a poll and a reload). */
static void
keyset_sort(struct keyset *s)
{
	size_t	 i, o = 0;

	qsort(s->h, s->n, sizeof(*s->h), word_cmp);
	for (i = 0; i < s->n; i++)
		if (o == 0 || s->h[i] != s->h[o - 1])
			s->h[o++] = s->h[i];
	s->n = o;
}

/*
 * Reads the old keys when due: all of them at first and every
 * KEYSET_RELOAD_MS (which forgets revoked ones and catches rows committed
 * out of id order), those added since every KEYSET_POLL_MS. A failed read
 * keeps what was loaded. Returns 0, or -1 when the database failed.
 */
static int
keyset_refresh(struct keyset *s, struct db *db, int64_t now_ms)
{
	struct keyset	 t;
	size_t		 n = s->n;

	if (s->loaded && now_ms < s->reload_ms) {
		if (now_ms < s->poll_ms)
			return 0;
		s->poll_ms = now_ms + KEYSET_POLL_MS;
		if (key_legacy(db, s->last_id, keyset_add, s) == -1) {
			s->n = n;
			return -1;
		}
		if (s->n > n)
			keyset_sort(s);
		return 0;
	}
	if (!s->loaded && now_ms < s->poll_ms)
		return 0;
	memset(&t, 0, sizeof(t));
	if (key_legacy(db, 0, keyset_add, &t) == -1) {
		free(t.h);
		log_warnx("keys made before MACs: not loaded: %s", db_error(db));
		s->poll_ms = now_ms + (s->loaded ? KEYSET_POLL_MS :
		    KEYSET_RETRY_MS);
		return -1;
	}
	keyset_sort(&t);
	free(s->h);
	*s = t;
	s->loaded = 1;
	s->poll_ms = now_ms + KEYSET_POLL_MS;
	s->reload_ms = now_ms + KEYSET_RELOAD_MS;
	return 0;
}

static int
keyset_has(const struct keyset *s, const unsigned char *hash)
{
	uint64_t	 h = hash_word(hash);

	return bsearch(&h, s->h, s->n, sizeof(*s->h), word_cmp) != NULL;
}

/*
 * A cache for a worker: cfg gives its size, TTL, lookup budget and
 * key_secret; db loads the old keys now; shm (or NULL) carries the
 * host's key generation. Without a usable key_secret it says why and
 * looks every well-formed key up, under the budget.
 */
struct keycache *
keycache_new(const struct config *cfg, struct db *db, struct shm *shm)
{
	struct keycache	*kc = xcalloc(1, sizeof(*kc));
	const char	*why;

	kc->sets = (size_t)cfg->key_cache_size / 2 > 0 ?
	    (size_t)cfg->key_cache_size / 2 : 1;
	kc->e = xcalloc(kc->sets * 2, sizeof(*kc->e));
	kc->ttl_ms = cfg->key_cache_ttl * 1000;
	kc->rate = kc->tokens = (double)cfg->key_lookup_rate;
	kc->refill_ms = mono_ms();
	kc->shm = shm;
	kc->changes = shm != NULL ? shm_keys_generation(shm) : 0;
	if ((why = key_secret_problem(cfg->key_secret)) != NULL) {
		log_warnx("%s: no API key can be checked without the database, "
		    "so a flood of made-up keys is only slowed to "
		    "key_lookup_rate lookups a second; and no key can be made",
		    why);
		return kc;
	}
	kc->secret = xstrdup(cfg->key_secret);
	keyset_refresh(&kc->old, db, kc->refill_ms);
	if (kc->old.loaded)
		log_info("%zu live keys made before MACs known", kc->old.n);
	return kc;
}

void
keycache_free(struct keycache *kc)
{
	if (kc == NULL)
		return;
	if (kc->secret != NULL) {
		explicit_bzero(kc->secret, strlen(kc->secret));
		free(kc->secret);
	}
	free(kc->old.h);
	free(kc->e);
	free(kc);
}

/* Takes one lookup from the bucket; returns 0 when it was empty. */
static int
keycache_budget(struct keycache *kc, int64_t now_ms)
{
	if (now_ms > kc->refill_ms) {
		kc->tokens += (double)(now_ms - kc->refill_ms) * kc->rate /
		    1000.0;
		kc->refill_ms = now_ms;
	}
	if (kc->tokens > kc->rate)
		kc->tokens = kc->rate;
	if (kc->tokens < 1.0)
		return 0;
	kc->tokens -= 1.0;
	return 1;
}

/*
 * Where a lookup's result goes: its own stale entry, else an empty way,
 * else a way holding an unknown key, else (a found key only) the older.
 * A key not found never evicts one found. Returns NULL: not cached.
 */
static struct kc_entry *
keycache_slot(struct kc_entry *set, int found)
{
	int	 i;

	for (i = 0; i < 2; i++)
		if (!set[i].used)
			return &set[i];
	for (i = 0; i < 2; i++)
		if (!set[i].found)
			return &set[i];
	if (!found)
		return NULL;
	return set[0].at_ms <= set[1].at_ms ? &set[0] : &set[1];
}

/* Drops the key whose hash starts with the 8 bytes of word (shm.c). */
static void
keycache_forget(void *arg, uint64_t word)
{
	struct keycache	*kc = arg;
	struct kc_entry	*set = &kc->e[(word % kc->sets) * 2];
	int		 i;

	for (i = 0; i < 2; i++)
		if (set[i].used && hash_word(set[i].hash) == word)
			set[i].used = 0;
}

/*
 * Authenticates key at now_ms (monotonic) and now (wall clock). Returns
 * KEY_OK with *k filled, KEY_INVALID for a malformed, unknown, revoked or
 * expired key, or KEY_UNAVAILABLE when the database could not be asked.
 */
int
keycache_get(struct keycache *kc, struct db *db, const char *key,
    int64_t now_ms, time_t now, struct apikey *k)
{
	unsigned char	 hash[KEY_HASH_LEN];
	struct kc_entry	*set, *e = NULL;
	struct apikey	 got;
	int		 ours = 0, rc, i;

	if (!key_format_valid(key))
		return KEY_INVALID;
	key_hash(key, hash);
	if (kc->secret != NULL) {
		if (now_ms >= kc->retry_ms)
			keyset_refresh(&kc->old, db, now_ms);
		if (key_mac_valid(kc->secret, key))
			ours = 1;
		else if (kc->old.loaded) {
			if (!keyset_has(&kc->old, hash))
				return KEY_INVALID;	/* made up: free */
			ours = 1;
		}
	}
	if (kc->shm != NULL && shm_keys_generation(kc->shm) != kc->changes &&
	    shm_keys_since(kc->shm, &kc->changes, keycache_forget, kc) == -1)
		for (i = 0; i < (int)(kc->sets * 2); i++)
			kc->e[i].used = 0;

	set = &kc->e[(hash_word(hash) % kc->sets) * 2];
	for (i = 0; i < 2; i++)
		if (set[i].used && memcmp(set[i].hash, hash, KEY_HASH_LEN) == 0)
			e = &set[i];
	if (e != NULL && now_ms - e->at_ms < kc->ttl_ms)
		goto check;
	if (now_ms < kc->retry_ms) {
		if (e != NULL)
			goto check;	/* stale, while the database is away */
		return KEY_UNAVAILABLE;
	}
	if (!ours && (e == NULL || !e->found) && !keycache_budget(kc, now_ms))
		return e != NULL ? KEY_INVALID : KEY_UNAVAILABLE;
	/*
	 * A connection lost since the last lookup (a restarted server) is
	 * worth one more try on a new one: a lookup only reads.
	 */
	if ((rc = key_lookup(db, hash, &got)) == -1 && kc->retry_ms == 0)
		rc = key_lookup(db, hash, &got);
	if (rc == -1) {
		kc->retry_ms = now_ms + KEYCACHE_RETRY_MS;
		if (e != NULL && e->found)
			goto check;	/* serve the stale entry */
		return KEY_UNAVAILABLE;
	}
	kc->retry_ms = 0;
	if (e == NULL && (e = keycache_slot(set, rc == 1)) == NULL)
		return KEY_INVALID;	/* unknown, and not worth a slot */
	memcpy(e->hash, hash, KEY_HASH_LEN);
	e->used = 1;
	e->at_ms = now_ms;
	e->found = rc == 1;
	if (rc == 1)
		e->key = got;
check:
	if (!e->found || e->key.revoked ||
	    (e->key.expires != 0 && e->key.expires <= now))
		return KEY_INVALID;
	*k = e->key;
	return KEY_OK;
}
