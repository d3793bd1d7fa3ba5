#!/usr/bin/env bash
# drill.sh: the sandbox drills' own steps — what scenarios/sandbox-*.json
# run as prepare actions, exec faults, recovery actions and validation
# checks. It owns resolving the current leader at run time (the leader can be
# either node), the node-level faults (crash a node, kill its PostgreSQL,
# kill its Patroni), the destructive SQL change and its point-in-time
# restore with pgBackRest, table checksums, and bounded waits on the
# cluster's shape. It does not own the sandbox itself (sandbox.sh and
# playbook.yml build, converge and tear it down).
#
# usage: drill.sh replication sync|async     set Patroni's synchronous_mode, wait for it
#        drill.sh leader NODE                make NODE (pg-a|pg-b) the leader (switchover)
#        drill.sh healthy [LEADER] [MODE]    0 when a leader and a streaming replica run
#        drill.sh replication-ok sync|async  the drills' steady-state probe (one line when not)
#        drill.sh crash-leader | revert-crash          SIGKILL the leader's Patroni + PostgreSQL
#        drill.sh kill-leader-pg                        SIGKILL the leader's PostgreSQL only
#        drill.sh kill-leader-patroni | revert-patroni  SIGKILL the leader's Patroni only
#        drill.sh same-leader | new-leader   the leader now is / is not the one faulted
#        drill.sh kill-svc NAME              SIGKILL app-a|app-b|... (its pidfile's pid)
#        drill.sh start NAME                 start patroni-a|b or app-a|b if it is down
#        drill.sh wait-replica NODE|faulted|other [S]   until NODE streams from the leader
#        drill.sh seed | checksum save|check            the drill_accounts reference table
#        drill.sh corrupt | revert-corrupt   restore point, then DELETE/UPDATE drill_accounts
#        drill.sh pitr                       pgBackRest restore to the restore point
#        drill.sh rows TAG                   seqs and commit order of faultline_writes rows
#
# Every wait has a deadline; every error is one line on stderr, exit 1 (the
# scenario's step fails) — or 3 for a sandbox that is not there. State for
# one drill lives in $FAULTLINE_SANDBOX_DIR/drill/ (torn down with the
# sandbox).
set -euo pipefail

HOME_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SBX=$HOME_DIR/sandbox.sh
SBX_DIR=${FAULTLINE_SANDBOX_DIR:-/var/lib/faultline-sandbox}
STATE=$SBX_DIR/drill
PY=/usr/bin/python3
PG_BIN=/usr/lib/postgresql/15/bin
REST_PORT=18008
RW="host=127.0.0.1 port=15000 dbname=postgres user=postgres connect_timeout=2"
# The restored copy starts on a port nothing routes to until recovery ends.
PITR_PORT=15499
# Replay lag a healthy replica may have (Patroni's maximum_lag_on_failover).
MAX_LAG_BYTES=1048576

die() { echo "drill: $*" >&2; exit 1; }
[ -e "$SBX_DIR/.faultline-sandbox" ] || { echo "drill: no sandbox at $SBX_DIR (run sandbox.sh up)" >&2; exit 3; }
mkdir -p "$STATE"

addr_of() { case "$1" in pg-a) echo 10.231.0.11 ;; pg-b) echo 10.231.0.12 ;; *) die "unknown node '$1'" ;; esac; }
zone_of() { case "$1" in pg-a) echo az-a ;; pg-b) echo az-b ;; *) die "unknown node '$1'" ;; esac; }
other_of() { case "$1" in pg-a) echo pg-b ;; pg-b) echo pg-a ;; *) die "unknown node '$1'" ;; esac; }
svc_of() { echo "patroni-${1#pg-}"; }
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
psql_rw() { psql "$RW" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# The member list as "name role state" lines, from whichever node answers.
members() {
	local n
	for n in 10.231.0.11 10.231.0.12; do
		if curl -fsS --max-time 1 "http://$n:$REST_PORT/cluster" 2>/dev/null |
			"$PY" -c 'import json,sys
for m in json.load(sys.stdin)["members"]:
    print(m["name"], m["role"], m.get("state", "?"))' 2>/dev/null; then
			return 0
		fi
	done
	return 1
}

# The node whose Patroni answers 200 on /primary (that is what HAProxy routes to).
leader() {
	local n
	for n in pg-a pg-b; do
		if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://$(addr_of $n):$REST_PORT/primary")" = 200 ]; then
			echo "$n"
			return 0
		fi
	done
	return 1
}

# until_ok SECONDS WHAT COMMAND...: polls every 100 ms; fails naming WHAT.
until_ok() {
	local limit=$1 what=$2 end
	shift 2
	end=$(($(date +%s%3N) + limit * 1000))
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s%3N)" -lt "$end" ] || die "timed out after ${limit} s waiting for $what"
		sleep 0.1
	done
}

