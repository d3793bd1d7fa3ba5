/*
 * report_md: Markdown summary writer. See report_md.h.
 */
#include "reports/report_md.h"
#include "reports/report_format.h"
#include "core/error.h"
#include "core/buf.h"

#include <math.h>
#include <string.h>

/* GitHub renders inline HTML in Markdown, so <, > and & become entities;
 * Markdown punctuation is backslash-escaped and newlines folded so a name
 * stays inside its table cell. */
static void md_escape(struct fl_buf *out, const char *s)
{
	for (const char *p = s ? s : ""; *p; p++) {
		if (*p == '<')
			fl_buf_adds(out, "&lt;");
		else if (*p == '>')
			fl_buf_adds(out, "&gt;");
		else if (*p == '&')
			fl_buf_adds(out, "&amp;");
		else if (*p == '\n' || *p == '\r')
			fl_buf_adds(out, " ");
		else if (strchr("\\`*_[]|~", *p)) {
			fl_buf_addf(out, "\\%c", *p);
		} else
			fl_buf_add(out, p, 1);
	}
}

static const char *pct(double p, char *buf, size_t n)
{
	if (isnan(p))
		snprintf(buf, n, "n/a");
	else
		snprintf(buf, n, "%.0f %%", p * 100.0);
	return buf;
}

int fl_report_write_markdown(const struct fl_report *r, struct fl_buf *out, struct fl_error *err)
{
	char win[300], a[32], b[32], c[32], d[32], e[32], sentence[600];
	long passed = 0;

	for (size_t i = 0; i < r->nscenarios; i++)
		passed += r->scenarios[i].passed;
	fl_buf_adds(out, "## ");
	md_escape(out, r->title);
	fl_buf_addf(out, "\n\n%zu runs of %zu scenarios (%s), %ld passed.\n\n", r->nruns,
		    r->nscenarios, fl_report_window(r, win, sizeof(win)), passed);
	if (r->nscenarios == 0) {
		fl_buf_adds(out,
			    "**No runs match**: there is no evidence of recovery in this window.\n");
		goto done;
	}
	fl_buf_adds(out,
		    "| scenario | runs | pass rate (95 % CI) | p95 RTO (95 % CI) | RTO target | P(RTO ≤ target) | lost after fault | latest |\n"
		    "| --- | ---: | --- | --- | ---: | --- | ---: | --- |\n");
	for (size_t i = 0; i < r->nscenarios; i++) {
		const struct fl_report_scenario *s = &r->scenarios[i];
		fl_buf_adds(out, "| ");
		md_escape(out, s->name);
		fl_buf_addf(out, " | %zu | %s (%s–%s) | %s", s->nruns, pct(s->pass.p, a, sizeof(a)),
			    pct(s->pass.lo, b, sizeof(b)), pct(s->pass.hi, c, sizeof(c)),
			    fl_stats_fmt_s(s->rto.p95, d, sizeof(d)));
		if (!isnan(s->rto.p95_lo))
			fl_buf_addf(out, " (%s–%s)", fl_stats_fmt_s(s->rto.p95_lo, a, sizeof(a)),
				    fl_stats_fmt_s(s->rto.p95_hi, b, sizeof(b)));
		fl_buf_addf(out, " | %s | %s empirical, %s log-normal | ",
			    fl_stats_fmt_s(s->rto_target_ms, e, sizeof(e)),
			    pct(s->rto_meet.p_empirical, a, sizeof(a)),
			    pct(s->rto_meet.p_model, b, sizeof(b)));
		if (s->lost_after < 0)
			fl_buf_adds(out, "not measured");
		else
			fl_buf_addf(out, "%ld", s->lost_after);
		fl_buf_addf(out, " | %s %s |\n",
			    s->nkept && s->runs[0].verdict && !strcmp(s->runs[0].verdict, "pass")
				    ? "✅"
				    : "❌",
			    s->nkept && s->runs[0].verdict ? s->runs[0].verdict : "n/a");
	}
	fl_buf_adds(out, "\n");
	for (size_t i = 0; i < r->nscenarios; i++) {
		const struct fl_report_scenario *s = &r->scenarios[i];
		fl_buf_adds(out, "- **");
		md_escape(out, s->name);
		fl_buf_adds(out, "**: ");
		fl_stats_trend_sentence(&s->rto_trend, "RTO", FL_REPORT_ALPHA, sentence,
					sizeof(sentence));
		md_escape(out, sentence);
		if (s->has_compare) {
			fl_buf_adds(out, "; ");
			fl_stats_compare_sentence(&s->compare, r->baseline, r->candidate,
						  FL_REPORT_ALPHA, sentence, sizeof(sentence));
			md_escape(out, sentence);
		}
		fl_buf_adds(out, "\n");
	}
	fl_buf_addf(out,
		    "\nPercentiles: Hyndman–Fan type 7; intervals 95 %%; p95 interval by percentile bootstrap (seed %lu, %zu resamples).\n",
		    r->seed, r->resamples);
done:
	if (out->failed)
		return fl_error_set(err, FL_EXIT_ENV, "report: output too large or out of memory");
	return 0;
}

const struct fl_report_format fl_report_format_markdown = {
	.name = "markdown",
	.extension = "md",
	.content_type = "text/markdown; charset=utf-8",
	.default_output = "-",
	.summary = "a table for CI job summaries",
	.render = fl_report_write_markdown,
};
