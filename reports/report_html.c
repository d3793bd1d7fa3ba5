/*
 * report_html: writes the self-contained stakeholder report. Charts are
 * inline SVG computed here (coordinates in a fixed viewBox, scaled to the
 * page width by CSS), colours come from CSS classes so print styles apply.
 * See report_html.h for what the page contains.
 */
#include "reports/report_html.h"
#include "reports/report_format.h"
#include "reports/report_gantt.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define W 640.0 /* chart viewBox width */
#define H 220.0 /* chart viewBox height */
#define ML 56.0 /* left margin: y labels */
#define MR 12.0
#define MT 14.0
#define MB 30.0 /* bottom margin: x labels */

static const char css[] =
	":root{--ok:#1a7f37;--bad:#c62828;--warn:#b26a00;--ink:#1f2328;--mute:#59636e;--line:#d0d7de;--rto:#1f6feb;--rpo:#bf5700}"
	"*{box-sizing:border-box}"
	"body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:var(--ink);margin:0 auto;padding:16px;max-width:1100px}"
	"h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;margin:1.6em 0 .4em;border-bottom:2px solid var(--line);padding-bottom:.2em;overflow-wrap:anywhere}"
	"h3{font-size:1em;margin:1em 0 .3em}.meta,.note{color:var(--mute);font-size:.9em}"
	".tablewrap{overflow-x:auto;max-width:100%}"
	"table{border-collapse:collapse;width:100%;margin:.4em 0;font-size:.92em}"
	"th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}"
	"th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
	".pass{color:var(--ok);font-weight:600}.fail,.error,.aborted{color:var(--bad);font-weight:600}"
	".stale{color:var(--warn);font-weight:600}"
	".cards{display:flex;flex-wrap:wrap;gap:10px;margin:.6em 0}"
	".card{flex:1 1 150px;border:1px solid var(--line);border-radius:6px;padding:8px 12px}"
	".card b{display:block;font-size:1.5em}"
	".charts{display:flex;flex-wrap:wrap;gap:12px}.chart{flex:1 1 460px;min-width:0;max-width:760px}"
	"svg{width:100%;height:auto;display:block;border:1px solid var(--line);border-radius:4px;background:#fff}"
	"svg text{font:11px system-ui,sans-serif;fill:var(--mute)}"
	"svg .axis{stroke:var(--line);stroke-width:1}svg .target{stroke:var(--bad);stroke-width:1.5;stroke-dasharray:6 4}"
	"svg .rto{fill:var(--rto)}svg .rpo{fill:var(--rpo)}svg .bad{stroke:var(--bad);stroke-width:1.5}"
	"svg .bar{fill:var(--rto);opacity:.8}svg .ph0{fill:#8250df}svg .ph1{fill:#1f6feb}svg .ph2{fill:#1a7f37}"
	"svg .ph3{fill:#bf5700}svg .ph4{fill:#57606a}"
	"ul.sentences{padding-left:1.2em}ul.sentences li{margin:.2em 0}"
	"section.scenario{break-inside:auto}"
	"@media (max-width:600px){body{padding:8px;font-size:14px}th,td{padding:3px 4px}}"
	"@media print{body{max-width:none;padding:0;font-size:11pt}section.scenario{break-before:page}"
	".charts{display:block}.chart{break-inside:avoid;margin-bottom:8px}"
	"a{color:inherit;text-decoration:none}th{background:none}}";

static void esc(struct fl_buf *o, const char *s)
{
	fl_report_escape_xml(o, s);
}

static const char *verdict_class(const char *v)
{
	if (!v)
		return "error";
	if (!strcmp(v, "pass") || !strcmp(v, "fail") || !strcmp(v, "aborted"))
		return v;
	return "error";
}

/* "4.312 s ± 0.010 s", or just the value when the uncertainty is unknown. */
static void add_pm(struct fl_buf *o, double v, double unc)
{
	char a[32], b[32];
	fl_buf_adds(o, fl_stats_fmt_s(v, a, sizeof(a)));
	if (!isnan(v) && !isnan(unc))
		fl_buf_addf(o, " ± %s", fl_stats_fmt_s(unc, b, sizeof(b)));
}

