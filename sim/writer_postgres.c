/*
 * writer_postgres: the postgres writer driver — libpq conninfo in dsn; one
 * autocommit INSERT per write, awaited with poll() until the probe timeout.
 * See sim/writer_driver.h.
 */
#include "sim/writer_driver.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"

#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define WRITER_PG_RESULTS_MAX 16

/* dsn and table: the keys of a database driver (writer_sqlite.c reads the
 * same ones); `path` says whether the dsn names a file (relative to the scenario,
 * like every path) or is a connection string. */
static int db_parse(struct fl_doc *doc, json_t *obj, struct fl_probe_spec *p, int path,
		    struct fl_error *err)
{
	if (fl_doc_string(doc, obj, "dsn", 1, &p->dsn, err) < 0 ||
	    fl_doc_string(doc, obj, "table", 0, &p->table, err) < 0)
		return -1;
	if (path && fl_doc_resolve_path(doc, &p->dsn, 1, err) < 0)
		return -1;
	if (!p->table && !(p->table = fl_strdup(FL_WRITER_DEFAULT_TABLE)))
		return fl_error_oom(err, "%s", fl_doc_file(doc));
	return 0;
}

struct pg_conn {
	PGconn *pg;
};

/* Waits for the connection's socket to become ready for `events` by the
 * deadline. 1 ready, 0 timed out, -1 error. */
static int pg_wait(PGconn *pg, short events, int64_t deadline)
{
	int fd = PQsocket(pg);
	long guard;

	if (fd < 0)
		return -1;
	for (guard = 0; guard < FL_WRITER_RETRY_MAX; guard++) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = deadline - fl_now_ns();
		int r;
		if (left <= 0)
			return 0;
		r = poll(&p, 1, (int)((left + FL_NS_PER_MS - 1) / FL_NS_PER_MS));
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
	return 0;
}

static void *pg_cancel_main(void *arg)
{
	char buf[256];
	PQcancel(arg, buf, (int)sizeof(buf));
	PQfreeCancel(arg);
	return NULL;
}

/* Asks the server to stop the statement a timed-out write left running.
 * PQcancel blocks on its own connection (PostgreSQL 15 has no async
 * cancel), so it runs in a detached thread: a hung server must not hold the
 * writer past its timeout. */
static void pg_cancel(PGconn *pg)
{
	PGcancel *cancel = PQgetCancel(pg);
	pthread_attr_t attr;
	pthread_t t;

	if (!cancel)
		return;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, pg_cancel_main, cancel) != 0)
		pg_cancel_main(cancel);
	pthread_attr_destroy(&attr);
}

/* Runs one statement asynchronously by the deadline. *sent is set once
 * libpq accepted the query; *timed_out when the deadline passed first (the
 * statement is then cancelled). Returns the first error result, else the
 * last result (caller PQclears), or NULL when none arrived. */
static PGresult *pg_run(PGconn *pg, const char *sql, int nparams, const char *const *params,
			int64_t deadline, int *sent, int *timed_out)
{
	PGresult *res = NULL, *r;
	int i;
	long guard;

	*sent = 0;
	*timed_out = 0;
	if (!PQsendQueryParams(pg, sql, nparams, NULL, params, NULL, NULL, 0))
		return NULL;
	*sent = 1;
	for (guard = 0; guard < FL_WRITER_RETRY_MAX; guard++) {
		int f = PQflush(pg), wr;
		if (f <= 0)
			break;
		wr = pg_wait(pg, POLLOUT | POLLIN, deadline);
		if (wr == 0)
			goto timeout;
		if (wr < 0 || !PQconsumeInput(pg))
			break;
	}
	for (i = 0; i < WRITER_PG_RESULTS_MAX; i++) {
		for (guard = 0; guard < FL_WRITER_RETRY_MAX && PQisBusy(pg); guard++) {
			int wr;
			if (!PQconsumeInput(pg))
				break; /* connection lost: libpq reports it as a result */
			if (!PQisBusy(pg))
				break;
			wr = pg_wait(pg, POLLIN, deadline);
			if (wr == 0)
				goto timeout;
			if (wr < 0)
				break;
		}
		r = PQgetResult(pg);
		if (!r)
			break;
		if (!res || (PQresultStatus(res) != PGRES_FATAL_ERROR &&
			     PQresultStatus(r) == PGRES_FATAL_ERROR)) {
			PQclear(res);
			res = r;
		} else {
			PQclear(r);
		}
		if (PQstatus(pg) == CONNECTION_BAD)
			break;
	}
	return res;
timeout:
	*timed_out = 1;
	pg_cancel(pg);
	PQclear(res);
	return NULL;
}

