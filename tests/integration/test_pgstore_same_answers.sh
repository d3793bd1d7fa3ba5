#!/usr/bin/env bash
# The same history in SQLite and in PostgreSQL gives the same answers:
# gen_history writes a year of drills into SQLite, `faultline store copy`
# moves it to PostgreSQL (twice: the second copy copies nothing) and back
# into a fresh SQLite file; `report --json`, `runs --json` and `gate` agree
# on all three, byte for byte apart from the database's name. Then a larger
# history, bulk-loaded with COPY (as bench/pgstore.sh does), whose scenarios
# span several of the window's FETCH batches: the whole-history report and
# gate agree too. Last, the schema 5 -> 6 migration (PostgreSQL's covering
# indexes for those reads) applies to a version-5 database.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg_lib.sh"

: "${FAULTLINE_FIXTURE_DIR:?FAULTLINE_FIXTURE_DIR must name the fixture build directory}"
pg_start
src="$T_DIR/src.db"
back="$T_DIR/back.db"
"$FAULTLINE_FIXTURE_DIR/gen_history" --db "$src" --runs 600 --seed 4 --days 120 --steps >/dev/null ||
	t_fail "gen_history failed"

copy() {
	"$FAULTLINE_BIN" store copy "$1" "$2" >"$T_DIR/copy.out" 2>&1 ||
		t_fail "store copy $1 -> $2 failed: $(cat "$T_DIR/copy.out")"
	cat "$T_DIR/copy.out" >&2
}
copy "$src" "$PG_URL"
grep -q "^store copy: 600 run(s) copied, 0 already there" "$T_DIR/copy.out" || t_fail "first copy: $(cat "$T_DIR/copy.out")"
copy "$src" "$PG_URL"
grep -q "^store copy: 0 run(s) copied, 600 already there" "$T_DIR/copy.out" || t_fail "second copy is not idempotent"
copy "$PG_URL" "$back"
grep -q "^store copy: 600 run(s) copied" "$T_DIR/copy.out" || t_fail "copy back: $(cat "$T_DIR/copy.out")"

# answers DB NAME: what every reader says, with the database's name taken out.
answers() {
	local db=$1 name=$2 rc
	{
		"$FAULTLINE_BIN" report --format json -o - --db "$db" || echo "report exit $?"
		rc=0
		"$FAULTLINE_BIN" gate --db "$db" --last 0 --rule 'p95(rto) <= target' \
			--rule 'pass_rate >= 0.5' 2>&1 || rc=$?
		echo "gate all runs exit $rc"
		"$FAULTLINE_BIN" report --format json -o - --db "$db" --baseline v1 --candidate v2 ||
			echo "report exit $?"
		"$FAULTLINE_BIN" report --format markdown -o - --db "$db" --last 25 || echo "report exit $?"
		"$FAULTLINE_BIN" runs --json --db "$db" | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    r.pop("id", None)  # each store numbers its own runs
    print(json.dumps(r, sort_keys=True))' || echo "runs exit $?"
		for s in demo-instance-kill orders-db-failover session-cache-zone-partition; do
			rc=0
			"$FAULTLINE_BIN" gate --json --db "$db" --scenario "$s" --last 20 \
				--rule 'p95(rto) <= target' --rule 'p90(phase:detect) <= 2s' 2>&1 || rc=$?
			echo "gate $s exit $rc"
		done
		rc=0
		"$FAULTLINE_BIN" gate --db "$db" --last 0 --baseline v1 --candidate v2 \
			--rule 'regression(p50(rto)) <= 10%' 2>&1 || rc=$?
		echo "gate regression exit $rc"
	} | sed "s|$db|DB|g" | grep -v -i "generated" >"$T_DIR/answers.$name"
}
answers "$src" sqlite
answers "$PG_URL" pg
answers "$back" back
[ -s "$T_DIR/answers.sqlite" ] || t_fail "no answers from SQLite"
diff -u "$T_DIR/answers.sqlite" "$T_DIR/answers.pg" >&2 || t_fail "PostgreSQL answers differ from SQLite's"
diff -u "$T_DIR/answers.sqlite" "$T_DIR/answers.back" >&2 || t_fail "the copy back answers differently"
grep -q "gate .* exit [01]$" "$T_DIR/answers.pg" || t_fail "gate did not judge: $(grep gate "$T_DIR/answers.pg")"
! grep -q "^report exit" "$T_DIR/answers.pg" || t_fail "report failed on PostgreSQL"
grep -q '"scenario"' "$T_DIR/answers.pg" || t_fail "the JSON report names no scenario"
t_log "pass: report, runs and gate agree on SQLite and PostgreSQL ($(wc -l <"$T_DIR/answers.pg") lines)"

