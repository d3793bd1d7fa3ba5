#!/usr/bin/env bash
# The clock injector's live mode on a real sshd host (network, mount and
# pid namespaces: the process and its timestamp file exist only there). On
# host alpha a shell loop runs under libfaketime (LD_PRELOAD, a timestamp
# file in the host's own $S_REMOTE, FAKETIME_NO_CACHE=1) writing `date +%s`
# into a file. A drill skews it by +400d: the loop's time jumps (read over
# ssh), the drill's probe on the host sees it, and revert removes the file
# that did not exist before. Then a skew on top of an existing "-10" offset
# is SIGKILLed mid-fault and `faultline recover` puts "-10" back byte for
# byte, from the journal alone (which names the host). First, a process
# not under libfaketime on the host is refused before anything is
# journaled, naming the host. Skips (77) without root or libfaketime.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/ssh_lib.sh
source "$(dirname "$0")/ssh_lib.sh"

lib=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
[ -r "$lib" ] || s_skip "libfaketime not installed (Debian package libfaketime)"

s_host_add alpha 0

ts="$S_REMOTE/faketime"
day=86400
# The service: a dynamically linked shell whose every `date` runs under
# libfaketime too; its pid is in $S_REMOTE/svc.pid on alpha.
svc_start() {
	s_ssh alpha "setsid env LD_PRELOAD=$lib FAKETIME_TIMESTAMP_FILE=$ts FAKETIME_NO_CACHE=1 \
		sh -c 'while :; do date +%s >$S_REMOTE/now.t && mv $S_REMOTE/now.t $S_REMOTE/now; sleep 0.05; done' \
		</dev/null >/dev/null 2>&1 & echo \$! >$S_REMOTE/svc.pid"
}
# The service's time minus the host's real time, in days (rounded down).
skew_days() {
	s_ssh alpha "t=\$(cat $S_REMOTE/now 2>/dev/null) && [ -n \"\$t\" ] && echo \$(( (t - \$(date +%s) + 5) / $day ))"
}
skewed() { [ "$(skew_days)" = 400 ]; }
real_time() { [ "$(skew_days)" = 0 ]; }
ts_state() { s_ssh alpha "if [ -e $ts ]; then od -An -c $ts | tr -s ' '; else echo absent; fi"; }

cat >"$T_DIR/env.json" <<JSON
{ "name": "one-host", "production": false,
  "targets": {
    "alpha-svc": { "kind": "process", "pidfile": "$S_REMOTE/svc.pid",
                   "ssh": { "destination": "alpha", "config": "$S_CONFIG" } },
    "alpha-plain": { "kind": "process", "match": "sleep 4242",
                     "ssh": { "destination": "alpha", "config": "$S_CONFIG" } } } }
JSON
drill() { # drill FILE DURATION [TARGET]
	cat >"$1" <<JSON
{ "name": "skew-alpha", "environment": "env.json",
  "targets": { "rto": "1m" },
  "blast_radius": { "max_targets": 1 },
  "probes": [ { "name": "real-time", "type": "command", "target": "alpha-svc",
                "argv": ["sh", "-c", "[ \$(cat $S_REMOTE/now) -lt \$(( \$(date +%s) + $day )) ]"],
                "interval": "100ms", "timeout": "3s", "availability": true } ],
  "detection": { "probe": "real-time", "consecutive_failures": 2 },
  "faults": [ { "name": "skew", "injector": "clock", "target": "${3:-alpha-svc}",
                "offset": "+400d", "duration": "$2" } ],
  "recovery": [ { "name": "time-back", "wait_for": "real-time", "timeout": "30s" } ],
  "stability_window": "200ms", "steady_state": "300ms", "timeout": "2m" }
JSON
}
journal_count() { sqlite3 -cmd '.timeout 2000' "$T_DB" "select count(*) from journal where $1" 2>/dev/null || echo -1; }

