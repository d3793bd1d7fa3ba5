/*
 * timeline: the edge arithmetic of docs/measurement.md over availability samples, and the
 * Jepsen-style set check that counts lost writes.
 *
 * Owns: the incremental state machine declared in timeline.h and
 * fl_loss_compute. Pure arithmetic: no clock is read here, so every rule is
 * tested on constructed series. Does not own: taking samples (probe.c) or
 * deciding what a drill does with the edges (runner.c).
 *
 * The rules, precisely (all times are placed times, see fl_sample_time):
 *  - t_impact is the earliest failed sample *sent* at or after t0. Its
 *    uncertainty is t_impact minus the placed time of the last ok sample
 *    before it: the outage began somewhere between the last answer we got and
 *    the first request that went unanswered. With no ok sample before it the
 *    uncertainty is t_impact - t0 (the fault is the earliest possible start).
 *    A slow answer to a request sent before t0 that was still on time at
 *    t0 (overdue_ns >= t0) is impact too, placed at t0 with the uncertainty
 *    overdue_ns - t0: the outage began after the fault and before the answer
 *    was late. A hang holds the request in flight when it begins, the best
 *    witness of a short one (at 1 ms probes, a 2 ms hang's). Any other
 *    failure sent before t0 is a flake before the fault.
 *  - t_detect is the placed time of the Nth consecutive failure counted from
 *    impact (N = detect_failures). An ok sample resets the count, so a blip
 *    shorter than N samples is impacted but never detected.
 *  - t_restored is the start of the first run of ok samples after impact
 *    that lasts stability_ns with no failure placed inside
 *    [run start, run start + stability). A failure inside the window resets
 *    the run (a flap is not a restoration). restored_unc is the run start
 *    minus the placed time of the last failure before it.
 *  - A run is confirmed when an ok sample is placed at or after the end of
 *    its window, when any sample *sent* at or after the end of the window is
 *    fed (samples come in order of sending, so every sample that could have
 *    failed inside the window is known by then), or by fl_timeline_tick
 *    once now - run start >= stability_ns + the sample timeout (when set):
 *    a sample sent inside the window may still be in flight at `now` and
 *    fail later, placed inside the window.
 *  - Once restored, the edges are final; later samples are only counted.
 *
 * Order tolerance: the prober feeds samples in order of sending, but a late
 * answer can carry a placed time earlier than one already seen. Edges are
 * computed on placed times, so a late sample still refines what it can: an
 * earlier failure moves t_impact back, a later ok before impact narrows its
 * bracket, a failure placed before the current run start narrows
 * restored_unc, and one placed inside a pending window resets it.
 */
#include "sim/timeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

int64_t fl_sample_time(const struct fl_sample *s)
{
	return s->ok ? s->done_ns : s->sent_ns;
}

void fl_timeline_init(struct fl_timeline *tl, int64_t t0, long detect_failures, int64_t stability_ns)
{
	memset(tl, 0, sizeof(*tl));
	tl->t0 = t0;
	tl->detect_failures = detect_failures >= 1 ? detect_failures : 1;
	tl->stability_ns = stability_ns >= 0 ? stability_ns : 0;
	tl->t_impact = tl->impact_unc = -1;
	tl->t_detect = -1;
	tl->t_restored = tl->restored_unc = -1;
	tl->last_ok_before_impact = -1;
	tl->last_fail = -1;
	tl->run_start = tl->run_start_unc = -1;
	tl->restored_wait_ns = tl->run_start_wait = -1;
}

static void timeline_confirm(struct fl_timeline *tl)
{
	tl->t_restored = tl->run_start;
	tl->restored_unc = tl->run_start_unc;
	tl->restored_wait_ns = tl->run_start_wait;
}

/* The end of the pending run's window has been reached: confirm it. */
static int timeline_window_passed(const struct fl_timeline *tl, int64_t t)
{
	return tl->run_start >= 0 && t - tl->run_start >= tl->stability_ns;
}

/* Whether failed sample s sent before t0 was held by the fault: a slow
 * answer still on time at t0 (its placed time is then t0). */
