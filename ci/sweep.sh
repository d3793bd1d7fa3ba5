#!/usr/bin/env bash
# ci/sweep.sh: removes what a test killed at its ctest TIMEOUT left behind
# (its EXIT trap never ran). ci/test.sh runs it before and after every
# ctest pass; run it by hand after an interrupted ctest. Prints one line per
# thing removed and a total; exits 0 (a thing it cannot remove is said, not
# fatal).
#
# Only what faultline's tests make, recognised by name, and only when the
# test that made it is gone: other suites (another worktree's, a helper's)
# may be running on the same machine.
#   - a test's directories, each with an .owner file "PID START" (the test
#     shell's pid and /proc start time; tests/integration/lib.sh, pg_lib.sh,
#     ssh_lib.sh write it): $TMPDIR/faultline-test_*.*, /tmp/faultline-pg.*
#     (a private PostgreSQL: pg_ctl stop -m immediate, then removed),
#     /tmp/flssh.* (ssh control sockets: removed). A test directory itself
#     is kept (a failed test keeps its files for reading); the programs
#     still using any of these directories (command line, working directory
#     or an open file under it: the demo system, sshd, moto_server, a
#     proxy) are SIGKILLed.
#   - network namespaces fl<PID>-* (ssh_lib.sh's hosts), fltest-<PID>-* and
#     fltest-lat-<PID>-* (the network and latency unit tests) whose PID is
#     gone: the programs in them SIGKILLed, then deleted; veth links
#     fl<PID>o<N> left in this namespace; nftables tables faultline_t_*_<PID>.
#   - /dev/shm/faketime_* and sem.faketime_* of a dead pid (libfaketime's
#     per-process segment and semaphore; a stale one fails a later process
#     with the same pid: 'sem_open: File exists').
#   - $TMPDIR/faultline-stdin-*, faultline-nft-*, faultline-xt-* not written
#     for 10 minutes: what a SIGKILLed harness of an older build left
#     between creating and unlinking them (they can hold a fault's bytes).
set -uo pipefail

tmp=${TMPDIR:-/tmp}
removed=0
said() {
	printf 'sweep: %s\n' "$*" >&2
	removed=$((removed + 1))
}

# alive PID [START]: the process runs (and started at START, when given).
alive() {
	local stat
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
	[ -z "${2:-}" ] && return 0
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	# shellcheck disable=SC2086 # fields after the command name
	set -- "$2" $stat
	[ "${21}" = "$1" ]
}

# owner_gone DIR: DIR has an .owner file whose process is gone.
owner_gone() {
	local pid start
	[ -r "$1/.owner" ] || return 1
	read -r pid start <"$1/.owner" || return 1
	! alive "$pid" "$start"
}

# kill_users DIR...: SIGKILLs every process whose command line, working
# directory or an open file is under one of the DIRs (one pass over /proc).
kill_users() {
	local -a greps=() names=()
	local d pid cmd
	for d in "$@"; do
		greps+=(-e "$d/")
		names+=(-o -lname "$d" -o -lname "$d/*")
	done
	while read -r pid; do
		[ "$pid" != $$ ] || continue
		cmd=$(tr '\0\n\t' '   ' 2>/dev/null <"/proc/$pid/cmdline" | cut -c1-80)
		kill -KILL "$pid" 2>/dev/null && said "killed pid $pid ($cmd): it used a dead test's files"
	done < <({
		grep -laF "${greps[@]}" /proc/[0-9]*/cmdline 2>/dev/null
		find /proc/[0-9]*/cwd /proc/[0-9]*/fd/* -maxdepth 0 \( -false "${names[@]}" \) 2>/dev/null
	} | cut -d/ -f3 | sort -un)
}

sweep_dirs() {
	local d
	local -a dead=()
	for d in "$tmp"/faultline-test_*.* /tmp/faultline-pg.* /tmp/flssh.*; do
		[ -d "$d" ] && owner_gone "$d" && dead+=("$d")
	done
	[ "${#dead[@]}" -gt 0 ] || return 0
	for d in "${dead[@]}"; do
		if [ -f "$d/data/postmaster.pid" ] && [ -x /usr/lib/postgresql/15/bin/pg_ctl ]; then
			runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$d/data" -m immediate \
				-w -t 20 stop >/dev/null 2>&1 && said "stopped PostgreSQL in $d/data"
		fi
	done
	kill_users "${dead[@]}"
	for d in "${dead[@]}"; do
		case $d in
		*/faultline-test_*) rm -f "$d/.owner" ;; # kept for reading; swept once
		*) rm -rf "$d" && said "removed $d" ;;
		esac
	done
}

# pid_of NAME: the pid in a test's namespace, link or table name, or "".
pid_of() {
	local n
	case $1 in
	fltest-lat-*) n=${1#fltest-lat-} ;;
	fltest-*) n=${1#fltest-} ;;
	fl[0-9]*) n=${1#fl} ;;
	faultline_t_*) n=${1##*_} ;;
	*) n= ;;
	esac
	n=${n%%[!0-9]*}
	printf '%s' "$n"
}

sweep_net() {
	local ns pid link table family p
	command -v ip >/dev/null || return 0
	while read -r ns _; do
		[[ $ns =~ ^(fl[0-9]+-|fltest-[0-9]+-|fltest-lat-[0-9]+-) ]] || continue
		pid=$(pid_of "$ns")
		alive "$pid" && continue
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null && said "killed pid $p (in namespace $ns)"
		done
		ip netns del "$ns" 2>/dev/null && said "removed network namespace $ns"
	done < <(ip netns list 2>/dev/null)
	while read -r link; do
		pid=$(pid_of "$link")
		alive "$pid" && continue
		ip link del "$link" 2>/dev/null && said "removed link $link"
	done < <(ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' |
		grep -E '^fl[0-9]+o[0-9]+$')
	command -v nft >/dev/null || return 0
	while read -r _ family table; do
		[[ $table =~ ^faultline_t_[a-z0-9_]*_[0-9]+$ ]] || continue
		pid=$(pid_of "$table")
		alive "$pid" && continue
		nft delete table "$family" "$table" 2>/dev/null && said "removed nftables table $family $table"
	done < <(nft list tables 2>/dev/null)
}

sweep_files() {
	local f pid
	for f in /dev/shm/faketime_* /dev/shm/sem.faketime_*; do
		[ -e "$f" ] || continue
		pid=${f##*_}
		[[ $pid =~ ^[0-9]+$ ]] && ! alive "$pid" || continue
		rm -f "$f" && said "removed $f (pid $pid is gone)"
	done
	while read -r f; do
		rm -f "$f" && said "removed $f (a killed harness's temporary file)"
	done < <(find "$tmp" -maxdepth 1 -type f \( -name 'faultline-stdin-*' -o \
		-name 'faultline-nft-*' -o -name 'faultline-xt-*' \) -mmin +10 2>/dev/null)
}

sweep_dirs
sweep_net
sweep_files
printf 'sweep: %d thing(s) removed\n' "$removed" >&2
exit 0
