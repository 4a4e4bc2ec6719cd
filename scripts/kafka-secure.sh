#!/usr/bin/env bash
# kafka-secure.sh: a secured single-node Apache Kafka broker for kafkaes
# tests, CI and trying out docs/security.md: scripts/kafka-broker.sh with
#
#   - one client listener, SASL_SSL on 127.0.0.1 (SCRAM-SHA-512 over TLS
#     1.2+, the broker's certificate signed by a private CA that this script
#     makes with openssl on first start; clients trust it through ca.pem);
#   - the StandardAuthorizer with allow.everyone.if.no.acl.found=false, so
#     every request needs an ACL;
#   - the SCRAM users "admin" (super user) and "app" (the application), with
#     random passwords made on first start;
#   - the ACLs docs/security.md documents for an application, granted to
#     User:app on every name ("*"), since the test suites use random topic,
#     group and transactional ID names:
#       topic *: Read, Write, DescribeConfigs, Create (WithCreateTopic)
#       group *: Read
#       transactional-id *: Write
#     Tests that need other rights (creating and deleting topics, users,
#     ACLs) use the admin's client.properties; the authorization tests
#     (kafkatest.RequireSecure) make users of their own with exact ACLs.
#
# The KRaft controller listener stays PLAINTEXT on 127.0.0.1 (SCRAM cannot
# authenticate controllers), so its anonymous principal is a super user
# too: this is a test broker, not a production template.
#
# Usage: scripts/kafka-secure.sh {start|stop|restart|kill|status|env|clean}
#
#   env    prints the exports for the test suites: KAFKAES_BROKERS,
#          KAFKAES_KAFKA_CONFIG (app.properties: the application user),
#          KAFKAES_KAFKA_ADMIN_CONFIG (admin.properties), KAFKAES_BROKER_CTL
#   clean  stops the broker and deletes its data, certificates and users
#   others as in scripts/kafka-broker.sh
#
# Settings: those of kafka-broker.sh; the state directory defaults to
# $KAFKAES_KAFKA_DIR/secure-run and the ports to 19492/19493.
set -euo pipefail

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
SCRIPTS="$(dirname "$SELF")"
REPO="$(cd "$SCRIPTS/.." && pwd)"
VERSION="${KAFKAES_KAFKA_VERSION:-4.4.0}"
export KAFKAES_KAFKA_DIR="${KAFKAES_KAFKA_DIR:-${HOME:-/root}/.cache/kafkaes/kafka-${VERSION}}"
export KAFKAES_KAFKA_RUN="${KAFKAES_KAFKA_RUN:-$KAFKAES_KAFKA_DIR/secure-run}"
export KAFKAES_KAFKA_PORT="${KAFKAES_KAFKA_PORT:-19492}"
export KAFKAES_KAFKA_CONTROLLER_PORT="${KAFKAES_KAFKA_CONTROLLER_PORT:-$((KAFKAES_KAFKA_PORT + 1))}"
SEC="$KAFKAES_KAFKA_RUN/secure"
BROKERS="127.0.0.1:$KAFKAES_KAFKA_PORT"
BROKER="$SCRIPTS/kafka-broker.sh"

say() { echo "kafka-secure: $*" >&2; }
die() { echo "kafka-secure: error: $*" >&2; exit 1; }

