/*
 * report_json: serialises the report model with jansson. See report_json.h.
 */
#include "reports/report_json.h"
#include "reports/report_format.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"

#include <math.h>
#include <stdlib.h>

/* NAN (not measured) becomes null; jansson would refuse it anyway. */
static json_t *num(double v)
{
	return isnan(v) || isinf(v) ? json_null() : json_real(v);
}

static json_t *count(long v)
{
	return v < 0 ? json_null() : json_integer(v);
}

static json_t *str(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *pair(double lo, double hi)
{
	if (isnan(lo) || isnan(hi))
		return json_null();
	return json_pack("[oo]", num(lo), num(hi));
}

static json_t *summary_json(const struct fl_summary *s)
{
	return json_pack("{sI so so so so so so so so so so}", "n", (json_int_t)s->n, "mean",
			 num(s->mean), "sd", num(s->sd), "median", num(s->median), "p90",
			 num(s->p90), "p95", num(s->p95), "p99", num(s->p99), "min", num(s->min),
			 "max", num(s->max), "mean_ci", pair(s->mean_lo, s->mean_hi), "p95_ci",
			 pair(s->p95_lo, s->p95_hi));
}

static json_t *trend_json(const struct fl_trend *t, const char *what)
{
	char sentence[300];
	fl_stats_trend_sentence(t, what, FL_REPORT_ALPHA, sentence, sizeof(sentence));
	return json_pack("{sI so so so so ss}", "n", (json_int_t)t->n, "slope_ms_per_week",
			 num(t->slope), "slope_ci", pair(t->slope_lo, t->slope_hi), "p", num(t->p),
			 "df", num(t->df), "sentence", sentence);
}

static json_t *time_json(int64_t wall_ns)
{
	char ts[40];
	if (wall_ns <= 0)
		return json_null();
	return json_string(fl_rfc3339(wall_ns, ts, sizeof(ts)));
}

static json_t *run_json(const struct fl_run *run)
{
	json_t *failures = json_array(), *phases = json_array(), *o;
	struct fl_buf reason;

	fl_buf_init(&reason, 0);
	if (!failures || !phases)
		goto fail;
	for (size_t i = 0; i < run->nfailures; i++)
		if (json_array_append_new(failures, json_string(run->failures[i])) < 0)
			goto fail;
	for (size_t i = 0; i < run->nphases; i++)
		if (json_array_append_new(phases,
					  json_pack("{ss so so}", "name", run->phases[i].name,
						    "start_ms", num(run->phases[i].start_ms),
						    "end_ms", num(run->phases[i].end_ms))) < 0)
			goto fail;
	fl_report_run_reason(run, &reason);
	o = json_pack("{sI so so so so so so so so so so so so so so}", "id", (json_int_t)run->id,
		      "started_at", time_json(run->started_wall_ns), "label", str(run->label),
		      "environment", str(run->environment), "verdict", str(run->verdict), "rto_ms",
		      num(run->rto_ms), "rto_uncertainty_ms", num(run->rto_uncertainty_ms),
		      "rpo_ms", num(run->rpo_ms), "rpo_uncertainty_ms", num(run->rpo_uncertainty_ms),
		      "ttv_ms", num(run->ttv_ms), "lost_before_fault", count(run->lost_before_fault),
		      "lost_after_fault", count(run->lost_after_fault), "phases", phases, "failures",
		      failures, "reason", reason.len ? json_string(reason.buf) : json_null());
	fl_buf_release(&reason);
	return o;
fail:
	fl_buf_release(&reason);
	json_decref(failures);
	json_decref(phases);
	return NULL;
}

static json_t *scenario_json(const struct fl_report *r, const struct fl_report_scenario *s)
{
	json_t *o = NULL, *phases = json_array(), *runs = json_array(), *cmp = json_null();
	char sentence[600];

	if (!phases || !runs)
		goto fail;
	for (size_t i = 0; i < s->nphases; i++)
		if (json_array_append_new(phases,
					  json_pack("{ss so}", "name", s->phases[i].name,
						    "duration", summary_json(&s->phases[i].s))) < 0)
			goto fail;
	for (size_t i = 0; i < s->nkept; i++)
		if (json_array_append_new(runs, run_json(&s->runs[i])) < 0)
			goto fail;
	if (s->has_compare) {
		const struct fl_compare *c = &s->compare;
		fl_stats_compare_sentence(c, r->baseline, r->candidate, FL_REPORT_ALPHA, sentence,
					  sizeof(sentence));
		cmp = json_pack("{ss ss sI sI so so s{so so so ss so} s{so so so so} so so ss}",
				"baseline", r->baseline, "candidate", r->candidate, "n_baseline",
				(json_int_t)c->n_base, "n_candidate", (json_int_t)c->n_cand,
				"median_baseline_ms", num(c->median_base), "median_candidate_ms",
				num(c->median_cand), "mann_whitney", "u", num(c->mw.u), "z",
				num(c->mw.z), "p", num(c->mw.p), "method",
				c->mw.exact ? "exact"
					    : "normal approximation, tie and continuity corrected",
				"effect_rank_biserial", num(c->mw.effect), "welch_log", "t",
				num(c->welch_log.t), "df", num(c->welch_log.df), "p",
				num(c->welch_log.p), "log_diff", num(c->welch_log.diff), "ratio",
				num(c->ratio), "ratio_ci", pair(c->ratio_lo, c->ratio_hi),
				"sentence", sentence);
	}
	o = json_pack("{ss so so so so sI sI sI s{so so so} so so so so s{so so so so sI} s{so so} so so so so}",
		      "name", s->name, "asset", str(s->asset), "tier",
		      s->asset_tier > 0 ? json_integer(s->asset_tier) : json_null(),
		      "rto_target_ms", num(s->rto_target_ms), "rpo_target_ms",
		      num(s->rpo_target_ms), "runs_in_window", (json_int_t)s->nruns, "runs_listed",
		      (json_int_t)s->nkept, "passed", (json_int_t)s->passed, "pass_rate", "p",
		      num(s->pass.p), "ci", pair(s->pass.lo, s->pass.hi), "method",
		      json_string("wilson"), "rto", summary_json(&s->rto), "rpo",
		      summary_json(&s->rpo), "ttv", summary_json(&s->ttv), "phases", phases,
		      "p_meet_rto_target", "empirical", num(s->rto_meet.p_empirical), "lognormal",
		      num(s->rto_meet.p_model), "mu", num(s->rto_meet.mu), "sigma",
		      num(s->rto_meet.sigma), "zeros", (json_int_t)s->rto_meet.zeros, "trend",
		      "rto", trend_json(&s->rto_trend, "RTO"), "rpo",
		      trend_json(&s->rpo_trend, "RPO"), "lost_before_fault", count(s->lost_before),
		      "lost_after_fault", count(s->lost_after), "comparison", cmp, "runs", runs);
	return o;
fail:
	json_decref(phases);
	json_decref(runs);
	json_decref(cmp);
	return NULL;
}

static json_t *asset_json(const struct fl_report_asset *a)
{
	const struct fl_run *l = a->last;
	return json_pack("{ss so so sb so so so so so so so so sb so so so}", "name", a->name,
			 "kind", str(a->kind), "tier",
			 a->tier > 0 ? json_integer(a->tier) : json_null(), "in_inventory",
			 a->in_inventory, "rto_target_ms", num(a->rto_target_ms), "rpo_target_ms",
			 num(a->rpo_target_ms), "last_run_id", l ? json_integer(l->id) : json_null(),
			 "last_drilled_at", time_json(l ? l->started_wall_ns : 0), "last_verdict",
			 str(l ? l->verdict : NULL), "rto_ms", num(l ? l->rto_ms : NAN),
			 "rto_uncertainty_ms", num(l ? l->rto_uncertainty_ms : NAN), "rpo_ms",
			 num(l ? l->rpo_ms : NAN), "stale", a->stale, "backup_last_good_at",
			 time_json(l ? l->backup_last_good_wall_ns : 0), "backup_last_good_type",
			 str(l ? l->backup_last_good_type : NULL), "backup_age_at_drill_s",
			 l && l->backup_last_good_wall_ns > 0 &&
					 l->started_wall_ns >= l->backup_last_good_wall_ns
				 ? json_integer((l->started_wall_ns - l->backup_last_good_wall_ns) /
						FL_NS_PER_S)
				 : json_null());
}

json_t *fl_report_to_json(const struct fl_report *r)
{
	json_t *root = NULL, *scen = json_array(), *assets = json_array();
	long passed = 0;

	if (!scen || !assets)
		goto fail;
	for (size_t i = 0; i < r->nscenarios; i++) {
		passed += r->scenarios[i].passed;
		if (json_array_append_new(scen, scenario_json(r, &r->scenarios[i])) < 0)
			goto fail;
	}
	for (size_t i = 0; i < r->nassets; i++)
		if (json_array_append_new(assets, asset_json(&r->assets[i])) < 0)
			goto fail;
	root = json_pack("{ss ss ss so s{so so so so} s{ss sf s{sI sI ss}} s{sI sI sI} so so}",
			 "schema", FL_REPORT_SCHEMA, "faultline_version", FAULTLINE_VERSION,
			 "title", r->title, "generated_at", time_json(r->generated_wall_ns),
			 "window", "last", r->last > 0 ? json_integer(r->last) : json_null(),
			 "since", time_json(r->since_wall_ns), "label", str(r->label_filter),
			 "scenario", str(r->scenario_filter), "method", "percentiles",
			 "hyndman-fan type 7 (linear interpolation)", "confidence", FL_STATS_LEVEL,
			 "bootstrap", "seed", (json_int_t)r->seed, "resamples",
			 (json_int_t)r->resamples, "method", "percentile bootstrap of p95", "totals",
			 "scenarios", (json_int_t)r->nscenarios, "runs", (json_int_t)r->nruns,
			 "passed", (json_int_t)passed, "assets", assets, "scenarios", scen);
	return root;
fail:
	json_decref(scen);
	json_decref(assets);
	return NULL;
}

/* jansson's dump callback: appends straight to the output buffer. */
static int dump_to_buf(const char *buffer, size_t size, void *data)
{
	struct fl_buf *out = data;
	return fl_buf_add(out, buffer, size) < 0 ? -1 : 0;
}

int fl_report_write_json(const struct fl_report *r, struct fl_buf *out, struct fl_error *err)
{
	json_t *root = fl_report_to_json(r);
	int rc = -1;

	if (!root) {
		fl_error_oom(err, "report: json");
		goto out;
	}
	/* 12 significant digits: exact for milliseconds with microsecond
	 * fractions, and no 4.3120000000000003 noise in golden files. */
	if (json_dump_callback(root, dump_to_buf, out,
			       JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12)) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "report: %s writing json",
			     out->failed ? "output too large" : "out of memory");
		goto out;
	}
	fl_buf_adds(out, "\n");
	if (out->failed) {
		fl_error_set(err, FL_EXIT_ENV, "report: output too large");
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

const struct fl_report_format fl_report_format_json = {
	.name = "json",
	.extension = "json",
	.content_type = "application/json",
	.default_output = "-",
	.summary = "the whole report, schema faultline.report/1",
	.render = fl_report_write_json,
};
