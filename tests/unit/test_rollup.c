/*
 * Unit tests for the roll-up's arithmetic, the aggregator's (lib/agg.c):
 * the latency histogram, its encoding, the exact and histogram p95,
 * rounding.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

static int
uint_cmp(const void *a, const void *b)
{
	unsigned int x = *(const unsigned int *)a, y = *(const unsigned int *)b;

	return x < y ? -1 : x > y;
}

/* The nearest-rank p95 by sorting: the reference. */
static unsigned int
p95_sorted(unsigned int *v, size_t n)
{
	size_t	 rank = (n * 95 + 99) / 100;

	qsort(v, n, sizeof(*v), uint_cmp);
	return v[rank - 1];
}

START_TEST(buckets_cover_and_bound)
{
	unsigned long long	 v;
	unsigned int		 b, prev = 0;

	/* Every value lands in a bucket whose range holds it, in order. */
	for (v = 0; v <= 0xffffffffULL; v = v < 4096 ? v + 1 : v + v / 97 + 1) {
		b = hist_bucket((unsigned int)v);
		ck_assert_uint_lt(b, HIST_BUCKETS);
		ck_assert_uint_ge(b, prev);
		ck_assert_uint_ge(hist_upper(b), (unsigned int)v);
		if (b > 0)
			ck_assert_uint_lt(hist_upper(b - 1), (unsigned int)v);
		/* At most 1/8 of the value above it. */
		ck_assert_uint_le(hist_upper(b) - v, v / 8);
		prev = b;
	}
	ck_assert_uint_eq(hist_bucket(0xffffffffu), HIST_BUCKETS - 1);
	ck_assert_uint_eq(hist_upper(HIST_BUCKETS - 1), 0xffffffffu);
	ck_assert_uint_eq(hist_bucket(15), 15);
	ck_assert_uint_eq(hist_bucket(16), 16);
	ck_assert_uint_eq(hist_bucket(17), 16);
	ck_assert_uint_eq(hist_upper(16), 17);
}
END_TEST

START_TEST(hist_encode_roundtrip)
{
	unsigned long long	 h[HIST_BUCKETS], back[HIST_BUCKETS];
	unsigned char		 enc[HIST_BUCKETS * 11];
	size_t			 n, i;

	memset(h, 0, sizeof(h));
	memset(back, 0, sizeof(back));
	ck_assert_uint_eq(hist_encode(h, enc, sizeof(enc)), 0);
	h[0] = 1;
	h[17] = 127;
	h[18] = 128;
	h[100] = 1000000007ULL;
	h[HIST_BUCKETS - 1] = 0xffffffffffffULL;
	n = hist_encode(h, enc, sizeof(enc));
	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(hist_decode_add(enc, n, back), 0);
	ck_assert_int_eq(hist_decode_add(enc, n, back), 0);
	for (i = 0; i < HIST_BUCKETS; i++)
		ck_assert_uint_eq(back[i], 2 * h[i]);
	/* Truncated, out of order, out of range: refused. */
	ck_assert_int_eq(hist_decode_add(enc, n - 1, back), -1);
	{
		unsigned char bad1[] = { 5, 1, 3, 1 };
		unsigned char bad2[] = { 250, 1 };
		unsigned char bad3[] = { 5, 0x80 };

		ck_assert_int_eq(hist_decode_add(bad1, sizeof(bad1), back), -1);
		ck_assert_int_eq(hist_decode_add(bad2, sizeof(bad2), back), -1);
		ck_assert_int_eq(hist_decode_add(bad3, sizeof(bad3), back), -1);
	}
}
END_TEST

START_TEST(p95_exact_matches_sorting)
{
	static const size_t	 sizes[] = { 1, 2, 19, 20, 21, 100, 101, 999,
	    10007 };
	struct usage_agg	 a;
	unsigned int		*ref;
	size_t			 s, i;

	srand(42);
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		agg_init(&a, 1);
		ref = malloc(sizes[s] * sizeof(*ref));
		for (i = 0; i < sizes[s]; i++) {
			/* Many duplicates, and a long tail. */
			ref[i] = (unsigned int)(rand() % 50) *
			    (rand() % 10 == 0 ? 1000u : 10u);
			agg_add(&a, "GET", "/x", 200, ref[i]);
		}
		ck_assert_uint_eq(agg_p95(&a), p95_sorted(ref, sizes[s]));
		free(ref);
		agg_free(&a);
	}
	agg_init(&a, 1);
	ck_assert_uint_eq(agg_p95(&a), 0);
}
END_TEST

