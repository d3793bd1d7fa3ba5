#!/usr/bin/env bash
# ci/bench.sh: benchmarks that are measurements, not tests. Each group is a
# function bench_group_<name> that calls `measure` for every command it
# times; the script prints a table and writes bench/results.json.
#
#   ci/bench.sh [GROUP...]      (default: every group; BUILD=dir to reuse a build)
#
# Group "report": `faultline report` and `faultline gate` up to 1,000,000
# synthetic runs against the sqlite3 floor, with the issue-6 goals (see
# bench_group_report). Group "pgstore": the same commands on PostgreSQL
# against SQLite (see bench_group_pgstore). Wall time and peak RSS come from GNU time (apt-get
# install time).
# To add a group: write bench_group_<name>, append <name> to ALL_GROUPS.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
OUT_DIR=$ROOT/bench
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ALL_GROUPS=(report)
RESULTS=()
# The machine every row is measured on (cores, CPU model): rows from runs on
# different machines stay in results.json side by side, each naming its own.
BENCH_CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
BENCH_MACHINE=$(python3 -c 'import json, sys; print(json.dumps({"cores": int(sys.argv[1]), "cpu": sys.argv[2]}))' \
	"$(nproc)" "$BENCH_CPU")

build() {
	if [ ! -x "$BUILD/faultline" ] || [ ! -x "$BUILD/tests/gen_history" ]; then
		cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFAULTLINE_WERROR=OFF >/dev/null
		cmake --build "$BUILD" -j2 --target faultline gen_history >/dev/null
	fi
	FAULTLINE=$BUILD/faultline
	GEN=$BUILD/tests/gen_history
}

# measure GROUP NAME RUNS [--ok CODES] -- COMMAND...: one timed run; records
# seconds, peak RSS (KiB) and the exit status. CODES (default 0, e.g. "0 1"
# for a gate, whose "failed" is an answer) are the statuses the command may
# end with; any other status fails the bench: a report that crashed in 10 ms
# is not a fast report.
measure() {
	local group=$1 name=$2 runs=$3 ok=0 secs rss rc=0 load
	shift 3
	if [ "$1" = --ok ]; then
		ok=$2
		shift 2
	fi
	[ "$1" = -- ] || { echo "bench: measure: expected -- before the command" >&2; exit 2; }
	shift
	# The machine is shared: the load beside the figure (1, 5, 15 minutes).
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >/dev/null 2>"$WORK/stderr" || rc=$?
		# GNU time prefixes "Command exited with non-zero status N": the figures are the last line.
		read -r secs rss < <(tail -n 1 "$WORK/time") || true
	else
		local t0 t1
		t0=$(date +%s.%N)
		"$@" >/dev/null 2>"$WORK/stderr" || rc=$?
		t1=$(date +%s.%N)
		secs=$(echo "$t1 - $t0" | bc)
		rss=null
	fi
	if [[ " $ok " != *" $rc "* ]]; then
		echo "bench: $group: $name ($runs runs) exited $rc (expected $ok): $(tail -n 1 "$WORK/stderr")" >&2
		exit 1
	fi
	printf '%-8s %-34s %8s %9s s %10s KiB  exit %s\n' "$group" "$name" "$runs" "$secs" "$rss" "$rc"
	RESULTS+=("{\"group\":\"$group\",\"name\":\"$name\",\"runs\":$runs,\"seconds\":$secs,\"peak_rss_kib\":$rss,\"exit\":$rc,\"machine\":$BENCH_MACHINE,\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"loadavg\":{\"start\":\"$load\",\"end\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}}")
}

