#!/usr/bin/env bash
# A network partition made on a remote host over ssh, with the host's own
# nft (ssh_lib.sh: a real sshd in its own network namespace). Part 1: a
# drill rejects the host's service port for 1 s; the harness's tcp probe
# sees the outage, the fault is reverted, and the host's ruleset is back to
# what it was (nothing was made locally). Part 2: the whole host is
# dropped except the harness's ssh session; the harness is SIGKILLed with
# the fault in place and `faultline recover` deletes the table on the host
# from the journal alone.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/ssh_lib.sh
source "$(dirname "$0")/ssh_lib.sh"
command -v nft >/dev/null || s_skip "nftables is not installed"

s_host_add alpha 0
addr="$S_NET.2"
port=8080
# The service: a python http.server on alpha (its pid namespace: gone with it).
s_ssh alpha "setsid /usr/bin/python3 -m http.server --directory $S_REMOTE --bind $addr $port </dev/null >/dev/null 2>&1 &"
svc_up() { curl -s -o /dev/null --max-time 1 "http://$addr:$port/"; }
t_wait_for 20 "alpha's http service" svc_up
ruleset() { s_ssh alpha nft list ruleset; }
# alpha's own firewall, which the fault must leave exactly as it was.
s_ssh alpha "nft 'add table inet userfw { chain input { type filter hook input priority 0; policy accept; tcp dport 9 drop; }; }'"
before=$(ruleset)
# Other tests (ctest -j2) add and remove their own tables in this
# namespace meanwhile: only a table of this fault's name may not be here.
local_fault_table() { grep -q 'faultline_dark_alpha_' <<<"$(nft list tables)"; }

cat >"$T_DIR/env.json" <<JSON
{ "name": "remote-net", "production": false,
  "targets": {
    "alpha-web": { "kind": "host", "host": "$addr", "port": $port,
                   "ssh": { "destination": "alpha", "config": "$S_CONFIG" } },
    "alpha-all": { "kind": "host", "host": "$addr",
                   "ssh": { "destination": "alpha", "config": "$S_CONFIG" } } } }
JSON
drill() { # NAME FAULT-JSON
	cat >"$T_DIR/$1.json" <<JSON
{ "name": "$1", "environment": "env.json",
  "targets": { "rto": "1m" },
  "probes": [ { "name": "web", "type": "tcp", "host": "$addr", "port": $port,
                "interval": "50ms", "timeout": "500ms", "availability": true } ],
  "detection": { "probe": "web", "consecutive_failures": 2 },
  "faults": [ $2 ],
  "recovery": [ { "name": "back", "wait_for": "web", "timeout": "30s" } ],
  "stability_window": "200ms", "steady_state": "300ms", "timeout": "1m" }
JSON
}
journal_count() { sqlite3 -cmd '.timeout 2000' "$T_DB" "select count(*) from journal where $1" 2>/dev/null || echo -1; }

# ---- 1. reject the service port for 1 s: seen by the probe, reverted
drill part1 '{ "name": "cut-web", "injector": "network", "target": "alpha-web", "mode": "reject", "duration": "1s" }'
rc=0
timeout 60 "$FAULTLINE_BIN" run "$T_DIR/part1.json" --db "$T_DB" >"$T_DIR/run.out" 2>"$T_DIR/run.err" || rc=$?
[ "$rc" = 0 ] || { cat "$T_DIR/run.err" >&2; t_fail "faultline run exited $rc"; }
grep -q 'detected at' "$T_DIR/run.err" || { cat "$T_DIR/run.err" >&2; t_fail "the probe did not see the partition"; }
[ "$(ruleset)" = "$before" ] || t_fail "alpha's ruleset differs after the drill"
! local_fault_table || t_fail "the fault's table is in the local ruleset"
[ "$(journal_count "state <> 'reverted'")" = 0 ] || t_fail "journal rows still open"
[ "$(sqlite3 "$T_DB" "select json_extract(revert, '\$.ssh.destination') || ' ' || (json_extract(revert, '\$.table') like 'faultline_%') from journal")" = "alpha 1" ] ||
	t_fail "the journal does not name the host and the table"
svc_up || t_fail "alpha's service unreachable after the revert"
[ -n "${FL_TEST_VERBOSE:-}" ] && cat "$T_DIR/run.err" >&2
t_log "ok: port partition on alpha seen by the probe and reverted"

# ---- 2. the whole host dark but for our ssh; SIGKILL; recover
T_DB="$T_DIR/crash.db"
drill part2 '{ "name": "dark-alpha", "injector": "network", "target": "alpha-all", "mode": "drop" }'
"$FAULTLINE_BIN" run "$T_DIR/part2.json" --db "$T_DB" >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
harness=$!
T_BG_PIDS+=("$harness")
injected() {
	[ "$(journal_count "state = 'injected'")" = 1 ] && return 0
	kill -0 "$harness" 2>/dev/null || { cat "$T_DIR/run.err" >&2; t_fail "faultline run exited before injecting"; }
	return 1
}
t_wait_for 30 "the injected journal row" injected
! svc_up || t_fail "alpha's service still answers under the partition"
# Read whole, then matched: `ruleset | grep -q` under pipefail failed when
# grep left early and ssh, still writing, died of SIGPIPE.
rs=$(ruleset)
grep -q 'table inet faultline_dark_alpha_' <<<"$rs" || { echo "$rs" >&2; t_fail "no faultline table on alpha"; }
! local_fault_table || t_fail "the fault's table is in the local ruleset, not only on alpha"
kill -KILL "$harness"
rc=0
wait "$harness" || rc=$?
[ "$rc" = 137 ] || t_fail "faultline exited $rc before the SIGKILL, not 137"
! svc_up || t_fail "the partition did not outlive the harness"
rc=0
timeout 60 "$FAULTLINE_BIN" recover --db "$T_DB" >"$T_DIR/recover.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || { cat "$T_DIR/recover.out" >&2; t_fail "faultline recover exited $rc"; }
[ "$(ruleset)" = "$before" ] || t_fail "alpha's ruleset differs after recover"
svc_up || t_fail "alpha's service unreachable after recover"
[ "$(journal_count "state <> 'reverted'")" = 0 ] || t_fail "journal rows still open after recover"
# A second recover finds nothing to do; the revert itself is idempotent.
timeout 60 "$FAULTLINE_BIN" recover --db "$T_DB" >/dev/null 2>&1 || t_fail "a second recover failed"
t_log "ok: SIGKILLed partition on alpha reverted by faultline recover"

