/*
 * bench_probe_cost: what availability probing costs, faultline against the
 * probers users would pick instead.
 *
 * For 10, 100 and 1,000 HTTP targets on loopback (bench_targets: one epoll
 * process, its own fresh ports for every run):
 *   faultline          the probe engine probing every target at 100 Hz for
 *                      SECONDS, in a child process of its own (this program
 *                      re-executed with --engine) so that its CPU time
 *                      (/proc/self/stat, all threads, from engine start to
 *                      stop) and peak RSS (VmHWM) are the engine's alone
 *   blackbox_exporter  scraped back to back, round robin over the targets,
 *                      for SECONDS too; CPU from /proc/PID/stat of the
 *                      exporter, peak RSS from its VmHWM
 *   curl loop          bench/curl_loop.sh back to back over the targets for
 *                      SECONDS too; CPU of bash and every curl it ran
 *                      (getrusage RUSAGE_CHILDREN)
 * Every prober runs for the same SECONDS; each row says how its peer
 * differs otherwise ("peer_note", shown next to the ratio).
 * Peers that open a connection per probe leave TIME_WAIT sockets behind:
 * they run after faultline, each on its own ports.
 *
 * Usage: bench_probe_cost --targets BIN --curl-loop SCRIPT [--blackbox BIN]
 *                         --dir WORKDIR [--seconds S] [--counts 10,100,1000]
 *                         [--out FILE]
 * Prints a table to stderr and JSON rows for ci/bench.sh.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "bench/bench_util.h"
#include "sim/probe.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/spawn.h"

#define MAX_COUNTS 8
#define MAX_TARGETS 4096
#define PROBE_INTERVAL_NS (10 * FL_NS_PER_MS)

struct cost {
	double probes, ok, cpu_ms, wall_ms;
	long rss_kib;
};

static double cost_per_1000(const struct cost *c)
{
	return c->probes > 0 ? c->cpu_ms * 1000.0 / c->probes : NAN;
}

/* Reads a bench_targets port file (one port a line) with a deadline. */
static long *ports_read(const char *path, long want, struct fl_error *err)
{
	int64_t deadline = fl_now_ns() + 10 * FL_NS_PER_S;
	long *ports = fl_calloc((size_t)want, sizeof(*ports));
	if (!ports) {
		fl_error_set(err, FL_EXIT_ENV, "out of memory");
		return NULL;
	}
	for (int tries = 0; tries < 10000; tries++) {
		FILE *f = fopen(path, "r");
		long n = 0;
		struct timespec ts = { 0, 10 * FL_NS_PER_MS };
		if (f) {
			while (n < want && fscanf(f, "%ld", &ports[n]) == 1)
				n++;
			fclose(f);
			if (n == want)
				return ports;
		}
		if (fl_now_ns() >= deadline)
			break;
		nanosleep(&ts, NULL);
	}
	fl_free(ports);
	fl_error_set(err, FL_EXIT_ENV, "%s: no %ld ports after 10 s", path, want);
	return NULL;
}

static void nofile_raise(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* --engine N PORTFILE SECONDS: the child that runs faultline's engine and
 * prints its own cost as one JSON object. */
static int engine_main(long n, const char *portfile, long seconds)
{
	struct fl_error err;
	struct fl_probe_engine *eng = NULL;
	struct fl_probe_spec *specs = NULL;
	char(*urls)[64] = NULL;
	long *ports = NULL;
	double cpu0, cpu1, probes = 0, ok = 0;
	int64_t w0, w1;
	int rc = 1;

	fl_error_init(&err);
	nofile_raise();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	ports = ports_read(portfile, n, &err);
	specs = fl_calloc((size_t)n, sizeof(*specs));
	urls = fl_calloc((size_t)n, sizeof(*urls));
	if (!ports || !specs || !urls)
		goto out;
	eng = fl_probe_engine_new(&err);
	if (!eng)
		goto out;
	for (long i = 0; i < n; i++) {
		snprintf(urls[i], sizeof(urls[i]), "http://127.0.0.1:%ld/", ports[i]);
		specs[i].name = urls[i];
		specs[i].kind = FL_PROBE_HTTP;
		specs[i].url = urls[i];
		specs[i].interval_ns = PROBE_INTERVAL_NS;
		specs[i].timeout_ns = 50 * FL_NS_PER_MS; /* the loader's default at 10 ms */
		if (fl_probe_engine_add(eng, &specs[i], &err) < 0)
			goto out;
	}
	cpu0 = bench_proc_cpu_ms(0);
	w0 = fl_now_ns();
	if (fl_probe_engine_start(eng, &err) < 0)
		goto out;
	fl_sleep_until(w0 + seconds * FL_NS_PER_S, NULL, 0);
	fl_probe_engine_stop(eng);
	w1 = fl_now_ns();
	cpu1 = bench_proc_cpu_ms(0);
	for (long i = 0; i < n; i++) {
		struct fl_probe_summary_lite s;
		fl_probe_engine_summary(eng, (int)i, &s);
		probes += (double)s.samples;
		ok += (double)(s.samples - s.failures);
	}
	printf("{\"probes\":%.0f,\"ok\":%.0f,\"cpu_ms\":%.1f,\"wall_ms\":%.1f,\"peak_rss_kib\":%ld}\n",
	       probes, ok, cpu1 - cpu0, (double)(w1 - w0) / 1e6, bench_proc_peak_rss_kib(0));
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "bench_probe_cost --engine: %s\n", err.msg);
	fl_probe_engine_free(eng);
	fl_free(specs);
	fl_free(urls);
	fl_free(ports);
	curl_global_cleanup();
	return rc;
}

