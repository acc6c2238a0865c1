/* JWT verification (lib/token.c) on arbitrary bearer tokens. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "nexus.h"

#define FUZZ_SECRET	"fuzz-secret-fuzz-secret-0123456789"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct config	 cfg;
	char			*tok = malloc(len + 1), sub[USER_ID_MAX + 1];
	int			 rc;

	cfg.jwt_alg = "HS256";
	cfg.jwt_secret = FUZZ_SECRET;
	cfg.jwt_leeway = 30;
	cfg.jwt_issuer = len % 2 ? "https://issuer.test" : NULL;
	cfg.jwt_audience = len % 3 ? "authenticated" : NULL;
	memcpy(tok, data, len);
	tok[len] = '\0';
	rc = token_verify(&cfg, tok, (time_t)1760000000, sub, sizeof(sub));
	if (rc == TOKEN_OK && !user_id_valid(sub))
		abort();
	if (token_strerror(rc) == NULL)
		abort();
	free(tok);
	return 0;
}
