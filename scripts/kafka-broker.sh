#!/usr/bin/env bash
# kafka-broker.sh: a real single-node Apache Kafka broker (KRaft, broker and
# controller in one JVM, 127.0.0.1 only) for kafkaes tests and local
# development, without Docker. The broker jars come from Maven Central via
# Maven; Java 17 or newer runs them.
#
# Usage: scripts/kafka-broker.sh {install|start|stop|restart|kill|status|env|clean}
#
#   install  fetch the broker jars with Maven into the cache (fast when cached)
#   start    install if needed, format KRaft storage on first use, start the
#            broker in the background and wait until it answers a Metadata
#            request (a real protocol probe, scripts/kafkawait)
#   stop     SIGTERM, then SIGKILL after KAFKAES_KAFKA_STOP_TIMEOUT seconds
#   restart  stop then start; the data directory is kept
#   kill     SIGKILL at once (a crash); the data directory is kept
#   status   say whether the broker runs and serves; exit 0 only if it serves
#   env      print the export line that points the test suites at the broker
#   clean    stop the broker and delete its data directory (the jars stay)
#
# The broker keeps Apache Kafka's stock topic settings: auto-creation of
# topics on (auto.create.topics.enable=true) and 7-day retention. kafkaes
# never relies on either (it refuses to auto-create topics and checks the
# retention of its topics), and the suites must pass against them.
#
# Settings (environment variables, with defaults):
#   KAFKAES_KAFKA_VERSION          4.4.0   org.apache.kafka:kafka_2.13 version
#   KAFKAES_KAFKA_DIR              $HOME/.cache/kafkaes/kafka-<version>
#                                  (jars in libs/)
#   KAFKAES_KAFKA_RUN              $KAFKAES_KAFKA_DIR/run  broker state: data/,
#                                  server.properties, broker.log, broker.pid
#   KAFKAES_KAFKA_PORT             19092   client listener on 127.0.0.1
#   KAFKAES_KAFKA_CONTROLLER_PORT  19093   KRaft controller listener
#   KAFKAES_KAFKA_HEAP             -Xms256m -Xmx1g
#   KAFKAES_KAFKA_JVM_OPTS         -XX:TieredStopAtLevel=1  more java options;
#                                  the default (C1 JIT only) starts the broker
#                                  3-5x faster on a loaded 2-core machine for
#                                  ~20% less peak produce throughput; set it
#                                  empty for the full JIT
#   KAFKAES_KAFKA_START_TIMEOUT    120     seconds to wait for the broker
#   KAFKAES_KAFKA_EXTRA_CONFIG     (none)  file appended to server.properties
#                                  (later keys win: scripts/kafka-secure.sh
#                                  replaces the listeners with it)
#   KAFKAES_KAFKA_FORMAT_ARGS      (none)  more arguments of the KRaft storage
#                                  format (split on blanks, no globbing), e.g.
#                                  --add-scram for SCRAM users
#   KAFKAES_KAFKA_CLIENT_CONFIG    (none)  client.properties the readiness
#                                  probe connects with (TLS/SASL listeners)
#   KAFKAES_KAFKA_STOP_TIMEOUT     30      seconds before SIGKILL on stop
set -euo pipefail

