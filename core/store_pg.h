/*
 * store_pg: the PostgreSQL backend of the store, beside the embedded SQLite
 * default. `--db postgresql://…` (or FAULTLINE_DB) selects it.
 *
 * Owns: the libpq connection, the PostgreSQL dialect of the schema and its
 * numbered migrations (the same versions as store.c's, one to one), the
 * owner lease (a heartbeat that tells other hosts this runner is alive),
 * and the PostgreSQL side of every public store and journal function
 * (struct fl_store_pg_ops: store.c, store_runs.c, store_query.c and
 * journal.c hand over to it when the store is a PostgreSQL one).
 * Does not own: the public API (store.h, journal.h), the run record
 * (run.h), the journal's states and moves (journal.c).
 *
 * Internal to core/: only core/store*.c, core/journal*.c and tests include it.
 */
#ifndef FAULTLINE_STORE_PG_H
#define FAULTLINE_STORE_PG_H

#include <libpq-fe.h>
#include <stdint.h>

#include "core/error.h"
#include "core/store.h"

/* 1 when `db` names a PostgreSQL database (postgresql:// or postgres://). */
int fl_store_is_pg_url(const char *db);

/* The PostgreSQL operations, in the order of the public API they back. */
struct fl_store_pg_ops {
	void (*close)(struct fl_store *st);
	int (*unsafe_fast)(struct fl_store *st, struct fl_error *err);
	int (*run_begin)(struct fl_store *st, struct fl_run *run, struct fl_error *err);
	int (*run_finish)(struct fl_store *st, const struct fl_run *run, struct fl_error *err);
	int (*runs_each)(struct fl_store *st, const struct fl_run_filter *f, fl_run_fn fn,
			 void *ctx, struct fl_error *err);
	int (*run_get)(struct fl_store *st, int64_t id, struct fl_run *run, struct fl_error *err);
	int (*run_find)(struct fl_store *st, const char *scenario, int64_t started_wall_ns,
			const char *host, int64_t *id, int *running, struct fl_error *err);
	int (*read_begin)(struct fl_store *st, struct fl_error *err);
	int (*read_end)(struct fl_store *st, int opened, struct fl_error *err);
	int (*run_abandon)(struct fl_store *st, int64_t id, const char *reason, struct fl_error *err);
	int (*runs_orphaned)(struct fl_store *st, int64_t **ids, size_t *n, struct fl_error *err);
	int (*scenarios)(struct fl_store *st, char ***names, size_t *n, struct fl_error *err);
	int (*figures_each)(struct fl_store *st, const struct fl_run_filter *f, fl_figures_fn fn,
			    void *ctx, struct fl_error *err);
	int (*journal_insert)(struct fl_store *st, enum fl_journal_state state, int64_t run_id,
			      const char *injector, const char *target, const char *description,
			      const json_t *revert, int64_t *id, struct fl_error *err);
	int (*journal_mark)(struct fl_store *st, int64_t id, enum fl_journal_state state,
			    const json_t *revert, const char *error, struct fl_error *err);
	int (*journal_open)(struct fl_store *st, struct fl_journal_entry **out, size_t *n,
			    struct fl_error *err);
};
extern const struct fl_store_pg_ops fl_store_pg_ops;

/* Connects to url and migrates; fills st (st->pg, st->path redacted). */
int fl_store_pg_open(struct fl_store *st, const char *url, struct fl_error *err);

/* ---- shared by store_pg*.c ------------------------------------------------------ */

/* Parameters of one statement, as text ($1..$n); NULL is SQL NULL. */
#define FL_PGQ_MAX 32
struct fl_pgq {
	int n;
	const char *v[FL_PGQ_MAX];
	char b[FL_PGQ_MAX][32];
};
void fl_pgq_init(struct fl_pgq *q);
void fl_pgq_text(struct fl_pgq *q, const char *s);
void fl_pgq_int(struct fl_pgq *q, int64_t v);
/* NULL for NAN or an infinity, like fl_sql_bind_real. */
void fl_pgq_real(struct fl_pgq *q, double v);
/* NULL for a negative count, like fl_sql_bind_count. */
void fl_pgq_count(struct fl_pgq *q, long v);

/* Runs sql with q (may be NULL); the result (PGRES_COMMAND_OK or
 * PGRES_TUPLES_OK) for PQclear, or NULL with err set. */
