/*
 * The per-worker API key cache: a fixed table of KEY_HASH -> lookup result,
 * two-way set associative, each entry trusted for key_cache_ttl seconds.
 * Unknown keys are cached too, and lookups of keys the cache has never
 * seen are limited to key_lookup_rate a second (a token bucket), so a
 * flood of random keys costs neither memory nor database round trips.
 *
 * Staleness: a revoked key keeps working for at most key_cache_ttl
 * seconds on a worker that has it cached. While the database is down, a
 * key already cached keeps working; one never seen gets 503.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "nexus.h"

struct kc_entry {
	unsigned char	 hash[KEY_HASH_LEN];
	int64_t		 at_ms;		/* 0: empty */
	int		 found;
	struct apikey	 key;
};

struct keycache {
	struct kc_entry	*e;
	size_t		 sets;
	int64_t		 ttl_ms;
	double		 tokens, rate;
	int64_t		 refill_ms;
};

struct keycache *
keycache_new(size_t size, long long ttl, long long rate)
{
	struct keycache	*kc = xcalloc(1, sizeof(*kc));

	kc->sets = size / 2 > 0 ? size / 2 : 1;
	kc->e = xcalloc(kc->sets * 2, sizeof(*kc->e));
	kc->ttl_ms = ttl * 1000;
	kc->rate = kc->tokens = (double)rate;
	return kc;
}

void
keycache_free(struct keycache *kc)
{
	if (kc == NULL)
		return;
	free(kc->e);
	free(kc);
}

/* Takes one lookup from the bucket; returns 0 when it was empty. */
static int
keycache_budget(struct keycache *kc, int64_t now_ms)
{
	kc->tokens += (double)(now_ms - kc->refill_ms) * kc->rate / 1000.0;
	if (kc->tokens > kc->rate)
		kc->tokens = kc->rate;
	kc->refill_ms = now_ms;
	if (kc->tokens < 1.0)
		return 0;
	kc->tokens -= 1.0;
	return 1;
}

/*
 * Authenticates key as of now_ms. Returns KEY_OK with *k filled,
 * KEY_INVALID for a malformed, unknown, revoked or expired key, or
 * KEY_UNAVAILABLE when the database could not be asked.
 */
int
keycache_get(struct keycache *kc, struct db *db, const char *key,
    int64_t now_ms, struct apikey *k)
{
	unsigned char	 hash[KEY_HASH_LEN];
	struct kc_entry	*set, *e = NULL, *victim;
	uint64_t	 h;
	int		 rc;

	if (!key_format_valid(key))
		return KEY_INVALID;
	key_hash(key, hash);
	memcpy(&h, hash, sizeof(h));
	set = &kc->e[(h % kc->sets) * 2];
	if (set[0].at_ms != 0 && memcmp(set[0].hash, hash, KEY_HASH_LEN) == 0)
		e = &set[0];
	else if (set[1].at_ms != 0 &&
	    memcmp(set[1].hash, hash, KEY_HASH_LEN) == 0)
		e = &set[1];

	if (e == NULL || now_ms - e->at_ms >= kc->ttl_ms) {
		/* Keys never seen (or known bad) spend the lookup budget. */
		if ((e == NULL || !e->found) && !keycache_budget(kc, now_ms))
			return e != NULL ? KEY_INVALID : KEY_UNAVAILABLE;
		rc = key_lookup(db, hash, k);
		if (rc == -1) {
			if (e != NULL && e->found)
				goto check;	/* serve the stale entry */
			return KEY_UNAVAILABLE;
		}
		victim = e;
		if (victim == NULL)
			victim = set[0].at_ms <= set[1].at_ms ? &set[0] : &set[1];
		memcpy(victim->hash, hash, KEY_HASH_LEN);
		victim->at_ms = now_ms;
		victim->found = rc == 1;
		if (rc == 1)
			victim->key = *k;
		e = victim;
	}
check:
	if (!e->found || e->key.revoked ||
	    (e->key.expires != 0 && e->key.expires * 1000 <= now_ms))
		return KEY_INVALID;
	*k = e->key;
	return KEY_OK;
}
