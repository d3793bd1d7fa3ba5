#!/usr/bin/env bash
# ci/demo.sh: the five-minute demo. Builds faultline (Release), starts the
# demo environment (two supervised instances of scenarios/demo/service.py) in
# a temporary directory, runs the three demo drills that should pass and
# prints the verdict table and where the results are. The environment is
# stopped on every exit, Ctrl-C included.
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
