#!/usr/bin/env bash
# `faultline gameday` with scenarios/gameday/demo-plan.json (a briefing
# pause, an instance kill, a timed pause, a frozen api-1 that the operator
# resumes by hand, with a hint; here the hint comes 1 s into the step):
#  1. through a real terminal: tmux runs it; this test plays the room with
#     send-keys (a note, Enter to end the briefing, an action item, Enter to
#     end the discussion, kill -CONT + a note + Enter for the manual step) and
#     reads the live timeline with capture-pane; the day passes, the note
#     typed during the manual drill is stored with its run, and the debrief
#     page holds the participants, both verdicts, the manual step, the action
#     item, a Gantt chart per scenario run (the manual step a bar of its
#     drill's chart; both in headless Chromium's DOM), and every note on a
#     session log in time order;
#  2. non-interactively (CI): the same plan fed from a pipe, then "abort"
#     typed during the manual drill: exit 130, everything reverted (api-1
#     running, not stopped), the debrief says aborted; then a one-scenario
#     plan whose facilitator's session drops (SIGHUP) at the manual step:
#     the same (exit 130, api-1 resumed, debrief says aborted);
#  3. a plan naming a hint for a step that is not manual: exit 2,
#     file:line:col.
. "$(dirname "$0")/lib.sh"

command -v tmux >/dev/null || t_fail "tmux is not installed (apt-get install tmux)"
command -v chromium >/dev/null 2>&1 || t_fail "chromium is not installed (apt-get install chromium)"
t_env_start
# Absolute scenario paths, and a 1 s hint so the test does not wait 20 s.
python3 - "$T_SCENARIOS/gameday/demo-plan.json" "$T_DIR/plan.json" "$T_SCENARIOS" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
for st in p["steps"]:
    if "scenario" in st:
        st["scenario"] = sys.argv[3] + "/" + st["scenario"].split("/")[-1]
    for h in st.get("hints", []):
        h["after"] = "1s"
json.dump(p, open(sys.argv[2], "w"))
PY
healthy() { [ "$(t_health "$FAULTLINE_DEMO_PORT1")" = 200 ]; }
# A drill's verdict line on the live timeline ("[+00:03.1] NAME: VERDICT"):
# the test waits for the verdict, whichever it is, and a drill that did not
# pass fails the test at once with the run's failures, not 60 s later with
# "timed out waiting for pass".
verdicts='pass|fail|stopped|interrupted|error|journal-stale|revert-failed|not run'
verdict_in() { grep -Eo "^\[\+[0-9:.]+\] $1: ($verdicts)\$" | tail -n 1 | sed 's/.*: //'; }
has_verdict() { [ -n "$("${@:2}" | verdict_in "$1")" ]; }
expect_pass() { # SCENARIO DB COMMAND...: COMMAND prints the timeline
	local v
	t_wait_for 60 "the verdict of $1" has_verdict "$1" "${@:3}"
	v=$("${@:3}" | verdict_in "$1")
	[ "$v" = pass ] || t_fail "$1: $v: $("$FAULTLINE_BIN" runs --db "$2" --json |
		python3 -c 'import json, sys; print("; ".join(f for r in json.load(sys.stdin) if r["scenario"] == sys.argv[1] for f in r["failures"]))' "$1")"
}

