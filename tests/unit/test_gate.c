/*
 * test_gate: the rule grammar (accepted rules, and the exact one-line error
 * with its column for rejected ones) and the PASS/FAIL decisions on
 * in-memory runs whose statistics are known by construction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reports/gate.h"
#include "reports/report.h"
#include "core/inventory.h"
#include "core/store.h"
#include "core/doc.h"
#include "core/error.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"

#define T0 INT64_C(1767225600000000000) /* 2026-01-01T00:00:00Z */
#define DAY (INT64_C(86400) * FL_NS_PER_S)

static int setup(void **state)
{
	(void)state;
	gsl_set_error_handler_off();
	return 0;
}

static void add(struct fl_report *r, int64_t id, const char *scenario, const char *label, int64_t t,
		double rto, const char *verdict)
{
	struct fl_run run;
	struct fl_error err;
	fl_error_init(&err);
	fl_run_init(&run);
	run.id = id;
	run.scenario = FL_UNCONST(char *, scenario);
	run.label = FL_UNCONST(char *, label);
	run.verdict = FL_UNCONST(char *, verdict);
	run.started_wall_ns = t;
	run.rto_ms = rto;
	run.rto_uncertainty_ms = 10;
	run.rto_target_ms = 5000;
	assert_true(fl_report_add_run(r, &run, &err) >= 0);
	run.scenario = run.label = run.verdict = NULL;
	fl_run_release(&run);
}

/* Ten runs of "demo", newest first: RTO 4900, 4800, ..., 4000 ms. */
static void demo_report(struct fl_report *r, const char *baseline, const char *candidate)
{
	struct fl_report_options o = { 0 };
	struct fl_error err;
	fl_error_init(&err);
	o.last = 10;
	o.now_wall_ns = T0 + 30 * DAY;
	o.baseline = baseline;
	o.candidate = candidate;
	assert_int_equal(fl_report_init(r, &o), 0);
	for (int i = 9; i >= 0; i--)
		add(r, i + 1, "demo", i >= 5 ? "v2" : "v1", T0 + i * DAY,
		    4000 + 100 * i + (i >= 5 ? 1000 : 0) * (candidate != NULL), "pass");
	assert_int_equal(fl_report_finish(r, NULL, &err), 0);
}

static void assert_bad_rule(const char *rule, const char *msg)
{
	struct fl_gate g;
	struct fl_error err;
	fl_gate_init(&g);
	fl_error_init(&err);
	assert_int_equal(fl_gate_add_rule(&g, rule, NULL, 0, &err), -1);
	assert_int_equal(err.code, FL_EXIT_INPUT);
	assert_string_equal(err.msg, msg);
	assert_int_equal(g.nrules, 0);
	fl_gate_release(&g);
}

static void test_parse_ok(void **state)
{
	struct fl_gate g;
	struct fl_error err;
	(void)state;
	fl_gate_init(&g);
	fl_error_init(&err);
	assert_int_equal(fl_gate_add_rule(&g, "p95(rto) <= target", NULL, 0, &err), 0);
	assert_int_equal(fl_gate_add_rule(&g, "  mean( phase:detect )<500ms ", NULL, 0, &err), 0);
	assert_int_equal(fl_gate_add_rule(&g, "pass_rate >= 0.9", NULL, 0, &err), 0);
	assert_int_equal(fl_gate_add_rule(&g, "lost_after_fault == 0", NULL, 0, &err), 0);
	assert_int_equal(fl_gate_add_rule(&g, "regression(rto) p<0.01 effect>0.3", NULL, 0, &err), 0);
	assert_int_equal(fl_gate_add_rule(&g, "max(rpo) <= PT1M", NULL, 0, &err), 0);
	assert_int_equal(g.nrules, 6);
	assert_int_equal(g.rules[0].kind, FL_GATE_STAT);
	assert_int_equal(g.rules[0].stat, FL_GATE_P95);
	assert_true(g.rules[0].use_target);
	assert_string_equal(g.rules[1].text, "mean( phase:detect )<500ms");
	assert_int_equal(g.rules[1].figure, FL_GATE_PHASE);
	assert_string_equal(g.rules[1].phase, "detect");
	assert_int_equal(g.rules[1].op, FL_GATE_LT);
	assert_float_equal(g.rules[1].limit, 500.0, 0);
	assert_float_equal(g.rules[2].limit, 0.9, 0);
	assert_int_equal(g.rules[3].kind, FL_GATE_LOST_AFTER);
	assert_float_equal(g.rules[4].alpha, 0.01, 0);
	assert_float_equal(g.rules[4].effect, 0.3, 0);
	assert_float_equal(g.rules[5].limit, 60000.0, 0);
	fl_gate_release(&g);
}

