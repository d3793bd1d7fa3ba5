/*
 * Unit tests for sim/probe.c against a real target: the ground-truth fixture
 * (tests/fixtures/groundtruth) for http and tcp, real programs (`true`,
 * `false`, `sleep`) for command probes. Covers the classification and its
 * one-line details (ok, 503, refused, body mismatch, timeout, exit codes,
 * a command killed at its timeout), the engine's samples and summaries, and
 * that probes sample independently: a hanging http probe does not hold back
 * a 10 ms tcp probe. Overlapping samples: during a hang an http probe keeps
 * its 10 ms schedule (not one sample per timeout) with bounded descriptors,
 * and samples that complete out of sent order are published only as a
 * completed prefix. Every wait has a deadline; no timing is asserted beyond
 * what the schedule guarantees.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <gsl/gsl_errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim/probe.h"
#include "sim/probe_kind.h"
#include "sim/timeline.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/clock.h"

/* ---- ground-truth fixture client ---------------------------------------------- */

#include "tests/unit/gt_client.h"
}

/* Orders an outage and waits until it has begun; its true start goes to
 * *start when non-NULL. 0 or -1. */
static int gt_outage_start(struct gt *g, const char *kind, long ms, int64_t *start)
{
	char cmd[64], line[128];
	long long s = 0;
	int n = snprintf(cmd, sizeof(cmd), "outage %s %ld\n", kind, ms);
	if (write(g->ctl, cmd, (size_t)n) != n)
		return -1;
	if (gt_line(g, line, sizeof(line), fl_now_ns() + 5 * FL_NS_PER_S) < 0 ||
	    sscanf(line, "started %lld", &s) != 1)
		return -1;
	if (start)
		*start = s;
	return 0;
}

static int gt_outage_begin(struct gt *g, const char *kind, long ms)
{
	return gt_outage_start(g, kind, ms, NULL);
}

/* Waits for the current outage to end (at most ms + 5 s); its true end goes
 * to *end when non-NULL. 0 or -1. */
static int gt_outage_finish(struct gt *g, long ms, int64_t *end)
{
	char line[128];
	long long s = 0, e = 0;
	if (gt_line(g, line, sizeof(line), fl_now_ns() + (ms + 5000) * FL_NS_PER_MS) < 0 ||
	    sscanf(line, "done %lld %lld", &s, &e) != 2)
		return -1;
	if (end)
		*end = e;
	return 0;
}

