/*
 * report_stream: a scenario's statistics read from the store without
 * holding its window as columns (report.h: fl_report_stream_load).
 *
 * Owns: the two reads of one scenario and what is computed from them —
 *   1. newest first (fl_store_figures_each, the indexed query that stops at
 *      the window's last run): the window's counts, the RTO's extremes, the
 *      trends (running OLS, stats_stream.c), the trend chart's sample, and
 *      every measured figure and phase duration handed to its own sorter
 *      (sorter.h: sorted chunks spilled to a temporary file);
 *   2. the newest keep_runs runs in full (fl_report_keep_newest, as report.c);
 * then, one figure at a time, its sorted values merged into its summary
 * (stats.h: fl_stats_sorted), the RTO's also into its log-normal fit and
 * its histogram. With a baseline and a candidate, each figure's values of
 * either label also go to a sorter of that side, and the two sorted
 * streams are compared (fl_stats_compare_sorted) for the report and the
 * gate's regression rule. Memory is a chunk per sorter, not the window;
 * every sorter of the scenario spills to one shared temporary file (one
 * descriptor however many phases).
 * Does not own: the column path that runs added one by one take (report.c).
 */
#include "reports/report.h"
#include "reports/sorter.h"
#include "core/alloc.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_histogram.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define NS_PER_WEEK (7.0 * 86400.0 * 1e9)

/* One figure's sorters: every value, and those of each side of the
 * comparison (used only with a baseline and a candidate). */
struct figure {
	struct fl_sorter all, base, cand;
};

struct stream {
	struct fl_report *r;
	struct fl_report_scenario *s;
	const char *name;
	int failed;                 /* out of memory in a callback */
	int io_errno;               /* the sorter's temporary file failed */
	int comparing;              /* a baseline and a candidate */
	struct fl_sorter_file file; /* every sorter's spill */
	/* read 1 */
	struct figure fig[3];   /* RTO, RPO, TTV */
	struct figure *phase_v; /* per phase: its durations */
	size_t *phase_run;      /* per phase: 1 + ordinal of the last run counted */
	size_t phase_cap;
	double rto_min, rto_max;
	int64_t newest;
	struct fl_stats_ols ols_rto, ols_rpo;
	/* then, figure by figure, in ascending order */
	struct fl_stats_sorted acc;
	gsl_histogram *hist;
	int is_rto;
};

static void figure_init(struct stream *k, struct figure *g)
{
	fl_sorter_init_shared(&g->all, &k->file);
	fl_sorter_init_shared(&g->base, &k->file);
	fl_sorter_init_shared(&g->cand, &k->file);
}

static void figure_release(struct figure *g)
{
	fl_sorter_release(&g->all);
	fl_sorter_release(&g->base);
	fl_sorter_release(&g->cand);
}

/* One run's value (NAN: not measured); flags say which side it is on. */
static int figure_add(struct figure *g, double v, unsigned char flags)
{
	if (isnan(v))
		return 0;
	if (fl_sorter_add(&g->all, v) < 0)
		return -1;
	if ((flags & FL_REPORT_BASELINE) && fl_sorter_add(&g->base, v) < 0)
		return -1;
	if ((flags & FL_REPORT_CANDIDATE) && fl_sorter_add(&g->cand, v) < 0)
		return -1;
	return 0;
}

/* The phase's index in s, created (without a column) at first sight. */
static long phase_slot(struct stream *k, const char *name)
{
	struct fl_report_scenario *s = k->s;
	struct fl_phase_stats *p;

	for (size_t i = 0; i < s->nphases; i++)
		if (!strcmp(s->phases[i].name, name))
			return (long)i;
	if (s->nphases == k->phase_cap) {
		size_t cap = k->phase_cap ? k->phase_cap * 2 : 8;
		struct figure *v = fl_realloc(k->phase_v, cap * sizeof(*v));
		size_t *n;
		if (!v)
			return -1;
		k->phase_v = v;
		n = fl_realloc(k->phase_run, cap * sizeof(*n));
		if (!n)
			return -1;
		k->phase_run = n;
		k->phase_cap = cap;
	}
	p = fl_realloc(s->phases, (s->nphases + 1) * sizeof(*p));
	if (!p)
		return -1;
	s->phases = p;
	p = &p[s->nphases];
	memset(p, 0, sizeof(*p));
	p->name = fl_strdup(name);
	if (!p->name)
		return -1;
	figure_init(k, &k->phase_v[s->nphases]);
	k->phase_run[s->nphases] = 0;
	return (long)s->nphases++;
}