static void test_parse_errors(void **state)
{
	(void)state;
	assert_bad_rule("p95(rto) <== 5s",
			"bad rule 'p95(rto) <== 5s' at column 12: expected 'target' or a duration such as 30s or 250ms");
	assert_bad_rule("p95(rto) <= 5",
			"bad rule 'p95(rto) <= 5' at column 13: a duration needs a unit (ms, s, m, h), e.g. 30s");
	assert_bad_rule("p96(rto) <= 5s",
			"bad rule 'p96(rto) <= 5s' at column 1: unknown rule; expected p95(...), mean(...), pass_rate, lost_after_fault, lost_before_fault, runs, stale_assets or regression(...)");
	assert_bad_rule("p95(latency) <= 5s",
			"bad rule 'p95(latency) <= 5s' at column 5: expected rto, rpo, ttv or phase:NAME");
	assert_bad_rule("p95(rto) <= 5s and more",
			"bad rule 'p95(rto) <= 5s and more' at column 16: unexpected text after the rule");
	assert_bad_rule("pass_rate >= 90",
			"bad rule 'pass_rate >= 90' at column 14: pass_rate is a fraction between 0 and 1 (0.9, not 90)");
	assert_bad_rule("p95(ttv) <= target",
			"bad rule 'p95(ttv) <= target' at column 13: 'target' applies to rto and rpo only; give a duration");
	assert_bad_rule("regression(rto) p<2",
			"bad rule 'regression(rto) p<2' at column 17: p must be between 0 and 1");
	assert_bad_rule("lost_after_fault = 0",
			"bad rule 'lost_after_fault = 0' at column 18: expected one of <=, <, >=, >, ==");
	assert_bad_rule("p95 rto <= 5s", "bad rule 'p95 rto <= 5s' at column 5: expected '('");
	assert_bad_rule("   ", "bad rule '' at column 4: empty rule");
}

static void test_gate_file(void **state)
{
	char path[] = "/tmp/faultline-gate-XXXXXX";
	const char *text =
		"# release gate\np95(rto) <= target\n\n  pass_rate >= 0.9   # most drills pass\np95(rto) <= fast\n";
	struct fl_gate g;
	struct fl_error err;
	int fd = mkstemp(path);
	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	fl_gate_init(&g);
	fl_error_init(&err);
	assert_int_equal(fl_gate_load_file(&g, path, &err), -1);
	assert_int_equal(g.nrules, 2);
	{
		char want[256];
		snprintf(want, sizeof(want),
			 "%s:5:13: bad rule: expected 'target' or a duration such as 30s or 250ms",
			 path);
		assert_string_equal(err.msg, want);
	}
	assert_int_equal(err.code, FL_EXIT_INPUT);
	fl_gate_release(&g);
	unlink(path);
}

static int eval(const char *rule, const struct fl_report *r, struct fl_buf *lines)
{
	struct fl_gate g;
	struct fl_error err;
	int rc;
	fl_gate_init(&g);
	fl_error_init(&err);
	assert_int_equal(fl_gate_add_rule(&g, rule, NULL, 0, &err), 0);
	fl_buf_reset(lines);
	rc = fl_gate_evaluate(&g, r, lines, NULL, &err);
	fl_gate_release(&g);
	return rc;
}

