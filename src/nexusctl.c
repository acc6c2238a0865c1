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

#include "ctl.h"

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

/* Says what is wrong with the command line; returns -1. */
int
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
int
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

int
check_none(int argc, char **argv, struct opt *o)
{
	return argc == 0 ? 0 : bad("unexpected argument: %s", argv[0]);
}





int
check_user_opt(struct opt *o)
{
	if (o->user == NULL || !user_id_valid(o->user))
		return bad("%s", "--user eco_usr_... is required");
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
