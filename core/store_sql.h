/*
 * store_sql: what the store's own modules share below the public API.
 *
 * Owns: struct fl_store (the connection, its path, the schema version), the
 * SQLite allocator hook, transactions with busy retries, statement helpers,
 * and the NULL conventions of columns (NAN and -1 in memory, NULL in SQL).
 * Does not own: any table's SQL (store.c, store_schema.c, store_query.c,
 * journal.c hold their own statements).
 *
 * Internal to core/: only core/store*.c, core/journal.c and tests include it.
 * "All SQL stays in the store": reports/ and sim/ use store.h and journal.h,
 * never a raw sqlite3 handle.
 */
#ifndef FAULTLINE_STORE_SQL_H
#define FAULTLINE_STORE_SQL_H

#include <sqlite3.h>
#include <stdint.h>

#include "core/error.h"
#include "core/store.h"

#define FL_STORE_BUSY_TIMEOUT_MS 15000

struct fl_store_pg_ops;
struct pg_conn;
struct fl_pg_state;

struct fl_store {
	/* PostgreSQL (store_pg.h) when ops is set; SQLite (db) otherwise. */
	const struct fl_store_pg_ops *ops;
	struct pg_conn *pg;
	struct fl_pg_state *pgs;
	sqlite3 *db;
	char *path;
	int version;
	int relaxed; /* synchronous=NORMAL for the current write (journal.c) */
};

/* The connection, for tests that check pragmas or rows directly. */
sqlite3 *fl_store_sql_db(struct fl_store *st);

/* Routes SQLite's allocations through fl_malloc (once per process). */
void fl_store_sql_setup(void);

/* Error setters: "<path>: <sqlite message>" (FL_EXIT_ENV), or out of memory. */
int fl_store_sql_fail(struct fl_store *st, struct fl_error *err);
int fl_store_sql_oom(struct fl_store *st, struct fl_error *err);
int fl_store_sql_busy(int rc);

/* Runs sql, retrying a busy database up to the busy timeout. */
int fl_store_exec(struct fl_store *st, const char *sql, struct fl_error *err);
/* BEGIN IMMEDIATE; COMMIT (rolled back and reported when it fails); ROLLBACK
 * when a transaction is open. */
int fl_store_tx_begin(struct fl_store *st, struct fl_error *err);
int fl_store_tx_commit(struct fl_store *st, struct fl_error *err);
/* Rolls back an open transaction. 0, or -1 when the connection is still in
 * one afterwards (ROLLBACK itself failed, e.g. out of memory). */
int fl_store_tx_rollback(struct fl_store *st);

/* BEGIN IMMEDIATE for a commit that needs no fsync of its own
 * (synchronous=NORMAL; journal.c says when that is sound); put FULL back
 * with fl_store_sync_restore after the COMMIT or ROLLBACK (the next
 * fl_store_tx_begin does it too, if that failed). */
int fl_store_tx_begin_relaxed(struct fl_store *st, struct fl_error *err);
void fl_store_sync_restore(struct fl_store *st);

sqlite3_stmt *fl_store_prepare(struct fl_store *st, const char *sql, struct fl_error *err);
/* Steps a statement that returns no rows and resets it for the next use. */
int fl_store_step_done(struct fl_store *st, sqlite3_stmt *s, struct fl_error *err);

/* NULL for NULL text, NAN or an infinity, a negative count. */
int fl_sql_bind_text(sqlite3_stmt *s, int i, const char *v);
int fl_sql_bind_real(sqlite3_stmt *s, int i, double v);
int fl_sql_bind_count(sqlite3_stmt *s, int i, long v);
/* NAN, -1 for NULL; a new copy (NULL for NULL) in *out, -1 when out of memory. */
double fl_sql_col_real(sqlite3_stmt *s, int i);
long fl_sql_col_count(sqlite3_stmt *s, int i);
int fl_sql_col_text(sqlite3_stmt *s, int i, char **out);

#endif
