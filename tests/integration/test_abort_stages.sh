#!/usr/bin/env bash
# Abort means abort at every stage, not only inside the detect/recover loop.
# A drill whose fault is a harmless exec (nothing to detect: validation
# follows after the detection grace), against tests/fixtures/write_server:
#   1. Ctrl-C during the writers' read-back (read_url answers non-JSON, so
#      the read-back keeps retrying): exit 130 at once, verdict aborted.
#   2. The drill timeout during a validation check that never passes (its
#      own timeout 60 s): the drill stops at its timeout, exit 1.
#   3. The drill timeout during the read-back: the same.
#   4. Ctrl-C during a validation check that keeps failing (budget 60 s):
#      exit 130.
#   5. Ctrl-C during a single check attempt that hangs (a command running
#      for its whole 60 s timeout): exit 130 at once.
#   6. The drill timeout during that hanging attempt: exit 1 at the timeout.
# Each must end well before the check's or the read-back's own budget.
. "$(dirname "$0")/lib.sh"

: "${FAULTLINE_FIXTURE_DIR:?FAULTLINE_FIXTURE_DIR must name the built fixtures}"
"$FAULTLINE_FIXTURE_DIR/write_server" "$T_DIR/port" &
T_BG_PIDS+=("$!")
have_port() { [ -s "$T_DIR/port" ]; }
t_wait_for 10 "write_server's port" have_port
port=$(cat "$T_DIR/port")

cat >"$T_DIR/env.json" <<JSON
{ "name": "abort-stages", "production": false, "targets": {} }
JSON
scenario() { # NAME TIMEOUT VALIDATION-JSON
	cat >"$T_DIR/$1.json" <<JSON
{
  "name": "$1",
  "environment": "$T_DIR/env.json",
  "probes": [
    { "name": "port", "type": "tcp", "host": "127.0.0.1", "port": $port, "interval": "50ms",
      "availability": true },
    { "name": "writes", "type": "writer", "driver": "http", "url": "http://127.0.0.1:$port/write",
      "read_url": "http://127.0.0.1:$port/broken", "interval": "50ms" }
  ],
  "faults": [ { "name": "noop", "injector": "exec", "inject": ["true"], "revert": ["true"] } ],
  "validation": [ $3 ],
  "stability_window": "200ms", "steady_state": "200ms", "timeout": "$2"
}
JSON
}
never='{ "name": "never", "type": "command", "argv": ["false"], "interval": "100ms", "timeout": "60s" }'
scenario readback-int 2m ""
scenario validate-timeout 8s "$never"
scenario readback-timeout 8s ""
scenario validate-int 2m "$never"
hang='{ "name": "hang", "type": "command", "argv": ["sleep", "60"], "interval": "100ms", "timeout": "60s" }'
scenario hang-int 2m "$hang"
scenario hang-timeout 8s "$hang"

# drill NAME [SIGNAL-AFTER-PATTERN]: runs the drill in the background,
# sends SIGINT once stderr shows the pattern, waits (bounded) for the exit.
drill() {
	local name=$1 pattern=${2:-} started=$SECONDS
	"$FAULTLINE_BIN" run "$T_DIR/$name.json" --db "$T_DB" >"$T_DIR/$name.out" 2>"$T_DIR/$name.err" &
	harness=$!
	T_BG_PIDS+=("$harness")
	if [ -n "$pattern" ]; then
		seen() {
			grep -q "$pattern" "$T_DIR/$name.err" && return 0
			kill -0 "$harness" 2>/dev/null || { cat "$T_DIR/$name.err" >&2; t_fail "$name: exited early"; }
			return 1
		}
		t_wait_for 60 "$name: '$pattern'" seen
		kill -INT "$harness"
	fi
	exited() { ! kill -0 "$harness" 2>/dev/null; }
	t_wait_for 25 "$name: faultline to stop" exited
	rc=0
	wait "$harness" || rc=$?
	cat "$T_DIR/$name.err" >&2
	t_log "$name: exit $rc after $((SECONDS - started)) s"
}
failures() { t_run_field failures; }

drill readback-int "reading back"
[ "$rc" = 130 ] || t_fail "readback-int: exit $rc, wanted 130"
[ "$(t_run_field verdict)" = aborted ] || t_fail "readback-int: verdict not aborted"
failures | grep -q "interrupted during read-back" || t_fail "readback-int: $(failures)"

drill validate-timeout
[ "$rc" = 1 ] || t_fail "validate-timeout: exit $rc, wanted 1"
failures | grep -q "validate not finished within the drill timeout" || t_fail "validate-timeout: $(failures)"

drill readback-timeout
[ "$rc" = 1 ] || t_fail "readback-timeout: exit $rc, wanted 1"
failures | grep -q "read-back not finished within the drill timeout" || t_fail "readback-timeout: $(failures)"

drill validate-int "no impact observed"
[ "$rc" = 130 ] || t_fail "validate-int: exit $rc, wanted 130"
failures | grep -q "interrupted during validate" || t_fail "validate-int: $(failures)"
# A single attempt that hangs: the check's process is killed, not waited for.
drill hang-int "no impact observed"
[ "$rc" = 130 ] || t_fail "hang-int: exit $rc, wanted 130"
failures | grep -q "interrupted during validate" || t_fail "hang-int: $(failures)"

started=$SECONDS
drill hang-timeout
[ "$rc" = 1 ] || t_fail "hang-timeout: exit $rc, wanted 1"
failures | grep -q "validate not finished within the drill timeout" || t_fail "hang-timeout: $(failures)"
[ $((SECONDS - started)) -lt 20 ] || t_fail "hang-timeout: took $((SECONDS - started)) s for an 8 s timeout"
[ "$(sqlite3 "$T_DB" "select count(*) from journal where state <> 'reverted'")" = 0 ] ||
	t_fail "a journal row was left open"
t_log "pass: Ctrl-C and the drill timeout stop validation (a hanging attempt too) and the read-back"
