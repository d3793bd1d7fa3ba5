/*
 * debrief: the game-day debrief page. See debrief.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports/debrief.h"
#include "reports/report.h"
#include "reports/report_gantt.h"
#include "reports/stats.h"
#include "core/alloc.h"
#include "core/clock.h"

static const char css[] =
	":root{--ok:#1a7f37;--bad:#c62828;--warn:#b26a00;--ink:#1f2328;--mute:#59636e;--line:#d0d7de}"
	"*{box-sizing:border-box}"
	"body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:var(--ink);margin:0 auto;padding:16px;max-width:1100px}"
	"h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;margin:1.6em 0 .4em;border-bottom:2px solid var(--line);padding-bottom:.2em}"
	".meta,.note{color:var(--mute);font-size:.9em}.tablewrap{overflow-x:auto;max-width:100%}"
	"table{border-collapse:collapse;width:100%;margin:.4em 0;font-size:.92em}"
	"th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}"
	"th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
	".pass{color:var(--ok);font-weight:600}.fail,.error,.aborted{color:var(--bad);font-weight:600}"
	"tr.k-note td{background:#fffbe6}tr.k-action td{background:#fff0f0;font-weight:600}"
	"tr.k-fault td:nth-child(3),tr.k-detect td:nth-child(3){font-weight:600}"
	"ul.actions li{margin:.2em 0;font-weight:600}"
	"@media (max-width:600px){body{padding:8px;font-size:14px}th,td{padding:3px 4px}}";

static void esc(struct fl_buf *o, const char *s)
{
	fl_report_escape_xml(o, s ? s : "");
}

static const char *vclass(const char *v)
{
	if (v && (!strcmp(v, "pass") || !strcmp(v, "fail") || !strcmp(v, "aborted")))
		return v;
	return "error";
}

static const char *clock_of(int64_t wall_ns, char *buf, size_t n)
{
	char t[40];
	fl_rfc3339(wall_ns, t, sizeof(t));
	snprintf(buf, n, "%.12s", t + 11); /* HH:MM:SS.mmm */
	return buf;
}

/* ---- the timeline ---------------------------------------------------------- */

struct row {
	int64_t wall_ns;
	const char *kind; /* CSS class suffix and first column */
	char *text;
};

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	return x->wall_ns < y->wall_ns ? -1 : x->wall_ns > y->wall_ns;
}

struct rows {
	struct row *v;
	size_t n, cap;
	int oom;
};

__attribute__((format(printf, 4, 5))) static void row_add(struct rows *r, int64_t wall,
							  const char *kind, const char *fmt, ...)
{
	struct fl_buf b;
	va_list ap;

	if (r->oom)
		return;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct row *v = fl_realloc(r->v, cap * sizeof(*v));
		if (!v) {
			r->oom = 1;
			return;
		}
		r->v = v;
		r->cap = cap;
	}
	fl_buf_init(&b, 1 << 16);
	va_start(ap, fmt);
	fl_buf_addvf(&b, fmt, ap);
	va_end(ap);
	if (b.failed) {
		fl_buf_release(&b);
		r->oom = 1;
		return;
	}
	r->v[r->n].wall_ns = wall;
	r->v[r->n].kind = kind;
	r->v[r->n++].text = fl_buf_detach(&b);
	fl_buf_release(&b);
}

static const char *event_kind(const char *name)
{
	if (!strncmp(name, "inject:", 7) || !strncmp(name, "revert:", 7) || !strcmp(name, "t_inject"))
		return "fault";
	if (!strcmp(name, "t_detect"))
		return "detect";
	return "event";
}

