/* Unit tests for lib/util.c and lib/config.c: no services. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

START_TEST(parse_int_bounds)
{
	long long	 v;

	ck_assert_int_eq(parse_int("30", 1, 365, &v), 0);
	ck_assert_int_eq(v, 30);
	ck_assert_int_eq(parse_int("0", 1, 365, &v), -1);
	ck_assert_int_eq(parse_int("366", 1, 365, &v), -1);
	ck_assert_int_eq(parse_int("-1", 1, 365, &v), -1);
	ck_assert_int_eq(parse_int("", 1, 365, &v), -1);
	ck_assert_int_eq(parse_int("12abc", 1, 365, &v), -1);
	ck_assert_int_eq(parse_int(" 12", 1, 365, &v), -1);
	ck_assert_int_eq(parse_int("+12", 1, 365, &v), -1);
	ck_assert_int_eq(parse_int("99999999999999999999", 1, 365, &v), -1);
	ck_assert_int_eq(parse_int(NULL, 1, 365, &v), -1);
}
END_TEST

START_TEST(ct_equal_compares)
{
	ck_assert(ct_equal("secret", "secret"));
	ck_assert(!ct_equal("secret", "secreT"));
	ck_assert(!ct_equal("secret", "secret1"));
	ck_assert(!ct_equal("", "x"));
	ck_assert(ct_equal("", ""));
}
END_TEST

START_TEST(base62_random)
{
	char	 a[33], b[33];
	size_t	 i;

	ck_assert_int_eq(random_base62(a, 32), 0);
	ck_assert_int_eq(random_base62(b, 32), 0);
	ck_assert_uint_eq(strlen(a), 32);
	ck_assert_str_ne(a, b);
	for (i = 0; i < 32; i++)
		ck_assert(strchr("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz", a[i]) != NULL);
}
END_TEST

START_TEST(periods_are_utc_months)
{
	time_t	 t, s;
	char	 buf[32];

	ck_assert_int_eq(time_parse_date("2025-10-15", &t), 0);
	t += 13 * 3600;
	time_format(period_start(t), buf, sizeof(buf));
	ck_assert_str_eq(buf, "2025-10-01T00:00:00Z");
	time_format(period_end(t), buf, sizeof(buf));
	ck_assert_str_eq(buf, "2025-11-01T00:00:00Z");
	ck_assert_int_eq(time_parse_date("2025-12-31", &t), 0);
	time_format(period_end(t), buf, sizeof(buf));
	ck_assert_str_eq(buf, "2026-01-01T00:00:00Z");
	s = day_start(t + 86399);
	ck_assert_int_eq(s, t);
	ck_assert_int_eq(time_parse_date("2025-02-30", &t), -1);
	ck_assert_int_eq(time_parse_date("2025-1-01", &t), -1);
	ck_assert_int_eq(time_parse_date("2025-01-01x", &t), -1);
}
END_TEST

/* FNV-1a 64 (the reference values of its authors' test suite). */
START_TEST(hash_is_fnv1a)
{
	ck_assert_uint_eq(fnv1a("", 0), 0xcbf29ce484222325ULL);
	ck_assert_uint_eq(fnv1a("a", 1), 0xaf63dc4c8601ec8cULL);
	ck_assert_uint_eq(fnv1a("foobar", 6), 0x85944171f73967e8ULL);
}
END_TEST

START_TEST(buf_respects_cap)
{
	struct buf	 b;

	buf_init(&b, 8);
	ck_assert_int_eq(buf_addstr(&b, "12345"), 0);
	ck_assert_int_eq(buf_addstr(&b, "6789"), -1);
	ck_assert_str_eq(b.data, "12345");
	ck_assert_int_eq(buf_printf(&b, "%d", 678), 0);
	ck_assert_str_eq(b.data, "12345678");
	buf_free(&b);
}
END_TEST

START_TEST(config_file_and_environment)
{
	char		 path[] = "/tmp/nexus-conf-XXXXXX";
	int		 fd = mkstemp(path);
	FILE		*f = fdopen(fd, "w");
	struct config	 c;

	fputs("# comment\ndb_name = fromfile\nworkers = 3\n"
	    "jwt_secret = \"quoted secret\"\n", f);
	fclose(f);
	setenv("NEXUS_WORKERS", "5", 1);
	setenv("CRON_SECRET", "cron-env-cron-env-cron-env-cron-env", 1);
	ck_assert_int_eq(config_load(&c, path), 0);
	ck_assert_str_eq(c.db_name, "fromfile");
	ck_assert_int_eq(c.workers, 5);
	ck_assert_str_eq(c.jwt_secret, "quoted secret");
	ck_assert_str_eq(c.cron_secret, "cron-env-cron-env-cron-env-cron-env");
	ck_assert_int_eq(c.flush_batch, 100);
	config_free(&c);

	setenv("NEXUS_WORKERS", "0", 1);
	ck_assert_int_eq(config_load(&c, path), -1);
	unsetenv("NEXUS_WORKERS");

	f = fopen(path, "w");
	fputs("no_such_key = 1\n", f);
	fclose(f);
	ck_assert_int_eq(config_load(&c, path), -1);
	unlink(path);
	ck_assert_int_eq(config_load(&c, path), -1);
	unsetenv("CRON_SECRET");
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("util");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, parse_int_bounds);
	tcase_add_test(tc, ct_equal_compares);
	tcase_add_test(tc, base62_random);
	tcase_add_test(tc, periods_are_utc_months);
	tcase_add_test(tc, hash_is_fnv1a);
	tcase_add_test(tc, buf_respects_cap);
	tcase_add_test(tc, config_file_and_environment);
	suite_add_tcase(s, tc);
	return check_run(s, CK_FORK);
}