static void add_pct(struct fl_buf *o, double p)
{
	if (isnan(p))
		fl_buf_adds(o, "n/a");
	else
		fl_buf_addf(o, "%.0f %%", p * 100.0);
}

static void add_date(struct fl_buf *o, int64_t wall_ns)
{
	char ts[40];
	if (wall_ns <= 0) {
		fl_buf_adds(o, "never");
		return;
	}
	fl_rfc3339(wall_ns, ts, sizeof(ts));
	/* "2026-01-05 14:03 UTC": minutes are enough for a reader. */
	fl_buf_addf(o, "%.10s %.5s UTC", ts, ts + 11);
}

static void add_interval(struct fl_buf *o, double lo, double hi)
{
	char a[32], b[32];
	if (isnan(lo) || isnan(hi))
		fl_buf_adds(o, "n/a");
	else
		fl_buf_addf(o, "%s – %s", fl_stats_fmt_s(lo, a, sizeof(a)),
			    fl_stats_fmt_s(hi, b, sizeof(b)));
}

/* A "nice" axis maximum (1, 2, 2.5, 5 x 10^k) at or above v. */
static double nice_max(double v)
{
	double p, m;
	if (!(v > 0))
		return 1.0;
	p = pow(10.0, floor(log10(v)));
	m = v / p;
	if (m <= 1.0)
		return p;
	if (m <= 2.0)
		return 2 * p;
	if (m <= 2.5)
		return 2.5 * p;
	if (m <= 5.0)
		return 5 * p;
	return 10 * p;
}

static void y_axis(struct fl_buf *o, double ymax_s)
{
	for (int i = 0; i <= 4; i++) {
		double v = ymax_s * i / 4.0;
		double y = H - MB - (H - MB - MT) * i / 4.0;
		fl_buf_addf(o,
			    "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
			    ML, y, W - MR, y);
		fl_buf_addf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.4g s</text>",
			    ML - 4, y + 4, v);
	}
}

/* Drawn from the report's chart sample (report.h), so every run of the
 * window is on the time axis (thinned to FL_REPORT_CHART_POINTS), not only
 * the runs the report holds in full. */
static void trend_chart(struct fl_buf *o, const struct fl_report_scenario *s)
{
	const struct fl_report_chart *se = &s->chart;
	int64_t t0 = se->t0, t1 = se->t1;
	double ymax = se->ymax_ms, span;
	size_t stride = se->stride, shown = 0;
	int has_rpo = se->has_rpo;

	if (!isnan(s->rto_target_ms) && s->rto_target_ms > ymax)
		ymax = s->rto_target_ms;
	if (has_rpo && !isnan(s->rpo_target_ms) && s->rpo_target_ms > ymax)
		ymax = s->rpo_target_ms;
	ymax = nice_max(ymax * 1.05 / 1000.0);
	span = t1 > t0 ? (double)(t1 - t0) : 1.0;

	fl_buf_addf(o, "<div class=\"chart\"><h3>RTO%s over time</h3>", has_rpo ? " and RPO" : "");
	fl_buf_addf(o,
		    "<svg class=\"trend\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"RTO trend\">",
		    W, H);
	y_axis(o, ymax);
	for (size_t i = 0; i < se->n; i++) {
		double x = ML +
			   (W - ML - MR) * (se->total == 1
						    ? 0.5
						    : (double)(se->started_wall_ns[i] - t0) / span);
		int bad = !(se->flags[i] & FL_REPORT_PASSED);
		if (!isnan(se->rto[i]))
			fl_buf_addf(o, "<circle class=\"rto%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\"/>",
				    bad ? " bad" : "", x,
				    H - MB - (H - MB - MT) * (se->rto[i] / 1000.0) / ymax);
		if (!isnan(se->rpo[i]))
			fl_buf_addf(o,
				    "<rect class=\"rpo\" x=\"%.1f\" y=\"%.1f\" width=\"5\" height=\"5\"/>",
				    x - 2.5,
				    H - MB - (H - MB - MT) * (se->rpo[i] / 1000.0) / ymax - 2.5);
		shown++;
	}
	if (!isnan(s->rto_target_ms)) {
		double y = H - MB - (H - MB - MT) * (s->rto_target_ms / 1000.0) / ymax;
		fl_buf_addf(o,
			    "<line class=\"target\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
			    ML, y, W - MR, y);
		fl_buf_addf(o,
			    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">RTO target %.3f s</text>",
			    W - MR - 2, y - 4, s->rto_target_ms / 1000.0);
	}
	if (has_rpo && !isnan(s->rpo_target_ms) && s->rpo_target_ms > 0) {
		double y = H - MB - (H - MB - MT) * (s->rpo_target_ms / 1000.0) / ymax;
		fl_buf_addf(o,
			    "<line class=\"target\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
			    ML, y, W - MR, y);
		fl_buf_addf(o, "<text x=\"%.1f\" y=\"%.1f\">RPO target %.3f s</text>", ML + 4,
			    y - 4, s->rpo_target_ms / 1000.0);
	}
	{
		char a[40], b[40];
		fl_rfc3339(t0 == INT64_MAX ? 0 : t0, a, sizeof(a));
		fl_rfc3339(t1 == INT64_MIN ? 0 : t1, b, sizeof(b));
		fl_buf_addf(o, "<text x=\"%.1f\" y=\"%.1f\">%.10s</text>", ML, H - 10, a);
		fl_buf_addf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.10s</text>",
			    W - MR, H - 10, b);
	}
	fl_buf_adds(o,
		    "</svg><p class=\"note\">Blue dots: RTO of each run (red ring: run did not pass)");
	if (has_rpo)
		fl_buf_adds(o, "; orange squares: RPO");
	fl_buf_adds(o, "; dashed: target.");
	if (stride > 1)
		fl_buf_addf(o, " Showing every %zu-th run (%zu of %zu).", stride, shown, se->total);
	fl_buf_adds(o, "</p></div>");
}