# A history whose scenarios each span several FETCH batches (4,096 rows:
# core/store_pg_query.c), loaded with COPY: the store API would take minutes.
big="$T_DIR/big.db"
big_url="${PG_URL%/*}/big"
"$FAULTLINE_FIXTURE_DIR/gen_history" --db "$big" --runs 4500 --seed 7 --days 200 >/dev/null ||
	t_fail "gen_history (4500 runs) failed"
pg_sql "CREATE DATABASE big" >/dev/null || t_fail "cannot create the database big"
"$FAULTLINE_BIN" runs --db "$big_url" --limit 1 >/dev/null || t_fail "cannot create the schema in big"
for t in runs run_events run_phases run_failures run_probes run_lost_writes; do
	cols=$(sqlite3 "$big" "SELECT group_concat(name, ',') FROM pragma_table_info('$t')")
	sqlite3 -csv "$big" "SELECT $cols FROM $t" |
		psql -X -q -v ON_ERROR_STOP=1 "$big_url" -c "\\copy $t ($cols) FROM stdin WITH (FORMAT csv)" ||
		t_fail "COPY of $t failed"
done
psql -X -q -v ON_ERROR_STOP=1 "$big_url" -c "VACUUM ANALYZE" || t_fail "VACUUM ANALYZE failed"
[ "$(psql -X -A -t "$big_url" -c "SELECT max(n) FROM (SELECT count(*) AS n FROM runs r
	JOIN run_phases p ON p.run_id = r.id GROUP BY r.scenario) c")" -gt 4096 ] ||
	t_fail "the big history does not span two FETCH batches per scenario"
big_answers() {
	local db=$1 name=$2 rc=0
	{
		"$FAULTLINE_BIN" report --format json -o - --db "$db" || echo "report exit $?"
		"$FAULTLINE_BIN" report --format markdown -o - --db "$db" --last 1500 ||
			echo "report exit $?"
		"$FAULTLINE_BIN" gate --db "$db" --last 0 --rule 'p95(rto) <= target' \
			--rule 'pass_rate >= 0.5' --rule 'p90(phase:detect) <= 2s' 2>&1 || rc=$?
		echo "gate all runs exit $rc"
	} | sed "s|$db|DB|g" | grep -v -i "generated" >"$T_DIR/big.$name"
}
big_answers "$big" sqlite
big_answers "$big_url" pg
grep -q '"scenario"' "$T_DIR/big.pg" || t_fail "the big JSON report names no scenario"
diff -u "$T_DIR/big.sqlite" "$T_DIR/big.pg" >&2 ||
	t_fail "PostgreSQL answers differ from SQLite's on the big history"

# Schema 5 -> 6: a version-5 database (the indexes gone, the version set
# back) gets the covering indexes when a runner opens it, and reads the same.
psql -X -q -v ON_ERROR_STOP=1 "$big_url" -c "DROP INDEX runs_window; DROP INDEX run_phases_window;
	UPDATE faultline_schema SET version = 5" || t_fail "cannot make a version-5 database"
"$FAULTLINE_BIN" runs --db "$big_url" --limit 1 >/dev/null || t_fail "runs on a version-5 database failed"
[ "$(psql -X -A -t "$big_url" -c "SELECT version FROM faultline_schema")" = 6 ] ||
	t_fail "the version-5 database was not migrated to 6"
[ "$(psql -X -A -t "$big_url" -c "SELECT count(*) FROM pg_indexes
	WHERE indexname IN ('runs_window', 'run_phases_window')")" = 2 ] ||
	t_fail "migration 6 did not create runs_window and run_phases_window"
big_answers "$big_url" pg6
diff -u "$T_DIR/big.sqlite" "$T_DIR/big.pg6" >&2 || t_fail "answers differ after migration 6"
t_log "pass: 4,500 runs over several FETCH batches agree, and schema 5 migrates to 6"
