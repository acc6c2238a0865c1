-- The daily roll-up's own tables (issue 4). eco_usage_daily keeps one row
-- per user per UTC day; these add what the usage API needs to answer from
-- aggregates instead of raw rows.

-- Per user, UTC day and route: exact counts and latency sum, the largest
-- latency, and a log-linear latency histogram (lib/rollup.c: 8 buckets per
-- power of two, stored sparse) so that a p95 over many days can be read
-- without the raw rows.
CREATE TABLE IF NOT EXISTS eco_usage_daily_routes (
  user_id VARCHAR(40) CHARACTER SET ascii NOT NULL,
  day DATE NOT NULL,
  method VARCHAR(8) CHARACTER SET ascii NOT NULL,
  endpoint VARCHAR(128) CHARACTER SET ascii NOT NULL,
  calls BIGINT UNSIGNED NOT NULL,
  errors BIGINT UNSIGNED NOT NULL,
  latency_sum_us BIGINT UNSIGNED NOT NULL,
  latency_max_us INT UNSIGNED NOT NULL,
  latency_hist VARBINARY(4096) NOT NULL,
  PRIMARY KEY (user_id, day, method, endpoint),
  KEY eco_usage_daily_routes_day (day)
) ENGINE=InnoDB;

-- One row per UTC day the roll-up has run for. complete = 1 when the run
-- started after the day ended: the API then reads that day from the
-- aggregates, otherwise from the raw rows. raw_rows is what the run
-- counted, so that retention can tell late events (more raw rows than
-- rolled up: roll the day up again) before deleting anything; purged_at is
-- set before the day's raw rows are deleted, after which the day is never
-- rolled up again.
CREATE TABLE IF NOT EXISTS eco_rollup_days (
  day DATE NOT NULL PRIMARY KEY,
  complete TINYINT(1) NOT NULL,
  raw_rows BIGINT UNSIGNED NOT NULL,
  users INT UNSIGNED NOT NULL,
  rolled_up_at DATETIME NOT NULL,
  purged_at DATETIME NULL
) ENGINE=InnoDB;
