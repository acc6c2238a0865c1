/* Unit tests for cgi-bin/http.c and the router (routes.c): no web server. */
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

START_TEST(route_patterns)
{
	struct path_param	 p[PATH_PARAMS_MAX];
	char			 path[PATH_PARAM_MAX + 32];
	size_t			 n;

	ck_assert_int_eq(route_match("/api/live", "/api/live", p, &n), 1);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(route_match("/api/live", "/api/live/", p, &n), 0);
	ck_assert_int_eq(route_match("/api/live", "/api/liv", p, &n), 0);
	ck_assert_int_eq(route_match("/api/live", "/api", p, &n), 0);

	ck_assert_int_eq(route_match("/api/keys/{id}/rotate",
	    "/api/keys/42/rotate", p, &n), 1);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(p[0].namelen, 2);
	ck_assert_int_eq(strncmp(p[0].name, "id", 2), 0);
	ck_assert_str_eq(p[0].value, "42");
	ck_assert_int_eq(route_match("/api/admin/users/{id}/keys/{key_id}",
	    "/api/admin/users/eco_usr_a%62c/keys/7", p, &n), 1);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(p[0].value, "eco_usr_abc");	/* decoded */
	ck_assert_str_eq(p[1].value, "7");

	/* A parameter takes one whole, non-empty segment. */
	ck_assert_int_eq(route_match("/api/keys/{id}", "/api/keys/", p, &n), 0);
	ck_assert_int_eq(route_match("/api/keys/{id}", "/api/keys//", p, &n), 0);
	ck_assert_int_eq(route_match("/api/keys/{id}", "/api/keys/1/2", p,
	    &n), 0);
	ck_assert_int_eq(route_match("/api/keys/{id}/rotate",
	    "/api/keys/1/rotat", p, &n), 0);
	/* Bounded, and no bad or NUL escape. */
	memset(path, 'a', sizeof(path));
	memcpy(path, "/k/", 3);
	path[3 + PATH_PARAM_MAX] = '\0';
	ck_assert_int_eq(route_match("/k/{id}", path, p, &n), 1);
	ck_assert_uint_eq(strlen(p[0].value), PATH_PARAM_MAX);
	path[3 + PATH_PARAM_MAX] = 'a';
	path[4 + PATH_PARAM_MAX] = '\0';
	ck_assert_int_eq(route_match("/k/{id}", path, p, &n), 0);
	ck_assert_int_eq(route_match("/k/{id}", "/k/%zz", p, &n), 0);
	ck_assert_int_eq(route_match("/k/{id}", "/k/a%2", p, &n), 0);
	ck_assert_int_eq(route_match("/k/{id}", "/k/%00", p, &n), 0);
	ck_assert_int_eq(route_match("/k/{id}", "/k/a+b", p, &n), 1);
	ck_assert_str_eq(p[0].value, "a+b");	/* '+' is no space here */
	/* No more than PATH_PARAMS_MAX values. */
	ck_assert_int_eq(route_match("/{a}/{b}/{c}/{d}", "/1/2/3/4", p, &n), 1);
	ck_assert_int_eq(route_match("/{a}/{b}/{c}/{d}/{e}", "/1/2/3/4/5", p,
	    &n), 0);
}
END_TEST

/* Handlers of the test table: they answer what they were given. */
static void
echo_id(struct request *rq)
{
	json_object	*o = json_object_new_object();
	const char	*id = req_path_param(rq, "id");

	json_object_object_add(o, "id", id != NULL ?
	    json_object_new_string(id) : NULL);
	json_object_object_add(o, "key", req_path_param(rq, "key_id") != NULL ?
	    json_object_new_string(req_path_param(rq, "key_id")) : NULL);
	resp_json(rq, 200, o);
}

static void
answer_204(struct request *rq)
{
	rq->status = 204;
}

