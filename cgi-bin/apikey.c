/*
 * API-key routes: authentication, quota and the rate-limit headers.
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
 * Authenticates the key and admits the call against the plan's quota.
 * Returns 0 when the handler may run, -1 with the response (401, 429 or
 * 503) already set. The 401 does not say which check failed.
 */
int
auth_key(struct request *r)
{
	struct server	*srv = r->srv;
	const char	*key = key_from_request(r);
	struct apikey	 k;
	char		 id[EVENT_ID_LEN * 2 + 1];
	int		 rc;

	rc = key != NULL ? keycache_get(srv->keys, srv->db, key,
	    r->start_us / 1000, &k) : KEY_INVALID;
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
	/* From here on the call is recorded, whatever its answer. */
	r->key = k;
	strlcpy_(r->user_id, k.user_id, sizeof(r->user_id));
	usage_new_id(srv->usage, r->event_id);
	hex_encode(r->event_id, EVENT_ID_LEN, id);
	resp_header(r, "X-Request-Id", "%s", id);
	if (quota_admit(srv->db, srv->counters, &k, r->start_us / 1000,
	    &r->quota) == -1) {
		resp_header(r, "Retry-After", "1");
		resp_error(r, 503, "unavailable",
		    "cannot check the quota right now; retry shortly");
		return -1;
	}
	r->quota_known = 1;
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

/* Adds the rate-limit headers to an API-key response whose quota is known. */
void
ratelimit_headers(struct request *r)
{
	const struct quota	*q = &r->quota;
	long long		 now = r->start_us / 1000000;

	if (!r->quota_known)
		return;
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
