#!/usr/bin/env bash
# Overage billing benchmark: prints figures, asserts nothing.
#
#   tests/bench/overage_bench.sh [USERS] [LATENCY_MS] [RATE]
#
# On one private stack with the fake Stripe answering in LATENCY_MS
# (default 50) and refusing more than RATE requests in any second (default
# 100), nexus-overage paced to stripe_rate = RATE bills USERS (default
# 10,000) Pro users with overage. Prints the wall time and, from the fake's
# counters, the achieved requests/s (avg over the busy span and the best
# one-second window) and how many 429s it had to send.
set -euo pipefail
users=${1:-10000}
latency=${2:-50}
rate=${3:-100}
. "$(dirname "$0")/bench.sh"
bench_start
stripe=http://127.0.0.1:$STRIPE_PORT

# USERS Pro users with a customer each and 1,000 to 10,990 calls of
# overage this month (1 to 10.99 dollars).
sql <<SQL
INSERT INTO eco_users (id, email, plan_id, stripe_customer_id, created_at, updated_at)
  SELECT CONCAT('eco_usr_bench', LPAD(seq, 19, '0')), CONCAT('u', seq, '@bench'),
         'pro', CONCAT('cus_bench', seq), UTC_TIMESTAMP(), UTC_TIMESTAMP()
  FROM seq_1_to_$users;
INSERT INTO eco_usage_records (user_id, period, api_calls, updated_at)
  SELECT id, DATE_FORMAT(UTC_DATE(), '%Y-%m-01'),
         100000 + 1000 + (CAST(SUBSTRING(id, 14) AS UNSIGNED) * 7919) % 10000,
         UTC_TIMESTAMP()
  FROM eco_users WHERE id LIKE 'eco_usr_bench%';
SQL
want=$(sql -N -e \
	"SELECT SUM(FLOOR((api_calls - 100000) / 10)) FROM eco_usage_records")

curl -sf -X POST -d "{\"latency_ms\":$latency,\"rate_limit\":$rate}" "$stripe/_control/config" >/dev/null
start=$(now)
set +e
NEXUS_STRIPE_RATE=$rate "$top_builddir/src/nexus-overage" \
	--json >"$dir/summary.json"
status=$?
set -e
end=$(now)
curl -sf "$stripe/_control/stats" >"$dir/stats.json"

python3 - "$dir/summary.json" "$dir/stats.json" "$start" "$end" "$status" "$want" \
	"$users" "$latency" "$rate" <<'PY'
import json, sys
summ, stats = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
start, end, status, want = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
users, latency, rate = sys.argv[7], sys.argv[8], sys.argv[9]
wall = end - start
print(f"overage billing: {users} Pro users, fake Stripe latency {latency} ms, limit {rate}/s, stripe_rate {rate}")
print(f"  exit status       {status}")
print(f"  wall time         {wall:.1f} s")
print(f"  items sent        {summ['items_sent']} ({summ['total_cents']} cents; expected {want})")
print(f"  invoiceitem POSTs {stats['invoiceitem_posts']} (items created {stats['items_created']})")
print(f"  avg req/s (busy)  {stats['avg_rps_busy']}")
print(f"  max req/s (1 s)   {stats['max_rps']}")
print(f"  end-to-end req/s  {stats['invoiceitem_posts'] / wall:.1f} (including the ledger phase)")
print(f"  429s sent         {stats['sent_429']}")
PY
