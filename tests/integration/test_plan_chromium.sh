#!/usr/bin/env bash
# `faultline plan` as a browser sees it: two real demo drills (instance kill,
# twice, so every recovery step has a measured median and p95), then the
# strategy of all demo scenarios as HTML rendered by headless Chromium and as
# Markdown. Checks: the assets by tier, a measured figure beside the drilled
# step, "not measured" beside the undrilled ones, the coverage matrix with
# its gaps, the infrastructure table, a title carrying an XSS payload kept
# as text; plus the command-line contract (exit codes, error lines).
. "$(dirname "$0")/lib.sh"

command -v chromium >/dev/null 2>&1 || t_fail "chromium is not installed (apt-get install chromium)"

t_env_start
for i in 1 2; do
	t_run "$T_SCENARIOS/demo-instance-kill.json" --label "plan-$i"
	[ "$T_RC" = 0 ] || t_fail "drill $i exited $T_RC"
done

payload='<script>alert(1)</script>'
plan=("$FAULTLINE_BIN" plan --db "$T_DB")
(cd "$T_SCENARIOS" && "${plan[@]}" -o "$T_DIR/plan.html" --title "plan $payload" demo-*.json) >/dev/null ||
	t_fail "faultline plan (html) failed"
(cd "$T_SCENARIOS" && "${plan[@]}" --format markdown demo-*.json) >"$T_DIR/plan.md" ||
	t_fail "faultline plan (markdown) failed"

profile="$T_DIR/chromium-profile"
chrome=(timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run
	--disable-background-networking --disable-component-update --disable-sync
	--user-data-dir="$profile")
"${chrome[@]}" --dump-dom "file://$T_DIR/plan.html" >"$T_DIR/dom.html" 2>"$T_DIR/chromium.log" ||
	{ cat "$T_DIR/chromium.log" >&2; t_fail "chromium --dump-dom failed"; }

dom="$T_DIR/dom.html"
count() { grep -o -- "$1" "$2" | wc -l; }
[ "$(count '<script' "$dom")" -eq 0 ] || t_fail "a script element reached the DOM"
[ "$(count '&lt;script&gt;alert(1)&lt;/script&gt;' "$dom")" -ge 2 ] || t_fail "title payload not rendered as text"
for h in 'Assets by priority tier' 'Coverage: asset x disaster type' 'Recovery procedures by asset' 'Infrastructure'; do
	grep -q "<h2>$h</h2>" "$dom" || t_fail "section '$h' missing"
done
grep -q '<h3>orders-api (tier 1)</h3>' "$dom" || t_fail "asset orders-api missing"
grep -q '<h3>orders-db (tier 1)</h3>' "$dom" || t_fail "asset orders-db missing"
# The drilled step has figures from both runs; the step of a scenario never
# drilled says so.
python3 - "$dom" <<'PY' || t_fail "restore procedure figures wrong"
import re, sys
dom = open(sys.argv[1]).read()
def step_row(scenario, step):
    sec = dom.split("Scenario %s " % scenario, 1)[1].split("<h4>", 1)[0]
    m = re.search(r"<tr><td class=\"num\">\d+</td><td>%s</td>(.*?)</tr>" % re.escape(step), sec)
    assert m, (scenario, step)
    return re.findall(r"<td[^>]*>(.*?)</td>", m.group(1))
how, timeout, median, p95, runs = step_row("demo-instance-kill", "restart")
assert runs == "2", runs
assert re.fullmatch(r"\d+\.\d{3} s", median) and re.fullmatch(r"\d+\.\d{3} s", p95), (median, p95)
assert float(median[:-2]) <= float(p95[:-2])
how, timeout, median, p95, runs = step_row("demo-data-corruption", "restore")
assert (median, p95, runs) == ("not measured", "not measured", "0"), (median, p95, runs)
PY
grep -q '<td class="gap">GAP: no drill</td>' "$dom" || t_fail "no coverage gap flagged"
grep -q '<td class="pass">[0-9-]* pass</td>' "$dom" || t_fail "no drilled cell in the coverage matrix"
grep -q '<td>api-1-db</td><td>file</td>' "$dom" || t_fail "infrastructure table lacks api-1-db"

md="$T_DIR/plan.md"
grep -q '^| asset | data corruption | instance kill | AZ outage | clock | cloud |$' "$md" || t_fail "markdown coverage header"
grep -q '^| 1 | restart | automatic: wait until probe .api. is healthy | 30s | [0-9.]* s | [0-9.]* s | 2 |$' "$md" ||
	t_fail "markdown step row with measured figures missing"

shot="$FAULTLINE_BUILD_DIR/plan-screenshot.png"
rm -f "$shot"
"${chrome[@]}" --screenshot="$shot" --window-size=390,2400 "file://$T_DIR/plan.html" >/dev/null 2>&1 ||
	t_fail "chromium --screenshot failed"
[ -s "$shot" ] || t_fail "no screenshot written"

# ---- command-line contract ----------------------------------------------
set +e
err=$("$FAULTLINE_BIN" plan --db "$T_DB" 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] || t_fail "plan without scenarios exited $rc"
[[ $err == "faultline plan: name at least one scenario file"* ]] || t_fail "message: $err"
err=$("$FAULTLINE_BIN" plan --format pdf "$T_SCENARIOS/demo-pause.json" 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] || t_fail "bad format exited $rc"
printf '{"name": "x", "bogus": 1}\n' >"$T_DIR/bad.json"
err=$("$FAULTLINE_BIN" plan "$T_DIR/bad.json" 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] || t_fail "bad scenario exited $rc"
[[ $err == "$T_DIR/bad.json:1:"* ]] || t_fail "bad scenario message lacks file:line:col: $err"
# No database yet: still a strategy, with nothing measured.
"$FAULTLINE_BIN" plan --db "$T_DIR/none.db" --format markdown "$T_SCENARIOS/demo-pause.json" >"$T_DIR/empty.md"; rc=$?
[ $rc -eq 0 ] || t_fail "plan with no database exited $rc"
[ ! -e "$T_DIR/none.db" ] || t_fail "plan created a database"
grep -q 'not measured' "$T_DIR/empty.md" || t_fail "empty plan lacks 'not measured'"
set -e
t_log "pass: plan rendered, screenshot at $shot"
