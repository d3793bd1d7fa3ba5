#!/usr/bin/env bash
# aws.ec2 against a real AWS emulator (moto_server on a free loopback port):
# selection by tag and count, inject (instance stopped) and revert (started
# again) read back through the API while the drill runs; the guardrails
# refusing before any mutating call (wrong account, missing required tag),
# proven from the emulator's state; SIGKILL mid-drill then `faultline
# recover` starting the instance again; pagination over more than one page;
# the secret in no artefact.
#
# Where the emulator differs from AWS: moto changes instance state at once
# (stopping -> stopped needs no wait), so the revert's wait for "stopped"
# is exercised only as a no-op here.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/aws_lib.sh"

moto_start
export AWS_ENDPOINT_URL=$MOTO_URL

aws_drill_helpers

run_bg() {
	"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
	RUN_PID=$!
}

A=$(run_instance app=web faultline:environment=staging)
B=$(run_instance app=web faultline:environment=staging)
C=$(run_instance app=web)          # lacks the required tag
D=$(run_instance app=db faultline:environment=staging)
[ -n "$A" ] && [ -n "$B" ] && [ -n "$C" ] && [ -n "$D" ] || t_fail "could not create instances"
FIRST=$(printf '%s\n%s\n' "$A" "$B" | sort | head -n 1)
SECOND=$(printf '%s\n%s\n' "$A" "$B" | sort | tail -n 1)

t_log "1. inject and revert, read back through the API (blast radius 1: one instance selected)"
write_env 123456789012 '{ "tags": { "app": "web", "faultline:environment": "staging" }, "count": 1 }'
DRILL_EXTRA='"blast_radius": { "max_targets": 1 },' write_drill 3s
"$FAULTLINE_BIN" validate "$T_DIR/drill.json" >&2 || t_fail "drill does not validate"
run_bg
t_wait_for 60 "$FIRST stopped by the drill" is_state "$FIRST" stopped
is_state "$SECOND" running || t_fail "count 1 selected more than one instance"
is_state "$D" running || t_fail "an instance outside the selection was stopped"
wait "$RUN_PID" || t_fail "drill exited $?: $(tail -n 5 "$T_DIR/run.err")"
is_state "$FIRST" running || t_fail "revert did not start $FIRST (state $(state_of "$FIRST"))"
grep -q "reverted stop-web" "$T_DIR/run.err" || t_fail "no revert line"

t_log "2. guardrail: account not allowed -> refused, nothing stopped"
write_env 999999999999 '{ "tags": { "app": "web" } }'
rc=0; "$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run2.out" 2>"$T_DIR/run2.err" || rc=$?
[ "$rc" = 3 ] || t_fail "wrong account: exit $rc, expected 3"
grep -q "account 123456789012 is not in the environment's allowed accounts (999999999999); nothing was changed" "$T_DIR/run2.err" ||
	t_fail "no clear refusal: $(cat "$T_DIR/run2.err")"
for i in "$A" "$B" "$C" "$D"; do is_state "$i" running || t_fail "$i changed despite the refusal"; done

t_log "3. guardrail: selected instance lacks the required tag -> refused, nothing stopped"
write_env 123456789012 '{ "tags": { "app": "web" } }'
rc=0; "$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run3.out" 2>"$T_DIR/run3.err" || rc=$?
[ "$rc" = 3 ] || t_fail "missing tag: exit $rc, expected 3"
grep -q "instance $C of target 'web' lacks the required tag faultline:environment=staging; nothing was changed" "$T_DIR/run3.err" ||
	t_fail "no clear refusal: $(cat "$T_DIR/run3.err")"
for i in "$A" "$B" "$C" "$D"; do is_state "$i" running || t_fail "$i changed despite the refusal"; done

t_log "3b. blast radius counts cloud resources: 2 instances selected, max_targets 1 -> refused, nothing stopped"
write_env 123456789012 '{ "tags": { "app": "web", "faultline:environment": "staging" } }'
DRILL_EXTRA='"blast_radius": { "max_targets": 1 },' write_drill 3s
rc=0; "$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run3b.out" 2>"$T_DIR/run3b.err" || rc=$?
[ "$rc" = 2 ] || t_fail "blast radius: exit $rc, expected 2 ($(tail -n 3 "$T_DIR/run3b.err"))"
grep -qx "aws-ec2-stop: blast radius exceeded: fault 'stop-web' would touch 2 cloud resources ($FIRST, $SECOND), max_targets is 1; nothing was changed" "$T_DIR/run3b.err" ||
	t_fail "no clear blast-radius refusal: $(cat "$T_DIR/run3b.err")"
for i in "$A" "$B" "$C" "$D"; do is_state "$i" running || t_fail "$i changed despite the refusal"; done
write_drill 3s

t_log "4. SIGKILL mid-drill, then faultline recover"
write_env 123456789012 "{ \"ids\": [\"$SECOND\"] }"
write_drill 120s
run_bg
t_wait_for 60 "$SECOND stopped by the drill" is_state "$SECOND" stopped
kill -KILL "$RUN_PID"; wait "$RUN_PID" 2>/dev/null || true
is_state "$SECOND" stopped || t_fail "$SECOND not stopped after the kill"
timeout 60 "$FAULTLINE_BIN" recover --db "$T_DB" >"$T_DIR/recover.out" 2>&1 ||
	t_fail "recover failed: $(cat "$T_DIR/recover.out")"
