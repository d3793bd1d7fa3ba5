/*
 * stats: summaries, intervals, trend and release comparison with GSL.
 * See stats.h for the conventions (NAN = not measured, type-7 quantiles,
 * two-sided 95 % intervals).
 */
#include "reports/stats.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_fit.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

/* Copies the non-NAN values of x into a new array; *m gets their count.
 * Sized to the count: a phase few runs have costs few bytes. */
static double *finite_copy(const double *x, size_t n, size_t *m)
{
	double *v;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += !isnan(x[i]);
	v = fl_malloc((k ? k : 1) * sizeof(*v));
	if (!v)
		return NULL;
	k = 0;
	for (size_t i = 0; i < n; i++)
		if (!isnan(x[i]))
			v[k++] = x[i];
	*m = k;
	return v;
}

double fl_stats_quantile(const double *sorted, size_t n, double p)
{
	if (n == 0)
		return NAN;
	return gsl_stats_quantile_from_sorted_data(sorted, 1, n, p);
}

/*
 * Percentile bootstrap of the type-7 p95 without materialising resamples.
 * A resample draws n indices uniformly from the sorted data; because the
 * data is sorted, the resample's k-th order statistic is the value at the
 * resample's k-th smallest index. The k-th smallest of n iid uniforms is
 * Beta(k, n-k+1) and, given it, the (k+1)-th is it plus (1 - it) times a
 * Beta(1, n-k); flooring n*U gives the discrete index. So each resample
 * costs two Beta draws instead of O(n log n) — the same distribution, fast
 * enough for 100,000 runs.
 */
static int bootstrap_p95(const double *sorted, size_t n, unsigned long seed, size_t resamples,
			 double *lo, double *hi)
{
	gsl_rng *rng = NULL;
	double *est = NULL;
	double h = (double)(n - 1) * 0.95; /* type 7: x[floor(h)] + frac * (x[+1] - x[]) */
	size_t k = (size_t)floor(h) + 1;   /* 1-based order statistic */
	double frac = h - floor(h);
	int rc = -1;

	rng = gsl_rng_alloc(gsl_rng_mt19937);
	est = fl_malloc(resamples * sizeof(*est));
	if (!rng || !est)
		goto out;
	gsl_rng_set(rng, seed);
	for (size_t r = 0; r < resamples; r++) {
		size_t ik, ik1;
		fl_stats_boot_ranks(rng, k, n, &ik, &ik1);
		est[r] = sorted[ik] + frac * (sorted[ik1] - sorted[ik]);
	}
	gsl_sort(est, 1, resamples);
	*lo = gsl_stats_quantile_from_sorted_data(est, 1, resamples, 0.025);
	*hi = gsl_stats_quantile_from_sorted_data(est, 1, resamples, 0.975);
	rc = 0;
out:
	fl_free(est);
	if (rng)
		gsl_rng_free(rng);
	return rc;
}

int fl_stats_summarize(const double *x, size_t n, unsigned long seed, size_t resamples,
		       struct fl_summary *out)
{
	size_t m = 0;
	double *v = NULL;
	int rc = -1;

	out->n = 0;
	out->mean = out->sd = out->median = out->p90 = out->p95 = out->p99 = NAN;
	out->min = out->max = out->mean_lo = out->mean_hi = out->p95_lo = out->p95_hi = NAN;
	out->seed = seed;
	out->resamples = resamples ? resamples : FL_STATS_RESAMPLES;

	v = finite_copy(x, n, &m);
	if (!v)
		goto out;
	out->n = m;
	if (m == 0) {
		rc = 0;
		goto out;
	}
	gsl_sort(v, 1, m);
	out->mean = gsl_stats_mean(v, 1, m);
	out->min = v[0];
	out->max = v[m - 1];
	out->median = fl_stats_quantile(v, m, 0.5);
	out->p90 = fl_stats_quantile(v, m, 0.90);
	out->p95 = fl_stats_quantile(v, m, 0.95);
	out->p99 = fl_stats_quantile(v, m, 0.99);
	if (m >= 2) {
		double tq = gsl_cdf_tdist_Pinv(0.5 + FL_STATS_LEVEL / 2.0, (double)(m - 1));
		double half;
		out->sd = gsl_stats_sd_m(v, 1, m, out->mean);
		half = tq * out->sd / sqrt((double)m);
		out->mean_lo = out->mean - half;
		out->mean_hi = out->mean + half;
		if (bootstrap_p95(v, m, seed, out->resamples, &out->p95_lo, &out->p95_hi) < 0)
			goto out;
	}
	rc = 0;
out:
	fl_free(v);
	return rc;
}

