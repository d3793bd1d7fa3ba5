/*
 * stats: the statistics a DR report and a CI gate stand on, computed with GSL.
 *
 * Owns: summaries of a set of durations (count, mean, sd, median, p90/p95/p99,
 * min/max, a t interval for the mean and a bootstrap interval for p95 with a
 * fixed, recorded seed), the Wilson interval of a pass rate, a log-normal fit
 * and the probability of meeting a target it implies, an OLS trend with its
 * p-value and a plain-language sentence, and the release comparison
 * (Mann-Whitney U, exact for small untied samples, and Welch's t on log
 * durations). Does not own: where the numbers come from (report.c) or how
 * they are printed (report_*.c).
 *
 * Conventions. Inputs may hold NAN for "not measured" (a missing phase): such
 * values are skipped, never counted as zero. A figure that cannot be computed
 * (no data, one run, sd 0 where a ratio is needed) is NAN, and printers say
 * "n/a" for it. Percentiles are Hyndman-Fan type 7 (linear interpolation
 * between order statistics, R's default and gsl_stats_quantile_from_sorted_data).
 * Intervals are two-sided 95 %. The caller must have called
 * gsl_set_error_handler_off() (main() does; tests do in their setup).
 */
#ifndef FAULTLINE_STATS_H
#define FAULTLINE_STATS_H

#include <stddef.h>

#include <gsl/gsl_rng.h>

#define FL_STATS_LEVEL 0.95
#define FL_STATS_SEED 20240229UL /* default bootstrap seed, printed in reports */
#define FL_STATS_RESAMPLES 2000  /* default bootstrap resamples */

struct fl_summary {
	size_t n;        /* values that were not NAN */
	double mean, sd; /* sd: sample (n-1); NAN when n < 2 */
	double median, p90, p95, p99, min, max;
	double mean_lo, mean_hi; /* t interval; NAN when n < 2 */
	double p95_lo, p95_hi;   /* percentile bootstrap; NAN when n < 2 */
	unsigned long seed;      /* bootstrap seed used (recorded for reproducibility) */
	size_t resamples;
};

/* Summarises x[0..n) skipping NANs. The bootstrap draws `resamples`
 * resamples from a gsl_rng (mt19937) seeded with `seed`; the same inputs and
 * seed always give the same interval. Returns 0, -1 on allocation failure. */
int fl_stats_summarize(const double *x, size_t n, unsigned long seed, size_t resamples,
		       struct fl_summary *out);

/* Type-7 quantile of sorted[0..n) for p in [0,1]; NAN when n == 0. */
double fl_stats_quantile(const double *sorted, size_t n, double p);
/* One bootstrap resample of the order statistics around rank k (1-based)
 * of n sorted values: the 0-based ranks *ik <= *ik1 it draws from rng. The
 * one draw of the in-memory and the streamed summaries, so both give the
 * same interval for the same seed. */
void fl_stats_boot_ranks(gsl_rng *rng, size_t k, size_t n, size_t *ik, size_t *ik1);

/* A proportion k/n with its Wilson score interval. */
struct fl_proportion {
	long k, n;
	double p, lo, hi; /* NAN when n == 0 */
};
void fl_stats_wilson(long k, long n, struct fl_proportion *out);

/* Log-normal fit by maximum likelihood on the positive values of x (mu and
 * sigma are the mean and the n-divisor sd of their logs). Zeros (a fault
 * with no impact: RTO 0) are kept as a point mass, so
 *   P(X <= T) = (zeros + positives * Phi((ln T - mu) / sigma)) / n.
 * The empirical probability is the share of values <= T. */
struct fl_lognormal {
	size_t n, zeros;
	double mu, sigma;   /* NAN when fewer than 2 positive values */
	double p_model;     /* modelled P(X <= target); NAN when not fitted or no target */
	double p_empirical; /* share of values <= target; NAN when n == 0 or no target */
};
/* target: NAN when none. Returns 0, -1 on allocation failure. */
int fl_stats_lognormal(const double *x, size_t n, double target, struct fl_lognormal *out);

/* OLS of y on x (x in weeks, y in the unit of the data), skipping pairs with
 * a NAN. Slope, its 95 % t interval and the two-sided p-value of slope = 0
 * with n - 2 degrees of freedom. NAN where undefined (n < 3, x all equal). */
struct fl_trend {
	size_t n;
	double slope, intercept;
	double slope_lo, slope_hi;
	double t, df, p;
};
int fl_stats_trend(const double *x, const double *y, size_t n, struct fl_trend *out);
/* One sentence: "RTO is rising by 1.80 s per week (95 % CI 0.40 to 3.20 s), p = 0.010".
 * `what` names the figure ("RTO"), y is in milliseconds and printed in seconds;
 * alpha decides "rising/falling" versus "no significant trend". */
const char *fl_stats_trend_sentence(const struct fl_trend *tr, const char *what, double alpha,
				    char *buf, size_t n);

/* Welch's two-sample t test of mean(b) - mean(a) with the Welch-Satterthwaite
 * degrees of freedom. NAN fields when either side has fewer than 2 values or
 * both variances are 0. */
struct fl_welch {
	double diff, t, df, p, lo, hi;
};
void fl_stats_welch(const double *a, size_t na, const double *b, size_t nb, struct fl_welch *out);

/* Mann-Whitney U of b against a: u = #(b > a) + 0.5 #(b == a) over all
 * pairs. Exact null distribution when there are no ties and na + nb <= 50,
 * else the normal approximation with tie and continuity corrections.
 * Two-sided p. Returns 0, -1 on allocation failure. */
