/*
 * report_gantt: one run's recovery as a Gantt timeline people can read —
 * inline SVG plus an HTML legend, no script, for any self-contained page
 * (the report, a game-day debrief).
 *
 * One row per stage (detect, recover, validate) and, nested under the
 * stage it started in, one row per recovery step; a step outside every
 * stage gets its own top-level row. Each row has one bar, its name above
 * it and its duration beside it, in its own colour (repeated only past
 * FL_GANTT_COLOURS rows); a bar never shrinks below a visible sliver, so a
 * 0.1 s step still shows. Vertical lines mark the RTO target (dashed),
 * detection and restoration (from the run's t_detect / t_restored events,
 * else the ends of the detect and recover stages), each labelled on its own
 * header line so labels never collide. Horizontal positions are percentages
 * of the chart width and text is never scaled (no viewBox), so at phone
 * width the bars get shorter while labels keep their size.
 *
 * Owns: the layout and markup. Does not own: the page or its CSS beyond
 * fl_report_gantt_css(), which a page includes once.
 */
#ifndef FAULTLINE_REPORT_GANTT_H
#define FAULTLINE_REPORT_GANTT_H

#include "core/store.h"
#include "core/buf.h"

#define FL_GANTT_COLOURS 10  /* distinct bar colours */
#define FL_GANTT_MAX_ROWS 40 /* rows drawn; more phases are counted in a note */

/* The stages a run records; every other phase name is a step. */
enum fl_gantt_stage { FL_GANTT_DETECT, FL_GANTT_RECOVER, FL_GANTT_VALIDATE, FL_GANTT_NSTAGES };

/* "detect", "recover", "validate"; NULL out of range. */
const char *fl_gantt_stage_name(enum fl_gantt_stage st);
/* 0 with *st set when name is a stage, -1 for a step. */
int fl_gantt_stage_parse(const char *name, enum fl_gantt_stage *st);

/* The CSS the chart needs (classes gantt*, g0..g9), for a page's <style>. */
const char *fl_report_gantt_css(void);

/* Appends <svg class="gantt"> and <ul class="gantt-legend"> for run's
 * phases, with the RTO target line at rto_target_ms from t0 (NAN: none).
 * A run without phases gets a one-line note instead. Errors show as
 * out->failed, like every fl_buf append. */
void fl_report_gantt(struct fl_buf *out, const struct fl_run *run, double rto_target_ms);

#endif