/* The chart keeps every stride-th run, newest first; when the sample is
 * full the stride doubles and every other point goes, so at most
 * FL_REPORT_CHART_POINTS are held whatever the window. */
static void chart_add(struct fl_report_chart *c, size_t i, const struct fl_run_figures *f,
		      unsigned char flags)
{
	if (i % c->stride != 0)
		return;
	if (c->n == FL_REPORT_CHART_POINTS) {
		size_t m = 0;
		for (size_t j = 0; j < c->n; j += 2, m++) {
			c->started_wall_ns[m] = c->started_wall_ns[j];
			c->rto[m] = c->rto[j];
			c->rpo[m] = c->rpo[j];
			c->flags[m] = c->flags[j];
		}
		c->n = m;
		c->stride *= 2;
		if (i % c->stride != 0)
			return;
	}
	c->started_wall_ns[c->n] = f->started_wall_ns;
	c->rto[c->n] = f->rto_ms;
	c->rpo[c->n] = f->rpo_ms;
	c->flags[c->n] = flags;
	c->n++;
}

static int chart_start(struct fl_report_chart *c)
{
	size_t m = FL_REPORT_CHART_POINTS;
	memset(c, 0, sizeof(*c));
	c->stride = 1;
	c->t0 = INT64_MAX;
	c->t1 = INT64_MIN;
	c->started_wall_ns = fl_malloc(m * sizeof(*c->started_wall_ns));
	c->rto = fl_malloc(m * sizeof(*c->rto));
	c->rpo = fl_malloc(m * sizeof(*c->rpo));
	c->flags = fl_malloc(m);
	return c->started_wall_ns && c->rto && c->rpo && c->flags ? 0 : -1;
}

static void extents(struct fl_report_chart *c, const struct fl_run_figures *f)
{
	if (f->started_wall_ns < c->t0)
		c->t0 = f->started_wall_ns;
	if (f->started_wall_ns > c->t1)
		c->t1 = f->started_wall_ns;
	if (!isnan(f->rto_ms) && f->rto_ms > c->ymax_ms)
		c->ymax_ms = f->rto_ms;
	if (!isnan(f->rpo_ms)) {
		c->has_rpo = 1;
		if (f->rpo_ms > c->ymax_ms)
			c->ymax_ms = f->rpo_ms;
	}
}

/* Read 1: one run of the window, newest first. */
static int run_cb(const struct fl_run_figures *f, void *ctx)
{
	struct stream *k = ctx;
	struct fl_report_scenario *s;
	size_t i;
	double x;
	unsigned char flags;

	if (!k->s &&
	    (!(k->s = fl_report_scenario_find(k->r, k->name, 1)) || chart_start(&k->s->chart) < 0))
		goto oom;
	s = k->s;
	i = s->nruns;
	if (i == 0)
		k->newest = f->started_wall_ns;
	flags = fl_report_scenario_fold(k->r, s, f);
	chart_add(&s->chart, i, f, flags);
	extents(&s->chart, f);
	/* Weeks relative to the newest run; the intercept is shifted at the end. */
	x = (double)(f->started_wall_ns - k->newest) / NS_PER_WEEK;
	fl_stats_ols_push(&k->ols_rto, x, f->rto_ms);
	fl_stats_ols_push(&k->ols_rpo, x, f->rpo_ms);
	if (!isnan(f->rto_ms)) {
		if (k->fig[0].all.total == 0 || f->rto_ms < k->rto_min)
			k->rto_min = f->rto_ms;
		if (k->fig[0].all.total == 0 || f->rto_ms > k->rto_max)
			k->rto_max = f->rto_ms;
	}
	if (figure_add(&k->fig[0], f->rto_ms, flags) < 0 ||
	    figure_add(&k->fig[1], f->rpo_ms, flags) < 0 ||
	    figure_add(&k->fig[2], f->ttv_ms, flags) < 0)
		goto fail;
	for (size_t p = 0; p < f->nphases; p++) {
		long slot = phase_slot(k, f->phases[p].name);
		double d = f->phases[p].end_ms - f->phases[p].start_ms;
		if (slot < 0)
			goto oom;
		/* A run counts once per phase: its first occurrence with both
		 * ends, as the report's columns take it. */
		if (!isnan(d) && k->phase_run[slot] != i + 1) {
			k->phase_run[slot] = i + 1;
			if (figure_add(&k->phase_v[slot], d, flags) < 0)
				goto fail;
		}
	}
	return 0;
fail:
	if (errno != ENOMEM) {
		k->io_errno = errno ? errno : EIO;
		return 1;
	}
oom:
	k->failed = 1;
	return 1;
}

