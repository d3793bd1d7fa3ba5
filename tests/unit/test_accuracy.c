/*
 * test_accuracy: the measurement-accuracy acceptance test.
 *
 * A ground-truth server (tests/fixtures/groundtruth) takes outages of known,
 * deliberately non-round lengths — refused connections, 503 answers, and
 * hangs (accepted, never answered) — and reports their true start and end on
 * CLOCK_MONOTONIC. A real probe engine samples it every 10 ms; its samples go
 * through fl_timeline with t0 = the true start, and every measured RTO must
 * be within one probe interval + 5 ms of the true outage length. The error
 * distribution is printed per kind (docs/measurement.md records it).
 *
 * Hangs are measured twice: with a 50 ms sample timeout, and with 200 ms,
 * twenty intervals. The second holds only because the engine keeps sampling
 * on schedule while earlier samples still wait: with one sample in flight a
 * 10 ms probe would sample a hang every 200 ms, and a 293 ms hang would not
 * even collect the three failures detection needs.
 *
 * Not a speed test: the only thing asserted is agreement with a ground truth
 * this test controls. Every wait has a deadline.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_statistics_double.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim/probe.h"
#include "sim/timeline.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/clock.h"

#define INTERVAL_MS 10
#define TOLERANCE_NS ((INTERVAL_MS + 5) * FL_NS_PER_MS)
#define STABILITY_NS (200 * FL_NS_PER_MS)
#define NTRIALS 5

/* ---- ground-truth fixture client ---------------------------------------------- */

#include "tests/unit/gt_client.h"
}

/* Orders an outage; fills its true start and end. 0 or -1. */
static int gt_outage(struct gt *g, const char *kind, long ms, int64_t *start, int64_t *end)
{
	char cmd[64], line[128];
	long long s = 0, e = 0;
	int n = snprintf(cmd, sizeof(cmd), "outage %s %ld\n", kind, ms);
	if (write(g->ctl, cmd, (size_t)n) != n)
		return -1;
	if (gt_line(g, line, sizeof(line), fl_now_ns() + 5 * FL_NS_PER_S) < 0 ||
	    sscanf(line, "started %lld", &s) != 1)
		return -1;
	*start = s;
	if (gt_line(g, line, sizeof(line), fl_now_ns() + (ms + 5000) * FL_NS_PER_MS) < 0 ||
	    sscanf(line, "done %lld %lld", &s, &e) != 2)
		return -1;
	*end = e;
	return 0;
}

static void gt_stop(struct gt *g)
{
	int st;
	if (g->ctl >= 0)
		close(g->ctl);
	if (g->pid > 0) {
		kill(g->pid, SIGKILL);
		waitpid(g->pid, &st, 0);
	}
	g->pid = 0;
	g->ctl = -1;
}

/* ---- the test ------------------------------------------------------------------- */

struct trial_kind {
	const char *label;         /* as printed */
	const char *name;          /* the fixture's outage kind */
	long timeout_ms;           /* per sample: below the shortest hang */
	long outages_ms[NTRIALS];  /* none a multiple of the interval */
	long detect_within_ms;     /* t_detect - true start at most this; 0 = unchecked */
};

static const struct trial_kind KINDS[] = {
	{ "refused", "refused", 250, { 437, 1283, 861, 212, 653 }, 0 },
	{ "503", "503", 250, { 523, 1147, 318, 769, 1001 }, 0 },
	{ "hang", "hang", 50, { 455, 1021, 677, 293, 839 }, 0 },
	/* Detection within 150 ms: three samples sent on schedule take about
	 * 30 ms, where one sample in flight at a time needs two timeouts
	 * (400 ms) and more. */
	{ "hang200", "hang", 200, { 455, 1021, 677, 293, 839 }, 150 },
};

/* Waits until the last `want` samples of the probe are all ok. */
static int wait_healthy(struct fl_probe_engine *eng, size_t want, int64_t deadline)
{
	while (fl_now_ns() < deadline) {
		size_t n = fl_probe_engine_count(eng, 0), got = 0;
		struct fl_sample s[64];
		if (n >= want) {
			got = fl_probe_engine_samples(eng, 0, n - want, s, want);
			size_t ok = 0;
			for (size_t i = 0; i < got; i++)
				ok += s[i].ok != 0;
			if (got == want && ok == want)
				return 0;
		}
		fl_probe_engine_wait(eng, deadline, NULL);
	}
	return -1;
}

