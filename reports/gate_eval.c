/*
 * gate_eval: evaluates parsed gate rules against a computed report and
 * writes the PASS/FAIL lines and the JSON verdict. Split from gate.c (the
 * parser) so each stays within the file-size limit; the rule semantics are
 * in gate.h.
 */
#include "reports/gate.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare(double v, enum fl_gate_op op, double limit)
{
	switch (op) {
	case FL_GATE_LE: return v <= limit;
	case FL_GATE_LT: return v < limit;
	case FL_GATE_GE: return v >= limit;
	case FL_GATE_GT: return v > limit;
	case FL_GATE_EQ: return v == limit;
	}
	return 0;
}

/* The rule's phase in s, or NULL (no run of the window had it). */
static const struct fl_phase_stats *rule_phase(const struct fl_gate_rule *rule,
					       const struct fl_report_scenario *s)
{
	for (size_t i = 0; i < s->nphases; i++)
		if (!strcmp(s->phases[i].name, rule->phase))
			return &s->phases[i];
	return NULL;
}

static const struct fl_summary *figure_summary(const struct fl_gate_rule *rule,
					       const struct fl_report_scenario *s)
{
	const struct fl_phase_stats *p;
	switch (rule->figure) {
	case FL_GATE_RTO: return &s->rto;
	case FL_GATE_RPO: return &s->rpo;
	case FL_GATE_TTV: return &s->ttv;
	case FL_GATE_PHASE: p = rule_phase(rule, s); return p ? &p->s : NULL;
	}
	return NULL;
}

static const char *figure_name(const struct fl_gate_rule *rule, char *buf, size_t n)
{
	if (rule->figure == FL_GATE_PHASE)
		snprintf(buf, n, "%s %s", fl_gate_figure_label(FL_GATE_PHASE), rule->phase);
	else
		snprintf(buf, n, "%s", fl_gate_figure_label(rule->figure));
	return buf;
}

/* Value and, where the statistic is an estimate, its 95 % interval. */
static double stat_value(const struct fl_summary *s, enum fl_gate_stat st, double *lo, double *hi)
{
	*lo = *hi = NAN;
	switch (st) {
	case FL_GATE_MEAN:
		*lo = s->mean_lo;
		*hi = s->mean_hi;
		return s->mean;
	case FL_GATE_MEDIAN: return s->median;
	case FL_GATE_P90: return s->p90;
	case FL_GATE_P95:
		*lo = s->p95_lo;
		*hi = s->p95_hi;
		return s->p95;
	case FL_GATE_P99: return s->p99;
	case FL_GATE_MIN: return s->min;
	case FL_GATE_MAX: return s->max;
	}
	return NAN;
}

struct verdict_ctx {
	struct fl_buf *lines;
	json_t *results;
	const struct fl_report *r;
	int failed;
	int oom;
};

/* "(last 10 runs of demo)", "(all 3 runs of demo since 2026-01-01)", ... */
static void add_window(struct fl_buf *o, const struct fl_report *r,
		       const struct fl_report_scenario *s)
{
	if (!s)
		fl_buf_addf(o, "(window: %s", r->last > 0 ? "last " : "all runs");
	else if (r->last > 0 && s->nruns >= (size_t)r->last)
		fl_buf_addf(o, "(last %zu runs of %s", s->nruns, s->name);
	else if (r->last > 0)
		fl_buf_addf(o, "(only %zu runs of %s in a window of the last %ld", s->nruns,
			    s->name, r->last);
	else
		fl_buf_addf(o, "(all %zu runs of %s", s->nruns, s->name);
	if (!s && r->last > 0)
		fl_buf_addf(o, "%ld runs", r->last);
	if (r->since_wall_ns) {
		char ts[40];
		fl_buf_addf(o, " since %.10s", fl_rfc3339(r->since_wall_ns, ts, sizeof(ts)));
	}
	if (r->label_filter)
		fl_buf_addf(o, " labelled %s", r->label_filter);
	fl_buf_adds(o, ")");
}

static void emit(struct verdict_ctx *vc, const struct fl_gate_rule *rule,
		 const struct fl_report_scenario *s, int pass, const char *detail, double value,
		 double limit)
{
	if (!pass)
		vc->failed = 1;
	if (vc->lines) {
		fl_buf_addf(vc->lines, "%s %s: %s ", pass ? "PASS" : "FAIL", rule->text, detail);
		add_window(vc->lines, vc->r, s);
		fl_buf_adds(vc->lines, "\n");
		if (vc->lines->failed)
			vc->oom = 1;
	}
	if (vc->results) {
		json_t *o =
			json_pack("{ss so ss so so ss}", "rule", rule->text, "scenario",
				  s ? json_string(s->name) : json_null(), "status",
				  pass ? "pass" : "fail", "value",
				  isnan(value) ? json_null() : json_real(value), "limit",
				  isnan(limit) ? json_null() : json_real(limit), "detail", detail);
		if (!o || json_array_append_new(vc->results, o) < 0)
			vc->oom = 1;
	}
}