static void test_evaluate(void **state)
{
	struct fl_report r;
	struct fl_buf lines;
	json_t *results;
	struct fl_gate g;
	struct fl_error err;
	(void)state;
	fl_buf_init(&lines, 0);
	demo_report(&r, NULL, NULL);

	/* type 7 p95 of 4000..4900: h = 8.55 -> 4800 + 0.55 * 100 = 4855 */
	assert_int_equal(eval("p95(rto) <= target", &r, &lines), 0);
	assert_true(!strncmp(lines.buf, "PASS p95(rto) <= target: 4.855 s (95 % CI ", 42));
	assert_non_null(strstr(lines.buf, " s) <= 5.000 s (last 10 runs of demo)\n"));

	assert_int_equal(eval("max(rto) <= 4.5s", &r, &lines), 1);
	assert_string_equal(lines.buf,
			    "FAIL max(rto) <= 4.5s: 4.900 s > 4.500 s by 0.400 s (last 10 runs of demo)\n");

	/* mean 4450, t(0.975,9) = 2.262, sd 302.77 -> half 216.6 */
	assert_int_equal(eval("mean(rto) < 4s", &r, &lines), 1);
	assert_true(
		!strncmp(lines.buf,
			 "FAIL mean(rto) < 4s: 4.450 s (95 % CI 4.233 s – 4.667 s) >= 4.000 s by 0.450 s",
			 80));

	assert_int_equal(eval("pass_rate >= 0.9", &r, &lines), 0);
	assert_string_equal(lines.buf,
			    "PASS pass_rate >= 0.9: 1.00 (10 of 10 passed, 95 % Wilson CI 0.72 – 1.00) >= 0.90 (last 10 runs of demo)\n");

	assert_int_equal(eval("runs >= 20", &r, &lines), 1);
	assert_string_equal(lines.buf, "FAIL runs >= 20: 10 runs < 20 (last 10 runs of demo)\n");

	/* No writer in these runs: no evidence, so no pass. */
	assert_int_equal(eval("lost_after_fault == 0", &r, &lines), 1);
	assert_string_equal(lines.buf,
			    "FAIL lost_after_fault == 0: writes lost after the fault were not measured in any run (no writer probe) (last 10 runs of demo)\n");

	assert_int_equal(eval("p95(phase:restore) <= 1s", &r, &lines), 1);
	assert_string_equal(lines.buf,
			    "FAIL p95(phase:restore) <= 1s: phase restore was not measured in any run (last 10 runs of demo)\n");

	/* Regression rules need the two labels. */
	fl_gate_init(&g);
	fl_error_init(&err);
	assert_int_equal(fl_gate_add_rule(&g, "regression(rto)", NULL, 0, &err), 0);
	assert_int_equal(fl_gate_evaluate(&g, &r, &lines, NULL, &err), -1);
	assert_int_equal(err.code, FL_EXIT_INPUT);
	assert_string_equal(err.msg,
			    "rule 'regression(rto)' needs --baseline LABEL and --candidate LABEL");
	fl_gate_release(&g);

	/* JSON results mirror the lines. */
	fl_gate_init(&g);
	fl_error_init(&err);
	results = json_array();
	assert_int_equal(fl_gate_add_rule(&g, "max(rto) <= 4.5s", NULL, 0, &err), 0);
	assert_int_equal(fl_gate_evaluate(&g, &r, NULL, results, &err), 1);
	assert_int_equal(json_array_size(results), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(results, 0), "status")),
			    "fail");
	assert_float_equal(json_real_value(json_object_get(json_array_get(results, 0), "value")),
			   4900.0, 0);
	json_decref(results);
	fl_gate_release(&g);

	fl_report_release(&r);
	fl_buf_release(&lines);
}

static void test_regression(void **state)
{
	struct fl_report r;
	struct fl_buf lines;
	(void)state;
	fl_buf_init(&lines, 0);
	/* v1: 4000..4400, v2: 5500..5900: complete separation, 5 vs 5:
	 * exact p = 2 / C(10,5) = 2/252 = 0.0079, r = +1 */
	demo_report(&r, "v1", "v2");
	assert_int_equal(eval("regression(rto) p<0.05 effect>0.2", &r, &lines), 1);
	assert_true(
		!strncmp(lines.buf,
			 "FAIL regression(rto) p<0.05 effect>0.2: regression of RTO: candidate v2 is slower than baseline v1: median 5.700 s vs 4.200 s, Mann-Whitney U = 25.0, p = 0.008 (exact), effect r = +1.00",
			 180));
	/* A stricter p threshold lets it through. */
	assert_int_equal(eval("regression(rto) p<0.005", &r, &lines), 0);
	assert_true(!strncmp(lines.buf, "PASS regression(rto) p<0.005: no regression of RTO", 50));
	fl_report_release(&r);

	/* Labels with no runs: no evidence. */
	demo_report(&r, "v7", "v8");
	assert_int_equal(eval("regression(rto)", &r, &lines), 1);
	assert_string_equal(lines.buf,
			    "FAIL regression(rto): no evidence: 0 baseline (v7) and 0 candidate (v8) runs with RTO (last 10 runs of demo)\n");
	fl_report_release(&r);
	fl_buf_release(&lines);
}

