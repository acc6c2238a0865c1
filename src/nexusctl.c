/*
 * nexusctl: the operator's tool.
 *
 *   nexusctl [-f config] command [arguments]
 *
 * Arguments are checked before the database is opened: a bad command line
 * never touches it. Exit status: 0 done, 1 failed, 2 usage error.
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nexus.h"

struct ctx {
	struct config	 cfg;
	struct db	*db;
};

struct opt {
	const char	*email, *plan, *customer, *user, *name, *expires;
	const char	*id, *grace, *ttl;
	time_t		 expires_at;
	unsigned long long key_id;
	long long	 grace_s, ttl_s;
	const char	*date, *from, *to;
	time_t		 from_t, to_t;		/* aggregate: days to roll up */
	int		 link;			/* token create: a sign-in link */
};

struct cmd {
	const char	*name;		/* "user create" */
	const char	*usage;
	int		(*check)(int, char **, struct opt *);
	int		(*run)(struct ctx *, struct opt *);
};

static int	 cmd_aggregate(struct ctx *, struct opt *);
static int	 cmd_migrate(struct ctx *, struct opt *);
static int	 cmd_period_open(struct ctx *, struct opt *);
static int	 cmd_user_create(struct ctx *, struct opt *);
static int	 cmd_user_list(struct ctx *, struct opt *);
static int	 cmd_user_set_plan(struct ctx *, struct opt *);
static int	 check_aggregate(int, char **, struct opt *);
static int	 cmd_key_create(struct ctx *, struct opt *);
static int	 cmd_key_list(struct ctx *, struct opt *);
static int	 cmd_key_revoke(struct ctx *, struct opt *);
static int	 cmd_key_rotate(struct ctx *, struct opt *);
static int	 check_key_create(int, char **, struct opt *);
static int	 check_key_list(int, char **, struct opt *);
static int	 check_key_id(int, char **, struct opt *);
static int	 check_key_rotate(int, char **, struct opt *);
static int	 cmd_token_create(struct ctx *, struct opt *);
static int	 check_token_create(int, char **, struct opt *);
static int	 check_none(int, char **, struct opt *);
static int	 check_user_create(int, char **, struct opt *);
static int	 check_user_set_plan(int, char **, struct opt *);

static const struct cmd cmds[] = {
	{ "aggregate", "aggregate [--date YYYY-MM-DD | --from YYYY-MM-DD "
	    "--to YYYY-MM-DD]", check_aggregate, cmd_aggregate },
	{ "migrate", "migrate", check_none, cmd_migrate },
	{ "token create", "token create --user ID [--ttl SECONDS] [--link] "
	    "(HS256 JWT for the usage and admin APIs; default 3600 s; --link: "
	    "as a portal sign-in link)", check_token_create, cmd_token_create },
	{ "period open", "period open (every user gets this month's usage "
	    "row; conf/crontab)", check_none, cmd_period_open },
	{ "user create", "user create --email E --plan free|pro|enterprise "
	    "[--stripe-customer cus_...]", check_user_create, cmd_user_create },
	{ "user list", "user list", check_none, cmd_user_list },
	{ "user set-plan", "user set-plan --user ID --plan PLAN",
	    check_user_set_plan, cmd_user_set_plan },
	{ "key create", "key create --user ID [--name N] [--expires YYYY-MM-DD]",
	    check_key_create, cmd_key_create },
	{ "key list", "key list --user ID", check_key_list, cmd_key_list },
	{ "key revoke", "key revoke --id KEY_ID", check_key_id, cmd_key_revoke },
	{ "key rotate", "key rotate --id KEY_ID [--grace SECONDS] "
	    "(default 86400: the old key works that long)", check_key_rotate,
	    cmd_key_rotate },
};

#define NCMDS	(sizeof(cmds) / sizeof(cmds[0]))

static void
usage(void)
{
	size_t	 i;

	fprintf(stderr, "usage: nexusctl [-f config] command\ncommands:\n");
	for (i = 0; i < NCMDS; i++)
		fprintf(stderr, "  %s\n", cmds[i].usage);
	exit(2);
}

