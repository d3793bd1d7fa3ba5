#!/usr/bin/env bash
# Unattended schedules (docs/schedule.md, ci/examples/schedule/):
#  - the shipped systemd units pass `systemd-analyze verify` (pointed at the
#    wrapper script in this tree) and a typo in them would not; the cron
#    line is weekly and calls the same wrapper;
#  - two rounds on one environment never overlap: while a round runs, a
#    second one exits 3 naming the holder (pid, host, since, command); once
#    it is done the next round runs; the metrics file parses with promtool;
#  - a round that finds a degraded steady state records that (verdict
#    "error", nothing injected) instead of injecting;
#  - staleness against the calendar, exact and instant under libfaketime:
#    an asset with drill_every 30d drilled today is fine 29 days later and
#    stale 31 days later, in `gate` (rule stale_assets), the HTML report and
#    the metrics.
. "$(dirname "$0")/lib.sh"

sched="$FAULTLINE_SOURCE_DIR/ci/examples/schedule"
FAKETIME_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
command -v promtool >/dev/null || t_fail "promtool is not installed (apt-get install prometheus)"
[ -r "$FAKETIME_LIB" ] || t_fail "libfaketime is not installed (apt-get install libfaketime)"

# ---- the recipes -----------------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$T_DIR/units"
	cp "$sched/faultline-drills.timer" "$sched/faultline-drills.service" "$T_DIR/units/"
	sed -i "s|/usr/local/lib/faultline/faultline-drills.sh|$sched/faultline-drills.sh|; s|^User=.*|User=$(id -un)|; s|^Group=.*|Group=$(id -gn)|" \
		"$T_DIR/units/faultline-drills.service"
	systemd-analyze verify --man=no "$T_DIR/units/faultline-drills.timer" "$T_DIR/units/faultline-drills.service" ||
		t_fail "systemd-analyze verify rejected the units"
	grep -q '^RandomizedDelaySec=' "$T_DIR/units/faultline-drills.timer" || t_fail "the timer has no randomised delay"
	sed 's/^OnCalendar=/OnCalender=/' "$T_DIR/units/faultline-drills.timer" >"$T_DIR/units/typo.timer"
	cp "$T_DIR/units/faultline-drills.service" "$T_DIR/units/typo.service"
	if systemd-analyze verify --man=no "$T_DIR/units/typo.timer" >/dev/null 2>&1; then
		t_fail "systemd-analyze verify accepts a broken timer: the check above proves nothing"
	fi
else
	t_log "systemd-analyze not installed: unit files not verified"
fi
cronline=$(grep -v '^#' "$sched/crontab.example" | grep -v '=' | grep -v '^$')
[[ $cronline =~ ^0\ 0\ \*\ \*\ 1\ .*faultline-drills\.sh\  ]] || t_fail "cron line is not the weekly wrapper: $cronline"

# ---- no overlap, through the wrapper ------------------------------------------------------
t_env_start
export FAULTLINE_DB=$T_DB FAULTLINE_BIN FAULTLINE_LOCK_DIR=$T_DIR/locks
export FAULTLINE_METRICS=$T_DIR/textfile/faultline.prom FAULTLINE_INVENTORY=$T_SCENARIOS/inventory.json
mkdir -p "$FAULTLINE_LOCK_DIR" "$T_DIR/textfile"
lockfile="$FAULTLINE_LOCK_DIR/faultline-env-demo.lock"
bash "$sched/faultline-drills.sh" "$T_SCENARIOS/demo-pause.json" >"$T_DIR/first.out" 2>"$T_DIR/first.err" &
first=$!
T_BG_PIDS+=("$first")
t_wait_for 30 "the first round to hold the lock" grep -q 'demo-pause.json' "$lockfile"
holder=$(cat "$lockfile")
set +e
bash "$sched/faultline-drills.sh" "$T_SCENARIOS/demo-instance-kill.json" >"$T_DIR/second.out" 2>"$T_DIR/second.err"
rc=$?
set -e
[ "$rc" = 3 ] || t_fail "an overlapping round exited $rc, wanted 3"
grep -Eq "^environment 'demo' is being drilled by pid [0-9]+ on host [^ ]+ since [0-9T:.-]+Z \(faultline run .*demo-pause.json\); not starting another drill$" \
	"$T_DIR/second.err" || t_fail "refusal does not name the holder: $(cat "$T_DIR/second.err")"
grep -q "pid $(pgrep -P "$first" -f 'faultline' | head -n 1)" "$T_DIR/second.err" || t_fail "holder pid is not the first round's faultline ($holder)"
wait "$first" || t_fail "the first round failed: $(cat "$T_DIR/first.err")"
[ ! -s "$lockfile" ] || t_fail "holder line left after the round: $(cat "$lockfile")"
bash "$sched/faultline-drills.sh" "$T_SCENARIOS/demo-instance-kill.json" >/dev/null 2>"$T_DIR/third.err" ||
	t_fail "a round after the first one finished failed: $(cat "$T_DIR/third.err")"
