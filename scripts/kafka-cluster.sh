#!/usr/bin/env bash
# kafka-cluster.sh: a real 3-node Apache Kafka cluster (KRaft; every node is
# broker and controller in one JVM, the three controllers form a 3-voter
# quorum; 127.0.0.1 only) for the kafkaes fault tests and for trying the
# library against a cluster that replicates, without Docker. It uses the
# same Maven Central jars as kafka-broker.sh (installed by it).
#
# The brokers keep Apache Kafka's STOCK settings (topic auto-creation on,
# 7-day retention, 9 s broker session, 10 s sweep of timed-out
# transactions, ...) except what a production cluster sets:
#   default.replication.factor=3, min.insync.replicas=2,
#   transaction.state.log.replication.factor=3, transaction.state.log.min.isr=2,
#   offsets.topic.replication.factor=3, unclean.leader.election.enable=false
#
# Usage: scripts/kafka-cluster.sh COMMAND [N]
#
#   install      fetch the broker jars with Maven into the cache
#   start        install if needed, format the KRaft storage of each node on
#                first use, start the nodes that are not running and wait
#                until every node answers a Metadata request listing all
#                three brokers
#   stop         SIGTERM every node, SIGKILL after KAFKAES_KAFKA_STOP_TIMEOUT
#   status       say per node whether it runs and serves; exit 0 only if all
#                three serve
#   env          print the export line that points the test suites at the
#                cluster (KAFKAES_BROKERS with all three addresses,
#                KAFKAES_CLUSTER_CTL with this script and its settings)
#   clean        stop every node and delete the cluster's data (jars stay)
#   nodes        print "N pid client-port state" per node (state: running,
#                paused, stopped)
# Per node (N is 1, 2 or 3; node N is Kafka node.id N):
#   start N      start node N (if not running) and wait until it serves
#   stop N       SIGTERM node N (SIGKILL after the stop timeout)
#   kill N       SIGKILL node N at once (a crash); its data stays
#   pause N      SIGSTOP node N (it holds its connections and answers nothing)
#   resume N     SIGCONT node N
#   restart N    stop then start node N
#   wait         wait until all three nodes serve (after restarts)
#
# Finding the broker leading most partitions of a topic or the transaction
# coordinator of a transactional ID takes a Kafka client: the fault test
# (eventstore/kafka/clusterfault) asks the cluster's metadata for them; the
# node number is the Kafka broker ID.
#
# Settings (environment variables, with defaults):
#   KAFKAES_CLUSTER_PORT_BASE   19300  node N listens for clients on
#                               BASE+2(N-1) and for controllers on
#                               BASE+2(N-1)+1: 19300..19305
#   KAFKAES_CLUSTER_RUN         $KAFKAES_KAFKA_DIR/cluster-<base>  state:
#                               node<N>/{data,server.properties,broker.log,broker.pid}
#   KAFKAES_CLUSTER_HEAP        -Xms128m -Xmx512m  per node
#   KAFKAES_CLUSTER_KEEP_LOGS   (unset)  set: a node's earlier logs are
#                               appended to node<N>/broker.log.all at each
#                               start (a restart otherwise keeps only the
#                               previous one, broker.log.1)
#   KAFKAES_KAFKA_VERSION, KAFKAES_KAFKA_DIR, KAFKAES_KAFKA_JVM_OPTS,
#   KAFKAES_KAFKA_START_TIMEOUT, KAFKAES_KAFKA_STOP_TIMEOUT: as in
#                               kafka-broker.sh (C1 JIT only by default;
#                               120 s start timeout; 30 s stop timeout)
set -euo pipefail

