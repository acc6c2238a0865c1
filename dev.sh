#!/usr/bin/env bash
# nexus-usage developer entry point.
#
#   ./dev.sh up      install what is missing, build, start MariaDB, the
#                    workers and nginx under .dev/ (PORT, default 8080),
#                    migrate, create demo users and keys, print curl
#                    examples and portal sign-in links; CLUSTER=3 ./dev.sh
#                    up: on a 3-node Galera cluster with two worker pools
#                    (two "hosts") behind nginx; FRONT=apache ./dev.sh up:
#                    behind Apache (conf/apache.conf), FRONT=apache-fcgid:
#                    Apache's mod_fcgid spawning the workers
#   ./dev.sh down    stop what up started
#   ./dev.sh test    install, build and run every test (make check)
#   ./dev.sh ctl ... run nexusctl against the dev stack
#   ./dev.sh deps    install the Debian packages only
set -euo pipefail
cd "$(dirname "$0")"
top=$(pwd)
dev=$top/.dev

# Everything the build, the stack and the tests need, by Debian package
# (Chart.js for the portal's charts; the headless browser and the WebSocket
# client for its browser tests).
PACKAGES=(build-essential autoconf automake libtool pkg-config
	libfcgi-dev libmariadb-dev libjson-c-dev libjwt-dev
	libcurl4-openssl-dev libssl-dev check
	mariadb-server mariadb-client nginx-light python3 curl wrk
	libjs-chart.js chromium-headless-shell python3-websocket
	galera-4 rsync iproute2	# the cluster: rsync state transfer uses ss
	apache2 libapache2-mod-fcgid)	# NEXUS_FRONT=apache, apache-fcgid

deps() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "dev.sh: installing ${missing[*]}"
	local sudo=()
	[ "$(id -u)" = 0 ] || sudo=(sudo)
	"${sudo[@]}" apt-get update -qq
	# Debian starts services on install: the stack runs its own, so keep
	# the packaged ones from starting (and from taking port 80 or 3306).
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
	"${sudo[@]}" chmod +x /usr/sbin/policy-rc.d
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
	"${sudo[@]}" rm -f /usr/sbin/policy-rc.d
}

build() {
	[ -x configure ] || autoreconf -fi
	[ -f Makefile ] || ./configure ${CONFIGURE_FLAGS:-}
	make -j"$(nproc)" >/dev/null
}

ctl() { NEXUS_CONFIG=$dev/nexus.conf "$top/src/nexusctl" "$@"; }

# demo_user EMAIL PLAN [CUSTOMER]: creates the user once, prints its id.
demo_user() {
	local id
	id=$(ctl user list | awk -v e="$1" '$NF == e { print $1 }')
	if [ -z "$id" ]; then
		id=$(ctl user create --email "$1" --plan "$2" ${3:+--stripe-customer "$3"})
	fi
	echo "$id"
}

# Demo users and their keys. A key is shown only when created, so the dev
# stack keeps its demo keys in .dev/demo.env (dev only, mode 600).
demo() {
	local f=$dev/demo.env
	[ -f "$f" ] && . "$f" && return 0
	FREE_USER=$(demo_user free@demo.nexus free)
	PRO_USER=$(demo_user pro@demo.nexus pro cus_demo_pro)
	ENT_USER=$(demo_user enterprise@demo.nexus enterprise cus_demo_ent)
	ADMIN_USER=$(demo_user admin@demo.nexus enterprise)
	FREE_KEY=$(ctl key create --user "$FREE_USER" --name demo 2>/dev/null)
	PRO_KEY=$(ctl key create --user "$PRO_USER" --name demo 2>/dev/null)
	ENT_KEY=$(ctl key create --user "$ENT_USER" --name demo 2>/dev/null)
	(umask 077; declare -p FREE_USER PRO_USER ENT_USER ADMIN_USER FREE_KEY \
		PRO_KEY ENT_KEY | sed 's/^declare -- //' >"$f")
	# The demo admin goes on the allow-list; workers read it at start.
	echo "admin_ids = $ADMIN_USER" >>"$dev/nexus.conf"
	tests/stack.sh workers-stop "$dev"
	tests/stack.sh workers-start "$dev"
}

