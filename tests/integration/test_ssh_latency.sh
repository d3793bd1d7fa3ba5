#!/usr/bin/env bash
# Latency on a remote host over ssh is the host's own tc netem on what it
# sends (ssh_lib.sh: a real sshd in its own network namespace).
# Always: a remote latency fault without "direction": "out" is refused by
# validate (exit 2), naming the target. Then, when alpha's kernel has
# sch_netem: a drill delays alpha by 200 ms, the harness measures the TCP
# connect time to alpha's service rise by at least 150 ms, the harness is
# SIGKILLed and `faultline recover` deletes the qdisc from the journal
# alone (connect time back, qdisc as before). Without sch_netem (this
# suite's reference kernel has none): the run is refused before anything
# is journaled, exit 3, one line naming the fault and the host, and
# alpha's qdisc is untouched; then the same SIGKILL + recover flow runs
# against a stand-in tc on alpha (argv, journal, revert — not the delay).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/ssh_lib.sh
source "$(dirname "$0")/ssh_lib.sh"
command -v tc >/dev/null || s_skip "iproute2's tc is not installed"

s_host_add alpha 0
addr="$S_NET.2"
dev="${S_TAG}i0"
port=8080
s_ssh alpha "setsid /usr/bin/python3 -m http.server --directory $S_REMOTE --bind $addr $port </dev/null >/dev/null 2>&1 &"
svc_up() { curl -s -o /dev/null --max-time 1 "http://$addr:$port/"; }
t_wait_for 20 "alpha's http service" svc_up
qdisc() { s_ssh alpha tc qdisc show dev "$dev" root; }
before=$(qdisc)
journal_count() { sqlite3 -cmd '.timeout 2000' "$T_DB" "select count(*) from journal where $1" 2>/dev/null || echo -1; }

cat >"$T_DIR/env.json" <<JSON
{ "name": "remote-lat", "production": false,
  "targets": {
    "alpha-web": { "kind": "host", "host": "$addr", "port": $port,
                   "ssh": { "destination": "alpha", "config": "$S_CONFIG" } } } }
JSON
drill() { # DIRECTION
	cat >"$T_DIR/drill.json" <<JSON
{ "name": "slow-alpha", "environment": "env.json",
  "targets": { "rto": "1m" },
  "probes": [ { "name": "web", "type": "tcp", "host": "$addr", "port": $port,
                "interval": "100ms", "timeout": "2s", "availability": true } ],
  "detection": { "probe": "web", "consecutive_failures": 2 },
  "faults": [ { "name": "slow-web", "injector": "latency", "target": "alpha-web",
                "delay": "200ms", "direction": "$1" } ],
  "recovery": [ { "name": "back", "wait_for": "web", "timeout": "30s" } ],
  "stability_window": "200ms", "steady_state": "300ms", "timeout": "1m" }
JSON
}

# ---- validate: only what the host sends can be delayed remotely
drill both
rc=0
"$FAULTLINE_BIN" validate "$T_DIR/drill.json" 2>"$T_DIR/validate.err" || rc=$?
[ "$rc" = 2 ] || t_fail "validate of direction both on an ssh target exited $rc, not 2"
grep -q "latency fault 'slow-web': on remote target 'alpha-web' (ssh alpha) only what the host sends can be delayed" "$T_DIR/validate.err" ||
	{ cat "$T_DIR/validate.err" >&2; t_fail "validate did not name the remote target"; }
drill out

