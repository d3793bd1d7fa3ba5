/*
 * test_stats: every statistic against values computed independently — by
 * hand in the comments, from published tables, or from exact enumeration —
 * plus the degenerate inputs a young history produces (no runs, one run,
 * all equal, missing phases).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reports/stats.h"
#include "reports/sorter.h"

static int setup(void **state)
{
	(void)state;
	gsl_set_error_handler_off();
	return 0;
}

static void test_summary_one_to_ten(void **state)
{
	double x[10];
	struct fl_summary s;
	(void)state;
	for (int i = 0; i < 10; i++)
		x[i] = (double)(10 - i); /* unsorted on purpose */
	assert_int_equal(fl_stats_summarize(x, 10, FL_STATS_SEED, 500, &s), 0);
	assert_int_equal(s.n, 10);
	assert_float_equal(s.mean, 5.5, 1e-12);
	/* var = sum (i - 5.5)^2 / 9 = 82.5 / 9 = 9.1667, sd = 3.02765 */
	assert_float_equal(s.sd, 3.0276504, 1e-6);
	assert_float_equal(s.min, 1.0, 0);
	assert_float_equal(s.max, 10.0, 0);
	/* type 7: h = (n-1)p; p90: h = 8.1 -> 9 + 0.1*1; p95: 9.55; p99: 9.91 */
	assert_float_equal(s.median, 5.5, 1e-12);
	assert_float_equal(s.p90, 9.1, 1e-12);
	assert_float_equal(s.p95, 9.55, 1e-12);
	assert_float_equal(s.p99, 9.91, 1e-12);
	/* t(0.975, 9) = 2.262 (any textbook table); half = 2.262 * 3.02765 / sqrt(10) = 2.1658 */
	assert_float_equal(s.mean_lo, 5.5 - 2.1658, 1e-3);
	assert_float_equal(s.mean_hi, 5.5 + 2.1658, 1e-3);
	assert_true(s.p95_lo <= s.p95 && s.p95 <= s.p95_hi + 1e-9);
	assert_true(s.p95_lo >= 1.0 && s.p95_hi <= 10.0);
	assert_int_equal(s.seed, FL_STATS_SEED);
	assert_int_equal(s.resamples, 500);
}

static void test_summary_degenerate(void **state)
{
	double one = 4.2, eq[5] = { 4, 4, 4, 4, 4 }, holes[3] = { 1.0, NAN, 3.0 };
	double none[2] = { NAN, NAN };
	struct fl_summary s;
	(void)state;

	assert_int_equal(fl_stats_summarize(NULL, 0, 1, 100, &s), 0);
	assert_int_equal(s.n, 0);
	assert_true(isnan(s.mean) && isnan(s.p95) && isnan(s.mean_lo) && isnan(s.p95_hi));

	assert_int_equal(fl_stats_summarize(none, 2, 1, 100, &s), 0);
	assert_int_equal(s.n, 0);
	assert_true(isnan(s.median));

	assert_int_equal(fl_stats_summarize(&one, 1, 1, 100, &s), 0);
	assert_int_equal(s.n, 1);
	assert_float_equal(s.mean, 4.2, 0);
	assert_float_equal(s.p95, 4.2, 0);
	assert_true(isnan(s.sd) && isnan(s.mean_lo) && isnan(s.p95_lo));

	/* sd 0: the intervals collapse to the value, no NaN anywhere. */
	assert_int_equal(fl_stats_summarize(eq, 5, 1, 100, &s), 0);
	assert_float_equal(s.sd, 0.0, 0);
	assert_float_equal(s.mean_lo, 4.0, 0);
	assert_float_equal(s.mean_hi, 4.0, 0);
	assert_float_equal(s.p95_lo, 4.0, 0);
	assert_float_equal(s.p95_hi, 4.0, 0);

	/* A missing phase is skipped, not counted as zero. */
	assert_int_equal(fl_stats_summarize(holes, 3, 1, 100, &s), 0);
	assert_int_equal(s.n, 2);
	assert_float_equal(s.mean, 2.0, 0);
}

