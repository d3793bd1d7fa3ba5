/*
 * gate: rule parser and evaluator for `faultline gate`. The grammar and the
 * semantics are in gate.h; this file keeps the parser strict (every token
 * checked, the column of the first bad one reported) because a gate that
 * silently misreads a rule would pass a release it should stop.
 */
#include "reports/gate.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fl_gate_init(struct fl_gate *g)
{
	g->rules = NULL;
	g->nrules = 0;
}

void fl_gate_release(struct fl_gate *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->nrules; i++) {
		fl_free(g->rules[i].text);
		fl_free(g->rules[i].phase);
	}
	fl_free(g->rules);
	fl_gate_init(g);
}

/* ---- parsing ------------------------------------------------------------- */

struct cursor {
	const char *s; /* the trimmed rule */
	size_t pos;
	const char *file; /* gate file or NULL */
	int line;
	int col0; /* column of s[0] in the file line (1-based) */
	struct fl_error *err;
};

static int bad(struct cursor *c, const char *why)
{
	int col = (int)c->pos + c->col0;
	if (c->file)
		return fl_error_at(c->err, FL_EXIT_INPUT, c->file, c->line, col, "bad rule: %s", why);
	return fl_error_set(c->err, FL_EXIT_INPUT, "bad rule '%s' at column %d: %s", c->s, col, why);
}

static void skip_ws(struct cursor *c)
{
	while (c->s[c->pos] == ' ' || c->s[c->pos] == '\t')
		c->pos++;
}

/* Reads a word of [A-Za-z0-9_] into buf; 0 when there is none. */
static size_t word(struct cursor *c, char *buf, size_t n)
{
	size_t k = 0;
	skip_ws(c);
	while ((isalnum((unsigned char)c->s[c->pos]) || c->s[c->pos] == '_') && k + 1 < n)
		buf[k++] = c->s[c->pos++];
	buf[k] = '\0';
	return k;
}

static int expect(struct cursor *c, char ch)
{
	char msg[40];
	skip_ws(c);
	if (c->s[c->pos] != ch) {
		snprintf(msg, sizeof(msg), "expected '%c'", ch);
		return bad(c, msg);
	}
	c->pos++;
	return 0;
}

/* ---- names: one table per enum, read by both parse and name ------------ */

static const struct {
	const char *name; /* as written in rules; NULL: not a rule word */
	const char *when; /* lost writes: before or after the fault */
} kinds[] = {
	[FL_GATE_STAT] = { NULL, NULL },
	[FL_GATE_PASS_RATE] = { "pass_rate", NULL },
	[FL_GATE_LOST_AFTER] = { "lost_after_fault", "after" },
	[FL_GATE_LOST_BEFORE] = { "lost_before_fault", "before" },
	[FL_GATE_RUNS] = { "runs", NULL },
	[FL_GATE_REGRESSION] = { "regression", NULL },
	[FL_GATE_STALE] = { "stale_assets", NULL },
};

static const char *const stats[] = {
	[FL_GATE_MEAN] = "mean", [FL_GATE_MEDIAN] = "median", [FL_GATE_P90] = "p90",
	[FL_GATE_P95] = "p95",   [FL_GATE_P99] = "p99",       [FL_GATE_MIN] = "min",
	[FL_GATE_MAX] = "max",
};

static const struct {
	const char *name;  /* as written in rules */
	const char *label; /* in verdict lines */
} figures[] = {
	[FL_GATE_RTO] = { "rto", "RTO" },
	[FL_GATE_RPO] = { "rpo", "RPO" },
	[FL_GATE_TTV] = { "ttv", "time to validated recovery" },
	[FL_GATE_PHASE] = { "phase", "phase" },
};

/* Two-character operators first: the parser takes the first prefix match. */
static const struct {
	enum fl_gate_op op;
	const char *text, *negated;
} ops[] = {
	{ FL_GATE_LE, "<=", ">" }, { FL_GATE_GE, ">=", "<" }, { FL_GATE_EQ, "==", "!=" },
	{ FL_GATE_LT, "<", ">=" }, { FL_GATE_GT, ">", "<=" },
};

