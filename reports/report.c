/*
 * report: selects runs, groups them by scenario and computes the statistics
 * and the asset summary every output format prints. See report.h.
 */
#include "report.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	r->generated_wall_ns = opts->now_wall_ns ? opts->now_wall_ns : fl_wall_ns();
	if (!r->title || (opts->scenario && !r->scenario_filter) || (opts->label && !r->label_filter) ||
	    (opts->baseline && !r->baseline) || (opts->candidate && !r->candidate)) {
		fl_report_release(r);
		return -1;
	}
	return 0;
}

static void scenario_release(struct fl_report_scenario *s)
{
	for (size_t i = 0; i < s->nruns; i++)
		fl_run_release(&s->runs[i]);
	fl_free(s->runs);
	for (size_t i = 0; i < s->nphases; i++)
		fl_free(s->phases[i].name);
	fl_free(s->phases);
	fl_free(s->asset);
	fl_free(s->name);
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
	    (src->verdict && !(dst->verdict = fl_strdup(src->verdict))))
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

static struct fl_report_scenario *scenario_find(struct fl_report *r, const char *name, int create)
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
	s->name = fl_strdup(name);
	if (!s->name)
		return NULL;
	r->nscenarios++;
	return s;
}

int fl_report_add_run(struct fl_report *r, const struct fl_run *run, struct fl_error *err)
{
	struct fl_report_scenario *s;
	const char *name = run->scenario ? run->scenario : "(unnamed)";

	if (run->verdict && !strcmp(run->verdict, "running"))
		return 0;
	if (r->scenario_filter && strcmp(r->scenario_filter, name))
		return 0;
	if (r->label_filter && (!run->label || strcmp(r->label_filter, run->label)))
		return 0;
	if (r->since_wall_ns && run->started_wall_ns < r->since_wall_ns)
		return 0;
	s = scenario_find(r, name, 1);
	if (!s)
		return fl_error_set(err, FL_EXIT_ENV, "report: out of memory");
	if (r->last > 0 && s->nruns >= (size_t)r->last)
		return 0;
	/* Grow by doubling: a 100,000-run history must not realloc per run. */
	if (s->nruns == 0 || (s->nruns >= 8 && (s->nruns & (s->nruns - 1)) == 0)) {
		size_t cap = s->nruns ? s->nruns * 2 : 8;
		struct fl_run *nr = fl_realloc(s->runs, cap * sizeof(*nr));
		if (!nr)
			return fl_error_set(err, FL_EXIT_ENV, "report: out of memory");
		s->runs = nr;
	}
	if (run_copy(&s->runs[s->nruns], run) < 0) {
		fl_run_release(&s->runs[s->nruns]);
		return fl_error_set(err, FL_EXIT_ENV, "report: out of memory");
	}
	s->nruns++;
	r->nruns++;
	return 1;
}

static int load_cb(const struct fl_run *run, void *ctx)
{
	void **c = ctx;
	return fl_report_add_run(c[0], run, c[1]) < 0 ? 1 : 0;
}

int fl_report_load(struct fl_report *r, struct fl_store *st, struct fl_error *err)
{
	struct fl_run_filter f = { 0 };
	void *ctx[2] = { r, err };
	sqlite3_stmt *stmt = NULL;
	sqlite3 *db = fl_store_db(st);
	int rc = -1;

	f.label = r->label_filter;
	f.since_wall_ns = r->since_wall_ns;
	if (r->scenario_filter || r->last <= 0 || !db) {
		f.scenario = r->scenario_filter;
		f.limit = r->scenario_filter ? r->last : 0;
		if (fl_store_runs_each(st, &f, load_cb, ctx, err) < 0 || fl_error_is_set(err))
			goto out;
		rc = 0;
		goto out;
	}
	/* Last N per scenario: ask the store scenario by scenario so a long
	 * history is not read in full to keep its newest runs. */
	if (sqlite3_prepare_v2(db, "SELECT DISTINCT scenario FROM runs ORDER BY scenario", -1, &stmt,
			       NULL) != SQLITE_OK) {
		fl_error_set(err, FL_EXIT_ENV, "report: cannot list scenarios: %s", sqlite3_errmsg(db));
		goto out;
	}
	for (int step; (step = sqlite3_step(stmt)) != SQLITE_DONE;) {
		const unsigned char *name;
		char *copy;
		if (step != SQLITE_ROW) {
			fl_error_set(err, FL_EXIT_ENV, "report: cannot list scenarios: %s",
				     sqlite3_errmsg(db));
			goto out;
		}
		name = sqlite3_column_text(stmt, 0);
		if (!name)
			continue;
		copy = fl_strdup((const char *)name);
		if (!copy) {
			fl_error_set(err, FL_EXIT_ENV, "report: out of memory");
			goto out;
		}
		f.scenario = copy;
		f.limit = r->last;
		if (fl_store_runs_each(st, &f, load_cb, ctx, err) < 0 || fl_error_is_set(err)) {
			fl_free(copy);
			goto out;
		}
		fl_free(copy);
	}
	rc = 0;
out:
	sqlite3_finalize(stmt);
	return rc;
}

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

