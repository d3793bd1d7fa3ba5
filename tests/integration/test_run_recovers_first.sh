#!/usr/bin/env bash
# `faultline run` reverts what an earlier drill left open BEFORE it checks
# today's files: SIGKILL a drill with two faults in place, then start `run`
# on a scenario with a typo. The run is refused as bad input (exit 2), and
# the earlier faults are reverted anyway: api-1 runs and answers, the file
# is byte for byte the original, the journal has no open row.
. "$(dirname "$0")/lib.sh"

scenario="$T_DRILLS/crash-pause-corrupt.json"
static_sum() { sha256sum "$FAULTLINE_DEMO_DIR/api-1.static" | cut -d' ' -f1; }
journal_count() {
	sqlite3 -cmd '.timeout 2000' "$T_DB" "select count(*) from journal where $1" 2>/dev/null || echo -1
}
both_injected() {
	[ "$(journal_count "state = 'injected'")" = 2 ] && return 0
	kill -0 "$harness" 2>/dev/null || { cat "$T_DIR/run.err" >&2; t_fail "faultline run exited early"; }
	return 1
}

t_env_start
pid=$(cat "$FAULTLINE_DEMO_DIR/api-1.pid")
orig=$(static_sum)
"$FAULTLINE_BIN" run "$scenario" --db "$T_DB" >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
harness=$!
T_BG_PIDS+=("$harness")
t_wait_for 60 "two injected journal rows" both_injected
kill -KILL "$harness"
wait "$harness" || true
[ "$(journal_count "state <> 'reverted'")" = 2 ] || t_fail "the crash did not leave two open rows"

printf '{"name": "typo",, }' >"$T_DIR/typo.json"
rc=0
timeout --kill-after=10 60 "$FAULTLINE_BIN" run "$T_DIR/typo.json" --db "$T_DB" \
	>"$T_DIR/run2.out" 2>"$T_DIR/run2.err" || rc=$?
cat "$T_DIR/run2.err" >&2
[ "$rc" = 2 ] || t_fail "a scenario with a typo: exit $rc, wanted 2"
grep -q "typo.json:1:" "$T_DIR/run2.err" || t_fail "the error does not name typo.json:1:col"
open_rows=$(journal_count "state <> 'reverted'")
[ "$open_rows" = 0 ] || t_fail "$open_rows earlier faults left in place by a run refused as bad input"
state=$(ps -o stat= -p "$pid" | tr -d ' ')
[ -n "$state" ] && [[ $state != T* ]] || t_fail "api-1 ($pid) still stopped (state '$state')"
[ "$(static_sum)" = "$orig" ] || t_fail "api-1.static not restored"
grep -q "recover: reverted journal" "$T_DIR/run2.err" || t_fail "the reverts were not reported"

# A bad file with a fresh database creates nothing.
rc=0
"$FAULTLINE_BIN" run "$T_DIR/typo.json" --db "$T_DIR/fresh.db" >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || t_fail "typo with a fresh database: exit $rc, wanted 2"
[ ! -e "$T_DIR/fresh.db" ] || t_fail "a run refused as bad input created its database"
t_log "pass: leftovers reverted before the files were checked"
