#!/usr/bin/env bash
# ci-kafka-cluster.sh: what CI (.ci/run) runs against a real 3-node Kafka
# cluster (scripts/kafka-cluster.sh: RF 3, min.insync.replicas=2, stock
# settings otherwise, topic auto-creation on):
#
#   1. the eventstore/kafka real-broker suite (go test -race, the tests
#      named TestRealBroker... excluded: they stop a single broker), so the
#      store is proven against replication factor 3 and auto-create on;
#   2. the cluster fault test (eventstore/kafka/clusterfault, without -race:
#      it measures what faults cost): writer processes append (single- and
#      multi-stream) while brokers are killed, paused and restarted and a
#      writer is killed; fatal;
#   3. the process-manager fault test (TestClusterProcessManagerFaults in
#      projection/kafkaprojection): two manager processes consume, decide
#      and commit in Kafka transactions while the group coordinator and
#      partition leaders are killed or paused and a manager is killed;
#      every input must have its effect exactly once; fatal (since 4 Dec,
#      after the positions topic; docs/faults.md); KAFKAES_CI_PM_FAULTS_FATAL=0
#      reports a failure without failing the stage;
#   4. the projection and cmd/kafkaes real-broker suites (go test -race,
#      KAFKAES_CI_CLUSTER_LATE_PACKAGES), after the fault tests.
#
# It starts a fresh cluster with its own state directory on the first free
# port base of 20200, 20210, ... (so a developer's cluster is left alone),
# stops it on exit and exits with the first failure's status. Extra
# arguments go to both `go test` runs (e.g. -v).
#
# Settings: the KAFKAES_CLUSTER_* and KAFKAES_KAFKA_* variables of
# kafka-cluster.sh; KAFKAES_CI_KEEP=1 keeps the state directory;
# KAFKAES_CI_CLUSTER_KNOWN_FAILING (a -skip regex for tests of step 1
# known to fail, default none) names tests left out, loudly;
# KAFKAES_CI_CLUSTER_PACKAGES (default ./eventstore/kafka/) the packages of
# step 1; KAFKAES_CLUSTERFAULT_REPORT=path writes the fault figures there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

own_run=""
if [[ -z "${KAFKAES_CLUSTER_RUN:-}" ]]; then
	own_run="$(mktemp -d "${TMPDIR:-/tmp}/kafkaes-ci-cluster.XXXXXX")"
	export KAFKAES_CLUSTER_RUN="$own_run/run"
fi
port_used() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [[ -z "${KAFKAES_CLUSTER_PORT_BASE:-}" ]]; then
	for base in $(seq 20200 10 20290); do
		free=1
		for p in $(seq "$base" $((base + 5))); do
			if port_used "$p"; then free=0; fi
		done
		if ((free)); then
			export KAFKAES_CLUSTER_PORT_BASE="$base"
			break
		fi
	done
	[[ -n "${KAFKAES_CLUSTER_PORT_BASE:-}" ]] || { echo "ci-cluster: error: no 6 free ports at 20200..20295 on 127.0.0.1; set KAFKAES_CLUSTER_PORT_BASE" >&2; exit 1; }
fi
CTL="scripts/kafka-cluster.sh"

t() { date +%s.%N; }
dt() { awk -v a="$1" -v b="$(t)" 'BEGIN { printf "%.1f", b - a }'; }
T0="$(t)"

# shellcheck disable=SC2317 # called by the EXIT trap
stop_cluster() {
	local s
	s="$(t)"
	"$CTL" stop || true
	echo "ci-cluster: cluster stop took $(dt "$s")s; total $(dt "$T0")s"
	if [[ -n "$own_run" && "${KAFKAES_CI_KEEP:-}" != 1 ]]; then
		rm -rf "$own_run"
	fi
}
trap stop_cluster EXIT

"$CTL" clean
s="$(t)"
"$CTL" start
echo "ci-cluster: cluster start took $(dt "$s")s"
eval "$("$CTL" env)"
unset KAFKAES_BROKER_CTL
echo "ci-cluster: KAFKAES_BROKERS=$KAFKAES_BROKERS KAFKAES_CLUSTER_CTL=$KAFKAES_CLUSTER_CTL"