static int timeline_held_at_t0(const struct fl_timeline *tl, const struct fl_sample *s)
{
	return s->sent_ns < tl->t0 && s->overdue_ns >= tl->t0;
}

/* The uncertainty of an impact placed at `at` by failed sample s. */
static int64_t timeline_impact_unc(const struct fl_timeline *tl, const struct fl_sample *s, int64_t at)
{
	if (timeline_held_at_t0(tl, s))
		return s->overdue_ns - tl->t0;
	if (tl->last_ok_before_impact >= 0 && tl->last_ok_before_impact <= at)
		return at - tl->last_ok_before_impact;
	return at - tl->t0;
}

static void timeline_feed_before_impact(struct fl_timeline *tl, const struct fl_sample *s, int64_t at)
{
	if (s->ok) {
		if (at > tl->last_ok_before_impact)
			tl->last_ok_before_impact = at;
		return;
	}
	if (s->sent_ns < tl->t0 && !timeline_held_at_t0(tl, s))
		return; /* a flake before the fault is not its impact */
	tl->t_impact = at;
	tl->last_fail = at;
	tl->consecutive_failures = 1;
	tl->impact_unc = timeline_impact_unc(tl, s, at);
	if (tl->last_ok_before_impact > at) {
		/* A success answered after this earlier-sent failure was fed first:
		 * it belongs after impact and may start the run of successes. */
		tl->run_start = tl->last_ok_before_impact;
		tl->run_start_unc = tl->run_start - at;
		tl->run_start_wait = -1;
		tl->consecutive_failures = 0;
		tl->last_ok_before_impact = -1;
	}
	if (tl->consecutive_failures >= tl->detect_failures)
		tl->t_detect = at;
}

/* A failure placed before the recorded impact arrived late. */
static void timeline_feed_early_failure(struct fl_timeline *tl, const struct fl_sample *s, int64_t at)
{
	if (s->sent_ns < tl->t0 && !timeline_held_at_t0(tl, s))
		return;
	tl->t_impact = at;
	tl->impact_unc = timeline_impact_unc(tl, s, at);
}

void fl_timeline_feed(struct fl_timeline *tl, const struct fl_sample *s)
{
	int64_t at = timeline_held_at_t0(tl, s) && !s->ok ? tl->t0 : fl_sample_time(s);

	tl->samples++;
	if (!s->ok)
		tl->failures++;
	if (fl_timeline_restored(tl))
		return;
	if (!fl_timeline_impacted(tl)) {
		timeline_feed_before_impact(tl, s, at);
		return;
	}
	/* Everything sent before this sample is known: a window that ended
	 * before it was sent held no failure. */
	if (timeline_window_passed(tl, s->sent_ns)) {
		timeline_confirm(tl);
		return;
	}
	if (s->ok) {
		if (at < tl->t_impact) {
			/* A late answer from before the outage narrows its start. */
			if (at > tl->last_ok_before_impact) {
				tl->last_ok_before_impact = at;
				tl->impact_unc = tl->t_impact - at;
			}
			return;
		}
		if (at <= tl->last_fail)
			return; /* a late answer from before the latest failure */
		tl->consecutive_failures = 0;
		if (tl->run_start < 0 || at < tl->run_start) {
			tl->run_start = at;
			tl->run_start_unc = at - tl->last_fail;
			tl->run_start_wait = s->done_ns - s->sent_ns;
		}
		if (timeline_window_passed(tl, at))
			timeline_confirm(tl);
		return;
	}
	/* a failure after (or, arriving late, before) impact */
	if (at < tl->t_impact) {
		timeline_feed_early_failure(tl, s, at);
		return;
	}
	if (at > tl->last_fail)
		tl->last_fail = at;
	if (tl->run_start >= 0 && at < tl->run_start) {
		/* A late failure before the run start only narrows its bracket. */
		tl->run_start_unc = tl->run_start - at < tl->run_start_unc ? tl->run_start - at
									   : tl->run_start_unc;
		return;
	}
	tl->run_start = tl->run_start_unc = -1;
	tl->consecutive_failures++;
	/* The Nth failure in time: with late arrivals, the latest placed one. */
	if (tl->t_detect < 0 && tl->consecutive_failures >= tl->detect_failures)
		tl->t_detect = tl->last_fail;
}

