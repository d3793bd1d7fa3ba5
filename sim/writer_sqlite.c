/*
 * writer_sqlite: the sqlite writer driver — INSERT into a table of a
 * database file the service owns (dsn = path, relative to the scenario;
 * busy timeout = the probe timeout). See sim/writer_driver.h.
 */
#include "sim/writer_driver.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

/* dsn and table: the keys of a database driver (writer_postgres.c reads the
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

struct sqlite_conn {
	sqlite3 *db;
	sqlite3_stmt *insert;
	int64_t deadline; /* the progress handler interrupts past it */
};

static int sqlite_progress(void *arg)
{
	const struct sqlite_conn *c = arg;
	return c->deadline > 0 && fl_now_ns() > c->deadline;
}

static int sqlite_is_corrupt(int rc)
{
	rc &= 0xff;
	return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

static void sqlite_close(void *arg)
{
	struct sqlite_conn *c = arg;
	if (!c)
		return;
	sqlite3_finalize(c->insert);
	sqlite3_close_v2(c->db);
	fl_free(c);
}

static void *sqlite_open(struct fl_writer *w, int for_write, int64_t deadline, struct fl_error *err)
{
	struct sqlite_conn *c = fl_calloc(1, sizeof(*c));
	struct fl_buf sql;
	char *errmsg = NULL;
	char line[256];
	int flags = SQLITE_OPEN_READWRITE, rc;

	fl_buf_init(&sql, 4096);
	if (!c) {
		fl_error_oom(err, "writer %s", w->name);
		goto fail;
	}
	c->deadline = deadline;
	/* The file belongs to the service: create it on the very first open
	 * only, so a database deleted mid-drill shows as failed writes rather
	 * than being silently replaced by an empty one. */
	if (for_write && !w->opened_once)
		flags |= SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(w->spec->dsn, &c->db, flags, NULL);
	if (rc != SQLITE_OK) {
		fl_error_set(err, FL_EXIT_ENV, "writer %s: %s: %s", w->name, w->spec->dsn,
			     c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(c->db, (int)(w->timeout_ns / FL_NS_PER_MS));
	sqlite3_progress_handler(c->db, 1000, sqlite_progress, c);
	if (!for_write)
		goto done;
	fl_buf_addf(&sql,
		    "CREATE TABLE IF NOT EXISTS \"%s\"(run_tag TEXT, seq INTEGER, "
		    "written_at TEXT, PRIMARY KEY(run_tag, seq))",
		    w->table);
	if (sql.failed) {
		fl_error_oom(err, "writer %s", w->name);
		goto fail;
	}
	rc = sqlite3_exec(c->db, sql.buf, NULL, NULL, &errmsg);
	if (rc != SQLITE_OK) {
		fl_error_set(err, FL_EXIT_ENV, "writer %s: %s: %s", w->name, w->spec->dsn,
			     fl_writer_first_line(errmsg ? errmsg : sqlite3_errmsg(c->db), line,
						  sizeof(line)));
		goto fail;
	}
	fl_buf_reset(&sql);
	fl_buf_addf(&sql,
		    "INSERT INTO \"%s\"(run_tag, seq, written_at) VALUES(?, ?, "
		    "strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now'))",
		    w->table);
	rc = sql.failed ? SQLITE_NOMEM : sqlite3_prepare_v2(c->db, sql.buf, -1, &c->insert, NULL);
	if (rc != SQLITE_OK) {
		fl_error_set(err, FL_EXIT_ENV, "writer %s: %s: %s", w->name, w->spec->dsn,
			     sqlite3_errmsg(c->db));
		goto fail;
	}
	w->opened_once = 1;
done:
	sqlite3_free(errmsg);
	fl_buf_release(&sql);
	return c;
fail:
	sqlite3_free(errmsg);
	fl_buf_release(&sql);
	sqlite_close(c);
	return NULL;
}

/* Each write is its own transaction: BEGIN IMMEDIATE takes the write lock
 * (busy here means nothing happened), the INSERT runs inside it (an error
 * rolls back), and only COMMIT's own failure leaves the outcome unknown. */
static enum fl_write_outcome sqlite_write(struct fl_writer *w, void *arg, long seq,
					  int64_t deadline, int *broken)
{
	struct sqlite_conn *c = arg;
	int rc;

	c->deadline = deadline;
	rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		*broken = (rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED;
		return FL_WRITE_FAIL;
	}
	sqlite3_bind_text(c->insert, 1, w->run_tag, -1, SQLITE_STATIC);
	sqlite3_bind_int64(c->insert, 2, seq);
	rc = sqlite3_step(c->insert);
	sqlite3_reset(c->insert);
	sqlite3_clear_bindings(c->insert);
	if (rc != SQLITE_DONE) {
		c->deadline = 0;
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		/* Reopen after anything but contention: the table may have been
		 * dropped by a restore and must be recreated. */
		*broken = (rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED;
		return FL_WRITE_FAIL;
	}
	rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	c->deadline = 0;
	if (rc == SQLITE_OK)
		return FL_WRITE_ACK;
	if ((rc & 0xff) == SQLITE_BUSY) {
		/* SQLite documents that a busy COMMIT leaves the transaction
		 * open and unapplied. */
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		return FL_WRITE_FAIL;
	}
	if (!sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	*broken = 1;
	return sqlite_is_corrupt(rc) ? FL_WRITE_FAIL : FL_WRITE_INDETERMINATE;
}

static int sqlite_read_back(struct fl_writer *w, void *arg, int64_t deadline,
			    struct fl_writer_seqs *out, struct fl_error *err)
{
	struct sqlite_conn *c = arg;
	sqlite3_stmt *st = NULL;
	struct fl_buf sql;
	int rc, ret = -1, exists = 0;

	fl_buf_init(&sql, 4096);
	c->deadline = deadline;
	rc = sqlite3_prepare_v2(c->db,
				"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", -1,
				&st, NULL);
	if (rc != SQLITE_OK)
		goto sqlerr;
	sqlite3_bind_text(st, 1, w->table, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		exists = 1;
	else if (rc != SQLITE_DONE)
		goto sqlerr;
	sqlite3_finalize(st);
	st = NULL;
	if (!exists) {
		/* The table is gone (a restore from before the drill): nothing of
		 * this run survived, which is an answer, not an error. */
		ret = 0;
		goto out;
	}
	fl_buf_addf(&sql, "SELECT seq FROM \"%s\" WHERE run_tag = ? ORDER BY seq", w->table);
	rc = sql.failed ? SQLITE_NOMEM : sqlite3_prepare_v2(c->db, sql.buf, -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto sqlerr;
	sqlite3_bind_text(st, 1, w->run_tag, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (fl_writer_seqs_add(out, (long)sqlite3_column_int64(st, 0)) < 0) {
			fl_error_oom(err, "writer %s", w->name);
			goto out;
		}
	if (rc != SQLITE_DONE)
		goto sqlerr;
	ret = 0;
	goto out;
sqlerr:
	fl_error_set(err, FL_EXIT_ENV, "writer %s: %s: %s", w->name, w->spec->dsn,
		     sqlite3_errmsg(c->db));
out:
	sqlite3_finalize(st);
	fl_buf_release(&sql);
	c->deadline = 0;
	return ret;
}


static int sqlite_parse(struct fl_doc *doc, json_t *obj, struct fl_probe_spec *p, struct fl_error *err)
{
	return db_parse(doc, obj, p, 1, err);
}

const struct fl_writer_driver fl_writer_driver_sqlite = {
	.name = "sqlite",
	.uses_url = 0,
	.parse = sqlite_parse,
	.open = sqlite_open,
	.write = sqlite_write,
	.read_back = sqlite_read_back,
	.close = sqlite_close,
};
