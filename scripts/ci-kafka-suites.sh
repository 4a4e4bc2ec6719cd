#!/usr/bin/env bash
# ci-kafka-suites.sh: run the Kafka-using test suites against a real Apache
# Kafka broker (scripts/kafka-broker.sh), as CI does after the kfake run.
#
# It installs the broker jars (cached), starts a fresh single-node broker
# with its own state directory and ports (so a developer's broker on the
# default ports is left alone), and runs `go test -race` on the Kafka
# packages that exist (./eventstore/kafka/... ./eventstore/observe/...
# ./snapshot/... ./projection/... ./cmd/kafkaes/... ./serde/pii/...)
# in two phases: first all their tests with KAFKAES_BROKERS set and
# KAFKAES_BROKER_CTL unset (tests that stop the broker skip), then only the
# tests named TestRealBroker... with KAFKAES_BROKER_CTL set too, one package
# at a time, as they stop and restart the broker. Then it runs the examples
# (examples/bank, examples/orders, examples/healthcare) with -brokers pointing at the broker. It
# stops the broker on exit and exits with the first failure's exit code.
# Extra arguments go to both `go test` runs (e.g. -v).
#
# Settings: the KAFKAES_KAFKA_* variables of kafka-broker.sh. Here the state
# directory defaults to a new temporary one (deleted at exit unless
# KAFKAES_CI_KEEP=1) and the ports to the first free pair of 19192/19193,
# 19202/19203, ... KAFKAES_CI_PACKAGES overrides the package patterns;
# KAFKAES_CI_TEST_TIMEOUT (default 20m) is go test -timeout.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VERSION="${KAFKAES_KAFKA_VERSION:-4.4.0}"
export KAFKAES_KAFKA_DIR="${KAFKAES_KAFKA_DIR:-${HOME:-/root}/.cache/kafkaes/kafka-${VERSION}}"
# A state directory of this run only: a broker of another run (or another
# developer) is never touched. Deleted at exit unless KAFKAES_CI_KEEP=1.
own_run=""
if [[ -z "${KAFKAES_KAFKA_RUN:-}" ]]; then
	own_run="$(mktemp -d "${TMPDIR:-/tmp}/kafkaes-ci.XXXXXX")"
	export KAFKAES_KAFKA_RUN="$own_run/run"
fi
port_used() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [[ -z "${KAFKAES_KAFKA_PORT:-}" ]]; then
	# The first free pair of 19192/19193, 19202/19203, ... 19292/19293: below
	# Linux's ephemeral port range (32768-60999), so an outgoing connection
	# cannot take a broker's port while it restarts (it did, at 39592).
	for base in $(seq 19192 10 19292); do
		if ! port_used "$base" && ! port_used $((base + 1)); then
			export KAFKAES_KAFKA_PORT="$base" KAFKAES_KAFKA_CONTROLLER_PORT=$((base + 1))
			break
		fi
	done
	[[ -n "${KAFKAES_KAFKA_PORT:-}" ]] || { echo "ci-kafka: error: no free port pair in 19192..19293 on 127.0.0.1; set KAFKAES_KAFKA_PORT and KAFKAES_KAFKA_CONTROLLER_PORT" >&2; exit 1; }
fi
export KAFKAES_KAFKA_CONTROLLER_PORT="${KAFKAES_KAFKA_CONTROLLER_PORT:-$((KAFKAES_KAFKA_PORT + 1))}"
CTL="scripts/kafka-broker.sh"

t() { date +%s.%N; }
dt() { awk -v a="$1" -v b="$(t)" 'BEGIN { printf "%.1f", b - a }'; }
T0="$(t)"

# shellcheck disable=SC2317 # called by the EXIT trap
stop_broker() {
	local s
	s="$(t)"
	"$CTL" stop || true
	echo "ci-kafka: broker stop took $(dt "$s")s; total $(dt "$T0")s"
	if [[ -n "$own_run" && "${KAFKAES_CI_KEEP:-}" != 1 ]]; then
		rm -rf "$own_run"
	fi
}
trap stop_broker EXIT

