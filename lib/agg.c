/*
 * The aggregator: a user's calls per route (counts, errors, latency sum,
 * maximum and histogram) and in all, with the exact p95 when every
 * latency is kept. The daily roll-up (rollup.c) stores what it adds up;
 * the usage API (usage_report.c) adds stored days and raw ones (today)
 * with it, so both report the same numbers.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "nexus.h"

static const char *const sql_raw_user_day = "SELECT method, endpoint, "
    "status, latency_us FROM eco_api_usage WHERE user_id = ? "
    "AND ts >= FROM_UNIXTIME(?) AND ts < FROM_UNIXTIME(?)";

/*
 * Latency histogram: values below 16 us have a bucket each; above, every
 * power of two is cut into 8 buckets, so a bucket is at most 1/8 of its
 * lower bound wide (up to 2^32 us in HIST_BUCKETS buckets).
 */
unsigned int
hist_bucket(unsigned int v)
{
	unsigned int	 e;

	if (v < 16)
		return v;
	e = 31 - (unsigned int)__builtin_clz(v);
	return 16 + (e - 4) * 8 + ((v >> (e - 3)) & 7);
}

/* Returns the largest value that falls into bucket b. */
unsigned int
hist_upper(unsigned int b)
{
	unsigned int	 e, sub;

	if (b < 16)
		return b;
	e = (b - 16) / 8 + 4;
	sub = (b - 16) % 8;
	return ((8 + sub) << (e - 3)) + ((1u << (e - 3)) - 1);
}

/* The nearest-rank p95 position (1-based) among n values: ceil(0.95 n). */
static unsigned long long
p95_rank(unsigned long long n)
{
	return n / 20 * 19 + ((n % 20) * 19 + 19) / 20;
}

/*
 * Returns the p95 of a histogram of n values: the upper bound of the
 * bucket holding the nearest-rank 95th percentile, capped at max.
 */
unsigned int
hist_p95(const unsigned long long *h, unsigned long long n, unsigned int max)
{
	unsigned long long	 rank = p95_rank(n), seen = 0;
	unsigned int		 b, v;

	if (n == 0)
		return 0;
	for (b = 0; b < HIST_BUCKETS; b++)
		if ((seen += h[b]) >= rank)
			break;
	if (b == HIST_BUCKETS)
		return max;
	v = hist_upper(b);
	return v < max ? v : max;
}

/* Appends the histogram as (bucket byte, LEB128 count) pairs. */
size_t
hist_encode(const unsigned long long *h, unsigned char *out, size_t outsz)
{
	size_t			 o = 0;
	unsigned int		 b;
	unsigned long long	 c;

	for (b = 0; b < HIST_BUCKETS; b++) {
		if ((c = h[b]) == 0)
			continue;
		if (o + 11 > outsz)
			return 0;
		out[o++] = (unsigned char)b;
		do {
			out[o++] = (unsigned char)((c & 0x7f) | (c > 0x7f ? 0x80 : 0));
			c >>= 7;
		} while (c != 0);
	}
	return o;
}

/* Adds an encoded histogram into h. Returns 0, or -1 if it is malformed. */
int
hist_decode_add(const unsigned char *p, size_t n, unsigned long long *h)
{
	size_t			 i = 0;
	int			 last = -1;

	while (i < n) {
		unsigned long long	 c = 0;
		unsigned int		 b = p[i++], shift = 0;

		if ((int)b <= last || b >= HIST_BUCKETS)
			return -1;
		do {
			if (i >= n || shift > 56)
				return -1;
			c |= (unsigned long long)(p[i] & 0x7f) << shift;
			shift += 7;
		} while (p[i++] & 0x80);
		h[b] += c;
		last = (int)b;
	}
	return 0;
}

void
agg_init(struct usage_agg *a, int keep_latencies)
{
	memset(a, 0, sizeof(*a));
	a->keep = keep_latencies;
	a->last = -1;
}

void
agg_free(struct usage_agg *a)
{
	free(a->routes);
	free(a->lat);
	agg_init(a, a->keep);
}

/* Returns the route's slot, adding it if it is new. */
static struct route_stats *
agg_route(struct usage_agg *a, const char *method, const char *endpoint)
{
	struct route_stats	*r;
	size_t			 i;

	if (a->last >= 0) {
		r = &a->routes[a->last];
		if (strcmp(r->endpoint, endpoint) == 0 &&
		    strcmp(r->method, method) == 0)
			return r;
	}
	for (i = 0; i < a->nroutes; i++) {
		r = &a->routes[i];
		if (strcmp(r->endpoint, endpoint) == 0 &&
		    strcmp(r->method, method) == 0) {
			a->last = (long)i;
			return r;
		}
	}
	if (a->nroutes == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 8;
		a->routes = xrealloc(a->routes, a->cap * sizeof(*a->routes));
	}
	r = &a->routes[a->nroutes];
	memset(r, 0, sizeof(*r));
	strlcpy_(r->method, method, sizeof(r->method));
	strlcpy_(r->endpoint, endpoint, sizeof(r->endpoint));
	a->last = (long)a->nroutes++;
	return r;
}

