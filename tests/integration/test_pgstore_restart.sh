#!/usr/bin/env bash
# The PostgreSQL server restarts under a runner (a failover behind the same
# address looks the same to it): the runner's next write opens the
# connection again and succeeds; nothing committed before is lost.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg_lib.sh"

: "${FAULTLINE_FIXTURE_DIR:?FAULTLINE_FIXTURE_DIR must name the fixture build directory}"
pg_start
timeout 120 "$FAULTLINE_FIXTURE_DIR/store_runner" --db "$PG_URL" --tag restart --runs 3 \
	--pause-file "$T_DIR/go" >"$T_DIR/runner.out" 2>"$T_DIR/runner.err" &
runner=$!
T_BG_PIDS+=("$runner")
first_run() { [ "$(pg_sql "select count(*) from runs where verdict = 'pass'" 2>/dev/null)" = 1 ]; }
t_wait_for 30 "the first run" first_run
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w restart >/dev/null 2>&1 ||
	t_fail "PostgreSQL did not restart: $(tail -n 5 "$PG_DIR/server.log")"
touch "$T_DIR/go"
rc=0
wait "$runner" || rc=$?
[ "$rc" = 0 ] || t_fail "the runner exited $rc after the restart: $(cat "$T_DIR/runner.err")"
[ "$(pg_sql "select count(*) from runs where verdict = 'pass'")" = 3 ] || t_fail "runs lost across the restart"
[ "$(pg_sql "select count(*) from journal where state = 'reverted'")" = 3 ] || t_fail "journal rows lost across the restart"
t_log "pass: a runner went on writing after the server restarted"