static const struct route test_routes[] = {
	{ "GET",    "/api/keys",			AUTH_NONE, echo_id },
	{ "POST",   "/api/keys",			AUTH_NONE, answer_204 },
	{ "GET",    "/api/keys/new",			AUTH_NONE, answer_204 },
	{ "GET",    "/api/keys/{id}",			AUTH_NONE, echo_id },
	{ "DELETE", "/api/keys/{id}",			AUTH_NONE, answer_204 },
	{ "POST",   "/api/keys/{id}/rotate",		AUTH_NONE, echo_id },
	{ "DELETE", "/api/users/{id}/keys/{key_id}",	AUTH_NONE, echo_id },
	{ "PUT",    "/api/users/{id}/keys/{key_id}",	AUTH_NONE, echo_id },
};

static void
dispatch(const char *method, const char *path)
{
	req_free(&r);
	req_init(&r, NULL, NULL);
	r.method = method;
	strlcpy_(r.path, path, sizeof(r.path));
	route_dispatch_table(&r, test_routes,
	    sizeof(test_routes) / sizeof(test_routes[0]));
}

START_TEST(router_patterns_404_405)
{
	dispatch("GET", "/api/keys/17");
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.out.data, "{\"id\":\"17\",\"key\":null}\n");
	dispatch("GET", "/api/keys");
	ck_assert_str_eq(r.out.data, "{\"id\":null,\"key\":null}\n");
	/* The first route that matches, in the table's order. */
	dispatch("GET", "/api/keys/new");
	ck_assert_int_eq(r.status, 204);
	dispatch("DELETE", "/api/users/eco_usr_x/keys/9");
	ck_assert_str_eq(r.out.data, "{\"id\":\"eco_usr_x\",\"key\":\"9\"}\n");

	/* 405 lists each method of every pattern that matches, once. */
	dispatch("PATCH", "/api/keys/17");
	ck_assert_int_eq(r.status, 405);
	ck_assert(strstr(r.headers.data, "Allow: GET, DELETE\r\n") != NULL);
	dispatch("PATCH", "/api/keys/new");
	ck_assert(strstr(r.headers.data, "Allow: GET, DELETE\r\n") != NULL);
	dispatch("GET", "/api/keys/17/rotate");
	ck_assert_int_eq(r.status, 405);
	ck_assert(strstr(r.headers.data, "Allow: POST\r\n") != NULL);
	dispatch("GET", "/api/users/u/keys/1");
	ck_assert(strstr(r.headers.data, "Allow: DELETE, PUT\r\n") != NULL);

	/* 404: no pattern matches the path, whatever the method. */
	dispatch("GET", "/api/keys/17/rotate/now");
	ck_assert_int_eq(r.status, 404);
	ck_assert(strstr(r.out.data, "not_found") != NULL);
	dispatch("GET", "/api/keys/%zz");
	ck_assert_int_eq(r.status, 404);
	dispatch("POST", "/api/users//keys/1");
	ck_assert_int_eq(r.status, 404);
}
END_TEST

/* A header that cannot be sent as it is turns the response into a 500. */
START_TEST(broken_header_is_a_500)
{
	char	 big[600];

	req_free(&r);
	req_init(&r, NULL, NULL);
	resp_header(&r, "X-Ok", "%d", 1);
	resp_finish(&r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.headers.data, "X-Ok: 1\r\n");
	resp_header(&r, "X-Bad", "a\r\nSet-Cookie: x");
	ck_assert_str_eq(r.headers.data, "X-Ok: 1\r\n");
	resp_json(&r, 200, json_object_new_object());
	resp_finish(&r);
	ck_assert_int_eq(r.status, 500);
	ck_assert_uint_eq(r.headers.len, 0);
	ck_assert(strstr(r.out.data, "\"internal\"") != NULL);

	req_free(&r);
	req_init(&r, NULL, NULL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	resp_header(&r, "X-Big", "%s", big);
	resp_finish(&r);
	ck_assert_int_eq(r.status, 500);
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
	tcase_add_test(tc, route_patterns);
	tcase_add_test(tc, router_patterns_404_405);
	tcase_add_test(tc, broken_header_is_a_500);
	suite_add_tcase(s, tc);
	rc = check_run(s, CK_NOFORK);
	req_free(&r);
	return rc;
}
