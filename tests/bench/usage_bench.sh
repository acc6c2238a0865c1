#!/usr/bin/env bash
# Usage API and roll-up benchmark (issue 4). Prints figures, asserts nothing.
#
#   tests/bench/usage_bench.sh [runs]        (from a built tree: make first)
#
# 1. A private stack (tests/stack.sh) with a 2 GB InnoDB buffer pool.
# 2. 10,000,000 raw rows over the 90 UTC days ending now, 1,000 users, the
#    busiest holding 1,000,000 (tests/bench/gen_usage), loaded with
#    LOAD DATA LOCAL INFILE; then nexusctl aggregate over all 90 days.
#    Users are inserted with SQL, the token made with nexusctl: it measures
#    the read path and the roll-up, not the hot path.
# 3. GET /api/usage/history?days=365 and /api/usage/endpoints?days=90 for
#    the busiest user through nginx: one warm-up, then the median of
#    $runs (default 15) timed requests.
# 4. A second data set: 10,000,000 raw rows on one UTC day (yesterday),
#    same users, then nexusctl aggregate --date that day: time and rows/s.
#
# Environment: BENCH_ROWS (10000000), BENCH_USERS (1000), BENCH_BUSIEST
# (1000000), BENCH_DAY_ROWS (10000000), BENCH_KEEP=1 keeps the stack.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/bench.sh"
runs=${1:-15}
rows=${BENCH_ROWS:-10000000}
users=${BENCH_USERS:-1000}
busiest=${BENCH_BUSIEST:-1000000}
day_rows=${BENCH_DAY_ROWS:-10000000}

make -C "$top_builddir" -s tests/bench/gen_usage src/nexusctl cgi-bin/nexus.fcgi >/dev/null
NEXUS_DB_BUFFER_POOL=2G bench_start

echo "== machine: $(nproc) cores, $(uname -r); MariaDB $(sql -N -e 'SELECT VERSION()')"

# Users, straight into the table (1,000 nexusctl runs would only be slower).
sql -e "INSERT INTO eco_users (id, email, plan_id, created_at, updated_at)
	SELECT CONCAT('eco_usr_bench', LPAD(seq, 4, '0')),
	       CONCAT('bench', seq, '@example.com'), 'pro',
	       UTC_TIMESTAMP(), UTC_TIMESTAMP() FROM seq_0_to_$((users - 1))"

# The file is in primary-key order; the ts index is dropped for the load
# and built again after it (a sorted build: 2-3x faster than 10 million
# random index inserts on this machine).
load() {	# load FILE
	sql -e "ALTER TABLE eco_api_usage DROP KEY eco_api_usage_ts"
	sql --local-infile=1 -e "LOAD DATA LOCAL INFILE '$1' INTO TABLE
		eco_api_usage FIELDS TERMINATED BY '\t'
		(user_id, ts, @eid, key_id, method, endpoint, status, latency_us)
		SET event_id = UNHEX(@eid)"
	sql -e "ALTER TABLE eco_api_usage ADD KEY eco_api_usage_ts (ts)"
}

t0=$(now)
"$top_builddir/tests/bench/gen_usage" -u "$users" -n "$rows" -b "$busiest" >"$dir/rows.tsv"
t1=$(now)
echo "== generated $rows rows ($(du -h "$dir/rows.tsv" | cut -f1)) in $(secs "$t0" "$t1") s"
load "$dir/rows.tsv"
t2=$(now)
rm -f "$dir/rows.tsv"
echo "== loaded with LOAD DATA LOCAL INFILE (and the ts index built) in $(secs "$t1" "$t2") s" \
	"($(echo "$rows $t1 $t2" | awk '{ printf "%.0f", $1 / ($3 - $2) }') rows/s)"

today=$(date -u +%Y-%m-%d)
first=$(date -u -d "$today - 89 days" +%Y-%m-%d)
t0=$(now)
ctl aggregate --from "$first" --to "$today" >"$dir/rollup.log"
t1=$(now)
echo "== rolled up 90 days in $(secs "$t0" "$t1") s (nexusctl aggregate --from $first --to $today)"
awk '{ r += $2 } END { printf "   %d rows rolled up\n", r }' \
	<(grep -E '^[0-9]{4}-' "$dir/rollup.log")
sql -N -e "SELECT CONCAT('   eco_usage_daily ', COUNT(*), ' rows') FROM eco_usage_daily;
	SELECT CONCAT('   eco_usage_daily_routes ', COUNT(*), ' rows, ',
	ROUND(SUM(LENGTH(latency_hist)) / COUNT(*)), ' bytes of histogram each')
	FROM eco_usage_daily_routes"

user=eco_usr_bench0000
token=$(ctl token create --user "$user" --ttl 3600)

echo "== busiest user $user: $(sql -N -e "SELECT COUNT(*) FROM eco_api_usage WHERE user_id = '$user'") raw rows"
timeit "/api/usage/history?days=365"
echo "   $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); h=d["history"]; print(len(h), "days,", sum(x["calls"] for x in h), "calls; today", h[-1])' "$dir/body.json")"
timeit "/api/usage/endpoints?days=90"
echo "   $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["calls"], "calls on", len(d["endpoints"]), "routes; top", d["endpoints"][0])' "$dir/body.json")"

# Second data set: one day holding $day_rows raw rows.
sql -e "TRUNCATE eco_api_usage; TRUNCATE eco_usage_daily;
	TRUNCATE eco_usage_daily_routes; TRUNCATE eco_rollup_days"
yday=$(date -u -d "$today - 1 day" +%Y-%m-%d)
from=$(date -u -d "$yday" +%s)
t0=$(now)
"$top_builddir/tests/bench/gen_usage" -u "$users" -n "$day_rows" \
	-b $((day_rows / 10)) -f "$from" -t $((from + 86400)) -s 2 >"$dir/day.tsv"
load "$dir/day.tsv"
rm -f "$dir/day.tsv"
t1=$(now)
echo "== second data set: $day_rows rows on $yday generated and loaded in $(secs "$t0" "$t1") s"
t0=$(now)
ctl aggregate --date "$yday" | sed 's/^/   /'
t1=$(now)
echo "== nexusctl aggregate --date $yday: $(secs "$t0" "$t1") s wall" \
	"($(echo "$day_rows $t0 $t1" | awk '{ printf "%.0f", $1 / ($3 - $2) }') rows/s)"
