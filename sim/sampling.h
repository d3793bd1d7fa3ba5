/*
 * sampling: the drill's view of its probes and writers while they run.
 *
 * Owns: starting the probe engine and the writers for a drill, taking new
 * samples into each probe's state (last sample, current ok/failure streak,
 * its timeline once t0 is known), the steady-state check before anything
 * is injected, and the per-probe summary stored with the run.
 * Does not own: taking samples (probe.c) or writes (writer.c), the edges on
 * a timeline (timeline.c), what the drill does with them (runner.c).
 */
#ifndef FAULTLINE_SAMPLING_H
#define FAULTLINE_SAMPLING_H

#include <stdint.h>

struct drill;

/* Starts every probe and writer; writers' rows are tagged tag_base-NAME.
 * 0 or -1 with d->err set. */
int sampling_start(struct drill *d, const char *tag_base);
/* Takes every new sample; feeds the timelines once t0 is known. */
void sampling_ingest(struct drill *d, int64_t now);
/* Waits for the steady state. 0, or -1 with the outcome raised. */
int sampling_steady(struct drill *d);
/* Stores one summary per probe on the run. */
void sampling_summarize(struct drill *d);

#endif