VERSION="${KAFKAES_KAFKA_VERSION:-4.4.0}"
# The slf4j binding must match the log4j-core version kafka_2.13 depends on.
LOG4J_VERSION="${KAFKAES_LOG4J_VERSION:-2.25.5}"
DIR="${KAFKAES_KAFKA_DIR:-${HOME:-/root}/.cache/kafkaes/kafka-${VERSION}}"
PORT="${KAFKAES_KAFKA_PORT:-19092}"
CPORT="${KAFKAES_KAFKA_CONTROLLER_PORT:-19093}"
HEAP="${KAFKAES_KAFKA_HEAP:--Xms256m -Xmx1g}"
JVM_OPTS="${KAFKAES_KAFKA_JVM_OPTS--XX:TieredStopAtLevel=1}"
START_TIMEOUT="${KAFKAES_KAFKA_START_TIMEOUT:-120}"
STOP_TIMEOUT="${KAFKAES_KAFKA_STOP_TIMEOUT:-30}"

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
REPO="$(cd "$(dirname "$SELF")/.." && pwd)"
LIBS="$DIR/libs"
RUN="${KAFKAES_KAFKA_RUN:-$DIR/run}"
DATA="$RUN/data"
PIDFILE="$RUN/broker.pid"
LOG="$RUN/broker.log"
PROPS="$RUN/server.properties"
LOG4J="$RUN/log4j2.properties"
WAITBIN="$DIR/bin/kafkawait"
EXTRA_CONFIG="${KAFKAES_KAFKA_EXTRA_CONFIG:-}"
FORMAT_ARGS="${KAFKAES_KAFKA_FORMAT_ARGS:-}"
CLIENT_CONFIG="${KAFKAES_KAFKA_CLIENT_CONFIG:-}"
BROKERS="127.0.0.1:$PORT"

say() { echo "kafka-broker: $*" >&2; }
die() { echo "kafka-broker: error: $*" >&2; exit 1; }
# shellcheck source=proc.sh
source "$(dirname "$SELF")/proc.sh"
# Guard against a recycled pid: it must be our java running kafka.Kafka.
pid_signature() { echo "kafka.Kafka $PROPS"; }

need_java() {
	command -v java >/dev/null 2>&1 || die "java not found on PATH; install Java 17 or newer (Debian: apt-get install openjdk-17-jre-headless)"
	local v major
	v="$(java -version 2>&1 | awk -F'"' '/version/ { print $2; exit }')"
	major="${v%%.*}"
	[[ "$major" == 1 ]] && major="$(echo "$v" | cut -d. -f2)"
	[[ "$major" =~ ^[0-9]+$ ]] || die "cannot read the Java version from 'java -version' (got '$v')"
	((major >= 17)) || die "Kafka $VERSION needs Java 17 or newer, found Java $v; install openjdk-17 or put a newer java first on PATH"
}

need_mvn() {
	command -v mvn >/dev/null 2>&1 || die "mvn not found on PATH; install Maven (Debian: apt-get install maven) to fetch the Kafka jars from Maven Central"
}

installed() { [[ -f "$LIBS/.complete-$VERSION" ]]; }

