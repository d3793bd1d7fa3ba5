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
	local bin=$1 db=$2 sbx rc=0 one sc
	sbx="$FAULTLINE_ROOT/scenarios/sandbox/sandbox.sh"
	export FAULTLINE_SANDBOX_DIR=${FAULTLINE_SANDBOX_DIR:-/var/lib/faultline-sandbox}
	# Each seed drill gets a freshly provisioned sandbox: after one failover
	# drill, the AZ-outage drill's switchover can leave Patroni with no
	# synchronous standby, and then nobody may be promoted (an open bug,
	# docs/drills.md). A fresh sandbox costs ~25 s and measures each drill
	# from the same starting point.
	for sc in sandbox-leader-crash sandbox-az-outage sandbox-data-corruption; do
		ci_log "bringing the sandbox up for $sc (PostgreSQL + Patroni in az-a/az-b, etcd in az-c, HAProxy, pgBackRest)"
		"$sbx" up || return 3
		one=0
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
			ci_log "running $sc"
			"$bin" run "$FAULTLINE_ROOT/scenarios/$sc.json" --db "$db" --label demo-sandbox
		) || one=$?
		# Keep the most severe outcome: interrupted > environment > input > missed.
		case $one in
		130) return 130 ;;
		3) rc=3 ;;
		2) [ "$rc" = 3 ] || rc=2 ;;
		1) [ "$rc" != 0 ] || rc=1 ;;
		esac
	done
	return "$rc"
}
