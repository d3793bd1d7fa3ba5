#!/usr/bin/env bash
# No secrets in artefacts: a drill whose probe URL, probe argv, validation
# argv and exec fault argv and environment all carry ${FAULTLINE_TEST_SECRET}
# (a fresh random value), and whose environment has a target URL with the
# secret as password and in its query, runs against the demo environment,
# once for real (its validation checks fail on purpose, an http one on the
# secret-carrying URLs among them, so the error paths run too) and
# once with --dry-run; then `faultline runs --json` and every report format
# are produced. The secret must appear in none of: stdout and stderr of each
# command, the database file (and its WAL) and its SQL dump, the reports.
# Every place it shows up is listed, so the owner knows what to fix. The
# store and the reports must be readable by their owner only (no group or
# other permission bits).
. "$(dirname "$0")/lib.sh"

t_env_start
secret="fl-secret-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export FAULTLINE_TEST_SECRET=$secret
scenario=$T_DIR/secret-drill.json
# The demo environment, with api-2's URL carrying the secret as a password
# and a query parameter (expanded by the loader, like every ${VAR}).
envfile=$T_DIR/secret-env.json
# shellcheck disable=SC2016 # literal ${VAR} text for faultline to expand
sed 's|"http://127.0.0.1:${FAULTLINE_DEMO_PORT2}/"|"http://svc:${FAULTLINE_TEST_SECRET}@127.0.0.1:${FAULTLINE_DEMO_PORT2}/health?token=${FAULTLINE_TEST_SECRET}"|' \
	"$FAULTLINE_SOURCE_DIR/scenarios/env/demo.json" >"$envfile"
# shellcheck disable=SC2016 # the literal reference
grep -q 'svc:${FAULTLINE_TEST_SECRET}@' "$envfile" || t_fail "could not put the secret into api-2's URL"
cat >"$scenario" <<JSON
{
  "name": "secret-drill",
  "secrets": ["FAULTLINE_TEST_SECRET"],
  "description": "test_secrets.sh: the secret rides in URLs, argv vectors and an environment",
  "environment": "$envfile",
  "targets": { "rto": "30s", "rpo": "0s" },
  "probes": [
    { "name": "api", "type": "http", "target": "api-1",
      "url": "http://127.0.0.1:\${FAULTLINE_DEMO_PORT1}/health?token=\${FAULTLINE_TEST_SECRET}",
      "interval": "50ms", "timeout": "500ms", "expect_status": 200, "availability": true },
    { "name": "token-probe", "type": "command",
      "argv": ["test", "-n", "\${FAULTLINE_TEST_SECRET}"], "interval": "200ms" }
  ],
  "faults": [
    { "name": "exec-with-secret", "injector": "exec", "target": "api-1",
      "inject": ["true", "--token=\${FAULTLINE_TEST_SECRET}"],
      "revert": ["true", "--token=\${FAULTLINE_TEST_SECRET}"],
      "env": { "API_TOKEN": "\${FAULTLINE_TEST_SECRET}" } }
  ],
  "recovery": [ { "name": "settle", "wait_for": "api", "timeout": "10s" } ],
  "validation": [
    { "name": "target-url-check", "type": "http", "target": "api-2",
      "expect_body": "text-the-demo-never-serves", "timeout": "1s" },
    { "name": "url-check", "type": "http",
      "url": "http://svc:\${FAULTLINE_TEST_SECRET}@127.0.0.1:\${FAULTLINE_DEMO_PORT1}/health?token=\${FAULTLINE_TEST_SECRET}",
      "expect_status": 418, "timeout": "1s" },
    { "name": "token-check", "type": "command",
      "argv": ["false", "--token=\${FAULTLINE_TEST_SECRET}"], "timeout": "1s" }
  ],
  "stability_window": "200ms",
  "steady_state": "300ms",
  "timeout": "1m"
}
JSON