static void histogram_chart(struct fl_buf *o, const struct fl_report_scenario *s)
{
	const struct fl_report_histogram *h = &s->rto_hist;
	size_t bins = h->bins, n = s->rto.n;
	double lo, hi, maxc;

	fl_buf_adds(o, "<div class=\"chart\"><h3>RTO distribution</h3>");
	fl_buf_addf(o,
		    "<svg class=\"histogram\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"RTO histogram\">",
		    W, H);
	if (n == 0 || bins == 0) {
		fl_buf_addf(o,
			    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">no RTO measured</text></svg></div>",
			    W / 2, H / 2);
		return;
	}
	/* The span as report.c binned it: equal RTOs get one bar half a
	 * second either side. */
	lo = s->rto.min / 1000.0;
	hi = s->rto.max / 1000.0;
	if (!(hi > lo)) {
		lo -= 0.5;
		hi += 0.5;
	}
	maxc = h->count[0];
	for (size_t b = 1; b < bins; b++)
		if (h->count[b] > maxc)
			maxc = h->count[b];
	for (size_t b = 0; b < bins; b++) {
		double bl = h->range[b], bh = h->range[b + 1], c = h->count[b];
		double x0, x1, y;
		x0 = ML + (W - ML - MR) * (double)b / (double)bins;
		x1 = ML + (W - ML - MR) * (double)(b + 1) / (double)bins;
		y = H - MB - (H - MB - MT) * (maxc > 0 ? c / maxc : 0);
		fl_buf_addf(o,
			    "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>%.3f–%.3f s: %.0f runs</title></rect>",
			    x0 + 1, y, x1 - x0 - 2, H - MB - y, bl, bh, c);
	}
	if (!isnan(s->rto_target_ms)) {
		double t = s->rto_target_ms / 1000.0;
		if (t >= lo && t <= hi) {
			double x = ML + (W - ML - MR) * (t - lo) / (hi - lo);
			fl_buf_addf(o,
				    "<line class=\"target\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
				    x, MT, x, H - MB);
		}
	}
	fl_buf_addf(o, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", ML,
		    H - MB, W - MR, H - MB);
	fl_buf_addf(o, "<text x=\"%.1f\" y=\"%.1f\">%.3f s</text>", ML, H - 10, lo);
	fl_buf_addf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3f s</text>", W - MR,
		    H - 10, hi);
	fl_buf_addf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>", ML - 4,
		    MT + 8, maxc);
	fl_buf_addf(o, "</svg><p class=\"note\">%zu runs in %zu bins (Sturges)", n, bins);
	if (!isnan(s->rto_target_ms))
		fl_buf_addf(o, "; dashed: target %.3f s%s", s->rto_target_ms / 1000.0,
			    s->rto_target_ms / 1000.0 > hi ? " (above every run)" : "");
	fl_buf_adds(o, ".</p></div>");
}

