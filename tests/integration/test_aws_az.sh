#!/usr/bin/env bash
# aws.az_outage against moto: the zone's subnets move to a deny-all drill
# ACL during the fault (the other zone's do not), and back to their
# original ACL with the drill ACL deleted after it — read back through
# DescribeNetworkAcls; the same after SIGKILL through `faultline recover`;
# a subnet without the required tag refused with nothing changed.
#
# Where the emulator differs from AWS: moto does not filter traffic, so the
# outage is proven by the ACL associations, not by lost packets.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/aws_lib.sh"

moto_start
export AWS_ENDPOINT_URL=$MOTO_URL
aws_drill_helpers

VPC=$("$AWS_CALL" ec2 CreateVpc CidrBlock=10.1.0.0/16 | grep -o '<vpcId>[^<]*' | head -n 1 | cut -d'>' -f2)
subnet() { # CIDR ZONE [TAGGED]
	local tags=()
	[ -z "${3:-}" ] || tags=(TagSpecification.1.ResourceType=subnet TagSpecification.1.Tag.1.Key=faultline:environment
		TagSpecification.1.Tag.1.Value=staging)
	"$AWS_CALL" ec2 CreateSubnet "${tags[@]}" AvailabilityZone="$2" CidrBlock="$1" VpcId="$VPC" |
		grep -o '<subnetId>[^<]*' | head -n 1 | cut -d'>' -f2
}
S1=$(subnet 10.1.1.0/24 eu-west-1a tagged)
S2=$(subnet 10.1.2.0/24 eu-west-1a tagged)
S3=$(subnet 10.1.3.0/24 eu-west-1b tagged)
[ -n "$S1" ] && [ -n "$S2" ] && [ -n "$S3" ] || t_fail "subnets"
acl_of() {
	"$AWS_CALL" ec2 DescribeNetworkAcls Filter.1.Name=association.subnet-id Filter.1.Value.1="$1" |
		python3 -c '
import re, sys
x = sys.stdin.read()
m = re.search(r"<networkAclId>([^<]*)</networkAclId>", x)
print(m.group(1) if m else "")'
}
drill_acls() {
	"$AWS_CALL" ec2 DescribeNetworkAcls Filter.1.Name=tag-key Filter.1.Value.1=faultline:drill |
		grep -c '<networkAclId>' || true
}
ORIG=$(acl_of "$S1")
[ -n "$ORIG" ] && [ "$(acl_of "$S3")" = "$ORIG" ] || t_fail "set-up: subnets not on the default ACL"
moved() { local a; a=$(acl_of "$S1"); [ "$a" != "$ORIG" ] && [ "$(acl_of "$S2")" = "$a" ]; }
restored() { for s in "$S1" "$S2" "$S3"; do [ "$(acl_of "$s")" = "$ORIG" ] || return 1; done; }

write_env 123456789012 '{ "tags": { "faultline:environment": "staging" } }'
FAULT='{ "name": "az-a-down", "injector": "aws.az_outage", "target": "web", "vpc": "'"$VPC"'", "az": "eu-west-1a", "duration": "DUR" }'
write_drill 0 "${FAULT/DUR/3s}"
"$FAULTLINE_BIN" validate "$T_DIR/drill.json" >&2 || t_fail "drill does not validate"

t_log "1. zone a cut off, then restored"
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
RUN_PID=$!
t_wait_for 60 "zone a's subnets on the drill ACL" moved
[ "$(acl_of "$S3")" = "$ORIG" ] || t_fail "zone b's subnet was moved"
[ "$(drill_acls)" = 1 ] || t_fail "expected one drill ACL, found $(drill_acls)"
wait "$RUN_PID" || t_fail "drill exited $?: $(tail -n 5 "$T_DIR/run.err")"
restored || t_fail "not restored: $(acl_of "$S1") $(acl_of "$S2") $(acl_of "$S3") (original $ORIG)"
[ "$(drill_acls)" = 0 ] || t_fail "drill ACL left behind"

t_log "2. SIGKILL mid-drill, then faultline recover"
write_drill 0 "${FAULT/DUR/120s}"
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run2.out" 2>"$T_DIR/run2.err" &
RUN_PID=$!
t_wait_for 60 "zone a's subnets on the drill ACL" moved
kill -KILL "$RUN_PID"; wait "$RUN_PID" 2>/dev/null || true
moved || t_fail "the kill changed the associations"
timeout 60 "$FAULTLINE_BIN" recover --db "$T_DB" >"$T_DIR/recover.out" 2>&1 ||
	t_fail "recover failed: $(cat "$T_DIR/recover.out")"