void fl_stats_wilson(long k, long n, struct fl_proportion *out)
{
	double z, p, z2n, centre, half;

	out->k = k;
	out->n = n;
	out->p = out->lo = out->hi = NAN;
	if (n <= 0 || k < 0 || k > n)
		return;
	z = gsl_cdf_ugaussian_Pinv(0.5 + FL_STATS_LEVEL / 2.0);
	p = (double)k / (double)n;
	z2n = z * z / (double)n;
	centre = (p + z2n / 2.0) / (1.0 + z2n);
	half = z * sqrt(p * (1.0 - p) / (double)n + z2n / (4.0 * (double)n)) / (1.0 + z2n);
	out->p = p;
	/* Clamp rounding at the ends: the interval of 0/n starts at exactly 0. */
	out->lo = fmax(0.0, centre - half);
	out->hi = fmin(1.0, centre + half);
	if (k == 0)
		out->lo = 0.0;
	if (k == n)
		out->hi = 1.0;
}

int fl_stats_lognormal(const double *x, size_t n, double target, struct fl_lognormal *out)
{
	double *logs = NULL;
	size_t npos = 0, le = 0;

	memset(out, 0, sizeof(*out));
	out->mu = out->sigma = out->p_model = out->p_empirical = NAN;
	logs = fl_malloc((n ? n : 1) * sizeof(*logs));
	if (!logs)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (isnan(x[i]))
			continue;
		out->n++;
		if (!isnan(target) && x[i] <= target)
			le++;
		if (x[i] <= 0.0)
			out->zeros++;
		else
			logs[npos++] = log(x[i]);
	}
	if (out->n > 0 && !isnan(target))
		out->p_empirical = (double)le / (double)out->n;
	if (npos >= 2) {
		out->mu = gsl_stats_mean(logs, 1, npos);
		/* MLE: the n-divisor variance of the logs. */
		out->sigma = sqrt(gsl_stats_variance_with_fixed_mean(logs, 1, npos, out->mu));
		if (!isnan(target)) {
			double pl;
			if (target <= 0.0)
				pl = 0.0;
			else if (out->sigma == 0.0)
				pl = log(target) >= out->mu ? 1.0 : 0.0;
			else
				pl = gsl_cdf_ugaussian_P((log(target) - out->mu) / out->sigma);
			out->p_model = ((double)out->zeros + (double)npos * pl) / (double)out->n;
		}
	}
	fl_free(logs);
	return 0;
}

int fl_stats_trend(const double *x, const double *y, size_t n, struct fl_trend *out)
{
	double *xs = NULL, *ys = NULL;
	double c0, c1, cov00, cov01, cov11, sumsq;
	size_t m = 0;
	int rc = -1;

	out->n = 0;
	out->slope = out->intercept = out->slope_lo = out->slope_hi = NAN;
	out->t = out->df = out->p = NAN;
	for (size_t i = 0; i < n; i++)
		m += !isnan(x[i]) && !isnan(y[i]);
	if (m < n) {
		/* Pairs with a NAN are skipped: fit a copy of the others (as
		 * many as there are: none for a figure never measured). When no
		 * pair has one (the usual case) the columns are fitted as they
		 * are, which spares a million-run window two copies. */
		xs = fl_malloc((m ? m : 1) * sizeof(*xs));
		ys = fl_malloc((m ? m : 1) * sizeof(*ys));
		if (!xs || !ys)
			goto out;
		m = 0;
		for (size_t i = 0; i < n; i++) {
			if (isnan(x[i]) || isnan(y[i]))
				continue;
			xs[m] = x[i];
			ys[m] = y[i];
			m++;
		}
	}
	out->n = m;
	rc = 0;
	if (m < 3 || gsl_stats_variance(xs ? xs : x, 1, m) <= 0.0)
		goto out;
	if (gsl_fit_linear(xs ? xs : x, 1, ys ? ys : y, 1, m, &c0, &c1, &cov00, &cov01, &cov11,
			   &sumsq) != 0)
		goto out;
	out->slope = c1;
	out->intercept = c0;
	out->df = (double)(m - 2);
	if (cov11 > 0.0) {
		double se = sqrt(cov11);
		double tq = gsl_cdf_tdist_Pinv(0.5 + FL_STATS_LEVEL / 2.0, out->df);
		out->t = c1 / se;
		out->p = 2.0 * gsl_cdf_tdist_Q(fabs(out->t), out->df);
		out->slope_lo = c1 - tq * se;
		out->slope_hi = c1 + tq * se;
	} else {
		/* A perfect fit: the slope is exact, its interval is a point. */
		out->slope_lo = out->slope_hi = c1;
		out->p = c1 != 0.0 ? 0.0 : 1.0;
	}
out:
	fl_free(xs);
	fl_free(ys);
	return rc;
}