/* Every enum of the grammar has one name table: each name parses back to
 * its value, and unknown names are refused. */
static void test_names(void **state)
{
	enum fl_gate_kind k;
	enum fl_gate_stat st;
	enum fl_gate_figure f;
	enum fl_gate_op op;
	(void)state;
	for (int i = FL_GATE_PASS_RATE; i <= FL_GATE_REGRESSION; i++) {
		assert_int_equal(fl_gate_kind_parse(fl_gate_kind_name((enum fl_gate_kind)i), &k), 0);
		assert_int_equal(k, i);
	}
	assert_string_equal(fl_gate_kind_name(FL_GATE_LOST_AFTER), "lost_after_fault");
	assert_int_equal(fl_gate_kind_parse("statistic", &k), -1);
	for (int i = FL_GATE_MEAN; i <= FL_GATE_MAX; i++) {
		assert_int_equal(fl_gate_stat_parse(fl_gate_stat_name((enum fl_gate_stat)i), &st), 0);
		assert_int_equal(st, i);
	}
	assert_int_equal(fl_gate_stat_parse("p50", &st), -1);
	for (int i = FL_GATE_RTO; i <= FL_GATE_PHASE; i++) {
		assert_int_equal(fl_gate_figure_parse(fl_gate_figure_name((enum fl_gate_figure)i), &f),
				 0);
		assert_int_equal(f, i);
	}
	assert_null(fl_gate_figure_name((enum fl_gate_figure)99));
	for (int i = FL_GATE_LE; i <= FL_GATE_EQ; i++) {
		const char *name = fl_gate_op_name((enum fl_gate_op)i);
		assert_int_equal(fl_gate_op_parse(name, &op), strlen(name));
		assert_int_equal(op, i);
	}
	assert_int_equal(fl_gate_op_parse("<= 5s", &op), 2);
	assert_int_equal(op, FL_GATE_LE);
	assert_int_equal(fl_gate_op_parse("!= 5s", &op), 0);
}

static void test_no_runs_fail(void **state)
{
	struct fl_report r;
	struct fl_report_options o = { 0 };
	struct fl_buf lines;
	struct fl_error err;
	(void)state;
	fl_buf_init(&lines, 0);
	fl_error_init(&err);
	o.last = 10;
	o.scenario = "demo";
	assert_int_equal(fl_report_init(&r, &o), 0);
	assert_int_equal(fl_report_finish(&r, NULL, &err), 0);
	assert_int_equal(eval("p95(rto) <= target", &r, &lines), 1);
	assert_string_equal(lines.buf,
			    "FAIL p95(rto) <= target: no runs match scenario demo: a gate with no evidence does not pass (window: last 10 runs)\n");
	fl_report_release(&r);
	fl_buf_release(&lines);
}

/* stale_assets: drill_every from the inventory, else stale_days; exact
 * at the day boundary because the report's clock is fixed. */
