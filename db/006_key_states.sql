-- Key states and key formats.
--
-- rotated_at: when a key was replaced by another (POST /api/keys/{id}/rotate
-- or nexusctl key rotate); until its expires_at passes it is "rotating".
--
-- key_format: 0 for a key made before keys carried a MAC ("nx_live_" and
-- 43 random base62), 1 for one whose last 11 characters are a MAC of the
-- rest under key_secret (lib/keys.c). Every row that exists when this runs
-- takes the default, 0, and so does a row that a program of an older
-- release inserts during an upgrade: both are keys without a MAC. Workers
-- load the hashes of live format-0 keys and refuse any other key whose MAC
-- fails without asking the database.
--
-- MySQL has no ADD COLUMN IF NOT EXISTS: the ALTER is run only when the
-- column is missing (information_schema, then PREPARE), so that this file
-- can be applied again, on MySQL 8 as on MariaDB. One ALTER adds both
-- columns and the index, so one column tells whether it ran.
--
-- Key names are any text of up to 100 characters (the API checks them):
-- utf8mb4 whatever the database's default, which 001 left it to.
SET @nexus_006 = (SELECT IF(COUNT(*) = 0,
  'ALTER TABLE eco_api_keys
     ADD COLUMN key_format TINYINT UNSIGNED NOT NULL DEFAULT 0,
     ADD COLUMN rotated_at DATETIME NULL,
     ADD KEY eco_api_keys_format (key_format, id),
     MODIFY COLUMN name VARCHAR(100) CHARACTER SET utf8mb4 NULL',
  'DO 0')
  FROM information_schema.COLUMNS
  WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'eco_api_keys'
  AND COLUMN_NAME = 'key_format');
PREPARE nexus_006 FROM @nexus_006;
EXECUTE nexus_006;
DEALLOCATE PREPARE nexus_006;
