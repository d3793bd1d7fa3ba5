#!/usr/bin/env bash
# End to end: scenarios/demo-clock-skew.json. api-1 runs under libfaketime;
# the clock fault steps its wall clock 120 days forward for the fault's
# duration through the timestamp file, live. Its 90-day certificate reads as
# expired meanwhile (/health 503), so the outage is the skew itself: the RTO
# must lie in [duration - 50 ms, duration + stability window + 200 ms]. The
# process is never restarted, the timestamp file is back to "+0" afterwards,
# and nothing acknowledged is lost. Skips (77) without libfaketime.
. "$(dirname "$0")/lib.sh"

[ -r /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] ||
	{ t_log "skip: libfaketime not installed (Debian package libfaketime)"; exit 77; }

scenario="$T_SCENARIOS/demo-clock-skew.json"
read -r dur_ms stab_ms < <(python3 -c '
import json, re, sys
def ms(s):
    m = re.fullmatch(r"(\d+)(ms|s)", s)
    return int(m.group(1)) * (1 if m.group(2) == "ms" else 1000)
sc = json.load(open(sys.argv[1]))
print(ms(sc["faults"][0]["duration"]), ms(sc.get("stability_window", "1s")))' "$scenario")

export FAULTLINE_DEMO_FAKETIME=1
t_env_start
pid=$(cat "$FAULTLINE_DEMO_DIR/api-1.pid")
grep -q libfaketime "/proc/$pid/maps" || t_fail "api-1 (pid $pid) does not run under libfaketime"
[ "$(cat "$FAULTLINE_DEMO_DIR/api-1.faketime")" = "+0" ] || t_fail "timestamp file not at +0 before the drill"

t_run "$scenario" --label it-clock
[ "$T_RC" = 0 ] || t_fail "faultline run exited $T_RC, wanted 0"
[ "$(t_run_field verdict)" = pass ] || t_fail "verdict $(t_run_field verdict), wanted pass"
grep -q "clock: skew api-1's wall clock by +120d" <<<"$T_ERR$T_OUT" || t_fail "no clock fault in the drill's output"
rto=$(t_run_field rto_ms)
t_check 'dur - 50 <= rto <= dur + stab + 200' "RTO of a ${dur_ms} ms skew out of bounds" \
	rto="$rto" dur="$dur_ms" stab="$stab_ms"
t_check 'lost == 0' "acknowledged writes lost" lost="$(t_run_field lost_after_fault)"
t_check 'lost == 0' "acknowledged writes lost" lost="$(t_run_field lost_before_fault)"

# Live, not a restart: the same process, back on real time.
[ "$(cat "$FAULTLINE_DEMO_DIR/api-1.pid")" = "$pid" ] || t_fail "api-1 was restarted: the skew must be live"
[ "$(cat "$FAULTLINE_DEMO_DIR/api-1.faketime")" = "+0" ] ||
	t_fail "timestamp file not reverted: $(cat "$FAULTLINE_DEMO_DIR/api-1.faketime")"
[ "$(t_health "$FAULTLINE_DEMO_PORT1")" = 200 ] || t_fail "api-1 unhealthy after the drill"
t_log "pass: rto ${rto} ms for a ${dur_ms} ms +120d skew"
