/* Unit tests for the overage price arithmetic and formatting: no services. */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <string.h>

#include "itest.h"

START_TEST(billable_whole_cents)
{
	static const struct {
		long long unbilled, micros, calls, cents;
	} t[] = {
		{ 0, 1000, 0, 0 },
		{ 7, 1000, 0, 0 },		/* under a cent: carried */
		{ 10, 1000, 10, 1 },
		{ 5003, 1000, 5000, 500 },
		{ 5009, 1000, 5000, 500 },	/* never rounded up */
		{ 19, 1500, 0, 0 },		/* $0.0015: 20 calls, 3 cents */
		{ 47, 1500, 40, 6 },
		{ 3, 10000, 3, 3 },		/* $0.01: every call */
		{ 3, 2500000, 3, 750 },		/* $2.50 */
		{ 99, 3, 0, 0 },		/* 10000 calls a 3 cents */
		{ 20001, 3, 20000, 6 },
	};
	long long	 calls, cents;
	size_t		 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_int_eq(overage_billable(t[i].unbilled, t[i].micros,
		    &calls, &cents), 0);
		ck_assert_msg(calls == t[i].calls && cents == t[i].cents,
		    "%lld at %lld: %lld calls %lld cents", t[i].unbilled,
		    t[i].micros, calls, cents);
		/* What is billed costs exactly the cents: no fraction. */
		ck_assert_int_eq(calls * t[i].micros, cents * 10000);
	}
	ck_assert_int_eq(overage_billable(10, 0, &calls, &cents), -1);
	ck_assert_int_eq(overage_billable(-1, 1000, &calls, &cents), -1);
	ck_assert_int_eq(overage_billable(INT64_MAX, 1000000000000LL, &calls,
	    &cents), -1);
}
END_TEST

/* The fewest calls that cost whole cents, and those cents. */
START_TEST(price_steps)
{
	long long	 calls, cents;

	ck_assert_int_eq(price_step(1000, &calls, &cents), 0);	/* $0.001 */
	ck_assert(calls == 10 && cents == 1);
	ck_assert_int_eq(price_step(1500, &calls, &cents), 0);
	ck_assert(calls == 20 && cents == 3);
	ck_assert_int_eq(price_step(2500000, &calls, &cents), 0);
	ck_assert(calls == 1 && cents == 250);
	ck_assert_int_eq(price_step(3, &calls, &cents), 0);
	ck_assert(calls == 10000 && cents == 3);
	ck_assert_int_eq(price_step(0, &calls, &cents), -1);
	ck_assert_int_eq(price_step(-5, &calls, &cents), -1);
}
END_TEST

START_TEST(describe_reads_well)
{
	char	 d[256];
	time_t	 oct = 1759276800;	/* 2025-10-01T00:00:00Z */

	ck_assert_int_eq(overage_describe(d, sizeof(d), 5000, 1000, oct), 0);
	ck_assert_str_eq(d, "API overage: 5,000 calls x $0.001, October 2025");
	overage_describe(d, sizeof(d), 1234567, 1500, oct);
	ck_assert_str_eq(d,
	    "API overage: 1,234,567 calls x $0.0015, October 2025");
	overage_describe(d, sizeof(d), 1, 10000, oct - 1);
	ck_assert_str_eq(d, "API overage: 1 call x $0.01, September 2025");
	overage_describe(d, sizeof(d), 100, 2500000, oct);
	ck_assert_str_eq(d, "API overage: 100 calls x $2.50, October 2025");
	ck_assert_int_eq(overage_describe(d, 10, 5000, 1000, oct), -1);
}
END_TEST

START_TEST(period_parse)
{
	static const char *const bad[] = { "", "2025", "2025-1", "2025-13",
	    "2025-00", "25-10", "2025/10", "2025-10-01", "2025-1a", "+025-10",
	    "1969-12", " 2025-10" };
	char	 p[11];
	size_t	 i;

	ck_assert_int_eq(overage_period_parse("2025-10", p, sizeof(p)), 0);
	ck_assert_str_eq(p, "2025-10-01");
	ck_assert_int_eq(overage_period_parse("1999-01", p, sizeof(p)), 0);
	ck_assert_str_eq(p, "1999-01-01");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(overage_period_parse(bad[i], p, sizeof(p)) == -1,
		    "'%s' accepted", bad[i]);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("overage");
	TCase	*tc = tcase_create("overage");

	tcase_add_test(tc, billable_whole_cents);
	tcase_add_test(tc, price_steps);
	tcase_add_test(tc, describe_reads_well);
	tcase_add_test(tc, period_parse);
	suite_add_tcase(s, tc);
	return check_run(s, CK_FORK);
}