/* Naive bootstrap for comparison: materialise each resample and sort it. */
static void naive_bootstrap(const double *v, size_t n, size_t reps, double *lo, double *hi)
{
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	double *res = malloc(n * sizeof(*res)), *est = malloc(reps * sizeof(*est));
	assert_non_null(rng);
	assert_non_null(res);
	assert_non_null(est);
	gsl_rng_set(rng, 7);
	for (size_t r = 0; r < reps; r++) {
		for (size_t i = 0; i < n; i++)
			res[i] = v[gsl_rng_uniform_int(rng, n)];
		gsl_sort(res, 1, n);
		est[r] = gsl_stats_quantile_from_sorted_data(res, 1, n, 0.95);
	}
	gsl_sort(est, 1, reps);
	*lo = gsl_stats_quantile_from_sorted_data(est, 1, reps, 0.025);
	*hi = gsl_stats_quantile_from_sorted_data(est, 1, reps, 0.975);
	free(res);
	free(est);
	gsl_rng_free(rng);
}

static void test_bootstrap_matches_naive_and_is_seeded(void **state)
{
	double v[60], lo, hi;
	struct fl_summary a, b, c;
	(void)state;
	for (int i = 0; i < 60; i++)
		v[i] = exp(0.03 * i) * 1000.0; /* skewed like RTOs */
	assert_int_equal(fl_stats_summarize(v, 60, 42, 20000, &a), 0);
	assert_int_equal(fl_stats_summarize(v, 60, 42, 20000, &b), 0);
	assert_int_equal(fl_stats_summarize(v, 60, 43, 20000, &c), 0);
	/* Same seed, same interval, bit for bit. */
	assert_true(a.p95_lo == b.p95_lo && a.p95_hi == b.p95_hi);
	naive_bootstrap(v, 60, 20000, &lo, &hi);
	/* Same distribution by a different route: endpoints agree within
	 * Monte Carlo error (a few per cent of the spread of the top values). */
	assert_float_equal(a.p95_lo, lo, 0.03 * (v[59] - v[40]));
	assert_float_equal(a.p95_hi, hi, 0.03 * (v[59] - v[40]));
	assert_float_equal(c.p95_lo, lo, 0.03 * (v[59] - v[40]));
}

static void test_wilson(void **state)
{
	struct fl_proportion w;
	(void)state;
	/* 8/10, z = 1.95996: centre (0.8 + z^2/20) / (1 + z^2/10) = 0.71674,
	 * half z sqrt(0.016 + z^2/400) / (1 + z^2/10) = 0.22657 -> [0.4902, 0.9433] */
	fl_stats_wilson(8, 10, &w);
	assert_float_equal(w.p, 0.8, 1e-12);
	assert_float_equal(w.lo, 0.4902, 1e-4);
	assert_float_equal(w.hi, 0.9433, 1e-4);
	/* 0/10: [0, z^2/10 / (1 + z^2/10)] = [0, 0.2775] */
	fl_stats_wilson(0, 10, &w);
	assert_float_equal(w.lo, 0.0, 0);
	assert_float_equal(w.hi, 0.2775, 1e-4);
	fl_stats_wilson(10, 10, &w);
	assert_float_equal(w.hi, 1.0, 0);
	assert_float_equal(w.lo, 1.0 - 0.2775, 1e-4);
	fl_stats_wilson(0, 0, &w);
	assert_true(isnan(w.p) && isnan(w.lo) && isnan(w.hi));
}

