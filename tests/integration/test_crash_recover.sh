#!/usr/bin/env bash
# Crash safety: start `faultline run` on a drill that pauses api-1 for
# minutes (SIGSTOP) and flips bytes in api-1.static (a file nothing else
# writes), wait until both faults are journaled as injected, SIGKILL the
# harness, see the damage really is in place, then `faultline recover` must
# undo it exactly: the service runs again and answers, the file is byte for
# byte the original, and the journal has no open row.
. "$(dirname "$0")/lib.sh"

scenario="$T_DRILLS/crash-pause-corrupt.json"
static_sum() { sha256sum "$FAULTLINE_DEMO_DIR/api-1.static" | cut -d' ' -f1; }
journal_count() { # WHERE-clause
	sqlite3 -cmd '.timeout 2000' "$T_DB" "select count(*) from journal where $1" 2>/dev/null || echo -1
}
# Waiting stops early when the harness has already exited (an injection
# error, a bad file): there is nothing to wait for then.
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

# faultline runs as this shell's own child (no `timeout` wrapper) so that
# SIGKILL hits the harness itself and `wait` reaps it; the EXIT trap kills
# it should the test fail before that.
"$FAULTLINE_BIN" run "$scenario" --db "$T_DB" >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
harness=$!
T_BG_PIDS+=("$harness")
t_wait_for 60 "two injected journal rows" both_injected
kill -KILL "$harness"
rc=0
wait "$harness" || rc=$?
[ "$rc" = 137 ] || t_fail "faultline exited $rc before the SIGKILL, not 137"

# The damage is really there.
state=$(ps -o stat= -p "$pid" | tr -d ' ')
[[ $state == T* ]] || t_fail "api-1 pid $pid is not stopped after the crash (state '$state')"
[ "$(static_sum)" != "$orig" ] || t_fail "api-1.static is unchanged: the flip was not injected"
open_rows=$(journal_count "state <> 'reverted'")
[ "$open_rows" = 2 ] || t_fail "$open_rows open journal rows after the crash, wanted 2"

rc=0
timeout 60 "$FAULTLINE_BIN" recover --db "$T_DB" >"$T_DIR/recover.out" 2>&1 || rc=$?
cat "$T_DIR/recover.out" >&2
[ "$rc" = 0 ] || t_fail "faultline recover exited $rc"

state=$(ps -o stat= -p "$pid" | tr -d ' ')
[ -n "$state" ] || t_fail "api-1 pid $pid is gone after recover (it should have been continued)"
[[ $state != T* ]] || t_fail "api-1 pid $pid still stopped after recover (state $state)"
healthy() { [ "$(t_health "$FAULTLINE_DEMO_PORT1")" = 200 ]; }
t_wait_for 10 "api-1 /health after recover" healthy
[ "$(static_sum)" = "$orig" ] || t_fail "api-1.static differs from the original after recover"
open_rows=$(journal_count "state <> 'reverted'")
[ "$open_rows" = 0 ] || t_fail "$open_rows journal rows still open after recover"
# What the revert did is kept on its row (the file injector notes how many
# regions it restored), not thrown away when the row is closed.
outcome=$(sqlite3 -cmd '.timeout 2000' "$T_DB" \
	"select json_extract(revert, '$.outcome') from journal where injector = 'file'")
[[ $outcome == restored* ]] || t_fail "the file revert's outcome was not kept: '$outcome'"

# Recovering a clean journal is a no-op that succeeds.
"$FAULTLINE_BIN" recover --db "$T_DB" >/dev/null 2>&1 || t_fail "a second recover failed"
t_log "pass: both faults reverted after SIGKILL"