/* The newest run that recorded phases, as a Gantt timeline (report_gantt.h):
 * one row per stage and step, so nothing overlaps and a short step shows. */
static void timeline(struct fl_buf *o, const struct fl_report_scenario *s)
{
	const struct fl_run *run = NULL;
	char ts[40];

	for (size_t i = 0; i < s->nkept && !run; i++)
		if (s->runs[i].nphases > 0)
			run = &s->runs[i];
	fl_buf_adds(o, "<div class=\"timeline\"><h3>Timeline of the latest run");
	if (!run) {
		fl_buf_adds(o, "</h3><p class=\"note\">no phases recorded</p></div>");
		return;
	}
	fl_buf_addf(o, " (#%lld, %s", (long long)run->id,
		    fl_rfc3339(run->started_wall_ns, ts, sizeof(ts)));
	if (run->verdict) {
		fl_buf_addf(o, ", <span class=\"%s\">", verdict_class(run->verdict));
		esc(o, run->verdict);
		fl_buf_adds(o, "</span>");
	}
	fl_buf_adds(o, ")</h3>");
	fl_report_gantt(o, run, isnan(run->rto_target_ms) ? s->rto_target_ms : run->rto_target_ms);
	fl_buf_adds(o,
		    "<p class=\"note\">Time from the injection (t0). Steps are indented under the stage they ran in.</p></div>");
}

static void stats_row(struct fl_buf *o, const char *name, const struct fl_summary *s)
{
	char a[32];
	fl_buf_adds(o, "<tr><th>");
	esc(o, name);
	fl_buf_addf(o, "</th><td class=\"num\">%zu</td><td class=\"num\">%s</td><td class=\"num\">",
		    s->n, fl_stats_fmt_s(s->mean, a, sizeof(a)));
	add_interval(o, s->mean_lo, s->mean_hi);
	fl_buf_addf(o, "</td><td class=\"num\">%s</td>", fl_stats_fmt_s(s->sd, a, sizeof(a)));
	fl_buf_addf(o, "<td class=\"num\">%s</td>", fl_stats_fmt_s(s->median, a, sizeof(a)));
	fl_buf_addf(o, "<td class=\"num\">%s</td>", fl_stats_fmt_s(s->p90, a, sizeof(a)));
	fl_buf_addf(o, "<td class=\"num\">%s</td><td class=\"num\">",
		    fl_stats_fmt_s(s->p95, a, sizeof(a)));
	add_interval(o, s->p95_lo, s->p95_hi);
	fl_buf_addf(o, "</td><td class=\"num\">%s</td>", fl_stats_fmt_s(s->p99, a, sizeof(a)));
	fl_buf_addf(o, "<td class=\"num\">%s</td>", fl_stats_fmt_s(s->min, a, sizeof(a)));
	fl_buf_addf(o, "<td class=\"num\">%s</td></tr>", fl_stats_fmt_s(s->max, a, sizeof(a)));
}

static void scenario_header(struct fl_buf *o, const struct fl_report_scenario *s, size_t idx)
{
	char a[32], b[32];
	fl_buf_addf(o, "<section class=\"scenario\" id=\"s%zu\"><h2>", idx);
	esc(o, s->name);
	fl_buf_adds(o, "</h2><p class=\"meta\">");
	if (s->asset) {
		fl_buf_adds(o, "asset ");
		esc(o, s->asset);
		if (s->asset_tier > 0)
			fl_buf_addf(o, " (tier %d)", s->asset_tier);
		fl_buf_adds(o, " · ");
	}
	fl_buf_addf(o, "RTO target %s · RPO target %s · %zu runs</p>",
		    fl_stats_fmt_s(s->rto_target_ms, a, sizeof(a)),
		    fl_stats_fmt_s(s->rpo_target_ms, b, sizeof(b)), s->nruns);
}

