#!/usr/bin/env bash
# Quoting through a real sshd: every nasty word of tests/unit/test_ssh.c
# comes back byte for byte from the remote shell and none of them runs
# anything (its canary file never appears); stdin data and exit statuses
# travel intact; a host whose link is down is retried a bounded number of
# times, then named in the error.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/ssh_lib.sh
source "$(dirname "$0")/ssh_lib.sh"

unit="${FAULTLINE_BUILD_DIR:?}/tests/test_ssh"
[ -x "$unit" ] || t_fail "$unit not built"
s_host_add alpha 0
s_host_add dead 1
s_link_cut dead
FAULTLINE_SSH_TEST_CONFIG="$S_CONFIG" FAULTLINE_SSH_TEST_DEST=alpha FAULTLINE_SSH_TEST_DEAD=dead \
	"$unit" >"$T_DIR/unit.log" 2>&1 || { cat "$T_DIR/unit.log" >&2; t_fail "test_ssh against sshd failed"; }
grep -q 'SKIPPED' "$T_DIR/unit.log" && { cat "$T_DIR/unit.log" >&2; t_fail "remote cases skipped with sshd up"; }
t_log "ok: nasty words round-tripped through sshd, nothing ran, unreachable host named"
