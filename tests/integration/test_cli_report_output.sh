#!/usr/bin/env bash
# test_cli_report_output.sh: how `faultline report` writes its file, and its
# format table as the command line shows it. No demo environment needed.
#
#  - the temporary file is created with a random name (mkstemp: O_EXCL,
#    0600) in the target directory and renamed into place: a symlink planted
#    at the old predictable name "<out>.tmp.<pid>" is never followed, so the
#    file it points at keeps its contents; the report ends up a regular 0600
#    file and no temporary file is left behind;
#  - --help lists every format of the table, and an unknown --format is one
#    usage line naming them, exit 2.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

db="$T_DIR/h.db"
"$FAULTLINE_FIXTURE_DIR/gen_history" --db "$db" --runs 20 --seed 3 >/dev/null ||
	t_fail "gen_history failed"
out_dir="$T_DIR/out"
mkdir -p "$out_dir"
victim="$T_DIR/victim"
printf 'precious\n' >"$victim"

for format in html json junit markdown; do
	out="$out_dir/report.$format"
	# The subshell knows the pid faultline will have (exec keeps it) and
	# plants the symlink where a predictable temporary name would be.
	rc=0
	(
		ln -s "$victim" "$out.tmp.$BASHPID"
		exec "$FAULTLINE_BIN" report --db "$db" --format "$format" -o "$out"
	) >"$T_DIR/stdout" 2>"$T_DIR/stderr" || rc=$?
	[ "$rc" = 0 ] || t_fail "report --format $format exited $rc: $(cat "$T_DIR/stderr")"
	[ "$(cat "$victim")" = precious ] ||
		t_fail "report --format $format followed a planted symlink into $victim"
	[ -f "$out" ] && [ ! -L "$out" ] || t_fail "$out is not a regular file"
	[ "$(stat -c %a "$out")" = 600 ] || t_fail "$out has mode $(stat -c %a "$out"), wanted 600"
	[ -s "$out" ] || t_fail "$out is empty"
	rm -f "$out_dir"/*.tmp.*
done
"$FAULTLINE_BIN" report --db "$db" --format json -o "$out_dir/again.json" >/dev/null
leftover=$(find "$out_dir" -name '*.tmp*' ! -type l)
[ -z "$leftover" ] || t_fail "temporary files left behind: $leftover"
grep -q '"schema": "faultline.report/1"' "$out_dir/again.json" || t_fail "json report lacks its schema"

# The format table as --help and --format show it.
help=$("$FAULTLINE_BIN" report --help)
for format in html json junit markdown; do
	grep -qE "^  $format +" <<<"$help" || t_fail "report --help does not list the $format format"
done
rc=0
"$FAULTLINE_BIN" report --db "$db" --format pdf >"$T_DIR/bad.out" 2>"$T_DIR/bad.err" || rc=$?
[ "$rc" = 2 ] || t_fail "--format pdf exited $rc, wanted 2"
[ "$(wc -l <"$T_DIR/bad.err")" = 1 ] || t_fail "--format pdf: not one line on stderr"
grep -qF "faultline report: --format must be one of html, json, junit, markdown, not 'pdf'" "$T_DIR/bad.err" ||
	t_fail "--format pdf said: $(cat "$T_DIR/bad.err")"
[ -s "$T_DIR/bad.out" ] && t_fail "--format pdf wrote to stdout"

# An output that is not a regular file (a fifo here, /dev/null for a user)
# is written to in place, never replaced by a renamed file.
fifo=$T_DIR/out.fifo
mkfifo "$fifo"
timeout 30 cat "$fifo" >"$T_DIR/fifo.read" &
reader=$!
rc=0
timeout 30 "$FAULTLINE_BIN" report --db "$db" --format json -o "$fifo" 2>"$T_DIR/fifo.err" || rc=$?
wait "$reader" || t_fail "nothing read from the fifo"
[ "$rc" = 0 ] || t_fail "report -o FIFO exited $rc: $(cat "$T_DIR/fifo.err")"
[ -p "$fifo" ] || t_fail "report -o FIFO replaced the fifo with a file"
grep -q '"scenarios"' "$T_DIR/fifo.read" || t_fail "the fifo's reader got no report"

# Every command of the table is in `faultline --help`.
top=$("$FAULTLINE_BIN" --help)
for cmd in validate run recover runs report gate; do
	grep -qE "^  $cmd +" <<<"$top" || t_fail "faultline --help does not list $cmd"
done
t_log "ok"
