#!/usr/bin/env bash
# test_cli_help_recover.sh: command-line contract details found in the
# first-time-user review, no demo environment needed.
#
#  - every option a command's usage line shows is explained in its --help
#    (one "  --option" line), so an operator at 3 a.m. does not have to
#    open the README to learn what --title or --gate-file does;
#  - `faultline recover --db PATH` on a path that does not exist says so,
#    exits 0 (nothing was journaled there) and does not create the file: a
#    mistyped --db must not be answered with a fresh database and a plain
#    "nothing left open";
#  - `faultline recover --db` without a value is a usage error (exit 2, one
#    line on stderr, nothing on stdout), not "unknown argument '--db'".
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --help of every command: each [--option] of the usage lines has its line.
for cmd in validate run recover runs report gate; do
	help="$T_DIR/$cmd.help"
	"$FAULTLINE_BIN" "$cmd" --help >"$help" 2>"$T_DIR/$cmd.help.err" ||
		t_fail "faultline $cmd --help exited non-zero"
	[ -s "$T_DIR/$cmd.help.err" ] && t_fail "faultline $cmd --help wrote to stderr"
	# The usage block runs until the first empty line.
	usage=$(sed '/^$/q' "$help")
	opts=$(grep -o '\[--[a-z-]*' <<<"$usage" | sed 's/^\[//' | sort -u)
	[ -n "$opts" ] || t_fail "faultline $cmd --help: no options in its usage line"
	for o in $opts; do
		grep -qE "^  $o( |$)" "$help" ||
			t_fail "faultline $cmd --help shows $o in its usage but does not explain it"
	done
done

# recover on a database that does not exist.
missing="$T_DIR/typo/faultline.db"
mkdir -p "$T_DIR/typo"
rc=0
"$FAULTLINE_BIN" recover --db "$missing" >"$T_DIR/rec.out" 2>"$T_DIR/rec.err" || rc=$?
[ "$rc" = 0 ] || t_fail "recover on a missing database exited $rc, wanted 0"
[ ! -e "$missing" ] || t_fail "recover created $missing"
[ -z "$(ls -A "$T_DIR/typo")" ] || t_fail "recover left files in $T_DIR/typo: $(ls -A "$T_DIR/typo")"
grep -qF "$missing does not exist" "$T_DIR/rec.out" ||
	t_fail "recover did not say the database does not exist: $(cat "$T_DIR/rec.out")"
[ -s "$T_DIR/rec.err" ] && t_fail "recover wrote to stderr: $(cat "$T_DIR/rec.err")"

# An existing file still goes through the store: an empty file is a new
# database (schema version 0), so recover migrates it and finds nothing open.
: >"$T_DB"
rc=0
"$FAULTLINE_BIN" recover --db "$T_DB" >"$T_DIR/rec2.out" 2>"$T_DIR/rec2.err" || rc=$?
[ "$rc" = 0 ] || t_fail "recover on an empty file exited $rc: $(cat "$T_DIR/rec2.err")"
grep -qF "nothing left open in $T_DB" "$T_DIR/rec2.out" ||
	t_fail "recover on an empty file said: $(cat "$T_DIR/rec2.out")"
[ "$(sqlite3 "$T_DB" 'PRAGMA user_version')" -ge 1 ] ||
	t_fail "recover did not open $T_DB as a faultline store"

# --db without a value.
rc=0
"$FAULTLINE_BIN" recover --db >"$T_DIR/nov.out" 2>"$T_DIR/nov.err" || rc=$?
[ "$rc" = 2 ] || t_fail "recover --db without a value exited $rc, wanted 2"
[ -s "$T_DIR/nov.out" ] && t_fail "recover --db without a value wrote to stdout"
[ "$(wc -l <"$T_DIR/nov.err")" = 1 ] || t_fail "recover --db without a value: not one line on stderr"
grep -qF -- "--db needs a value" "$T_DIR/nov.err" ||
	t_fail "recover --db without a value said: $(cat "$T_DIR/nov.err")"

t_log "ok"