/* Pass rate and the chance of meeting the RTO target, as sentences. */
static void odds_sentences(struct fl_buf *o, const struct fl_report_scenario *s)
{
	char a[32];
	fl_buf_addf(o, "<li>Passed %ld of %zu runs: ", s->passed, s->nruns);
	add_pct(o, s->pass.p);
	fl_buf_adds(o, " (95 % Wilson interval ");
	add_pct(o, s->pass.lo);
	fl_buf_adds(o, " – ");
	add_pct(o, s->pass.hi);
	fl_buf_adds(o, ").</li><li>");
	if (isnan(s->rto_target_ms)) {
		fl_buf_adds(o, "No RTO target: the chance of meeting one is not computed.");
	} else {
		fl_buf_addf(o, "Chance of meeting the RTO target of %s: ",
			    fl_stats_fmt_s(s->rto_target_ms, a, sizeof(a)));
		add_pct(o, s->rto_meet.p_empirical);
		fl_buf_adds(o, " of runs did; a fitted log-normal");
		if (!isnan(s->rto_meet.mu))
			fl_buf_addf(o, " (μ = %.3f, σ = %.3f on ln ms)", s->rto_meet.mu,
				    s->rto_meet.sigma);
		fl_buf_adds(o, " gives ");
		add_pct(o, s->rto_meet.p_model);
		fl_buf_adds(o, ".");
	}
	fl_buf_adds(o, "</li>");
}

static void sentences(struct fl_buf *o, const struct fl_report *r, const struct fl_report_scenario *s)
{
	char sentence[700];
	fl_buf_adds(o, "<ul class=\"sentences\">");
	odds_sentences(o, s);
	fl_buf_adds(o, "<li>");
	esc(o, fl_stats_trend_sentence(&s->rto_trend, "RTO", FL_REPORT_ALPHA, sentence,
				       sizeof(sentence)));
	fl_buf_adds(o, ".</li>");
	if (s->rpo.n > 0) {
		fl_buf_adds(o, "<li>");
		esc(o, fl_stats_trend_sentence(&s->rpo_trend, "RPO", FL_REPORT_ALPHA, sentence,
					       sizeof(sentence)));
		fl_buf_adds(o, ".</li>");
	}
	fl_buf_adds(o, "<li>");
	if (s->loss_measured == 0)
		fl_buf_adds(o, "Data loss was not measured (no writer probe).");
	else
		fl_buf_addf(o,
			    "Lost acknowledged writes over %ld measured runs: %ld before the fault, <span class=\"%s\">%ld after the fault</span>.",
			    s->loss_measured, s->lost_before < 0 ? 0 : s->lost_before,
			    s->lost_after > 0 ? "fail" : "pass",
			    s->lost_after < 0 ? 0 : s->lost_after);
	fl_buf_adds(o, "</li>");
	if (s->has_compare) {
		fl_buf_adds(o, "<li>");
		esc(o, fl_stats_compare_sentence(&s->compare, r->baseline, r->candidate,
						 FL_REPORT_ALPHA, sentence, sizeof(sentence)));
		fl_buf_adds(o, ".</li>");
	}
	fl_buf_adds(o, "</ul>");
}

static void stats_table(struct fl_buf *o, const struct fl_report_scenario *s)
{
	fl_buf_adds(o,
		    "<h3>Statistics</h3><div class=\"tablewrap\"><table class=\"stats\"><thead><tr><th>figure</th><th>n</th><th>mean</th><th>mean 95 % CI</th><th>sd</th><th>median</th><th>p90</th><th>p95</th><th>p95 95 % CI</th><th>p99</th><th>min</th><th>max</th></tr></thead><tbody>");
	stats_row(o, "RTO", &s->rto);
	stats_row(o, "RPO", &s->rpo);
	stats_row(o, "time to validated", &s->ttv);
	for (size_t i = 0; i < s->nphases; i++) {
		char name[300];
		snprintf(name, sizeof(name), "phase %s", s->phases[i].name);
		stats_row(o, name, &s->phases[i].s);
	}
	fl_buf_adds(o, "</tbody></table></div>");
}

