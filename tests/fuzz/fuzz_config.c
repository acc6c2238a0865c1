/*
 * The config file parser (config_load): any bytes as the file. A file it
 * accepts must give a config within every bound of the key table: integers
 * in range, secrets long enough, Stripe over https unless a test allows
 * http, trusted proxies parsed.
 */
#include "config.h"

#include <sys/mman.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fuzz.h"
#include "nexus.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct config	 c;
	char		 path[64];
	int		 fd;

	if ((fd = memfd_create("fuzz.conf", MFD_CLOEXEC)) == -1)
		abort();
	if (write(fd, data, len) != (ssize_t)len)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (config_load(&c, path) == 0) {
		if (c.db_port < 1 || c.db_port > 65535 || c.workers < 1 ||
		    c.workers > 256 || c.db_retry_ms < 10 ||
		    c.db_read_timeout < 1 || c.max_headers < 1024 ||
		    c.stripe_rate < 1 || c.stripe_allow_http < 0 ||
		    c.stripe_allow_http > 1)
			abort();
		if (c.cron_secret != NULL && strlen(c.cron_secret) < 32)
			abort();
		if (c.stripe_api_base != NULL && !c.stripe_allow_http &&
		    strncasecmp(c.stripe_api_base, "https://", 8) != 0)
			abort();
		if ((c.trusted_proxies == NULL) != (c.proxies == NULL))
			abort();
		if (c.jwt_alg != NULL && c.jwt_alg[0] == '\0')
			abort();	/* an empty value means unset */
		config_free(&c);
	}
	close(fd);
	return 0;
}
