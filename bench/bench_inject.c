/*
 * bench_inject: injection latency of the local injectors, from the
 * scheduled instant to the fault in effect, journal commit included.
 *
 * Each injection is scheduled 2 ms ahead on CLOCK_MONOTONIC and done one of
 * two ways into a real store (SQLite, WAL, synchronous=FULL, on the work
 * directory's disk):
 *   armed    the runner's way (sim/runner.c fault_arm/fault_inject):
 *            prepare() the revert record and fl_journal_arm() it (durable,
 *            an fsync) BEFORE the instant; at the instant wake up and
 *            inject(); once in effect, fl_journal_mark(INJECTED), which
 *            commits without an fsync (core/journal.h).
 *   pending  the old way: wake up, prepare(), fl_journal_begin() (an fsync
 *            between the instant and the fault), inject().
 * Both run on a quiet machine and under a background load the benchmark
 * starts itself, bounded in time and disk: one busy-looping process per CPU
 * and one writer that rewrites a 64 MiB file in 1 MiB blocks, fsync after
 * each (what other drills, backups and databases on a shared CI runner do
 * to the journal's fsync). The load is recorded with the rows. "In effect"
 * is observed, not assumed:
 *   process STOP, KILL  the victim (our child) is a WORKING process: it
 *       spins stamping fl_now_ns() (CLOCK_MONOTONIC) into a MAP_SHARED
 *       page. After kill() returns a stopped or killed victim never runs
 *       another user instruction (a running one is kicked by an IPI within
 *       microseconds). Once waitid() confirms it stopped or died, its last
 *       stamp is the last work it did, and the effect instant is
 *       E = max(last stamp, t0), t0 being read right after inject() (so
 *       after kill() returned). waitid's own lag (the kernel's bookkeeping,
 *       late when the victim waits for a CPU) is kept as the "observe" part.
 *       Whether the victim ever worked past t0 is measured: the max of
 *       last stamp - t0, and how often it was running during the call.
 *   file flip  inject() returned after the pwrite (the page cache: in
 *       effect for every reader), and pread sees the flipped bytes; the
 *       fsync is the injector's settle(), after t0, timed apart.
 * Every fault is reverted through the injector and its journal row closed
 * before the next one. The peer is what a hand-made drill does: spawn
 * kill(1) at the same working victim (its t0: the spawn returned), or
 * dd(1) with conv=notrunc (its write in the page cache, as faultline's),
 * with no journal at all, woken by a plain clock_nanosleep. Every series,
 * the peers' included, runs --count injections.
 *
 * The instant is kept as the runner keeps it (sim/faults.c): the thread is
 * raised with fl_instant_enter (core/clock.h: SCHED_FIFO and locked memory
 * when permitted, the policy in effect recorded with the rows), sleeps to
 * 200 us before the instant and spins the rest (fl_instant_wait). --instant
 * picks another way, to compare: plain (a clock_nanosleep, as before),
 * spin (no raise), fifo (no spin, no lock), fifo+spin (no lock), default.
 * The bench keeps the raise while it observes the effect (the runner drops
 * it right after inject(): it does not observe), so that the observer's own
 * wake-up is not counted as the fault's.
 *
 * Usage: bench_inject --dir WORKDIR [--count N] [--load-cpus N]
 *                     [--instant MODE] [--out FILE]
 * Prints a table to stderr and JSON rows for ci/bench.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
#define NPARTS 6
#define NSERIES 11
#define VICTIM_WORKING_NS (5 * FL_NS_PER_S) /* a victim must work again within this */
#define LOAD_BLOCK (1 << 20)
#define LOAD_FILE_BLOCKS 64
#define LOAD_MAX_SECONDS 600 /* every load process ends itself by then */

static const char *const part_names[NPARTS] = { "wake",   "prepare", "journal",
						"inject", "observe", "settle" };

/* The victim's stamp: the last CLOCK_MONOTONIC reading it wrote (shared). */
static volatile int64_t *victim_stamp;

struct series {
	const char *name;
	struct bench_dist total;        /* ms, scheduled -> in effect */
	struct bench_dist to_t0;        /* ms, scheduled -> inject() returned (the runner's t0) */
	struct bench_dist placement;    /* ms, |t0 - in effect| */
	struct bench_dist part[NPARTS]; /* ms */
	long failures;
	/* Process victims: did it work past t0? */
	long stamped, running;  /* injections measured; victim stamped during inject() */
	double after_t0_max_us; /* max(last stamp - t0), -inf until one */
};

static void series_init(struct series *s, const char *name)
{
	memset(s, 0, sizeof(*s));
	s->name = name;
	bench_dist_init(&s->total);
	bench_dist_init(&s->to_t0);
	bench_dist_init(&s->placement);
	s->after_t0_max_us = -INFINITY;
	for (int i = 0; i < NPARTS; i++)
		bench_dist_init(&s->part[i]);
}

