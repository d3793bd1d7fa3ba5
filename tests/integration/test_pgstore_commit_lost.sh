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
#
# Then a connection that goes silent (the server's host gone, a partition:
# no RST, packets just vanish) must be seen as broken in seconds: faultline's
# connections carry keepalives and tcp_user_timeout 5 s (core/store_pg.c),
# so the next write fails on it and fl_pg_tx reconnects. Without them that
# write waited for TCP's retransmissions to give up (about 15 minutes).
# store_runner records one run, then holds its connections open until told
# to go on; meanwhile an nftables rule (table inet faultline_t_pgsilent_PID,
# matching only the runner's established connections: their client ports
# and the server's port) drops every packet of them, both ways; new
# connections pass. The second run must be stored within 20 s (logged).
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
t_log "writes whose COMMIT was cut were repeated only when not committed"

command -v nft >/dev/null || t_fail "nft is not installed (ci/lib.sh lists nftables)"
TABLE=faultline_t_pgsilent_$$
silent_off() { nft delete table inet "$TABLE" 2>/dev/null || true; }
# shellcheck disable=SC2154  # sil_rc is set inside the trap itself
trap 'sil_rc=$?; silent_off; pg_stop; set +e; (exit "$sil_rc"); t_cleanup' EXIT
url="$PG_URL?sslmode=disable&gssencmode=disable"
FAULTLINE_PG_RETRY_S=30 "$FAULTLINE_FIXTURE_DIR/store_runner" --db "$url" --tag silent --runs 2 \
	--pause-file "$T_DIR/go" >"$T_DIR/runner-silent.out" 2>"$T_DIR/runner-silent.err" &
runner=$!
T_BG_PIDS+=("$runner")
one_run() { [ "$(pg_sql "SELECT count(*) FROM runs WHERE label = 'silent'")" = 1 ]; }
t_wait_for 30 "the runner's first run" one_run
mapfile -t ports < <(ss -Htnp state established "( dport = :$PG_PORT )" |
	grep "pid=$runner," | awk '{ n = split($3, a, ":"); print a[n] }')
[ "${#ports[@]}" -ge 1 ] || t_fail "no connection of the runner (pid $runner) to port $PG_PORT"
rules=""
for p in "${ports[@]}"; do
	rules+="tcp sport $p tcp dport $PG_PORT drop; tcp sport $PG_PORT tcp dport $p drop; "
done
nft "add table inet $TABLE { chain out { type filter hook output priority 0; policy accept; $rules}; }" ||
	t_fail "cannot add the nftables rules"
t_log "silent: dropping every packet of ${#ports[@]} connection(s) of the runner (ports ${ports[*]})"
start=$(date +%s%N)
touch "$T_DIR/go"
deadline=$((SECONDS + 20))
while kill -0 "$runner" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
kill -0 "$runner" 2>/dev/null && t_fail "silent: the runner still waits 20 s after its connection went silent"
rc=0
wait "$runner" || rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
[ "$rc" = 0 ] || t_fail "silent: the runner exited $rc: $(cat "$T_DIR/runner-silent.err")"
got=$(pg_sql "SELECT count(*) || ' ' || count(*) FILTER (WHERE verdict = 'pass') FROM runs WHERE label = 'silent'")
[ "$got" = "2 2" ] || t_fail "silent: runs (all, passed): $got, wanted 2 2"
got=$(pg_sql "SELECT count(*) FILTER (WHERE state = 'reverted') FROM journal WHERE target = 'silent'")
[ "$got" = 2 ] || t_fail "silent: $got journal rows reverted, wanted 2"
t_log "pass: cut COMMITs repeated only when not committed; after its connection went silent the next run was stored in $ms ms"
