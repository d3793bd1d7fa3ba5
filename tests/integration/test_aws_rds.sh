#!/usr/bin/env bash
# aws.rds_failover against moto: an Aurora cluster's writer moves to the
# chosen instance during the fault and back to the original writer at the
# revert (fail_back) — read back through DescribeDBClusters; after SIGKILL
# through `faultline recover`; a cluster without the required tag refused
# with its writer unchanged.
#
# Where the emulator differs from AWS: moto swaps the writer inside the
# call and the cluster never leaves "available" (AWS takes tens of seconds,
# the recovery a drill measures).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/aws_lib.sh"

moto_start
export AWS_ENDPOINT_URL=$MOTO_URL
aws_drill_helpers

cluster() { # NAME [TAGGED]
	local tags=()
	[ -z "${2:-}" ] || tags=(Tags.Tag.1.Key=faultline:environment Tags.Tag.1.Value=staging)
	"$AWS_CALL" rds CreateDBCluster DBClusterIdentifier="$1" Engine=aurora-postgresql MasterUsername=u \
		MasterUserPassword=passwordpassword "${tags[@]}" >/dev/null || t_fail "cluster $1"
	for i in a b; do
		"$AWS_CALL" rds CreateDBInstance DBInstanceIdentifier="$1-$i" DBInstanceClass=db.r5.large \
			Engine=aurora-postgresql DBClusterIdentifier="$1" >/dev/null || t_fail "instance $1-$i"
	done
}
writer() {
	"$AWS_CALL" rds DescribeDBClusters DBClusterIdentifier="$1" | python3 -c '
import re, sys
x = sys.stdin.read()
m = re.search(r"<DBInstanceIdentifier>([^<]*)</DBInstanceIdentifier><IsClusterWriter>true<", x)
print(m.group(1) if m else "")'
}
is_writer() { [ "$(writer "$1")" = "$2" ]; }
cluster aur tagged
cluster other
[ "$(writer aur)" = aur-a ] || t_fail "set-up: writer $(writer aur)"

write_env 123456789012 '{ "tags": { "faultline:environment": "staging" } }'
FAULT='{ "name": "failover", "injector": "aws.rds_failover", "target": "web", "cluster": "CL", "to": "CL-b", "fail_back": true, "duration": "DUR" }'
f=${FAULT//CL/aur}
write_drill 0 "${f/DUR/3s}"
"$FAULTLINE_BIN" validate "$T_DIR/drill.json" >&2 || t_fail "drill does not validate"

t_log "1. failover to aur-b, fail back to aur-a"
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
RUN_PID=$!
t_wait_for 60 "aur-b the writer" is_writer aur aur-b
wait "$RUN_PID" || t_fail "drill exited $?: $(tail -n 5 "$T_DIR/run.err")"
is_writer aur aur-a || t_fail "no fail-back: writer $(writer aur)"

t_log "2. SIGKILL mid-drill, then faultline recover"
write_drill 0 "${f/DUR/120s}"
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run2.out" 2>"$T_DIR/run2.err" &
RUN_PID=$!
t_wait_for 60 "aur-b the writer" is_writer aur aur-b
kill -KILL "$RUN_PID"; wait "$RUN_PID" 2>/dev/null || true
timeout 60 "$FAULTLINE_BIN" recover --db "$T_DB" >"$T_DIR/recover.out" 2>&1 ||
	t_fail "recover failed: $(cat "$T_DIR/recover.out")"
is_writer aur aur-a || t_fail "recover did not fail back: writer $(writer aur)"

t_log "3. untagged cluster refused"
f=${FAULT//CL/other}
write_drill 0 "${f/DUR/3s}"
rc=0; "$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run3.out" 2>"$T_DIR/run3.err" || rc=$?
[ "$rc" = 3 ] || t_fail "untagged cluster: exit $rc, expected 3"
grep -q "DB cluster other lacks the required tag faultline:environment=staging; nothing was changed" \
	"$T_DIR/run3.err" || t_fail "no clear refusal: $(cat "$T_DIR/run3.err")"
is_writer other other-a || t_fail "the refused cluster failed over"

# Multi-AZ DB instances: RebootDBInstance with ForceFailover. Where the
# emulator differs from AWS: moto accepts ForceFailover and ignores it (the
# primary stays in its zone, the status stays available), so what is proven
# here is the calls being accepted, the revert finding the primary in its
# recorded zone, and the refusals — not the failover itself.
dbinstance() { # NAME MULTI-AZ [TAGGED]
	local tags=()
	[ -z "${3:-}" ] || tags=(Tags.Tag.1.Key=faultline:environment Tags.Tag.1.Value=staging)
	"$AWS_CALL" rds CreateDBInstance DBInstanceIdentifier="$1" DBInstanceClass=db.t3.micro \
		Engine=postgres MasterUsername=u MasterUserPassword=passwordpassword AllocatedStorage=20 \
		MultiAZ="$2" "${tags[@]}" >/dev/null || t_fail "DB instance $1"
}
dbinstance pg true tagged
dbinstance pg-single false tagged
dbinstance pg-untagged true
IFAULT='{ "name": "failover", "injector": "aws.rds_failover", "target": "web", "instance": "ID", "fail_back": true, "duration": "1s" }'

t_log "4. Multi-AZ DB instance: forced failover, fail-back finds the primary home"
write_drill 0 "${IFAULT/ID/pg}"
"$FAULTLINE_BIN" validate "$T_DIR/drill.json" >&2 || t_fail "instance drill does not validate"
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --dry-run --db "$T_DB" 2>&1 | t_grep -q "rds RebootDBInstance (ForceFailover)" ||
	t_fail "dry run does not list RebootDBInstance"
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run4.out" 2>"$T_DIR/run4.err" ||
	t_fail "instance drill exited $?: $(tail -n 5 "$T_DIR/run4.err")"
grep -q "injected failover: aws.rds_failover Multi-AZ DB instance pg" "$T_DIR/run4.err" ||
	t_fail "no inject line: $(cat "$T_DIR/run4.err")"

t_log "5. refused before any mutating call: not Multi-AZ, untagged, both keys"
for case in "pg-single|is not Multi-AZ (no standby to fail over to); nothing was changed" \
	"pg-untagged|DB instance pg-untagged lacks the required tag faultline:environment=staging; nothing was changed"; do
	write_drill 0 "${IFAULT/ID/${case%%|*}}"
	rc=0; "$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run5.out" 2>"$T_DIR/run5.err" || rc=$?
	[ "$rc" = 3 ] || t_fail "${case%%|*}: exit $rc, expected 3"
	grep -qF "${case#*|}" "$T_DIR/run5.err" || t_fail "no clear refusal: $(cat "$T_DIR/run5.err")"
done
write_drill 0 '{ "name": "f", "injector": "aws.rds_failover", "target": "web", "instance": "pg", "cluster": "aur" }'
rc=0; "$FAULTLINE_BIN" validate "$T_DIR/drill.json" >"$T_DIR/v.out" 2>&1 || rc=$?
{ [ "$rc" = 2 ] && grep -q "give one of 'cluster' (a DB cluster) or 'instance'" "$T_DIR/v.out"; } ||
	t_fail "both keys: exit $rc: $(cat "$T_DIR/v.out")"
aws_no_secret "$T_DIR"/run*.out "$T_DIR"/run*.err "$T_DIR/recover.out" "$T_DB"
t_log "ok"
