/*
 * timeline: the arithmetic of docs/measurement.md that turns availability samples into
 * t_impact, t_detect and t_restored, each with its uncertainty.
 *
 * Owns: an incremental state machine fed with samples in the order they
 * complete; pure arithmetic, no clocks, no I/O, so it is tested on
 * constructed sample series (flaps, no impact, hangs). Does not own:
 * sampling (probe.c) or the other events (runner.c records t_inject and
 * t_validated itself).
 *
 * Placement rule: a failed sample sits at the moment its request was sent, a
 * successful one at the moment its answer arrived. The uncertainty of an
 * edge is the gap between the two samples that bracket it (the last sample
 * of the old state and the first of the new one, at their placed times).
 * All times are ns on the run's monotonic timeline.
 */
#ifndef FAULTLINE_TIMELINE_H
#define FAULTLINE_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

struct fl_sample {
	int64_t sent_ns; /* request sent */
	int64_t done_ns; /* answer arrived, error seen, or timeout fired */
	int ok;
	/* For an answer judged on its latency and found slow: the earliest it
	 * was overdue (sent + the threshold), else 0. A failed sample sent
	 * before t0 whose answer was still on time at t0 is the fault's:
	 * a hang holds the request in flight when it begins. */
	int64_t overdue_ns;
};

/* The placed time of a sample: sent_ns when failed, done_ns when ok. */
int64_t fl_sample_time(const struct fl_sample *s);

struct fl_timeline {
	/* configuration */
	int64_t t0;           /* injection time */
	long detect_failures; /* consecutive failed samples for detection (>= 1) */
	int64_t stability_ns; /* successes must last this long to count as restored */
	/* results; a time is -1 until known */
	int64_t t_impact, impact_unc;
	int64_t t_detect;
	int64_t t_restored, restored_unc;
	/* internal state */
	int64_t last_ok_before_impact; /* placed time of the last ok sample before impact */
	int64_t last_fail;             /* placed time of the latest failed sample */
	long consecutive_failures;
	int64_t run_start; /* start of the current run of ok samples after impact, -1 */
	int64_t run_start_unc;
	long samples, failures;
	/* configuration added later: see fl_timeline_set_sample_timeout (0 = none) */
	int64_t sample_timeout_ns;
	/* How long the answer that starts the restored run waited (done - sent),
	 * -1 unknown. After a hang it is the backlog the target served before
	 * this answer, and it is part of the outage: the restore edge is when
	 * the answer arrived, which is what a user saw (docs/measurement.md). */
	int64_t restored_wait_ns;
	int64_t run_start_wait; /* the same for the pending run */
};

void fl_timeline_init(struct fl_timeline *tl, int64_t t0, long detect_failures, int64_t stability_ns);
/* Feeds one sample. Samples sent before t0 only set the "last ok" bracket,
 * but for a failure overdue only after t0 (overdue_ns >= t0: placed at t0).
 * Samples must be fed in order of their sent_ns (the prober's schedule). */
void fl_timeline_feed(struct fl_timeline *tl, const struct fl_sample *s);
/* Tells the timeline that time has advanced to now_ns with no new sample:
 * a pending run of successes that has lasted stability_ns is confirmed. */
void fl_timeline_tick(struct fl_timeline *tl, int64_t now_ns);
/* Tells the timeline the probe's per-sample timeout, so fl_timeline_tick
 * waits that much longer before confirming: a sample sent inside the window
 * and still in flight at now_ns may yet fail (a hang), and it would be placed
 * inside the window. Call after fl_timeline_init; 0 (the default) confirms
 * at exactly stability_ns. */
void fl_timeline_set_sample_timeout(struct fl_timeline *tl, int64_t timeout_ns);
int fl_timeline_impacted(const struct fl_timeline *tl);
int fl_timeline_detected(const struct fl_timeline *tl);
int fl_timeline_restored(const struct fl_timeline *tl);
/* RTO achieved = t_restored - t0 (0 when there was no impact); -1 when the
 * system never came back. */
int64_t fl_timeline_rto(const struct fl_timeline *tl);
/* "; its first answer waited N ms (counted in the outage)" for the restore
 * edge, or "" when unknown; written into buf, returned. */
const char *fl_timeline_restored_wait(const struct fl_timeline *tl, char *buf, size_t n);

/* ---- data loss (Jepsen-style set check) --------------------------------- */
enum fl_write_outcome {
	FL_WRITE_ACK = 0,          /* acknowledged: must survive */
	FL_WRITE_FAIL = 1,         /* definitely not applied (refused before sending) */
	FL_WRITE_INDETERMINATE = 2 /* timeout or connection lost after sending: may or may not exist */
};

struct fl_write {
	long seq;
	int64_t sent_ns;
	int64_t ack_ns; /* when the outcome was known */
	enum fl_write_outcome outcome;
};

struct fl_loss {
	long acked, failed, indeterminate;
	long lost_before_fault; /* acked before t0, missing after recovery */
	long lost_after_fault;  /* acked at or after t0, missing after recovery */
	long recovered;         /* indeterminate writes found present */
	long failed_present;    /* writes answered as failed yet present: the system lied */
	int64_t rpo_ns;         /* t0 - ack time of the earliest lost-before write, or 0 */
	long *lost_seqs;        /* new array (fl_free), ascending */
	long nlost;
};

/* Compares the writer's log (any order) with the sequence numbers that
 * survived (sorted ascending, as read back). Returns 0, -1 on allocation
 * failure. */
int fl_loss_compute(const struct fl_write *log, long nlog, const long *present, long npresent,
		    int64_t t0, struct fl_loss *out);
void fl_loss_release(struct fl_loss *loss);

#endif
