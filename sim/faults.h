/*
 * faults: the drill's faults — set up from the scenario, journaled then
 * injected, reverted when their duration is over or at the end.
 *
 * Owns: the active_fault table of a drill, the journal row of each fault
 * (armed ahead of the instant, marked after injecting and after
 * reverting), and
 * the rule that an injected fault is reverted whatever else happens.
 * Does not own: what a fault does (injectors/), the journal's storage
 * (core/store.c), when the drill injects (runner.c).
 */
#ifndef FAULTLINE_FAULTS_H
#define FAULTLINE_FAULTS_H

#include <stddef.h>
#include <stdint.h>

struct drill;

/* Resolves each fault's injector and target. 0 or -1 with d->err set. */
int faults_setup(struct drill *d);
/* Faults are prepared and journaled "armed" (durably, an fsync) this long
 * before their instant, so no journal write sits between the instant and
 * the fault (core/journal.h). */
#define FAULTS_ARM_LEAD_NS (100 * INT64_C(1000000))
/* The blast radius in cloud resources, before anything is armed: prepares
 * (read-only) every fault whose injector counts resources and checks
 * blast_radius.max_targets against them and the other faults' targets.
 * Records of faults due at once are kept for faults_arm. No-op without
 * max_targets. 0, or -1 with d->err set (exit 2) and nothing changed. */
int faults_check_blast(struct drill *d);
/* The runner hands a fault to faults_inject this long before its instant:
 * faults_inject waits the rest at SCHED_FIFO when permitted (core/clock.h,
 * fl_instant_*), which a thread woken late by a loaded scheduler could not
 * keep. The drill loop does not turn meanwhile (at most this long). */
#define FAULTS_INSTANT_LEAD_NS (20 * INT64_C(1000000))
/* Prepares fault i (unless faults_check_blast did; a fault prepared here is
 * checked against the blast radius) and journals it armed (durably). 0, or -1 with d->err set. */
int faults_arm(struct drill *d, size_t i);
/* Injects fault i at its instant (inject_at; at once when it has passed),
 * arming it first if it is not yet: raises the thread for the instant
 * (fl_instant_enter), waits for it, re-reads what its injector must re-read
 * (journaled when changed), injects, reads t0, drops the priority, makes
 * the fault durable (the injector's optional settle), marks it injected.
 * 0; 1 when the operator interrupted the wait (nothing injected); -1 with
 * d->err set (a fault whose settle failed is in place: reverted with the
 * rest). */
int faults_inject(struct drill *d, size_t i);
/* Reverts the faults whose duration is over at `now`. */
void faults_timed_reverts(struct drill *d, int64_t now);
/* Reverts everything still injected, newest first. */
void faults_revert_all(struct drill *d);
void faults_free(struct drill *d);

#endif
