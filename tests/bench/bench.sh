# What the benchmarks share; each sources it first:
#
#   . "$(dirname "$0")/bench.sh"
#   bench_start [WORKERS]     # a private stack; its env is loaded
#
# Then: ctl (nexusctl on the stack), sql (the mariadb client as root),
# now/secs (wall time), median (of numbers on stdin) and timeit PATH
# (median, min and max of $runs requests with $token as the Bearer).
# BENCH_KEEP=1 keeps the stack when the bench ends.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
export top_builddir=${top_builddir:-$top_srcdir}
dir=$(mktemp -d "${TMPDIR:-/tmp}/nexus-bench.XXXXXX")

bench_cleanup() {
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "stack kept in $dir"
		return
	fi
	"$top_srcdir/tests/stack.sh" stop "$dir" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap bench_cleanup EXIT

bench_start() {
	"$top_srcdir/tests/stack.sh" start "$dir" 0 "${1:-2}" >/dev/null
	. "$dir/env"
	export NEXUS_CONFIG
}

ctl() { "$top_builddir/src/nexusctl" "$@"; }
sql() { mariadb --no-defaults --socket="$dir/mysql.sock" -u root nexus "$@"; }
now() { date +%s.%N; }
secs() { echo "$1 $2" | awk '{ printf "%.1f", $2 - $1 }'; }
median() {
	sort -n | awk '{ v[NR] = $1 }
		END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

timeit() {	# timeit PATH: median, min, max of $runs requests, in ms
	local path=$1 i
	curl -sf -o "$dir/body.json" -H "Authorization: Bearer $token" "$NEXUS_URL$path"
	for ((i = 0; i < runs; i++)); do
		curl -sf -o /dev/null -w '%{time_total}\n' \
			-H "Authorization: Bearer $token" "$NEXUS_URL$path"
	done | sort -n | awk -v p="$path" '{ t[NR] = $1 * 1000 }
		END { printf "== %s: median %.1f ms (min %.1f, max %.1f, %d runs)\n",
			p, t[int((NR + 1) / 2)], t[1], t[NR], NR }'
}