static void test_lognormal(void **state)
{
	double x[3] = { 1.0, M_E, M_E * M_E }, z[4] = { 0.0, 1.0, M_E, M_E * M_E };
	double eq[3] = { 2.0, 2.0, 2.0 };
	struct fl_lognormal ln;
	(void)state;
	/* logs 0, 1, 2: mu 1, MLE sigma sqrt(2/3); P(X <= e) = Phi(0) = 0.5 */
	assert_int_equal(fl_stats_lognormal(x, 3, M_E, &ln), 0);
	assert_float_equal(ln.mu, 1.0, 1e-12);
	assert_float_equal(ln.sigma, sqrt(2.0 / 3.0), 1e-12);
	assert_float_equal(ln.p_model, 0.5, 1e-12);
	assert_float_equal(ln.p_empirical, 2.0 / 3.0, 1e-12);
	/* P(X <= e^2) = Phi(1 / 0.8165) = Phi(1.2247) = 0.8897 (normal table) */
	assert_int_equal(fl_stats_lognormal(x, 3, M_E * M_E, &ln), 0);
	assert_float_equal(ln.p_model, 0.8897, 1e-4);
	/* A zero (no impact) is a point mass: (1 + 3 * 0.5) / 4 */
	assert_int_equal(fl_stats_lognormal(z, 4, M_E, &ln), 0);
	assert_int_equal(ln.zeros, 1);
	assert_float_equal(ln.p_model, 0.625, 1e-12);
	/* sigma 0: a step, not a NaN */
	assert_int_equal(fl_stats_lognormal(eq, 3, 2.5, &ln), 0);
	assert_float_equal(ln.sigma, 0.0, 0);
	assert_float_equal(ln.p_model, 1.0, 0);
	assert_int_equal(fl_stats_lognormal(eq, 3, 1.5, &ln), 0);
	assert_float_equal(ln.p_model, 0.0, 0);
	/* no target / one value */
	assert_int_equal(fl_stats_lognormal(x, 3, NAN, &ln), 0);
	assert_true(isnan(ln.p_model) && isnan(ln.p_empirical));
	assert_int_equal(fl_stats_lognormal(x, 1, 5.0, &ln), 0);
	assert_true(isnan(ln.mu) && isnan(ln.p_model));
	assert_float_equal(ln.p_empirical, 1.0, 0);
}

static void test_trend(void **state)
{
	double x[5] = { 1, 2, 3, 4, 5 }, y[5] = { 2, 4, 5, 4, 5 };
	double xl[4] = { 0, 1, 2, 3 }, yl[4] = { 1000, 2000, 3000, 4000 };
	double xs[3] = { 1, 1, 1 };
	struct fl_trend tr;
	char buf[256];
	(void)state;
	/* Sxx = 10, Sxy = 6 -> slope 0.6, intercept 4 - 0.6*3 = 2.2; residuals
	 * -0.8 0.6 1.0 -0.6 -0.2, SSE 2.4, s^2 = 0.8, se = sqrt(0.08) = 0.28284,
	 * t = 2.1213 on 3 df: t(0.90,3) = 1.638 < t < t(0.95,3) = 2.353, so
	 * 0.1 < p < 0.2; interval 0.6 +- 3.182 * 0.28284 = 0.6 +- 0.9000. */
	assert_int_equal(fl_stats_trend(x, y, 5, &tr), 0);
	assert_float_equal(tr.slope, 0.6, 1e-12);
	assert_float_equal(tr.intercept, 2.2, 1e-12);
	assert_float_equal(tr.t, 2.1213, 1e-4);
	assert_float_equal(tr.df, 3.0, 0);
	assert_true(tr.p > 0.1 && tr.p < 0.2);
	assert_float_equal(tr.slope_lo, 0.6 - 0.9001, 1e-3);
	assert_float_equal(tr.slope_hi, 0.6 + 0.9001, 1e-3);
	fl_stats_trend_sentence(&tr, "RTO", 0.05, buf, sizeof(buf));
	assert_non_null(strstr(buf, "no significant trend in RTO"));

	/* A perfect rise of 1 s per week. */
	assert_int_equal(fl_stats_trend(xl, yl, 4, &tr), 0);
	assert_float_equal(tr.slope, 1000.0, 1e-9);
	fl_stats_trend_sentence(&tr, "RTO", 0.05, buf, sizeof(buf));
	assert_string_equal(buf,
			    "RTO is rising by 1.00 s per week (95 % CI 1.00 to 1.00 s), p < 0.001");

	/* Too few runs, and runs all at the same instant. */
	assert_int_equal(fl_stats_trend(x, y, 2, &tr), 0);
	assert_true(isnan(tr.slope) && isnan(tr.p));
	fl_stats_trend_sentence(&tr, "RTO", 0.05, buf, sizeof(buf));
	assert_string_equal(buf, "not enough runs spread over time for a RTO trend (2, need 3)");
	assert_int_equal(fl_stats_trend(xs, y, 3, &tr), 0);
	assert_true(isnan(tr.slope));
}