static int gt_outage_end(struct gt *g, long ms)
{
	return gt_outage_finish(g, ms, NULL);
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

/* ---- fixtures ----------------------------------------------------------------- */

static struct gt GT;
static char url_health[128], url_body[128], url_hang[128], url_missing[128];

static int group_setup(void **state)
{
	(void)state;
	if (gt_start(&GT) < 0)
		return -1;
	snprintf(url_health, sizeof(url_health), "http://127.0.0.1:%d/health", GT.http_port);
	snprintf(url_body, sizeof(url_body), "http://127.0.0.1:%d/body", GT.http_port);
	snprintf(url_hang, sizeof(url_hang), "http://127.0.0.1:%d/hang", GT.http_port);
	snprintf(url_missing, sizeof(url_missing), "http://127.0.0.1:%d/missing", GT.http_port);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	gt_stop(&GT);
	return 0;
}

static struct fl_probe_spec http_spec(const char *url, long timeout_ms)
{
	struct fl_probe_spec s;
	memset(&s, 0, sizeof(s));
	s.name = FL_UNCONST(char *, "http");
	s.kind = FL_PROBE_HTTP;
	s.url = FL_UNCONST(char *, url);
	s.interval_ns = 10 * FL_NS_PER_MS;
	s.timeout_ns = timeout_ms * FL_NS_PER_MS;
	return s;
}

static struct fl_probe_spec tcp_spec(int port)
{
	struct fl_probe_spec s;
	memset(&s, 0, sizeof(s));
	s.name = (char *)"tcp";
	s.kind = FL_PROBE_TCP;
	s.host = (char *)"127.0.0.1";
	s.port = port;
	s.interval_ns = 10 * FL_NS_PER_MS;
	s.timeout_ns = 500 * FL_NS_PER_MS;
	return s;
}

static struct fl_probe_spec command_spec(char **argv, long interval_ms, long timeout_ms)
{
	struct fl_probe_spec s;
	memset(&s, 0, sizeof(s));
	s.name = (char *)"cmd";
	s.kind = FL_PROBE_COMMAND;
	s.argv = argv;
	s.interval_ns = interval_ms * FL_NS_PER_MS;
	s.timeout_ns = timeout_ms * FL_NS_PER_MS;
	return s;
}

/* ---- one-shot checks ------------------------------------------------------------ */

static void test_http_ok_and_body(void **state)
{
	struct fl_probe_spec s = http_spec(url_health, 2000);
	char detail[256], want[256];
	(void)state;
	s.expect_body = (char *)"ok";
	assert_int_equal(fl_probe_check_once(&s, 0, NULL, detail, sizeof(detail)), 1);
	snprintf(want, sizeof(want), "HTTP 200 from %s", url_health);
	assert_string_equal(detail, want);
	/* The page answers 200 "hello": status fine, expected text absent. */
	s = http_spec(url_body, 2000);
	s.expect_body = (char *)"ok";
	assert_int_equal(fl_probe_check_once(&s, 0, NULL, detail, sizeof(detail)), 0);
	snprintf(want, sizeof(want), "HTTP 200 from %s without \"ok\" in the body", url_body);
	assert_string_equal(detail, want);
	s.expect_body = (char *)"ell";
	assert_int_equal(fl_probe_check_once(&s, 0, NULL, detail, sizeof(detail)), 1);
	/* Any 2xx by default; an explicit status must match exactly. */
	s = http_spec(url_missing, 2000);
	assert_int_equal(fl_probe_check_once(&s, 0, NULL, detail, sizeof(detail)), 0);
	snprintf(want, sizeof(want), "HTTP 404 from %s", url_missing);
	assert_string_equal(detail, want);
	s.expect_status = 404;
	assert_int_equal(fl_probe_check_once(&s, 0, NULL, NULL, 0), 1);
}

static void test_http_503_and_refused(void **state)
{
	struct fl_probe_spec s = http_spec(url_health, 2000), t = tcp_spec(GT.http_port);
	char detail[256], want[256];
	(void)state;
	assert_int_equal(gt_outage_begin(&GT, "503", 3000), 0);
	assert_int_equal(fl_probe_check_once(&s, 0, NULL, detail, sizeof(detail)), 0);
	snprintf(want, sizeof(want), "HTTP 503 from %s", url_health);
	assert_string_equal(detail, want);
	/* Still 503 until the deadline: check_until gives up with the reason. */
	assert_int_equal(fl_probe_check_until(&s, 100 * FL_NS_PER_MS, NULL, detail, sizeof(detail)),
			 0);
	assert_string_equal(detail, want);
	assert_int_equal(fl_probe_check_once(&t, 0, NULL, detail, sizeof(detail)), 1); /* tcp is fine */
	assert_int_equal(gt_outage_end(&GT, 3000), 0);

	assert_int_equal(gt_outage_begin(&GT, "refused", 600), 0);
	assert_int_equal(fl_probe_check_once(&s, 0, NULL, detail, sizeof(detail)), 0);
	assert_string_equal(detail, "connection refused");
	assert_int_equal(fl_probe_check_once(&t, 0, NULL, detail, sizeof(detail)), 0);
	assert_string_equal(detail, "connection refused");
	/* check_until outlasts the outage and passes once it is over. */
	assert_int_equal(fl_probe_check_until(&s, 10 * FL_NS_PER_S, NULL, detail, sizeof(detail)), 1);
	assert_int_equal(gt_outage_end(&GT, 600), 0);
	snprintf(want, sizeof(want), "connected to 127.0.0.1:%d", GT.http_port);
	assert_int_equal(fl_probe_check_once(&t, 0, NULL, detail, sizeof(detail)), 1);
	assert_string_equal(detail, want);
}

static void test_http_timeout(void **state)
{
	struct fl_probe_spec s = http_spec(url_hang, 200);
	char detail[256];
	int64_t t = fl_now_ns();
	(void)state;
	assert_int_equal(fl_probe_check_once(&s, 0, NULL, detail, sizeof(detail)), 0);
	assert_string_equal(detail, "timed out after 200ms");
	assert_true(fl_now_ns() - t >= 200 * FL_NS_PER_MS);
}

static void test_command_checks(void **state)
{
	char *yes[] = { (char *)"true", NULL };
	char *no[] = { (char *)"false", NULL };
	char *slow[] = { (char *)"sleep", (char *)"30", NULL };
	char *missing[] = { (char *)"/nonexistent/faultline-probe", NULL };
	struct fl_probe_spec s = command_spec(yes, 10, 2000);
	char detail[256];
	int64_t t;
	(void)state;
	assert_int_equal(fl_probe_check_once(&s, 0, NULL, detail, sizeof(detail)), 1);
	assert_string_equal(detail, "exited 0");
	s = command_spec(no, 10, 2000);
	assert_int_equal(fl_probe_check_once(&s, 0, NULL, detail, sizeof(detail)), 0);
	assert_string_equal(detail, "exited 1");
	s.expect_exit = 1;
	assert_int_equal(fl_probe_check_once(&s, 0, NULL, detail, sizeof(detail)), 1);
	/* Killed at its timeout, well before the 30 s it asked for. */
	s = command_spec(slow, 10, 200);
	t = fl_now_ns();
	assert_int_equal(fl_probe_check_once(&s, 0, NULL, detail, sizeof(detail)), 0);
	assert_string_equal(detail, "timed out after 200ms");
	assert_true(fl_now_ns() - t < 20 * FL_NS_PER_S);
	s = command_spec(missing, 10, 200);
	assert_int_equal(fl_probe_check_once(&s, 0, NULL, detail, sizeof(detail)), -1);
	assert_non_null(strstr(detail, "cannot run"));
	assert_int_equal(fl_probe_check_until(&s, FL_NS_PER_S, NULL, detail, sizeof(detail)), 0);
}

/* ---- the engine ------------------------------------------------------------------- */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (!d)
		return -1;
	while (readdir(d) && n < 100000)
		n++;
	closedir(d);
	return n;
}

/* Waits until probe idx has at least n samples. */
static int wait_count(struct fl_probe_engine *eng, int idx, size_t n, int64_t deadline)
{
	while (fl_probe_engine_count(eng, idx) < n) {
		if (fl_now_ns() >= deadline)
			return -1;
		fl_probe_engine_wait(eng, deadline, NULL);
	}
	return 0;
}

/* The engine of the test running: a failed assertion jumps out of the
 * test, and the teardown frees what it left (valgrind, in ci/trust.sh,
 * counts a leak as a memory error even where the test failed on timing). */
static struct fl_probe_engine *live_eng;

static struct fl_probe_engine *engine_new(struct fl_error *err)
{
	live_eng = fl_probe_engine_new(err);
	return live_eng;
}

static void engine_free(struct fl_probe_engine *eng)
{
	fl_probe_engine_free(eng);
	if (eng == live_eng)
		live_eng = NULL;
}

static int engine_teardown(void **state)
{
	(void)state;
	fl_probe_engine_free(live_eng);
	live_eng = NULL;
	return 0;
}

