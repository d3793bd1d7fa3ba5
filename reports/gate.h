/*
 * gate: pass or fail a pipeline on recovery evidence — the rules of
 * `faultline gate`, their strict parser, and their evaluation against a
 * report (report.h) with one line per rule and scenario.
 *
 * Owns: the rule grammar, gate files, the PASS/FAIL lines and the decision.
 * Does not own: selecting runs or computing statistics (report.c, stats.c).
 *
 * Grammar (whitespace between tokens is free; one rule per line in a gate
 * file, where '#' starts a comment and blank lines are skipped):
 *
 *   rule      = stat "(" figure ")" op limit
 *             | "pass_rate" op fraction
 *             | ("lost_after_fault" | "lost_before_fault" | "runs" | "stale_assets") op count
 *             | "regression" "(" figure ")" { "p" "<" number | "effect" ">" number }
 *   stat      = "mean" | "median" | "p90" | "p95" | "p99" | "min" | "max"
 *   figure    = "rto" | "rpo" | "ttv" | "phase:" NAME        (NAME: [A-Za-z0-9_.-]+)
 *   op        = "<=" | "<" | ">=" | ">" | "=="
 *   limit     = "target" (rto and rpo: the scenario's own target) | duration ("30s", "250ms", "PT1M")
 *   fraction  = number in [0, 1]
 *   count     = non-negative integer
 *
 * Semantics, per scenario in the report's window:
 * - stat rules compare the point estimate; where it is an estimate (mean,
 *   p95, ...) its 95 % interval is printed beside it.
 * - lost_*_fault sum the lost acknowledged writes over runs that measured
 *   them; pass_rate is passed / all runs (error and aborted count against).
 * - regression(fig) fails when candidate-label runs are slower than
 *   baseline-label runs with Mann-Whitney p < P (default 0.05) and
 *   rank-biserial effect r > E (default 0.2); it needs --baseline and
 *   --candidate.
 * - stale_assets counts the assets (inventory and drilled ones) never
 *   drilled, or not within their drill_every (else the report's stale days);
 *   it is evaluated once, not per scenario, and with no assets at all it
 *   fails (give the gate an inventory).
 * - No evidence never passes: no runs, a figure never measured, a missing
 *   target, or an empty side of a comparison is a FAIL line saying why.
 */
#ifndef FAULTLINE_GATE_H
#define FAULTLINE_GATE_H

#include <jansson.h>
#include <stddef.h>

#include "reports/report.h"
#include "core/error.h"
#include "core/buf.h"

enum fl_gate_kind {
	FL_GATE_STAT,
	FL_GATE_PASS_RATE,
	FL_GATE_LOST_AFTER,
	FL_GATE_LOST_BEFORE,
	FL_GATE_RUNS,
	FL_GATE_REGRESSION,
	FL_GATE_STALE
};

enum fl_gate_stat {
	FL_GATE_MEAN,
	FL_GATE_MEDIAN,
	FL_GATE_P90,
	FL_GATE_P95,
	FL_GATE_P99,
	FL_GATE_MIN,
	FL_GATE_MAX
};
enum fl_gate_figure { FL_GATE_RTO, FL_GATE_RPO, FL_GATE_TTV, FL_GATE_PHASE };
enum fl_gate_op { FL_GATE_LE, FL_GATE_LT, FL_GATE_GE, FL_GATE_GT, FL_GATE_EQ };

/* Names as the rule grammar spells them (fl_gate_kind_name(FL_GATE_STAT)
 * is "statistic": that kind is written as a statistic's name). *_name
 * returns NULL out of range; *_parse returns 0, or -1 for an unknown name. */
const char *fl_gate_kind_name(enum fl_gate_kind k);
int fl_gate_kind_parse(const char *s, enum fl_gate_kind *k);
const char *fl_gate_stat_name(enum fl_gate_stat st);
int fl_gate_stat_parse(const char *s, enum fl_gate_stat *st);
const char *fl_gate_figure_name(enum fl_gate_figure f);
int fl_gate_figure_parse(const char *s, enum fl_gate_figure *f);
const char *fl_gate_op_name(enum fl_gate_op op);
/* For verdict lines (gate_eval.c): the operator that failed ("<=" -> ">"),
 * a figure's label ("RTO"), and "before"/"after" for lost-write kinds (NULL
 * for others). */
const char *fl_gate_op_negated(enum fl_gate_op op);
const char *fl_gate_figure_label(enum fl_gate_figure f);
const char *fl_gate_kind_when(enum fl_gate_kind k);
/* The operator s starts with (the longest: "<=" before "<"): its length,
 * or 0 when s starts with none. */
size_t fl_gate_op_parse(const char *s, enum fl_gate_op *op);

struct fl_gate_rule {
	char *text; /* the rule as written, trimmed */
	enum fl_gate_kind kind;
	enum fl_gate_stat stat;
	enum fl_gate_figure figure;
	char *phase; /* FL_GATE_PHASE */
	enum fl_gate_op op;
	int use_target;       /* limit is the scenario's target */
	double limit;         /* ms for durations, else the number */
	double alpha, effect; /* regression */
};

struct fl_gate {
	struct fl_gate_rule *rules;
	size_t nrules;
};

void fl_gate_init(struct fl_gate *g);
void fl_gate_release(struct fl_gate *g);

/* Parses one rule and appends it. On a bad rule sets err (FL_EXIT_INPUT):
 * "file:line:col: bad rule: <why>" when file is non-NULL, else
 * "bad rule 'TEXT' at column N: <why>". Returns 0 or -1. */
int fl_gate_add_rule(struct fl_gate *g, const char *text, const char *file, int line,
		     struct fl_error *err);
/* Reads a gate file (one rule per line, '#' comments). 0 or -1. */
int fl_gate_load_file(struct fl_gate *g, const char *path, struct fl_error *err);

/* Evaluates every rule for every scenario of r (or one FAIL line per rule
 * when r has no runs). Appends "PASS ..." / "FAIL ..." lines to lines (may
 * be NULL) and, when results is non-NULL, one object per line to that JSON
 * array. Returns 0 when everything passed, 1 when anything failed, -1 on
 * error (err set; e.g. a regression rule without baseline/candidate). */
int fl_gate_evaluate(const struct fl_gate *g, const struct fl_report *r, struct fl_buf *lines,
		     json_t *results, struct fl_error *err);

#endif