static void test_welch(void **state)
{
	double a[5] = { 1, 2, 3, 4, 5 }, b[7] = { 3, 4, 5, 6, 7, 8, 9 };
	struct fl_welch w;
	(void)state;
	/* var a 2.5, var b 28/6; se^2 = 0.5 + 0.66667 = 1.16667; t = 3 / 1.08012
	 * = 2.7775; df = 1.16667^2 / (0.5^2/4 + 0.66667^2/6) = 9.966.
	 * Table: t(0.99,10) = 2.764 < t < t(0.995,10) = 3.169 -> 0.01 < p < 0.02 */
	fl_stats_welch(a, 5, b, 7, &w);
	assert_float_equal(w.diff, 3.0, 1e-12);
	assert_float_equal(w.t, 2.7775, 1e-4);
	assert_float_equal(w.df, 9.966, 1e-3);
	assert_true(w.p > 0.01 && w.p < 0.02);
	assert_true(w.lo > 0.0 && w.hi > w.lo);
	fl_stats_welch(a, 1, b, 7, &w);
	assert_true(isnan(w.t) && isnan(w.p));
}

static void test_mannwhitney_exact(void **state)
{
	double a3[3] = { 1, 2, 3 }, b3[3] = { 4, 5, 6 };
	double a4[4] = { 1, 2, 3, 4 }, b4[4] = { 5, 6, 7, 8 };
	double ao[3] = { 1, 3, 5 }, bo[3] = { 2, 4, 6 };
	double big_a[25], big_b[25];
	struct fl_mannwhitney mw;
	(void)state;
	/* Complete separation, 3 vs 3: U = 9, P(U >= 9) = 1 / C(6,3) = 1/20, two-sided 0.1 */
	assert_int_equal(fl_stats_mannwhitney(a3, 3, b3, 3, &mw), 0);
	assert_true(mw.exact);
	assert_float_equal(mw.u, 9.0, 0);
	assert_float_equal(mw.p, 0.1, 1e-12);
	assert_float_equal(mw.effect, 1.0, 0);
	/* 4 vs 4: 2 / C(8,4) = 2/70 */
	assert_int_equal(fl_stats_mannwhitney(a4, 4, b4, 4, &mw), 0);
	assert_float_equal(mw.p, 2.0 / 70.0, 1e-12);
	assert_int_equal(fl_stats_mannwhitney(b4, 4, a4, 4, &mw), 0);
	assert_float_equal(mw.u, 0.0, 0);
	assert_float_equal(mw.effect, -1.0, 0);
	/* Interleaved: U = 1 + 2 + 3 = 6; null counts for u = 0..9 are
	 * 1 1 2 3 3 3 3 2 1 1, P(U >= 6) = 7/20, two-sided 0.7 */
	assert_int_equal(fl_stats_mannwhitney(ao, 3, bo, 3, &mw), 0);
	assert_float_equal(mw.u, 6.0, 0);
	assert_float_equal(mw.p, 0.7, 1e-12);
	/* 25 vs 25 separated: 2 / C(50,25) = 2 / 126410606437752 */
	for (int i = 0; i < 25; i++) {
		big_a[i] = i;
		big_b[i] = 100 + i;
	}
	assert_int_equal(fl_stats_mannwhitney(big_a, 25, big_b, 25, &mw), 0);
	assert_true(mw.exact);
	assert_float_equal(mw.p / (2.0 / 126410606437752.0), 1.0, 1e-9);
}

static void test_mannwhitney_ties_normal(void **state)
{
	double a[4] = { 1, 2, 2, 3 }, b[4] = { 2, 3, 3, 4 }, e[2] = { 5, 5 };
	struct fl_mannwhitney mw;
	(void)state;
	/* Midranks: 1 ->1, 2s -> 3, 3s -> 6, 4 -> 8. Rank sum of b = 3+6+6+8 = 23,
	 * U = 23 - 10 = 13. mu 8; tie term 24 + 24 = 48; var = 16/12 * (9 - 48/56)
	 * = 10.857; z = (13 - 8 - 0.5) / 3.2950 = 1.3657; p = 2 * (1 - Phi(1.3657))
	 * = 0.1720 (normal table). */
	assert_int_equal(fl_stats_mannwhitney(a, 4, b, 4, &mw), 0);
	assert_false(mw.exact);
	assert_float_equal(mw.u, 13.0, 0);
	assert_float_equal(mw.z, 1.3657, 1e-4);
	assert_float_equal(mw.p, 0.1720, 5e-4);
	assert_float_equal(mw.effect, 0.625, 1e-12);
	/* All equal: no difference, p = 1, no NaN. */
	assert_int_equal(fl_stats_mannwhitney(e, 2, e, 2, &mw), 0);
	assert_float_equal(mw.p, 1.0, 0);
	assert_float_equal(mw.effect, 0.0, 0);
	/* An empty side: nothing to compare. */
	assert_int_equal(fl_stats_mannwhitney(a, 0, b, 4, &mw), 0);
	assert_true(isnan(mw.p));
}

