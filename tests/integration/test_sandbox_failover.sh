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
#
# faultline's own store (issue 13): the app-kill and sync leader-crash
# drills record into a PostgreSQL store that lives ON the Patroni cluster
# (through HAProxy's rw port), so the leader crash fails the store over
# under the drill writing into it. Every run committed before it must be
# there unchanged, the drill's own run committed exactly once, its journal
# row closed, and `runs`/`report` must read all of it from the new primary.
# The async and split-brain drills lose acknowledged writes by design, so
# they record into the test's SQLite file as before.
. "$(dirname "$0")/sandbox_lib.sh"

s_up

# ---- the store on the cluster ----------------------------------------------
S_RW=postgresql://postgres@127.0.0.1:15000
S_STORE=$S_RW/faultline_store
psql -X -q -v ON_ERROR_STOP=1 "$S_RW/postgres" -c "CREATE DATABASE faultline_store" ||
	t_fail "cannot create the store database on the cluster"
"$FAULTLINE_FIXTURE_DIR/gen_history" --db "$T_DIR/history.db" --runs 40 --seed 5 --days 30 >/dev/null ||
	t_fail "gen_history failed"
out=$("$FAULTLINE_BIN" store copy "$T_DIR/history.db" "$S_STORE" 2>&1) || t_fail "store copy: $out"
SQLITE_DB=$T_DB
T_DB=$S_STORE
s_store_sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$S_STORE" -c "$1"; }

# A real drill recorded into the cluster store before the failover (its own
# assertions are below, in its usual place).
s_drill sandbox-app-kill 0
t_runs_json >"$T_DIR/store-before.json" || t_fail "runs --json from the cluster store failed"

# ---- node crash, synchronous replication (the store fails over too) -------
before=$(s_leader) || t_fail "no leader before the drill"
s_drill sandbox-leader-crash 0
after=$(s_leader) || t_fail "no leader after the drill"
[ "$after" != "$before" ] || t_fail "leader-crash: $before still leads: no automatic failover"
[ "$(s_store_sql "SELECT pg_is_in_recovery()")" = f ] || t_fail "store: the rw port does not reach a primary"
t_runs_json >"$T_DIR/store-after.json" || t_fail "runs --json from the new primary failed"
python3 - "$T_DIR/store-before.json" "$T_DIR/store-after.json" <<'PY' || t_fail "store: runs lost, changed or duplicated across the failover"
import json, sys
before = {r["id"]: r for r in json.load(open(sys.argv[1]))}
after = json.load(open(sys.argv[2]))
ids = [r["id"] for r in after]
assert len(before) == 41, f"{len(before)} runs before the drill, wanted 40 copied + app-kill"
assert len(ids) == len(set(ids)) == len(before) + 1, f"{len(ids)} runs after, wanted {len(before) + 1}"
for r in after:
    if r["id"] in before:
        assert r == before[r["id"]], f"run {r['id']} changed across the failover"
new = [r for r in after if r["id"] not in before]
assert new[0]["scenario"] == "sandbox-leader-crash" and new[0]["verdict"] == "pass", new[0]["verdict"]
PY
[ "$(s_store_sql "SELECT count(*) FROM runs WHERE scenario = 'sandbox-leader-crash'")" = 1 ] ||
	t_fail "store: the drill's run is not there exactly once"
[ "$(s_store_sql "SELECT count(*) || '/' || count(*) FILTER (WHERE state = 'reverted') FROM journal")" = 2/2 ] ||
	t_fail "store: journal rows: $(s_store_sql "SELECT id, injector, state FROM journal")"
out=$("$FAULTLINE_BIN" report --db "$S_STORE" --format json -o "$T_DIR/store-report.json" 2>&1) ||
	t_fail "store: report from the new primary: $out"
python3 -c '
import json, sys
s = {x["name"]: x for x in json.load(open(sys.argv[1]))["scenarios"]}
assert s["sandbox-leader-crash"]["passed"] == 1, s["sandbox-leader-crash"]["passed"]' "$T_DIR/store-report.json" ||
	t_fail "store: the report does not show the drill's run"
t_log "store on the cluster: $out; the drill's own run and 41 earlier runs intact after $before -> $after"
[ "$(t_run_field verdict)" = pass ] || t_fail "leader-crash: verdict $(t_run_field verdict)"
t_check 'laf == 0 and lbf == 0' "leader-crash: no acknowledged write may be lost under sync replication" \
	laf="$(t_run_field lost_after_fault)" lbf="$(t_run_field lost_before_fault)"
t_check 'acked > 50' "leader-crash: the writers must have written" acked="$(s_writes acked)"
t_check 'rto > 1000 and rto < 30000' "leader-crash: failover takes the leader key's ttl, within the target" \
	rto="$(t_run_field rto_ms)"
t_check 'rejoin >= 0' "leader-crash: the rejoin step must be timed" rejoin="$(s_phase_ms rejoin)"
t_log "leader-crash: $before -> $after, rto $(t_run_field rto_ms) ms"

T_DB=$SQLITE_DB

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
