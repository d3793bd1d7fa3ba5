#!/usr/bin/env bash
# Signatures identical to the AWS CLI: for every AWS operation faultline
# uses, faultline's request (tests/fixtures/aws_call through core/aws.c) and
# the AWS CLI's, both sent under libfaketime with the same frozen clock and
# the same credentials to a loopback stand-in that records them, must carry
# byte-identical Authorization and X-Amz-Date headers and the same body.
# Checked with and without a session token. The CLI is also run with
# --debug once, to show its log never prints the secret either.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/aws_lib.sh"
set -f  # the operation lists hold JSON brackets, never file patterns

command -v aws >/dev/null 2>&1 || { echo "aws CLI not installed: skipped" >&2; exit 77; }
FAKETIME_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
[ -r "$FAKETIME_LIB" ] || { echo "libfaketime not installed: skipped" >&2; exit 77; }
# libfaketime preloaded directly, not through the faketime wrapper: the
# wrapper keeps a named semaphore and shared memory per pid in /dev/shm,
# leaves them behind when it is killed, and then fails ("sem_open: File
# exists") for any later process that gets the same pid.
frozen() { LD_PRELOAD=$FAKETIME_LIB FAKETIME=$FROZEN "$@"; }

aws_fixture_start cap capture
URL=$AF_URL
FROZEN="2026-03-14 15:09:26"
REQ="$T_DIR/cap.requests"

