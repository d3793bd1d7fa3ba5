/*
 * report: selects runs, groups them by scenario and computes the statistics
 * and the asset summary every output format prints. See report.h.
 */
#include "reports/report.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_WEEK (7.0 * 86400.0 * 1e9)

int fl_report_init(struct fl_report *r, const struct fl_report_options *opts)
{
	struct fl_report_options def = { 0 };
	if (!opts)
		opts = &def;
	memset(r, 0, sizeof(*r));
	r->title = fl_strdup(opts->title ? opts->title : "faultline disaster-recovery report");
	r->scenario_filter = fl_strdup(opts->scenario);
	r->label_filter = fl_strdup(opts->label);
	r->baseline = fl_strdup(opts->baseline);
	r->candidate = fl_strdup(opts->candidate);
	r->since_wall_ns = opts->since_wall_ns;
	r->last = opts->last > 0 ? opts->last : 0;
	r->stale_days = opts->stale_days > 0 ? opts->stale_days : FL_REPORT_STALE_DAYS;
	r->seed = opts->seed ? opts->seed : FL_STATS_SEED;
	r->resamples = opts->resamples ? opts->resamples : FL_STATS_RESAMPLES;
	r->keep_runs = opts->keep_runs > 0 ? (size_t)opts->keep_runs : FL_REPORT_KEEP_RUNS;
	r->generated_wall_ns = opts->now_wall_ns ? opts->now_wall_ns : fl_wall_ns();
	if (!r->title || (opts->scenario && !r->scenario_filter) ||
	    (opts->label && !r->label_filter) || (opts->baseline && !r->baseline) ||
	    (opts->candidate && !r->candidate)) {
		fl_report_release(r);
		return -1;
	}
	return 0;
}

static void scenario_release(struct fl_report_scenario *s)
{
	for (size_t i = 0; i < s->nkept; i++)
		fl_run_release(&s->runs[i]);
	fl_free(s->runs);
	for (size_t i = 0; i < s->nphases; i++) {
		fl_free(s->phases[i].name);
		fl_free(s->phases[i].values);
	}
	fl_free(s->phases);
	fl_free(s->series.started_wall_ns);
	fl_free(s->series.rto);
	fl_free(s->series.rpo);
	fl_free(s->series.ttv);
	fl_free(s->series.flags);
	fl_free(s->chart.started_wall_ns);
	fl_free(s->chart.rto);
	fl_free(s->chart.rpo);
	fl_free(s->chart.flags);
	fl_free(s->rto_hist.range);
	fl_free(s->rto_hist.count);
	fl_free(s->asset);
	fl_free(s->name);
}

/* Frees the spare columns (report.h: struct fl_report.spare). */
static void spare_free(struct fl_report *r)
{
	fl_free(r->spare.started_wall_ns);
	fl_free(r->spare.rto);
	fl_free(r->spare.rpo);
	fl_free(r->spare.ttv);
	fl_free(r->spare.flags);
	for (size_t i = 0; i < r->nspare_phases; i++)
		fl_free(r->spare_phases[i]);
	memset(&r->spare, 0, sizeof(r->spare));
	r->nspare_phases = 0;
}

void fl_report_release(struct fl_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nscenarios; i++)
		scenario_release(&r->scenarios[i]);
	fl_free(r->scenarios);
	for (size_t i = 0; i < r->nassets; i++) {
		fl_free(r->assets[i].name);
		fl_free(r->assets[i].kind);
	}
	fl_free(r->assets);
	spare_free(r);
	fl_free(r->title);
	fl_free(r->scenario_filter);
	fl_free(r->label_filter);
	fl_free(r->baseline);
	fl_free(r->candidate);
	memset(r, 0, sizeof(*r));
}

