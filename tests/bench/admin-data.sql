-- The admin analytics data set: 100,000 users (72% Free, 23% Pro, 5%
-- Enterprise) created over two years, one API key each, per-period usage
-- counters for the current month and the eleven before it (60% of users
-- active in each month), and an overage ledger that billed each Pro user's
-- overage of this month once a day (every row sent except the latest row
-- of one user in four, still pending).
-- The first 1,000 users are eco_usr_bench0000..0999, the users of the raw
-- usage generator (tests/bench/gen_usage); the rest have ids like the
-- product's. This file fills what the admin pages read; raw rows come
-- from gen_usage. For an empty database (tests/bench/admin_bench.sh);
-- MariaDB (SEQUENCE engine).

SET @p := DATE_FORMAT(UTC_DATE(), '%Y-%m-01');
SET @now := UTC_TIMESTAMP();
SET @dom := DAYOFMONTH(UTC_DATE());

-- Ids look like the product's (random characters after the prefix), so
-- their order is unrelated to creation order.
INSERT INTO eco_users (id, email, plan_id, stripe_customer_id, created_at,
    updated_at)
SELECT IF(seq < 1000, CONCAT('eco_usr_bench', LPAD(seq, 4, '0')),
        CONCAT('eco_usr_', LEFT(MD5(seq), 24))),
    CONCAT('user', seq, '@example', seq % 97, '.com'),
    CASE WHEN seq % 100 < 72 THEN 'free'
         WHEN seq % 100 < 95 THEN 'pro' ELSE 'enterprise' END,
    IF(seq % 100 >= 72, CONCAT('cus_bench', seq), NULL),
    @now - INTERVAL (seq * 7919 % (730 * 86400)) SECOND,
    @now
FROM seq_0_to_99999;

INSERT INTO eco_api_keys (user_id, key_hash, prefix, name, created_at)
SELECT id, UNHEX(SHA2(id, 256)), 'nx_live_bnch', 'bench', created_at
FROM eco_users ORDER BY id;

-- Every user has a row per period (the admin pages open each period for
-- all users); a user is active in a month when a hash of (user, month)
-- says so, and an inactive user's row counts no calls.
INSERT INTO eco_usage_records (user_id, period, api_calls, overage_calls,
    overage_invoiced, updated_at, plan_id, price_cents, overage_micros,
    revenue_cents)
SELECT id, period, calls, overage, 0, @now, plan_id, price_cents,
    overage_micros, price_cents + overage * overage_micros DIV 10000
FROM (SELECT x.*, IF(allowance IS NULL, 0, GREATEST(0, CAST(calls AS SIGNED) -
        CAST(allowance AS SIGNED))) AS overage FROM (
    SELECT u.id, u.period, u.plan_id, pl.monthly_calls AS allowance,
        pl.price_cents, pl.overage_micros,
        CASE WHEN u.h % 10 >= 6 THEN 0
            WHEN u.plan_id = 'free' THEN 1 + u.h % 1000
            WHEN u.plan_id = 'pro' THEN 1 + u.h % 250000
            ELSE 1 + u.h % 3000000 END AS calls
    FROM (
        SELECT u.id, u.plan_id, @p - INTERVAL m.seq MONTH AS period,
            CONV(LEFT(MD5(CONCAT(u.id, m.seq)), 8), 16, 10) AS h
        FROM eco_users u CROSS JOIN seq_0_to_11 m
    ) u
    JOIN eco_plans pl ON pl.id = u.plan_id
) x) y;

-- This month's overage billed in one ledger row per day so far; a cent is
-- ten calls at $0.001, and whole cents are billed.
INSERT INTO eco_overage_ledger (user_id, period, calls_from, calls_to,
    amount_cents, idempotency_key, state, stripe_item_id, attempts,
    created_at, sent_at)
SELECT r.user_id, r.period,
    per_day * (d.seq - 1) + 1, per_day * d.seq,
    per_day DIV 10,
    CONCAT('bench_', r.user_id, '_', d.seq),
    IF(d.seq = days AND CONV(LEFT(MD5(r.user_id), 2), 16, 10) % 4 = 0,
        'pending', 'sent'),
    IF(d.seq = days AND CONV(LEFT(MD5(r.user_id), 2), 16, 10) % 4 = 0,
        NULL, CONCAT('ii_bench_', d.seq, LEFT(MD5(r.user_id), 12))),
    1, @p + INTERVAL d.seq - 1 DAY,
    IF(d.seq = days AND CONV(LEFT(MD5(r.user_id), 2), 16, 10) % 4 = 0,
        NULL, @p + INTERVAL d.seq - 1 DAY)
FROM (
    SELECT r.user_id, r.period, @dom AS days,
        (r.overage_calls DIV @dom) DIV 10 * 10 AS per_day
    FROM eco_usage_records r JOIN eco_users u ON u.id = r.user_id
    WHERE r.period = @p AND u.plan_id = 'pro' AND r.overage_calls >= 10 * @dom
) r
JOIN seq_1_to_31 d ON d.seq <= r.days;

UPDATE eco_usage_records r JOIN (
    SELECT user_id, period, MAX(calls_to) AS invoiced
    FROM eco_overage_ledger WHERE period = @p
    GROUP BY user_id, period) l
  ON l.user_id = r.user_id AND l.period = r.period
SET r.overage_invoiced = l.invoiced;

-- The hot path's last use of each key: active users called this month.
UPDATE eco_api_keys k JOIN eco_usage_records r
    ON r.user_id = k.user_id AND r.period = @p AND r.api_calls > 0
SET k.last_used_at = @p + INTERVAL CONV(LEFT(MD5(k.user_id), 8), 16, 10) %
    GREATEST(1, TIMESTAMPDIFF(SECOND, @p, @now)) SECOND;

-- The period is open: every user has a row (lib/admin.c).
INSERT INTO eco_periods (period, opened_at) VALUES (@p, @now);

ANALYZE TABLE eco_users, eco_api_keys, eco_usage_records, eco_overage_ledger;
