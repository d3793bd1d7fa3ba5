#!/usr/bin/env bash
# A PostgreSQL store connection that goes silent (the server's host gone, a
# partition: no RST, packets just vanish) is seen as broken in seconds:
# faultline's connections carry keepalives and tcp_user_timeout 5 s
# (core/store_pg.c), so the next write fails on it and fl_pg_tx reconnects
# (FAULTLINE_PG_RETRY_S). Without them that write waited for TCP's
# retransmissions to give up (about 15 minutes).
#
# store_runner records one run, then holds its connections open until told
# to go on; meanwhile an nftables rule (table inet faultline_t_pgsilent_PID,
# matching only the runner's established connections: its client ports and
# the server's port) drops every packet of them, both ways. New connections
# pass. The second run must then be stored within 20 s; the time is logged.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg_lib.sh"

: "${FAULTLINE_FIXTURE_DIR:?FAULTLINE_FIXTURE_DIR must name the fixture build directory}"
command -v nft >/dev/null || t_fail "nft is not installed (ci/lib.sh lists nftables)"
pg_start
TABLE=faultline_t_pgsilent_$$
silent_off() { nft delete table inet "$TABLE" 2>/dev/null || true; }
# shellcheck disable=SC2154  # sil_rc is set inside the trap itself
trap 'sil_rc=$?; silent_off; pg_stop; set +e; (exit "$sil_rc"); t_cleanup' EXIT

url="$PG_URL?sslmode=disable&gssencmode=disable"
"$FAULTLINE_BIN" runs --db "$url" >/dev/null || t_fail "cannot create the schema"
FAULTLINE_PG_RETRY_S=30 "$FAULTLINE_FIXTURE_DIR/store_runner" --db "$url" --tag silent --runs 2 \
	--pause-file "$T_DIR/go" >"$T_DIR/runner.out" 2>"$T_DIR/runner.err" &
runner=$!
T_BG_PIDS+=("$runner")
one_run() { [ "$(pg_sql "SELECT count(*) FROM runs WHERE label = 'silent'")" = 1 ]; }
t_wait_for 30 "the runner's first run" one_run

# The runner's connections to the server: their client ports.
mapfile -t ports < <(ss -Htnp state established "( dport = :$PG_PORT )" |
	grep "pid=$runner," | awk '{ n = split($3, a, ":"); print a[n] }')
[ "${#ports[@]}" -ge 1 ] || t_fail "no connection of the runner (pid $runner) to port $PG_PORT"
rules=""
for p in "${ports[@]}"; do
	rules+="tcp sport $p tcp dport $PG_PORT drop; tcp sport $PG_PORT tcp dport $p drop; "
done
nft "add table inet $TABLE { chain out { type filter hook output priority 0; policy accept; $rules}; }" ||
	t_fail "cannot add the nftables rules"
t_log "silenced ${#ports[@]} connection(s) of the runner (client ports ${ports[*]})"

start=$(date +%s%N)
touch "$T_DIR/go"
deadline=$((SECONDS + 20))
while kill -0 "$runner" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
kill -0 "$runner" 2>/dev/null && t_fail "the runner still waits 20 s after its connection went silent"
rc=0
wait "$runner" || rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
[ "$rc" = 0 ] || t_fail "the runner exited $rc: $(cat "$T_DIR/runner.err")"
got=$(pg_sql "SELECT count(*) || ' ' || count(*) FILTER (WHERE verdict = 'pass') FROM runs WHERE label = 'silent'")
[ "$got" = "2 2" ] || t_fail "runs (all, passed): $got, wanted 2 2"
got=$(pg_sql "SELECT count(*) FILTER (WHERE state = 'reverted') FROM journal WHERE target = 'silent'")
[ "$got" = 2 ] || t_fail "$got journal rows reverted, wanted 2"
t_log "pass: the second run was stored $ms ms after its connection went silent"