# A whole cluster: one leader (LEADER when given), one replica streaming
# from it within MAX_LAG_BYTES, and in sync mode Patroni's /sync key naming
# that replica (the member list's roles come from it) — in synchronous mode
# Patroni promotes only the node that key names, so a cluster whose key is
# still empty after a switchover cannot fail over. The awk verdict must be
# checked explicitly: this function runs in `until` conditions, where
# errexit is off (that is how a not-yet-synchronous cluster once passed).
healthy() { # [LEADER] [sync|async]
	local m
	m=$(members) || return 1
	echo "$m" | awk -v want="${1:-}" -v mode="${2:-}" '
		$2 == "leader" && $3 == "running" { l++; name = $1 }
		($2 == "replica" || $2 == "sync_standby") && ($3 == "running" || $3 == "streaming") { r++ }
		$2 == "sync_standby" { s++ }
		END { ok = (l == 1 && r == 1 && (want == "" || want == name) &&
		            (mode != "sync" || s == 1) && (mode != "async" || s == 0)); exit !ok }' || return 1
	[ -z "${1:-}" ] || [ "$(leader)" = "$1" ] || return 1
	replica_ok "$(other_of "$(leader)")" "${2:-}"
}

faulted() { [ -r "$STATE/faulted" ] || die "no faulted node recorded (no fault injected)"; cat "$STATE/faulted"; }
record_faulted() { leader >"$STATE/faulted.tmp" || die "no leader to fault"; mv "$STATE/faulted.tmp" "$STATE/faulted"; cat "$STATE/faulted"; }

patroni_pid() { "$SBX" _svc-running "$(svc_of "$1")" && head -n1 "$SBX_DIR/run/$(svc_of "$1").pid"; }
postmaster_pid() { # the live postmaster of NODE, from its postmaster.pid
	local pid
	pid=$(head -n1 "$SBX_DIR/$1/data/postmaster.pid" 2>/dev/null | tr -dc 0-9)
	[ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$SBX_DIR/$1/data" && echo "$pid"
}

# Starts a sandbox service with the playbook's own command line (a
# supervisor's restart, without a whole converge).
start_svc() {
	local name=$1 node zone addr
	case "$name" in
	patroni-a | patroni-b)
		node=pg-${name#patroni-}
		"$SBX" _svc-start "$name" "$(zone_of "$node")" postgres -- patroni "$SBX_DIR/patroni-$node.yml" >/dev/null ;;
	app-a | app-b)
		node=pg-${name#app-}
		zone=$(zone_of "$node")
		addr=$(addr_of "$node")
		"$SBX" _svc-start "$name" "$zone" nobody -- /usr/bin/python3 "$SBX_DIR/app.py" --listen "$addr" --port 18081 \
			--dsn "host=10.231.0.1 port=15000 dbname=postgres user=postgres" >/dev/null
		until_ok 30 "$name healthy" curl -fsS --max-time 1 "http://$addr:18081/health" ;;
	*) die "unknown service '$name'" ;;
	esac
}

# A drill's first step: forget the last drill's records, set the replication
# mode, optionally move the leader, and wait for a whole cluster.
cmd_prepare() {
	local mode=$1 want=${2:-}
	rm -f "$STATE/faulted" "$STATE/restore-point" "$STATE/restore-point.at" "$STATE/corrupted.at"
	until_ok 60 "a healthy cluster" healthy
	cmd_replication "$mode"
	[ -z "$want" ] || cmd_leader "$want"
	# After a switchover the sync key names the new replica a loop or two
	# later; until then Patroni would promote nobody (only the node in the
	# sync key may be promoted in synchronous mode), so wait for it.
	until_ok 60 "the cluster settled in $mode replication" healthy "$want" "$mode"
}

