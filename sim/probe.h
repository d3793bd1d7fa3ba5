/*
 * probe: availability probes that sample on their own schedules without
 * blocking each other.
 *
 * Owns: one sampling thread per engine that drives every probe from a single
 * loop — http and tcp through one libcurl multi handle (connection reuse,
 * tcp as CURLOPT_CONNECT_ONLY), command probes as spawned children watched
 * in the same poll — never a thread per probe nor a process per http sample.
 * Each probe sends on a fixed schedule (t = start + k*interval; a late tick
 * is sent at once, missed ticks are skipped, never bunched) and records every
 * sample with sent/done times on CLOCK_MONOTONIC. An http or tcp probe keeps
 * its schedule while earlier samples are still in flight (a hanging target
 * is still sampled every interval), up to ceil(timeout/interval)+1 samples in
 * flight per probe and FL_PROBE_MAX_IN_FLIGHT per engine; a command probe has
 * at most one. A tick that finds a cap full is skipped and counted. Also
 * owns one-shot checks (validation, steady state, wait steps) with a
 * deadline. Does not own: what samples mean (timeline.c) or writers
 * (writer.c).
 */
#ifndef FAULTLINE_PROBE_H
#define FAULTLINE_PROBE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/scenario.h"
#include "sim/timeline.h"
#include "core/error.h"

struct fl_probe_engine;

/* Samples in flight at once over a whole engine (and idle connections kept
 * for reuse): bounds the file descriptors a drill over many hanging targets
 * can take. */
#define FL_PROBE_MAX_IN_FLIGHT 256

struct fl_probe_summary_lite {
	long samples, failures;
	double latency_p50_ms, latency_p99_ms, latency_max_ms;
	long skipped; /* ticks not sent: the probe's or the engine's in-flight cap was full */
	double max_latency_ms;     /* answers slower than this were failed samples; NAN: none */
	int max_latency_derived;   /* 1: derived from the steady state, 0: the scenario's */
	double busy_latency_ms;    /* the threshold while the machine is busy (probe.h) */
	long busy_judged;          /* answers judged against it (the machine was busy) */
	int max_latency_local;     /* 1: the local threshold (the target's waits measured) */
	long target_pid;           /* the local target found (its CPU waits measured), or 0 */
	long target_measured;      /* samples whose target waits were measured */
	double target_wait_max_ms; /* the most its threads waited over one sample */
	int cpus_watched;          /* CPUs whose lost time was subtracted too (0: none) */
	double lost_max_ms;        /* the most the CPUs lost over one sample */
};

/* The default latency threshold of an http or tcp probe (one without
 * "max_latency"): FL_PROBE_LATENCY_P99_FACTOR times the p99 of its answers
 * in the steady state, at least FL_PROBE_LATENCY_MAX_FACTOR times their
 * maximum and a floor that depends on what the steady state showed:
 *  - loaded (the default): FL_PROBE_LATENCY_INTERVALS intervals and
 *    FL_PROBE_LATENCY_FLOOR_NS. With two busy cores (load 10-19) a healthy
 *    loopback target is not run for 20-90 ms now and then, which delays
 *    every sample sent meanwhile (so they corroborate each other, below),
 *    and a 1 s steady state need not show it; one failed sample inside the
 *    stability window moves the restore edge by up to the window.
 *  - calm: at least FL_PROBE_LATENCY_CALM_SAMPLES answers, none more than
 *    FL_PROBE_LATENCY_CALM_SPREAD_NS slower than their median, no send
 *    more than that late on its schedule, and the prober's thread waited
 *    for a CPU no more than FL_PROBE_LATENCY_CALM_WAIT_PERMILLE of the
 *    time (the prober shares the CPUs: a machine that stalls the target
 *    stalls the prober too). Then only FL_PROBE_LATENCY_CALM_FLOOR_NS:
 *    3 ms, because even at load 1.5 the target is not run for 2-5 ms now
 *    and then (a 1 ms floor voided 3 of 15 trials through such stalls).
 * A hang no longer than min(threshold + 2 intervals, max(3 x threshold,
 * 10 ms) + 1 interval) may leave no failed sample: nothing in a sample tells a hang
 * from a target the machine did not run (docs/measurement.md, "slow is
 * down"). A hang shorter than the sample timeout is otherwise not seen at
 * all: its requests are answered, late. */