# ---- 1: through tmux --------------------------------------------------------------------
sock="$T_DIR/tmux.sock"
tm() { tmux -S "$sock" "$@"; }
{
	echo '#!/usr/bin/env bash'
	printf '. %q\n' "$T_ENV/env.sh"
	printf '%q gameday %q --db %q -o %q\n' "$FAULTLINE_BIN" "$T_DIR/plan.json" "$T_DB" "$T_DIR/debrief.html"
	printf 'echo $? >%q\n' "$T_DIR/gameday.rc"
	echo 'sleep 600'
} >"$T_DIR/run-gameday.sh"
tm new-session -d -s gd -x 220 -y 60 "bash $T_DIR/run-gameday.sh"
cleanup_tmux() { tm kill-server 2>/dev/null || true; }
# cleanup_tmux must not take the test's status: t_cleanup exits with $?.
# set +e first: under set -e the trap itself ended at the first failing
# command — `(exit "$gd_rc")` on any failure, `pane` once the tmux server is
# gone — so t_cleanup never ran and a failed test left the demo
# environment running.
gd_rc=0
trap 'gd_rc=$?; set +e; [ "$gd_rc" = 0 ] || { echo "---- the terminal" >&2; pane >&2 2>/dev/null || echo "(tmux already closed)" >&2; }; cleanup_tmux; (exit "$gd_rc"); t_cleanup' EXIT
pane() { tm capture-pane -p -S -2000 -t gd; }
shows() { pane | t_grep -qF -- "$1"; }
wait_shows() { t_wait_for "$1" "'$2' on the terminal" shows "$2"; }
typeline() {
	[ -z "$1" ] || tm send-keys -t gd -l -- "$1"
	tm send-keys -t gd Enter
}

wait_shows 30 "PAUSE: Briefing"
typeline "we start with the kill drill"
wait_shows 10 "note noted: we start with the kill drill"
typeline ""
expect_pass demo-instance-kill "$T_DB" pane
wait_shows 10 "PAUSE: Discuss the first drill"
typeline "action: alert on supervisor restarts"
wait_shows 10 "action item noted: alert on supervisor restarts"
typeline ""
wait_shows 60 ">>> press Enter when done"
pid=$(cat "$FAULTLINE_DEMO_DIR/api-1.pid")
state=$(ps -o stat= -p "$pid" | tr -d ' ')
[[ $state == T* ]] || t_fail "api-1 is not frozen during the manual step (state '$state')"
wait_shows 10 "HINT for operator-resume: The process is stopped"
kill -CONT "$pid"
t_wait_for 10 "api-1 answering after the manual resume" healthy
typeline "resumed api-1 with kill -CONT"
wait_shows 10 "note noted: resumed api-1 with kill -CONT"
typeline ""
t_wait_for 60 "the game day to end" test -s "$T_DIR/gameday.rc"
pane >"$T_DIR/pane.txt"
rc=$(cat "$T_DIR/gameday.rc")
[ "$rc" = 0 ] || { cat "$T_DIR/pane.txt" >&2; t_fail "gameday exited $rc in tmux"; }
grep -Eq '^\[\+00:[0-9]{2}\.[0-9]\] demo-manual-resume: recovery step operator-resume: done in [0-9.]+ s$' "$T_DIR/pane.txt" ||
	t_fail "no timed manual step on the live timeline"
grep -qF "debrief written to $T_DIR/debrief.html" "$T_DIR/pane.txt" || t_fail "no debrief line"

# The note typed during the manual drill is stored with that run, after t0.
"$FAULTLINE_BIN" runs --db "$T_DB" --json >"$T_DIR/runs.json"
python3 - "$T_DIR/runs.json" <<'PY' || t_fail "notes not stored with the run"
import json, sys
runs = {r["scenario"]: r for r in json.load(open(sys.argv[1]))}
ev = [e for e in runs["demo-manual-resume"]["events"] if e["name"].startswith("note: ")]
assert [e["name"] for e in ev] == ["note: resumed api-1 with kill -CONT"], ev
assert ev[0]["t_ms"] > 0, ev
assert not any(e["name"].startswith(("note:", "action:")) for e in runs["demo-instance-kill"]["events"])
PY
page="$T_DIR/debrief.html"
for want in '<td>Ben</td><td>on-call engineer</td>' \
	'<td>operator-resume</td><td>demo-manual-resume</td>' \
	'<li>alert on supervisor restarts <span class="note">' \
	'note: we start with the kill drill' 'note: resumed api-1 with kill -CONT' \
	'demo-manual-resume: inject:pause-api' 'demo-instance-kill: t_detect'; do
	grep -qF -- "$want" "$page" || t_fail "debrief lacks: $want"
