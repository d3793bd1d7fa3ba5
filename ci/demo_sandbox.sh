# shellcheck shell=bash
# ci/demo_sandbox.sh: the demo against the reference sandbox (sourced by
# ci/demo.sh, which has ci/lib.sh loaded). Owns: bringing the sandbox up
# (scenarios/sandbox/sandbox.sh installs what is missing), running the three
# seed drills back to back on that one sandbox — instance kill (leader
# crash), data corruption (pgBackRest point-in-time restore), AZ outage
# (playbook restore) — and
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
	# One sandbox for the three drills, back to back: each drill's prepare
	# step and its steady-state probe (drill.sh replication-ok) wait for, or
	# refuse without, a whole synchronous pair, and each drill's recovery
	# converges the cluster back to one (docs/drills.md).
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
		worst=0
		for sc in sandbox-leader-crash sandbox-data-corruption sandbox-az-outage; do
			ci_log "running $sc"
			one=0
			"$bin" run "$FAULTLINE_ROOT/scenarios/$sc.json" --db "$db" --label demo-sandbox || one=$?
			# Keep the most severe outcome: interrupted > environment > input > missed.
			case $one in
			130) exit 130 ;;
			3) worst=3 ;;
			2) [ "$worst" = 3 ] || worst=2 ;;
			1) [ "$worst" != 0 ] || worst=1 ;;
			esac
		done
		exit "$worst"
	) || rc=$?
	return "$rc"
}
