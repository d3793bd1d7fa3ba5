#!/usr/bin/env bash
# sandbox.sh: the reference sandbox — a real HA stack in two availability
# zones on one machine, for drills that measure real failover, real backups
# and real data loss.
#
# usage: sandbox.sh up [--sync|--async]   provision or converge (idempotent)
#        sandbox.sh down                  tear down and verify nothing is left
#        sandbox.sh status                one line per component; 0 = all healthy
#        sandbox.sh primary               name of the current primary (pg-a|pg-b)
#        sandbox.sh backup [full|diff|incr]  pgBackRest backup from the primary
#        sandbox.sh info                  `pgbackrest info --output=json`
#
# Layout (docs/sandbox.md has the diagram): namespaces az-a, az-b, az-c, each
# joined by a veth pair to the bridge flsbx0 in the root namespace on
# 10.231.0.0/24 (no default route, a guard table drops anything forwarded
# between that range and any other). etcd in az-c, PostgreSQL 15 + Patroni
# in az-a and az-b (as `postgres`), pgBackRest repository in the state dir
# (outside the zones), HAProxy in the root namespace, app.py in az-a and
# az-b. State: $FAULTLINE_SANDBOX_DIR (default /var/lib/faultline-sandbox);
# after `up`, `. $FAULTLINE_SANDBOX_DIR/env.sh` exports what
# scenarios/env/sandbox.json refers to.
#
# The declaration is scenarios/sandbox/playbook.yml (ansible-core, run with
# `-c local`); this script installs packages, checks the machine, runs it,
# and on failure prints one line naming what failed, tears the partial
# sandbox down and exits 3. Internal subcommands used by the playbook:
# _svc-start, _svc-stop, _svc-running, _backrest. FAULTLINE_SANDBOX_KEEP=1
# keeps a partial sandbox after a failed `up`, for debugging.
set -euo pipefail

HOME_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SBX_DIR=${FAULTLINE_SANDBOX_DIR:-/var/lib/faultline-sandbox}
MARKER=.faultline-sandbox
ZONES=(az-a az-b az-c)
BRIDGE=flsbx0
GUARD_TABLE=faultline_sandbox_guard
ROOT_PORTS=(15000 15001 18080 18404)   # HAProxy rw, ro, app, stats
PACKAGES=(patroni etcd-server pgbackrest haproxy nftables ansible-core python3-psycopg2 python3-etcd iproute2)
# Program -> package, to name what is missing when a program is not found.
PROGRAMS=(patroni:patroni etcd:etcd-server pgbackrest:pgbackrest haproxy:haproxy nft:nftables
	ansible-playbook:ansible-core ip:iproute2 start-stop-daemon:dpkg setpriv:util-linux)
STOP_DEADLINE_S=20
PY=/usr/bin/python3

die() { echo "sandbox: $*" >&2; exit 3; }
usage() { echo "usage: sandbox.sh up [--sync|--async] | down | status | primary | backup [full|diff|incr] | info" >&2; exit 2; }
now_ms() { date +%s%3N; }

need_root() {
	[ "$(id -u)" -eq 0 ] || die "must run as root (namespaces, nftables and the postgres user need it)"
}

# ---- packages ---------------------------------------------------------------

# Installs whatever of PACKAGES is missing, then stops and disables any
# service the packages started on their default ports (a machine without
# policy-rc.d starts haproxy and etcd on install).
install_packages() {
	local missing=() p log
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log=$(mktemp /tmp/faultline-sandbox-apt.XXXXXX)
	echo "sandbox: installing ${missing[*]}" >&2
	if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
		die "apt-get install ${missing[*]} failed (see $log)"
	fi
	rm -f "$log"
	disable_default_services
}

disable_default_services() {
	local svc
	for svc in etcd haproxy patroni; do
		if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
			systemctl disable --now "$svc" >/dev/null 2>&1 || true
		elif [ -x "/etc/init.d/$svc" ]; then
			"/etc/init.d/$svc" stop >/dev/null 2>&1 || true
			update-rc.d "$svc" disable >/dev/null 2>&1 || true
		fi
	done
}