void fl_timeline_tick(struct fl_timeline *tl, int64_t now_ns)
{
	if (fl_timeline_impacted(tl) && !fl_timeline_restored(tl) &&
	    timeline_window_passed(tl, now_ns - tl->sample_timeout_ns))
		timeline_confirm(tl);
}

void fl_timeline_set_sample_timeout(struct fl_timeline *tl, int64_t timeout_ns)
{
	tl->sample_timeout_ns = timeout_ns > 0 ? timeout_ns : 0;
}

const char *fl_timeline_restored_wait(const struct fl_timeline *tl, char *buf, size_t n)
{
	if (n == 0)
		return "";
	buf[0] = '\0';
	if (fl_timeline_restored(tl) && tl->restored_wait_ns >= 0)
		snprintf(buf, n,
			 "; its first answer waited %.3f ms (a backlog after a hang: counted in "
			 "the outage)",
			 (double)tl->restored_wait_ns / 1e6);
	return buf;
}

int fl_timeline_impacted(const struct fl_timeline *tl)
{
	return tl->t_impact >= 0;
}

int fl_timeline_detected(const struct fl_timeline *tl)
{
	return tl->t_detect >= 0;
}

int fl_timeline_restored(const struct fl_timeline *tl)
{
	return tl->t_restored >= 0;
}

int64_t fl_timeline_rto(const struct fl_timeline *tl)
{
	if (!fl_timeline_impacted(tl))
		return 0;
	if (!fl_timeline_restored(tl))
		return -1;
	return tl->t_restored > tl->t0 ? tl->t_restored - tl->t0 : 0;
}

/* ---- data loss ------------------------------------------------------------ */

static int present_has(const long *present, long npresent, long seq)
{
	long lo = 0, hi = npresent;
	while (lo < hi) {
		long mid = lo + (hi - lo) / 2;
		if (present[mid] == seq)
			return 1;
		if (present[mid] < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

int fl_loss_compute(const struct fl_write *log, long nlog, const long *present, long npresent,
		    int64_t t0, struct fl_loss *out)
{
	int64_t earliest_lost = -1;

	memset(out, 0, sizeof(*out));
	if (nlog > 0) {
		out->lost_seqs = fl_malloc((size_t)nlog * sizeof(*out->lost_seqs));
		if (!out->lost_seqs)
			return -1;
	}
	for (long i = 0; i < nlog; i++) {
		const struct fl_write *w = &log[i];
		int here = present_has(present, npresent, w->seq);
		switch (w->outcome) {
		case FL_WRITE_ACK:
			out->acked++;
			if (here)
				break;
			out->lost_seqs[out->nlost++] = w->seq;
			if (w->ack_ns < t0) {
				out->lost_before_fault++;
				if (earliest_lost < 0 || w->ack_ns < earliest_lost)
					earliest_lost = w->ack_ns;
			} else {
				out->lost_after_fault++;
			}
			break;
		case FL_WRITE_FAIL:
		case FL_WRITE_INDETERMINATE:
			if (w->outcome == FL_WRITE_FAIL)
				out->failed++;
			else
				out->indeterminate++;
			/* An indeterminate write may or may not have been applied;
			 * a failed one was promised not to be. */
			if (here && w->outcome == FL_WRITE_FAIL)
				out->failed_present++;
			else if (here)
				out->recovered++;
			break;
		}
	}
	if (out->nlost > 1)
		qsort(out->lost_seqs, (size_t)out->nlost, sizeof(*out->lost_seqs), cmp_long);
	out->rpo_ns = earliest_lost >= 0 ? t0 - earliest_lost : 0;
	return 0;
}

void fl_loss_release(struct fl_loss *loss)
{
	if (!loss)
		return;
	fl_free(loss->lost_seqs);
	loss->lost_seqs = NULL;
	loss->nlost = 0;
}