static void test_compare(void **state)
{
	double base[8] = { 4000, 4100, 3900, 4200, 4050, 3950, 4150, 4020 };
	double cand[8] = { 5000, 5100, 4900, 5200, 5050, 4950, 5150, NAN };
	struct fl_compare c;
	char buf[512];
	(void)state;
	assert_int_equal(fl_stats_compare(base, 8, cand, 8, &c), 0);
	assert_int_equal(c.n_base, 8);
	assert_int_equal(c.n_cand, 7);
	assert_float_equal(c.median_cand, 5050, 1e-9);
	assert_float_equal(c.median_base, 4035, 1e-9);
	assert_float_equal(c.mw.effect, 1.0, 0);
	/* exact: 2 / C(15,7) = 2 / 6435 */
	assert_float_equal(c.mw.p, 2.0 / 6435.0, 1e-12);
	assert_true(c.ratio > 1.2 && c.ratio < 1.3);
	assert_true(c.ratio_lo < c.ratio && c.ratio < c.ratio_hi);
	assert_true(c.welch_log.p < 0.001);
	fl_stats_compare_sentence(&c, "v1", "v2", 0.05, buf, sizeof(buf));
	assert_non_null(
		strstr(buf, "candidate v2 is slower than baseline v1: median 5.050 s vs 4.035 s"));
	assert_int_equal(fl_stats_compare(base, 8, cand, 0, &c), 0);
	fl_stats_compare_sentence(&c, "v1", "v2", 0.05, buf, sizeof(buf));
	assert_string_equal(buf, "no comparison: 8 baseline (v1) and 0 candidate (v2) runs");
}

static void test_fmt(void **state)
{
	char b[32];
	(void)state;
	assert_string_equal(fl_stats_fmt_s(4312.0, b, sizeof(b)), "4.312 s");
	assert_string_equal(fl_stats_fmt_s(NAN, b, sizeof(b)), "n/a");
}

/* ---- streaming (stats_stream.c, sorter.c) against the in-memory answers ---- */

static void push_cb(double v, void *ctx)
{
	fl_stats_sorted_push(ctx, v);
}

/* Log-normal values, some zeros and ties, in a random order. */
static double *stream_data(size_t n, unsigned long seed)
{
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	double *x = malloc(n * sizeof(*x));
	assert_non_null(rng);
	assert_non_null(x);
	gsl_rng_set(rng, seed);
	for (size_t i = 0; i < n; i++) {
		double u = gsl_rng_uniform(rng);
		x[i] = u < 0.02   ? 0.0
		       : u < 0.05 ? 1500.0
				  : 2000.0 * exp(0.4 * gsl_ran_gaussian(rng, 1));
	}
	gsl_rng_free(rng);
	return x;
}

static void close_to(double a, double b)
{
	assert_true(isnan(a) == isnan(b));
	if (!isnan(a))
		assert_true(fabs(a - b) <= 1e-9 * fmax(1.0, fabs(b)));
}

/* The summary of values streamed through the sorter (spilled to its file
 * when n > FL_SORTER_CHUNK) equals fl_stats_summarize on the same array:
 * order statistics and the bootstrap exactly, mean and sd to 1e-9. */
