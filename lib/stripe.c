/*
 * The Stripe client's engine: requests over libcurl, paced and retried.
 * The calls it runs (invoice items) are made in stripe_items.c.
 *
 * Requests are form-encoded with "Authorization: Bearer <key>"; creates
 * carry an Idempotency-Key, so a request whose answer was lost is simply
 * sent again (https://stripe.com/docs/api/idempotent_requests).
 * Timeouts, dropped connections, 409 (key in use), 429 and 5xx are
 * retried with exponential backoff and jitter, waiting at least what
 * Retry-After asks; Stripe-Should-Retry, when present, overrides our
 * judgement (https://stripe.com/docs/error-low-level#idempotency).
 *
 * One engine (stripe_pump) runs every request: a curl multi handle with
 * up to STRIPE_INFLIGHT requests in flight, started no faster than
 * stripe_rate per second. Stripe counts per rolling second, and sees our
 * requests with some jitter, so the pacer
 *  - spaces starts evenly at (1 s + margin) / rate (a GCRA bucket that
 *    lets a run that fell behind, the ledger writes happen in the same
 *    loop, catch up by PACE_BURST requests, never closer than half that);
 *  - and, as a hard cap, keeps the last `rate` start times and starts the
 *    next only once the oldest is 1 s + margin old.
 * A 429 means the server counts our requests closer together than we sent
 * them: the margin grows by PACE_MARGIN_STEP_US (up to PACE_MARGIN_MAX_US)
 * for the rest of the run.
 *
 * The secret key goes into the Authorization header and nowhere else:
 * never into a log line, an error message or the audit log.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "nexus.h"
#include "billing.h"

#define STRIPE_INFLIGHT		16		/* requests in flight at once */
#define STRIPE_BODY_MAX		(1024 * 1024)	/* a list page is ~150 KB */
#define STRIPE_FORM_MAX		8192
#define BACKOFF_FIRST_MS	500
#define BACKOFF_MAX_MS		8000
#define RETRY_AFTER_MAX_S	60
#define PACE_MARGIN_US		50000
#define PACE_BURST		5
#define PACE_MARGIN_STEP_US	25000
#define PACE_MARGIN_MAX_US	250000

struct stripe {
	const struct config	*cfg;
	CURLM			*multi;
	struct curl_slist	*auth;		/* the Authorization header */
	long long		 rate;
	int64_t			*starts;	/* the last `rate` start times */
	long long		 nstarts;
	long long		 head;		/* oldest start, once full */
	int64_t			 last_start;
	int64_t			 tat;		/* GCRA: next start on time */
	int64_t			 margin;	/* us past a second */
	unsigned int		 seed;
};

/* One request, retried as a unit. */
struct stripe_call {
	CURL			*easy;
	struct curl_slist	*hdrs;
	char			 url[1024];
	struct buf		 form;
	int			 post;
	void			*udata;
	struct buf		 body;
	int			 attempts;
	int64_t			 due;		/* earliest next start */
	long			 status;
	long			 retry_after;	/* seconds, -1 when absent */
	int			 should_retry;	/* 1, 0, -1 when absent */
	int			 replayed;
	char			 errbuf[CURL_ERROR_SIZE];
	struct stripe_call	*next;
};

static int64_t
mono_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Opens a client for cfg's stripe_api_base and stripe_secret_key.
 * Returns NULL (and says why) when no key is configured.
 */
struct stripe *
stripe_open(const struct config *cfg)
{
	struct stripe	*s;
	struct buf	 h;

	if (cfg->stripe_secret_key == NULL || cfg->stripe_api_base == NULL) {
		log_warnx("stripe: stripe_secret_key and stripe_api_base "
		    "must be set");
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->cfg = cfg;
	s->rate = cfg->stripe_rate;
	s->margin = PACE_MARGIN_US;
	s->starts = xcalloc((size_t)s->rate, sizeof(*s->starts));
	if ((s->multi = curl_multi_init()) == NULL) {
		stripe_close(s);
		return NULL;
	}
	curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	    (long)STRIPE_INFLIGHT);
	buf_init(&h, 1024);
	if (buf_printf(&h, "Authorization: Bearer %s",
	    cfg->stripe_secret_key) == -1) {
		buf_free(&h);
		stripe_close(s);
		return NULL;
	}
	s->auth = curl_slist_append(NULL, h.data);
	memset(h.data, 0, h.len);
	buf_free(&h);
	random_bytes(&s->seed, sizeof(s->seed));
	return s;
}

void
stripe_close(struct stripe *s)
{
	if (s == NULL)
		return;
	if (s->multi != NULL)
		curl_multi_cleanup(s->multi);
	curl_slist_free_all(s->auth);
	free(s->starts);
	free(s);
	curl_global_cleanup();
}