#define FL_PROBE_LATENCY_P99_FACTOR 4
#define FL_PROBE_LATENCY_MAX_FACTOR 2
#define FL_PROBE_LATENCY_INTERVALS 2
#define FL_PROBE_LATENCY_FLOOR_NS (25 * FL_NS_PER_MS)
#define FL_PROBE_LATENCY_CALM_SAMPLES 100
#define FL_PROBE_LATENCY_CALM_SPREAD_NS (2 * FL_NS_PER_MS)
#define FL_PROBE_LATENCY_CALM_FLOOR_NS (3 * FL_NS_PER_MS)
#define FL_PROBE_LATENCY_CALM_WAIT_PERMILLE 5
/* A target on this machine whose threads' CPU waits are measured
 * (probe_local.c): each answer's share, less the prober's stalls and the
 * target's waits, is the target's own answer time, and the threshold is
 * FL_PROBE_LATENCY_P99_FACTOR times its p99 in the steady state, at least
 * FL_PROBE_LATENCY_LOCAL_FLOOR_NS, whatever the steady state's load. The
 * loaded threshold holds only while the machine is crowded (below): the
 * loop's lateness and its thread's CPU waits are subtracted instead (on a
 * virtual machine they show every few seconds on an idle machine too: an
 * idle virtual CPU is woken late). On a quiet virtual machine an answer
 * is also delayed 1-2 ms now and then with no CPU wait of the prober or of
 * the target to show for it (the hypervisor's): the CPUs' watch (below)
 * sees those, and with it a slow answer fails alone. Without the watch
 * (too many CPUs) corroboration and the margin still apply. */
#define FL_PROBE_LATENCY_LOCAL_FLOOR_NS (1 * FL_NS_PER_MS)
/* The calm floor holds only while the machine stays calm: once the loop is
 * late, or its thread waits for a CPU, FL_PROBE_BUSY_WAIT_NS in one turn,
 * answers are judged against the loaded threshold for FL_PROBE_BUSY_HOLD_NS
 * (a calm steady state says nothing of a build that starts later). */
#define FL_PROBE_BUSY_WAIT_NS (1 * FL_NS_PER_MS)
#define FL_PROBE_BUSY_HOLD_NS (2 * FL_NS_PER_S)
/* Crowded: more tasks runnable than CPUs online (/proc/loadavg, what
 * vmstat's "r" column shows) in at least this share of the loop's turns
 * over one window. Measured on a 2-core machine: quiet, 1 runnable task
 * (the reader) in 98 % of 5,000 reads and more than 2 in 0.4 %; beside a
 * two-job build, more than 2 in 98 %. On a virtual machine a thread's CPU
 * waits alone do not say the machine is busy: an idle virtual CPU woken
 * late shows as a wait of a millisecond or more every few seconds. Our own
 * threads are not counted: the CPUs' watch past its deadlines, and the
 * threads waiting on the engine that its completions woke (the drill's;
 * at 1 ms probes under ASan they made a quiet machine "crowded" in 3 of 8
 * runs). */
#define FL_PROBE_CROWDED_PERMILLE 250
#define FL_PROBE_CROWD_WINDOW_NS (250 * FL_NS_PER_MS)
/* A window is judged once it holds this many turns (it lasts longer for a
 * slow probe). The first window began with the engine's first turn, and
 * one crowded turn then (the drill's threads starting beside the target)
 * judged the machine busy for FL_PROBE_BUSY_HOLD_NS: at 1 ms probes under
 * ASan, the first 2 s of a quiet trial in 4 of 13 runs. */
#define FL_PROBE_CROWD_MIN_TURNS 8
/* A slow answer (over the threshold, derived or explicit) is a failed
 * sample when the sample sent just before or just after it was also slow or
 * failed, or when it is slower than FL_PROBE_LATENCY_MARGIN times the
 * threshold; alone and within the margin it is ok. On a loaded machine a
 * lone slow answer is the scheduler, and one failed sample inside the
 * stability window moves the restore edge by the whole window; a hang
 * delays every sample sent during it, so its slow answers corroborate each
 * other. Readers see a slow sample only once it is judged, which is at
 * most one sample (a timeout) later. */
#define FL_PROBE_LATENCY_MARGIN 3
/* ... and at least this slow: on a quiet virtual machine, under ASan, an
 * answer is now and then collected 5-7 ms late with nothing in the guest to
 * show for it (one sample alone: the prober's side). With the local 1 ms
 * threshold the margin alone (3 ms) made those outages. Not for a local
 * target whose CPUs are watched (FL_PROBE_WATCH_*): there those delays are
 * subtracted, and a slow answer fails alone. */
#define FL_PROBE_LATENCY_LONE_NS (10 * FL_NS_PER_MS)
/* The CPUs' watch (probe_watch.c), while a probe's target is on this
 * machine: a thread per CPU, pinned, woken every FL_PROBE_WATCH_PERIOD_NS;
 * a wake-up later than FL_PROBE_WATCH_MIN_LATE_NS is time that CPU was
 * lost (to the hypervisor, or to other work), and an answer's wait less
 * that time is the target's. With it a slow answer of a local target fails
 * alone, past the local threshold once all the machine may have taken of
 * it is out (fl_probe_machine_share_most): neither corroboration nor the
 * lone floor is needed, and a hang of the threshold plus one interval is
 * missed only where the machine may have taken that much of its answer (at
 * 1 ms probes, one of 2 ms). Not on machines with more than
 * FL_PROBE_WATCH_MAX_CPUS CPUs (the threads would cost more than they
 * tell); there the rules above hold. Cost: about 4,000 short wake-ups a
 * second per CPU while the probes run. */
