/*
 * nexusctl's commands for users and plans, the period opening, the schema
 * migrations and the daily roll-up.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* --date D, or --from D --to D, or neither: yesterday and today (UTC). */
int
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

int
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

int
check_user_set_plan(int argc, char **argv, struct opt *o)
{
	if (parse_opts(argc, argv, "user,plan", o) == -1)
		return -1;
	if (o->user == NULL || !user_id_valid(o->user))
		return bad("%s", "--user eco_usr_... is required");
	return check_plan_name(o->plan);
}

static void
migrated(int version, const char *name)
{
	printf("applied %s\n", name);
}

int
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
int
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
int
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

int
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

int
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

int
cmd_user_set_plan(struct ctx *c, struct opt *o)
{
	struct shm	*s;
	int		 rc;

	if ((rc = user_set_plan(c->db, o->user, o->plan)) != USER_OK) {
		fprintf(stderr, "nexusctl: %s\n", user_strerror(rc));
		return 1;
	}
	audit_log(c->db, "nexusctl", "user.set_plan", o->user, NULL, NULL);
	/* This host's workers drop their cached keys (and so plans) now. */
	if ((s = shm_open_existing(c->cfg.runtime_dir)) != NULL) {
		shm_keys_bump(s);
		shm_close(s);
	}
	printf("%s is now on %s (other hosts within key_cache_ttl = %llds)\n",
	    o->user, o->plan, c->cfg.key_cache_ttl);
	return 0;
}
