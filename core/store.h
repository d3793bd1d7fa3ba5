/*
 * store: the one SQLite file that holds every run and the fault journal.
 *
 * Owns: opening the database (WAL mode, busy timeout so concurrent
 * `faultline run` processes both succeed, 0600 permissions), the schema and
 * its numbered migrations (an old database is upgraded, never discarded),
 * writing a run (scenario, environment, label, timeline events, phases,
 * probe summaries, data-loss figures and lost sequence numbers, verdict and
 * failure reasons), reading runs back (newest first, filtered), the JSON form
 * of a run that `faultline runs --json` prints, and the fault journal
 * (committed before a fault is attempted, marked after it is reverted).
 * Does not own: statistics (stats.c) or report formats.
 *
 * Times in a run are milliseconds relative to t0 (the injection) as doubles;
 * a figure that does not apply is NAN (stored and printed as null).
 */
#ifndef FAULTLINE_STORE_H
#define FAULTLINE_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

struct fl_store;

#define FL_STORE_SCHEMA_VERSION 3

struct fl_run_event {
	char *name;               /* "t_inject", "t_impact", "t_detect", "t_restored", "t_validated", ... */
	double t_ms;              /* relative to t0 */
	double uncertainty_ms;    /* NAN when exact */
};

struct fl_run_phase {
	char *name;               /* "detect", "recover", "failover", "validate", step names ... */
	double start_ms, end_ms;  /* relative to t0 */
};

struct fl_probe_summary {
	char *name;
	char *kind;               /* "http", "tcp", "command", "writer" */
	long samples, failures;
	double interval_ms;
	double latency_p50_ms, latency_p99_ms, latency_max_ms; /* NAN when no samples */
	long skipped;             /* ticks not sent because the in-flight cap was reached
				     (the prober was saturated); -1: not measured */
	double max_latency_ms;    /* slower answers were failed samples (derived from the
				     steady state or the scenario's); NAN or 0: none */
};

struct fl_run {
	int64_t id;               /* 0 before insert */
	char *scenario;
	char *environment;
	char *label;              /* version label of the system under test, or NULL */
	char *asset;              /* or NULL */
	int asset_tier;           /* 0 when unknown */
	int64_t started_wall_ns;  /* UTC start, ns since epoch */
	double duration_ms;       /* whole drill */
	char *verdict;            /* "running", "pass", "fail", "error", "aborted" */
	double rto_ms, rto_uncertainty_ms;
	double rpo_ms, rpo_uncertainty_ms;
	double ttv_ms;            /* time to validated recovery */
	double rto_target_ms, rpo_target_ms;  /* NAN: no target */
	long lost_before_fault, lost_after_fault; /* -1: not measured */
	long writes_acked, writes_failed, writes_indeterminate; /* -1: no writer */
	long *lost_seqs;          /* sequence numbers of lost acknowledged writes */
	size_t nlost_seqs;
	struct fl_run_event *events;
	size_t nevents;
	struct fl_run_phase *phases;
	size_t nphases;
	struct fl_probe_summary *probes;
	size_t nprobes;
	char **failures;          /* one-line reasons */
	size_t nfailures;
	char *faultline_version;
	char *host;
	/* Newest good backup of the asset, read after the drill (backup.h):
	 * end time in ns since epoch (0: not recorded) and "full"/"diff"/"incr". */
	int64_t backup_last_good_wall_ns;
	char *backup_last_good_type;  /* or NULL */
};

