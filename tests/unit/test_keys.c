/*
 * Unit tests for lib/keyfmt.c (a key's shape and MAC, the names and
 * expiries keys may have) and lib/body.c (JSON request bodies): no
 * services.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

#define SECRET	"unit-test-key-secret-0123456789abcdef"

START_TEST(generated_keys_carry_their_mac)
{
	char	 key[KEY_LEN + 1], other[KEY_LEN + 1];
	int	 i;

	for (i = 0; i < 200; i++) {
		ck_assert_int_eq(key_generate(SECRET, key), 0);
		ck_assert_uint_eq(strlen(key), KEY_LEN);
		ck_assert(key_format_valid(key));
		ck_assert(key_mac_valid(SECRET, key));
		/* Another secret, or any one character changed: refused. */
		ck_assert(!key_mac_valid(SECRET "x", key));
		memcpy(other, key, sizeof(other));
		other[8 + i % KEY_BODY] = other[8 + i % KEY_BODY] == 'a' ?
		    'b' : 'a';
		ck_assert(!key_mac_valid(SECRET, other));
	}
	/* Two keys differ in their random part. */
	ck_assert_int_eq(key_generate(SECRET, other), 0);
	ck_assert(strncmp(key, other, KEY_LEN - KEY_MAC) != 0);
}
END_TEST

START_TEST(random_keys_fail_the_mac)
{
	char	 key[KEY_LEN + 1];
	int	 i, passed = 0;

	memcpy(key, KEY_PREFIX, sizeof(KEY_PREFIX) - 1);
	for (i = 0; i < 10000; i++) {
		ck_assert_int_eq(random_base62(key + 8, KEY_BODY), 0);
		ck_assert(key_format_valid(key));
		passed += key_mac_valid(SECRET, key);
	}
	ck_assert_int_eq(passed, 0);
}
END_TEST

START_TEST(key_shapes)
{
	char	 k[KEY_LEN + 2];

	memset(k, '0', sizeof(k));
	memcpy(k, KEY_PREFIX, 8);
	k[KEY_LEN] = '\0';
	ck_assert(key_format_valid(k));
	k[20] = '-';
	ck_assert(!key_format_valid(k));
	k[20] = '0';
	k[KEY_LEN - 1] = '\0';			/* one short */
	ck_assert(!key_format_valid(k));
	k[KEY_LEN - 1] = '0';
	k[KEY_LEN] = '0';			/* one long */
	k[KEY_LEN + 1] = '\0';
	ck_assert(!key_format_valid(k));
	k[KEY_LEN] = '\0';
	k[3] = 't';				/* nx_test_ */
	ck_assert(!key_format_valid(k));
	ck_assert(!key_format_valid(""));
	ck_assert(!key_format_valid(KEY_PREFIX));
}
END_TEST

START_TEST(secret_needs_32_bytes)
{
	ck_assert_ptr_nonnull(key_secret_problem(NULL));
	ck_assert_ptr_nonnull(key_secret_problem("0123456789abcdef0123456789abcde"));
	ck_assert_ptr_null(key_secret_problem("0123456789abcdef0123456789abcdef"));
}
END_TEST

static const char *
name_problem(const char *s)
{
	return key_name_problem(s, strlen(s));
}

START_TEST(names_are_text_of_100_characters)
{
	char	 s[512];
	size_t	 i;

	ck_assert_ptr_null(name_problem("ci runner"));
	ck_assert_ptr_null(name_problem("<img src=x onerror=alert(1)>"));
	ck_assert_ptr_nonnull(name_problem(""));
	memset(s, 'x', 100);
	s[100] = '\0';
	ck_assert_ptr_null(name_problem(s));
	s[100] = 'x';
	s[101] = '\0';
	ck_assert_str_eq(name_problem(s), "must be 1 to 100 characters");
	/* Characters, not bytes: 100 of 3 bytes each fit. */
	for (i = 0; i < 100; i++)
		memcpy(s + i * 3, "\xe2\x82\xac", 3);	/* U+20AC */
	s[300] = '\0';
	ck_assert_ptr_null(name_problem(s));
	memcpy(s + 300, "\xe2\x82\xac", 4);
	ck_assert_str_eq(name_problem(s), "must be 1 to 100 characters");
	ck_assert_str_eq(name_problem("a\tb"),
	    "must not contain control characters");
	ck_assert_str_eq(name_problem("a\x7f"),
	    "must not contain control characters");
	ck_assert_str_eq(name_problem("a\xc2\x85"),	/* U+0085, C1 */
	    "must not contain control characters");
	ck_assert_str_eq(name_problem("a\xc3"), "is not valid UTF-8");
	ck_assert_str_eq(name_problem("\xc0\xaf"), "is not valid UTF-8");
	ck_assert_str_eq(name_problem("\xed\xa0\x80"), "is not valid UTF-8");
	ck_assert_str_eq(name_problem("\xf4\x90\x80\x80"), "is not valid UTF-8");
	ck_assert_ptr_null(name_problem("\xf0\x9f\x94\x91 deploy"));
	ck_assert_ptr_nonnull(key_name_problem("a\0b", 3));
}
END_TEST

START_TEST(expiries_are_future_days_within_ten_years)
{
	time_t	 now = 1760000000;	/* 2025-10-09 */

	ck_assert_ptr_nonnull(key_expiry_problem(now - 86400, now));
	ck_assert_ptr_nonnull(key_expiry_problem(now, now));
	ck_assert_ptr_null(key_expiry_problem(now + 86400, now));
	ck_assert_ptr_null(key_expiry_problem(now + 3650LL * 86400, now));
	ck_assert_ptr_nonnull(key_expiry_problem(now + 3651LL * 86400, now));
	ck_assert_ptr_nonnull(key_expiry_problem((time_t)INT32_MAX + 1,
	    (time_t)INT32_MAX - 86400));
}
END_TEST

