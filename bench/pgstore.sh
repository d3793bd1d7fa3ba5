#!/usr/bin/env bash
# bench/pgstore.sh: `faultline report` and `faultline gate` over the same
# synthetic history in SQLite and in PostgreSQL (issue 13). ci/bench.sh's
# group "pgstore" runs it and turns its rows into goal rows; it runs on its
# own too:
#
#   bench/pgstore.sh [RUNS...]      (default 10000 100000 1000000; root)
#   BUILD=dir to reuse a build (faultline and tests/gen_history);
#   REPEAT=n runs of each command (default 3; the median is recorded).
#
# The history is gen_history's (seed 1, 365 days), written once to
# bench/out/history-N.db (shared with the "report" group) and bulk-loaded
# into a private PostgreSQL 15 server (initdb on a free loopback port, run as
# the postgres user, stopped at exit) by `faultline store copy` up to 1,000
# runs and by COPY above that (the store API's per-row round trips would
# take hours for a million runs; the copy test proves the two the same),
# then VACUUM ANALYZE (autovacuum's work on a server that has been up).
# Prints one JSON row per measurement, in ci/bench.sh's shape, to
# bench/out/pgstore.json and a table to stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
OUT=$ROOT/bench/out
WORK=$(mktemp -d /tmp/faultline-pgbench.XXXXXX)
PG_DIR=$WORK/pg
ROWS=()

cleanup() {
	if [ -d "$PG_DIR/data" ]; then
		runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "bench pgstore: needs root (runs PostgreSQL as postgres)" >&2; exit 77; }
if [ ! -x "$BUILD/faultline" ] || [ ! -x "$BUILD/tests/gen_history" ]; then
	cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFAULTLINE_WERROR=OFF >/dev/null
	cmake --build "$BUILD" -j2 --target faultline gen_history >/dev/null
fi
FAULTLINE=$BUILD/faultline
GEN=$BUILD/tests/gen_history

chmod 755 "$WORK"
mkdir "$PG_DIR"
chown postgres "$PG_DIR"
runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 \
	--locale=C >/dev/null
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Default durability settings: the figures are a deployment's, not a test's.
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" \
	-o "-p $PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c shared_buffers=256MB" -w start >/dev/null
SERVER=postgresql://postgres@127.0.0.1:$PORT

# measure NAME RUNS BACKEND [--ok CODES] -- COMMAND...: the command REPEAT
# times (default 3); records the median wall time and the largest peak RSS
# (the machine is shared: one run alone is mostly noise).
measure() {
	local name=$1 runs=$2 backend=$3 ok=0 secs rss rc i i_rss
	local -a all=()
	shift 3
	if [ "$1" = --ok ]; then
		ok=$2
		shift 2
	fi
	shift
	rss=0
	for ((i = 0; i < ${REPEAT:-3}; i++)); do
		rc=0
		/usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >/dev/null 2>"$WORK/stderr" || rc=$?
		if [[ " $ok " != *" $rc "* ]]; then
			echo "bench pgstore: $name ($runs runs, $backend) exited $rc: $(tail -n 1 "$WORK/stderr")" >&2
			exit 1
		fi
		read -r secs i_rss < <(tail -n 1 "$WORK/time") || true
		all+=("$secs")
		[ "$i_rss" -le "$rss" ] || rss=$i_rss
	done
	secs=$(printf '%s\n' "${all[@]}" | sort -n | sed -n "$(((${#all[@]} + 1) / 2))p")
	printf '%-8s %-10s %-34s %8s %9s s %10s KiB  exit %s  (runs: %s)\n' pgstore "$backend" "$name" "$runs" "$secs" "$rss" "$rc" "${all[*]}"
	ROWS+=("{\"group\":\"pgstore\",\"backend\":\"$backend\",\"name\":\"$name\",\"runs\":$runs,\"seconds\":$secs,\"peak_rss_kib\":$rss,\"exit\":$rc,\"repeats\":${#all[@]}}")
}

# load N SQLITE URL: the history into a fresh database of the server.
load() {
	local n=$1 db=$2 url=$3 t cols
	psql -X -q "$SERVER/postgres" -c "CREATE DATABASE h$n" >/dev/null
	if [ "$n" -le 1000 ]; then
		measure "store copy (store API)" "$n" postgresql -- "$FAULTLINE" store copy "$db" "$url"
		return
	fi
	"$FAULTLINE" runs --db "$url" --limit 1 >/dev/null # creates the schema
	for t in runs run_events run_phases run_failures run_probes run_lost_writes; do
		cols=$(sqlite3 "$db" "SELECT group_concat(name, ',') FROM pragma_table_info('$t')")
		sqlite3 -csv "$db" "SELECT $cols FROM $t" |
			psql -X -q "$url" -c "\\copy $t ($cols) FROM stdin WITH (FORMAT csv)"
	done
	psql -X -q "$url" -c "SELECT setval(pg_get_serial_sequence('runs', 'id'), (SELECT max(id) FROM runs))" >/dev/null
	# What autovacuum does to a table soon after a bulk insert: statistics,
	# and the visibility map the report's index-only scans rely on.
	psql -X -q "$url" -c "VACUUM ANALYZE" >/dev/null
}

mkdir -p "$OUT"
sizes=("$@")
[ "${#sizes[@]}" -gt 0 ] || sizes=(10000 100000 1000000)
for n in "${sizes[@]}"; do
	db=$OUT/history-$n.db
	if [ ! -s "$db" ]; then
		rm -f "$db.tmp"
		"$GEN" --db "$db.tmp" --runs "$n" --seed 1 --days 365 >/dev/null
		mv "$db.tmp" "$db"
	fi
	url=$SERVER/h$n
	t0=$(date +%s.%N)
	load "$n" "$db" "$url"
	t1=$(date +%s.%N)
	echo "pgstore: loaded $n runs in $(echo "$t1 - $t0" | bc) s" >&2
	for backend in sqlite postgresql; do
		if [ "$backend" = sqlite ]; then target=$db; else target=$url; fi
		measure "report --format json" "$n" "$backend" -- "$FAULTLINE" report --db "$target" --format json -o "$WORK/r.json"
		measure "report --last 100 --format markdown" "$n" "$backend" -- "$FAULTLINE" report --db "$target" --last 100 --format markdown -o "$WORK/r.md"
		measure "gate default window (last 10)" "$n" "$backend" --ok "0 1" -- "$FAULTLINE" gate --db "$target" --rule 'p95(rto) <= target' --rule 'pass_rate >= 0.5'
		measure "gate p95(rto) over all runs" "$n" "$backend" --ok "0 1" -- "$FAULTLINE" gate --db "$target" --last 0 --rule 'p95(rto) <= target' --rule 'pass_rate >= 0.5'
	done
done
{
	printf '['
	sep=
	for r in "${ROWS[@]}"; do
		printf '%s\n  %s' "$sep" "$r"
		sep=,
	done
	printf '\n]\n'
} >"$OUT/pgstore.json"
echo "pgstore: rows in $OUT/pgstore.json" >&2