const char *fl_stats_fmt_s(double ms, char *buf, size_t n)
{
	if (isnan(ms) || isinf(ms))
		snprintf(buf, n, "n/a");
	else
		snprintf(buf, n, "%.3f s", ms / 1000.0);
	return buf;
}

/* p-values: three decimals, "< 0.001" below that, "n/a" when undefined. */
static const char *fmt_p(double p, char *buf, size_t n)
{
	if (isnan(p))
		snprintf(buf, n, "n/a");
	else if (p < 0.001)
		snprintf(buf, n, "< 0.001");
	else
		snprintf(buf, n, "= %.3f", p);
	return buf;
}

const char *fl_stats_trend_sentence(const struct fl_trend *tr, const char *what, double alpha,
				    char *buf, size_t n)
{
	char pb[32];
	if (tr->n < 3 || isnan(tr->slope)) {
		snprintf(buf, n, "not enough runs spread over time for a %s trend (%zu, need 3)",
			 what, tr->n);
		return buf;
	}
	fmt_p(tr->p, pb, sizeof(pb));
	if (!isnan(tr->p) && tr->p < alpha && tr->slope != 0.0) {
		snprintf(buf, n, "%s is %s by %.2f s per week (95 %% CI %.2f to %.2f s), p %s",
			 what, tr->slope > 0 ? "rising" : "falling", fabs(tr->slope) / 1000.0,
			 tr->slope_lo / 1000.0, tr->slope_hi / 1000.0, pb);
	} else {
		snprintf(buf, n,
			 "no significant trend in %s (%+.2f s per week, 95 %% CI %.2f to %.2f s, p %s)",
			 what, tr->slope / 1000.0, tr->slope_lo / 1000.0, tr->slope_hi / 1000.0, pb);
	}
	return buf;
}

void fl_stats_welch(const double *a, size_t na, const double *b, size_t nb, struct fl_welch *out)
{
	double ma, mb, va, vb;

	out->diff = out->t = out->df = out->p = out->lo = out->hi = NAN;
	if (na < 2 || nb < 2)
		return;
	ma = gsl_stats_mean(a, 1, na);
	mb = gsl_stats_mean(b, 1, nb);
	va = gsl_stats_variance_m(a, 1, na, ma);
	vb = gsl_stats_variance_m(b, 1, nb, mb);
	fl_stats_welch_moments(ma, va, na, mb, vb, nb, out);
}

void fl_stats_welch_moments(double ma, double va, size_t na, double mb, double vb, size_t nb,
			    struct fl_welch *out)
{
	double sa, sb, se2;

	out->diff = out->t = out->df = out->p = out->lo = out->hi = NAN;
	if (na < 2 || nb < 2)
		return;
	out->diff = mb - ma;
	sa = va / (double)na;
	sb = vb / (double)nb;
	se2 = sa + sb;
	if (!(se2 > 0.0))
		return;
	out->t = out->diff / sqrt(se2);
	out->df = se2 * se2 / (sa * sa / (double)(na - 1) + sb * sb / (double)(nb - 1));
	out->p = 2.0 * gsl_cdf_tdist_Q(fabs(out->t), out->df);
	{
		double tq = gsl_cdf_tdist_Pinv(0.5 + FL_STATS_LEVEL / 2.0, out->df);
		out->lo = out->diff - tq * sqrt(se2);
		out->hi = out->diff + tq * sqrt(se2);
	}
}

/*
 * Exact null distribution of U for sample sizes m and n without ties: the
 * number of arrangements with U = u is the coefficient of q^u in the
 * Gaussian binomial [m+n choose m]_q = prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i).
 * Built by multiplying and dividing polynomials; coefficients stay integers
 * below C(50,25) < 2^53, so doubles hold them exactly.
 */
