/*
 * gameday: the engine behind `faultline gameday PLAN` — a game day's
 * scenarios run in order with pauses between them, a live timeline on the
 * console, notes anyone can type at any time (stored with the run they were
 * typed in, as events "note: ..." / "action: ..."), hints for manual steps
 * revealed after a delay, and `abort` to revert everything. What happened
 * stays in struct fl_gameday for the debrief page (reports/debrief.h),
 * which the command writes.
 *
 * Plan file (strict, like every file):
 *   { "name": "Q4 game day", "briefing": "...",
 *     "participants": [ { "name": "Ana", "role": "facilitator" } ],
 *     "steps": [
 *       { "pause": "Briefing: read the runbook", "duration": "2m" },
 *       { "scenario": "demo-instance-kill.json" },
 *       { "scenario": "gameday-manual.json",
 *         "hints": [ { "step": "operator-resume", "after": "30s", "text": "kill -CONT ..." } ] } ] }
 * A pause without a duration waits for Enter. Scenario paths are taken
 * against the plan's directory.
 *
 * Owns: the plan, the console (sim/gameday.c), the steps' runs and the
 * notes. Does not own: the store, the notifier or the signal handlers (the
 * caller's), the debrief page (reports/).
 */
#ifndef FAULTLINE_GAMEDAY_H
#define FAULTLINE_GAMEDAY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/doc.h"
#include "core/error.h"
#include "core/store.h"
#include "sim/notify.h"

struct fl_gameday_person {
	char *name, *role;
};

struct fl_gameday_hint {
	char *step, *text;
	int64_t after_ns;
};

/* One step of the plan and, once the day ran, what happened in it. */
struct fl_gameday_step {
	int pause;
	char *text;          /* pause: what the room does meanwhile */
	int64_t duration_ns; /* pause: 0 = until Enter */
	char *scenario;      /* scenario: the resolved path */
	char *name;          /* scenario: its name */
	char **manual;       /* scenario: its manual step names, NULL-terminated */
	struct fl_gameday_hint *hints;
	size_t nhints;
	/* the outcome */
	int started;                        /* the day reached this step */
	int64_t start_wall_ns, end_wall_ns; /* wall clock, ns */
	int64_t t0_wall_ns;                 /* scenario: first injection, 0 if none */
	struct fl_run run;                  /* scenario: stored when run.id > 0 */
	int exit_code;                      /* scenario: the runner's exit class */
	char *error;                        /* scenario: why it could not run, or NULL */
};

struct fl_gameday_note {
	int64_t wall_ns;
	char *text;
	int action;   /* an action item ("action: ...", "todo: ...") */
	char *during; /* the step's title it was typed in, or NULL */
};

struct fl_gameday {
	struct fl_doc *doc;
	char *name, *briefing;
	struct fl_gameday_person *people;
	size_t npeople;
	struct fl_gameday_step *steps;
	size_t nsteps;
	/* the day, after fl_gameday_run */
	struct fl_gameday_note *notes; /* in the order typed */
	size_t nnotes;
	int64_t start_wall_ns, end_wall_ns;
	int aborted; /* someone typed abort (or a signal came) */
};

struct fl_gameday_options {
	const char *label;            /* version label of the system under test, or NULL */
	const char *lock_dir;         /* one drill per environment (sim/lock.h), or NULL */
	struct fl_notifier *notifier; /* or NULL */
	atomic_int *interrupted;      /* the caller's signal flag; "abort" sets it too */
	int in_fd;                    /* the facilitator's input (fd 0 of the command) */
	FILE *out;                    /* the live timeline (stdout) */
};

/* Loads and checks the plan at path (each scenario too, as `run` would):
 * 0, or -1 with err set ("file:line:col: ..."). fl_gameday_release after
 * either. */
int fl_gameday_load(struct fl_gameday *gd, const char *path, const char *label, struct fl_error *err);
/* Runs the day against st. -1 with err set when the console could not be
 * set up (nothing was run); else the worst exit class of its steps
 * (FL_EXIT_INTERRUPTED after abort), the outcome in gd. fd 0 is a pty
 * slave while it runs (the runner reads a manual step's Enter from it) and
 * is given back before it returns. */
int fl_gameday_run(struct fl_gameday *gd, const struct fl_gameday_options *o, struct fl_store *st,
		   struct fl_error *err);
void fl_gameday_release(struct fl_gameday *gd);

#endif
