#!/usr/bin/env bash
# Cluster figures: prints, asserts nothing.
#
#   tests/cluster/bench.sh [CLIENTS...]      (default: 16 32 64)
#
# 1. How long a 3-node cluster stack takes to start from nothing (every
#    joiner copied by rsync) and from the Galera template (as the tests
#    start it), and the memory of its servers, workers and nginx.
# 2. The Free admission (one conditional upsert per call) with CLIENTS
#    concurrent clients: 1,000 calls with a limit of 1,000, through three
#    pools, one on each node, then all through pool 1 (one node). A call
#    whose upsert meets a certification conflict (1213) and is not retried
#    answers 503; the nodes' own counters of conflicts are printed beside.
set -euo pipefail
. "$(dirname "$0")/../bench/bench.sh"
export CLUSTER=3 POOLS=3
chmod 755 "$dir"	# the nodes run as mysql when we are root
# Three stacks under $dir, a, b and c: the last one is kept with BENCH_KEEP=1.
cluster_cleanup() {
	local d
	for d in a b c; do
		[ "${BENCH_KEEP:-0}" = 1 ] && [ $d = c ] && continue
		"$top_srcdir/tests/stack.sh" stop "$dir/$d" >/dev/null 2>&1 || true
	done
	bench_cleanup
}
trap cluster_cleanup EXIT
clients=("$@")
[ ${#clients[@]} -gt 0 ] || clients=(16 32 64)
stack() { "$top_srcdir/tests/stack.sh" "$@" >/dev/null; }
node_sql() { mariadb --no-defaults --socket="$1/node$2/mysql.sock" -u root -N "${@:3}"; }

# started DIR: starts a stack in DIR and prints the seconds it took.
started() {
	local t0
	t0=$(now)
	stack start "$1"
	secs "$t0" "$(now)"
}

# Resident memory in MB of the pids on stdin.
rss() { xargs -r ps -o rss= -p | awk '{ s += $1 } END { printf "%.0f", s / 1024 }'; }

unset NEXUS_DB_TEMPLATE
t_none=$(started "$dir/a")
stack stop "$dir/a"
export NEXUS_DB_TEMPLATE=$dir/template
t_first=$(started "$dir/b")
stack stop "$dir/b"
t_tpl=$(started "$dir/c")
printf "cluster stack start (3 nodes, 3 pools, nginx, fake Stripe): %ss from nothing, " "$t_none"
printf "%ss making the templates, %ss from the Galera template\n" "$t_first" "$t_tpl"

s=$dir/c
. "$s/env"
export NEXUS_CONFIG
db=$(cat "$s"/node*/node.pid | rss)
pools=$(for k in 1 2 3; do p=$(cat "$s/pool$k/workers.pid"); echo "$p"; pgrep -P "$p"; done | rss)
web=$( (cat "$s/nginx/nginx.pid"; pgrep -P "$(cat "$s/nginx/nginx.pid")") | rss)
printf "memory (RSS): 3 nodes %s MB, 3 pools of %s workers %s MB, nginx %s MB\n" \
	"$db" "$WORKERS" "$pools" "$web"

# conflicts: certification failures and brute-force aborts, all nodes.
conflicts() {
	local k n=0 v
	for k in 1 2 3; do
		v=$(node_sql "$s" "$k" -e "SELECT SUM(VARIABLE_VALUE) FROM
			information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN
			('WSREP_LOCAL_CERT_FAILURES', 'WSREP_LOCAL_BF_ABORTS')")
		n=$((n + v))
	done
	echo "$n"
}

# drive URL KEY N CLIENTS: N calls over CLIENTS keep-alive connections;
# prints "200:x 429:y 503:z seconds".
drive() {
	python3 - "$@" <<-'PY'
	import collections, http.client, sys, threading, time, urllib.parse
	url, key, n, c = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
	u = urllib.parse.urlsplit(url)
	lock, left, seen = threading.Lock(), [n], collections.Counter()
	def client():
	    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
	    while True:
	        with lock:
	            if left[0] == 0:
	                return
	            left[0] -= 1
	        conn.request("GET", "/api/secure/ping", headers={"X-API-Key": key})
	        r = conn.getresponse()
	        r.read()
	        with lock:
	            seen[r.status] += 1
	t0 = time.monotonic()
	ts = [threading.Thread(target=client) for _ in range(c)]
	for t in ts:
	    t.start()
	for t in ts:
	    t.join()
	print(" ".join(f"{k}:{v}" for k, v in sorted(seen.items())), f"{time.monotonic() - t0:.2f}")
	PY
}

printf "\nFree admission, 1,000 calls, limit 1,000 (503 = a 1213 not retried)\n"
printf "%-8s %-14s %-26s %8s %10s %10s %10s\n" clients through answers seconds 503-rate conflicts api_calls
i=0
for c in "${clients[@]}"; do
	for where in "3 nodes" "1 node"; do
		i=$((i + 1))
		user=$(ctl user create --email "free$i@bench" --plan free)
		key=$(ctl key create --user "$user" 2>/dev/null)
		url=$NEXUS_URL
		[ "$where" = "1 node" ] && url=$NEXUS_URL_1
		before=$(conflicts)
		read -r -a out < <(drive "$url" "$key" 1000 "$c")
		after=$(conflicts)
		calls=$(node_sql "$s" 1 nexus -e "SELECT api_calls FROM eco_usage_records
			WHERE user_id = '$user'")
		answers=${out[*]:0:${#out[@]}-1}
		failed=$(echo "$answers" | tr ' ' '\n' | awk -F: '$1 == 503 { print $2 }')
		printf "%-8s %-14s %-26s %8s %9s%% %10s %10s\n" "$c" "$where" "$answers" \
			"${out[-1]}" "$(awk -v f="${failed:-0}" 'BEGIN { printf "%.1f", f / 10 }')" \
			"$((after - before))" "$calls"
	done
done
