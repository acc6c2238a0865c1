/* nexusctl's commands for API keys and JWTs (token create). */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

int
check_key_create(int argc, char **argv, struct opt *o)
{
	if (parse_opts(argc, argv, "user,name,expires", o) == -1 ||
	    check_user_opt(o) == -1)
		return -1;
	if (o->name != NULL && (o->name[0] == '\0' ||
	    strlen(o->name) > KEY_NAME_MAX))
		return bad("--name must be 1 to %d characters", KEY_NAME_MAX);
	if (o->expires != NULL) {
		if (time_parse_date(o->expires, &o->expires_at) == -1)
			return bad("--expires must be a date, YYYY-MM-DD: %s",
			    o->expires);
		if (o->expires_at <= time(NULL))
			return bad("--expires is in the past: %s", o->expires);
	}
	return 0;
}

int
check_key_list(int argc, char **argv, struct opt *o)
{
	if (parse_opts(argc, argv, "user", o) == -1)
		return -1;
	return check_user_opt(o);
}

int
check_key_id(int argc, char **argv, struct opt *o)
{
	long long	 id;

	if (parse_opts(argc, argv, "id", o) == -1)
		return -1;
	if (o->id == NULL || parse_int(o->id, 1, INT64_MAX, &id) == -1)
		return bad("%s", "--id KEY_ID (a number from key list) is required");
	o->key_id = (unsigned long long)id;
	return 0;
}

int
check_key_rotate(int argc, char **argv, struct opt *o)
{
	long long	 id;

	if (parse_opts(argc, argv, "id,grace", o) == -1)
		return -1;
	if (o->id == NULL || parse_int(o->id, 1, INT64_MAX, &id) == -1)
		return bad("%s", "--id KEY_ID (a number from key list) is required");
	o->key_id = (unsigned long long)id;
	o->grace_s = 86400;
	if (o->grace != NULL &&
	    parse_int(o->grace, 0, 366LL * 86400, &o->grace_s) == -1)
		return bad("--grace must be seconds from 0 to %lld", 366LL * 86400);
	return 0;
}

int
check_token_create(int argc, char **argv, struct opt *o)
{
	if (parse_opts(argc, argv, "user,ttl,link", o) == -1 ||
	    check_user_opt(o) == -1)
		return -1;
	o->ttl_s = 3600;
	if (o->ttl != NULL && parse_int(o->ttl, 1, 366LL * 86400, &o->ttl_s) == -1)
		return bad("--ttl must be seconds from 1 to %lld", 366LL * 86400);
	return 0;
}

int
cmd_token_create(struct ctx *c, struct opt *o)
{
	struct user	 u;
	char		*t;
	size_t		 n = 0;

	if (o->link) {
		if (c->cfg.public_url == NULL) {
			fprintf(stderr, "nexusctl: --link needs public_url in "
			    "the config (the portal's address)\n");
			return 1;
		}
		n = strlen(c->cfg.public_url);
		while (n > 0 && c->cfg.public_url[n - 1] == '/')
			n--;
	}
	if (user_get(c->db, o->user, &u) != USER_OK) {
		fprintf(stderr, "nexusctl: no such user\n");
		return 1;
	}
	if ((t = token_issue(&c->cfg, o->user, o->ttl_s, time(NULL))) == NULL) {
		fprintf(stderr, "nexusctl: tokens are issued only with jwt_alg = "
		    "HS256 and a jwt_secret of 32 bytes or more\n");
		return 1;
	}
	audit_log(c->db, "nexusctl", "token.create", o->user, NULL, NULL);
	/* The token rides in the fragment, which browsers never send. */
	if (o->link)
		printf("%.*s/portal/#token=%s\n", (int)n, c->cfg.public_url, t);
	else
		printf("%s\n", t);
	free(t);
	return 0;
}