# make_secrets: on first use, a CA, the broker's key and certificate (in a
# PKCS12 keystore), passwords and the client.properties files.
make_secrets() {
	[[ -f "$SEC/.complete" ]] && return 0
	command -v openssl >/dev/null 2>&1 || die "openssl not found on PATH (Debian: apt-get install openssl)"
	rm -rf "$SEC"
	mkdir -p "$SEC"
	chmod 700 "$SEC"
	local pw
	pw() { head -c 18 /dev/urandom | base64 | tr -d '+/=\n'; }
	pw >"$SEC/admin.password"
	pw >"$SEC/app.password"
	pw >"$SEC/keystore.password"
	(
		cd "$SEC"
		openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=kafkaes test CA" \
			-keyout ca.key -out ca.pem 2>/dev/null
		openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout broker.key -out broker.csr 2>/dev/null
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >broker.ext
		openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
			-extfile broker.ext -out broker.pem 2>/dev/null
		openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker \
			-out broker.p12 -passout "pass:$(cat keystore.password)"
		rm -f broker.csr broker.ext ca.srl
	) || die "openssl could not make the CA and broker certificate in $SEC"
	local u
	for u in admin app; do
		cat >"$SEC/$u.properties" <<EOF
# Made by scripts/kafka-secure.sh: the client settings of user "$u".
bootstrap.servers=$BROKERS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$u" password="$(cat "$SEC/$u.password")";
ssl.truststore.type=PEM
ssl.truststore.location=$SEC/ca.pem
EOF
	done
	touch "$SEC/.complete"
	say "made a CA, the broker certificate and the users admin and app in $SEC"
}

write_extra() {
	cat >"$SEC/server-extra.properties" <<EOF
listeners=SASL_SSL://127.0.0.1:$KAFKAES_KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKAES_KAFKA_CONTROLLER_PORT
advertised.listeners=SASL_SSL://127.0.0.1:$KAFKAES_KAFKA_PORT
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(cat "$SEC/admin.password")";
ssl.keystore.type=PKCS12
ssl.keystore.location=$SEC/broker.p12
ssl.keystore.password=$(cat "$SEC/keystore.password")
ssl.key.password=$(cat "$SEC/keystore.password")
ssl.client.auth=none
ssl.truststore.type=PEM
ssl.truststore.location=$SEC/ca.pem
ssl.enabled.protocols=TLSv1.2,TLSv1.3
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:ANONYMOUS
EOF
}

broker() {
	KAFKAES_KAFKA_EXTRA_CONFIG="$SEC/server-extra.properties" \
		KAFKAES_KAFKA_FORMAT_ARGS="--add-scram SCRAM-SHA-512=[name=admin,password=$(cat "$SEC/admin.password" 2>/dev/null)] --add-scram SCRAM-SHA-512=[name=app,password=$(cat "$SEC/app.password" 2>/dev/null)]" \
		KAFKAES_KAFKA_CLIENT_CONFIG="$SEC/admin.properties" \
		"$BROKER" "$@"
}

# The application's ACLs (see the header and docs/security.md).
APP_ACLS=(
	"topic:*:Read,Write,DescribeConfigs,Create"
	"group:*:Read"
	"transactional-id:*:Write"
)

cmd_start() {
	if [[ -d "$KAFKAES_KAFKA_RUN/data" && ! -f "$SEC/.complete" ]]; then
		die "$KAFKAES_KAFKA_RUN holds a broker without this script's secrets; run '$SELF clean' first"
	fi
	make_secrets
	write_extra
	broker start
	(cd "$REPO" && go run ./scripts/kafkaacl -brokers "$BROKERS" -config "$SEC/admin.properties" -principal User:app "${APP_ACLS[@]}") ||
		die "could not grant the ACLs of User:app"
}

cmd_env() {
	local line
	line="export KAFKAES_BROKERS=$(printf %q "$BROKERS") KAFKAES_KAFKA_CONFIG=$(printf %q "$SEC/app.properties")"
	line+=" KAFKAES_KAFKA_ADMIN_CONFIG=$(printf %q "$SEC/admin.properties") KAFKAES_BROKER_CTL=$(printf %q "$SELF")"
	local v
	for v in KAFKAES_KAFKA_DIR KAFKAES_KAFKA_RUN KAFKAES_KAFKA_PORT KAFKAES_KAFKA_CONTROLLER_PORT; do
		line+=" $v=$(printf %q "${!v}")"
	done
	echo "$line"
}

case "${1:-}" in
start) cmd_start ;;
restart) broker stop && cmd_start ;;
stop | kill | status) broker "$1" ;;
env) cmd_env ;;
clean) broker clean ;;
*)
	sed -n '2,/^set -euo/p' "$SELF" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
