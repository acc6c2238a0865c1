-- The admin portal: a user's page lists the audit rows about that user,
-- newest first, without reading the whole log (every admin request adds
-- a row to it).
CREATE INDEX IF NOT EXISTS eco_audit_log_target
  ON eco_audit_log (target, id);
