/*
 * stats_stream: the summaries of stats.c from values that arrive one at a
 * time — a sorted stream for the summary, pairs in any order for the trend —
 * so a report over a million runs holds O(1) values, not the window. See
 * stats.h ("streaming") for what is exact and what is equal up to rounding.
 */
#include "reports/stats.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <string.h>

#include "core/alloc.h"

static const double quantile_p[4] = { 0.5, 0.90, 0.95, 0.99 };

void fl_stats_sorted_release(struct fl_stats_sorted *s)
{
	fl_free(s->idx);
	fl_free(s->band);
	s->idx = NULL;
	s->band = NULL;
}

/* The bootstrap's draws (stats.c: bootstrap_p95), made before any value is
 * seen: the ranks of the two order statistics each resample needs, and
 * the band of ranks that covers them all (a few hundred around the p95 at
 * a million values: the Beta draws concentrate there). */
static int bootstrap_ranks(struct fl_stats_sorted *s)
{
	size_t n = s->n, lo = SIZE_MAX, hi = 0;
	double h = (double)(n - 1) * 0.95;
	size_t k = (size_t)floor(h) + 1;
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);

	s->idx = fl_malloc(2 * s->resamples * sizeof(*s->idx));
	if (!rng || !s->idx) {
		if (rng)
			gsl_rng_free(rng);
		return -1;
	}
	gsl_rng_set(rng, s->seed);
	for (size_t r = 0; r < s->resamples; r++) {
		size_t ik, ik1;
		fl_stats_boot_ranks(rng, k, n, &ik, &ik1);
		s->idx[2 * r] = ik;
		s->idx[2 * r + 1] = ik1;
		lo = ik < lo ? ik : lo;
		hi = ik1 > hi ? ik1 : hi;
		hi = ik > hi ? ik : hi;
	}
	gsl_rng_free(rng);
	s->band_lo = lo;
	s->band_n = hi - lo + 1;
	s->band = fl_malloc(s->band_n * sizeof(*s->band));
	return s->band ? 0 : -1;
}

int fl_stats_sorted_init(struct fl_stats_sorted *s, size_t n, unsigned long seed, size_t resamples,
			 int want_log, double target)
{
	memset(s, 0, sizeof(*s));
	s->n = n;
	s->seed = seed;
	s->resamples = resamples ? resamples : FL_STATS_RESAMPLES;
	s->min = s->max = NAN;
	s->want_log = want_log;
	s->target = target;
	/* gsl_stats_quantile_from_sorted_data's arithmetic, rank by rank. */
	for (int q = 0; q < 4 && n > 0; q++) {
		double index = quantile_p[q] * (double)(n - 1);
		s->qlhs[q] = (size_t)index;
		s->qdelta[q] = index - (double)s->qlhs[q];
	}
	if (n >= 2 && bootstrap_ranks(s) < 0) {
		fl_stats_sorted_release(s);
		return -1;
	}
	return 0;
}

void fl_stats_sorted_push(struct fl_stats_sorted *s, double x)
{
	size_t i = s->seen;
	long double d;

	if (i >= s->n)
		return;
	s->seen++;
	if (i == 0)
		s->min = x;
	s->max = x;
	d = (long double)x - s->mean;
	s->mean += d / (long double)(i + 1);
	s->m2 += d * ((long double)x - s->mean);
	for (int q = 0; q < 4; q++) {
		if (i == s->qlhs[q])
			s->qa[q] = x;
		if (i == s->qlhs[q] + 1)
			s->qb[q] = x;
	}
	if (s->band && i >= s->band_lo && i - s->band_lo < s->band_n)
		s->band[i - s->band_lo] = x;
	if (!s->want_log)
		return;
	if (!isnan(s->target) && x <= s->target)
		s->le++;
	if (x <= 0.0) {
		s->zeros++;
	} else {
		long double l = log(x), e = l - s->lmean;
		s->npos++;
		s->lmean += e / (long double)s->npos;
		s->lm2 += e * (l - s->lmean);
	}
}

/* The p95 bootstrap interval from the band (stats.c: bootstrap_p95). */
static int bootstrap_finish(const struct fl_stats_sorted *s, double *lo, double *hi)
{
	double h = (double)(s->n - 1) * 0.95, frac = h - floor(h);
	double *est = fl_malloc(s->resamples * sizeof(*est));

	if (!est)
		return -1;
	for (size_t r = 0; r < s->resamples; r++) {
		double a = s->band[s->idx[2 * r] - s->band_lo];
		double b = s->band[s->idx[2 * r + 1] - s->band_lo];
		est[r] = a + frac * (b - a);
	}
	gsl_sort(est, 1, s->resamples);
	*lo = gsl_stats_quantile_from_sorted_data(est, 1, s->resamples, 0.025);
	*hi = gsl_stats_quantile_from_sorted_data(est, 1, s->resamples, 0.975);
	fl_free(est);
	return 0;
}

