/*
 * steps: the scenario's prepare steps (before the steady state) and its
 * recovery steps (actions, waits, manual steps) as timed phases.
 *
 * Owns: the step kind's name table, running a prepare step to completion,
 * moving the current recovery step along one loop turn at a time (spawn,
 * poll, time out, record its phase), and killing an abandoned step.
 * Does not own: the drill loop and its deadline (runner.c), probe health
 * (probe.c, timeline.c), spawning (core/spawn.c).
 */
#ifndef FAULTLINE_STEPS_H
#define FAULTLINE_STEPS_H

#include <stdint.h>

#include "core/scenario.h"

struct drill;

const char *fl_step_kind_name(enum fl_step_kind k);
int fl_step_kind_parse(const char *name, enum fl_step_kind *out);

/* Runs every prepare step in order, each phase stored from the drill start.
 * 0, or -1 with the outcome raised (error, or interrupted). */
int steps_prepare(struct drill *d);
/* Moves the recovery steps along at `now`: 1 when all are done, 0 while one
 * is in progress, -1 when one failed (outcome raised, failure recorded). */
int steps_advance(struct drill *d, int64_t now);
/* Kills the current action step, if any, and drops its log. */
void steps_abandon(struct drill *d);

#endif