static void stale_report(struct fl_report *r, struct fl_inventory **inv, int64_t now)
{
	struct fl_report_options o = { 0 };
	struct fl_error err;
	struct fl_doc *doc;
	fl_error_init(&err);
	doc = fl_doc_load_string("inv.json",
				 "{\"assets\": [{\"name\": \"api\", \"tier\": 1, \"drill_every\": \"30d\"},"
				 " {\"name\": \"db\", \"tier\": 1, \"drill_every\": \"1w\"}]}",
				 &err);
	assert_non_null(doc);
	*inv = fl_inventory_from_doc(doc, &err);
	assert_non_null(*inv);
	assert_int_equal((*inv)->assets[0].drill_every_ns, 30 * DAY);
	assert_int_equal((*inv)->assets[1].drill_every_ns, 7 * DAY);
	o.now_wall_ns = now;
	assert_int_equal(fl_report_init(r, &o), 0);
	{
		struct fl_run run;
		fl_run_init(&run);
		run.id = 1;
		run.scenario = (char *)"api-kill";
		run.asset = (char *)"api";
		run.verdict = (char *)"pass";
		run.started_wall_ns = T0;
		assert_true(fl_report_add_run(r, &run, &err) >= 0);
		run.scenario = run.asset = run.verdict = NULL;
		fl_run_release(&run);
	}
	assert_int_equal(fl_report_finish(r, *inv, &err), 0);
}

static void test_stale_assets(void **state)
{
	struct fl_gate g;
	struct fl_report r;
	struct fl_inventory *inv;
	struct fl_error err;
	struct fl_buf lines;
	(void)state;
	fl_gate_init(&g);
	fl_error_init(&err);
	assert_int_equal(fl_gate_add_rule(&g, "stale_assets <= 1", NULL, 0, &err), 0);
	assert_int_equal(g.rules[0].kind, FL_GATE_STALE);

	/* 29 days on: api is within its 30 days, db (weekly, never drilled) is not. */
	stale_report(&r, &inv, T0 + 29 * DAY);
	fl_buf_init(&lines, 0);
	assert_int_equal(fl_gate_evaluate(&g, &r, &lines, NULL, &err), 0);
	assert_non_null(
		strstr(lines.buf,
		       "PASS stale_assets <= 1: 1 of 2 assets stale <= 1 (db: never drilled, drill_every 7d)"));
	fl_buf_release(&lines);
	fl_report_release(&r);
	fl_inventory_free(inv);

	/* 31 days on: both stale. */
	stale_report(&r, &inv, T0 + 31 * DAY);
	fl_buf_init(&lines, 0);
	assert_int_equal(fl_gate_evaluate(&g, &r, &lines, NULL, &err), 1);
	assert_non_null(strstr(lines.buf, "FAIL stale_assets <= 1: 2 of 2 assets stale > 1 ("));
	assert_non_null(strstr(lines.buf, "api: last drilled 2026-01-01, drill_every 30d"));
	fl_buf_release(&lines);
	fl_report_release(&r);
	fl_inventory_free(inv);

	/* A bad period is bad input at its position. */
	{
		struct fl_doc *doc =
			fl_doc_load_string("inv.json",
					   "{\"assets\": [{\"name\": \"api\", \"tier\": 1, \"drill_every\": \"monthly\"}]}",
					   &err);
		assert_non_null(doc);
		assert_null(fl_inventory_from_doc(doc, &err));
		assert_string_equal(err.msg,
				    "inv.json:1:55: 'drill_every': expected a positive period such as \"30d\", \"2w\" or \"12h\", not 'monthly'");
	}
	fl_gate_release(&g);
}

/* ---- the regression rule over a generated history: streamed = in memory ---- */

static const char *const regression_rules[] = {
	"regression(rto)",
	"regression(rpo)",
	"regression(ttv) p<0.2 effect>0",
	"regression(phase:detect)",
	"regression(phase:validate) p<0.01 effect>0.05",
	"regression(phase:nosuch)",
};

/* A history as gen_history writes one, in a store: three scenarios,
 * log-normal durations in whole milliseconds (ties), v1 then v2 (slower on
 * "db"), some other labels and none, RPO only on "db", a phase some runs
 * lack; "cache" never ran under v2 (no evidence). */
