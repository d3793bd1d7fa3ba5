/*
 * clock: durations, the monotonic and wall clocks, sleeping to a deadline.
 *
 * Owns: parsing and formatting durations ("250ms", "30s", ISO 8601 "PT5M"),
 * CLOCK_MONOTONIC and CLOCK_REALTIME in nanoseconds, RFC 3339 text,
 * interruptible sleeps, and checked integer parsing.
 * Does not own: the drill timeline (sim/timeline.h).
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
 * NULL), checking every `slice_ns`. Returns 0 at deadline, 1 if stopped. */
int fl_sleep_until(int64_t deadline_ns, volatile sig_atomic_t *stop, int64_t slice_ns);
/* The same with a flag another thread sets (a C11 atomic: a stop request
 * from the thread that owns a writer or a watcher). */
int fl_sleep_until_flag(int64_t deadline_ns, atomic_int *stop, int64_t slice_ns);

/* Checked integer parse of the whole string; 0 or -1. */
int fl_parse_long(const char *s, long min, long max, long *out);

#endif