/* Microseconds until the pacer lets a request start (0: now). */
static int64_t
pace_wait(const struct stripe *s, int64_t now)
{
	int64_t	 interval = (1000000 + s->margin) / s->rate;
	int64_t	 t = s->tat - interval * (PACE_BURST - 1);

	if (s->last_start == 0)
		return 0;
	if (t < s->last_start + interval / 2)
		t = s->last_start + interval / 2;
	if (s->nstarts == s->rate && t < s->starts[s->head] + 1000000 +
	    s->margin)
		t = s->starts[s->head] + 1000000 + s->margin;
	return t > now ? t - now : 0;
}

static void
pace_note(struct stripe *s, int64_t now)
{
	s->tat = (s->tat > now ? s->tat : now) +
	    (1000000 + s->margin) / s->rate;
	s->last_start = now;
	s->starts[s->head] = now;
	s->head = (s->head + 1) % s->rate;
	if (s->nstarts < s->rate)
		s->nstarts++;
}

/*
 * Appends k=v form-encoded (application/x-www-form-urlencoded), after a
 * '&' unless b is empty. Returns 0, or -1 past b's cap.
 */
int
stripe_form_add(struct buf *b, const char *k, const char *v)
{
	const char	*p;
	int		 i;

	if (b->len > 0 && buf_add(b, "&", 1) == -1)
		return -1;
	for (i = 0; i < 2; i++) {
		for (p = i == 0 ? k : v; *p != '\0'; p++) {
			unsigned char c = (unsigned char)*p;

			if (isalnum(c) || c == '-' || c == '.' || c == '_' ||
			    c == '~') {
				if (buf_add(b, p, 1) == -1)
					return -1;
			} else if (buf_printf(b, "%%%02X", c) == -1)
				return -1;
		}
		if (i == 0 && buf_add(b, "=", 1) == -1)
			return -1;
	}
	return 0;
}

static size_t
on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct stripe_call	*c = arg;

	if (buf_add(&c->body, p, sz * n) == -1)
		return 0;	/* CURLE_WRITE_ERROR: larger than we take */
	return sz * n;
}

/* Returns the value of header line p if it is name, else NULL. */
static const char *
header_value(const char *p, size_t n, const char *name, char *v, size_t vn)
{
	size_t	 nl = strlen(name), len;

	if (n <= nl || strncasecmp(p, name, nl) != 0 || p[nl] != ':')
		return NULL;
	p += nl + 1;
	n -= nl + 1;
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	for (len = 0; len < n && p[len] != '\r' && p[len] != '\n'; len++)
		;
	if (len >= vn)
		len = vn - 1;
	memcpy(v, p, len);
	v[len] = '\0';
	return v;
}

static size_t
on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct stripe_call	*c = arg;
	char		 v[32];
	long long	 secs;

	if (header_value(p, sz * n, "Retry-After", v, sizeof(v)) != NULL &&
	    parse_int(v, 0, 86400, &secs) == 0)
		c->retry_after = (long)secs;
	if (header_value(p, sz * n, "Stripe-Should-Retry", v,
	    sizeof(v)) != NULL)
		c->should_retry = strcmp(v, "true") == 0;
	if (header_value(p, sz * n, "Idempotent-Replayed", v,
	    sizeof(v)) != NULL)
		c->replayed = strcmp(v, "true") == 0;
	return sz * n;
}

/*
 * A call of path: a POST of its form (stripe_call_form) when it has an
 * Idempotency-Key, a GET when idem is NULL. udata is the caller's. A call
 * whose URL, key or form does not fit is not sent: it fails.
 */
struct stripe_call *
stripe_call_new(struct stripe *s, const char *path, const char *idem,
    void *udata)
{
	struct stripe_call	*c = xcalloc(1, sizeof(*c));
	struct curl_slist	*l;
	struct buf		 h;

	c->post = idem != NULL;
	c->udata = udata;
	buf_init(&c->form, STRIPE_FORM_MAX);
	buf_init(&c->body, STRIPE_BODY_MAX);
	if ((size_t)snprintf(c->url, sizeof(c->url), "%s%s",
	    s->cfg->stripe_api_base, path) >= sizeof(c->url))
		c->url[0] = '\0';	/* call_start() refuses it */
	if (idem == NULL)
		return c;
	buf_init(&h, 512);
	if (buf_printf(&h, "Idempotency-Key: %s", idem) == -1)
		c->url[0] = '\0';
	else {
		for (l = s->auth; l != NULL; l = l->next)
			c->hdrs = curl_slist_append(c->hdrs, l->data);
		c->hdrs = curl_slist_append(c->hdrs, h.data);
		c->hdrs = curl_slist_append(c->hdrs, "Expect:");
	}
	buf_free(&h);
	return c;
}

