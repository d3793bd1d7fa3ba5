#!/usr/bin/env bash
# A host whose link is cut mid-drill: faults on alpha (file flip) and beta
# (process paused); beta's link goes down while both are in place. The
# drill reverts alpha, retries beta a bounded number of times, reports
# REVERT FAILED naming the host and exits 3; the journal keeps beta's row
# as revert_failed. `faultline recover` while the link is still down fails
# the same way (exit 3, host named, row kept); once the link is back,
# `recover` reverts it and exits 0.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/ssh_lib.sh
source "$(dirname "$0")/ssh_lib.sh"

s_host_add alpha 0
s_host_add beta 1

svc_start_cmd="setsid sleep 100000 </dev/null >/dev/null 2>&1 & echo \$! >$S_REMOTE/svc.pid"
svc_state() { s_ssh "$1" "cut -d' ' -f3 /proc/\$(cat $S_REMOTE/svc.pid)/stat 2>/dev/null || echo gone"; }
data_sum() { s_ssh "$1" "sha256sum $S_REMOTE/data.bin | cut -d' ' -f1"; }
s_ssh alpha "head -c 4096 /dev/urandom >$S_REMOTE/data.bin"
s_ssh beta "$svc_start_cmd"
a_sum=$(data_sum alpha)

flag="$T_DIR/up"
cat >"$T_DIR/env.json" <<JSON
{ "name": "two-hosts", "production": false,
  "targets": {
    "alpha-data": { "kind": "file", "path": "$S_REMOTE/data.bin",
                    "ssh": { "destination": "alpha", "config": "$S_CONFIG" } },
    "beta-svc": { "kind": "process", "pidfile": "$S_REMOTE/svc.pid",
                  "ssh": { "destination": "beta", "config": "$S_CONFIG" } } } }
JSON
cat >"$T_DIR/drill.json" <<JSON
{ "name": "link-cut", "environment": "env.json",
  "targets": { "rto": "10m" },
  "blast_radius": { "max_targets": 3 },
  "probes": [ { "name": "up", "type": "command", "argv": ["test", "-f", "$flag"],
                "interval": "50ms", "timeout": "2s", "availability": true } ],
  "detection": { "probe": "up", "consecutive_failures": 2 },
  "faults": [
    { "name": "outage", "injector": "exec", "inject": ["rm", "-f", "$flag"], "revert": ["true"] },
    { "name": "flip-alpha", "injector": "file", "target": "alpha-data", "mode": "flip", "offsets": [0, 100, 4095] },
    { "name": "pause-beta", "injector": "process", "target": "beta-svc", "signal": "STOP", "duration": "5m" } ],
  "recovery": [ { "name": "resume", "wait_for": "up", "timeout": "9m" } ],
  "stability_window": "200ms", "steady_state": "300ms", "timeout": "10m" }
JSON

journal() { sqlite3 -cmd '.timeout 2000' "$T_DB" "$1" 2>/dev/null; }
both_injected() {
	[ "$(journal "select count(*) from journal where state = 'injected'")" = 3 ] && return 0
	kill -0 "$harness" 2>/dev/null || { cat "$T_DIR/run.err" >&2; t_fail "faultline run exited before all faults were injected"; }
	return 1
}
detected() { grep -q 'detected at' "$T_DIR/run.err"; }

touch "$flag"
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
harness=$!
T_BG_PIDS+=("$harness")
t_wait_for 60 "three injected journal rows" both_injected
[ "$(svc_state beta)" = T ] || t_fail "beta's service is not stopped"
t_wait_for 30 "the drill to detect the outage (the flag is gone)" detected
s_link_cut beta
t0=$SECONDS
touch "$flag"
rc=0
wait "$harness" || rc=$?
cat "$T_DIR/run.err" >&2
[ "$rc" = 3 ] || t_fail "faultline run exited $rc with beta unreachable, wanted 3"
grep -q "REVERT FAILED pause-beta: host 'beta': unreachable after [0-9]* attempts" "$T_DIR/run.err" ||
	t_fail "the drill did not report beta's revert failure naming the host"
t_log "drill gave up on beta after $((SECONDS - t0)) s"
[ "$(data_sum alpha)" = "$a_sum" ] || t_fail "alpha was not reverted while beta was away"
[ "$(journal "select state from journal where injector = 'process'")" = revert_failed ] ||
	t_fail "beta's journal row is not revert_failed"

# Still cut: recover fails the same way and keeps the row.
rc=0
timeout 120 "$FAULTLINE_BIN" recover --db "$T_DB" >"$T_DIR/recover1.out" 2>&1 || rc=$?
cat "$T_DIR/recover1.out" >&2
[ "$rc" = 3 ] || t_fail "recover with beta unreachable exited $rc, wanted 3"
grep -q "host 'beta': unreachable" "$T_DIR/recover1.out" || t_fail "recover did not name the unreachable host"
[ "$(journal "select state from journal where injector = 'process'")" = revert_failed ] ||
	t_fail "beta's journal row was dropped by a failed recover"

# The link is back: the next recover reverts it.
s_link_restore beta
t_wait_for 30 "beta reachable again" s_ssh beta true
rc=0
timeout 120 "$FAULTLINE_BIN" recover --db "$T_DB" >"$T_DIR/recover2.out" 2>&1 || rc=$?
cat "$T_DIR/recover2.out" >&2
[ "$rc" = 0 ] || t_fail "recover after the link came back exited $rc"
st=$(svc_state beta)
[ "$st" = S ] || [ "$st" = R ] || t_fail "beta's service is '$st' after recover, not continued"
[ "$(journal "select count(*) from journal where state <> 'reverted'")" = 0 ] || t_fail "journal rows still open"
t_log "ok: link cut mid-drill reported, revert retried after the link returned"