static struct fl_store *generated_history(size_t n)
{
	static const char *const names[] = { "api", "db", "cache" };
	struct fl_error err;
	struct fl_store *st;
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);

	fl_error_init(&err);
	st = fl_store_open(":memory:", &err);
	assert_non_null(st);
	assert_non_null(rng);
	gsl_rng_set(rng, 14);
	for (size_t i = 0; i < n; i++) {
		struct fl_run run;
		int sc = (int)(i % 3), v2 = i >= n / 2 && sc != 2;
		double slow = v2 && sc == 1 ? 1.15 : 1.0, u = gsl_rng_uniform(rng);
		fl_run_init(&run);
		run.scenario = FL_UNCONST(char *, names[sc]);
		run.label = FL_UNCONST(char *, u < 0.05 ? NULL : u < 0.1 ? "v3" : v2 ? "v2" : "v1");
		run.verdict = FL_UNCONST(char *, "running");
		run.started_wall_ns = T0 + (int64_t)i * (DAY / 24);
		assert_int_equal(fl_store_run_begin(st, &run, &err), 0);
		run.verdict = FL_UNCONST(char *, u < 0.9 ? "pass" : "fail");
		run.rto_ms =
			u > 0.98 ? NAN : floor(3000 * slow * exp(0.2 * gsl_ran_gaussian(rng, 1)));
		run.rpo_ms = sc == 1 ? floor(50 * gsl_rng_uniform(rng)) : NAN;
		run.ttv_ms = run.rto_ms + 400;
		if (!isnan(run.rto_ms)) {
			double d = floor(200 * slow * exp(0.3 * gsl_ran_gaussian(rng, 1)));
			assert_int_equal(fl_run_add_phase(&run, "detect", 0, d), 0);
			assert_int_equal(fl_run_add_phase(&run, "recover", d, run.rto_ms), 0);
			if (u < 0.7)
				assert_int_equal(fl_run_add_phase(&run, "validate", run.rto_ms,
								  run.ttv_ms),
						 0);
		}
		assert_int_equal(fl_store_run_finish(st, &run, &err), 0);
		run.scenario = run.label = run.verdict = NULL;
		fl_run_release(&run);
	}
	gsl_rng_free(rng);
	return st;
}

static int add_cb(const struct fl_run *run, void *ctx)
{
	struct fl_error err;
	fl_error_init(&err);
	return fl_report_add_run(ctx, run, &err) < 0;
}

/* The rule's figure of one run: what the old in-memory rule took from the
 * window's columns. */
static double run_figure(const struct fl_run *run, const char *rule)
{
	const char *ph = strstr(rule, "phase:");
	if (!ph)
		return strstr(rule, "rto")   ? run->rto_ms
		       : strstr(rule, "rpo") ? run->rpo_ms
					     : run->ttv_ms;
	for (size_t k = 0; k < run->nphases; k++)
		if (!strncmp(ph + 6, run->phases[k].name, strlen(run->phases[k].name)) &&
		    ph[6 + strlen(run->phases[k].name)] == ')')
			return run->phases[k].end_ms - run->phases[k].start_ms;
	return NAN;
}

struct sides {
	const char *scenario, *rule;
	double *base, *cand;
	size_t nb, nc;
};

struct all_sides {
	struct sides *x;
	size_t n;
};

static int sides_cb(const struct fl_run *run, void *ctx)
{
	struct all_sides *all = ctx;
	for (size_t i = 0; i < all->n; i++) {
		struct sides *x = &all->x[i];
		double v = run_figure(run, x->rule);
		if (strcmp(run->scenario, x->scenario) || isnan(v) || !run->label)
			continue;
		if (!strcmp(run->label, "v1"))
			x->base[x->nb++] = v;
		else if (!strcmp(run->label, "v2"))
			x->cand[x->nc++] = v;
	}
	return 0;
}

/* The decisions the gate took from the whole window in memory: the values
 * of each side gathered from the stored runs (one read), fl_stats_compare
 * per line of the verdict. */
