#!/usr/bin/env bash
# ci-kafka-secure.sh: run the Kafka suites and the examples against a
# secured broker (scripts/kafka-secure.sh: SASL_SSL with SCRAM-SHA-512, a
# private CA, the StandardAuthorizer, deny by default) as the application
# user that holds only the documented ACLs, as CI does.
#
# It starts a fresh secured broker with its own state directory and ports
# (the first free pair of 19592/19593, 19602/19603, ...), then:
#   1. checks that the listener refuses a client without TLS/SASL;
#   2. runs, with KAFKAES_REQUIRE_SECURE=1 (so the authorization tests
#      cannot skip), the event store's conformance suite and its per-ACL
#      tests (./eventstore/kafka -run 'TestConformance|TestSecure|TestSmoke'),
#      the whole projection source and snapshot store suites (consumer-group
#      projections, dead letters, per-ACL tests) and the CLI's tests of the
#      secured broker (./cmd/kafkaes -run TestSecure);
#   3. runs examples/bank, examples/orders and examples/healthcare (its key
#      store on a topic of its own) with -kafka-config, each as a
#      user of its own that holds only the ACLs docs/security.md lists for
#      it (exact topic names, PREFIXED transactional IDs and groups).
# It stops the broker on exit and exits with the first failure's status.
# Every go test run is bounded by KAFKAES_CI_TEST_TIMEOUT (default 6m).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

own_run="$(mktemp -d "${TMPDIR:-/tmp}/kafkaes-secure-ci.XXXXXX")"
export KAFKAES_KAFKA_RUN="$own_run/run"
port_used() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [[ -z "${KAFKAES_KAFKA_PORT:-}" ]]; then
	for base in $(seq 19592 10 19692); do
		if ! port_used "$base" && ! port_used $((base + 1)); then
			export KAFKAES_KAFKA_PORT="$base" KAFKAES_KAFKA_CONTROLLER_PORT=$((base + 1))
			break
		fi
	done
	[[ -n "${KAFKAES_KAFKA_PORT:-}" ]] || { echo "ci-kafka-secure: error: no free port pair in 19592..19693" >&2; exit 1; }
fi
CTL=scripts/kafka-secure.sh
t() { date +%s.%N; }
dt() { awk -v a="$1" -v b="$(t)" 'BEGIN { printf "%.1f", b - a }'; }
T0="$(t)"
# shellcheck disable=SC2317 # called by the EXIT trap
finish() {
	"$CTL" stop || true
	[[ "${KAFKAES_CI_KEEP:-}" == 1 ]] || rm -rf "$own_run"
	echo "ci-kafka-secure: total $(dt "$T0")s"
}
trap finish EXIT

scripts/kafka-broker.sh install
s="$(t)"
"$CTL" start
echo "ci-kafka-secure: secured broker start took $(dt "$s")s"
eval "$("$CTL" env)"
unset KAFKAES_BROKER_CTL # no test of this stage may stop the broker
export KAFKAES_REQUIRE_SECURE=1
echo "ci-kafka-secure: KAFKAES_BROKERS=$KAFKAES_BROKERS KAFKAES_KAFKA_CONFIG=$KAFKAES_KAFKA_CONFIG"

rc=0
step() {
	local s erc=0
	s="$(t)"
	"$@" || erc=$?
	echo "ci-kafka-secure: $* took $(dt "$s")s (exit $erc)"
	((rc != 0)) || rc=$erc
}

# 1. A client without TLS and SASL must not get an answer.
if go run ./scripts/kafkawait -q -brokers "$KAFKAES_BROKERS" -timeout 5s 2>/dev/null; then
	echo "ci-kafka-secure: error: the secured listener answered a PLAINTEXT client" >&2
	rc=1
fi

# 2. The suites, as the application user (KAFKAES_KAFKA_CONFIG).
to="${KAFKAES_CI_TEST_TIMEOUT:-6m}"
step go test -race -count=1 -timeout "$to" -run 'TestConformance|TestSecure|TestSmoke' ./eventstore/kafka/
step go test -race -count=1 -timeout "$to" ./projection/kafkaprojection/ ./snapshot/kafka/
step go test -race -count=1 -timeout "$to" -run 'TestSecure' ./cmd/kafkaes/

# 3. The examples, each as a user of its own holding exactly the ACLs
# docs/security.md lists for what it runs (on its topic names, with
# PREFIXED patterns for transactional IDs and the orders projection's
# groups), created for the run with scripts/kafkaacl.
example_acls() { # example topic
	case "$1" in
	bank) echo "topic:$2:Read,Write,DescribeConfigs,Create topic:$2-snapshots:Read,Write,DescribeConfigs,Create prefixed-transactional-id:$2.kafkaes-:Write prefixed-group:bank-salary-sweep:Read prefixed-topic:$2.bank-salary-sweep:Read,Write,Create" ;;
	orders) echo "topic:$2:Read,Write,DescribeConfigs,Create prefixed-transactional-id:$2.kafkaes-:Write prefixed-group:order-summary:Read" ;;
	healthcare) echo "topic:$2:Read,Write,DescribeConfigs,Create topic:$2.pii-keys:Read,Write,DescribeConfigs,Create prefixed-transactional-id:$2.kafkaes-:Write prefixed-transactional-id:$2.pii-keys.kafkaes-:Write" ;;
	esac
}
for ex in bank orders healthcare; do
	topic="$ex-secure-ci-$$"
	user="ci-$ex-$$"
	pw="$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	props="$own_run/$ex.properties"
	sed "s/username=\"[^\"]*\" password=\"[^\"]*\"/username=\"$user\" password=\"$pw\"/" "$KAFKAES_KAFKA_CONFIG" >"$props"
	# shellcheck disable=SC2046 # one ACL spec per word
	if ! KAFKAACL_PASSWORD="$pw" go run ./scripts/kafkaacl -brokers "$KAFKAES_BROKERS" -config "$KAFKAES_KAFKA_ADMIN_CONFIG" -user "$user" $(example_acls "$ex" "$topic"); then
		echo "ci-kafka-secure: error: could not create the user of examples/$ex" >&2
		rc=1
		continue
	fi
	out="$(mktemp)"
	step timeout 300 go run "./examples/$ex" -brokers "$KAFKAES_BROKERS" -kafka-config "$props" -topic "$topic" >"$out" 2>&1
	tail -n 3 "$out"
	grep -q "exit 0)" "$out" || tail -n 30 "$out"
	rm -f "$out"
done

if ((rc != 0)); then
	echo "ci-kafka-secure: last broker log lines ($KAFKAES_KAFKA_RUN/broker.log):"
	tail -n 30 "$KAFKAES_KAFKA_RUN/broker.log" || true
fi
exit "$rc"
