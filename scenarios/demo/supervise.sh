#!/usr/bin/env bash
# supervise.sh: keep one demo service instance running, restarting it after
# a fixed delay whenever it exits (the demo's measurable RTO).
#
# usage: supervise.sh --pidfile FILE --self-pidfile FILE [--delay SECONDS]
#                     [--hold FILE] -- COMMAND [ARG...]
#
# The *service's* pid goes to --pidfile (a `process` fault aimed at the
# instance hits the service, not this loop); this script's own pid goes to
# --self-pidfile. While the --hold file exists a dead service is not
# restarted (restore.sh swaps the database meanwhile). TERM or INT: stop the
# service (continuing it first if a drill stopped it), remove the pidfiles,
# exit 0.
set -uo pipefail

pidfile="" selfpid="" delay=0.3 hold=""
while [ $# -gt 0 ]; do
	case $1 in
	--pidfile) pidfile=$2; shift 2 ;;
	--self-pidfile) selfpid=$2; shift 2 ;;
	--delay) delay=$2; shift 2 ;;
	--hold) hold=$2; shift 2 ;;
	--) shift; break ;;
	*) echo "supervise.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
if [ -z "$pidfile" ] || [ -z "$selfpid" ] || [ $# -eq 0 ]; then
	echo "usage: supervise.sh --pidfile FILE --self-pidfile FILE [--delay S] [--hold FILE] -- CMD..." >&2
	exit 2
fi

log() { printf '%s supervise[%d]: %s\n' "$(date -u +%FT%TZ)" "$$" "$*" >&2; }

write_pid() { # FILE PID: atomically, so a reader never sees half a number
	printf '%s\n' "$2" >"$1.tmp.$$" && mv -f "$1.tmp.$$" "$1"
}

stopping=0
child=
# shellcheck disable=SC2317  # invoked by the trap
on_stop() {
	stopping=1
	if [ -n "$child" ]; then
		kill -CONT "$child" 2>/dev/null
		kill -TERM "$child" 2>/dev/null
	fi
}
trap on_stop TERM INT

write_pid "$selfpid" "$$"
restarts=0
while [ "$stopping" = 0 ]; do
	"$@" &
	child=$!
	write_pid "$pidfile" "$child"
	log "started service pid $child (restarts: $restarts)"
	# wait returns early when a trapped signal arrives; keep waiting until
	# the child is really gone. A STOPped child does not end the wait
	# (no job control here), which is what a pause drill wants.
	status=0
	while kill -0 "$child" 2>/dev/null; do
		wait "$child"
		status=$?
	done
	if [ "$stopping" = 1 ]; then
		break
	fi
	log "service pid $child exited (status $status)"
	# The restart delay is deliberate product behaviour of the demo: it is
	# the outage a drill measures.
	sleep "$delay"
	while [ -n "$hold" ] && [ -e "$hold" ] && [ "$stopping" = 0 ]; do
		sleep 0.02
	done
	restarts=$((restarts + 1))
done

# Give the service a bounded time to stop on TERM, then KILL it.
if [ -n "$child" ]; then
	for _ in $(seq 1 100); do
		kill -0 "$child" 2>/dev/null || break
		sleep 0.02
	done
	kill -KILL "$child" 2>/dev/null
	wait "$child" 2>/dev/null
fi
rm -f "$pidfile" "$selfpid"
log "stopped"
exit 0
