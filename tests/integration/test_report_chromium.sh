#!/usr/bin/env bash
# The HTML report as a browser sees it: a synthetic history (with a scenario
# named like an XSS payload) is reported and rendered by real headless
# Chromium; the test checks the DOM it built (title, one trend chart per
# scenario, the verdict rows, the payload as text and no script element) and
# keeps a screenshot in the build directory as a CI artifact. Then the
# command-line contract of `report` and `gate` (exit codes, error lines).
set -euo pipefail

: "${FAULTLINE_BIN:?}" "${FAULTLINE_FIXTURE_DIR:?}" "${FAULTLINE_BUILD_DIR:?}"
work=$(mktemp -d)
profile=$(mktemp -d)
trap 'rm -rf "$work" "$profile"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

if ! command -v chromium >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		timeout 600 apt-get install -y chromium >/dev/null 2>&1 || fail "could not install chromium"
	fi
	command -v chromium >/dev/null 2>&1 || fail "chromium is not installed (apt-get install chromium)"
fi

payload='<script>alert(1)</script>'
"$FAULTLINE_FIXTURE_DIR/gen_history" --db "$work/h.db" --runs 400 --seed 5 --scenario "$payload" --steps >/dev/null
"$FAULTLINE_BIN" report --db "$work/h.db" -o "$work/report.html" --title "faultline chromium test" >/dev/null

chrome=(timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run
	--disable-background-networking --disable-component-update --disable-sync
	--user-data-dir="$profile")
"${chrome[@]}" --dump-dom "file://$work/report.html" >"$work/dom.html" 2>"$work/chromium.log" ||
	{ cat "$work/chromium.log" >&2; fail "chromium --dump-dom failed"; }

count() { grep -o -- "$1" "$work/dom.html" | wc -l; }
grep -q '<title>faultline chromium test</title>' "$work/dom.html" || fail "title missing from the rendered DOM"
[ "$(count '<svg class="trend"')" -eq 4 ] || fail "expected 4 trend charts, got $(count '<svg class="trend"')"
[ "$(count '<svg class="histogram"')" -eq 4 ] || fail "expected 4 histograms"
[ "$(count '<tr class="verdict">')" -eq 4 ] || fail "expected 4 verdict rows, got $(count '<tr class="verdict">')"
# The payload survives as text (the DOM serialiser escapes it again) and
# never becomes an element.
[ "$(count '&lt;script&gt;alert(1)&lt;/script&gt;')" -ge 3 ] || fail "scenario name not rendered as text"
[ "$(count '<script')" -eq 0 ] || fail "a script element reached the DOM"
grep -q 'demo-instance-kill' "$work/dom.html" || fail "scenario section missing"
[ "$(count '<svg class="gantt"')" -eq 4 ] || fail "expected 4 Gantt timelines, got $(count '<svg class="gantt"')"

# ---- the Gantt timeline at phone width -----------------------------------
# A copy of the report gets a test-only script (the report itself has none)
# that measures the laid-out timelines on a 390 px wide page and writes
# what it found into the DOM: per chart, per row its depth, name, bar count,
# bar box and text box, and the computed font size of the labels.
python3 - "$work/report.html" "$work/measure.html" <<'PY'
import sys
page = open(sys.argv[1], encoding="utf-8").read()
probe = """<pre id="gantt-check"></pre><script>
// Headless windows are at least 500 px wide: the page itself is held to
// 390 px (the phone layout below 600 px applies either way).
document.documentElement.style.width = '390px';
const out = [];
for (const svg of document.querySelectorAll('svg.gantt')) {
  const box = svg.getBoundingClientRect(), rows = [];
  for (const g of svg.querySelectorAll('g.row')) {
    const bars = g.querySelectorAll('rect.bar'), t = g.querySelector('text');
    const b = bars.length ? bars[0].getBoundingClientRect() : null, tb = t.getBoundingClientRect();
    rows.push({depth: +g.dataset.depth, name: t.firstChild.textContent.replace(/^\u21b3 /, ''),
      bars: bars.length, bar: b && [b.left, b.top, b.right, b.bottom],
      text: [tb.left, tb.top, tb.right, tb.bottom],
      font: parseFloat(getComputedStyle(t).fontSize)});
  }
  out.push({aria: svg.getAttribute('aria-label'), viewBox: svg.hasAttribute('viewBox'),
    box: [box.left, box.top, box.right, box.bottom], width: document.documentElement.getBoundingClientRect().width,
    rows: rows});
}
document.getElementById('gantt-check').textContent = JSON.stringify(out);
</script>"""
open(sys.argv[2], "w", encoding="utf-8").write(page.replace("</body>", probe + "</body>"))
PY
"${chrome[@]}" --window-size=390,3000 --dump-dom "file://$work/measure.html" >"$work/measure.dom" 2>>"$work/chromium.log" ||
	fail "chromium --dump-dom of the measuring copy failed"
python3 - "$work/measure.dom" <<'PY' || fail "the Gantt timeline does not hold at 390 px"
import html, json, re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
m = re.search(r'<pre id="gantt-check">(.*?)</pre>', dom, re.S)
assert m and m.group(1), "the measuring script did not run"
charts = json.loads(html.unescape(m.group(1)))
assert len(charts) == 4, f"{len(charts)} timelines measured"
def overlap(a, b):
    return a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5
