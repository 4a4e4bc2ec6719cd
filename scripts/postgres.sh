#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server for kafkaes tests and examples.
#
#   eval "$(scripts/postgres.sh)"      # start (or reuse), then export KAFKAES_POSTGRES_DSN
#   scripts/postgres.sh stop           # stop it and delete its data
#
# It installs PostgreSQL from Debian's packages with apt-get when no server
# binaries are found, initializes a cluster in $KAFKAES_PG_DIR (default
# ${TMPDIR:-/tmp}/kafkaes-postgres), starts it on 127.0.0.1 on a free port
# (as the "postgres" user when run as root: postgres refuses to run as
# root), creates the database "kafkaes", and prints
# `export KAFKAES_POSTGRES_DSN=...` on stdout. Everything else goes to stderr.
# Trust authentication on loopback only: for tests, never for production.
#
# By default the server trades durability for test speed (fsync=off,
# synchronous_commit=off). KAFKAES_PG_DURABLE=1 starts it with PostgreSQL's
# durable defaults instead (fsync=on, synchronous_commit=on,
# full_page_writes=on), as BenchmarkAppendVsPostgres needs for its
# postgres-sync case (postgres-async turns synchronous_commit off per
# session). The setting applies when the server starts; stop it first to
# switch.
set -euo pipefail

DIR=${KAFKAES_PG_DIR:-${TMPDIR:-/tmp}/kafkaes-postgres}
DB=kafkaes
log() { echo "postgres.sh: $*" >&2; }

find_bin() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	if [[ -n "$d" && -x "$d/initdb" ]]; then echo "$d"; fi
}

BIN=$(find_bin)
if [[ -z "$BIN" ]]; then
	if [[ $(id -u) -ne 0 ]]; then
		log "PostgreSQL server binaries not found under /usr/lib/postgresql and not root; install the Debian package 'postgresql' first"
		exit 1
	fi
	log "installing PostgreSQL from Debian packages (apt-get install postgresql)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends postgresql >&2
	BIN=$(find_bin)
	[[ -n "$BIN" ]] || { log "apt-get installed postgresql but no initdb was found under /usr/lib/postgresql/*/bin"; exit 1; }
fi

# Run server commands as a non-root user when we are root.
AS=()
if [[ $(id -u) -eq 0 ]]; then
	if ! id postgres >/dev/null 2>&1; then
		useradd --system --home-dir "$DIR" --shell /usr/sbin/nologin postgres
	fi
	AS=(runuser -u postgres --)
fi

if [[ "${1:-}" == "stop" ]]; then
	if [[ -f "$DIR/data/postmaster.pid" ]]; then
		"${AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >&2 || true
	fi
	rm -rf "$DIR"
	log "stopped and removed $DIR"
	exit 0
fi

mkdir -p "$DIR"
if [[ ${#AS[@]} -gt 0 ]]; then chown postgres: "$DIR"; fi
chmod 700 "$DIR"

running() { [[ -f "$DIR/port" ]] && "${AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; }

if running; then
	PORT=$(cat "$DIR/port")
	log "reusing the server in $DIR on 127.0.0.1:$PORT"
else
	if [[ ! -f "$DIR/data/PG_VERSION" ]]; then
		rm -rf "$DIR/data"
		"${AS[@]}" "$BIN/initdb" -D "$DIR/data" -U postgres -A trust --no-sync -E UTF8 >"$DIR/initdb.log" 2>&1 ||
			{ cat "$DIR/initdb.log" >&2; log "initdb failed"; exit 1; }
	fi
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))
	SPEED="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	if [[ "${KAFKAES_PG_DURABLE:-}" == 1 ]]; then
		SPEED="-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
	fi
	"${AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR $SPEED -c max_connections=300" \
		start >&2 || { tail -n 30 "$DIR/server.log" >&2 || true; log "PostgreSQL did not start"; exit 1; }
	echo "$PORT" >"$DIR/port"
	[[ ${#AS[@]} -eq 0 ]] || chown postgres: "$DIR/port"
	log "started PostgreSQL ($BIN) in $DIR on 127.0.0.1:$PORT (${SPEED})"
fi

if ! "${AS[@]}" "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1; then
	"${AS[@]}" "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB" >&2
fi
echo "export KAFKAES_POSTGRES_DSN='postgres://postgres@127.0.0.1:$PORT/$DB?sslmode=disable'"
