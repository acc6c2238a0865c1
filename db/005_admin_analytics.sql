-- Admin analytics (issue 6): every user has an eco_usage_records row for
-- the current period, carrying the plan terms of that period, so that the
-- admin users page sorts 100,000 users by calls or revenue with an index
-- scan instead of a join and a sort of every user.
--
-- plan_id, price_cents and overage_micros are the user's plan terms for the
-- period (set when the row is opened and when the plan changes);
-- revenue_cents is what the period earns: price_cents plus the overage so
-- far in whole cents, overage_calls * overage_micros DIV 10000 (a cent is
-- 10,000 micro-dollars; fractions are carried by the biller, never rounded
-- up). Every statement that changes one of those columns sets it again in
-- the same statement: lib/users.c, lib/admin.c and the batch writer's
-- counter upsert (lib/usage.c). It is a plain column, not a generated one:
-- with a stored generated column, MariaDB 10.11 stops reading this table's
-- secondary indexes alone once another statement on it has run in the
-- connection (the calls total went from 20 ms to 240 ms).
-- Rows written without the terms (before this migration, or by the hot
-- path for a user's first call in a period not yet opened) are completed
-- by lib/admin.c: admin_period_ready.
ALTER TABLE eco_usage_records
  ADD COLUMN IF NOT EXISTS plan_id VARCHAR(32) CHARACTER SET ascii NULL,
  ADD COLUMN IF NOT EXISTS price_cents BIGINT UNSIGNED NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS overage_micros BIGINT UNSIGNED NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS revenue_cents BIGINT UNSIGNED NOT NULL DEFAULT 0;

-- A period is opened once every user has a row for it (lib/admin.c).
CREATE TABLE IF NOT EXISTS eco_periods (
  period DATE NOT NULL PRIMARY KEY,
  opened_at DATETIME NOT NULL
) ENGINE=InnoDB;

-- The users page: sort by calls or revenue, with or without a plan filter,
-- ties broken by user id (the primary key rides along in each index).
CREATE INDEX IF NOT EXISTS eco_usage_records_revenue
  ON eco_usage_records (period, revenue_cents);
CREATE INDEX IF NOT EXISTS eco_usage_records_plan_calls
  ON eco_usage_records (period, plan_id, api_calls);
CREATE INDEX IF NOT EXISTS eco_usage_records_plan_revenue
  ON eco_usage_records (period, plan_id, revenue_cents);

-- Sort by email within a plan (by email alone uses the unique key).
CREATE INDEX IF NOT EXISTS eco_users_plan_email
  ON eco_users (plan_id, email);

-- The overview's overage revenue: billed and pending cents of a period
-- summed from the index alone, without reading the ledger rows.
CREATE INDEX IF NOT EXISTS eco_overage_ledger_period_state
  ON eco_overage_ledger (period, state, amount_cents);