/* Counts one call. Status 400 and above is an error. */
void
agg_add(struct usage_agg *a, const char *method, const char *endpoint,
    long long status, long long latency)
{
	struct route_stats	*r = agg_route(a, method, endpoint);
	unsigned int		 lat;

	lat = latency < 0 ? 0 : latency > 0xffffffffLL ? 0xffffffffu :
	    (unsigned int)latency;
	r->calls++;
	r->errors += status >= 400;
	r->lat_sum += lat;
	if (lat > r->lat_max)
		r->lat_max = lat;
	r->hist[hist_bucket(lat)]++;
	a->calls++;
	a->errors += status >= 400;
	a->lat_sum += lat;
	if (a->keep) {
		if (a->nlat == a->latcap) {
			a->latcap = a->latcap ? a->latcap * 2 : 1024;
			a->lat = xrealloc(a->lat, a->latcap * sizeof(*a->lat));
		}
		a->lat[a->nlat++] = lat;
	}
}

/*
 * Adds a route's stored aggregate (eco_usage_daily_routes). Returns 0, or
 * -1 (adding nothing) if its histogram is malformed.
 */
int
agg_add_route(struct usage_agg *a, const char *method, const char *endpoint,
    unsigned long long calls, unsigned long long errors,
    unsigned long long lat_sum, unsigned int lat_max,
    const unsigned char *hist, size_t histlen)
{
	unsigned long long	 h[HIST_BUCKETS];
	struct route_stats	*r;
	size_t			 i;

	memset(h, 0, sizeof(h));
	if (calls == 0 || hist_decode_add(hist, histlen, h) == -1)
		return -1;
	r = agg_route(a, method, endpoint);
	for (i = 0; i < HIST_BUCKETS; i++)
		r->hist[i] += h[i];
	r->calls += calls;
	r->errors += errors;
	r->lat_sum += lat_sum;
	if (lat_max > r->lat_max)
		r->lat_max = lat_max;
	a->calls += calls;
	a->errors += errors;
	a->lat_sum += lat_sum;
	return 0;
}

/* Reads raw rows [from, to) of one user into a. Returns rows read or -1. */
long long
agg_raw(struct db *db, struct usage_agg *a, const char *user, time_t from,
    time_t to)
{
	struct dbp	 p[3] = { DBP_S(user), DBP_I(from), DBP_I(to) };
	struct dbres	*r;
	long long	 n = 0;
	int		 rc;

	if ((r = db_query(db, sql_raw_user_day, p, 3)) == NULL)
		return -1;
	while ((rc = db_next(r)) == 1) {
		agg_add(a, db_str(r, 0), db_str(r, 1), db_int(r, 2),
		    db_int(r, 3));
		n++;
	}
	db_done(r);
	return rc == -1 ? -1 : n;
}

/* Hoare's selection: the k-th smallest (0-based) of v[0..n-1], reordering v. */
static unsigned int
select_kth(unsigned int *v, size_t n, size_t k)
{
	size_t		 lo = 0, hi = n - 1;

	while (lo < hi) {
		unsigned int	 pivot = v[lo + (hi - lo) / 2], t;
		size_t		 i = lo, j = hi;

		while (i <= j) {
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j) {
				t = v[i];
				v[i] = v[j];
				v[j] = t;
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			break;
	}
	return v[k];
}

/* The exact nearest-rank p95 of every latency added (keep_latencies). */
unsigned int
agg_p95(struct usage_agg *a)
{
	if (a->nlat == 0)
		return 0;
	return select_kth(a->lat, a->nlat, (size_t)(p95_rank(a->nlat) - 1));
}

/* Average rounded half up to a whole microsecond; 0 for no calls. */
unsigned long long
avg_round(unsigned long long sum, unsigned long long n)
{
	return n == 0 ? 0 : sum / n + (sum % n >= n - sum % n);
}

static int
route_cmp(const void *x, const void *y)
{
	const struct route_stats *a = x, *b = y;
	int			  c;

	if (a->calls != b->calls)
		return a->calls > b->calls ? -1 : 1;
	if ((c = strcmp(a->endpoint, b->endpoint)) != 0)
		return c;
	return strcmp(a->method, b->method);
}

/* Sorts routes by calls, most first (then by path and method). */
void
agg_sort(struct usage_agg *a)
{
	if (a->nroutes > 1)
		qsort(a->routes, a->nroutes, sizeof(*a->routes), route_cmp);
	a->last = -1;
}
