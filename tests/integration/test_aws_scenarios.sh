#!/usr/bin/env bash
# scenarios/aws/ validates: every drill by `faultline validate`, every file
# by its JSON Schema (draft 2020-12), and the dry run lists the AWS calls
# each drill would make without calling any (no endpoint is reachable here).
. "$(dirname "$0")/lib.sh"
export FAULTLINE_AWS_WEB_HOST=staging.example.org
dir="$FAULTLINE_SOURCE_DIR/scenarios/aws"
n=0
for f in "$dir"/aws-*.json; do
	"$FAULTLINE_BIN" validate "$f" >&2 || t_fail "$f does not validate"
	out=$("$FAULTLINE_BIN" run "$f" --dry-run --db "$T_DB" 2>&1) || t_fail "dry run of $f failed: $out"
	grep -q "calls sts GetCallerIdentity" <<<"$out" || t_fail "dry run of $f lists no AWS calls: $out"
	n=$((n + 1))
done
[ "$n" -ge 3 ] || t_fail "only $n AWS drills"
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