# Group "report" (issue 6): `faultline report` and `faultline gate` over
# 10,000, 100,000 and 1,000,000 synthetic runs against the sqlite3 CLI
# running the same per-scenario aggregate over the whole history (count,
# mean, min, max, p95: the raw query floor). The 1,000,000-run history takes
# minutes to generate, so it is written once to bench/out/ and reused (delete
# it to regenerate). The goals (report within 3x of the floor; peak RSS at
# 1,000,000 runs within 2x of 10,000; gate's default window under 100 ms at
# 1,000,000 runs) are rows that ci/gen-docs.py --normalise derives from these
# measurements, with `met` computed: see its header.
bench_group_report() {
	local n db
	command -v sqlite3 >/dev/null || { echo "bench report: sqlite3 CLI missing (apt-get install sqlite3)" >&2; return 1; }
	mkdir -p "$OUT_DIR/out"
	for n in 10000 100000 1000000; do
		db=$OUT_DIR/out/history-$n.db
		if [ ! -s "$db" ]; then
			rm -f "$db.tmp"
			measure report "gen_history (store API)" "$n" -- "$GEN" --db "$db.tmp" --runs "$n" --seed 1 --days 365
			mv "$db.tmp" "$db"
		fi
		measure report "sqlite3 CLI same aggregate (floor)" "$n" -- sqlite3 "$db" "
			WITH r AS (SELECT scenario, rto_ms,
			       row_number() OVER (PARTITION BY scenario ORDER BY rto_ms) AS k,
			       count(*) OVER (PARTITION BY scenario) AS n
			     FROM runs WHERE rto_ms IS NOT NULL)
			SELECT scenario, max(n), avg(rto_ms), min(rto_ms), max(rto_ms),
			       max(CASE WHEN k = CAST(0.95 * (n - 1) AS INT) + 1 THEN rto_ms END)
			FROM r GROUP BY scenario;"
		measure report "report --format html" "$n" -- "$FAULTLINE" report --db "$db" -o "$WORK/r.html"
		measure report "report --format json" "$n" -- "$FAULTLINE" report --db "$db" --format json -o "$WORK/r.json"
		measure report "report --last 100 --format markdown" "$n" -- "$FAULTLINE" report --db "$db" --last 100 --format markdown -o "$WORK/r.md"
		# A gate exits 1 when a rule fails: an answer, not a bench failure.
		measure report "gate default window (last 10)" "$n" --ok "0 1" -- "$FAULTLINE" gate --db "$db" --rule 'p95(rto) <= target' --rule 'pass_rate >= 0.5'
		measure report "gate p95(rto) over all runs" "$n" --ok "0 1" -- "$FAULTLINE" gate --db "$db" --last 0 --rule 'p95(rto) <= target' --rule 'pass_rate >= 0.5'
		measure report "gate regression v1/v2 all runs" "$n" --ok "0 1" -- "$FAULTLINE" gate --db "$db" --last 0 --baseline v1 --candidate v2 --rule 'regression(rto)'
	done
}

# ---- groups 1-3: fidelity, probe cost, injection latency (bench/*.c) --------
# Each runs one program from bench/ (built with -DFAULTLINE_BENCH=ON), which
# prints its own detailed table to stderr and JSON rows
# {group, name, unit, faultline, peer_name, peer, ratio, goal, met, detail};
# the rows get the machine and date added, are printed as one table and go
# into bench/results.json with the other groups' rows. See docs/bench.md.
ALL_GROUPS+=(fidelity probe_cost injection)
BENCH_PEER_PACKAGES=(prometheus-blackbox-exporter jq curl time)
BENCH_BLACKBOX=${BENCH_BLACKBOX:-/usr/bin/prometheus-blackbox-exporter}

# bench_peers_install: the peers and tools groups 1-3 need, through
# ci/lib.sh's installer (apt-get, only what is missing).
bench_peers_install() {
	(
		# shellcheck source=ci/lib.sh
		. "$ROOT/ci/lib.sh"
		# shellcheck disable=SC2034  # read by ci_install_deps
		FAULTLINE_PACKAGES=("${BENCH_PEER_PACKAGES[@]}")
		ci_install_deps
	)
}

bench_programs_build() {
	[ -z "${BENCH_PROGRAMS_BUILT:-}" ] || return 0
	bench_peers_install
	cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFAULTLINE_WERROR=OFF \
		-DFAULTLINE_BENCH=ON >/dev/null
	cmake --build "$BUILD" -j2 --target bench_fidelity bench_probe_cost bench_targets \
		bench_inject groundtruth >/dev/null
	BENCH_PROGRAMS_BUILT=1
}