check_programs() {
	local pp
	for pp in "${PROGRAMS[@]}"; do
		command -v "${pp%%:*}" >/dev/null 2>&1 || die "missing program ${pp%%:*} (package ${pp##*:})"
	done
	[ -x "$PY" ] || die "missing $PY (package python3)"
	"$PY" -c 'import psycopg2' 2>/dev/null || die "missing python module psycopg2 for $PY (package python3-psycopg2)"
	[ -x /usr/lib/postgresql/15/bin/postgres ] || die "missing PostgreSQL 15 (package postgresql-15)"
}

# A root-namespace port is free, or held by our own HAProxy (converging).
check_ports() {
	local port
	if running_pid haproxy >/dev/null; then
		return 0
	fi
	for port in "${ROOT_PORTS[@]}"; do
		if [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; then
			die "port $port is already taken in the root namespace (needed by haproxy)"
		fi
	done
}

check_state_dir() {
	local d
	if [ -e "$SBX_DIR" ] && [ ! -e "$SBX_DIR/$MARKER" ] && [ -n "$(ls -A "$SBX_DIR" 2>/dev/null)" ]; then
		die "$SBX_DIR exists, is not empty and is not a sandbox state dir"
	fi
	# postgres must be able to reach its data dir through every parent.
	d=$(dirname "$SBX_DIR")
	while [ "$d" != / ]; do
		[ -e "$d" ] || { d=$(dirname "$d"); continue; }
		setpriv --reuid=postgres --regid=postgres --clear-groups test -x "$d" ||
			die "$d: not searchable by the postgres user (choose another FAULTLINE_SANDBOX_DIR)"
		d=$(dirname "$d")
	done
}

# ---- supervised processes (used by the playbook) ------------------------------

pidfile_of() { echo "$SBX_DIR/run/$1.pid"; }

# Prints the pid of service NAME when its pidfile names a live process whose
# command line still mentions the sandbox (pids are reused).
running_pid() {
	local pf pid
	pf=$(pidfile_of "$1")
	[ -r "$pf" ] || return 1
	pid=$(head -n1 "$pf" 2>/dev/null | tr -dc 0-9)
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$SBX_DIR" || return 1
	echo "$pid"
}

# _svc-start NAME NETNS|- USER -- ARGV...: starts ARGV in the background in
# namespace NETNS as USER, logging to log/NAME.log; the pid stays the same
# through `ip netns exec` and `setpriv` (both exec), so run/NAME.pid is the
# program's own pid. Prints "running" when it already runs, else "started".
svc_start() {
	local name=$1 ns=$2 user=$3 pf prog cmd=()
	shift 3
	[ "${1:-}" = -- ] && shift
	[ $# -ge 1 ] || die "_svc-start $name: no command"
	pf=$(pidfile_of "$name")
	if running_pid "$name" >/dev/null; then
		echo running
		return 0
	fi
	mkdir -p "$SBX_DIR/run" "$SBX_DIR/log"
	rm -f "$pf"
	[ "$ns" != - ] && cmd+=(ip netns exec "$ns")
	[ "$user" != root ] && cmd+=(setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups --reset-env)
	cmd+=("$@")
	prog=$(command -v "${cmd[0]}") || die "_svc-start $name: ${cmd[0]} not found"
	# The sandbox path must appear in every command line (running_pid checks it).
	start-stop-daemon --start --background --make-pidfile --pidfile "$pf" \
		--output "$SBX_DIR/log/$name.log" --chdir "$SBX_DIR" \
		--startas "$prog" -- "${cmd[@]:1}" ||
		die "could not start $name"
	# A daemon that dies at once (bad flag, port taken) is named here with
	# its last log line rather than by a later health-check timeout.
	sleep 0.3
	running_pid "$name" >/dev/null ||
		die "$name exited at start: $(tail -n1 "$SBX_DIR/log/$name.log" 2>/dev/null)"
	echo started
}

# A pid is alive when it exists and is not a zombie waiting for a parent
# (daemons are reparented to whatever reaps orphans here, maybe slowly).
alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# _svc-stop NAME [SIGNAL]: TERM (or SIGNAL), wait with a deadline, then KILL.
svc_stop() {
	local name=$1 sig=${2:-TERM} pid end
	pid=$(running_pid "$name") || { rm -f "$(pidfile_of "$name")"; return 0; }
	kill -s "$sig" "$pid" 2>/dev/null || true
	end=$(($(date +%s) + STOP_DEADLINE_S))
	while alive "$pid" && [ "$(date +%s)" -lt "$end" ]; do
		sleep 0.1
	done
	if alive "$pid"; then
		kill -s KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$(pidfile_of "$name")"
}

# ---- up -----------------------------------------------------------------------

write_env_file() {
	local tmp="$SBX_DIR/env.sh.tmp.$$"
	{
		echo "# faultline sandbox: source this before using scenarios/env/sandbox.json"
		printf 'export FAULTLINE_SANDBOX_DIR=%q\n' "$SBX_DIR"
		printf 'export FAULTLINE_SANDBOX_HOME=%q\n' "$HOME_DIR"
	} >"$tmp"
	mv "$tmp" "$SBX_DIR/env.sh"
}

# The name of the failing task and its message, from the playbook's log.
playbook_failure() {
	"$PY" - "$1" <<'EOF'
import json, re, sys
task, msg = "?", "failed"
lines = open(sys.argv[1], errors="replace").read().splitlines()
for i, line in enumerate(lines):
    m = re.match(r"^TASK \[(.*)\]", line)
    if m:
        task = m.group(1)
    if line.startswith("fatal:") or line.startswith("failed:"):
        j = line.find("=> ")
        if j >= 0:
            try:
                d = json.loads(line[j + 3:])
                msg = d.get("msg") or d.get("stderr") or msg
                if isinstance(msg, list):
                    msg = " ".join(map(str, msg))
            except ValueError:
                msg = line[j + 3:]
        break
msg = " ".join(str(msg).split())
print("%s: %s" % (task, msg[:300]))
EOF
}

cmd_up() {
	local mode=sync t0 t1 log reason
	case "${1:-}" in
	--sync | "") mode=sync ;;
	--async) mode=async ;;
	*) usage ;;
	esac
	[ $# -le 1 ] || usage
	need_root
	t0=$(now_ms)
	install_packages
	check_programs
	check_state_dir
	check_ports
	mkdir -p "$SBX_DIR/log"
	chmod 755 "$SBX_DIR"
	touch "$SBX_DIR/$MARKER"
	log="$SBX_DIR/log/playbook.log"
	if ! ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_LOCALHOST_WARNING=0 \
		ANSIBLE_INVENTORY_UNPARSED_WARNING=0 ANSIBLE_PYTHON_INTERPRETER="$PY" \
		ansible-playbook -c local -i localhost, "$HOME_DIR/playbook.yml" \
		-e "sandbox_dir=$SBX_DIR" -e "sandbox_home=$HOME_DIR" -e "sandbox_sync=$([ $mode = sync ] && echo true || echo false)" \
		>"$log" 2>&1; then
		reason=$(playbook_failure "$log" 2>/dev/null || echo "playbook failed")
		cp "$log" "/tmp/faultline-sandbox-playbook.log" 2>/dev/null || true
		if [ -n "${FAULTLINE_SANDBOX_KEEP:-}" ]; then
			die "provision failed at $reason (log: /tmp/faultline-sandbox-playbook.log); partial sandbox kept (FAULTLINE_SANDBOX_KEEP)"
		fi
		teardown >/dev/null 2>&1 || true
		die "provision failed at $reason (log: /tmp/faultline-sandbox-playbook.log); partial sandbox torn down"
	fi
	write_env_file
	t1=$(now_ms)
	echo "sandbox: up ($mode replication) in $(( (t1 - t0) / 1000 )).$(printf '%03d' $(( (t1 - t0) % 1000 ))) s; . $SBX_DIR/env.sh"
}

