# The cluster shape of tests/stack.sh (sourced by it): a MariaDB Galera
# cluster of CLUSTER nodes on loopback and POOLS worker pools, the "web
# hosts", pool K on node K, behind one nginx upstream (round robin).
#
#   DIR/nodeK/     node K: datadir mysql/, mysql.sock, node.pid
#   DIR/nodeK.conf the stack's config pointed at node K (for nexusctl,
#                  nexus-overage and tests that talk to one node)
#   DIR/poolK/     pool K: nexus.conf (DIR/nexus.conf on its node, with its
#                  own socket, spool and shared memory, as a host has:
#                  written at each pool start, so change DIR/nexus.conf),
#                  nexus.sock, spool/, run/, workers.pid
#   DIR/logs/nodeK.err, DIR/logs/workers-K.log
#
# Commands (K is a node or pool number):
#   node-stop DIR K | node-kill DIR K    clean shutdown | SIGKILL
#   node-start DIR K | node-restart DIR K   joins the others, waits for Synced
#   pool-stop DIR K | pool-kill DIR K | pool-start DIR K
#   status DIR                           every node's state, every pool
# db-stop/db-start and workers-stop/workers-start act on all of them. The
# first node bootstraps (--wsrep-new-cluster), the others join by rsync
# state transfer, or from the Galera template ($NEXUS_DB_TEMPLATE-galera)
# by an incremental one (IST) of a few writesets.

GALERA_PROVIDER=${GALERA_PROVIDER:-/usr/lib/galera/libgalera_smm.so}

clustered() { [ "${CLUSTER:-0}" -gt 1 ]; }

# word N LIST...: the Nth word.
word() {
	local i=$1
	shift
	local a=($*)
	echo "${a[i - 1]}"
}

node_sql() {
	local k=$1
	shift
	mariadb --no-defaults --socket="$DIR/node$k/mysql.sock" -u root "$@"
}

# node_var K NAME: a global status variable of node K ("" when down).
node_var() {
	node_sql "$1" -N -e "SHOW GLOBAL STATUS LIKE '$2'" 2>/dev/null | cut -f2
}

node_alive() { pid_alive "$DIR/node$1/node.pid"; }

# Synced, or dies when the node has exited (a failed state transfer).
node_synced() {
	node_alive "$1" || die "node $1 exited: see $DIR/logs/node$1.err"
	[ "$(node_var "$1" wsrep_local_state_comment)" = Synced ]
}

cluster_ports() {
	POOLS=${POOLS:-2}
	case $POOLS in [1-9]) ;; *) die "POOLS is 1..9, not '$POOLS'" ;; esac
	[ -n "${NODE_PORTS:-}" ] && return 0
	local p
	p=($(free_ports $((4 * CLUSTER + POOLS))))
	NODE_PORTS=${p[*]:0:CLUSTER}
	GCOMM_PORTS=${p[*]:CLUSTER:CLUSTER}
	IST_PORTS=${p[*]:2*CLUSTER:CLUSTER}
	SST_PORTS=${p[*]:3*CLUSTER:CLUSTER}
	HOST_PORTS=${p[*]:4*CLUSTER:POOLS}
	DB_PORT=${p[0]}
	DB_SOCKET=$DIR/node1/mysql.sock
}

# The env lines of the cluster; NEXUS_URL_K is pool K's own address.
cluster_env() {
	local k
	cat <<-ENV
		POOLS=$POOLS
		NODE_PORTS="$NODE_PORTS"
		GCOMM_PORTS="$GCOMM_PORTS"
		IST_PORTS="$IST_PORTS"
		SST_PORTS="$SST_PORTS"
		HOST_PORTS="$HOST_PORTS"
		DB_SOCKET=$DB_SOCKET
	ENV
	for ((k = 1; k <= POOLS; k++)); do
		echo "NEXUS_URL_$k=http://127.0.0.1:$(word $k $HOST_PORTS)"
	done
}

