#!/usr/bin/env bash
# faultline-drills.sh: one unattended drill round — what the systemd timer
# (faultline-drills.timer) and the cron line (crontab.example) run.
#
# usage: faultline-drills.sh SCENARIO...
#
# Environment (set in the unit's EnvironmentFile or the crontab):
#   FAULTLINE_BIN       faultline binary (default: faultline in PATH)
#   FAULTLINE_DB        the store (default /var/lib/faultline/faultline.db)
#   FAULTLINE_LOCK_DIR  where the per-environment locks live (default
#                       /run/lock): a round that finds its environment being
#                       drilled exits 3 naming the holder instead of overlapping
#   FAULTLINE_NOTIFY    optional notification channel file (docs/gameday.md)
#   FAULTLINE_METRICS   optional textfile for node_exporter (*.prom)
#   FAULTLINE_INVENTORY optional inventory, for the staleness series
#
# A degraded steady state is recorded by `faultline run` itself (the run is
# stored with verdict "error", "steady state not reached ...; nothing was
# injected"), so this script never injects into an unhealthy system.
# Exit: faultline run's code (0 pass, 1 target missed, 2 bad input,
# 3 environment not ready / locked / not reverted, 130 interrupted).
set -uo pipefail

bin=${FAULTLINE_BIN:-faultline}
export FAULTLINE_DB=${FAULTLINE_DB:-/var/lib/faultline/faultline.db}
export FAULTLINE_LOCK_DIR=${FAULTLINE_LOCK_DIR:-/run/lock}
[ $# -gt 0 ] || { echo "usage: faultline-drills.sh SCENARIO..." >&2; exit 2; }

rc=0
"$bin" run --quiet "$@" || rc=$?
if [ -n "${FAULTLINE_METRICS:-}" ]; then
	args=(metrics -o "$FAULTLINE_METRICS")
	[ -z "${FAULTLINE_INVENTORY:-}" ] || args+=(--inventory "$FAULTLINE_INVENTORY")
	# Metrics are written even after a failed round: that is when they matter.
	"$bin" "${args[@]}" || { m=$?; [ "$rc" != 0 ] || rc=$m; }
fi
exit "$rc"
