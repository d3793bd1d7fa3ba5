# shellcheck shell=bash
# common.sh: helpers the demo scripts share (sourced, not run).
#
# Every wait here is bounded: the demo runs at 3 a.m. too.

# The demo runs on the system's Python (standard library only), not whatever
# python3 comes first in PATH; FAULTLINE_PYTHON overrides.
if [ -n "${FAULTLINE_PYTHON:-}" ]; then
	DEMO_PYTHON=$FAULTLINE_PYTHON
elif [ -x /usr/bin/python3 ]; then
	DEMO_PYTHON=/usr/bin/python3
else
	DEMO_PYTHON=python3
fi

# demo_read_pid FILE: prints the pid in FILE; fails when missing or not a number.
demo_read_pid() {
	local pid
	pid=$(cat "$1" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	printf '%s\n' "$pid"
}

# demo_pid_is_service PID DIR: true when PID is alive and is a demo
# service.py serving a database in DIR (guards against reused pids).
demo_pid_is_service() {
	local cmdline
	kill -0 "$1" 2>/dev/null || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
	[[ $cmdline == *service.py* && $cmdline == *"$2"/* ]]
}

# demo_http_status URL: prints the HTTP status (000 when nothing answered
# within a second).
demo_http_status() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" 2>/dev/null || true
}

# demo_free_ports N: N distinct free loopback TCP ports, space separated.
# The kernel picks them (bind to port 0); all N are held open together so
# they differ.
demo_free_ports() {
	"$DEMO_PYTHON" - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

# demo_wait_healthy URL SECONDS: polls URL until it answers 200; fails after
# SECONDS.
demo_wait_healthy() {
	local deadline=$((SECONDS + $2))
	until [ "$(demo_http_status "$1")" = 200 ]; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# demo_instance_check DIR NAME: DIR must hold a demo environment and NAME
# one of its instances.
demo_instance_check() {
	if [ ! -f "$1/$2.port" ]; then
		echo "$(basename "$0"): no demo instance $2 in $1" >&2
		return 2
	fi
}