# node_start K [bootstrap]: starts node K and waits until it is Synced.
node_start() {
	local k=$1 d=$DIR/node$1 peers=() g pos args
	node_alive "$k" && return 0
	mkdir -p "$d/mysql"
	args=(--no-defaults)
	if [ "$(id -u)" = 0 ]; then
		# A joiner's rsync daemon would drop root for nobody, who may not
		# write the datadir: the node runs as mysql, as Debian's does.
		id mysql >/dev/null 2>&1 || die "no mysql user (mariadb-server makes it)"
		runuser -u mysql -- test -x "$DIR" ||
			die "the mysql user cannot reach $DIR: let it search every parent (chmod o+x)"
		touch "$DIR/logs/node$k.err"
		chown -R mysql:mysql "$d" "$DIR/logs/node$k.err"
		args+=(--user=mysql)
	fi
	for g in $GCOMM_PORTS; do peers+=("127.0.0.1:$g"); done
	g=$(word "$k" $GCOMM_PORTS)
	db_flags 128M
	args+=(--datadir="$d/mysql" --socket="$d/mysql.sock"
		--port="$(word "$k" $NODE_PORTS)" --bind-address=127.0.0.1
		--pid-file="$d/mysql.pid" "${DB_FLAGS[@]}"
		--binlog-format=ROW --innodb-autoinc-lock-mode=2
		--default-storage-engine=InnoDB
		--wsrep-on=ON --wsrep-provider="$GALERA_PROVIDER"
		--wsrep-cluster-name="nexus-$(printf %s "$DIR" | cksum | cut -d' ' -f1)"
		--wsrep-cluster-address="gcomm://$(IFS=,; echo "${peers[*]}")"
		--wsrep-node-name="node$k" --wsrep-node-address="127.0.0.1:$g"
		--wsrep-node-incoming-address="127.0.0.1:$(word "$k" $NODE_PORTS)"
		--wsrep-sst-method=rsync
		--wsrep-sst-receive-address="127.0.0.1:$(word "$k" $SST_PORTS)"
		--wsrep-provider-options="gmcast.listen_addr=tcp://127.0.0.1:$g;ist.recv_addr=127.0.0.1:$(word "$k" $IST_PORTS);gcache.size=64M")
	# After a crash grastate.dat has lost the position (seqno -1): read it
	# back from InnoDB, as Debian's galera_recovery does, so that the node
	# catches up by IST instead of a full copy from a donor.
	if grep -q '^seqno: *-1' "$d/mysql/grastate.dat" 2>/dev/null; then
		mariadbd "${args[@]}" --wsrep-recover --log-error="$d/recover.log" \
			>/dev/null 2>&1 </dev/null || true
		pos=$(sed -n 's/.*WSREP: Recovered position: //p' "$d/recover.log" | tail -n 1)
		[ -n "$pos" ] && args+=(--wsrep-start-position="$pos")
	fi
	[ "${2:-}" = bootstrap ] && args+=(--wsrep-new-cluster)
	mariadbd "${args[@]}" --log-error="$DIR/logs/node$k.err" \
		>/dev/null 2>&1 </dev/null &
	echo $! >"$d/node.pid"	# mysql.pid is the server's, written late
	wait_for "node_synced $k" 300 "node $k to be Synced ($DIR/logs/node$k.err)"
}

node_stop() { stop_pid "$DIR/node$1/node.pid" 120; }

node_kill() {
	local f=$DIR/node$1/node.pid
	node_alive "$1" || return 0
	kill -KILL "$(cat "$f")"
	wait_for "! node_alive $1" 10 "node $1 to die"
	rm -f "$f"
}

# node_join K: node K joins the running nodes. A node killed a moment ago
# is still a member for the others until they time it out (5 s, Galera's
# evs.suspect_timeout), and a new incarnation that comes sooner waits for
# that and more (15 s): so it starts once they have let the old one go.
node_join() {
	local k alive=0 peer=
	for ((k = 1; k <= CLUSTER; k++)); do
		[ "$k" != "$1" ] && node_alive "$k" && alive=$((alive + 1)) &&
			peer=${peer:-$k}
	done
	[ -n "$peer" ] || die "no other node is running: start the cluster with db-start"
	wait_for "[ \"\$(node_var $peer wsrep_cluster_size)\" -le $alive ] 2>/dev/null" \
		60 "the cluster to let node $1 go"
	node_start "$1"
}

