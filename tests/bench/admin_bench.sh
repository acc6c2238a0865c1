#!/usr/bin/env bash
# Admin analytics benchmark (issue 6). Prints figures, asserts nothing.
#
#   tests/bench/admin_bench.sh [runs]        (from a built tree: make first)
#
# 1. A private stack (tests/stack.sh) with a 2 GB InnoDB buffer pool.
# 2. The analytics data set: 10,000,000 raw rows over 90 days for users
#    eco_usr_bench0000..0999 (tests/bench/gen_usage, issue 4), loaded with
#    LOAD DATA LOCAL INFILE. BENCH_ROWS=0 skips it.
# 3. 100,000 users, their keys, twelve months of per-period counters and
#    this month's overage ledger (tests/bench/admin-data.sql).
# 4. The roll-up of the raw rows' 90 days (nexusctl aggregate), as the
#    hourly cron job keeps it: calls per day read it for past days.
# 5. An admin made with nexusctl and put on the allow-list (without the
#    admin rate limit, which a benchmark would hit); then each admin
#    request through nginx: one warm-up, then the median of $runs
#    (default 15) timed requests: the overview, users pages, calls per day
#    and a user's page (the busiest caller's, and a Pro user's with this
#    month's ledger rows).
#
# Environment: BENCH_ROWS (10000000), BENCH_BUSIEST (1000000), BENCH_KEEP=1
# keeps the stack.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/bench.sh"
runs=${1:-15}
rows=${BENCH_ROWS:-10000000}
busiest=${BENCH_BUSIEST:-1000000}

make -C "$top_builddir" -s src/nexusctl cgi-bin/nexus.fcgi >/dev/null
NEXUS_DB_BUFFER_POOL=2G bench_start

echo "== machine: $(nproc) cores, $(uname -r); MariaDB $(sql -N -e 'SELECT VERSION()')"

if [ "$rows" -gt 0 ]; then
	make -C "$top_builddir" -s tests/bench/gen_usage >/dev/null
	t0=$(now)
	"$top_builddir/tests/bench/gen_usage" -u 1000 -n "$rows" -b "$busiest" \
		>"$dir/rows.tsv"
	sql --local-infile=1 -e "LOAD DATA LOCAL INFILE '$dir/rows.tsv' INTO TABLE
		eco_api_usage FIELDS TERMINATED BY '\t'
		(user_id, ts, @eid, key_id, method, endpoint, status, latency_us)
		SET event_id = UNHEX(@eid)"
	rm -f "$dir/rows.tsv"
	t1=$(now)
	echo "== $rows raw rows generated and loaded in $(secs "$t0" "$t1") s"
fi

t0=$(now)
sql <"$here/admin-data.sql" >/dev/null
t1=$(now)
echo "== admin data set made in $(secs "$t0" "$t1") s:"
sql -N -e "SELECT CONCAT('   eco_users ', COUNT(*)) FROM eco_users;
	SELECT CONCAT('   eco_usage_records ', COUNT(*), ' (this month ',
	    SUM(period = DATE_FORMAT(UTC_DATE(), '%Y-%m-01')), ')')
	    FROM eco_usage_records;
	SELECT CONCAT('   eco_overage_ledger ', COUNT(*)) FROM eco_overage_ledger;
	SELECT CONCAT('   eco_api_usage ', COUNT(*)) FROM eco_api_usage"

today=$(date -u +%Y-%m-%d)
first=$(date -u -d "$today - 89 days" +%Y-%m-%d)
t0=$(now)
ctl aggregate --from "$first" --to "$today" >/dev/null
t1=$(now)
echo "== rolled up $first to $today in $(secs "$t0" "$t1") s"

admin=$(ctl user create --email admin@bench.example --plan free)
printf 'admin_ids = %s\nadmin_rate = 0\n' "$admin" >>"$NEXUS_CONFIG"
"$top_srcdir/tests/stack.sh" workers-stop "$dir" >/dev/null
"$top_srcdir/tests/stack.sh" workers-start "$dir" >/dev/null
token=$(ctl token create --user "$admin" --ttl 3600)

users() {	# a one-line summary of the users page in body.json
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1])); u = d["users"]
print("  ", d["total"], "users,", len(u), "rows; first:", u[0]["email"] if u else "-",
      u[0]["calls"] if u else "", u[0]["revenue"]["formatted"] if u else "")' "$dir/body.json"
}

timeit "/api/admin/analytics/overview"
python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print("   users", d["users"]["total"], "MRR", d["mrr"]["formatted"], "calls", d["calls_this_month"],
      "overage billed", d["overage_revenue"]["billed"]["formatted"], "pending",
      d["overage_revenue"]["pending"]["formatted"])' "$dir/body.json"
for q in "" "?sort=calls" "?sort=revenue" "?sort=email" \
	"?sort=calls&page=2000" "?sort=revenue&order=asc&page=4000" \
	"?sort=created&page=4000" "?sort=email&order=desc&page=3000" \
	"?plan=pro&sort=revenue" "?plan=pro&sort=calls&page=900" \
	"?search=user4242&sort=revenue" "?search=example1.com&sort=calls" \
	"?search=example&sort=calls&page=2000"; do
	timeit "/api/admin/analytics/users$q"
	users
done

for days in 30 365; do
	timeit "/api/admin/analytics/daily?days=$days"
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1])); t = d["total"]
print("  ", d["from"], "to", d["to"] + ":", t["calls"], "calls,", t["errors"], "errors; by plan",
      {p: v["calls"] for p, v in t["by_plan"].items()}, "; today", d["history"][-1]["calls"])' "$dir/body.json"
done
ledgered=$(sql -N -e "SELECT user_id FROM eco_overage_ledger GROUP BY user_id
	ORDER BY COUNT(*) DESC, user_id LIMIT 1")
for u in eco_usr_bench0000 "$ledgered"; do
	timeit "/api/admin/users/$u"
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print("  ", d["user"]["email"], d["plan"]["id"] + ":", d["period"]["calls"], "calls this period,",
      sum(x["calls"] for x in d["daily"]["history"]), "in 30 days on", len(d["endpoints"]["endpoints"]),
      "routes;", len(d["keys"]), "keys,", len(d["ledger"]), "ledger rows,", len(d["audit"]), "audit rows")' \
		"$dir/body.json"
done

# A new period: users without a row are given one by the first admin
# request (lib/period.c: period_ready). Take out the rows of this
# month's idle users and the period's mark, restart the workers (they
# remember the period they saw opened), and time that first request.
idle=$(sql -N -e "SELECT COUNT(*) FROM eco_usage_records
	WHERE period = DATE_FORMAT(UTC_DATE(), '%Y-%m-01') AND api_calls = 0")
sql -e "DELETE FROM eco_usage_records
	WHERE period = DATE_FORMAT(UTC_DATE(), '%Y-%m-01') AND api_calls = 0;
	DELETE FROM eco_periods"
"$top_srcdir/tests/stack.sh" workers-stop "$dir" >/dev/null
"$top_srcdir/tests/stack.sh" workers-start "$dir" >/dev/null
curl -sf -o /dev/null -w "== first request of a period, opening $idle users' rows: %{time_total} s\n" \
	-H "Authorization: Bearer $token" "$NEXUS_URL/api/admin/analytics/overview"
timeit "/api/admin/analytics/overview"
