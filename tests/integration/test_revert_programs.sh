#!/usr/bin/env bash
# A fault whose revert would run a program that does not exist is refused
# before anything is injected, like a missing recovery step program: an
# exec fault's "revert" (and "inject") command, and the "start" command a
# process target is restarted with. `faultline run` exits 2 with one line
# naming file:line:col; nothing is journaled.
. "$(dirname "$0")/lib.sh"

cat >"$T_DIR/env.json" <<JSON
{
  "name": "revert-programs", "production": false,
  "targets": {
    "svc": { "kind": "process", "pidfile": "$T_DIR/svc.pid",
             "start": ["$T_DIR/no-such-start-script"] }
  }
}
JSON
scenario() { # NAME FAULT-JSON
	cat >"$T_DIR/$1.json" <<JSON
{
  "name": "$1",
  "environment": "$T_DIR/env.json",
  "probes": [ { "name": "api", "type": "tcp", "host": "127.0.0.1", "port": 9,
    "interval": "50ms", "availability": true } ],
  "faults": [ $2 ],
  "recovery": [ { "name": "settle", "wait_for": "api", "timeout": "5s" } ],
  "timeout": "1m"
}
JSON
}
scenario exec-revert '{ "name": "stuck", "injector": "exec",
    "inject": ["true"], "revert": ["no-such-revert-program-'$$'"] }'
scenario process-start '{ "name": "kill", "injector": "process", "target": "svc" }'

expect2() { # SCENARIO PATTERN
	local rc=0 lines
	timeout --kill-after=10 60 "$FAULTLINE_BIN" run "$T_DIR/$1.json" --db "$T_DB" --quiet \
		>"$T_DIR/out" 2>"$T_DIR/err" || rc=$?
	cat "$T_DIR/err" >&2
	[ "$rc" = 2 ] || t_fail "$1: exit $rc, wanted 2"
	lines=$(grep -c . "$T_DIR/err" || true)
	[ "$lines" = 1 ] || t_fail "$1: $lines stderr lines, wanted 1"
	grep -Eq "$2" "$T_DIR/err" || t_fail "$1: the error does not match '$2'"
	[ ! -e "$T_DB" ] || [ "$(sqlite3 "$T_DB" 'select count(*) from journal')" = 0 ] ||
		t_fail "$1: a fault was journaled"
}
expect2 exec-revert "exec-revert\.json:[0-9]+:[0-9]+: .*revert program 'no-such-revert-program-$$' not found"
expect2 process-start "env\.json:[0-9]+:[0-9]+: .*start program '.*no-such-start-script' not found"
t_log "pass: revert programs are checked before anything is injected"