# bench_rows_add FILE: prints FILE's rows as a table and adds them to RESULTS
# with the machine (cores, CPU model), the date and /proc/loadavg at the
# group's start and now (the machine is shared: its other users' load is in
# every figure).
bench_rows_add() {
	local file=$1 row
	printf '\n%-10s %-58s %12s %12s %-32s %8s %-30s %s\n' group measurement faultline peer \
		"peer is" ratio goal met?
	jq -r '.[] | [.group, .name, (if .faultline == null then "-" else (.faultline * 1000 | round / 1000 | tostring) + " " + .unit end),
		(if .peer == null then "-" else (.peer * 1000 | round / 1000 | tostring) end),
		(.peer_name // "-"), (if .ratio == null then "-" else (.ratio * 1000 | round / 1000 | tostring) end),
		(.goal // "-"), (if .met == null then "-" elif .met then "yes" else "NO" end)] | @tsv' "$file" |
		while IFS=$'\t' read -r g n f p pn r goal met; do
			printf '%-10s %-58s %12s %12s %-32s %8s %-30s %s\n' "$g" "$n" "$f" "$p" "$pn" "$r" "$goal" "$met"
		done
	while IFS= read -r row; do
		RESULTS+=("$row")
	done < <(jq -c --argjson machine "$BENCH_MACHINE" \
		--arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		--arg l0 "${BENCH_LOADAVG_START:-}" --arg l1 "$(cut -d' ' -f1-3 /proc/loadavg)" \
		'.[] | . + {machine: $machine, date: $date,
		            loadavg: {start: $l0, end: $l1}}' "$file")
}

bench_blackbox_arg() {
	if [ -x "$BENCH_BLACKBOX" ]; then
		printf '%s\n' --blackbox "$BENCH_BLACKBOX"
	else
		echo "bench: $BENCH_BLACKBOX missing: blackbox_exporter rows skipped" >&2
	fi
}

# Group 1: outages of known length, measured by faultline at 1/10/100 ms and
# by blackbox_exporter (10 Hz, back to back) and a 1 s curl loop, then short
# hangs of 2-20 intervals at 1 and 10 ms, faultline alone (~6 min).
bench_group_fidelity() {
	local -a bb
	bench_programs_build
	mapfile -t bb < <(bench_blackbox_arg)
	mkdir -p "$WORK/fidelity"
	timeout 900 "$BUILD/bench/bench_fidelity" --groundtruth "$BUILD/tests/groundtruth" \
		--curl-loop "$ROOT/bench/curl_loop.sh" "${bb[@]}" --dir "$WORK/fidelity" \
		--out "$WORK/fidelity.json" ${BENCH_QUICK:+--quick}
	bench_rows_add "$WORK/fidelity.json"
}

# Group 2: CPU per 1,000 probes and peak RSS for 10/100/1,000 targets, every
# prober for the same BENCH_PROBE_SECONDS (~2.5 min).
bench_group_probe_cost() {
	local -a bb
	bench_programs_build
	mapfile -t bb < <(bench_blackbox_arg)
	mkdir -p "$WORK/probe_cost"
	timeout 600 "$BUILD/bench/bench_probe_cost" --targets "$BUILD/bench/bench_targets" \
		--curl-loop "$ROOT/bench/curl_loop.sh" "${bb[@]}" --dir "$WORK/probe_cost" \
		--seconds "${BENCH_PROBE_SECONDS:-10}" --out "$WORK/probe_cost.json"
	bench_rows_add "$WORK/probe_cost.json"
}

# Group 3: scheduled instant -> fault in effect, journal included, quiet and
# under its own load, every series (peers too) BENCH_INJECTIONS long (3-5 min
# on 2 loaded cores: a working victim must run again before each injection).
bench_group_injection() {
	bench_programs_build
	mkdir -p "$WORK/injection"
	timeout 900 "$BUILD/bench/bench_inject" --dir "$WORK/injection" --count "${BENCH_INJECTIONS:-500}" \
		--out "$WORK/injection.json"
	bench_rows_add "$WORK/injection.json"
}

# Group 4: one signed AWS call through faultline's client against one `aws`
# CLI call of the same operation (sts GetCallerIdentity), both against the
# same loopback stand-in (tests/integration/aws_fixture.py; ~1 min). The
# CLI pays a process start per call, which is how a harness that shells
# out to it pays too; the table says so.
bench_group_aws() {
	local port pid
	command -v aws >/dev/null 2>&1 || { echo "bench: the aws CLI is missing: aws group skipped" >&2; return 0; }
	bench_programs_build
	cmake --build "$BUILD" -j2 --target bench_aws >/dev/null
	mkdir -p "$WORK/aws"
	rm -f "$WORK/aws/port"
	python3 "$ROOT/tests/integration/aws_fixture.py" "$WORK/aws/port" "$WORK/aws/requests" capture &
	pid=$!
	for _ in $(seq 1 100); do
		[ -s "$WORK/aws/port" ] && break
		sleep 0.05
	done
	port=$(cat "$WORK/aws/port")
	AWS_ACCESS_KEY_ID=AKIDBENCHEXAMPLE AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1 \
		AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
		timeout 300 "$BUILD/bench/bench_aws" "http://127.0.0.1:$port" "${BENCH_AWS_CALLS:-200}" \
		>"$WORK/aws/raw.json" || [ $? = 1 ]
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	jq '[{group: "aws", name: "one signed call (sts GetCallerIdentity), median",
	      unit: "ms", faultline: .faultline_client.median_ms, peer_name: "aws CLI",
	      peer: .aws_cli.median_ms, ratio: (.faultline_client.median_ms / .aws_cli.median_ms),
	      goal: "<= 1/30 of aws CLI",
	      n: .faultline_client.runs, peer_n: .aws_cli.runs,
	      peer_note: "a new process per call (how a harness that shells out to the CLI pays)",
	      detail: [{tool: "faultline", runs: .faultline_client.runs, median_ms: .faultline_client.median_ms, p99_ms: .faultline_client.p99_ms},
	               {tool: "aws CLI", runs: .aws_cli.runs, median_ms: .aws_cli.median_ms, p99_ms: .aws_cli.p99_ms}]}]' \
		"$WORK/aws/raw.json" >"$WORK/aws.json"
	bench_rows_add "$WORK/aws.json"
}

