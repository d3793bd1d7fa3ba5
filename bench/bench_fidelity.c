/*
 * bench_fidelity: how close a measured outage is to the true one, for
 * faultline's prober and for the tools users would pick instead.
 *
 * The ground-truth fixture (tests/fixtures/groundtruth.c) is taken down for
 * known durations (50 ms to 10 s, each jittered by +-10 % so none is a
 * multiple of a probe interval; refused, 503 and hang outages) and reports
 * on CLOCK_MONOTONIC when each outage truly began and ended. Every prober
 * watches its own fixture instance (its own port: connection-per-probe peers
 * leave TIME_WAIT sockets behind), and the controller takes all instances of
 * a pass down at the same moment for the same length:
 *   pass 1  faultline's probe engine at 1 ms, 10 ms and 100 ms (one engine,
 *           three probes, the scenario's default per-sample timeouts, and
 *           the latency threshold each derives from the 1.5 s warm-up, as a
 *           drill does from its steady state);
 *           blackbox_exporter scraped at 10 Hz; a bash curl loop every 1 s
 *   pass 2  blackbox_exporter scraped back to back (alone: it is busy)
 *   pass 3  short hangs, faultline alone: 2, 5 and 20 of its interval
 *           (+0-20 %), at 1 ms and 10 ms probes, one engine and one
 *           instance each, the threshold derived from the warm-up: the
 *           hangs shorter than its timeout that a drill would report as
 *           "no impact" if slow were not down (issue 14's goal: none of
 *           two intervals or longer missed)
 * Each tool's measured RTO is what it would report knowing the injection
 * instant t0 (the true start): faultline's is t_restored - t0 from
 * timeline.c (a success placed at its answer, a failure at its send); a
 * peer's is the timestamp of its first good sample after the first failed
 * one, as its logs would show it. An outage the tool never saw fail is a
 * miss (measured 0). Error = measured - true duration, in ms, the true
 * duration running to the end of the outage's backlog: a hang's held
 * requests answered after it (the fixture's SERVED), part of the outage as
 * a user lives it (docs/measurement.md; hang_backlog_ms in the details).
 * "Two intervals or longer" (the goal: none missed) is the outage proper.
 *
 * Usage: bench_fidelity --groundtruth BIN --curl-loop SCRIPT [--blackbox BIN]
 *                       --dir WORKDIR [--out FILE] [--quick] [--trace]
 * Prints a table to stderr and JSON rows for ci/bench.sh to FILE (or stdout).
 */
#include <errno.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "bench/bench_util.h"
#include "sim/probe.h"
#include "sim/timeline.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/clock.h"
#include "core/spawn.h"

#define GT_LIFETIME_S "1500"
#define STABILITY_NS (500 * FL_NS_PER_MS)
#define WARMUP_NS (1500 * FL_NS_PER_MS)
#define BB_TIMEOUT_NS (100 * FL_NS_PER_MS) /* a 10 Hz scrape's timeout is <= its interval */
#define NKINDS 3

static const char *const kinds[NKINDS] = { "refused", "503", "hang" };
#define KIND_HANG 2

/* faultline's probe intervals, one probe each in pass 1. */
#define NINTERVALS 3
static const int64_t fl_intervals_ms[NINTERVALS] = { 1, 10, 100 };

/* Pass 3: short hangs of these multiples of the interval, at the first
 * NSHORT_IV of faultline's intervals, SHORT_REPS of each (1 with --quick). */
#define NSHORT_IV 2
static const long short_mult[] = { 2, 5, 20 };
#define SHORT_REPS 10
/* Between two: more than the 1 s before t0 a measurement reads, so no
 * hang's samples reach into the next one's window. */
#define SHORT_GAP_NS (1100 * FL_NS_PER_MS)

/* --trace: one line per outage and tool on stderr. */
static int trace;

/* ---- ground-truth instances ------------------------------------------------ */

struct gt {
	pid_t pid;
	long http_port, ctl_port;
	int ctl;
	char rbuf[1024];
	size_t rlen;
	char url[128];
};

static int gt_start(struct gt *g, const char *bin, const char *dir, int n, struct fl_error *err)
{
	char portfile[4096];
	const char *argv[] = { bin, portfile, GT_LIFETIME_S, NULL };

	memset(g, 0, sizeof(*g));
	g->ctl = -1;
	snprintf(portfile, sizeof(portfile), "%s/gt%d.port", dir, n);
	unlink(portfile);
	g->pid = fl_spawn_argv(argv, -1, NULL, err);
	if (g->pid < 0)
		return -1;
	if (bench_read_portfile(portfile, 5 * FL_NS_PER_S, &g->http_port, &g->ctl_port, err) < 0)
		return -1;
	g->ctl = bench_connect_loopback(g->ctl_port);
	if (g->ctl < 0)
		return fl_error_set(err, FL_EXIT_ENV,
				    "groundtruth %d: cannot connect to control port %ld", n,
				    g->ctl_port);
	snprintf(g->url, sizeof(g->url), "http://127.0.0.1:%ld/health", g->http_port);
	return 0;
}

static void gt_stop(struct gt *g)
{
	if (g->ctl >= 0) {
		if (send(g->ctl, "quit\n", 5, MSG_NOSIGNAL) < 0)
			perror("bench_fidelity: groundtruth quit");
		close(g->ctl);
	}
	g->ctl = -1;
	bench_child_stop(g->pid, 2 * FL_NS_PER_S);
	g->pid = 0;
}