cmd_kill_svc() { # SIGKILL one supervised sandbox service (app-a, ...)
	local pid
	pid=$("$SBX" _svc-running "$1" && head -n1 "$SBX_DIR/run/$1.pid") || die "$1 is not running"
	kill -KILL "$pid"
}

cmd_replication() {
	local mode=$1 v
	case "$mode" in sync) v=true ;; async) v=false ;; *) die "replication: sync or async" ;; esac
	curl -fsS --max-time 2 -X PATCH -H 'Content-Type: application/json' \
		-d "{\"synchronous_mode\": $v}" "http://$(addr_of "$(leader || echo pg-a)"):$REST_PORT/config" >/dev/null ||
		die "could not set synchronous_mode=$v through Patroni's REST API"
	until_ok 30 "the cluster in $mode replication" healthy "" "$mode"
}

cmd_leader() {
	local want=$1 cur
	addr_of "$want" >/dev/null
	until_ok 60 "a healthy cluster before the switchover" healthy
	cur=$(leader) || die "no leader"
	# Patroni refuses a switchover (412) until its sync key names the
	# candidate, which lags the member list by a loop: retry for a while.
	local out code end=$(($(date +%s) + 30))
	while [ "$cur" != "$want" ]; do
		out=$(curl -sS --max-time 10 -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' \
			-d "{\"leader\": \"$cur\", \"candidate\": \"$want\"}" "http://$(addr_of "$cur"):$REST_PORT/switchover" 2>&1) || true
		code=${out##*$'\n'}
		[ "$code" = 200 ] && break
		[ "$(date +%s)" -lt "$end" ] ||
			die "switchover $cur -> $want refused by Patroni ($code): $(echo "${out%$'\n'*}" | head -n1)"
		sleep 0.5
		cur=$(leader) || die "no leader"
	done
	until_ok 60 "$want leading with a streaming replica" healthy "$want"
}

cmd_crash_leader() { # SIGKILL Patroni and PostgreSQL of the leader in one kill(1)
	local node pids
	node=$(record_faulted)
	pids="$(patroni_pid "$node" || true) $(postmaster_pid "$node" || true)"
	[ -n "${pids// /}" ] || die "$node: neither Patroni nor PostgreSQL is running"
	# shellcheck disable=SC2086
	kill -KILL $pids
}

cmd_kill_leader_pg() {
	local node pid
	node=$(record_faulted)
	pid=$(postmaster_pid "$node") || die "$node: PostgreSQL is not running"
	kill -KILL "$pid"
}

cmd_kill_leader_patroni() {
	local node pid
	node=$(record_faulted)
	pid=$(patroni_pid "$node") || die "$node: Patroni is not running"
	kill -KILL "$pid"
}

# Revert of a node fault: the node's Patroni runs again (it starts or
# rejoins its PostgreSQL itself). Idempotent; a no-op without a record.
cmd_revert_node() {
	[ -r "$STATE/faulted" ] || return 0
	start_svc "$(svc_of "$(cat "$STATE/faulted")")"
}

cmd_wait_replica() {
	local node=$1 limit=${2:-60}
	[ "$node" = faulted ] && node=$(faulted)
	[ "$node" = other ] && node=$(other_of "$(faulted)")
	until_ok "$limit" "$node to stream from the leader as a replica" replica_ok "$node"
}
# NODE streams from the leader: the leader's pg_stat_replication says so
# (Patroni's member list says "replica, running" for a node still waiting
# for pg_rewind, so it is not enough).
# In sync mode the leader's PostgreSQL must also treat it as synchronous; in
# any mode its replay may trail by at most MAX_LAG_BYTES.
replica_ok() { # NODE [sync|async]
	local sync=""
	[ "${2:-}" = sync ] && sync="AND sync_state = 'sync'"
	[ "$(psql_rw -c "SELECT count(*) FROM pg_stat_replication WHERE application_name = '$1' AND state = 'streaming' $sync AND coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0) <= $MAX_LAG_BYTES" 2>/dev/null)" = 1 ]
}

# The steady-state check of every sandbox drill (a command probe): exit 0
# only for a whole cluster in MODE replication; else one line saying what
# is missing, so a degraded cluster is refused before anything is injected.
cmd_replication_ok() {
	local mode=$1 m
	case "$mode" in sync | async) ;; *) die "replication-ok: sync or async" ;; esac
	healthy "" "$mode" && return 0
	m=$(members 2>/dev/null | tr '\n' ';') || m="no member list from Patroni"
	die "cluster not healthy in $mode replication (want a leader and a streaming replica within $MAX_LAG_BYTES bytes$([ "$mode" = sync ] && echo ", named in Patroni's sync key")): ${m:-no members}"
}