/* Copies what reports need from src into an initialised dst. */
static int run_copy(struct fl_run *dst, const struct fl_run *src)
{
	struct fl_run keep;
	fl_run_init(dst);
	keep = *dst;
	*dst = *src;
	/* Pointers are replaced below; start from the empty ones. */
	dst->scenario = dst->environment = dst->label = dst->asset = NULL;
	dst->verdict = dst->faultline_version = dst->host = NULL;
	dst->backup_last_good_type = NULL;
	dst->lost_seqs = keep.lost_seqs;
	dst->nlost_seqs = 0;
	dst->events = keep.events;
	dst->nevents = 0;
	dst->phases = keep.phases;
	dst->nphases = 0;
	dst->probes = keep.probes;
	dst->nprobes = 0;
	dst->failures = keep.failures;
	dst->nfailures = 0;
	if ((src->scenario && !(dst->scenario = fl_strdup(src->scenario))) ||
	    (src->environment && !(dst->environment = fl_strdup(src->environment))) ||
	    (src->label && !(dst->label = fl_strdup(src->label))) ||
	    (src->asset && !(dst->asset = fl_strdup(src->asset))) ||
	    (src->verdict && !(dst->verdict = fl_strdup(src->verdict))) ||
	    (src->backup_last_good_type &&
	     !(dst->backup_last_good_type = fl_strdup(src->backup_last_good_type))))
		return -1;
	for (size_t i = 0; i < src->nevents; i++)
		if (fl_run_add_event(dst, src->events[i].name, src->events[i].t_ms,
				     src->events[i].uncertainty_ms) < 0)
			return -1;
	for (size_t i = 0; i < src->nphases; i++)
		if (fl_run_add_phase(dst, src->phases[i].name, src->phases[i].start_ms,
				     src->phases[i].end_ms) < 0)
			return -1;
	for (size_t i = 0; i < src->nfailures; i++)
		if (fl_run_add_failure(dst, "%s", src->failures[i]) < 0)
			return -1;
	return 0;
}

/* Appends a deep copy of run to s->runs (room for keep_runs made on first use). */
int fl_report_scenario_keep(struct fl_report *r, struct fl_report_scenario *s,
			    const struct fl_run *run)
{
	if (!s->runs) {
		s->runs = fl_calloc(r->keep_runs, sizeof(*s->runs));
		if (!s->runs)
			return -1;
	}
	if (run_copy(&s->runs[s->nkept], run) < 0) {
		fl_run_release(&s->runs[s->nkept]);
		return -1;
	}
	s->nkept++;
	return 0;
}

struct fl_report_scenario *fl_report_scenario_find(struct fl_report *r, const char *name, int create)
{
	struct fl_report_scenario *s;
	for (size_t i = 0; i < r->nscenarios; i++)
		if (!strcmp(r->scenarios[i].name, name))
			return &r->scenarios[i];
	if (!create)
		return NULL;
	s = fl_realloc(r->scenarios, (r->nscenarios + 1) * sizeof(*s));
	if (!s)
		return NULL;
	r->scenarios = s;
	s = &r->scenarios[r->nscenarios];
	memset(s, 0, sizeof(*s));
	s->rto_target_ms = s->rpo_target_ms = NAN;
	s->lost_before = s->lost_after = -1;
	s->name = fl_strdup(name);
	if (!s->name)
		return NULL;
	r->nscenarios++;
	return s;
}

/* Makes room for one more entry in every column of the series. Grows by
 * doubling: a million-run window must not realloc per run. */
static int series_reserve(struct fl_report *r, struct fl_report_scenario *s)
{
	struct fl_report_series *se = &s->series;
	size_t cap;
	void *p;

	if (se->cap == 0 && r->spare.started_wall_ns) {
		/* The previous scenario's columns, as long as they were. */
		se->started_wall_ns = r->spare.started_wall_ns;
		se->rto = r->spare.rto;
		se->rpo = r->spare.rpo;
		se->ttv = r->spare.ttv;
		se->flags = r->spare.flags;
		se->cap = r->spare.cap;
		r->spare.started_wall_ns = NULL;
		r->spare.rto = r->spare.rpo = r->spare.ttv = NULL;
		r->spare.flags = NULL;
	}
	if (se->n < se->cap)
		return 0;
	cap = se->cap ? se->cap * 2 : 16;
#define GROW(field)                                                                                \
	do {                                                                                       \
		p = fl_realloc(field, cap * sizeof(*(field)));                                     \
		if (!p)                                                                            \
			return -1;                                                                 \
		field = p;                                                                         \
	} while (0)
	GROW(se->started_wall_ns);
	GROW(se->rto);
	GROW(se->rpo);
	GROW(se->ttv);
	GROW(se->flags);
	for (size_t k = 0; k < s->nphases; k++)
		GROW(s->phases[k].values);
#undef GROW
	se->cap = cap;
	return 0;
}

