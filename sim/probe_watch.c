/*
 * probe_watch: how long each CPU this process may run on was not available
 * (docs/measurement.md, "the CPUs' lost time").
 *
 * Owns: one watch thread per CPU (at most FL_PROBE_WATCH_MAX_CPUS), pinned
 * to it, that sleeps to an absolute deadline every FL_PROBE_WATCH_PERIOD_NS
 * and notes each wake-up later than FL_PROBE_WATCH_MIN_LATE_NS as a span
 * [deadline, woken] in that CPU's ring; and the query: the union of those
 * spans, and of a lateness still in progress, within a sample's
 * [sent, done]. Does not own: subtracting it or judging answers (probe.c).
 *
 * Why: on a virtual machine the hypervisor stops a virtual CPU for a
 * millisecond or more every few seconds, and the guest sees no trace of it
 * (no steal time, no run_delay: a halted CPU woken late delays the target's
 * wake-up before it is queued). A target on that CPU answers late though
 * it did nothing wrong. A watch thread pinned there is woken late by the
 * same stop, so the stop shows. A hung target (stopped, asleep, not
 * reading) leaves its CPU free: the watch wakes on time and the hang stays
 * whole. Measured on a 2-core Firecracker VM, 1 ms samples against a
 * loopback server for 20 s: every answer slower than 0.7 ms (6 quiet, 24-48
 * beside a build) overlapped a watch's lateness, and at most 0.52 ms
 * (quiet) to 1.2 ms (beside a build) of one answer was left unexplained.
 */
#include "sim/probe.h"
#include "sim/probe_kind.h"
#include "core/alloc.h"
#include "core/clock.h"

#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Spans kept per CPU: at one lateness per wake-up (a crowded machine) about
 * a second's worth, the longest a sample waits by default. */
#define WATCH_RING 4096

struct watch_span {
	int64_t from, to;
};

struct watch_cpu {
	struct probe_watch *w;
	int cpu;
	pthread_t thread;
	int started;
	pthread_mutex_t lock;
	struct watch_span ring[WATCH_RING]; /* lock */
	size_t n;                           /* spans written in all; lock */
	_Atomic int64_t due;                /* the sleep's deadline, 0 while awake */
};

struct probe_watch {
	atomic_int stop;
	int64_t origin;
	int ncpu;
	struct watch_cpu *cpus;
	/* A query's copy of the spans it merges: every CPU's ring whole, so
	 * a long wait is never counted short. qlock. */
	pthread_mutex_t qlock;
	struct watch_span *scratch;
};

static void *watch_thread(void *arg)
{
	struct watch_cpu *c = arg;
	cpu_set_t set;
	int64_t next;

	CPU_ZERO(&set);
	CPU_SET(c->cpu, &set);
	/* Not pinned, it would watch whichever CPU it runs on: none. */
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
		atomic_store(&c->due, INT64_MAX); /* never runnable, nothing lost */
		return NULL;
	}
	/* Deadlines half a period off the probes' ticks (whole periods from
	 * origin): a turn of the loop reading /proc/loadavg then does not
	 * find these threads runnable. */
	next = fl_now_ns();
	next += FL_PROBE_WATCH_PERIOD_NS - (next - c->w->origin) % FL_PROBE_WATCH_PERIOD_NS -
		FL_PROBE_WATCH_PERIOD_NS / 2;
	while (!atomic_load(&c->w->stop)) {
		struct timespec ts;
		int64_t now;
		next += FL_PROBE_WATCH_PERIOD_NS;
		atomic_store(&c->due, next);
		ts.tv_sec = (time_t)(next / FL_NS_PER_S);
		ts.tv_nsec = (long)(next % FL_NS_PER_S);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		now = fl_now_ns();
		pthread_mutex_lock(&c->lock);
		if (now - next > FL_PROBE_WATCH_MIN_LATE_NS) {
			c->ring[c->n % WATCH_RING] = (struct watch_span){ next, now };
			c->n++;
		}
		atomic_store(&c->due, 0);
		pthread_mutex_unlock(&c->lock);
		/* Late: the missed deadlines are one span, not many; the next
		 * keeps the phase. */
		if (now > next)
			next += (now - next) / FL_PROBE_WATCH_PERIOD_NS * FL_PROBE_WATCH_PERIOD_NS;
	}
	return NULL;
}

