-- The core schema. Every table has a primary key and no table uses
-- triggers, procedures or events, so that the same SQL runs on MySQL 8,
-- MariaDB 10.6+ and MySQL-compatible distributed engines (DESIGN.md).
-- Identifiers, methods and routes are ASCII: smaller keys, faster compares.

-- Plans are data: limits and prices live here, not in code.
-- monthly_calls NULL means unlimited; hard_limit 1 refuses calls past it.
-- Money is integers: price in cents, overage in micro-dollars per call.
CREATE TABLE IF NOT EXISTS eco_plans (
  id VARCHAR(32) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  monthly_calls BIGINT UNSIGNED NULL,
  hard_limit TINYINT(1) NOT NULL,
  price_cents BIGINT UNSIGNED NOT NULL,
  overage_micros BIGINT UNSIGNED NOT NULL DEFAULT 0,
  sort_order INT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT IGNORE INTO eco_plans
  (id, name, monthly_calls, hard_limit, price_cents, overage_micros, sort_order)
VALUES
  ('free', 'Free', 1000, 1, 0, 0, 1),
  ('pro', 'Pro', 100000, 0, 4900, 1000, 2),
  ('enterprise', 'Enterprise', NULL, 0, 50000, 0, 3);

CREATE TABLE IF NOT EXISTS eco_users (
  id VARCHAR(40) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  email VARCHAR(254) NOT NULL,
  plan_id VARCHAR(32) CHARACTER SET ascii NOT NULL,
  stripe_customer_id VARCHAR(64) CHARACTER SET ascii NULL,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL,
  UNIQUE KEY eco_users_email (email),
  KEY eco_users_plan (plan_id, created_at),
  KEY eco_users_created (created_at),
  CONSTRAINT eco_users_plan_fk FOREIGN KEY (plan_id) REFERENCES eco_plans (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Keys are stored as SHA-256 of the whole key; prefix is for display only.
CREATE TABLE IF NOT EXISTS eco_api_keys (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id VARCHAR(40) CHARACTER SET ascii NOT NULL,
  key_hash BINARY(32) NOT NULL,
  prefix VARCHAR(16) CHARACTER SET ascii NOT NULL,
  name VARCHAR(100) NULL,
  created_at DATETIME NOT NULL,
  last_used_at DATETIME NULL,
  expires_at DATETIME NULL,
  revoked_at DATETIME NULL,
  UNIQUE KEY eco_api_keys_hash (key_hash),
  KEY eco_api_keys_user (user_id, created_at),
  CONSTRAINT eco_api_keys_user_fk FOREIGN KEY (user_id) REFERENCES eco_users (id)
) ENGINE=InnoDB;

-- One row per call. Keyed by (user, time, event id): a user's range scans
-- are clustered, the table can be partitioned by time and sharded by user,
-- and a replayed event (same user, time and id) is ignored on insert.
CREATE TABLE IF NOT EXISTS eco_api_usage (
  user_id VARCHAR(40) CHARACTER SET ascii NOT NULL,
  ts DATETIME(3) NOT NULL,
  event_id BINARY(16) NOT NULL,
  key_id BIGINT UNSIGNED NOT NULL,
  method VARCHAR(8) CHARACTER SET ascii NOT NULL,
  endpoint VARCHAR(128) CHARACTER SET ascii NOT NULL,
  status SMALLINT UNSIGNED NOT NULL,
  latency_us INT UNSIGNED NOT NULL,
  PRIMARY KEY (user_id, ts, event_id),
  KEY eco_api_usage_ts (ts)
) ENGINE=InnoDB;

-- Per user per UTC day, filled by the daily roll-up.
CREATE TABLE IF NOT EXISTS eco_usage_daily (
  user_id VARCHAR(40) CHARACTER SET ascii NOT NULL,
  day DATE NOT NULL,
  calls BIGINT UNSIGNED NOT NULL,
  successes BIGINT UNSIGNED NOT NULL,
  errors BIGINT UNSIGNED NOT NULL,
  latency_avg_us INT UNSIGNED NOT NULL,
  latency_p95_us INT UNSIGNED NOT NULL,
  top_endpoints TEXT NOT NULL,
  rolled_up_at DATETIME NOT NULL,
  PRIMARY KEY (user_id, day),
  KEY eco_usage_daily_day (day)
) ENGINE=InnoDB;

-- Per user per billing period (calendar month, UTC; period = its first day).
-- api_calls counts admitted calls; overage_invoiced counts the calls past
-- the plan's allowance that the overage ledger already covers.
CREATE TABLE IF NOT EXISTS eco_usage_records (
  user_id VARCHAR(40) CHARACTER SET ascii NOT NULL,
  period DATE NOT NULL,
  api_calls BIGINT UNSIGNED NOT NULL DEFAULT 0,
  overage_calls BIGINT UNSIGNED NOT NULL DEFAULT 0,
  overage_invoiced BIGINT UNSIGNED NOT NULL DEFAULT 0,
  updated_at DATETIME NOT NULL,
  PRIMARY KEY (user_id, period),
  KEY eco_usage_records_period (period, api_calls)
) ENGINE=InnoDB;

-- One row per overage charge, written before Stripe is called. The unique
-- (user, period, calls_from) and the idempotency key make a re-run finish
-- what a crashed run started instead of charging again.
CREATE TABLE IF NOT EXISTS eco_overage_ledger (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id VARCHAR(40) CHARACTER SET ascii NOT NULL,
  period DATE NOT NULL,
  calls_from BIGINT UNSIGNED NOT NULL,
  calls_to BIGINT UNSIGNED NOT NULL,
  amount_cents BIGINT UNSIGNED NOT NULL,
  idempotency_key VARCHAR(64) CHARACTER SET ascii NOT NULL,
  state VARCHAR(16) CHARACTER SET ascii NOT NULL,
  stripe_item_id VARCHAR(64) CHARACTER SET ascii NULL,
  attempts INT UNSIGNED NOT NULL DEFAULT 0,
  last_error VARCHAR(255) NULL,
  created_at DATETIME NOT NULL,
  sent_at DATETIME NULL,
  UNIQUE KEY eco_overage_ledger_range (user_id, period, calls_from),
  UNIQUE KEY eco_overage_ledger_idem (idempotency_key),
  KEY eco_overage_ledger_state (state, created_at),
  KEY eco_overage_ledger_period (period)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS eco_audit_log (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  at DATETIME(3) NOT NULL,
  actor VARCHAR(64) CHARACTER SET ascii NOT NULL,
  action VARCHAR(64) CHARACTER SET ascii NOT NULL,
  target VARCHAR(128) NULL,
  detail TEXT NULL,
  remote_addr VARCHAR(64) CHARACTER SET ascii NULL,
  KEY eco_audit_log_at (at),
  KEY eco_audit_log_actor (actor, at)
) ENGINE=InnoDB;
