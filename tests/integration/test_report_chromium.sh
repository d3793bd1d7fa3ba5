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
"$FAULTLINE_FIXTURE_DIR/gen_history" --db "$work/h.db" --runs 400 --seed 5 --scenario "$payload" >/dev/null
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
