/*
 * JSON request bodies (lib/body.c) against the key API's fields and a
 * field of each type: any bytes give BODY_OK or a reason, and what is
 * accepted holds what the table promises (strings without NUL and of
 * their length, integers in range, booleans 0 or 1).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "nexus.h"

static const struct body_field fields[] = {
	{ "name",		BODY_STR,	0, 0 },
	{ "expires_at",		BODY_STR,	0, 0 },
	{ "grace_seconds",	BODY_INT,	0, 7 * 86400 },
	{ "n",			BODY_INT,	INT64_MIN, INT64_MAX },
	{ "on",			BODY_BOOL,	0, 0 },
};
#define NF	(sizeof(fields) / sizeof(fields[0]))

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct body_value	 v[NF];
	char			 err[256];
	size_t			 i;
	int			 rc;

	err[0] = '\0';
	rc = body_parse((const char *)data, len, fields, NF, v, err,
	    sizeof(err));
	if (rc != BODY_OK && (err[0] == '\0' || strlen(err) >= sizeof(err)))
		abort();
	if (rc == BODY_TOO_LARGE && len <= BODY_MAX)
		abort();
	for (i = 0; rc == BODY_OK && i < NF; i++) {
		if (!v[i].set)
			continue;
		switch (fields[i].type) {
		case BODY_STR:
			if (v[i].s == NULL || strlen(v[i].s) != v[i].len ||
			    v[i].len > len)
				abort();
			break;
		case BODY_INT:
			if (v[i].i < fields[i].min || v[i].i > fields[i].max)
				abort();
			break;
		case BODY_BOOL:
			if (v[i].i != 0 && v[i].i != 1)
				abort();
			break;
		}
	}
	body_free(v, NF);
	return 0;
}
