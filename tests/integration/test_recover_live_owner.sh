#!/usr/bin/env bash
# Two drills may share one database. `faultline recover` (and the recover
# that every `faultline run` does first) must leave the faults of a drill
# that is still running alone — reverting them would silently end someone
# else's drill and corrupt its measurement. Once that drill's harness is
# gone (SIGKILL), recover reverts its faults and closes its run as aborted.
. "$(dirname "$0")/lib.sh"

scenario="$T_DRILLS/crash-pause-corrupt.json"
static_sum() { sha256sum "$FAULTLINE_DEMO_DIR/api-1.static" | cut -d' ' -f1; }
journal_count() {
	sqlite3 -cmd '.timeout 2000' "$T_DB" "select count(*) from journal where $1" 2>/dev/null || echo -1
}

t_env_start
pid=$(cat "$FAULTLINE_DEMO_DIR/api-1.pid")
orig=$(static_sum)
"$FAULTLINE_BIN" run "$scenario" --db "$T_DB" >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
harness=$!
T_BG_PIDS+=("$harness")
injected() {
	[ "$(journal_count "state = 'injected'")" = 2 ] && return 0
	kill -0 "$harness" 2>/dev/null || { cat "$T_DIR/run.err" >&2; t_fail "faultline run exited early"; }
	return 1
}
t_wait_for 60 "two injected journal rows" injected

# The drill is alive: recover must not touch its faults.
rc=0
timeout 60 "$FAULTLINE_BIN" recover --db "$T_DB" >"$T_DIR/recover1.out" 2>&1 || rc=$?
cat "$T_DIR/recover1.out" >&2
[ "$rc" = 0 ] || t_fail "recover with a live drill exited $rc"
grep -q "still running" "$T_DIR/recover1.out" || t_fail "recover did not say the drill is still running"
state=$(ps -o stat= -p "$pid" | tr -d ' ')
[[ $state == T* ]] || t_fail "recover resumed api-1 under a running drill (state '$state')"
[ "$(static_sum)" != "$orig" ] || t_fail "recover restored the file under a running drill"
[ "$(journal_count "state = 'injected'")" = 2 ] || t_fail "recover closed a live drill's journal rows"
kill -0 "$harness" 2>/dev/null || t_fail "the drill died while recover ran"

# The harness dies: now recover reverts and closes the run.
kill -KILL "$harness"
wait "$harness" 2>/dev/null || true
rc=0
timeout 60 "$FAULTLINE_BIN" recover --db "$T_DB" >"$T_DIR/recover2.out" 2>&1 || rc=$?
cat "$T_DIR/recover2.out" >&2
[ "$rc" = 0 ] || t_fail "recover after the SIGKILL exited $rc"
state=$(ps -o stat= -p "$pid" | tr -d ' ')
[[ $state != T* ]] || t_fail "api-1 still stopped after recover"
[ "$(static_sum)" = "$orig" ] || t_fail "api-1.static not restored"
[ "$(journal_count "state <> 'reverted'")" = 0 ] || t_fail "journal rows still open"
[ "$(t_run_field verdict)" = aborted ] || t_fail "the killed drill's run is '$(t_run_field verdict)', wanted aborted"
t_run_field failures | grep -q "harness died" || t_fail "the aborted run does not say why"
t_log "pass: a live drill's faults are left alone; a dead one's are reverted and its run closed"