static void eval_stat(struct verdict_ctx *vc, const struct fl_gate_rule *rule,
		      const struct fl_report_scenario *s)
{
	const struct fl_summary *sum = figure_summary(rule, s);
	char d[400], fig[160], a[32], b[32], c[32], e[32], ci[100] = "";
	double lo, hi, v, limit = rule->limit;

	figure_name(rule, fig, sizeof(fig));
	if (rule->use_target) {
		limit = rule->figure == FL_GATE_RTO ? s->rto_target_ms : s->rpo_target_ms;
		if (isnan(limit)) {
			snprintf(d, sizeof(d), "no %s target recorded for this scenario", fig);
			emit(vc, rule, s, 0, d, NAN, NAN);
			return;
		}
	}
	if (!sum || sum->n == 0) {
		snprintf(d, sizeof(d), "%s was not measured in any run", fig);
		emit(vc, rule, s, 0, d, NAN, limit);
		return;
	}
	v = stat_value(sum, rule->stat, &lo, &hi);
	if (!isnan(lo))
		snprintf(ci, sizeof(ci), " (95 %% CI %s – %s)", fl_stats_fmt_s(lo, a, sizeof(a)),
			 fl_stats_fmt_s(hi, b, sizeof(b)));
	if (compare(v, rule->op, limit))
		snprintf(d, sizeof(d), "%s%s %s %s", fl_stats_fmt_s(v, a, sizeof(a)), ci,
			 fl_gate_op_name(rule->op), fl_stats_fmt_s(limit, c, sizeof(c)));
	else
		snprintf(d, sizeof(d), "%s%s %s %s by %s", fl_stats_fmt_s(v, a, sizeof(a)), ci,
			 fl_gate_op_negated(rule->op), fl_stats_fmt_s(limit, c, sizeof(c)),
			 fl_stats_fmt_s(fabs(v - limit), e, sizeof(e)));
	emit(vc, rule, s, compare(v, rule->op, limit), d, v, limit);
}

static void eval_count(struct verdict_ctx *vc, const struct fl_gate_rule *rule,
		       const struct fl_report_scenario *s)
{
	char d[300];
	double v;
	int pass;

	if (rule->kind == FL_GATE_RUNS) {
		v = (double)s->nruns;
		pass = compare(v, rule->op, rule->limit);
		snprintf(d, sizeof(d), "%zu runs %s %.0f", s->nruns,
			 pass ? fl_gate_op_name(rule->op) : fl_gate_op_negated(rule->op),
			 rule->limit);
		emit(vc, rule, s, pass, d, v, rule->limit);
		return;
	}
	if (rule->kind == FL_GATE_PASS_RATE) {
		v = s->pass.p;
		pass = !isnan(v) && compare(v, rule->op, rule->limit);
		snprintf(d, sizeof(d),
			 "%.2f (%ld of %zu passed, 95 %% Wilson CI %.2f – %.2f) %s %.2f", v,
			 s->passed, s->nruns, s->pass.lo, s->pass.hi,
			 pass ? fl_gate_op_name(rule->op) : fl_gate_op_negated(rule->op),
			 rule->limit);
		emit(vc, rule, s, pass, d, v, rule->limit);
		return;
	}
	{
		long lost = rule->kind == FL_GATE_LOST_AFTER ? s->lost_after : s->lost_before;
		const char *when = fl_gate_kind_when(rule->kind);
		if (lost < 0) {
			snprintf(d, sizeof(d),
				 "writes lost %s the fault were not measured in any run (no writer probe)",
				 when);
			emit(vc, rule, s, 0, d, NAN, rule->limit);
			return;
		}
		pass = compare((double)lost, rule->op, rule->limit);
		snprintf(d, sizeof(d),
			 "%ld acknowledged writes lost %s the fault over %ld measured runs, %s %.0f",
			 lost, when, s->loss_measured,
			 pass ? fl_gate_op_name(rule->op) : fl_gate_op_negated(rule->op),
			 rule->limit);
		emit(vc, rule, s, pass, d, (double)lost, rule->limit);
	}
}

/* The report compares every figure (report.h: has_compare); a phase no run
 * of the window had compares nothing. */
static const struct fl_compare *figure_compare(const struct fl_gate_rule *rule,
					       const struct fl_report_scenario *s)
{
	const struct fl_phase_stats *p;
	switch (rule->figure) {
	case FL_GATE_RTO: return &s->compare;
	case FL_GATE_RPO: return &s->compare_rpo;
	case FL_GATE_TTV: return &s->compare_ttv;
	case FL_GATE_PHASE: p = rule_phase(rule, s); return p ? &p->compare : NULL;
	}
	return NULL;
}

