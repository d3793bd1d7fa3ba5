/*
 * bench_inject: injection latency of the local injectors, from the
 * scheduled instant to the fault in effect, journal commit included.
 *
 * Each injection is scheduled 2 ms ahead on CLOCK_MONOTONIC and then done
 * the way the runner does it (sim/runner.c fault_inject): wake up, prepare()
 * the revert record, fl_journal_begin() into a real store (SQLite, WAL,
 * synchronous=FULL, on the work directory's disk), inject(). "In effect"
 * is observed, not assumed:
 *   process STOP  the victim (our child) is seen stopped by waitid(WSTOPPED)
 *   process KILL  the victim is seen dead by waitid(WEXITED)
 *   file flip     inject() returned after pwrite + fsync, and pread sees the
 *                 flipped bytes
 * Every fault is reverted through the injector and its journal row closed
 * before the next one. The peer is what a hand-made drill does: spawn
 * kill(1), or dd(1) with conv=notrunc,fsync, with no journal at all.
 *
 * Usage: bench_inject --dir WORKDIR [--count N] [--out FILE]
 * Prints a table to stderr and JSON rows for ci/bench.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "injectors/injector.h"
#include "core/store.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/clock.h"
#include "core/spawn.h"

#define LEAD_NS (2 * FL_NS_PER_MS)
#define VICTIM_SIZE (1 << 20)
#define NPARTS 5

static const char *const part_names[NPARTS] = { "wake", "prepare", "journal", "inject", "observe" };

struct series {
	const char *name;
	struct bench_dist total;           /* ms */
	struct bench_dist part[NPARTS];    /* ms */
	long failures;
};

static void series_init(struct series *s, const char *name)
{
	memset(s, 0, sizeof(*s));
	s->name = name;
	bench_dist_init(&s->total);
	for (int i = 0; i < NPARTS; i++)
		bench_dist_init(&s->part[i]);
}

static void series_release(struct series *s)
{
	bench_dist_release(&s->total);
	for (int i = 0; i < NPARTS; i++)
		bench_dist_release(&s->part[i]);
}

/* t[0] = scheduled, t[1..5] = after wake, prepare, journal, inject, observe. */
static void series_add(struct series *s, const int64_t *t)
{
	bench_dist_add(&s->total, (double)(t[5] - t[0]) / 1e6);
	for (int i = 0; i < NPARTS; i++)
		bench_dist_add(&s->part[i], (double)(t[i + 1] - t[i]) / 1e6);
}

