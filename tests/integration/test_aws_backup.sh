#!/usr/bin/env bash
# The aws.backup_restore recovery step as a contract test: moto has no
# Backup restore jobs or recovery points, so the loopback stand-in
# (aws_fixture.py contract) answers each call with the response document of
# its AWS API reference page (tests/data/aws/), DescribeRestoreJob RUNNING
# then COMPLETED. A drill breaks a loopback service (exec: its health file
# removed for 2 s), detects it, and recovers through the restore step.
# Checked from the requests faultline sent and the stored phases: the newest
# COMPLETED recovery point is restored (not a newer PARTIAL one) with its
# own restore metadata and the step's override, the job followed to
# COMPLETED and timed as the step's phase; a named recovery point whose job
# FAILS fails the drill with the job's StatusMessage; a recovery point
# without the required tag is refused before StartRestoreJob; bad keys are
# refused at file:line:col; the dry run lists the calls and makes none.
#
# What this does not prove: AWS's own behaviour (the documents are the
# reference's shapes with plausible values) and the signatures (the
# stand-in does not check them).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/aws_lib.sh"

aws_drill_helpers
RES=arn:aws:rds:eu-west-1:123456789012:db:orders
NEWEST=arn:aws:backup:eu-west-1:123456789012:recovery-point:7C5D1A0E-2B1F-4C3D-9E8F-0A1B2C3D4E5F
OLDER=arn:aws:backup:eu-west-1:123456789012:recovery-point:1EB3B5E7-9EB0-435A-A80B-108B488B0D45
JOB=A1B2C3D4-5E6F-7A8B-9C0D-E1F2A3B4C5D6
touch "$T_DIR/up"

# contract NAME STEP-KEYS [EDIT-PYTHON]: a copy of tests/data/aws edited by
# the snippet, a stand-in answering from it, and the drill (write_drill).
contract() {
	local dir="$T_DIR/$1.data"
	cp -r "$AWS_DATA" "$dir"
	[ -z "${3:-}" ] || (cd "$dir" && python3 -c "$3") || t_fail "editing contract $1"
	aws_fixture_start "$1" contract "$dir"
	cat >"$T_DIR/env.json" <<JSON
{ "name": "aws-backup-test", "production": false,
  "targets": { "data": { "kind": "cloud", "provider": "aws", "region": "eu-west-1",
    "accounts": ["123456789012"], "endpoint_url": "$AF_URL",
    "required_tag": "faultline:environment=staging", "select": { "tags": { "app": "orders" } } } } }
JSON
	write_drill "$2"
}
# write_drill STEP-KEYS: the drill, its restore step with these keys besides
# target and iam_role.
write_drill() {
	cat >"$T_DIR/drill.json" <<JSON
{ "name": "aws-restore", "environment": "env.json", "targets": { "rto": "60s" }, "steady_state": "200ms",
  "probes": [ { "name": "svc", "type": "http", "url": "http://127.0.0.1:$SVC_PORT/up",
                "interval": "100ms", "timeout": "500ms", "availability": true } ],
  "faults": [ { "name": "data-gone", "injector": "exec", "duration": "2s",
                "inject": ["rm", "-f", "$T_DIR/up"], "revert": ["touch", "$T_DIR/up"] } ],
  "recovery": [ { "name": "restore", "timeout": "30s",
                  "aws.backup_restore": { "target": "data", "iam_role": "arn:aws:iam::123456789012:role/backup-restore",
                                          $1 } } ] }
JSON
}
# req NAME METHOD OPERATION-PATH-REGEX: the matching requests as JSON lines.
req() {
	python3 - "$T_DIR/$1.requests" "$2" "$3" <<'PY'
import json, re, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["method"] == sys.argv[2] and re.fullmatch(sys.argv[3], r["path"].split("?")[0]):
        print(line, end="")
PY
}
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

t_log "1. the newest COMPLETED recovery point restored, timed as a phase"
contract newest '"poll": "1s", "resource": "'"$RES"'", "metadata": { "DBInstanceIdentifier": "orders-restored" }'
"$FAULTLINE_BIN" validate "$T_DIR/drill.json" >&2 || t_fail "drill does not validate"
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --dry-run --db "$T_DB" >"$T_DIR/dry.out" 2>&1 || t_fail "dry run failed"
grep -qF "recovery restore: restore the newest recovery point of $RES with AWS Backup: reads sts GetCallerIdentity, backup ListRecoveryPointsByResource, backup ListTags" "$T_DIR/dry.out" ||
	t_fail "dry run does not list the Backup calls: $(cat "$T_DIR/dry.out")"
[ ! -s "$T_DIR/newest.requests" ] || t_fail "the dry run called AWS"
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/newest.out" 2>"$T_DIR/newest.err" ||
	t_fail "restore drill exited $?: $(tail -n 5 "$T_DIR/newest.err")"
grep -qF "recovery step restore: restore job $JOB from $NEWEST" "$T_DIR/newest.err" ||
	t_fail "not the newest COMPLETED point: $(cat "$T_DIR/newest.err")"