static void eval_regression(struct verdict_ctx *vc, const struct fl_gate_rule *rule,
			    const struct fl_report *r, const struct fl_report_scenario *s)
{
	const struct fl_compare *cmp = s->has_compare ? figure_compare(rule, s) : NULL;
	size_t nb = cmp ? cmp->n_base : 0, nc = cmp ? cmp->n_cand : 0;
	char d[1024], fig[160], sentence[600];
	int regressed;

	/* A run labelled both ways is a baseline run: with one label for
	 * both sides there is no candidate. */
	if (!strcmp(r->baseline, r->candidate))
		nc = 0;
	figure_name(rule, fig, sizeof(fig));
	if (nb == 0 || nc == 0) {
		snprintf(d, sizeof(d),
			 "no evidence: %zu baseline (%s) and %zu candidate (%s) runs with %s", nb,
			 r->baseline, nc, r->candidate, fig);
		emit(vc, rule, s, 0, d, NAN, NAN);
		return;
	}
	regressed = !isnan(cmp->mw.p) && cmp->mw.p < rule->alpha && cmp->mw.effect > rule->effect;
	fl_stats_compare_sentence(cmp, r->baseline, r->candidate, rule->alpha, sentence,
				  sizeof(sentence));
	snprintf(d, sizeof(d), "%s%s: %s", regressed ? "regression of " : "no regression of ", fig,
		 sentence);
	emit(vc, rule, s, !regressed, d, cmp->mw.p, rule->alpha);
}

/* Once per rule: the assets never drilled or not within their period. */
static void eval_stale(struct verdict_ctx *vc, const struct fl_gate_rule *rule,
		       const struct fl_report *r)
{
	struct fl_buf d;
	size_t n = 0;
	int pass;

	fl_buf_init(&d, 4096);
	for (size_t i = 0; i < r->nassets; i++)
		n += r->assets[i].stale != 0;
	pass = r->nassets > 0 && compare((double)n, rule->op, rule->limit);
	if (!r->nassets) {
		fl_buf_adds(&d, "no assets to judge: give the gate an inventory (--inventory)");
	} else {
		fl_buf_addf(&d, "%zu of %zu assets stale %s %.0f", n, r->nassets,
			    pass ? fl_gate_op_name(rule->op) : fl_gate_op_negated(rule->op),
			    rule->limit);
		for (size_t i = 0, k = 0; i < r->nassets; i++) {
			const struct fl_report_asset *a = &r->assets[i];
			char day[40], per[32];
			if (!a->stale)
				continue;
			fl_buf_addf(&d, "%s%s: ", k++ ? "; " : " (", a->name);
			if (!a->last)
				fl_buf_adds(&d, "never drilled");
			else
				fl_buf_addf(&d, "last drilled %.10s",
					    fl_rfc3339(a->last->started_wall_ns, day, sizeof(day)));
			if (a->drill_every_ns > 0 && a->drill_every_ns % (86400 * FL_NS_PER_S) == 0)
				fl_buf_addf(&d, ", drill_every %lldd",
					    (long long)(a->drill_every_ns / (86400 * FL_NS_PER_S)));
			else if (a->drill_every_ns > 0)
				fl_buf_addf(&d, ", drill_every %s",
					    fl_duration_format(a->drill_every_ns, per, sizeof(per)));
		}
		if (n)
			fl_buf_adds(&d, ")");
	}
	if (d.failed)
		vc->oom = 1;
	emit(vc, rule, NULL, pass, d.buf, (double)n, rule->limit);
	fl_buf_release(&d);
}

int fl_gate_evaluate(const struct fl_gate *g, const struct fl_report *r, struct fl_buf *lines,
		     json_t *results, struct fl_error *err)
{
	struct verdict_ctx vc = { lines, results, r, 0, 0 };

	if (g->nrules == 0)
		return fl_error_set(err, FL_EXIT_INPUT,
				    "gate: no rules given (use --rule or --gate-file)");
	for (size_t i = 0; i < g->nrules; i++)
		if (g->rules[i].kind == FL_GATE_REGRESSION && (!r->baseline || !r->candidate))
			return fl_error_set(err, FL_EXIT_INPUT,
					    "rule '%s' needs --baseline LABEL and --candidate LABEL",
					    g->rules[i].text);
	for (size_t i = 0; i < g->nrules; i++) {
		const struct fl_gate_rule *rule = &g->rules[i];
		if (rule->kind == FL_GATE_STALE) {
			eval_stale(&vc, rule, r);
			continue;
		}
		if (r->nscenarios == 0) {
			char d[200];
			snprintf(d, sizeof(d),
				 "no runs match%s%s: a gate with no evidence does not pass",
				 r->scenario_filter ? " scenario " : "",
				 r->scenario_filter ? r->scenario_filter : "");
			emit(&vc, rule, NULL, 0, d, NAN, NAN);
			continue;
		}
		for (size_t k = 0; k < r->nscenarios; k++) {
			const struct fl_report_scenario *s = &r->scenarios[k];
			if (rule->kind == FL_GATE_STAT)
				eval_stat(&vc, rule, s);
			else if (rule->kind == FL_GATE_REGRESSION)
				eval_regression(&vc, rule, r, s);
			else
				eval_count(&vc, rule, s);
		}
	}
	if (vc.oom)
		return fl_error_oom(err, "gate");
	return vc.failed ? 1 : 0;
}