struct fl_mannwhitney {
	size_t na, nb;
	double u, z, p; /* z NAN when exact */
	int exact;
	double effect; /* rank-biserial correlation 2u/(na nb) - 1, in [-1, 1] */
};
int fl_stats_mannwhitney(const double *a, size_t na, const double *b, size_t nb,
			 struct fl_mannwhitney *out);

/* Release comparison of candidate durations against baseline durations.
 * effect > 0 means the candidate is slower. The Welch test runs on the logs
 * of the positive values; ratio is the candidate/baseline geometric-mean
 * ratio with its 95 % interval. */
struct fl_compare {
	size_t n_base, n_cand;
	double median_base, median_cand;
	struct fl_mannwhitney mw;
	struct fl_welch welch_log;
	double ratio, ratio_lo, ratio_hi;
};
int fl_stats_compare(const double *base, size_t nb, const double *cand, size_t nc,
		     struct fl_compare *out);
/* The two ends of the tests above, for the streamed comparison
 * (stats_stream.c): Welch from each side's mean and sample variance, and
 * the Mann-Whitney p-value of out->u (out->na, nb set) given whether there
 * were ties and their term sum(t^3 - t). 0, -1 out of memory. */
void fl_stats_welch_moments(double ma, double va, size_t na, double mb, double vb, size_t nb,
			    struct fl_welch *out);
int fl_stats_mannwhitney_p(struct fl_mannwhitney *out, int ties, double tie_term);
/* "candidate v2 is slower than baseline v1: median 5.10 s vs 4.20 s, ..." */
const char *fl_stats_compare_sentence(const struct fl_compare *c, const char *base_label,
				      const char *cand_label, double alpha, char *buf, size_t n);

/* Formats a value in ms as seconds with 3 decimals ("4.312 s"), or "n/a". */
const char *fl_stats_fmt_s(double ms, char *buf, size_t n);

/* ---- streaming (stats_stream.c) ------------------------------------------
 * The same summaries from values that arrive one at a time, for a window
 * read from the store without holding it (report.c's load). */

/* A summary of n values arriving in ascending order (a sorted SQL stream),
 * NANs already left out. Holds O(1) values plus the few hundred order
 * statistics the p95 bootstrap draws (their ranks depend only on n, the
 * seed and the resample count, so they are drawn before the first value):
 * min, max, the type-7 quantiles and the bootstrap interval are exactly
 * fl_stats_summarize's; the mean and sd are updated one value at a time
 * (Welford, long double), so they may differ from GSL's two-pass figures
 * in the last bits. With `target` not NAN (set before the first push) it
 * also fits the log-normal of fl_stats_lognormal. */
struct fl_stats_sorted {
	size_t n, seen;
	unsigned long seed;
	size_t resamples;
	long double mean, m2;
	double min, max;
	size_t qlhs[4];
	double qdelta[4], qa[4], qb[4];
	size_t *idx; /* ik, ik1 of each resample */
	size_t band_lo, band_n;
	double *band; /* sorted values at ranks band_lo .. band_lo + band_n - 1 */
	int want_log;
	double target;
	size_t zeros, le, npos;
	long double lmean, lm2;
};
/* 0, -1 on allocation failure (s is then released). */
int fl_stats_sorted_init(struct fl_stats_sorted *s, size_t n, unsigned long seed, size_t resamples,
			 int want_log, double target);
/* The next value (>= every earlier one); values beyond n are ignored. */
void fl_stats_sorted_push(struct fl_stats_sorted *s, double x);
/* The summary of the values pushed (n of them, else the figures of an
 * empty set); 0, -1 on allocation failure. Then release. */
int fl_stats_sorted_finish(struct fl_stats_sorted *s, struct fl_summary *out);
/* The log-normal fit of the values pushed, as fl_stats_lognormal. */
void fl_stats_sorted_lognormal(const struct fl_stats_sorted *s, struct fl_lognormal *out);
void fl_stats_sorted_release(struct fl_stats_sorted *s);

/* A source of ascending values (NANs left out) that can be read more than
 * once: begin (re)starts it at the smallest; next gives 1 and *v, 0 at
 * the end; -1 with errno set on failure. n: how many values it holds. */
struct fl_stats_source {
	void *ctx;
	size_t n;
	int (*begin)(void *ctx);
	int (*next)(void *ctx, double *v);
};
/* fl_stats_compare of two ascending sources without holding them: the
 * ranks, ties and medians from one merged read, the logs' means in the
 * same read and their variances in a second read of each side, in GSL's
 * own order and arithmetic — so every figure equals fl_stats_compare's
 * exactly. 0; -1 (errno: ENOMEM, or a source's error). */
int fl_stats_compare_sorted(const struct fl_stats_source *base, const struct fl_stats_source *cand,
			    struct fl_compare *out);

/* OLS of y on x from pairs arriving in any order (NAN pairs skipped), as
 * fl_stats_trend but with running co-moments instead of GSL's two passes
 * (same figures up to rounding). x_shift is added to every x before the
 * intercept is reported (the slope does not depend on it), so a caller may
 * push x relative to the first pair it sees. */
struct fl_stats_ols {
	size_t n;
	long double mx, my, sxx, sxy, syy;
};
void fl_stats_ols_init(struct fl_stats_ols *o);
void fl_stats_ols_push(struct fl_stats_ols *o, double x, double y);
void fl_stats_ols_finish(const struct fl_stats_ols *o, double x_shift, struct fl_trend *out);

#endif