is_state "$SECOND" running || t_fail "recover did not start $SECOND"

t_log "5. pagination: DescribeInstances over more than one page"
for _ in 1 2 3 4 5; do run_instance app=filler >/dev/null; done
out=$("$AWS_CALL" --pages ec2 DescribeInstances NextToken nextToken reservationSet/item MaxResults=5)
t_log "   $out"
case $out in "items 9 pages 2") ;; *) t_fail "expected 9 reservations over 2 pages, got '$out'" ;; esac

t_log "6. IAM authentication on: a wrong secret key is refused with AWS's code, nothing stopped"
# moto_server checks signatures once INITIAL_NO_AUTH_ACTION_COUNT requests
# have been served (default: never). POST /moto-api/reset-auth sets it from
# the raw body; curl -d sends a form, which the server parses away, leaving
# an empty body and a 500 (float('')). The 3 requests left unauthenticated
# make an IAM user, its key and its policy; from then on every signature
# is verified against that key.
curl -sf -X POST -H 'Content-Type: text/plain' --data-binary 3 "$MOTO_URL/moto-api/reset-auth" >/dev/null ||
	t_fail "moto reset-auth failed"
# iam ACTION PARAMS: one IAM Query call, unsigned (these 3 are not checked;
# moto routes by the credential scope's service).
iam() {
	curl -sf "$MOTO_URL/" -d "Action=$1&Version=2010-05-08&$2" \
		-H "Authorization: AWS4-HMAC-SHA256 Credential=AKIAFAULTLINETEST01/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0"
}
iam CreateUser UserName=faultline >/dev/null || t_fail "iam CreateUser"
iam CreateAccessKey UserName=faultline >"$T_DIR/key.xml" || t_fail "iam CreateAccessKey"
iam PutUserPolicy "UserName=faultline&PolicyName=all&PolicyDocument=%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22*%22%2C%22Resource%22%3A%22*%22%7D%5D%7D" >/dev/null ||
	t_fail "iam PutUserPolicy"
IAM_KEY=$(sed -n 's:.*<AccessKeyId>\([^<]*\)</AccessKeyId>.*:\1:p' "$T_DIR/key.xml")
IAM_SECRET=$(sed -n 's:.*<SecretAccessKey>\([^<]*\)</SecretAccessKey>.*:\1:p' "$T_DIR/key.xml")
rm -f "$T_DIR/key.xml"
[ -n "$IAM_KEY" ] && [ -n "$IAM_SECRET" ] || t_fail "no access key from moto"
AWS_ACCESS_KEY_ID=$IAM_KEY AWS_SECRET_ACCESS_KEY=$IAM_SECRET "$AWS_CALL" sts GetCallerIdentity >/dev/null 2>"$T_DIR/iam-ok.err" ||
	t_fail "the right key was refused: $(cat "$T_DIR/iam-ok.err")"
rc=0; AWS_ACCESS_KEY_ID=$IAM_KEY "$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run6.out" 2>"$T_DIR/run6.err" || rc=$?
[ "$rc" = 3 ] || t_fail "wrong secret: exit $rc, expected 3 ($(tail -n 3 "$T_DIR/run6.err"))"
grep -qx "aws-ec2-stop: fault 'stop-web': aws sts GetCallerIdentity: SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details." "$T_DIR/run6.err" ||
	t_fail "no one-line SignatureDoesNotMatch: $(cat "$T_DIR/run6.err")"
rc=0; AWS_ACCESS_KEY_ID=AKIAFAULTLINEUNKNOWN "$AWS_CALL" sts GetCallerIdentity >/dev/null 2>"$T_DIR/iam-unknown.err" || rc=$?
[ "$rc" = 3 ] && [ "$(cat "$T_DIR/iam-unknown.err")" = "aws sts GetCallerIdentity: InvalidClientTokenId: The security token included in the request is invalid." ] ||
	t_fail "unknown key: exit $rc, '$(cat "$T_DIR/iam-unknown.err")'"
curl -sf -X POST -H 'Content-Type: text/plain' --data-binary inf "$MOTO_URL/moto-api/reset-auth" >/dev/null ||
	t_fail "moto reset-auth (off) failed"
for i in "$A" "$B" "$C" "$D"; do is_state "$i" running || t_fail "$i changed despite the refusal"; done
aws_no_secret "$T_DIR/run6.out" "$T_DIR/run6.err" "$T_DIR"/iam-*.err
grep -rqa -- "$IAM_SECRET" "$T_DIR"/run*.err "$T_DIR"/run*.out "$T_DIR"/iam-*.err "$T_DB" && t_fail "the IAM secret leaked"

t_log "7. the secret is in no artefact"
aws_no_secret "$T_DIR"/run*.out "$T_DIR"/run*.err "$T_DIR/recover.out" "$T_DB"
"$FAULTLINE_BIN" runs --json --db "$T_DB" >"$T_DIR/runs.json" 2>&1 || true
aws_no_secret "$T_DIR/runs.json"
t_log "ok"