static void test_engine_rejects(void **state)
{
	struct fl_probe_spec w;
	struct fl_error err;
	struct fl_probe_engine *eng;
	(void)state;
	memset(&w, 0, sizeof(w));
	w.name = (char *)"w";
	w.kind = FL_PROBE_WRITER;
	w.interval_ns = w.timeout_ns = FL_NS_PER_S;
	fl_error_init(&err);
	eng = engine_new(&err);
	assert_non_null(eng);
	assert_int_equal(fl_probe_engine_add(eng, &w, &err), -1);
	assert_string_equal(err.msg, "probe w: writers are not sampled here");
	/* Not started: waiting returns at once with nothing. */
	assert_int_equal(fl_probe_engine_wait(eng, fl_now_ns() + 10 * FL_NS_PER_S, NULL), 0);
	assert_int_equal(fl_probe_engine_count(eng, 0), 0);
	engine_free(eng);
	fl_probe_engine_free(NULL);
}

static void test_engine_commands(void **state)
{
	char *yes[] = { (char *)"true", NULL };
	char *no[] = { (char *)"false", NULL };
	char *slow[] = { (char *)"sleep", (char *)"30", NULL };
	struct fl_probe_spec a = command_spec(yes, 20, 2000), b = command_spec(no, 20, 2000);
	struct fl_probe_spec c = command_spec(slow, 20, 100);
	struct fl_probe_summary_lite sum;
	struct fl_sample s[16];
	struct fl_error err;
	struct fl_probe_engine *eng;
	int64_t deadline = fl_now_ns() + 20 * FL_NS_PER_S;
	size_t n;
	(void)state;
	fl_error_init(&err);
	eng = engine_new(&err);
	assert_int_equal(fl_probe_engine_add(eng, &a, &err), 0);
	assert_int_equal(fl_probe_engine_add(eng, &b, &err), 1);
	assert_int_equal(fl_probe_engine_add(eng, &c, &err), 2);
	assert_int_equal(fl_probe_engine_start(eng, &err), 0);
	assert_int_equal(fl_probe_engine_add(eng, &a, &err), -1); /* too late */
	assert_int_equal(wait_count(eng, 2, 3, deadline), 0);
	assert_int_equal(wait_count(eng, 0, 3, deadline), 0);
	assert_int_equal(wait_count(eng, 1, 3, deadline), 0);
	fl_probe_engine_stop(eng);

	n = fl_probe_engine_samples(eng, 0, 0, s, FL_ARRAY_LEN(s));
	for (size_t i = 0; i < n; i++)
		assert_true(s[i].ok);
	n = fl_probe_engine_samples(eng, 1, 0, s, FL_ARRAY_LEN(s));
	for (size_t i = 0; i < n; i++)
		assert_false(s[i].ok);
	/* The sleeper is killed at each timeout: failed, done >= sent + 100ms,
	 * and the next one is sent only after the previous ended. */
	n = fl_probe_engine_samples(eng, 2, 0, s, FL_ARRAY_LEN(s));
	assert_true(n >= 3);
	for (size_t i = 0; i < n; i++) {
		assert_false(s[i].ok);
		assert_true(s[i].done_ns - s[i].sent_ns >= 100 * FL_NS_PER_MS);
		if (i > 0)
			assert_true(s[i].sent_ns >= s[i - 1].done_ns);
	}
	fl_probe_engine_summary(eng, 0, &sum);
	assert_true(sum.samples >= 3);
	assert_int_equal(sum.failures, 0);
	assert_true(sum.latency_p50_ms > 0 && sum.latency_p50_ms <= sum.latency_p99_ms);
	assert_true(sum.latency_p99_ms <= sum.latency_max_ms);
	fl_probe_engine_summary(eng, 1, &sum);
	assert_int_equal(sum.failures, sum.samples);
	assert_true(isnan(sum.latency_p50_ms)); /* no successful sample: no latency */
	/* One command in flight at most: the ticks that came while each 100 ms
	 * sleeper ran (every 20 ms) were skipped and counted. */
	fl_probe_engine_summary(eng, 2, &sum);
	assert_true(sum.skipped >= 3);
	engine_free(eng);
}

/* A slow-hanging http probe and a 10 ms tcp probe in one engine: the tcp
 * probe keeps its schedule while the http samples hang, and nothing of the
 * http probe is visible while its first sample is still in flight. */
static void test_engine_independent(void **state)
{
	struct fl_probe_spec h = http_spec(url_hang, 1000), t = tcp_spec(GT.http_port);
	struct fl_sample s[64];
	struct fl_error err;
	struct fl_probe_engine *eng;
	int64_t before, elapsed;
	size_t n, tcp_count, http_count;
	int fds_before = count_fds();
	(void)state;
	h.interval_ns = 100 * FL_NS_PER_MS;
	fl_error_init(&err);
	eng = engine_new(&err);
	assert_int_equal(fl_probe_engine_add(eng, &h, &err), 0);
	assert_int_equal(fl_probe_engine_add(eng, &t, &err), 1);
	before = fl_now_ns();
	assert_int_equal(fl_probe_engine_start(eng, &err), 0);
	assert_int_equal(wait_count(eng, 1, 30, before + 4 * FL_NS_PER_S), 0);
	http_count = fl_probe_engine_count(eng, 0);
	tcp_count = fl_probe_engine_count(eng, 1);
	elapsed = fl_now_ns() - before; /* after the counts: a bound on when they were read */
	/* The first hanging sample is still in flight (1 s timeout), so none
	 * of the later ones, hanging beside it, may be visible either. */
	if (elapsed < FL_NS_PER_S)
		assert_int_equal(http_count, 0);
	/* Connect-only tcp samples leave no socket behind; the hanging http
	 * samples hold one connection each, at most ceil(1000/100)+1. */
	assert_true(count_fds() <= fds_before + 11 + 8);
	/* Never bunched: no more samples than ticks elapsed. */
	assert_true((int64_t)tcp_count <= elapsed / t.interval_ns + 2);
	n = fl_probe_engine_samples(eng, 1, 0, s, FL_ARRAY_LEN(s));
	for (size_t i = 0; i < n; i++) {
		assert_true(s[i].ok);
		if (i > 0)
			assert_true(s[i].sent_ns > s[i - 1].sent_ns);
	}
	engine_free(eng);
}