/* Server notices ("relation already exists, skipping") are not ours to
 * print: the CLI's stderr carries one-line errors only. */
static void pg_notice_ignore(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static void pg_close(void *arg)
{
	struct pg_conn *c = arg;
	if (!c)
		return;
	PQfinish(c->pg);
	fl_free(c);
}

static int pg_exec_simple(struct fl_writer *w, PGconn *pg, const char *sql, int64_t deadline,
			  struct fl_error *err)
{
	int sent, timed_out, ret = -1;
	char line[256];
	PGresult *res = pg_run(pg, sql, 0, NULL, deadline, &sent, &timed_out);

	if (timed_out)
		fl_error_set(err, FL_EXIT_ENV, "writer %s: postgres: timed out", w->name);
	else if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
		fl_error_set(err, FL_EXIT_ENV, "writer %s: postgres: %s", w->name,
			     fl_writer_first_line(res ? PQresultErrorMessage(res) : PQerrorMessage(pg),
						  line, sizeof(line)));
	else
		ret = 0;
	PQclear(res);
	return ret;
}

static void *pg_open(struct fl_writer *w, int for_write, int64_t deadline, struct fl_error *err)
{
	struct pg_conn *c = fl_calloc(1, sizeof(*c));
	struct fl_buf sql;
	char line[256];
	long guard;

	fl_buf_init(&sql, 4096);
	if (!c) {
		fl_error_oom(err, "writer %s", w->name);
		goto fail;
	}
	/* PQconnectStart + poll: connect_timeout counts whole seconds, the
	 * probe timeout is milliseconds. */
	c->pg = PQconnectStart(w->spec->dsn);
	if (!c->pg) {
		fl_error_oom(err, "writer %s", w->name);
		goto fail;
	}
	if (PQstatus(c->pg) == CONNECTION_BAD)
		goto connfail;
	PQsetNoticeProcessor(c->pg, pg_notice_ignore, NULL);
	for (guard = 0; guard < FL_WRITER_RETRY_MAX; guard++) {
		PostgresPollingStatusType st = PQconnectPoll(c->pg);
		int wr;
		if (st == PGRES_POLLING_OK)
			break;
		if (st == PGRES_POLLING_FAILED)
			goto connfail;
		wr = pg_wait(c->pg, st == PGRES_POLLING_WRITING ? POLLOUT : POLLIN, deadline);
		if (wr == 0) {
			fl_error_set(err, FL_EXIT_ENV, "writer %s: postgres: connect timed out",
				     w->name);
			goto fail;
		}
		if (wr < 0)
			goto connfail;
	}
	if (PQstatus(c->pg) != CONNECTION_OK)
		goto connfail;
	if (PQsetnonblocking(c->pg, 1) != 0)
		goto connfail;
	/* The server enforces the timeout too, so a statement the client gave
	 * up on does not keep running. */
	fl_buf_addf(&sql, "SET statement_timeout = %lld", (long long)(w->timeout_ns / FL_NS_PER_MS));
	if (sql.failed || pg_exec_simple(w, c->pg, sql.buf, deadline, err) < 0)
		goto fail;
	if (for_write) {
		fl_buf_reset(&sql);
		fl_buf_addf(&sql,
			    "CREATE TABLE IF NOT EXISTS \"%s\" (run_tag text NOT NULL, "
			    "seq bigint NOT NULL, written_at timestamptz NOT NULL DEFAULT now(), "
			    "PRIMARY KEY (run_tag, seq))",
			    w->table);
		if (sql.failed || pg_exec_simple(w, c->pg, sql.buf, deadline, err) < 0)
			goto fail;
	}
	fl_buf_release(&sql);
	return c;
connfail:
	fl_error_set(err, FL_EXIT_ENV, "writer %s: postgres: %s", w->name,
		     fl_writer_first_line(PQerrorMessage(c->pg), line, sizeof(line)));
fail:
	fl_buf_release(&sql);
	pg_close(c);
	return NULL;
}

static enum fl_write_outcome pg_write(struct fl_writer *w, void *arg, long seq, int64_t deadline,
				      int *broken)
{
	struct pg_conn *c = arg;
	struct fl_buf sql;
	char seqbuf[32];
	const char *params[2];
	PGresult *res = NULL;
	int sent = 0, timed_out = 0;
	enum fl_write_outcome o;

	fl_buf_init(&sql, 4096);
	fl_buf_addf(&sql, "INSERT INTO \"%s\" (run_tag, seq) VALUES ($1, $2)", w->table);
	if (sql.failed) {
		o = FL_WRITE_FAIL;
		goto out;
	}
	snprintf(seqbuf, sizeof(seqbuf), "%ld", seq);
	params[0] = w->run_tag;
	params[1] = seqbuf;
	res = pg_run(c->pg, sql.buf, 2, params, deadline, &sent, &timed_out);
	if (!sent) {
		/* libpq could not hand the whole query to the socket: the server
		 * never saw a complete statement. */
		o = FL_WRITE_FAIL;
		*broken = 1;
	} else if (timed_out) {
		o = FL_WRITE_INDETERMINATE;
		*broken = 1;
	} else if (res && PQresultStatus(res) == PGRES_COMMAND_OK) {
		o = FL_WRITE_ACK;
	} else if (PQstatus(c->pg) == CONNECTION_BAD) {
		/* The connection died after the statement left: it may have
		 * committed just before. */
		o = FL_WRITE_INDETERMINATE;
		*broken = 1;
	} else if (res && PQresultErrorField(res, PG_DIAG_SQLSTATE)) {
		/* The server answered an autocommit INSERT with an error: its
		 * transaction rolled back. */
		o = FL_WRITE_FAIL;
		*broken = 1;
	} else {
		o = FL_WRITE_INDETERMINATE;
		*broken = 1;
	}
out:
	PQclear(res);
	fl_buf_release(&sql);
	return o;
}

static int pg_read_back(struct fl_writer *w, void *arg, int64_t deadline,
			struct fl_writer_seqs *out, struct fl_error *err)
{
	struct pg_conn *c = arg;
	struct fl_buf sql;
	const char *params[1] = { w->run_tag };
	PGresult *res = NULL;
	int sent, timed_out, ret = -1, i;
	const char *state;
	char line[256];

	fl_buf_init(&sql, 4096);
	fl_buf_addf(&sql, "SELECT seq FROM \"%s\" WHERE run_tag = $1 ORDER BY seq", w->table);
	if (sql.failed) {
		fl_error_oom(err, "writer %s", w->name);
		goto out;
	}
	res = pg_run(c->pg, sql.buf, 1, params, deadline, &sent, &timed_out);
	if (timed_out) {
		fl_error_set(err, FL_EXIT_ENV, "writer %s: postgres: read-back timed out", w->name);
		goto out;
	}
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		if (state && strcmp(state, "42P01") == 0) {
			/* undefined_table: restored from before the table existed */
			ret = 0;
			goto out;
		}
		fl_error_set(err, FL_EXIT_ENV, "writer %s: postgres: %s", w->name,
			     fl_writer_first_line(res ? PQresultErrorMessage(res)
						      : PQerrorMessage(c->pg),
						  line, sizeof(line)));
		goto out;
	}
	for (i = 0; i < PQntuples(res); i++) {
		long v;
		if (fl_parse_long(PQgetvalue(res, i, 0), LONG_MIN, LONG_MAX, &v) < 0) {
			fl_error_set(err, FL_EXIT_ENV, "writer %s: postgres: bad seq \"%s\"",
				     w->name, PQgetvalue(res, i, 0));
			goto out;
		}
		if (fl_writer_seqs_add(out, v) < 0) {
			fl_error_oom(err, "writer %s", w->name);
			goto out;
		}
	}
	ret = 0;
out:
	PQclear(res);
	fl_buf_release(&sql);
	return ret;
}


static int pg_parse(struct fl_doc *doc, json_t *obj, struct fl_probe_spec *p, struct fl_error *err)
{
	return db_parse(doc, obj, p, 0, err);
}

const struct fl_writer_driver fl_writer_driver_postgres = {
	.name = "postgres",
	.uses_url = 0,
	.parse = pg_parse,
	.open = pg_open,
	.write = pg_write,
	.read_back = pg_read_back,
	.close = pg_close,
};
