/*
 * A spool segment as a crash or a hostile writer may leave it: its header
 * ("#spool written=<16 hex>") read by spool_written(), then its events
 * read from there by spool_read(). The offset must stay within the
 * segment and never move back; every event handed on must be within the
 * bounds the writer keeps.
 */
#include "config.h"

#include <sys/mman.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "nexus.h"

#define CHUNK	3

static int
store(void *arg, const struct usage_event *ev, size_t n)
{
	size_t	 i;

	if (n == 0 || n > CHUNK)
		abort();
	for (i = 0; i < n; i++)
		if (!user_id_valid(ev[i].user_id) || ev[i].status < 100 ||
		    ev[i].status > 599 || ev[i].count < 0 || ev[i].count > 1 ||
		    strlen(ev[i].endpoint) > ENDPOINT_MAX || ev[i].limit < -1)
			abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct spool_segment	 s;
	size_t			 before, after;

	if (len > SPOOL_SEGMENT_BYTES)
		return 0;
	memset(&s, 0, sizeof(s));
	strlcpy_(s.path, "fuzz.spool", sizeof(s.path));
	if ((s.fd = memfd_create("fuzz.spool", MFD_CLOEXEC)) == -1)
		abort();
	if (write(s.fd, data, len) != (ssize_t)len)
		abort();
	before = spool_written(&s);
	if (before < SPOOL_HEADER_LEN || before > SPOOL_SEGMENT_BYTES)
		abort();
	if (spool_read(&s, len, CHUNK, 1, store, NULL) < 0)
		abort();
	after = spool_written(&s);
	if (after < before || after > SPOOL_SEGMENT_BYTES ||
	    (after > before && after > len))
		abort();
	close(s.fd);
	return 0;
}