/* Reads one control line before the deadline. 0, or -1 on timeout/EOF. */
static int gt_read_line(struct gt *g, int64_t deadline, char *line, size_t n)
{
	for (int guard = 0; guard < 100000; guard++) {
		char *nl = memchr(g->rbuf, '\n', g->rlen);
		struct pollfd pfd = { g->ctl, POLLIN, 0 };
		int64_t left = deadline - fl_now_ns();
		ssize_t k;
		if (nl) {
			size_t used = (size_t)(nl - g->rbuf) + 1,
			       len = used - 1 < n - 1 ? used - 1 : n - 1;
			memcpy(line, g->rbuf, len);
			line[len] = '\0';
			memmove(g->rbuf, g->rbuf + used, g->rlen - used);
			g->rlen -= used;
			return 0;
		}
		if (left <= 0 || g->rlen == sizeof(g->rbuf))
			return -1;
		if (poll(&pfd, 1, (int)(left / FL_NS_PER_MS) + 1) <= 0)
			continue;
		k = read(g->ctl, g->rbuf + g->rlen, sizeof(g->rbuf) - g->rlen);
		if (k <= 0)
			return -1;
		g->rlen += (size_t)k;
	}
	return -1;
}

/* ---- the outage schedule ------------------------------------------------------ */

struct outage {
	int kind;                 /* index into kinds */
	long ms;                  /* jittered length asked for */
	int64_t start[3], end[3]; /* per instance of the pass: true edges */
	/* When the instance had answered every request a hang held (end for
	 * the other kinds): the backlog after a hang is part of the outage
	 * (docs/measurement.md), so this is the true end a tool is held to. */
	int64_t served[3];
};

/* Lengths (ms) and how many of each per kind; the long ones are few. */
static const long full_lengths[][2] = { { 50, 5 },  { 100, 5 },  { 200, 3 },
					{ 700, 3 }, { 2000, 2 }, { 10000, 1 } };
static const long quick_lengths[][2] = { { 50, 1 }, { 100, 1 }, { 700, 1 } };

static struct outage *schedule_make(int quick, size_t *n)
{
	const long(*len)[2] = quick ? quick_lengths : full_lengths;
	size_t nlen = quick ? FL_ARRAY_LEN(quick_lengths) : FL_ARRAY_LEN(full_lengths), k = 0,
	       total = 0;
	struct outage *o;
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);

	if (!rng)
		return NULL;
	gsl_rng_set(rng, 1);
	for (size_t i = 0; i < nlen; i++)
		total += (size_t)len[i][1] * NKINDS;
	o = fl_calloc(total, sizeof(*o));
	for (size_t i = 0; o && i < nlen; i++)
		for (long r = 0; r < len[i][1]; r++)
			for (int kd = 0; kd < NKINDS; kd++) {
				double j = 0.9 + 0.2 * gsl_rng_uniform(rng); /* +-10 % */
				o[k].kind = kd;
				o[k].ms = lround((double)len[i][0] * j);
				k++;
			}
	gsl_rng_free(rng);
	*n = total;
	return o;
}

/* Pass 3's schedule at interval iv_ms: short_mult x reps hangs, each
 * m x iv_ms stretched by 0-20 % (never below m intervals), interleaved. */
static struct outage *short_schedule_make(long iv_ms, int reps, size_t *n)
{
	size_t nm = FL_ARRAY_LEN(short_mult), k = 0;
	struct outage *o = fl_calloc(nm * (size_t)reps, sizeof(*o));
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	if (!o || !rng) {
		fl_free(o);
		if (rng)
			gsl_rng_free(rng);
		return NULL;
	}
	gsl_rng_set(rng, (unsigned long)(2 + iv_ms));
	for (int r = 0; r < reps; r++)
		for (size_t m = 0; m < nm; m++) {
			double len =
				(double)(short_mult[m] * iv_ms) * (1 + 0.2 * gsl_rng_uniform(rng));
			o[k].kind = KIND_HANG;
			o[k].ms = (long)ceil(len);
			k++;
		}
	gsl_rng_free(rng);
	*n = k;
	return o;
}

/* Takes instances g[0..ng) down for o->ms each, at once; records the true
 * edges each reports. 0 or -1 with err set. */
static int outage_run(struct gt *g, int ng, struct outage *o, struct fl_error *err)
{
	char cmd[64], line[256];
	int64_t deadline;
	int len = snprintf(cmd, sizeof(cmd), "outage %s %ld\n", kinds[o->kind], o->ms);

	for (int i = 0; i < ng; i++)
		if (send(g[i].ctl, cmd, (size_t)len, MSG_NOSIGNAL) != len)
			return fl_error_set(err, FL_EXIT_ENV, "groundtruth: control send: %s",
					    strerror(errno));
	deadline = fl_now_ns() + o->ms * FL_NS_PER_MS + 5 * FL_NS_PER_S;
	for (int i = 0; i < ng; i++) {
		long long s = 0, e = 0, sv = 0;
		int got;
		if (gt_read_line(&g[i], deadline, line, sizeof(line)) < 0 ||
		    sscanf(line, "started %lld", &s) != 1)
			return fl_error_set(err, FL_EXIT_ENV,
					    "groundtruth: no 'started' for outage %s %ld",
					    kinds[o->kind], o->ms);
		if (gt_read_line(&g[i], deadline, line, sizeof(line)) < 0 ||
		    (got = sscanf(line, "done %lld %lld %lld", &s, &e, &sv)) < 2)
			return fl_error_set(err, FL_EXIT_ENV,
					    "groundtruth: no 'done' for outage %s %ld",
					    kinds[o->kind], o->ms);
		o->start[i] = s;
		o->end[i] = e;
		o->served[i] = got == 3 && sv > e ? sv : e;
	}
	return 0;
}