static int64_t wait_until(int64_t t)
{
	struct timespec ts = { (time_t)(t / FL_NS_PER_S), (long)(t % FL_NS_PER_S) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	return fl_now_ns();
}

/* ---- the victim process ----------------------------------------------------- */

static pid_t victim_start(const char *pidfile)
{
	pid_t pid = fork();
	FILE *f;
	if (pid == 0) {
		/* Bounded: a victim orphaned by a crashed benchmark goes away. */
		alarm(600);
		for (;;)
			pause();
	}
	if (pid < 0)
		return -1;
	f = fopen(pidfile, "w");
	if (!f || fprintf(f, "%d\n", (int)pid) < 0 || fclose(f) != 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

/* Waits for the victim to reach `how` (WSTOPPED, WEXITED or WCONTINUED).
 * 0 or -1. */
static int victim_wait(pid_t pid, int how)
{
	siginfo_t info;
	memset(&info, 0, sizeof(info));
	while (waitid(P_PID, (id_t)pid, &info, how) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* ---- one injection the runner's way ------------------------------------------ */

struct victim {
	const struct fl_injector_ops *ops;
	struct fl_fault_spec fault;
	struct fl_target target;
	pid_t pid;               /* process victims */
	const char *pidfile;
	int observe;             /* WSTOPPED, WEXITED, or 0 for files */
};

/* Reads back the regions the file injector wrote and checks they hold what
 * it meant to write: the fault is in effect. 0 or -1. */
static int file_observe(const json_t *rec)
{
	const char *path = json_string_value(json_object_get(rec, "path"));
	json_t *regions = json_object_get(rec, "regions"), *r;
	size_t i;
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1, rc = 0;
	if (fd < 0)
		return -1;
	json_array_foreach(regions, i, r) {
		const char *hex = json_string_value(json_object_get(r, "written"));
		off_t off = (off_t)json_integer_value(json_object_get(r, "offset"));
		unsigned char b;
		unsigned v;
		if (!hex || sscanf(hex, "%2x", &v) != 1 || pread(fd, &b, 1, off) != 1 || b != v) {
			rc = -1;
			break;
		}
	}
	close(fd);
	return rc;
}

static int inject_once(struct fl_store *st, struct victim *v, struct series *s, struct fl_error *err)
{
	int64_t t[6], id = 0;
	json_t *rec = NULL;
	char *desc = NULL;
	int rc = -1;

	desc = v->ops->describe(&v->fault, &v->target);
	t[0] = fl_now_ns() + LEAD_NS;
	t[1] = wait_until(t[0]);
	rec = v->ops->prepare(&v->fault, &v->target, err);
	t[2] = fl_now_ns();
	if (!rec)
		goto out;
	if (fl_journal_begin(st, 0, v->ops->name, v->target.name, desc, rec, &id, err) < 0)
		goto out;
	t[3] = fl_now_ns();
	if (v->ops->inject(&v->fault, &v->target, rec, err) < 0)
		goto out;
	t[4] = fl_now_ns();
	if (v->observe ? victim_wait(v->pid, v->observe) < 0 : file_observe(rec) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: fault not observed in effect", v->fault.name);
		goto out;
	}
	t[5] = fl_now_ns();
	series_add(s, t);
	if (fl_journal_mark(st, id, FL_JOURNAL_INJECTED, rec, NULL, err) < 0)
		goto out;
	/* Revert through the injector, as the runner would. A killed victim
	 * is replaced first (we are its supervisor), so revert finds it
	 * running again instead of waiting out its grace period. */
	if (v->observe == WEXITED && (v->pid = victim_start(v->pidfile)) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "cannot restart the victim");
		goto out;
	}
	if (v->ops->revert(rec, err) < 0)
		goto out;
	if (v->observe == WSTOPPED && victim_wait(v->pid, WCONTINUED) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "victim not continued after revert");
		goto out;
	}
	if (fl_journal_mark(st, id, FL_JOURNAL_REVERTED, rec, NULL, err) < 0)
		goto out;
	rc = 0;
out:
	if (rc)
		s->failures++;
	json_decref(rec);
	fl_free(desc);
	return rc;
}

/* ---- the peers: spawn kill(1) or dd(1) ---------------------------------------- */

static int peer_kill_once(pid_t pid, struct series *s, struct fl_error *err)
{
	char pidbuf[32];
	const char *argv[] = { "kill", "-STOP", pidbuf, NULL };
	int64_t t[6];
	int status = 0;
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid);
	t[0] = fl_now_ns() + LEAD_NS;
	t[1] = t[2] = t[3] = wait_until(t[0]);
	if (fl_run_argv(argv, 5 * FL_NS_PER_S, NULL, &status, NULL, err) < 0)
		return -1;
	t[4] = fl_now_ns();
	if (victim_wait(pid, WSTOPPED) < 0)
		return fl_error_set(err, FL_EXIT_ENV, "kill -STOP not observed");
	t[5] = fl_now_ns();
	series_add(s, t);
	kill(pid, SIGCONT);
	return victim_wait(pid, WCONTINUED);
}

static int peer_dd_once(const char *path, const char *patch, long off, struct series *s,
			struct fl_error *err)
{
	char of[4200], iff[4200], seek[64];
	const char *argv[] = { "dd", iff, of, "bs=1", seek, "conv=notrunc,fsync", "status=none", NULL };
	unsigned char orig[4], now[4];
	int64_t t[6];
	int status = 0, fd, rc = -1;

	snprintf(of, sizeof(of), "of=%s", path);
	snprintf(iff, sizeof(iff), "if=%s", patch);
	snprintf(seek, sizeof(seek), "seek=%ld", off);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || pread(fd, orig, 4, off) != 4)
		goto out;
	t[0] = fl_now_ns() + LEAD_NS;
	t[1] = t[2] = t[3] = wait_until(t[0]);
	if (fl_run_argv(argv, 5 * FL_NS_PER_S, NULL, &status, NULL, err) < 0)
		goto out;
	t[4] = fl_now_ns();
	if (pread(fd, now, 4, off) != 4 || memcmp(now, orig, 4) == 0) {
		fl_error_set(err, FL_EXIT_ENV, "dd: bytes not changed");
		goto out;
	}
	t[5] = fl_now_ns();
	series_add(s, t);
	if (pwrite(fd, orig, 4, off) != 4 || fsync(fd) < 0)
		goto out;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc)
		s->failures++;
	return rc;
}

/* ---- report ------------------------------------------------------------------ */