/* A probe whose host is this machine finds the process listening on its
 * port without being told (sim/probe_local.c) and measures its CPU waits
 * per sample; one whose host is not (TEST-NET-1) finds none. */
static void test_engine_local_target(void **state)
{
	struct fl_probe_spec h = http_spec(url_health, 1000), t = tcp_spec(9);
	struct fl_probe_summary_lite sum;
	struct fl_error err;
	struct fl_probe_engine *eng;
	(void)state;
	t.host = FL_UNCONST(char *, "192.0.2.1");
	t.timeout_ns = 100 * FL_NS_PER_MS;
	fl_error_init(&err);
	eng = engine_new(&err);
	assert_int_equal(fl_probe_engine_add(eng, &h, &err), 0);
	assert_int_equal(fl_probe_engine_add(eng, &t, &err), 1);
	assert_int_equal(fl_probe_engine_start(eng, &err), 0);
	assert_int_equal(wait_count(eng, 0, 10, fl_now_ns() + 5 * FL_NS_PER_S), 0);
	fl_probe_engine_summary(eng, 0, &sum);
	assert_int_equal(sum.target_pid, (long)GT.pid);
	assert_true(sum.target_measured >= 1);
	assert_true(sum.target_wait_max_ms >= 0);
	/* Its CPUs watched (probe.h, FL_PROBE_WATCH_*). */
	{
		cpu_set_t set;
		assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
		if (CPU_COUNT(&set) <= FL_PROBE_WATCH_MAX_CPUS)
			assert_int_equal(sum.cpus_watched, CPU_COUNT(&set));
	}
	fl_probe_engine_summary(eng, 1, &sum);
	assert_int_equal(sum.target_pid, 0);
	assert_int_equal(sum.target_measured, 0);
	assert_int_equal(sum.cpus_watched, 0);
	engine_free(eng);
}

/* The engine sees a 503 outage as failed samples and the recovery after. */
static void test_engine_http_outage(void **state)
{
	struct fl_probe_spec h = http_spec(url_health, 500);
	struct fl_sample s[512];
	struct fl_error err;
	struct fl_probe_engine *eng;
	size_t n, before, fails = 0, oks_after = 0;
	(void)state;
	h.expect_body = (char *)"ok";
	fl_error_init(&err);
	eng = engine_new(&err);
	assert_int_equal(fl_probe_engine_add(eng, &h, &err), 0);
	assert_int_equal(fl_probe_engine_start(eng, &err), 0);
	assert_int_equal(wait_count(eng, 0, 5, fl_now_ns() + 5 * FL_NS_PER_S), 0);
	before = fl_probe_engine_count(eng, 0);
	assert_int_equal(gt_outage_begin(&GT, "503", 150), 0);
	assert_int_equal(gt_outage_end(&GT, 150), 0);
	assert_int_equal(wait_count(eng, 0, before + 20, fl_now_ns() + 5 * FL_NS_PER_S), 0);
	fl_probe_engine_stop(eng);
	n = fl_probe_engine_samples(eng, 0, before, s, FL_ARRAY_LEN(s));
	for (size_t i = 0; i < n; i++) {
		if (!s[i].ok)
			fails++;
		else if (fails > 0)
			oks_after++;
	}
	assert_true(fails >= 3);
	assert_true(oks_after >= 3);
	engine_free(eng);
}

/* Waits (on the engine, with a deadline) until the monotonic clock reaches t. */
static void wait_until(struct fl_probe_engine *eng, int64_t t)
{
	for (int guard = 0; guard < 100000 && fl_now_ns() < t; guard++)
		fl_probe_engine_wait(eng, t, NULL);
}

/* A 500 ms hang, a 10 ms probe with a 200 ms timeout: the probe keeps its
 * schedule while samples wait, so the hang is sampled every interval (about
 * 50 samples) instead of once per timeout (about 3). Descriptors stay
 * bounded by the per-probe cap while it lasts and all come back after. */
