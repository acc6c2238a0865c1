-- The overage spend cap of plans that bill overage (Pro).
--
-- eco_users.spend_cap_cents: the most overage a user will pay in a
-- billing period, in integer cents; NULL: no cap; 0: no overage at all
-- (calls stop at the allowance). Set by PUT /api/billing/spend-cap and by
-- admins (lib/users.c); the key lookup brings it to the workers with the
-- plan, and calls past allowance + what the cap pays for are refused.
--
-- eco_usage_records.cap_cents: the cap in force for that period. A row
-- takes the user's cap when it is made, and a change of the cap is
-- written to the current period's row only, so that a cap set in November
-- never changes what October bills. The biller bills no more overage
-- calls than the row's cap pays for, and revenue_cents counts no more
-- (lib/period.c).
--
-- The CHECK keeps a cap's micro-dollars inside 64 bits (the API allows
-- $1,000,000); engines that ignore CHECK lose nothing but the guard.
--
-- As in 006: one ALTER per table, run only when its column is missing, so
-- that the file can be applied again on MySQL 8 as on MariaDB.
SET @nexus_007 = (SELECT IF(COUNT(*) = 0,
  'ALTER TABLE eco_users
     ADD COLUMN spend_cap_cents BIGINT UNSIGNED NULL,
     ADD CONSTRAINT eco_users_spend_cap CHECK (spend_cap_cents <= 100000000)',
  'DO 0')
  FROM information_schema.COLUMNS
  WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'eco_users'
  AND COLUMN_NAME = 'spend_cap_cents');
PREPARE nexus_007 FROM @nexus_007;
EXECUTE nexus_007;
DEALLOCATE PREPARE nexus_007;

SET @nexus_007 = (SELECT IF(COUNT(*) = 0,
  'ALTER TABLE eco_usage_records ADD COLUMN cap_cents BIGINT UNSIGNED NULL',
  'DO 0')
  FROM information_schema.COLUMNS
  WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'eco_usage_records'
  AND COLUMN_NAME = 'cap_cents');
PREPARE nexus_007 FROM @nexus_007;
EXECUTE nexus_007;
DEALLOCATE PREPARE nexus_007;