static void run_row(struct fl_buf *o, const struct fl_run *run)
{
	struct fl_buf reason;
	fl_buf_init(&reason, 0);
	fl_report_run_reason(run, &reason);
	fl_buf_addf(o, "<tr><td class=\"num\">%lld</td><td>", (long long)run->id);
	add_date(o, run->started_wall_ns);
	fl_buf_adds(o, "</td><td>");
	esc(o, run->label ? run->label : "");
	fl_buf_addf(o, "</td><td class=\"%s\">", verdict_class(run->verdict));
	esc(o, run->verdict ? run->verdict : "unknown");
	fl_buf_adds(o, "</td><td class=\"num\">");
	add_pm(o, run->rto_ms, run->rto_uncertainty_ms);
	fl_buf_adds(o, "</td><td class=\"num\">");
	add_pm(o, run->rpo_ms, run->rpo_uncertainty_ms);
	fl_buf_adds(o, "</td><td class=\"num\">");
	if (run->lost_before_fault < 0)
		fl_buf_adds(o, "n/a / ");
	else
		fl_buf_addf(o, "%ld / ", run->lost_before_fault);
	if (run->lost_after_fault < 0)
		fl_buf_adds(o, "n/a");
	else
		fl_buf_addf(o, "%ld", run->lost_after_fault);
	fl_buf_adds(o, "</td><td>");
	esc(o, reason.buf);
	fl_buf_adds(o, "</td></tr>");
	fl_buf_release(&reason);
}

static void runs_table(struct fl_buf *o, const struct fl_report_scenario *s)
{
	size_t rows = s->nkept < FL_REPORT_HTML_MAX_ROWS ? s->nkept : FL_REPORT_HTML_MAX_ROWS;
	fl_buf_addf(o,
		    "<h3>Runs</h3><div class=\"tablewrap\"><table class=\"runs\"><thead><tr><th>run</th><th>started</th><th>label</th><th>verdict</th><th>RTO</th><th>RPO</th><th>lost before / after</th><th>reason</th></tr></thead><tbody>");
	for (size_t i = 0; i < rows; i++)
		run_row(o, &s->runs[i]);
	fl_buf_adds(o, "</tbody></table></div>");
	if (rows < s->nruns)
		fl_buf_addf(o,
			    "<p class=\"note\">Latest %zu of %zu runs listed; the statistics and charts above cover all %zu.</p>",
			    rows, s->nruns, s->nruns);
}

static void scenario_section(struct fl_buf *o, const struct fl_report *r,
			     const struct fl_report_scenario *s, size_t idx)
{
	scenario_header(o, s, idx);
	sentences(o, r, s);
	fl_buf_adds(o, "<div class=\"charts\">");
	trend_chart(o, s);
	histogram_chart(o, s);
	fl_buf_adds(o, "</div>");
	timeline(o, s);
	stats_table(o, s);
	runs_table(o, s);
	fl_buf_adds(o, "</section>\n");
}

