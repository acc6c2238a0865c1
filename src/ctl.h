/*
 * nexusctl's own header: what its command files share (the parsed
 * options, the context a command runs in) and each command's check and
 * run functions, named in nexusctl.c's table.
 */
#ifndef CTL_H
#define CTL_H

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

/* nexusctl.c: the shared option parsing */
int	 bad(const char *, ...) __attribute__((format(printf, 1, 2)));
int	 parse_opts(int, char **, const char *, struct opt *);
int	 check_none(int, char **, struct opt *);
int	 check_user_opt(struct opt *);

/* ctl_users.c: users, plans, periods, migrations, the roll-up */
int	 check_aggregate(int, char **, struct opt *);
int	 check_user_create(int, char **, struct opt *);
int	 check_user_set_plan(int, char **, struct opt *);
int	 cmd_aggregate(struct ctx *, struct opt *);
int	 cmd_migrate(struct ctx *, struct opt *);
int	 cmd_period_open(struct ctx *, struct opt *);
int	 cmd_user_create(struct ctx *, struct opt *);
int	 cmd_user_list(struct ctx *, struct opt *);
int	 cmd_user_set_plan(struct ctx *, struct opt *);

/* ctl_keys.c: API keys and tokens */
int	 check_key_create(int, char **, struct opt *);
int	 check_key_list(int, char **, struct opt *);
int	 check_key_id(int, char **, struct opt *);
int	 check_key_rotate(int, char **, struct opt *);
int	 check_token_create(int, char **, struct opt *);
int	 cmd_key_create(struct ctx *, struct opt *);
int	 cmd_key_list(struct ctx *, struct opt *);
int	 cmd_key_revoke(struct ctx *, struct opt *);
int	 cmd_key_rotate(struct ctx *, struct opt *);
int	 cmd_token_create(struct ctx *, struct opt *);

#endif /* CTL_H */