static void value_cb(double v, void *ctx)
{
	struct stream *k = ctx;
	fl_stats_sorted_push(&k->acc, v);
	if (k->is_rto && k->hist)
		gsl_histogram_increment(k->hist, v / 1000.0);
}

/* -1 out of memory; 1 when the temporary file failed (k->io_errno). */
static int sort_failed(struct stream *k)
{
	int e = errno;
	k->io_errno = e ? e : EIO;
	return e == ENOMEM ? -1 : 1;
}

/* One figure's summary from its sorted values; the RTO also gets its
 * log-normal fit and its histogram counts. 0; -1 out of memory; 1 when
 * the temporary file failed (k->io_errno). */
static int figure_summarise(struct stream *k, struct fl_sorter *v, struct fl_summary *out, int is_rto)
{
	struct fl_report *r = k->r;
	int rc;

	if (fl_stats_sorted_init(&k->acc, v->total, r->seed, r->resamples, is_rto,
				 k->s->rto_target_ms) < 0)
		return -1;
	k->is_rto = is_rto;
	if (fl_sorter_each(v, value_cb, k) < 0) {
		rc = sort_failed(k);
		fl_stats_sorted_release(&k->acc);
		return rc;
	}
	fl_sorter_release(v);
	rc = fl_stats_sorted_finish(&k->acc, out);
	if (is_rto)
		fl_stats_sorted_lognormal(&k->acc, &k->s->rto_meet);
	fl_stats_sorted_release(&k->acc);
	return rc;
}

/* The figure's candidate values against its baseline values. 0; -1 out of
 * memory; 1 when the temporary file failed. */
static int figure_compare(struct stream *k, struct figure *g, struct fl_compare *out)
{
	struct fl_sorter_iter b, c;
	struct fl_stats_source sb, sc;
	int rc = 0;

	fl_sorter_source(&g->base, &b, &sb);
	fl_sorter_source(&g->cand, &c, &sc);
	if (fl_stats_compare_sorted(&sb, &sc, out) < 0)
		rc = sort_failed(k);
	fl_sorter_end(&b);
	fl_sorter_end(&c);
	fl_sorter_release(&g->base);
	fl_sorter_release(&g->cand);
	return rc;
}

/* Every summary and comparison, figure by figure (one figure's merges at
 * a time). */
