#!/usr/bin/env bash
# Issue 13's "done when", as one test: a drill with targets on three real
# sshd hosts (alpha, beta, gamma: network + mount + pid namespaces, see
# ssh_lib.sh) recording into a shared PostgreSQL store (pg_lib.sh), run by
# a runner on another host name (its own UTS namespace, "runner-a-PID").
#  1. gamma's link is cut mid-drill: the drill reverts alpha and beta,
#     reports gamma's revert as failed naming the host, exits 3; once the
#     link is back, `recover` from this host (another runner) reverts gamma.
#  2. the same drill, the runner SIGKILLed with every fault in place: once
#     its lease has run out, `recover` from this host reverts all three
#     hosts from the journal alone.
#  3. `runs` and `report` from this host read both runs from the store.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/pg_lib.sh
source "$(dirname "$0")/pg_lib.sh"
# shellcheck source=tests/integration/ssh_lib.sh
source "$(dirname "$0")/ssh_lib.sh"
# Both libraries chain an EXIT trap; the last one set wins: chain both.
x_rc=0
trap 'x_rc=$?; s_cleanup; pg_stop; set +e; (exit "$x_rc"); t_cleanup' EXIT

command -v unshare >/dev/null || s_skip "unshare missing (util-linux)"
pg_start
export FAULTLINE_PG_LEASE_S=2
runner="runner-a-$$"
for h in alpha beta gamma; do
	s_host_add "$h" "${#S_HOSTS[@]}"
done

svc_start_cmd="setsid sleep 100000 </dev/null >/dev/null 2>&1 & echo \$! >$S_REMOTE/svc.pid"
svc_state() { s_ssh "$1" "cut -d' ' -f3 /proc/\$(cat $S_REMOTE/svc.pid)/stat 2>/dev/null || echo gone"; }
data_sum() { s_ssh "$1" "if [ -f $S_REMOTE/data.bin ]; then sha256sum $S_REMOTE/data.bin | cut -d' ' -f1; else echo none; fi"; }
for h in alpha beta gamma; do
	s_ssh "$h" "head -c 4096 /dev/urandom >$S_REMOTE/data.bin"
done
s_ssh beta "$svc_start_cmd"
declare -A sum
for h in alpha beta gamma; do sum[$h]=$(data_sum "$h"); done

flag="$T_DIR/up"
cat >"$T_DIR/env.json" <<JSON
{ "name": "three-hosts", "production": false,
  "targets": {
    "alpha-data": { "kind": "file", "path": "$S_REMOTE/data.bin",
                    "ssh": { "destination": "alpha", "config": "$S_CONFIG" } },
    "beta-svc": { "kind": "process", "pidfile": "$S_REMOTE/svc.pid",
                  "ssh": { "destination": "beta", "config": "$S_CONFIG" } },
    "gamma-data": { "kind": "file", "path": "$S_REMOTE/data.bin",
                    "ssh": { "destination": "gamma", "config": "$S_CONFIG" } } } }
JSON
cat >"$T_DIR/drill.json" <<JSON
{ "name": "shared-three-hosts", "environment": "env.json",
  "targets": { "rto": "10m" },
  "blast_radius": { "max_targets": 4 },
  "probes": [ { "name": "up", "type": "command", "argv": ["test", "-f", "$flag"],
                "interval": "50ms", "timeout": "2s", "availability": true } ],
  "detection": { "probe": "up", "consecutive_failures": 2 },
  "faults": [
    { "name": "outage", "injector": "exec", "inject": ["rm", "-f", "$flag"], "revert": ["true"] },
    { "name": "flip-alpha", "injector": "file", "target": "alpha-data", "mode": "flip", "count": 16, "seed": 5 },
    { "name": "pause-beta", "injector": "process", "target": "beta-svc", "signal": "STOP", "duration": "5m" },
    { "name": "flip-gamma", "injector": "file", "target": "gamma-data", "mode": "flip", "count": 16, "seed": 7 } ],
  "recovery": [ { "name": "resume", "wait_for": "up", "timeout": "9m" } ],
  "stability_window": "200ms", "steady_state": "300ms", "timeout": "10m" }
JSON

