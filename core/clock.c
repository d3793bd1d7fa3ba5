/*
 * clock: durations, clocks and checked number parsing (clock.h).
 */
#include "core/clock.h"
#include "core/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;


/* ---- durations ----------------------------------------------------------- */

/* Parses a non-negative decimal with optional fraction into value * 10^9
 * (nano-units), exactly, without floating point. Advances *p. */
static int parse_decimal_nano(const char **p, __int128 *out)
{
	const char *s = *p;
	__int128 v = 0;
	int digits = 0, frac = 0;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (*s - '0');
		if (v > (__int128)INT64_MAX)
			return -1;
		s++;
		digits++;
	}
	v *= 1000000000;
	if (*s == '.') {
		__int128 scale = 100000000;
		s++;
		while (*s >= '0' && *s <= '9') {
			if (scale == 0 && *s != '0')
				return -1; /* more precision than a nanosecond of a ns-unit */
			v += (*s - '0') * scale;
			scale /= 10;
			s++;
			frac++;
		}
		if (frac == 0)
			return -1;
	}
	if (digits == 0 && frac == 0)
		return -1;
	*out = v;
	*p = s;
	return 0;
}

static int unit_ns(const char *u, size_t len, int64_t *mult)
{
	static const struct {
		const char *name;
		int64_t ns;
	} units[] = {
		{ "ns", 1 },
		{ "us", 1000 },
		{ "ms", 1000000 },
		{ "s", 1000000000 },
		{ "m", INT64_C(60000000000) },
		{ "h", INT64_C(3600000000000) },
	};
	for (size_t i = 0; i < FL_ARRAY_LEN(units); i++)
		if (strlen(units[i].name) == len && memcmp(units[i].name, u, len) == 0) {
			*mult = units[i].ns;
			return 0;
		}
	return -1;
}

static int iso8601_parse(const char *s, int64_t *ns_out)
{
	/* PT[nH][nM][n.nS] ; also P[nD]T... */
	__int128 total = 0;
	int in_time = 0, any = 0;
	if (*s != 'P')
		return -1;
	s++;
	while (*s) {
		__int128 v;
		int64_t mult;
		if (*s == 'T') {
			if (in_time)
				return -1;
			in_time = 1;
			s++;
			continue;
		}
		if (parse_decimal_nano(&s, &v) < 0)
			return -1;
		switch (*s) {
		case 'D':
			if (in_time)
				return -1;
			mult = INT64_C(86400);
			break;
		case 'H':
			if (!in_time)
				return -1;
			mult = 3600;
			break;
		case 'M':
			if (!in_time)
				return -1;
			mult = 60;
			break;
		case 'S':
			if (!in_time)
				return -1;
			mult = 1;
			break;
		default: return -1;
		}
		s++;
		total += v * mult;
		if (total > (__int128)INT64_MAX)
			return -1;
		any = 1;
	}
	if (!any)
		return -1;
	*ns_out = (int64_t)total;
	return 0;
}

int fl_duration_parse(const char *s, int64_t *ns_out)
{
	const char *p = s;
	__int128 v;
	int64_t mult;
	const char *u;
	if (!s || !*s)
		return -1;
	if (*s == 'P')
		return iso8601_parse(s, ns_out);
	if (parse_decimal_nano(&p, &v) < 0)
		return -1;
	u = p;
	while (*p >= 'a' && *p <= 'z')
		p++;
	if (*p != '\0' || unit_ns(u, (size_t)(p - u), &mult) < 0)
		return -1;
	if (v > (__int128)INT64_MAX * 1000000000 / mult)
		return -1; /* would not fit in int64 ns: refuse before multiplying */
	v = v * mult;
	if (v % 1000000000 != 0)
		return -1; /* finer than a nanosecond */
	v /= 1000000000;
	if (v > (__int128)INT64_MAX)
		return -1;
	*ns_out = (int64_t)v;
	return 0;
}

const char *fl_duration_format(int64_t ns, char *buf, size_t n)
{
	if (ns % FL_NS_PER_S == 0)
		snprintf(buf, n, "%" PRId64 "s", ns / FL_NS_PER_S);
	else if (ns % FL_NS_PER_MS == 0)
		snprintf(buf, n, "%" PRId64 "ms", ns / FL_NS_PER_MS);
	else if (ns % 1000 == 0)
		snprintf(buf, n, "%" PRId64 "us", ns / 1000);
	else
		snprintf(buf, n, "%" PRId64 "ns", ns);
	return buf;
}

/* ---- clocks -------------------------------------------------------------- */

int64_t fl_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * FL_NS_PER_S + ts.tv_nsec;
}

int64_t fl_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * FL_NS_PER_S + ts.tv_nsec;
}

const char *fl_rfc3339(int64_t wall_ns, char *buf, size_t n)
{
	time_t secs = (time_t)(wall_ns / FL_NS_PER_S);
	int ms = (int)((wall_ns % FL_NS_PER_S) / FL_NS_PER_MS);
	struct tm tm;
	char tmp[32];
	gmtime_r(&secs, &tm);
	strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, n, "%s.%03dZ", tmp, ms);
	return buf;
}

/* A signal handler may write a stop flag only if it is lock-free. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "atomic_int must be lock-free");

/* The one sleep loop: `flag` (may be NULL) is set by a signal handler or
 * another thread; both write a lock-free C11 atomic. */
