#!/usr/bin/env bash
# A SIGKILL during an inject must not race `recover` (docs/trust.md, crash
# safety): what the inject started lives on after the harness dies, and
# recover waits for it (bounded) before it reverts.
#
# An exec fault whose inject takes 1 s (sh -c 'sleep 1; touch late'):
# faultline run is SIGKILLed while that child runs, `faultline recover`
# runs at once; when it returns the child must have ended and the file
# the inject creates must not be there. Before the fix recover reverted (rm -f late) and marked the row
# reverted while the orphaned sh still ran; it then created the file: the
# fault in place, the journal saying reverted.
# Run by hand: FAULTLINE_BIN=build/faultline FAULTLINE_SOURCE_DIR=. bash tests/integration/test_orphan_inject.sh
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

late="$T_DIR/late"
printf '{ "name": "orphan", "production": false, "targets": {} }\n' >"$T_DIR/env.json"
cat >"$T_DIR/drill.json" <<JSON
{ "name": "orphan-inject", "environment": "env.json", "targets": { "rto": "10m" },
  "probes": [ { "name": "up", "type": "command", "argv": ["true"],
                "interval": "50ms", "timeout": "2s", "availability": true } ],
  "faults": [ { "name": "late", "injector": "exec",
                "inject": ["sh", "-c", "sleep 1; touch $late"], "revert": ["rm", "-f", "$late"] } ],
  "stability_window": "100ms", "steady_state": "200ms", "timeout": "1m" }
JSON
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run.out" 2>&1 &
harness=$!
T_BG_PIDS+=("$harness")
inject_running() { pgrep -f "sleep 1; touch $late" >/dev/null; }
t_wait_for 30 "the inject's child" inject_running
kill -KILL "$harness"
wait "$harness" 2>/dev/null || true
"$FAULTLINE_BIN" recover --db "$T_DB" >&2 || t_fail "recover exited $?"
if inject_running; then
	t_log "FAIL: recover returned while the inject's child still ran"
	deadline=$((SECONDS + 3))
	while inject_running && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
	[ ! -e "$late" ] || t_fail "the inject's orphaned child created $late after recover had reverted the fault"
	t_fail "recover returned while the inject's child still ran"
fi
[ ! -e "$late" ] || t_fail "the inject's orphaned child created $late after recover had reverted the fault (journal: $(sqlite3 "$T_DB" 'select state from journal'))"
t_log "pass: nothing left after recover"