# ---- down -----------------------------------------------------------------------

# Every pid whose command line mentions the state dir (our daemons and their
# children), plus every pid inside our namespaces.
sandbox_pids() {
	local ns p
	for ns in "${ZONES[@]}"; do
		for p in $(ip netns pids "$ns" 2>/dev/null || true); do
			alive "$p" && echo "$p"
		done
	done
	for p in /proc/[0-9]*; do
		[ -r "$p/cmdline" ] || continue
		if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$SBX_DIR/"; then
			echo "${p#/proc/}"
		fi
	done
}

teardown() {
	local name pids end ns
	# Patroni first and gently: it stops its PostgreSQL cleanly; then the rest.
	for name in app-a app-b patroni-a patroni-b haproxy etcd; do
		svc_stop "$name" TERM
	done
	end=$(($(date +%s) + STOP_DEADLINE_S))
	while :; do
		pids=$(sandbox_pids | sort -u | grep -vx "$$" || true)
		[ -z "$pids" ] && break
		if [ "$(date +%s)" -ge "$end" ]; then
			break
		fi
		# shellcheck disable=SC2086
		kill -s KILL $pids 2>/dev/null || true
		sleep 0.1
	done
	for ns in "${ZONES[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	for ns in "${ZONES[@]}"; do
		ip link del "fl-$ns" 2>/dev/null || true
	done
	ip link del "$BRIDGE" 2>/dev/null || true
	nft delete table inet "$GUARD_TABLE" 2>/dev/null || true
	if [ -e "$SBX_DIR/$MARKER" ]; then
		rm -rf --one-file-system "$SBX_DIR"
	fi
}