static int sleep_until(int64_t deadline_ns, atomic_int *flag, int64_t slice_ns)
{
	int watched = flag != NULL;
	if (slice_ns <= 0)
		slice_ns = 10 * FL_NS_PER_MS;
	for (;;) {
		int64_t now = fl_now_ns(), step;
		struct timespec ts;
		if (flag && atomic_load(flag))
			return 1;
		if (now >= deadline_ns)
			return 0;
		step = deadline_ns - now;
		if (watched && step > slice_ns)
			step = slice_ns;
		ts.tv_sec = step / FL_NS_PER_S;
		ts.tv_nsec = step % FL_NS_PER_S;
		nanosleep(&ts, NULL);
	}
}

int fl_sleep_until(int64_t deadline_ns, atomic_int *stop, int64_t slice_ns)
{
	return sleep_until(deadline_ns, stop, slice_ns);
}

int fl_sleep_until_flag(int64_t deadline_ns, atomic_int *stop, int64_t slice_ns)
{
	return sleep_until(deadline_ns, stop, slice_ns);
}

/* ---- keeping an instant ------------------------------------------------------ */

/* The soft RLIMIT_RTPRIO (0 when unreadable). */
static int rtprio_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_RTPRIO, &rl) < 0)
		return 0;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 99)
		return 99;
	return (int)rl.rlim_cur;
}

/* SCHED_FIFO for the calling thread: at FL_INSTANT_RT_PRIO, or at the
 * RLIMIT_RTPRIO cap when that is lower and the first try was refused.
 * Returns the priority, or -1 with errno set. */
static int raise_fifo(void)
{
	struct sched_param sp = { .sched_priority = FL_INSTANT_RT_PRIO };
	int cap;
	if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) == 0)
		return sp.sched_priority;
	if (errno != EPERM)
		return -1;
	cap = rtprio_limit();
	if (cap <= 0 || cap >= FL_INSTANT_RT_PRIO) {
		errno = EPERM;
		return -1;
	}
	sp.sched_priority = cap;
	if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) == 0)
		return cap;
	return -1;
}

static void instant_say(struct fl_instant *in, const char *what)
{
	size_t len = strlen(in->policy);
	if (len < sizeof(in->policy))
		snprintf(in->policy + len, sizeof(in->policy) - len, "%s%s", len ? ", " : "", what);
}

void fl_instant_enter(struct fl_instant *in, unsigned flags)
{
	struct sched_param sp;
	char note[96];
	memset(in, 0, sizeof(*in));
	in->flags = flags;
	in->old_policy = sched_getscheduler(0);
	in->old_prio = sched_getparam(0, &sp) == 0 ? sp.sched_priority : 0;
	if (flags & FL_INSTANT_RAISE) {
		int base = in->old_policy & ~SCHED_RESET_ON_FORK;
		int prio = base == SCHED_FIFO || base == SCHED_RR ? -2 : raise_fifo();
		if (prio >= 0) {
			in->raised = 1;
			snprintf(note, sizeof(note), "SCHED_FIFO %d", prio);
		} else if (prio == -2) {
			snprintf(note, sizeof(note), "already real-time (policy %d)", base);
		} else {
			snprintf(note, sizeof(note),
				 "SCHED_OTHER (SCHED_FIFO not permitted: %s; RLIMIT_RTPRIO %d)",
				 strerror(errno), rtprio_limit());
		}
	} else {
		snprintf(note, sizeof(note), "SCHED_OTHER (not asked)");
	}
	instant_say(in, note);
	if (flags & FL_INSTANT_LOCK) {
		if (mlockall(MCL_CURRENT | MCL_ONFAULT) == 0) {
			in->locked = 1;
			instant_say(in, "memory locked");
		} else {
			snprintf(note, sizeof(note), "memory not locked (%s)", strerror(errno));
			instant_say(in, note);
		}
	}
	if (flags & FL_INSTANT_SPIN)
		instant_say(in, "spin 200us");
}

int fl_instant_wait(struct fl_instant *in, int64_t instant_ns, atomic_int *stop)
{
	int64_t wake = instant_ns - ((in->flags & FL_INSTANT_SPIN) ? FL_INSTANT_SPIN_NS : 0);
	int64_t now = fl_now_ns(), spin_start;
	in->spun_ns = 0;
	while (now < wake) {
		/* Asleep in slices of at most 5 ms, so a stop is seen. */
		int64_t t = wake - now > 5 * FL_NS_PER_MS ? now + 5 * FL_NS_PER_MS : wake;
		struct timespec ts = { (time_t)(t / FL_NS_PER_S), (long)(t % FL_NS_PER_S) };
		if (stop && atomic_load(stop))
			return 1;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		now = fl_now_ns();
	}
	if (stop && atomic_load(stop))
		return 1;
	/* The spin: at most FL_INSTANT_SPIN_NS, however the sleep ended. */
	spin_start = now;
	while (now < instant_ns && now - spin_start < FL_INSTANT_SPIN_NS)
		now = fl_now_ns();
	in->spun_ns = now - spin_start;
	return 0;
}

void fl_instant_leave(struct fl_instant *in)
{
	if (in->raised) {
		struct sched_param sp = { .sched_priority = in->old_prio };
		/* Without CAP_SYS_NICE the reset-on-fork flag cannot be cleared
		 * (sched(7)): keep it then; it only affects children. */
		if (sched_setscheduler(0, in->old_policy, &sp) < 0)
			sched_setscheduler(0, in->old_policy | SCHED_RESET_ON_FORK, &sp);
		in->raised = 0;
	}
	if (in->locked) {
		munlockall();
		in->locked = 0;
	}
}

int fl_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;
	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}