static void check_stream(size_t n, double target)
{
	double *x = stream_data(n, 7 + n);
	struct fl_sorter so;
	struct fl_stats_sorted st;
	struct fl_summary want, got;
	struct fl_lognormal lw, lg;

	fl_sorter_init(&so);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(fl_sorter_add(&so, x[i]), 0);
	assert_int_equal(so.total, n);
	assert_int_equal(fl_stats_sorted_init(&st, n, 99, 500, 1, target), 0);
	assert_int_equal(fl_sorter_each(&so, push_cb, &st), 0);
	if (n > FL_SORTER_CHUNK)
		assert_true(so.nruns > 1);
	assert_int_equal(fl_stats_sorted_finish(&st, &got), 0);
	fl_stats_sorted_lognormal(&st, &lg);
	fl_stats_sorted_release(&st);
	fl_sorter_release(&so);
	assert_int_equal(fl_stats_summarize(x, n, 99, 500, &want), 0);
	assert_int_equal(fl_stats_lognormal(x, n, target, &lw), 0);

	assert_int_equal(got.n, want.n);
	assert_true(got.median == want.median || (isnan(got.median) && isnan(want.median)));
	assert_true(got.p90 == want.p90 || (isnan(got.p90) && isnan(want.p90)));
	assert_true(got.p95 == want.p95 || (isnan(got.p95) && isnan(want.p95)));
	assert_true(got.p99 == want.p99 || (isnan(got.p99) && isnan(want.p99)));
	assert_true(got.min == want.min || (isnan(got.min) && isnan(want.min)));
	assert_true(got.max == want.max || (isnan(got.max) && isnan(want.max)));
	assert_true(got.p95_lo == want.p95_lo || (isnan(got.p95_lo) && isnan(want.p95_lo)));
	assert_true(got.p95_hi == want.p95_hi || (isnan(got.p95_hi) && isnan(want.p95_hi)));
	close_to(got.mean, want.mean);
	close_to(got.sd, want.sd);
	close_to(got.mean_lo, want.mean_lo);
	close_to(got.mean_hi, want.mean_hi);
	assert_int_equal(lg.n, lw.n);
	assert_int_equal(lg.zeros, lw.zeros);
	close_to(lg.mu, lw.mu);
	close_to(lg.sigma, lw.sigma);
	close_to(lg.p_model, lw.p_model);
	close_to(lg.p_empirical, lw.p_empirical);
	free(x);
}

static void test_stream_summary_matches(void **state)
{
	(void)state;
	check_stream(0, 3000.0);
	check_stream(1, 3000.0);
	check_stream(2, NAN);
	check_stream(37, 3000.0);
	check_stream(5000, 2500.0);
	/* Past one chunk: sorted runs in the temporary file, merged. */
	check_stream(3 * FL_SORTER_CHUNK + 123, 3000.0);
}

static void test_stream_trend_matches(void **state)
{
	double x[500], y[500], xs[500];
	struct fl_stats_ols o;
	struct fl_trend want, got;
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	(void)state;
	assert_non_null(rng);
	/* Newest first, x relative to the newest, as report_stream.c pushes. */
	for (size_t i = 0; i < 500; i++) {
		x[i] = 52.0 - (double)i * 0.1;
		y[i] = i % 7 == 3 ? NAN : 4000.0 + 20.0 * x[i] + 300.0 * gsl_ran_gaussian(rng, 1);
		xs[i] = x[i] - x[0];
	}
	gsl_rng_free(rng);
	assert_int_equal(fl_stats_trend(x, y, 500, &want), 0);
	fl_stats_ols_init(&o);
	for (size_t i = 0; i < 500; i++)
		fl_stats_ols_push(&o, xs[i], y[i]);
	fl_stats_ols_finish(&o, x[0], &got);
	assert_int_equal(got.n, want.n);
	close_to(got.slope, want.slope);
	close_to(got.intercept, want.intercept);
	close_to(got.slope_lo, want.slope_lo);
	close_to(got.slope_hi, want.slope_hi);
	close_to(got.t, want.t);
	close_to(got.p, want.p);
	assert_true(got.df == want.df);
	/* Too few pairs, and all at one instant: undefined, as fl_stats_trend. */
	fl_stats_ols_init(&o);
	fl_stats_ols_push(&o, 1, 2);
	fl_stats_ols_push(&o, 1, 3);
	fl_stats_ols_push(&o, 1, 4);
	fl_stats_ols_finish(&o, 0, &got);
	assert_true(got.n == 3 && isnan(got.slope) && isnan(got.p));
}

/* ---- the comparison from sorted streams, and the shared sort file ------- */

static void same_double(double x, double y)
{
	assert_true(memcmp(&x, &y, sizeof(x)) == 0 || (isnan(x) && isnan(y)));
}

