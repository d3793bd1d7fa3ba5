#!/usr/bin/env bash
# End to end: scenarios/demo-instance-kill.json against a fresh demo
# environment. SIGKILL api-1, its supervisor restarts it after a known delay
# (0.3 s, the ground truth here): the drill must pass, measure an RTO of at
# least that delay with an uncertainty about the probe's interval, and lose
# no acknowledged write.
. "$(dirname "$0")/lib.sh"

scenario="$T_SCENARIOS/demo-instance-kill.json"
interval_ms=$(python3 -c '
import json, sys
sc = json.load(open(sys.argv[1]))
p = [p for p in sc["probes"] if p.get("availability")][0]
assert p["interval"].endswith("ms")
print(int(p["interval"][:-2]))' "$scenario")
restart_delay_ms=300   # demo-env.sh's default supervisor delay

t_env_start
old_pid=$(cat "$FAULTLINE_DEMO_DIR/api-1.pid")
t_run "$scenario" --label it-kill
[ "$T_RC" = 0 ] || t_fail "faultline run exited $T_RC, wanted 0"

[ "$(t_run_field verdict)" = pass ] || t_fail "verdict $(t_run_field verdict), wanted pass"
[ "$(t_run_field scenario)" = demo-instance-kill ] || t_fail "scenario name $(t_run_field scenario)"
[ "$(t_run_field label)" = it-kill ] || t_fail "label $(t_run_field label)"
rto=$(t_run_field rto_ms)
unc=$(t_run_field rto_uncertainty_ms)
t_check 'rto >= delay and rto < 5000' "RTO must cover the supervisor's restart delay and meet the 5 s target" \
	rto="$rto" delay="$restart_delay_ms"
t_check 'unc > 0 and interval / 2 <= unc <= interval * 10' "RTO uncertainty should be about the probe interval" \
	unc="$unc" interval="$interval_ms"
t_check 'lost == 0' "acknowledged writes lost after the fault" lost="$(t_run_field lost_after_fault)"
t_check 'lost == 0' "acknowledged writes lost before the fault" lost="$(t_run_field lost_before_fault)"

# The injection instant (docs/measurement.md): t0 carries the span of the
# inject() call as its uncertainty, and the run records the policy that
# kept the instant (SCHED_FIFO as root, the only way CI runs this test).
t_runs_json | python3 -c '
import json, math, os, sys
ev = {e["name"]: e for e in json.load(sys.stdin)[0]["events"]}
inj = [e for n, e in ev.items() if n.startswith("inject:")]
pol = [n for n in ev if n.startswith("policy:")]
assert len(inj) == 1 and len(pol) == 1, sorted(ev)
u = inj[0]["uncertainty_ms"]
assert u is not None and 0 <= u < 1000, inj
want = "SCHED_FIFO" if os.geteuid() == 0 else "SCHED_OTHER"
assert pol[0].endswith(":" + want), (pol, want)
' || t_fail "inject/policy events of the run are not as documented"

# The kill really happened (a new service process) and the instance is back.
new_pid=$(cat "$FAULTLINE_DEMO_DIR/api-1.pid")
[ "$new_pid" != "$old_pid" ] || t_fail "api-1 still has pid $old_pid: the fault was not injected"
[ "$(t_health "$FAULTLINE_DEMO_PORT1")" = 200 ] || t_fail "api-1 unhealthy after the drill"
t_db_ok "$FAULTLINE_DEMO_DIR/api-1.db" || t_fail "api-1.db fails integrity_check"
t_log "pass: rto ${rto} ms ± ${unc} ms"