[ -n "$(req newest GET "/resources/$(enc "$RES")/recovery-points/")" ] || t_fail "ListRecoveryPointsByResource not sent (ARN encoded)"
[ -n "$(req newest GET "/tags/$(enc "$NEWEST")/")" ] || t_fail "ListTags of the newest point not sent"
[ -n "$(req newest GET "/backup-vaults/staging-vault/recovery-points/$(enc "$NEWEST")/restore-metadata")" ] ||
	t_fail "GetRecoveryPointRestoreMetadata not sent for the newest point"
req newest PUT /restore-jobs | python3 -c '
import json, sys
reqs = [json.loads(l) for l in sys.stdin]
assert len(reqs) == 1, "StartRestoreJob sent %d times" % len(reqs)
b = json.loads(reqs[0]["body"])
assert b["RecoveryPointArn"] == sys.argv[1], b
m = b["Metadata"]
assert m["DBInstanceIdentifier"] == "orders-restored" and m["DBSubnetGroupName"] == "staging-db", m
assert b["IamRoleArn"] == "arn:aws:iam::123456789012:role/backup-restore" and b["ResourceType"] == "RDS", b
assert b["IdempotencyToken"].startswith("faultline-"), b
' "$NEWEST" || t_fail "StartRestoreJob's body"
[ "$(req newest GET "/restore-jobs/$JOB" | grep -c .)" -ge 2 ] || t_fail "the job was not followed to COMPLETED"
phase=$("$FAULTLINE_BIN" runs --db "$T_DB" --json | python3 -c '
import json, sys
runs = json.load(sys.stdin)
runs = runs if isinstance(runs, list) else runs.get("runs", [])
r = max(runs, key=lambda r: r["id"])
print(" ".join(p["name"] for p in r.get("phases", [])))')
grep -qw restore <<<"$phase" || t_fail "no 'restore' phase stored (phases: $phase)"

t_log "2. a named recovery point whose restore job FAILS: the job's StatusMessage"
contract failed '"poll": "1s", "recovery_point": "'"$OLDER"'", "vault": "staging-vault"' 'import json
t = open("DescribeRestoreJob.2.json").read().split("\n", 1)
d = json.loads(t[1]); d["Status"] = "FAILED"; d["StatusMessage"] = "DB subnet group staging-db does not exist."
d.pop("CompletionDate"); d.pop("CreatedResourceArn")
open("DescribeRestoreJob.2.json", "w").write(t[0] + "\n" + json.dumps(d))'
rc=0; "$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/failed.out" 2>"$T_DIR/failed.err" || rc=$?
[ "$rc" = 1 ] || t_fail "failed restore: exit $rc, wanted 1: $(tail -n 5 "$T_DIR/failed.err")"
grep -qF "recovery step 'restore': restore job $JOB FAILED: DB subnet group staging-db does not exist." "$T_DIR/failed.out" "$T_DIR/failed.err" ||
	grep -qF "restore job $JOB FAILED: DB subnet group staging-db does not exist." "$T_DB" ||
	t_fail "the job's message is not reported: $(cat "$T_DIR/failed.out" "$T_DIR/failed.err")"
[ -z "$(req failed GET "/resources/.*")" ] || t_fail "a named recovery point was looked up"
req failed PUT /restore-jobs | t_grep -qF "$OLDER" || t_fail "StartRestoreJob not for the named point"

t_log "3. a recovery point without the required tag: refused before StartRestoreJob"
contract untagged '"poll": "1s", "resource": "'"$RES"'"' 'open("ListTags.json", "w").write("# test\n{\"Tags\": {\"app\": \"orders\"}}")'
rc=0; "$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/untagged.out" 2>"$T_DIR/untagged.err" || rc=$?
[ "$rc" = 1 ] || t_fail "untagged point: exit $rc, wanted 1"
grep -qF "aws: recovery point $NEWEST lacks the required tag faultline:environment=staging; nothing was restored" \
	"$T_DIR/untagged.out" "$T_DIR/untagged.err" || t_fail "no clear refusal: $(cat "$T_DIR/untagged.err")"
[ -z "$(req untagged PUT /restore-jobs)" ] || t_fail "StartRestoreJob sent despite the refusal"

t_log "4. bad keys refused at file:line:col"
for case in '"resource": "r", "recovery_point": "p", "vault": "v"|give one of '"'"'resource'"'"' (its newest recovery point) or '"'"'recovery_point'"'"'' \
	'"recovery_point": "p"|missing key '"'"'vault'"'"'' \
	'"resource": "r", "metadata": { "MultiAZ": false }|'"'"'metadata'"'"': '"'"'MultiAZ'"'"' must be a string' \
	'"resource": "r", "poll": "200ms"|'"'"'poll'"'"': at least 1s' \
	'"resource": "r", "vaults": "v"|unknown key'; do
	write_drill "${case%%|*}"
	rc=0; "$FAULTLINE_BIN" validate "$T_DIR/drill.json" >"$T_DIR/v.out" 2>&1 || rc=$?
	{ [ "$rc" = 2 ] && grep -qF "${case#*|}" "$T_DIR/v.out" && grep -q "drill.json:[0-9]*:[0-9]*: " "$T_DIR/v.out"; } ||
		t_fail "${case%%|*}: exit $rc: $(cat "$T_DIR/v.out")"
done
aws_no_secret "$T_DIR"/*.out "$T_DIR"/*.err "$T_DB"
t_log "ok"