static const struct body_field fields[] = {
	{ "name",		BODY_STR,	0, 0 },
	{ "grace_seconds",	BODY_INT,	0, 604800 },
	{ "on",			BODY_BOOL,	0, 0 },
};
#define NF	(sizeof(fields) / sizeof(fields[0]))

/* Parses s; returns the result, the error in err. */
static int
parse(const char *s, size_t len, struct body_value *v, char *err)
{
	int	 rc;

	err[0] = '\0';
	rc = body_parse(s, len, fields, NF, v, err, 256);
	if (rc != BODY_OK)
		ck_assert_msg(err[0] != '\0', "%s: no reason", s);
	return rc;
}

/* Expects s refused with a reason that contains want. */
static void
refused(const char *s, const char *want)
{
	struct body_value	 v[NF];
	char			 err[256];

	ck_assert_msg(parse(s, strlen(s), v, err) == BODY_INVALID, "%s", s);
	ck_assert_msg(strstr(err, want) != NULL, "%s: %s", s, err);
	body_free(v, NF);
}

START_TEST(bodies_of_known_fields)
{
	struct body_value	 v[NF];
	char			 err[256];
	const char		*s;

	ck_assert_int_eq(parse("", 0, v, err), BODY_OK);
	ck_assert(!v[0].set && !v[1].set && !v[2].set);
	s = " {\"name\": \"a \\\"b\\\" \\u00e9\\ud83d\\udd11\", "
	    "\"grace_seconds\": 3600, \"on\": true}\r\n";
	ck_assert_int_eq(parse(s, strlen(s), v, err), BODY_OK);
	ck_assert_str_eq(v[0].s, "a \"b\" \xc3\xa9\xf0\x9f\x94\x91");
	ck_assert_uint_eq(v[0].len, strlen(v[0].s));
	ck_assert_int_eq(v[1].i, 3600);
	ck_assert_int_eq(v[2].i, 1);
	body_free(v, NF);
	s = "{\"name\": null, \"grace_seconds\": -0}";
	ck_assert_int_eq(parse(s, strlen(s), v, err), BODY_OK);
	ck_assert(!v[0].set && v[1].set && v[1].i == 0);
	body_free(v, NF);
}
END_TEST

START_TEST(bodies_refused_with_a_reason)
{
	struct body_value	 v[NF];
	char			 err[256], big[BODY_MAX + 2];

	refused("{", "not valid JSON");
	refused("{\"name\":\"a\",}", "not valid JSON");
	refused("{'name':'a'}", "not valid JSON");
	refused("{\"name\":\"a\"} x", "not valid JSON");
	refused("{\"name\":\"a\"}{}", "not valid JSON");
	refused("{\"name\":\"a\tb\"}", "not valid JSON");
	refused("{\"name\":\"\\ud800\"}", "not valid JSON");
	refused("{\"name\":\"\xff\"}", "not valid JSON");
	refused("{\"grace_seconds\":NaN}", "not valid JSON");
	refused("{\"grace_seconds\":01}", "not valid JSON");
	refused("   ", "not valid JSON");
	refused("{\"x\":[[[[[[[[[[1]]]]]]]]]]}", "nested too deep");
	refused("[]", "must be a JSON object");
	refused("\"name\"", "must be a JSON object");
	refused("{\"nam\":\"x\"}", "unknown field \"nam\"");
	refused("{\"name\":\"x\",\"name\":\"y\"}", "name is given twice");
	refused("{\"name\":5}", "name must be a string");
	refused("{\"name\":[\"x\"]}", "name must be a string");
	refused("{\"name\":\"\\u0000\"}", "name must not contain U+0000");
	refused("{\"grace_seconds\":604801}", "from 0 to 604800");
	refused("{\"grace_seconds\":-1}", "from 0 to 604800");
	refused("{\"grace_seconds\":1.5}", "from 0 to 604800");
	refused("{\"grace_seconds\":1e3}", "from 0 to 604800");
	refused("{\"grace_seconds\":\"60\"}", "from 0 to 604800");
	refused("{\"grace_seconds\":99999999999999999999999}", "from 0 to 604800");
	refused("{\"on\":1}", "on must be true or false");
	/* A NUL byte in the body itself. */
	ck_assert_int_eq(parse("{\"name\":\"a\0\"}", 12, v, err), BODY_INVALID);
	body_free(v, NF);
	memset(big, ' ', sizeof(big));
	big[0] = '{';
	big[BODY_MAX] = '}';
	ck_assert_int_eq(parse(big, BODY_MAX + 1, v, err), BODY_TOO_LARGE);
	ck_assert_int_eq(parse(big, BODY_MAX, v, err), BODY_INVALID);
	big[BODY_MAX - 1] = '}';
	ck_assert_int_eq(parse(big, BODY_MAX, v, err), BODY_OK);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("keys");
	TCase	*tc = tcase_create("keyfmt-body");

	tcase_add_test(tc, generated_keys_carry_their_mac);
	tcase_add_test(tc, random_keys_fail_the_mac);
	tcase_add_test(tc, key_shapes);
	tcase_add_test(tc, secret_needs_32_bytes);
	tcase_add_test(tc, names_are_text_of_100_characters);
	tcase_add_test(tc, expiries_are_future_days_within_ten_years);
	tcase_add_test(tc, bodies_of_known_fields);
	tcase_add_test(tc, bodies_refused_with_a_reason);
	suite_add_tcase(s, tc);
	return check_run(s, CK_FORK);
}
