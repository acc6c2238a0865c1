/*
 * Configuration: defaults, then the file named by NEXUS_CONFIG (or the
 * default under sysconfdir), then NEXUS_<KEY> and the documented secrets
 * from the environment. Keys are lower_snake_case = value; '#' starts a
 * comment; values may be double-quoted.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nexus.h"

enum ctype { C_STR, C_INT };

static const struct confkey {
	const char	*name;
	enum ctype	 type;
	size_t		 off;
	const char	*def;
	long long	 min, max;
	const char	*env;	/* a documented secret's own variable */
} keys[] = {
#define S(k, d, e)	{ #k, C_STR, offsetof(struct config, k), d, 0, 0, e }
#define I(k, d, lo, hi)	{ #k, C_INT, offsetof(struct config, k), #d, lo, hi, NULL }
	S(db_host, "127.0.0.1", NULL),
	I(db_port, 3306, 1, 65535),
	S(db_socket, NULL, NULL),
	S(db_user, "nexus", NULL),
	S(db_password, NULL, NULL),
	S(db_name, "nexus", NULL),
	I(db_connect_timeout, 2, 1, 60),
	S(migrations_dir, MIGRATIONS_DIR, NULL),
	S(listen, NULL, NULL),
	S(socket_group, NULL, NULL),
	I(request_timeout_ms, 10000, 100, 600000),
	I(workers, 2, 1, 256),
	S(spool_dir, SPOOL_DIR, NULL),
	I(spool_max_bytes, 1073741824, 262144, 1125899906842624),
	I(flush_interval_ms, 5000, 10, 60000),
	I(flush_batch, 100, 1, 10000),
	I(max_body, 65536, 0, 16777216),
	I(max_headers, 16384, 1024, 1048576),
	S(trusted_proxy, NULL, NULL),
	I(key_cache_ttl, 30, 0, 3600),
	I(key_cache_size, 4096, 16, 1048576),
	I(key_lookup_rate, 200, 1, 1000000),
	S(key_secret, NULL, "KEY_SECRET"),
	I(max_keys_per_user, 20, 1, 1000),
	I(usage_refresh_ms, 2000, 0, 60000),
	S(jwt_secret, NULL, "JWT_SECRET"),
	S(jwt_alg, "HS256", NULL),
	S(jwt_public_key_file, NULL, NULL),
	S(jwt_issuer, NULL, NULL),
	S(jwt_audience, NULL, NULL),
	I(jwt_leeway, 30, 0, 600),
	S(admin_ids, NULL, "ADMIN_ECO_IDS"),
	S(cron_secret, NULL, "CRON_SECRET"),
	S(stripe_secret_key, NULL, "STRIPE_SECRET_KEY"),
	S(stripe_api_base, "https://api.stripe.com", "STRIPE_API_BASE"),
	I(stripe_rate, 25, 1, 1000),
	I(stripe_timeout_ms, 10000, 100, 120000),
	I(stripe_max_retries, 5, 0, 20),
	I(retention_days, 90, 2, 3650),
	S(log_level, "info", NULL),
	S(runtime_dir, RUNTIME_DIR, NULL),
	S(public_url, NULL, NULL),
	S(login_url, NULL, NULL),
	S(upgrade_url, NULL, NULL),
#undef S
#undef I
};

const char *
config_default_path(void)
{
	return SYSCONFDIR "/nexus.conf";
}

static int
config_set(struct config *c, const struct confkey *k, const char *v,
    const char *where)
{
	char		**sp = (char **)((char *)c + k->off);
	long long	 *ip = (long long *)((char *)c + k->off);

	if (k->type == C_INT) {
		if (parse_int(v, k->min, k->max, ip) == -1) {
			fprintf(stderr, "%s: %s must be an integer in %lld..%lld\n",
			    where, k->name, k->min, k->max);
			return -1;
		}
		return 0;
	}
	free(*sp);
	*sp = *v == '\0' ? NULL : xstrdup(v);
	return 0;
}

static const struct confkey *
config_key(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static char *
trim(char *s)
{
	char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int
config_file(struct config *c, const char *path, int required)
{
	FILE			*f;
	char			 line[4096], where[512], *k, *v, *eq;
	const struct confkey	*key;
	int			 lineno = 0, rc = 0;

	if ((f = fopen(path, "r")) == NULL) {
		if (!required && errno == ENOENT)
			return 0;
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		snprintf(where, sizeof(where), "%s:%d", path, lineno);
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fprintf(stderr, "%s: line too long\n", where);
			rc = -1;
			break;
		}
		k = trim(line);
		if (*k == '#' || *k == '\0')
			continue;
		if ((eq = strchr(k, '=')) == NULL) {
			fprintf(stderr, "%s: expected key = value\n", where);
			rc = -1;
			continue;
		}
		*eq = '\0';
		k = trim(k);
		v = trim(eq + 1);
		if (*v == '"' && strlen(v) >= 2 && v[strlen(v) - 1] == '"') {
			v[strlen(v) - 1] = '\0';
			v++;
		}
		if ((key = config_key(k)) == NULL) {
			fprintf(stderr, "%s: unknown key %s\n", where, k);
			rc = -1;
			continue;
		}
		if (config_set(c, key, v, where) == -1)
			rc = -1;
	}
	fclose(f);
	return rc;
}

/*
 * Loads defaults, the file (path, else $NEXUS_CONFIG, else the default:
 * a missing default file is not an error), then the environment.
 * Returns 0, or -1 after printing what was wrong.
 */
int
config_load(struct config *c, const char *path)
{
	size_t		 i, j;
	char		 env[128];
	const char	*v;
	int		 rc = 0, required = 1;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].def != NULL)
			config_set(c, &keys[i], keys[i].def, "default");

	if (path == NULL && (path = getenv("NEXUS_CONFIG")) == NULL) {
		path = config_default_path();
		required = 0;
	}
	if (config_file(c, path, required) == -1)
		rc = -1;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		memcpy(env, "NEXUS_", 6);
		for (j = 0; keys[i].name[j] != '\0' && j + 7 < sizeof(env); j++)
			env[6 + j] = (char)toupper((unsigned char)keys[i].name[j]);
		env[6 + j] = '\0';
		if ((v = getenv(env)) == NULL && keys[i].env != NULL)
			v = getenv(keys[i].env);
		if (v != NULL && config_set(c, &keys[i], v, env) == -1)
			rc = -1;
	}
	if (rc == -1)
		config_free(c);
	return rc;
}

void
config_free(struct config *c)
{
	size_t	 i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].type == C_STR) {
			char **sp = (char **)((char *)c + keys[i].off);
			free(*sp);
			*sp = NULL;
		}
}
