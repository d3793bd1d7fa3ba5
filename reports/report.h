/*
 * report: the model every report format and the gate are built from.
 *
 * Owns: selecting runs (from the store or added one by one), grouping them by
 * scenario within a window (last N runs per scenario, since a date, a label),
 * computing each scenario's statistics (stats.h) — RTO, RPO and time to
 * validated recovery summaries, one summary per phase, pass rate, the chance
 * of meeting the RTO target, trends, and an optional baseline/candidate
 * comparison — and the executive summary of assets by tier (target vs
 * achieved, last drilled, stale flags) joined with an inventory.
 * Does not own: formatting (report_html/json/junit/md) or pass/fail rules of
 * a pipeline (gate.c).
 *
 * Scale. A history can hold a million runs, so fl_report_load does not hold
 * a scenario's window: it streams it once, newest first (one indexed query
 * that stops after the window's last run, so a gate over the last 10 runs
 * touches O(scenarios x 10) rows), folding in the counts and the trends,
 * keeping the trend chart's sample, and handing each figure to an external
 * sort (sorter.h); each summary is then computed from its figure's sorted
 * values (report_stream.c, stats.h "streaming"). A baseline/candidate
 * comparison streams too: each figure's baseline and candidate values go to
 * sorters of their own and are compared from their sorted streams
 * (fl_stats_compare_sorted), for RTO, RPO, TTV and every phase, since the
 * gate's regression rule may name any of them. One path still holds the
 * window as columns (struct fl_report_series: start time, RTO, RPO, time to
 * validated recovery, flags, one column per phase — about 60 bytes a run):
 * runs added one by one (fl_report_add_run), computed in fl_report_finish
 * and let go once computed. Only the newest `keep_runs`
 * runs of each scenario (default FL_REPORT_KEEP_RUNS) are held in full, as
 * deep copies owned by the report (events, phases and failures; probes and
 * lost sequence numbers are not needed by any report and are not copied):
 * they feed the run tables, the Gantt timeline, JUnit test cases and the
 * JSON run list. Statistics always cover the whole window.
 */
#ifndef FAULTLINE_REPORT_H
#define FAULTLINE_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/inventory.h"
#include "reports/stats.h"
#include "core/store.h"
#include "core/error.h"
#include "core/buf.h"

#define FL_REPORT_SCHEMA "faultline.report/1" /* JSON schema id, bumped on breaking change */
#define FL_REPORT_STALE_DAYS 30
#define FL_REPORT_ALPHA 0.05
#define FL_REPORT_KEEP_RUNS 50     /* newest runs per scenario held in full (tables, JUnit, JSON) */
#define FL_REPORT_SPARE_PHASES 8   /* phase columns kept for reuse by the next scenario */
#define FL_REPORT_CHART_POINTS 400 /* trend-chart points kept per scenario; more runs are thinned */

struct fl_report_options {
	const char *title;     /* default "faultline disaster-recovery report" */
	const char *scenario;  /* only this scenario, or NULL */
	const char *label;     /* only runs with this label, or NULL */
	int64_t since_wall_ns; /* 0: any */
	long last;             /* last N runs per scenario, 0: all */
	long stale_days;       /* assets with no drill in this many days are flagged */
	const char *baseline;  /* label pair for the release comparison, or NULL */
	const char *candidate;
	unsigned long seed;  /* bootstrap seed; 0: FL_STATS_SEED */
	size_t resamples;    /* 0: FL_STATS_RESAMPLES */
	int64_t now_wall_ns; /* 0: the wall clock (fixed in golden tests) */
	long keep_runs;      /* newest runs per scenario held in full; 0: FL_REPORT_KEEP_RUNS */
};

/* Flags of a run in a series. */
#define FL_REPORT_PASSED 1u    /* verdict "pass" */
#define FL_REPORT_BASELINE 2u  /* label is the comparison's baseline */
#define FL_REPORT_CANDIDATE 4u /* label is the comparison's candidate */

/* A scenario's window as columns, newest first, one entry per run; NAN
 * where a figure was not measured. Arrays are owned by the report. */
struct fl_report_series {
	size_t n, cap;
	int64_t *started_wall_ns;
	double *rto, *rpo, *ttv;
	unsigned char *flags;
};

/* The trend chart's points: every stride-th run of the window, newest
 * first (at most FL_REPORT_CHART_POINTS), with the extents of the whole
 * window, so the chart spans every run without the report holding them. */
