/*
 * test_instant: keeping a fault's instant (core/clock.h, fl_instant_*) —
 * the wait ends at the instant and spins no longer than its bound, a stop
 * ends it early, SCHED_FIFO is taken when permitted (root, or a non-zero
 * RLIMIT_RTPRIO) and dropped on leave, never inherited by a child, and when
 * it is not permitted the thread stays SCHED_OTHER and says why.
 * The permission case runs in a forked child that gives up root. The
 * RLIMIT_RTPRIO cap (an unprivileged user allowed a lower priority): a
 * non-zero hard limit needs CAP_SYS_RESOURCE, which the CI container does
 * not have, so the kernel's side of it is played by two link-time wrappers
 * (tests/CMakeLists.txt: --wrap=getrlimit,--wrap=sched_setscheduler, only
 * while `fake_rtprio` is set): getrlimit reports the limit, and
 * sched_setscheduler refuses a SCHED_FIFO priority above it with EPERM, as
 * the kernel does for a process without CAP_SYS_NICE, and otherwise really
 * sets the policy (root), so the test reads it back from the kernel.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"

static int policy_now(void)
{
	return sched_getscheduler(0) & ~SCHED_RESET_ON_FORK;
}

/* ---- the RLIMIT_RTPRIO a process without CAP_SYS_NICE would have -------- */
static rlim_t fake_rtprio; /* 0: the wrappers pass everything through */

int __real_getrlimit(int resource, struct rlimit *rl);
int __wrap_getrlimit(int resource, struct rlimit *rl);
int __real_sched_setscheduler(pid_t pid, int policy, const struct sched_param *sp);
int __wrap_sched_setscheduler(pid_t pid, int policy, const struct sched_param *sp);

int __wrap_getrlimit(int resource, struct rlimit *rl)
{
	if (fake_rtprio && resource == RLIMIT_RTPRIO) {
		rl->rlim_cur = rl->rlim_max = fake_rtprio;
		return 0;
	}
	return __real_getrlimit(resource, rl);
}

int __wrap_sched_setscheduler(pid_t pid, int policy, const struct sched_param *sp)
{
	int base = policy & ~SCHED_RESET_ON_FORK;
	if (fake_rtprio && (base == SCHED_FIFO || base == SCHED_RR) &&
	    (rlim_t)sp->sched_priority > fake_rtprio) {
		errno = EPERM;
		return -1;
	}
	return __real_sched_setscheduler(pid, policy, sp);
}

static void test_wait_reaches_the_instant(void **state)
{
	static const unsigned modes[] = { 0, FL_INSTANT_SPIN, FL_INSTANT_DEFAULT };
	(void)state;
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		struct fl_instant in;
		int64_t instant, now;
		fl_instant_enter(&in, modes[m]);
		instant = fl_now_ns() + 3 * FL_NS_PER_MS;
		assert_int_equal(fl_instant_wait(&in, instant, NULL), 0);
		now = fl_now_ns();
		fl_instant_leave(&in);
		if (now < instant)
			fail_msg("mode %u returned %lld ns before the instant", modes[m],
				 (long long)(instant - now));
		if (!(modes[m] & FL_INSTANT_SPIN))
			assert_int_equal(in.spun_ns, 0);
		/* The bound is checked before every turn of the spin: one turn
		 * past it at most (a preempted turn can be long under load). */
		if (in.spun_ns > FL_INSTANT_SPIN_NS + 50 * FL_NS_PER_MS)
			fail_msg("spun %lld ns, bound %lld", (long long)in.spun_ns,
				 (long long)FL_INSTANT_SPIN_NS);
	}
}

static void test_past_instant_returns_at_once(void **state)
{
	struct fl_instant in;
	int64_t t;
	(void)state;
	fl_instant_enter(&in, FL_INSTANT_SPIN);
	t = fl_now_ns();
	assert_int_equal(fl_instant_wait(&in, t - FL_NS_PER_S, NULL), 0);
	assert_int_equal(in.spun_ns, 0);
	fl_instant_leave(&in);
}

static void test_stop_ends_the_wait(void **state)
{
	atomic_int stop = 1;
	struct fl_instant in;
	int64_t t;
	(void)state;
	fl_instant_enter(&in, FL_INSTANT_DEFAULT);
	t = fl_now_ns();
	assert_int_equal(fl_instant_wait(&in, t + 10 * FL_NS_PER_S, &stop), 1);
	fl_instant_leave(&in);
	assert_true(fl_now_ns() - t < 5 * FL_NS_PER_S);
	assert_int_equal(policy_now(), SCHED_OTHER);
}