static void test_engine_hang_overlap(void **state)
{
	struct fl_probe_spec h = http_spec(url_health, 200);
	struct fl_probe_summary_lite sum;
	struct fl_sample s[1024];
	struct fl_error err;
	struct fl_probe_engine *eng;
	int64_t start = 0, end = 0;
	size_t n, before, in_hang = 0, failed_early = 0;
	int fds_base = count_fds(), fds_steady, fds_mid, fds_after, fds_settled = -1;
	(void)state;
	h.expect_body = (char *)"ok";
	fl_error_init(&err);
	eng = engine_new(&err);
	assert_int_equal(fl_probe_engine_add(eng, &h, &err), 0);
	assert_int_equal(fl_probe_engine_start(eng, &err), 0);
	assert_int_equal(wait_count(eng, 0, 5, fl_now_ns() + 5 * FL_NS_PER_S), 0);
	before = fl_probe_engine_count(eng, 0);
	fds_steady = count_fds(); /* the multi's wakeup pair and one kept-alive connection */
	assert_int_equal(gt_outage_start(&GT, "hang", 500, &start), 0);
	wait_until(eng, start + 300 * FL_NS_PER_MS);
	fds_mid = count_fds();
	assert_int_equal(gt_outage_finish(&GT, 500, &end), 0);
	/* Until samples sent well after the end are visible. */
	for (int64_t deadline = fl_now_ns() + 5 * FL_NS_PER_S; fl_now_ns() < deadline;) {
		size_t c = fl_probe_engine_count(eng, 0);
		if (c > 0 && fl_probe_engine_samples(eng, 0, c - 1, s, 1) == 1 &&
		    s[0].sent_ns > end + 50 * FL_NS_PER_MS)
			break;
		fl_probe_engine_wait(eng, deadline, NULL);
	}
	/* The connections the overlapping samples left idle age out (curl's
	 * CURLOPT_MAXAGE_CONN, 1 s here), back to the steady state. */
	for (int64_t deadline = fl_now_ns() + 6 * FL_NS_PER_S; fl_now_ns() < deadline;) {
		fds_settled = count_fds();
		if (fds_settled <= fds_steady + 1)
			break;
		fl_probe_engine_wait(eng, deadline, NULL);
	}
	fl_probe_engine_stop(eng);
	fl_probe_engine_summary(eng, 0, &sum);
	n = fl_probe_engine_samples(eng, 0, before, s, FL_ARRAY_LEN(s));
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++) {
		assert_true(s[i].done_ns >= s[i].sent_ns);
		if (i > 0)
			assert_true(s[i].sent_ns > s[i - 1].sent_ns);
		if (s[i].sent_ns < start || s[i].sent_ns > end)
			continue;
		in_hang++;
		/* Sent in the hang with no answer for its whole timeout: failed. */
		if (s[i].sent_ns + 200 * FL_NS_PER_MS + 10 * FL_NS_PER_MS < end) {
			assert_false(s[i].ok);
			failed_early++;
		}
	}
	print_message("hang 500 ms, 10 ms probe, 200 ms timeout: %zu samples sent in the hang, "
		      "%zu failed, %ld ticks skipped; descriptors %d without the engine, %d "
		      "sampling, %d in the hang, %d settled\n",
		      in_hang, failed_early, sum.skipped, fds_base, fds_steady, fds_mid, fds_settled);
	assert_true(in_hang >= 30);
	assert_true(failed_early >= 20);
	/* One connection per sample in flight, ceil(200/10)+1 at most. */
	assert_true(fds_mid <= fds_steady + 21 + 4);
	assert_true(fds_settled >= 0 && fds_settled <= fds_steady + 1);
	engine_free(eng);
	fds_after = count_fds();
	assert_true(fds_after <= fds_base);
}

/* The fixture holds the first request of a "hold" outage until it ends and
 * answers the others at once, so later samples complete before an earlier
 * one. None of them may be visible before it: readers see only the
 * completed prefix, in sent order. */
static void test_engine_completed_prefix(void **state)
{
	struct fl_probe_spec h = http_spec(url_health, 1000);
	struct fl_sample s[1024];
	struct fl_error err;
	struct fl_probe_engine *eng;
	int64_t start = 0, end = 0, last_look = 0;
	size_t n, before, mid = 0, held = (size_t)-1, overtaken = 0;
	(void)state;
	h.expect_body = (char *)"ok";
	fl_error_init(&err);
	eng = engine_new(&err);
	assert_int_equal(fl_probe_engine_add(eng, &h, &err), 0);
	assert_int_equal(fl_probe_engine_start(eng, &err), 0);
	assert_int_equal(wait_count(eng, 0, 5, fl_now_ns() + 5 * FL_NS_PER_S), 0);
	before = fl_probe_engine_count(eng, 0);
	assert_int_equal(gt_outage_start(&GT, "hold", 300, &start), 0);
	/* Look at what is visible throughout the hold; a look counts only if
	 * it ended before the hold did (a stalled test thread may overshoot). */
	for (int guard = 0; guard < 100000 && fl_now_ns() < start + 280 * FL_NS_PER_MS; guard++) {
		size_t c = fl_probe_engine_count(eng, 0);
		int64_t t = fl_now_ns();
		if (t < start + 280 * FL_NS_PER_MS) {
			mid = c > mid ? c : mid;
			last_look = t;
		}
		fl_probe_engine_wait(eng, start + 280 * FL_NS_PER_MS, NULL);
	}
	assert_int_equal(gt_outage_finish(&GT, 300, &end), 0);
	assert_true(last_look > start); /* looked at least once during the hold */
	assert_int_equal(wait_count(eng, 0, before + 60, fl_now_ns() + 5 * FL_NS_PER_S), 0);
	fl_probe_engine_stop(eng);
	n = fl_probe_engine_samples(eng, 0, 0, s, FL_ARRAY_LEN(s));
	assert_true(n > before);
	for (size_t i = before; i < n && held == (size_t)-1; i++)
		if (s[i].done_ns - s[i].sent_ns >= 200 * FL_NS_PER_MS)
			held = i;
	assert_true(held != (size_t)-1);
	assert_true(s[held].ok); /* answered when the hold ended */
	assert_true(s[held].done_ns >= end);
	for (size_t i = held + 1; i < n; i++)
		if (s[i].done_ns < s[held].done_ns)
			overtaken++;
	print_message("hold 300 ms: sample %zu held %.1f ms, %zu later samples completed "
		      "before it, at most %zu visible during the hold\n",
		      held - before, (double)(s[held].done_ns - s[held].sent_ns) / 1e6, overtaken,
		      mid - before);
	/* Later samples really did complete first... */
	assert_true(overtaken >= 10);
	/* ...and none of them was visible while the held one waited. */
	assert_true(mid <= held);
	for (size_t i = 1; i < n; i++)
		assert_true(s[i].sent_ns > s[i - 1].sent_ns);
	engine_free(eng);
}

/* A 60 ms hang under a 500 ms timeout: every answer arrives, late. Without
 * max_latency nothing fails (a slow answer is an answer); with max_latency
 * 25 ms the samples caught in the hang fail, placed at their send times. */