for c in charts:
    assert c["width"] <= 390, f"window is {c['width']} px wide"
    assert not c["viewBox"], "a viewBox would scale the labels down with the width"
    left, top, right, bottom = c["box"]
    assert right - left <= 390, f"chart {right - left:.0f} px wide"
    assert c["rows"], "a timeline without rows"
    for r in c["rows"]:
        assert r["bars"] == 1, f"row {r['name']}: {r['bars']} bars (one per row)"
        assert r["font"] >= 11, f"row {r['name']}: labels at {r['font']} px"
        assert r["bar"][2] - r["bar"][0] >= 2, f"bar of {r['name']} is {r['bar'][2] - r['bar'][0]:.1f} px: invisible"
        assert left <= r["text"][0] and r["text"][2] <= right + 0.5, f"label of {r['name']} is cut off: {r['text']} in {c['box']}"
        assert left <= r["bar"][0] and r["bar"][2] <= right + 0.5, f"bar of {r['name']} leaves the chart"
    # Nothing overlaps across rows: no two bars, no two labels, no label on a bar.
    boxes = [(r["name"], k, r[k]) for r in c["rows"] for k in ("bar", "text")]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not overlap(boxes[i][2], boxes[j][2]), f"{boxes[i][:2]} overlaps {boxes[j][:2]}"
db = [c for c in charts if any(r["name"] == "flush-cache" for r in c["rows"])]
assert len(db) == 1, "the database scenario's timeline lacks its steps"
rows = [(r["depth"], r["name"]) for r in db[0]["rows"]]
want = [(0, "detect"), (0, "recover"), (1, "failover"), (1, "flush-cache"), (0, "validate"), (1, "restore-zone")]
assert rows == want, f"rows {rows}, wanted {want}"
print("gantt ok:", ", ".join(f"{len(c['rows'])} rows" for c in charts))
PY
"${chrome[@]}" --screenshot="$FAULTLINE_BUILD_DIR/report-gantt-390.png" --window-size=390,2400 \
	"file://$work/report.html" >/dev/null 2>&1 || fail "chromium --screenshot at 390 px failed"

shot="$FAULTLINE_BUILD_DIR/report-screenshot.png"
rm -f "$shot"
"${chrome[@]}" --screenshot="$shot" --window-size=1280,2000 "file://$work/report.html" >/dev/null 2>&1 ||
	fail "chromium --screenshot failed"
[ -s "$shot" ] || fail "no screenshot written"

# ---- command-line contract ----------------------------------------------
"$FAULTLINE_BIN" report --db "$work/h.db" --format json --last 5 >"$work/r.json"
grep -q '"schema": "faultline.report/1"' "$work/r.json" || fail "json report lacks its schema"
"$FAULTLINE_BIN" report --db "$work/h.db" --format junit -o "$work/r.xml" >/dev/null
grep -q '<testsuites' "$work/r.xml" || fail "junit report not written"

set +e
out=$("$FAULTLINE_BIN" gate --db "$work/h.db" --scenario session-cache-zone-partition --rule 'p95(rto) <= 1h' --rule 'runs >= 10')
rc=$?
[ $rc -eq 0 ] || fail "gate with generous rules exited $rc: $out"
out=$("$FAULTLINE_BIN" gate --db "$work/h.db" --scenario demo-instance-kill --rule 'p95(rto) <= 1ms')
rc=$?
[ $rc -eq 1 ] || fail "failing gate exited $rc"
[[ "$out" == "FAIL p95(rto) <= 1ms: "*"(last 10 runs of demo-instance-kill)" ]] || fail "unexpected gate line: $out"
out=$("$FAULTLINE_BIN" gate --db "$work/h.db" --scenario no-such --rule 'p95(rto) <= 1h')
rc=$?
[ $rc -eq 1 ] || fail "gate with no evidence exited $rc (must fail)"
err=$("$FAULTLINE_BIN" gate --db "$work/h.db" --rule 'p95(rto) <= 5' 2>&1 >/dev/null)
rc=$?
[ $rc -eq 2 ] || fail "bad rule exited $rc"
[ "$err" = "bad rule 'p95(rto) <= 5' at column 13: a duration needs a unit (ms, s, m, h), e.g. 30s" ] || fail "bad rule message: $err"
"$FAULTLINE_BIN" gate --db "$work/missing.db" --rule 'runs >= 1' 2>/dev/null
[ $? -eq 2 ] || fail "missing database must be bad input"
"$FAULTLINE_BIN" gate --db "$work/h.db" --json --baseline v1 --candidate v2 --last 0 \
	--scenario orders-db-failover --rule 'regression(rto) p<0.05 effect>0.2' >"$work/g.json"
rc=$?
[ $rc -eq 1 ] || fail "v2 of orders-db-failover is 25 % slower by construction; gate exited $rc"
grep -q '"passed": false' "$work/g.json" || fail "gate --json lacks the verdict"
set -e
echo "ok: DOM checked, screenshot at $shot"
