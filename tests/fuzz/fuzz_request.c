/*
 * The request parser: the input is a REQUEST_URI; the path split, every
 * query lookup and the bounded integer parse must hold for any bytes.
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
	struct request	 r;
	char		*uri = malloc(len + 1), v[64];
	char		 path[PATH_MAX_LEN];
	long long	 n;
	size_t		 i;

	memcpy(uri, data, len);
	uri[len] = '\0';
	req_init(&r, NULL, NULL);
	if (http_path_from_uri(uri, path, sizeof(path), &r.query) != 0)
		r.query = uri;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		req_query(&r, names[i], v, sizeof(v));
	req_query_int(&r, "days", 1, 365, 30, &n);
	req_free(&r);
	free(uri);
	return 0;
}