# Group "pgstore" (issue 13): `report` and `gate` over the same synthetic
# history in the SQLite file and in PostgreSQL 15 (bench/pgstore.sh: a
# private server on loopback, default durability, loaded with COPY). One row
# per command and history size: PostgreSQL's wall time against SQLite's.
# Goals (docs/bench.md says why): whole-history reads within 2x of SQLite;
# windowed ones (last 100, the gate's default window) under 0.5 s outright,
# as they cost a connection, not the history. BENCH_PGSTORE_RUNS sets the
# sizes (default 10000 100000 1000000; the million takes ~15 minutes, most
# of it writing the history once to bench/out/).
ALL_GROUPS+=(pgstore)
bench_group_pgstore() {
	local -a sizes
	read -r -a sizes <<<"${BENCH_PGSTORE_RUNS:-10000 100000 1000000}"
	BUILD=$BUILD "$ROOT/bench/pgstore.sh" "${sizes[@]}"
	jq 'def commas: tostring | if length > 3 then (.[0:length-3] | commas) + "," + .[length-3:] else . end;
	    [group_by(.name + "|" + (.runs | tostring))[] |
	     (map(select(.backend == "postgresql"))[0]) as $pg | (map(select(.backend == "sqlite"))[0]) as $sq |
	     select($pg != null and $sq != null) |
	     {group: "pgstore", name: ($pg.name + ", " + ($pg.runs | commas) + " runs"), unit: "s",
	      runs: $pg.runs, faultline: $pg.seconds, peer_name: "SQLite store", peer: $sq.seconds,
	      ratio: (if $sq.seconds > 0 then $pg.seconds / $sq.seconds else null end),
	      goal: (if ($pg.name | test("last 100|default window")) then "< 0.5 s" else "<= 2x of SQLite store" end),
	      detail: [$pg, $sq] | map({backend, seconds, peak_rss_kib, exit, repeats})}] | sort_by(.runs)' \
		"$OUT_DIR/out/pgstore.json" >"$WORK/pgstore.json"
	bench_rows_add "$WORK/pgstore.json"
}

main() {
	local groups=("$@") g
	[ ${#groups[@]} -gt 0 ] || groups=("${ALL_GROUPS[@]}")
	build
	printf '%-8s %-34s %8s %11s %14s\n' group measurement runs wall "peak RSS"
	for g in "${groups[@]}"; do
		declare -F "bench_group_$g" >/dev/null || { echo "bench: no group '$g'" >&2; exit 2; }
		BENCH_LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
		"bench_group_$g"
	done
	mkdir -p "$OUT_DIR"
	{
		printf '{"generated_at":"%s","host":"%s","cores":%s,"results":[' \
			"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(uname -n)" "$(nproc)"
		local IFS=,
		printf '%s' "${RESULTS[*]}"
		printf ']}\n'
	} >"$OUT_DIR/results.new.json"
	# Running some groups replaces only their rows: the other groups' rows
	# from an earlier run stay (each row carries its own date).
	python3 - "$OUT_DIR/results.json" "$OUT_DIR/results.new.json" <<'PY'
import json, os, sys
old_path, new_path = sys.argv[1], sys.argv[2]
new = json.load(open(new_path))
ran = {r.get("group") for r in new["results"]}
if os.path.exists(old_path):
    try:
        old = json.load(open(old_path))
        new["results"] = [r for r in old.get("results", []) if r.get("group") not in ran] + new["results"]
    except ValueError:
        pass
json.dump(new, open(old_path, "w"), indent=1)
os.unlink(new_path)
PY
	# Goals' `met` (and the report group's goal rows) are computed from the
	# figures, and the docs' tables regenerated, so no table can go stale.
	python3 "$ROOT/ci/gen-docs.py" --normalise
	python3 "$ROOT/ci/gen-docs.py"
	echo "wrote $OUT_DIR/results.json, docs/bench-results.md and README.md's benchmark table"
	jq -r '.results[] | select(.goal != null) |
		(if .met then "goal met:    " else "goal MISSED: " end) + .group + ": " + .name +
		" (" + (.faultline | tostring) + " " + (.unit // "") + "; goal " + .goal + ")"' "$OUT_DIR/results.json"
}

main "$@"