/* Starts bench_targets with n ports; pid or -1. */
static pid_t targets_start(const char *bin, const char *dir, long n, int run, long **ports,
			   struct fl_error *err)
{
	char portfile[4096], nbuf[32];
	const char *argv[] = { bin, nbuf, portfile, "900", NULL };
	pid_t pid;
	snprintf(nbuf, sizeof(nbuf), "%ld", n);
	snprintf(portfile, sizeof(portfile), "%s/targets-%d.ports", dir, run);
	unlink(portfile);
	pid = fl_spawn_argv(argv, -1, NULL, err);
	if (pid < 0)
		return -1;
	*ports = ports_read(portfile, n, err);
	if (!*ports) {
		bench_child_stop(pid, FL_NS_PER_S);
		return -1;
	}
	return pid;
}

static int run_faultline(const char *self, const char *tbin, const char *dir, long n, long seconds,
			 int run, struct cost *c, struct fl_error *err)
{
	char portfile[4096], nbuf[32], sbuf[32];
	const char *argv[] = { self, "--engine", nbuf, portfile, sbuf, NULL };
	struct fl_buf outb;
	long *ports = NULL;
	pid_t tp;
	int status = 0, rc = -1;
	json_t *j = NULL;

	fl_buf_init(&outb, 1 << 16);
	tp = targets_start(tbin, dir, n, run, &ports, err);
	if (tp < 0)
		goto out;
	snprintf(nbuf, sizeof(nbuf), "%ld", n);
	snprintf(sbuf, sizeof(sbuf), "%ld", seconds);
	snprintf(portfile, sizeof(portfile), "%s/targets-%d.ports", dir, run);
	if (fl_run_argv(argv, (seconds + 60) * FL_NS_PER_S, &outb, &status, NULL, err) < 0)
		goto out;
	j = json_loads(outb.buf[0] == '{'      ? outb.buf
		       : strchr(outb.buf, '{') ? strchr(outb.buf, '{')
					       : "",
		       JSON_DISABLE_EOF_CHECK, NULL);
	if (!j) {
		fl_error_set(err, FL_EXIT_ENV, "faultline engine run failed: %s", outb.buf);
		goto out;
	}
	c->probes = json_number_value(json_object_get(j, "probes"));
	c->ok = json_number_value(json_object_get(j, "ok"));
	c->cpu_ms = json_number_value(json_object_get(j, "cpu_ms"));
	c->wall_ms = json_number_value(json_object_get(j, "wall_ms"));
	c->rss_kib = (long)json_integer_value(json_object_get(j, "peak_rss_kib"));
	rc = 0;
out:
	json_decref(j);
	fl_buf_release(&outb);
	bench_child_stop(tp, FL_NS_PER_S);
	fl_free(ports);
	return rc;
}