static size_t hang_failures(int64_t max_latency_ns)
{
	struct fl_probe_spec h = http_spec(url_health, 500);
	struct fl_sample s[512];
	struct fl_error err;
	struct fl_probe_engine *eng;
	size_t n, before, fails = 0;
	h.max_latency_ns = max_latency_ns;
	fl_error_init(&err);
	eng = engine_new(&err);
	assert_int_equal(fl_probe_engine_add(eng, &h, &err), 0);
	assert_int_equal(fl_probe_engine_start(eng, &err), 0);
	assert_int_equal(wait_count(eng, 0, 5, fl_now_ns() + 5 * FL_NS_PER_S), 0);
	before = fl_probe_engine_count(eng, 0);
	assert_int_equal(gt_outage_begin(&GT, "hang", 60), 0);
	assert_int_equal(gt_outage_end(&GT, 60), 0);
	assert_int_equal(wait_count(eng, 0, before + 20, fl_now_ns() + 5 * FL_NS_PER_S), 0);
	fl_probe_engine_stop(eng);
	n = fl_probe_engine_samples(eng, 0, before, s, FL_ARRAY_LEN(s));
	for (size_t i = 0; i < n; i++)
		fails += !s[i].ok;
	engine_free(eng);
	return fails;
}

static void test_engine_max_latency(void **state)
{
	(void)state;
	assert_int_equal(hang_failures(0), 0);
	assert_true(hang_failures(25 * FL_NS_PER_MS) >= 2);
}

/* A sample that timed out while the prober itself was stalled (the loop
 * late by more than the timeout's worth of the wait): the target was not
 * watched for the whole timeout, so it fails only beside a sample that
 * failed. The judgement is driven directly on an engine that is not
 * started (the loop's lateness set by hand, the samples reserved and
 * completed as the loop would). */
static void test_engine_stalled_timeout(void **state)
{
	struct fl_probe_spec h = http_spec("http://127.0.0.1:9/", 50);
	struct fl_error err;
	struct fl_probe_engine *eng;
	struct probe *p;
	size_t a, b, c, d, e, f;
	int64_t ms = FL_NS_PER_MS;
	(void)state;
	fl_error_init(&err);
	eng = engine_new(&err);
	assert_int_equal(fl_probe_engine_add(eng, &h, &err), 0);
	p = eng->probes[0];
	/* A sent at 1000 ms; the loop stalled from 1001 to 1052 ms and libcurl
	 * timed A out at 1052: waited 52 ms, 51 of them the prober's. */
	assert_int_equal(fl_probe_sample_reserve(eng, p, 1000 * ms, &a), 0);
	eng->stall_from = 1001 * ms;
	eng->stall_to = 1052 * ms;
	fl_probe_sample_done_after(eng, p, a, 1052 * ms, 0, 0);
	assert_int_equal(fl_probe_engine_count(eng, 0), 0); /* not judged yet */
	/* B, sent after the stall, answered: A is ok, the machine's. */
	eng->stall_from = eng->stall_to = 0;
	assert_int_equal(fl_probe_sample_reserve(eng, p, 1052 * ms, &b), 0);
	fl_probe_sample_done_after(eng, p, b, 1053 * ms, 1, 0);
	assert_int_equal(fl_probe_engine_count(eng, 0), 2);
	assert_int_equal(p->samples[a].ok, 1);
	assert_int_equal(p->samples[b].ok, 1);
	/* C timed out with the loop on time (a hang): failed. D timed out
	 * in a stall right after it: failed beside it. */
	assert_int_equal(fl_probe_sample_reserve(eng, p, 1100 * ms, &c), 0);
	assert_int_equal(fl_probe_sample_reserve(eng, p, 1101 * ms, &d), 0);
	fl_probe_sample_done_after(eng, p, c, 1150 * ms, 0, 0);
	eng->stall_from = 1102 * ms;
	eng->stall_to = 1160 * ms;
	fl_probe_sample_done_after(eng, p, d, 1160 * ms, 0, 0);
	assert_int_equal(p->samples[c].ok, 0);
	assert_int_equal(p->samples[d].ok, 0);
	assert_int_equal(fl_probe_engine_count(eng, 0), 4);
	/* E timed out and the loop noticed it 8 ms late (a hang on a loaded
	 * machine): 45 ms of the 50 ms timeout were watched. F answered. E
	 * fails alone: the lateness came after the answer was due. */
	assert_int_equal(fl_probe_sample_reserve(eng, p, 1200 * ms, &e), 0);
	eng->stall_from = 1245 * ms;
	eng->stall_to = 1253 * ms;
	fl_probe_sample_done_after(eng, p, e, 1253 * ms, 0, 0);
	eng->stall_from = eng->stall_to = 0;
	assert_int_equal(fl_probe_sample_reserve(eng, p, 1253 * ms, &f), 0);
	fl_probe_sample_done_after(eng, p, f, 1254 * ms, 1, 0);
	assert_int_equal(p->samples[e].ok, 0);
	assert_int_equal(fl_probe_engine_count(eng, 0), 6);
	engine_free(eng);
}

/* One slow answer between fast ones is not an outage: the fixture holds one
 * request (a lone slow sample) for twice the threshold, which the engine
 * lets pass, and then for four times it, past FL_PROBE_LATENCY_MARGIN,
 * which fails on its own. Returns the failed samples around one hold. */
static size_t lone_slow_failures(long hold_ms)
{
	struct fl_probe_spec h = http_spec(url_health, 1000);
	struct fl_sample s[1024];
	struct fl_error err;
	struct fl_probe_engine *eng;
	size_t n, before, fails = 0, slow = 0;
	h.max_latency_ns = 100 * FL_NS_PER_MS;
	h.expect_body = FL_UNCONST(char *, "ok");
	fl_error_init(&err);
	eng = engine_new(&err);
	assert_int_equal(fl_probe_engine_add(eng, &h, &err), 0);
	assert_int_equal(fl_probe_engine_start(eng, &err), 0);
	assert_int_equal(wait_count(eng, 0, 5, fl_now_ns() + 5 * FL_NS_PER_S), 0);
	before = fl_probe_engine_count(eng, 0);
	assert_int_equal(gt_outage_begin(&GT, "hold", hold_ms), 0);
	assert_int_equal(gt_outage_end(&GT, hold_ms), 0);
	assert_int_equal(wait_count(eng, 0, before + (size_t)hold_ms / 10 + 20,
				    fl_now_ns() + 5 * FL_NS_PER_S),
			 0);
	fl_probe_engine_stop(eng);
	n = fl_probe_engine_samples(eng, 0, before, s, FL_ARRAY_LEN(s));
	for (size_t i = 0; i < n; i++) {
		fails += !s[i].ok;
		slow += s[i].done_ns - s[i].sent_ns > h.max_latency_ns;
	}
	print_message("hold %ld ms under max_latency 100 ms: %zu samples, %zu slower, %zu failed\n",
		      hold_ms, n, slow, fails);
	assert_true(slow >= 1); /* the held one */
	engine_free(eng);
	return fails;
}

