#!/usr/bin/env bash
# End to end: scenarios/demo-data-corruption.json. A page of api-1's
# database is zeroed, the health probe sees 503, restore.sh puts the backup
# taken in `prepare` back. Writes acknowledged between the backup and the
# fault are gone, so the drill must measure data loss (lost_before_fault > 0,
# RPO > 0) and still pass against its 60 s RPO target; the database must be
# valid afterwards.
. "$(dirname "$0")/lib.sh"

t_env_start
# The drill's premise, checked rather than hoped for: the bytes it zeroes
# (offset 4096, length 4096) are exactly page 2, and page 2 is the catalog's
# root, which the service reads on every health check and write and never
# writes (a write in flight would otherwise commit its cached copy of the
# page over the damage: no outage, the old flake).
db="$FAULTLINE_DEMO_DIR/api-1.db"
fault=$(python3 -c 'import json,sys; f=json.load(open(sys.argv[1]))["faults"][0]; print(f["mode"], f["offset"], f["length"])' \
	"$T_SCENARIOS/demo-data-corruption.json")
[ "$fault" = "zero 4096 4096" ] || t_fail "the drill zeroes '$fault', this test checks 'zero 4096 4096'"
[ "$(sqlite3 "$db" 'pragma page_size')" = 4096 ] || t_fail "api-1.db page size is not 4096"
owner=$(sqlite3 "$db" 'select name from dbstat where pageno = 2')
[ "$owner" = catalog ] || t_fail "page 2 of api-1.db belongs to '$owner', not the catalog"
t_run "$T_SCENARIOS/demo-data-corruption.json" --label it-corrupt
[ "$T_RC" = 0 ] || t_fail "faultline run exited $T_RC, wanted 0"

[ "$(t_run_field verdict)" = pass ] || t_fail "verdict $(t_run_field verdict), wanted pass"
lbf=$(t_run_field lost_before_fault)
laf=$(t_run_field lost_after_fault)
rpo=$(t_run_field rpo_ms)
rto=$(t_run_field rto_ms)
t_check 'lbf > 0' "writes acknowledged after the backup must be reported lost" lbf="$lbf"
t_check 'laf <= 1' "at most the one write in flight at the fault may be lost after it" laf="$laf"
# RPO: at least the steady-state window the writer ran after the backup
# (less one writer interval), and within the 60 s target.
t_check 'rpo > 0 and rpo < 60000' "RPO must be measured and meet its target" rpo="$rpo"
t_check 'rto > 0 and rto < 30000' "RTO must be measured and meet its target" rto="$rto"

# The restore really put the backup back: every row of the backup is in the
# live database (which has grown since, with the writes after the restore).
missing=$(sqlite3 "$FAULTLINE_DEMO_DIR/api-1.db" \
	"attach '$FAULTLINE_DEMO_DIR/api-1.backup.db' as b;
	 select count(*) from b.writes w where not exists (select 1 from main.writes m
	   where m.id = w.id and m.seq = w.seq and m.tag = w.tag)")
[ "$missing" = 0 ] || t_fail "$missing rows of the backup are missing from api-1.db"
t_db_ok "$FAULTLINE_DEMO_DIR/api-1.db" || t_fail "api-1.db fails integrity_check after the restore"
[ "$(t_health "$FAULTLINE_DEMO_PORT1")" = 200 ] || t_fail "api-1 unhealthy after the drill"
t_log "pass: lost_before_fault $lbf, rpo ${rpo} ms, rto ${rto} ms"