/* The phase's index in s, created (with a column of NAN so far) at first sight. */
static int phase_index(struct fl_report *r, struct fl_report_scenario *s, const char *name)
{
	struct fl_phase_stats *p;
	for (size_t i = 0; i < s->nphases; i++)
		if (!strcmp(s->phases[i].name, name))
			return (int)i;
	p = fl_realloc(s->phases, (s->nphases + 1) * sizeof(*p));
	if (!p)
		return -1;
	s->phases = p;
	p = &p[s->nphases];
	memset(p, 0, sizeof(*p));
	p->name = fl_strdup(name);
	if (r->nspare_phases > 0 && s->series.cap == r->spare.cap)
		p->values = r->spare_phases[--r->nspare_phases];
	else
		p->values = fl_malloc((s->series.cap ? s->series.cap : 1) * sizeof(double));
	if (!p->name || !p->values) {
		fl_free(p->name);
		fl_free(p->values);
		return -1;
	}
	for (size_t i = 0; i < s->series.n; i++)
		p->values[i] = NAN;
	return (int)s->nphases++;
}

static int is_label(const char *label, const char *want)
{
	return want && label && !strcmp(label, want);
}

/* Folds one run into the window's counts (pass, targets, losses, runs);
 * returns its flags (report.h: FL_REPORT_PASSED ...). */
unsigned char fl_report_scenario_fold(struct fl_report *r, struct fl_report_scenario *s,
				      const struct fl_run_figures *f)
{
	unsigned char flags = 0;

	if (f->verdict && !strcmp(f->verdict, "pass")) {
		flags |= FL_REPORT_PASSED;
		s->passed++;
	}
	if (is_label(f->label, r->baseline))
		flags |= FL_REPORT_BASELINE;
	if (is_label(f->label, r->candidate))
		flags |= FL_REPORT_CANDIDATE;
	/* Runs come newest first: the first target seen is the newest one. */
	if (isnan(s->rto_target_ms) && !isnan(f->rto_target_ms))
		s->rto_target_ms = f->rto_target_ms;
	if (isnan(s->rpo_target_ms) && !isnan(f->rpo_target_ms))
		s->rpo_target_ms = f->rpo_target_ms;
	if (f->lost_before_fault >= 0 || f->lost_after_fault >= 0)
		s->loss_measured++;
	if (f->lost_before_fault >= 0)
		s->lost_before = (s->lost_before < 0 ? 0 : s->lost_before) + f->lost_before_fault;
	if (f->lost_after_fault >= 0)
		s->lost_after = (s->lost_after < 0 ? 0 : s->lost_after) + f->lost_after_fault;
	s->nruns++;
	r->nruns++;
	return flags;
}

/* Appends one run's figures to the series and folds it into the window's
 * counts; its phases follow with series_phase. */
static int series_add(struct fl_report *r, struct fl_report_scenario *s,
		      const struct fl_run_figures *f)
{
	struct fl_report_series *se = &s->series;
	size_t i;

	if (series_reserve(r, s) < 0)
		return -1;
	i = se->n++;
	se->started_wall_ns[i] = f->started_wall_ns;
	se->rto[i] = f->rto_ms;
	se->rpo[i] = f->rpo_ms;
	se->ttv[i] = f->ttv_ms;
	for (size_t k = 0; k < s->nphases; k++)
		s->phases[k].values[i] = NAN;
	se->flags[i] = fl_report_scenario_fold(r, s, f);
	return 0;
}

/* Records a phase of the newest series entry. A run that names a phase
 * twice counts its first occurrence, as the phase table always has. */
