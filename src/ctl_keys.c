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
	const char	*why;

	if (parse_opts(argc, argv, "user,name,expires", o) == -1 ||
	    check_user_opt(o) == -1)
		return -1;
	if (o->name != NULL &&
	    (why = key_name_problem(o->name, strlen(o->name))) != NULL)
		return bad("--name %s", why);
	if (o->expires != NULL) {
		if (time_parse_date(o->expires, &o->expires_at) == -1)
			return bad("--expires must be a date, YYYY-MM-DD: %s",
			    o->expires);
		if ((why = key_expiry_problem(o->expires_at, time(NULL))) != NULL)
			return bad("--expires %s: %s", why, o->expires);
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

/*
 * The rules nexusctl changes keys under: the operator's, no key limit.
 * Returns 0, or -1 after saying why no key can be made (with make).
 */
static int
ctl_op(struct ctx *c, struct key_op *op, int make)
{
	const char	*why;

	memset(op, 0, sizeof(*op));
	op->secret = c->cfg.key_secret;
	op->actor = "nexusctl";
	if (make && (why = key_secret_problem(op->secret)) != NULL) {
		fprintf(stderr, "nexusctl: %s: no key can be made\n", why);
		return -1;
	}
	return 0;
}

/*
 * Tells this host's workers (if it has any: the region exists) that key k
 * is no longer what they cached. Returns 1 when told, 0 when not.
 */
static int
ctl_key_changed(struct ctx *c, const struct keyinfo *k)
{
	struct shm	*s;

	if ((s = shm_open_existing(c->cfg.runtime_dir)) == NULL)
		return 0;
	shm_keys_changed(s, k->hash);
	shm_close(s);
	return 1;
}

/* Says where a change to a key takes effect. */
static void
ctl_keys_bound(struct ctx *c, int bumped)
{
	if (bumped)
		fprintf(stderr, "workers on this host know at once; on other "
		    "hosts within key_cache_ttl = %llds\n",
		    c->cfg.key_cache_ttl);
	else
		fprintf(stderr, "workers know within key_cache_ttl = %llds (no "
		    "shared region of this host's workers in runtime_dir)\n",
		    c->cfg.key_cache_ttl);
}

int
cmd_key_create(struct ctx *c, struct opt *o)
{
	struct key_op		 op;
	struct keyinfo		 k;
	char			 key[KEY_LEN + 1];
	int			 rc;

	if (ctl_op(c, &op, 1) == -1)
		return 1;
	if ((rc = key_create(c->db, &op, o->user, o->name, o->expires_at, key,
	    &k)) != 0) {
		fprintf(stderr, "nexusctl: %s\n", key_strerror(rc));
		return 1;
	}
	printf("%s\n", key);
	explicit_bzero(key, sizeof(key));
	fprintf(stderr, "key %llu created; it is shown only this once\n", k.id);
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

	when(k->created, created, sizeof(created));
	when(k->last_used, used, sizeof(used));
	when(k->expires, expires, sizeof(expires));
	printf("%-6llu  %-12s  %-8s  %-20s  %-20s  %-20s  %s\n", k->id,
	    k->prefix, key_state(k, time(NULL)), created, used, expires,
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
	if (key_list(c->db, o->user, INT64_MAX, print_key, NULL) == -1) {
		fprintf(stderr, "nexusctl: %s\n", db_error(c->db));
		return 1;
	}
	return 0;
}

int
cmd_key_revoke(struct ctx *c, struct opt *o)
{
	struct key_op	 op;
	struct keyinfo	 k;
	int		 rc;

	ctl_op(c, &op, 0);
	if ((rc = key_revoke(c->db, &op, o->key_id, &k)) != 0) {
		fprintf(stderr, "nexusctl: %s\n", rc == KEY_ERR_REVOKED ?
		    "the key is revoked already" : key_strerror(rc));
		return 1;
	}
	printf("key %llu revoked\n", o->key_id);
	ctl_keys_bound(c, ctl_key_changed(c, &k));
	return 0;
}

int
cmd_key_rotate(struct ctx *c, struct opt *o)
{
	struct key_op	 op;
	struct keyinfo	 k, old;
	char		 key[KEY_LEN + 1];
	int		 rc;

	if (ctl_op(c, &op, 1) == -1)
		return 1;
	if ((rc = key_rotate(c->db, &op, o->key_id, o->grace_s, key, &k,
	    &old)) != 0) {
		fprintf(stderr, "nexusctl: %s\n", key_strerror(rc));
		return 1;
	}
	printf("%s\n", key);
	explicit_bzero(key, sizeof(key));
	fprintf(stderr, "key %llu replaces key %llu, which stops working in "
	    "%llds\n", k.id, o->key_id, o->grace_s);
	ctl_keys_bound(c, ctl_key_changed(c, &old));
	return 0;
}
