/*
 * report_gantt: the Gantt timeline of one run. See report_gantt.h.
 *
 * Geometry: rows and header lines are laid out in pixels (fixed text
 * size), time runs along percentages of the width (PL..PR), so the browser
 * stretches the bars to any width without scaling the text.
 */
#include "reports/report_gantt.h"
#include "reports/report.h"
#include "reports/stats.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define PL 1.0      /* time axis from PL % ... */
#define PR 99.0     /* ... to PR % of the width */
#define HEAD_H 16.0 /* one marker label per header line */
#define ROW_H 40.0  /* name line + bar */
#define BAR_Y 18.0  /* bar top within its row */
#define BAR_H 14.0
#define AXIS_H 28.0
#define INDENT 18      /* px a step's name is indented under its stage */
#define FAR_TARGET 3.0 /* a target beyond 3x the drill is named, not drawn to scale */

static const char *const stage_names[FL_GANTT_NSTAGES] = {
	[FL_GANTT_DETECT] = "detect",
	[FL_GANTT_RECOVER] = "recover",
	[FL_GANTT_VALIDATE] = "validate",
};

/* Colour-blind-safe first (Okabe-Ito), then distinct extras. */
static const char css[] =
	"svg.gantt{width:100%;display:block;border:1px solid var(--line,#d0d7de);border-radius:4px;background:#fff;overflow:visible}"
	"svg.gantt text{font:12px/1 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;fill:#1f2328;stroke:#fff;stroke-width:3px;stroke-linejoin:round;paint-order:stroke}"
	"svg.gantt text.stage{font-weight:600}svg.gantt text.dur{fill:#59636e}"
	"svg.gantt text.tick{fill:#59636e;font-size:11px}"
	"svg.gantt rect.bar{fill:var(--c);stroke:var(--c);stroke-width:2}"
	"svg.gantt line.grid{stroke:#eaeef2;stroke-width:1}svg.gantt line.axis{stroke:#d0d7de}"
	"svg.gantt line.target{stroke:#c62828;stroke-width:2;stroke-dasharray:7 4}svg.gantt text.target{fill:#c62828}"
	"svg.gantt line.detected{stroke:#6639ba;stroke-width:2;stroke-dasharray:2 3}svg.gantt text.detected{fill:#6639ba}"
	"svg.gantt line.restored{stroke:#1a7f37;stroke-width:2}svg.gantt text.restored{fill:#1a7f37}"
	".g0{--c:#0072b2}.g1{--c:#e69f00}.g2{--c:#009e73}.g3{--c:#cc79a7}.g4{--c:#56b4e9}"
	".g5{--c:#d55e00}.g6{--c:#8c564b}.g7{--c:#f0e442}.g8{--c:#7f7f7f}.g9{--c:#332288}"
	"ul.gantt-legend{list-style:none;padding:0;margin:.4em 0;display:flex;flex-wrap:wrap;gap:4px 14px;font-size:.9em}"
	"ul.gantt-legend li{display:flex;align-items:center;gap:6px}"
	"ul.gantt-legend .sw{display:inline-block;width:14px;height:10px;background:var(--c);border-radius:2px}"
	"ul.gantt-legend .mk{display:inline-block;width:16px;height:0;border-top:2px solid}"
	"ul.gantt-legend .mk.target{border-top:2px dashed #c62828}ul.gantt-legend .mk.detected{border-top:2px dotted #6639ba}"
	"ul.gantt-legend .mk.restored{border-color:#1a7f37}";

const char *fl_gantt_stage_name(enum fl_gantt_stage st)
{
	return (size_t)st < FL_GANTT_NSTAGES ? stage_names[st] : NULL;
}

int fl_gantt_stage_parse(const char *name, enum fl_gantt_stage *st)
{
	for (size_t i = 0; name && i < FL_GANTT_NSTAGES; i++)
		if (!strcmp(name, stage_names[i])) {
			*st = (enum fl_gantt_stage)i;
			return 0;
		}
	return -1;
}

const char *fl_report_gantt_css(void)
{
	return css;
}

struct row {
	const struct fl_run_phase *p;
	int depth;          /* 0: a stage or a step outside every stage; 1: a step in a stage */
	const char *parent; /* the stage a step is in, or NULL */
};

/* A vertical line across the rows with its label on a header line. */
struct marker {
	const char *cls, *what;
	double t_ms;
};