PGresult *fl_pg_exec(struct fl_store *st, const char *sql, const struct fl_pgq *q,
		     struct fl_error *err);
/* fl_pg_exec for a statement whose rows are not wanted. */
int fl_pg_cmd(struct fl_store *st, const char *sql, const struct fl_pgq *q, struct fl_error *err);
/* A read ahead: fl_pg_send sends sql (no parameters) and returns at once;
 * fl_pg_recv waits for its answer, as fl_pg_exec would return it. Every
 * fl_pg_send is followed by one fl_pg_recv before any other statement. */
int fl_pg_send(struct fl_store *st, const char *sql, struct fl_error *err);
PGresult *fl_pg_recv(struct fl_store *st, struct fl_error *err);
int fl_pg_fail(struct fl_store *st, struct fl_error *err);
/* Rolls back an open transaction (nothing when there is none). */
void fl_pg_rollback(struct fl_store *st);
/* One write transaction that survives a dropped connection (a failover
 * behind the same address): BEGIN, body, COMMIT, run again on a new
 * connection while the failure is one a new connection can cure, for up to
 * FAULTLINE_PG_RETRY_S (default 60 s; no_wait: one reconnect attempt).
 * When the connection went away while COMMIT was in flight the outcome is
 * unknown: `committed` looks on the new connection (by the rows' identity:
 * a run's natural key, a journal row's id, owner and timestamps) and the
 * body is repeated only when it is not there. body may run several times:
 * it must set everything it returns through ctx each time. */
struct fl_pg_tx {
	const char *begin; /* NULL: "BEGIN" */
	int no_wait;
	int (*body)(struct fl_store *st, void *ctx, struct fl_error *err);
	int (*committed)(struct fl_store *st, void *ctx, int *done, struct fl_error *err);
};
int fl_pg_tx(struct fl_store *st, const struct fl_pg_tx *tx, void *ctx, struct fl_error *err);
/* Renews this process's owner lease (run_begin and the journal do it inside
 * their transaction) and starts the heartbeat that keeps it fresh. */
int fl_pg_lease_renew(struct fl_store *st, struct fl_error *err);

/* The operations, defined in store_pg_runs.c and journal_pg.c. */
int fl_pg_run_begin(struct fl_store *st, struct fl_run *run, struct fl_error *err);
int fl_pg_run_finish(struct fl_store *st, const struct fl_run *run, struct fl_error *err);
int fl_pg_runs_each(struct fl_store *st, const struct fl_run_filter *f, fl_run_fn fn, void *ctx,
		    struct fl_error *err);
int fl_pg_run_get(struct fl_store *st, int64_t id, struct fl_run *run, struct fl_error *err);
int fl_pg_run_find(struct fl_store *st, const char *scenario, int64_t started_wall_ns,
		   const char *host, int64_t *id, int *running, struct fl_error *err);
int fl_pg_run_abandon(struct fl_store *st, int64_t id, const char *reason, struct fl_error *err);
int fl_pg_runs_orphaned(struct fl_store *st, int64_t **ids, size_t *n, struct fl_error *err);
int fl_pg_scenarios(struct fl_store *st, char ***names, size_t *n, struct fl_error *err);
int fl_pg_figures_each(struct fl_store *st, const struct fl_run_filter *f, fl_figures_fn fn,
		       void *ctx, struct fl_error *err);
int fl_pg_journal_insert(struct fl_store *st, enum fl_journal_state state, int64_t run_id,
			 const char *injector, const char *target, const char *description,
			 const json_t *revert, int64_t *id, struct fl_error *err);
int fl_pg_journal_mark(struct fl_store *st, int64_t id, enum fl_journal_state state,
		       const json_t *revert, const char *error, struct fl_error *err);
int fl_pg_journal_open(struct fl_store *st, struct fl_journal_entry **out, size_t *n,
		       struct fl_error *err);

double fl_pg_real(const PGresult *r, int row, int col);
long fl_pg_count(const PGresult *r, int row, int col);
int64_t fl_pg_int(const PGresult *r, int row, int col);
/* A new copy in *out (NULL for NULL); -1 when out of memory. */
int fl_pg_text(const PGresult *r, int row, int col, char **out);

#endif
