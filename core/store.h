/*
 * store: the one SQLite file that holds every run and the fault journal.
 *
 * Owns: opening the database (WAL mode, busy timeout so concurrent
 * `faultline run` processes both succeed, 0600 permissions), the schema and
 * its numbered migrations (store_schema.c: an old database is upgraded,
 * never discarded), writing a run (scenario, environment, label, timeline
 * events, phases, probe summaries, data-loss figures and lost sequence
 * numbers, verdict and failure reasons), reading runs back (newest first,
 * filtered), closing the runs of a harness that died, and the queries the
 * reports aggregate from (store_query.c): all SQL stays in the store.
 * Does not own: the run record in memory and its JSON (run.h), the fault
 * journal (journal.h; both are included here for the store's users),
 * statistics (reports/stats.c) or report formats.
 */
#ifndef FAULTLINE_STORE_H
#define FAULTLINE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/journal.h"
#include "core/run.h"

struct fl_store;

#define FL_STORE_SCHEMA_VERSION 6

/* Opens (creating if needed) and migrates. NULL with err set (FL_EXIT_ENV).
 * path is a file for SQLite, or postgresql://… (postgres://…) for the
 * shared PostgreSQL backend (store_pg.h, docs/store.md). */
struct fl_store *fl_store_open(const char *path, struct fl_error *err);
void fl_store_close(struct fl_store *st);
/* 1 when db may hold a history: the file exists, or db is a PostgreSQL
 * URL (store_pg.h; whether the server is there is for fl_store_open to say). */
int fl_store_exists(const char *db);
int fl_store_schema_version(struct fl_store *st);
/* For fixtures that write a throw-away history: synchronous=OFF on this
 * connection (never in a drill: the journal's durability rests on FULL). */
int fl_store_unsafe_fast(struct fl_store *st, struct fl_error *err);

/* Inserts the run with verdict "running"; sets run->id. */
int fl_store_run_begin(struct fl_store *st, struct fl_run *run, struct fl_error *err);
/* Writes everything in run (one transaction) under run->id. */
int fl_store_run_finish(struct fl_store *st, const struct fl_run *run, struct fl_error *err);

struct fl_run_filter {
	const char *scenario;  /* or NULL */
	const char *label;     /* or NULL */
	int64_t since_wall_ns; /* 0 = any */
	long limit;            /* 0 = all; newest first */
	int include_running;   /* include runs still "running" */
};
/* Calls fn for each run, newest first; fn's return != 0 stops. The run
 * passed to fn is only valid during the call.
 * Returns 0 when every run was visited, fn's non-zero value when fn
 * stopped the walk, -1 with err set on a store error. The walk reads one
 * snapshot inside a read transaction: fn may read the store but must not
 * write to it. */
typedef int (*fl_run_fn)(const struct fl_run *run, void *ctx);
int fl_store_runs_each(struct fl_store *st, const struct fl_run_filter *f, fl_run_fn fn, void *ctx,
		       struct fl_error *err);
/* Loads one run by id into run (caller releases). */
int fl_store_run_get(struct fl_store *st, int64_t id, struct fl_run *run, struct fl_error *err);

/* One snapshot over several reads: returns 1 when it opened a read
 * transaction (pass it to fl_store_read_end), 0 when one was already open,
 * -1 with err set. */
int fl_store_read_begin(struct fl_store *st, struct fl_error *err);
/* Ends what fl_store_read_begin opened. 0, or -1 with err set when the read
 * transaction could not be ended (the connection would stay in it: a read
 * that "succeeded" must not hide that). */
int fl_store_read_end(struct fl_store *st, int opened, struct fl_error *err);

/* Marks run `id` aborted (if it is still "running") with `reason` as a
 * failure: for drills whose harness died, once their faults are reverted.
 * Returns 1 when the run was changed, 0 when it was not running. */
int fl_store_run_abandon(struct fl_store *st, int64_t id, const char *reason, struct fl_error *err);
/* Runs still "running" whose recorded owner process is gone from this host
 * (new array of ids, fl_free). */
int fl_store_runs_orphaned(struct fl_store *st, int64_t **ids, size_t *n, struct fl_error *err);

/* The run of `scenario` that started at started_wall_ns on `host` (NULL
 * matches a run without a host): a run's natural key, the same in every
 * store it is copied to. 1 and *id set when found (*running set when it
 * is still "running"), 0 when not, -1 with err set. */
int fl_store_run_find(struct fl_store *st, const char *scenario, int64_t started_wall_ns,
		      const char *host, int64_t *id, int *running, struct fl_error *err);

/* Copies every finished run of `from` into `to` (store_copy.c), keyed by
 * fl_store_run_find: a run already there is skipped, one left "running" by
 * an interrupted copy is finished over, so a copy run twice copies nothing
 * the second time. Runs still running in `from` and the journal (a
 * store's own faults to revert) are not copied. */
struct fl_store_copy_stats {
	long copied, skipped, running;
};
int fl_store_copy(struct fl_store *from, struct fl_store *to, struct fl_store_copy_stats *stats,
		  struct fl_error *err);

/* ---- queries for reports (store_query.c) ------------------------------------- */

/* Names of the scenarios that have runs, in byte order (a new array of new
 * strings, freed with fl_store_names_free). */
int fl_store_scenarios(struct fl_store *st, char ***names, size_t *n, struct fl_error *err);
void fl_store_names_free(char **names, size_t n);

/* What a report needs of every run of a window: the figures and the phases,
 * none of the other children. Strings and phases are borrowed for the call. */
struct fl_run_figures {
	int64_t id;
	int64_t started_wall_ns;
	const char *verdict;
	const char *label; /* or NULL */
	double rto_ms, rpo_ms, ttv_ms;
	double rto_target_ms, rpo_target_ms;
	long lost_before_fault, lost_after_fault;
	const struct fl_run_phase *phases; /* in the run's order */
	size_t nphases;
};
typedef int (*fl_figures_fn)(const struct fl_run_figures *f, void *ctx);
/* Calls fn for each finished run of f->scenario (required) that matches
 * f's label and since, newest first, at most f->limit runs (0: all); fn's
 * return != 0 stops and is returned; -1 with err set on a store error. One
 * indexed statement that stops with the walk: a window of the last 10 runs
 * reads O(10) rows whatever the history size. fn must not use st: on
 * PostgreSQL the next batch of rows is on its way while fn runs. */
int fl_store_figures_each(struct fl_store *st, const struct fl_run_filter *f, fl_figures_fn fn,
			  void *ctx, struct fl_error *err);

#endif
