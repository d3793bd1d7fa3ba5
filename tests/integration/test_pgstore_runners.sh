#!/usr/bin/env bash
# Eight runners recording into one PostgreSQL store at once (the calls a
# drill makes: run begin, journal arm/injected/reverted, run finish with
# children), 40 runs each: afterwards every run is there exactly once,
# finished, with exactly its own children, and every journal row is closed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg_lib.sh"

: "${FAULTLINE_FIXTURE_DIR:?FAULTLINE_FIXTURE_DIR must name the fixture build directory}"
pg_start
runners=8
per=40
pids=()
for r in $(seq 1 "$runners"); do
	timeout 120 "$FAULTLINE_FIXTURE_DIR/store_runner" --db "$PG_URL" --tag "r$r" --runs "$per" \
		>"$T_DIR/r$r.out" 2>"$T_DIR/r$r.err" &
	pids+=("$!")
	T_BG_PIDS+=("$!")
done
r=0
for pid in "${pids[@]}"; do
	r=$((r + 1))
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" = 0 ] || t_fail "runner r$r exited $rc: $(cat "$T_DIR/r$r.err")"
done

want=$((runners * per))
[ "$(pg_sql "select count(*) from runs")" = "$want" ] || t_fail "runs: $(pg_sql "select count(*) from runs"), wanted $want"
[ "$(pg_sql "select count(distinct (label, rto_ms)) from runs where verdict = 'pass'")" = "$want" ] ||
	t_fail "runs lost or duplicated: $(pg_sql "select label, rto_ms, count(*) from runs group by 1, 2 having count(*) <> 1 limit 5")"
[ "$(pg_sql "select count(*) from runs group by label having count(*) <> $per")" = "" ] ||
	t_fail "a runner's runs are not all there exactly once"
bad=$(pg_sql "select count(*) from runs r where (select count(*) from run_phases p where p.run_id = r.id) <> 2
	or (select count(*) from run_lost_writes l where l.run_id = r.id) <> 2
	or (select count(*) from run_failures f where f.run_id = r.id) <> 1")
[ "$bad" = 0 ] || t_fail "$bad runs do not have exactly their own children"
[ "$(pg_sql "select count(*) from journal")" = "$want" ] || t_fail "journal rows lost or duplicated"
[ "$(pg_sql "select count(*) from journal where state <> 'reverted'")" = 0 ] || t_fail "journal rows left open"
[ "$(pg_sql "select count(*) from journal j join runs r on r.id = j.run_id where j.target = r.label")" = "$want" ] ||
	t_fail "journal rows point at another runner's run"
n=$("$FAULTLINE_BIN" runs --json --db "$PG_URL" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = "$want" ] || t_fail "faultline runs lists $n runs, wanted $want"
t_log "pass: $runners runners x $per runs recorded at once, nothing lost or duplicated"
