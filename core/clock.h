/*
 * clock: durations, the monotonic and wall clocks, sleeping to a deadline.
 *
 * Owns: parsing and formatting durations ("250ms", "30s", ISO 8601 "PT5M"),
 * CLOCK_MONOTONIC and CLOCK_REALTIME in nanoseconds, RFC 3339 text,
 * interruptible sleeps, keeping an instant (fl_instant_*: the calling
 * thread raised to SCHED_FIFO while it waits for a fault's instant), and
 * checked integer parsing.
 * Does not own: the drill timeline (sim/timeline.h), when a fault is due
 * (sim/runner.c, sim/faults.c).
 */
#ifndef FAULTLINE_CORE_CLOCK_H
#define FAULTLINE_CORE_CLOCK_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* ---- durations ------------------------------------------------------------
 * Accepts "<number><unit>" with unit ns, us, ms, s, m, h (number may have a
 * fraction: "1.5s"), and ISO 8601 "PT1H2M3.5S". Rejects negatives, missing
 * units, overflow and trailing junk. Returns 0 or -1. */
int fl_duration_parse(const char *s, int64_t *ns_out);
/* Formats ns as the shortest exact form ("250ms", "1.5s"); writes to buf. */
const char *fl_duration_format(int64_t ns, char *buf, size_t n);

#define FL_NS_PER_MS INT64_C(1000000)
#define FL_NS_PER_S INT64_C(1000000000)

/* ---- clocks --------------------------------------------------------------- */
int64_t fl_now_ns(void);  /* CLOCK_MONOTONIC */
int64_t fl_wall_ns(void); /* CLOCK_REALTIME */
/* RFC 3339 UTC with milliseconds ("2026-11-24T06:45:59.123Z") into buf. */
const char *fl_rfc3339(int64_t wall_ns, char *buf, size_t n);
/* Sleep until the monotonic deadline or until *stop becomes non-zero (may be
 * NULL), checking every `slice_ns`. Returns 0 at deadline, 1 if stopped.
 * Every stop flag is a C11 atomic_int, whoever sets it: a signal handler
 * (lock-free, so async-signal-safe), the game day's console thread on
 * "abort", the thread that owns a writer or a watcher. */
int fl_sleep_until(int64_t deadline_ns, atomic_int *stop, int64_t slice_ns);
/* The same (it predates every flag being atomic). */
int fl_sleep_until_flag(int64_t deadline_ns, atomic_int *stop, int64_t slice_ns);

/* ---- keeping an instant ----------------------------------------------------
 * A fault is due at an instant. On a loaded machine a thread asleep in
 * clock_nanosleep is woken milliseconds late by the scheduler
 * (docs/bench.md, "the injection instant"); cyclictest's answer is a
 * real-time policy and locked memory. fl_instant_enter raises the CALLING
 * THREAD to SCHED_FIFO at priority FL_INSTANT_RT_PRIO (or RLIMIT_RTPRIO's
 * soft limit when lower and non-zero) with SCHED_RESET_ON_FORK, so a program
 * spawned meanwhile starts as a normal process; and locks the pages already
 * resident (mlockall MCL_CURRENT | MCL_ONFAULT: nothing is populated).
 * Either one is done only when permitted (CAP_SYS_NICE or RLIMIT_RTPRIO;
 * CAP_IPC_LOCK or RLIMIT_MEMLOCK); otherwise the thread stays as it is and
 * `policy` says what was in effect and why. fl_instant_wait sleeps with
 * clock_nanosleep(TIMER_ABSTIME) until FL_INSTANT_SPIN_NS before the
 * instant and spins on the clock for the rest: the spin never lasts longer
 * than FL_INSTANT_SPIN_NS (bounded, so a real-time thread cannot starve
 * the machine). fl_instant_leave drops the policy and unlocks the memory:
 * call it right after the damage. */
#define FL_INSTANT_SPIN_NS (200 * INT64_C(1000))
#define FL_INSTANT_RT_PRIO 10
enum {
	FL_INSTANT_RAISE = 1 << 0, /* SCHED_FIFO while waiting and injecting */
	FL_INSTANT_LOCK = 1 << 1,  /* mlockall(MCL_CURRENT | MCL_ONFAULT) */
	FL_INSTANT_SPIN = 1 << 2,  /* sleep to FL_INSTANT_SPIN_NS before, then spin */
	FL_INSTANT_DEFAULT = FL_INSTANT_RAISE | FL_INSTANT_LOCK | FL_INSTANT_SPIN,
};
struct fl_instant {
	unsigned flags;
	int raised, locked; /* what enter did (leave undoes only that) */
	int old_policy;
	int old_prio;
	int64_t spun_ns;  /* how long the last wait spun */
	char policy[160]; /* "SCHED_FIFO 10, memory locked" or why not */
};
/* Raises and locks as flags ask and as permitted; never fails. */
void fl_instant_enter(struct fl_instant *in, unsigned flags);
/* Waits for the monotonic instant (returns at once when it has passed).
 * Returns 0 at the instant, 1 when *stop (may be NULL) became non-zero
 * first (checked at least every 5 ms while asleep). */
int fl_instant_wait(struct fl_instant *in, int64_t instant_ns, atomic_int *stop);
/* Back to the thread's own policy, memory unlocked. Idempotent. */
void fl_instant_leave(struct fl_instant *in);

/* Checked integer parse of the whole string; 0 or -1. */
int fl_parse_long(const char *s, long min, long max, long *out);

#endif