static void check_in_memory_decisions(struct fl_store *st, size_t n, const struct fl_gate *g,
				      json_t *lines)
{
	struct all_sides all = { calloc(json_array_size(lines), sizeof(struct sides)),
				 json_array_size(lines) };
	struct fl_run_filter f = { 0 };
	struct fl_error err;

	fl_error_init(&err);
	assert_non_null(all.x);
	for (size_t i = 0; i < all.n; i++) {
		json_t *line = json_array_get(lines, i);
		all.x[i].scenario = json_string_value(json_object_get(line, "scenario"));
		all.x[i].rule = json_string_value(json_object_get(line, "rule"));
		all.x[i].base = malloc(n * sizeof(double));
		all.x[i].cand = malloc(n * sizeof(double));
		assert_true(all.x[i].base && all.x[i].cand);
	}
	assert_int_equal(fl_store_runs_each(st, &f, sides_cb, &all, &err), 0);
	for (size_t i = 0; i < all.n; i++) {
		struct sides *x = &all.x[i];
		json_t *line = json_array_get(lines, i), *value = json_object_get(line, "value");
		const struct fl_gate_rule *rule = NULL;
		struct fl_compare cmp;
		int pass = 0;
		for (size_t k = 0; k < g->nrules; k++)
			if (!strcmp(g->rules[k].text, x->rule))
				rule = &g->rules[k];
		assert_non_null(rule);
		if (x->nb == 0 || x->nc == 0) {
			assert_true(json_is_null(value));
		} else {
			assert_int_equal(fl_stats_compare(x->base, x->nb, x->cand, x->nc, &cmp), 0);
			pass = !(!isnan(cmp.mw.p) && cmp.mw.p < rule->alpha &&
				 cmp.mw.effect > rule->effect);
			assert_true(json_real_value(value) == cmp.mw.p);
		}
		assert_string_equal(json_string_value(json_object_get(line, "status")),
				    pass ? "pass" : "fail");
		free(x->base);
		free(x->cand);
	}
	free(all.x);
}

static void test_regression_streamed_matches(void **state)
{
	const size_t n = 600;
	struct fl_store *st = generated_history(n);
	struct fl_report_options o = { 0 };
	struct fl_report streamed, columns;
	struct fl_gate g;
	struct fl_error err;
	struct fl_buf a, b;
	json_t *ja = json_array(), *jb = json_array();
	struct fl_run_filter f = { 0 };
	int rc, fails = 0;
	(void)state;

	fl_error_init(&err);
	fl_gate_init(&g);
	for (size_t i = 0; i < FL_ARRAY_LEN(regression_rules); i++)
		assert_int_equal(fl_gate_add_rule(&g, regression_rules[i], NULL, 0, &err), 0);
	o.baseline = "v1";
	o.candidate = "v2";
	o.now_wall_ns = T0 + 200 * DAY;
	assert_int_equal(fl_report_init(&streamed, &o), 0);
	assert_int_equal(fl_report_load(&streamed, st, &err), 0);
	assert_int_equal(fl_report_finish(&streamed, NULL, &err), 0);
	assert_int_equal(fl_report_init(&columns, &o), 0);
	assert_int_equal(fl_store_runs_each(st, &f, add_cb, &columns, &err), 0);
	assert_int_equal(fl_report_finish(&columns, NULL, &err), 0);
	for (size_t i = 0; i < streamed.nscenarios; i++)
		assert_int_equal(streamed.scenarios[i].series.n, 0); /* no window held */

	fl_buf_init(&a, 0);
	fl_buf_init(&b, 0);
	rc = fl_gate_evaluate(&g, &streamed, &a, ja, &err);
	assert_int_equal(fl_gate_evaluate(&g, &columns, &b, jb, &err), rc);
	assert_string_equal(a.buf, b.buf);
	assert_true(json_equal(ja, jb));
	assert_int_equal(json_array_size(ja), 3 * FL_ARRAY_LEN(regression_rules));
	check_in_memory_decisions(st, n, &g, ja);
	for (size_t i = 0; i < json_array_size(ja); i++)
		fails += !strcmp(json_string_value(json_object_get(json_array_get(ja, i), "status")),
				 "fail");
	/* Both outcomes are exercised: db's RTO regressed, api's did not. */
	assert_non_null(
		strstr(a.buf, "FAIL regression(rto): regression of RTO: candidate v2 is slower"));
	assert_non_null(strstr(a.buf, "PASS regression(rto): no regression of RTO"));
	assert_true(fails > 0 && fails < (int)json_array_size(ja));
	json_decref(ja);
	json_decref(jb);
	fl_buf_release(&a);
	fl_buf_release(&b);
	fl_gate_release(&g);
	fl_report_release(&streamed);
	fl_report_release(&columns);
	fl_store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_gate_file),
		cmocka_unit_test(test_evaluate),
		cmocka_unit_test(test_regression),
		cmocka_unit_test(test_no_runs_fail),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_stale_assets),
		cmocka_unit_test(test_regression_streamed_matches),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