# One operation per line: CLI words | aws_call words (service Action Name=Value...).
OPS=$(cat <<'OPS_END'
sts get-caller-identity|sts GetCallerIdentity
ec2 describe-instances --filters Name=tag:faultline:environment,Values=staging Name=availability-zone,Values=eu-west-1a|ec2 DescribeInstances Filter.1.Name=tag:faultline:environment Filter.1.Value.1=staging Filter.2.Name=availability-zone Filter.2.Value.1=eu-west-1a
ec2 describe-instances --instance-ids i-0123456789abcdef0 --next-token tok/1+x==|ec2 DescribeInstances InstanceId.1=i-0123456789abcdef0 NextToken=tok/1+x==
ec2 stop-instances --instance-ids i-0123456789abcdef0 i-0fedcba9876543210|ec2 StopInstances InstanceId.1=i-0123456789abcdef0 InstanceId.2=i-0fedcba9876543210
ec2 start-instances --instance-ids i-0123456789abcdef0|ec2 StartInstances InstanceId.1=i-0123456789abcdef0
ec2 reboot-instances --instance-ids i-0123456789abcdef0|ec2 RebootInstances InstanceId.1=i-0123456789abcdef0
ec2 terminate-instances --instance-ids i-0123456789abcdef0|ec2 TerminateInstances InstanceId.1=i-0123456789abcdef0
ec2 describe-subnets --filters Name=vpc-id,Values=vpc-1 Name=availability-zone,Values=eu-west-1a|ec2 DescribeSubnets Filter.1.Name=vpc-id Filter.1.Value.1=vpc-1 Filter.2.Name=availability-zone Filter.2.Value.1=eu-west-1a
ec2 describe-network-acls --filters Name=association.subnet-id,Values=subnet-1,subnet-2|ec2 DescribeNetworkAcls Filter.1.Name=association.subnet-id Filter.1.Value.1=subnet-1 Filter.1.Value.2=subnet-2
ec2 create-network-acl --vpc-id vpc-1 --client-token fl-1234 --tag-specifications ResourceType=network-acl,Tags=[{Key=faultline:drill,Value=az-outage}]|ec2 CreateNetworkAcl TagSpecification.1.ResourceType=network-acl TagSpecification.1.Tag.1.Key=faultline:drill TagSpecification.1.Tag.1.Value=az-outage ClientToken=fl-1234 VpcId=vpc-1
ec2 replace-network-acl-association --association-id aclassoc-1 --network-acl-id acl-2|ec2 ReplaceNetworkAclAssociation AssociationId=aclassoc-1 NetworkAclId=acl-2
ec2 delete-network-acl --network-acl-id acl-2|ec2 DeleteNetworkAcl NetworkAclId=acl-2
elbv2 describe-target-health --target-group-arn arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef|elbv2 DescribeTargetHealth TargetGroupArn=arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef
elbv2 deregister-targets --target-group-arn arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef --targets Id=i-1,Port=8080 Id=i-2,Port=8080|elbv2 DeregisterTargets TargetGroupArn=arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef Targets.member.1.Id=i-1 Targets.member.1.Port=8080 Targets.member.2.Id=i-2 Targets.member.2.Port=8080
elbv2 register-targets --target-group-arn arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef --targets Id=i-1,Port=8080|elbv2 RegisterTargets TargetGroupArn=arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef Targets.member.1.Id=i-1 Targets.member.1.Port=8080
autoscaling describe-auto-scaling-groups --auto-scaling-group-names web-asg|autoscaling DescribeAutoScalingGroups AutoScalingGroupNames.member.1=web-asg
autoscaling terminate-instance-in-auto-scaling-group --instance-id i-1 --no-should-decrement-desired-capacity|autoscaling TerminateInstanceInAutoScalingGroup InstanceId=i-1 ShouldDecrementDesiredCapacity=false
rds describe-db-clusters --db-cluster-identifier aurora-1|rds DescribeDBClusters DBClusterIdentifier=aurora-1
rds failover-db-cluster --db-cluster-identifier aurora-1 --target-db-instance-identifier aurora-1-b|rds FailoverDBCluster DBClusterIdentifier=aurora-1 TargetDBInstanceIdentifier=aurora-1-b
rds describe-db-instances --db-instance-identifier db-1|rds DescribeDBInstances DBInstanceIdentifier=db-1
rds reboot-db-instance --db-instance-identifier db-1 --force-failover|rds RebootDBInstance DBInstanceIdentifier=db-1 ForceFailover=true
cloudwatch describe-alarms --alarm-names web-5xx --state-value ALARM|--json cloudwatch DescribeAlarms {"AlarmNames":["web-5xx"],"StateValue":"ALARM"}
fis start-experiment --client-token faultline-1 --experiment-template-id EXTa1b2 --tags faultline:drill=faultline-1|--rest fis StartExperiment POST /experiments {"clientToken":"faultline-1","experimentTemplateId":"EXTa1b2","tags":{"faultline:drill":"faultline-1"}}
fis stop-experiment --id EXPz9y8|--rest fis StopExperiment DELETE /experiments/EXPz9y8
fis list-experiments --experiment-template-id EXTa1b2 --max-results 100 --no-paginate|--rest fis ListExperiments GET /experiments?experimentTemplateId=EXTa1b2&maxResults=100
backup list-recovery-points-by-resource --resource-arn arn:aws:rds:eu-west-1:123456789012:db:orders --no-paginate|--rest backup ListRecoveryPointsByResource GET /resources/arn%3Aaws%3Ards%3Aeu-west-1%3A123456789012%3Adb%3Aorders/recovery-points/
backup get-recovery-point-restore-metadata --backup-vault-name staging-vault --recovery-point-arn arn:aws:backup:eu-west-1:123456789012:recovery-point:7C5D|--rest backup GetRecoveryPointRestoreMetadata GET /backup-vaults/staging-vault/recovery-points/arn%3Aaws%3Abackup%3Aeu-west-1%3A123456789012%3Arecovery-point%3A7C5D/restore-metadata
backup start-restore-job --recovery-point-arn arn:aws:backup:eu-west-1:123456789012:recovery-point:7C5D --metadata DBInstanceIdentifier=orders-restored --iam-role-arn arn:aws:iam::123456789012:role/r --idempotency-token faultline-2 --resource-type RDS|--rest backup StartRestoreJob PUT /restore-jobs {"RecoveryPointArn":"arn:aws:backup:eu-west-1:123456789012:recovery-point:7C5D","Metadata":{"DBInstanceIdentifier":"orders-restored"},"IamRoleArn":"arn:aws:iam::123456789012:role/r","IdempotencyToken":"faultline-2","ResourceType":"RDS"}
OPS_END
)

