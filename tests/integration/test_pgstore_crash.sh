#!/usr/bin/env bash
# A shared PostgreSQL store, a runner on another host that vanishes: the
# crash drill (SIGSTOP api-1, flip bytes in api-1.static) runs with
# --db postgresql://… in its own UTS namespace as host "runner-b-$$". While
# it lives, `faultline recover` here (another host name) must leave its
# faults alone: its owner lease is fresh. It is SIGKILLed mid-drill; once
# its lease has run out (FAULTLINE_PG_LEASE_S=2, bounded wait), recover from
# this host reverts both faults exactly and closes its run as aborted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg_lib.sh"

command -v unshare >/dev/null || { t_log "skip: unshare missing"; exit 77; }
pg_start
export FAULTLINE_PG_LEASE_S=2
scenario="$T_DRILLS/crash-pause-corrupt.json"
other_host="runner-b-$$"
static_sum() { sha256sum "$FAULTLINE_DEMO_DIR/api-1.static" | cut -d' ' -f1; }
journal_count() { pg_sql "select count(*) from journal where $1" 2>/dev/null || echo -1; }
both_injected() {
	[ "$(journal_count "state = 'injected'")" = 2 ] && return 0
	if ! kill -0 "$harness" 2>/dev/null; then
		cat "$T_DIR/run.out" "$T_DIR/run.err" >&2
		t_fail "faultline run exited before both faults were injected"
	fi
	return 1
}

t_env_start
pid=$(cat "$FAULTLINE_DEMO_DIR/api-1.pid")
orig=$(static_sum)

# exec keeps the harness the pid we kill: unshare, then hostname, then faultline.
# shellcheck disable=SC2016  # the bash -c script takes "$1".."$4"
unshare --uts -- bash -c 'hostname "$1" && exec "$2" run "$3" --db "$4"' _ \
	"$other_host" "$FAULTLINE_BIN" "$scenario" "$PG_URL" >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
harness=$!
T_BG_PIDS+=("$harness")
t_wait_for 60 "two injected journal rows" both_injected
[ "$(pg_sql "select count(distinct owner_host) from journal where owner_host = '$other_host'")" = 1 ] ||
	t_fail "the journal rows do not name the runner's host $other_host"

# Alive on another host: its lease is renewed by its heartbeat. Wait past
# two lease lengths so a missing heartbeat would show.
sleep_until=$((SECONDS + 5))
waited() { [ "$SECONDS" -ge "$sleep_until" ]; }
t_wait_for 10 "five seconds of a live drill" waited
rc=0
timeout 60 "$FAULTLINE_BIN" recover --db "$PG_URL" >"$T_DIR/recover1.out" 2>&1 || rc=$?
cat "$T_DIR/recover1.out" >&2
[ "$rc" = 0 ] || t_fail "recover with a live drill on another host exited $rc"
grep -q "still running (pid [0-9]* on host '$other_host': its lease is fresh)" "$T_DIR/recover1.out" ||
	t_fail "recover did not say the drill on $other_host is still running by its lease"
[ "$(journal_count "state = 'injected'")" = 2 ] || t_fail "recover touched a live drill's journal rows"
kill -0 "$harness" 2>/dev/null || t_fail "the drill died while recover ran"

# The host vanishes (the runner is SIGKILLed: no revert, no goodbye).
kill -KILL "$harness"
rc=0
wait "$harness" || rc=$?
[ "$rc" = 137 ] || t_fail "faultline exited $rc before the SIGKILL, not 137"
state=$(ps -o stat= -p "$pid" | tr -d ' ')
[[ $state == T* ]] || t_fail "api-1 is not stopped after the crash (state '$state')"
expired() { [ "$(pg_sql "select count(*) from faultline_owners where host = '$other_host' and lease_until < now()")" = 1 ]; }
t_wait_for 10 "the dead runner's lease to run out" expired

rc=0
timeout 60 "$FAULTLINE_BIN" recover --db "$PG_URL" >"$T_DIR/recover2.out" 2>&1 || rc=$?
cat "$T_DIR/recover2.out" >&2
[ "$rc" = 0 ] || t_fail "recover after the lease ran out exited $rc"
state=$(ps -o stat= -p "$pid" | tr -d ' ')
[[ -n $state && $state != T* ]] || t_fail "api-1 not running after recover (state '$state')"
[ "$(static_sum)" = "$orig" ] || t_fail "api-1.static differs from the original after recover"
[ "$(journal_count "state <> 'reverted'")" = 0 ] || t_fail "journal rows still open after recover"
verdict=$("$FAULTLINE_BIN" runs --json --all --db "$PG_URL" 2>/dev/null |
	python3 -c 'import json,sys; print(",".join(r["verdict"] for r in json.load(sys.stdin)))' || true)
[ "$(pg_sql "select verdict from runs")" = aborted ] ||
	t_fail "the dead runner's run is not closed as aborted (runs: $verdict)"

# A whole drill into the shared store ends cleanly (its heartbeat stopped
# with it) and another runner's `report` reads it.
rc=0
timeout --kill-after=10 "$T_RUN_CAP_S" "$FAULTLINE_BIN" run "$T_DRILLS/concurrent-api-1.json" \
	--db "$PG_URL" >"$T_DIR/run2.out" 2>"$T_DIR/run2.err" || rc=$?
[ "$rc" = 0 ] || t_fail "a drill into PostgreSQL exited $rc: $(tail -n 5 "$T_DIR/run2.err")"
[ "$(pg_sql "select verdict from runs where scenario = 'concurrent-api-1'")" = pass ] ||
	t_fail "the drill's run is not recorded as pass"
FAULTLINE_DB=$PG_URL "$FAULTLINE_BIN" report --format markdown -o - >"$T_DIR/report.md" ||
	t_fail "report from FAULTLINE_DB=postgresql://... failed"
grep -q concurrent-api-1 "$T_DIR/report.md" || t_fail "the report does not show the drill"
t_log "pass: a vanished host's drill was left alone while leased, then reverted from another host"
