#!/usr/bin/env bash
# aws.fis as a contract test: moto has no FIS experiments, so the loopback
# stand-in (aws_fixture.py contract) answers each FIS call with the response
# document of its AWS API reference page (tests/data/aws/), GetExperiment in
# the order initiating, running, completed. Checked from the requests
# faultline sent and from its verdict: a complete run followed to its end
# (no StopExperiment); Ctrl-C stops a running experiment (StopExperiment);
# SIGKILL then `faultline recover` stops it, also when the experiment's ID
# never reached the journal (found by its tag with ListExperiments); an experiment that fails is
# reported with FIS's reason and fails the drill; a template whose target
# does not select by the required tag is refused before StartExperiment; an
# AWS error is one line with service, operation, code and message.
#
# What this does not prove: AWS's own behaviour (the documents are the
# reference's shapes with plausible values) and the signatures (the
# stand-in does not check them).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/aws_lib.sh"

aws_drill_helpers
EXP=EXPz9y8x7w6v5u4t3
TMPL=EXTa1b2c3d4e5f6g7

# contract NAME [EDIT-PYTHON]: a copy of tests/data/aws for one case, edited
# by the Python snippet (run in the copy), and a stand-in answering from it.
contract() {
	local dir="$T_DIR/$1.data"
	cp -r "$AWS_DATA" "$dir"
	[ -z "${2:-}" ] || (cd "$dir" && python3 -c "$2") || t_fail "editing contract $1"
	aws_fixture_start "$1" contract "$dir"
	cat >"$T_DIR/env.json" <<JSON
{ "name": "aws-fis-test", "production": false,
  "targets": { "web": { "kind": "cloud", "provider": "aws", "region": "eu-west-1",
    "accounts": ["123456789012"], "endpoint_url": "$AF_URL",
    "required_tag": "faultline:environment=staging", "select": { "tags": { "app": "web" } } } } }
JSON
	cat >"$T_DIR/drill.json" <<JSON
{ "name": "aws-fis", "environment": "env.json", "targets": { "rto": "60s" }, "steady_state": "200ms",
  "probes": [ { "name": "svc", "type": "http", "url": "http://127.0.0.1:$SVC_PORT/",
                "interval": "100ms", "timeout": "500ms", "availability": true } ],
  "faults": [ { "name": "fis", "injector": "aws.fis", "target": "web", "template": "$TMPL" } ] }
JSON
}
# sent NAME METHOD PATH-REGEX: how many requests of the case matched.
sent() {
	python3 - "$T_DIR/$1.requests" "$2" "$3" <<'PY'
import json, re, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["method"] == sys.argv[2] and re.fullmatch(sys.argv[3], r["path"].split("?")[0]):
        n += 1
print(n)
PY
}
# run_bg NAME: starts the drill; RUN_PID; waits until the fault is injected.
run_bg() {
	"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/$1.out" 2>"$T_DIR/$1.err" &
	RUN_PID=$!
	T_BG_PIDS+=("$RUN_PID")
	injected() {
		grep -q "injected fis" "$T_DIR/$1.err" && return 0
		kill -0 "$RUN_PID" 2>/dev/null || t_fail "$1: faultline exited early: $(cat "$T_DIR/$1.err")"
		return 1
	}
	t_wait_for 30 "$1: the experiment started" injected "$1"
}
# Answers "running" forever: the experiment never ends by itself.
FOREVER='import os; os.remove("GetExperiment.3.json")'

t_log "1. complete run: started, followed to completed, never stopped"
contract full
"$FAULTLINE_BIN" validate "$T_DIR/drill.json" >&2 || t_fail "drill does not validate"
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --dry-run --db "$T_DB" >"$T_DIR/dry.out" 2>&1 || t_fail "dry run failed"
grep -q "reads sts GetCallerIdentity, fis GetExperimentTemplate, fis GetExperiment (every 1s until the experiment ends); changes fis StartExperiment" "$T_DIR/dry.out" ||
	t_fail "dry run does not list the FIS calls: $(cat "$T_DIR/dry.out")"