struct probe_watch *fl_probe_watch_start(int64_t origin_ns)
{
	struct probe_watch *w;
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return NULL;
	n = CPU_COUNT(&set);
	if (n <= 0 || n > FL_PROBE_WATCH_MAX_CPUS)
		return NULL;
	w = fl_calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->cpus = fl_calloc((size_t)n, sizeof(*w->cpus));
	w->scratch = fl_malloc((size_t)n * (WATCH_RING + 1) * sizeof(*w->scratch));
	if (!w->cpus || !w->scratch) {
		fl_free(w->cpus);
		fl_free(w->scratch);
		fl_free(w);
		return NULL;
	}
	pthread_mutex_init(&w->qlock, NULL);
	atomic_store(&w->stop, 0);
	w->origin = origin_ns;
	for (int cpu = 0, i = 0; cpu < CPU_SETSIZE && i < n; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		struct watch_cpu *c = &w->cpus[i++];
		c->w = w;
		c->cpu = cpu;
		pthread_mutex_init(&c->lock, NULL);
		w->ncpu = i;
		atomic_store(&c->due, 0);
		if (pthread_create(&c->thread, NULL, watch_thread, c) != 0) {
			fl_probe_watch_stop(w);
			return NULL;
		}
		c->started = 1;
	}
	return w;
}

void fl_probe_watch_stop(struct probe_watch *w)
{
	if (!w)
		return;
	atomic_store(&w->stop, 1);
	for (int i = 0; i < w->ncpu; i++) {
		if (w->cpus[i].started)
			pthread_join(w->cpus[i].thread, NULL);
		pthread_mutex_destroy(&w->cpus[i].lock);
	}
	pthread_mutex_destroy(&w->qlock);
	fl_free(w->cpus);
	fl_free(w->scratch);
	fl_free(w);
}

int fl_probe_watch_cpus(const struct probe_watch *w)
{
	return w ? w->ncpu : 0;
}

int fl_probe_watch_awake(struct probe_watch *w, int64_t now)
{
	int n = 0;
	for (int i = 0; w && i < w->ncpu; i++) {
		int64_t due = atomic_load(&w->cpus[i].due);
		/* Before its deadline a watch thread sleeps; after it, it may be
		 * runnable, not yet run (or still the kernel's slack). */
		n += due == 0 || due <= now;
	}
	return n;
}

static int cmp_span(const void *a, const void *b)
{
	const struct watch_span *x = a, *y = b;
	return (x->from > y->from) - (x->from < y->from);
}

int64_t fl_probe_watch_lost(struct probe_watch *w, int64_t from, int64_t to)
{
	struct watch_span *v;
	size_t nv = 0;
	int64_t lost = 0, end = from;

	if (!w)
		return -1;
	if (to <= from)
		return 0;
	pthread_mutex_lock(&w->qlock);
	v = w->scratch;
	for (int i = 0; i < w->ncpu; i++) {
		struct watch_cpu *c = &w->cpus[i];
		pthread_mutex_lock(&c->lock);
		/* Newest first; each CPU's spans are in time order. */
		for (size_t k = 0; k < c->n && k < WATCH_RING; k++) {
			struct watch_span s = c->ring[(c->n - 1 - k) % WATCH_RING];
			if (s.to <= from)
				break;
			if (s.from < to)
				v[nv++] = s;
		}
		/* A CPU still not given back: its watch has not run since its
		 * deadline (what it would note when it does). */
		int64_t due = atomic_load(&c->due);
		if (due > 0 && to - due > FL_PROBE_WATCH_MIN_LATE_NS)
			v[nv++] = (struct watch_span){ due, to };
		pthread_mutex_unlock(&c->lock);
	}
	qsort(v, nv, sizeof(v[0]), cmp_span);
	for (size_t k = 0; k < nv; k++) {
		int64_t a = v[k].from > end ? v[k].from : end;
		int64_t b = v[k].to < to ? v[k].to : to;
		if (b > a) {
			lost += b - a;
			end = b;
		}
	}
	pthread_mutex_unlock(&w->qlock);
	return lost;
}
