/*
 * runner: one drill, end to end, on the timeline of docs/measurement.md.
 *
 * Owns: the order of a drill — its stages prepare, steady-state, inject,
 * detect, recover, restore, validate, read-back, revert (drill.h names
 * them) — the drill loop that moves it from injection to restoration, the
 * drill timeout, stop conditions and the interrupt flag checked at every
 * stage, and storing the run with its verdict. The stages' work lives in
 * the files it is split into: plan.c (load, cross-check, dry run),
 * sampling.c (probes, writers, steady state), faults.c (journal, inject,
 * revert), steps.c (prepare and recovery steps), verify.c (validation,
 * read-back), verdict.c (outcome, verdict, targets); recover.c reverts what
 * a crashed drill left open.
 * Does not own: sampling (probe.c), writes (writer.c), faults (injectors/),
 * storage (store.c), the arithmetic of edges and loss (timeline.c).
 *
 * The runner is single-threaded: probes and writers sample in their own
 * threads; everything the runner does waits on a condition with a deadline.
 */
#ifndef FAULTLINE_RUNNER_H
#define FAULTLINE_RUNNER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>

#include "core/store.h"
#include "core/error.h"

struct fl_run_options {
	const char *env_path;       /* overrides the scenario's "environment", or NULL */
	const char *inventory_path; /* overrides the scenario's "inventory", or NULL */
	const char *label;          /* version label of the system under test, or NULL */
	int dry_run;                /* print the plan, touch nothing */
	FILE *log;                  /* progress lines (stderr), or NULL for quiet */
	int live;                   /* redraw one live phase line (log is a TTY) */
	atomic_int *interrupted;    /* set by the SIGINT/SIGTERM/SIGHUP handler */
	json_t *plan;               /* with dry_run: a JSON array to append each plan to
					instead of printing it (borrowed), or NULL */
};

/* Runs one scenario file. Fills `run` (caller releases) and stores it when a
 * store is given (dry runs store nothing). Returns the scenario's exit class:
 * FL_EXIT_OK (pass), FL_EXIT_FAIL (a target missed, aborted by a stop
 * condition), FL_EXIT_INPUT (bad files, err set), FL_EXIT_ENV (environment
 * could not be prepared or reverted, err set), FL_EXIT_INTERRUPTED. */
int fl_runner_run(const char *scenario_path, const struct fl_run_options *opts,
		  struct fl_store *store, struct fl_run *run, struct fl_error *err);

/* Loads and cross-checks a scenario with its environment and inventory the
 * way fl_runner_run would, touching nothing. 0 or -1 with err set. */
int fl_runner_check(const char *scenario_path, const struct fl_run_options *opts,
		    struct fl_error *err);

#endif
