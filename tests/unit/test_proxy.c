/*
 * Unit tests for lib/proxy.c (trusted proxies, the client behind them)
 * and the config keys that guard against hostile set-ups: no services.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

static struct proxies *
parse(const char *list)
{
	char	 err[256];

	return proxies_parse(list, err, sizeof(err));
}

START_TEST(lists_parse)
{
	static const char *const good[] = {
		"", " , ", "127.0.0.1", "10.0.0.0/8", "10.0.0.0/8,192.0.2.7",
		"10.0.0.0/8 192.0.2.7\t::1", "2001:db8::/32", "::/0",
		"0.0.0.0/0", "10.1.2.3/8", "::ffff:10.0.0.1", "fe80::1/128",
	};
	static const char *const bad[] = {
		"10.0.0.0/33", "::1/129", "1.2.3", "1.2.3.4.5", "abc",
		"10.0.0.0/", "/8", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8/8",
		"fe80::1%eth0", "[::1]", "1.2.3.4:80", "10.0.0.0/1000",
		"127.0.0.1, nope", "300.1.1.1",
	};
	struct proxies	*p;
	char		 err[256];
	size_t		 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_msg((p = parse(good[i])) != NULL, "%s", good[i]);
		proxies_free(p);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(proxies_parse(bad[i], err, sizeof(err)) == NULL,
		    "%s", bad[i]);
		ck_assert_msg(strstr(err, "is not an IPv4 or IPv6") != NULL,
		    "%s: %s", bad[i], err);
	}
}
END_TEST

START_TEST(addresses_match)
{
	struct proxies	*p = parse("10.0.0.0/8, 192.0.2.7, 2001:db8::/32, "
	    "172.16.5.9/12");
	struct proxies	*all4 = parse("0.0.0.0/0"), *all = parse("::/0");

	ck_assert(proxies_match(p, "10.0.0.1"));
	ck_assert(proxies_match(p, "10.255.255.255"));
	ck_assert(!proxies_match(p, "11.0.0.0"));
	ck_assert(!proxies_match(p, "9.255.255.255"));
	ck_assert(proxies_match(p, "192.0.2.7"));
	ck_assert(!proxies_match(p, "192.0.2.8"));
	ck_assert(proxies_match(p, "2001:db8::1"));
	ck_assert(proxies_match(p, "2001:DB8:ffff::"));
	ck_assert(!proxies_match(p, "2001:db9::1"));
	/* Host bits past the prefix are ignored: 172.16.0.0/12. */
	ck_assert(proxies_match(p, "172.31.0.1"));
	ck_assert(!proxies_match(p, "172.32.0.1"));
	/* IPv4 written as IPv4-mapped IPv6 is the same address. */
	ck_assert(proxies_match(p, "::ffff:10.1.2.3"));
	ck_assert(!proxies_match(p, "::10.1.2.3"));
	ck_assert(!proxies_match(p, ""));
	ck_assert(!proxies_match(p, "unix:"));
	ck_assert(!proxies_match(p, "10.0.0.1 "));
	ck_assert(!proxies_match(NULL, "10.0.0.1"));
	ck_assert(proxies_match(all4, "1.2.3.4"));
	ck_assert(!proxies_match(all4, "::1"));
	ck_assert(proxies_match(all, "::1"));
	ck_assert(proxies_match(all, "1.2.3.4"));
	proxies_free(p);
	proxies_free(all4);
	proxies_free(all);
}
END_TEST

static const char *
client(const struct proxies *p, const char *remote, const char *xff1,
    const char *xff2)
{
	static char	 out[64];
	const char	*f[2] = { xff1, xff2 };

	return proxies_client(p, remote, f, xff2 != NULL ? 2 :
	    xff1 != NULL ? 1 : 0, out, sizeof(out));
}

