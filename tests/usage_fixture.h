/*
 * Integration fixtures for the usage API and the roll-up: users, keys and
 * calls made through the real hot path, user JWTs, SQL on the test
 * database, and config changes that restart the workers.
 */
#ifndef USAGE_FIXTURE_H
#define USAGE_FIXTURE_H

#include "itest.h"

char		*fx_user(const char *);
char		*fx_key(const char *);
void		 fx_ping(const char *, int, long);
void		 fx_wait_rows(const char *, long long);
char		*fx_token(const char *, long);
struct http	*fx_get(const char *, const char *);
char		*fx_str(const char *, const struct dbp *, size_t);
char		*fx_rows(const char *, const struct dbp *, size_t,
		    unsigned int);
const char	*fx_secret(void);
void		 fx_config(const char *, int);
void		 fx_config_reset(void);

#endif
