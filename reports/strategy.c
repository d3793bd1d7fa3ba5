/*
 * strategy: the recovery strategy document. See strategy.h.
 *
 * One walk over the inputs feeds a tiny emitter with two back ends (HTML,
 * Markdown), so the two documents can never say different things.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports/strategy.h"
#include "reports/stats.h"
#include "core/alloc.h"
#include "core/clock.h"

/* ---- classification ----------------------------------------------------------- */

static const char *const disaster_names[FL_DISASTER_COUNT] = {
	"data corruption", "instance kill", "AZ outage", "clock", "cloud",
};

const char *fl_disaster_name(enum fl_disaster d)
{
	return (unsigned)d < FL_DISASTER_COUNT ? disaster_names[d] : "?";
}

static int has_tag(char *const *tags, const char *const *any)
{
	for (size_t i = 0; tags && tags[i]; i++)
		for (size_t k = 0; any[k]; k++)
			if (!strcmp(tags[i], any[k]))
				return 1;
	return 0;
}

static const struct fl_target *env_target(const struct fl_environment *env, const char *name)
{
	for (size_t i = 0; env && name && i < env->ntargets; i++)
		if (!strcmp(env->targets[i].name, name))
			return &env->targets[i];
	return NULL;
}

unsigned fl_strategy_classify(const struct fl_scenario *sc, const struct fl_environment *env)
{
	static const char *const t_corrupt[] = { "corruption", "restore", "pitr", NULL };
	static const char *const t_instance[] = { "failover", "restart",     "kill",
						  "process",  "split-brain", NULL };
	static const char *const t_zone[] = { "zone", "az-outage", NULL };
	static const char *const t_clock[] = { "clock", NULL };
	static const char *const t_cloud[] = { "cloud", NULL };
	unsigned m = 0;

	for (size_t i = 0; i < sc->nfaults; i++) {
		const struct fl_fault_spec *f = &sc->faults[i];
		const struct fl_target *t = env_target(env, f->target);
		if (!strcmp(f->injector, "file"))
			m |= 1u << FL_DISASTER_CORRUPTION;
		else if (!strcmp(f->injector, "process"))
			m |= 1u << FL_DISASTER_INSTANCE;
		else if (!strcmp(f->injector, "clock"))
			m |= 1u << FL_DISASTER_CLOCK;
		if (f->zone || (t && t->kind == FL_TARGET_NETNS))
			m |= 1u << FL_DISASTER_ZONE;
		if (t && t->kind == FL_TARGET_CLOUD)
			m |= 1u << FL_DISASTER_CLOUD;
	}
	if (has_tag(sc->tags, t_corrupt))
		m |= 1u << FL_DISASTER_CORRUPTION;
	if (has_tag(sc->tags, t_instance))
		m |= 1u << FL_DISASTER_INSTANCE;
	if (has_tag(sc->tags, t_zone))
		m |= 1u << FL_DISASTER_ZONE;
	if (has_tag(sc->tags, t_clock))
		m |= 1u << FL_DISASTER_CLOCK;
	if (has_tag(sc->tags, t_cloud))
		m |= 1u << FL_DISASTER_CLOUD;
	return m;
}

/* ---- the emitter ------------------------------------------------------------------ */

struct em {
	struct fl_buf *o;
	int html;
	int cell; /* cells written in the current row */
};

static void esc_md(struct fl_buf *out, const char *s)
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
		else if (strchr("\\`*_[]|~#", *p))
			fl_buf_addf(out, "\\%c", *p);
		else
			fl_buf_add(out, p, 1);
	}
}

static void em_text(struct em *e, const char *s)
{
	if (e->html)
		fl_report_escape_xml(e->o, s);
	else
		esc_md(e->o, s);
}

static void em_textv(struct em *e, const char *fmt, va_list ap)
{
	char buf[2048];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	em_text(e, buf);
}

__attribute__((format(printf, 3, 4))) static void em_h(struct em *e, int level, const char *fmt, ...)
{
	va_list ap;
	if (e->html)
		fl_buf_addf(e->o, "<h%d>", level);
	else
		fl_buf_addf(e->o, "\n%.*s ", level, "######");
	va_start(ap, fmt);
	em_textv(e, fmt, ap);
	va_end(ap);
	fl_buf_adds(e->o, e->html ? "" : "\n\n");
	if (e->html)
		fl_buf_addf(e->o, "</h%d>\n", level);
}

