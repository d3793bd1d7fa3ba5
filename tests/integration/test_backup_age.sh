#!/usr/bin/env bash
# End to end: the age of an asset's last good backup. The inventory gives
# orders-api a `backup_info` command (a stand-in for `pgbackrest info
# --output=json`, next to the inventory, named relatively) whose newest good
# backup ended 2 h 13 m 20 s before now: after demo-instance-kill, `runs
# --json` must carry that stop time and type, and the JSON and HTML reports
# must show the age at the drill. Then a failing info command: the drill
# still passes, one warning line says why, and nothing is recorded.
. "$(dirname "$0")/lib.sh"

# demo-instance-kill with a 60 s RTO target: this test is about the backup
# figures, and its verdict must not hang on the demo service's restart under
# load (beside test_aws_sigv4's moto server the Python service answered its
# 10 ms probes slower than their 200 ms timeout for 5-7 s after the restart,
# 1 pairing in 5: an honest RTO miss of the 5 s target, not this test's
# subject). test_demo_instance_kill keeps the 5 s target.
scenario="$T_DIR/demo-instance-kill.json"
python3 - "$T_SCENARIOS/demo-instance-kill.json" "$scenario" "$T_SCENARIOS" <<'PY'
import json, os, sys
sc = json.load(open(sys.argv[1]))
sc["environment"] = os.path.join(sys.argv[3], sc["environment"])
sc["targets"]["rto"] = "60s"
json.dump(sc, open(sys.argv[2], "w"), indent=2)
PY
cp "$FAULTLINE_SOURCE_DIR/tests/data/backup/pgbackrest-info.sh" "$T_DIR/pgbackrest-info.sh"
stop=$(( $(date +%s) - 8000 ))   # 2 h 13 m 20 s ago
want_at=$(date -u -d "@$stop" +%Y-%m-%dT%H:%M:%S)

# write_inventory ARG: the demo inventory with orders-api's backup_info
# running ./pgbackrest-info.sh ARG.
write_inventory() {
	python3 - "$T_SCENARIOS/inventory.json" "$T_DIR/inventory.json" "$1" <<'PY'
import json, sys
inv = json.load(open(sys.argv[1]))
for a in inv["assets"]:
    if a["name"] == "orders-api":
        a["backup_info"] = ["./pgbackrest-info.sh", sys.argv[3]]
json.dump(inv, open(sys.argv[2], "w"), indent=2)
PY
}

write_inventory "$stop"
"$FAULTLINE_BIN" validate "$T_DIR/inventory.json" >&2 || t_fail "the inventory with backup_info does not validate"
t_env_start
# From another directory: ./pgbackrest-info.sh is the inventory's neighbour.
cd /
t_run "$scenario" --inventory "$T_DIR/inventory.json" --label it-backup
[ "$T_RC" = 0 ] || t_fail "faultline run exited $T_RC, wanted 0"
[ "$(t_run_field verdict)" = pass ] || t_fail "verdict $(t_run_field verdict), wanted pass"
at=$(t_run_field backup_last_good_at)
case "$at" in
"$want_at"*) ;;
*) t_fail "backup_last_good_at '$at', wanted $want_at (the errored newer diff must be skipped)" ;;
esac
[ "$(t_run_field backup_last_good_type)" = full ] || t_fail "backup_last_good_type $(t_run_field backup_last_good_type), wanted full"

"$FAULTLINE_BIN" report --db "$T_DB" --inventory "$T_DIR/inventory.json" --format json -o "$T_DIR/report.json" ||
	t_fail "report --format json failed"
python3 - "$T_DIR/report.json" "$want_at" <<'PY' || t_fail "the JSON report does not carry the backup age"
import json, sys
r = json.load(open(sys.argv[1]))
a = [a for a in r["assets"] if a["name"] == "orders-api"][0]
assert a["backup_last_good_at"].startswith(sys.argv[2]), a
assert a["backup_last_good_type"] == "full", a
# started within the run cap after `stop`: 8000 s plus the few seconds before the drill began
assert 8000 <= a["backup_age_at_drill_s"] <= 8000 + 150, a
db = [a for a in r["assets"] if a["name"] == "orders-db"][0]
assert db["backup_last_good_at"] is None, db
PY
"$FAULTLINE_BIN" report --db "$T_DB" --inventory "$T_DIR/inventory.json" -o "$T_DIR/report.html" ||
	t_fail "report (html) failed"
grep -q '2 h 13 m before the drill, full' "$T_DIR/report.html" ||
	t_fail "the HTML assets table does not show '2 h 13 m before the drill, full'"

# A failing catalogue does not fail the drill; it is said once and not stored.
write_inventory fail
t_run "$scenario" --inventory "$T_DIR/inventory.json" --label it-backup-fail
[ "$T_RC" = 0 ] || t_fail "faultline run exited $T_RC with a failing backup_info, wanted 0"
[ "$(t_run_field verdict)" = pass ] || t_fail "verdict $(t_run_field verdict) with a failing backup_info, wanted pass"
[ "$(t_run_field backup_last_good_at)" = null ] || t_fail "a failed backup_info recorded $(t_run_field backup_last_good_at)"
n=$(grep -c "warning: last good backup of 'orders-api' not recorded: .*exited 103: ERROR: \[103\]: unable to find a valid repository" \
	"$T_DIR/run.err" "$T_DIR/run.out" | awk -F: '{ s += $2 } END { print s }')
[ "$n" = 1 ] || t_fail "wanted one warning line about the failing backup_info, got $n"
# The first run keeps its figure.
[ "$(t_run_field backup_last_good_type 1)" = full ] || t_fail "the earlier run lost its backup figure"
t_log "pass: last good backup $at (full), age shown in the reports"