journal_count() { pg_sql "select count(*) from journal where $1" 2>/dev/null || echo -1; }
all_injected() {
	[ "$(journal_count "state = 'injected'")" = 4 ] && return 0
	kill -0 "$harness" 2>/dev/null || { cat "$T_DIR/run.err" >&2; t_fail "the runner exited before all 4 faults were injected"; }
	return 1
}
detected() { grep -q 'detected at' "$T_DIR/run.err"; }
damage_in_place() {
	[ "$(data_sum alpha)" != "${sum[alpha]}" ] || t_fail "alpha's data.bin unchanged: flip not injected"
	[ "$(svc_state beta)" = T ] || t_fail "beta's service is not stopped"
	[ "$(data_sum gamma)" != "${sum[gamma]}" ] || t_fail "gamma's data.bin unchanged: flip not injected"
}
all_reverted() {
	local h
	for h in alpha beta gamma; do
		[ "$(data_sum "$h")" = "${sum[$h]}" ] || t_fail "$1: $h's data.bin is not the original"
	done
	local st
	st=$(svc_state beta)
	[ "$st" = S ] || [ "$st" = R ] || t_fail "$1: beta's service is '$st', not continued"
	[ "$(journal_count "state <> 'reverted'")" = 0 ] || t_fail "$1: journal rows still open"
}
# run_remote_runner: the drill, as another host, into the shared store.
run_remote_runner() {
	# shellcheck disable=SC2016  # the bash -c script takes "$1".."$4"
	unshare --uts -- bash -c 'hostname "$1" && exec "$2" run "$3" --db "$4"' _ \
		"$runner" "$FAULTLINE_BIN" "$T_DIR/drill.json" "$PG_URL" >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
	harness=$!
	T_BG_PIDS+=("$harness")
}
# The lease of the runner process just run (exec keeps unshare's pid).
expired() { [ "$(pg_sql "select count(*) from faultline_owners where host = '$runner' and pid = $harness and lease_until < now()")" = 1 ]; }

# ---- 1: a host lost mid-drill ----------------------------------------------------------------
touch "$flag"
run_remote_runner
t_wait_for 60 "four injected journal rows" all_injected
damage_in_place
t_wait_for 30 "the drill to detect the outage" detected
s_link_cut gamma
touch "$flag"
rc=0
wait "$harness" || rc=$?
cat "$T_DIR/run.err" >&2
[ "$rc" = 3 ] || t_fail "the drill exited $rc with gamma unreachable, wanted 3"
grep -q "REVERT FAILED flip-gamma: host 'gamma': unreachable" "$T_DIR/run.err" ||
	t_fail "the drill did not report gamma's revert failure naming the host"
[ "$(data_sum alpha)" = "${sum[alpha]}" ] || t_fail "alpha was not reverted while gamma was away"
[ "$(svc_state beta)" != T ] || t_fail "beta was not continued while gamma was away"
[ "$(journal_count "state = 'revert_failed'")" = 1 ] || t_fail "gamma's row is not revert_failed"
s_link_restore gamma
t_wait_for 30 "gamma reachable again" s_ssh gamma true
t_wait_for 10 "the first runner's lease to run out" expired
rc=0
timeout 120 "$FAULTLINE_BIN" recover --db "$PG_URL" >"$T_DIR/recover1.out" 2>&1 || rc=$?
cat "$T_DIR/recover1.out" >&2
[ "$rc" = 0 ] || t_fail "recover from another runner after the link came back exited $rc"
all_reverted "after the lost host came back"

# ---- 2: the runner SIGKILLed with every fault in place ---------------------------------------
touch "$flag"
run_remote_runner
t_wait_for 60 "four injected journal rows (second drill)" all_injected
damage_in_place
kill -KILL "$harness"
rc=0
wait "$harness" || rc=$?
[ "$rc" = 137 ] || t_fail "the runner exited $rc before the SIGKILL, not 137"
damage_in_place
t_wait_for 10 "the killed runner's lease to run out" expired
rc=0
timeout 120 "$FAULTLINE_BIN" recover --db "$PG_URL" >"$T_DIR/recover2.out" 2>&1 || rc=$?
cat "$T_DIR/recover2.out" >&2
[ "$rc" = 0 ] || t_fail "recover from another runner after SIGKILL exited $rc"
all_reverted "after SIGKILL and recover"

# ---- 3: another runner reads the shared history ----------------------------------------------
verdicts=$("$FAULTLINE_BIN" runs --json --all --db "$PG_URL" |
	python3 -c 'import json,sys; print(" ".join(sorted(r["verdict"] for r in json.load(sys.stdin) if r["scenario"] == "shared-three-hosts")))')
[ "$verdicts" = "aborted error" ] || [ "$verdicts" = "aborted fail" ] ||
	t_fail "runs from another runner: verdicts '$verdicts', wanted the lost-host run and the aborted one"
FAULTLINE_DB=$PG_URL "$FAULTLINE_BIN" report --format markdown -o - >"$T_DIR/report.md" ||
	t_fail "report from FAULTLINE_DB=postgresql://... failed"
grep -q shared-three-hosts "$T_DIR/report.md" || t_fail "the report does not show the drill"
t_log "pass: three ssh hosts, one lost mid-drill and one runner killed, all reverted from another runner; history shared"