START_TEST(client_behind_proxies)
{
	struct proxies	*p = parse("127.0.0.1 10.0.0.0/8 2001:db8:ffff::/48");
	struct proxies	*none = parse("");

	/* Without a trusted sender, X-Forwarded-For is not read. */
	ck_assert_str_eq(client(NULL, "192.0.2.1", "6.6.6.6", NULL),
	    "192.0.2.1");
	ck_assert_str_eq(client(none, "127.0.0.1", "6.6.6.6", NULL),
	    "127.0.0.1");
	ck_assert_str_eq(client(p, "192.0.2.1", "6.6.6.6", NULL), "192.0.2.1");
	ck_assert_str_eq(client(p, "unix:", "6.6.6.6", NULL), "unix:");
	ck_assert_str_eq(client(p, "127.0.0.1", NULL, NULL), "127.0.0.1");

	/* The rightmost entry that is not a trusted proxy. */
	ck_assert_str_eq(client(p, "127.0.0.1", "203.0.113.9", NULL),
	    "203.0.113.9");
	ck_assert_str_eq(client(p, "127.0.0.1", "6.6.6.6, 203.0.113.9", NULL),
	    "203.0.113.9");
	ck_assert_str_eq(client(p, "127.0.0.1",
	    "6.6.6.6 , 203.0.113.9,10.1.2.3,\t10.9.9.9", NULL), "203.0.113.9");
	ck_assert_str_eq(client(p, "10.0.0.5", "203.0.113.9, 127.0.0.1",
	    NULL), "203.0.113.9");
	/* Empty entries are allowed (RFC 9110 5.6.1). */
	ck_assert_str_eq(client(p, "127.0.0.1", ",203.0.113.9,, ,", NULL),
	    "203.0.113.9");
	/* Every hop trusted: the first one. */
	ck_assert_str_eq(client(p, "127.0.0.1", "10.1.1.1, 10.2.2.2", NULL),
	    "10.1.1.1");
	ck_assert_str_eq(client(p, "127.0.0.1", "", NULL), "127.0.0.1");
	ck_assert_str_eq(client(p, "127.0.0.1", " , ", NULL), "127.0.0.1");

	/* Not an address: the walk ends at the hop that passed it on. */
	ck_assert_str_eq(client(p, "127.0.0.1", "6.6.6.6, not-an-ip", NULL),
	    "127.0.0.1");
	ck_assert_str_eq(client(p, "127.0.0.1", "6.6.6.6, x, 10.1.2.3", NULL),
	    "10.1.2.3");
	ck_assert_str_eq(client(p, "127.0.0.1", "203.0.113.9:4711", NULL),
	    "127.0.0.1");
	ck_assert_str_eq(client(p, "127.0.0.1", "[2001:db8::1]", NULL),
	    "127.0.0.1");

	/* Several fields are one list, in order. */
	ck_assert_str_eq(client(p, "127.0.0.1", "6.6.6.6", "198.51.100.4"),
	    "198.51.100.4");
	ck_assert_str_eq(client(p, "127.0.0.1", "198.51.100.4", "10.0.0.9"),
	    "198.51.100.4");
	ck_assert_str_eq(client(p, "127.0.0.1", "6.6.6.6, 198.51.100.4", ""),
	    "198.51.100.4");

	/* IPv6, and addresses come back in their canonical form. */
	ck_assert_str_eq(client(p, "127.0.0.1", "2001:DB8::0001", NULL),
	    "2001:db8::1");
	ck_assert_str_eq(client(p, "127.0.0.1", "2001:db8::1, "
	    "2001:db8:ffff:1::7", NULL), "2001:db8::1");
	ck_assert_str_eq(client(p, "::ffff:127.0.0.1", "::ffff:198.51.100.4",
	    NULL), "198.51.100.4");
	ck_assert_str_eq(client(p, "127.0.0.1", "0198.51.100.4", NULL),
	    "127.0.0.1");
	proxies_free(p);
	proxies_free(none);
}
END_TEST

