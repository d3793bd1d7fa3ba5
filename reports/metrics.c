/*
 * metrics: Prometheus text exposition of drill results. See metrics.h.
 */
#include <math.h>
#include <string.h>

#include "reports/metrics.h"

/* Label values escape backslash, double quote and newline (exposition
 * format 0.0.4); everything else, UTF-8 included, goes through as is. */
static void label_value(struct fl_buf *o, const char *s)
{
	for (const char *p = s ? s : ""; *p; p++) {
		if (*p == '\\')
			fl_buf_adds(o, "\\\\");
		else if (*p == '"')
			fl_buf_adds(o, "\\\"");
		else if (*p == '\n')
			fl_buf_adds(o, "\\n");
		else
			fl_buf_add(o, p, 1);
	}
}

static void head(struct fl_buf *o, const char *name, const char *type, const char *help)
{
	fl_buf_addf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void scenario_labels(struct fl_buf *o, const struct fl_report_scenario *s,
			    const struct fl_run *run)
{
	fl_buf_adds(o, "{scenario=\"");
	label_value(o, s->name);
	fl_buf_adds(o, "\",asset=\"");
	label_value(o, run->asset ? run->asset : "");
	fl_buf_adds(o, "\",environment=\"");
	label_value(o, run->environment ? run->environment : "");
	fl_buf_adds(o, "\"}");
}

/* One gauge over the scenarios' newest runs; what(run) NAN = no sample. */
static void per_scenario(struct fl_buf *o, const struct fl_report *r, const char *name,
			 const char *help, double (*what)(const struct fl_run *))
{
	int any = 0;
	for (size_t i = 0; i < r->nscenarios; i++) {
		const struct fl_report_scenario *s = &r->scenarios[i];
		double v;
		if (!s->nkept)
			continue;
		v = what(&s->runs[0]);
		if (isnan(v))
			continue;
		if (!any++)
			head(o, name, "gauge", help);
		fl_buf_adds(o, name);
		scenario_labels(o, s, &s->runs[0]);
		fl_buf_addf(o, " %.15g\n", v);
	}
}

static double m_last(const struct fl_run *run)
{
	return (double)run->started_wall_ns / 1e9;
}
static double m_pass(const struct fl_run *run)
{
	return run->verdict && !strcmp(run->verdict, "pass") ? 1 : 0;
}
static double m_rto(const struct fl_run *run)
{
	return run->rto_ms / 1e3;
}
static double m_rpo(const struct fl_run *run)
{
	return run->rpo_ms / 1e3;
}
static double m_rto_t(const struct fl_run *run)
{
	return run->rto_target_ms / 1e3;
}
static double m_rpo_t(const struct fl_run *run)
{
	return run->rpo_target_ms / 1e3;
}
static double m_dur(const struct fl_run *run)
{
	return run->duration_ms / 1e3;
}
static double m_lost(const struct fl_run *run)
{
	if (run->lost_before_fault < 0 && run->lost_after_fault < 0)
		return NAN;
	return (double)((run->lost_before_fault > 0 ? run->lost_before_fault : 0) +
			(run->lost_after_fault > 0 ? run->lost_after_fault : 0));
}

int fl_metrics_write(const struct fl_report *r, struct fl_buf *o, struct fl_error *err)
{
	int any = 0;

	per_scenario(o, r, "faultline_drill_last_run_timestamp_seconds",
		     "Start of the newest finished drill of the scenario, Unix time.", m_last);
	per_scenario(o, r, "faultline_drill_pass",
		     "1 when the newest drill of the scenario passed, else 0.", m_pass);
	per_scenario(o, r, "faultline_drill_rto_seconds",
		     "Recovery time achieved by the newest drill.", m_rto);
	per_scenario(o, r, "faultline_drill_rto_target_seconds",
		     "Recovery time objective of the scenario.", m_rto_t);
	per_scenario(o, r, "faultline_drill_rpo_seconds",
		     "Data-loss window achieved by the newest drill.", m_rpo);
	per_scenario(o, r, "faultline_drill_rpo_target_seconds",
		     "Recovery point objective of the scenario.", m_rpo_t);
	per_scenario(o, r, "faultline_drill_lost_writes",
		     "Acknowledged writes lost in the newest drill (before and after the fault).",
		     m_lost);
	per_scenario(o, r, "faultline_drill_duration_seconds", "Wall time of the newest drill.",
		     m_dur);

	for (size_t i = 0; i < r->nscenarios; i++) {
		const struct fl_report_scenario *s = &r->scenarios[i];
		if (!any++)
			head(o, "faultline_drill_runs", "gauge",
			     "Stored drills of the scenario in the window, by outcome.");
		fl_buf_adds(o, "faultline_drill_runs{scenario=\"");
		label_value(o, s->name);
		fl_buf_addf(o, "\",outcome=\"pass\"} %ld\n", s->passed);
		fl_buf_adds(o, "faultline_drill_runs{scenario=\"");
		label_value(o, s->name);
		fl_buf_addf(o, "\",outcome=\"other\"} %ld\n", (long)s->nruns - s->passed);
	}

	any = 0;
	for (size_t i = 0; i < r->nassets; i++) {
		const struct fl_report_asset *a = &r->assets[i];
		if (!a->last)
			continue;
		if (!any++)
			head(o, "faultline_asset_last_drill_timestamp_seconds", "gauge",
			     "Start of the newest drill of the asset, Unix time.");
		fl_buf_adds(o, "faultline_asset_last_drill_timestamp_seconds{asset=\"");
		label_value(o, a->name);
		fl_buf_addf(o, "\"} %.15g\n", (double)a->last->started_wall_ns / 1e9);
	}
	if (r->nassets) {
		head(o, "faultline_asset_stale", "gauge",
		     "1 when the asset was never drilled or not within its staleness window.");
		for (size_t i = 0; i < r->nassets; i++) {
			fl_buf_adds(o, "faultline_asset_stale{asset=\"");
			label_value(o, r->assets[i].name);
			fl_buf_addf(o, "\"} %d\n", r->assets[i].stale ? 1 : 0);
		}
	}
	if (o->failed)
		return fl_error_oom(err, "metrics");
	return 0;
}