struct gantt {
	struct row rows[FL_GANTT_MAX_ROWS];
	size_t nrows, hidden; /* hidden: phases beyond FL_GANTT_MAX_ROWS or without times */
	struct marker marks[3];
	size_t nmarks;
	double tmin, tmax; /* the axis, ms from t0 */
	double far_target; /* a target too far to draw to scale, or NAN */
};

static int timed(const struct fl_run_phase *p)
{
	return isfinite(p->start_ms) && isfinite(p->end_ms) && p->end_ms >= p->start_ms;
}

static int is_stage(const struct fl_run_phase *p)
{
	enum fl_gantt_stage st;
	return fl_gantt_stage_parse(p->name, &st) == 0;
}

/* The stage a step started in: the latest-starting stage whose span holds
 * the step's start; NULL when none does. */
static const struct fl_run_phase *parent_of(const struct fl_run *run, const struct fl_run_phase *step)
{
	const struct fl_run_phase *best = NULL;
	for (size_t i = 0; i < run->nphases; i++) {
		const struct fl_run_phase *s = &run->phases[i];
		if (!timed(s) || !is_stage(s) || step->start_ms < s->start_ms ||
		    (step->start_ms >= s->end_ms && s->end_ms > s->start_ms))
			continue;
		if (!best || s->start_ms >= best->start_ms)
			best = s;
	}
	return best;
}

static void add_row(struct gantt *g, const struct fl_run_phase *p, int depth, const char *parent)
{
	if (g->nrows >= FL_GANTT_MAX_ROWS) {
		g->hidden++;
		return;
	}
	g->rows[g->nrows++] = (struct row){ p, depth, parent };
}

/* The earliest phase not yet placed among those that are top level (or,
 * with parent set, steps of that stage); NULL when none is left. */
static const struct fl_run_phase *next_phase(const struct fl_run *run, const unsigned char *done,
					     const struct fl_run_phase *parent)
{
	const struct fl_run_phase *best = NULL;
	for (size_t i = 0; i < run->nphases; i++) {
		const struct fl_run_phase *p = &run->phases[i];
		int stage = is_stage(p);
		if (done[i] || !timed(p) || (parent && stage) ||
		    (!stage && parent_of(run, p) != parent))
			continue;
		if (!best || p->start_ms < best->start_ms ||
		    (p->start_ms == best->start_ms && stage && !is_stage(best)))
			best = p;
	}
	return best;
}

/* Rows in time order: each stage followed by its steps. Quadratic in the
 * number of phases, which is a handful per run. */
static void layout_rows(struct gantt *g, const struct fl_run *run)
{
	unsigned char done[256] = { 0 };
	const struct fl_run_phase *top, *step;
	size_t n = run->nphases < sizeof(done) ? run->nphases : sizeof(done);

	g->hidden = run->nphases - n;
	for (size_t i = 0; i < n; i++)
		if (!timed(&run->phases[i])) {
			done[i] = 1;
			g->hidden++;
		}
	while ((top = next_phase(run, done, NULL))) {
		done[top - run->phases] = 1;
		add_row(g, top, 0, NULL);
		if (!is_stage(top))
			continue;
		while ((step = next_phase(run, done, top))) {
			done[step - run->phases] = 1;
			add_row(g, step, 1, top->name);
		}
	}
}

static double event_ms(const struct fl_run *run, const char *name)
{
	for (size_t i = 0; i < run->nevents; i++)
		if (!strcmp(run->events[i].name, name) && isfinite(run->events[i].t_ms))
			return run->events[i].t_ms;
	return NAN;
}

static double stage_end(const struct fl_run *run, enum fl_gantt_stage st)
{
	for (size_t i = 0; i < run->nphases; i++)
		if (timed(&run->phases[i]) && !strcmp(run->phases[i].name, stage_names[st]))
			return run->phases[i].end_ms;
	return NAN;
}

static void add_marker(struct gantt *g, const char *cls, const char *what, double t_ms)
{
	if (isfinite(t_ms))
		g->marks[g->nmarks++] = (struct marker){ cls, what, t_ms };
}

/* Markers and the time axis: from t0 (or the earliest phase) to the last
 * thing drawn, the target included when it is within reach. */