static int	 bad(const char *, ...)
		    __attribute__((format(printf, 1, 2)));

/* Says what is wrong with the command line; returns -1. */
static int
bad(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "nexusctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

/* Returns 1 when name is one of the comma-separated words of list. */
static int
in_list(const char *list, const char *name)
{
	size_t	 n = strlen(name);

	while (*list != '\0') {
		size_t w = strcspn(list, ",");
		if (w == n && strncmp(list, name, n) == 0)
			return 1;
		list += w + (list[w] == ',');
	}
	return 0;
}

/*
 * Parses --name value options into o; name must be one of allowed
 * ("email,plan,..."). Returns 0 or -1 after saying what was wrong.
 */
static int
parse_opts(int argc, char **argv, const char *allowed, struct opt *o)
{
	int	 i;

	for (i = 0; i < argc; i++) {
		const char *name = argv[i], *val;
		const char **slot = NULL;

		if (strncmp(name, "--", 2) != 0)
			return bad("unexpected argument: %s", name);
		name += 2;
		if (!in_list(allowed, name))
			return bad("unknown option: --%s", name);
		/* The one flag without a value. */
		if (strcmp(name, "link") == 0) {
			o->link = 1;
			continue;
		}
		if (i + 1 >= argc)
			return bad("--%s needs a value", name);
		val = argv[++i];
		if (strcmp(name, "email") == 0)
			slot = &o->email;
		else if (strcmp(name, "plan") == 0)
			slot = &o->plan;
		else if (strcmp(name, "stripe-customer") == 0)
			slot = &o->customer;
		else if (strcmp(name, "user") == 0)
			slot = &o->user;
		else if (strcmp(name, "date") == 0)
			slot = &o->date;
		else if (strcmp(name, "from") == 0)
			slot = &o->from;
		else if (strcmp(name, "to") == 0)
			slot = &o->to;
		else if (strcmp(name, "name") == 0)
			slot = &o->name;
		else if (strcmp(name, "expires") == 0)
			slot = &o->expires;
		else if (strcmp(name, "id") == 0)
			slot = &o->id;
		else if (strcmp(name, "grace") == 0)
			slot = &o->grace;
		else if (strcmp(name, "ttl") == 0)
			slot = &o->ttl;
		if (slot == NULL)
			return bad("unknown option: --%s", name);
		*slot = val;
	}
	return 0;
}

static int
check_none(int argc, char **argv, struct opt *o)
{
	return argc == 0 ? 0 : bad("unexpected argument: %s", argv[0]);
}

/* --date D, or --from D --to D, or neither: yesterday and today (UTC). */
static int
check_aggregate(int argc, char **argv, struct opt *o)
{
	time_t	 today = day_start(time(NULL));

	if (parse_opts(argc, argv, "date,from,to", o) == -1)
		return -1;
	if (o->date != NULL && (o->from != NULL || o->to != NULL))
		return bad("%s", "--date excludes --from and --to");
	if ((o->from == NULL) != (o->to == NULL))
		return bad("%s", "--from and --to go together");
	if (o->date != NULL) {
		o->from = o->to = o->date;
	} else if (o->from == NULL) {
		o->from_t = today - 86400;
		o->to_t = today;
		return 0;
	}
	if (time_parse_date(o->from, &o->from_t) == -1)
		return bad("not a date (YYYY-MM-DD): %s", o->from);
	if (time_parse_date(o->to, &o->to_t) == -1)
		return bad("not a date (YYYY-MM-DD): %s", o->to);
	if (o->from_t > o->to_t)
		return bad("%s", "--from is after --to");
	if (o->to_t > today)
		return bad("%s is in the future (UTC)", o->to);
	if (o->to_t - o->from_t >= 3660LL * 86400)
		return bad("%s", "at most 3660 days at a time");
	return 0;
}

static int
check_plan_name(const char *plan)
{
	if (plan == NULL)
		return bad("%s", "--plan is required");
	if (strcmp(plan, "free") != 0 && strcmp(plan, "pro") != 0 &&
	    strcmp(plan, "enterprise") != 0)
		return bad("unknown plan: %s (free, pro or enterprise)", plan);
	return 0;
}

static int
check_user_create(int argc, char **argv, struct opt *o)
{
	if (parse_opts(argc, argv, "email,plan,stripe-customer", o) == -1)
		return -1;
	if (o->email == NULL)
		return bad("%s", "--email is required");
	if (!user_email_valid(o->email))
		return bad("not an email address: %s", o->email);
	if (o->customer != NULL && !user_customer_valid(o->customer))
		return bad("not a Stripe customer id: %s", o->customer);
	return check_plan_name(o->plan);
}

static int
check_user_set_plan(int argc, char **argv, struct opt *o)
{
	if (parse_opts(argc, argv, "user,plan", o) == -1)
		return -1;
	if (o->user == NULL || !user_id_valid(o->user))
		return bad("%s", "--user eco_usr_... is required");
	return check_plan_name(o->plan);
}

static int
check_user_opt(struct opt *o)
{
	if (o->user == NULL || !user_id_valid(o->user))
		return bad("%s", "--user eco_usr_... is required");
	return 0;
}

static int
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

static int
check_key_list(int argc, char **argv, struct opt *o)
{
	if (parse_opts(argc, argv, "user", o) == -1)
		return -1;
	return check_user_opt(o);
}

static int
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

static int
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

static int
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

static int
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

static void
migrated(int version, const char *name)
{
	printf("applied %s\n", name);
}

static int
cmd_migrate(struct ctx *c, struct opt *o)
{
	int	 n;

	if ((n = migrate_apply(c->db, c->cfg.migrations_dir, migrated)) < 0)
		return 1;
	printf("%d migration%s applied, schema up to date\n", n,
	    n == 1 ? "" : "s");
	return 0;
}

/*
 * Gives every user this month's usage row, which the admin pages sort on,
 * with the terms of the user's plan. The first admin request of a month
 * does it too; cron does it first, so that no operator waits for it.
 */
static int
cmd_period_open(struct ctx *c, struct opt *o)
{
	char	 day[16];
	time_t	 now = time(NULL);

	if (period_open(c->db, now, 1) == -1) {
		fprintf(stderr, "nexusctl: %s\n", db_error(c->db));
		return 1;
	}
	time_format_date(period_start(now), day, sizeof(day));
	printf("period %s is open for every user\n", day);
	return 0;
}

static void
rolled(time_t day, int rc, const struct rollup_stats *st, void *arg)
{
	char	 date[16];
	double	 secs = (double)st->usec / 1e6;

	time_format_date(day, date, sizeof(date));
	if (rc == ROLLUP_PURGED)
		printf("%s: raw rows deleted by retention; aggregates kept\n",
		    date);
	else if (rc == ROLLUP_DONE)
		printf("%s: %lld rows, %lld users, %.3f s (%.0f rows/s)\n",
		    date, st->rows, st->users, secs,
		    secs > 0 ? (double)st->rows / secs : 0.0);
	else
		printf("%s: failed\n", date);
}

/* Rolls up the days asked for, then applies retention. */
static int
cmd_aggregate(struct ctx *c, struct opt *o)
{
	struct retention_stats	 rs;
	time_t			 now = time(NULL);
	int			 rc = 0;

	if (rollup_range(c->db, o->from_t, o->to_t, now, rolled, NULL) == -1)
		rc = 1;
	if (retention_run(c->db, c->cfg.retention_days, now, &rs) == -1) {
		fprintf(stderr, "nexusctl: retention failed: %s\n",
		    db_error(c->db));
		return 1;
	}
	printf("retention (%lld days): %lld raw rows deleted from %lld days "
	    "in %lld chunks, %lld days rolled up first\n", c->cfg.retention_days,
	    rs.deleted, rs.days, rs.chunks, rs.rerolled);
	return rc;
}

static const char *
user_strerror(int rc)
{
	switch (rc) {
	case USER_ERR_EXISTS:
		return "a user with that email already exists";
	case USER_ERR_NOPLAN:
		return "no such plan";
	case USER_ERR_NOUSER:
		return "no such user";
	case USER_ERR_INVALID:
		return "invalid argument";
	default:
		return "database error";
	}
}

static int
cmd_user_create(struct ctx *c, struct opt *o)
{
	struct user	 u;
	int		 rc;

	if ((rc = user_create(c->db, o->email, o->plan, o->customer, &u)) != 0) {
		fprintf(stderr, "nexusctl: %s%s%s\n", user_strerror(rc),
		    rc == USER_ERR_DB ? ": " : "",
		    rc == USER_ERR_DB ? db_error(c->db) : "");
		return 1;
	}
	audit_log(c->db, "nexusctl", "user.create", u.id, NULL, NULL);
	printf("%s\n", u.id);
	return 0;
}

static int
print_user(void *arg, const struct user *u)
{
	char	 when[32];

	time_format(u->created, when, sizeof(when));
	printf("%-32s  %-10s  %-20s  %s  %s\n", u->id, u->plan,
	    u->customer[0] ? u->customer : "-", when, u->email);
	return 0;
}

static int
cmd_user_list(struct ctx *c, struct opt *o)
{
	printf("%-32s  %-10s  %-20s  %-20s  %s\n", "ID", "PLAN", "STRIPE",
	    "CREATED", "EMAIL");
	if (user_list(c->db, print_user, NULL) != USER_OK) {
		fprintf(stderr, "nexusctl: %s\n", db_error(c->db));
		return 1;
	}
	return 0;
}

static int
cmd_user_set_plan(struct ctx *c, struct opt *o)
{
	int	 rc;

	if ((rc = user_set_plan(c->db, o->user, o->plan)) != USER_OK) {
		fprintf(stderr, "nexusctl: %s\n", user_strerror(rc));
		return 1;
	}
	audit_log(c->db, "nexusctl", "user.set_plan", o->user, NULL, NULL);
	printf("%s is now on %s\n", o->user, o->plan);
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

static int
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

static int
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

static int
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

static int
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

int
main(int argc, char *argv[])
{
	struct ctx		 c;
	struct opt		 o;
	const struct cmd	*cmd = NULL;
	const char		*path = NULL;
	size_t			 i;
	int			 rc, words = 0;

	if (argc > 2 && strcmp(argv[1], "-f") == 0) {
		path = argv[2];
		argc -= 2;
		argv += 2;
	}
	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)
		usage();
	/* Commands are one or two words: "migrate", "user create". */
	for (i = 0; i < NCMDS; i++) {
		size_t	 n = strlen(argv[1]);

		if (strchr(cmds[i].name, ' ') == NULL) {
			if (strcmp(cmds[i].name, argv[1]) == 0) {
				cmd = &cmds[i];
				words = 1;
				break;
			}
		} else if (argc > 2 && strncmp(cmds[i].name, argv[1], n) == 0 &&
		    cmds[i].name[n] == ' ' &&
		    strcmp(cmds[i].name + n + 1, argv[2]) == 0) {
			cmd = &cmds[i];
			words = 2;
			break;
		}
	}
	if (cmd == NULL) {
		fprintf(stderr, "nexusctl: unknown command\n");
		usage();
	}
	memset(&o, 0, sizeof(o));
	if (cmd->check(argc - 1 - words, argv + 1 + words, &o) == -1) {
		fprintf(stderr, "usage: nexusctl %s\n", cmd->usage);
		return 2;
	}
	if (config_load(&c.cfg, path) == -1)
		return 1;
	log_init("nexusctl", c.cfg.log_level);
	c.db = db_open(&c.cfg);
	if (db_handle(c.db) == NULL) {
		fprintf(stderr, "nexusctl: cannot reach the database: %s\n",
		    db_error(c.db));
		db_close(c.db);
		config_free(&c.cfg);
		return 1;
	}
	rc = cmd->run(&c, &o);
	db_close(c.db);
	config_free(&c.cfg);
	return rc;
}