struct fl_report_chart {
	size_t n, total, stride; /* points kept, runs in the window, step between points */
	int64_t *started_wall_ns;
	double *rto, *rpo; /* NAN: not measured */
	unsigned char *flags;
	int64_t t0, t1; /* oldest and newest start in the window; INT64_MAX/MIN when empty */
	double ymax_ms; /* largest RTO or RPO in the window, 0 when none */
	int has_rpo;    /* some run of the window measured RPO */
};

/* The RTO histogram of the window in seconds: Sturges' rule, at most 30
 * bins, uniform from the smallest to the largest RTO. bins 0: no RTO. */
struct fl_report_histogram {
	size_t bins;
	double *range; /* bins + 1 edges */
	double *count; /* bins */
};

struct fl_phase_stats {
	char *name;
	struct fl_summary s;       /* duration end - start over runs that have the phase */
	struct fl_compare compare; /* candidate vs baseline durations (has_compare) */
	double *values; /* per entry of the series: duration, NAN when the run lacks the phase */
};

struct fl_report_scenario {
	char *name;
	struct fl_run *runs; /* the newest nkept runs of the window in full, newest first, owned */
	size_t nkept;        /* min(nruns, keep_runs) */
	size_t nruns;        /* runs in the window: what the statistics cover */
	struct fl_report_series series; /* runs added one by one; emptied once computed */
	struct fl_report_chart chart;
	struct fl_report_histogram rto_hist;
	int computed; /* statistics done (fl_report_load computes each scenario as it loads) */
	char *asset;  /* of the newest run, or NULL */
	int asset_tier;
	double rto_target_ms, rpo_target_ms; /* of the newest run that has one; NAN: none */
	struct fl_summary rto, rpo, ttv;
	struct fl_phase_stats *phases; /* in order of first appearance */
	size_t nphases;
	long passed;
	struct fl_proportion pass;    /* pass / all runs (error and aborted count against) */
	struct fl_lognormal rto_meet; /* P(RTO <= target), empirical and modelled */
	struct fl_trend rto_trend, rpo_trend; /* x in weeks since the first run, y in ms */
	long lost_before, lost_after; /* sums over runs that measured them; -1: never measured */
	long loss_measured;           /* runs with a writer */
	int has_compare; /* a baseline and a candidate were given: the compares below are set */
	struct fl_compare compare; /* RTO of candidate-label runs vs baseline-label runs */
	struct fl_compare compare_rpo, compare_ttv; /* the same of RPO, TTV; phases: their own */
};

struct fl_report_asset {
	char *name;
	char *kind; /* or NULL */
	int tier;   /* 0: unknown */
	int in_inventory;
	double rto_target_ms, rpo_target_ms; /* NAN: none */
	const struct fl_run *last; /* borrowed: newest run of the asset, or NULL (never drilled) */
	size_t nscenarios;         /* scenarios that exercise it */
	int64_t drill_every_ns;    /* the inventory's drill_every, or -1 (stale_days applies) */
	int stale;                 /* never drilled, or not within drill_every (else stale_days) */
};

struct fl_report {
	char *title;
	int64_t generated_wall_ns;
	long last, stale_days;
	char *scenario_filter, *label_filter, *baseline, *candidate;
	int64_t since_wall_ns;
	unsigned long seed;
	size_t resamples;
	size_t keep_runs;
	struct fl_report_scenario *scenarios; /* sorted by name */
	size_t nscenarios;
	struct fl_report_asset *assets; /* sorted by tier (unknown last), then name */
	size_t nassets;
	size_t nruns; /* over all scenarios */
	/* The columns of the last computed scenario, handed to the next one
	 * read: scenarios reuse one set of arrays instead of each growing its
	 * own (no regrowth, no holes left in the heap between scenarios). */
	struct fl_report_series spare;
	double *spare_phases[FL_REPORT_SPARE_PHASES]; /* each spare.cap long */
	size_t nspare_phases;
};

/* Sets up an empty report with the options copied (NULL opts: defaults). */
int fl_report_init(struct fl_report *r, const struct fl_report_options *opts);
void fl_report_release(struct fl_report *r);

/* Adds run to its scenario's series, and a deep copy of it while the
 * scenario holds fewer than keep_runs runs in full. Runs must come newest
 * first per scenario (as the store yields them); a run beyond the
 * per-scenario `last`, before `since`, with another label or scenario than
 * the filter, or still "running", is skipped. Returns 1 when added, 0 when
 * skipped, -1 on allocation failure or when the run's scenario is already
 * computed (fl_report_load computes each scenario it reads; add runs to a
 * loaded report only for scenarios it did not hold). */