rc=0
s="$(t)"
# Tests known to fail against the cluster are named here, loudly, never
# skipped silently; today there are none (TestTopicNotAutoCreated and
# TestReadStreamNeverShort were left out until 9b6155d and 98455d4 fixed
# them on RF 3). KAFKAES_CI_CLUSTER_KNOWN_FAILING=REGEX leaves tests out.
known="${KAFKAES_CI_CLUSTER_KNOWN_FAILING:-}"
skip='^TestRealBroker'
if [[ -n "$known" ]]; then
	echo "ci-cluster: NOT RUN against the cluster (known to fail there, see scripts/ci-kafka-cluster.sh): tests matching $known"
	skip="$skip|$known"
fi
# shellcheck disable=SC2086
env -u KAFKAES_CLUSTER_CTL go test -race -count=1 -timeout 20m -skip "$skip" "$@" ${KAFKAES_CI_CLUSTER_PACKAGES:-./eventstore/kafka/} || rc=$?
echo "ci-cluster: eventstore/kafka suite against the 3-node cluster took $(dt "$s")s (exit $rc)"

s="$(t)"
rc2=0
"$CTL" status >/dev/null 2>&1 || "$CTL" wait
go test -count=1 -timeout 15m -run '^TestClusterFaults$' "$@" ./eventstore/kafka/clusterfault/ || rc2=$?
echo "ci-cluster: cluster fault test took $(dt "$s")s (exit $rc2)"
((rc != 0)) || rc=$rc2

s="$(t)"
rc3=0
"$CTL" status >/dev/null 2>&1 || "$CTL" wait
go test -count=1 -timeout 12m -run '^TestClusterProcessManagerFaults$' "$@" ./projection/kafkaprojection/ || rc3=$?
echo "ci-cluster: process-manager fault test took $(dt "$s")s (exit $rc3)"
# Fatal since 4 Dec: a doubled effect was seen in 2 of about 45 runs on
# the 3-node cluster (Kafka lost a committed transaction's consumer
# offsets when the group coordinator was SIGKILLed during the commit);
# the repeat of the append re-commits them and every transaction also
# writes the manager's position to its positions topic, which Start
# reads. After that: 27 consecutive passing runs of the loop and 2 CI
# runs. KAFKAES_CI_PM_FAULTS_FATAL=0 makes a failure a loud report only.
if ((rc3 != 0)); then
	if [[ "${KAFKAES_CI_PM_FAULTS_FATAL:-1}" != 0 ]]; then
		((rc != 0)) || rc=$rc3
	else
		echo "ci-cluster: NOT FATAL (KAFKAES_CI_PM_FAULTS_FATAL=0): TestClusterProcessManagerFaults failed (exit $rc3): a process manager's effect doubled or lost under broker faults; see the test output above"
	fi
fi
# 4. The projection and cmd/kafkaes suites, after the fault tests: run
# before them (5 Dec, CI of 5cd13d4), their topics and load on the same
# cluster slowed the brokers' restarts in the process-manager fault test
# (11-13 s instead of 6) and it failed its final wait once.
s="$(t)"
rc4=0
"$CTL" status >/dev/null 2>&1 || "$CTL" wait
# shellcheck disable=SC2086
env -u KAFKAES_CLUSTER_CTL go test -race -count=1 -timeout 20m -skip "$skip" "$@" ${KAFKAES_CI_CLUSTER_LATE_PACKAGES:-./projection/... ./cmd/kafkaes/...} || rc4=$?
echo "ci-cluster: projection and cmd suites against the 3-node cluster took $(dt "$s")s (exit $rc4)"
((rc != 0)) || rc=$rc4
if ((rc != 0)); then
	for n in 1 2 3; do
		echo "ci-cluster: last log lines of node $n ($KAFKAES_CLUSTER_RUN/node$n/broker.log):"
		tail -n 15 "$KAFKAES_CLUSTER_RUN/node$n/broker.log" || true
	done
fi
exit "$rc"