static void executive_summary(struct fl_buf *o, const struct fl_report *r)
{
	long passed = 0, stale = 0, failing = 0;
	for (size_t i = 0; i < r->nscenarios; i++) {
		passed += r->scenarios[i].passed;
		if (r->scenarios[i].nkept && (!r->scenarios[i].runs[0].verdict ||
					      strcmp(r->scenarios[i].runs[0].verdict, "pass")))
			failing++;
	}
	for (size_t i = 0; i < r->nassets; i++)
		stale += r->assets[i].stale;

	fl_buf_adds(o, "<section class=\"summary\"><h2>Executive summary</h2><div class=\"cards\">");
	fl_buf_addf(o, "<div class=\"card\"><b>%zu</b>scenarios drilled</div>", r->nscenarios);
	fl_buf_addf(o, "<div class=\"card\"><b>%zu</b>runs, %ld passed</div>", r->nruns, passed);
	fl_buf_addf(o,
		    "<div class=\"card\"><b class=\"%s\">%ld</b>scenarios failing at their latest run</div>",
		    failing ? "fail" : "pass", failing);
	fl_buf_addf(o,
		    "<div class=\"card\"><b class=\"%s\">%ld</b>assets with no drill in %ld days</div>",
		    stale ? "stale" : "pass", stale, r->stale_days);
	fl_buf_adds(o, "</div>");
	if (r->nassets == 0) {
		fl_buf_adds(o,
			    "<p><strong>No runs match this window: there is no evidence of recovery.</strong></p></section>");
		return;
	}
	fl_buf_adds(o,
		    "<h3>Assets by tier</h3><div class=\"tablewrap\"><table class=\"assets\"><thead><tr><th>tier</th><th>asset</th><th>RTO target</th><th>RTO achieved</th><th>RPO target</th><th>RPO achieved</th><th>latest verdict</th><th>last drilled</th><th>last good backup</th></tr></thead><tbody>");
	for (size_t i = 0; i < r->nassets; i++) {
		const struct fl_report_asset *a = &r->assets[i];
		const struct fl_run *l = a->last;
		char t[32];
		if (a->tier > 0)
			fl_buf_addf(o, "<tr><td class=\"num\">%d</td><td>", a->tier);
		else
			fl_buf_adds(o, "<tr><td class=\"num\">–</td><td>");
		esc(o, a->name);
		if (a->kind) {
			fl_buf_adds(o, " <span class=\"meta\">");
			esc(o, a->kind);
			fl_buf_adds(o, "</span>");
		}
		fl_buf_addf(o, "</td><td class=\"num\">%s</td><td class=\"num\">",
			    fl_stats_fmt_s(a->rto_target_ms, t, sizeof(t)));
		if (l)
			add_pm(o, l->rto_ms, l->rto_uncertainty_ms);
		else
			fl_buf_adds(o, "n/a");
		fl_buf_addf(o, "</td><td class=\"num\">%s</td><td class=\"num\">",
			    fl_stats_fmt_s(a->rpo_target_ms, t, sizeof(t)));
		if (l)
			add_pm(o, l->rpo_ms, l->rpo_uncertainty_ms);
		else
			fl_buf_adds(o, "n/a");
		fl_buf_addf(o, "</td><td class=\"%s\">", l ? verdict_class(l->verdict) : "stale");
		esc(o, l ? (l->verdict ? l->verdict : "unknown") : "never drilled");
		fl_buf_adds(o, "</td><td>");
		add_date(o, l ? l->started_wall_ns : 0);
		if (a->stale && a->drill_every_ns > 0)
			fl_buf_addf(o,
				    " <span class=\"stale\">⚠ not drilled within its drill_every (%lld days)</span>",
				    (long long)((a->drill_every_ns + 86400 * FL_NS_PER_S - 1) /
						(86400 * FL_NS_PER_S)));
		else if (a->stale)
			fl_buf_addf(o, " <span class=\"stale\">⚠ no drill in %ld days</span>",
				    r->stale_days);
		/* Age of the newest good backup when the asset was last drilled:
		 * what a restore at that moment would have started from. */
		{
			char age[96];
			fl_buf_addf(o, "</td><td%s>",
				    l && l->backup_last_good_wall_ns > 0 ? "" : " class=\"meta\"");
			esc(o, fl_backup_age_describe(l ? l->started_wall_ns : 0,
						      l ? l->backup_last_good_wall_ns : 0,
						      l ? l->backup_last_good_type : NULL, age,
						      sizeof(age)));
			fl_buf_adds(o, "</td></tr>");
		}
	}
	fl_buf_adds(o, "</tbody></table></div></section>\n");
}

