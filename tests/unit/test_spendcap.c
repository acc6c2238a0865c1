/*
 * Unit tests for the spend cap's arithmetic: the calls a cap pays for
 * (price_calls) and the figures of a cap against a period's calls
 * (spendcap_figures). No services.
 */
#include "config.h"

#include <check.h>
#include <string.h>

#include "itest.h"

START_TEST(calls_a_cap_pays_for)
{
	static const struct {
		long long cents, micros, calls;
	} t[] = {
		{ 0, 1000, 0 },			/* no overage at all */
		{ 5, 1000, 50 },
		{ 500, 1000, 5000 },
		{ 10, 3000, 33 },		/* 9.9 cents: never over */
		{ 1, 3000, 3 },
		{ 1, 20000, 0 },		/* $0.02 a call: a cent buys none */
		{ 3, 20000, 1 },
		{ 7, 1500, 46 },		/* 6.9 cents */
		{ SPEND_CAP_MAX, 1, SPEND_CAP_MAX * MICROS_PER_CENT },
		{ 1000000000000000LL, 1, PRICE_CALLS_MAX },	/* saturates */
	};
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		long long calls = price_calls(t[i].cents, t[i].micros);

		ck_assert_msg(calls == t[i].calls, "%lld cents at %lld: %lld, "
		    "want %lld", t[i].cents, t[i].micros, calls, t[i].calls);
		/* What the calls cost is within the cap. */
		ck_assert(calls * t[i].micros <= t[i].cents * MICROS_PER_CENT ||
		    calls == PRICE_CALLS_MAX);
	}
	ck_assert_int_eq(price_calls(5, 0), -1);
	ck_assert_int_eq(price_calls(-1, 1000), -1);
}
END_TEST

static struct spend_cap
pro(long long cap, long long calls)
{
	struct spend_cap	 c;

	memset(&c, 0, sizeof(c));
	c.cap_cents = cap;
	c.allowance = 100000;
	c.micros = 1000;
	c.calls = calls;
	spendcap_figures(&c);
	return c;
}

START_TEST(figures)
{
	struct spend_cap	 c;

	c = pro(-1, 100500);		/* no cap: overage runs on */
	ck_assert(c.available);
	ck_assert_int_eq(c.limit, -1);
	ck_assert_int_eq(c.remaining, -1);
	ck_assert_int_eq(c.overage_calls, 500);
	ck_assert_int_eq(c.overage_cents, 50);
	ck_assert(!c.reached);

	c = pro(500, 101000);		/* $5: 5,000 calls */
	ck_assert_int_eq(c.cap_calls, 5000);
	ck_assert_int_eq(c.limit, 105000);
	ck_assert_int_eq(c.remaining, 4000);
	ck_assert_int_eq(c.overage_cents, 100);
	ck_assert(!c.reached);

	c = pro(500, 105000);
	ck_assert_int_eq(c.remaining, 0);
	ck_assert(c.reached);

	c = pro(300, 108000);		/* lowered after the calls */
	ck_assert_int_eq(c.overage_calls, 8000);
	ck_assert_int_eq(c.overage_cents, 300);	/* billed no more */
	ck_assert(c.reached);

	c = pro(0, 99999);		/* stop at the allowance */
	ck_assert_int_eq(c.limit, 100000);
	ck_assert_int_eq(c.remaining, 1);

	c = pro(500, 10);		/* a Free-like plan takes no cap */
	c.hard = 1;
	c.micros = 0;
	spendcap_figures(&c);
	ck_assert(!c.available);
	ck_assert_int_eq(c.limit, -1);
	ck_assert_int_eq(c.overage_cents, 0);
	ck_assert(!c.reached);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("spendcap");
	TCase	*tc = tcase_create("spendcap");

	tcase_add_test(tc, calls_a_cap_pays_for);
	tcase_add_test(tc, figures);
	suite_add_tcase(s, tc);
	return check_run(s, CK_FORK);
}