static const char *
key_strerror(int rc)
{
	switch (rc) {
	case KEY_ERR_NOUSER:
		return "no such user";
	case KEY_ERR_NOKEY:
		return "no such key";
	case KEY_ERR_REVOKED:
		return "the key is revoked";
	default:
		return "database error";
	}
}

int
cmd_key_create(struct ctx *c, struct opt *o)
{
	char			 key[KEY_LEN + 1], id[32];
	unsigned long long	 kid;
	int			 rc;

	if ((rc = key_create(c->db, o->user, o->name, o->expires_at, key,
	    &kid)) != 0) {
		fprintf(stderr, "nexusctl: %s\n", key_strerror(rc));
		return 1;
	}
	snprintf(id, sizeof(id), "{\"key_id\":%llu}", kid);
	audit_log(c->db, "nexusctl", "key.create", o->user, id, NULL);
	printf("%s\n", key);
	fprintf(stderr, "key %llu created; it is shown only this once\n", kid);
	return 0;
}

static void
when(time_t t, char *dst, size_t n)
{
	if (t == 0)
		strlcpy_(dst, "-", n);
	else
		time_format(t, dst, n);
}

static int
print_key(void *arg, const struct keyinfo *k)
{
	char		 created[32], used[32], expires[32];
	const char	*state = "active";
	time_t		 now = time(NULL);

	when(k->created, created, sizeof(created));
	when(k->last_used, used, sizeof(used));
	when(k->expires, expires, sizeof(expires));
	if (k->revoked != 0)
		state = "revoked";
	else if (k->expires != 0 && k->expires <= now)
		state = "expired";
	printf("%-6llu  %-12s  %-8s  %-20s  %-20s  %-20s  %s\n", k->id,
	    k->prefix, state, created, used, expires,
	    k->name[0] ? k->name : "-");
	return 0;
}

int
cmd_key_list(struct ctx *c, struct opt *o)
{
	struct user	 u;

	if (user_get(c->db, o->user, &u) != USER_OK) {
		fprintf(stderr, "nexusctl: no such user\n");
		return 1;
	}
	printf("%-6s  %-12s  %-8s  %-20s  %-20s  %-20s  %s\n", "ID", "PREFIX",
	    "STATE", "CREATED", "LAST USED", "EXPIRES", "NAME");
	if (key_list(c->db, o->user, print_key, NULL) == -1) {
		fprintf(stderr, "nexusctl: %s\n", db_error(c->db));
		return 1;
	}
	return 0;
}

int
cmd_key_revoke(struct ctx *c, struct opt *o)
{
	char	 id[32];
	int	 rc;

	if ((rc = key_revoke(c->db, o->key_id)) != 0) {
		fprintf(stderr, "nexusctl: %s\n", rc == KEY_ERR_NOKEY ?
		    "no such active key" : key_strerror(rc));
		return 1;
	}
	snprintf(id, sizeof(id), "{\"key_id\":%llu}", o->key_id);
	audit_log(c->db, "nexusctl", "key.revoke", NULL, id, NULL);
	printf("key %llu revoked (workers stop accepting it within "
	    "key_cache_ttl = %llds)\n", o->key_id, c->cfg.key_cache_ttl);
	return 0;
}

int
cmd_key_rotate(struct ctx *c, struct opt *o)
{
	char			 key[KEY_LEN + 1], detail[96];
	unsigned long long	 newid;
	int			 rc;

	if ((rc = key_rotate(c->db, o->key_id, o->grace_s, key, &newid)) != 0) {
		fprintf(stderr, "nexusctl: %s\n", key_strerror(rc));
		return 1;
	}
	snprintf(detail, sizeof(detail),
	    "{\"key_id\":%llu,\"new_key_id\":%llu,\"grace\":%lld}",
	    o->key_id, newid, o->grace_s);
	audit_log(c->db, "nexusctl", "key.rotate", NULL, detail, NULL);
	printf("%s\n", key);
	fprintf(stderr, "key %llu replaces key %llu, which stops working in "
	    "%llds\n", newid, o->key_id, o->grace_s);
	return 0;
}
