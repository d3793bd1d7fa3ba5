#!/usr/bin/env bash
# The aws probe kind against moto: each watch (instances_running,
# asg_in_service, targets_healthy, cluster_writer) as a validation check
# that passes on the emulator's state and fails, with the reason, when the
# state says otherwise; an instances_running availability probe sampled
# through a drill that stops the instance, so the outage it measures comes
# from cloud state; the minimum interval (AWS rate limits) refused at its
# file:line:col; the secret in no artefact.
#
# Where the emulator differs from AWS: moto changes instance state at once
# (no "stopping"), so the probe sees the outage begin at the stop call and
# end at the start call — on AWS the states in between add to it. moto's
# target health follows the instance state, not health checks.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/aws_lib.sh"

moto_start
export AWS_ENDPOINT_URL=$MOTO_URL

A=$(run_instance app=web faultline:environment=staging)
B=$(run_instance app=web faultline:environment=staging)
{ [ -n "$A" ] && [ -n "$B" ]; } || t_fail "could not create instances"
"$AWS_CALL" autoscaling CreateLaunchConfiguration LaunchConfigurationName=lc ImageId=ami-12c6146b \
	InstanceType=t2.micro >/dev/null || t_fail "launch configuration"
"$AWS_CALL" autoscaling CreateAutoScalingGroup AutoScalingGroupName=web-asg LaunchConfigurationName=lc \
	MinSize=2 MaxSize=4 DesiredCapacity=2 AvailabilityZones.member.1=eu-west-1a >/dev/null ||
	t_fail "group"
VPC=$("$AWS_CALL" ec2 DescribeVpcs | grep -o '<vpcId>[^<]*' | head -n 1 | cut -d'>' -f2)
TG=$("$AWS_CALL" elbv2 CreateTargetGroup Name=web Protocol=HTTP Port=80 VpcId="$VPC" |
	grep -o '<TargetGroupArn>[^<]*' | head -n 1 | cut -d'>' -f2)
[ -n "$TG" ] || t_fail "target group"
"$AWS_CALL" elbv2 RegisterTargets TargetGroupArn="$TG" Targets.member.1.Id="$A" Targets.member.1.Port=8080 \
	Targets.member.2.Id="$B" Targets.member.2.Port=8080 >/dev/null || t_fail "register targets"
"$AWS_CALL" rds CreateDBCluster DBClusterIdentifier=aur Engine=aurora-postgresql MasterUsername=u \
	MasterUserPassword=passwordpassword >/dev/null || t_fail "cluster"
for i in a b; do
	"$AWS_CALL" rds CreateDBInstance DBInstanceIdentifier="aur-$i" DBInstanceClass=db.r5.large \
		Engine=aurora-postgresql DBClusterIdentifier=aur >/dev/null || t_fail "instance aur-$i"
done

write_env 123456789012 "{ \"ids\": [\"$A\"] }"
# write_checks FAULT-DURATION CHECK-JSON...: a drill stopping A, watched by
# an aws availability probe, validated by the given checks.
write_checks() {
	local dur=$1 checks
	shift
	checks=$(IFS=,; echo "$*")
	cat >"$T_DIR/drill.json" <<JSON
{ "name": "aws-probe", "environment": "env.json", "targets": { "rto": "60s" },
  "probes": [ { "name": "cloud", "type": "aws", "target": "web", "watch": "instances_running",
                "interval": "1s", "availability": true },
              { "name": "asg", "type": "aws", "target": "web", "watch": "asg_in_service",
                "group": "web-asg", "interval": "1s" } ],
  "faults": [ { "name": "stop-web", "injector": "aws.ec2", "target": "web", "action": "stop",
                "duration": "$dur" } ],
  "validation": [ $checks ] }
JSON
}
# probe_field NAME FIELD: a field of the last run's probe summary.
probe_field() {
	"$FAULTLINE_BIN" runs --json --db "$T_DB" --limit 1 | python3 -c '
import json, sys
run = json.load(sys.stdin)[0]
print(next(p for p in run["probes"] if p["name"] == sys.argv[1])[sys.argv[2]])' "$1" "$2"
}
run_field() {
	"$FAULTLINE_BIN" runs --json --db "$T_DB" --limit 1 | python3 -c '
import json, sys
print(json.load(sys.stdin)[0][sys.argv[1]])' "$1"
}

