#!/usr/bin/env bash
# Against the real sandbox (root only; skipped with 77 otherwise): the
# restore drills. Data corruption: a destructive SQL change right after a
# named restore point, detected by the checksum probe, repaired by a
# pgBackRest point-in-time restore; the test checks that exactly the writes
# acknowledged before the restore point survived (none after it, none
# before it lost) and that the table matches the checksum taken before the
# fault. AZ outage: az-a (the leader's zone) goes dark, Patroni fails over
# to az-b, the playbook restores the zone as its own timed phase and pg-a
# rejoins as a streaming replica. All three seed drills run back to back on
# one sandbox — leader crash, data corruption, AZ outage — the order that
# once left Patroni without a synchronous standby to promote
# (docs/drills.md). Last, a degraded cluster is refused by the drills'
# steady-state probe. Tear-down leaves nothing.
. "$(dirname "$0")/sandbox_lib.sh"

s_up

# The three seed drills back to back on one sandbox, in the order that used
# to strand the AZ outage without a synchronous standby (docs/drills.md).
# ---- leader crash ---------------------------------------------------------------
s_drill sandbox-leader-crash 0
[ "$(t_run_field verdict)" = pass ] || t_fail "leader-crash: verdict $(t_run_field verdict)"
t_log "leader-crash: rto $(t_run_field rto_ms) ms"

# ---- data corruption + PITR -------------------------------------------------
s_drill sandbox-data-corruption 0
[ "$(t_run_field verdict)" = pass ] || t_fail "data-corruption: verdict $(t_run_field verdict)"
restore_ms=$(s_phase_ms pitr-restore)
t_check 'r > 0' "data-corruption: the restore must be a timed phase" r="$restore_ms"
"$S_DRILL" checksum check || t_fail "data-corruption: drill_accounts differs from the checksum taken before the fault"

run_id=$(t_run_field id)
tags=$(psql "host=127.0.0.1 port=15000 dbname=postgres user=postgres" -X -At \
	-c "SELECT DISTINCT run_tag FROM faultline_writes WHERE run_tag LIKE 'run$run_id-%-db-writes'")
[ "$(printf '%s\n' "$tags" | grep -c .)" = 1 ] || t_fail "data-corruption: want exactly one writer tag for run $run_id, got: $tags"
"$S_DRILL" rows "$tags" >"$T_DIR/rows"
read -r _ rp_wall <"$FAULTLINE_SANDBOX_DIR/drill/restore-point.at"
corrupted_ms=$(cat "$FAULTLINE_SANDBOX_DIR/drill/corrupted.at")
t_runs_json >"$T_DIR/runs.json"
python3 - "$T_DIR/rows" "$rp_wall" "$corrupted_ms" "$T_DIR/runs.json" <<'EOF' || t_fail "data-corruption: PITR did not restore exactly the writes acknowledged before the restore point"
import datetime, json, sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
rp = datetime.datetime.fromisoformat(sys.argv[2].replace(" ", "T")).timestamp() * 1000
corrupted = int(sys.argv[3])
run = json.load(open(sys.argv[4]))[0]
lost = run["lost_seqs"]
acked, ind = run["writes"]["acked"], run["writes"]["indeterminate"]
survivors = [s for s, _ in rows]
# The writer keeps writing after the restore, so the survivors are the rows
# from before the restore point plus the rows written after the restore.
pre = [s for s, at in rows if at <= rp]
post = [(s, at) for s, at in rows if at > rp]
bad = []
# Nothing written between the restore point and the damage survived ...
early = [s for s, at in post if at <= corrupted]
if early:
    bad.append("rows written after the restore point, before the damage, survived: %s" % early[:5])
# ... and every acknowledged write that is gone lies between the last row
# kept from before the restore point and the first row written after the
# restore (writes are sequential: seq order is time order) ...
if lost and pre and min(lost) <= max(pre):
    bad.append("lost seq %d is older than surviving seq %d from before the restore point" % (min(lost), max(pre)))
if lost and post and max(lost) >= min(s for s, _ in post):
    bad.append("lost seq %d is newer than seq %d written after the restore" % (max(lost), min(s for s, _ in post)))
if not pre:
    bad.append("no row from before the restore point survived")
# ... the survivors are the acknowledged writes minus the lost ones (plus at
# most the indeterminate ones, which may or may not have committed) ...
if not (acked - len(lost) <= len(survivors) <= acked - len(lost) + ind):
    bad.append("%d rows survived, %d acked, %d lost, %d indeterminate" % (len(survivors), acked, len(lost), ind))
# ... and no write acknowledged before the restore point was lost: the
# earliest lost write was acknowledged after it (RPO <= time from the restore
# point to the damage, plus one writer interval of slack).
if run["rpo_ms"] is None or run["rpo_ms"] > (corrupted - rp) + 60:
    bad.append("rpo %s ms, but the restore point was only %.0f ms before the damage" % (run["rpo_ms"], corrupted - rp))
if not lost:
    bad.append("no write was lost: the writes after the restore point should have been")
for b in bad:
    print("  " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
t_log "data-corruption: restore ${restore_ms} ms, rpo $(t_run_field rpo_ms) ms, lost $(t_run_field lost_before_fault)/$(t_run_field lost_after_fault)"

# ---- AZ outage ----------------------------------------------------------------
s_drill sandbox-az-outage 0
[ "$(t_run_field verdict)" = pass ] || t_fail "az-outage: verdict $(t_run_field verdict)"
[ "$(s_leader)" = pg-b ] || t_fail "az-outage: pg-b should lead after az-a went dark (prepare put the leader in az-a)"
t_check 'laf == 0 and lbf == 0' "az-outage: no acknowledged write may be lost under sync replication" \
	laf="$(t_run_field lost_after_fault)" lbf="$(t_run_field lost_before_fault)"
t_check 'z > 0' "az-outage: restoring the zone through the playbook must be a timed phase" z="$(s_phase_ms restore-zone)"
"$S_SBX" status >/dev/null || t_fail "az-outage: sandbox not healthy after the zone was restored"
"$S_DRILL" healthy pg-b || t_fail "az-outage: pg-a is not streaming from pg-b"
t_log "az-outage: rto $(t_run_field rto_ms) ms, zone restored in $(s_phase_ms restore-zone) ms"

# ---- a degraded cluster is refused ---------------------------------------------
# The drills' steady-state probe: with the replica's Patroni down there is no
# synchronous standby, and the probe says so in one line (exit 1), so the
# drill's steady-state check refuses to inject (exit 3).
"$S_SBX" _svc-stop patroni-a
rc=0
"$S_DRILL" replication-ok sync 2>"$T_DIR/degraded.err" || rc=$?
[ "$rc" = 1 ] || t_fail "replication-ok on a cluster without its replica exited $rc, wanted 1"
grep -q "cluster not healthy in sync replication" "$T_DIR/degraded.err" ||
	t_fail "replication-ok did not say why: $(cat "$T_DIR/degraded.err")"
t_log "degraded cluster: $(cat "$T_DIR/degraded.err")"
