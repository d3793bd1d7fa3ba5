#!/usr/bin/env bash
# ci/bench.sh: benchmarks that are measurements, not tests. Each group is a
# function bench_group_<name> that calls `measure` for every command it
# times; the script prints a table and writes bench/results.json.
#
#   ci/bench.sh [GROUP...]      (default: every group; BUILD=dir to reuse a build)
#
# Group "report": `faultline report` (html, json) and `faultline gate` over
# 10,000 and 100,000 synthetic runs (tests/fixtures/gen_history), against the
# sqlite3 CLI running the same per-scenario aggregate (count, mean, min, max,
# p95) in SQL. Wall time and peak RSS come from GNU time (apt-get install time).
# To add a group: write bench_group_<name>, append <name> to ALL_GROUPS.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
OUT_DIR=$ROOT/bench
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ALL_GROUPS=(report)
RESULTS=()

build() {
	if [ ! -x "$BUILD/faultline" ] || [ ! -x "$BUILD/tests/gen_history" ]; then
		cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFAULTLINE_WERROR=OFF >/dev/null
		cmake --build "$BUILD" -j2 --target faultline gen_history >/dev/null
	fi
	FAULTLINE=$BUILD/faultline
	GEN=$BUILD/tests/gen_history
}

# measure GROUP NAME RUNS -- COMMAND...: one timed run; records seconds and peak RSS (KiB).
measure() {
	local group=$1 name=$2 runs=$3
	shift 4
	local secs rss
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >/dev/null 2>"$WORK/stderr" || true
		# GNU time prefixes "Command exited with non-zero status N" (a failing gate is expected).
		read -r secs rss < <(tail -n 1 "$WORK/time")
	else
		local t0 t1
		t0=$(date +%s.%N)
		"$@" >/dev/null 2>"$WORK/stderr" || true
		t1=$(date +%s.%N)
		secs=$(echo "$t1 - $t0" | bc)
		rss=null
	fi
	printf '%-8s %-34s %8s %9s s %10s KiB\n' "$group" "$name" "$runs" "$secs" "$rss"
	RESULTS+=("{\"group\":\"$group\",\"name\":\"$name\",\"runs\":$runs,\"seconds\":$secs,\"peak_rss_kib\":$rss}")
}

bench_group_report() {
	local n db
	command -v sqlite3 >/dev/null || { echo "bench report: sqlite3 CLI missing (apt-get install sqlite3)" >&2; return 1; }
	for n in 10000 100000; do
		db=$WORK/history-$n.db
		measure report "gen_history (store API)" "$n" -- "$GEN" --db "$db" --runs "$n" --seed 1 --days 365
		measure report "report --format html" "$n" -- "$FAULTLINE" report --db "$db" -o "$WORK/r.html"
		measure report "report --format json" "$n" -- "$FAULTLINE" report --db "$db" --format json -o "$WORK/r.json"
		measure report "report --last 100 --format markdown" "$n" -- "$FAULTLINE" report --db "$db" --last 100 --format markdown -o "$WORK/r.md"
		measure report "gate p95(rto) over all runs" "$n" -- "$FAULTLINE" gate --db "$db" --last 0 --rule 'p95(rto) <= target' --rule 'pass_rate >= 0.5'
		measure report "gate regression v1/v2 all runs" "$n" -- "$FAULTLINE" gate --db "$db" --last 0 --baseline v1 --candidate v2 --rule 'regression(rto)'
		measure report "sqlite3 CLI same aggregate" "$n" -- sqlite3 "$db" "
			WITH r AS (SELECT scenario, rto_ms,
			       row_number() OVER (PARTITION BY scenario ORDER BY rto_ms) AS k,
			       count(*) OVER (PARTITION BY scenario) AS n
			     FROM runs WHERE rto_ms IS NOT NULL)
			SELECT scenario, max(n), avg(rto_ms), min(rto_ms), max(rto_ms),
			       max(CASE WHEN k = CAST(0.95 * (n - 1) AS INT) + 1 THEN rto_ms END)
			FROM r GROUP BY scenario;"
	done
}

main() {
	local groups=("$@") g
	[ ${#groups[@]} -gt 0 ] || groups=("${ALL_GROUPS[@]}")
	build
	printf '%-8s %-34s %8s %11s %14s\n' group measurement runs wall "peak RSS"
	for g in "${groups[@]}"; do
		declare -F "bench_group_$g" >/dev/null || { echo "bench: no group '$g'" >&2; exit 2; }
		"bench_group_$g"
	done
	mkdir -p "$OUT_DIR"
	{
		printf '{"generated_at":"%s","host":"%s","cores":%s,"results":[' \
			"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(uname -n)" "$(nproc)"
		local IFS=,
		printf '%s' "${RESULTS[*]}"
		printf ']}\n'
	} >"$OUT_DIR/results.json"
	echo "wrote $OUT_DIR/results.json"
}

main "$@"
