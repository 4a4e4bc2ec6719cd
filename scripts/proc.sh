# proc.sh: process helpers shared by kafka-broker.sh and schema-registry.sh
# (sourced, not run). The sourcing script defines say, PIDFILE, STOP_TIMEOUT
# and pid_signature (the text its process's command line must contain, so a
# recycled pid is never taken for ours).

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# running PID: the process exists and is not a zombie.
running() {
	kill -0 "$1" 2>/dev/null || return 1
	[[ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]]
}

# pid_alive: prints the pid in $PIDFILE if that process runs and is ours.
pid_alive() {
	[[ -f "$PIDFILE" ]] || return 1
	local pid
	pid="$(cat "$PIDFILE" 2>/dev/null)"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	running "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$(pid_signature)" || return 1
	echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# stop_process WHAT: SIGTERM the process of $PIDFILE, SIGKILL it after
# $STOP_TIMEOUT seconds, and forget its pid; WHAT names it in messages.
stop_process() {
	local pid t0
	t0="$(now)"
	if ! pid="$(pid_alive)"; then
		rm -f "$PIDFILE"
		say "not running"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + STOP_TIMEOUT))
	while running "$pid"; do
		if ((SECONDS >= deadline)); then
			say "$1 pid $pid still running ${STOP_TIMEOUT}s after SIGTERM; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.5
			break
		fi
		sleep 0.2
	done
	rm -f "$PIDFILE"
	say "stopped pid $pid in $(since "$t0")s"
}
