#!/usr/bin/env bash
# Bad input caught before anything is injected: a recovery step whose
# program does not exist, and an environment that is not marked
# non-production. Each gets one error line naming file:line:column (or the
# environment), its documented exit code, no stored run, and the target is
# untouched (same pid, never signalled).
. "$(dirname "$0")/lib.sh"

t_env_start
pid=$(cat "$FAULTLINE_DEMO_DIR/api-1.pid")
python3 - "$T_SCENARIOS/demo-instance-kill.json" "$T_DIR/missing-program.json" "$T_SCENARIOS" <<'PY'
import json, sys
src, dst, base = sys.argv[1], sys.argv[2], sys.argv[3]
d = json.load(open(src))
d["environment"] = base + "/env/demo.json"
d["inventory"] = base + "/inventory.json"
d["recovery"] = [{"name": "restart", "action": ["./does-not-exist.sh"], "timeout": "10s"}]
json.dump(d, open(dst, "w"), indent=2)
PY
t_run "$T_DIR/missing-program.json"
[ "$T_RC" = 2 ] || t_fail "missing recovery program: exit $T_RC, wanted 2"
[ "$(printf '%s\n' "$T_ERR" | wc -l)" = 1 ] || t_fail "expected exactly one error line, got: $T_ERR"
[[ $T_ERR =~ ^$T_DIR/missing-program.json:[0-9]+:[0-9]+:\ recovery\ step\ \'restart\':\ program\ \'./does-not-exist.sh\'\ not\ found ]] ||
	t_fail "unexpected error line: $T_ERR"
[ ! -e "$T_DB" ] || [ "$(sqlite3 "$T_DB" 'select count(*) from journal')" = 0 ] || t_fail "something was journaled"
[ "$(cat "$FAULTLINE_DEMO_DIR/api-1.pid")" = "$pid" ] || t_fail "api-1 was restarted: it must not have been touched"

# An environment that does not say production: false is refused (exit 3).
python3 - "$T_SCENARIOS/env/demo.json" "$T_DIR/prod-env.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["production"] = True
json.dump(d, open(sys.argv[2], "w"), indent=2)
PY
t_run "$T_SCENARIOS/demo-instance-kill.json" --env "$T_DIR/prod-env.json"
[ "$T_RC" = 3 ] || t_fail "production environment: exit $T_RC, wanted 3"
grep -q "production" <<<"$T_ERR" || t_fail "the refusal does not say why: $T_ERR"
[ -z "$T_OUT" ] || t_fail "a refused drill printed a result table: $T_OUT"
[ "$(cat "$FAULTLINE_DEMO_DIR/api-1.pid")" = "$pid" ] || t_fail "api-1 was touched in a production environment"
t_log "pass: refused before injecting, one line each"