/* Adds k=v to the call's form; one that does not fit spoils the call. */
void
stripe_call_form(struct stripe_call *c, const char *k, const char *v)
{
	if (stripe_form_add(&c->form, k, v) == -1)
		c->url[0] = '\0';
}

void *
stripe_call_udata(const struct stripe_call *c)
{
	return c->udata;
}

void
stripe_call_free(struct stripe_call *c)
{
	if (c == NULL)
		return;
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->hdrs);
	buf_free(&c->form);
	buf_free(&c->body);
	free(c);
}

/* Sets up the handle for one attempt. Returns 0 or -1. */
static int
call_start(struct stripe *s, struct stripe_call *c)
{
	long	 ms = (long)s->cfg->stripe_timeout_ms;

	if (c->url[0] == '\0')
		return -1;
	if (c->easy == NULL) {
		if ((c->easy = curl_easy_init()) == NULL)
			return -1;
		curl_easy_setopt(c->easy, CURLOPT_URL, c->url);
		curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
		curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, ms);
		curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS,
		    ms < 5000 ? ms : 5000L);
		/* http:// only when a test asks: it carries the key in clear. */
		curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR,
		    s->cfg->stripe_allow_http ? "http,https" : "https");
		curl_easy_setopt(c->easy, CURLOPT_USERAGENT,
		    "nexus-usage/" PACKAGE_VERSION);
		curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
		curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
		curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
		curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER,
		    c->hdrs != NULL ? c->hdrs : s->auth);
		if (c->post) {
			curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS,
			    c->form.data != NULL ? c->form.data : "");
			curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE,
			    (long)c->form.len);
		}
	}
	buf_reset(&c->body);
	c->errbuf[0] = '\0';
	c->status = 0;
	c->retry_after = -1;
	c->should_retry = -1;
	c->replayed = 0;
	c->attempts++;
	if (curl_multi_add_handle(s->multi, c->easy) != CURLM_OK)
		return -1;
	return 0;
}

/* Copies Stripe's error.message (or what went wrong) into res->error. */
static void
result_error(struct stripe_result *res, json_object *o, const char *what)
{
	json_object	*e, *m;

	if (o != NULL && json_object_object_get_ex(o, "error", &e) &&
	    json_object_object_get_ex(e, "message", &m))
		snprintf(res->error, sizeof(res->error), "%ld: %s",
		    res->http_status, json_object_get_string(m));
	else
		snprintf(res->error, sizeof(res->error), "%s", what);
}

static int
is_idempotency_error(json_object *o)
{
	json_object	*e, *t;

	return o != NULL && json_object_object_get_ex(o, "error", &e) &&
	    json_object_object_get_ex(e, "type", &t) &&
	    strcmp(json_object_get_string(t), "idempotency_error") == 0;
}

/*
 * Judges a finished attempt. Returns the milliseconds to wait before
 * retrying it, or -1 when it is final (with *res filled).
 */
static long
call_judge(struct stripe *s, struct stripe_call *c, CURLcode cc,
    struct stripe_result *res)
{
	json_object	*o = NULL, *id;
	int		 retry;
	long		 ms;

	memset(res, 0, sizeof(*res));
	res->attempts = c->attempts;
	res->replayed = c->replayed;
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status);
	res->http_status = cc == CURLE_OK ? c->status : 0;

	if (cc == CURLE_WRITE_ERROR) {
		/* Too large to take: whatever it said is unknown. */
		res->outcome = STRIPE_GAVE_UP;
		snprintf(res->error, sizeof(res->error),
		    "response larger than %d bytes", STRIPE_BODY_MAX);
		return -1;
	}
	if (cc != CURLE_OK) {
		retry = 1;
		snprintf(res->error, sizeof(res->error), "%s",
		    c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(cc));
	} else {
		if (c->body.data != NULL)
			o = json_tokener_parse(c->body.data);
		if (c->status >= 200 && c->status < 300) {
			/* A create answers the item, a list a page of them. */
			if (o != NULL && json_object_is_type(o, json_type_object) &&
			    (!c->post || (json_object_object_get_ex(o, "id",
			    &id) && stripe_id_valid(id)))) {
				res->outcome = STRIPE_OK;
				if (c->post)
					snprintf(res->id, sizeof(res->id), "%s",
					    json_object_get_string(id));
				res->obj = o;
				return -1;
			}
			json_object_put(o);
			res->outcome = STRIPE_GAVE_UP;
			snprintf(res->error, sizeof(res->error),
			    "%ld with an unreadable body", c->status);
			return -1;
		}
		retry = c->status == 409 || c->status == 429 ||
		    c->status >= 500;
		if (c->status == 429 && c->should_retry != 0 &&
		    s->margin < PACE_MARGIN_MAX_US)
			s->margin += PACE_MARGIN_STEP_US;
		if (c->should_retry != -1)
			retry = c->should_retry;
		result_error(res, o, "unexpected answer");
		if (!retry || c->attempts > s->cfg->stripe_max_retries) {
			if (c->status == 401 || c->status == 403)
				res->outcome = STRIPE_UNAUTHORIZED;
			else if (is_idempotency_error(o))
				res->outcome = STRIPE_IDEM_MISMATCH;
			else if (c->status >= 400 && c->status < 500 &&
			    c->status != 409 && c->status != 429)
				res->outcome = STRIPE_REFUSED;
			else
				res->outcome = STRIPE_GAVE_UP;
			json_object_put(o);
			return -1;
		}
		json_object_put(o);
	}
	if (!retry || c->attempts > s->cfg->stripe_max_retries) {
		res->outcome = STRIPE_GAVE_UP;
		return -1;
	}
	/* Exponential backoff with jitter in [50%, 100%], or Retry-After. */
	ms = BACKOFF_FIRST_MS << (c->attempts - 1 < 5 ? c->attempts - 1 : 5);
	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	ms = ms / 2 + (long)(rand_r(&s->seed) % (unsigned int)(ms / 2 + 1));
	if (c->retry_after >= 0 && c->retry_after * 1000 > ms)
		ms = (c->retry_after < RETRY_AFTER_MAX_S ?
		    c->retry_after : RETRY_AFTER_MAX_S) * 1000;
	log_debug("stripe: attempt %d: %s; again in %ld ms", c->attempts,
	    res->error, ms);
	return ms;
}

