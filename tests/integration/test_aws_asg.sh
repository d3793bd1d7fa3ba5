#!/usr/bin/env bash
# aws.asg_terminate against moto: one InService instance of a tagged Auto
# Scaling group is terminated with the desired capacity kept, and the group
# is back to its desired count with a replacement — read back through
# DescribeAutoScalingGroups. A group without the required tag is refused
# before any mutating call, proven by its unchanged instances.
#
# Where the emulator differs from AWS: moto replaces the terminated
# instance inside the same call (AWS takes minutes, which is the recovery a
# drill measures), so here the group is whole again as soon as the fault
# is in.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/aws_lib.sh"

moto_start
export AWS_ENDPOINT_URL=$MOTO_URL
aws_drill_helpers

"$AWS_CALL" autoscaling CreateLaunchConfiguration LaunchConfigurationName=lc ImageId=ami-12c6146b \
	InstanceType=t2.micro >/dev/null || t_fail "launch configuration"
mkgroup() { # NAME [TAGGED]
	local tags=()
	[ -z "${2:-}" ] || tags=(Tags.member.1.Key=faultline:environment Tags.member.1.Value=staging
		Tags.member.1.PropagateAtLaunch=true)
	"$AWS_CALL" autoscaling CreateAutoScalingGroup AutoScalingGroupName="$1" LaunchConfigurationName=lc \
		MinSize=2 MaxSize=4 DesiredCapacity=2 AvailabilityZones.member.1=eu-west-1a "${tags[@]}" \
		>/dev/null || t_fail "group $1"
}
# in_service NAME: "desired N ids..." of the group
in_service() {
	"$AWS_CALL" autoscaling DescribeAutoScalingGroups AutoScalingGroupNames.member.1="$1" | python3 -c '
import re, sys
x = sys.stdin.read()
d = re.search(r"<DesiredCapacity>(\d+)", x).group(1)
ids = sorted(re.findall(r"<InstanceId>([^<]*)</InstanceId>(?:(?!</member>).)*?<LifecycleState>InService", x))
print("desired", d, *ids)'
}
mkgroup web-asg tagged
mkgroup other-asg
BEFORE=$(in_service web-asg)
VICTIM=$(echo "$BEFORE" | awk '{print $3}')
[ -n "$VICTIM" ] || t_fail "no instance in service: $BEFORE"

write_env 123456789012 '{ "tags": { "faultline:environment": "staging" } }'
write_drill 0 '{ "name": "kill-one", "injector": "aws.asg_terminate", "target": "web", "group": "web-asg", "count": 1 }'
"$FAULTLINE_BIN" validate "$T_DIR/drill.json" >&2 || t_fail "drill does not validate"
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run.out" 2>"$T_DIR/run.err" ||
	t_fail "drill exited $?: $(tail -n 5 "$T_DIR/run.err")"
AFTER=$(in_service web-asg)
t_log "before: $BEFORE"
t_log "after:  $AFTER"
is_state "$VICTIM" terminated || t_fail "$VICTIM is $(state_of "$VICTIM"), expected terminated"
case $AFTER in "desired 2 "*) ;; *) t_fail "desired capacity changed: $AFTER" ;; esac
[ "$(echo "$AFTER" | wc -w)" = 4 ] || t_fail "group not back to 2 in service: $AFTER"
echo "$AFTER" | grep -qw "$VICTIM" && t_fail "victim still in service"

t_log "refusal: group without the required tag"
OTHER_BEFORE=$(in_service other-asg)
write_drill 0 '{ "name": "kill-one", "injector": "aws.asg_terminate", "target": "web", "group": "other-asg" }'
rc=0; "$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run2.out" 2>"$T_DIR/run2.err" || rc=$?
[ "$rc" = 3 ] || t_fail "untagged group: exit $rc, expected 3"
grep -q "Auto Scaling group other-asg lacks the required tag faultline:environment=staging; nothing was changed" \
	"$T_DIR/run2.err" || t_fail "no clear refusal: $(cat "$T_DIR/run2.err")"
[ "$(in_service other-asg)" = "$OTHER_BEFORE" ] || t_fail "the refused group changed"
aws_no_secret "$T_DIR"/run*.out "$T_DIR"/run*.err "$T_DB"
t_log "ok"