static void collect(const struct fl_debrief *d, struct rows *r)
{
	for (size_t i = 0; i < d->nitems; i++) {
		const struct fl_debrief_item *it = &d->items[i];
		const struct fl_run *run = it->run;
		if (it->kind == FL_DEBRIEF_PAUSE) {
			row_add(r, it->start_wall_ns, "pause", "pause: %s", it->title);
			row_add(r, it->end_wall_ns, "pause", "pause over (%.1f s)",
				(double)(it->end_wall_ns - it->start_wall_ns) / 1e9);
			continue;
		}
		row_add(r, it->start_wall_ns, "scenario", "scenario %s started", it->title);
		if (run && it->t0_wall_ns > 0) {
			for (size_t k = 0; k < run->nevents; k++) {
				const struct fl_run_event *e = &run->events[k];
				if (!strncmp(e->name, "note:", 5) || !strncmp(e->name, "action:", 7))
					continue; /* listed from the session's own notes */
				row_add(r, it->t0_wall_ns + (int64_t)(e->t_ms * 1e6),
					event_kind(e->name), "%s: %s", it->title, e->name);
			}
		}
		row_add(r, it->end_wall_ns, "scenario", "scenario %s ended: %s", it->title,
			run && run->verdict ? run->verdict
			: it->error         ? it->error
					    : "not run");
	}
	for (size_t i = 0; i < d->nnotes; i++)
		row_add(r, d->notes[i].wall_ns, d->notes[i].action ? "action" : "note", "%s",
			d->notes[i].text);
	if (!r->oom)
		qsort(r->v, r->n, sizeof(*r->v), row_cmp);
}

/* ---- sections ------------------------------------------------------------------- */

/* One Gantt chart per scenario that ran (reports/report_gantt.h): its
 * stages and recovery steps against its RTO target, from its first
 * injection. */
static void section_gantt(struct fl_buf *o, const struct fl_debrief *d)
{
	char t[32];
	size_t n = 0;

	fl_buf_adds(o, "<h2>Timeline</h2>\n");
	for (size_t i = 0; i < d->nitems; i++) {
		const struct fl_debrief_item *it = &d->items[i];
		if (it->kind != FL_DEBRIEF_SCENARIO || !it->run)
			continue;
		n++;
		fl_buf_adds(o, "<h3>");
		esc(o, it->title);
		fl_buf_addf(o, " <span class=\"note\">from %s, the first injection</span></h3>\n",
			    it->t0_wall_ns > 0 ? clock_of(it->t0_wall_ns, t, sizeof(t))
					       : clock_of(it->start_wall_ns, t, sizeof(t)));
		fl_report_gantt(o, it->run, it->run->rto_target_ms);
	}
	if (!n)
		fl_buf_adds(o, "<p class=\"note\">No scenario ran.</p>\n");
}

static void section_outcomes(struct fl_buf *o, const struct fl_debrief *d)
{
	char a[32], b[32], c[32];

	fl_buf_adds(o, "<h2>Scenarios</h2>\n<div class=\"tablewrap\"><table><tr><th>scenario</th><th>verdict</th>"
		       "<th>RTO</th><th>target</th><th>missed by</th><th>slowest phase</th></tr>\n");
	for (size_t i = 0; i < d->nitems; i++) {
		const struct fl_debrief_item *it = &d->items[i];
		const struct fl_run *run = it->run;
		const struct fl_run_phase *slow = NULL;
		if (it->kind != FL_DEBRIEF_SCENARIO)
			continue;
		for (size_t k = 0; run && k < run->nphases; k++)
			if (!slow || run->phases[k].end_ms - run->phases[k].start_ms >
					     slow->end_ms - slow->start_ms)
				slow = &run->phases[k];
		fl_buf_adds(o, "<tr><td>");
		esc(o, it->title);
		fl_buf_addf(o, "</td><td class=\"%s\">", vclass(run ? run->verdict : NULL));
		esc(o, run && run->verdict ? run->verdict : "not run");
		if (!run && it->error) {
			fl_buf_adds(o, ": ");
			esc(o, it->error);
		}
		fl_buf_addf(o, "</td><td class=\"num\">%s</td><td class=\"num\">%s</td>",
			    run && !isnan(run->rto_ms) ? fl_stats_fmt_s(run->rto_ms, a, sizeof(a))
						       : "-",
			    run && !isnan(run->rto_target_ms)
				    ? fl_stats_fmt_s(run->rto_target_ms, b, sizeof(b))
				    : "-");
		if (run && !isnan(run->rto_ms) && !isnan(run->rto_target_ms) &&
		    run->rto_ms > run->rto_target_ms)
			fl_buf_addf(o, "<td class=\"num fail\">%s</td>",
				    fl_stats_fmt_s(run->rto_ms - run->rto_target_ms, c, sizeof(c)));
		else
			fl_buf_adds(o, "<td class=\"num\">-</td>");
		fl_buf_adds(o, "<td>");
		if (slow) {
			esc(o, slow->name);
			fl_buf_addf(o, " (%s)",
				    fl_stats_fmt_s(slow->end_ms - slow->start_ms, a, sizeof(a)));
		}
		fl_buf_adds(o, "</td></tr>\n");
		for (size_t k = 0; run && k < run->nfailures; k++) {
			fl_buf_adds(o, "<tr><td></td><td colspan=\"5\" class=\"note\">");
			esc(o, run->failures[k]);
			fl_buf_adds(o, "</td></tr>\n");
		}
	}
	fl_buf_adds(o, "</table></div>\n");
}