/* ---- samples of the peers ------------------------------------------------------ */

struct samples {
	struct fl_sample *v;
	size_t n, alloc;
};

static int samples_add(struct samples *s, int64_t sent, int64_t done, int ok)
{
	if (s->n == s->alloc) {
		size_t na = s->alloc ? 2 * s->alloc : 1024;
		struct fl_sample *grown = fl_realloc(s->v, na * sizeof(*grown));
		if (!grown)
			return -1;
		s->v = grown;
		s->alloc = na;
	}
	s->v[s->n++] = (struct fl_sample){ sent, done, ok, 0 };
	return 0;
}

/* A scraper thread driving blackbox_exporter: every period_ns (ticks
 * skipped, never bunched, like Prometheus) or back to back when 0. */
struct scrape_run {
	struct bench_scraper sc;
	int64_t period_ns;
	int64_t hard_deadline; /* the thread never outlives this */
	atomic_int stop;
	struct samples s;
	long exporter_errors;
	pthread_t thread;
	int started;
};

static void *scrape_thread(void *arg)
{
	struct scrape_run *r = arg;
	int64_t next = fl_now_ns();
	while (!atomic_load(&r->stop) && fl_now_ns() < r->hard_deadline) {
		int64_t sent = fl_now_ns(), done;
		int ok = bench_scraper_scrape(&r->sc);
		done = fl_now_ns();
		if (ok < 0)
			r->exporter_errors++;
		else if (samples_add(&r->s, sent, done, ok) < 0)
			break;
		if (r->period_ns > 0) {
			int64_t now = fl_now_ns();
			next += r->period_ns;
			if (next < now)
				next += ((now - next) / r->period_ns + 1) * r->period_ns;
			fl_sleep_until(next, NULL, 0);
		}
	}
	return NULL;
}

static int scrape_start(struct scrape_run *r, long bb_port, const char *url, int64_t period_ns,
			int64_t hard_deadline, struct fl_error *err)
{
	memset(r, 0, sizeof(*r));
	atomic_init(&r->stop, 0);
	r->period_ns = period_ns;
	r->hard_deadline = hard_deadline;
	if (bench_scraper_init(&r->sc, bb_port, url) < 0)
		return fl_error_set(err, FL_EXIT_ENV, "scraper: cannot set up curl");
	if (pthread_create(&r->thread, NULL, scrape_thread, r) != 0)
		return fl_error_set(err, FL_EXIT_ENV, "scraper: cannot start a thread");
	r->started = 1;
	return 0;
}

static void scrape_stop(struct scrape_run *r)
{
	if (r->started) {
		atomic_store(&r->stop, 1);
		pthread_join(r->thread, NULL);
	}
	r->started = 0;
	bench_scraper_release(&r->sc);
}

/* Reads curl_loop.sh's log: wall-clock seconds turned into CLOCK_MONOTONIC
 * with the offset measured when the pass began. */
static int curl_log_read(const char *path, int64_t wall_minus_mono, struct samples *s)
{
	FILE *f = fopen(path, "r");
	char line[256];
	if (!f)
		return -1;
	for (long guard = 0; guard < 10000000 && fgets(line, sizeof(line), f); guard++) {
		double t0, t1;
		int ok;
		if (sscanf(line, "%lf %lf %d", &t0, &t1, &ok) != 3)
			continue;
		if (samples_add(s, (int64_t)llround(t0 * 1e9) - wall_minus_mono,
				(int64_t)llround(t1 * 1e9) - wall_minus_mono, ok) < 0)
			break;
	}
	fclose(f);
	return 0;
}

/* ---- measuring ------------------------------------------------------------------ */

struct tool {
	const char *name;
	double interval_ms;    /* nominal sampling interval, 0 back to back */
	struct bench_dist err; /* signed, ms */
	struct bench_dist abs; /* |err|, ms */
	struct bench_dist kind_abs[NKINDS];
	struct bench_dist backlog; /* ms a hang's held requests took after it ended */
	/* |err| over the outages proper (end - start) of two of faultline's
	 * intervals or longer (fl_intervals_ms), one per interval: the goals'
	 * population, the same for the peers compared with it. */
	struct bench_dist abs_from[NINTERVALS];
	long missed, unrestored, outages;
	long missed_long; /* missed outages of two intervals or longer (the goal: none) */
	long kind_missed[NKINDS];
	double max_latency_ms; /* faultline: the threshold armed after the warm-up, 0 none */
};

