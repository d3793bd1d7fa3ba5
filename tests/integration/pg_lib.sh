# shellcheck shell=bash
# shellcheck disable=SC2034  # PG_* variables are used by the scripts that source this
# tests/integration/pg_lib.sh: a private PostgreSQL 15 server for a test
# (sourced after lib.sh).
#
# Owns: a server made with initdb in its own directory, on a free loopback
# port and a private socket directory, run as the postgres user (the test
# needs root for that: it exits 77 otherwise), and stopping it when the test
# exits, whatever way. Does not own: what the test asserts.
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_DIR=
PG_PORT=
PG_URL=

pg_stop() {
	[ -n "$PG_DIR" ] || return 0
	runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop \
		>/dev/null 2>&1 || true
	rm -rf "$PG_DIR"
	PG_DIR=
}

# Chained before lib.sh's cleanup, keeping the exit code it judges.
# shellcheck disable=SC2154  # pg_rc is set inside the trap itself
trap 'pg_rc=$?; pg_stop; set +e; (exit "$pg_rc"); t_cleanup' EXIT

pg_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# pg_start: initdb + pg_ctl start; sets PG_URL. Exits 77 when it cannot run.
pg_start() {
	local try
	if [ "$(id -u)" != 0 ]; then
		t_log "skip: needs root to run PostgreSQL as the postgres user"
		exit 77
	fi
	if [ ! -x "$PG_BIN/initdb" ] || ! id postgres >/dev/null 2>&1; then
		t_log "skip: PostgreSQL 15 is not installed (apt-get install postgresql-15)"
		exit 77
	fi
	PG_DIR=$(mktemp -d /tmp/faultline-pg.XXXXXX)
	t_owner_mark "$PG_DIR"
	chown postgres "$PG_DIR"
	runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres \
		-E UTF8 --locale=C --no-sync >"$PG_DIR/initdb.log" 2>&1 ||
		t_fail "initdb failed: $(tail -n 5 "$PG_DIR/initdb.log")"
	# A port found free can be taken before the server binds it: retry.
	for try in 1 2 3 4 5; do
		PG_PORT=$(pg_free_port)
		if runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" \
			-o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60" \
			-w -t 60 start >/dev/null 2>&1; then
			PG_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
			return 0
		fi
		t_log "PostgreSQL did not start on port $PG_PORT (try $try)"
	done
	t_fail "PostgreSQL did not start: $(tail -n 5 "$PG_DIR/server.log")"
}

# pg_sql SQL: one statement through psql, unaligned output.
pg_sql() {
	psql -X -q -A -t -v ON_ERROR_STOP=1 "$PG_URL" -c "$1"
}
