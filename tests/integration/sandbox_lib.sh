# shellcheck shell=bash
# tests/integration/sandbox_lib.sh: what the sandbox drill tests share
# (sourced after lib.sh's variables are known).
#
# Owns: the root check (exit 77 = skipped, never passed), bringing the
# reference sandbox up once per test file, tearing it down on every exit and
# failing the test when anything is left behind, running one sandbox drill
# with a bound (a hung drill fails with its timeline printed), and small
# readers over the run's JSON. Does not own: what a test asserts, the
# sandbox itself (scenarios/sandbox/sandbox.sh) or the drills' steps
# (scenarios/sandbox/drill.sh).
#
# ctest runs every test_sandbox_* test under RESOURCE_LOCK sandbox (one
# sandbox per machine: fixed namespaces, ports and state dir).

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root (network namespaces, nftables, the postgres user)"
	exit 77
fi

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

S_SBX="$FAULTLINE_SOURCE_DIR/scenarios/sandbox/sandbox.sh"
S_DRILL="$FAULTLINE_SOURCE_DIR/scenarios/sandbox/drill.sh"
export FAULTLINE_SANDBOX_DIR=${FAULTLINE_SANDBOX_DIR:-/var/lib/faultline-sandbox}
# One sandbox drill runs 15-60 s; its own timeout is 3-5 minutes.
T_RUN_CAP_S=330
S_UP=0

s_cleanup() {
	local rc=$? out
	if [ "$S_UP" = 1 ]; then
		if ! out=$("$S_SBX" down 2>&1); then
			echo "FAIL [$T_NAME]: sandbox tear-down: $out" >&2
			rc=1
		else
			t_log "$out"
		fi
		# sandbox.sh down checks its own leftovers; check the visible ones
		# here too, independently of its code.
		for ns in az-a az-b az-c; do
			if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
				echo "FAIL [$T_NAME]: namespace $ns left behind" >&2
				rc=1
			fi
		done
		if ip link show flsbx0 >/dev/null 2>&1 || [ -e "$FAULTLINE_SANDBOX_DIR" ]; then
			echo "FAIL [$T_NAME]: bridge flsbx0 or $FAULTLINE_SANDBOX_DIR left behind" >&2
			rc=1
		fi
	fi
	(exit "$rc")
	t_cleanup
}
trap s_cleanup EXIT

# s_up: provisions (or converges) the sandbox and loads its env.sh.
s_up() {
	local out
	S_UP=1
	out=$("$S_SBX" up 2>&1) || t_fail "sandbox up: $out"
	t_log "$out"
	# shellcheck disable=SC1091
	. "$FAULTLINE_SANDBOX_DIR/env.sh"
	"$S_SBX" status >/dev/null || t_fail "sandbox unhealthy right after up: $("$S_SBX" status 2>&1 | tr '\n' ';')"
}

s_leader() { "$S_DRILL" _leader; }

# s_drill NAME WANT_RC: runs scenarios/NAME.json; fails unless it exits
# WANT_RC. A drill that outlives T_RUN_CAP_S is killed and the test fails
# with everything it printed (its timeline) and the stored run, if any.
s_drill() {
	local name=$1 want=$2
	t_log "drill $name"
	t_run "$T_SCENARIOS/$name.json" --label "it-$name"
	if [ "$T_RC" = 124 ] || [ "$T_RC" = 137 ]; then
		echo "---- timeline of the hung drill $name:" >&2
		printf '%s\n' "$T_OUT" "$T_ERR" >&2
		"$FAULTLINE_BIN" runs --db "$T_DB" >&2 2>&1 || true
		t_fail "drill $name hung: killed after ${T_RUN_CAP_S}s"
	fi
	[ "$T_RC" = "$want" ] || t_fail "drill $name exited $T_RC, wanted $want"
	[ "$(t_run_field scenario)" = "$name" ] || t_fail "newest run is not $name"
}

# s_phase_ms NAME: duration of the newest run's phase NAME in ms ("null" if absent).
s_phase_ms() {
	t_runs_json | python3 -c '
import json, sys
run = json.load(sys.stdin)[0]
d = [p["end_ms"] - p["start_ms"] for p in run["phases"] if p["name"] == sys.argv[1]]
print(round(d[0]) if d else "null")' "$1"
}

# s_writes FIELD: acked | failed | indeterminate of the newest run.
s_writes() {
	t_runs_json | python3 -c '
import json, sys
w = json.load(sys.stdin)[0]["writes"]
print("null" if w is None else w[sys.argv[1]])' "$1"
}