/* Feeds samples [*fed, ...) into tl until restored or the deadline. */
static void feed_until_restored(struct fl_probe_engine *eng, struct fl_timeline *tl, size_t *fed,
				int64_t deadline)
{
	while (!fl_timeline_restored(tl) && fl_now_ns() < deadline) {
		struct fl_sample s[128];
		size_t n;
		while ((n = fl_probe_engine_samples(eng, 0, *fed, s, FL_ARRAY_LEN(s))) > 0) {
			for (size_t i = 0; i < n; i++)
				fl_timeline_feed(tl, &s[i]);
			*fed += n;
		}
		if (!fl_timeline_restored(tl))
			fl_probe_engine_wait(eng, deadline, NULL);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void run_kind(const struct trial_kind *k)
{
	struct gt g;
	struct fl_probe_spec spec;
	struct fl_error err;
	struct fl_probe_engine *eng = NULL;
	char url[128];
	double errs[NTRIALS];

	assert_int_equal(gt_start(&g), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", g.http_port);
	memset(&spec, 0, sizeof(spec));
	spec.name = (char *)"avail";
	spec.kind = FL_PROBE_HTTP;
	spec.url = url;
	spec.interval_ns = INTERVAL_MS * FL_NS_PER_MS;
	spec.timeout_ns = k->timeout_ms * FL_NS_PER_MS;
	spec.expect_body = (char *)"ok";
	fl_error_init(&err);
	eng = fl_probe_engine_new(&err);
	assert_non_null(eng);
	assert_int_equal(fl_probe_engine_add(eng, &spec, &err), 0);
	assert_int_equal(fl_probe_engine_start(eng, &err), 0);

	for (int t = 0; t < NTRIALS; t++) {
		struct fl_timeline tl;
		int64_t start = 0, end = 0, truth, rto;
		size_t fed;
		long ms = k->outages_ms[t];

		assert_int_equal(wait_healthy(eng, 10, fl_now_ns() + 10 * FL_NS_PER_S), 0);
		/* Samples from here on include the pre-fault bracket. */
		fed = fl_probe_engine_count(eng, 0);
		assert_int_equal(gt_outage(&g, k->name, ms, &start, &end), 0);
		truth = end - start;
		fl_timeline_init(&tl, start, 3, STABILITY_NS);
		feed_until_restored(eng, &tl, &fed, end + 10 * FL_NS_PER_S);
		assert_true(fl_timeline_impacted(&tl));
		assert_true(fl_timeline_detected(&tl));
		assert_true(fl_timeline_restored(&tl));
		rto = fl_timeline_rto(&tl);
		errs[t] = (double)(rto - truth) / 1e6;
		print_message("%-7s outage %5ld ms: true %8.3f ms, measured %8.3f ms ± %.3f ms, "
			      "error %+7.3f ms, detected after %7.3f ms\n", k->label, ms,
			      (double)truth / 1e6, (double)rto / 1e6, (double)tl.restored_unc / 1e6,
			      errs[t], (double)(tl.t_detect - start) / 1e6);
		assert_true(llabs(rto - truth) <= TOLERANCE_NS);
		if (k->detect_within_ms > 0)
			assert_true(tl.t_detect - start <= k->detect_within_ms * FL_NS_PER_MS);
	}
	qsort(errs, NTRIALS, sizeof(errs[0]), cmp_double);
	print_message("%-7s error over %d outages: min %+.3f ms, median %+.3f ms, max %+.3f ms "
		      "(tolerance ±%d ms)\n", k->label, NTRIALS, errs[0],
		      gsl_stats_median_from_sorted_data(errs, 1, NTRIALS), errs[NTRIALS - 1],
		      INTERVAL_MS + 5);
	fl_probe_engine_free(eng);
	gt_stop(&g);
}

static void test_accuracy_refused(void **state)
{
	(void)state;
	run_kind(&KINDS[0]);
}

static void test_accuracy_503(void **state)
{
	(void)state;
	run_kind(&KINDS[1]);
}

static void test_accuracy_hang(void **state)
{
	(void)state;
	run_kind(&KINDS[2]);
}

static void test_accuracy_hang_long_timeout(void **state)
{
	(void)state;
	run_kind(&KINDS[3]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accuracy_refused),
		cmocka_unit_test(test_accuracy_503),
		cmocka_unit_test(test_accuracy_hang),
		cmocka_unit_test(test_accuracy_hang_long_timeout),
	};
	int rc;
	gsl_set_error_handler_off();
	fl_alloc_install_jansson();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
