#!/usr/bin/env bash
# faultline-delayq runs as root and writes its stats file where the
# injector tells it. It must create that file itself (O_EXCL|O_NOFOLLOW,
# 0600) before it does anything else: a symlink or file someone planted at
# the name is refused with one line and exit 3, and the file it points at is
# neither followed nor truncated. No queue is bound, so no root is needed.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dq="$FAULTLINE_BUILD_DIR/faultline-delayq"
[ -x "$dq" ] || t_fail "$dq is not built"

victim="$T_DIR/victim"
printf 'precious\n' >"$victim"
ln -s "$victim" "$T_DIR/stats-link"
printf 'planted\n' >"$T_DIR/stats-file"

for planted in stats-link stats-file; do
	rc=0
	# Without the fix the program goes on to bind the queue and waits for
	# packets: the timeout turns that into a failure, not a hang.
	timeout --kill-after=5 10 "$dq" --queue 65000 --delay 1000000 \
		--stats "$T_DIR/$planted" >"$T_DIR/out" 2>"$T_DIR/err" || rc=$?
	[ "$rc" = 3 ] || t_fail "a planted $planted: exit $rc, wanted 3 ($(cat "$T_DIR/err"))"
	[ "$(wc -l <"$T_DIR/err")" = 1 ] || t_fail "a planted $planted: not one line on stderr"
	grep -qF "cannot create stats file $T_DIR/$planted: File exists" "$T_DIR/err" ||
		t_fail "a planted $planted: said $(cat "$T_DIR/err")"
done
[ "$(cat "$victim")" = precious ] || t_fail "the symlink was followed: $victim now holds $(cat "$victim")"
[ -L "$T_DIR/stats-link" ] || t_fail "the planted symlink was replaced"
[ "$(cat "$T_DIR/stats-file")" = planted ] || t_fail "the planted file was truncated"
t_log "ok"
