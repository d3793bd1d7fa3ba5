#!/usr/bin/env bash
# demo-env.sh: the local demo environment faultline's demo drills run against.
#
# usage: demo-env.sh start|stop|status DIR
#
# start   two instances of service.py (api-1, api-2) on free loopback ports,
#         each under supervise.sh in its own process group and with its own
#         SQLite file, plus api-1.static (8 KiB of seeded random bytes that
#         nothing writes: a target for file-corruption drills). Waits (with a
#         deadline) until both answer /health, then writes DIR/env.sh:
#           export FAULTLINE_DEMO_DIR=... FAULTLINE_DEMO_PORT1=...
#                  FAULTLINE_DEMO_PORT2=... FAULTLINE_DEMO_HOME=...
#         Starting an environment that is already up changes nothing.
#         Each instance has a certificate, NAME.cert: its not-after time
#         (Unix seconds, now + 90 days), checked by /health. With
#         FAULTLINE_DEMO_FAKETIME=1 each service runs under Debian's
#         libfaketime with FAKETIME_TIMESTAMP_FILE=NAME.faketime ("+0": real
#         time), so a `clock` fault can skew it live (demo-clock-skew.json).
# stop    stops everything start started (by pidfile and process group),
#         verifies nothing is left, exits 0; stopping a stopped one is fine.
# status  one line per instance; exit 0 when both are up and healthy.
#
# Files in DIR per instance NAME: NAME.db, NAME.pid (the service),
# NAME.supervisor.pid, NAME.port, NAME.log, NAME.supervisor.log, NAME.hold
# (restore.sh), NAME.backup.db (backup.sh).
set -euo pipefail

HOME_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scenarios/demo/common.sh
. "$HOME_DIR/common.sh"

INSTANCES=(api-1 api-2)
START_DEADLINE_S=${FAULTLINE_DEMO_START_DEADLINE:-15}
STOP_DEADLINE_S=10
RESTART_DELAY_S=${FAULTLINE_DEMO_RESTART_DELAY:-0.3}
FAKETIME_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
CERT_DAYS=90