# Without sch_netem the netem path can still be followed end to end with a
# stand-in tc on alpha (a tmpfs over /usr/local/sbin in alpha's own mount
# namespace, ahead of /usr/sbin on PATH): it accepts the netem check,
# records the add, answers `qdisc show` with the qdisc it was given and
# deletes it — the flow, argv and journal, not the delay itself.
stand_in_tc() {
	local st="$S_REMOTE/netem"
	s_ssh alpha "mount -t tmpfs -o mode=0755 none /usr/local/sbin"
	cat >"$T_DIR/tc" <<SH
#!/bin/sh
echo "\$*" >>$S_REMOTE/tc.log
if [ "\$*" = "qdisc add dev lo root netem delay 1ms" ]; then exit 0; fi
if [ "\$1 \$2 \$5 \$6 \$8" = "qdisc add root handle netem" ]; then
	printf 'qdisc netem %s root refcnt 2 limit 1000 delay %s\n' "\$7" "\${10}" >$st.\$4; exit 0
fi
if [ "\$1 \$2 \$5" = "qdisc show root" ] && [ -f $st.\$4 ]; then cat $st.\$4; exit 0; fi
if [ "\$1 \$2 \$5" = "qdisc del root" ] && [ -f $st.\$4 ]; then rm -f $st.\$4; exit 0; fi
exec /usr/sbin/tc "\$@"
SH
	# s_ssh's stdin is /dev/null: the script travels in the command line.
	s_ssh alpha "echo $(base64 -w0 "$T_DIR/tc") | base64 -d >/usr/local/sbin/tc && chmod 755 /usr/local/sbin/tc"
	T_DB="$T_DIR/standin.db"
	"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
	harness=$!
	T_BG_PIDS+=("$harness")
	t_wait_for 30 "the injected journal row" injected
	grep -qx "qdisc add dev $dev root handle fa17: netem delay 200000us" <<<"$(s_ssh alpha cat "$S_REMOTE/tc.log")" ||
		{ s_ssh alpha cat "$S_REMOTE/tc.log" >&2; t_fail "tc was not asked for the netem qdisc on $dev"; }
	grep -q '^qdisc netem fa17: root' <<<"$(qdisc)" || t_fail "no netem qdisc on alpha's $dev"
	[ "$(sqlite3 "$T_DB" "select json_extract(revert, '\$.ssh.destination') || ' ' || json_extract(revert, '\$.dev') || ' ' || json_extract(revert, '\$.handle') from journal")" = "alpha $dev fa17" ] ||
		t_fail "the journal does not hold the host, the interface and the handle"
	kill -KILL "$harness"
	wait "$harness" 2>/dev/null || true
	rc=0
	timeout 60 "$FAULTLINE_BIN" recover --db "$T_DB" >"$T_DIR/recover.out" 2>&1 || rc=$?
	[ "$rc" = 0 ] || { cat "$T_DIR/recover.out" >&2; t_fail "faultline recover exited $rc"; }
	[ "$(qdisc)" = "$before" ] || t_fail "alpha's qdisc differs after recover"
	[ "$(journal_count "state <> 'reverted'")" = 0 ] || t_fail "journal rows still open after recover"
	t_log "ok: stand-in tc: netem added on $dev, journaled, deleted by recover after SIGKILL"
}
injected() {
	[ "$(journal_count "state = 'injected'")" = 1 ] && return 0
	kill -0 "$harness" 2>/dev/null || { cat "$T_DIR/run.err" >&2; t_fail "faultline run exited before injecting"; }
	return 1
}

if ! s_ssh alpha unshare -n tc qdisc add dev lo root netem delay 1ms >/dev/null 2>&1; then
	# ---- no sch_netem on alpha: refused, nothing journaled or touched
	rc=0
	timeout 60 "$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run.out" 2>"$T_DIR/run.err" || rc=$?
	[ "$rc" = 3 ] || { cat "$T_DIR/run.err" >&2; t_fail "run without netem exited $rc, not 3"; }
	grep -q "latency fault 'slow-web': checking tc netem on host 'alpha': tc netem does not work there" "$T_DIR/run.err" ||
		{ cat "$T_DIR/run.err" >&2; t_fail "no one-line refusal naming the fault and the host"; }
	[ "$(journal_count "state <> 'reverted'")" = 0 ] || t_fail "a refused fault left a journal row open"
	[ "$(qdisc)" = "$before" ] || t_fail "alpha's qdisc changed"
	t_log "ok: alpha has no sch_netem: remote latency refused, nothing touched"
	stand_in_tc
	exit 0
fi

# ---- sch_netem on alpha: a measured increase, reverted by recover
connect_ms() { # the median of 5 TCP connect times to alpha's service, in ms
	local i
	for i in 1 2 3 4 5; do
		curl -s -o /dev/null --max-time 5 -w '%{time_connect}\n' "http://$addr:$port/"
	done | sort -n | sed -n 3p | awk '{ printf "%d\n", $1 * 1000 }'
}
base=$(connect_ms)
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
harness=$!
T_BG_PIDS+=("$harness")
t_wait_for 30 "the injected journal row" injected
slow=$(connect_ms)
grep -q 'netem' <<<"$(qdisc)" || t_fail "no netem qdisc on alpha's $dev"
[ "$slow" -ge $((base + 150)) ] || t_fail "connect time $slow ms under a 200 ms delay (before: $base ms)"
kill -KILL "$harness"
wait "$harness" 2>/dev/null || true
rc=0
timeout 60 "$FAULTLINE_BIN" recover --db "$T_DB" >"$T_DIR/recover.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || { cat "$T_DIR/recover.out" >&2; t_fail "faultline recover exited $rc"; }
[ "$(qdisc)" = "$before" ] || t_fail "alpha's qdisc differs after recover"
after=$(connect_ms)
[ "$after" -lt $((base + 100)) ] || t_fail "connect time $after ms after recover (before: $base ms)"
t_log "ok: remote latency: connect $base ms -> $slow ms -> $after ms, reverted by recover"