static int phase_index(struct fl_report_scenario *s, const char *name)
{
	struct fl_phase_stats *p;
	for (size_t i = 0; i < s->nphases; i++)
		if (!strcmp(s->phases[i].name, name))
			return (int)i;
	p = fl_realloc(s->phases, (s->nphases + 1) * sizeof(*p));
	if (!p)
		return -1;
	s->phases = p;
	memset(&p[s->nphases], 0, sizeof(*p));
	p[s->nphases].name = fl_strdup(name);
	if (!p[s->nphases].name)
		return -1;
	return (int)s->nphases++;
}

static int is_label(const struct fl_run *run, const char *label)
{
	return label && run->label && !strcmp(run->label, label);
}

static int scenario_compute(struct fl_report *r, struct fl_report_scenario *s)
{
	size_t n = s->nruns;
	double *rto = NULL, *rpo = NULL, *ttv = NULL, *weeks = NULL, *ph = NULL;
	double *base = NULL, *cand = NULL;
	size_t nb = 0, nc = 0;
	int64_t first = INT64_MAX;
	int rc = -1;

	rto = fl_malloc((n ? n : 1) * sizeof(double));
	rpo = fl_malloc((n ? n : 1) * sizeof(double));
	ttv = fl_malloc((n ? n : 1) * sizeof(double));
	weeks = fl_malloc((n ? n : 1) * sizeof(double));
	ph = fl_malloc((n ? n : 1) * sizeof(double));
	base = fl_malloc((n ? n : 1) * sizeof(double));
	cand = fl_malloc((n ? n : 1) * sizeof(double));
	if (!rto || !rpo || !ttv || !weeks || !ph || !base || !cand)
		goto out;

	s->rto_target_ms = s->rpo_target_ms = NAN;
	s->lost_before = s->lost_after = -1;
	for (size_t i = 0; i < n; i++) {
		const struct fl_run *run = &s->runs[i];
		if (run->started_wall_ns < first)
			first = run->started_wall_ns;
		if (isnan(s->rto_target_ms) && !isnan(run->rto_target_ms))
			s->rto_target_ms = run->rto_target_ms;
		if (isnan(s->rpo_target_ms) && !isnan(run->rpo_target_ms))
			s->rpo_target_ms = run->rpo_target_ms;
		if (run->verdict && !strcmp(run->verdict, "pass"))
			s->passed++;
		if (run->lost_before_fault >= 0 || run->lost_after_fault >= 0)
			s->loss_measured++;
		if (run->lost_before_fault >= 0)
			s->lost_before = (s->lost_before < 0 ? 0 : s->lost_before) + run->lost_before_fault;
		if (run->lost_after_fault >= 0)
			s->lost_after = (s->lost_after < 0 ? 0 : s->lost_after) + run->lost_after_fault;
		rto[i] = run->rto_ms;
		rpo[i] = run->rpo_ms;
		ttv[i] = run->ttv_ms;
		if (is_label(run, r->baseline) && !isnan(run->rto_ms))
			base[nb++] = run->rto_ms;
		if (is_label(run, r->candidate) && !isnan(run->rto_ms))
			cand[nc++] = run->rto_ms;
		for (size_t k = 0; k < run->nphases; k++)
			if (phase_index(s, run->phases[k].name) < 0)
				goto out;
	}
	if (n > 0) {
		s->asset = fl_strdup(s->runs[0].asset);
		if (s->runs[0].asset && !s->asset)
			goto out;
		s->asset_tier = s->runs[0].asset_tier;
	}
	for (size_t i = 0; i < n; i++)
		weeks[i] = (double)(s->runs[i].started_wall_ns - first) / NS_PER_WEEK;

	if (fl_stats_summarize(rto, n, r->seed, r->resamples, &s->rto) < 0 ||
	    fl_stats_summarize(rpo, n, r->seed, r->resamples, &s->rpo) < 0 ||
	    fl_stats_summarize(ttv, n, r->seed, r->resamples, &s->ttv) < 0)
		goto out;
	for (size_t p = 0; p < s->nphases; p++) {
		/* A run without this phase contributes NAN, which the summary skips. */
		for (size_t i = 0; i < n; i++) {
			const struct fl_run *run = &s->runs[i];
			ph[i] = NAN;
			for (size_t k = 0; k < run->nphases; k++)
				if (!strcmp(run->phases[k].name, s->phases[p].name)) {
					ph[i] = run->phases[k].end_ms - run->phases[k].start_ms;
					break;
				}
		}
		if (fl_stats_summarize(ph, n, r->seed, r->resamples, &s->phases[p].s) < 0)
			goto out;
	}
	fl_stats_wilson(s->passed, (long)n, &s->pass);
	if (fl_stats_lognormal(rto, n, s->rto_target_ms, &s->rto_meet) < 0 ||
	    fl_stats_trend(weeks, rto, n, &s->rto_trend) < 0 ||
	    fl_stats_trend(weeks, rpo, n, &s->rpo_trend) < 0)
		goto out;
	if (r->baseline && r->candidate) {
		s->has_compare = 1;
		if (fl_stats_compare(base, nb, cand, nc, &s->compare) < 0)
			goto out;
	}
	rc = 0;
out:
	fl_free(rto);
	fl_free(rpo);
	fl_free(ttv);
	fl_free(weeks);
	fl_free(ph);
	fl_free(base);
	fl_free(cand);
	return rc;
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
	}
	/* A scenario without an asset stands for itself in the summary. */
	for (size_t i = 0; i < r->nscenarios; i++) {
		struct fl_report_scenario *s = &r->scenarios[i];
		struct fl_report_asset *a;
		if (s->nruns == 0)
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
		a->stale = !a->last || r->generated_wall_ns - a->last->started_wall_ns > stale_ns;
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
		if (scenario_compute(r, &r->scenarios[i]) < 0)
			return fl_error_set(err, FL_EXIT_ENV, "report: out of memory");
	if (assets_compute(r, inv) < 0)
		return fl_error_set(err, FL_EXIT_ENV, "report: out of memory");
	return 0;
}