/* Durations as a history holds them: log-normal, some zeros, and (when
 * round) whole milliseconds, so values tie. */
static double *compare_data(size_t n, unsigned long seed, double median, int round)
{
	double *x = malloc((n ? n : 1) * sizeof(*x));
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	assert_non_null(x);
	assert_non_null(rng);
	gsl_rng_set(rng, seed);
	for (size_t i = 0; i < n; i++) {
		double v = gsl_rng_uniform(rng) < 0.03
				   ? 0.0
				   : median * exp(0.3 * gsl_ran_gaussian(rng, 1));
		x[i] = round ? floor(v) : v;
	}
	gsl_rng_free(rng);
	return x;
}

/* fl_stats_compare_sorted over two sorters (sharing one file, chunks of
 * `chunk` values) equals fl_stats_compare on the arrays, bit for bit. */
static void check_compare(size_t nb, size_t nc, double mb, double mc, int round, size_t chunk)
{
	double *b = compare_data(nb, 11 + nb, mb, round), *c = compare_data(nc, 12 + nc, mc, round);
	struct fl_sorter_file f;
	struct fl_sorter sb, sc;
	struct fl_sorter_iter xb, xc;
	struct fl_stats_source vb, vc;
	struct fl_compare want, got;

	fl_sorter_file_init(&f);
	fl_sorter_init_shared(&sb, &f);
	fl_sorter_init_shared(&sc, &f);
	sb.chunk = sc.chunk = chunk;
	for (size_t i = 0; i < nb; i++)
		assert_int_equal(fl_sorter_add(&sb, b[i]), 0);
	for (size_t i = 0; i < nc; i++)
		assert_int_equal(fl_sorter_add(&sc, c[i]), 0);
	fl_sorter_source(&sb, &xb, &vb);
	fl_sorter_source(&sc, &xc, &vc);
	assert_int_equal(vb.n, nb);
	assert_int_equal(fl_stats_compare_sorted(&vb, &vc, &got), 0);
	assert_int_equal(fl_stats_compare(b, nb, c, nc, &want), 0);
	assert_int_equal(got.n_base, want.n_base);
	assert_int_equal(got.n_cand, want.n_cand);
	assert_int_equal(got.mw.na, want.mw.na);
	assert_int_equal(got.mw.nb, want.mw.nb);
	assert_int_equal(got.mw.exact, want.mw.exact);
	same_double(got.median_base, want.median_base);
	same_double(got.median_cand, want.median_cand);
	same_double(got.mw.u, want.mw.u);
	same_double(got.mw.z, want.mw.z);
	same_double(got.mw.p, want.mw.p);
	same_double(got.mw.effect, want.mw.effect);
	same_double(got.welch_log.diff, want.welch_log.diff);
	same_double(got.welch_log.t, want.welch_log.t);
	same_double(got.welch_log.df, want.welch_log.df);
	same_double(got.welch_log.p, want.welch_log.p);
	same_double(got.welch_log.lo, want.welch_log.lo);
	same_double(got.welch_log.hi, want.welch_log.hi);
	same_double(got.ratio, want.ratio);
	same_double(got.ratio_lo, want.ratio_lo);
	same_double(got.ratio_hi, want.ratio_hi);
	fl_sorter_end(&xb);
	fl_sorter_end(&xc);
	fl_sorter_release(&sb);
	fl_sorter_release(&sc);
	fl_sorter_file_close(&f);
	free(b);
	free(c);
}

static void test_compare_sorted_matches(void **state)
{
	(void)state;
	check_compare(0, 0, 3000, 3000, 0, FL_SORTER_CHUNK);
	check_compare(0, 7, 3000, 3000, 0, FL_SORTER_CHUNK);
	check_compare(1, 1, 3000, 3300, 0, FL_SORTER_CHUNK);
	check_compare(9, 12, 3000, 3300, 0, FL_SORTER_CHUNK);    /* exact p */
	check_compare(30, 25, 3000, 3300, 1, FL_SORTER_CHUNK);   /* ties: normal p */
	check_compare(400, 500, 3000, 3000, 1, FL_SORTER_CHUNK); /* no difference */
	/* Spilled to the shared file in many small chunks, ties and zeros. */
	check_compare(5000, 7000, 3000, 3150, 1, 256);
	check_compare(3000, 2000, 9000, 9000, 0, 100);
}

