/*
 * recover: reverting what crashed or interrupted drills left open.
 *
 * Owns: walking the open journal rows oldest first, leaving a live drill's
 * rows alone, reverting the rest through their injector, recording each
 * revert's outcome on its row, and closing runs whose harness died.
 * Does not own: what a revert does (injectors/), the journal's storage and
 * its state machine (core/store.c).
 */
#ifndef FAULTLINE_RECOVER_H
#define FAULTLINE_RECOVER_H

#include <stdio.h>

#include "core/error.h"
#include "core/store.h"

/* Reverts every open journal row, oldest first, logging one line per row to
 * log (may be NULL). Returns the number of rows that could not be reverted
 * (0 = environment clean), or -1 when the journal could not be read. */
int fl_runner_recover(struct fl_store *store, FILE *log, struct fl_error *err);

#endif
