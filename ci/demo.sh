#!/usr/bin/env bash
# ci/demo.sh: the demo. Builds faultline (Release); as root, brings up the
# reference sandbox and runs the three seed drills against it (instance kill,
# AZ outage, data corruption with point-in-time restore), tearing it down on
# every exit; otherwise (or with FAULTLINE_DEMO_ENV=local) starts the local
# demo environment (two supervised instances of scenarios/demo/service.py)
# in a temporary directory and runs the three local drills. Prints the
# verdict table, where the results are, and writes report.html.
#
# FAULTLINE_DB (default faultline.db in the working directory) names the
# results database; runs accumulate there across demos. FAULTLINE_BUILD
# overrides the build directory (default build/).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

db=${FAULTLINE_DB:-faultline.db}
case $db in /*) ;; *) db="$PWD/$db" ;; esac

ci_install_deps
build=${FAULTLINE_BUILD:-$FAULTLINE_ROOT/build}
# Warnings are CI's business (ci/test.sh builds with -Werror); the demo must
# not refuse to run over one the optimizer found.
ci_configure "$build" Release -DFAULTLINE_WERROR=OFF -DFAULTLINE_SANITIZE=
ci_log "build $build (faultline)"
cmake --build "$build" -j "$FAULTLINE_JOBS" --target faultline
bin="$build/faultline"

# As root the demo runs against the reference sandbox (PostgreSQL + Patroni
# in two zones, etcd, HAProxy, pgBackRest); otherwise, or with
# FAULTLINE_DEMO_ENV=local, against the engine's own demo environment.
if [ "$(id -u)" = 0 ] && [ "${FAULTLINE_DEMO_ENV:-sandbox}" = sandbox ]; then
	# shellcheck source=ci/demo_sandbox.sh
	. "$FAULTLINE_ROOT/ci/demo_sandbox.sh"
	rc=0
	demo_sandbox "$bin" "$db" || rc=$?
	echo
	echo "results: $db   (faultline runs --db $db)"
	report="$(dirname "$db")/report.html"
	if "$bin" report --db "$db" --format html -o "$report"; then
		echo "report:  $report"
	fi
	case $rc in
	0) echo "demo: every sandbox drill passed" ;;
	1) echo "demo: a sandbox drill missed its target (see the table above)" ;;
	*) echo "demo: faultline run exited $rc" ;;
	esac
	exit "$rc"
fi
if [ "$(id -u)" != 0 ]; then
	echo "ci/demo.sh: not root, so not the reference sandbox (it needs network namespaces): running the local demo environment instead"
fi

envdir=$(mktemp -d "${TMPDIR:-/tmp}/faultline-demo.XXXXXX")
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	bash "$FAULTLINE_ROOT/scenarios/demo/demo-env.sh" stop "$envdir/env" >/dev/null 2>&1 ||
		echo "ci/demo.sh: could not stop the demo environment in $envdir/env" >&2
	rm -rf "$envdir"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ci_log "starting the demo environment"
bash "$FAULTLINE_ROOT/scenarios/demo/demo-env.sh" start "$envdir/env"
# shellcheck disable=SC1091
. "$envdir/env/env.sh"

ci_log "running the demo drills"
rc=0
"$bin" run \
	"$FAULTLINE_ROOT/scenarios/demo-instance-kill.json" \
	"$FAULTLINE_ROOT/scenarios/demo-data-corruption.json" \
	"$FAULTLINE_ROOT/scenarios/demo-pause.json" \
	--db "$db" --label demo || rc=$?

echo
echo "results: $db   (faultline runs --db $db)"
if "$bin" report --help >/dev/null 2>&1; then
	report="$(dirname "$db")/report.html"
	if "$bin" report --db "$db" --format html -o "$report"; then
		echo "report:  $report"
	fi
fi
case $rc in
0) echo "demo: every drill passed" ;;
1) echo "demo: a drill missed its target (see the table above)" ;;
*) echo "demo: faultline run exited $rc" ;;
esac
exit "$rc"