static void series_release(struct series *s)
{
	bench_dist_release(&s->total);
	bench_dist_release(&s->to_t0);
	bench_dist_release(&s->placement);
	for (int i = 0; i < NPARTS; i++)
		bench_dist_release(&s->part[i]);
}

/* t[0] = scheduled, t[1..6] = after wake, prepare, journal, inject (t0),
 * observe, settle. The effect instant: a process victim's
 * max(last stamp, t0) (stamp >= 0), else the read-back (t[5]). */
static void series_add(struct series *s, const int64_t *t, int64_t stamp)
{
	int64_t effect = t[5], placed = t[5] - t[4];
	if (stamp >= 0) {
		/* kill() returned within [t[3], t[4]]: E = max(stamp, that) is
		 * taken at its latest (t0), and |t0 - E| at its widest: stamp - t0
		 * when the victim worked past t0, else t0 - max(stamp, t[3]). */
		effect = stamp > t[4] ? stamp : t[4];
		placed = stamp > t[4] ? stamp - t[4] : t[4] - (stamp > t[3] ? stamp : t[3]);
		s->stamped++;
		s->running += stamp >= t[3];
		if ((double)(stamp - t[4]) / 1e3 > s->after_t0_max_us)
			s->after_t0_max_us = (double)(stamp - t[4]) / 1e3;
	}
	bench_dist_add(&s->total, (double)(effect - t[0]) / 1e6);
	bench_dist_add(&s->to_t0, (double)(t[4] - t[0]) / 1e6);
	bench_dist_add(&s->placement, (double)placed / 1e6);
	for (int i = 0; i < NPARTS; i++)
		bench_dist_add(&s->part[i], (double)(t[i + 1] - t[i]) / 1e6);
}

/* How the instant is kept (--instant); FL_INSTANT_DEFAULT as the runner. */
static unsigned instant_flags = FL_INSTANT_DEFAULT;
static const char *instant_mode = "default";
static char instant_policy[160]; /* what the first raised injection got */

static const struct {
	const char *name;
	unsigned flags;
} instant_modes[] = {
	{ "plain", 0 },
	{ "spin", FL_INSTANT_SPIN },
	{ "fifo", FL_INSTANT_RAISE },
	{ "fifo+spin", FL_INSTANT_RAISE | FL_INSTANT_SPIN },
	{ "default", FL_INSTANT_DEFAULT },
};

