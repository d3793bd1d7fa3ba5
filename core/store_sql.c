/*
 * store_sql: the store modules' shared SQLite plumbing. See store_sql.h.
 *
 * Every write is a BEGIN IMMEDIATE transaction so concurrent `faultline run`
 * processes queue for the write lock instead of failing half-way. SQLite's
 * own allocations are routed through fl_malloc so the allocation-failure
 * tests reach SQLite's out-of-memory paths too.
 *
 * Figures that do not apply travel as NAN / -1 in memory, NULL in SQL and
 * null in JSON: nothing is invented on the way through.
 */
#include "core/store_pg.h"
#include "core/store_sql.h"
#include "core/alloc.h"
#include "core/clock.h"

#include <malloc.h>
#include <math.h>
#include <pthread.h>

/* ---- SQLite allocator ------------------------------------------------------ */

static void *sq_malloc(int n)
{
	return n < 0 ? NULL : fl_malloc((size_t)n);
}

static void sq_free(void *p)
{
	fl_free(p);
}

static void *sq_realloc(void *p, int n)
{
	return n < 0 ? NULL : fl_realloc(p, (size_t)n);
}

static int sq_size(void *p)
{
	return p ? (int)malloc_usable_size(p) : 0;
}

static int sq_roundup(int n)
{
	return (n + 7) & ~7;
}

static int sq_init(void *data)
{
	(void)data;
	return SQLITE_OK;
}

static void sq_shutdown(void *data)
{
	(void)data;
}

static const sqlite3_mem_methods sq_mem = {
	sq_malloc, sq_free, sq_realloc, sq_size, sq_roundup, sq_init, sq_shutdown, NULL,
};

static pthread_once_t sq_once = PTHREAD_ONCE_INIT;

static void sq_setup_once(void)
{
	/* SQLITE_MISUSE when some other code initialised SQLite first: it then
	 * keeps its own allocator, which only makes fault injection coarser. */
	(void)sqlite3_config(SQLITE_CONFIG_MALLOC, &sq_mem);
}

void fl_store_sql_setup(void)
{
	pthread_once(&sq_once, sq_setup_once);
}

sqlite3 *fl_store_sql_db(struct fl_store *st)
{
	return st->db;
}

/* ---- small helpers ----------------------------------------------------------- */

int fl_store_sql_fail(struct fl_store *st, struct fl_error *err)
{
	return fl_error_set(err, FL_EXIT_ENV, "%s: %s", st->path,
			    st->db ? sqlite3_errmsg(st->db) : "out of memory");
}

int fl_store_sql_oom(struct fl_store *st, struct fl_error *err)
{
	return fl_error_oom(err, "%s", st->path);
}

int fl_store_sql_busy(int rc)
{
	return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/* Runs sql, retrying while the database is busy. The busy handler already
 * waits, but a few paths (WAL recovery, a lock held across our own retry)
 * return SQLITE_BUSY without calling it, so a bounded loop backs it up. */
int fl_store_exec(struct fl_store *st, const char *sql, struct fl_error *err)
{
	int64_t deadline = fl_now_ns() + FL_STORE_BUSY_TIMEOUT_MS * FL_NS_PER_MS;
	for (;;) {
		int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			return 0;
		if (!fl_store_sql_busy(rc) || fl_now_ns() >= deadline)
			return fl_store_sql_fail(st, err);
		sqlite3_sleep(5);
	}
}

int fl_store_tx_rollback(struct fl_store *st)
{
	if (st->db && !sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return st->db && !sqlite3_get_autocommit(st->db) ? -1 : 0;
}

/* Moves the connection between synchronous=FULL (every write but one) and
 * NORMAL (fl_store_tx_begin_relaxed). The flag makes every ordinary write
 * transaction put FULL back first if an earlier restore failed. */
static int sync_set(struct fl_store *st, int relaxed, struct fl_error *err)
{
	if (st->relaxed == relaxed)
		return 0;
	if (fl_store_exec(st, relaxed ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL",
			  err))
		return -1;
	st->relaxed = relaxed;
	return 0;
}

int fl_store_tx_begin(struct fl_store *st, struct fl_error *err)
{
	if (sync_set(st, 0, err))
		return -1;
	return fl_store_exec(st, "BEGIN IMMEDIATE", err);
}

int fl_store_tx_begin_relaxed(struct fl_store *st, struct fl_error *err)
{
	if (sync_set(st, 1, err))
		return -1;
	return fl_store_exec(st, "BEGIN IMMEDIATE", err);
}

void fl_store_sync_restore(struct fl_store *st)
{
	struct fl_error ignored;
	fl_error_init(&ignored);
	(void)sync_set(st, 0, &ignored);
}

/* Commits, or rolls back and reports why: after a failed COMMIT nothing of
 * the transaction is in the file (SQLITE_FULL included). */
int fl_store_tx_commit(struct fl_store *st, struct fl_error *err)
{
	if (fl_store_exec(st, "COMMIT", err) == 0)
		return 0;
	fl_store_tx_rollback(st);
	return -1;
}

sqlite3_stmt *fl_store_prepare(struct fl_store *st, const char *sql, struct fl_error *err)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		fl_store_sql_fail(st, err);
		sqlite3_finalize(s);
		return NULL;
	}
	return s;
}

/* Steps a statement that returns no rows and resets it for the next use. */
int fl_store_step_done(struct fl_store *st, sqlite3_stmt *s, struct fl_error *err)
{
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		fl_store_sql_fail(st, err);
		sqlite3_reset(s);
		return -1;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return 0;
}

int fl_sql_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

/* NAN (and infinities, which no figure can honestly be) become NULL. */
int fl_sql_bind_real(sqlite3_stmt *s, int i, double v)
{
	return isfinite(v) ? sqlite3_bind_double(s, i, v) : sqlite3_bind_null(s, i);
}

/* Negative counts mean "not measured" and become NULL. */
int fl_sql_bind_count(sqlite3_stmt *s, int i, long v)
{
	return v >= 0 ? sqlite3_bind_int64(s, i, v) : sqlite3_bind_null(s, i);
}

double fl_sql_col_real(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

long fl_sql_col_count(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? -1 : (long)sqlite3_column_int64(s, i);
}

/* A new copy of a text column in *out (NULL for SQL NULL); -1 when out of memory. */
int fl_sql_col_text(sqlite3_stmt *s, int i, char **out)
{
	const unsigned char *t;
	*out = NULL;
	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return 0;
	t = sqlite3_column_text(s, i);
	if (!t)
		return -1;
	*out = fl_strdup((const char *)t);
	return *out ? 0 : -1;
}

/* Opens a read transaction so a run and its children (or a report's
 * several queries) come from one snapshot; returns 1 when it opened one
 * (the caller ends it), 0 when the caller was already inside a transaction,
 * -1 on error. */
int fl_store_read_begin(struct fl_store *st, struct fl_error *err)
{
	if (st->ops)
		return st->ops->read_begin(st, err);
	if (!sqlite3_get_autocommit(st->db))
		return 0;
	return fl_store_exec(st, "BEGIN", err) ? -1 : 1;
}

int fl_store_read_end(struct fl_store *st, int opened, struct fl_error *err)
{
	if (st->ops)
		return st->ops->read_end(st, opened, err);
	if (opened == 1 && fl_store_tx_rollback(st) < 0)
		return fl_store_sql_fail(st, err);
	return 0;
}
