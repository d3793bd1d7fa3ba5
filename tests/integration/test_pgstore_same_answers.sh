#!/usr/bin/env bash
# The same history in SQLite and in PostgreSQL gives the same answers:
# gen_history writes a year of drills into SQLite, `faultline store copy`
# moves it to PostgreSQL (twice: the second copy copies nothing) and back
# into a fresh SQLite file; `report --json`, `runs --json` and `gate` agree
# on all three, byte for byte apart from the database's name.
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
