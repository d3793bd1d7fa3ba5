# shellcheck shell=bash
# test_docs: the documentation cannot drift from what it is generated from.
#
#  - ci/gen-docs.py --check passes on the tree: bench/results.json's `met`
#    and report goal rows match its figures, docs/bench-results.md and
#    README.md's generated blocks match results.json and docs/cli.md;
#  - and it fails (exit 1, one line naming the file) when a figure, a met,
#    the README's exit-code block or the generated page is changed by hand,
#    and with exit 2 on a goal outside the grammar;
#  - the README keeps its front-page promises (the two commands, under 250
#    lines), every relative link in README.md and docs/*.md resolves, every
#    field `runs --json` emits is documented in docs/cli.md, and no README
#    paragraph is copied from docs/ (one source of truth).
set -euo pipefail

SRC=${FAULTLINE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v python3 >/dev/null || { echo "SKIP: needs python3"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/faultline-test_docs.XXXXXX")
trap 'rm -rf "$T"' EXIT
GEN=("python3" "$SRC/ci/gen-docs.py")
fail() { echo "test_docs: $*" >&2; exit 1; }

# gen_check NAME EXPECTED_RC ARGS...: runs --check on copies, asserts the exit status.
gen_check() {
	local name=$1 want=$2 rc=0
	shift 2
	"${GEN[@]}" --check "$@" 2>"$T/$name.err" || rc=$?
	[ "$rc" = "$want" ] || fail "$name: gen-docs --check exited $rc, expected $want: $(cat "$T/$name.err")"
	if [ "$want" != 0 ]; then
		[ "$(wc -l <"$T/$name.err")" -ge 1 ] || fail "$name: no message on stderr"
		grep -q '^gen-docs: ' "$T/$name.err" || fail "$name: message not 'gen-docs: ...': $(cat "$T/$name.err")"
	fi
}

# 1. The committed tree is up to date.
gen_check tree 0

# 2. Drift is caught. Work on copies; the tree is never written.
cp "$SRC/bench/results.json" "$T/results.json"
cp "$SRC/docs/bench-results.md" "$T/page.md"
cp "$SRC/README.md" "$T/README.md"
cp "$SRC/docs/cli.md" "$T/cli.md"
copies=(--results "$T/results.json" --page "$T/page.md" --readme "$T/README.md" --cli "$T/cli.md")
gen_check copies 0 "${copies[@]}"

# A rerun that changed a figure but not the docs: the page and README are
# stale. The figure crosses its goal ("< 2 ms") whichever side it was on.
python3 - "$T/results.json" "$T/figure.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = next(r for r in d["results"] if r.get("group") == "injection" and r.get("goal") == "< 2 ms")
r["faultline"] = 2.5 if r["met"] else 1.5  # met must flip
r["expect_met"] = not r["met"]
json.dump(d, open(sys.argv[2], "w"), indent=1)
PY
gen_check figure 1 --results "$T/figure.json" --page "$T/page.md" --readme "$T/README.md" --cli "$T/cli.md"
grep -q 'met differ' "$T/figure.err" || fail "figure: stale met not reported: $(cat "$T/figure.err")"
grep -q 'page.md: stale' "$T/figure.err" || fail "figure: stale page not reported: $(cat "$T/figure.err")"
# --normalise then regenerating makes the copies consistent again, with met computed.
"${GEN[@]}" --normalise --results "$T/figure.json"
"${GEN[@]}" --results "$T/figure.json" --page "$T/page2.md" --readme "$T/README.md" --cli "$T/cli.md"
gen_check regenerated 0 --results "$T/figure.json" --page "$T/page2.md" --readme "$T/README.md" --cli "$T/cli.md"
python3 - "$T/figure.json" <<'PY' || fail "normalise did not compute met from the figure"
import json, sys
d = json.load(open(sys.argv[1]))
r = next(r for r in d["results"] if "expect_met" in r)
sys.exit(0 if r["met"] is r["expect_met"] else 1)
PY
cp "$SRC/README.md" "$T/README.md"

# A hand-edited met ("yes" where the figure says no).
python3 - "$T/results.json" "$T/met.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = next(r for r in d["results"] if r.get("met") is False)
r["met"] = True
json.dump(d, open(sys.argv[2], "w"), indent=1)
PY
gen_check met 1 --results "$T/met.json" --page "$T/page.md" --readme "$T/README.md" --cli "$T/cli.md"

# A hand-edited README benchmark table, and an exit code changed in cli.md only.
sed 's/| \*\*no\*\* |/| yes |/' "$SRC/README.md" >"$T/README-edited.md"
cmp -s "$SRC/README.md" "$T/README-edited.md" && fail "README has no benchmark row to edit"
gen_check readme 1 --results "$T/results.json" --page "$T/page.md" --readme "$T/README-edited.md" --cli "$T/cli.md"
sed 's/^| 130 | interrupted/| 130 | stopped/' "$SRC/docs/cli.md" >"$T/cli-edited.md"
gen_check cli 1 --results "$T/results.json" --page "$T/page.md" --readme "$T/README.md" --cli "$T/cli-edited.md"
grep -q 'README.md: a generated block is stale' "$T/cli.err" || fail "cli: README exit codes not checked: $(cat "$T/cli.err")"

# A goal outside the grammar is an error, never a silent verdict.
python3 - "$T/results.json" "$T/goal.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
next(r for r in d["results"] if r.get("goal"))["goal"] = "fast enough"
json.dump(d, open(sys.argv[2], "w"), indent=1)
PY
gen_check goal 2 --results "$T/goal.json" --page "$T/page.md" --readme "$T/README.md" --cli "$T/cli.md"
grep -q "not in the goal grammar" "$T/goal.err" || fail "goal: $(cat "$T/goal.err")"

# Every group names the machine its rows were measured on: a group moved to
# another machine, and rows that never recorded one, are not given another
# group's machine.
read -r g_moved g_unknown < <(python3 - "$T/results.json" "$T/machines.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
groups = sorted({r["group"] for r in d["results"] if not r.get("derived")})
assert len(groups) >= 2, groups
for r in d["results"]:
    if r["group"] == groups[0]:
        r["machine"] = {"cores": 64, "cpu": "Test CPU 9000"}
    elif r["group"] == groups[1]:
        r.pop("machine", None)
json.dump(d, open(sys.argv[2], "w"), indent=1)
print(groups[0], groups[1])
PY
)
cp "$SRC/README.md" "$T/README3.md"
"${GEN[@]}" --results "$T/machines.json" --page "$T/page3.md" --readme "$T/README3.md" --cli "$T/cli.md"
grep -Eq "(^|; |: )$g_moved [^;]* on 64 cores, Test CPU 9000" "$T/page3.md" || fail "machines: $g_moved not shown on its own machine: $(grep -m1 'Each group' "$T/page3.md")"
grep -Eq "(^|; |: )$g_unknown [^;]* on machine not recorded" "$T/page3.md" || fail "machines: $g_unknown's missing machine not said: $(grep -m1 'Each group' "$T/page3.md")"
grep -q "machines: .*64 cores, Test CPU 9000" "$T/README3.md" || fail "machines: README does not name every machine: $(grep -m1 'Benchmarks of' "$T/README3.md")"

# 3. The front page, the links, the runs --json contract, one source of truth.
grep -qF 'ci/demo.sh' "$SRC/README.md" || fail "README.md lost 'ci/demo.sh'"
grep -qF 'ci/test.sh' "$SRC/README.md" || fail "README.md lost 'ci/test.sh'"
lines=$(wc -l <"$SRC/README.md")
[ "$lines" -lt 250 ] || fail "README.md has $lines lines (the front page stays under 250; move text to docs/)"
for f in docs/cli.md docs/measurement.md docs/HACKING.md; do
	[ -s "$SRC/$f" ] || fail "$f is missing (code comments point to it)"
done
for code in 0 1 2 3 130; do
	grep -q "^| $code |" "$SRC/docs/cli.md" || fail "docs/cli.md: exit code $code not documented"
done

python3 - "$SRC" <<'PY' || exit 1
import glob, os, re, sys
src = sys.argv[1]
bad = []
pages = [os.path.join(src, "README.md")] + sorted(glob.glob(os.path.join(src, "docs", "*.md")))
link = re.compile(r"\]\(([^)#\s]+)(#[^)]*)?\)")
for page in pages:
    text = open(page, encoding="utf-8").read()
    for m in link.finditer(text):
        target = m.group(1)
        if re.match(r"^[a-z]+:", target):
            continue
        if not os.path.exists(os.path.join(os.path.dirname(page), target)):
            bad.append("%s: link to %s does not resolve" % (os.path.relpath(page, src), target))
# Every top-level field runs --json emits (j_set(o, "...") in core/) is in docs/cli.md.
cli = open(os.path.join(src, "docs", "cli.md"), encoding="utf-8").read()
fields = set()
for c in glob.glob(os.path.join(src, "core", "*.c")):
    fields |= set(re.findall(r'j_set\((?:o|p|e|w), "([a-z_0-9]+)"', open(c, encoding="utf-8").read()))
if not fields:
    bad.append("no runs --json fields found in core/*.c (j_set): update test_docs.sh")
for f in sorted(fields):
    if f not in cli:
        bad.append("docs/cli.md: runs --json field '%s' is not documented" % f)
# One source of truth: no paragraph of 3+ lines of README.md outside the
# generated blocks appears verbatim in docs/.
readme = open(pages[0], encoding="utf-8").read()
readme = re.sub(r"<!-- BEGIN generated.*?<!-- END generated[^>]*-->", "", readme, flags=re.S)
docs = "\n".join(open(p, encoding="utf-8").read() for p in pages[1:])
for para in re.split(r"\n\s*\n", readme):
    if para.count("\n") >= 2 and not para.lstrip().startswith(("|", "```", "$")) and para.strip() in docs:
        bad.append("README.md paragraph copied from docs/: %r" % para.strip()[:60])
for b in bad:
    print("test_docs: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
echo "test_docs: ok"