struct manual {
	const char *scenario, *step;
	double ms;
};

static int manual_cmp(const void *a, const void *b)
{
	const struct manual *x = a, *y = b;
	return x->ms < y->ms ? 1 : x->ms > y->ms ? -1 : 0;
}

static int section_manual(struct fl_buf *o, const struct fl_debrief *d, struct fl_error *err)
{
	struct manual *m = NULL;
	size_t n = 0, cap = 0;
	char a[32];

	for (size_t i = 0; i < d->nitems; i++) {
		const struct fl_debrief_item *it = &d->items[i];
		for (size_t s = 0; it->run && it->manual_steps && it->manual_steps[s]; s++)
			for (size_t k = 0; k < it->run->nphases; k++) {
				const struct fl_run_phase *p = &it->run->phases[k];
				if (strcmp(p->name, it->manual_steps[s]))
					continue;
				if (n == cap) {
					struct manual *v = fl_realloc(m, (cap = cap ? cap * 2 : 16) *
										 sizeof(*m));
					if (!v) {
						fl_free(m);
						return fl_error_oom(err, "debrief");
					}
					m = v;
				}
				m[n].scenario = it->title;
				m[n].step = p->name;
				m[n++].ms = p->end_ms - p->start_ms;
			}
	}
	fl_buf_adds(o, "<h2>Manual steps, longest first</h2>\n");
	if (!n) {
		fl_buf_adds(o, "<p class=\"note\">No manual step was timed.</p>\n");
		return 0;
	}
	qsort(m, n, sizeof(*m), manual_cmp);
	fl_buf_adds(o,
		    "<div class=\"tablewrap\"><table><tr><th>step</th><th>scenario</th><th>took</th></tr>\n");
	for (size_t i = 0; i < n; i++) {
		fl_buf_adds(o, "<tr><td>");
		esc(o, m[i].step);
		fl_buf_adds(o, "</td><td>");
		esc(o, m[i].scenario);
		fl_buf_addf(o, "</td><td class=\"num\">%s</td></tr>\n",
			    fl_stats_fmt_s(m[i].ms, a, sizeof(a)));
	}
	fl_buf_adds(o, "</table></div>\n");
	fl_free(m);
	return 0;
}

static void section_people(struct fl_buf *o, const struct fl_debrief *d)
{
	if (d->nparticipants) {
		fl_buf_adds(o,
			    "<h2>Participants</h2>\n<div class=\"tablewrap\"><table><tr><th>name</th><th>role</th></tr>\n");
		for (size_t i = 0; i < d->nparticipants; i++) {
			fl_buf_adds(o, "<tr><td>");
			esc(o, d->participants[i].name);
			fl_buf_adds(o, "</td><td>");
			esc(o, d->participants[i].role);
			fl_buf_adds(o, "</td></tr>\n");
		}
		fl_buf_adds(o, "</table></div>\n");
	}
	if (d->briefing) {
		fl_buf_adds(o, "<h2>Briefing</h2>\n<p>");
		esc(o, d->briefing);
		fl_buf_adds(o, "</p>\n");
	}
}