/* A paragraph; cls (HTML class) may be NULL. */
__attribute__((format(printf, 3, 4))) static void em_p(struct em *e, const char *cls,
						       const char *fmt, ...)
{
	va_list ap;
	if (e->html)
		fl_buf_addf(e->o, cls ? "<p class=\"%s\">" : "<p>", cls);
	va_start(ap, fmt);
	em_textv(e, fmt, ap);
	va_end(ap);
	fl_buf_adds(e->o, e->html ? "</p>\n" : "\n\n");
}

/* NULL-terminated headers. */
static void em_table(struct em *e, const char *const *hdr)
{
	size_t n = 0;
	fl_buf_adds(e->o, e->html ? "<div class=\"tablewrap\"><table><tr>" : "|");
	for (; hdr[n]; n++) {
		if (e->html) {
			fl_buf_adds(e->o, "<th>");
			em_text(e, hdr[n]);
			fl_buf_adds(e->o, "</th>");
		} else {
			fl_buf_adds(e->o, " ");
			em_text(e, hdr[n]);
			fl_buf_adds(e->o, " |");
		}
	}
	if (e->html) {
		fl_buf_adds(e->o, "</tr>\n");
		return;
	}
	fl_buf_adds(e->o, "\n|");
	for (size_t i = 0; i < n; i++)
		fl_buf_adds(e->o, " --- |");
	fl_buf_adds(e->o, "\n");
}

static void em_row(struct em *e)
{
	e->cell = 0;
	fl_buf_adds(e->o, e->html ? "<tr>" : "|");
}

__attribute__((format(printf, 3, 4))) static void em_cell(struct em *e, const char *cls,
							  const char *fmt, ...)
{
	va_list ap;
	if (e->html)
		fl_buf_addf(e->o, cls ? "<td class=\"%s\">" : "<td>", cls);
	else
		fl_buf_adds(e->o, " ");
	va_start(ap, fmt);
	em_textv(e, fmt, ap);
	va_end(ap);
	fl_buf_adds(e->o, e->html ? "</td>" : " |");
	e->cell++;
}

static void em_row_end(struct em *e)
{
	fl_buf_adds(e->o, e->html ? "</tr>\n" : "\n");
}

static void em_table_end(struct em *e)
{
	fl_buf_adds(e->o, e->html ? "</table></div>\n" : "\n");
}

static void em_list(struct em *e, int open)
{
	if (e->html)
		fl_buf_adds(e->o, open ? "<ul>\n" : "</ul>\n");
	else if (!open)
		fl_buf_adds(e->o, "\n");
}

__attribute__((format(printf, 2, 3))) static void em_li(struct em *e, const char *fmt, ...)
{
	va_list ap;
	fl_buf_adds(e->o, e->html ? "<li>" : "- ");
	va_start(ap, fmt);
	em_textv(e, fmt, ap);
	va_end(ap);
	fl_buf_adds(e->o, e->html ? "</li>\n" : "\n");
}

/* ---- figures ------------------------------------------------------------------------ */

static const char *fmt_target(int64_t ns, char *buf, size_t n)
{
	if (ns < 0)
		return "none";
	return fl_duration_format(ns, buf, n);
}

static const char *fmt_ms(double ms, char *buf, size_t n)
{
	if (isnan(ms))
		return "not measured";
	return fl_stats_fmt_s(ms, buf, n);
}

static const char *fmt_day(int64_t wall_ns, char *buf, size_t n)
{
	char t[40];
	if (wall_ns <= 0)
		return "never";
	fl_rfc3339(wall_ns, t, sizeof(t));
	snprintf(buf, n, "%.10s", t);
	return buf;
}

static const struct fl_report_scenario *rep_scenario(const struct fl_report *r, const char *name)
{
	for (size_t i = 0; r && i < r->nscenarios; i++)
		if (!strcmp(r->scenarios[i].name, name))
			return &r->scenarios[i];
	return NULL;
}