# A fresh cluster. Node 1 comes from the plain template (or is installed);
# with NEXUS_DB_TEMPLATE set, node 1's state once bootstrapped becomes the
# Galera template and every node starts from it: joiners then catch up by
# IST instead of copying the data directory.
cluster_init() {
	[ -d "$DIR/node1/mysql/mysql" ] && return 0
	if [ -z "${NEXUS_DB_TEMPLATE:-}" ]; then
		datadir_make "$DIR/node1/mysql"
		return 0
	fi
	local t=$NEXUS_DB_TEMPLATE-galera k
	(
		flock 9
		if [ ! -f "$t/grastate.dat" ]; then
			datadir_make "$DIR/node1/mysql"
			node_start 1 bootstrap
			db_grant node_sql 1
			node_stop 1
			rm -rf "$t" "$t.tmp"
			cp -a "$DIR/node1/mysql" "$t.tmp"
			rm -f "$t.tmp/galera.cache" "$t.tmp/gvwstate.dat"
			mv "$t.tmp" "$t"
		fi
	) 9>"$t.lock"
	for ((k = 1; k <= CLUSTER; k++)); do
		[ -d "$DIR/node$k/mysql/mysql" ] && continue
		mkdir -p "$DIR/node$k/mysql"
		cp -a "$t/." "$DIR/node$k/mysql/"
	done
}

# The node to bootstrap from: the last one to leave (its grastate.dat says
# safe_to_bootstrap), else node 1, made safe. After a crash of every node
# that may drop what only another had: a test stack accepts it.
cluster_bootstrap_node() {
	local k f
	for ((k = 1; k <= CLUSTER; k++)); do
		f=$DIR/node$k/mysql/grastate.dat
		grep -q '^safe_to_bootstrap: 1' "$f" 2>/dev/null && { echo "$k"; return; }
	done
	f=$DIR/node1/mysql/grastate.dat
	[ -f "$f" ] && sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' "$f"
	echo 1
}

cluster_db_start() {
	local k boot=
	for ((k = 1; k <= CLUSTER; k++)); do
		node_alive "$k" && boot=$k
	done
	if [ -z "$boot" ]; then
		cluster_init
		boot=$(cluster_bootstrap_node)
		node_start "$boot" bootstrap
		db_grant node_sql "$boot"
	fi
	# One at a time: a donor serves one state transfer.
	for ((k = 1; k <= CLUSTER; k++)); do
		node_start "$k"
	done
	wait_for "[ \"\$(node_var 1 wsrep_cluster_size)\" = $CLUSTER ]" 60 \
		"a cluster of $CLUSTER nodes"
	for ((k = 1; k <= CLUSTER; k++)); do
		node_conf "$k" >"$DIR/node$k.conf"
	done
}

# Node 1 leaves last, so that it is the one safe to bootstrap from.
cluster_db_stop() {
	local k
	for ((k = 2; k <= CLUSTER; k++)); do
		node_stop "$k" &
	done
	wait
	node_stop 1
}

# node_conf K [EXTRA_KEYS]: DIR/nexus.conf pointed at node K, without the
# keys that follow it (so that each is in the file once).
node_conf() {
	local drop="db_socket|db_port${2:+|$2}"
	grep -Ev "^[[:space:]]*($drop)[[:space:]]*=" "$DIR/nexus.conf"
	cat <<-CONF
		# on node $1 (tests/stack.sh writes this from $DIR/nexus.conf)
		db_socket = $DIR/node$1/mysql.sock
		db_port = $(word "$1" $NODE_PORTS)
	CONF
}

pool_node() { echo $((($1 - 1) % CLUSTER + 1)); }