static double quantile(const struct fl_stats_sorted *s, int q)
{
	if (s->qlhs[q] == s->n - 1)
		return s->qa[q];
	return (1 - s->qdelta[q]) * s->qa[q] + s->qdelta[q] * s->qb[q];
}

int fl_stats_sorted_finish(struct fl_stats_sorted *s, struct fl_summary *out)
{
	size_t m = s->seen;
	double *qs[4] = { &out->median, &out->p90, &out->p95, &out->p99 };

	out->n = 0;
	out->mean = out->sd = out->median = out->p90 = out->p95 = out->p99 = NAN;
	out->min = out->max = out->mean_lo = out->mean_hi = out->p95_lo = out->p95_hi = NAN;
	out->seed = s->seed;
	out->resamples = s->resamples;
	/* Fewer values than counted (the store changed between the reads
	 * cannot happen in one snapshot): the empty summary, never a guess. */
	if (m == 0 || m != s->n)
		return 0;
	out->n = m;
	out->mean = (double)s->mean;
	out->min = s->min;
	out->max = s->max;
	for (int q = 0; q < 4; q++)
		*qs[q] = quantile(s, q);
	if (m >= 2) {
		double tq = gsl_cdf_tdist_Pinv(0.5 + FL_STATS_LEVEL / 2.0, (double)(m - 1));
		double half;
		out->sd = (double)sqrtl(s->m2 / (long double)(m - 1));
		half = tq * out->sd / sqrt((double)m);
		out->mean_lo = out->mean - half;
		out->mean_hi = out->mean + half;
		if (bootstrap_finish(s, &out->p95_lo, &out->p95_hi) < 0)
			return -1;
	}
	return 0;
}

void fl_stats_sorted_lognormal(const struct fl_stats_sorted *s, struct fl_lognormal *out)
{
	memset(out, 0, sizeof(*out));
	out->mu = out->sigma = out->p_model = out->p_empirical = NAN;
	out->n = s->seen;
	out->zeros = s->zeros;
	if (out->n > 0 && !isnan(s->target))
		out->p_empirical = (double)s->le / (double)out->n;
	if (s->npos < 2)
		return;
	out->mu = (double)s->lmean;
	/* MLE: the n-divisor variance of the logs. */
	out->sigma = (double)sqrtl(s->lm2 / (long double)s->npos);
	if (!isnan(s->target)) {
		double pl;
		if (s->target <= 0.0)
			pl = 0.0;
		else if (out->sigma == 0.0)
			pl = log(s->target) >= out->mu ? 1.0 : 0.0;
		else
			pl = gsl_cdf_ugaussian_P((log(s->target) - out->mu) / out->sigma);
		out->p_model = ((double)out->zeros + (double)s->npos * pl) / (double)out->n;
	}
}

void fl_stats_ols_init(struct fl_stats_ols *o)
{
	memset(o, 0, sizeof(*o));
}

void fl_stats_ols_push(struct fl_stats_ols *o, double x, double y)
{
	long double dx, dy;
	if (isnan(x) || isnan(y))
		return;
	o->n++;
	dx = (long double)x - o->mx;
	dy = (long double)y - o->my;
	o->mx += dx / (long double)o->n;
	o->my += dy / (long double)o->n;
	o->sxx += dx * ((long double)x - o->mx);
	o->sxy += dx * ((long double)y - o->my);
	o->syy += dy * ((long double)y - o->my);
}

void fl_stats_ols_finish(const struct fl_stats_ols *o, double x_shift, struct fl_trend *out)
{
	long double b, sumsq;
	size_t m = o->n;

	out->n = m;
	out->slope = out->intercept = out->slope_lo = out->slope_hi = NAN;
	out->t = out->df = out->p = NAN;
	if (m < 3 || !(o->sxx > 0))
		return;
	b = o->sxy / o->sxx;
	sumsq = o->syy - b * o->sxy;
	if (sumsq < 0)
		sumsq = 0;
	out->slope = (double)b;
	out->intercept = (double)(o->my - b * (o->mx + (long double)x_shift));
	out->df = (double)(m - 2);
	if (sumsq > 0) {
		double se = (double)sqrtl(sumsq / (long double)(m - 2) / o->sxx);
		double tq = gsl_cdf_tdist_Pinv(0.5 + FL_STATS_LEVEL / 2.0, out->df);
		out->t = out->slope / se;
		out->p = 2.0 * gsl_cdf_tdist_Q(fabs(out->t), out->df);
		out->slope_lo = out->slope - tq * se;
		out->slope_hi = out->slope + tq * se;
	} else {
		/* A perfect fit: the slope is exact, its interval is a point. */
		out->slope_lo = out->slope_hi = out->slope;
		out->p = out->slope != 0.0 ? 0.0 : 1.0;
	}
}
