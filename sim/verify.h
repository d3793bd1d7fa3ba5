/*
 * verify: after restoration — the validation checks, then the writers'
 * read-back and the data loss it shows.
 *
 * Owns: running the validation checks in order, reading every writer back,
 * summing their loss onto the run, and t_validated.
 * Does not own: the checks themselves (probe.c), the read-back (writer.c),
 * the loss arithmetic (timeline.c), the targets (verdict.c).
 */
#ifndef FAULTLINE_VERIFY_H
#define FAULTLINE_VERIFY_H

struct drill;

/* Validates and reads back; sets d->clk.t_validated when both pass, raises
 * the outcome otherwise. */
void verify_run(struct drill *d);

#endif
