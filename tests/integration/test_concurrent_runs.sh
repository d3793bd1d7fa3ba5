#!/usr/bin/env bash
# Two `faultline run` processes at once, one per demo instance, into the
# same --db: both must pass, both runs must be recorded, and the database
# must pass integrity_check (WAL + busy timeout in the store).
. "$(dirname "$0")/lib.sh"

t_env_start
pids=()
for inst in api-1 api-2; do
	timeout --kill-after=10 "$T_RUN_CAP_S" "$FAULTLINE_BIN" run \
		"$T_DRILLS/concurrent-$inst.json" --db "$T_DB" --label "it-$inst" \
		>"$T_DIR/$inst.out" 2>"$T_DIR/$inst.err" &
	pids+=("$!")
	T_BG_PIDS+=("$!")
done
codes=()
for pid in "${pids[@]}"; do
	rc=0
	wait "$pid" || rc=$?
	codes+=("$rc")
done
for i in 0 1; do
	inst=api-$((i + 1))
	if [ "${codes[$i]}" != 0 ]; then
		cat "$T_DIR/$inst.out" "$T_DIR/$inst.err" >&2
		t_fail "faultline run on $inst exited ${codes[$i]}, wanted 0"
	fi
done

t_runs_json | python3 -c '
import json, sys
runs = json.load(sys.stdin)
got = sorted((r["scenario"], r["verdict"]) for r in runs)
want = [("concurrent-api-1", "pass"), ("concurrent-api-2", "pass")]
if got != want:
    sys.exit("runs recorded: %r, wanted %r" % (got, want))
ids = {r["id"] for r in runs}
if len(ids) != 2:
    sys.exit("run ids not distinct: %r" % ids)
' || t_fail "runs --json does not show the two passing runs"
t_db_ok "$T_DB" || t_fail "results database fails integrity_check"
open_rows=$(sqlite3 -cmd '.timeout 2000' "$T_DB" "select count(*) from journal where state <> 'reverted'")
[ "$open_rows" = 0 ] || t_fail "$open_rows journal rows left open"
t_log "pass: two concurrent drills recorded"