static int run_blackbox(const char *bbbin, const char *tbin, const char *dir, long n, long seconds,
			int run, struct cost *c, struct fl_error *err)
{
	long *ports = NULL, bb_port = 0;
	pid_t tp, bb = -1;
	struct bench_scraper sc;
	char url[64];
	double cpu0, cpu1;
	int64_t w0, w1;
	int rc = -1, sc_ok = 0;

	memset(c, 0, sizeof(*c));
	tp = targets_start(tbin, dir, n, run, &ports, err);
	if (tp < 0)
		goto out;
	bb = bench_blackbox_start(bbbin, dir, FL_NS_PER_S, &bb_port, err);
	if (bb < 0)
		goto out;
	snprintf(url, sizeof(url), "http://127.0.0.1:%ld/", ports[0]);
	if (bench_scraper_init(&sc, bb_port, url) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "scraper: cannot set up curl");
		goto out;
	}
	sc_ok = 1;
	cpu0 = bench_proc_cpu_ms(bb);
	w0 = fl_now_ns();
	for (long k = 0; k < 100000000L && fl_now_ns() < w0 + seconds * FL_NS_PER_S; k++) {
		int r;
		snprintf(url, sizeof(url), "http://127.0.0.1:%ld/", ports[k % n]);
		if (bench_scraper_target(&sc, bb_port, url) < 0)
			break;
		r = bench_scraper_scrape(&sc);
		if (r >= 0)
			c->probes++;
		if (r == 1)
			c->ok++;
	}
	w1 = fl_now_ns();
	cpu1 = bench_proc_cpu_ms(bb);
	c->cpu_ms = cpu1 - cpu0;
	c->wall_ms = (double)(w1 - w0) / 1e6;
	c->rss_kib = bench_proc_peak_rss_kib(bb);
	rc = 0;
out:
	if (sc_ok)
		bench_scraper_release(&sc);
	bench_child_stop(bb, 2 * FL_NS_PER_S);
	bench_child_stop(tp, FL_NS_PER_S);
	fl_free(ports);
	return rc;
}

static double rusage_children_ms(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_CHILDREN, &ru) < 0)
		return NAN;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

static int run_curl_loop(const char *loop, const char *tbin, const char *dir, long n, long seconds,
			 int run, struct cost *c, struct fl_error *err)
{
	long *ports = NULL;
	pid_t tp;
	const char **argv = NULL;
	char(*urls)[64] = NULL, log[4096], max_s[32];
	double cpu0, cpu1;
	int64_t w0, w1;
	int status = 0, rc = -1;
	FILE *f;

	memset(c, 0, sizeof(*c));
	tp = targets_start(tbin, dir, n, run, &ports, err);
	if (tp < 0)
		goto out;
	argv = fl_calloc((size_t)n + 8, sizeof(*argv));
	urls = fl_calloc((size_t)n, sizeof(*urls));
	if (!argv || !urls) {
		fl_error_set(err, FL_EXIT_ENV, "out of memory");
		goto out;
	}
	snprintf(log, sizeof(log), "%s/curl-cost-%d.log", dir, run);
	unlink(log);
	snprintf(max_s, sizeof(max_s), "%ld", seconds);
	argv[0] = "bash";
	argv[1] = loop;
	argv[2] = log;
	argv[3] = "0";
	argv[4] = "0"; /* no sample limit: for max_s seconds, as the others */
	argv[5] = max_s;
	for (long i = 0; i < n; i++) {
		snprintf(urls[i], sizeof(urls[i]), "http://127.0.0.1:%ld/", ports[i]);
		argv[6 + i] = urls[i];
	}
	cpu0 = rusage_children_ms();
	w0 = fl_now_ns();
	if (fl_run_argv(argv, (seconds + 60) * FL_NS_PER_S, NULL, &status, NULL, err) < 0)
		goto out;
	w1 = fl_now_ns();
	cpu1 = rusage_children_ms();
	c->cpu_ms = cpu1 - cpu0;
	c->wall_ms = (double)(w1 - w0) / 1e6;
	c->rss_kib = -1;
	f = fopen(log, "r");
	if (f) {
		char line[256];
		for (long guard = 0; guard < 1000000 && fgets(line, sizeof(line), f); guard++) {
			double a, b;
			int ok;
			if (sscanf(line, "%lf %lf %d", &a, &b, &ok) == 3) {
				c->probes++;
				c->ok += ok;
			}
		}
		fclose(f);
	}
	rc = 0;
out:
	bench_child_stop(tp, FL_NS_PER_S);
	fl_free(argv);
	fl_free(urls);
	fl_free(ports);
	return rc;
}

#define NOTE_BB "new connection per probe; runs after faultline"
#define NOTE_CURL "new process and connection per probe; runs after faultline"

/* Adds to row how the peer differs ("peer_note", next to the ratio in the
 * generated table), with how long each side actually probed. */