const char *fl_gate_kind_name(enum fl_gate_kind k)
{
	if (k == FL_GATE_STAT)
		return "statistic";
	return (size_t)k < FL_ARRAY_LEN(kinds) ? kinds[k].name : NULL;
}

int fl_gate_kind_parse(const char *s, enum fl_gate_kind *k)
{
	for (size_t i = 0; i < FL_ARRAY_LEN(kinds); i++)
		if (kinds[i].name && !strcmp(s, kinds[i].name)) {
			*k = (enum fl_gate_kind)i;
			return 0;
		}
	return -1;
}

const char *fl_gate_stat_name(enum fl_gate_stat st)
{
	return (size_t)st < FL_ARRAY_LEN(stats) ? stats[st] : NULL;
}

int fl_gate_stat_parse(const char *s, enum fl_gate_stat *st)
{
	for (size_t i = 0; i < FL_ARRAY_LEN(stats); i++)
		if (!strcmp(s, stats[i])) {
			*st = (enum fl_gate_stat)i;
			return 0;
		}
	return -1;
}

const char *fl_gate_figure_name(enum fl_gate_figure f)
{
	return (size_t)f < FL_ARRAY_LEN(figures) ? figures[f].name : NULL;
}

int fl_gate_figure_parse(const char *s, enum fl_gate_figure *f)
{
	for (size_t i = 0; i < FL_ARRAY_LEN(figures); i++)
		if (!strcmp(s, figures[i].name)) {
			*f = (enum fl_gate_figure)i;
			return 0;
		}
	return -1;
}

const char *fl_gate_op_name(enum fl_gate_op op)
{
	for (size_t i = 0; i < FL_ARRAY_LEN(ops); i++)
		if (ops[i].op == op)
			return ops[i].text;
	return NULL;
}

size_t fl_gate_op_parse(const char *s, enum fl_gate_op *op)
{
	for (size_t i = 0; i < FL_ARRAY_LEN(ops); i++) {
		size_t n = strlen(ops[i].text);
		if (!strncmp(s, ops[i].text, n)) {
			*op = ops[i].op;
			return n;
		}
	}
	return 0;
}

static const char *op_negated(enum fl_gate_op op)
{
	for (size_t i = 0; i < FL_ARRAY_LEN(ops); i++)
		if (ops[i].op == op)
			return ops[i].negated;
	return "?";
}

/* ---- rules --------------------------------------------------------------- */

static int parse_figure(struct cursor *c, struct fl_gate_rule *r)
{
	char w[64];
	size_t start;
	if (expect(c, '(') < 0)
		return -1;
	skip_ws(c);
	start = c->pos;
	if (!word(c, w, sizeof(w)) || fl_gate_figure_parse(w, &r->figure) < 0 ||
	    (r->figure == FL_GATE_PHASE && c->s[c->pos] != ':')) {
		c->pos = start;
		return bad(c, "expected rto, rpo, ttv or phase:NAME");
	}
	if (r->figure == FL_GATE_PHASE) {
		size_t p0 = ++c->pos;
		while (isalnum((unsigned char)c->s[c->pos]) || strchr("_.-", c->s[c->pos]))
			if (!c->s[c->pos++])
				break;
		if (c->pos == p0)
			return bad(c, "expected a phase name after 'phase:'");
		r->phase = fl_strndup(c->s + p0, c->pos - p0);
		if (!r->phase)
			return fl_error_oom(c->err, "gate");
	}
	return expect(c, ')');
}

static int parse_op(struct cursor *c, enum fl_gate_op *op)
{
	size_t n;
	skip_ws(c);
	if (!(n = fl_gate_op_parse(c->s + c->pos, op)))
		return bad(c, "expected one of <=, <, >=, >, ==");
	c->pos += n;
	return 0;
}

/* The next token (up to whitespace) as a number; the whole token must parse. */
static int parse_number(struct cursor *c, double *v, const char *what)
{
	char tok[64], *end;
	size_t k = 0, start;
	skip_ws(c);
	start = c->pos;
	while (c->s[c->pos] && !isspace((unsigned char)c->s[c->pos]) && k + 1 < sizeof(tok))
		tok[k++] = c->s[c->pos++];
	tok[k] = '\0';
	errno = 0;
	*v = k ? strtod(tok, &end) : 0;
	if (!k || *end || errno || !isfinite(*v)) {
		c->pos = start;
		return bad(c, what);
	}
	return 0;
}

