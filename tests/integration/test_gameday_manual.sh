#!/usr/bin/env bash
# Game day: a drill with a manual step. faultline runs on a terminal (a pty
# from script(1)); this test plays the operator: it waits for the prompt,
# resumes the paused service by hand, waits a little more on its own clock,
# then presses Enter. The manual step must be a phase at least as long as
# the operator took (measured by this test), the drill must pass, and
# without a terminal the same drill must fail with a clear reason instead
# of waiting for nobody.
. "$(dirname "$0")/lib.sh"

scenario="$T_DRILLS/gameday-manual.json"
t_env_start
pid=$(cat "$FAULTLINE_DEMO_DIR/api-1.pid")

mkfifo "$T_DIR/tty-in"
script -qfec "$FAULTLINE_BIN run $scenario --db $T_DB" /dev/null \
	<"$T_DIR/tty-in" >"$T_DIR/tty-out" 2>&1 &
harness=$!
T_BG_PIDS+=("$harness")
exec 3>"$T_DIR/tty-in"

prompted() { grep -q "press Enter" "$T_DIR/tty-out"; }
t_wait_for 30 "the operator prompt" prompted
t_prompt=$(date +%s%N)
state=$(ps -o stat= -p "$pid" | tr -d ' ')
[[ $state == T* ]] || t_fail "api-1 is not paused while the operator is prompted (state '$state')"
kill -CONT "$pid"
healthy() { [ "$(t_health "$FAULTLINE_DEMO_PORT1")" = 200 ]; }
t_wait_for 10 "api-1 answering after the manual resume" healthy
# The operator confirms only after the service answered: the phase must
# cover at least this much.
t_confirm=$(date +%s%N)
printf '\n' >&3
finished() { ! kill -0 "$harness" 2>/dev/null; }
t_wait_for 60 "faultline to finish" finished
rc=0
wait "$harness" || rc=$?
exec 3>&-
cat "$T_DIR/tty-out" >&2
[ "$rc" = 0 ] || t_fail "faultline run (through script) exited $rc"
[ "$(t_run_field verdict)" = pass ] || t_fail "verdict $(t_run_field verdict), wanted pass"
t_run_field phases | python3 -c '
import json, sys
phases = {p["name"]: p for p in json.load(sys.stdin)}
op = phases.get("operator-resume")
if op is None:
    sys.exit("no operator-resume phase: %s" % sorted(phases))
took_ms = op["end_ms"] - op["start_ms"]
lower_ms = (int(sys.argv[2]) - int(sys.argv[1])) / 1e6
if took_ms + 1 < lower_ms:
    sys.exit("manual phase %.1f ms shorter than the operator took (%.1f ms)" % (took_ms, lower_ms))
print("manual phase %.1f ms, operator took at least %.1f ms" % (took_ms, lower_ms))
' "$t_prompt" "$t_confirm" || t_fail "manual phase not recorded as expected"

# No terminal: refused with a reason, and the service is left running.
t_run "$scenario"
[ "$T_RC" = 1 ] || t_fail "without a terminal: exit $T_RC, wanted 1"
grep -q "needs an operator at a terminal" <<<"$T_OUT" || t_fail "no 'needs an operator' reason"
state=$(ps -o stat= -p "$pid" | tr -d ' ')
[[ $state != T* ]] || t_fail "api-1 left paused after the refused manual step"
t_log "pass: manual step timed, and refused without a terminal"
