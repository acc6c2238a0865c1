/*
 * The request parser: the input is a REQUEST_URI; the path split, the
 * route patterns' captures, every query lookup and the bounded integer
 * parse must hold for any bytes.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "web.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const char *const names[] = { "days", "page", "per_page",
	    "sort", "", "=", "&" };
	static const char *const patterns[] = { "/api/keys/{id}",
	    "/api/keys/{id}/rotate", "/api/admin/users/{id}/keys/{key_id}",
	    "/{a}/{b}/{c}/{d}/{e}" };
	struct request	 r;
	struct path_param p[PATH_PARAMS_MAX];
	char		*uri = malloc(len + 1), v[64];
	char		 path[PATH_MAX_LEN];
	long long	 n;
	size_t		 i, j, np;

	memcpy(uri, data, len);
	uri[len] = '\0';
	req_init(&r, NULL, NULL);
	if (http_path_from_uri(uri, path, sizeof(path), &r.query) != 0)
		r.query = uri;
	else
		for (i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
			if (!route_match(patterns[i], path, p, &np))
				continue;
			if (np > PATH_PARAMS_MAX)
				abort();
			for (j = 0; j < np; j++)
				if (p[j].value[0] == '\0' ||
				    strlen(p[j].value) > PATH_PARAM_MAX)
					abort();
		}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		req_query(&r, names[i], v, sizeof(v));
	req_query_int(&r, "days", 1, 365, 30, &n);
	req_free(&r);
	free(uri);
	return 0;
}
