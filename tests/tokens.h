/*
 * Test tokens made by hand: any header, any claims, signed with HS256,
 * RS256 or ES256 (or not at all), and key pairs to sign them with.
 */
#ifndef TOKENS_H
#define TOKENS_H

#include <stddef.h>

char	*b64url(const void *, size_t);
char	*mint_token(const char *, const void *, size_t, const char *,
	    const char *);
void	 mint_keypair(const char *, char **, char **);

#endif