pool_start() {
	local d=$DIR/pool$1
	pid_alive "$d/workers.pid" && return 0
	mkdir -p "$d/spool"
	{
		node_conf "$(pool_node "$1")" "listen|spool_dir|runtime_dir|workers"
		cat <<-CONF
			listen = $d/nexus.sock
			spool_dir = $d/spool
			runtime_dir = $d/run
			workers = $WORKERS
		CONF
	} >"$d/nexus.conf"
	fcgi_start "$d" "$DIR/logs/workers-$1.log"
}

pool_stop() { stop_pid "$DIR/pool$1/workers.pid" 40; }

# The supervisor and its workers at once, as when the host dies: stopped
# first so that it cannot fork a new worker in between.
pool_kill() {
	local f=$DIR/pool$1/workers.pid pid kids
	pid_alive "$f" || return 0
	pid=$(cat "$f")
	kill -STOP "$pid"
	kids=$(pgrep -P "$pid" | tr '\n' ' ' || true)
	kill -KILL "$pid" $kids 2>/dev/null || true
	wait_for "gone $pid $kids" 10 "pool $1 to die"
	rm -f "$f"
}

# gone PID...: none is running (a zombie is gone too).
gone() { ! ps -o stat= -p "$(echo "$@" | tr ' ' ,)" | grep -qv '^Z'; }

pools_start() {
	local k
	for ((k = 1; k <= POOLS; k++)); do pool_start "$k"; done
}

pools_stop() {
	local k
	for ((k = 1; k <= POOLS; k++)); do pool_stop "$k" & done
	wait
}

# In nginx's http block: the pools as one upstream, and each pool on an
# address of its own (one "host" reached directly).
nginx_upstream() {
	clustered || return 0
	local k
	echo "    upstream nexus_hosts {"
	for ((k = 1; k <= POOLS; k++)); do
		echo "        server unix:$DIR/pool$k/nexus.sock;"
	done
	echo "    }"
}

nginx_hosts() {
	clustered || return 0
	local k
	for ((k = 1; k <= POOLS; k++)); do
		nginx_site "127.0.0.1:$(word $k $HOST_PORTS)" \
			"unix:$DIR/pool$k/nexus.sock"
	done
}

cluster_status() {
	local k
	for ((k = 1; k <= CLUSTER; k++)); do
		printf 'node %d  127.0.0.1:%s  ' "$k" "$(word $k $NODE_PORTS)"
		if node_alive "$k"; then
			printf '%s, cluster size %s, pid %s\n' \
				"$(node_var $k wsrep_local_state_comment)" \
				"$(node_var $k wsrep_cluster_size)" \
				"$(cat "$DIR/node$k/node.pid")"
		else
			echo down
		fi
	done
	for ((k = 1; k <= POOLS; k++)); do
		printf 'pool %d  on node %d  %s  ' "$k" "$(pool_node $k)" \
			"http://127.0.0.1:$(word $k $HOST_PORTS)"
		if pid_alive "$DIR/pool$k/workers.pid"; then
			printf '%s workers, supervisor pid %s\n' "$WORKERS" \
				"$(cat "$DIR/pool$k/workers.pid")"
		else
			echo down
		fi
	done
	echo "nginx   $NEXUS_URL  round robin over the pools"
}

# cluster_command CMD K
cluster_command() {
	clustered || die "$1 is for a cluster stack (CLUSTER=N)"
	local k=${2:-} max=$CLUSTER
	case $1 in pool-*) max=$POOLS ;; esac
	case $k in [1-9]) ;; *) die "$1 takes a number 1..$max" ;; esac
	[ "$k" -le "$max" ] || die "$1: no $k (1..$max)"
	case $1 in
	node-stop) node_stop "$k" ;;
	node-kill) node_kill "$k" ;;
	node-start) node_join "$k" ;;
	node-restart) node_stop "$k"; node_join "$k" ;;
	pool-stop) pool_stop "$k" ;;
	pool-kill) pool_kill "$k" ;;
	pool-start) pool_start "$k" ;;
	*) die "unknown command $1" ;;
	esac
}