/* Back to the start of the token just read, to point at it in an error. */
static int bad_token(struct cursor *c, const char *why)
{
	c->pos--;
	while (c->pos > 0 && !isspace((unsigned char)c->s[c->pos - 1]))
		c->pos--;
	return bad(c, why);
}

static int parse_limit(struct cursor *c, struct fl_gate_rule *r)
{
	char tok[64];
	size_t k = 0, start;
	int64_t ns;
	skip_ws(c);
	start = c->pos;
	while (c->s[c->pos] && !isspace((unsigned char)c->s[c->pos]) && k + 1 < sizeof(tok))
		tok[k++] = c->s[c->pos++];
	tok[k] = '\0';
	if (!strcmp(tok, "target")) {
		if (r->figure != FL_GATE_RTO && r->figure != FL_GATE_RPO) {
			c->pos = start;
			return bad(c, "'target' applies to rto and rpo only; give a duration");
		}
		r->use_target = 1;
		return 0;
	}
	if (k && fl_duration_parse(tok, &ns) == 0) {
		r->limit = (double)ns / 1e6;
		return 0;
	}
	c->pos = start;
	if (k && strspn(tok, "0123456789.") == k)
		return bad(c, "a duration needs a unit (ms, s, m, h), e.g. 30s");
	return bad(c, "expected 'target' or a duration such as 30s or 250ms");
}

static int parse_pass_rate(struct cursor *c, struct fl_gate_rule *r)
{
	if (parse_op(c, &r->op) < 0 ||
	    parse_number(c, &r->limit, "expected a fraction between 0 and 1") < 0)
		return -1;
	if (r->limit < 0 || r->limit > 1)
		return bad_token(c, "pass_rate is a fraction between 0 and 1 (0.9, not 90)");
	return 0;
}

static int parse_count(struct cursor *c, struct fl_gate_rule *r)
{
	if (parse_op(c, &r->op) < 0 || parse_number(c, &r->limit, "expected a whole number") < 0)
		return -1;
	if (r->limit < 0 || r->limit != floor(r->limit))
		return bad_token(c, "expected a whole number");
	return 0;
}

static int parse_regression(struct cursor *c, struct fl_gate_rule *r)
{
	char w[64];
	r->alpha = 0.05;
	r->effect = 0.2;
	if (parse_figure(c, r) < 0)
		return -1;
	for (;;) {
		size_t at;
		skip_ws(c);
		at = c->pos;
		if (!c->s[c->pos])
			return 0;
		word(c, w, sizeof(w));
		if (!strcmp(w, "p")) {
			if (expect(c, '<') < 0 ||
			    parse_number(c, &r->alpha, "expected a p-value such as 0.05") < 0)
				return -1;
			if (!(r->alpha > 0 && r->alpha < 1)) {
				c->pos = at;
				return bad(c, "p must be between 0 and 1");
			}
		} else if (!strcmp(w, "effect")) {
			if (expect(c, '>') < 0 ||
			    parse_number(c, &r->effect, "expected an effect size such as 0.2") < 0)
				return -1;
			if (!(r->effect >= 0 && r->effect < 1)) {
				c->pos = at;
				return bad(c, "effect is a rank-biserial correlation in [0, 1)");
			}
		} else {
			c->pos = at;
			return bad(c, "expected 'p<NUMBER' or 'effect>NUMBER'");
		}
	}
}

