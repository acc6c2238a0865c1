/*
 * Quotas per calendar month (UTC).
 *
 * Hard limits (Free) are decided in the database by one conditional
 * increment (period_admit), so that any number of workers admit exactly
 * the limit. So is a soft limit under a spend cap: its limit is the
 * allowance and the overage calls the cap pays for (price_calls), and
 * the same increment counts the overage. Soft limits without a cap (Pro)
 * and unlimited plans never refuse: their
 * calls are counted by the batched usage writer, and the figures in their
 * headers come from a per-worker table of counters: the period's count as
 * last read from the database (at most usage_refresh_ms old) plus this
 * worker's calls not yet written. Other workers' unwritten calls are not
 * in it, so a soft-limit figure may lag by at most one flush interval of
 * their calls.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "nexus.h"

struct counter {
	char		 user[USER_ID_MAX + 1];
	time_t		 period;
	long long	 db_count;	/* as last read or written */
	long long	 pending;	/* admitted here, not yet written */
	int64_t		 read_ms;
};

struct counters {
	pthread_mutex_t	 mu;
	struct counter	*c;
	size_t		 n;
	int64_t		 refresh_ms;
};

struct counters *
counters_new(size_t n, long long refresh_ms)
{
	struct counters	*cs = xcalloc(1, sizeof(*cs));

	pthread_mutex_init(&cs->mu, NULL);
	cs->n = n > 0 ? n : 1;
	cs->c = xcalloc(cs->n, sizeof(*cs->c));
	cs->refresh_ms = refresh_ms;
	return cs;
}

void
counters_free(struct counters *cs)
{
	if (cs == NULL)
		return;
	pthread_mutex_destroy(&cs->mu);
	free(cs->c);
	free(cs);
}

/* The slot of a user's counter. Called with the lock held. */
static struct counter *
counter_slot(struct counters *cs, const char *user, time_t period)
{
	struct counter	*c = &cs->c[fnv1a(user, strlen(user)) % cs->n];

	if (strcmp(c->user, user) != 0 || c->period != period) {
		memset(c, 0, sizeof(*c));
		strlcpy_(c->user, user, sizeof(c->user));
		c->period = period;
	}
	return c;
}

/*
 * The usage writer committed n calls of user in period made on this
 * worker: they move from pending to the database's count.
 */
void
counters_written(struct counters *cs, const char *user, time_t period,
    long long n)
{
	struct counter	*c;

	pthread_mutex_lock(&cs->mu);
	c = counter_slot(cs, user, period);
	c->pending = c->pending > n ? c->pending - n : 0;
	c->db_count += n;
	pthread_mutex_unlock(&cs->mu);
}

/* Whether k's spend cap applies: its plan bills overage past a limit. */
static int
quota_capped(const struct apikey *k)
{
	return k->cap_cents >= 0 && !k->hard && k->limit >= 0 && k->micros > 0;
}

/*
 * Admits the call in the database against q->limit, counting the calls
 * past the plan's allowance (k->limit) as overage.
 */
static int
quota_hard(struct db *db, const struct apikey *k, struct quota *q)
{
	int	 rc;

	if (q->limit == 0) {
		q->used = 0;
		return 0;
	}
	if ((rc = period_admit(db, k->user_id, q->period, q->limit, k->limit,
	    &q->used)) == -1)
		return -1;
	q->admitted = q->counted = rc;
	return 0;
}

/*
 * Counts a soft-limit call in this worker's counter, re-reading the
 * period's count from the database first when it is older than
 * refresh_ms (outside the lock: the flusher thread shares it).
 */
static void
quota_soft(struct db *db, struct counters *cs, const struct apikey *k,
    time_t period, int64_t now_ms, struct quota *q)
{
	struct counter	*c;
	long long	 v = 0;
	int		 got = -1;

	pthread_mutex_lock(&cs->mu);
	c = counter_slot(cs, k->user_id, period);
	if (c->read_ms == 0 || now_ms - c->read_ms >= cs->refresh_ms) {
		pthread_mutex_unlock(&cs->mu);
		got = period_calls(db, k->user_id, period, &v);
		pthread_mutex_lock(&cs->mu);
		c = counter_slot(cs, k->user_id, period);
	}
	if (got >= 0) {		/* on an error, keep counting on the old figure */
		c->db_count = v;
		c->read_ms = now_ms;
	}
	c->pending++;
	q->used = c->db_count + c->pending;
	pthread_mutex_unlock(&cs->mu);
	q->admitted = 1;
	q->counted = 0;
}

/*
 * Decides whether the call of key k at now_ms may happen and fills *q with
 * the figures for the rate-limit headers. Returns 0, or -1 when a hard
 * limit could not be checked (the database is down): the caller refuses.
 */
int
quota_admit(struct db *db, struct counters *cs, const struct apikey *k,
    int64_t now_ms, struct quota *q)
{
	time_t	 now = (time_t)(now_ms / 1000);

	memset(q, 0, sizeof(*q));
	q->limit = k->limit;
	q->hard = k->hard;
	q->cap_cents = -1;
	q->period = period_start(now);
	q->reset = period_end(now);
	if (quota_capped(k)) {
		q->cap_cents = k->cap_cents;
		q->limit += price_calls(k->cap_cents, k->micros);
		q->hard = 1;
	}
	if (q->hard && q->limit >= 0) {
		if (quota_hard(db, k, q) == -1)
			return -1;
	} else
		quota_soft(db, cs, k, q->period, now_ms, q);
	if (q->limit < 0) {
		q->remaining = -1;
		return 0;
	}
	q->remaining = q->used < q->limit ? q->limit - q->used : 0;
	q->overage = !k->hard && q->used > k->limit ? q->used - k->limit : 0;
	return 0;
}
