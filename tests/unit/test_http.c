/* Unit tests for cgi-bin/http.c and the router: no web server. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "web.h"
#include "itest.h"

static struct request	 r;

static void
setup_query(const char *q)
{
	req_free(&r);
	req_init(&r, NULL, NULL);
	r.query = q;
}

START_TEST(path_split)
{
	char		 path[16];
	const char	*q;

	ck_assert_int_eq(http_path_from_uri("/api/x?days=3", path,
	    sizeof(path), &q), 0);
	ck_assert_str_eq(path, "/api/x");
	ck_assert_str_eq(q, "days=3");
	ck_assert_int_eq(http_path_from_uri("/a", path, sizeof(path), &q), 0);
	ck_assert_str_eq(q, "");
	ck_assert_int_eq(http_path_from_uri("api", path, sizeof(path), &q), -1);
	ck_assert_int_eq(http_path_from_uri("", path, sizeof(path), &q), -1);
	ck_assert_int_eq(http_path_from_uri("/a%00b", path, sizeof(path), &q),
	    -1);
	ck_assert_int_eq(http_path_from_uri("/a\tb", path, sizeof(path), &q),
	    -1);
	ck_assert_int_eq(http_path_from_uri("/0123456789abcdefg", path,
	    sizeof(path), &q), -2);
}
END_TEST

START_TEST(query_values)
{
	char	 v[8];

	setup_query("days=30&plan=pro%20x&empty=&flag&plus=a+b");
	ck_assert_int_eq(req_query(&r, "days", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "30");
	ck_assert_int_eq(req_query(&r, "plan", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "pro x");
	ck_assert_int_eq(req_query(&r, "empty", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "");
	ck_assert_int_eq(req_query(&r, "flag", v, sizeof(v)), 1);
	ck_assert_int_eq(req_query(&r, "plus", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "a b");
	ck_assert_int_eq(req_query(&r, "day", v, sizeof(v)), 0);
	ck_assert_int_eq(req_query(&r, "missing", v, sizeof(v)), 0);

	setup_query("x=%zz&y=%4&z=%00&long=123456789");
	ck_assert_int_eq(req_query(&r, "x", v, sizeof(v)), -1);
	ck_assert_int_eq(req_query(&r, "y", v, sizeof(v)), -1);
	ck_assert_int_eq(req_query(&r, "z", v, sizeof(v)), -1);
	ck_assert_int_eq(req_query(&r, "long", v, sizeof(v)), -1);
}
END_TEST

START_TEST(query_int_range)
{
	long long	 d;

	setup_query("days=400");
	ck_assert_int_eq(req_query_int(&r, "days", 1, 365, 30, &d), -1);
	ck_assert_int_eq(r.status, 400);
	ck_assert(strstr(r.out.data, "from 1 to 365") != NULL);
	setup_query("days=-1");
	ck_assert_int_eq(req_query_int(&r, "days", 1, 365, 30, &d), -1);
	setup_query("days=99999999999999999999999");
	ck_assert_int_eq(req_query_int(&r, "days", 1, 365, 30, &d), -1);
	setup_query("");
	ck_assert_int_eq(req_query_int(&r, "days", 1, 365, 30, &d), 0);
	ck_assert_int_eq(d, 30);
	setup_query("days=7");
	ck_assert_int_eq(req_query_int(&r, "days", 1, 365, 30, &d), 0);
	ck_assert_int_eq(d, 7);
}
END_TEST

START_TEST(router_404_405)
{
	char	*env[] = { "HTTP_X_API_KEY=abc", NULL };

	req_free(&r);
	req_init(&r, NULL, env);
	ck_assert_str_eq(req_header(&r, "X-API-Key"), "abc");
	ck_assert_ptr_null(req_header(&r, "X-Other"));
	r.method = "GET";
	strlcpy_(r.path, "/api/missing", sizeof(r.path));
	route_dispatch(&r);
	ck_assert_int_eq(r.status, 404);

	req_free(&r);
	req_init(&r, NULL, env);
	r.method = "PUT";
	strlcpy_(r.path, "/api/live", sizeof(r.path));
	route_dispatch(&r);
	ck_assert_int_eq(r.status, 405);
	ck_assert(strstr(r.headers.data, "Allow: GET\r\n") != NULL);

	req_free(&r);
	req_init(&r, NULL, env);
	r.method = "GET";
	strlcpy_(r.path, "/api/live", sizeof(r.path));
	route_dispatch(&r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.out.data, "{\"status\":\"ok\"}\n");
}
END_TEST

int
main(void)
{
	int	 rc;
	Suite	*s = suite_create("http");
	TCase	*tc = tcase_create("parse");

	req_init(&r, NULL, NULL);
	tcase_add_test(tc, path_split);
	tcase_add_test(tc, query_values);
	tcase_add_test(tc, query_int_range);
	tcase_add_test(tc, router_404_405);
	suite_add_tcase(s, tc);
	rc = check_run(s, CK_NOFORK);
	req_free(&r);
	return rc;
}
