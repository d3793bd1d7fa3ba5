#!/usr/bin/env bash
# Reproduces the open finding "a SIGKILL during an inject races recover"
# (docs/trust.md): not a ctest test (the glob takes test_*.sh) until it is
# fixed; then rename it test_orphan_inject.sh. Exits 1 while the bug is
# there, 0 once recover waits for the dead harness's children.
#
# An exec fault whose inject takes 1 s (sh -c 'sleep 1; touch late'):
# faultline run is SIGKILLed while that child runs, `faultline recover`
# runs at once, and once the orphaned child has ended (bounded: 3 s) the
# file the inject creates must not be
# there. Today recover reverts (rm -f late) and marks the row reverted
# while the orphaned sh still runs; it then creates the file: the fault is
# in place and the journal says reverted.
# Run by hand: FAULTLINE_BIN=build/faultline FAULTLINE_SOURCE_DIR=. bash tests/integration/repro_orphan_inject.sh
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
deadline=$((SECONDS + 3))
while inject_running && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
[ ! -e "$late" ] || t_fail "the inject's orphaned child created $late after recover had reverted the fault (journal: $(sqlite3 "$T_DB" 'select state from journal'))"
t_log "pass: nothing left after recover"
