/*
 * The spool line parser: a segment replayed after a crash may end in any
 * bytes; an accepted event must be within every bound the writer keeps.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "nexus.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct usage_event	 ev;
	char			*line = malloc(len + 1);

	memcpy(line, data, len);
	line[len] = '\0';
	if (spool_event_parse(line, &ev) == 0 &&
	    (!user_id_valid(ev.user_id) || ev.status < 100 ||
	    ev.status > 599 || ev.count < 0 || ev.count > 1 ||
	    strlen(ev.endpoint) > ENDPOINT_MAX || ev.limit < -1))
		abort();
	free(line);
	return 0;
}