static int summaries(struct stream *k)
{
	struct fl_report_scenario *s = k->s;
	struct fl_summary *out[3] = { &s->rto, &s->rpo, &s->ttv };
	struct fl_compare *cmp[3] = { &s->compare, &s->compare_rpo, &s->compare_ttv };
	double lo, hi;
	size_t bins =
		fl_report_histogram_shape(k->fig[0].all.total, k->rto_min, k->rto_max, &lo, &hi);
	int rc;

	if (bins > 0) {
		k->hist = gsl_histogram_alloc(bins);
		if (!k->hist || gsl_histogram_set_ranges_uniform(k->hist, lo, hi) != GSL_SUCCESS)
			return -1;
	}
	s->has_compare = k->comparing;
	for (int i = 0; i < 3; i++)
		if ((rc = figure_summarise(k, &k->fig[i].all, out[i], i == 0)) != 0 ||
		    (k->comparing && (rc = figure_compare(k, &k->fig[i], cmp[i])) != 0))
			return rc;
	for (size_t p = 0; p < s->nphases; p++)
		if ((rc = figure_summarise(k, &k->phase_v[p].all, &s->phases[p].s, 0)) != 0 ||
		    (k->comparing &&
		     (rc = figure_compare(k, &k->phase_v[p], &s->phases[p].compare)) != 0))
			return rc;
	return 0;
}

/* What the three reads leave to compute: pass rate, trends, histogram, asset. */
static int scenario_end(struct stream *k)
{
	struct fl_report_scenario *s = k->s;
	double shift = (double)(k->newest - s->chart.t0) / NS_PER_WEEK;

	s->chart.total = s->nruns;
	fl_stats_wilson(s->passed, (long)s->nruns, &s->pass);
	fl_stats_ols_finish(&k->ols_rto, shift, &s->rto_trend);
	fl_stats_ols_finish(&k->ols_rpo, shift, &s->rpo_trend);
	if (k->hist && fl_report_histogram_keep(s, k->hist->range, k->hist->bin, k->hist->n) < 0)
		return -1;
	if (s->nkept > 0) {
		s->asset = fl_strdup(s->runs[0].asset);
		if (s->runs[0].asset && !s->asset)
			return -1;
		s->asset_tier = s->runs[0].asset_tier;
	}
	s->computed = 1;
	return 0;
}

static int reads(struct stream *k, struct fl_store *st, struct fl_error *err)
{
	struct fl_report *r = k->r;
	struct fl_run_filter f = { 0 };
	int rc;

	f.scenario = k->name;
	f.label = r->label_filter;
	f.since_wall_ns = r->since_wall_ns;
	f.limit = r->last;
	fl_stats_ols_init(&k->ols_rto);
	fl_stats_ols_init(&k->ols_rpo);
	rc = fl_store_figures_each(st, &f, run_cb, k, err);
	if (rc != 0 || !k->s)
		return rc;
	if (fl_report_keep_newest(r, k->s, st, &f, err) < 0)
		return -1;
	rc = summaries(k);
	if (rc > 0)
		return rc; /* the temporary file failed: k->io_errno */
	if (rc < 0 || scenario_end(k) < 0) {
		k->failed = 1;
		return 1;
	}
	return 0;
}

int fl_report_stream_load(struct fl_report *r, struct fl_store *st, const char *name,
			  struct fl_error *err)
{
	struct stream k;
	char dir[sizeof(k.file.dir)];
	int rc;

	memset(&k, 0, sizeof(k));
	k.r = r;
	k.name = name;
	k.comparing = r->baseline && r->candidate;
	fl_sorter_file_init(&k.file);
	for (int i = 0; i < 3; i++)
		figure_init(&k, &k.fig[i]);
	rc = reads(&k, st, err);
	for (int i = 0; i < 3; i++)
		figure_release(&k.fig[i]);
	for (size_t p = 0; k.s && p < k.s->nphases && p < k.phase_cap; p++)
		figure_release(&k.phase_v[p]);
	/* Where the file was (or was to be) made, for the message. */
	snprintf(dir, sizeof(dir), "%s", k.file.dir[0] ? k.file.dir : "the temporary directory");
	fl_sorter_file_close(&k.file);
	if (k.hist)
		gsl_histogram_free(k.hist);
	fl_free(k.phase_v);
	fl_free(k.phase_run);
	if (rc < 0)
		return -1;
	if (rc != 0 && k.io_errno && !k.failed)
		return fl_error_set(err, FL_EXIT_ENV, "report: temporary file for sorting in %s: %s",
				    dir, strerror(k.io_errno));
	return rc != 0 ? fl_error_oom(err, "report") : 0;
}