# compare LABEL: for every operation N, the requests the AWS CLI and
# faultline sent to /opN (each operation has its own endpoint path so the
# CLI's calls can run in parallel) must have the same body and the same
# Authorization, X-Amz-Date, X-Amz-Security-Token, Content-Type and
# X-Amz-Target. Prints the count compared; a difference fails.
compare() {
	python3 - "$REQ" "$1" <<'PY'
import json, sys
path, label = sys.argv[1:3]
seen = {}
for line in open(path):
    r = json.loads(line)
    who = "cli" if r["headers"].get("user-agent", "").startswith("aws-cli") else "faultline"
    # By path alone: the CLI and faultline may order a query differently
    # (SigV4 signs the sorted query, so the signatures must still agree).
    seen.setdefault(r["path"].split("?")[0].rstrip("/"), {})[who] = r
n = 0
for op, pair in sorted(seen.items()):
    if set(pair) != {"cli", "faultline"}:
        sys.exit("%s: %s: only %s sent a request" % (label, op, list(pair)))
    for h in ["body", "x-amz-date", "authorization", "x-amz-security-token", "content-type", "x-amz-target"]:
        a, b = (pair[w]["body"] if h == "body" else pair[w]["headers"].get(h, "") for w in ("cli", "faultline"))
        if a != b:
            sys.exit("%s: %s differs for %s (%s):\n  aws CLI:   %s\n  faultline: %s"
                     % (label, h, op, pair["cli"]["body"][:60], a, b))
    n += 1
print(n)
PY
}

check_all() {
	local label=$1 min=$2 ops=$3 cli ours pids=() i n
	: >"$REQ"
	# The AWS CLI costs seconds per call on a loaded machine: four at a time.
	i=0
	while IFS='|' read -r cli ours; do
		[ -n "$cli" ] || continue
		i=$((i + 1))
		# shellcheck disable=SC2086  # word lists on purpose
		frozen aws --endpoint-url "$URL/op$i" $cli >/dev/null 2>"$T_DIR/cli.$i.err" &
		pids+=($!)
		if [ "${#pids[@]}" -ge 4 ]; then
			wait "${pids[0]}" || true
			pids=("${pids[@]:1}")
		fi
	done <<<"$ops"
	for p in "${pids[@]}"; do wait "$p" || true; done
	i=0
	while IFS='|' read -r cli ours; do
		[ -n "$cli" ] || continue
		i=$((i + 1))
		# shellcheck disable=SC2086
		AWS_ENDPOINT_URL="$URL/op$i" ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0" \
			frozen "$AWS_CALL" $ours >/dev/null 2>"$T_DIR/ours.err" ||
			t_fail "aws_call failed for: $ours: $(cat "$T_DIR/ours.err")"
	done <<<"$ops"
	n=$(compare "$label") || t_fail "signatures differ (above)"
	t_log "$label: $n operations, Authorization and X-Amz-Date byte-identical to the AWS CLI"
	[ "$n" -ge "$min" ] || t_fail "only $n operations compared"
}

[ -n "${AWS_SIGV4_QUICK:-}" ] || check_all "long-term keys" 28 "$OPS"
# The session token only adds one signed header: one operation per protocol
# (each AWS CLI call costs seconds on a loaded CI machine).
AWS_SESSION_TOKEN="FQoGZXIvYXdzEFaKeSessionToken/with+chars=" \
	check_all "session token" 3 "$(grep -E '^(sts get-caller|ec2 stop-instances|cloudwatch)' <<<"$OPS")"

# The date the stand-in saw is the frozen one: the clocks really were frozen.
grep -q '"x-amz-date": "20260314T150926Z"' "$REQ" ||
	t_fail "X-Amz-Date is not the frozen clock"

# --debug of the CLI and faultline's own stderr never show the secret.
frozen aws --debug --endpoint-url "$URL" sts get-caller-identity >/dev/null 2>"$T_DIR/cli-debug.log" || true
grep -q "Authorization" "$T_DIR/cli-debug.log" || t_fail "aws --debug did not log the signed request"
aws_no_secret "$T_DIR/ours.err"
t_log "ok"
