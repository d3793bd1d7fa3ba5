#!/usr/bin/env bash
# What a SIGKILLed harness started besides its injects — a recovery step, a
# revert (a process target's "start", an exec revert) — lives on after it
# dies, and `recover` waits for it (bounded, like test_orphan_inject.sh)
# before it reverts: otherwise the revert and the orphan fight (a service
# restarted twice, a revert undone by a late step).
#
# Case 1, a recovery step: an exec fault breaks (touch broken), the probe
# sees it, the recovery step takes 1 s (sh -c 'sleep 1; echo step >>order');
# faultline run is SIGKILLed while the step runs, `faultline recover` runs at
# once. When it returns the step's child has ended and `order` reads "step"
# then "revert": the revert came last.
# Case 2, a revert: the fault lasts 100 ms, and its revert takes 1 s (echo begin >>order2;
# sleep 1; echo end >>order2); faultline run is SIGKILLed while that revert
# runs; recover's own revert must begin after the orphaned one ended:
# begin end begin end (not begin begin end end).
# Run by hand: FAULTLINE_BIN=build/faultline FAULTLINE_SOURCE_DIR=. bash tests/integration/test_orphan_step.sh
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

printf '{ "name": "orphan", "production": false, "targets": {} }\n' >"$T_DIR/env.json"
broken="$T_DIR/broken"
order="$T_DIR/order"
order2="$T_DIR/order2"
cat >"$T_DIR/step.json" <<JSON
{ "name": "orphan-step", "environment": "env.json", "targets": { "rto": "10m" },
  "probes": [ { "name": "up", "type": "command", "argv": ["test", "!", "-e", "$broken"],
                "interval": "50ms", "timeout": "2s", "availability": true } ],
  "detection": { "probe": "up", "consecutive_failures": 2 },
  "faults": [ { "name": "break", "injector": "exec", "inject": ["touch", "$broken"],
                "revert": ["sh", "-c", "echo revert >>$order; rm -f $broken"] } ],
  "recovery": [ { "name": "slow-fix", "action": ["sh", "-c", "sleep 1; echo step >>$order"],
                  "timeout": "20s" } ],
  "stability_window": "100ms", "steady_state": "200ms", "timeout": "1m" }
JSON
cat >"$T_DIR/revert.json" <<JSON
{ "name": "orphan-revert", "environment": "env.json", "targets": { "rto": "10m" },
  "probes": [ { "name": "up", "type": "command", "argv": ["true"],
                "interval": "50ms", "timeout": "2s", "availability": true } ],
  "faults": [ { "name": "slow-revert", "injector": "exec", "inject": ["true"], "duration": "100ms",
                "revert": ["sh", "-c", "echo begin >>$order2; sleep 1; echo end >>$order2"] } ],
  "stability_window": "100ms", "steady_state": "200ms", "timeout": "1m" }
JSON

# kill_during PATTERN DRILL: runs DRILL, SIGKILLs it while a program whose
# command line matches PATTERN runs, then `faultline recover`; fails if
# recover returns while that program still runs.
kill_during() {
	local pattern=$1 drill=$2 harness
	"$FAULTLINE_BIN" run "$drill" --db "$T_DB" >"$T_DIR/run.out" 2>&1 &
	harness=$!
	T_BG_PIDS+=("$harness")
	orphan_running() { pgrep -f "$pattern" >/dev/null; }
	t_wait_for 30 "'$pattern' started by the drill" orphan_running
	kill -KILL "$harness"
	wait "$harness" 2>/dev/null || true
	"$FAULTLINE_BIN" recover --db "$T_DB" >&2 || t_fail "recover exited $?"
	! orphan_running || t_fail "recover returned while '$pattern' (its dead harness's) still ran"
}

kill_during "sleep 1; echo step >>$order" "$T_DIR/step.json"
[ "$(cat "$order")" = "$(printf 'step\nrevert')" ] ||
	t_fail "recovery step and revert ran in the order: $(tr '\n' ' ' <"$order") (wanted: step revert)"
[ ! -e "$broken" ] || t_fail "$broken is still there after recover"

kill_during "sleep 1; echo end >>$order2" "$T_DIR/revert.json"
[ "$(tr '\n' ' ' <"$order2")" = "begin end begin end " ] ||
	t_fail "the orphaned revert and recover's ran as: $(tr '\n' ' ' <"$order2")(wanted: begin end begin end)"
t_log "pass: recover waited for the dead drill's recovery step and revert"