/* Takes the waiting call that is due soonest if it is due by now. */
static struct stripe_call *
take_due(struct stripe_call **waiting, int64_t now, int64_t *soonest)
{
	struct stripe_call	**pp, **best = NULL, *c;

	*soonest = 0;
	for (pp = waiting; *pp != NULL; pp = &(*pp)->next)
		if (best == NULL || (*pp)->due < (*best)->due)
			best = pp;
	if (best == NULL)
		return NULL;
	if ((*best)->due > now) {
		*soonest = (*best)->due;
		return NULL;
	}
	c = *best;
	*best = c->next;
	c->next = NULL;
	return c;
}

/*
 * Runs every call next(arg) gives (NULL: no more), each to a final
 * answer, and hands it to done(arg, call, result), which owns the call
 * and result->obj from then on. Returns when next() has no more and
 * nothing is in flight or waiting for a retry.
 */
void
stripe_run(struct stripe *s, struct stripe_call *(*next)(void *),
    void (*done)(void *, struct stripe_call *, const struct stripe_result *),
    void *arg)
{
	struct stripe_call		*waiting = NULL, *c;
	struct stripe_result	 res;
	CURLMsg			*m;
	int64_t			 now, soonest, wait;
	int			 inflight = 0, more = 1, running, q;
	long			 ms;

	for (;;) {
		now = mono_us();
		while (inflight < STRIPE_INFLIGHT && pace_wait(s, now) == 0) {
			if ((c = take_due(&waiting, now, &soonest)) == NULL &&
			    more && (c = next(arg)) == NULL)
				more = 0;
			if (c == NULL)
				break;
			if (call_start(s, c) == -1) {
				memset(&res, 0, sizeof(res));
				res.outcome = STRIPE_GAVE_UP;
				snprintf(res.error, sizeof(res.error),
				    "could not start the request");
				done(arg, c, &res);
				continue;
			}
			pace_note(s, now);
			inflight++;
		}
		if (inflight == 0 && waiting == NULL && !more)
			break;
		curl_multi_perform(s->multi, &running);
		while ((m = curl_multi_info_read(s->multi, &q)) != NULL) {
			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
			    (char **)&c);
			curl_multi_remove_handle(s->multi, c->easy);
			inflight--;
			if ((ms = call_judge(s, c, m->data.result, &res)) < 0) {
				done(arg, c, &res);
				continue;
			}
			c->due = mono_us() + (int64_t)ms * 1000;
			c->next = waiting;
			waiting = c;
		}
		if (inflight == 0 && waiting == NULL && !more)
			break;
		/* Sleep until an answer, a free pacer slot or a retry is due. */
		now = mono_us();
		wait = 1000000;
		if (inflight < STRIPE_INFLIGHT && (more || waiting != NULL)) {
			int64_t w = pace_wait(s, now);

			if (!more) {
				take_due(&waiting, INT64_MIN, &soonest);
				if (soonest - now > w)
					w = soonest - now;
			}
			if (w < wait)
				wait = w;
		}
		if (inflight > 0 || wait > 0)
			curl_multi_poll(s->multi, NULL, 0,
			    (int)((wait + 999) / 1000), NULL);
	}
}