static void reason_vs_target(struct fl_buf *out, int *first, const char *what, double got,
			     double target)
{
	char g[32], t[32], d[32];
	if (isnan(got) || isnan(target) || got <= target)
		return;
	fl_buf_addf(out, "%s%s %s > target %s by %s", *first ? "" : "; ", what,
		    fl_stats_fmt_s(got, g, sizeof(g)), fl_stats_fmt_s(target, t, sizeof(t)),
		    fl_stats_fmt_s(got - target, d, sizeof(d)));
	*first = 0;
}

void fl_report_run_reason(const struct fl_run *run, struct fl_buf *out)
{
	int first = 1;
	for (size_t i = 0; i < run->nfailures; i++) {
		fl_buf_addf(out, "%s%s", first ? "" : "; ", run->failures[i]);
		first = 0;
	}
	if (!first)
		return;
	reason_vs_target(out, &first, "rto", run->rto_ms, run->rto_target_ms);
	reason_vs_target(out, &first, "rpo", run->rpo_ms, run->rpo_target_ms);
	if (run->lost_after_fault > 0) {
		fl_buf_addf(out, "%s%ld acknowledged writes lost after the fault", first ? "" : "; ",
			    run->lost_after_fault);
		first = 0;
	}
	if (first && run->verdict && strcmp(run->verdict, "pass"))
		fl_buf_addf(out, "verdict %s with no recorded reason", run->verdict);
}

const char *fl_report_window(const struct fl_report *r, char *buf, size_t n)
{
	char since[40] = "";
	char lab[200] = "";
	if (r->since_wall_ns) {
		char ts[40];
		fl_rfc3339(r->since_wall_ns, ts, sizeof(ts));
		snprintf(since, sizeof(since), " since %.10s", ts);
	}
	if (r->label_filter)
		snprintf(lab, sizeof(lab), " labelled %s", r->label_filter);
	if (r->last > 0)
		snprintf(buf, n, "last %ld runs per scenario%s%s", r->last, since, lab);
	else
		snprintf(buf, n, "all runs%s%s", since, lab);
	return buf;
}

int fl_report_parse_date(const char *s, int64_t *wall_ns)
{
	struct tm tm;
	const char *end;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d", &tm);
	if (!end)
		return -1;
	if (*end == 'T') {
		end = strptime(end + 1, "%H:%M:%S", &tm);
		if (!end || strcmp(end, "Z"))
			return -1;
	} else if (*end) {
		return -1;
	}
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*wall_ns = (int64_t)t * FL_NS_PER_S;
	return 0;
}

void fl_report_escape_xml(struct fl_buf *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		switch (*p) {
		case '&': fl_buf_adds(out, "&amp;"); break;
		case '<': fl_buf_adds(out, "&lt;"); break;
		case '>': fl_buf_adds(out, "&gt;"); break;
		case '"': fl_buf_adds(out, "&quot;"); break;
		case '\'': fl_buf_adds(out, "&#39;"); break;
		default:
			if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
				fl_buf_adds(out, "\xef\xbf\xbd");
			else
				fl_buf_add(out, p, 1);
		}
	}
}
