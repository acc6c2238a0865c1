/*
 * X-Forwarded-For behind trusted proxies (proxies_client): the input's
 * first line is a trusted_proxies list, each further line one
 * X-Forwarded-For field of a request from 127.0.0.1. The client found is
 * REMOTE_ADDR itself or an address, and X-Forwarded-For is read only
 * when REMOTE_ADDR is trusted.
 */
#include "config.h"

#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "nexus.h"

#define FIELDS	8

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char		*in = malloc(len + 1), *line, *save = NULL, err[256];
	char		 out[INET6_ADDRSTRLEN];
	const char	*xff[FIELDS], *got;
	unsigned char	 a[16];
	struct proxies	*p;
	size_t		 n = 0;

	memcpy(in, data, len);
	in[len] = '\0';
	line = strtok_r(in, "\n", &save);
	p = proxies_parse(line != NULL ? line : "", err, sizeof(err));
	while (n < FIELDS && (line = strtok_r(NULL, "\n", &save)) != NULL)
		xff[n++] = line;
	got = proxies_client(p, "127.0.0.1", xff, n, out, sizeof(out));
	if (got != out && strcmp(got, "127.0.0.1") != 0)
		abort();
	if (got == out && inet_pton(AF_INET, out, a) != 1 &&
	    inet_pton(AF_INET6, out, a) != 1)
		abort();
	/* X-Forwarded-For is read only from a trusted sender. */
	if (got == out && !proxies_match(p, "127.0.0.1"))
		abort();
	proxies_free(p);
	free(in);
	return 0;
}