VERSION="${KAFKAES_KAFKA_VERSION:-4.4.0}"
DIR="${KAFKAES_KAFKA_DIR:-${HOME:-/root}/.cache/kafkaes/kafka-${VERSION}}"
BASE="${KAFKAES_CLUSTER_PORT_BASE:-19300}"
HEAP="${KAFKAES_CLUSTER_HEAP:--Xms128m -Xmx512m}"
JVM_OPTS="${KAFKAES_KAFKA_JVM_OPTS--XX:TieredStopAtLevel=1}"
START_TIMEOUT="${KAFKAES_KAFKA_START_TIMEOUT:-120}"
STOP_TIMEOUT="${KAFKAES_KAFKA_STOP_TIMEOUT:-30}"
NODES=(1 2 3)

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
SCRIPTS="$(dirname "$SELF")"
REPO="$(cd "$SCRIPTS/.." && pwd)"
LIBS="$DIR/libs"
RUN="${KAFKAES_CLUSTER_RUN:-$DIR/cluster-$BASE}"
# The probe is built from this checkout into the cluster's own directory:
# other checkouts may build a different kafkawait into the shared cache.
WAITBIN="$RUN/bin/kafkawait"
[[ "$BASE" =~ ^[0-9]+$ ]] || { echo "kafka-cluster: error: KAFKAES_CLUSTER_PORT_BASE=$BASE is not a port number" >&2; exit 1; }

say() { echo "kafka-cluster: $*" >&2; }
die() { echo "kafka-cluster: error: $*" >&2; exit 1; }
# shellcheck source=proc.sh
source "$SCRIPTS/proc.sh"

cport() { echo $((BASE + 2 * ($1 - 1))); }
kport() { echo $((BASE + 2 * ($1 - 1) + 1)); }
ndir() { echo "$RUN/node$1"; }
BROKERS="127.0.0.1:$(cport 1),127.0.0.1:$(cport 2),127.0.0.1:$(cport 3)"
VOTERS="1@127.0.0.1:$(kport 1),2@127.0.0.1:$(kport 2),3@127.0.0.1:$(kport 3)"

# node N: point the proc.sh helpers (PIDFILE, pid_signature) at node N.
CUR=""
node() {
	[[ "$1" =~ ^[123]$ ]] || die "no node '$1': the nodes are 1, 2 and 3"
	CUR="$1"
	PIDFILE="$(ndir "$1")/broker.pid"
}
pid_signature() { echo "kafka.Kafka $(ndir "$CUR")/server.properties"; }

cmd_install() { "$SCRIPTS/kafka-broker.sh" install; }

build_probe() {
	if [[ -x "$WAITBIN" && "$WAITBIN" -nt "$REPO/scripts/kafkawait/main.go" ]]; then
		return 0
	fi
	command -v go >/dev/null 2>&1 || die "go not found on PATH: the cluster's readiness probe (scripts/kafkawait) needs it"
	mkdir -p "$(dirname "$WAITBIN")"
	(cd "$REPO" && go build -o "$WAITBIN.$$" ./scripts/kafkawait && mv -f "$WAITBIN.$$" "$WAITBIN") || die "could not build scripts/kafkawait"
}

# probe N TIMEOUT: node N answers a Metadata request that lists all three
# brokers and a controller.
probe() { "$WAITBIN" -q -brokers "127.0.0.1:$(cport "$1")" -min-brokers 3 -timeout "${2}s" 2>/dev/null; }

write_config() {
	local d
	d="$(ndir "$1")"
	mkdir -p "$d"
	cat >"$d/server.properties" <<EOF
# Generated by scripts/kafka-cluster.sh: node $1 of a 3-node KRaft cluster
# (broker and controller). Stock Apache Kafka settings except the
# replication settings of a production cluster below.
process.roles=broker,controller
node.id=$1
controller.quorum.voters=$VOTERS
listeners=PLAINTEXT://127.0.0.1:$(cport "$1"),CONTROLLER://127.0.0.1:$(kport "$1")
advertised.listeners=PLAINTEXT://127.0.0.1:$(cport "$1")
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$d/data
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
unclean.leader.election.enable=false
EOF
	cat >"$d/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
}