[ ! -s "$T_DIR/full.requests" ] || t_fail "the dry run called AWS"
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/full.out" 2>"$T_DIR/full.err" ||
	t_fail "complete run exited $?: $(tail -n 5 "$T_DIR/full.err")"
grep -q "fault fis ended" "$T_DIR/full.err" || t_fail "the end of the experiment was not seen: $(cat "$T_DIR/full.err")"
[ "$(sent full GET "/experimentTemplates/$TMPL")" = 1 ] || t_fail "GetExperimentTemplate not sent once"
[ "$(sent full POST /experiments)" = 1 ] || t_fail "StartExperiment not sent once"
[ "$(sent full GET "/experiments/$EXP")" -ge 3 ] || t_fail "the experiment was not followed to its end"
[ "$(sent full DELETE "/experiments/$EXP")" = 0 ] || t_fail "a completed experiment was stopped"
python3 - "$T_DIR/full.requests" "$TMPL" <<'PY' || t_fail "StartExperiment's body"
import json, sys
starts = [r for r in map(json.loads, open(sys.argv[1])) if r["path"] == "/experiments"]
body = json.loads(starts[0]["body"])
assert body["experimentTemplateId"] == sys.argv[2], body
token = body["clientToken"]
assert token.startswith("faultline-") and body["tags"] == {"faultline:drill": token}, body
PY
# STS first: the account is checked before anything else.
head -n 1 "$T_DIR/full.requests" | grep -q "Action=GetCallerIdentity" || t_fail "GetCallerIdentity was not the first call"

t_log "2. Ctrl-C: the running experiment is stopped before exit 130"
contract int "$FOREVER"
run_bg int
kill -INT "$RUN_PID"
rc=0; wait "$RUN_PID" || rc=$?
[ "$rc" = 130 ] || t_fail "exit $rc after SIGINT, wanted 130: $(tail -n 5 "$T_DIR/int.err")"
[ "$(sent int DELETE "/experiments/$EXP")" = 1 ] || t_fail "StopExperiment not sent after SIGINT"
grep -q "reverted fis" "$T_DIR/int.err" || t_fail "no revert line: $(cat "$T_DIR/int.err")"

t_log "3. SIGKILL, then faultline recover stops it"
contract kill "$FOREVER"
run_bg kill
kill -KILL "$RUN_PID"; wait "$RUN_PID" 2>/dev/null || true
[ "$(sent kill DELETE "/experiments/$EXP")" = 0 ] || t_fail "stopped before recover"
timeout 60 "$FAULTLINE_BIN" recover --db "$T_DB" >"$T_DIR/recover.out" 2>&1 ||
	t_fail "recover failed: $(cat "$T_DIR/recover.out")"
[ "$(sent kill DELETE "/experiments/$EXP")" = 1 ] || t_fail "recover did not send StopExperiment"

t_log "3b. killed before the experiment's ID was journaled: recover finds it by its tag"
contract lost "$FOREVER"
run_bg lost
kill -KILL "$RUN_PID"; wait "$RUN_PID" 2>/dev/null || true
# As if faultline had died between StartExperiment and the journal write.
q() { sqlite3 -cmd '.timeout 2000' "$T_DB" "$1"; }
token=$(q "select json_extract(revert, '$.token') from journal where injector = 'aws.fis' and state <> 'reverted'")
[ -n "$token" ] || t_fail "no open aws.fis journal row with a token"
q "update journal set revert = json_remove(revert, '$.experiment') where injector = 'aws.fis' and state <> 'reverted'"
sed -i "s/CLIENT-TOKEN/$token/" "$T_DIR/lost.data/ListExperiments.json"
timeout 60 "$FAULTLINE_BIN" recover --db "$T_DB" >"$T_DIR/recover2.out" 2>&1 ||
	t_fail "recover failed: $(cat "$T_DIR/recover2.out")"
