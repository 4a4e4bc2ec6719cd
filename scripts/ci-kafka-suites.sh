#!/usr/bin/env bash
# ci-kafka-suites.sh: run the Kafka-using test suites against a real Apache
# Kafka broker (scripts/kafka-broker.sh), as CI does after the kfake run.
#
# It installs the broker jars (cached), starts a fresh single-node broker
# with its own state directory and ports (so a developer's broker on the
# default ports is left alone), and runs `go test -race` on the Kafka
# packages that exist (./eventstore/kafka/... ./snapshot/... ./projection/...)
# in two phases: first all their tests with KAFKAES_BROKERS set and
# KAFKAES_BROKER_CTL unset (tests that stop the broker skip), then only the
# tests named TestRealBroker... with KAFKAES_BROKER_CTL set too, one package
# at a time, as they stop and restart the broker. It stops the broker on
# exit and exits with the tests' exit code. Extra arguments go to both
# `go test` runs (e.g. -v).
#
# Settings: the KAFKAES_KAFKA_* variables of kafka-broker.sh; here the
# defaults are KAFKAES_KAFKA_RUN=<kafka dir>/ci-run, KAFKAES_KAFKA_PORT=39192,
# KAFKAES_KAFKA_CONTROLLER_PORT=39193. KAFKAES_CI_PACKAGES overrides the
# package patterns; KAFKAES_CI_TEST_TIMEOUT (default 20m) is go test -timeout.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VERSION="${KAFKAES_KAFKA_VERSION:-4.4.0}"
export KAFKAES_KAFKA_DIR="${KAFKAES_KAFKA_DIR:-${HOME:-/root}/.cache/kafkaes/kafka-${VERSION}}"
export KAFKAES_KAFKA_RUN="${KAFKAES_KAFKA_RUN:-$KAFKAES_KAFKA_DIR/ci-run}"
export KAFKAES_KAFKA_PORT="${KAFKAES_KAFKA_PORT:-39192}"
export KAFKAES_KAFKA_CONTROLLER_PORT="${KAFKAES_KAFKA_CONTROLLER_PORT:-39193}"
CTL="scripts/kafka-broker.sh"

t() { date +%s.%N; }
dt() { awk -v a="$1" -v b="$(t)" 'BEGIN { printf "%.1f", b - a }'; }
T0="$(t)"

stop_broker() {
	local s
	s="$(t)"
	"$CTL" stop || true
	echo "ci-kafka: broker stop took $(dt "$s")s; total $(dt "$T0")s"
}

s="$(t)"
"$CTL" install
echo "ci-kafka: broker install took $(dt "$s")s"

# A broker left over from an earlier run of this script (same state dir) is
# stopped and its data deleted, so every run starts from an empty cluster.
"$CTL" clean
trap stop_broker EXIT
s="$(t)"
"$CTL" start
echo "ci-kafka: broker start took $(dt "$s")s"
eval "$("$CTL" env)"
echo "ci-kafka: KAFKAES_BROKERS=$KAFKAES_BROKERS KAFKAES_BROKER_CTL=$KAFKAES_BROKER_CTL"

pkgs=()
for pat in ${KAFKAES_CI_PACKAGES:-./eventstore/kafka/... ./snapshot/... ./projection/...}; do
	dir="${pat%/...}"
	[[ -d "$dir" ]] || continue
	while IFS= read -r p; do
		[[ -n "$p" ]] && pkgs+=("$p")
	done < <(go list "$pat" 2>/dev/null)
done
if ((${#pkgs[@]} == 0)); then
	echo "ci-kafka: error: none of the Kafka packages exist (looked for ${KAFKAES_CI_PACKAGES:-./eventstore/kafka/... ./snapshot/... ./projection/...})" >&2
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
if ((rc == 0)); then
	s="$(t)"
	KAFKAES_BROKER_CTL="$ctl_path" go test -race -count=1 -p 1 -timeout "${KAFKAES_CI_TEST_TIMEOUT:-20m}" -run '^TestRealBroker' "$@" "${pkgs[@]}" || rc=$?
	echo "ci-kafka: broker stop/restart tests (-run '^TestRealBroker') took $(dt "$s")s (exit $rc)"
fi
if ((rc != 0)); then
	echo "ci-kafka: last broker log lines ($KAFKAES_KAFKA_RUN/broker.log):"
	tail -n 30 "$KAFKAES_KAFKA_RUN/broker.log" || true
fi
exit "$rc"