static int series_phase(struct fl_report *r, struct fl_report_scenario *s, const char *name,
			double start_ms, double end_ms)
{
	int k = phase_index(r, s, name);
	double *v;
	if (k < 0)
		return -1;
	v = &s->phases[k].values[s->series.n - 1];
	if (isnan(*v))
		*v = end_ms - start_ms;
	return 0;
}

int fl_report_add_run(struct fl_report *r, const struct fl_run *run, struct fl_error *err)
{
	struct fl_report_scenario *s;
	struct fl_run_figures f;
	const char *name = run->scenario ? run->scenario : "(unnamed)";

	if (run->verdict && !strcmp(run->verdict, "running"))
		return 0;
	if (r->scenario_filter && strcmp(r->scenario_filter, name))
		return 0;
	if (r->label_filter && (!run->label || strcmp(r->label_filter, run->label)))
		return 0;
	if (r->since_wall_ns && run->started_wall_ns < r->since_wall_ns)
		return 0;
	s = fl_report_scenario_find(r, name, 1);
	if (!s)
		return fl_error_oom(err, "report");
	if (r->last > 0 && s->nruns >= (size_t)r->last)
		return 0;
	/* Its columns are gone once computed (fl_report_load computes as it reads). */
	if (s->computed)
		return fl_error_set(err, FL_EXIT_INPUT,
				    "report: run of scenario %s added after its statistics were computed",
				    name);
	if (s->nkept < r->keep_runs && fl_report_scenario_keep(r, s, run) < 0)
		return fl_error_oom(err, "report");
	f = (struct fl_run_figures){ .id = run->id,
				     .started_wall_ns = run->started_wall_ns,
				     .verdict = run->verdict,
				     .label = run->label,
				     .rto_ms = run->rto_ms,
				     .rpo_ms = run->rpo_ms,
				     .ttv_ms = run->ttv_ms,
				     .rto_target_ms = run->rto_target_ms,
				     .rpo_target_ms = run->rpo_target_ms,
				     .lost_before_fault = run->lost_before_fault,
				     .lost_after_fault = run->lost_after_fault };
	if (series_add(r, s, &f) < 0)
		return fl_error_oom(err, "report");
	for (size_t k = 0; k < run->nphases; k++)
		if (series_phase(r, s, run->phases[k].name, run->phases[k].start_ms,
				 run->phases[k].end_ms) < 0)
			return fl_error_oom(err, "report");
	return 1;
}

/* ---- loading from the store ------------------------------------------------ */

static int scenario_finish(struct fl_report *r, struct fl_report_scenario *s);

struct load_ctx {
	struct fl_report *r;
	struct fl_report_scenario *s; /* created at the scenario's first run */
	const char *name;
	int failed; /* out of memory in a callback */
};

/* One run of the window: its figures into the series, its phases into
 * their columns. */
static int load_figures_cb(const struct fl_run_figures *f, void *ctx)
{
	struct load_ctx *k = ctx;
	if (!k->s && !(k->s = fl_report_scenario_find(k->r, k->name, 1)))
		goto oom;
	if (series_add(k->r, k->s, f) < 0)
		goto oom;
	for (size_t i = 0; i < f->nphases; i++)
		if (series_phase(k->r, k->s, f->phases[i].name, f->phases[i].start_ms,
				 f->phases[i].end_ms) < 0)
			goto oom;
	return 0;
oom:
	k->failed = 1;
	return 1;
}

struct keep_ctx {
	struct fl_report *r;
	struct fl_report_scenario *s;
};

static int keep_cb(const struct fl_run *run, void *ctx)
{
	struct keep_ctx *k = ctx;
	return fl_report_scenario_keep(k->r, k->s, run) < 0;
}

int fl_report_keep_newest(struct fl_report *r, struct fl_report_scenario *s, struct fl_store *st,
			  const struct fl_run_filter *window, struct fl_error *err)
{
	struct fl_run_filter f = *window;
	struct keep_ctx k = { r, s };
	int rc;

	f.limit = (long)(s->nruns < r->keep_runs ? s->nruns : r->keep_runs);
	rc = fl_store_runs_each(st, &f, keep_cb, &k, err);
	if (rc != 0)
		return rc < 0 ? -1 : fl_error_oom(err, "report");
	return 0;
}

