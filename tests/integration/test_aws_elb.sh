#!/usr/bin/env bash
# aws.elb_deregister against moto: the selected instances leave the target
# group during the fault and are registered again, with their ports, by the
# revert — read back through DescribeTargetHealth — and again after SIGKILL
# through `faultline recover`.
#
# Where the emulator differs from AWS: moto drops a deregistered target at
# once (AWS keeps it "draining" for the deregistration delay) and reports
# registered targets without running health checks.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/aws_lib.sh"

moto_start
export AWS_ENDPOINT_URL=$MOTO_URL
aws_drill_helpers

A=$(run_instance app=web faultline:environment=staging)
B=$(run_instance app=web faultline:environment=staging)
VPC=$("$AWS_CALL" ec2 DescribeVpcs | grep -o '<vpcId>[^<]*' | head -n 1 | cut -d'>' -f2)
TG=$("$AWS_CALL" elbv2 CreateTargetGroup Name=web Protocol=HTTP Port=80 VpcId="$VPC" |
	grep -o '<TargetGroupArn>[^<]*' | head -n 1 | cut -d'>' -f2)
[ -n "$TG" ] || t_fail "no target group"
"$AWS_CALL" elbv2 RegisterTargets TargetGroupArn="$TG" Targets.member.1.Id="$A" Targets.member.1.Port=8080 \
	Targets.member.2.Id="$B" Targets.member.2.Port=8081 >/dev/null || t_fail "register failed"
# registered: "id:port id:port" sorted
registered() {
	"$AWS_CALL" elbv2 DescribeTargetHealth TargetGroupArn="$TG" | python3 -c '
import re, sys
x = sys.stdin.read()
print(" ".join(sorted("%s:%s" % m for m in re.findall(r"<Target>\s*<Id>([^<]*)</Id>\s*<Port>([^<]*)</Port>", x))))'
}
BOTH=$(printf '%s\n' "$A:8080" "$B:8081" | sort | tr '\n' ' ' | sed 's/ $//')
[ "$(registered)" = "$BOTH" ] || t_fail "set-up: registered '$(registered)'"
FIRST=$(printf '%s\n%s\n' "$A" "$B" | sort | head -n 1)
OTHER=$(printf '%s\n' "$A:8080" "$B:8081" | grep -v "^$FIRST:")
is_only() { [ "$(registered)" = "$1" ]; }

write_env 123456789012 '{ "tags": { "app": "web" }, "count": 1 }'
FAULT='{ "name": "drain-web", "injector": "aws.elb_deregister", "target": "web", "target_group": "'"$TG"'", "duration": "DUR" }'
write_drill 0 "${FAULT/DUR/3s}"
"$FAULTLINE_BIN" validate "$T_DIR/drill.json" >&2 || t_fail "drill does not validate"

t_log "1. deregister one, registered again with its port"
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
RUN_PID=$!
t_wait_for 60 "$FIRST deregistered" is_only "$OTHER"
wait "$RUN_PID" || t_fail "drill exited $?: $(tail -n 5 "$T_DIR/run.err")"
[ "$(registered)" = "$BOTH" ] || t_fail "after revert: registered '$(registered)', expected '$BOTH'"

t_log "2. SIGKILL mid-drill, then faultline recover"
write_drill 0 "${FAULT/DUR/120s}"
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run2.out" 2>"$T_DIR/run2.err" &
RUN_PID=$!
t_wait_for 60 "$FIRST deregistered" is_only "$OTHER"
kill -KILL "$RUN_PID"; wait "$RUN_PID" 2>/dev/null || true
is_only "$OTHER" || t_fail "the kill changed the group"
timeout 60 "$FAULTLINE_BIN" recover --db "$T_DB" >"$T_DIR/recover.out" 2>&1 ||
	t_fail "recover failed: $(cat "$T_DIR/recover.out")"
[ "$(registered)" = "$BOTH" ] || t_fail "after recover: registered '$(registered)', expected '$BOTH'"
aws_no_secret "$T_DIR"/run*.out "$T_DIR"/run*.err "$T_DIR/recover.out" "$T_DB"
t_log "ok"