done
[ "$(grep -c '<td class="pass">pass</td>' "$page")" = 2 ] || t_fail "debrief: expected 2 passes"
python3 - "$page" <<'PY' || t_fail "debrief timeline wrong"
import re, sys
html = open(sys.argv[1]).read()
# One Gantt chart per scenario run, after the Timeline heading; the manual
# step is a bar of the manual drill's chart, not of the kill drill's.
tl = html[html.index("<h2>Timeline</h2>"):html.index("<h2>Session log</h2>")]
charts = re.findall(r'<h3>([^<]+) <span.*?</h3>\n(<svg class="gantt".*?</svg><ul class="gantt-legend">.*?</ul>)', tl, re.S)
assert [c[0] for c in charts] == ["demo-instance-kill", "demo-manual-resume"], [c[0] for c in charts]
assert "operator-resume" in charts[1][1] and "operator-resume" not in charts[0][1], charts
assert all("RTO target" in c[1] for c in charts), "no RTO target line"
assert ".gantt" in html[:html.index("</style>")], "gantt css missing"
# The session log: every moment of the day in time order.
t = [float(x) for x in re.findall(r'<td class="num">\+([0-9.]+) s</td>', html)]
assert len(t) > 10 and t == sorted(t), t
print("%d charts, %d log rows" % (len(charts), len(t)), file=sys.stderr)
PY
# As a browser sees it: both charts and their legends in the DOM, no script;
# a phone-width screenshot is kept in the build directory.
chrome=(timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run
	--disable-background-networking --disable-component-update --disable-sync
	--user-data-dir="$T_DIR/chromium-profile")
"${chrome[@]}" --dump-dom "file://$page" >"$T_DIR/debrief-dom.html" 2>"$T_DIR/chromium.log" ||
	{ cat "$T_DIR/chromium.log" >&2; t_fail "chromium --dump-dom of the debrief failed"; }
[ "$(grep -o '<svg class="gantt"' "$T_DIR/debrief-dom.html" | wc -l)" = 2 ] || t_fail "debrief DOM: wanted 2 Gantt charts"
[ "$(grep -o '<ul class="gantt-legend"' "$T_DIR/debrief-dom.html" | wc -l)" = 2 ] || t_fail "debrief DOM: wanted 2 legends"
! grep -q '<script' "$T_DIR/debrief-dom.html" || t_fail "a script element in the debrief DOM"
shot="$FAULTLINE_BUILD_DIR/debrief-screenshot.png"
rm -f "$shot"
"${chrome[@]}" --screenshot="$shot" --window-size=390,3000 "file://$page" >/dev/null 2>&1 ||
	t_fail "chromium --screenshot of the debrief failed"
[ -s "$shot" ] || t_fail "no debrief screenshot written"
cleanup_tmux