static void layout_axis(struct gantt *g, const struct fl_run *run, double target_ms)
{
	double detected = event_ms(run, "t_detect"), restored = event_ms(run, "t_restored");
	double last = 0;

	if (isnan(detected))
		detected = stage_end(run, FL_GANTT_DETECT);
	if (isnan(restored))
		restored = stage_end(run, FL_GANTT_RECOVER);
	g->tmin = 0;
	for (size_t i = 0; i < g->nrows; i++) {
		g->tmin = fmin(g->tmin, g->rows[i].p->start_ms);
		last = fmax(last, g->rows[i].p->end_ms);
	}
	if (isfinite(detected))
		last = fmax(last, detected);
	if (isfinite(restored))
		last = fmax(last, restored);
	g->far_target = NAN;
	if (isfinite(target_ms) && target_ms > FAR_TARGET * fmax(last, 1)) {
		g->far_target = target_ms;
		target_ms = NAN;
	}
	add_marker(g, "target", "RTO target", target_ms);
	add_marker(g, "detected", "detected", detected);
	add_marker(g, "restored", "restored", restored);
	if (isfinite(target_ms))
		last = fmax(last, target_ms);
	g->tmax = g->tmin + fmax(last - g->tmin, 1) * 1.04;
}

static double xpct(const struct gantt *g, double t_ms)
{
	return PL + (PR - PL) * (t_ms - g->tmin) / (g->tmax - g->tmin);
}

/* Seconds without trailing zeros for axis ticks: "0 s", "2.5 s", "10 s". */
static void fmt_tick(char *buf, size_t n, double ms)
{
	snprintf(buf, n, "%.4g s", ms / 1000.0);
}

static void draw_axis(struct fl_buf *o, const struct gantt *g, double y0, double y1)
{
	/* At most about five ticks of 1, 2 or 5 x 10^k seconds: readable on a phone. */
	double span = (g->tmax - g->tmin) / 1000.0, step = pow(10, floor(log10(span / 4)));
	char t[32];

	for (int k = 0; k < 3 && span / step > 5; k++)
		step *= k == 1 ? 2.5 : 2;
	step *= 1000.0;
	for (double v = ceil(g->tmin / step) * step; v <= g->tmax + 1e-9; v += step) {
		double x = xpct(g, v);
		fmt_tick(t, sizeof(t), v);
		fl_buf_addf(o,
			    "<line class=\"grid\" x1=\"%.2f%%\" y1=\"%.0f\" x2=\"%.2f%%\" y2=\"%.0f\"/>",
			    x, y0, x, y1);
		fl_buf_addf(o,
			    "<text class=\"tick\" x=\"%.2f%%\" y=\"%.0f\" text-anchor=\"%s\">%s</text>",
			    x, y1 + 16,
			    x < 8    ? "start"
			    : x > 92 ? "end"
				     : "middle",
			    t);
	}
	fl_buf_addf(o, "<line class=\"axis\" x1=\"%.0f%%\" y1=\"%.0f\" x2=\"%.0f%%\" y2=\"%.0f\"/>",
		    PL, y1, PR, y1);
}

/* Header lines: one per marker, its label beside its line; then the note
 * of a target too far away to draw. */
static void draw_marker_labels(struct fl_buf *o, const struct gantt *g)
{
	char a[32];
	size_t line = 0;
	for (size_t i = 0; i < g->nmarks; i++, line++) {
		const struct marker *m = &g->marks[i];
		double x = xpct(g, m->t_ms);
		int right = x > 60;
		fl_buf_addf(o,
			    "<text class=\"%s\" x=\"%.2f%%\" dx=\"%d\" y=\"%.0f\" text-anchor=\"%s\">%s %s</text>",
			    m->cls, x, right ? -5 : 5, HEAD_H * (double)line + 12,
			    right ? "end" : "start", m->what, fl_stats_fmt_s(m->t_ms, a, sizeof(a)));
	}
	if (isfinite(g->far_target))
		fl_buf_addf(o,
			    "<text class=\"target\" x=\"%.0f%%\" y=\"%.0f\" text-anchor=\"end\">RTO target %s: beyond the right edge →</text>",
			    PR, HEAD_H * (double)line + 12,
			    fl_stats_fmt_s(g->far_target, a, sizeof(a)));
}