static int parse_rule(struct cursor *c, struct fl_gate_rule *r)
{
	char w[64];
	size_t start;
	int rc;

	skip_ws(c);
	start = c->pos;
	if (!word(c, w, sizeof(w))) {
		c->pos = start;
		return bad(c,
			   "expected a statistic (p95, mean, ...), pass_rate, lost_after_fault, lost_before_fault, runs, stale_assets or regression");
	}
	if (fl_gate_stat_parse(w, &r->stat) == 0)
		r->kind = FL_GATE_STAT;
	else if (fl_gate_kind_parse(w, &r->kind) < 0) {
		c->pos = start;
		return bad(c,
			   "unknown rule; expected p95(...), mean(...), pass_rate, lost_after_fault, lost_before_fault, runs, stale_assets or regression(...)");
	}
	switch (r->kind) {
	case FL_GATE_STAT:
		rc = parse_figure(c, r) < 0 || parse_op(c, &r->op) < 0 || parse_limit(c, r) < 0 ? -1
												: 0;
		break;
	case FL_GATE_PASS_RATE: rc = parse_pass_rate(c, r); break;
	case FL_GATE_REGRESSION: rc = parse_regression(c, r); break;
	default: rc = parse_count(c, r); break;
	}
	if (rc < 0)
		return -1;
	skip_ws(c);
	if (c->s[c->pos])
		return bad(c, "unexpected text after the rule");
	return 0;
}

int fl_gate_add_rule(struct fl_gate *g, const char *text, const char *file, int line,
		     struct fl_error *err)
{
	struct fl_gate_rule r, *nr;
	struct cursor c;
	size_t lead = strspn(text, " \t"), len = strlen(text);
	char *trimmed;

	while (len > lead && isspace((unsigned char)text[len - 1]))
		len--;
	trimmed = fl_strndup(text + lead, len - lead);
	if (!trimmed)
		return fl_error_oom(err, "gate");
	memset(&r, 0, sizeof(r));
	r.text = trimmed;
	c = (struct cursor){ trimmed, 0, file, line, (int)lead + 1, err };
	if (!*trimmed) {
		bad(&c, "empty rule");
		goto fail;
	}
	if (parse_rule(&c, &r) < 0)
		goto fail;
	nr = fl_realloc(g->rules, (g->nrules + 1) * sizeof(*nr));
	if (!nr) {
		fl_error_oom(err, "gate");
		goto fail;
	}
	g->rules = nr;
	g->rules[g->nrules++] = r;
	return 0;
fail:
	fl_free(r.phase);
	fl_free(trimmed);
	return -1;
}

int fl_gate_load_file(struct fl_gate *g, const char *path, struct fl_error *err)
{
	struct fl_buf text;
	char *p, *nl;
	int line = 0, rc = -1;

	fl_buf_init(&text, 1 << 20);
	if (fl_read_file(path, 1 << 20, &text, err) < 0) {
		/* A gate file we cannot read is bad input to this command. */
		err->code = FL_EXIT_INPUT;
		goto out;
	}
	for (p = text.buf; p && *p; p = nl ? nl + 1 : NULL) {
		char *hash;
		nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		line++;
		hash = strchr(p, '#');
		if (hash)
			*hash = '\0';
		if (p[strspn(p, " \t\r")] == '\0')
			continue;
		if (fl_gate_add_rule(g, p, path, line, err) < 0)
			goto out;
	}
	if (g->nrules == 0) {
		fl_error_set(err, FL_EXIT_INPUT, "%s: no rules in gate file", path);
		goto out;
	}
	rc = 0;
out:
	fl_buf_release(&text);
	return rc;
}

/* ---- evaluation ---------------------------------------------------------- */

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

static const struct fl_summary *figure_summary(const struct fl_gate_rule *rule,
					       const struct fl_report_scenario *s)
{
	switch (rule->figure) {
	case FL_GATE_RTO: return &s->rto;
	case FL_GATE_RPO: return &s->rpo;
	case FL_GATE_TTV: return &s->ttv;
	case FL_GATE_PHASE:
		for (size_t i = 0; i < s->nphases; i++)
			if (!strcmp(s->phases[i].name, rule->phase))
				return &s->phases[i].s;
		return NULL;
	}
	return NULL;
}