svc_start
t_wait_for 10 "the service to report its time" real_time
pid=$(s_ssh alpha cat "$S_REMOTE/svc.pid")
[ ! -e "$S_REMOTE/svc.pid" ] || t_fail "svc.pid visible locally: the host is not separate"

# ---- 0. a process on the host that is not under libfaketime: refused
s_ssh alpha "setsid sleep 4242 </dev/null >/dev/null 2>&1 &"
drill "$T_DIR/plain.json" 3s alpha-plain
rc=0
"$FAULTLINE_BIN" run "$T_DIR/plain.json" --db "$T_DIR/plain.db" >"$T_DIR/run.out" 2>"$T_DIR/run.err" || rc=$?
[ "$rc" = 3 ] || { cat "$T_DIR/run.err" >&2; t_fail "a skew of a process not under libfaketime: exit $rc, wanted 3"; }
grep -q "alpha-plain: pid [0-9]* on alpha does not run under libfaketime" "$T_DIR/run.err" ||
	{ cat "$T_DIR/run.err" >&2; t_fail "the refusal does not name the process and host alpha"; }
[ "$(ts_state)" = absent ] || t_fail "a refused fault wrote the timestamp file"
t_log "ok: a process not under libfaketime on alpha refused, naming the host"

# ---- 1. a whole drill: skew seen on the host, then reverted (file removed)
[ "$(ts_state)" = absent ] || t_fail "timestamp file exists before the drill"
drill "$T_DIR/drill.json" 3s
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
harness=$!
T_BG_PIDS+=("$harness")
t_wait_for 20 "the service's clock 400 days ahead" skewed
rc=0
wait "$harness" || rc=$?
[ "$rc" = 0 ] || { cat "$T_DIR/run.err" >&2; t_fail "faultline run exited $rc, wanted 0"; }
grep -q 'detected at' "$T_DIR/run.err" || t_fail "the drill's probe on alpha never saw the skew"
t_wait_for 5 "the service back on real time" real_time
[ "$(ts_state)" = absent ] || t_fail "timestamp file not removed by revert: $(ts_state)"
[ "$(s_ssh alpha cat "$S_REMOTE/svc.pid")" = "$pid" ] || t_fail "the service was restarted: the skew must be live"
[ "$(journal_count "state = 'reverted' and json_extract(revert, '\$.ssh.destination') = 'alpha'")" = 1 ] ||
	t_fail "the journal does not hold one reverted clock fault naming host alpha"
t_log "ok: +400d on alpha seen by the host's probe, reverted (file removed)"

# ---- 2. an existing offset; SIGKILL mid-fault; recover restores it
s_ssh alpha "printf '%s\n' -10 >$ts"
orig=$(ts_state)
T_DB="$T_DIR/crash.db"
drill "$T_DIR/drill.json" 5m
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
harness=$!
T_BG_PIDS+=("$harness")
injected() { [ "$(journal_count "state = 'injected'")" = 1 ]; }
t_wait_for 20 "the clock fault injected" injected
t_wait_for 10 "the service's clock 400 days ahead" skewed
kill -KILL "$harness"
rc=0
wait "$harness" || rc=$?
[ "$rc" = 137 ] || t_fail "faultline exited $rc before the SIGKILL, not 137"
skewed || t_fail "the skew did not outlive the harness"
rc=0
timeout 60 "$FAULTLINE_BIN" recover --db "$T_DB" >"$T_DIR/recover.out" 2>&1 || rc=$?
cat "$T_DIR/recover.out" >&2
[ "$rc" = 0 ] || t_fail "faultline recover exited $rc"
[ "$(ts_state)" = "$orig" ] || t_fail "timestamp file after recover: '$(ts_state)', wanted '$orig'"
t_wait_for 5 "the service back on its -10 s offset" real_time
[ "$(journal_count "state <> 'reverted'")" = 0 ] || t_fail "journal rows still open after recover"
t_log "ok: SIGKILLed skew on alpha reverted by faultline recover (-10 back)"