static void tool_init(struct tool *t, const char *name, double interval_ms)
{
	memset(t, 0, sizeof(*t));
	t->name = name;
	t->interval_ms = interval_ms;
	bench_dist_init(&t->err);
	bench_dist_init(&t->abs);
	for (int k = 0; k < NKINDS; k++)
		bench_dist_init(&t->kind_abs[k]);
	bench_dist_init(&t->backlog);
	for (int k = 0; k < NINTERVALS; k++)
		bench_dist_init(&t->abs_from[k]);
}

static void tool_release(struct tool *t)
{
	bench_dist_release(&t->err);
	bench_dist_release(&t->abs);
	for (int k = 0; k < NKINDS; k++)
		bench_dist_release(&t->kind_abs[k]);
	bench_dist_release(&t->backlog);
	for (int k = 0; k < NINTERVALS; k++)
		bench_dist_release(&t->abs_from[k]);
}

/* measured_ns < 0: the tool never came back inside the window. The truth
 * is o's instance inst: measured from its start, held to the end of its
 * backlog (served); "two intervals or longer" is the outage proper (end). */
static void tool_add(struct tool *t, const struct outage *o, int inst, int64_t measured_ns, int missed)
{
	int64_t t0 = o->start[inst], true_ns = o->served[inst] - t0;
	double e;
	t->outages++;
	if (o->kind == KIND_HANG)
		bench_dist_add(&t->backlog, (double)(o->served[inst] - o->end[inst]) / 1e6);
	if (measured_ns < 0) {
		t->unrestored++;
		return;
	}
	if (missed) {
		t->missed++;
		t->kind_missed[o->kind]++;
		/* Shorter than two intervals, an outage can fall between the
		 * samples of any prober; two intervals or longer, it cannot. */
		if (t->interval_ms > 0 && (double)(o->end[inst] - t0) >= 2 * t->interval_ms * 1e6)
			t->missed_long++;
	}
	e = (double)(measured_ns - true_ns) / 1e6;
	bench_dist_add(&t->err, e);
	bench_dist_add(&t->abs, fabs(e));
	for (int k = 0; k < NINTERVALS; k++)
		if (o->end[inst] - t0 >= 2 * fl_intervals_ms[k] * FL_NS_PER_MS)
			bench_dist_add(&t->abs_from[k], fabs(e));
	bench_dist_add(&t->kind_abs[o->kind], fabs(e));
	if (trace)
		fprintf(stderr, "trace %-32s %-7s %7.1f ms backlog %6.3f ms error %+8.3f ms%s\n",
			t->name, kinds[o->kind], (double)(o->end[inst] - t0) / 1e6,
			(double)(o->served[inst] - o->end[inst]) / 1e6, e, missed ? " (missed)" : "");
}

/* The p99 of t's |error| over the outages of two of faultline's k-th
 * interval or longer. */
static double tool_abs_p99_from(struct tool *t, int k)
{
	struct bench_summary sm;
	bench_dist_summarize(&t->abs_from[k], &sm);
	return sm.p99;
}

/* A peer's RTO: its first good sample after its first failed one that was
 * in flight during the outage, at the peer's own timestamp (sent). */
static void peer_measure(struct tool *t, const struct samples *s, const struct outage *o, int inst,
			 int64_t window_end)
{
	int64_t t0 = o->start[inst], te = o->end[inst];
	size_t i = 0;
	for (; i < s->n; i++)
		if (!s->v[i].ok && s->v[i].done_ns >= t0 && s->v[i].sent_ns < te)
			break;
	if (i == s->n) {
		tool_add(t, o, inst, 0, 1);
		return;
	}
	for (size_t j = i + 1; j < s->n && s->v[j].sent_ns < window_end; j++)
		if (s->v[j].ok) {
			tool_add(t, o, inst, s->v[j].sent_ns - t0, 0);
			return;
		}
	tool_add(t, o, inst, -1, 0);
}

/* faultline's RTO from timeline.c, fed the engine's samples around the
 * outage exactly as the runner feeds them. */
static void faultline_measure(struct tool *t, const struct fl_sample *v, size_t n,
			      const struct fl_probe_spec *spec, const struct outage *o,
			      int64_t window_end)
{
	struct fl_timeline tl;
	int64_t t0 = o->start[0];
	fl_timeline_init(&tl, t0, 1, STABILITY_NS);
	fl_timeline_set_sample_timeout(&tl, spec->timeout_ns);
	for (size_t i = 0; i < n; i++) {
		if (v[i].sent_ns < t0 - FL_NS_PER_S)
			continue;
		if (v[i].sent_ns >= window_end)
			break;
		fl_timeline_feed(&tl, &v[i]);
	}
	fl_timeline_tick(&tl, window_end);
	if (!fl_timeline_impacted(&tl))
		tool_add(t, o, 0, 0, 1);
	else if (!fl_timeline_restored(&tl))
		tool_add(t, o, 0, -1, 0);
	else
		tool_add(t, o, 0, tl.t_restored - t0, 0);
	/* The answer that restored it, against the true end: how late the
	 * prober sent it, and how long it waited. */
	for (size_t i = 1; trace && fl_timeline_restored(&tl) && i < n; i++)
		if (v[i].ok && v[i].done_ns == tl.t_restored) {
			fprintf(stderr,
				"trace   restored by a sample sent %+.3f ms from the true end, "
				"answered after %.3f ms; the one before sent %+.3f ms, %s\n",
				(double)(v[i].sent_ns - o->end[0]) / 1e6,
				(double)(v[i].done_ns - v[i].sent_ns) / 1e6,
				(double)(v[i - 1].sent_ns - o->end[0]) / 1e6,
				v[i - 1].ok ? "ok" : "failed");
			break;
		}
}

