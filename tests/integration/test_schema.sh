#!/usr/bin/env bash
# The JSON Schemas and the loaders agree: every example file under
# scenarios/ and tests/data/scenarios/valid/ is valid by its schema (Debian's
# python3-jsonschema, draft 2020-12) AND by `faultline validate`; every
# invalid case in tests/data/scenarios/invalid/ is rejected by the schemas
# too, unless tests/data/scenarios/schema-loader-only.txt lists it with the
# reason only the loader can catch it (unknown targets, cycles, ...).
#
# Examples may use ${VAR} (the demo's ports and directories): a variable the
# caller has not set gets a placeholder (a port number for *PORT*, a
# directory otherwise), since validate only needs the text to be well formed.
set -u
: "${FAULTLINE_BIN:?}" "${FAULTLINE_SOURCE_DIR:?}"
src=$FAULTLINE_SOURCE_DIR
py=/usr/bin/python3
fail=0
tmp=$(mktemp -d /tmp/faultline-test-schema-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

if ! "$py" -c 'import jsonschema' 2>/dev/null; then
  echo "python3-jsonschema is not installed (apt-get install -y python3-jsonschema)"; exit 1
fi

# Schema check of each file named on stdin (one per line): prints
# "ok<TAB>file" or "bad<TAB>file<TAB>first error". Exits 2 if a schema is broken.
cat > "$tmp/check.py" <<'PY'
import json, sys, jsonschema
schema_dir = sys.argv[1]
validators = {}
for kind in ("scenario", "environment", "inventory"):
    with open("%s/%s.schema.json" % (schema_dir, kind), encoding="utf-8") as f:
        schema = json.load(f)
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.exceptions.SchemaError as e:
        print("%s.schema.json is not a valid draft 2020-12 schema: %s" % (kind, e.message))
        sys.exit(2)
    validators[kind] = jsonschema.Draft202012Validator(schema)
def no_dups(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)
def check(path):
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f, object_pairs_hook=no_dups)
    except (ValueError, UnicodeDecodeError) as e:
        return "not JSON: %s" % e
    kind = doc.get("kind") if isinstance(doc, dict) else None
    if kind is None and isinstance(doc, dict):
        kind = "inventory" if "assets" in doc else "environment" if "production" in doc else "scenario"
    if kind not in validators:
        kind = "scenario"
    errors = list(validators[kind].iter_errors(doc))
    # A failed per-kind branch leaves its keys "unevaluated" too: name the
    # cause (a bad value) rather than that echo when there is one.
    causes = [e for e in errors if e.validator != "unevaluatedProperties"]
    err = jsonschema.exceptions.best_match(causes or errors)
    if err is not None:
        return "%s schema: %s at /%s" % (kind, err.message, "/".join(map(str, err.absolute_path)))
    return None
for line in sys.stdin:
    path = line.rstrip("\n")
    if path:
        e = check(path)
        print("ok\t%s" % path if e is None else "bad\t%s\t%s" % (path, e))
PY

