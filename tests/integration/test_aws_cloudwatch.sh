#!/usr/bin/env bash
# Detection by a CloudWatch alarm entering ALARM, against moto: the drill
# stops an instance (measured by an aws instances_running probe), the alarm
# enters ALARM while the fault is in, and its observation is the drill's
# t_detect (with the alarm's own StateUpdatedTimestamp kept as
# t_alert_starts_at); an alarm already in ALARM before the drill is a
# previous incident and does not count; an unknown alarm and an interval
# under 1 s are reported clearly.
#
# Where the emulator differs from AWS: moto never evaluates alarms (no
# metrics pipeline), so the test itself puts the alarm into ALARM with
# SetAlarmState once the instance is seen stopped — what is measured is
# faultline's observation of the transition, not CloudWatch's evaluation
# delay (on AWS that delay is part of the time to detect).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/aws_lib.sh"

moto_start
export AWS_ENDPOINT_URL=$MOTO_URL

A=$(run_instance app=web faultline:environment=staging)
[ -n "$A" ] || t_fail "could not create an instance"
maws cloudwatch put-metric-alarm --alarm-name web-down --metric-name StatusCheckFailed \
	--namespace AWS/EC2 --statistic Maximum --period 60 --evaluation-periods 1 --threshold 1 \
	--comparison-operator GreaterThanOrEqualToThreshold || t_fail "alarm"
alarm_state() { maws cloudwatch set-alarm-state --alarm-name "$1" --state-value "$2" --state-reason faultline-test; }

write_env 123456789012 "{ \"ids\": [\"$A\"] }"
# write_cw_drill DURATION CLOUDWATCH-JSON
write_cw_drill() {
	cat >"$T_DIR/drill.json" <<JSON
{ "name": "aws-cloudwatch", "environment": "env.json", "targets": { "rto": "60s" },
  "probes": [ { "name": "cloud", "type": "aws", "target": "web", "watch": "instances_running",
                "interval": "1s", "availability": true } ],
  "detection": { "cloudwatch": $2 },
  "faults": [ { "name": "stop-web", "injector": "aws.ec2", "target": "web", "action": "stop",
                "duration": "$1" } ] }
JSON
}
run_bg() {
	"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/$1.out" 2>"$T_DIR/$1.err" &
	RUN_PID=$!
}
event() { # NAME FIELD: of the last run
	"$FAULTLINE_BIN" runs --json --db "$T_DB" --limit 1 | python3 -c '
import json, sys
ev = [e for e in json.load(sys.stdin)[0]["events"] if e["name"] == sys.argv[1]]
print(ev[0][sys.argv[2]] if ev else "none")' "$1" "$2"
}

t_log "1. the alarm enters ALARM during the fault: that is t_detect"
alarm_state web-down OK || t_fail "set OK"
write_cw_drill 8s '{ "alarm": "web-down", "target": "web", "interval": "1s", "timeout": "60s" }'
"$FAULTLINE_BIN" validate "$T_DIR/drill.json" >&2 || t_fail "drill does not validate"
run_bg run1
t_wait_for 60 "$A stopped by the drill" is_state "$A" stopped
alarm_state web-down ALARM || t_fail "set ALARM"
wait "$RUN_PID" || t_fail "drill exited $?: $(tail -n 5 "$T_DIR/run1.err")"
grep -q "detected at t0+[0-9.]* s ± [0-9.]* s (alert 'web-down' observed in cloudwatch: entered ALARM)" \
	"$T_DIR/run1.err" || t_fail "no cloudwatch detection: $(cat "$T_DIR/run1.err")"
det=$(event t_detect t_ms); unc=$(event t_detect uncertainty_ms); starts=$(event t_alert_starts_at t_ms)
t_log "   t_detect ${det} ms ± ${unc} ms, alarm's own transition at ${starts} ms"
python3 - "$det" "$unc" "$starts" <<'PY' || t_fail "detection figures out of bounds"
import sys
det, unc, starts = map(float, sys.argv[1:])
# Polled every 1 s: seen within 1 s (+ a request) of the transition, which
# is after the injection; the uncertainty is one poll gap.
assert 0 < starts <= det, (starts, det)
assert det - starts < 1500, (det, starts)
assert 0 < unc < 1500, unc
PY
is_state "$A" running || t_fail "$A not running after the drill"

t_log "2. an alarm already in ALARM before the drill does not count"
alarm_state web-down ALARM
write_cw_drill 2s '{ "alarm": "web-down", "target": "web", "interval": "1s", "timeout": "3s" }'
rc=0; "$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run2.out" 2>"$T_DIR/run2.err" || rc=$?
[ "$rc" = 1 ] || t_fail "stale ALARM: exit $rc, expected 1: $(tail -n 5 "$T_DIR/run2.err")"
grep -q "alert 'web-down' did not fire within 3s (it was already active before the injection)" \
	"$T_DIR/run2.err" || t_fail "no clear reason: $(cat "$T_DIR/run2.err")"
is_state "$A" running || t_fail "$A not running after the drill"

t_log "3. an unknown alarm: not detected, with AWS's answer as the reason"
write_cw_drill 2s '{ "alarm": "no-such-alarm", "target": "web", "interval": "1s", "timeout": "3s" }'
rc=0; "$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run3.out" 2>"$T_DIR/run3.err" || rc=$?
[ "$rc" = 1 ] || t_fail "unknown alarm: exit $rc, expected 1"
grep -q "did not fire within 3s (last poll: aws cloudwatch DescribeAlarms: no alarm named 'no-such-alarm')" \
	"$T_DIR/run3.err" || t_fail "no clear reason: $(cat "$T_DIR/run3.err")"

t_log "4. bad input: interval under 1 s, both alert sources, missing alarm"
bad() { # WHAT EXPECTED CLOUDWATCH-JSON [EXTRA-DETECTION]
	write_cw_drill 1s "$3"
	[ -z "${4:-}" ] || sed -i "s|\"detection\": {|\"detection\": { $4,|" "$T_DIR/drill.json"
	local rc=0
	"$FAULTLINE_BIN" validate "$T_DIR/drill.json" >"$T_DIR/bad.out" 2>&1 || rc=$?
	[ "$rc" = 2 ] || t_fail "$1: exit $rc, expected 2"
	grep -q "drill.json:4:[0-9]*: .*$2" "$T_DIR/bad.out" || t_fail "$1: $(cat "$T_DIR/bad.out")"
}
bad interval "CloudWatch is polled at most once a second" '{ "alarm": "a", "target": "web", "interval": "200ms" }'
bad alarm "missing key 'alarm'" '{ "target": "web" }'
bad both "detection by one alert source only" '{ "alarm": "a", "target": "web" }' \
	'"alertmanager": { "url": "http://127.0.0.1:1/", "alertname": "x" }'

aws_no_secret "$T_DIR"/run*.out "$T_DIR"/run*.err "$T_DB"
t_log "ok"
