/*
 * plan: loading and cross-checking a drill's files before anything is
 * touched, and the dry-run plan (text, or JSON for CI review).
 *
 * Owns: the order of the checks (scenario, environment, inventory,
 * references, every program the drill will run), and the plan's layout.
 * Does not own: parsing the files (core/), resolving references
 * (resolve.c), running anything (runner.c).
 */
#ifndef FAULTLINE_PLAN_H
#define FAULTLINE_PLAN_H

struct drill;

/* Loads the scenario at path and the environment and inventory it names (or
 * the options override), resolves references, checks that every program
 * exists and sets up the faults. 0 or -1 with d->err set. */
int plan_load(struct drill *d, const char *path);
/* Prints the plan to stdout, or appends it to d->o->plan as JSON. */
void plan_print(struct drill *d);

#endif