/* ---- report ---------------------------------------------------------------------- */

static json_t *tool_json(struct tool *t, struct bench_summary *abs_out)
{
	struct bench_summary se, sa;
	json_t *kj = json_object(), *j;
	bench_dist_summarize(&t->err, &se);
	bench_dist_summarize(&t->abs, &sa);
	for (int k = 0; k < NKINDS; k++) {
		struct bench_summary sk;
		bench_dist_summarize(&t->kind_abs[k], &sk);
		json_object_set_new(kj, kinds[k],
				    json_pack("{s:o, s:o, s:I}", "abs_p99_ms", bench_real(sk.p99),
					      "abs_max_ms", bench_real(sk.max), "missed",
					      (json_int_t)t->kind_missed[k]));
	}
	j = json_pack("{s:s, s:f, s:I, s:I, s:I, s:I, s:o, s:o, s:o}", "tool", t->name,
		      "interval_ms", t->interval_ms, "outages", (json_int_t)t->outages, "missed",
		      (json_int_t)t->missed, "missed_two_intervals_or_longer",
		      (json_int_t)t->missed_long, "unrestored", (json_int_t)t->unrestored,
		      "error_ms", bench_summary_json(&se), "abs_error_ms", bench_summary_json(&sa),
		      "by_kind", kj);
	if (t->backlog.n > 0) {
		struct bench_summary sb;
		bench_dist_summarize(&t->backlog, &sb);
		json_object_set_new(j, "hang_backlog_ms", bench_summary_json(&sb));
	}
	if (t->interval_ms > 0 && t->max_latency_ms >= 0 && !strncmp(t->name, "faultline", 9))
		json_object_set_new(j, "max_latency_ms", bench_real(t->max_latency_ms));
	fprintf(stderr, "  %-34s %6ld %6ld %9.2f %9.2f %9.2f %9.2f %9.2f   %5ld %5ld %5ld\n",
		t->name, t->outages, t->missed, se.min, se.median, se.p99, se.max, sa.p99,
		t->kind_missed[0], t->kind_missed[1], t->kind_missed[2]);
	if (abs_out)
		*abs_out = sa;
	return j;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_fidelity --groundtruth BIN --curl-loop SCRIPT [--blackbox BIN] "
			"--dir WORKDIR [--out FILE] [--quick] [--trace]\n");
}