restored || t_fail "recover did not restore the associations"
[ "$(drill_acls)" = 0 ] || t_fail "drill ACL left behind after recover"

t_log "3. stop_instances: the zone's running instances stopped too, started again"
in_subnet() { # SUBNET [TAGGED]
	local tags=()
	[ -z "${2:-}" ] || tags=(TagSpecification.1.ResourceType=instance TagSpecification.1.Tag.1.Key=faultline:environment
		TagSpecification.1.Tag.1.Value=staging)
	"$AWS_CALL" ec2 RunInstances ImageId=ami-12c6146b MinCount=1 MaxCount=1 SubnetId="$1" "${tags[@]}" |
		grep -o '<instanceId>[^<]*' | head -n 1 | cut -d'>' -f2
}
IA=$(in_subnet "$S1" tagged)
IB=$(in_subnet "$S3" tagged)
{ [ -n "$IA" ] && [ -n "$IB" ]; } || t_fail "instances"
SFAULT='{ "name": "az-a-down", "injector": "aws.az_outage", "target": "web", "vpc": "'"$VPC"'", "az": "eu-west-1a", "stop_instances": true, "duration": "3s" }'
write_drill 0 "$SFAULT"
"$FAULTLINE_BIN" validate "$T_DIR/drill.json" >&2 || t_fail "stop_instances drill does not validate"
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run4.out" 2>"$T_DIR/run4.err" &
RUN_PID=$!
t_wait_for 60 "zone a's instance stopped" is_state "$IA" stopped
moved || t_fail "instances stopped but subnets not moved"
is_state "$IB" running || t_fail "zone b's instance was stopped"
wait "$RUN_PID" || t_fail "drill exited $?: $(tail -n 5 "$T_DIR/run4.err")"
is_state "$IA" running || t_fail "revert did not start $IA ($(state_of "$IA"))"
restored || t_fail "stop_instances drill did not restore the associations"
[ "$(drill_acls)" = 0 ] || t_fail "drill ACL left behind"

t_log "3b. SIGKILL mid-drill with stop_instances, then faultline recover"
write_drill 0 "${SFAULT/3s/120s}"
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run5.out" 2>"$T_DIR/run5.err" &
RUN_PID=$!
t_wait_for 60 "zone a's instance stopped" is_state "$IA" stopped
kill -KILL "$RUN_PID"; wait "$RUN_PID" 2>/dev/null || true
timeout 60 "$FAULTLINE_BIN" recover --db "$T_DB" >"$T_DIR/recover2.out" 2>&1 ||
	t_fail "recover failed: $(cat "$T_DIR/recover2.out")"
is_state "$IA" running || t_fail "recover did not start $IA"
restored || t_fail "recover did not restore the associations"

t_log "3c. an instance in the zone without the required tag: refused, nothing changed"
IU=$(in_subnet "$S2")
[ -n "$IU" ] || t_fail "untagged instance"
rc=0; "$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run6.out" 2>"$T_DIR/run6.err" || rc=$?
[ "$rc" = 3 ] || t_fail "untagged instance: exit $rc, expected 3"
grep -q "instance $IU in eu-west-1a lacks the required tag faultline:environment=staging; nothing was changed" \
	"$T_DIR/run6.err" || t_fail "no clear refusal: $(cat "$T_DIR/run6.err")"
{ restored && is_state "$IA" running && [ "$(drill_acls)" = 0 ]; } || t_fail "the refusal changed something"
"$AWS_CALL" ec2 TerminateInstances InstanceId.1="$IU" >/dev/null || t_fail "clean-up"

t_log "4. a subnet without the required tag: refused, nothing changed"
S4=$(subnet 10.1.4.0/24 eu-west-1a)
rc=0; "$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run3.out" 2>"$T_DIR/run3.err" || rc=$?
[ "$rc" = 3 ] || t_fail "untagged subnet: exit $rc, expected 3"
grep -q "subnet $S4 in eu-west-1a lacks the required tag faultline:environment=staging; nothing was changed" \
	"$T_DIR/run3.err" || t_fail "no clear refusal: $(cat "$T_DIR/run3.err")"
restored && [ "$(acl_of "$S4")" = "$ORIG" ] && [ "$(drill_acls)" = 0 ] || t_fail "the refusal changed something"
aws_no_secret "$T_DIR"/run*.out "$T_DIR"/run*.err "$T_DIR/recover.out" "$T_DB"
t_log "ok"
