/*
 * Money: integer cents and micro-dollars, never a float. Formatting for
 * people (digit groups, dollars) and the overage price arithmetic: how
 * many calls make whole cents, and how an item reads on an invoice.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "nexus.h"

static const char *const months[12] = { "January", "February", "March",
    "April", "May", "June", "July", "August", "September", "October",
    "November", "December" };

/* Writes n with a comma between groups of three digits ("-1,234,567"). */
void
num_group(long long n, char *dst, size_t size)
{
	char			 digits[32], out[48];
	unsigned long long	 u = n < 0 ? 0ULL - (unsigned long long)n :
	    (unsigned long long)n;
	size_t			 nd, i, o = 0;

	nd = (size_t)snprintf(digits, sizeof(digits), "%llu", u);
	if (n < 0)
		out[o++] = '-';
	for (i = 0; i < nd; i++) {
		if (i > 0 && (nd - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
	strlcpy_(dst, out, size);
}

/* Writes integer cents as US dollars: 470500 -> "$4,705.00". */
void
money_format(long long cents, char *dst, size_t size)
{
	unsigned long long	 u = cents < 0 ?
	    0ULL - (unsigned long long)cents : (unsigned long long)cents;
	char			 whole[48];

	num_group((long long)(u / 100), whole, sizeof(whole));
	snprintf(dst, size, "%s$%s.%02llu", cents < 0 ? "-" : "", whole,
	    u % 100);
}

static long long
gcd(long long a, long long b)
{
	while (b != 0) {
		long long t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/*
 * The fewest calls whose price is whole cents at `micros` a call, and
 * those cents (at $0.001: 10 calls, 1 cent). Returns 0, -1 if micros <= 0.
 */
int
price_step(long long micros, long long *calls, long long *cents)
{
	long long	 g;

	if (micros <= 0)
		return -1;
	g = gcd(micros, MICROS_PER_CENT);
	*calls = MICROS_PER_CENT / g;
	*cents = micros / g;
	return 0;
}

/*
 * The most calls whose price at `micros` a call is at most `cents`: what
 * a spend cap pays for. At a price that does not divide a cent the last
 * fraction buys no call ($0.10 at $0.003: 33 calls, 9.9 cents), so the
 * calls never cost more than the cap. Returns -1 if micros <= 0 or cents
 * < 0; saturates at PRICE_CALLS_MAX.
 */
long long
price_calls(long long cents, long long micros)
{
	if (micros <= 0 || cents < 0)
		return -1;
	if (cents > PRICE_CALLS_MAX / MICROS_PER_CENT)
		return PRICE_CALLS_MAX;
	return cents * MICROS_PER_CENT / micros;
}

/*
 * How much of `unbilled` calls at `micros` micro-dollars each can be
 * billed in whole cents: the most calls whose price is a whole number of
 * cents (at $0.001 a call: multiples of 10). Returns 0 with *calls and
 * *cents set, or -1 for a price of zero or an amount too large.
 */
int
overage_billable(long long unbilled, long long micros, long long *calls,
    long long *cents)
{
	long long	 step, per_step;

	*calls = *cents = 0;
	if (unbilled < 0 || price_step(micros, &step, &per_step) == -1)
		return -1;
	if (unbilled / step > INT64_MAX / per_step)
		return -1;
	*calls = unbilled / step * step;
	*cents = unbilled / step * per_step;
	return 0;
}

/*
 * The item's description, as a customer reads it:
 * "API overage: 5,000 calls x $0.001, October 2025".
 * Returns 0, or -1 if it did not fit.
 */
int
overage_describe(char *dst, size_t n, long long calls, long long micros,
    time_t period)
{
	struct tm	 tm;
	char		 num[40], frac[8];
	int		 len, w;

	num_group(calls < 0 ? 0 : calls, num, sizeof(num));
	/* Dollars with as many decimals as the price needs, at least 2. */
	snprintf(frac, sizeof(frac), "%06lld", micros % 1000000);
	for (w = 6; w > 2 && frac[w - 1] == '0'; w--)
		frac[w - 1] = '\0';
	gmtime_r(&period, &tm);
	len = snprintf(dst, n, "API overage: %s call%s x $%lld.%s, %s %d",
	    num, calls == 1 ? "" : "s", micros / 1000000, frac,
	    months[tm.tm_mon], tm.tm_year + 1900);
	return len < 0 || (size_t)len >= n ? -1 : 0;
}
