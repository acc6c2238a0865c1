/*
 * The cron trigger: POST /api/cron/process-overage runs the same
 * overage_run() as the nexus-overage program, for schedulers that call
 * URLs rather than run programs.
 */
#include "config.h"

#include <string.h>

#include "web.h"

/*
 * POST /api/cron/process-overage[?dry_run=1][&period=YYYY-MM]: answers
 * the run's summary (200, also when some users failed: see "status"),
 * 409 when another run holds the lock, 500 when it could not run.
 */
void
api_cron_overage(struct request *r)
{
	struct overage_opts	 opts;
	struct overage_summary	 sum;
	char			 v[16], period[11];
	long long		 dry;
	int			 rc;

	memset(&opts, 0, sizeof(opts));
	if (req_query_int(r, "dry_run", 0, 1, 0, &dry) == -1)
		return;
	if ((rc = req_query(r, "period", v, sizeof(v))) != 0) {
		if (rc == -1 || overage_period_parse(v, period,
		    sizeof(period)) == -1) {
			resp_error(r, 400, "invalid_parameter",
			    "period must be YYYY-MM");
			return;
		}
		opts.period = period;
	}
	opts.dry_run = (int)dry;
	opts.actor = "cron-http";
	opts.remote = r->remote;
	rc = overage_run(r->srv->db, r->srv->cfg, &opts, &sum);
	if (rc == OVERAGE_BUSY)
		resp_error(r, 409, "run_in_progress", "%s", sum.error);
	else if (rc == OVERAGE_ERROR && sum.items_sent == 0)
		resp_error(r, 500, "overage_failed", "%s", sum.error);
	else	/* some may have failed, or it stopped after billing some */
		resp_json(r, 200, overage_summary_json(&sum));
}