# ---- 2: no terminal, then abort ------------------------------------------------------------
mkfifo "$T_DIR/in"
"$FAULTLINE_BIN" gameday "$T_DIR/plan.json" --db "$T_DIR/ci.db" -o "$T_DIR/ci.html" <"$T_DIR/in" >"$T_DIR/ci.out" 2>&1 &
gd=$!
T_BG_PIDS+=("$gd")
exec 4>"$T_DIR/in"
t_wait_for 30 "the briefing pause" grep -q "PAUSE: Briefing" "$T_DIR/ci.out"
echo "note from CI" >&4
echo >&4
expect_pass demo-instance-kill "$T_DIR/ci.db" cat "$T_DIR/ci.out"
echo next >&4
t_wait_for 60 "the manual step" grep -q ">>> press Enter when done" "$T_DIR/ci.out"
pid=$(cat "$FAULTLINE_DEMO_DIR/api-1.pid")
echo abort >&4
gone() { ! kill -0 "$gd" 2>/dev/null; }
t_wait_for 60 "gameday to end after abort" gone
rc=0
wait "$gd" || rc=$?
exec 4>&-
[ "$rc" = 130 ] || { cat "$T_DIR/ci.out" >&2; t_fail "aborted gameday exited $rc, wanted 130"; }
grep -q "ABORT requested: reverting everything" "$T_DIR/ci.out" || t_fail "no abort line"
grep -q "demo-manual-resume: reverted pause-api" "$T_DIR/ci.out" || t_fail "the frozen api-1 was not reverted"
state=$(ps -o stat= -p "$pid" | tr -d ' ')
[[ $state != T* ]] || t_fail "api-1 still stopped after abort"
t_wait_for 10 "api-1 healthy after abort" healthy
grep -qF '<b class="aborted">aborted</b>' "$T_DIR/ci.html" || t_fail "debrief does not say aborted"
grep -qF 'note: note from CI' "$T_DIR/ci.html" || t_fail "CI note missing from the debrief"

# ---- 2b: the facilitator's ssh session drops (SIGHUP) at a manual step -----------------------
printf '{"name": "hup", "steps": [{"scenario": "%s"}]}\n' "$T_SCENARIOS/demo-manual-resume.json" >"$T_DIR/hup.json"
mkfifo "$T_DIR/hup.in"
"$FAULTLINE_BIN" gameday "$T_DIR/hup.json" --db "$T_DIR/hup.db" -o "$T_DIR/hup.html" <"$T_DIR/hup.in" >"$T_DIR/hup.out" 2>&1 &
gd=$!
T_BG_PIDS+=("$gd")
exec 4>"$T_DIR/hup.in"
t_wait_for 60 "the manual step" grep -q ">>> press Enter when done" "$T_DIR/hup.out"
pid=$(cat "$FAULTLINE_DEMO_DIR/api-1.pid")
state=$(ps -o stat= -p "$pid" | tr -d ' ')
[[ $state == T* ]] || t_fail "api-1 not stopped at the manual step (state $state)"
kill -HUP "$gd"
t_wait_for 60 "gameday to end after SIGHUP" gone
rc=0
wait "$gd" || rc=$?
exec 4>&-
[ "$rc" = 130 ] || { cat "$T_DIR/hup.out" >&2; t_fail "gameday after SIGHUP exited $rc, wanted 130"; }
grep -q "demo-manual-resume: reverted pause-api" "$T_DIR/hup.out" || t_fail "SIGHUP: the frozen api-1 was not reverted"
state=$(ps -o stat= -p "$pid" | tr -d ' ')
[[ $state != T* ]] || t_fail "api-1 still stopped after SIGHUP"
t_wait_for 10 "api-1 healthy after SIGHUP" healthy
grep -qF '<b class="aborted">aborted</b>' "$T_DIR/hup.html" || t_fail "SIGHUP: debrief does not say aborted"

# ---- 3: bad input ------------------------------------------------------------------------------
printf '{"name": "x", "steps": [{"scenario": "%s", "hints": [{"step": "nope", "after": "1s", "text": "t"}]}]}\n' \
	"$T_SCENARIOS/demo-manual-resume.json" >"$T_DIR/bad.json"
set +e
err=$("$FAULTLINE_BIN" gameday "$T_DIR/bad.json" --db "$T_DIR/bad.db" 2>&1 </dev/null)
rc=$?
set -e
[ "$rc" = 2 ] || t_fail "bad plan exited $rc"
[[ $err == "$T_DIR/bad.json:1:"*": scenario 'demo-manual-resume' has no manual step 'nope'" ]] || t_fail "bad plan message: $err"
t_log "pass: game day through tmux and a pipe, notes stored, debrief written, abort and SIGHUP reverted"