usage() { echo "usage: demo-env.sh start|stop|status DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$2

# Process group of an instance's supervisor (it is the group leader), or "".
instance_pgid() {
	local pid
	pid=$(demo_read_pid "$dir/$1.supervisor.pid") || return 0
	ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ' || true
}

instance_up() { # NAME: supervisor alive and the service answering 200
	local pgid port
	pgid=$(instance_pgid "$1")
	[ -n "$pgid" ] || return 1
	port=$(cat "$dir/$1.port" 2>/dev/null) || return 1
	[ "$(demo_http_status "http://127.0.0.1:$port/health")" = 200 ]
}

seed_static() { # FILE: the same 8 KiB every time (seeded), so tests can compare
	"$DEMO_PYTHON" - "$1" <<'EOF'
import random, sys
rng = random.Random(20240601)
data = bytes(rng.getrandbits(8) for _ in range(8192))
with open(sys.argv[1] + ".tmp", "wb") as f:
    f.write(data)
import os
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
EOF
}

start_instance() { # NAME PORT
	local name=$1 port=$2
	echo "$port" >"$dir/$name.port"
	rm -f "$dir/$name.hold"
	echo $(($(date +%s) + CERT_DAYS * 86400)) >"$dir/$name.cert"
	# Under libfaketime with a timestamp file the clock fault rewrites.
	# Monotonic time stays real (FAKETIME_DONT_FAKE_MONOTONIC): the service
	# times its health cache with it and never sleeps (libfaketime 0.9.10
	# breaks Python 3.11's time.sleep with that setting, upstream #426).
	# NO_CACHE: a new offset is seen within ~0.1 s, at ~10 us per clock call.
	# Opt-in, not the default: measured here, a SIGSTOP/SIGCONT pause of a
	# service under libfaketime took 12.6 s instead of 2 s to answer again,
	# which would change what the other demo drills measure.
	local -a pre=()
	if [ "${FAULTLINE_DEMO_FAKETIME:-0}" = 1 ]; then
		[ -r "$FAKETIME_LIB" ] || { echo "demo-env.sh: $FAKETIME_LIB missing (Debian package libfaketime)" >&2; return 3; }
		echo "+0" >"$dir/$name.faketime"
		pre=(env "LD_PRELOAD=$FAKETIME_LIB" "FAKETIME_TIMESTAMP_FILE=$dir/$name.faketime"
			FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1)
	fi
	# setsid: the supervisor leads its own process group, so stop can end
	# the whole instance at once. Its stdio goes to files: a caller reading
	# our output (ctest, $(...)) must not wait for the daemons to exit.
	setsid bash "$HOME_DIR/supervise.sh" \
		--pidfile "$dir/$name.pid" --self-pidfile "$dir/$name.supervisor.pid" \
		--delay "$RESTART_DELAY_S" --hold "$dir/$name.hold" -- \
		"${pre[@]}" "$DEMO_PYTHON" "$HOME_DIR/service.py" --port "$port" --db "$dir/$name.db" \
		--log "$dir/$name.log" --cert "$dir/$name.cert" \
		</dev/null >>"$dir/$name.supervisor.log" 2>&1 &
}

write_env() {
	local tmp="$dir/env.sh.tmp.$$"
	{
		echo "# written by demo-env.sh: source it before running the demo drills"
		printf 'export FAULTLINE_DEMO_DIR=%q\n' "$dir"
		printf 'export FAULTLINE_DEMO_PORT1=%q\n' "$(cat "$dir/api-1.port")"
		printf 'export FAULTLINE_DEMO_PORT2=%q\n' "$(cat "$dir/api-2.port")"
		printf 'export FAULTLINE_DEMO_HOME=%q\n' "$HOME_DIR"
	} >"$tmp"
	mv -f "$tmp" "$dir/env.sh"
}

do_start() {
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	local all_up=1 name
	for name in "${INSTANCES[@]}"; do
		instance_up "$name" || all_up=0
	done
	if [ "$all_up" = 1 ]; then
		write_env
		echo "demo environment already running in $dir"
		return 0
	fi
	# Half up (a crash, a killed test): start from a clean slate.
	do_stop >/dev/null
	[ -f "$dir/api-1.static" ] || seed_static "$dir/api-1.static"
	local ports
	read -r -a ports <<<"$(demo_free_ports 2)"
	start_instance api-1 "${ports[0]}"
	start_instance api-2 "${ports[1]}"
	local deadline=$((SECONDS + START_DEADLINE_S))
	for name in "${INSTANCES[@]}"; do
		until instance_up "$name"; do
			if [ "$SECONDS" -ge "$deadline" ]; then
				echo "demo-env.sh: $name did not become healthy within ${START_DEADLINE_S}s (see $dir/$name.log)" >&2
				do_stop >/dev/null || true
				return 3
			fi
			sleep 0.05
		done
	done
	write_env
	echo "demo environment running in $dir: api-1 on 127.0.0.1:${ports[0]}, api-2 on 127.0.0.1:${ports[1]}"
}

do_stop() {
	[ -d "$dir" ] || return 0
	dir=$(cd "$dir" && pwd)
	local name pgid pid left=0
	local -a groups=()
	for name in "${INSTANCES[@]}"; do
		pgid=$(instance_pgid "$name")
		if [ -n "$pgid" ]; then
			groups+=("$pgid")
			# CONT first: a drill may have stopped the service, and a
			# stopped process does not act on TERM.
			kill -CONT -- "-$pgid" 2>/dev/null || true
			kill -TERM -- "-$pgid" 2>/dev/null || true
		fi
		# A service whose supervisor is gone (killed by hand) is still ours.
		if pid=$(demo_read_pid "$dir/$name.pid") && demo_pid_is_service "$pid" "$dir"; then
			kill -CONT "$pid" 2>/dev/null || true
			kill -TERM "$pid" 2>/dev/null || true
		fi
	done
	local deadline=$((SECONDS + STOP_DEADLINE_S))
	for pgid in "${groups[@]}"; do
		while kill -0 -- "-$pgid" 2>/dev/null; do
			if [ "$SECONDS" -ge "$deadline" ]; then
				kill -KILL -- "-$pgid" 2>/dev/null || true
				break
			fi
			sleep 0.05
		done
	done
	for name in "${INSTANCES[@]}"; do
		if pid=$(demo_read_pid "$dir/$name.pid") && demo_pid_is_service "$pid" "$dir"; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	# Verify: nothing of ours may survive a stop.
	for pgid in "${groups[@]}"; do
		for _ in $(seq 1 100); do
			kill -0 -- "-$pgid" 2>/dev/null || break
			sleep 0.02
		done
		if kill -0 -- "-$pgid" 2>/dev/null; then
			echo "demo-env.sh: process group $pgid is still alive after stop" >&2
			left=1
		fi
	done
	for name in "${INSTANCES[@]}"; do
		if pid=$(demo_read_pid "$dir/$name.pid") && demo_pid_is_service "$pid" "$dir"; then
			echo "demo-env.sh: $name service pid $pid is still alive after stop" >&2
			left=1
		fi
		rm -f "$dir/$name.pid" "$dir/$name.supervisor.pid" "$dir/$name.hold"
	done
	[ "$left" = 0 ] || return 3
	echo "demo environment in $dir stopped"
}

do_status() {
	[ -d "$dir" ] || { echo "no demo environment in $dir"; return 1; }
	local name rc=0 pid
	for name in "${INSTANCES[@]}"; do
		if instance_up "$name"; then
			pid=$(demo_read_pid "$dir/$name.pid") || pid="?"
			echo "$name: up (pid $pid, port $(cat "$dir/$name.port"))"
		else
			echo "$name: down"
			rc=1
		fi
	done
	return "$rc"
}

case $cmd in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
*) usage ;;
esac