static void section_actions(struct fl_buf *o, const struct fl_debrief *d)
{
	char t1[40];
	size_t nactions = 0;

	fl_buf_adds(o, "<h2>Action items</h2>\n<ul class=\"actions\">\n");
	for (size_t i = 0; i < d->nnotes; i++) {
		if (!d->notes[i].action)
			continue;
		nactions++;
		fl_buf_adds(o, "<li>");
		esc(o, d->notes[i].text);
		fl_buf_addf(o, " <span class=\"note\">(%s",
			    clock_of(d->notes[i].wall_ns, t1, sizeof(t1)));
		if (d->notes[i].during) {
			fl_buf_adds(o, ", during ");
			esc(o, d->notes[i].during);
		}
		fl_buf_adds(o, ")</span></li>\n");
	}
	fl_buf_adds(o, "</ul>\n");
	if (!nactions)
		fl_buf_adds(o,
			    "<p class=\"note\">None typed (start a line with \"action:\" during the session).</p>\n");
}

int fl_debrief_write_html(const struct fl_debrief *d, struct fl_buf *o, struct fl_error *err)
{
	struct rows r = { 0 };
	char t1[40], t2[40];
	int rc = -1;

	fl_buf_adds(o,
		    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>Debrief: ");
	esc(o, d->name);
	fl_buf_addf(o, "</title><style>%s%s</style></head><body>\n<header><h1>Debrief: ", css,
		    fl_report_gantt_css());
	esc(o, d->name);
	fl_buf_addf(o,
		    "</h1>\n<p class=\"meta\">Game day from %s to %s (%.1f min)%s.</p></header>\n<main>\n",
		    fl_rfc3339(d->start_wall_ns, t1, sizeof(t1)),
		    fl_rfc3339(d->end_wall_ns, t2, sizeof(t2)),
		    (double)(d->end_wall_ns - d->start_wall_ns) / 60e9,
		    d->aborted ? ", <b class=\"aborted\">aborted</b>" : "");
	section_people(o, d);
	section_outcomes(o, d);
	if (section_manual(o, d, err) < 0)
		goto out;
	section_actions(o, d);

	collect(d, &r);
	if (r.oom) {
		fl_error_oom(err, "debrief");
		goto out;
	}
	section_gantt(o, d);
	/* The moments of the day; the runs' phases are in the charts above. */
	fl_buf_adds(o, "<h2>Session log</h2>\n<div class=\"tablewrap\"><table class=\"timeline\"><tr><th>time (UTC)</th>"
		       "<th class=\"num\">since start</th><th>what</th></tr>\n");
	for (size_t i = 0; i < r.n; i++) {
		fl_buf_addf(o,
			    "<tr class=\"k-%s\"><td class=\"num\">%s</td><td class=\"num\">+%.1f s</td><td>",
			    r.v[i].kind, clock_of(r.v[i].wall_ns, t1, sizeof(t1)),
			    (double)(r.v[i].wall_ns - d->start_wall_ns) / 1e9);
		if (!strcmp(r.v[i].kind, "note") || !strcmp(r.v[i].kind, "action"))
			fl_buf_addf(o, "%s: ", r.v[i].kind);
		esc(o, r.v[i].text);
		fl_buf_adds(o, "</td></tr>\n");
	}
	fl_buf_adds(o, "</table></div>\n</main>\n</body></html>\n");
	rc = o->failed ? fl_error_oom(err, "debrief") : 0;
out:
	for (size_t i = 0; i < r.n; i++)
		fl_free(r.v[i].text);
	fl_free(r.v);
	return rc;
}