/* Writes text to a fresh config file; returns its path (static). */
static const char *
conf(const char *text)
{
	static char	 path[64];
	FILE		*f;
	int		 fd;

	strlcpy_(path, "/tmp/nexus-conf-XXXXXX", sizeof(path));
	ck_assert((fd = mkstemp(path)) != -1);
	ck_assert((f = fdopen(fd, "w")) != NULL);
	fputs(text, f);
	fclose(f);
	return path;
}

static int
load(const char *text, struct config *c)
{
	const char	*path = conf(text);
	int		 rc = config_load(c, path);

	unlink(path);
	return rc;
}

START_TEST(config_keys)
{
	struct config	 c;

	ck_assert_int_eq(load("", &c), 0);
	ck_assert_int_eq(c.db_retry_ms, 1000);
	ck_assert_int_eq(c.db_read_timeout, 10);
	ck_assert_int_eq(c.db_write_timeout, 10);
	ck_assert_int_eq(c.stripe_allow_http, 0);
	ck_assert(c.proxies == NULL);
	config_free(&c);

	ck_assert_int_eq(load("db_retry_ms = 250\ndb_read_timeout = 3\n"
	    "db_write_timeout = 4\n", &c), 0);
	ck_assert_int_eq(c.db_retry_ms, 250);
	ck_assert_int_eq(c.db_read_timeout, 3);
	ck_assert_int_eq(c.db_write_timeout, 4);
	config_free(&c);
	ck_assert_int_eq(load("db_retry_ms = 0\n", &c), -1);
	ck_assert_int_eq(load("db_read_timeout = 0\n", &c), -1);
	ck_assert_int_eq(load("db_write_timeout = 3601\n", &c), -1);

	/* trusted_proxies is parsed at load; trusted_proxy is its old name. */
	ck_assert_int_eq(load("trusted_proxies = 10.0.0.0/8, ::1\n", &c), 0);
	ck_assert(proxies_match(c.proxies, "10.9.8.7"));
	ck_assert(proxies_match(c.proxies, "::1"));
	config_free(&c);
	ck_assert(c.proxies == NULL);
	ck_assert_int_eq(load("trusted_proxy = 192.0.2.1\n", &c), 0);
	ck_assert_str_eq(c.trusted_proxies, "192.0.2.1");
	ck_assert(proxies_match(c.proxies, "192.0.2.1"));
	config_free(&c);
	ck_assert_int_eq(load("trusted_proxies = 10.0.0.0/33\n", &c), -1);
	setenv("NEXUS_TRUSTED_PROXIES", "not-an-address", 1);
	ck_assert_int_eq(load("", &c), -1);
	unsetenv("NEXUS_TRUSTED_PROXIES");

	/* A cron secret too short to resist guessing is refused. */
	ck_assert_int_eq(load("cron_secret = 0123456789012345678901234567890\n",
	    &c), -1);
	ck_assert_int_eq(load("cron_secret = 01234567890123456789012345678901\n",
	    &c), 0);
	config_free(&c);
	setenv("CRON_SECRET", "short", 1);
	ck_assert_int_eq(load("", &c), -1);
	unsetenv("CRON_SECRET");

	/* The Stripe key never travels in clear, unless a test says so. */
	ck_assert_int_eq(load("stripe_api_base = http://127.0.0.1:9\n", &c),
	    -1);
	ck_assert_int_eq(load("stripe_api_base = ftp://x\n", &c), -1);
	ck_assert_int_eq(load("stripe_api_base = http://127.0.0.1:9\n"
	    "stripe_allow_http = 1\n", &c), 0);
	config_free(&c);
	ck_assert_int_eq(load("stripe_api_base = HTTPS://api.stripe.com\n",
	    &c), 0);
	config_free(&c);
	ck_assert_int_eq(load("stripe_allow_http = 2\n", &c), -1);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("proxy");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, lists_parse);
	tcase_add_test(tc, addresses_match);
	tcase_add_test(tc, client_behind_proxies);
	tcase_add_test(tc, config_keys);
	suite_add_tcase(s, tc);
	return check_run(s, CK_FORK);
}
