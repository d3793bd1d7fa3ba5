#!/usr/bin/env bash
# A drill across three real sshd hosts (network, mount and pid namespaces:
# a file or pid there is reachable only over ssh). On alpha a process is
# paused and a file's bytes flipped, on beta a process is killed (restarted
# by its remote start command) and a file truncated, on gamma a file is
# deleted. First the drill runs to its end and reverts everything itself;
# then the same drill is SIGKILLed with every fault in place and
# `faultline recover` reverts them all from the journal alone, which
# records each fault's host.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/ssh_lib.sh
source "$(dirname "$0")/ssh_lib.sh"

for h in alpha beta gamma; do
	s_host_add "$h" "$(( ${#S_HOSTS[@]} ))"
done

# A service on a host: a sleep whose pid is in $S_REMOTE/svc.pid there.
svc_start_cmd="setsid sleep 100000 </dev/null >/dev/null 2>&1 & echo \$! >$S_REMOTE/svc.pid"
svc_pid() { s_ssh "$1" cat "$S_REMOTE/svc.pid"; }
svc_state() { s_ssh "$1" "cut -d' ' -f3 /proc/\$(cat $S_REMOTE/svc.pid)/stat 2>/dev/null || echo gone"; }
data_sum() { s_ssh "$1" "if [ -f $S_REMOTE/data.bin ]; then sha256sum $S_REMOTE/data.bin | cut -d' ' -f1; else echo none; fi"; }
remote_setup() {
	local h
	for h in alpha beta gamma; do
		s_ssh "$h" "head -c 4096 /dev/urandom >$S_REMOTE/data.bin && chmod 640 $S_REMOTE/data.bin"
		s_ssh "$h" "$svc_start_cmd"
	done
}

flag="$T_DIR/up"
cat >"$T_DIR/env.json" <<JSON
{ "name": "three-hosts", "production": false,
  "targets": {
    "alpha-svc": { "kind": "process", "pidfile": "$S_REMOTE/svc.pid",
                   "ssh": { "destination": "alpha", "config": "$S_CONFIG" } },
    "alpha-data": { "kind": "file", "path": "$S_REMOTE/data.bin",
                    "ssh": { "destination": "alpha", "config": "$S_CONFIG" } },
    "beta-svc": { "kind": "process", "pidfile": "$S_REMOTE/svc.pid",
                  "start": ["sh", "-c", "$svc_start_cmd"],
                  "ssh": { "destination": "beta", "config": "$S_CONFIG" } },
    "beta-data": { "kind": "file", "path": "$S_REMOTE/data.bin",
                   "ssh": { "destination": "beta", "config": "$S_CONFIG" } },
    "gamma-data": { "kind": "file", "path": "$S_REMOTE/data.bin",
                    "ssh": { "destination": "gamma", "config": "$S_CONFIG" } } } }
JSON
cat >"$T_DIR/drill.json" <<JSON
{ "name": "three-hosts", "environment": "env.json",
  "targets": { "rto": "10m" },
  "blast_radius": { "max_targets": 6 },
  "probes": [ { "name": "up", "type": "command", "argv": ["test", "-f", "$flag"],
                "interval": "50ms", "timeout": "2s", "availability": true } ],
  "detection": { "probe": "up", "consecutive_failures": 2 },
  "faults": [
    { "name": "outage", "injector": "exec", "inject": ["rm", "-f", "$flag"], "revert": ["true"] },
    { "name": "pause-alpha", "injector": "process", "target": "alpha-svc", "signal": "STOP", "duration": "5m" },
    { "name": "flip-alpha", "injector": "file", "target": "alpha-data", "mode": "flip", "count": 16, "seed": 3 },
    { "name": "kill-beta", "injector": "process", "target": "beta-svc", "signal": "KILL" },
    { "name": "truncate-beta", "injector": "file", "target": "beta-data", "mode": "truncate", "length": 10 },
    { "name": "delete-gamma", "injector": "file", "target": "gamma-data", "mode": "delete" } ],
  "recovery": [ { "name": "resume", "wait_for": "up", "timeout": "9m" } ],
  "stability_window": "200ms", "steady_state": "300ms", "timeout": "10m" }
JSON