int fl_report_add_run(struct fl_report *r, const struct fl_run *run, struct fl_error *err);

/* Reads the matching runs from the store into r, in one read transaction:
 * per scenario, one indexed query (runs joined with their phases, newest
 * first) that stops at the window's last run, then the newest keep_runs
 * runs in full. */
int fl_report_load(struct fl_report *r, struct fl_store *st, struct fl_error *err);

/* Fill s->chart and s->rto_hist from s's columns (s->rto already
 * summarised for the histogram). 0, -1 on allocation failure. Called by
 * fl_report_load and fl_report_finish. */
int fl_report_chart_build(struct fl_report_scenario *s);
int fl_report_histogram_build(struct fl_report_scenario *s);

/* Computes every statistic and the asset summary (inv may be NULL). Call
 * once after the runs are in. */
int fl_report_finish(struct fl_report *r, const struct fl_inventory *inv, struct fl_error *err);

/* Why a run failed, for JUnit and the run table: its recorded reasons joined
 * with "; ", or, when it recorded none, the targets it missed and by how
 * much ("rto 7.200 s > target 5.000 s by 2.200 s"). Appends to out. */
void fl_report_run_reason(const struct fl_run *run, struct fl_buf *out);

/* A window description: "last 10 runs", "all runs since 2026-01-01", ... */
const char *fl_report_window(const struct fl_report *r, char *buf, size_t n);

/* Appends s with &, <, >, " and ' as entities and the control characters
 * XML 1.0 forbids replaced by U+FFFD, for HTML text, attributes and XML. */
void fl_report_escape_xml(struct fl_buf *out, const char *s);

/* Parses a --since value: "YYYY-MM-DD" or RFC 3339 "YYYY-MM-DDTHH:MM:SSZ"
 * (UTC). 0 or -1. */
int fl_report_parse_date(const char *s, int64_t *wall_ns);

/* "2 h 13 m before the drill, full" for a backup that ended at backup_wall_ns
 * and a drill that started at drill_wall_ns ("during the drill" when the
 * backup ended after the start); "not recorded" when backup_wall_ns is 0.
 * type may be NULL. Returns buf. */
const char *fl_backup_age_describe(int64_t drill_wall_ns, int64_t backup_wall_ns, const char *type,
				   char *buf, size_t n);

/* ---- internal to reports/ (report.c, report_stream.c, report_charts.c) ---- */

/* The scenario named name, created when create and not there yet; NULL
 * when out of memory (or absent). */
struct fl_report_scenario *fl_report_scenario_find(struct fl_report *r, const char *name, int create);
/* Appends a deep copy of run to s->runs. 0, -1 out of memory. */
int fl_report_scenario_keep(struct fl_report *r, struct fl_report_scenario *s,
			    const struct fl_run *run);
/* Reads the newest keep_runs runs of s's window (window: its filter) into
 * s->runs in full, newest first. 0, -1 with err set. */
int fl_report_keep_newest(struct fl_report *r, struct fl_report_scenario *s, struct fl_store *st,
			  const struct fl_run_filter *window, struct fl_error *err);
/* Folds one run into s's window counts (pass, targets, losses, nruns)
 * and returns its FL_REPORT_* flags. */
unsigned char fl_report_scenario_fold(struct fl_report *r, struct fl_report_scenario *s,
				      const struct fl_run_figures *f);
/* Reads and computes scenario name without holding its window as columns
 * (report_stream.c): one newest-first read for the counts, the trends, the
 * chart sample and each figure's sorter, the newest keep_runs runs in
 * full, then every summary and the RTO histogram from the sorted values. */
int fl_report_stream_load(struct fl_report *r, struct fl_store *st, const char *name,
			  struct fl_error *err);
/* The RTO histogram's bins for n values from min_ms to max_ms, and its
 * range in seconds [*lo, *hi) (report_charts.c); 0 when n is 0. */
size_t fl_report_histogram_shape(size_t n, double min_ms, double max_ms, double *lo, double *hi);
/* Copies bins counts and bins + 1 edges into s->rto_hist. 0, -1. */
int fl_report_histogram_keep(struct fl_report_scenario *s, const double *range, const double *count,
			     size_t bins);

#endif