static int instant_mode_set(const char *name)
{
	for (size_t i = 0; i < FL_ARRAY_LEN(instant_modes); i++)
		if (!strcmp(name, instant_modes[i].name)) {
			instant_flags = instant_modes[i].flags;
			instant_mode = instant_modes[i].name;
			return 0;
		}
	return -1;
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
			*victim_stamp = fl_now_ns(); /* the work: a stamp per turn */
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

/* Waits (bounded) until the victim stamps again: it is running, working,
 * before the instant. 0, or -1 when it did not within VICTIM_WORKING_NS. */
static int victim_working(void)
{
	int64_t before = *victim_stamp, deadline = fl_now_ns() + VICTIM_WORKING_NS;
	struct timespec slice = { 0, 100 * 1000 };
	while (*victim_stamp == before) {
		if (fl_now_ns() > deadline)
			return -1;
		nanosleep(&slice, NULL);
	}
	return 0;
}

/* Spins (at SCHED_OTHER, at most 1 s) until the victim's stamp is under
 * 5 us old: it is on a CPU, working, now. 0 or -1. */
static int victim_running_now(void)
{
	int64_t deadline = fl_now_ns() + FL_NS_PER_S, now;
	do {
		now = fl_now_ns();
		if (now - *victim_stamp < 5000)
			return 0;
	} while (now < deadline);
	return -1;
}

/* ---- one injection the runner's way ------------------------------------------ */

/* inject_once's ways: the old one, the runner's, and the runner's at the
 * moment the victim is seen running (the test of "no work after t0"). */
enum { PENDING, ARMED, ARMED_WHEN_RUNNING };

struct victim {
	const struct fl_injector_ops *ops;
	struct fl_fault_spec fault;
	struct fl_target target;
	pid_t pid; /* process victims */
	const char *pidfile;
	int observe; /* WSTOPPED, WEXITED, or 0 for files */
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

/* Sets *scheduled and reaches it: the instant kept as --instant says, or
 * (ARMED_WHEN_RUNNING) no instant: the moment the victim is seen working,
 * at SCHED_OTHER. 0, or -1 with err set. */
static int instant_reach(const struct victim *v, int how, struct fl_instant *in, int64_t *scheduled,
			 struct fl_error *err)
{
	if (how == ARMED_WHEN_RUNNING) {
		if (victim_running_now() < 0)
			return fl_error_set(err, FL_EXIT_ENV, "%s: the victim is not running",
					    v->fault.name);
		*scheduled = fl_now_ns();
		return 0;
	}
	*scheduled = fl_now_ns() + LEAD_NS;
	fl_instant_enter(in, instant_flags);
	if (!instant_policy[0])
		snprintf(instant_policy, sizeof(instant_policy), "%s", in->policy);
	fl_instant_wait(in, *scheduled, NULL);
	return 0;
}

/* One injection; armed: journaled ahead of the instant (the runner's way),
 * else journaled at the instant (pending, the old way). */
static int inject_once(struct fl_store *st, struct victim *v, struct series *s, int armed,
		       struct fl_error *err)
{
	int64_t t[7], id = 0, stamp = -1;
	struct fl_instant in;
	json_t *rec = NULL;
	char *desc = NULL;
	int rc = -1;

	memset(&in, 0, sizeof(in));
	if (v->observe && victim_working() < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: the victim is not working", v->fault.name);
		goto out;
	}

	desc = v->ops->describe(&v->fault, &v->target);
	if (armed != PENDING) {
		rec = v->ops->prepare(&v->fault, &v->target, err);
		if (!rec ||
		    fl_journal_arm(st, 0, v->ops->name, v->target.name, desc, rec, &id, err) < 0)
			goto out;
	}
	if (instant_reach(v, armed, &in, &t[0], err) < 0)
		goto out;
	t[1] = fl_now_ns();
	if (armed == PENDING) {
		rec = v->ops->prepare(&v->fault, &v->target, err);
		if (!rec)
			goto out;
	}
	t[2] = fl_now_ns();
	if (armed == PENDING &&
	    fl_journal_begin(st, 0, v->ops->name, v->target.name, desc, rec, &id, err) < 0)
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
	if (v->observe)
		stamp = *victim_stamp; /* stopped or dead: its last work */
	fl_instant_leave(&in);
	/* As the runner: settle (the file's fsync) after t0 and the instant;
	 * the settle part is the call alone, not the leave before it. */
	t[6] = fl_now_ns();
	if (v->ops->settle && v->ops->settle(&v->fault, &v->target, rec, err) < 0)
		goto out;
	t[6] = t[5] + (fl_now_ns() - t[6]);
	series_add(s, t, stamp);
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
	fl_instant_leave(&in);
	if (rc)
		s->failures++;
	json_decref(rec);
	fl_free(desc);
	return rc;
}

/* ---- the background load -------------------------------------------------------- */

struct load {
	pid_t cpu[64];
	int ncpu;
	pid_t disk;
	volatile long *fsyncs; /* shared with the writer: blocks written and fsynced */
	int64_t t_start, t_stop;
	long fsyncs_done;
	char loadavg_start[64], loadavg_stop[64]; /* /proc/loadavg: the other users too */
};

/* The first three fields of /proc/loadavg ("" when unreadable). */
static void loadavg_read(char *buf, size_t n)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double a, b, c;
	buf[0] = '\0';
	if (f && fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3)
		snprintf(buf, n, "%.2f %.2f %.2f", a, b, c);
	if (f)
		fclose(f);
}

static void load_cpu_child(void)
{
	volatile unsigned long x = 0;
	alarm(LOAD_MAX_SECONDS);
	for (;;)
		x = x * 6364136223846793005UL + 1442695040888963407UL;
}

static void load_disk_child(const char *path, volatile long *fsyncs)
{
	static unsigned char block[LOAD_BLOCK];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	alarm(LOAD_MAX_SECONDS);
	if (fd < 0)
		_exit(1);
	memset(block, 0x5a, sizeof(block));
	for (long i = 0;; i++) {
		off_t off = (off_t)(i % LOAD_FILE_BLOCKS) * LOAD_BLOCK;
		if (pwrite(fd, block, sizeof(block), off) != (ssize_t)sizeof(block) || fsync(fd) < 0)
			_exit(1);
		(*fsyncs)++;
	}
}

/* Starts ncpu spinners and one fsync writer in dir. 0 or -1. */
static int load_start(struct load *l, const char *dir, int ncpu, struct fl_error *err)
{
	char path[4200];
	memset(l, 0, sizeof(*l));
	l->fsyncs =
		mmap(NULL, sizeof(long), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (l->fsyncs == MAP_FAILED) {
		l->fsyncs = NULL;
		return fl_error_set(err, FL_EXIT_ENV, "load: mmap failed");
	}
	snprintf(path, sizeof(path), "%s/load.dat", dir);
	fflush(NULL);
	for (l->ncpu = 0; l->ncpu < ncpu && l->ncpu < (int)FL_ARRAY_LEN(l->cpu); l->ncpu++) {
		pid_t pid = fork();
		if (pid < 0)
			return fl_error_set(err, FL_EXIT_ENV, "load: fork failed");
		if (pid == 0)
			load_cpu_child();
		l->cpu[l->ncpu] = pid;
	}
	l->disk = fork();
	if (l->disk < 0)
		return fl_error_set(err, FL_EXIT_ENV, "load: fork failed");
	if (l->disk == 0)
		load_disk_child(path, l->fsyncs);
	l->t_start = fl_now_ns();
	loadavg_read(l->loadavg_start, sizeof(l->loadavg_start));
	return 0;
}

static void load_stop(struct load *l, const char *dir)
{
	char path[4200];
	for (int i = 0; i < l->ncpu; i++) {
		kill(l->cpu[i], SIGKILL);
		waitpid(l->cpu[i], NULL, 0);
	}
	l->ncpu = 0;
	if (l->disk > 0) {
		kill(l->disk, SIGKILL);
		waitpid(l->disk, NULL, 0);
		l->disk = 0;
	}
	if (l->fsyncs) {
		l->fsyncs_done = *l->fsyncs;
		munmap((void *)(uintptr_t)l->fsyncs, sizeof(long));
		l->fsyncs = NULL;
	}
	if (!l->t_stop) {
		l->t_stop = fl_now_ns();
		loadavg_read(l->loadavg_stop, sizeof(l->loadavg_stop));
	}
	snprintf(path, sizeof(path), "%s/load.dat", dir);
	unlink(path);
}

static json_t *load_json(const struct load *l, int ncpu)
{
	double secs = (double)(l->t_stop - l->t_start) / 1e9;
	return json_pack("{s:i, s:s, s:i, s:f, s:I, s:o, s:s, s:s}", "cpu_spinners", ncpu,
			 "disk_writer", "1 MiB pwrite + fsync, 64 MiB file rewritten",
			 "cpus_online", (int)sysconf(_SC_NPROCESSORS_ONLN), "seconds", secs,
			 "writer_fsyncs", (json_int_t)l->fsyncs_done, "writer_fsyncs_per_s",
			 bench_real(secs > 0 ? (double)l->fsyncs_done / secs : NAN),
			 "loadavg_start", l->loadavg_start, "loadavg_stop", l->loadavg_stop);
}

/* ---- the peers: spawn kill(1) or dd(1) ---------------------------------------- */

static int peer_kill_once(pid_t pid, struct series *s, struct fl_error *err)
{
	char pidbuf[32];
	const char *argv[] = { "kill", "-STOP", pidbuf, NULL };
	int64_t t[7];
	int status = 0;
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid);
	if (victim_working() < 0)
		return fl_error_set(err, FL_EXIT_ENV, "kill -STOP: the victim is not working");
	t[0] = fl_now_ns() + LEAD_NS;
	t[1] = t[2] = t[3] = wait_until(t[0]);
	if (fl_run_argv(argv, 5 * FL_NS_PER_S, NULL, &status, NULL, err) < 0)
		return -1;
	t[4] = fl_now_ns();
	if (victim_wait(pid, WSTOPPED) < 0)
		return fl_error_set(err, FL_EXIT_ENV, "kill -STOP not observed");
	t[6] = t[5] = fl_now_ns();
	/* The peer's t0 is when its kill(1) exited: kill() returned before. */
	series_add(s, t, *victim_stamp);
	kill(pid, SIGCONT);
	return victim_wait(pid, WCONTINUED);
}

static int peer_dd_once(const char *path, const char *patch, long off, struct series *s,
			struct fl_error *err)
{
	char of[4200], iff[4200], seek[64];
	const char *argv[] = { "dd", iff, of, "bs=1", seek, "conv=notrunc", "status=none", NULL };
	unsigned char orig[4], now[4];
	int64_t t[7];
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
	t[6] = t[5] = fl_now_ns();
	series_add(s, t, -1);
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
	fprintf(stderr, "  %-44s %5zu %8.3f %8.3f %8.3f  ", s->name, tot->n, tot->median, tot->p99,
		tot->max);
	for (int i = 0; i < NPARTS; i++) {
		bench_dist_summarize(&s->part[i], &ps);
		json_object_set_new(parts, part_names[i], bench_summary_json(&ps));
		fprintf(stderr, " %s %.3f/%.3f", part_names[i], ps.median, ps.p99);
	}
	fputc('\n', stderr);
	if (s->stamped)
		fprintf(stderr,
			"  %-44s victim ran during the call in %ld of %ld; last work - t0 max %.1f us\n",
			"", s->running, s->stamped, s->after_t0_max_us);
	return json_pack("{s:s, s:o, s:o, s:I, s:o}", "series", s->name, "total_ms",
			 bench_summary_json(tot), "parts_ms", parts, "failures",
			 (json_int_t)s->failures, "victim",
			 s->stamped ? json_pack("{s:I, s:I, s:o}", "measured",
						(json_int_t)s->stamped, "running_during_inject",
						(json_int_t)s->running, "last_work_after_t0_max_us",
						bench_real(s->after_t0_max_us))
				    : json_null());
}

/* The series, in the order they are measured and printed. */
enum {
	S_QUIET_STOP_ARMED,
	S_QUIET_STOP_PENDING,
	S_STOP_ARMED,
	S_STOP_PENDING,
	S_KILL_ARMED,
	S_FILE_ARMED,
	S_FILE_PENDING,
	S_PEER_KILL,
	S_PEER_DD,
	S_RUN_STOP,
	S_RUN_KILL,
};

static const char *const series_names[NSERIES] = {
	[S_QUIET_STOP_ARMED] = "quiet: process STOP, armed (new)",
	[S_QUIET_STOP_PENDING] = "quiet: process STOP, pending (old)",
	[S_STOP_ARMED] = "load: process STOP, armed (new)",
	[S_STOP_PENDING] = "load: process STOP, pending (old)",
	[S_KILL_ARMED] = "load: process KILL, armed (new)",
	[S_FILE_ARMED] = "load: file flip (fsync in settle), armed (new)",
	[S_FILE_PENDING] = "load: file flip (fsync in settle), pending (old)",
	[S_PEER_KILL] = "load: peer spawn kill -STOP (no journal)",
	[S_PEER_DD] = "load: peer spawn dd conv=notrunc (no journal)",
	[S_RUN_STOP] = "load: process STOP as the victim runs (check)",
	[S_RUN_KILL] = "load: process KILL as the victim runs (check)",
};

struct bench {
	const char *dir;
	long count, npeer;
	int load_cpus;
	struct fl_store *st;
	struct series ser[NSERIES];
	struct victim stopv, killv, filev;
	char pidfile[4096], datpath[4096], patch[4096];
	struct load load;
};

/* The armed and the old path alternate run by run, so both see the same load. */
static int measure_pair(struct bench *b, struct victim *v, int armed_series, int pending_series,
			long n, struct fl_error *err)
{
	fprintf(stderr, "injection: %s%s%s\n", series_names[armed_series],
		pending_series >= 0 ? " and " : "",
		pending_series >= 0 ? series_names[pending_series] : "");
	for (long i = 0; i < n; i++) {
		if (inject_once(b->st, v, &b->ser[armed_series], ARMED, err) < 0)
			return -1;
		if (pending_series >= 0 &&
		    inject_once(b->st, v, &b->ser[pending_series], PENDING, err) < 0)
			return -1;
	}
	return 0;
}

/* The check of "no work after t0": injections the moment the victim is
 * seen running, so that kill() meets it on a CPU. */
static int measure_running(struct bench *b, struct victim *v, int series, long n, struct fl_error *err)
{
	int last = (int)sysconf(_SC_NPROCESSORS_ONLN) - 1, rc = 0;
	cpu_set_t mine, one;
	/* The injector on CPU 0, the victim on the last one: sharing one CPU,
	 * the injector could never see the victim running. A KILL victim is
	 * restarted after each injection, so it is pinned before each. */
	if (last < 1)
		return fl_error_set(err, FL_EXIT_ENV, "the running-victim check needs 2 CPUs");
	fprintf(stderr, "injection: %s\n", series_names[series]);
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	if (sched_getaffinity(0, sizeof(mine), &mine) < 0 ||
	    sched_setaffinity(0, sizeof(one), &one) < 0)
		return fl_error_set(err, FL_EXIT_ENV, "sched_setaffinity: %s", strerror(errno));
	CPU_ZERO(&one);
	CPU_SET(last, &one);
	for (long i = 0; i < n && rc == 0; i++) {
		if (sched_setaffinity(v->pid, sizeof(one), &one) < 0)
			rc = fl_error_set(err, FL_EXIT_ENV, "sched_setaffinity: %s", strerror(errno));
		else
			rc = inject_once(b->st, v, &b->ser[series], ARMED_WHEN_RUNNING, err);
	}
	sched_setaffinity(0, sizeof(mine), &mine);
	return rc;
}

static int victim_restart(struct victim *v, pid_t *pid_slot, struct fl_error *err)
{
	if (*pid_slot > 0) {
		kill(*pid_slot, SIGKILL);
		victim_wait(*pid_slot, WEXITED);
	}
	*pid_slot = victim_start(v->pidfile);
	if (*pid_slot < 0)
		return fl_error_set(err, FL_EXIT_ENV, "cannot start the victim");
	return 0;
}

static int measure_all(struct bench *b, struct fl_error *err)
{
	if (victim_restart(&b->stopv, &b->stopv.pid, err) < 0 ||
	    measure_pair(b, &b->stopv, S_QUIET_STOP_ARMED, S_QUIET_STOP_PENDING, b->npeer, err) < 0)
		return -1;
	fprintf(stderr, "injection: starting the load (%d CPU spinners, 1 fsync writer)\n",
		b->load_cpus);
	if (load_start(&b->load, b->dir, b->load_cpus, err) < 0)
		return -1;
	if (measure_pair(b, &b->stopv, S_STOP_ARMED, S_STOP_PENDING, b->count, err) < 0 ||
	    measure_running(b, &b->stopv, S_RUN_STOP, b->count, err) < 0)
		return -1;
	for (long i = 0; i < b->npeer; i++)
		if (peer_kill_once(b->stopv.pid, &b->ser[S_PEER_KILL], err) < 0)
			return -1;
	kill(b->stopv.pid, SIGKILL);
	victim_wait(b->stopv.pid, WEXITED);
	b->stopv.pid = 0;
	if (victim_restart(&b->killv, &b->killv.pid, err) < 0 ||
	    measure_pair(b, &b->killv, S_KILL_ARMED, -1, b->count, err) < 0 ||
	    measure_running(b, &b->killv, S_RUN_KILL, b->count, err) < 0 ||
	    measure_pair(b, &b->filev, S_FILE_ARMED, S_FILE_PENDING, b->count, err) < 0)
		return -1;
	for (long i = 0; i < b->npeer; i++)
		if (peer_dd_once(b->datpath, b->patch, (i * 4099) % (VICTIM_SIZE - 4),
				 &b->ser[S_PEER_DD], err) < 0)
			return -1;
	load_stop(&b->load, b->dir);
	return 0;
}

/* The file victim (1 MiB of a known pattern, on disk) and dd's patch. */
static int files_make(struct bench *b, struct fl_error *err)
{
	unsigned char *buf = fl_malloc(VICTIM_SIZE);
	FILE *f = fopen(b->datpath, "w");
	int rc = -1;
	if (!buf || !f) {
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot create", b->datpath);
		goto out;
	}
	for (size_t i = 0; i < VICTIM_SIZE; i++)
		buf[i] = (unsigned char)(i * 31 + 7);
	if (fwrite(buf, 1, VICTIM_SIZE, f) != VICTIM_SIZE || fflush(f) != 0 || fsync(fileno(f)) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot write", b->datpath);
		goto out;
	}
	fclose(f);
	f = fopen(b->patch, "w");
	if (!f || fwrite("\xde\xad\xbe\xef", 1, 4, f) != 4) {
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot write", b->patch);
		goto out;
	}
	rc = 0;
out:
	if (f && fclose(f) != 0 && rc == 0)
		rc = fl_error_set(err, FL_EXIT_ENV, "%s: cannot write", b->patch);
	fl_free(buf);
	return rc;
}

static int victims_setup(struct bench *b, json_t **params, struct fl_error *err)
{
	params[0] = json_pack("{s:s}", "signal", "STOP");
	params[1] = json_pack("{s:s}", "signal", "KILL");
	params[2] = json_pack("{s:s, s:i, s:i}", "mode", "flip", "count", 4, "seed", 1);
	b->stopv.ops = b->killv.ops = fl_injector_find("process");
	b->filev.ops = fl_injector_find("file");
	if (!b->stopv.ops || !b->filev.ops || !params[0] || !params[1] || !params[2])
		return fl_error_set(err, FL_EXIT_ENV, "process or file injector not registered");
	b->stopv.fault = (struct fl_fault_spec){
		.name = "stop", .injector = "process", .target = "victim", .params = params[0]
	};
	b->killv.fault = (struct fl_fault_spec){
		.name = "kill", .injector = "process", .target = "victim", .params = params[1]
	};
	b->filev.fault = (struct fl_fault_spec){
		.name = "flip", .injector = "file", .target = "data", .params = params[2]
	};
	b->stopv.target = (struct fl_target){ .name = "victim",
					      .kind = FL_TARGET_PROCESS,
					      .pidfile = b->pidfile };
	b->killv.target = b->stopv.target;
	b->filev.target =
		(struct fl_target){ .name = "data", .kind = FL_TARGET_FILE, .path = b->datpath };
	b->stopv.pidfile = b->killv.pidfile = b->pidfile;
	b->stopv.observe = WSTOPPED;
	b->killv.observe = WEXITED;
	return 0;
}

/* A row with its counts and how the peer differs, for ci/gen-docs.py. */
static json_t *row_new(const char *name, double fl, long n, const char *peer_name, double peer,
		       long peer_n, const char *goal, json_t *detail)
{
	json_t *row = bench_row("injection", name, "ms", fl, peer_name, peer, goal, -1, detail);
	json_object_set_new(row, "n", json_integer(n));
	if (peer_name) {
		json_object_set_new(row, "peer_n", json_integer(peer_n));
		json_object_set_new(row, "peer_note",
				    json_string(
					    !strncmp(peer_name, "spawn kill", 10)
						    ? "woken by a plain clock_nanosleep (SCHED_OTHER), a new "
						      "process per injection, no journal; the same working "
						      "victim, its t0 when kill(1) exited"
						    : "woken by a plain clock_nanosleep (SCHED_OTHER), a new "
						      "process per injection, no journal; its write in the "
						      "page cache, no fsync (as faultline's before settle)"));
	}
	return row;
}

/* p99 of one part of a series (sorts it; the summary is printed already). */
static double part_p99(struct series *s, int part)
{
	struct bench_summary ps;
	bench_dist_summarize(&s->part[part], &ps);
	return ps.p99;
}

/* p99 of a distribution (sorts it; the summary is printed already). */
static double dist_p99(struct bench_dist *d)
{
	struct bench_summary sum;
	bench_dist_summarize(d, &sum);
	return sum.p99;
}

/* An information row without a goal, in its own unit. */
static json_t *info_row(const char *name, const char *unit, double v, long n)
{
	json_t *row = row_new(name, v, n, NULL, NAN, 0, NULL, NULL);
	json_object_set_new(row, "unit", json_string(unit));
	return row;
}

/* The rows of each loaded series: in effect, t0's placement, scheduled ->
 * t0 (goals); waitid's lag and the victim's work past t0, or the file's
 * settle (information). */
static const struct {
	int series;
	const char *what, *effect, *placement, *extra;
} loaded_rows[] = {
	{ S_STOP_ARMED, "process SIGSTOP under load",
	  "scheduled -> in effect (victim's last work), p99", "|t0 - in effect| (upper bound), p99",
	  "t0 -> kernel shows it stopped (waitid), p99" },
	{ S_KILL_ARMED, "process SIGKILL under load",
	  "scheduled -> in effect (victim's last work), p99", "|t0 - in effect| (upper bound), p99",
	  "t0 -> kernel shows it dead (waitid), p99" },
	{ S_FILE_ARMED, "file flip under load", "scheduled -> in effect (read back flipped), p99",
	  "t0 -> read back flipped, p99", "fsync after t0 (settle), p99" },
};

static void rows_add(struct bench *b, json_t *rows, struct bench_summary *sum, json_t *detail)
{
	struct series *ser = b->ser;
	long n = b->count, np = b->npeer;
	char name[200];
	for (size_t i = 0; i < FL_ARRAY_LEN(loaded_rows); i++) {
		int k = loaded_rows[i].series;
		const char *peer = k == S_STOP_ARMED   ? "spawn kill -STOP"
				   : k == S_FILE_ARMED ? "spawn dd conv=notrunc"
						       : NULL;
		int pk = k == S_STOP_ARMED ? S_PEER_KILL : S_PEER_DD;
		snprintf(name, sizeof(name), "%s: %s", loaded_rows[i].what, loaded_rows[i].effect);
		json_array_append_new(rows, row_new(name, sum[k].p99, n, peer,
						    peer ? sum[pk].p99 : NAN, peer ? np : 0,
						    "< 2 ms", i == 0 ? json_incref(detail) : NULL));
	}
	json_array_append_new(rows,
			      row_new("process SIGSTOP quiet: scheduled -> in effect (victim's last work), p99",
				      sum[S_QUIET_STOP_ARMED].p99, np, NULL, NAN, 0, "< 2 ms", NULL));
	for (size_t i = 0; i < FL_ARRAY_LEN(loaded_rows); i++) {
		snprintf(name, sizeof(name), "%s: %s", loaded_rows[i].what, loaded_rows[i].placement);
		json_array_append_new(rows,
				      row_new(name, dist_p99(&ser[loaded_rows[i].series].placement),
					      n, NULL, NAN, 0, "<= 0.1 ms", NULL));
	}
	for (size_t i = 0; i < FL_ARRAY_LEN(loaded_rows); i++) {
		snprintf(name, sizeof(name), "%s: scheduled -> t0 (inject returned), p99",
			 loaded_rows[i].what);
		json_array_append_new(rows, row_new(name, dist_p99(&ser[loaded_rows[i].series].to_t0),
						    n, NULL, NAN, 0, "< 2 ms", NULL));
	}
	for (size_t i = 0; i < FL_ARRAY_LEN(loaded_rows); i++) {
		struct series *se = &ser[loaded_rows[i].series];
		snprintf(name, sizeof(name), "%s: %s", loaded_rows[i].what, loaded_rows[i].extra);
		json_array_append_new(rows, info_row(name, "ms", part_p99(se, i < 2 ? 4 : 5), n));
		if (i == 2)
			continue;
		snprintf(name, sizeof(name),
			 "%s: victim's last work - t0, max (ran during the call %ld of %ld)",
			 loaded_rows[i].what, se->running, se->stamped);
		json_array_append_new(rows, info_row(name, "us", se->after_t0_max_us, n));
	}
	for (int k = S_RUN_STOP; k <= S_RUN_KILL; k++) {
		snprintf(name, sizeof(name),
			 "process %s under load, injected as the victim runs: victim's last work - "
			 "t0, max (ran during the call %ld of %ld)",
			 k == S_RUN_STOP ? "SIGSTOP" : "SIGKILL", ser[k].running, ser[k].stamped);
		json_array_append_new(rows, info_row(name, "us", ser[k].after_t0_max_us, n));
	}
	json_array_append_new(rows,
			      row_new("process SIGSTOP under load, pending (old): scheduled -> in effect, p99",
				      sum[S_STOP_PENDING].p99, n, NULL, NAN, 0, NULL, NULL));
	json_array_append_new(rows,
			      row_new("file flip under load, pending (old): scheduled -> in effect, p99",
				      sum[S_FILE_PENDING].p99, n, NULL, NAN, 0, NULL, NULL));
	json_array_append_new(rows,
			      row_new("process SIGSTOP under load: scheduled -> in effect, median",
				      sum[S_STOP_ARMED].median, n, "spawn kill -STOP",
				      sum[S_PEER_KILL].median, np, NULL, NULL));
}

static int rows_write(struct bench *b, const char *out)
{
	struct bench_summary sum[NSERIES];
	json_t *rows = json_array(), *detail = json_array(),
	       *load = load_json(&b->load, b->load_cpus);
	int rc;

	fprintf(stderr, "\n  %-44s %5s %8s %8s %8s   parts median/p99 ms\n", "series (ms)", "n",
		"median", "p99", "max");
	for (int i = 0; i < NSERIES; i++)
		json_array_append_new(detail, series_json(&b->ser[i], &sum[i]));
	json_array_append_new(detail,
			      json_pack("{s:s, s:o}", "series", "background load", "load", load));
	json_array_append_new(detail, json_pack("{s:s, s:s, s:s}", "series", "instant", "mode",
						instant_mode, "policy", instant_policy));
	fprintf(stderr,
		"  load: %d CPU spinners, writer %ld x (1 MiB + fsync) in %.1f s; "
		"loadavg %s -> %s\n  instant: %s (%s)\n",
		b->load_cpus, b->load.fsyncs_done, (double)(b->load.t_stop - b->load.t_start) / 1e9,
		b->load.loadavg_start, b->load.loadavg_stop, instant_mode, instant_policy);
	rows_add(b, rows, sum, detail);
	rc = bench_rows_write(rows, out);
	json_decref(rows);
	json_decref(detail);
	return rc;
}

int main(int argc, char **argv)
{
	const char *out = "-";
	char dbpath[4096];
	struct fl_error err;
	struct bench b;
	json_t *params[3] = { NULL, NULL, NULL };
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int rc = 1;

	fl_error_init(&err);
	fl_alloc_install_jansson();
	memset(&b, 0, sizeof(b));
	b.count = 500;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--dir"))
			b.dir = argv[i + 1];
		else if (!strcmp(argv[i], "--out"))
			out = argv[i + 1];
		else if (!strcmp(argv[i], "--count") &&
			 fl_parse_long(argv[i + 1], 1, 100000, &b.count) == 0)
			continue;
		else if (!strcmp(argv[i], "--instant") && instant_mode_set(argv[i + 1]) == 0)
			continue;
		else if (!strcmp(argv[i], "--load-cpus") &&
			 fl_parse_long(argv[i + 1], 0, 64, &cpus) == 0)
			continue;
		else
			b.dir = NULL, i = argc;
	}
	if (!b.dir || argc % 2 == 0) {
		fprintf(stderr, "usage: bench_inject --dir WORKDIR [--count N] [--load-cpus N] "
				"[--instant plain|spin|fifo|fifo+spin|default] [--out FILE]\n");
		return 2;
	}
	b.load_cpus = cpus > 0 ? (int)cpus : 0;
	b.npeer = b.count; /* the quiet series and the peers: the same count */
	for (int i = 0; i < NSERIES; i++)
		series_init(&b.ser[i], series_names[i]);
	snprintf(dbpath, sizeof(dbpath), "%s/inject.db", b.dir);
	snprintf(b.pidfile, sizeof(b.pidfile), "%s/victim.pid", b.dir);
	snprintf(b.datpath, sizeof(b.datpath), "%s/victim.dat", b.dir);
	snprintf(b.patch, sizeof(b.patch), "%s/patch.bin", b.dir);
	unlink(dbpath);
	victim_stamp = mmap(NULL, sizeof(int64_t), PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (victim_stamp == MAP_FAILED) {
		fprintf(stderr, "bench_inject: mmap: %s\n", strerror(errno));
		return 1;
	}
	b.st = fl_store_open(dbpath, &err);
	if (!b.st || files_make(&b, &err) < 0 || victims_setup(&b, params, &err) < 0)
		goto out;
	fprintf(stderr,
		"injection: %ld injections per series (peers too), scheduled %d ms ahead; instant: %s\n",
		b.count, (int)(LEAD_NS / FL_NS_PER_MS), instant_mode);
	if (measure_all(&b, &err) < 0)
		goto out;
	rc = rows_write(&b, out) < 0 ? 1 : 0;
out:
	load_stop(&b.load, b.dir);
	if (rc && err.msg[0])
		fprintf(stderr, "bench_inject: %s\n", err.msg);
	if (b.stopv.pid > 0) {
		kill(b.stopv.pid, SIGKILL);
		victim_wait(b.stopv.pid, WEXITED);
	}
	if (b.killv.pid > 0) {
		kill(b.killv.pid, SIGKILL);
		victim_wait(b.killv.pid, WEXITED);
	}
	for (int i = 0; i < NSERIES; i++)
		series_release(&b.ser[i]);
	for (int i = 0; i < 3; i++)
		json_decref(params[i]);
	fl_store_close(b.st);
	return rc;
}