int main(int argc, char **argv)
{
	const char *gt_bin = NULL, *loop = NULL, *bb_bin = NULL, *dir = NULL, *out = "-";
	int quick = 0, rc = 1;
	struct fl_error err;
	struct outage *sched = NULL, *sched2 = NULL;
	size_t nsched = 0;
	struct gt g[3];
	int ng = 0;
	pid_t bb = -1, curl_pid = -1;
	long bb_port = 0;
	struct fl_probe_engine *eng = NULL;
	struct fl_probe_spec specs[3];
	char names[3][32], curl_log[4096];
	struct scrape_run bb10, bbb2b;
	struct samples curl_s = { 0 };
	struct tool tools[6], tools_short[NSHORT_IV];
	char names_short[NSHORT_IV][48];
	struct outage *ssched[NSHORT_IV] = { NULL };
	size_t nssched[NSHORT_IV] = { 0 };
	json_t *rows = json_array(), *details = json_array();
	struct bench_summary abs_fl[3], abs_curl, abs_short[NSHORT_IV];
	int have_bb = 0;

	abs_curl.p99 = NAN;
	for (int t = 0; t < 3; t++)
		abs_fl[t].p99 = NAN;
	for (int t = 0; t < NSHORT_IV; t++)
		abs_short[t].p99 = NAN;
	memset(&bb10, 0, sizeof(bb10));
	memset(&bbb2b, 0, sizeof(bbb2b));
	memset(specs, 0, sizeof(specs));
	fl_error_init(&err);
	gsl_set_error_handler_off();
	fl_alloc_install_jansson();
	signal(SIGPIPE, SIG_IGN);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--quick")) {
			quick = 1;
			continue;
		}
		if (!strcmp(a, "--trace")) {
			trace = 1;
			continue;
		}
		if (!v) {
			usage();
			return 2;
		}
		if (!strcmp(a, "--groundtruth"))
			gt_bin = v;
		else if (!strcmp(a, "--curl-loop"))
			loop = v;
		else if (!strcmp(a, "--blackbox"))
			bb_bin = v;
		else if (!strcmp(a, "--dir"))
			dir = v;
		else if (!strcmp(a, "--out"))
			out = v;
		else {
			usage();
			return 2;
		}
		i++;
	}
	if (!gt_bin || !loop || !dir) {
		usage();
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (int t = 0; t < 3; t++) {
		snprintf(names[t], sizeof(names[t]), "faultline every %lld ms",
			 (long long)fl_intervals_ms[t]);
		tool_init(&tools[t], names[t], (double)fl_intervals_ms[t]);
	}
	tool_init(&tools[3], "blackbox_exporter 10 Hz", 100);
	tool_init(&tools[4], "blackbox_exporter back to back", 0);
	tool_init(&tools[5], "curl loop every 1 s", 1000);
	for (int t = 0; t < NSHORT_IV; t++) {
		snprintf(names_short[t], sizeof(names_short[t]),
			 "faultline every %lld ms, short hangs", (long long)fl_intervals_ms[t]);
		tool_init(&tools_short[t], names_short[t], (double)fl_intervals_ms[t]);
	}

	sched = schedule_make(quick, &nsched);
	sched2 = sched ? fl_calloc(nsched, sizeof(*sched2)) : NULL;
	if (!sched || !sched2) {
		fprintf(stderr, "bench_fidelity: out of memory\n");
		goto out;
	}
	memcpy(sched2, sched, nsched * sizeof(*sched2));
	{
		double total = 0;
		for (size_t i = 0; i < nsched; i++)
			total += (double)sched[i].ms;
		fprintf(stderr,
			"fidelity: %zu outages per pass (%.1f s down), lengths 50 ms..%s +-10 %%\n",
			nsched, total / 1000, quick ? "700 ms" : "10 s");
	}

	if (bb_bin) {
		bb = bench_blackbox_start(bb_bin, dir, BB_TIMEOUT_NS, &bb_port, &err);
		if (bb < 0)
			goto out;
		have_bb = 1;
	} else {
		fprintf(stderr, "fidelity: no blackbox_exporter given: its rows are skipped\n");
	}

	/* ---- pass 1: faultline, blackbox 10 Hz, curl loop ---- */
	for (ng = 0; ng < 3; ng++)
		if (gt_start(&g[ng], gt_bin, dir, ng, &err) < 0) {
			ng++;
			goto out;
		}
	eng = fl_probe_engine_new(&err);
	if (!eng)
		goto out;
	for (int t = 0; t < 3; t++) {
		int64_t iv = fl_intervals_ms[t] * FL_NS_PER_MS, tmo = 5 * iv;
		specs[t].name = names[t];
		specs[t].kind = FL_PROBE_HTTP;
		specs[t].url = g[0].url;
		specs[t].interval_ns = iv;
		/* The scenario loader's default: 5 intervals, within [50 ms, 1 s]. */
		specs[t].timeout_ns = tmo < 50 * FL_NS_PER_MS ? 50 * FL_NS_PER_MS
				      : tmo > FL_NS_PER_S     ? FL_NS_PER_S
							      : tmo;
		/* BENCH_MAX_LATENCY_MS sets the probes' max_latency (a slower
		 * answer counts as down), as a scenario may. */
		{
			long ml = 0;
			if (fl_parse_long(getenv("BENCH_MAX_LATENCY_MS"), 1, 60000, &ml) == 0)
				specs[t].max_latency_ns = ml * FL_NS_PER_MS;
		}
		if (fl_probe_engine_add(eng, &specs[t], &err) < 0)
			goto out;
	}
	{
		int64_t wall_minus_mono = fl_wall_ns() - fl_now_ns(), hard;
		double pass_s = 60;
		char max_s[32];
		for (size_t i = 0; i < nsched; i++)
			pass_s += (double)sched[i].ms / 1000 + 2.5;
		hard = fl_now_ns() + (int64_t)(pass_s * 1e9);
		snprintf(max_s, sizeof(max_s), "%.0f", pass_s);
		snprintf(curl_log, sizeof(curl_log), "%s/curl_loop.log", dir);
		unlink(curl_log);
		{
			const char *cargv[] = { "bash", loop,  curl_log, "1",
						"0",    max_s, g[2].url, NULL };
			curl_pid = fl_spawn_argv(cargv, -1, NULL, &err);
		}
		if (curl_pid < 0 || fl_probe_engine_start(eng, &err) < 0)
			goto out;
		if (have_bb &&
		    scrape_start(&bb10, bb_port, g[1].url, 100 * FL_NS_PER_MS, hard, &err) < 0)
			goto out;
		fl_sleep_until(fl_now_ns() + WARMUP_NS, NULL, 0);
		/* The warm-up is the steady state: from here an answer much
		 * slower than it is a failed sample, as in a drill
		 * (sim/sampling.c; "slow is down" in docs/measurement.md). */
		for (int t = 0; t < 3; t++) {
			int64_t ml = fl_probe_engine_arm_latency(eng, t);
			tools[t].max_latency_ms = ml > 0 ? (double)ml / 1e6 : 0;
			fprintf(stderr, "fidelity: %s: max_latency %.3f ms%s\n", names[t],
				tools[t].max_latency_ms, ml > 0 ? "" : " (none: the timeout only)");
		}
		fprintf(stderr,
			"fidelity: pass 1 (faultline 1/10/100 ms, blackbox 10 Hz, curl loop 1 s)\n");
		for (size_t i = 0; i < nsched; i++) {
			if (outage_run(g, 3, &sched[i], &err) < 0)
				goto out;
			/* Long enough for the 1 s curl loop to see the target up
			 * again before the next outage begins. */
			fl_sleep_until(fl_now_ns() + 2500 * FL_NS_PER_MS, NULL, 0);
		}
		fl_probe_engine_stop(eng);
		scrape_stop(&bb10);
		bench_child_stop(curl_pid, FL_NS_PER_S);
		curl_pid = -1;
		if (curl_log_read(curl_log, wall_minus_mono, &curl_s) < 0) {
			fl_error_set(&err, FL_EXIT_ENV, "%s: cannot read the curl loop's log",
				     curl_log);
			goto out;
		}
	}
	for (int t = 0; t < 3; t++) {
		size_t n = fl_probe_engine_count(eng, t);
		struct fl_sample *v = fl_calloc(n ? n : 1, sizeof(*v));
		if (!v)
			goto out;
		n = fl_probe_engine_samples(eng, t, 0, v, n);
		for (size_t i = 0; i < nsched; i++) {
			int64_t wend = i + 1 < nsched ? sched[i + 1].start[0] - FL_NS_PER_MS
						      : sched[i].end[0] + 2 * FL_NS_PER_S;
			faultline_measure(&tools[t], v, n, &specs[t], &sched[i], wend);
		}
		fl_free(v);
	}
	/* instance 1 was watched by blackbox at 10 Hz, instance 2 by the curl loop */
	for (size_t i = 0; i < nsched; i++) {
		int64_t w1 =
			i + 1 < nsched ? sched[i + 1].start[1] : sched[i].end[1] + 2 * FL_NS_PER_S;
		int64_t w2 =
			i + 1 < nsched ? sched[i + 1].start[2] : sched[i].end[2] + 2 * FL_NS_PER_S;
		if (have_bb)
			peer_measure(&tools[3], &bb10.s, &sched[i], 1, w1);
		peer_measure(&tools[5], &curl_s, &sched[i], 2, w2);
	}
	fl_probe_engine_free(eng);
	eng = NULL;
	for (int i = 0; i < ng; i++)
		gt_stop(&g[i]);
	ng = 0;

	/* ---- pass 2: blackbox back to back, alone ---- */
	if (have_bb) {
		int64_t hard;
		double pass_s = 60;
		for (size_t i = 0; i < nsched; i++)
			pass_s += (double)sched2[i].ms / 1000 + 1.0;
		hard = fl_now_ns() + (int64_t)(pass_s * 1e9);
		if (gt_start(&g[0], gt_bin, dir, 3, &err) < 0) {
			ng = 1;
			goto out;
		}
		ng = 1;
		if (scrape_start(&bbb2b, bb_port, g[0].url, 0, hard, &err) < 0)
			goto out;
		fl_sleep_until(fl_now_ns() + WARMUP_NS, NULL, 0);
		fprintf(stderr, "fidelity: pass 2 (blackbox back to back)\n");
		for (size_t i = 0; i < nsched; i++) {
			if (outage_run(g, 1, &sched2[i], &err) < 0)
				goto out;
			fl_sleep_until(fl_now_ns() + FL_NS_PER_S, NULL, 0);
		}
		scrape_stop(&bbb2b);
		for (size_t i = 0; i < nsched; i++) {
			int64_t w = i + 1 < nsched ? sched2[i + 1].start[0]
						   : sched2[i].end[0] + FL_NS_PER_S;
			peer_measure(&tools[4], &bbb2b.s, &sched2[i], 0, w);
		}
		gt_stop(&g[0]);
		ng = 0;
	}

	/* ---- pass 3: short hangs, faultline alone, one interval at a time ---- */
	for (int t = 0; t < NSHORT_IV; t++) {
		struct fl_probe_spec sp = specs[t];
		struct outage *so = ssched[t] =
			short_schedule_make(fl_intervals_ms[t], quick ? 1 : SHORT_REPS, &nssched[t]);
		size_t n;
		struct fl_sample *v;
		int64_t ml;
		if (!so) {
			fl_error_set(&err, FL_EXIT_ENV, "out of memory");
			goto out;
		}
		if (gt_start(&g[0], gt_bin, dir, 4 + t, &err) < 0) {
			ng = 1;
			goto out;
		}
		ng = 1;
		sp.name = names_short[t];
		sp.url = g[0].url;
		eng = fl_probe_engine_new(&err);
		if (!eng || fl_probe_engine_add(eng, &sp, &err) < 0 ||
		    fl_probe_engine_start(eng, &err) < 0)
			goto out;
		fl_sleep_until(fl_now_ns() + WARMUP_NS, NULL, 0);
		ml = fl_probe_engine_arm_latency(eng, 0);
		tools_short[t].max_latency_ms = ml > 0 ? (double)ml / 1e6 : 0;
		fprintf(stderr, "fidelity: pass 3 (%s: %zu hangs, max_latency %.3f ms)\n",
			names_short[t], nssched[t], tools_short[t].max_latency_ms);
		for (size_t i = 0; i < nssched[t]; i++) {
			if (outage_run(g, 1, &so[i], &err) < 0)
				goto out;
			fl_sleep_until(fl_now_ns() + SHORT_GAP_NS, NULL, 0);
		}
		fl_probe_engine_stop(eng);
		n = fl_probe_engine_count(eng, 0);
		v = fl_calloc(n ? n : 1, sizeof(*v));
		if (!v)
			goto out;
		n = fl_probe_engine_samples(eng, 0, 0, v, n);
		for (size_t i = 0; i < nssched[t]; i++) {
			int64_t wend = i + 1 < nssched[t] ? so[i + 1].start[0] - FL_NS_PER_MS
							  : so[i].end[0] + SHORT_GAP_NS / 2;
			faultline_measure(&tools_short[t], v, n, &sp, &so[i], wend);
		}
		fl_free(v);
		fl_probe_engine_free(eng);
		eng = NULL;
		gt_stop(&g[0]);
		ng = 0;
	}
	rc = 0;
out:
	if (rc == 0) {
		fprintf(stderr, "\n  %-34s %6s %6s %9s %9s %9s %9s %9s   missed by kind\n",
			"tool (error ms)", "outgs", "missed", "min", "median", "p99", "max",
			"|e| p99");
		for (int t = 0; t < 6; t++) {
			struct bench_summary sa;
			if ((t == 3 || t == 4) && !have_bb)
				continue;
			json_array_append_new(details, tool_json(&tools[t], &sa));
			if (t < 3)
				abs_fl[t] = sa;
			else if (t == 5)
				abs_curl = sa;
		}
		for (int t = 0; t < NSHORT_IV; t++)
			json_array_append_new(details, tool_json(&tools_short[t], &abs_short[t]));
		fprintf(stderr, "  (missed by kind: refused, 503, hang)\n");
		for (int t = 0; t < NINTERVALS; t++) {
			char name[128], goal[64];
			/* Over the outages of two intervals or longer: a shorter
			 * one may fall between two samples (missed: an error of
			 * its whole length), which no sampler avoids. Every
			 * outage's p99 is in the details (abs_error_ms). */
			double mine = tool_abs_p99_from(&tools[t], t);
			double peer = have_bb ? tool_abs_p99_from(&tools[t < 2 ? 4 : 3], t) : NAN;
			double bound = (double)fl_intervals_ms[t] + 1;
			snprintf(name, sizeof(name),
				 "restore error p99 |meas-true|, outages of %lld ms or longer, every "
				 "%lld ms",
				 (long long)(2 * fl_intervals_ms[t]), (long long)fl_intervals_ms[t]);
			snprintf(goal, sizeof(goal), "<= %.0f ms", bound);
			json_array_append_new(rows, bench_row("fidelity", name, "ms", mine,
							      t < 2 ? "blackbox_exporter back to back"
								    : "blackbox_exporter 10 Hz",
							      peer, goal, mine <= bound,
							      t == 0 ? json_incref(details) : NULL));
		}
		for (int t = 0; t < 3; t++) {
			char name[96];
			snprintf(name, sizeof(name),
				 "outages of two intervals or longer missed, every %lld ms",
				 (long long)fl_intervals_ms[t]);
			json_array_append_new(rows, bench_row("fidelity", name, "outages",
							      (double)tools[t].missed_long, NULL, NAN,
							      "0", tools[t].missed_long == 0, NULL));
		}
		for (int t = 0; t < NSHORT_IV; t++) {
			char name[128], goal[64];
			double bound = (double)fl_intervals_ms[t] + 1;
			snprintf(name, sizeof(name),
				 "short hangs (2, 5, 20 intervals) missed, every %lld ms",
				 (long long)fl_intervals_ms[t]);
			json_array_append_new(rows, bench_row("fidelity", name, "outages",
							      (double)tools_short[t].missed_long,
							      NULL, NAN, "0",
							      tools_short[t].missed_long == 0, NULL));
			snprintf(name, sizeof(name),
				 "restore error p99 |meas-true|, short hangs, every %lld ms",
				 (long long)fl_intervals_ms[t]);
			snprintf(goal, sizeof(goal), "<= %.0f ms", bound);
			json_array_append_new(rows, bench_row("fidelity", name, "ms",
							      abs_short[t].p99, NULL, NAN, goal,
							      abs_short[t].p99 <= bound, NULL));
		}
		/* Every outage, the shortest (50 ms) below one 100 ms interval:
		 * a comparison, not a goal. */
		json_array_append_new(rows, bench_row("fidelity",
						      "outages missed, faultline 100 ms vs curl 1 s",
						      "outages", (double)tools[2].missed,
						      "curl loop every 1 s",
						      (double)tools[5].missed, NULL, -1, NULL));
		json_array_append_new(rows, bench_row("fidelity",
						      "p99 |meas-true|, faultline 100 ms vs curl 1 s",
						      "ms", abs_fl[2].p99, "curl loop every 1 s",
						      abs_curl.p99, NULL, -1, NULL));
		if (bench_rows_write(rows, out) < 0)
			rc = 1;
	} else {
		fprintf(stderr, "bench_fidelity: %s\n", err.msg[0] ? err.msg : "failed");
	}
	fl_probe_engine_free(eng);
	scrape_stop(&bb10);
	scrape_stop(&bbb2b);
	if (curl_pid > 0)
		bench_child_stop(curl_pid, FL_NS_PER_S);
	for (int i = 0; i < ng; i++)
		gt_stop(&g[i]);
	if (bb > 0)
		bench_child_stop(bb, 2 * FL_NS_PER_S);
	for (int t = 0; t < 6; t++)
		tool_release(&tools[t]);
	for (int t = 0; t < NSHORT_IV; t++) {
		tool_release(&tools_short[t]);
		fl_free(ssched[t]);
	}
	fl_free(bb10.s.v);
	fl_free(bbb2b.s.v);
	fl_free(curl_s.v);
	fl_free(sched);
	fl_free(sched2);
	json_decref(rows);
	json_decref(details);
	curl_global_cleanup();
	return rc;
}
