#!/usr/bin/env bash
# A write the system answered as failed but that is present after recovery
# means the system lied. tests/fixtures/write_server's /lie route stores
# every write and answers every third one with 500: the run counts those
# writes on their own (writes.failed_present in `runs --json`), stores
# them, and fails the drill (exit 1) with a reason that says so.
. "$(dirname "$0")/lib.sh"

: "${FAULTLINE_FIXTURE_DIR:?FAULTLINE_FIXTURE_DIR must name the built fixtures}"
"$FAULTLINE_FIXTURE_DIR/write_server" "$T_DIR/port" &
T_BG_PIDS+=("$!")
have_port() { [ -s "$T_DIR/port" ]; }
t_wait_for 10 "write_server's port" have_port
port=$(cat "$T_DIR/port")

cat >"$T_DIR/env.json" <<JSON
{ "name": "failed-present", "production": false, "targets": {} }
JSON
cat >"$T_DIR/lie.json" <<JSON
{
  "name": "lie",
  "environment": "$T_DIR/env.json",
  "probes": [
    { "name": "port", "type": "tcp", "host": "127.0.0.1", "port": $port, "interval": "50ms",
      "availability": true },
    { "name": "writes", "type": "writer", "driver": "http", "url": "http://127.0.0.1:$port/lie",
      "read_url": "http://127.0.0.1:$port/seqs", "interval": "50ms" }
  ],
  "faults": [ { "name": "noop", "injector": "exec", "inject": ["true"], "revert": ["true"] } ],
  "stability_window": "200ms", "steady_state": "200ms", "timeout": "1m"
}
JSON
t_run "$T_DIR/lie.json"
[ "$T_RC" = 1 ] || t_fail "a system that lies about failed writes: exit $T_RC, wanted 1"
writes=$(t_run_field writes)
t_log "writes: $writes"
present=$(printf '%s' "$writes" | python3 -c 'import json,sys; print(json.load(sys.stdin)["failed_present"])')
failed=$(printf '%s' "$writes" | python3 -c 'import json,sys; print(json.load(sys.stdin)["failed"])')
t_check 'present > 0 and present == failed' "every failed write is present" present="$present" failed="$failed"
[ "$(sqlite3 "$T_DB" 'select writes_failed_present from runs')" = "$present" ] ||
	t_fail "writes_failed_present not stored"
[ "$(t_run_field verdict)" = fail ] || t_fail "verdict $(t_run_field verdict), wanted fail"
t_run_field failures | grep -q "answered as failed are present after recovery" ||
	t_fail "no failure says the system lied: $(t_run_field failures)"
t_log "pass: $present write(s) answered as failed yet present fail the run"
