#!/usr/bin/env bash
# Revert needs nothing but the journal and the declared secrets
# (docs/trust.md). A drill with a paused api-1 and an exec fault whose
# revert names ${T_DIR} (an ordinary variable) and a declared secret is
# SIGKILLed with both faults in place. Then, from a bare environment
# (env -i, as cron or sudo give):
#   1. without the secret, `faultline recover` exits 3 with one line naming
#      the secret and where to put it, and reverts nothing of that fault (the
#      journal row stays open for the next recover);
#   2. with only the secret set, it exits 0 and everything is reverted.
# The secret's value is in no journal row; the ordinary variable is
# journaled expanded.
. "$(dirname "$0")/lib.sh"

journal() { sqlite3 -cmd '.timeout 2000' "$T_DB" "$1" 2>/dev/null; }

t_env_start
token="rs-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export FAULTLINE_RS_TOKEN=$token T_DIR
pid=$(cat "$FAULTLINE_DEMO_DIR/api-1.pid")
scenario=$T_DIR/recover-secrets.json
cat >"$scenario" <<JSON
{
  "name": "recover-secrets",
  "description": "test_recover_secrets.sh: recover from a bare environment",
  "environment": "$FAULTLINE_SOURCE_DIR/scenarios/env/demo.json",
  "secrets": ["FAULTLINE_RS_TOKEN"],
  "targets": { "rto": "10m", "rpo": "0s" },
  "blast_radius": { "max_targets": 2 },
  "probes": [
    { "name": "api", "type": "http", "target": "api-1",
      "url": "http://127.0.0.1:\${FAULTLINE_DEMO_PORT1}/health",
      "interval": "50ms", "timeout": "200ms", "expect_status": 200, "availability": true }
  ],
  "faults": [
    { "name": "marker", "injector": "exec", "target": "api-2",
      "inject": ["touch", "\${T_DIR}/marker"],
      "revert": ["rm", "-f", "\${T_DIR}/marker"],
      "env": { "TOKEN": "\${FAULTLINE_RS_TOKEN}" } },
    { "name": "pause-api", "injector": "process", "target": "api-1",
      "signal": "STOP", "duration": "5m" }
  ],
  "recovery": [ { "name": "resume", "wait_for": "api", "timeout": "9m" } ],
  "stop_conditions": [ { "probe": "api", "down_for": "9m" } ],
  "stability_window": "1s",
  "steady_state": "300ms",
  "timeout": "10m"
}
JSON

"$FAULTLINE_BIN" run "$scenario" --db "$T_DB" >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
harness=$!
T_BG_PIDS+=("$harness")
injected() {
	[ "$(journal "select count(*) from journal where state = 'injected'")" = 2 ] && return 0
	kill -0 "$harness" 2>/dev/null || { cat "$T_DIR/run.err" >&2; t_fail "faultline run exited early"; }
	return 1
}
t_wait_for 60 "two injected journal rows" injected
[ -e "$T_DIR/marker" ] || t_fail "the exec fault did not run"
kill -KILL "$harness"
wait "$harness" 2>/dev/null || true

rows=$(journal "select revert from journal")
grep -q -F "$token" <<<"$rows" && t_fail "the secret's value is in the journal"
# shellcheck disable=SC2016 # the literal reference, not its value
grep -q -F '${FAULTLINE_RS_TOKEN}' <<<"$rows" || t_fail "the journal does not name the secret"
grep -q -F "$T_DIR/marker" <<<"$rows" || t_fail "the ordinary variable was not journaled expanded"

# 1. A bare environment without the secret: exit 3, one line, nothing lost.
rc=0
env -i PATH="$PATH" "$FAULTLINE_BIN" recover --db "$T_DB" >"$T_DIR/r1.out" 2>"$T_DIR/r1.err" || rc=$?
cat "$T_DIR/r1.out" "$T_DIR/r1.err" >&2
[ "$rc" = 3 ] || t_fail "recover without the secret exited $rc, wanted 3"
grep -q "secret FAULTLINE_RS_TOKEN not set" "$T_DIR/r1.out" "$T_DIR/r1.err" ||
	t_fail "recover did not name the missing secret"
grep -q 'declared under "secrets"' "$T_DIR/r1.out" "$T_DIR/r1.err" ||
	t_fail "recover did not say where the secret comes from"
[ -e "$T_DIR/marker" ] || t_fail "the exec fault was reverted without its secret"
[ "$(journal "select count(*) from journal where injector = 'exec' and state <> 'reverted'")" = 1 ] ||
	t_fail "the exec fault's journal row was closed although its revert did not run"

# 2. Only the secret added: everything reverts.
rc=0
env -i PATH="$PATH" FAULTLINE_RS_TOKEN="$token" "$FAULTLINE_BIN" recover --db "$T_DB" \
	>"$T_DIR/r2.out" 2>"$T_DIR/r2.err" || rc=$?
cat "$T_DIR/r2.out" "$T_DIR/r2.err" >&2
[ "$rc" = 0 ] || t_fail "recover with the secret exited $rc"
[ ! -e "$T_DIR/marker" ] || t_fail "the marker is still there after recover"
state=$(ps -o stat= -p "$pid" | tr -d ' ')
[[ $state != T* ]] || t_fail "api-1 still stopped after recover"
[ "$(journal "select count(*) from journal where state <> 'reverted'")" = 0 ] || t_fail "journal rows still open"
t_log "pass: recover from env -i needs only the declared secret, names it when missing, journals no secret"