static int open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 4096; fd++)
		n += fcntl(fd, F_GETFD) != -1;
	return n;
}

/* Many figures that spill (a scenario with many phases) hold one
 * descriptor between them, under a descriptor limit far below their number,
 * and each still reads back its own values in order. */
static void test_sorter_shared_file(void **state)
{
	enum { FIGURES = 300, VALUES = 40 };
	struct fl_sorter_file f;
	struct fl_sorter *s = calloc(FIGURES, sizeof(*s));
	struct rlimit old, low;
	int before;
	(void)state;

	assert_non_null(s);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	before = open_fds();
	low = old;
	low.rlim_cur = (rlim_t)before + 16; /* far fewer than FIGURES */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	fl_sorter_file_init(&f);
	for (int k = 0; k < FIGURES; k++) {
		fl_sorter_init_shared(&s[k], &f);
		s[k].chunk = 8;
	}
	for (int i = 0; i < VALUES; i++)
		for (int k = 0; k < FIGURES; k++)
			assert_int_equal(fl_sorter_add(&s[k], (double)(k * 1000 + (i * 7) % VALUES)),
					 0);
	assert_true(open_fds() <= before + 1);
	for (int k = 0; k < FIGURES; k++) {
		struct fl_sorter_iter it;
		double v;
		int i = 0;
		assert_true(s[k].nruns > 1);
		assert_int_equal(fl_sorter_begin(&s[k], &it), 0);
		while (fl_sorter_next(&it, &v) > 0)
			assert_true(v == (double)(k * 1000 + i++));
		assert_int_equal(i, VALUES);
		fl_sorter_end(&it);
		fl_sorter_release(&s[k]);
	}
	fl_sorter_file_close(&f);
	assert_int_equal(open_fds(), before);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	free(s);
}

/* The file is made in $TMPDIR; a TMPDIR that cannot hold it is an error
 * (errno), not a crash, and nothing is left in it. */
static void test_sorter_tmpdir(void **state)
{
	char dir[] = "/tmp/fl-sorter-XXXXXX", *old = getenv("TMPDIR");
	char *saved = old ? strdup(old) : NULL;
	struct fl_sorter s;
	struct stat sb;
	int rc = 0;
	(void)state;

	assert_non_null(mkdtemp(dir));
	setenv("TMPDIR", dir, 1);
	fl_sorter_init(&s);
	s.chunk = 4;
	for (int i = 0; i < 20; i++)
		assert_int_equal(fl_sorter_add(&s, 20 - i), 0);
	assert_true(s.own.fd >= 0);
	assert_string_equal(s.own.dir, dir);
	assert_int_equal(fstat(s.own.fd, &sb), 0);
	assert_int_equal(sb.st_nlink, 0); /* unlinked: nothing left behind */
	fl_sorter_release(&s);
	assert_int_equal(rmdir(dir), 0); /* empty */
	/* A TMPDIR that is gone: the spill fails with ENOENT. */
	fl_sorter_init(&s);
	s.chunk = 4;
	for (int i = 0; i < 20 && rc == 0; i++)
		rc = fl_sorter_add(&s, i);
	assert_int_equal(rc, -1);
	assert_int_equal(errno, ENOENT);
	fl_sorter_release(&s);
	if (saved)
		setenv("TMPDIR", saved, 1);
	else
		unsetenv("TMPDIR");
	free(saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_summary_one_to_ten),
		cmocka_unit_test(test_summary_degenerate),
		cmocka_unit_test(test_bootstrap_matches_naive_and_is_seeded),
		cmocka_unit_test(test_wilson),
		cmocka_unit_test(test_lognormal),
		cmocka_unit_test(test_trend),
		cmocka_unit_test(test_welch),
		cmocka_unit_test(test_mannwhitney_exact),
		cmocka_unit_test(test_mannwhitney_ties_normal),
		cmocka_unit_test(test_compare),
		cmocka_unit_test(test_fmt),
		cmocka_unit_test(test_stream_summary_matches),
		cmocka_unit_test(test_stream_trend_matches),
		cmocka_unit_test(test_compare_sorted_matches),
		cmocka_unit_test(test_sorter_shared_file),
		cmocka_unit_test(test_sorter_tmpdir),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
