/*
 * test_probe_watch: the CPUs' watch (sim/probe_watch.c). A CPU taken from
 * the watch for a known span shows as lost for that span, within the
 * watch's resolution; CPUs taken at the same time count once; no watch
 * says so (-1).
 *
 * A CPU is taken the way the hypervisor or other work takes it from the
 * target: a SCHED_FIFO thread pinned to it spins, and the watch thread
 * (SCHED_OTHER) cannot run there until it stops. SCHED_FIFO needs root or
 * an RLIMIT_RTPRIO (CI runs as root); without it the cases skip, and
 * ci/test.sh fails a skip under CI=true. Where threads do not run in
 * parallel (valgrind runs one at a time: ci/trust.sh) spins on every CPU
 * never overlap, and that case skips saying so.
 *
 * Each case's watch lives in the cmocka state and the teardown stops it,
 * so a failed assertion (which longjmps out) leaves no thread running.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sim/probe.h"
#include "sim/probe_kind.h"
#include "core/clock.h"

#define SPIN_NS (30 * FL_NS_PER_MS)
/* The watch notes a CPU's loss from its missed deadline on: up to one
 * period and the least lateness it notes are not seen at the start, and
 * its wake-up after the spin adds a little at the end. */
#define WATCH_SLACK_NS (FL_PROBE_WATCH_PERIOD_NS + FL_PROBE_WATCH_MIN_LATE_NS + FL_NS_PER_MS)

struct spinner {
	int cpu;
	pthread_barrier_t *go;
	int64_t from, to;
	int rc; /* 0, or the errno of pinning or of SCHED_FIFO */
};

static void *spin(void *arg)
{
	struct spinner *s = arg;
	struct sched_param sp = { .sched_priority = 1 };
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(s->cpu, &set);
	s->rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (s->rc == 0)
		s->rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	pthread_barrier_wait(s->go);
	if (s->rc != 0)
		return NULL;
	s->from = fl_now_ns();
	do
		s->to = fl_now_ns();
	while (s->to - s->from < SPIN_NS);
	return NULL;
}

/* Spins on the first n of the CPUs this process may use, together; the
 * span all spun in [*from, *to]. 0, or -1 when SCHED_FIFO is refused. */
static int spin_cpus(int n, int64_t *from, int64_t *to)
{
	struct spinner s[FL_PROBE_WATCH_MAX_CPUS];
	pthread_t th[FL_PROBE_WATCH_MAX_CPUS];
	pthread_barrier_t go;
	cpu_set_t set;
	int k = 0, refused = 0;

	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	pthread_barrier_init(&go, NULL, (unsigned)n + 1);
	for (int cpu = 0; cpu < CPU_SETSIZE && k < n; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		s[k] = (struct spinner){ cpu, &go, 0, 0, 0 };
		assert_int_equal(pthread_create(&th[k], NULL, spin, &s[k]), 0);
		k++;
	}
	assert_int_equal(k, n);
	pthread_barrier_wait(&go);
	*from = 0;
	*to = INT64_MAX;
	for (int i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		refused |= s[i].rc != 0;
		if (s[i].from > *from)
			*from = s[i].from;
		if (s[i].to < *to)
			*to = s[i].to;
	}
	pthread_barrier_destroy(&go);
	return refused ? -1 : 0;
}

static int cpus_usable(void)
{
	cpu_set_t set;
	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	return CPU_COUNT(&set);
}

/* The watch's account of [from, to], once its threads have woken past
 * `to` (each wakes within a period; bounded). */
static int64_t lost_settled(struct probe_watch *w, int64_t from, int64_t to)
{
	int64_t deadline = fl_now_ns() + FL_NS_PER_S;
	struct timespec nap = { 0, 1000 * 1000 };
	while (fl_now_ns() < to + 2 * FL_PROBE_WATCH_PERIOD_NS && fl_now_ns() < deadline)
		nanosleep(&nap, NULL);
	return fl_probe_watch_lost(w, from, to);
}

static int watch_setup(void **state)
{
	*state = NULL;
	return 0;
}

static int watch_teardown(void **state)
{
	fl_probe_watch_stop(*state);
	*state = NULL;
	return 0;
}

static struct probe_watch *watch_begin(void **state)
{
	struct probe_watch *w = fl_probe_watch_start(fl_now_ns());
	assert_non_null(w);
	*state = w;
	return w;
}

static void test_watch_one_cpu_taken(void **state)
{
	struct probe_watch *w;
	int64_t from, to, lost;
	if (cpus_usable() > FL_PROBE_WATCH_MAX_CPUS)
		skip();
	w = watch_begin(state);
	assert_int_equal(fl_probe_watch_cpus(w), cpus_usable());
	/* Up to three spins: Linux 6.12+ may lend a starved CPU to
	 * SCHED_OTHER for a moment (the fair server), and then the watch
	 * rightly runs. One spin in three the kernel leaves whole is enough. */
	for (int k = 0; k < 3; k++) {
		if (spin_cpus(1, &from, &to) < 0) {
			print_message("SCHED_FIFO refused (not root, no RLIMIT_RTPRIO): skipped\n");
			skip();
		}
		lost = lost_settled(w, from, to);
		if (lost >= to - from - WATCH_SLACK_NS)
			break;
		print_message("spin %d: %.3f ms of %.3f ms lost (the CPU lent?)\n", k,
			      (double)lost / 1e6, (double)(to - from) / 1e6);
	}
	print_message("one CPU taken for %.3f ms: %.3f ms lost\n", (double)(to - from) / 1e6,
		      (double)lost / 1e6);
	assert_true(lost >= to - from - WATCH_SLACK_NS);
	assert_true(lost <= to - from);
}

static void test_watch_all_cpus_once(void **state)
{
	struct probe_watch *w;
	int64_t from, to, lost = 0;
	int n = cpus_usable(), overlapped = 0;
	if (n > FL_PROBE_WATCH_MAX_CPUS)
		skip();
	w = watch_begin(state);
	/* Every CPU lost over the same span: the span, not n times it. */
	for (int k = 0; k < 3; k++) {
		if (spin_cpus(n, &from, &to) < 0) {
			print_message("SCHED_FIFO refused (not root, no RLIMIT_RTPRIO): skipped\n");
			skip();
		}
		if (to - from < SPIN_NS / 2) {
			print_message("spin %d: the %d spins overlapped %.3f ms only\n", k, n,
				      (double)(to - from) / 1e6);
			continue;
		}
		overlapped = 1;
		lost = lost_settled(w, from, to);
		if (lost >= to - from - WATCH_SLACK_NS)
			break;
	}
	if (!overlapped) {
		print_message("threads do not run in parallel here (valgrind?): skipped\n");
		skip();
	}
	print_message("%d CPUs taken together for %.3f ms: %.3f ms lost\n", n,
		      (double)(to - from) / 1e6, (double)lost / 1e6);
	assert_true(lost >= to - from - WATCH_SLACK_NS);
	assert_true(lost <= to - from);
	assert_int_equal(fl_probe_watch_lost(w, to, from), 0);
}

static void test_watch_none(void **state)
{
	(void)state;
	assert_int_equal(fl_probe_watch_lost(NULL, 0, FL_NS_PER_S), -1);
	assert_int_equal(fl_probe_watch_cpus(NULL), 0);
	assert_int_equal(fl_probe_watch_awake(NULL, fl_now_ns()), 0);
	fl_probe_watch_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_watch_one_cpu_taken, watch_setup, watch_teardown),
		cmocka_unit_test_setup_teardown(test_watch_all_cpus_once, watch_setup, watch_teardown),
		cmocka_unit_test(test_watch_none),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
