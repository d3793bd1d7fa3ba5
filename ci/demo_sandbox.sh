# shellcheck shell=bash
# ci/demo_sandbox.sh: the demo against the reference sandbox (sourced by
# ci/demo.sh, which has ci/lib.sh loaded). Owns: bringing the sandbox up
# (scenarios/sandbox/sandbox.sh installs what is missing), running the three
# seed drills against it — instance kill (leader crash), AZ outage (playbook
# restore), data corruption (pgBackRest point-in-time restore; last, see
# docs/drills.md) — and
# tearing it down on every exit. Does not own: building faultline or choosing
# between this and the demo environment (ci/demo.sh: root → sandbox).
#
# demo_sandbox BIN DB: runs the drills with faultline BIN into results DB;
# returns faultline's exit code (0 all passed, 1 a target missed, 3 the
# sandbox could not be prepared).
demo_sandbox() {
	local bin=$1 db=$2 sbx rc=0
	sbx="$FAULTLINE_ROOT/scenarios/sandbox/sandbox.sh"
	export FAULTLINE_SANDBOX_DIR=${FAULTLINE_SANDBOX_DIR:-/var/lib/faultline-sandbox}
	ci_log "bringing the sandbox up (PostgreSQL + Patroni in az-a/az-b, etcd in az-c, HAProxy, pgBackRest)"
	"$sbx" up || return 3
	# The sandbox goes down whatever happens next; a subshell keeps the
	# trap from replacing the caller's.
	(
		# shellcheck disable=SC2317  # invoked by the trap
		down() {
			trap - EXIT
			ci_log "tearing the sandbox down"
			"$sbx" down >&2 || echo "ci/demo.sh: sandbox tear-down failed (see above)" >&2
		}
		trap down EXIT
		trap 'exit 130' INT TERM
		# shellcheck disable=SC1091
		. "$FAULTLINE_SANDBOX_DIR/env.sh"
		ci_log "running the sandbox drills"
		"$bin" run \
			"$FAULTLINE_ROOT/scenarios/sandbox-leader-crash.json" \
			"$FAULTLINE_ROOT/scenarios/sandbox-az-outage.json" \
			"$FAULTLINE_ROOT/scenarios/sandbox-data-corruption.json" \
			--db "$db" --label demo-sandbox
	) || rc=$?
	return "$rc"
}
