/*
 * gate: rule parser for `faultline gate` (evaluation: gate_eval.c). The
 * grammar and the semantics are in gate.h; this file keeps the parser strict (every token
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

const char *fl_gate_op_negated(enum fl_gate_op op)
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

const char *fl_gate_figure_label(enum fl_gate_figure f)
{
	return (size_t)f < FL_ARRAY_LEN(figures) ? figures[f].label : NULL;
}

const char *fl_gate_kind_when(enum fl_gate_kind k)
{
	return (size_t)k < FL_ARRAY_LEN(kinds) ? kinds[k].when : NULL;
}
