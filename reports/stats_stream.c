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
#include <errno.h>
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

/* ---- the release comparison from two sorted sources ---------------------- */

/* One side of the comparison as it is read: its head value, its position,
 * the two order statistics of its median, and its logs' running mean
 * (gsl_stats_mean's recurrence, over the positive values in ascending
 * order as fl_stats_compare hands them to GSL). */
struct side {
	const struct fl_stats_source *src;
	int more; /* head holds a value */
	double head;
	size_t i, mlhs;
	double mdelta, ma, mb;
	long double lmean;
	size_t nlog;
};

static int side_advance(struct side *d)
{
	int rc = d->src->next(d->src->ctx, &d->head);
	if (rc < 0)
		return -1;
	d->more = rc > 0;
	return 0;
}

static int side_start(struct side *d, const struct fl_stats_source *src)
{
	memset(d, 0, sizeof(*d));
	d->src = src;
	if (src->n > 0) {
		/* gsl_stats_quantile_from_sorted_data's median, rank by rank. */
		double index = 0.5 * (double)(src->n - 1);
		d->mlhs = (size_t)index;
		d->mdelta = index - (double)d->mlhs;
	}
	if (src->begin(src->ctx) < 0)
		return -1;
	return side_advance(d);
}

/* Takes the head (== x) into the side's figures and reads the next. */
static int side_take(struct side *d)
{
	double x = d->head;
	if (d->i == d->mlhs)
		d->ma = x;
	if (d->i == d->mlhs + 1)
		d->mb = x;
	d->i++;
	if (x > 0) {
		double l = log(x);
		d->lmean += (l - d->lmean) / (long double)(d->nlog + 1);
		d->nlog++;
	}
	return side_advance(d);
}

static double side_median(const struct side *d)
{
	if (d->i == 0)
		return NAN;
	if (d->mlhs == d->i - 1)
		return d->ma;
	return (1 - d->mdelta) * d->ma + d->mdelta * d->mb;
}

/* gsl_stats_variance_m of the side's logs: a second read. NAN when < 2. */
static int side_log_variance(const struct fl_stats_source *src, double mean, size_t nlog, double *var)
{
	long double v = 0;
	size_t k = 0;
	double x;
	int rc;

	*var = NAN;
	if (nlog < 2)
		return 0;
	if (src->begin(src->ctx) < 0)
		return -1;
	while ((rc = src->next(src->ctx, &x)) > 0) {
		if (!(x > 0))
			continue;
		const long double delta = (log(x) - mean);
		v += (delta * delta - v) / (long double)(k + 1);
		k++;
	}
	if (rc < 0)
		return -1;
	*var = (double)v * ((double)k / (double)(k - 1));
	return 0;
}

/* The merged read: midranks with ties (as fl_stats_mannwhitney's sorted
 * pass), the medians, the logs' means. */
static int merged_read(struct side *a, struct side *b, struct fl_mannwhitney *mw)
{
	double rank_sum_b = 0.0, tie_term = 0.0;
	size_t pos = 0;
	int ties = 0;

	while (a->more || b->more) {
		double x = !b->more || (a->more && a->head < b->head) ? a->head : b->head;
		size_t ta = 0, tb = 0;
		double mid, t;
		while (a->more && a->head == x) {
			if (side_take(a) < 0)
				return -1;
			ta++;
		}
		while (b->more && b->head == x) {
			if (side_take(b) < 0)
				return -1;
			tb++;
		}
		mid = ((double)pos + (double)(pos + ta + tb - 1)) / 2.0 + 1.0;
		t = (double)(ta + tb);
		if (t > 1) {
			ties = 1;
			tie_term += t * t * t - t;
		}
		for (size_t k = 0; k < tb; k++)
			rank_sum_b += mid;
		pos += ta + tb;
	}
	mw->na = a->i;
	mw->nb = b->i;
	mw->u = rank_sum_b - (double)mw->nb * ((double)mw->nb + 1.0) / 2.0;
	if (fl_stats_mannwhitney_p(mw, ties, tie_term) < 0) {
		errno = ENOMEM; /* not a source's error */
		return -1;
	}
	return 0;
}

int fl_stats_compare_sorted(const struct fl_stats_source *base, const struct fl_stats_source *cand,
			    struct fl_compare *out)
{
	struct side a, b;
	double ma, mb, va, vb;

	memset(out, 0, sizeof(*out));
	out->median_base = out->median_cand = NAN;
	out->ratio = out->ratio_lo = out->ratio_hi = NAN;
	out->mw.u = out->mw.z = out->mw.p = out->mw.effect = NAN;
	if (side_start(&a, base) < 0 || side_start(&b, cand) < 0)
		return -1;
	out->n_base = out->mw.na = base->n;
	out->n_cand = out->mw.nb = cand->n;
	if (base->n > 0 && cand->n > 0 && merged_read(&a, &b, &out->mw) < 0)
		return -1;
	if (base->n == 0 || cand->n == 0) {
		/* One side empty: the medians still (fl_stats_compare gives them). */
		while (a.more)
			if (side_take(&a) < 0)
				return -1;
		while (b.more)
			if (side_take(&b) < 0)
				return -1;
	}
	out->median_base = side_median(&a);
	out->median_cand = side_median(&b);
	ma = (double)a.lmean;
	mb = (double)b.lmean;
	if (a.nlog < 2 || b.nlog < 2) {
		fl_stats_welch_moments(ma, NAN, a.nlog, mb, NAN, b.nlog, &out->welch_log);
	} else {
		if (side_log_variance(base, ma, a.nlog, &va) < 0 ||
		    side_log_variance(cand, mb, b.nlog, &vb) < 0)
			return -1;
		fl_stats_welch_moments(ma, va, a.nlog, mb, vb, b.nlog, &out->welch_log);
	}
	if (!isnan(out->welch_log.diff)) {
		out->ratio = exp(out->welch_log.diff);
		out->ratio_lo = exp(out->welch_log.lo);
		out->ratio_hi = exp(out->welch_log.hi);
	}
	return 0;
}