promtool check metrics <"$FAULTLINE_METRICS" || t_fail "promtool rejected the metrics"
grep -q '^faultline_drill_pass{scenario="demo-instance-kill",asset="orders-api",environment="demo"} 1$' "$FAULTLINE_METRICS" ||
	t_fail "metrics lack the instance-kill pass"
[ "$("$FAULTLINE_BIN" runs --json --db "$T_DB" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 2 ] ||
	t_fail "expected exactly 2 stored runs (the refused round stores none)"

# ---- a degraded steady state is recorded, not injected into ----------------------------------
pid=$(cat "$FAULTLINE_DEMO_DIR/api-1.pid")
cp "$FAULTLINE_DEMO_DIR/api-1.cert" "$T_DIR/cert.saved"
echo 1 >"$FAULTLINE_DEMO_DIR/api-1.cert"          # expired in 1970: /health answers 503
set +e
bash "$sched/faultline-drills.sh" "$T_SCENARIOS/demo-instance-kill.json" >/dev/null 2>"$T_DIR/degraded.err"
rc=$?
set -e
cp "$T_DIR/cert.saved" "$FAULTLINE_DEMO_DIR/api-1.cert"
[ "$rc" = 3 ] || t_fail "a round on a degraded system exited $rc, wanted 3"
grep -q "steady state not reached: probe 'api' is not healthy" "$T_DIR/degraded.err" || t_fail "no steady-state message: $(cat "$T_DIR/degraded.err")"
[ "$(cat "$FAULTLINE_DEMO_DIR/api-1.pid")" = "$pid" ] || t_fail "api-1 was killed although the steady state was degraded"
"$FAULTLINE_BIN" runs --json --db "$T_DB" >"$T_DIR/runs.json"
python3 - "$T_DIR/runs.json" <<'PY' || t_fail "the degraded round is not recorded as such"
import json, sys
runs = json.load(open(sys.argv[1]))
r = max(runs, key=lambda r: r["id"])
assert r["verdict"] == "error", r["verdict"]
assert not any(e["name"].startswith("inject:") for e in r["events"]), r["events"]
PY

# ---- staleness on the calendar (libfaketime) ----------------------------------------------------
cat >"$T_DIR/inv.json" <<'JSON'
{ "assets": [ { "name": "orders-api", "kind": "service", "tier": 1, "rto": "10s", "drill_every": "30d" } ] }
JSON
# ASan insists on coming first in the preload list; libfaketime must too.
later() { # DAYS CMD...: CMD with the wall clock DAYS ahead (monotonic time real)
	local d=$1; shift
	env LD_PRELOAD="$FAKETIME_LIB" FAKETIME="+${d}d" FAKETIME_DONT_FAKE_MONOTONIC=1 \
		ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" "$@"
}
gate=("$FAULTLINE_BIN" gate --db "$T_DB" --inventory "$T_DIR/inv.json" --scenario demo-instance-kill --rule 'stale_assets == 0')
out=$(later 29 "${gate[@]}") || t_fail "29 days later orders-api must not be stale: $out"
[[ $out == "PASS stale_assets == 0: 0 of 1 assets stale == 0 "* ]] || t_fail "gate line: $out"
set +e
out=$(later 31 "${gate[@]}"); rc=$?
set -e
[ "$rc" = 1 ] || t_fail "31 days later the gate exited $rc, wanted 1"
today=$(date -u +%F)
[[ $out == "FAIL stale_assets == 0: 1 of 1 assets stale != 0 (orders-api: last drilled $today, drill_every 30d) "* ]] ||
	t_fail "gate line: $out"
later 31 "$FAULTLINE_BIN" report --db "$T_DB" --inventory "$T_DIR/inv.json" -o "$T_DIR/report.html" >/dev/null
grep -q 'not drilled within its drill_every (30 days)' "$T_DIR/report.html" || t_fail "report does not flag the stale asset"
later 31 "$FAULTLINE_BIN" metrics --db "$T_DB" --inventory "$T_DIR/inv.json" | t_grep -qx 'faultline_asset_stale{asset="orders-api"} 1' ||
	t_fail "metrics do not flag the stale asset"
"$FAULTLINE_BIN" metrics --db "$T_DB" --inventory "$T_DIR/inv.json" | t_grep -qx 'faultline_asset_stale{asset="orders-api"} 0' ||
	t_fail "metrics flag a fresh asset"
t_log "pass: units verified, no overlap, degraded state recorded, staleness exact at +29d/+31d"