static const struct fl_phase_stats *rep_phase(const struct fl_report_scenario *rs, const char *name)
{
	for (size_t i = 0; rs && i < rs->nphases; i++)
		if (!strcmp(rs->phases[i].name, name))
			return &rs->phases[i];
	return NULL;
}

static const struct fl_report_asset *rep_asset(const struct fl_report *r, const char *name)
{
	for (size_t i = 0; r && i < r->nassets; i++)
		if (!strcmp(r->assets[i].name, name))
			return &r->assets[i];
	return NULL;
}

static const struct fl_run *newest_run(const struct fl_report_scenario *rs)
{
	return rs && rs->nkept ? &rs->runs[0] : NULL;
}

static const char *verdict_cls(const char *v)
{
	return v && !strcmp(v, "pass") ? "pass" : "fail";
}

/* ---- the assets ---------------------------------------------------------------------- */

struct asset_row {
	const char *name;
	const struct fl_asset *inv; /* or NULL: named by a scenario only */
	int tier;                   /* 0: unknown */
};

static int asset_cmp(const void *a, const void *b)
{
	const struct asset_row *x = a, *y = b;
	int tx = x->tier ? x->tier : 99, ty = y->tier ? y->tier : 99;
	if (tx != ty)
		return tx < ty ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Inventory assets plus assets only scenarios name, by tier then name. */
static struct asset_row *collect_assets(const struct fl_strategy *s, size_t *n)
{
	size_t cap = (s->inventory ? s->inventory->nassets : 0) + s->nscenarios + 1, k = 0;
	struct asset_row *rows = fl_calloc(cap, sizeof(*rows));

	if (!rows)
		return NULL;
	for (size_t i = 0; s->inventory && i < s->inventory->nassets; i++) {
		rows[k].name = s->inventory->assets[i].name;
		rows[k].inv = &s->inventory->assets[i];
		rows[k++].tier = s->inventory->assets[i].tier;
	}
	for (size_t i = 0; i < s->nscenarios; i++) {
		const char *a = s->scenarios[i]->asset;
		int seen = 0;
		if (!a)
			continue;
		for (size_t j = 0; j < k && !seen; j++)
			seen = !strcmp(rows[j].name, a);
		if (!seen)
			rows[k++].name = a;
	}
	qsort(rows, k, sizeof(*rows), asset_cmp);
	*n = k;
	return rows;
}

/* ---- sections ------------------------------------------------------------------------- */

static void section_tiers(struct em *e, const struct fl_strategy *s, const struct asset_row *rows,
			  size_t n)
{
	static const char *const hdr[] = { "tier",       "asset",      "kind",
					   "RPO target", "RTO target", "last drilled",
					   "verdict",    "paged",      NULL };
	char b1[32], b2[32], b3[32];

	em_h(e, 2, "Assets by priority tier");
	if (!n) {
		em_p(e, "note",
		     "No assets: give an inventory (--inventory) or scenarios that name an asset.");
		return;
	}
	em_table(e, hdr);
	for (size_t i = 0; i < n; i++) {
		const struct fl_asset *a = rows[i].inv;
		const struct fl_report_asset *ra = rep_asset(s->report, rows[i].name);
		const struct fl_run *last = ra ? ra->last : NULL;
		em_row(e);
		if (rows[i].tier)
			em_cell(e, "num", "%d", rows[i].tier);
		else
			em_cell(e, NULL, "unknown");
		em_cell(e, NULL, "%s", rows[i].name);
		em_cell(e, NULL, "%s", a && a->kind ? a->kind : "");
		em_cell(e, NULL, "%s", a ? fmt_target(a->rpo_ns, b1, sizeof(b1)) : "none");
		em_cell(e, NULL, "%s", a ? fmt_target(a->rto_ns, b2, sizeof(b2)) : "none");
		em_cell(e, ra && ra->stale ? "stale" : NULL, "%s%s",
			fmt_day(last ? last->started_wall_ns : 0, b3, sizeof(b3)),
			ra && ra->stale ? " (stale)" : "");
		em_cell(e, last ? verdict_cls(last->verdict) : NULL, "%s",
			last ? last->verdict : "not drilled");
		em_cell(e, NULL, "%s", a && a->owner ? a->owner : "nobody named");
		em_row_end(e);
	}
	em_table_end(e);
	if (s->report)
		em_p(e, "note", "Stale: not drilled within %ld days.", s->report->stale_days);
}

static void section_coverage(struct em *e, const struct fl_strategy *s,
			     const struct asset_row *rows, size_t n)
{
	const char *hdr[FL_DISASTER_COUNT + 2];
	size_t gaps = 0;
	char day[32];

	hdr[0] = "asset";
	for (int d = 0; d < FL_DISASTER_COUNT; d++)
		hdr[d + 1] = disaster_names[d];
	hdr[FL_DISASTER_COUNT + 1] = NULL;
	em_h(e, 2, "Coverage: asset x disaster type");
	em_table(e, hdr);
	for (size_t i = 0; i < n; i++) {
		em_row(e);
		em_cell(e, NULL, "%s", rows[i].name);
		for (int d = 0; d < FL_DISASTER_COUNT; d++) {
			const struct fl_run *best = NULL;
			size_t nsc = 0;
			for (size_t k = 0; k < s->nscenarios; k++) {
				const struct fl_scenario *sc = s->scenarios[k];
				const struct fl_run *r;
				if (!sc->asset || strcmp(sc->asset, rows[i].name) ||
				    !(fl_strategy_classify(sc, s->scenario_env[k]) & (1u << d)))
					continue;
				nsc++;
				r = newest_run(rep_scenario(s->report, sc->name));
				if (r && (!best || r->started_wall_ns > best->started_wall_ns))
					best = r;
			}
			if (!nsc) {
				em_cell(e, "gap", "GAP: no drill");
				gaps++;
			} else if (!best) {
				em_cell(e, "stale", "never drilled (%zu scenario%s)", nsc,
					nsc == 1 ? "" : "s");
			} else {
				em_cell(e, verdict_cls(best->verdict), "%s %s",
					fmt_day(best->started_wall_ns, day, sizeof(day)),
					best->verdict);
			}
		}
		em_row_end(e);
	}
	em_table_end(e);
	em_p(e, "note",
	     "%zu gap%s. Each cell: the newest drill of that asset and disaster type, its date and verdict. "
	     "Types come from the faults (file: data corruption; process: instance kill; a zone or network "
	     "namespace: AZ outage; clock; a cloud target) and, for command faults, the scenario's tags.",
	     gaps, gaps == 1 ? "" : "s");
}

static void step_how(const struct fl_step_spec *st, char *buf, size_t n)
{
	switch (st->kind) {
	case FL_STEP_WAIT:
		snprintf(buf, n, "automatic: wait until probe '%s' is healthy",
			 st->probe ? st->probe : "availability");
		break;
	case FL_STEP_ACTION:
		snprintf(buf, n, "run %s", st->argv && st->argv[0] ? st->argv[0] : "?");
		break;
	case FL_STEP_MANUAL: snprintf(buf, n, "manual: %s", st->prompt ? st->prompt : ""); break;
	case FL_STEP_AWS_RESTORE: snprintf(buf, n, "automatic: AWS Backup restore job"); break;
	}
}

static void section_scenario(struct em *e, const struct fl_strategy *s, size_t k)
{
	static const char *const hdr[] = { "#",      "step", "how",  "timeout",
					   "median", "p95",  "runs", NULL };
	const struct fl_scenario *sc = s->scenarios[k];
	const struct fl_report_scenario *rs = rep_scenario(s->report, sc->name);
	const struct fl_run *last = newest_run(rs);
	unsigned types = fl_strategy_classify(sc, s->scenario_env[k]);
	char b1[32], b2[32], b3[32], how[512];
	struct fl_buf t;

	fl_buf_init(&t, 4096);
	for (int d = 0; d < FL_DISASTER_COUNT; d++)
		if (types & (1u << d))
			fl_buf_addf(&t, "%s%s", t.len ? ", " : "", disaster_names[d]);
	em_h(e, 4, "Scenario %s (%s)", sc->name, t.len ? t.buf : "unclassified");
	fl_buf_release(&t);
	if (sc->description)
		em_p(e, NULL, "%s", sc->description);
	em_list(e, 1);
	for (size_t i = 0; i < sc->nfaults; i++)
		em_li(e, "Fault %s: %s on %s%s", sc->faults[i].name, sc->faults[i].injector,
		      sc->faults[i].target ? sc->faults[i].target
		      : sc->faults[i].zone ? sc->faults[i].zone
					   : "no target",
		      sc->faults[i].zone && !sc->faults[i].target ? " (zone)" : "");
	em_li(e, "RTO: target %s; measured median %s, p95 %s over %zu run%s",
	      sc->targets.rto_ns >= 0 || !rs || isnan(rs->rto_target_ms)
		      ? fmt_target(sc->targets.rto_ns, b1, sizeof(b1))
		      : fl_stats_fmt_s(rs->rto_target_ms, b1, sizeof(b1)),
	      fmt_ms(rs && rs->rto.n ? rs->rto.median : NAN, b2, sizeof(b2)),
	      fmt_ms(rs && rs->rto.n ? rs->rto.p95 : NAN, b3, sizeof(b3)), rs ? rs->nruns : 0,
	      rs && rs->nruns == 1 ? "" : "s");
	em_li(e, "RPO: target %s; measured median %s, p95 %s",
	      fmt_target(sc->targets.rpo_ns, b1, sizeof(b1)),
	      fmt_ms(rs && rs->rpo.n ? rs->rpo.median : NAN, b2, sizeof(b2)),
	      fmt_ms(rs && rs->rpo.n ? rs->rpo.p95 : NAN, b3, sizeof(b3)));
	em_li(e, "Last drilled: %s%s%s", fmt_day(last ? last->started_wall_ns : 0, b1, sizeof(b1)),
	      last ? ", " : "", last ? last->verdict : "");
	em_list(e, 0);
	em_p(e, NULL, "Restore procedure, in order (measured durations from the store):");
	em_table(e, hdr);
	for (size_t i = 0; i < sc->nrecovery; i++) {
		const struct fl_step_spec *st = &sc->recovery[i];
		const struct fl_phase_stats *ph = rep_phase(rs, st->name);
		step_how(st, how, sizeof(how));
		em_row(e);
		em_cell(e, "num", "%zu", i + 1);
		em_cell(e, NULL, "%s", st->name);
		em_cell(e, NULL, "%s", how);
		em_cell(e, "num", "%s", fl_duration_format(st->timeout_ns, b1, sizeof(b1)));
		em_cell(e, "num", "%s", fmt_ms(ph && ph->s.n ? ph->s.median : NAN, b2, sizeof(b2)));
		em_cell(e, "num", "%s", fmt_ms(ph && ph->s.n ? ph->s.p95 : NAN, b3, sizeof(b3)));
		em_cell(e, "num", "%zu", ph ? ph->s.n : 0);
		em_row_end(e);
	}
	em_table_end(e);
	if (sc->nvalidation) {
		em_p(e, NULL, "Validation checks after restoration:");
		em_list(e, 1);
		for (size_t i = 0; i < sc->nvalidation; i++) {
			const struct fl_probe_spec *v = &sc->validation[i];
			em_li(e, "%s (%s%s%s)", v->name,
			      v->kind == FL_PROBE_HTTP  ? "http"
			      : v->kind == FL_PROBE_TCP ? "tcp"
							: "command",
			      v->kind == FL_PROBE_COMMAND && v->argv && v->argv[0] ? ": " : "",
			      v->kind == FL_PROBE_COMMAND && v->argv && v->argv[0] ? v->argv[0] : "");
		}
		em_list(e, 0);
	}
}

static void section_asset(struct em *e, const struct fl_strategy *s, const struct asset_row *row)
{
	const struct fl_asset *a = row->inv;
	const struct fl_run *backup = NULL;
	size_t nsc = 0;
	char b1[64], b2[32], b3[32];

	if (row->tier)
		em_h(e, 3, "%s (tier %d)", row->name, row->tier);
	else
		em_h(e, 3, "%s (tier unknown: not in the inventory)", row->name);
	if (a && a->description)
		em_p(e, NULL, "%s", a->description);
	em_list(e, 1);
	em_li(e, "Targets: RPO %s, RTO %s", a ? fmt_target(a->rpo_ns, b2, sizeof(b2)) : "none",
	      a ? fmt_target(a->rto_ns, b3, sizeof(b3)) : "none");
	em_li(e, "Paged: %s", a && a->owner ? a->owner : "nobody named in the inventory");
	if (a && a->depends_on && a->depends_on[0]) {
		struct fl_buf d;
		fl_buf_init(&d, 4096);
		for (size_t i = 0; a->depends_on[i]; i++)
			fl_buf_addf(&d, "%s%s", i ? ", " : "", a->depends_on[i]);
		em_li(e, "Depends on: %s", d.buf);
		fl_buf_release(&d);
	}
	for (size_t k = 0; k < s->nscenarios; k++) {
		const struct fl_run *r;
		if (!s->scenarios[k]->asset || strcmp(s->scenarios[k]->asset, row->name))
			continue;
		r = newest_run(rep_scenario(s->report, s->scenarios[k]->name));
		if (r && r->backup_last_good_wall_ns > 0 &&
		    (!backup || r->started_wall_ns > backup->started_wall_ns))
			backup = r;
	}
	if (a && a->backup_info)
		em_li(e, "Backup: pgBackRest, read with %s", a->backup_info[0]);
	else
		em_li(e, "Backup: none described in the inventory (backup_info)");
	if (backup)
		em_li(e, "Last good backup: %s",
		      fl_backup_age_describe(backup->started_wall_ns, backup->backup_last_good_wall_ns,
					     backup->backup_last_good_type, b1, sizeof(b1)));
	em_list(e, 0);
	for (size_t k = 0; k < s->nscenarios; k++) {
		if (!s->scenarios[k]->asset || strcmp(s->scenarios[k]->asset, row->name))
			continue;
		section_scenario(e, s, k);
		nsc++;
	}
	if (!nsc)
		em_p(e, "gap",
		     "No scenario recovers this asset: its recovery is undocumented and undrilled.");
}

static void target_where(const struct fl_target *t, char *buf, size_t n)
{
	if (t->pidfile)
		snprintf(buf, n, "pidfile %s", t->pidfile);
	else if (t->match)
		snprintf(buf, n, "process matching '%s'", t->match);
	else if (t->path)
		snprintf(buf, n, "%s", t->path);
	else if (t->host && t->port)
		snprintf(buf, n, "%s:%ld", t->host, t->port);
	else if (t->host)
		snprintf(buf, n, "%s", t->host);
	else if (t->netns)
		snprintf(buf, n, "network namespace %s", t->netns);
	else if (t->resource)
		snprintf(buf, n, "%s", t->resource);
	else
		snprintf(buf, n, "%s", t->url ? t->url : "");
}

static int target_cmp(const void *a, const void *b)
{
	const struct fl_target *x = *(const struct fl_target *const *)a,
			       *y = *(const struct fl_target *const *)b;
	int c = strcmp(x->zone ? x->zone : "~", y->zone ? y->zone : "~");
	return c ? c : strcmp(x->name, y->name);
}

static int section_infra(struct em *e, const struct fl_strategy *s, struct fl_error *err)
{
	static const char *const hdr[] = { "zone", "target", "kind", "where", NULL };
	char where[512];

	em_h(e, 2, "Infrastructure");
	if (!s->nenvs)
		em_p(e, "note", "No environment file.");
	for (size_t i = 0; i < s->nenvs; i++) {
		const struct fl_environment *env = s->envs[i];
		const struct fl_target **sorted = fl_calloc(env->ntargets + 1, sizeof(*sorted));
		if (!sorted)
			return fl_error_oom(err, "faultline plan");
		em_h(e, 3, "Environment %s%s", env->name,
		     env->production == 1   ? " (production)"
		     : env->production == 0 ? " (not production)"
					    : "");
		if (env->description)
			em_p(e, NULL, "%s", env->description);
		for (size_t k = 0; k < env->ntargets; k++)
			sorted[k] = &env->targets[k];
		qsort(sorted, env->ntargets, sizeof(*sorted), target_cmp);
		em_table(e, hdr);
		for (size_t k = 0; k < env->ntargets; k++) {
			target_where(sorted[k], where, sizeof(where));
			em_row(e);
			em_cell(e, NULL, "%s", sorted[k]->zone ? sorted[k]->zone : "(none)");
			em_cell(e, NULL, "%s", sorted[k]->name);
			em_cell(e, NULL, "%s", fl_target_kind_name(sorted[k]->kind));
			em_cell(e, NULL, "%s", where);
			em_row_end(e);
		}
		em_table_end(e);
		fl_free(sorted);
	}
	return 0;
}

/* ---- the document ----------------------------------------------------------------------- */

static const char css[] =
	":root{--ok:#1a7f37;--bad:#c62828;--warn:#b26a00;--ink:#1f2328;--mute:#59636e;--line:#d0d7de}"
	"*{box-sizing:border-box}"
	"body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:var(--ink);margin:0 auto;padding:16px;max-width:1100px}"
	"h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;margin:1.6em 0 .4em;border-bottom:2px solid var(--line);padding-bottom:.2em;overflow-wrap:anywhere}"
	"h3{font-size:1.1em;margin:1.2em 0 .3em;overflow-wrap:anywhere}h4{font-size:1em;margin:1em 0 .3em;overflow-wrap:anywhere}"
	".meta,.note{color:var(--mute);font-size:.9em}"
	".tablewrap{overflow-x:auto;max-width:100%}"
	"table{border-collapse:collapse;width:100%;margin:.4em 0;font-size:.92em}"
	"th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}"
	"th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
	".pass{color:var(--ok);font-weight:600}.fail{color:var(--bad);font-weight:600}"
	".stale{color:var(--warn);font-weight:600}.gap{color:var(--bad);font-weight:700;background:#fff0f0}"
	"@media (max-width:600px){body{padding:8px;font-size:14px}th,td{padding:3px 4px}}"
	"@media print{body{max-width:none;padding:0;font-size:11pt}th{background:none}}";

static int write_doc(const struct fl_strategy *s, struct fl_buf *out, int html, struct fl_error *err)
{
	struct em e = { .o = out, .html = html };
	const char *title = s->title ? s->title : "Recovery strategy";
	struct asset_row *rows;
	size_t nrows = 0, runs = s->report ? s->report->nruns : 0;
	char now[40];

	rows = collect_assets(s, &nrows);
	if (!rows)
		return fl_error_oom(err, "faultline plan");
	fl_rfc3339(s->report && s->report->generated_wall_ns ? s->report->generated_wall_ns
							     : fl_wall_ns(),
		   now, sizeof(now));
	if (html) {
		fl_buf_adds(out,
			    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>");
		fl_report_escape_xml(out, title);
		fl_buf_addf(out, "</title><style>%s</style></head><body>\n<header><h1>", css);
		fl_report_escape_xml(out, title);
		fl_buf_adds(out, "</h1>\n");
	} else {
		fl_buf_adds(out, "# ");
		esc_md(out, title);
		fl_buf_adds(out, "\n\n");
	}
	em_p(&e, "meta",
	     "Generated %s by faultline from %zu scenario file%s, %zu environment%s, %s and %zu stored run%s. "
	     "Every target stands beside what the drills measured.",
	     now, s->nscenarios, s->nscenarios == 1 ? "" : "s", s->nenvs, s->nenvs == 1 ? "" : "s",
	     s->inventory ? "the inventory" : "no inventory", runs, runs == 1 ? "" : "s");
	if (html)
		fl_buf_adds(out, "</header>\n<main>\n");
	section_tiers(&e, s, rows, nrows);
	section_coverage(&e, s, rows, nrows);
	em_h(&e, 2, "Recovery procedures by asset");
	for (size_t i = 0; i < nrows; i++)
		section_asset(&e, s, &rows[i]);
	if (section_infra(&e, s, err) < 0) {
		fl_free(rows);
		return -1;
	}
	if (html)
		fl_buf_adds(out, "</main>\n</body></html>\n");
	fl_free(rows);
	if (out->failed)
		return fl_error_oom(err, "faultline plan: the document");
	return 0;
}

int fl_strategy_write_html(const struct fl_strategy *s, struct fl_buf *out, struct fl_error *err)
{
	return write_doc(s, out, 1, err);
}

int fl_strategy_write_markdown(const struct fl_strategy *s, struct fl_buf *out, struct fl_error *err)
{
	return write_doc(s, out, 0, err);
}