static json_t *noted(json_t *row, const char *how, const struct cost *fl, const struct cost *peer)
{
	char note[256];
	double a = fl->wall_ms / 1000.0, b = peer->wall_ms / 1000.0;
	if (b <= 0)
		snprintf(note, sizeof(note), "%s", how);
	else if (fabs(a - b) <= 0.1 * a)
		snprintf(note, sizeof(note), "%s; both probed for %.0f s", how, a);
	else
		snprintf(note, sizeof(note), "%s; probed for %.1f s, faultline for %.1f s", how, b,
			 a);
	json_object_set_new(row, "peer_note", json_string(note));
	return row;
}

static json_t *cost_json(const char *tool, long n, const struct cost *c)
{
	return json_pack("{s:s, s:I, s:f, s:f, s:f, s:f, s:I, s:o, s:o}", "tool", tool, "targets",
			 (json_int_t)n, "probes", c->probes, "ok", c->ok, "cpu_ms", c->cpu_ms,
			 "wall_ms", c->wall_ms, "peak_rss_kib", (json_int_t)c->rss_kib,
			 "cpu_ms_per_1000", bench_real(cost_per_1000(c)), "probes_per_s",
			 bench_real(c->wall_ms > 0 ? c->probes * 1000.0 / c->wall_ms : NAN));
}

static void cost_print(const char *tool, long n, const struct cost *c)
{
	fprintf(stderr, "  %-20s %6ld %9.0f %9.0f %8.0f %9.1f %9.1f %8.3f %9ld\n", tool, n, c->probes,
		c->probes - c->ok, c->wall_ms > 0 ? c->probes * 1000.0 / c->wall_ms : NAN, c->cpu_ms,
		cost_per_1000(c), c->wall_ms > 0 ? c->cpu_ms / c->wall_ms : NAN, c->rss_kib);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_probe_cost --targets BIN --curl-loop SCRIPT [--blackbox BIN] "
			"--dir WORKDIR [--seconds S] [--counts 10,100,1000] [--out FILE]\n");
}

int main(int argc, char **argv)
{
	const char *tbin = NULL, *loop = NULL, *bbbin = NULL, *dir = NULL, *out = "-";
	char self[4096], countbuf[128] = "10,100,1000";
	long seconds = 10, counts[MAX_COUNTS];
	int ncounts = 0, rc = 1, run = 0;
	struct cost fl[MAX_COUNTS], bb[MAX_COUNTS], cl[MAX_COUNTS];
	struct fl_error err;
	json_t *rows = json_array(), *detail = json_array();
	ssize_t sl;

	fl_error_init(&err);
	fl_alloc_install_jansson();
	signal(SIGPIPE, SIG_IGN);
	if (argc == 5 && !strcmp(argv[1], "--engine")) {
		long n, s;
		if (fl_parse_long(argv[2], 1, MAX_TARGETS, &n) < 0 ||
		    fl_parse_long(argv[4], 1, 3600, &s) < 0) {
			usage();
			return 2;
		}
		json_decref(rows);
		json_decref(detail);
		return engine_main(n, argv[3], s);
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			usage();
			return 2;
		}
		if (!strcmp(a, "--targets"))
			tbin = v;
		else if (!strcmp(a, "--curl-loop"))
			loop = v;
		else if (!strcmp(a, "--blackbox"))
			bbbin = v;
		else if (!strcmp(a, "--dir"))
			dir = v;
		else if (!strcmp(a, "--out"))
			out = v;
		else if (!strcmp(a, "--seconds")) {
			if (fl_parse_long(v, 1, 600, &seconds) < 0) {
				usage();
				return 2;
			}
		} else if (!strcmp(a, "--counts"))
			snprintf(countbuf, sizeof(countbuf), "%s", v);
		else {
			usage();
			return 2;
		}
		i++;
	}
	for (char *p = countbuf, *end; *p && ncounts < MAX_COUNTS; p = *end ? end + 1 : end) {
		errno = 0;
		counts[ncounts] = strtol(p, &end, 10);
		if (errno || end == p || (*end && *end != ',') || counts[ncounts] < 1 ||
		    counts[ncounts] > MAX_TARGETS) {
			usage();
			return 2;
		}
		ncounts++;
	}
	if (!tbin || !loop || !dir || ncounts == 0) {
		usage();
		return 2;
	}
	sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (sl <= 0) {
		perror("bench_probe_cost: /proc/self/exe");
		return 1;
	}
	self[sl] = '\0';
	nofile_raise();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (int i = 0; i < ncounts; i++) {
		memset(&fl[i], 0, sizeof(fl[i]));
		memset(&bb[i], 0, sizeof(bb[i]));
		memset(&cl[i], 0, sizeof(cl[i]));
		bb[i].probes = cl[i].probes = 0;
	}

	fprintf(stderr,
		"probe cost: faultline at 100 Hz per target, blackbox and the curl loop back to "
		"back, each for %ld s\n",
		seconds);
	for (int i = 0; i < ncounts; i++)
		if (run_faultline(self, tbin, dir, counts[i], seconds, run++, &fl[i], &err) < 0)
			goto out;
	/* Connection-per-probe peers last: their TIME_WAIT sockets stay behind. */
	for (int i = 0; bbbin && i < ncounts; i++)
		if (run_blackbox(bbbin, tbin, dir, counts[i], seconds, run++, &bb[i], &err) < 0)
			goto out;
	for (int i = 0; i < ncounts; i++)
		if (run_curl_loop(loop, tbin, dir, counts[i], seconds, run++, &cl[i], &err) < 0)
			goto out;
	rc = 0;
