/*
 * verdict: how a drill ended (one outcome), what users are told about it
 * (the stored verdict word, the exit code) and the targets check.
 *
 * Owns: the outcome enum and its name table, the order of severity between
 * outcomes (a worse one is never overwritten by a milder one), the mapping
 * outcome -> verdict word and exit code, and comparing measured figures
 * with the scenario's targets. Pure arithmetic over its arguments: no
 * clocks, no I/O, so every rule is unit-testable.
 * Does not own: measuring the figures (runner.c, timeline.c), storing the
 * run (store.c).
 */
#ifndef FAULTLINE_VERDICT_H
#define FAULTLINE_VERDICT_H

#include <stddef.h>

#include "core/scenario.h"
#include "core/store.h"

/* Ordered from mild to severe: fl_outcome_raise keeps the most severe. */
enum fl_outcome {
	FL_OUTCOME_PASS = 0,      /* nothing went wrong (yet) */
	FL_OUTCOME_FAIL,          /* a target was missed or a recovery step failed */
	FL_OUTCOME_STOPPED,       /* a stop condition aborted the drill */
	FL_OUTCOME_INTERRUPTED,   /* Ctrl-C, SIGTERM, SIGHUP */
	FL_OUTCOME_ERROR,         /* the drill itself could not run */
	FL_OUTCOME_JOURNAL_STALE, /* a revert happened but the journal does not say so */
	FL_OUTCOME_REVERT_FAILED, /* a fault is still in place */
	FL_OUTCOME_COUNT
};

const char *fl_outcome_name(enum fl_outcome o);
/* 0 and *out set, or -1 for an unknown name. */
int fl_outcome_parse(const char *name, enum fl_outcome *out);
/* The more severe of the two. */
enum fl_outcome fl_outcome_raise(enum fl_outcome cur, enum fl_outcome next);

/* The stored verdict (core/run.h; its word is fl_verdict_name()): pass,
 * fail, aborted or error. A run with recorded failures is never a pass,
 * whatever the outcome says. */
enum fl_verdict fl_verdict_of(enum fl_outcome o, size_t nfailures);
/* The exit code of the contract (README): err_code is the code of the error
 * that made the drill FL_OUTCOME_ERROR (FL_EXIT_ENV when 0). */
int fl_verdict_exit(enum fl_outcome o, size_t nfailures, int err_code);

/* Compares run's measured figures with the targets — and fails any write
 * answered as failed that is present after recovery; adds one failure line
 * per miss to run. Returns the number of misses, -1 when a failure line
 * could not be stored (out of memory). */
int fl_verdict_judge(struct fl_run *run, const struct fl_objectives *targets);

#endif