up() {
	deps
	build
	mkdir -p "$dev"
	NEXUS_FRONT=${FRONT:-${NEXUS_FRONT:-}} tests/stack.sh start "$dev" "${PORT:-8080}" 2
	. "$dev/env"
	# A .dev/ made before the portal lacks the sign-in links' address.
	grep -q '^public_url' "$dev/nexus.conf" ||
		echo "public_url = $NEXUS_URL" >>"$dev/nexus.conf"
	# And one made before keys carried a MAC lacks the key secret.
	if ! grep -q '^key_secret' "$dev/nexus.conf"; then
		echo "key_secret = $(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
			>>"$dev/nexus.conf"
		tests/stack.sh workers-stop "$dev"
		tests/stack.sh workers-start "$dev"
	fi
	demo
	local pro_jwt admin_jwt u
	pro_jwt=$(ctl token create --user "$PRO_USER" --ttl 86400)
	admin_jwt=$(ctl token create --user "$ADMIN_USER" --ttl 86400)
	local -A link
	for u in FREE PRO ENT ADMIN; do
		local id=${u}_USER
		link[$u]=$(ctl token create --user "${!id}" --ttl 86400 --link)
	done
	cat <<-EOT

		nexus-usage is up on $NEXUS_URL behind $NEXUS_FRONT (data, logs and demo keys under .dev/)
		demo users (eco_usr ids)    API key
		  free        $FREE_USER   $FREE_KEY
		  pro         $PRO_USER   $PRO_KEY
		  enterprise  $ENT_USER   $ENT_KEY
		  admin       $ADMIN_USER   (on the admin allow-list)

		  curl -s $NEXUS_URL/api/health
		  curl -si -H 'X-API-Key: $PRO_KEY' $NEXUS_URL/api/secure/ping
		  curl -si -H 'Authorization: Bearer $FREE_KEY' $NEXUS_URL/api/secure/ping
		  ./dev.sh ctl key list --user $PRO_USER

		JWTs for a day (./dev.sh ctl token create --user ID makes more):
		  curl -s -H 'Authorization: Bearer $pro_jwt' $NEXUS_URL/api/usage/current
		  curl -s -H 'Authorization: Bearer $pro_jwt' '$NEXUS_URL/api/usage/history?days=7'
		  curl -s -H 'Authorization: Bearer $admin_jwt' $NEXUS_URL/api/admin/analytics/overview
		  curl -s -H 'Authorization: Bearer $admin_jwt' '$NEXUS_URL/api/admin/analytics/users?sort=calls&order=desc'

		The portal, $NEXUS_URL/portal/ (sign-in links for a day; open one in a browser):
		  free        ${link[FREE]}
		  pro         ${link[PRO]}
		  enterprise  ${link[ENT]}
		  admin       ${link[ADMIN]}

		Stop it with ./dev.sh down; run nexusctl with ./dev.sh ctl ...
	EOT
	[ "${CLUSTER:-0}" -gt 1 ] && cluster_help
	return 0
}

cluster_help() {
	cat <<-EOT

		On a Galera cluster of $CLUSTER nodes, one pool of workers per "host":
		$(tests/stack.sh status "$dev" | sed 's/^/  /')

		  tests/stack.sh status .dev                     nodes and pools
		  tests/stack.sh node-stop .dev 2 | node-kill .dev 2 | node-start .dev 2
		  tests/stack.sh pool-kill .dev 1 | pool-start .dev 1
		  curl -si -H 'X-API-Key: $FREE_KEY' $NEXUS_URL_2/api/secure/ping   (host 2 only)
		  NEXUS_CONFIG=.dev/node2.conf src/nexus-overage --json   (a run on node 2)
		  NEXUS_CONFIG=.dev/node3.conf src/nexusctl user list    (nexusctl on node 3)
	EOT
}

down() {
	[ -d "$dev" ] || return 0
	tests/stack.sh stop "$dev"
	echo "stopped"
}

# Prints "N passed, N failed[, N skipped]" over every test case of every
# Check suite; a test program that died before reporting counts as failed.
summary() {
	local passed=0 failed=0 skipped=0 log trs checks fails errs res
	for trs in $(find tests -name '*.trs' | sort); do
		log=${trs%.trs}.log
		res=$(sed -n 's/^:test-result: //p' "$trs" | head -n 1)
		if [ "$res" = SKIP ]; then skipped=$((skipped + 1)); continue; fi
		read -r checks fails errs < <(sed -n \
			's/.*Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' \
			"$log" | tail -n 1) || true
		if [ -n "${checks:-}" ]; then
			passed=$((passed + checks - fails - errs))
			failed=$((failed + fails + errs))
			[ "$res" = PASS ] || [ $((fails + errs)) -gt 0 ] || failed=$((failed + 1))
		elif [ "$res" = PASS ]; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
		fi
		checks=
	done
	if [ "$skipped" -gt 0 ]; then
		echo "$passed passed, $failed failed, $skipped skipped"
	else
		echo "$passed passed, $failed failed"
	fi
	[ "$failed" -eq 0 ]
}

test_all() {
	deps
	build
	local rc=0
	make -j"$(nproc)" check ${CI:+VERBOSE=1} || rc=$?
	summary || rc=1
	return $rc
}

case ${1:-} in
up) up ;;
down) down ;;
test) test_all ;;
deps) deps ;;
ctl) shift; ctl "$@" ;;
*) sed -n '2,15s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
