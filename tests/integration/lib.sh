# shellcheck shell=bash
# shellcheck disable=SC2034  # T_* variables are used by the scripts that source this
# tests/integration/lib.sh: what every end-to-end drill test shares (sourced).
#
# Owns: the test's private temporary directory, the demo environment in it
# (on free loopback ports), the EXIT trap that always stops that environment
# and every background process the test started, bounded waits, and small
# JSON readers over `faultline runs --json`. Does not own: what a test
# asserts.
#
# ctest sets FAULTLINE_BIN and FAULTLINE_SOURCE_DIR; a test run by hand needs
# them exported.
set -euo pipefail

: "${FAULTLINE_BIN:?FAULTLINE_BIN must name the faultline binary}"
: "${FAULTLINE_SOURCE_DIR:?FAULTLINE_SOURCE_DIR must name the source tree}"

T_NAME=$(basename "$0" .sh)

# t_owner_mark DIR: DIR/.owner says which test made it ("PID START": this
# shell and its /proc start time), so ci/sweep.sh can tell what a test
# killed at its ctest TIMEOUT (its EXIT trap never ran) left behind.
t_owner_mark() {
	local stat
	stat=$(cat "/proc/$$/stat")
	stat=${stat##*) }
	# shellcheck disable=SC2086 # the fields after the command name
	set -- "$1" $stat
	printf '%s %s\n' "$$" "${21}" >"$1/.owner"
}

T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/faultline-$T_NAME.XXXXXX")
t_owner_mark "$T_DIR"
T_ENV="$T_DIR/env"
T_DB="$T_DIR/faultline.db"
T_DEMO="$FAULTLINE_SOURCE_DIR/scenarios/demo"
T_SCENARIOS="$FAULTLINE_SOURCE_DIR/scenarios"
T_DRILLS="$FAULTLINE_SOURCE_DIR/tests/data/scenarios/drills"
T_BG_PIDS=()
# Upper bound for one `faultline run` of a demo scenario (their own timeout
# is 2 minutes; ctest kills the whole test at 300 s).
T_RUN_CAP_S=150

# grep over the whole of stdin, read before matching: `producer | grep -q`
# under pipefail fails when grep leaves at its first match and the producer,
# still writing, dies of SIGPIPE (test_ssh_network.sh saw it). Use
# `producer | t_grep -q PATTERN`.
t_grep() {
	local in
	in=$(cat)
	grep "$@" <<<"$in"
}

t_log() { printf '[%s] %s\n' "$T_NAME" "$*" >&2; }

t_dump_logs() {
	local f
	for f in "$T_ENV"/*.log; do
		[ -f "$f" ] || continue
		echo "---- $f (last 20 lines)" >&2
		tail -n 20 "$f" >&2
	done
}

t_fail() {
	echo "FAIL [$T_NAME]: $*" >&2
	T_FAILED=1
	t_dump_logs
	exit 1
}

t_cleanup() {
	local rc=$? pid
	trap - EXIT
	# An EXIT trap that ran a command before this one lost the status
	# (test_gameday once passed with a FAIL line): a t_fail still fails.
	[ "${T_FAILED:-0}" = 0 ] || [ "$rc" != 0 ] || rc=1
	for pid in "${T_BG_PIDS[@]}"; do
		kill -CONT "$pid" 2>/dev/null || true
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ -d "$T_ENV" ]; then
		bash "$T_DEMO/demo-env.sh" stop "$T_ENV" >/dev/null ||
			{ echo "FAIL [$T_NAME]: demo environment left running in $T_ENV" >&2; rc=1; }
	fi
	if [ "$rc" = 0 ] && [ -z "${T_KEEP:-}" ]; then
		rm -rf "$T_DIR"
	else
		echo "[$T_NAME] exit $rc, files kept in $T_DIR" >&2
	fi
	exit "$rc"
}
trap t_cleanup EXIT
trap 'exit 130' INT TERM

# t_wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 50 ms until
# it succeeds; fails the test after SECONDS.
t_wait_for() {
	local limit=$1 what=$2
	shift 2
	local deadline=$((SECONDS + limit))
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || t_fail "timed out after ${limit}s waiting for $what"
		sleep 0.05
	done
}

# t_env_start: starts the demo environment in the test's directory and
# exports its variables (FAULTLINE_DEMO_DIR, _PORT1, _PORT2, _HOME).
t_env_start() {
	bash "$T_DEMO/demo-env.sh" start "$T_ENV" >&2 || t_fail "demo environment did not start"
	# shellcheck disable=SC1091
	. "$T_ENV/env.sh"
}

# t_run ARG...: `faultline run ARG... --db T_DB`, bounded; sets T_RC to its
# exit code, keeps stdout in T_OUT and stderr in T_ERR.
t_run() {
	T_RC=0
	timeout --kill-after=10 "$T_RUN_CAP_S" "$FAULTLINE_BIN" run "$@" --db "$T_DB" \
		>"$T_DIR/run.out" 2>"$T_DIR/run.err" || T_RC=$?
	T_OUT=$(cat "$T_DIR/run.out")
	T_ERR=$(cat "$T_DIR/run.err")
	printf '%s\n' "$T_OUT" >&2
	[ -z "$T_ERR" ] || printf '%s\n' "$T_ERR" | tail -n 30 >&2
}

# t_runs_json: prints `faultline runs --json` for the test's database.
t_runs_json() {
	"$FAULTLINE_BIN" runs --json --db "$T_DB"
}

# t_run_field FIELD [INDEX]: prints one field of a run from `runs --json`
# (newest first, INDEX 0 by default): numbers as numbers, null as "null",
# arrays and objects as JSON.
t_run_field() {
	t_runs_json | python3 -c '
import json, sys
runs = json.load(sys.stdin)
run = runs[int(sys.argv[2])]
v = run[sys.argv[1]]
if v is None:
    print("null")
elif isinstance(v, (list, dict)):
    print(json.dumps(v))
elif isinstance(v, float) and v.is_integer():
    print(int(v))
else:
    print(v)
' "$1" "${2:-0}"
}

# t_check EXPR MESSAGE: python3 boolean expression over the numbers given as
# NAME=VALUE words before it, e.g. t_check 'rto > 0' "rto positive" rto=12.
t_check() {
	local expr=$1 msg=$2
	shift 2
	python3 -c '
import sys
env = {}
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    env[k] = None if v == "null" else float(v)
sys.exit(0 if eval(sys.argv[1], {}, env) else 1)
' "$expr" "$@" || t_fail "$msg ($expr with $*)"
}

# t_health PORT: prints the HTTP status of /health on 127.0.0.1:PORT.
t_health() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$1/health" || true
}

# t_db_ok FILE: true when FILE passes PRAGMA integrity_check.
t_db_ok() {
	[ "$(sqlite3 "$1" 'PRAGMA integrity_check' 2>&1)" = ok ]
}