t_log "1. a drill measured from cloud state, validated by every watch"
write_checks 3s \
	'{ "name": "running", "type": "aws", "target": "web", "watch": "instances_running" }' \
	'{ "name": "asg", "type": "aws", "target": "web", "watch": "asg_in_service", "group": "web-asg" }' \
	"{ \"name\": \"tg\", \"type\": \"aws\", \"target\": \"web\", \"watch\": \"targets_healthy\", \"target_group\": \"$TG\" }" \
	'{ "name": "writer", "type": "aws", "target": "web", "watch": "cluster_writer", "cluster": "aur", "writer": "aur-a" }'
"$FAULTLINE_BIN" validate "$T_DIR/drill.json" >&2 || t_fail "drill does not validate"
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run1.out" 2>"$T_DIR/run1.err" ||
	t_fail "drill exited $?: $(tail -n 5 "$T_DIR/run1.err")"
is_state "$A" running || t_fail "$A not running after the drill"
grep -q "detected at .*(probe cloud" "$T_DIR/run1.err" || t_fail "outage not detected by the aws probe"
[ "$(run_field verdict)" = pass ] || t_fail "verdict $(run_field verdict)"
rto=$(run_field rto_ms)
samples=$(probe_field cloud samples); failures=$(probe_field cloud failures)
t_log "   rto ${rto} ms; probe cloud: $samples samples, $failures failed"
# The instance is stopped for 3 s and sampled every second: 2 to 4 failures.
{ [ "$failures" -ge 2 ] && [ "$failures" -le 4 ]; } || t_fail "cloud: $failures failed samples, expected 2-4"
python3 -c 'import sys; r = float(sys.argv[1]); sys.exit(not 2000 <= r <= 6000)' "$rto" ||
	t_fail "rto $rto ms, expected 2-6 s for a 3 s stop sampled every 1 s"
# moto keeps the group whole (a stopped instance outside the group).
[ "$(probe_field asg failures)" = 0 ] || t_fail "asg probe failed $(probe_field asg failures) samples"

t_log "2. a check that the state contradicts fails validation with the reason"
write_checks 1s '{ "name": "writer", "type": "aws", "target": "web", "watch": "cluster_writer", "cluster": "aur", "writer": "aur-b", "timeout": "2s" }'
rc=0; "$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run2.out" 2>"$T_DIR/run2.err" || rc=$?
[ "$rc" = 1 ] || t_fail "wrong writer: exit $rc, expected 1: $(tail -n 5 "$T_DIR/run2.err")"
grep -q "validation 'writer' failed: cluster aur available, writer aur-a, wanted aur-b" "$T_DIR/run2.out" ||
	t_fail "no reason for the failed check: $(cat "$T_DIR/run2.out")"

t_log "3. bad input: below the minimum interval, unknown watch, missing key, not a cloud target"
bad() { # WHAT EXPECTED-MESSAGE PROBE-JSON
	cat >"$T_DIR/bad.json" <<JSON
{ "name": "bad", "environment": "env.json", "targets": { "rto": "60s" },
  "probes": [ $3 ],
  "faults": [ { "name": "stop-web", "injector": "aws.ec2", "target": "web", "action": "stop", "duration": "1s" } ] }
JSON
	local rc=0
	"$FAULTLINE_BIN" validate "$T_DIR/bad.json" >"$T_DIR/bad.out" 2>&1 || rc=$?
	[ "$rc" = 2 ] || t_fail "$1: exit $rc, expected 2"
	grep -q "bad.json:2:[0-9]*: .*$2" "$T_DIR/bad.out" || t_fail "$1: $(cat "$T_DIR/bad.out")"
}
bad interval "an aws probe samples at most once a second" \
	'{ "name": "c", "type": "aws", "target": "web", "watch": "instances_running", "interval": "500ms", "availability": true }'
bad watch "unknown watch 'instances'" \
	'{ "name": "c", "type": "aws", "target": "web", "watch": "instances", "availability": true }'
bad group "missing key 'group'" \
	'{ "name": "c", "type": "aws", "target": "web", "watch": "asg_in_service", "availability": true }'
bad key "'cluster': not a key of watch 'asg_in_service'" \
	'{ "name": "c", "type": "aws", "target": "web", "watch": "asg_in_service", "group": "g", "cluster": "x", "availability": true }'
bad target "needs a 'target'" \
	'{ "name": "c", "type": "aws", "watch": "instances_running", "availability": true }'

t_log "4. the secret is in no artefact"
aws_no_secret "$T_DIR"/run*.out "$T_DIR"/run*.err "$T_DB"
t_log "ok"
