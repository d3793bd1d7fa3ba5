/*
 * debrief: the page a game day ends with (`faultline gameday`), in the
 * report's style: who took part, the briefing, per scenario what missed its
 * target and by how much, the slowest phase, the manual steps that took
 * longest, every note and the action items typed during the session, and
 * the day's timeline.
 *
 * The timeline is one Gantt chart per scenario run (reports/report_gantt.h:
 * its stages and recovery steps against the RTO target), then a session log
 * of the day's moments in time order: pauses, scenario starts and ends, the
 * runs' events (injections, reverts, detection), notes and action items.
 *
 * Owns: choosing and laying out those facts from a finished session.
 * Does not own: running the day (sim/gameday.h, cli/cmd_gameday.c) or the
 * runs' figures (core/store.h).
 */
#ifndef FAULTLINE_DEBRIEF_H
#define FAULTLINE_DEBRIEF_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/store.h"

struct fl_debrief_participant {
	const char *name, *role;
};

struct fl_debrief_note {
	int64_t wall_ns;
	const char *text;
	int action;         /* an action item ("action: ...", "todo: ...") */
	const char *during; /* scenario or pause it was typed in, or NULL */
};

enum fl_debrief_item_kind { FL_DEBRIEF_SCENARIO, FL_DEBRIEF_PAUSE };

struct fl_debrief_item {
	enum fl_debrief_item_kind kind;
	const char *title; /* scenario name / pause text */
	int64_t start_wall_ns, end_wall_ns;
	int64_t t0_wall_ns;       /* scenario: wall time of the first injection, 0 if none */
	const struct fl_run *run; /* scenario: the stored run, or NULL when it never started */
	int exit_code;            /* scenario: the runner's exit class */
	const char *error;        /* scenario: why it could not run, or NULL */
	const char *const *manual_steps; /* scenario: names of its manual recovery steps (NULL-terminated) */
};

struct fl_debrief {
	const char *name;
	const char *briefing; /* or NULL */
	const struct fl_debrief_participant *participants;
	size_t nparticipants;
	const struct fl_debrief_item *items;
	size_t nitems;
	const struct fl_debrief_note *notes; /* in the order typed */
	size_t nnotes;
	int64_t start_wall_ns, end_wall_ns;
	int aborted; /* someone typed abort (or Ctrl-C) */
};

/* Appends the HTML page to out. 0, or -1 with err set (out of memory). */
int fl_debrief_write_html(const struct fl_debrief *d, struct fl_buf *out, struct fl_error *err);

#endif
