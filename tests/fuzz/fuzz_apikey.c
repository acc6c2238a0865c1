/* The API-key shape check that runs before any hashing or lookup. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "nexus.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char	*key = malloc(len + 1);

	memcpy(key, data, len);
	key[len] = '\0';
	if (key_format_valid(key) && strlen(key) != KEY_LEN)
		abort();
	free(key);
	return 0;
}
