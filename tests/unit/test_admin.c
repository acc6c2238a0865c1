/* Unit tests for the admin pieces that need no database. */
#include "config.h"

#include <check.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

START_TEST(money_formats_cents)
{
	static const struct { long long cents; const char *s; } t[] = {
		{ 0, "$0.00" }, { 1, "$0.01" }, { 45, "$0.45" },
		{ 100, "$1.00" }, { 4900, "$49.00" }, { 99999, "$999.99" },
		{ 100000, "$1,000.00" }, { 470500, "$4,705.00" },
		{ 112700000, "$1,127,000.00" }, { -470501, "-$4,705.01" },
		{ LLONG_MAX, "$92,233,720,368,547,758.07" },
		{ LLONG_MIN, "-$92,233,720,368,547,758.08" },
	};
	char	 buf[64];
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		money_format(t[i].cents, buf, sizeof(buf));
		ck_assert_str_eq(buf, t[i].s);
	}
	money_format(470500, buf, 6);	/* truncated, still terminated */
	ck_assert_str_eq(buf, "$4,70");
}
END_TEST

START_TEST(num_groups_digits)
{
	static const struct { long long n; const char *s; } t[] = {
		{ 0, "0" }, { 999, "999" }, { 1000, "1,000" },
		{ 5000, "5,000" }, { 100000, "100,000" },
		{ 1234567, "1,234,567" }, { -1234, "-1,234" },
	};
	char	 buf[32];
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		num_group(t[i].n, buf, sizeof(buf));
		ck_assert_str_eq(buf, t[i].s);
	}
}
END_TEST

START_TEST(admins_exact_list)
{
	struct admins	*a = admins_new(" eco_usr_AAAA1111 ,eco_usr_bbbb2222,,"
	    "  , not-a-user, eco_usr_x y, eco_usr_CCCC3333\t");

	ck_assert_uint_eq(admins_count(a), 3);
	ck_assert(admins_has(a, "eco_usr_AAAA1111"));
	ck_assert(admins_has(a, "eco_usr_bbbb2222"));
	ck_assert(admins_has(a, "eco_usr_CCCC3333"));
	/* Exact: no case folding, no prefixes, no blanks. */
	ck_assert(!admins_has(a, "eco_usr_aaaa1111"));
	ck_assert(!admins_has(a, "eco_usr_AAAA111"));
	ck_assert(!admins_has(a, "eco_usr_AAAA11111"));
	ck_assert(!admins_has(a, " eco_usr_AAAA1111"));
	ck_assert(!admins_has(a, "not-a-user"));
	ck_assert(!admins_has(a, ""));
	admins_free(a);
}
END_TEST

START_TEST(admins_empty)
{
	struct admins	*a = admins_new(NULL), *b = admins_new(" , ,");
	char		 longid[128];

	ck_assert_uint_eq(admins_count(a), 0);
	ck_assert(!admins_has(a, "eco_usr_AAAA1111"));
	ck_assert_uint_eq(admins_count(b), 0);
	ck_assert(!admins_has(NULL, "eco_usr_AAAA1111"));
	admins_free(a);
	admins_free(b);
	/* Longer than any user id: skipped, not truncated into one. */
	memcpy(longid, "eco_usr_", 8);
	memset(longid + 8, 'a', 100);
	longid[108] = '\0';
	a = admins_new(longid);
	ck_assert_uint_eq(admins_count(a), 0);
	longid[USER_ID_MAX] = '\0';
	ck_assert(!admins_has(a, longid));
	admins_free(a);
}
END_TEST

START_TEST(sort_keys)
{
	enum admin_sort	 s;
	int		 desc;

	ck_assert_int_eq(admin_sort_parse("calls", &s, &desc), 0);
	ck_assert_int_eq(s, SORT_CALLS);
	ck_assert_int_eq(desc, 1);
	ck_assert_int_eq(admin_sort_parse("revenue", &s, &desc), 0);
	ck_assert_int_eq(s, SORT_REVENUE);
	ck_assert_int_eq(admin_sort_parse("created", &s, &desc), 0);
	ck_assert_int_eq(s, SORT_CREATED);
	ck_assert_int_eq(desc, 1);
	ck_assert_int_eq(admin_sort_parse("email", &s, &desc), 0);
	ck_assert_int_eq(s, SORT_EMAIL);
	ck_assert_int_eq(desc, 0);
	ck_assert_int_eq(admin_sort_parse("Calls", &s, &desc), -1);
	ck_assert_int_eq(admin_sort_parse("", &s, &desc), -1);
	ck_assert_int_eq(admin_sort_parse("calls;", &s, &desc), -1);
	ck_assert_str_eq(admin_sort_name(SORT_REVENUE), "revenue");
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("admin");
	TCase	*tc = tcase_create("admin");

	tcase_add_test(tc, money_formats_cents);
	tcase_add_test(tc, num_groups_digits);
	tcase_add_test(tc, admins_exact_list);
	tcase_add_test(tc, admins_empty);
	tcase_add_test(tc, sort_keys);
	suite_add_tcase(s, tc);
	return check_run(s, CK_FORK);
}