static json_t *series_json(struct series *s, struct bench_summary *tot)
{
	json_t *parts = json_object();
	struct bench_summary ps;
	bench_dist_summarize(&s->total, tot);
	fprintf(stderr, "  %-40s %5zu %8.3f %8.3f %8.3f  ", s->name, tot->n, tot->median, tot->p99, tot->max);
	for (int i = 0; i < NPARTS; i++) {
		bench_dist_summarize(&s->part[i], &ps);
		json_object_set_new(parts, part_names[i], bench_summary_json(&ps));
		fprintf(stderr, " %s %.3f/%.3f", part_names[i], ps.median, ps.p99);
	}
	fputc('\n', stderr);
	return json_pack("{s:s, s:o, s:o, s:I}", "series", s->name, "total_ms", bench_summary_json(tot),
			 "parts_ms", parts, "failures", (json_int_t)s->failures);
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *out = "-";
	long count = 500;
	char dbpath[4096], pidfile[4096], datpath[4096], patch[4096];
	struct fl_error err;
	struct fl_store *st = NULL;
	struct series ser[5];
	struct victim stopv, killv, filev;
	json_t *params_stop = NULL, *params_kill = NULL, *params_file = NULL;
	json_t *rows = json_array(), *detail = json_array();
	struct bench_summary sum[5];
	unsigned char *buf = NULL;
	int rc = 1;
	FILE *f;

	fl_error_init(&err);
	fl_alloc_install_jansson();
	memset(&stopv, 0, sizeof(stopv));
	memset(&killv, 0, sizeof(killv));
	memset(&filev, 0, sizeof(filev));
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--dir"))
			dir = argv[i + 1];
		else if (!strcmp(argv[i], "--out"))
			out = argv[i + 1];
		else if (!strcmp(argv[i], "--count") && fl_parse_long(argv[i + 1], 1, 100000, &count) == 0)
			continue;
		else
			dir = NULL, i = argc;
	}
	if (!dir || argc % 2 == 0) {
		fprintf(stderr, "usage: bench_inject --dir WORKDIR [--count N] [--out FILE]\n");
		return 2;
	}
	series_init(&ser[0], "faultline process STOP (journal incl.)");
	series_init(&ser[1], "faultline process KILL (journal incl.)");
	series_init(&ser[2], "faultline file flip+fsync (journal incl.)");
	series_init(&ser[3], "peer: spawn kill -STOP (no journal)");
	series_init(&ser[4], "peer: spawn dd conv=fsync (no journal)");

	snprintf(dbpath, sizeof(dbpath), "%s/inject.db", dir);
	snprintf(pidfile, sizeof(pidfile), "%s/victim.pid", dir);
	snprintf(datpath, sizeof(datpath), "%s/victim.dat", dir);
	snprintf(patch, sizeof(patch), "%s/patch.bin", dir);
	unlink(dbpath);
	st = fl_store_open(dbpath, &err);
	if (!st)
		goto out;
	/* The file victim: 1 MiB of a known pattern, on disk. */
	buf = fl_malloc(VICTIM_SIZE);
	f = fopen(datpath, "w");
	if (!buf || !f) {
		if (f)
			fclose(f);
		fl_error_set(&err, FL_EXIT_ENV, "%s: cannot create", datpath);
		goto out;
	}
	for (size_t i = 0; i < VICTIM_SIZE; i++)
		buf[i] = (unsigned char)(i * 31 + 7);
	if (fwrite(buf, 1, VICTIM_SIZE, f) != VICTIM_SIZE || fflush(f) != 0 || fsync(fileno(f)) < 0) {
		fclose(f);
		fl_error_set(&err, FL_EXIT_ENV, "%s: cannot write", datpath);
		goto out;
	}
	fclose(f);
	f = fopen(patch, "w");
	if (!f || fwrite("\xde\xad\xbe\xef", 1, 4, f) != 4 || fclose(f) != 0) {
		fl_error_set(&err, FL_EXIT_ENV, "%s: cannot write", patch);
		goto out;
	}

	params_stop = json_pack("{s:s}", "signal", "STOP");
	params_kill = json_pack("{s:s}", "signal", "KILL");
	params_file = json_pack("{s:s, s:i, s:i}", "mode", "flip", "count", 4, "seed", 1);
	stopv.ops = killv.ops = fl_injector_find("process");
	filev.ops = fl_injector_find("file");
	if (!stopv.ops || !filev.ops || !params_stop || !params_kill || !params_file) {
		fl_error_set(&err, FL_EXIT_ENV, "process or file injector not registered");
		goto out;
	}
	stopv.fault = (struct fl_fault_spec){ .name = "stop", .injector = "process", .target = "victim",
					      .params = params_stop };
	killv.fault = (struct fl_fault_spec){ .name = "kill", .injector = "process", .target = "victim",
					      .params = params_kill };
	filev.fault = (struct fl_fault_spec){ .name = "flip", .injector = "file", .target = "data",
					      .params = params_file };
	stopv.target = (struct fl_target){ .name = "victim", .kind = FL_TARGET_PROCESS, .pidfile = pidfile };
	killv.target = stopv.target;
	filev.target = (struct fl_target){ .name = "data", .kind = FL_TARGET_FILE, .path = datpath };
	stopv.pidfile = killv.pidfile = pidfile;
	stopv.observe = WSTOPPED;
	killv.observe = WEXITED;

	fprintf(stderr, "injection: %ld injections per injector, scheduled %d ms ahead; peers %ld\n", count,
		(int)(LEAD_NS / FL_NS_PER_MS), count / 5 > 0 ? count / 5 : 1);
	stopv.pid = victim_start(pidfile);
	if (stopv.pid < 0) {
		fl_error_set(&err, FL_EXIT_ENV, "cannot start the victim");
		goto out;
	}
	for (long i = 0; i < count; i++)
		if (inject_once(st, &stopv, &ser[0], &err) < 0)
			goto out;
	for (long i = 0; i < (count / 5 > 0 ? count / 5 : 1); i++)
		if (peer_kill_once(stopv.pid, &ser[3], &err) < 0)
			goto out;
	kill(stopv.pid, SIGKILL);
	victim_wait(stopv.pid, WEXITED);
	stopv.pid = 0;
	killv.pid = victim_start(pidfile);
	if (killv.pid < 0) {
		fl_error_set(&err, FL_EXIT_ENV, "cannot start the victim");
		goto out;
	}
	for (long i = 0; i < count; i++)
		if (inject_once(st, &killv, &ser[1], &err) < 0)
			goto out;
	for (long i = 0; i < count; i++)
		if (inject_once(st, &filev, &ser[2], &err) < 0)
			goto out;
	for (long i = 0; i < (count / 5 > 0 ? count / 5 : 1); i++)
		if (peer_dd_once(datpath, patch, (i * 4099) % (VICTIM_SIZE - 4), &ser[4], &err) < 0)
			goto out;
	rc = 0;
