#!/usr/bin/env bash
# Against the real sandbox (root only; skipped with 77 otherwise): the
# instance-kill drills. A node crash under synchronous replication fails
# over automatically (the primary changes) and loses no acknowledged write;
# the same crash under asynchronous replication fails over too and its loss
# is measured (a number, never absent); killing only the leader's PostgreSQL
# is repaired in place (the same node leads); killing one app instance costs
# no failed request; and killing only the leader's Patroni is a split brain:
# writes acknowledged on the wrong primary are lost and the drill FAILS its
# data-loss target — exactly that is asserted. The sandbox is torn down at
# the end and nothing may be left.
. "$(dirname "$0")/sandbox_lib.sh"

s_up

# ---- node crash, synchronous replication ---------------------------------
before=$(s_leader) || t_fail "no leader before the drill"
s_drill sandbox-leader-crash 0
after=$(s_leader) || t_fail "no leader after the drill"
[ "$after" != "$before" ] || t_fail "leader-crash: $before still leads: no automatic failover"
[ "$(t_run_field verdict)" = pass ] || t_fail "leader-crash: verdict $(t_run_field verdict)"
t_check 'laf == 0 and lbf == 0' "leader-crash: no acknowledged write may be lost under sync replication" \
	laf="$(t_run_field lost_after_fault)" lbf="$(t_run_field lost_before_fault)"
t_check 'acked > 50' "leader-crash: the writers must have written" acked="$(s_writes acked)"
t_check 'rto > 1000 and rto < 30000' "leader-crash: failover takes the leader key's ttl, within the target" \
	rto="$(t_run_field rto_ms)"
t_check 'rejoin >= 0' "leader-crash: the rejoin step must be timed" rejoin="$(s_phase_ms rejoin)"
t_log "leader-crash: $before -> $after, rto $(t_run_field rto_ms) ms"

# ---- node crash, asynchronous replication: loss measured -------------------
before=$after
s_drill sandbox-leader-crash-async 0
after=$(s_leader) || t_fail "no leader after the async drill"
[ "$after" != "$before" ] || t_fail "leader-crash-async: no automatic failover"
laf=$(t_run_field lost_after_fault)
lbf=$(t_run_field lost_before_fault)
{ [ "$laf" != null ] && [ "$lbf" != null ]; } || t_fail "leader-crash-async: loss not measured"
t_log "leader-crash-async: $before -> $after, lost before/after $lbf/$laf"

# ---- the leader's PostgreSQL alone: restarted in place ---------------------
before=$after
s_drill sandbox-leader-pg-kill 0
[ "$(s_leader)" = "$before" ] || t_fail "leader-pg-kill: the leader changed ($before -> $(s_leader)): wanted a restart in place"
t_check 'laf == 0 and rto > 0' "leader-pg-kill: an outage and no loss" \
	laf="$(t_run_field lost_after_fault)" rto="$(t_run_field rto_ms)"

# ---- one app instance: HAProxy routes around it ----------------------------
s_drill sandbox-app-kill 0
t_check 'failed == 0 and ind == 0 and acked > 50' "app-kill: no write may fail (retries 2 + option redispatch)" \
	failed="$(s_writes failed)" ind="$(s_writes indeterminate)" acked="$(s_writes acked)"
curl -fsS --max-time 2 -o /dev/null http://10.231.0.11:18081/health || t_fail "app-kill: app-a not restarted by the revert"

# ---- split brain: the expected failure -------------------------------------
s_drill sandbox-split-brain 1
[ "$(t_run_field verdict)" = fail ] || t_fail "split-brain: verdict $(t_run_field verdict), wanted fail"
laf=$(t_run_field lost_after_fault)
t_check 'laf > 0' "split-brain: writes acknowledged on the old primary must be measured lost" laf="$laf"
t_run_field failures | grep -q 'lost after the fault' || t_fail "split-brain: failure reasons: $(t_run_field failures)"
[ "$(s_leader)" = pg-b ] || t_fail "split-brain: pg-b should lead after the failover"
"$S_DRILL" healthy pg-b || t_fail "split-brain: pg-a did not rejoin as a streaming replica"
t_log "split-brain: $laf acknowledged writes lost on the wrong primary (expected failure)"