static void verdict_table(struct fl_buf *o, const struct fl_report *r)
{
	if (r->nscenarios == 0)
		return;
	fl_buf_adds(o,
		    "<section class=\"verdicts\"><h2>Verdicts by scenario</h2><div class=\"tablewrap\"><table class=\"verdicts\" id=\"verdicts\"><thead><tr><th>scenario</th><th>runs</th><th>pass rate (95 % CI)</th><th>median RTO</th><th>p95 RTO (95 % CI)</th><th>RTO target</th><th>P(RTO ≤ target)</th><th>lost after fault</th><th>latest</th></tr></thead><tbody>");
	for (size_t i = 0; i < r->nscenarios; i++) {
		const struct fl_report_scenario *s = &r->scenarios[i];
		const char *v = s->nkept ? s->runs[0].verdict : NULL;
		char a[32];
		fl_buf_addf(o, "<tr class=\"verdict\"><td><a href=\"#s%zu\">", i);
		esc(o, s->name);
		fl_buf_addf(o, "</a></td><td class=\"num\">%zu</td><td class=\"num\">", s->nruns);
		add_pct(o, s->pass.p);
		fl_buf_adds(o, " (");
		add_pct(o, s->pass.lo);
		fl_buf_adds(o, "–");
		add_pct(o, s->pass.hi);
		fl_buf_addf(o, ")</td><td class=\"num\">%s</td><td class=\"num\">",
			    fl_stats_fmt_s(s->rto.median, a, sizeof(a)));
		fl_buf_adds(o, fl_stats_fmt_s(s->rto.p95, a, sizeof(a)));
		if (!isnan(s->rto.p95_lo)) {
			fl_buf_adds(o, " (");
			add_interval(o, s->rto.p95_lo, s->rto.p95_hi);
			fl_buf_adds(o, ")");
		}
		fl_buf_addf(o, "</td><td class=\"num\">%s</td><td class=\"num\">",
			    fl_stats_fmt_s(s->rto_target_ms, a, sizeof(a)));
		add_pct(o, s->rto_meet.p_empirical);
		fl_buf_adds(o, " / ");
		add_pct(o, s->rto_meet.p_model);
		fl_buf_adds(o, "</td><td class=\"num\">");
		if (s->lost_after < 0)
			fl_buf_adds(o, "n/a");
		else
			fl_buf_addf(o, "<span class=\"%s\">%ld</span>",
				    s->lost_after ? "fail" : "pass", s->lost_after);
		fl_buf_addf(o, "</td><td class=\"%s\">", verdict_class(v));
		esc(o, v ? v : "n/a");
		fl_buf_adds(o, "</td></tr>");
	}
	fl_buf_adds(o,
		    "</tbody></table></div><p class=\"note\">P(RTO ≤ target): share of runs that met it / fitted log-normal estimate.</p></section>\n");
}

int fl_report_write_html(const struct fl_report *r, struct fl_buf *out, struct fl_error *err)
{
	char win[300];

	fl_buf_adds(out,
		    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
		    "<meta name=\"generator\" content=\"faultline " FAULTLINE_VERSION "\"><title>");
	esc(out, r->title);
	fl_buf_addf(out, "</title><style>%s%s</style></head><body>\n<header><h1>", css,
		    fl_report_gantt_css());
	esc(out, r->title);
	fl_buf_adds(out, "</h1><p class=\"meta\">Generated ");
	add_date(out, r->generated_wall_ns);
	fl_buf_adds(out, " · ");
	esc(out, fl_report_window(r, win, sizeof(win)));
	if (r->scenario_filter) {
		fl_buf_adds(out, " · scenario ");
		esc(out, r->scenario_filter);
	}
	fl_buf_adds(out, "</p></header>\n");
	executive_summary(out, r);
	verdict_table(out, r);
	for (size_t i = 0; i < r->nscenarios; i++)
		scenario_section(out, r, &r->scenarios[i], i);
	fl_buf_addf(out,
		    "<footer><p class=\"note\">How to read the numbers: RTO = restored − injection, RPO = injection − the earliest lost acknowledged write, each ± the probe interval. "
		    "Percentiles are Hyndman–Fan type 7 (linear interpolation between order statistics). "
		    "Intervals are 95 %%: the mean by Student's t, p95 by percentile bootstrap (seed %lu, %zu resamples), pass rates by Wilson's score interval. "
		    "Trends are ordinary least squares of RTO on weeks with a t test of the slope. "
		    "Comparisons use the Mann–Whitney U test (exact for small untied samples) and Welch's t on log durations; effect r is the rank-biserial correlation. "
		    "“n/a” marks a figure that cannot be computed from these runs.</p></footer>\n</body></html>\n",
		    r->seed, r->resamples);
	if (out->failed)
		return fl_error_set(err, FL_EXIT_ENV, "report: output too large or out of memory");
	return 0;
}

const struct fl_report_format fl_report_format_html = {
	.name = "html",
	.extension = "html",
	.content_type = "text/html; charset=utf-8",
	.default_output = "report.html",
	.summary = "self-contained page for people: summary, charts, timeline",
	.render = fl_report_write_html,
};
