#!/usr/bin/env bash
# Ctrl-C / SIGTERM / SIGHUP (an ssh session dropping): start `faultline run` on the drill that pauses api-1 for
# minutes and flips bytes in api-1.static, wait until both faults are
# journaled as injected, send SIGINT (then, in later rounds, SIGTERM and
# SIGHUP). The
# harness itself must revert everything before it exits 130: the service
# runs and answers, the file is byte for byte the original, the journal has
# no open row, and the run is stored with verdict "aborted".
. "$(dirname "$0")/lib.sh"

scenario="$T_DRILLS/crash-pause-corrupt.json"
static_sum() { sha256sum "$FAULTLINE_DEMO_DIR/api-1.static" | cut -d' ' -f1; }
journal_count() {
	sqlite3 -cmd '.timeout 2000' "$T_DB" "select count(*) from journal where $1" 2>/dev/null || echo -1
}

t_env_start
orig=$(static_sum)

for sig in INT TERM HUP; do
	before=0
	[ -f "$T_DB" ] && before=$(journal_count "1=1")
	"$FAULTLINE_BIN" run "$scenario" --db "$T_DB" >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
	harness=$!
	T_BG_PIDS+=("$harness")
	injected() {
		[ "$(journal_count "state = 'injected'")" = 2 ] && return 0
		kill -0 "$harness" 2>/dev/null || { cat "$T_DIR/run.err" >&2; t_fail "faultline run exited early"; }
		return 1
	}
	t_wait_for 60 "two injected journal rows ($sig round)" injected
	pid=$(cat "$FAULTLINE_DEMO_DIR/api-1.pid")
	kill "-$sig" "$harness"
	rc=0
	# The harness reverts and exits by itself; bound the wait.
	exited() { ! kill -0 "$harness" 2>/dev/null; }
	t_wait_for 30 "faultline to exit after SIG$sig" exited
	wait "$harness" || rc=$?
	[ "$rc" = 130 ] || { cat "$T_DIR/run.err" >&2; t_fail "exit $rc after SIG$sig, wanted 130"; }
	state=$(ps -o stat= -p "$pid" | tr -d ' ')
	if [ -z "$state" ] || [[ $state == T* ]]; then
		t_fail "api-1 ($pid) not running after SIG$sig (state '$state')"
	fi
	[ "$(static_sum)" = "$orig" ] || t_fail "api-1.static not restored after SIG$sig"
	open_rows=$(journal_count "state <> 'reverted'")
	[ "$open_rows" = 0 ] || t_fail "$open_rows journal rows open after SIG$sig"
	[ "$(journal_count "1=1")" = $((before + 2)) ] || t_fail "expected two new journal rows"
	verdict=$(t_run_field verdict)
	[ "$verdict" = aborted ] || t_fail "verdict '$verdict' after SIG$sig, wanted aborted"
	grep -q "interrupted" "$T_DIR/run.out" || t_fail "the table does not say the run was interrupted"
	healthy() { [ "$(t_health "$FAULTLINE_DEMO_PORT1")" = 200 ]; }
	t_wait_for 10 "api-1 /health after SIG$sig" healthy
done

# SIGPIPE: progress goes to a reader that quits after the first line
# (`faultline run ... 2>&1 | head -n 1`). The next line hits a closed pipe;
# the harness must go on (faults in place, journal open) until a SIGINT
# stops it the normal way.
before=$(journal_count "1=1")
"$FAULTLINE_BIN" run "$scenario" --db "$T_DB" >"$T_DIR/run.out" 2> >(head -n 1 >/dev/null) &
harness=$!
T_BG_PIDS+=("$harness")
t_wait_for 60 "two injected journal rows (SIGPIPE round)" injected
kill -INT "$harness"
t_wait_for 30 "faultline to exit after SIGINT (SIGPIPE round)" exited
rc=0
wait "$harness" || rc=$?
[ "$rc" = 130 ] || t_fail "exit $rc after a closed stderr pipe and SIGINT, wanted 130"
[ "$(static_sum)" = "$orig" ] || t_fail "api-1.static not restored (SIGPIPE round)"
open_rows=$(journal_count "state <> 'reverted'")
[ "$open_rows" = 0 ] || t_fail "$open_rows journal rows open (SIGPIPE round)"
[ "$(journal_count "1=1")" = $((before + 2)) ] || t_fail "expected two new journal rows (SIGPIPE round)"
t_log "pass: SIGINT, SIGTERM and SIGHUP revert before exit 130; SIGPIPE does not kill the harness"
