/*
 * The API-key path (AUTH_KEY), in the order a call takes it:
 *
 *   1. the key is authenticated (keycache.c: its MAC, then a cached lookup);
 *   2. room for its usage event is reserved in the spool (usage.c), or
 *      the call is refused (503) before it is counted or served;
 *   3. the call gets its usage event id (X-Request-Id);
 *   4. the plan's monthly quota admits or refuses it (quota.c);
 *   5. the rate-limit headers say where the quota stands;
 *   6. the handler runs (if admitted), the response is written;
 *   7. the call is recorded as a usage event in the room reserved for
 *      it, refused or not.
 *
 * Headers: GitHub's X-RateLimit-Limit/-Remaining/-Used/-Reset (epoch
 * seconds), and the IETF draft's structured fields
 * (draft-ietf-httpapi-ratelimit-headers): RateLimit-Policy names the
 * monthly quota (q: calls, w: window seconds) and RateLimit says what is
 * left of it (r: remaining, t: seconds to the reset).
 */
#include "config.h"

#include <string.h>

#include "web.h"

#define USAGE_RETRY_AFTER	5	/* seconds; the spool is out of room */

/* The key from X-API-Key, else from Authorization: Bearer; or NULL. */
static const char *
key_from_request(const struct request *r)
{
	const char	*k;

	if ((k = req_header(r, "X-API-Key")) != NULL)
		return k;
	return auth_bearer(r);
}

/*
 * A new event id: the worker's 64 random bits (drawn at its start) and a
 * sequence number, unique across workers and hosts without coordination.
 * The writer stores an id once, however often its event is replayed.
 */
static void
event_id_new(struct server *srv, unsigned char id[EVENT_ID_LEN])
{
	uint64_t	 seq = ++srv->event_seq;
	int		 i;

	memcpy(id, srv->event_prefix, 8);
	for (i = 0; i < 8; i++)
		id[8 + i] = (unsigned char)(seq >> (56 - 8 * i));
}

/* Adds the rate-limit headers of the admitted or refused call. */
static void
ratelimit_headers(struct request *r)
{
	const struct quota	*q = &r->quota;
	long long		 now = r->start_us / 1000000;

	resp_header(r, "X-RateLimit-Used", "%lld", q->used);
	resp_header(r, "X-RateLimit-Reset", "%lld", (long long)q->reset);
	if (q->limit < 0) {
		/* Unlimited: there is no quota to state in numbers. */
		resp_header(r, "X-RateLimit-Limit", "unlimited");
		resp_header(r, "X-RateLimit-Remaining", "unlimited");
		return;
	}
	resp_header(r, "X-RateLimit-Limit", "%lld", q->limit);
	resp_header(r, "X-RateLimit-Remaining", "%lld", q->remaining);
	resp_header(r, "RateLimit-Policy", "\"monthly\";q=%lld;w=%lld",
	    q->limit, (long long)(q->reset - q->period));
	resp_header(r, "RateLimit", "\"monthly\";r=%lld;t=%lld",
	    q->remaining, (long long)q->reset - now);
	if (q->overage > 0)
		resp_header(r, "X-RateLimit-Overage", "%lld", q->overage);
}

/*
 * Authenticates the key and admits the call against the plan's quota.
 * Returns 0 when the handler may run, -1 with the response (401, 429 or
 * 503) already set. The 401 does not say which check failed.
 */
int
apikey_auth(struct request *r)
{
	struct server	*srv = r->srv;
	const char	*key = key_from_request(r);
	struct apikey	 k;
	char		 id[EVENT_ID_LEN * 2 + 1];
	int		 rc;

	rc = key != NULL ? keycache_get(srv->keys, srv->db, key, mono_ms(),
	    (time_t)(r->start_us / 1000000), &k) : KEY_INVALID;
	if (rc == KEY_INVALID) {
		resp_header(r, "WWW-Authenticate", "Bearer realm=\"api\"");
		resp_error(r, 401, "invalid_key",
		    "missing or invalid API key");
		return -1;
	}
	if (rc == KEY_UNAVAILABLE) {
		resp_header(r, "Retry-After", "1");
		resp_error(r, 503, "unavailable",
		    "cannot check API keys right now; retry shortly");
		return -1;
	}
	/* A call that cannot be recorded is not served: no 200 without its row. */
	if (usage_reserve(srv->usage) == -1) {
		resp_header(r, "Retry-After", "%d", USAGE_RETRY_AFTER);
		resp_error(r, 503, "usage_unavailable",
		    "cannot record usage right now; retry shortly");
		return -1;
	}

	/* From here on the call is recorded, whatever its answer. */
	r->key = k;
	strlcpy_(r->user_id, k.user_id, sizeof(r->user_id));
	event_id_new(srv, r->event_id);
	hex_encode(r->event_id, EVENT_ID_LEN, id);
	resp_header(r, "X-Request-Id", "%s", id);

	if (quota_admit(srv->db, srv->counters, &k, r->start_us / 1000,
	    &r->quota) == -1) {
		resp_header(r, "Retry-After", "1");
		resp_error(r, 503, "unavailable",
		    "cannot check the quota right now; retry shortly");
		return -1;
	}
	ratelimit_headers(r);
	if (!r->quota.admitted) {
		resp_header(r, "Retry-After", "%lld",
		    (long long)(r->quota.reset - r->start_us / 1000000));
		resp_error(r, 429, "quota_exceeded",
		    "monthly quota of %lld calls exhausted for the %s plan; "
		    "it resets at the start of next month (UTC)",
		    r->quota.limit, k.plan);
		return -1;
	}
	return 0;
}

/*
 * Records the call as a usage event (the route kind's after-response).
 * It runs once the response is written and before the request is
 * finished: a worker killed in between leaves a row for a call whose
 * client saw an error, never a 200 without a row.
 */
void
apikey_record(struct request *r)
{
	struct usage_event	 ev;

	if (r->key.id == 0)
		return;		/* no key, no call to record */
	memset(&ev, 0, sizeof(ev));
	memcpy(ev.id, r->event_id, EVENT_ID_LEN);
	strlcpy_(ev.user_id, r->key.user_id, sizeof(ev.user_id));
	ev.key_id = r->key.id;
	ev.ts_ms = r->start_us / 1000;
	strlcpy_(ev.method, r->route->method, sizeof(ev.method));
	strlcpy_(ev.endpoint, r->route->path, sizeof(ev.endpoint));
	ev.status = r->status;
	ev.latency_us = (unsigned int)(now_usec() - r->start_us);
	/*
	 * The writer adds the call to its period's count, unless it was
	 * refused or quota_admit() counted it already (a hard limit's
	 * conditional increment).
	 */
	ev.count = r->quota.admitted && !r->quota.counted;
	ev.limit = r->key.limit;
	/* Its room was reserved by apikey_auth: this does not fail. */
	if (usage_record(r->srv->usage, &ev) == -1)
		log_warnx("a usage event was lost");
}
