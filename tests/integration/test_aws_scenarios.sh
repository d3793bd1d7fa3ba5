#!/usr/bin/env bash
# scenarios/aws/ validates: every drill by `faultline validate`, every file
# by its JSON Schema (draft 2020-12), and the dry run lists the AWS calls
# each drill would make without calling any (no endpoint is reachable here):
# the faults' reads and changes, aws probes' and checks' reads, and a
# CloudWatch alarm's detection, in text and JSON.
. "$(dirname "$0")/lib.sh"
export FAULTLINE_AWS_WEB_HOST=staging.example.org
dir="$FAULTLINE_SOURCE_DIR/scenarios/aws"
n=0
for f in "$dir"/aws-*.json; do
	"$FAULTLINE_BIN" validate "$f" >&2 || t_fail "$f does not validate"
	out=$("$FAULTLINE_BIN" run "$f" --dry-run --db "$T_DB" 2>&1) || t_fail "dry run of $f failed: $out"
	grep -q "reads sts GetCallerIdentity.*; changes " <<<"$out" || t_fail "dry run of $f lists no AWS calls: $out"
	grep -q "^  blast radius: at most [0-9]* targets (a cloud fault counts the resources it would touch" <<<"$out" ||
		t_fail "dry run of $f does not say how the blast radius is counted: $out"
	n=$((n + 1))
done
[ "$n" -ge 3 ] || t_fail "only $n AWS drills"

# The dry run lists every call, reads included: a CloudWatch alarm's
# detection, aws probes and aws validation checks, in text and JSON.
cat >"$T_DIR/cw.json" <<JSON
{ "name": "aws-reads", "environment": "$dir/env-staging.json", "targets": { "rto": "60s" },
  "probes": [ { "name": "web", "type": "aws", "target": "web", "watch": "instances_running",
                "interval": "1s", "availability": true } ],
  "detection": { "cloudwatch": { "alarm": "web-5xx", "target": "web", "interval": "5s", "timeout": "2m" } },
  "faults": [ { "name": "stop-web", "injector": "aws.ec2", "target": "web-one", "action": "stop" } ],
  "validation": [ { "name": "healed", "type": "aws", "target": "web", "watch": "targets_healthy",
                    "target_group": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0" } ] }
JSON
out=$("$FAULTLINE_BIN" run "$T_DIR/cw.json" --dry-run --db "$T_DB" 2>&1) || t_fail "dry run failed: $out"
for want in "  probe web every 1s (availability): aws reads ec2 DescribeInstances" \
	"  detect: CloudWatch alarm 'web-5xx' through target web, polled every 5s, within 120s: aws reads cloudwatch DescribeAlarms" \
	"  validate healed: aws reads elbv2 DescribeTargetHealth"; do
	grep -qxF "$want" <<<"$out" || t_fail "dry run lacks '$want': $out"
done
grep -q "^  would inject stop-web: aws.ec2 stop the instances of 'web-one': reads sts GetCallerIdentity, ec2 DescribeInstances; changes ec2 StopInstances; revert: reads ec2 DescribeInstances; changes ec2 StartInstances" <<<"$out" ||
	t_fail "dry run lacks the fault's calls: $out"
"$FAULTLINE_BIN" run "$T_DIR/cw.json" --dry-run --json --db "$T_DB" >"$T_DIR/plan.json" 2>&1 || t_fail "dry run --json failed"
/usr/bin/python3 - "$T_DIR/plan.json" <<'PY' || t_fail "dry run --json lacks the reads: $(cat "$T_DIR/plan.json")"
import json, sys
p = json.load(open(sys.argv[1]))[0]
assert p["probes"][0]["api_reads"] == "ec2 DescribeInstances", p["probes"]
assert p["detection"] == {"kind": "cloudwatch", "alarm": "web-5xx", "target": "web",
                          "interval_ms": 5000.0, "timeout_ms": 120000.0,
                          "api_reads": ["cloudwatch DescribeAlarms"]}, p["detection"]
assert p["validation_api_reads"] == {"healed": "elbv2 DescribeTargetHealth"}, p
assert "changes ec2 StopInstances" in p["faults"][0]["description"], p["faults"]
PY
/usr/bin/python3 - "$FAULTLINE_SOURCE_DIR/scenarios/schema" "$dir" <<'PY' || t_fail "schema check failed"
import glob, json, sys, jsonschema
schemas, d = sys.argv[1:3]
for kind, pattern in (("environment", "env-*.json"), ("scenario", "aws-*.json")):
    v = jsonschema.Draft202012Validator(json.load(open("%s/%s.schema.json" % (schemas, kind))))
    for f in sorted(glob.glob("%s/%s" % (d, pattern))):
        errs = list(v.iter_errors(json.load(open(f))))
        if errs:
            sys.exit("%s: %s" % (f, errs[0].message))
PY
t_log "ok: $n drills"