#define FL_PROBE_WATCH_PERIOD_NS (250 * 1000)
#define FL_PROBE_WATCH_MIN_LATE_NS (100 * 1000)
#define FL_PROBE_WATCH_MAX_CPUS 16
/* Steady-state answers the threshold is derived from, at least. */
#define FL_PROBE_LATENCY_MIN_SAMPLES 10

struct fl_probe_engine *fl_probe_engine_new(struct fl_error *err);
/* Adds a probe (http, tcp or command; spec is borrowed and must outlive the
 * engine). Returns its index (0, 1, ...) or -1. Only before start. */
int fl_probe_engine_add(struct fl_probe_engine *eng, const struct fl_probe_spec *spec,
			struct fl_error *err);
/* Starts sampling in a background thread. */
int fl_probe_engine_start(struct fl_probe_engine *eng, struct fl_error *err);
/* Stops sampling and joins the thread (in-flight samples are abandoned). */
void fl_probe_engine_stop(struct fl_probe_engine *eng);
void fl_probe_engine_free(struct fl_probe_engine *eng); /* stops first; NULL ok */

/* Copies samples [from, from+max) of probe `idx`, in order of sent_ns.
 * Returns how many were copied. Thread-safe. Samples complete out of order
 * (a later one may be answered while an earlier one still waits), so only
 * the longest completed prefix is visible: sample i is copied only once
 * every sample sent before it has completed, and an index once read never
 * changes. fl_probe_engine_count returns the length of that prefix; when
 * the engine stops, samples still in flight are abandoned (never recorded)
 * and the completed ones after them become visible. */
size_t fl_probe_engine_samples(struct fl_probe_engine *eng, int idx, size_t from,
			       struct fl_sample *out, size_t max);
size_t fl_probe_engine_count(struct fl_probe_engine *eng, int idx);
/* Waits until any probe records a new sample, the deadline passes, or *stop
 * becomes non-zero. Returns 1 on a new sample, 0 otherwise. */
int fl_probe_engine_wait(struct fl_probe_engine *eng, int64_t deadline_ns, atomic_int *stop);
/* Summary of probe idx (samples, failures, latency percentiles; names
 * borrowed from the spec). */
void fl_probe_engine_summary(struct fl_probe_engine *eng, int idx, struct fl_probe_summary_lite *out);

/* The most the machine may have taken of one answer among probe idx's
 * completed samples sent in [from_ns, to_ns]: the prober's own stalls plus
 * the local target's CPU waits plus, under a derived threshold with the
 * CPUs watched, their lost time (summed: what a slow answer alone is
 * judged against; ns, 0 when none). What a hang shorter than the detection
 * limit plus this may leave unseen. Thread-safe. */
int64_t fl_probe_engine_machine_ns(struct fl_probe_engine *eng, int idx, int64_t from_ns,
				   int64_t to_ns);

/* Fixes probe idx's latency threshold from the answers so far, which the
 * caller knows to be its steady state: from then on an answer slower than
 * it is a failed sample. An explicit max_latency is kept, "off" stays off,
 * command probes have none. Returns the threshold in force (ns), 0 when
 * there is none (off, a command, too few answers, or a threshold that
 * would not be below the sample timeout). Call once, after the steady
 * state and before the fault. */
int64_t fl_probe_engine_arm_latency(struct fl_probe_engine *eng, int idx);

/* What the default threshold is derived from: one probe's steady state. */
struct fl_probe_steady {
	const double *own; /* the target's share of each answer, ns, sorted ascending */
	size_t n;
	int64_t late_ns;   /* the most a send came after its tick */
	int64_t waited_ns; /* the prober thread's run_delay over the span; -1: unknown */
	int64_t span_ns;   /* from the first sample sent to the last */
	int64_t interval_ns, timeout_ns;
	int local; /* own[] has the local target's CPU waits taken out too */
};
/* The derivation itself (FL_PROBE_LATENCY_*). Returns the threshold in ns,
 * 0 for none (too few answers, or not below the timeout); *busy (may be
 * NULL) gets the threshold with the loaded floor (0: none), which differs
 * only after a calm steady state. */
int64_t fl_probe_latency_derive(const struct fl_probe_steady *st, int64_t *busy);

/* One blocking sample of spec with its timeout, cut short at deadline_ns
 * (CLOCK_MONOTONIC; 0: none) and soon after *stop becomes non-zero (stop
 * may be NULL; "interrupted"); returns 1 ok, 0 failed (reason in detail if
 * non-NULL), -1 could not run. */
int fl_probe_check_once(const struct fl_probe_spec *spec, int64_t deadline_ns, atomic_int *stop,
			char *detail, size_t detail_len);
/* Repeats fl_probe_check_once every spec->interval_ns until it passes or
 * timeout_ns runs out (or *stop is set); an attempt in progress ends with
 * it. Returns 1 passed, 0 not. */
int fl_probe_check_until(const struct fl_probe_spec *spec, int64_t timeout_ns, atomic_int *stop,
			 char *detail, size_t detail_len);

#endif