static const char *figure_name(const struct fl_gate_rule *rule, char *buf, size_t n)
{
	if (rule->figure == FL_GATE_PHASE)
		snprintf(buf, n, "%s %s", figures[FL_GATE_PHASE].label, rule->phase);
	else
		snprintf(buf, n, "%s", figures[rule->figure].label);
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
			 op_negated(rule->op), fl_stats_fmt_s(limit, c, sizeof(c)),
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
			 pass ? fl_gate_op_name(rule->op) : op_negated(rule->op), rule->limit);
		emit(vc, rule, s, pass, d, v, rule->limit);
		return;
	}
	if (rule->kind == FL_GATE_PASS_RATE) {
		v = s->pass.p;
		pass = !isnan(v) && compare(v, rule->op, rule->limit);
		snprintf(d, sizeof(d),
			 "%.2f (%ld of %zu passed, 95 %% Wilson CI %.2f – %.2f) %s %.2f", v,
			 s->passed, s->nruns, s->pass.lo, s->pass.hi,
			 pass ? fl_gate_op_name(rule->op) : op_negated(rule->op), rule->limit);
		emit(vc, rule, s, pass, d, v, rule->limit);
		return;
	}
	{
		long lost = rule->kind == FL_GATE_LOST_AFTER ? s->lost_after : s->lost_before;
		const char *when = kinds[rule->kind].when;
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
			 pass ? fl_gate_op_name(rule->op) : op_negated(rule->op), rule->limit);
		emit(vc, rule, s, pass, d, (double)lost, rule->limit);
	}
}

/* The comparison in the report is of RTO; other figures are compared here,
 * from the window's columns (every run of the window, not only those the
 * report holds in full). */
static int eval_regression(struct verdict_ctx *vc, const struct fl_gate_rule *rule,
			   const struct fl_report *r, const struct fl_report_scenario *s)
{
	const struct fl_report_series *se = &s->series;
	const double *col = NULL;
	struct fl_compare cmp;
	double *base = NULL, *cand = NULL;
	size_t nb = 0, nc = 0;
	char d[1024], fig[160], sentence[600];
	int rc = -1, regressed;

	base = fl_malloc((se->n ? se->n : 1) * sizeof(*base));
	cand = fl_malloc((se->n ? se->n : 1) * sizeof(*cand));
	if (!base || !cand)
		goto out;
	if (rule->figure == FL_GATE_RTO)
		col = se->rto;
	else if (rule->figure == FL_GATE_RPO)
		col = se->rpo;
	else if (rule->figure == FL_GATE_TTV)
		col = se->ttv;
	else
		for (size_t k = 0; k < s->nphases; k++)
			if (!strcmp(s->phases[k].name, rule->phase))
				col = s->phases[k].values;
	for (size_t i = 0; col && i < se->n; i++) {
		if (isnan(col[i]))
			continue;
		if (se->flags[i] & FL_REPORT_BASELINE)
			base[nb++] = col[i];
		else if (se->flags[i] & FL_REPORT_CANDIDATE)
			cand[nc++] = col[i];
	}
	figure_name(rule, fig, sizeof(fig));
	if (nb == 0 || nc == 0) {
		snprintf(d, sizeof(d),
			 "no evidence: %zu baseline (%s) and %zu candidate (%s) runs with %s", nb,
			 r->baseline, nc, r->candidate, fig);
		emit(vc, rule, s, 0, d, NAN, NAN);
		rc = 0;
		goto out;
	}
	if (fl_stats_compare(base, nb, cand, nc, &cmp) < 0)
		goto out;
	regressed = !isnan(cmp.mw.p) && cmp.mw.p < rule->alpha && cmp.mw.effect > rule->effect;
	fl_stats_compare_sentence(&cmp, r->baseline, r->candidate, rule->alpha, sentence,
				  sizeof(sentence));
	snprintf(d, sizeof(d), "%s%s: %s", regressed ? "regression of " : "no regression of ", fig,
		 sentence);
	emit(vc, rule, s, !regressed, d, cmp.mw.p, rule->alpha);
	rc = 0;
out:
	fl_free(base);
	fl_free(cand);
	return rc;
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
			    pass ? fl_gate_op_name(rule->op) : op_negated(rule->op), rule->limit);
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
			else if (rule->kind == FL_GATE_REGRESSION) {
				if (eval_regression(&vc, rule, r, s) < 0)
					return fl_error_oom(err, "gate");
			} else
				eval_count(&vc, rule, s);
		}
	}
	if (vc.oom)
		return fl_error_oom(err, "gate");
	return vc.failed ? 1 : 0;
}