static void test_engine_lone_slow(void **state)
{
	(void)state;
	assert_int_equal(lone_slow_failures(200), 0);
	assert_int_equal(lone_slow_failures(400), 1);
}

/* The default threshold's floor follows the steady state (probe.h): a calm
 * one (enough answers, none far above the median, no send late, the prober
 * hardly ever waiting for a CPU) gets FL_PROBE_LATENCY_CALM_FLOOR_NS, and
 * the loaded threshold only while the machine is busy; one stall of the
 * target or of the prober, or too few answers for calm, keeps the loaded
 * floor throughout (busy == the threshold). */
static int64_t derive(const double *own, size_t n, int64_t late, int64_t waited, int64_t interval,
		      int64_t timeout, int64_t *busy)
{
	struct fl_probe_steady st = { own, n, late, waited, FL_NS_PER_S, interval, timeout, 0 };
	return fl_probe_latency_derive(&st, busy);
}

static void test_latency_derive(void **state)
{
	const int64_t ms = FL_NS_PER_MS, loaded = FL_PROBE_LATENCY_FLOOR_NS;
	double own[1000];
	int64_t busy = -1;
	(void)state;
	for (size_t i = 0; i < FL_ARRAY_LEN(own); i++)
		own[i] = 100e3 + (double)i * 100.0; /* 0.1 to 0.2 ms, sorted */
	/* Calm, 1 ms probe: 4 x p99 (0.8 ms) lifted to the calm floor. */
	assert_int_equal(derive(own, 1000, ms / 5, ms, ms, 50 * ms, &busy),
			 FL_PROBE_LATENCY_CALM_FLOOR_NS);
	assert_int_equal(busy, loaded);
	/* Calm, 10 ms probe: no floor of two intervals any more. */
	assert_int_equal(derive(own, 1000, 0, 0, 10 * ms, 250 * ms, &busy),
			 FL_PROBE_LATENCY_CALM_FLOOR_NS);
	assert_int_equal(busy, loaded);
	/* The prober 3 ms late once: loaded, 25 ms. */
	assert_int_equal(derive(own, 1000, 3 * ms, 0, ms, 50 * ms, &busy), loaded);
	assert_int_equal(busy, loaded);
	/* The prober waited for a CPU 1 % of the time, or nobody knows. */
	assert_int_equal(derive(own, 1000, 0, 10 * ms, ms, 50 * ms, &busy), loaded);
	assert_int_equal(derive(own, 1000, 0, -1, ms, 50 * ms, &busy), loaded);
	/* Too few answers to call it calm; and two intervals of a slow probe. */
	assert_int_equal(derive(own, 50, 0, 0, ms, 50 * ms, &busy), loaded);
	assert_int_equal(derive(own, 50, 0, 0, 100 * ms, FL_NS_PER_S, &busy), 200 * ms);
	assert_int_equal(busy, 200 * ms);
	/* One answer 5 ms: the target stalled; 2 x max = 10 ms, still under
	 * the loaded floor. */
	own[999] = 5e6;
	assert_int_equal(derive(own, 1000, 0, 0, ms, 50 * ms, &busy), loaded);
	/* A calm but slow target (a 3 ms answer time, tight): 4 x p99. */
	for (size_t i = 0; i < FL_ARRAY_LEN(own); i++)
		own[i] = 3e6 + (double)i * 1000.0;
	assert_true(derive(own, 1000, 0, 0, 10 * ms, 250 * ms, &busy) > 15 * ms);
	assert_int_equal(busy, loaded);
	/* At or past the timeout, or too few answers: none. */
	assert_int_equal(derive(own, 1000, 0, 0, 10 * ms, 10 * ms, &busy), 0);
	assert_int_equal(busy, 0);
	assert_int_equal(derive(own, 5, 0, 0, 10 * ms, FL_NS_PER_S, &busy), 0);
}

/* A local target's waits measured (probe.h): the threshold is 4 x the p99
 * of what is left of each answer, at least the local floor, whatever the
 * prober's lateness or waits; the loaded one is kept for a crowded
 * machine. */
static void test_latency_derive_local(void **state)
{
	const int64_t ms = FL_NS_PER_MS, loaded = FL_PROBE_LATENCY_FLOOR_NS;
	double own[1000];
	int64_t busy = -1;
	struct fl_probe_steady st = { own, 1000, 3 * ms, 40 * ms, FL_NS_PER_S, ms, 50 * ms, 1 };
	(void)state;
	for (size_t i = 0; i < FL_ARRAY_LEN(own); i++)
		own[i] = 100e3 + (double)i * 100.0; /* 0.1 to 0.2 ms */
	/* Late and waiting (loaded for a remote target): the local floor. */
	assert_int_equal(fl_probe_latency_derive(&st, &busy), FL_PROBE_LATENCY_LOCAL_FLOOR_NS);
	assert_int_equal(busy, loaded);
	st.local = 0;
	assert_int_equal(fl_probe_latency_derive(&st, &busy), loaded);
	/* A slower target: 4 x p99 (0.5 to 0.6 ms: 2.4 ms). */
	for (size_t i = 0; i < FL_ARRAY_LEN(own); i++)
		own[i] = 500e3 + (double)i * 100.0;
	st.local = 1;
	assert_true(fl_probe_latency_derive(&st, &busy) > 2 * ms);
	assert_true(fl_probe_latency_derive(&st, &busy) < 3 * ms);
	/* Not below the timeout: none. */
	st.timeout_ns = 2 * ms;
	assert_int_equal(fl_probe_latency_derive(&st, &busy), 0);
}

