/*
 * nexus-overage: bills Pro overage to Stripe; system cron runs it daily
 * (conf/crontab). POST /api/cron/process-overage runs the same
 * overage_run().
 *
 *   nexus-overage [-f config] [--dry-run] [--period YYYY-MM] [--json]
 *
 * Exit status: 0 everything due was billed, 1 something was skipped or
 * failed (or the run could not go on), 2 usage error, 3 another run holds
 * the lock.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "nexus.h"

struct out {
	int		 json;
	json_object	*items;
};

static void
usage(void)
{
	fprintf(stderr, "usage: nexus-overage [-f config] [--dry-run] "
	    "[--period YYYY-MM] [--json]\n");
	exit(2);
}

static void
on_item(void *arg, const struct overage_item *it)
{
	struct out	*o = arg;
	json_object	*j;

	if (!o->json) {
		printf("%-9s %-8s %s %.7s calls %lld-%lld (%lld) %lld cents%s%s"
		    "%s%s\n", it->action, it->outcome, it->user_id, it->period,
		    it->calls_from, it->calls_to, it->calls, it->amount_cents,
		    it->stripe_id[0] ? " " : "", it->stripe_id,
		    it->error[0] ? ": " : "", it->error);
		return;
	}
	j = json_object_new_object();
	json_object_object_add(j, "user_id",
	    json_object_new_string(it->user_id));
	json_object_object_add(j, "period", json_object_new_string(it->period));
	json_object_object_add(j, "ledger_id",
	    json_object_new_int64(it->ledger_id));
	json_object_object_add(j, "calls_from",
	    json_object_new_int64(it->calls_from));
	json_object_object_add(j, "calls_to",
	    json_object_new_int64(it->calls_to));
	json_object_object_add(j, "calls", json_object_new_int64(it->calls));
	json_object_object_add(j, "amount_cents",
	    json_object_new_int64(it->amount_cents));
	json_object_object_add(j, "action", json_object_new_string(it->action));
	json_object_object_add(j, "outcome",
	    json_object_new_string(it->outcome));
	json_object_object_add(j, "stripe_item_id",
	    json_object_new_string(it->stripe_id));
	json_object_object_add(j, "error", json_object_new_string(it->error));
	json_object_array_add(o->items, j);
}

int
main(int argc, char *argv[])
{
	struct config		 cfg;
	struct overage_opts	 opts;
	struct overage_summary	 sum;
	struct out		 out = { 0, NULL };
	struct db		*db;
	json_object		*j;
	const char		*path = NULL;
	char			 period[11];
	int			 i, rc;

	memset(&opts, 0, sizeof(opts));
	opts.actor = "cron";
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-f") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--dry-run") == 0)
			opts.dry_run = 1;
		else if (strcmp(argv[i], "--json") == 0)
			out.json = 1;
		else if (strcmp(argv[i], "--period") == 0 && i + 1 < argc) {
			if (overage_period_parse(argv[++i], period,
			    sizeof(period)) == -1) {
				fprintf(stderr, "nexus-overage: --period must "
				    "be YYYY-MM\n");
				usage();
			}
			opts.period = period;
		} else
			usage();
	}
	if (config_load(&cfg, path) == -1)
		return 1;
	log_init("nexus-overage", cfg.log_level);
	db = db_open(&cfg);
	if (db_handle(db) == NULL) {
		fprintf(stderr, "nexus-overage: cannot reach the database: "
		    "%s\n", db_error(db));
		db_close(db);
		config_free(&cfg);
		return 1;
	}
	if (out.json)
		out.items = json_object_new_array();
	opts.on_item = on_item;
	opts.arg = &out;
	rc = overage_run(db, &cfg, &opts, &sum);
	j = overage_summary_json(&sum);
	if (out.json) {
		json_object_object_add(j, "items", out.items);
		printf("%s\n", json_object_to_json_string_ext(j,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		printf("%s%lld users seen, %lld billed, %lld skipped, "
		    "%lld failed; %lld items sent (%lld reconciled), "
		    "%lld cents; %lld calls carried\n",
		    sum.dry_run ? "dry run: " : "", sum.users_seen,
		    sum.users_billed, sum.users_skipped, sum.users_failed,
		    sum.items_sent, sum.items_reconciled, sum.total_cents,
		    sum.calls_carried);
	}
	if (sum.error[0] != '\0')
		fprintf(stderr, "nexus-overage: %s\n", sum.error);
	json_object_put(j);
	db_close(db);
	config_free(&cfg);
	switch (rc) {
	case OVERAGE_OK:
		return 0;
	case OVERAGE_BUSY:
		return 3;
	default:
		return 1;
	}
}