shopt -s nullglob
declare -A seen=()
examples=()
for f in "$src"/scenarios/*.json "$src"/scenarios/env/*.json "$src"/scenarios/inventory*.json \
         "$src"/tests/data/scenarios/valid/*.json; do
  [ -n "${seen[$f]:-}" ] && continue
  seen[$f]=1
  examples+=("$f")
done
if [ ${#examples[@]} -lt 4 ]; then
  echo "FAIL: expected at least the 4 examples in tests/data/scenarios/valid, found ${#examples[@]}"; exit 1
fi

# Placeholders for variables the examples use and the caller did not set.
# shellcheck disable=SC2016 # '${...}' is the literal text searched for
for v in $(grep -oh '\${[A-Za-z_][A-Za-z0-9_]*}' "${examples[@]}" | sort -u | tr -d '${}'); do
  if [ -z "${!v+x}" ]; then
    case $v in
      *PORT*) export "$v=18080" ;;
      *) export "$v=$tmp/$v" ;;
    esac
  fi
done

printf '%s\n' "${examples[@]}" | "$py" "$tmp/check.py" "$src/scenarios/schema" > "$tmp/examples.out"
[ $? -eq 2 ] && { cat "$tmp/examples.out"; exit 1; }
for f in "${examples[@]}"; do
  rel=${f#"$src"/}
  line=$(grep -F -m1 "$(printf '\t%s' "$f")" "$tmp/examples.out")
  ok=1
  case $line in
    ok*) ;;
    *) echo "FAIL: $rel: ${line##*$'\t'}"; ok=0 ;;
  esac
  # validate from the file's own directory, as a user would
  if ! err=$(cd "$(dirname "$f")" && timeout 30 "$FAULTLINE_BIN" validate "$(basename "$f")" 2>&1 >/dev/null); then
    echo "FAIL: faultline validate $rel: $err"; ok=0
  fi
  if [ $ok = 1 ]; then echo "ok: $rel"; else fail=1; fi
done

# The per-injector and per-kind rules, both ways: each fault below is put in
# a minimal scenario; "ok" ones must validate, "bad" ones must not (each
# mirrors a check in injectors/*.c validate() or core/scenario.c).
cat > "$tmp/params.py" <<'PY'
import json, sys, jsonschema
with open(sys.argv[1] + "/scenario.schema.json", encoding="utf-8") as f:
    v = jsonschema.Draft202012Validator(json.load(f))
probe = {"name": "api", "type": "http", "url": "http://127.0.0.1:1/"}
def fault(**kw):
    return dict({"name": "f", "target": "t"}, **kw)
cases = [
    ("ok", fault(injector="process")),
    ("ok", fault(injector="process", signal="SIGTERM", children=True)),
    ("ok", fault(injector="process", signal="9")),
    ("ok", fault(injector="process", pause="2s", duration="2s")),
    ("ok", fault(injector="process", pause="2s", duration="2s", signal="STOP")),
    ("bad", fault(injector="process", signal="KILLL")),
    ("bad", fault(injector="process", signal="65")),
    ("bad", fault(injector="process", pause="2s")),
    ("bad", fault(injector="process", pause="2s", duration="2s", signal="KILL")),
    ("bad", fault(injector="process", mode="zero")),
    ("bad", fault(injecter="process")),
    ("ok", fault(injector="file", mode="zero", offset=0, length=4096)),
    ("ok", fault(injector="file", mode="flip", count=3, seed=1, range=[0, 10])),
    ("ok", fault(injector="file", mode="flip", offsets=[1, 2])),
    ("ok", fault(injector="file", mode="truncate", length=0)),
    ("ok", fault(injector="file", mode="delete")),
    ("bad", fault(injector="file", mode="zero", offset=0)),
    ("bad", fault(injector="file", mode="zero", offset=0, length=1, count=2)),
    ("bad", fault(injector="file", mode="flip")),
    ("bad", fault(injector="file", mode="flip", offsets=[1], count=2)),
    ("bad", fault(injector="file", mode="flip", offsets=[1], seed=2)),
    ("bad", fault(injector="file", mode="delete", length=1)),
    ("bad", fault(injector="file", mode="shred")),
    ("ok", fault(injector="exec", inject=["true"], revert=["true"], env={"A": "b"}, timeout="1s")),
    ("bad", fault(injector="exec", inject=["true"])),
    ("bad", fault(injector="exec", inject=[], revert=["true"])),
    ("bad", fault(injector="exec", inject=["true"], revert=["true"], env={"A=B": "c"})),
    ("ok", fault(injector="network", mode="loss", percent=30, direction="in", peer="10.0.0.0/8")),
    ("ok", fault(injector="network", mode="link-down")),
    ("bad", fault(injector="network", mode="loss")),
    ("bad", fault(injector="network", mode="drop", percent=5)),
    ("bad", fault(injector="network", mode="link-down", direction="in")),
    ("bad", fault(injector="network", mode="drop", direction="sideways")),
    ("bad", fault(injector="network", mode="drop", peer="db.internal")),
    ("ok", fault(injector="latency", delay="100ms", jitter="10ms", seed=3, queue=1, limit=100)),
    ("bad", fault(injector="latency", delay="100ms", seed=3)),
    ("bad", fault(injector="latency", jitter="10ms")),
    ("bad", fault(injector="latency", delay="100ms", mode="drop")),
    ("bad", {"name": "f", "injector": "exec", "inject": ["true"], "revert": ["true"], "zone": "a", "target": "t"}),
    ("bad", fault(injector="process", select="all")),
    ("ok", {"name": "f", "injector": "process", "zone": "a", "select": "count(2)"}),
]
probes = [
    ("ok", [probe, {"name": "p", "type": "tcp", "target": "t", "max_latency": "50ms"}]),
    ("ok", [{"name": "w", "type": "writer", "driver": "sqlite", "dsn": "x.db"}, probe]),
    ("bad", [{"name": "w", "type": "writer", "driver": "sqlite", "dsn": "x.db"}]),
    ("bad", [dict(probe, availability=False)]),
    ("bad", [dict(probe, availability=True), dict(probe, name="b", availability=True)]),
    ("bad", [dict(probe, max_latency="0s")]),
    ("bad", [{"name": "c", "type": "command", "argv": ["true"], "url": "http://x/"}]),
]
fail = 0
for want, f in cases:
    doc = {"name": "s", "probes": [probe], "faults": [f]}
    got = "ok" if v.is_valid(doc) else "bad"
    print("%s: %s fault %s" % ("ok" if got == want else "FAIL", want, json.dumps(f)))
    fail |= got != want
for want, ps in probes:
    got = "ok" if v.is_valid({"name": "s", "probes": ps}) else "bad"
    print("%s: %s probes %s" % ("ok" if got == want else "FAIL", want, json.dumps(ps)))
    fail |= got != want
sys.exit(fail)
PY
"$py" "$tmp/params.py" "$src/scenarios/schema" || fail=1

# Every invalid case: the schemas reject it (some JSON file of the case fails
# its schema: what an editor shows the user), or it is listed in
# tests/data/scenarios/schema-loader-only.txt with the reason only the loader
# can catch it (cross-references, cycles, ${VAR}). Neither is a failure, and
# so is both (a stale entry: the schema learnt to reject it).
list=$src/tests/data/scenarios/schema-loader-only.txt
[ -f "$list" ] || { echo "FAIL: $list missing"; exit 1; }
declare -A loader_only=()
while read -r name reason; do
  case $name in ''|'#'*) continue ;; esac
  [ -n "$reason" ] || { echo "FAIL: schema-loader-only.txt: '$name' has no reason"; fail=1; }
  loader_only[$name]=1
done < "$list"

files=()
ncases=0
for dir in "$src"/tests/data/scenarios/invalid/*/; do
  ncases=$((ncases + 1))
  for f in "$dir"*.json; do files+=("$f"); done