# ---- data: reference table, checksums, corruption, point-in-time restore ----

cmd_seed() {
	psql_rw <<'EOF'
SET client_min_messages = warning;
DROP TABLE IF EXISTS drill_accounts;
CREATE TABLE drill_accounts (id int PRIMARY KEY, owner text NOT NULL, balance bigint NOT NULL);
INSERT INTO drill_accounts SELECT i, 'owner-' || i, (i * 7919) % 100000 FROM generate_series(1, 2000) i;
EOF
}

checksum() {
	psql_rw -c "SELECT count(*) || ':' || md5(coalesce(string_agg(id || ',' || owner || ',' || balance, ';' ORDER BY id), '')) FROM drill_accounts"
}

cmd_checksum() {
	local sum
	case "$1" in
	save)
		sum=$(checksum) || die "checksum of drill_accounts failed"
		echo "$sum" >"$STATE/accounts.sum" ;;
	check)
		[ -r "$STATE/accounts.sum" ] || die "no saved checksum (run checksum save first)"
		sum=$(checksum 2>/dev/null) || die "drill_accounts unreadable"
		[ "$sum" = "$(cat "$STATE/accounts.sum")" ] || die "drill_accounts checksum $sum, saved $(cat "$STATE/accounts.sum")" ;;
	*) die "checksum: save or check" ;;
	esac
}

# A named restore point, then the destructive change in its own statements.
# The restore point's name, LSN and time are kept for the restore and for
# the tests (which check that exactly the writes before it survived).
cmd_corrupt() {
	local name out
	name="before-corrupt-$(date +%s%N)"
	out=$(psql_rw -F ' ' -c "SELECT pg_create_restore_point('$name'), clock_timestamp()") ||
		die "could not create the restore point"
	echo "$name" >"$STATE/restore-point"
	echo "$out" >"$STATE/restore-point.at"
	record_faulted >/dev/null
	psql_rw -c "DELETE FROM drill_accounts WHERE id % 3 = 0" -c "UPDATE drill_accounts SET balance = 0 WHERE id % 5 = 0" ||
		die "the destructive change failed"
	# When the damage was done (ms since the epoch): the tests bound the RPO
	# by the time between the restore point and this moment.
	date +%s%3N >"$STATE/corrupted.at"
}

cmd_revert_corrupt() { # still corrupted (drill aborted before its restore): restore
	[ -r "$STATE/restore-point" ] || return 0
	cmd_checksum check 2>/dev/null && return 0
	cmd_pitr
}

leader_is() { [ "$(leader)" = "$1" ]; }
pg_stopped() { ! postmaster_pid "$1" >/dev/null; }

stop_all_patroni() {
	"$SBX" _svc-stop patroni-a & local a=$!
	"$SBX" _svc-stop patroni-b & local b=$!
	wait "$a" "$b" || die "could not stop Patroni"
	local n
	for n in pg-a pg-b; do
		until_ok 30 "$n's PostgreSQL to stop" pg_stopped "$n"
	done
}

