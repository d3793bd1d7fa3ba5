#!/usr/bin/env bash
# Clear errors, right exit codes: each error class of the CLI contract
# (docs/cli.md) produces its exit code and exactly one line on stderr, with no
# final full stop — bad usage, an unknown command, a missing file and a
# malformed file exit 2; an environment marked production, or one that does
# not say "production": false, is refused with 3 before anything is
# injected; a fault whose revert fails makes `run` exit 3, leaves the
# journal row revert_failed, and `recover` keeps exiting 3 until a human
# fixes it. (Exit 0 and 1 are covered by test_demo_instance_kill.sh and
# test_demo_rto_miss.sh, 130 by test_interrupt.sh; docs/trust.md lists them.)
. "$(dirname "$0")/lib.sh"

# expect CODE DESCRIPTION ARG...: faultline ARG... exits CODE with one
# stderr line, which is printed.
expect() {
	local want=$1 what=$2 rc=0 lines
	shift 2
	timeout --kill-after=10 120 "$FAULTLINE_BIN" "$@" >"$T_DIR/out" 2>"$T_DIR/err" || rc=$?
	[ "$rc" = "$want" ] || { cat "$T_DIR/err" >&2; t_fail "$what: exit $rc, wanted $want"; }
	lines=$(grep -c . "$T_DIR/err" || true)
	[ "$lines" = 1 ] || { cat "$T_DIR/err" >&2; t_fail "$what: $lines stderr lines, wanted 1"; }
	if grep -q '\.$' "$T_DIR/err"; then
		t_fail "$what: the error ends with a full stop: $(cat "$T_DIR/err")"
	fi
	t_log "$what -> $rc: $(cat "$T_DIR/err")"
}

t_env_start
demo_env=$FAULTLINE_SOURCE_DIR/scenarios/env/demo.json
python3 - "$demo_env" "$T_DIR" <<'PY'
import json, sys
env = json.load(open(sys.argv[1]))
env["production"] = True
json.dump(env, open(sys.argv[2] + "/prod.json", "w"))
del env["production"]
json.dump(env, open(sys.argv[2] + "/silent.json", "w"))
PY
printf '{"name": "x",, }' >"$T_DIR/malformed.json"

expect 2 "unknown option" run --no-such-option
expect 2 "unknown command" no-such-command
expect 2 "missing file" validate "$T_DIR/missing.json"
expect 2 "malformed file" validate "$T_DIR/malformed.json"
grep -q "malformed.json:1:" "$T_DIR/err" || t_fail "the syntax error does not say file:line:column"

pid=$(cat "$FAULTLINE_DEMO_DIR/api-1.pid")
for env in prod silent; do
	expect 3 "environment $env" run "$T_SCENARIOS/demo-instance-kill.json" \
		--env "$T_DIR/$env.json" --db "$T_DB" --quiet
	# Nothing was touched: the same api-1 still runs, nothing was journaled.
	[ "$(cat "$FAULTLINE_DEMO_DIR/api-1.pid")" = "$pid" ] || t_fail "api-1 was killed in a $env environment"
	[ "$(sqlite3 "$T_DB" 'select count(*) from journal')" = 0 ] ||
		t_fail "a fault was journaled in a $env environment"
done

cat >"$T_DIR/revert-fails.json" <<JSON
{
  "name": "revert-fails",
  "environment": "$demo_env",
  "targets": { "rto": "30s" },
  "probes": [ { "name": "api", "type": "http", "target": "api-1",
    "url": "http://127.0.0.1:\${FAULTLINE_DEMO_PORT1}/health", "interval": "50ms",
    "availability": true } ],
  "faults": [ { "name": "stuck", "injector": "exec", "target": "api-1",
    "inject": ["true"], "revert": ["false"] } ],
  "recovery": [ { "name": "settle", "wait_for": "api", "timeout": "5s" } ],
  "stability_window": "200ms", "steady_state": "200ms", "timeout": "1m"
}
JSON
rc=0
timeout --kill-after=10 120 "$FAULTLINE_BIN" run "$T_DIR/revert-fails.json" --db "$T_DB" --quiet \
	>"$T_DIR/out" 2>"$T_DIR/err" || rc=$?
[ "$rc" = 3 ] || { cat "$T_DIR/err" >&2; t_fail "a failed revert: run exited $rc, wanted 3"; }
[ "$(sqlite3 "$T_DB" "select state from journal")" = revert_failed ] ||
	t_fail "the failed revert is not journaled as revert_failed"
expect 3 "recover with a revert that keeps failing" recover --db "$T_DB"
t_log "pass"