done
printf '%s\n' "${files[@]}" | "$py" "$tmp/check.py" "$src/scenarios/schema" > "$tmp/invalid.out"
[ "$(wc -l < "$tmp/invalid.out")" -eq ${#files[@]} ] || { echo "FAIL: schema check output incomplete"; fail=1; }
declare -A why=()
while IFS=$'\t' read -r verdict path reason; do
  [ "$verdict" = bad ] || continue
  c=${path%/*}; c=${c##*/}
  [ -n "${why[$c]:-}" ] || why[$c]="${path##*/}: $reason"
done < "$tmp/invalid.out"

rejected=0 listed=0
for dir in "$src"/tests/data/scenarios/invalid/*/; do
  c=${dir%/}; c=${c##*/}
  if [ -n "${why[$c]:-}" ] && [ -n "${loader_only[$c]:-}" ]; then
    echo "FAIL: invalid/$c: the schema rejects it (${why[$c]}) but schema-loader-only.txt lists it: remove the entry"; fail=1
  elif [ -n "${why[$c]:-}" ]; then
    echo "ok: invalid/$c rejected by the schema (${why[$c]})"; rejected=$((rejected + 1))
  elif [ -n "${loader_only[$c]:-}" ]; then
    echo "ok: invalid/$c accepted by the schema, listed as loader-only"; listed=$((listed + 1))
  else
    echo "FAIL: invalid/$c: the schema accepts it, faultline rejects it, and schema-loader-only.txt does not list it"; fail=1
  fi
  unset "loader_only[$c]"
done
for c in "${!loader_only[@]}"; do
  echo "FAIL: schema-loader-only.txt lists '$c', which is not a case in tests/data/scenarios/invalid/"; fail=1
done
echo "invalid cases: $ncases, rejected by the schemas: $rejected, loader-only (listed): $listed"
exit $fail