[ "$(sent lost GET /experiments)" = 1 ] || t_fail "ListExperiments not asked"
[ "$(sent lost DELETE "/experiments/$EXP")" = 1 ] || t_fail "the experiment found by its tag was not stopped"

t_log "4. an experiment that fails: FIS's reason, the drill fails, nothing to stop"
contract failed 'import json
t = open("GetExperiment.3.json").read().split("\n", 1)
d = json.loads(t[1]); d["experiment"]["state"] = {"status": "failed", "reason": "Target resolution failed: no instance matched."}
open("GetExperiment.2.json", "w").write(t[0] + "\n" + json.dumps(d))'
rc=0; "$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/failed.out" 2>"$T_DIR/failed.err" || rc=$?
[ "$rc" = 1 ] || t_fail "failed experiment: exit $rc, wanted 1: $(tail -n 5 "$T_DIR/failed.err")"
grep -qF "fault fis ended early: FIS experiment $EXP failed: Target resolution failed: no instance matched." "$T_DIR/failed.err" ||
	t_fail "no reason given: $(cat "$T_DIR/failed.err")"
[ "$(sent failed DELETE "/experiments/$EXP")" = 0 ] || t_fail "a failed experiment was stopped"

t_log "5. refusals before StartExperiment: untagged template target, AWS error"
contract untagged 'import json
t = open("GetExperimentTemplate.json").read().split("\n", 1)
d = json.loads(t[1]); del d["experimentTemplate"]["targets"]["web-instances"]["resourceTags"]
d["experimentTemplate"]["targets"]["web-instances"]["resourceArns"] = ["arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0"]
open("GetExperimentTemplate.json", "w").write(t[0] + "\n" + json.dumps(d))'
rc=0; "$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/untagged.out" 2>"$T_DIR/untagged.err" || rc=$?
[ "$rc" = 3 ] || t_fail "untagged template: exit $rc, wanted 3"
grep -qF "aws: FIS experiment template $TMPL: target 'web-instances' does not select by the required tag faultline:environment=staging (resourceTags); nothing was changed" \
	"$T_DIR/untagged.err" || t_fail "no clear refusal: $(cat "$T_DIR/untagged.err")"
[ "$(sent untagged POST /experiments)" = 0 ] || t_fail "StartExperiment sent despite the refusal"
contract missing 'open("GetExperimentTemplate.json", "w").write("# HTTP 404 (test: the error document of a REST-JSON service)\n{\"__type\": \"ResourceNotFoundException\", \"message\": \"Experiment template not found.\"}")'
rc=0; "$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/missing.out" 2>"$T_DIR/missing.err" || rc=$?
[ "$rc" = 3 ] || t_fail "unknown template: exit $rc, wanted 3"
grep -qF "aws fis GetExperimentTemplate: ResourceNotFoundException: Experiment template not found." "$T_DIR/missing.err" ||
	t_fail "no one-line AWS error: $(cat "$T_DIR/missing.err")"
[ "$(sent missing POST /experiments)" = 0 ] || t_fail "StartExperiment sent after an error"
bad='{ "name": "f", "injector": "aws.fis", "target": "web", "template": "EXT/../x" }'
sed -i "s|{ \"name\": \"fis\".*} \] }|$bad ] }|" "$T_DIR/drill.json"
rc=0; "$FAULTLINE_BIN" validate "$T_DIR/drill.json" >"$T_DIR/v.out" 2>&1 || rc=$?
{ [ "$rc" = 2 ] && grep -q "'template': expected an FIS experiment template ID" "$T_DIR/v.out"; } ||
	t_fail "bad template id: exit $rc: $(cat "$T_DIR/v.out")"
aws_no_secret "$T_DIR"/*.out "$T_DIR"/*.err "$T_DB"
t_log "ok"