out:
	if (rc == 0) {
		fprintf(stderr, "\n  %-20s %6s %9s %9s %8s %9s %9s %8s %9s\n", "prober", "tgts",
			"probes", "failed", "probes/s", "cpu ms", "ms/1000", "cores", "rss KiB");
		for (int i = 0; i < ncounts; i++) {
			char name[128];
			double f1 = cost_per_1000(&fl[i]), b1 = bbbin ? cost_per_1000(&bb[i]) : NAN;
			cost_print("faultline", counts[i], &fl[i]);
			if (bbbin)
				cost_print("blackbox_exporter", counts[i], &bb[i]);
			cost_print("curl loop", counts[i], &cl[i]);
			json_array_append_new(detail, cost_json("faultline", counts[i], &fl[i]));
			if (bbbin)
				json_array_append_new(detail, cost_json("blackbox_exporter",
									counts[i], &bb[i]));
			json_array_append_new(detail, cost_json("curl loop", counts[i], &cl[i]));
			snprintf(name, sizeof(name), "CPU ms per 1,000 probes, %ld targets",
				 counts[i]);
			json_array_append_new(rows,
					      noted(bench_row("probe_cost", name, "ms", f1,
							      "blackbox_exporter", b1,
							      "<= 1/20 of blackbox_exporter",
							      isnan(b1) ? -1 : f1 <= b1 / 20, NULL),
						    NOTE_BB, &fl[i], &bb[i]));
			snprintf(name, sizeof(name),
				 "CPU ms per 1,000 probes vs curl loop, %ld targets", counts[i]);
			json_array_append_new(rows,
					      noted(bench_row("probe_cost", name, "ms", f1, "curl loop",
							      cost_per_1000(&cl[i]), NULL, -1, NULL),
						    NOTE_CURL, &fl[i], &cl[i]));
			snprintf(name, sizeof(name), "peak RSS, %ld targets", counts[i]);
			json_array_append_new(rows,
					      noted(bench_row("probe_cost", name, "KiB",
							      (double)fl[i].rss_kib,
							      "blackbox_exporter",
							      bbbin ? (double)bb[i].rss_kib : NAN,
							      NULL, -1, NULL),
						    NOTE_BB, &fl[i], &bb[i]));
			snprintf(name, sizeof(name), "probes/s achieved (asked %ld), %ld targets",
				 counts[i] * 100, counts[i]);
			json_array_append_new(rows,
					      noted(bench_row("probe_cost", name, "probes/s",
							      fl[i].probes * 1000.0 / fl[i].wall_ms,
							      "blackbox_exporter back to back",
							      bbbin ? bb[i].probes * 1000.0 / bb[i].wall_ms
								    : NAN,
							      NULL, -1, NULL),
						    NOTE_BB, &fl[i], &bb[i]));
			if (counts[i] == 100) {
				double share = fl[i].cpu_ms / fl[i].wall_ms;
				json_array_append_new(rows,
						      bench_row("probe_cost",
								"share of one core, 100 targets at 100 Hz",
								"cores", share, NULL, NAN, "< 0.25",
								share < 0.25, NULL));
			}
		}
		if (json_array_size(rows) > 0)
			json_object_set(json_array_get(rows, 0), "detail", detail);
		if (bench_rows_write(rows, out) < 0)
			rc = 1;
	} else {
		fprintf(stderr, "bench_probe_cost: %s\n", err.msg[0] ? err.msg : "failed");
	}
	json_decref(rows);
	json_decref(detail);
	curl_global_cleanup();
	return rc;
}
