#!/usr/bin/env bash
# Hot-path benchmark: prints figures, asserts nothing.
#
#   tests/bench/hotpath.sh [SECONDS_PER_RUN] [RUNS] [CONNECTIONS]
#
# On one private stack (MariaDB, nginx, 2 workers), wrk measures in turn:
#   bare  GET /api/live: same worker, no auth, no quota, no tracking, no db
#   pro   GET /api/secure/ping with a Pro key (cached key, no round trip)
#   free  GET /api/secure/ping with a Free key (one conditional UPDATE each;
#         the bench database gives Free a limit no run reaches, so every
#         call is admitted and committed rather than refused)
# Runs are interleaved (bare, pro, free, bare, ...) so that noise on this
# shared machine spreads evenly; medians of the runs are printed.
set -euo pipefail
secs=${1:-10}
runs=${2:-3}
conns=${3:-8}
. "$(dirname "$0")/bench.sh"
bench_start
sql -e "UPDATE eco_plans SET monthly_calls = 1000000000000 WHERE id = 'free'"
pro=$(ctl user create --email pro@bench --plan pro)
free=$(ctl user create --email free@bench --plan free)
prokey=$(ctl key create --user "$pro" 2>/dev/null)
freekey=$(ctl key create --user "$free" 2>/dev/null)

# CPU time in clock ticks: the whole machine's, and MariaDB's.
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
dbcpu() { awk '{ print $14 + $15 }' "/proc/$(cat "$dir/mysql.pid")/stat"; }

# run NAME PATH [HEADER]: appends "rps p50_us p99_us non2xx cpu_us db_us" to
# $dir/NAME, the last two being CPU time per request (all of it, MariaDB's).
run() {
	local out b0 d0 b1 d1
	b0=$(busy) d0=$(dbcpu)
	out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency ${3:+-H "$3"} "$NEXUS_URL$2")
	b1=$(busy) d1=$(dbcpu)
	echo "$out" | awk -v b=$((b1 - b0)) -v d=$((d1 - d0)) \
	    -v hz="$(getconf CLK_TCK)" '
		function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1000000; return v }
		/requests in/ { n = $1 }
		/Requests\/sec/ { rps = $2 }
		/^ +50%/ { p50 = us($2) }
		/^ +99%/ { p99 = us($2) }
		/Non-2xx/ { bad = $NF }
		END { printf "%.0f %.0f %.0f %s %.0f %.0f\n", rps, p50, p99, bad + 0,
		    b * 1e6 / hz / n, d * 1e6 / hz / n }' >>"$dir/$1"
}

# Warm up: connections, key caches, InnoDB pages.
wrk -t1 -c2 -d2s -H "X-API-Key: $prokey" "$NEXUS_URL/api/secure/ping" >/dev/null
wrk -t1 -c2 -d2s -H "X-API-Key: $freekey" "$NEXUS_URL/api/secure/ping" >/dev/null
for ((i = 0; i < runs; i++)); do
	run bare /api/live
	run pro /api/secure/ping "X-API-Key: $prokey"
	run free /api/secure/ping "X-API-Key: $freekey"
done

col() { awk -v c="$2" '{ print $c }' "$dir/$1" | median; }
bare=$(col bare 1)
printf "hot path, %d connections, %d x %ds runs each, medians (nginx %s, %d workers)\n" \
	"$conns" "$runs" "$secs" "$(nginx -v 2>&1 | sed 's/.*\///')" "$WORKERS"
printf "%-6s %10s %9s %9s %8s %10s %11s %10s\n" route "req/s" "p50" "p99" "ratio" \
	"non-2xx" "cpu/req" "db cpu/req"
for r in bare pro free; do
	rps=$(col $r 1)
	printf "%-6s %10.0f %7.0fus %7.0fus %7.1f%% %10s %9.0fus %8.0fus\n" "$r" "$rps" \
		"$(col $r 2)" "$(col $r 3)" \
		"$(echo "$rps $bare" | awk '{ printf "%.1f", 100 * $1 / $2 }')" \
		"$(awk '{ s += $4 } END { print s }' "$dir/$r")" "$(col $r 5)" "$(col $r 6)"
done
echo "(cpu/req: CPU time of the whole machine per request, wrk and nginx included;"
echo " db cpu/req: MariaDB's share of it)"
# Each round's pro/bare ratio: the machine's drift between rounds cancels.
paste "$dir/bare" "$dir/pro" | awk '{ print 100 * $7 / $1 }' | median |
	awk '{ printf "pro/bare, median of the rounds'"'"' ratios: %.1f%%\n", $1 }'
echo "runs (req/s p50us p99us non2xx cpu_us db_us):"
for r in bare pro free; do sed "s/^/  $r /" "$dir/$r"; done
rows=$(sql -N -e "SELECT COUNT(*) FROM eco_api_usage")
echo "usage rows written during the bench: $rows"