static void draw_row(struct fl_buf *o, const struct gantt *g, size_t i, double y)
{
	const struct row *r = &g->rows[i];
	double x0 = xpct(g, r->p->start_ms), x1 = xpct(g, r->p->end_ms);
	char d[32], s0[32], s1[32];

	fl_stats_fmt_s(r->p->end_ms - r->p->start_ms, d, sizeof(d));
	fl_buf_addf(o, "<g class=\"row g%zu\" data-depth=\"%d\">", i % FL_GANTT_COLOURS, r->depth);
	fl_buf_addf(o, "<text class=\"%s\" x=\"%.0f%%\" dx=\"%d\" y=\"%.0f\">%s",
		    r->depth ? "step" : "stage", PL, r->depth ? INDENT : 0, y + 13,
		    r->depth ? "↳ " : "");
	fl_report_escape_xml(o, r->p->name);
	fl_buf_addf(o, "<tspan class=\"dur\" dx=\"8\">%s</tspan></text>", d);
	/* The stroke (2 px, the fill's colour) keeps a 0.1 s bar visible on a
	 * long axis. */
	fl_buf_addf(o,
		    "<rect class=\"bar\" x=\"%.3f%%\" y=\"%.0f\" width=\"%.3f%%\" height=\"%.0f\" rx=\"2\"><title>",
		    x0, y + BAR_Y, fmax(x1 - x0, 0), BAR_H);
	fl_report_escape_xml(o, r->p->name);
	if (r->parent) {
		fl_buf_adds(o, " (step of ");
		fl_report_escape_xml(o, r->parent);
		fl_buf_adds(o, ")");
	}
	fl_buf_addf(o, ": %s, from %s to %s</title></rect></g>", d,
		    fl_stats_fmt_s(r->p->start_ms, s0, sizeof(s0)),
		    fl_stats_fmt_s(r->p->end_ms, s1, sizeof(s1)));
}

static void draw_legend(struct fl_buf *o, const struct gantt *g)
{
	char d[32];
	fl_buf_adds(o, "<ul class=\"gantt-legend\">");
	for (size_t i = 0; i < g->nrows; i++) {
		const struct row *r = &g->rows[i];
		fl_buf_addf(o, "<li class=\"g%zu\"><span class=\"sw\"></span>", i % FL_GANTT_COLOURS);
		fl_report_escape_xml(o, r->p->name);
		if (r->parent) {
			fl_buf_adds(o, " (in ");
			fl_report_escape_xml(o, r->parent);
			fl_buf_adds(o, ")");
		}
		fl_buf_addf(o, " %s</li>",
			    fl_stats_fmt_s(r->p->end_ms - r->p->start_ms, d, sizeof(d)));
	}
	for (size_t i = 0; i < g->nmarks; i++)
		fl_buf_addf(o, "<li><span class=\"mk %s\"></span>%s</li>", g->marks[i].cls,
			    g->marks[i].what);
	fl_buf_adds(o, "</ul>");
	if (g->hidden)
		fl_buf_addf(o,
			    "<p class=\"note\">%zu more phase%s not drawn (no times recorded, or past %d rows).</p>",
			    g->hidden, g->hidden == 1 ? "" : "s", FL_GANTT_MAX_ROWS);
}

void fl_report_gantt(struct fl_buf *out, const struct fl_run *run, double rto_target_ms)
{
	struct gantt g;
	double top, height, y;

	memset(&g, 0, sizeof(g));
	layout_rows(&g, run);
	if (g.nrows == 0) {
		fl_buf_adds(out, "<p class=\"note\">no phases recorded</p>");
		return;
	}
	layout_axis(&g, run, rto_target_ms);
	top = HEAD_H * (double)(g.nmarks + isfinite(g.far_target)) + 6;
	height = top + ROW_H * (double)g.nrows + AXIS_H;
	fl_buf_addf(out,
		    "<svg class=\"gantt\" height=\"%.0f\" style=\"height:%.0fpx\" role=\"img\" "
		    "aria-label=\"timeline of run %lld: %zu phases\">",
		    height, height, (long long)run->id, g.nrows);
	y = top + ROW_H * (double)g.nrows;
	draw_axis(out, &g, top, y);
	/* Marker lines under the rows: names and bars stay on top, names with
	 * a white halo where a line crosses them. */
	for (size_t i = 0; i < g.nmarks; i++) {
		double x = xpct(&g, g.marks[i].t_ms);
		fl_buf_addf(out,
			    "<line class=\"%s\" x1=\"%.2f%%\" y1=\"%.0f\" x2=\"%.2f%%\" y2=\"%.0f\"/>",
			    g.marks[i].cls, x, HEAD_H * (double)i + 15, x, y);
	}
	for (size_t i = 0; i < g.nrows; i++)
		draw_row(out, &g, i, top + ROW_H * (double)i);
	draw_marker_labels(out, &g);
	fl_buf_adds(out, "</svg>");
	draw_legend(out, &g);
}