# Prints one line per thing left behind; empty output = clean.
leftovers() {
	local ns pids
	for ns in "${ZONES[@]}"; do
		ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$ns" && echo "namespace $ns"
		ip link show "fl-$ns" >/dev/null 2>&1 && echo "link fl-$ns"
	done
	ip link show "$BRIDGE" >/dev/null 2>&1 && echo "bridge $BRIDGE"
	nft list table inet "$GUARD_TABLE" >/dev/null 2>&1 && echo "nft table inet $GUARD_TABLE"
	[ -e "$SBX_DIR" ] && echo "state dir $SBX_DIR"
	pids=$(sandbox_pids | sort -u | grep -vx "$$" | tr '\n' ' ' || true)
	[ -n "${pids// /}" ] && echo "processes $pids"
	return 0
}

cmd_down() {
	local t0 t1 left
	need_root
	t0=$(now_ms)
	teardown
	left=$(leftovers)
	[ -z "$left" ] || die "tear-down left $(echo "$left" | tr '\n' ',' | sed 's/,$//; s/,/, /g')"
	t1=$(now_ms)
	echo "sandbox: down in $(( (t1 - t0) / 1000 )).$(printf '%03d' $(( (t1 - t0) % 1000 ))) s, nothing left"
}

# ---- status and helpers ---------------------------------------------------------

http_status() { # URL -> status code or 000
	"$PY" - "$1" <<'EOF'
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=1).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
EOF
}

cmd_primary() {
	local node addr
	for node in pg-a:10.231.0.11 pg-b:10.231.0.12; do
		addr=${node#*:}
		if [ "$(http_status "http://$addr:18008/primary")" = 200 ]; then
			echo "${node%%:*}"
			return 0
		fi
	done
	die "no primary: neither Patroni node answers 200 on /primary"
}

cmd_status() {
	local bad=0 name st
	for name in etcd patroni-a patroni-b haproxy app-a app-b; do
		if running_pid "$name" >/dev/null; then
			echo "$name: running (pid $(running_pid "$name"))"
		else
			echo "$name: not running"
			bad=1
		fi
	done
	for name in pg-a:10.231.0.11 pg-b:10.231.0.12; do
		st=$(http_status "http://${name#*:}:18008/health")
		echo "${name%%:*}: patroni health $st"
		[ "$st" = 200 ] || bad=1
	done
	st=$(http_status "http://127.0.0.1:18080/health")
	echo "app via haproxy: $st"
	[ "$st" = 200 ] || bad=1
	return $bad
}

backrest() { # runs pgbackrest with the primary's config as postgres
	local primary
	primary=$(cmd_primary)
	setpriv --reuid=postgres --regid=postgres --init-groups \
		pgbackrest --config="$SBX_DIR/pgbackrest-$primary.conf" --stanza=faultline "$@"
}

cmd_backup() {
	local type=${1:-full}
	case "$type" in full | diff | incr) ;; *) usage ;; esac
	need_root
	backrest --type="$type" backup || die "pgbackrest $type backup failed"
}

[ $# -ge 1 ] || usage
sub=$1
shift
case "$sub" in
up) cmd_up "$@" ;;
down) [ $# -eq 0 ] || usage; cmd_down ;;
status) cmd_status ;;
primary) cmd_primary ;;
backup) cmd_backup "$@" ;;
info) backrest info --output=json ;;
_backrest) backrest "$@" ;;
_svc-start) svc_start "$@" ;;
_svc-stop) svc_stop "$@" ;;
_svc-running) running_pid "$1" >/dev/null ;;
*) usage ;;
esac
