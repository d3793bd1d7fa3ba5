#!/usr/bin/env bash
# The connection to the PostgreSQL store breaks around a COMMIT (a failover
# behind the same address, seen from the runner). A proxy between the
# runner and the server cuts one COMMIT of each write a drill makes: the
# run's insert, the journal row, its `injected` and `reverted` marks, and
# the finished run. "before": the COMMIT never reached the server, so the
# transaction is run again on a new connection. "after": the server
# committed and the answer was lost: the runner must find its write
# committed and NOT repeat it (a repeated journal move would be refused, a
# repeated insert a duplicate). Either way: every run and journal row once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg_lib.sh"

: "${FAULTLINE_FIXTURE_DIR:?FAULTLINE_FIXTURE_DIR must name the fixture build directory}"
pg_start
# The schema first, directly: the migrations' text names the states too.
"$FAULTLINE_BIN" runs --db "$PG_URL" >/dev/null || t_fail "cannot create the schema"
# The marks are told apart by their bound state: a retried `injected` mark
# must not be cut again as if it were the `reverted` one.
PATTERNS=("INSERT INTO runs" "INSERT INTO journal" "injected" "reverted" "UPDATE runs SET (")

for mode in before after; do
	rm -f "$T_DIR/port"
	python3 "$(dirname "$0")/pg_drop_proxy.py" "$T_DIR/port" "$PG_PORT" "$mode" "${PATTERNS[@]}" \
		>"$T_DIR/proxy-$mode.out" 2>&1 &
	proxy=$!
	T_BG_PIDS+=("$proxy")
	t_wait_for 10 "the proxy's port" test -s "$T_DIR/port"
	url="postgresql://postgres@127.0.0.1:$(cat "$T_DIR/port")/postgres?sslmode=disable&gssencmode=disable"
	rc=0
	FAULTLINE_PG_RETRY_S=20 timeout 60 "$FAULTLINE_FIXTURE_DIR/store_runner" --db "$url" --tag "$mode" \
		--runs 3 >"$T_DIR/runner-$mode.out" 2>"$T_DIR/runner-$mode.err" || rc=$?
	kill "$proxy" 2>/dev/null || true
	wait "$proxy" 2>/dev/null || true
	[ "$rc" = 0 ] || t_fail "$mode: the runner exited $rc: $(cat "$T_DIR/runner-$mode.err")"
	cuts=$(grep -c '^cut ' "$T_DIR/proxy-$mode.out" || true)
	[ "$cuts" = "${#PATTERNS[@]}" ] ||
		t_fail "$mode: the proxy cut $cuts COMMIT(s), wanted ${#PATTERNS[@]}: $(cat "$T_DIR/proxy-$mode.out")"
	got=$(pg_sql "SELECT count(*) || ' ' || count(*) FILTER (WHERE verdict = 'pass') FROM runs WHERE label = '$mode'")
	[ "$got" = "3 3" ] || t_fail "$mode: runs (all, passed): $got, wanted 3 3"
	got=$(pg_sql "SELECT count(*) || ' ' || count(*) FILTER (WHERE state = 'reverted') FROM journal WHERE target = '$mode'")
	[ "$got" = "3 3" ] || t_fail "$mode: journal rows (all, reverted): $got, wanted 3 3"
	got=$(pg_sql "SELECT count(*) FROM run_phases p JOIN runs r ON r.id = p.run_id WHERE r.label = '$mode'")
	[ "$got" = 6 ] || t_fail "$mode: $got phase rows, wanted 6 (2 a run, never doubled)"
	t_log "$mode: ${#PATTERNS[@]} COMMITs cut; 3 runs and 3 journal rows, each once"
done
t_log "pass: writes whose COMMIT was cut were repeated only when not committed"