# pgBackRest point-in-time restore of the whole cluster to the restore point:
# archive the WAL holding it, stop the cluster, forget it in the DCS, restore
# the old primary's data dir, let recovery reach the point and promote on a
# private port (pg_ctl -w returns before recovery is done: poll
# pg_is_in_recovery() with a deadline and watch the log for FATAL), clear the
# recovery settings, stop, then hand the node back to Patroni, which takes
# the leader key with the restored data; the other node is re-cloned from it.
cmd_pitr() {
	local rp node other zone log i rec
	rp=$(cat "$STATE/restore-point" 2>/dev/null) || die "no restore point recorded"
	node=$(faulted)
	other=$(other_of "$node")
	zone=$(zone_of "$node")
	log=$SBX_DIR/log/pitr-$node.log
	# The restore point's segment must be in the repository: switch WAL after
	# a commit and wait for it to be archived (pgbackrest check does both).
	"$SBX" _backrest check >/dev/null 2>&1 || die "WAL archive check failed on the primary before the restore"
	stop_all_patroni
	printf 'faultline\nYes I am aware\n' | patronictl -c "$SBX_DIR/patroni-$node.yml" remove faultline >/dev/null 2>&1 ||
		die "patronictl remove faultline failed"
	as_pg pgbackrest --config="$SBX_DIR/pgbackrest-$node.conf" --stanza=faultline --delta \
		--type=name --target="$rp" --target-action=promote restore >/dev/null ||
		die "pgbackrest restore to '$rp' failed"
	: >"$log"
	chown postgres "$log"
	ip netns exec "$zone" setpriv --reuid=postgres --regid=postgres --init-groups \
		"$PG_BIN/pg_ctl" -D "$SBX_DIR/$node/data" -w -t 60 -l "$log" \
		-o "-p $PITR_PORT -c listen_addresses=''" start >/dev/null ||
		die "restored PostgreSQL did not start (log: $log)"
	for ((i = 0; i < 600; i++)); do
		grep -q FATAL "$log" && die "recovery failed: $(grep -m1 FATAL "$log")"
		rec=$(as_pg psql -h "$SBX_DIR/$node/run" -p $PITR_PORT -X -At -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null || true)
		[ "$rec" = f ] && break
		sleep 0.1
	done
	[ "$rec" = f ] || die "restored PostgreSQL still in recovery after 60 s (log: $log)"
	as_pg psql -h "$SBX_DIR/$node/run" -p $PITR_PORT -X -q -d postgres \
		-c 'ALTER SYSTEM RESET recovery_target_name' -c 'ALTER SYSTEM RESET recovery_target_action' \
		-c 'ALTER SYSTEM RESET restore_command' >/dev/null || die "could not clear the recovery settings"
	ip netns exec "$zone" setpriv --reuid=postgres --regid=postgres --init-groups \
		"$PG_BIN/pg_ctl" -D "$SBX_DIR/$node/data" -w -t 60 -m fast stop >/dev/null || die "restored PostgreSQL did not stop"
	rm -rf --one-file-system "${SBX_DIR:?}/$other/data"
	start_svc "$(svc_of "$node")"
	until_ok 60 "$node to lead with the restored data" leader_is "$node"
	start_svc "$(svc_of "$other")"
}

# Every faultline_writes row of TAG as "seq unix_ms", seq order (tests).
cmd_rows() {
	psql_rw -F ' ' -c "SELECT seq, (extract(epoch FROM written_at) * 1000)::bigint FROM faultline_writes WHERE run_tag = '$1' ORDER BY seq"
}

[ $# -ge 1 ] || die "usage: drill.sh COMMAND (see the header)"
sub=$1
shift
case "$sub" in
prepare) cmd_prepare "${1:-}" "${2:-}" ;;
replication) cmd_replication "${1:-}" ;;
kill-svc) cmd_kill_svc "${1:-}" ;;
leader) cmd_leader "${1:-}" ;;
healthy) healthy "${1:-}" "${2:-}" ;;
replication-ok) cmd_replication_ok "${1:-}" ;;
_leader) leader ;;
crash-leader) cmd_crash_leader ;;
kill-leader-pg) cmd_kill_leader_pg ;;
kill-leader-patroni) cmd_kill_leader_patroni ;;
revert-crash | revert-patroni) cmd_revert_node ;;
revert-pg) [ -r "$STATE/faulted" ] && until_ok 60 "$(faulted)'s PostgreSQL back" postmaster_pid "$(faulted)" ;;
same-leader) [ "$(leader)" = "$(faulted)" ] || die "leader is $(leader || echo none), was $(faulted): an unexpected failover" ;;
new-leader) l=$(leader) || die "no leader"; [ "$l" != "$(faulted)" ] || die "$l still leads: no failover" ;;
start) start_svc "${1:-}" ;;
wait-replica) cmd_wait_replica "${1:-faulted}" "${2:-60}" ;;
seed) cmd_seed ;;
checksum) cmd_checksum "${1:-}" ;;
corrupt) cmd_corrupt ;;
revert-corrupt) cmd_revert_corrupt ;;
pitr) cmd_pitr ;;
rows) cmd_rows "${1:?tag}" ;;
*) die "unknown command '$sub'" ;;
esac