/* One scenario: the window's columns, then its newest keep_runs runs in
 * full for the tables (same filters, same order). */
static int load_scenario(struct fl_report *r, struct fl_store *st, const char *name,
			 struct fl_error *err)
{
	struct fl_run_filter f = { 0 };
	struct load_ctx k = { r, NULL, name, 0 };
	const struct fl_report_scenario *had = fl_report_scenario_find(r, name, 0);
	int rc;

	/* Streamed unless the scenario already holds runs added one by one. */
	if (!(had && had->nruns > 0))
		return fl_report_stream_load(r, st, name, err);
	f.scenario = name;
	f.label = r->label_filter;
	f.since_wall_ns = r->since_wall_ns;
	f.limit = r->last;
	rc = fl_store_figures_each(st, &f, load_figures_cb, &k, err);
	if (rc != 0)
		return rc < 0 ? -1 : fl_error_oom(err, "report");
	if (!k.s)
		return 0;
	if (fl_report_keep_newest(r, k.s, st, &f, err) < 0)
		return -1;
	/* Now, not in fl_report_finish: one scenario's columns at a time. */
	if (scenario_finish(r, k.s) < 0)
		return fl_error_oom(err, "report");
	return 0;
}

int fl_report_load(struct fl_report *r, struct fl_store *st, struct fl_error *err)
{
	char **names = NULL;
	size_t nnames = 0;
	int rc = -1, opened;

	/* One snapshot for the names, the columns and the runs kept in full. */
	opened = fl_store_read_begin(st, err);
	if (opened < 0)
		return -1;
	if (r->scenario_filter) {
		names = fl_calloc(1, sizeof(*names));
		if (!names || !(names[0] = fl_strdup(r->scenario_filter))) {
			fl_error_oom(err, "report");
			goto out;
		}
		nnames = 1;
	} else if (fl_store_scenarios(st, &names, &nnames, err) < 0) {
		goto out;
	}
	for (size_t i = 0; i < nnames; i++)
		if (load_scenario(r, st, names[i], err) < 0)
			goto out;
	rc = 0;
out:
	if (fl_store_read_end(st, opened, err) < 0)
		rc = -1;
	fl_store_names_free(names, nnames);
	return rc;
}

/* ---- statistics ------------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct fl_report_scenario *)a)->name,
		      ((const struct fl_report_scenario *)b)->name);
}

static int asset_cmp(const void *a, const void *b)
{
	const struct fl_report_asset *x = a, *y = b;
	int tx = x->tier > 0 ? x->tier : 99, ty = y->tier > 0 ? y->tier : 99;
	if (tx != ty)
		return tx < ty ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The baseline's and the candidate's values of one column (NAN: not
 * measured), compared. */
static int compare_column(const struct fl_report_scenario *s, const double *col,
			  struct fl_compare *out)
{
	const struct fl_report_series *se = &s->series;
	double *base = fl_malloc((se->n ? se->n : 1) * sizeof(double));
	double *cand = fl_malloc((se->n ? se->n : 1) * sizeof(double));
	size_t nb = 0, nc = 0;
	int rc = -1;

	if (!base || !cand)
		goto out;
	for (size_t i = 0; i < se->n; i++) {
		if ((se->flags[i] & FL_REPORT_BASELINE) && !isnan(col[i]))
			base[nb++] = col[i];
		if ((se->flags[i] & FL_REPORT_CANDIDATE) && !isnan(col[i]))
			cand[nc++] = col[i];
	}
	rc = fl_stats_compare(base, nb, cand, nc, out);
out:
	fl_free(base);
	fl_free(cand);
	return rc;
}

/* Rewrites the start times as weeks since first, element by element in the
 * same memory (both 8 bytes; memcpy keeps it free of aliasing). */