journal_count() { sqlite3 -cmd '.timeout 2000' "$T_DB" "select count(*) from journal where $1" 2>/dev/null || echo -1; }
all_injected() {
	[ "$(journal_count "state = 'injected'")" = 6 ] && return 0
	kill -0 "$harness" 2>/dev/null || { cat "$T_DIR/run.err" >&2; t_fail "faultline run exited before all 6 faults were injected"; }
	return 1
}
damage_in_place() {
	[ "$(svc_state alpha)" = T ] || t_fail "alpha's service is not stopped"
	[ "$(data_sum alpha)" != "$a_sum" ] || t_fail "alpha's data.bin unchanged: flip not injected"
	[ "$(svc_state beta)" = gone ] || t_fail "beta's service still runs after KILL"
	[ "$(s_ssh beta stat -c %s "$S_REMOTE/data.bin")" = 10 ] || t_fail "beta's data.bin not truncated"
	[ "$(data_sum gamma)" = none ] || t_fail "gamma's data.bin not deleted"
	# Nothing happened locally: the paths exist only on the hosts.
	[ ! -e "$S_REMOTE/data.bin" ] || t_fail "a data.bin appeared locally"
}
all_reverted() {
	local st
	st=$(svc_state alpha)
	[ "$st" = S ] || [ "$st" = R ] || t_fail "alpha's service is '$st' after revert, not running"
	[ "$(data_sum alpha)" = "$a_sum" ] || t_fail "alpha's data.bin differs after revert"
	[ "$(svc_pid beta)" != "$b_pid" ] || t_fail "beta's pidfile still names the killed pid"
	st=$(svc_state beta)
	[ "$st" = S ] || [ "$st" = R ] || t_fail "beta's service is '$st' after revert, not restarted"
	[ "$(data_sum beta)" = "$b_sum" ] || t_fail "beta's data.bin differs after revert"
	[ "$(data_sum gamma)" = "$g_sum" ] || t_fail "gamma's data.bin not recreated byte for byte"
	[ "$(s_ssh gamma stat -c %a "$S_REMOTE/data.bin")" = 640 ] || t_fail "gamma's data.bin lost its mode"
	[ "$(journal_count "state <> 'reverted'")" = 0 ] || t_fail "journal rows still open"
}
snapshot() {
	a_sum=$(data_sum alpha); b_sum=$(data_sum beta); g_sum=$(data_sum gamma); b_pid=$(svc_pid beta)
}

# ---- 1. the drill runs to its end and reverts everything itself
remote_setup
snapshot
touch "$flag"
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
harness=$!
T_BG_PIDS+=("$harness")
t_wait_for 60 "six injected journal rows" all_injected
# The "outage" fault removed the flag: the drill detects it and waits in
# recovery until the test ends the outage.
detected() { grep -q 'detected at' "$T_DIR/run.err"; }
t_wait_for 30 "the drill to detect the outage" detected
damage_in_place
touch "$flag"          # recovery completes, the drill reverts
rc=0
wait "$harness" || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 1 ] || { cat "$T_DIR/run.err" >&2; t_fail "faultline run exited $rc"; }
all_reverted
sqlite3 "$T_DB" "select count(*) from journal where json_extract(revert, '\$.ssh.destination') in ('alpha','beta','gamma')" |
	grep -qx 5 || t_fail "the journal does not name each remote fault's host"
t_log "ok: drill across three hosts injected and reverted everything"

# ---- 2. SIGKILL with every fault in place; recover reverts from the journal
remote_setup
snapshot
T_DB="$T_DIR/crash.db"
touch "$flag"
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
harness=$!
T_BG_PIDS+=("$harness")
t_wait_for 60 "six injected journal rows" all_injected
rm -f "$flag"
kill -KILL "$harness"
rc=0
wait "$harness" || rc=$?
[ "$rc" = 137 ] || t_fail "faultline exited $rc before the SIGKILL, not 137"
damage_in_place
rc=0
timeout 120 "$FAULTLINE_BIN" recover --db "$T_DB" >"$T_DIR/recover.out" 2>&1 || rc=$?
cat "$T_DIR/recover.out" >&2
[ "$rc" = 0 ] || t_fail "faultline recover exited $rc"
all_reverted
t_log "ok: SIGKILLed drill on three hosts reverted by faultline recover"