void fl_run_init(struct fl_run *run);      /* all figures NAN / -1, pointers NULL */
void fl_run_release(struct fl_run *run);   /* frees contents, re-inits */
/* Appenders that copy their string arguments; -1 on allocation failure. */
int fl_run_add_event(struct fl_run *run, const char *name, double t_ms, double unc_ms);
int fl_run_add_phase(struct fl_run *run, const char *name, double start_ms, double end_ms);
int fl_run_add_failure(struct fl_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int fl_run_add_probe(struct fl_run *run, const struct fl_probe_summary *p);
/* Appends one lost acknowledged write's sequence number. */
int fl_run_add_lost_seq(struct fl_run *run, long seq);

/* Opens (creating if needed) and migrates. NULL with err set (FL_EXIT_ENV). */
struct fl_store *fl_store_open(const char *path, struct fl_error *err);
void fl_store_close(struct fl_store *st);
int fl_store_schema_version(struct fl_store *st);

/* Inserts the run with verdict "running"; sets run->id. */
int fl_store_run_begin(struct fl_store *st, struct fl_run *run, struct fl_error *err);
/* Writes everything in run (one transaction) under run->id. */
int fl_store_run_finish(struct fl_store *st, const struct fl_run *run, struct fl_error *err);

struct fl_run_filter {
	const char *scenario;     /* or NULL */
	const char *label;        /* or NULL */
	int64_t since_wall_ns;    /* 0 = any */
	long limit;               /* 0 = all; newest first */
	int include_running;      /* include runs still "running" */
};
/* Calls fn for each run, newest first; fn's return != 0 stops. The run
 * passed to fn is only valid during the call.
 * Returns 0 when every run was visited, fn's non-zero value when fn
 * stopped the walk, -1 with err set on a store error. The walk reads one
 * snapshot inside a read transaction: fn may read the store but must not
 * write to it. */
typedef int (*fl_run_fn)(const struct fl_run *run, void *ctx);
int fl_store_runs_each(struct fl_store *st, const struct fl_run_filter *f, fl_run_fn fn,
		       void *ctx, struct fl_error *err);
/* Loads one run by id into run (caller releases). */
int fl_store_run_get(struct fl_store *st, int64_t id, struct fl_run *run, struct fl_error *err);
/* New JSON object for a run, with the fields docs/cli.md lists for `runs --json`. */
json_t *fl_run_to_json(const struct fl_run *run);
/* Borrowed sqlite3 handle for modules that aggregate in SQL (stats). */
struct sqlite3 *fl_store_db(struct fl_store *st);

/* ---- fault journal -------------------------------------------------------- */
enum fl_journal_state {
	FL_JOURNAL_PENDING = 0,   /* committed, inject about to be attempted or in progress */
	FL_JOURNAL_INJECTED,      /* inject returned success */
	FL_JOURNAL_REVERTED,      /* revert succeeded: closed */
	FL_JOURNAL_REVERT_FAILED  /* revert failed: still open, needs `recover` or a human */
};

struct fl_journal_entry {
	int64_t id;
	int64_t run_id;
	char *injector;
	char *target;
	char *description;
	json_t *revert;           /* owned */
	enum fl_journal_state state;
	char *created_at;
	char *error;              /* last revert error or NULL */
	/* The faultline process that journaled it: `recover` leaves the faults of
	 * a drill that is still running alone (schema 2; NULL/0 for older rows). */
	char *owner_host;
	long owner_pid;
	unsigned long long owner_start;
};

/* Commits a new PENDING row before the fault is attempted; sets *id. */
int fl_journal_begin(struct fl_store *st, int64_t run_id, const char *injector,
		     const char *target, const char *description, const json_t *revert,
		     int64_t *id, struct fl_error *err);
/* Moves a row to a new state (revert JSON replaced when non-NULL, error text
 * recorded when non-NULL). */
int fl_journal_mark(struct fl_store *st, int64_t id, enum fl_journal_state state,
		    const json_t *revert, const char *error, struct fl_error *err);
/* Open rows (PENDING, INJECTED, REVERT_FAILED), oldest first. Caller frees
 * with fl_journal_entries_free. */
int fl_journal_open_entries(struct fl_store *st, struct fl_journal_entry **out, size_t *n,
			    struct fl_error *err);
void fl_journal_entries_free(struct fl_journal_entry *e, size_t n);
const char *fl_journal_state_name(enum fl_journal_state s);

/* The process that owns the current drill, as recorded with every journal
 * row and run it begins: this host's name, getpid() and the process's start
 * time (/proc). */
struct fl_owner {
	char host[256];
	long pid;
	unsigned long long start;
};
void fl_owner_self(struct fl_owner *o);
/* 1 when o names a process that is alive on this host now, 0 when it is
 * certainly gone (same host, pid dead or reused), -1 when this host cannot
 * tell (another host, or an owner not recorded). */
int fl_owner_alive(const char *host, long pid, unsigned long long start);

/* Marks run `id` aborted (if it is still "running") with `reason` as a
 * failure: for drills whose harness died, once their faults are reverted.
 * Returns 1 when the run was changed, 0 when it was not running. */
int fl_store_run_abandon(struct fl_store *st, int64_t id, const char *reason,
			 struct fl_error *err);
/* Runs still "running" whose recorded owner process is gone from this host
 * (new array of ids, fl_free). */
int fl_store_runs_orphaned(struct fl_store *st, int64_t **ids, size_t *n, struct fl_error *err);

#endif
