-- The overage ledger keeps the Stripe customer each row is billed to, so
-- that every retry of a row sends exactly the parameters of its first try
-- (Stripe refuses an Idempotency-Key reused with other parameters) even if
-- the user's stripe_customer_id changes in between.
-- ADD COLUMN IF NOT EXISTS keeps this safe to repeat (MariaDB, TiDB).
ALTER TABLE eco_overage_ledger
  ADD COLUMN IF NOT EXISTS stripe_customer_id VARCHAR(64) CHARACTER SET ascii NULL
  AFTER amount_cents;