static double *mw_exact_counts(size_t m, size_t n)
{
	size_t deg = m * n;
	double *c = fl_calloc(deg + 1, sizeof(*c));
	if (!c)
		return NULL;
	c[0] = 1.0;
	for (size_t i = 1; i <= m; i++) {
		size_t a = n + i;
		for (size_t k = deg; k >= a && k <= deg; k--)
			c[k] -= c[k - a];
		for (size_t k = i; k <= deg; k++)
			c[k] += c[k - i];
	}
	return c;
}

struct ranked {
	double v;
	int from_b;
};

static int ranked_cmp(const void *x, const void *y)
{
	double a = ((const struct ranked *)x)->v, b = ((const struct ranked *)y)->v;
	return (a > b) - (a < b);
}

/* The exact two-sided p-value of out->u (no ties, small samples): both
 * tails counted from the distribution of U. 0, or -1 out of memory. */
static int mw_exact_p(struct fl_mannwhitney *out)
{
	double total = 0.0, le = 0.0, ge = 0.0;
	size_t deg = out->na * out->nb;
	/* u is an integer without ties. */
	size_t u = (size_t)llround(out->u);
	double *counts = mw_exact_counts(out->nb, out->na);
	if (!counts)
		return -1;
	for (size_t k = 0; k <= deg; k++) {
		total += counts[k];
		if (k <= u)
			le += counts[k];
		if (k >= u)
			ge += counts[k];
	}
	out->exact = 1;
	out->p = fmin(1.0, 2.0 * fmin(le, ge) / total);
	fl_free(counts);
	return 0;
}

/* The normal approximation with the tie-corrected variance. */
static void mw_normal_p(struct fl_mannwhitney *out, double tie_term)
{
	double na = (double)out->na, nb = (double)out->nb, N = na + nb;
	double mu = na * nb / 2.0;
	double var = na * nb / 12.0 * ((N + 1.0) - tie_term / (N * (N - 1.0)));
	double d = out->u - mu;
	if (var > 0.0) {
		/* Continuity correction towards the mean, never past it. */
		double cc = fabs(d) >= 0.5 ? 0.5 : fabs(d);
		out->z = (d > 0 ? d - cc : d + cc) / sqrt(var);
		out->p = fmin(1.0, 2.0 * gsl_cdf_ugaussian_Q(fabs(out->z)));
	} else {
		/* Every value equal: no evidence of any difference. */
		out->z = 0.0;
		out->p = 1.0;
	}
}

int fl_stats_mannwhitney(const double *a, size_t na, const double *b, size_t nb,
			 struct fl_mannwhitney *out)
{
	struct ranked *r = NULL;
	size_t N = na + nb;
	double rank_sum_b = 0.0, tie_term = 0.0;
	int ties = 0, rc = -1;

	memset(out, 0, sizeof(*out));
	out->na = na;
	out->nb = nb;
	out->u = out->z = out->p = out->effect = NAN;
	if (na == 0 || nb == 0)
		return 0;
	r = fl_malloc(N * sizeof(*r));
	if (!r)
		goto out;
	for (size_t i = 0; i < na; i++)
		r[i] = (struct ranked){ a[i], 0 };
	for (size_t i = 0; i < nb; i++)
		r[na + i] = (struct ranked){ b[i], 1 };
	qsort(r, N, sizeof(*r), ranked_cmp);
	/* Midranks for ties; the tie term feeds the variance correction. */
	for (size_t i = 0; i < N;) {
		size_t j = i;
		double mid, t;
		while (j + 1 < N && r[j + 1].v == r[i].v)
			j++;
		mid = ((double)i + (double)j) / 2.0 + 1.0;
		t = (double)(j - i + 1);
		if (t > 1) {
			ties = 1;
			tie_term += t * t * t - t;
		}
		for (size_t k = i; k <= j; k++)
			if (r[k].from_b)
				rank_sum_b += mid;
		i = j + 1;
	}
	out->u = rank_sum_b - (double)nb * ((double)nb + 1.0) / 2.0;
	rc = fl_stats_mannwhitney_p(out, ties, tie_term);
out:
	fl_free(r);
	return rc;
}

int fl_stats_mannwhitney_p(struct fl_mannwhitney *out, int ties, double tie_term)
{
	out->effect = 2.0 * out->u / ((double)out->na * (double)out->nb) - 1.0;
	if (!ties && out->na + out->nb <= 50)
		return mw_exact_p(out);
	mw_normal_p(out, tie_term);
	return 0;
}