static double *to_weeks_in_place(int64_t *t, size_t n, int64_t first)
{
	unsigned char *b = (unsigned char *)t;
	for (size_t i = 0; i < n; i++) {
		int64_t v;
		double w;
		memcpy(&v, b + i * sizeof(v), sizeof(v));
		w = (double)(v - first) / NS_PER_WEEK;
		memcpy(b + i * sizeof(w), &w, sizeof(w));
	}
	return (double *)(void *)t;
}

/* The columns are let go afterwards (the comparisons are done first), so
 * the start times and the RPO column may be overwritten; build the chart
 * first. */
static int scenario_compute(struct fl_report *r, struct fl_report_scenario *s)
{
	struct fl_report_series *se = &s->series;
	size_t n = se->n, m = 0;
	double *weeks;
	int64_t first = INT64_MAX;

	if (s->nkept > 0) {
		s->asset = fl_strdup(s->runs[0].asset);
		if (s->runs[0].asset && !s->asset)
			return -1;
		s->asset_tier = s->runs[0].asset_tier;
	}
	if (fl_stats_summarize(se->rto, n, r->seed, r->resamples, &s->rto) < 0 ||
	    fl_stats_summarize(se->rpo, n, r->seed, r->resamples, &s->rpo) < 0 ||
	    fl_stats_summarize(se->ttv, n, r->seed, r->resamples, &s->ttv) < 0)
		return -1;
	/* A run without a phase holds NAN in its column, which the summary skips. */
	for (size_t p = 0; p < s->nphases; p++)
		if (fl_stats_summarize(s->phases[p].values, n, r->seed, r->resamples,
				       &s->phases[p].s) < 0)
			return -1;
	fl_stats_wilson(s->passed, (long)n, &s->pass);
	if (fl_stats_lognormal(se->rto, n, s->rto_target_ms, &s->rto_meet) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (se->started_wall_ns[i] < first)
			first = se->started_wall_ns[i];
	/* The time axis overwrites the start times (same size) and the RPO
	 * trend compacts in place, so the peak is the columns plus one copy
	 * (a summary's), not three. */
	weeks = to_weeks_in_place(se->started_wall_ns, n, first);
	if (fl_stats_trend(weeks, se->rto, n, &s->rto_trend) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!isnan(weeks[i]) && !isnan(se->rpo[i])) {
			weeks[m] = weeks[i];
			se->rpo[m] = se->rpo[i];
			m++;
		}
	return fl_stats_trend(weeks, se->rpo, m, &s->rpo_trend) < 0 ? -1 : 0;
}

/* Lets s's columns go: kept as the report's spare when they are at least
 * as long as the spare (the next scenario starts from them), else freed. */
static void series_recycle(struct fl_report *r, struct fl_report_scenario *s)
{
	struct fl_report_series *se = &s->series;
	int keep = se->cap > 0 && se->cap >= r->spare.cap;

	if (keep) {
		spare_free(r);
		r->spare = *se;
		r->spare.n = 0;
	} else {
		fl_free(se->started_wall_ns);
		fl_free(se->rto);
		fl_free(se->rpo);
		fl_free(se->ttv);
		fl_free(se->flags);
	}
	for (size_t k = 0; k < s->nphases; k++) {
		if (keep && r->nspare_phases < FL_REPORT_SPARE_PHASES)
			r->spare_phases[r->nspare_phases++] = s->phases[k].values;
		else
			fl_free(s->phases[k].values);
		s->phases[k].values = NULL;
	}
	memset(se, 0, sizeof(*se));
}

/* Every figure's baseline/candidate comparison, before scenario_compute
 * overwrites the columns. */
static int compares(const struct fl_report *r, struct fl_report_scenario *s)
{
	if (!(r->baseline && r->candidate))
		return 0;
	s->has_compare = 1;
	if (compare_column(s, s->series.rto, &s->compare) < 0 ||
	    compare_column(s, s->series.rpo, &s->compare_rpo) < 0 ||
	    compare_column(s, s->series.ttv, &s->compare_ttv) < 0)
		return -1;
	for (size_t p = 0; p < s->nphases; p++)
		if (compare_column(s, s->phases[p].values, &s->phases[p].compare) < 0)
			return -1;
	return 0;
}

/* Computes s's statistics, what the charts draw and the comparisons, then
 * lets its columns go. */
static int scenario_finish(struct fl_report *r, struct fl_report_scenario *s)
{
	if (s->computed)
		return 0;
	if (fl_report_chart_build(s) < 0 || compares(r, s) < 0 || scenario_compute(r, s) < 0 ||
	    fl_report_histogram_build(s) < 0)
		return -1;
	s->computed = 1;
	series_recycle(r, s);
	return 0;
}

static struct fl_report_asset *asset_find(struct fl_report *r, const char *name, int create)
{
	struct fl_report_asset *a;
	for (size_t i = 0; i < r->nassets; i++)
		if (!strcmp(r->assets[i].name, name))
			return &r->assets[i];
	if (!create)
		return NULL;
	a = fl_realloc(r->assets, (r->nassets + 1) * sizeof(*a));
	if (!a)
		return NULL;
	r->assets = a;
	a = &r->assets[r->nassets];
	memset(a, 0, sizeof(*a));
	a->rto_target_ms = a->rpo_target_ms = NAN;
	a->drill_every_ns = -1;
	a->name = fl_strdup(name);
	if (!a->name)
		return NULL;
	r->nassets++;
	return a;
}

static int assets_compute(struct fl_report *r, const struct fl_inventory *inv)
{
	int64_t stale_ns = (int64_t)r->stale_days * 86400 * FL_NS_PER_S;

	for (size_t i = 0; inv && i < inv->nassets; i++) {
		const struct fl_asset *as = &inv->assets[i];
		struct fl_report_asset *a = asset_find(r, as->name, 1);
		if (!a)
			return -1;
		a->in_inventory = 1;
		a->tier = as->tier;
		if (as->kind && !(a->kind = fl_strdup(as->kind)))
			return -1;
		if (as->rto_ns >= 0)
			a->rto_target_ms = (double)as->rto_ns / 1e6;
		if (as->rpo_ns >= 0)
			a->rpo_target_ms = (double)as->rpo_ns / 1e6;
		a->drill_every_ns = as->drill_every_ns;
	}
	/* A scenario without an asset stands for itself in the summary. */
	for (size_t i = 0; i < r->nscenarios; i++) {
		struct fl_report_scenario *s = &r->scenarios[i];
		struct fl_report_asset *a;
		if (s->nkept == 0)
			continue;
		a = asset_find(r, s->asset ? s->asset : s->name, 1);
		if (!a)
			return -1;
		a->nscenarios++;
		if (!a->tier)
			a->tier = s->asset_tier;
		if (isnan(a->rto_target_ms))
			a->rto_target_ms = s->rto_target_ms;
		if (isnan(a->rpo_target_ms))
			a->rpo_target_ms = s->rpo_target_ms;
		if (!a->last || s->runs[0].started_wall_ns > a->last->started_wall_ns)
			a->last = &s->runs[0];
	}
	for (size_t i = 0; i < r->nassets; i++) {
		struct fl_report_asset *a = &r->assets[i];
		int64_t limit = a->drill_every_ns > 0 ? a->drill_every_ns : stale_ns;
		a->stale = !a->last || r->generated_wall_ns - a->last->started_wall_ns > limit;
	}
	if (r->nassets > 1)
		qsort(r->assets, r->nassets, sizeof(*r->assets), asset_cmp);
	return 0;
}

int fl_report_finish(struct fl_report *r, const struct fl_inventory *inv, struct fl_error *err)
{
	if (r->nscenarios > 1)
		qsort(r->scenarios, r->nscenarios, sizeof(*r->scenarios), name_cmp);
	for (size_t i = 0; i < r->nscenarios; i++)
		if (scenario_finish(r, &r->scenarios[i]) < 0)
			return fl_error_oom(err, "report");
	if (assets_compute(r, inv) < 0)
		return fl_error_oom(err, "report");
	return 0;
}