START_TEST(p95_histogram_bound)
{
	struct usage_agg	 a;
	unsigned int		*ref, exact, got;
	size_t			 i, n = 5000;

	agg_init(&a, 1);
	ref = malloc(n * sizeof(*ref));
	srand(7);
	for (i = 0; i < n; i++) {
		ref[i] = 200 + (unsigned int)(rand() % 20000);
		agg_add(&a, "GET", "/x", i % 10 == 0 ? 500 : 200, ref[i]);
	}
	exact = p95_sorted(ref, n);
	got = hist_p95(a.routes[0].hist, a.routes[0].calls, a.routes[0].lat_max);
	ck_assert_uint_ge(got, exact);
	ck_assert_uint_le(got - exact, exact / 8);
	ck_assert_uint_eq(a.routes[0].errors, 500);
	ck_assert_uint_eq(a.calls, n);
	/* One value: the histogram answer is that value (capped at max). */
	agg_free(&a);
	agg_add(&a, "GET", "/x", 200, 1234);
	ck_assert_uint_eq(hist_p95(a.routes[0].hist, 1, a.routes[0].lat_max),
	    1234);
	free(ref);
	agg_free(&a);
}
END_TEST

START_TEST(routes_merge_and_sort)
{
	struct usage_agg	 a, b;
	unsigned char		 enc[HIST_BUCKETS * 11];
	size_t			 n, i;

	agg_init(&a, 0);
	for (i = 0; i < 30; i++)
		agg_add(&a, i % 3 ? "GET" : "POST", i % 2 ? "/a" : "/b",
		    i % 5 == 0 ? 429 : 200, (long long)i * 100);
	/* Stored as the roll-up stores it, read back as the API reads it. */
	agg_init(&b, 0);
	for (i = 0; i < a.nroutes; i++) {
		n = hist_encode(a.routes[i].hist, enc, sizeof(enc));
		ck_assert_int_eq(agg_add_route(&b, a.routes[i].method,
		    a.routes[i].endpoint, a.routes[i].calls, a.routes[i].errors,
		    a.routes[i].lat_sum, a.routes[i].lat_max, enc, n), 0);
	}
	agg_sort(&a);
	agg_sort(&b);
	ck_assert_uint_eq(a.nroutes, 4);
	ck_assert_uint_eq(b.nroutes, 4);
	ck_assert_uint_eq(b.calls, 30);
	ck_assert_uint_eq(b.errors, 6);
	for (i = 0; i < 4; i++) {
		ck_assert_str_eq(a.routes[i].endpoint, b.routes[i].endpoint);
		ck_assert_uint_eq(a.routes[i].calls, b.routes[i].calls);
		ck_assert_uint_eq(a.routes[i].lat_sum, b.routes[i].lat_sum);
		ck_assert(memcmp(a.routes[i].hist, b.routes[i].hist,
		    sizeof(a.routes[i].hist)) == 0);
		if (i > 0)
			ck_assert_uint_ge(b.routes[i - 1].calls,
			    b.routes[i].calls);
	}
	/* Negative and huge latencies are clamped, never wrap. */
	agg_add(&a, "GET", "/c", 200, -5);
	agg_add(&a, "GET", "/c", 200, 1LL << 40);
	agg_sort(&a);
	for (i = 0; i < a.nroutes; i++)
		if (strcmp(a.routes[i].endpoint, "/c") == 0)
			ck_assert_uint_eq(a.routes[i].lat_max, 0xffffffffu);
	agg_free(&a);
	agg_free(&b);
}
END_TEST

START_TEST(average_rounding)
{
	ck_assert_uint_eq(avg_round(0, 0), 0);
	ck_assert_uint_eq(avg_round(10, 4), 3);	/* 2.5 -> 3 */
	ck_assert_uint_eq(avg_round(9, 4), 2);	/* 2.25 -> 2 */
	ck_assert_uint_eq(avg_round(11, 4), 3);	/* 2.75 -> 3 */
	ck_assert_uint_eq(avg_round(3800, 2), 1900);
	ck_assert_uint_eq(avg_round(1, 3), 0);
	ck_assert_uint_eq(avg_round(2, 3), 1);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("rollup");
	TCase	*tc = tcase_create("arithmetic");

	tcase_add_test(tc, buckets_cover_and_bound);
	tcase_add_test(tc, hist_encode_roundtrip);
	tcase_add_test(tc, p95_exact_matches_sorting);
	tcase_add_test(tc, p95_histogram_bound);
	tcase_add_test(tc, routes_merge_and_sort);
	tcase_add_test(tc, average_rounding);
	suite_add_tcase(s, tc);
	return check_run(s, CK_FORK);
}