out:
	if (rc == 0) {
		fprintf(stderr, "\n  %-40s %5s %8s %8s %8s   parts median/p99 ms\n", "series (ms)", "n", "median",
			"p99", "max");
		for (int i = 0; i < 5; i++)
			json_array_append_new(detail, series_json(&ser[i], &sum[i]));
		json_array_append_new(rows, bench_row("injection", "process SIGSTOP: scheduled -> stopped, p99",
						      "ms", sum[0].p99, "spawn kill -STOP", sum[3].p99,
						      "< 2 ms", sum[0].p99 < 2, json_incref(detail)));
		json_array_append_new(rows, bench_row("injection", "process SIGSTOP: median", "ms",
						      sum[0].median, "spawn kill -STOP", sum[3].median,
						      NULL, -1, NULL));
		json_array_append_new(rows, bench_row("injection", "process SIGKILL: scheduled -> dead, p99",
						      "ms", sum[1].p99, NULL, NAN, "< 2 ms", sum[1].p99 < 2,
						      NULL));
		json_array_append_new(rows, bench_row("injection", "process SIGKILL: median", "ms",
						      sum[1].median, NULL, NAN, NULL, -1, NULL));
		json_array_append_new(rows, bench_row("injection", "file flip+fsync: scheduled -> on disk, p99",
						      "ms", sum[2].p99, "spawn dd conv=fsync", sum[4].p99,
						      "< 2 ms", sum[2].p99 < 2, NULL));
		json_array_append_new(rows, bench_row("injection", "file flip+fsync: median", "ms",
						      sum[2].median, "spawn dd conv=fsync", sum[4].median,
						      NULL, -1, NULL));
		if (bench_rows_write(rows, out) < 0)
			rc = 1;
	} else {
		fprintf(stderr, "bench_inject: %s\n", err.msg[0] ? err.msg : "failed");
	}
	if (stopv.pid > 0) {
		kill(stopv.pid, SIGKILL);
		victim_wait(stopv.pid, WEXITED);
	}
	if (killv.pid > 0) {
		kill(killv.pid, SIGKILL);
		victim_wait(killv.pid, WEXITED);
	}
	for (int i = 0; i < 5; i++)
		series_release(&ser[i]);
	json_decref(params_stop);
	json_decref(params_kill);
	json_decref(params_file);
	json_decref(rows);
	json_decref(detail);
	fl_free(buf);
	fl_store_close(st);
	return rc;
}
