/*
 * run: the record of one drill, in memory.
 *
 * Owns: struct fl_run and its parts (timeline events, phases, probe
 * summaries, failure reasons, lost sequence numbers), their init/release,
 * the appenders that copy into it, the verdict names, and the JSON form of a
 * run that `faultline runs --json` prints.
 * Does not own: storing or reading runs (store.h), statistics (reports/).
 *
 * Times in a run are milliseconds relative to t0 (the injection) as doubles;
 * a figure that does not apply is NAN (stored and printed as null), a count
 * that was not measured is -1.
 */
#ifndef FAULTLINE_RUN_H
#define FAULTLINE_RUN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct fl_run_event {
	char *name;  /* "t_inject", "t_impact", "t_detect", "t_restored", "t_validated", ... */
	double t_ms; /* relative to t0 */
	double uncertainty_ms; /* NAN when exact */
};

struct fl_run_phase {
	char *name;              /* "detect", "recover", "failover", "validate", step names ... */
	double start_ms, end_ms; /* relative to t0 */
};

struct fl_probe_summary {
	char *name;
	char *kind; /* "http", "tcp", "command", "writer" */
	long samples, failures;
	double interval_ms;
	double latency_p50_ms, latency_p99_ms, latency_max_ms; /* NAN when no samples */
	double max_latency_ms; /* slower answers were failed samples (derived from the
				     steady state or the scenario's); NAN or 0: none */
	long skipped;          /* ticks not sent because the in-flight cap was reached
				     (the prober was saturated); -1: not measured */
};

/* A run's verdict. The store keeps the name (a TEXT column), struct fl_run
 * the name too (char *verdict), so this enum is only the one table of the
 * names and their order. */
enum fl_verdict {
	FL_VERDICT_RUNNING = 0,
	FL_VERDICT_PASS,
	FL_VERDICT_FAIL,
	FL_VERDICT_ERROR,
	FL_VERDICT_ABORTED,
};
/* "running", "pass", "fail", "error", "aborted"; "unknown" out of range. */
const char *fl_verdict_name(enum fl_verdict v);
/* 0 and *out set when name is a verdict, -1 otherwise (NULL included). */
int fl_verdict_parse(const char *name, enum fl_verdict *out);

struct fl_run {
	int64_t id; /* 0 before insert */
	char *scenario;
	char *environment;
	char *label;             /* version label of the system under test, or NULL */
	char *asset;             /* or NULL */
	int asset_tier;          /* 0 when unknown */
	int64_t started_wall_ns; /* UTC start, ns since epoch */
	double duration_ms;      /* whole drill */
	char *verdict;           /* a verdict name (fl_verdict_name) */
	double rto_ms, rto_uncertainty_ms;
	double rpo_ms, rpo_uncertainty_ms;
	double ttv_ms;                                          /* time to validated recovery */
	double rto_target_ms, rpo_target_ms;                    /* NAN: no target */
	long lost_before_fault, lost_after_fault;               /* -1: not measured */
	long writes_acked, writes_failed, writes_indeterminate; /* -1: no writer */
	long writes_failed_present; /* answered as failed, present after recovery: the system lied */
	long *lost_seqs;            /* sequence numbers of lost acknowledged writes */
	size_t nlost_seqs;
	struct fl_run_event *events;
	size_t nevents;
	struct fl_run_phase *phases;
	size_t nphases;
	struct fl_probe_summary *probes;
	size_t nprobes;
	char **failures; /* one-line reasons */
	size_t nfailures;
	char *faultline_version;
	char *host;
	/* Newest good backup of the asset, read after the drill (backup.h):
	 * end time in ns since epoch (0: not recorded) and "full"/"diff"/"incr". */
	int64_t backup_last_good_wall_ns;
	char *backup_last_good_type; /* or NULL */
};

void fl_run_init(struct fl_run *run);    /* all figures NAN / -1, pointers NULL */
void fl_run_release(struct fl_run *run); /* frees contents, re-inits */
/* Appenders that copy their string arguments; -1 on allocation failure
 * (the run is then unchanged). */
int fl_run_add_event(struct fl_run *run, const char *name, double t_ms, double unc_ms);
int fl_run_add_phase(struct fl_run *run, const char *name, double start_ms, double end_ms);
int fl_run_add_failure(struct fl_run *run, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int fl_run_add_probe(struct fl_run *run, const struct fl_probe_summary *p);
/* Appends one lost acknowledged write's sequence number. */
int fl_run_add_lost_seq(struct fl_run *run, long seq);

/* New JSON object for a run, with the fields docs/cli.md lists for `runs --json`. */
json_t *fl_run_to_json(const struct fl_run *run);

#endif