out=$T_DIR/out
mkdir -p "$out"
# cmd NAME ARG...: runs faultline ARG..., keeping stdout and stderr per NAME.
cmd() {
	local name=$1
	shift
	local rc=0
	timeout --kill-after=10 "$T_RUN_CAP_S" "$FAULTLINE_BIN" "$@" \
		>"$out/$name.stdout" 2>"$out/$name.stderr" || rc=$?
	t_log "faultline $1 ($name) exited $rc"
	echo "$rc"
}

rc=$(cmd validate validate "$scenario")
[ "$rc" = 0 ] || { cat "$out/validate.stderr" >&2; t_fail "the secret drill does not validate"; }
rc=$(cmd dry-run run "$scenario" --db "$T_DB" --dry-run)
[ "$rc" = 0 ] || { cat "$out/dry-run.stderr" >&2; t_fail "--dry-run exited $rc"; }
rc=$(cmd run run "$scenario" --db "$T_DB")
# The validation checks fail on purpose: exit 1 (a gate failed) is expected.
[ "$rc" = 1 ] || { cat "$out/run.stderr" >&2; t_fail "faultline run exited $rc, wanted 1 (validation fails)"; }
# The failing http checks must have reached the messages, redacted: else
# this test would pass for want of a message to leak through.
grep -q 'HTTP 200 from http://redacted@127.0.0.1:[0-9]*/health?redacted' "$out/run.stdout" ||
	{ cat "$out/run.stdout" >&2; t_fail "no redacted URL in the failing http validation's message"; }
rc=$(cmd run-json run "$scenario" --db "$T_DB" --json --quiet)
[ "$rc" = 1 ] || t_fail "faultline run --json exited $rc, wanted 1"
rc=$(cmd recover recover --db "$T_DB")
[ "$rc" = 0 ] || t_fail "faultline recover exited $rc"
rc=$(cmd runs runs --db "$T_DB")
rc=$(cmd runs-json runs --json --db "$T_DB")
[ "$rc" = 0 ] || t_fail "faultline runs --json exited $rc"
grep -q secret-drill "$out/runs-json.stdout" || t_fail "the drill's runs are not in the store"
for fmt in html json junit markdown; do
	rc=$(cmd "report-$fmt" report --db "$T_DB" --format "$fmt" -o "$out/report.$fmt")
	[ "$rc" = 0 ] || { cat "$out/report-$fmt.stderr" >&2; t_fail "report --format $fmt exited $rc"; }
	[ -s "$out/report.$fmt" ] || t_fail "report --format $fmt wrote nothing"
done
sqlite3 "$T_DB" .dump >"$out/db.dump.sql"

# Where is the secret? Every artefact, binary files included.
leaks=()
for f in "$T_DB" "$T_DB-wal" "$out"/*; do
	[ -f "$f" ] || continue
	if grep -a -q -F "$secret" "$f"; then
		where=$(grep -a -n -o -F -m 3 "$secret" "$f" | cut -d: -f1 | tr '\n' ' ')
		leaks+=("$(basename "$f") (lines $where)")
		t_log "secret found in $f; first context:"
		grep -a -F -m 1 "$secret" "$f" | cut -c1-300 >&2
	fi
done
# The SQL dump names the table: say which ones hold it.
if grep -a -q -F "$secret" "$out/db.dump.sql"; then
	tables=$(grep -a -F "$secret" "$out/db.dump.sql" | sed -n 's/^INSERT INTO \([a-z_"]*\).*/\1/p' |
		sort -u | tr '\n' ' ')
	leaks+=("store tables: $tables")
fi

# Permissions: owner only.
perms=()
for f in "$T_DB" "$out"/report.*; do
	mode=$(stat -c %a "$f")
	(( (8#$mode & 8#077) == 0 )) || perms+=("$(basename "$f") mode $mode")
done

problems=()
[ "${#leaks[@]}" = 0 ] || problems+=("the secret leaked into: ${leaks[*]}")
[ "${#perms[@]}" = 0 ] || problems+=("readable by others: ${perms[*]}")
[ "${#problems[@]}" = 0 ] || t_fail "$(printf '%s; ' "${problems[@]}")"
t_log "pass: the secret is in no output, store or report; store and reports are 0600"