cluster_id() {
	local f="$RUN/cluster.id" id=""
	if [[ -s "$f" ]]; then
		cat "$f"
		return 0
	fi
	mkdir -p "$RUN"
	# A random 16-byte UUID in URL-safe base64 without padding, as
	# `kafka-storage random-uuid` prints; one starting with '-' would read
	# as an option, so retry.
	while [[ -z "$id" || "$id" == -* ]]; do
		id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
	done
	[[ ${#id} -eq 22 ]] || die "could not make a cluster ID (got '$id')"
	echo "$id" >"$f"
	echo "$id"
}

format_storage() {
	local d out id
	d="$(ndir "$1")"
	[[ -f "$d/data/meta.properties" ]] && return 0
	id="$(cluster_id)"
	mkdir -p "$d/data"
	if ! out="$(java -Dlog4j2.configurationFile="$d/log4j2.properties" -cp "$LIBS/*" kafka.tools.StorageTool format -t "$id" -c "$d/server.properties" 2>&1)"; then
		echo "$out" >&2
		die "formatting the KRaft storage of node $1 in $d/data failed (output above)"
	fi
}

# launch N: start node N's JVM in the background unless it runs.
launch() {
	local n="$1" d pid
	node "$n"
	d="$(ndir "$n")"
	if pid="$(pid_alive)"; then
		return 0
	fi
	if port_open "$(cport "$n")" || port_open "$(kport "$n")"; then
		die "port $(cport "$n") or $(kport "$n") on 127.0.0.1 is already in use by another process; stop it or set KAFKAES_CLUSTER_PORT_BASE"
	fi
	write_config "$n"
	format_storage "$n"
	if [[ -f "$d/broker.log" && -n "${KAFKAES_CLUSTER_KEEP_LOGS:-}" ]]; then
		cat "$d/broker.log" >>"$d/broker.log.all" # every earlier run of the node, for diagnosis
	fi
	[[ -f "$d/broker.log" ]] && mv -f "$d/broker.log" "$d/broker.log.1"
	rm -f "$PIDFILE"
	# setsid: the node must not die with the shell that started it; the
	# inner shell writes its own pid and execs java under it (see
	# kafka-broker.sh).
	# shellcheck disable=SC2016,SC2086
	setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$PIDFILE" \
		java $HEAP -XX:+UseG1GC -Djava.awt.headless=true $JVM_OPTS \
		-Dlog4j2.configurationFile="$d/log4j2.properties" \
		-cp "$LIBS/*" kafka.Kafka "$d/server.properties" </dev/null >"$d/broker.log" 2>&1 &
	local _
	for _ in $(seq 1 100); do
		[[ -s "$PIDFILE" ]] && break
		sleep 0.05
	done
	[[ -s "$PIDFILE" ]] || die "node $n did not start (no pid file $PIDFILE after 5s)"
	say "node $n started, pid $(cat "$PIDFILE") (log: $d/broker.log)"
}

# await N...: wait until each node N serves.
await() {
	local n deadline=$((SECONDS + START_TIMEOUT))
	build_probe
	for n in "$@"; do
		node "$n"
		while :; do
			if ! pid_alive >/dev/null; then
				tail -n 30 "$(ndir "$n")/broker.log" >&2 || true
				die "node $n is not running (last log lines above)"
			fi
			if [[ "$(state "$n")" == paused ]]; then
				die "node $n is paused (SIGSTOP); resume it with '$SELF resume $n'"
			fi
			probe "$n" 2 && break
			if ((SECONDS >= deadline)); then
				tail -n 30 "$(ndir "$n")/broker.log" >&2 || true
				die "node $n did not serve on 127.0.0.1:$(cport "$n") with all three brokers registered within ${START_TIMEOUT}s (log $(ndir "$n")/broker.log)"
			fi
			sleep 0.3
		done
	done
}

# state N: running, paused or stopped.
state() {
	local pid
	node "$1"
	if ! pid="$(pid_alive)"; then
		echo stopped
	elif [[ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" == T ]]; then
		echo paused
	else
		echo running
	fi
}

need_node() { [[ -n "${1:-}" ]] || die "$2 needs a node number: $SELF $2 N (N = 1, 2 or 3)"; }

cmd_start() {
	local t0 n
	t0="$(now)"
	cmd_install
	if [[ -n "${1:-}" ]]; then
		node "$1"
		launch "$1"
		await "$1"
		say "node $1 serving on 127.0.0.1:$(cport "$1") after $(since "$t0")s"
		return 0
	fi
	for n in "${NODES[@]}"; do launch "$n"; done
	await "${NODES[@]}"
	say "cluster serving on $BROKERS after $(since "$t0")s"
}

cmd_stop() {
	local n
	if [[ -n "${1:-}" ]]; then
		node "$1"
		[[ "$(state "$1")" == paused ]] && kill -CONT "$(pid_alive)" 2>/dev/null
		say "node $1: $(stop_process "node $1" 2>&1 | sed 's/^kafka-cluster: //')"
		return 0
	fi
	local pids=() pid
	for n in "${NODES[@]}"; do
		node "$n"
		[[ "$(state "$n")" == paused ]] && kill -CONT "$(pid_alive)" 2>/dev/null
		# SIGTERM all first: a controlled shutdown of the last node waits
		# for the quorum of the others otherwise.
		pid="$(pid_alive)" || pid=""
		pids[n]="$pid"
		[[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null
	done
	for n in "${NODES[@]}"; do
		node "$n"
		if [[ -n "${pids[n]}" ]] && ! running "${pids[n]}"; then
			rm -f "$PIDFILE"
			say "node $n: stopped pid ${pids[n]}"
			continue
		fi
		say "node $n: $(stop_process "node $n" 2>&1 | sed 's/^kafka-cluster: //')"
	done
}

signal_node() {
	local sig="$1" n="$2" what="$3" pid
	node "$n"
	pid="$(pid_alive)" || die "node $n is not running"
	kill "-$sig" "$pid"
	if [[ "$sig" == KILL ]]; then
		while running "$pid"; do sleep 0.05; done
		rm -f "$PIDFILE"
	fi
	say "node $n (pid $pid): $what (SIG$sig)"
}

cmd_status() {
	local n st rc=0
	build_probe
	for n in "${NODES[@]}"; do
		node "$n"
		st="$(state "$n")"
		if [[ "$st" == running ]] && probe "$n" 5; then
			say "node $n running (pid $(pid_alive)) and serving on 127.0.0.1:$(cport "$n")"
		else
			[[ "$st" == running ]] && st="running but not serving with all three brokers"
			say "node $n $st (127.0.0.1:$(cport "$n"))"
			rc=1
		fi
	done
	return "$rc"
}

cmd_nodes() {
	local n pid
	for n in "${NODES[@]}"; do
		node "$n"
		pid="$(pid_alive)" || pid=-
		echo "$n $pid 127.0.0.1:$(cport "$n") $(state "$n")"
	done
}

cmd_env() {
	local line v
	line="export KAFKAES_BROKERS=$(printf %q "$BROKERS") KAFKAES_CLUSTER_CTL=$(printf %q "$SELF")"
	for v in KAFKAES_KAFKA_VERSION KAFKAES_KAFKA_DIR KAFKAES_CLUSTER_RUN KAFKAES_CLUSTER_PORT_BASE KAFKAES_CLUSTER_HEAP KAFKAES_KAFKA_JVM_OPTS; do
		# Settings that differ from the defaults go along, so that a test's
		# calls of KAFKAES_CLUSTER_CTL reach this same cluster.
		[[ -n "${!v+x}" ]] && line+=" $v=$(printf %q "${!v}")"
	done
	echo "$line"
}

cmd_clean() {
	cmd_stop
	rm -rf "$RUN"
	say "deleted $RUN"
}

cmd="${1:-}"
arg="${2:-}"
case "$cmd" in
install) cmd_install ;;
start) cmd_start "$arg" ;;
stop) cmd_stop "$arg" ;;
restart)
	need_node "$arg" restart
	cmd_stop "$arg"
	cmd_start "$arg"
	;;
kill) need_node "$arg" kill && signal_node KILL "$arg" "killed" ;;
pause) need_node "$arg" pause && signal_node STOP "$arg" "paused" ;;
resume) need_node "$arg" resume && signal_node CONT "$arg" "resumed" ;;
wait) await "${NODES[@]}" ;;
status) cmd_status ;;
nodes) cmd_nodes ;;
env) cmd_env ;;
clean) cmd_clean ;;
*)
	sed -n '2,/^set -euo/p' "$SELF" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