int fl_stats_compare(const double *base, size_t nb, const double *cand, size_t nc,
		     struct fl_compare *out)
{
	double *b = NULL, *c = NULL, *lb = NULL, *lc = NULL;
	size_t mb = 0, mc = 0, nlb = 0, nlc = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	out->median_base = out->median_cand = NAN;
	out->ratio = out->ratio_lo = out->ratio_hi = NAN;
	b = finite_copy(base, nb, &mb);
	c = finite_copy(cand, nc, &mc);
	lb = fl_malloc((nb ? nb : 1) * sizeof(*lb));
	lc = fl_malloc((nc ? nc : 1) * sizeof(*lc));
	if (!b || !c || !lb || !lc)
		goto out;
	out->n_base = mb;
	out->n_cand = mc;
	if (fl_stats_mannwhitney(b, mb, c, mc, &out->mw) < 0)
		goto out;
	gsl_sort(b, 1, mb);
	gsl_sort(c, 1, mc);
	out->median_base = fl_stats_quantile(b, mb, 0.5);
	out->median_cand = fl_stats_quantile(c, mc, 0.5);
	for (size_t i = 0; i < mb; i++)
		if (b[i] > 0)
			lb[nlb++] = log(b[i]);
	for (size_t i = 0; i < mc; i++)
		if (c[i] > 0)
			lc[nlc++] = log(c[i]);
	fl_stats_welch(lb, nlb, lc, nlc, &out->welch_log);
	if (!isnan(out->welch_log.diff)) {
		out->ratio = exp(out->welch_log.diff);
		out->ratio_lo = exp(out->welch_log.lo);
		out->ratio_hi = exp(out->welch_log.hi);
	}
	rc = 0;
out:
	fl_free(b);
	fl_free(c);
	fl_free(lb);
	fl_free(lc);
	return rc;
}

const char *fl_stats_compare_sentence(const struct fl_compare *c, const char *base_label,
				      const char *cand_label, double alpha, char *buf, size_t n)
{
	char mb[32], mc[32], pb[32], pw[32];
	const char *verdict;

	if (c->n_base == 0 || c->n_cand == 0) {
		snprintf(buf, n, "no comparison: %zu baseline (%s) and %zu candidate (%s) runs",
			 c->n_base, base_label, c->n_cand, cand_label);
		return buf;
	}
	if (isnan(c->mw.p) || c->mw.p >= alpha)
		verdict = "shows no significant difference from";
	else if (c->mw.effect > 0)
		verdict = "is slower than";
	else
		verdict = "is faster than";
	fmt_p(c->mw.p, pb, sizeof(pb));
	fmt_p(c->welch_log.p, pw, sizeof(pw));
	if (isnan(c->ratio))
		snprintf(buf, n,
			 "candidate %s %s baseline %s: median %s vs %s, Mann-Whitney U = %.1f, p %s%s, effect r = %+.2f",
			 cand_label, verdict, base_label,
			 fl_stats_fmt_s(c->median_cand, mc, sizeof(mc)),
			 fl_stats_fmt_s(c->median_base, mb, sizeof(mb)), c->mw.u, pb,
			 c->mw.exact ? " (exact)" : "", c->mw.effect);
	else
		snprintf(buf, n,
			 "candidate %s %s baseline %s: median %s vs %s, Mann-Whitney U = %.1f, p %s%s, effect r = %+.2f; Welch on logs: ratio %.2f (95 %% CI %.2f to %.2f), p %s",
			 cand_label, verdict, base_label,
			 fl_stats_fmt_s(c->median_cand, mc, sizeof(mc)),
			 fl_stats_fmt_s(c->median_base, mb, sizeof(mb)), c->mw.u, pb,
			 c->mw.exact ? " (exact)" : "", c->mw.effect, c->ratio, c->ratio_lo,
			 c->ratio_hi, pw);
	return buf;
}

void fl_stats_boot_ranks(gsl_rng *rng, size_t k, size_t n, size_t *ik, size_t *ik1)
{
	double uk = gsl_ran_beta(rng, (double)k, (double)(n - k + 1));
	double uk1 = k < n ? uk + (1.0 - uk) * gsl_ran_beta(rng, 1.0, (double)(n - k)) : uk;
	*ik = (size_t)floor(uk * (double)n);
	*ik1 = (size_t)floor(uk1 * (double)n);
	if (*ik >= n)
		*ik = n - 1;
	if (*ik1 >= n)
		*ik1 = n - 1;
}