/* Raised when permitted, dropped on leave, not inherited by a child. */
static void test_raise_and_drop(void **state)
{
	struct fl_instant in;
	pid_t pid;
	int status = 0;
	(void)state;
	fl_instant_enter(&in, FL_INSTANT_RAISE);
	if (!in.raised) {
		fl_instant_leave(&in);
		if (geteuid() == 0)
			fail_msg("root and not raised: %s", in.policy);
		/* Not permitted here: it must say so and stay as it was. */
		assert_non_null(strstr(in.policy, "SCHED_FIFO not permitted"));
		assert_int_equal(policy_now(), SCHED_OTHER);
		return;
	}
	assert_int_equal(policy_now(), SCHED_FIFO);
	assert_non_null(strstr(in.policy, "SCHED_FIFO 10"));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(policy_now() == SCHED_OTHER ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	fl_instant_leave(&in);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("a child forked at SCHED_FIFO inherited it");
	assert_int_equal(policy_now(), SCHED_OTHER);
	fl_instant_leave(&in); /* idempotent */
	assert_int_equal(policy_now(), SCHED_OTHER);
}

/* In a child: RLIMIT_RTPRIO set to rtprio, RLIMIT_MEMLOCK to 0, root given
 * up (so CAP_SYS_NICE and CAP_IPC_LOCK are gone); then enter, wait, leave.
 * Exit 0 when what happened matches `want` (a policy prefix), 2 when root
 * could not be given up, else 1 (after printing the policy). */
static int child_enter(rlim_t rtprio, const char *want)
{
	struct rlimit r = { rtprio, rtprio }, zero = { 0, 0 };
	struct fl_instant in;
	int64_t instant;
	int ok;
	if (setrlimit(RLIMIT_RTPRIO, &r) < 0 || setrlimit(RLIMIT_MEMLOCK, &zero) < 0)
		return 2;
	if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
		return 2;
	fl_instant_enter(&in, FL_INSTANT_DEFAULT);
	instant = fl_now_ns() + 2 * FL_NS_PER_MS;
	/* Not "memory not locked": the sanitizers' mlockall is a no-op that
	 * succeeds, whatever the limit. */
	ok = strncmp(in.policy, want, strlen(want)) == 0 && strstr(in.policy, "memory") != NULL &&
	     (policy_now() == SCHED_FIFO) == (rtprio > 0) &&
	     fl_instant_wait(&in, instant, NULL) == 0 && fl_now_ns() >= instant;
	fl_instant_leave(&in);
	ok = ok && policy_now() == SCHED_OTHER;
	if (!ok)
		fprintf(stderr, "policy: %s\n", in.policy);
	return ok ? 0 : 1;
}

static void run_child(rlim_t rtprio, const char *want)
{
	int status = 0;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_enter(rtprio, want));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 2)
		skip();
	if (WEXITSTATUS(status) != 0)
		fail_msg("RLIMIT_RTPRIO %llu: wanted '%s...'", (unsigned long long)rtprio, want);
}

/* Not permitted: stays SCHED_OTHER, says so, and still keeps the instant. */
static void test_fallback_not_permitted(void **state)
{
	(void)state;
	run_child(0, "SCHED_OTHER (SCHED_FIFO not permitted: Operation not permitted; "
		     "RLIMIT_RTPRIO 0)");
}

/* RLIMIT_RTPRIO 5 without CAP_SYS_NICE: priority 10 is refused, so the
 * thread takes SCHED_FIFO at the cap, says so, and drops it on leave. */
static void test_rtprio_cap(void **state)
{
	struct sched_param sp;
	struct fl_instant in;
	(void)state;
	if (geteuid() != 0)
		skip(); /* the real sched_setscheduler below needs root */
	fake_rtprio = 5;
	fl_instant_enter(&in, FL_INSTANT_RAISE);
	fake_rtprio = 0;
	assert_int_equal(in.raised, 1);
	assert_string_equal(in.policy, "SCHED_FIFO 5");
	assert_int_equal(policy_now(), SCHED_FIFO);
	assert_int_equal(sched_getparam(0, &sp), 0);
	assert_int_equal(sp.sched_priority, 5);
	fl_instant_leave(&in);
	assert_int_equal(policy_now(), SCHED_OTHER);
	/* A limit at or above FL_INSTANT_RT_PRIO allows the priority itself. */
	fake_rtprio = FL_INSTANT_RT_PRIO + 1;
	fl_instant_enter(&in, FL_INSTANT_RAISE);
	fake_rtprio = 0;
	fl_instant_leave(&in);
	assert_string_equal(in.policy, "SCHED_FIFO 10");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wait_reaches_the_instant),
		cmocka_unit_test(test_past_instant_returns_at_once),
		cmocka_unit_test(test_stop_ends_the_wait),
		cmocka_unit_test(test_raise_and_drop),
		cmocka_unit_test(test_fallback_not_permitted),
		cmocka_unit_test(test_rtprio_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
