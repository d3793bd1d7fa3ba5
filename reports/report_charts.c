/*
 * report_charts: what the HTML charts draw, built from a scenario's columns
 * before they are let go (report.h: struct fl_report_chart and
 * struct fl_report_histogram). Split from report.c to keep each file within
 * the size limit.
 */
#include "reports/report.h"
#include "core/alloc.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_histogram.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* The trend chart's sample: every stride-th run and the window's extents. */
int fl_report_chart_build(struct fl_report_scenario *s)
{
	const struct fl_report_series *se = &s->series;
	struct fl_report_chart *c = &s->chart;
	size_t m;

	c->total = se->n;
	c->t0 = INT64_MAX;
	c->t1 = INT64_MIN;
	c->ymax_ms = 0;
	for (size_t i = 0; i < se->n; i++) {
		if (se->started_wall_ns[i] < c->t0)
			c->t0 = se->started_wall_ns[i];
		if (se->started_wall_ns[i] > c->t1)
			c->t1 = se->started_wall_ns[i];
		if (!isnan(se->rto[i]) && se->rto[i] > c->ymax_ms)
			c->ymax_ms = se->rto[i];
		if (!isnan(se->rpo[i])) {
			c->has_rpo = 1;
			if (se->rpo[i] > c->ymax_ms)
				c->ymax_ms = se->rpo[i];
		}
	}
	c->stride = se->n > FL_REPORT_CHART_POINTS
			    ? (se->n + FL_REPORT_CHART_POINTS - 1) / FL_REPORT_CHART_POINTS
			    : 1;
	m = (se->n + c->stride - 1) / c->stride;
	c->started_wall_ns = fl_malloc((m ? m : 1) * sizeof(*c->started_wall_ns));
	c->rto = fl_malloc((m ? m : 1) * sizeof(*c->rto));
	c->rpo = fl_malloc((m ? m : 1) * sizeof(*c->rpo));
	c->flags = fl_malloc(m ? m : 1);
	if (!c->started_wall_ns || !c->rto || !c->rpo || !c->flags)
		return -1;
	for (size_t i = 0; i < se->n; i += c->stride) {
		c->started_wall_ns[c->n] = se->started_wall_ns[i];
		c->rto[c->n] = se->rto[i];
		c->rpo[c->n] = se->rpo[i];
		c->flags[c->n] = se->flags[i];
		c->n++;
	}
	return 0;
}

size_t fl_report_histogram_shape(size_t n, double min_ms, double max_ms, double *lo, double *hi)
{
	size_t bins;

	*lo = min_ms / 1000.0;
	*hi = max_ms / 1000.0;
	if (n == 0)
		return 0;
	bins = (size_t)ceil(log2((double)n)) + 1;
	if (bins > 30)
		bins = 30;
	if (!(*hi > *lo)) {
		bins = 1;
		*lo -= 0.5;
		*hi += 0.5;
	}
	/* The top edge just above the largest value, so it lands in the last bin. */
	*hi += (*hi - *lo) * 1e-9;
	return bins;
}

int fl_report_histogram_keep(struct fl_report_scenario *s, const double *range, const double *count,
			     size_t bins)
{
	struct fl_report_histogram *hg = &s->rto_hist;

	hg->range = fl_malloc((bins + 1) * sizeof(*hg->range));
	hg->count = fl_malloc(bins * sizeof(*hg->count));
	if (!hg->range || !hg->count)
		return -1;
	memcpy(hg->range, range, (bins + 1) * sizeof(*hg->range));
	memcpy(hg->count, count, bins * sizeof(*hg->count));
	hg->bins = bins;
	return 0;
}

/* RTO counts in Sturges' bins (capped: enough bars to see a shape, few
 * enough to read), counted with GSL and kept as plain arrays. */
int fl_report_histogram_build(struct fl_report_scenario *s)
{
	gsl_histogram *h;
	double lo, hi;
	size_t bins = fl_report_histogram_shape(s->rto.n, s->rto.min, s->rto.max, &lo, &hi);
	int rc = -1;

	if (bins == 0)
		return 0;
	h = gsl_histogram_alloc(bins);
	if (!h || gsl_histogram_set_ranges_uniform(h, lo, hi) != GSL_SUCCESS)
		goto out;
	for (size_t i = 0; i < s->series.n; i++)
		if (!isnan(s->series.rto[i]))
			gsl_histogram_increment(h, s->series.rto[i] / 1000.0);
	rc = fl_report_histogram_keep(s, h->range, h->bin, bins);
out:
	if (h)
		gsl_histogram_free(h);
	return rc;
}