/* A single check that hangs ends at the caller's deadline or stop flag, not
 * at its own (long) timeout: Ctrl-C and the drill timeout reach it. */
static void test_check_once_bounded(void **state)
{
	struct fl_probe_spec s = http_spec(url_hang, 30000);
	char *sleep_argv[] = { FL_UNCONST(char *, "sleep"), FL_UNCONST(char *, "30"), NULL };
	struct fl_probe_spec c = command_spec(sleep_argv, 100, 30000);
	atomic_int stop = 1;
	char detail[256];
	int64_t t;
	(void)state;
	t = fl_now_ns();
	assert_int_equal(fl_probe_check_once(&s, t + 200 * FL_NS_PER_MS, NULL, detail, sizeof(detail)),
			 0);
	assert_true(fl_now_ns() - t < 5 * FL_NS_PER_S);
	assert_true(fl_now_ns() - t >= 200 * FL_NS_PER_MS);
	t = fl_now_ns();
	assert_int_equal(fl_probe_check_once(&s, 0, &stop, detail, sizeof(detail)), 0);
	assert_string_equal(detail, "interrupted");
	assert_true(fl_now_ns() - t < 5 * FL_NS_PER_S);
	t = fl_now_ns();
	assert_int_equal(fl_probe_check_once(&c, t + 200 * FL_NS_PER_MS, NULL, detail, sizeof(detail)),
			 0);
	assert_true(fl_now_ns() - t < 5 * FL_NS_PER_S);
	t = fl_now_ns();
	assert_int_equal(fl_probe_check_once(&c, 0, &stop, detail, sizeof(detail)), 0);
	assert_string_equal(detail, "interrupted");
	assert_true(fl_now_ns() - t < 5 * FL_NS_PER_S);
	/* check_until hands its deadline to the attempt in progress. */
	t = fl_now_ns();
	assert_int_equal(fl_probe_check_until(&c, 300 * FL_NS_PER_MS, NULL, detail, sizeof(detail)),
			 0);
	assert_true(fl_now_ns() - t < 5 * FL_NS_PER_S);
}

/* The crowded judgement's window (fl_probe_crowd_turn): a share of a
 * window's turns is load, one crowded turn is not; the first window opens
 * with the first turn, and a window of too few turns is not judged. */
static void test_crowd_window(void **state)
{
	const int64_t ms = FL_NS_PER_MS, t0 = 5 * FL_NS_PER_S;
	struct probe_crowd c = { 0 };
	int judged = 0;
	(void)state;
	/* 1 ms turns, the first crowded (the drill's threads starting), the
	 * rest quiet: no window is crowded. Before the fix the first turn
	 * closed a window of one turn, crowded. */
	for (int k = 0; k < 1000; k++)
		judged += fl_probe_crowd_turn(&c, t0 + k * ms, k == 0);
	assert_int_equal(judged, 0);
	/* A quarter of the turns crowded (FL_PROBE_CROWDED_PERMILLE): the
	 * window that closes is judged crowded, and only at its end. */
	memset(&c, 0, sizeof(c));
	for (int k = 0; k < 300; k++) {
		int r = fl_probe_crowd_turn(&c, t0 + k * ms, k % 4 == 0);
		if (r)
			assert_true(k * ms >= FL_PROBE_CROWD_WINDOW_NS);
		judged += r;
	}
	assert_int_equal(judged, 1);
	/* Just under the share: not crowded. */
	memset(&c, 0, sizeof(c));
	judged = 0;
	for (int k = 0; k < 1000; k++)
		judged += fl_probe_crowd_turn(&c, t0 + k * ms, k % 5 == 0);
	assert_int_equal(judged, 0);
	/* A 1 s probe: every turn crowded, but a window needs
	 * FL_PROBE_CROWD_MIN_TURNS turns before it is judged. */
	memset(&c, 0, sizeof(c));
	judged = 0;
	for (int k = 0; k < FL_PROBE_CROWD_MIN_TURNS - 1; k++)
		judged += fl_probe_crowd_turn(&c, t0 + k * FL_NS_PER_S, 1);
	assert_int_equal(judged, 0);
	assert_int_equal(fl_probe_crowd_turn(&c, t0 + FL_PROBE_CROWD_MIN_TURNS * FL_NS_PER_S, 1), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_ok_and_body),
		cmocka_unit_test(test_http_503_and_refused),
		cmocka_unit_test(test_http_timeout),
		cmocka_unit_test(test_command_checks),
		cmocka_unit_test_teardown(test_engine_rejects, engine_teardown),
		cmocka_unit_test_teardown(test_engine_commands, engine_teardown),
		cmocka_unit_test_teardown(test_engine_independent, engine_teardown),
		cmocka_unit_test_teardown(test_engine_local_target, engine_teardown),
		cmocka_unit_test_teardown(test_engine_http_outage, engine_teardown),
		cmocka_unit_test_teardown(test_engine_hang_overlap, engine_teardown),
		cmocka_unit_test_teardown(test_engine_completed_prefix, engine_teardown),
		cmocka_unit_test_teardown(test_engine_max_latency, engine_teardown),
		cmocka_unit_test_teardown(test_engine_lone_slow, engine_teardown),
		cmocka_unit_test_teardown(test_engine_stalled_timeout, engine_teardown),
		cmocka_unit_test(test_latency_derive),
		cmocka_unit_test(test_latency_derive_local),
		cmocka_unit_test(test_check_once_bounded),
		cmocka_unit_test(test_crowd_window),
	};
	int rc;
	gsl_set_error_handler_off();
	fl_alloc_install_jansson();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	curl_global_cleanup();
	return rc;
}