cmd_install() {
	if installed; then
		say "Kafka $VERSION jars already in $LIBS"
		return 0
	fi
	need_java
	need_mvn
	local t0 tmp
	t0="$(now)"
	mkdir -p "$DIR"
	# One install at a time per directory (two CI runs or shells at once).
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$DIR/.install.lock"
		flock 9
		if installed; then
			say "Kafka $VERSION jars already in $LIBS (installed meanwhile)"
			exec 9>&-
			return 0
		fi
	fi
	tmp="$(mktemp -d "$DIR/install.XXXXXX")"
	cat >"$tmp/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.github.kafkaes</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <!-- the broker (kafka.Kafka) and the KRaft storage tool (kafka.tools.StorageTool) -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$VERSION</version>
    </dependency>
    <!-- kafka_2.13 logs through slf4j 1.7 and brings log4j-core but no binding -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
	say "fetching org.apache.kafka:kafka_2.13:$VERSION and its runtime dependencies from Maven Central into $LIBS"
	if ! (cd "$tmp" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/libs") >"$tmp/mvn.log" 2>&1; then
		cat "$tmp/mvn.log" >&2
		rm -rf "$tmp"
		die "Maven could not fetch Kafka $VERSION (log above). Check that Maven Central is reachable and that version $VERSION of org.apache.kafka:kafka_2.13 exists; set KAFKAES_KAFKA_VERSION to another version if not"
	fi
	ls "$tmp/libs"/kafka_2.13-*.jar >/dev/null 2>&1 || die "Maven finished but no kafka_2.13 jar is in $tmp/libs"
	rm -rf "$LIBS"
	mv "$tmp/libs" "$LIBS"
	cp "$tmp/pom.xml" "$LIBS/pom.xml"
	rm -rf "$tmp"
	touch "$LIBS/.complete-$VERSION"
	exec 9>&-
	local jars=("$LIBS"/*.jar)
	say "installed ${#jars[@]} jars in $(since "$t0")s"
}

# running PID: the process exists and is not a zombie (a zombie's parent
# may be slow to reap it; it holds no ports or files any more).



build_probe() {
	if [[ -x "$WAITBIN" && "$WAITBIN" -nt "$REPO/scripts/kafkawait/main.go" ]]; then
		return 0
	fi
	command -v go >/dev/null 2>&1 || return 1
	mkdir -p "$(dirname "$WAITBIN")"
	(cd "$REPO" && go build -o "$WAITBIN.$$" ./scripts/kafkawait && mv -f "$WAITBIN.$$" "$WAITBIN") || return 1
}

# probe TIMEOUT_SECONDS: one readiness check with a real Metadata round trip
# when Go is available, else the log line the broker prints when it serves.
probe() {
	if [[ -x "$WAITBIN" ]]; then
		"$WAITBIN" -q -brokers "$BROKERS" -timeout "${1}s" ${CLIENT_CONFIG:+-config "$CLIENT_CONFIG"} 2>/dev/null
	else
		port_open "$PORT" && grep -q "Kafka Server started" "$LOG" 2>/dev/null
	fi
}

write_config() {
	mkdir -p "$RUN"
	cat >"$PROPS" <<EOF
# Generated by scripts/kafka-broker.sh: single-node KRaft broker+controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
# Apache Kafka's stock auto.create.topics.enable=true and 7-day retention
# (log.retention.hours=168) are kept on purpose: kafkaes must never
# auto-create a topic by asking for its metadata, and the suites prove it
# against the settings most brokers run with (issue 12).
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# After a crash (kill) the restarted broker can register only when the
# session of its previous incarnation has expired: keep that short.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
# Abort transactions of dead producers soon after their transaction timeout.
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
EOF
	if [[ -n "$EXTRA_CONFIG" ]]; then
		[[ -f "$EXTRA_CONFIG" ]] || die "KAFKAES_KAFKA_EXTRA_CONFIG=$EXTRA_CONFIG is not a file"
		{ echo "# From KAFKAES_KAFKA_EXTRA_CONFIG=$EXTRA_CONFIG (later keys win)"; cat "$EXTRA_CONFIG"; } >>"$PROPS"
	fi
	cat >"$LOG4J" <<'EOF'
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

format_storage() {
	[[ -f "$DATA/meta.properties" ]] && return 0
	local id out fa=()
	read -r -a fa <<<"$FORMAT_ARGS"
	# A cluster ID is a random 16-byte UUID in URL-safe base64 without
	# padding, as `kafka-storage random-uuid` prints (made here to save a JVM
	# start); one starting with '-' would read as an option, so retry.
	id=""
	while [[ -z "$id" || "$id" == -* ]]; do
		id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
	done
	[[ ${#id} -eq 22 ]] || die "could not make a cluster ID (got '$id')"
	mkdir -p "$DATA"
	if ! out="$(java -Dlog4j2.configurationFile="$LOG4J" -cp "$LIBS/*" kafka.tools.StorageTool format -t "$id" -c "$PROPS" "${fa[@]}" 2>&1)"; then
		echo "$out" >&2
		die "formatting KRaft storage in $DATA failed (output above)"
	fi
	say "formatted KRaft storage in $DATA (cluster ID $id)"
}

cmd_start() {
	local t0 pid
	t0="$(now)"
	if pid="$(pid_alive)"; then
		say "already running (pid $pid); waiting until it serves"
	else
		cmd_install
		need_java
		if port_open "$PORT" || port_open "$CPORT"; then
			die "port $PORT or $CPORT on 127.0.0.1 is already in use by another process; stop it or set KAFKAES_KAFKA_PORT / KAFKAES_KAFKA_CONTROLLER_PORT"
		fi
		write_config
		format_storage
		[[ -f "$LOG" ]] && mv -f "$LOG" "$LOG.1"
		# setsid: the broker must not die with the shell or job that started
		# it. setsid forks when its caller leads a process group, so $! is not
		# always the broker's pid: the inner shell writes its own pid, then
		# execs java under that same pid.
		rm -f "$PIDFILE"
		# shellcheck disable=SC2016,SC2086
		setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$PIDFILE" \
			java $HEAP -XX:+UseG1GC -Djava.awt.headless=true $JVM_OPTS \
			-Dlog4j2.configurationFile="$LOG4J" \
			-cp "$LIBS/*" kafka.Kafka "$PROPS" </dev/null >"$LOG" 2>&1 &
		local _
		for _ in $(seq 1 100); do
			[[ -s "$PIDFILE" ]] && break
			sleep 0.05
		done
		[[ -s "$PIDFILE" ]] || die "the broker process did not start (no pid file $PIDFILE after 5s)"
		say "started pid $(cat "$PIDFILE") (log: $LOG)"
	fi
	build_probe || say "Go not available to build scripts/kafkawait; falling back to the broker's log line"
	local deadline=$((SECONDS + START_TIMEOUT))
	while :; do
		if ! pid_alive >/dev/null; then
			tail -n 40 "$LOG" >&2 || true
			rm -f "$PIDFILE"
			die "the broker exited during startup (last log lines above, full log $LOG)"
		fi
		if probe 2; then
			break
		fi
		if ((SECONDS >= deadline)); then
			tail -n 40 "$LOG" >&2 || true
			die "the broker did not serve on $BROKERS within ${START_TIMEOUT}s (log $LOG); it is still running, stop it with '$SELF stop'"
		fi
		sleep 0.3
	done
	say "serving on $BROKERS after $(since "$t0")s"
}

cmd_stop() { stop_process broker; }

cmd_kill() {
	local pid
	if ! pid="$(pid_alive)"; then
		rm -f "$PIDFILE"
		say "not running"
		return 0
	fi
	kill -KILL "$pid" 2>/dev/null || true
	while running "$pid"; do sleep 0.1; done
	rm -f "$PIDFILE"
	say "killed pid $pid (SIGKILL)"
}

cmd_status() {
	local pid
	if ! pid="$(pid_alive)"; then
		say "not running (dir $DIR)"
		return 1
	fi
	build_probe || true
	if probe 5; then
		say "running (pid $pid) and serving on $BROKERS"
		return 0
	fi
	say "running (pid $pid) but not serving on $BROKERS yet (log $LOG)"
	return 1
}

cmd_env() {
	local line
	line="export KAFKAES_BROKERS=$(printf %q "$BROKERS") KAFKAES_BROKER_CTL=$(printf %q "$SELF")"
	local v
	for v in KAFKAES_KAFKA_VERSION KAFKAES_KAFKA_DIR KAFKAES_KAFKA_RUN KAFKAES_KAFKA_PORT KAFKAES_KAFKA_CONTROLLER_PORT KAFKAES_KAFKA_HEAP KAFKAES_KAFKA_JVM_OPTS; do
		# Settings that differ from the defaults go along, so that the test
		# suites' calls of KAFKAES_BROKER_CTL reach this same broker.
		[[ -n "${!v+x}" ]] && line+=" $v=$(printf %q "${!v}")"
	done
	echo "$line"
}

cmd_clean() {
	cmd_stop
	rm -rf "$RUN"
	say "deleted $RUN"
}

case "${1:-}" in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
restart) cmd_stop && cmd_start ;;
kill) cmd_kill ;;
status) cmd_status ;;
env) cmd_env ;;
clean) cmd_clean ;;
*)
	sed -n '2,/^set -euo/p' "$SELF" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