s="$(t)"
"$CTL" install
echo "ci-kafka: broker install took $(dt "$s")s"

# With a state directory given in KAFKAES_KAFKA_RUN, a broker left over
# from an earlier run is stopped and its data deleted: every run starts from
# an empty cluster.
"$CTL" clean
s="$(t)"
"$CTL" start
echo "ci-kafka: broker start took $(dt "$s")s"
eval "$("$CTL" env)"
echo "ci-kafka: KAFKAES_BROKERS=$KAFKAES_BROKERS KAFKAES_BROKER_CTL=$KAFKAES_BROKER_CTL"

pkgs=()
for pat in ${KAFKAES_CI_PACKAGES:-./eventstore/kafka/... ./eventstore/observe/... ./snapshot/... ./projection/... ./cmd/kafkaes/... ./serde/pii/... ./examples/healthcare/...}; do
	dir="${pat%/...}"
	[[ -d "$dir" ]] || continue
	while IFS= read -r p; do
		[[ -n "$p" ]] && pkgs+=("$p")
	done < <(go list "$pat" 2>/dev/null)
done
if ((${#pkgs[@]} == 0)); then
	echo "ci-kafka: error: none of the Kafka packages exist (looked for ${KAFKAES_CI_PACKAGES:-./eventstore/kafka/... ./eventstore/observe/... ./snapshot/... ./projection/... ./cmd/kafkaes/... ./serde/pii/... ./examples/healthcare/...})" >&2
	exit 1
fi
echo "ci-kafka: testing ${pkgs[*]}"

# Phase 1: every suite, in parallel packages, with KAFKAES_BROKER_CTL unset
# so that tests which stop the broker (TestRealBroker...) skip. Phase 2: only
# those tests, with KAFKAES_BROKER_CTL set, one package at a time, so no
# other test is using the broker while they stop and restart it.
ctl_path="$KAFKAES_BROKER_CTL"
s="$(t)"
rc=0
env -u KAFKAES_BROKER_CTL go test -race -count=1 -timeout "${KAFKAES_CI_TEST_TIMEOUT:-20m}" "$@" "${pkgs[@]}" || rc=$?
echo "ci-kafka: go test against the real broker took $(dt "$s")s (exit $rc)"
# Phase 2 runs even when phase 1 failed, for the information; the exit
# code is the first failure's.
s="$(t)"
rc2=0
KAFKAES_BROKER_CTL="$ctl_path" go test -race -count=1 -p 1 -timeout "${KAFKAES_CI_TEST_TIMEOUT:-20m}" -run '^TestRealBroker' "$@" "${pkgs[@]}" || rc2=$?
echo "ci-kafka: broker stop/restart tests (-run '^TestRealBroker') took $(dt "$s")s (exit $rc2)"
((rc != 0)) || rc=$rc2
# Phase 3: the examples that take -brokers run against the real broker too,
# each on a topic of its own.
for ex in examples/bank examples/orders examples/healthcare; do
	if [[ ! -f "$ex/main.go" ]] || ! grep -q '"brokers"' "$ex/main.go"; then
		continue
	fi
	s="$(t)"
	args=(-brokers "$KAFKAES_BROKERS")
	grep -q '"topic"' "$ex/main.go" && args+=(-topic "$(basename "$ex")-ci-$$-$RANDOM")
	out="$(mktemp)"
	erc=0
	timeout 300 go run "./$ex" "${args[@]}" >"$out" 2>&1 || erc=$?
	echo "ci-kafka: go run ./$ex ${args[*]} took $(dt "$s")s (exit $erc); last lines:"
	tail -n 3 "$out"
	if ((erc != 0)); then
		tail -n 30 "$out"
		((rc != 0)) || rc=$erc
	fi
	rm -f "$out"
done

if ((rc != 0)); then
	echo "ci-kafka: last broker log lines ($KAFKAES_KAFKA_RUN/broker.log):"
	tail -n 30 "$KAFKAES_KAFKA_RUN/broker.log" || true
fi
exit "$rc"
