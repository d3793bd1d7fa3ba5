/*
 * store_query: the reads reports aggregate from. See store.h ("queries for
 * reports"). Each is one statement shaped so that SQLite walks an index in
 * the order the report wants and the caller can stop early.
 */
#include "core/store.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/store_pg.h"
#include "core/store_sql.h"

#include <math.h>
#include <string.h>

/* Scenario names in order, reading one index entry per scenario: each step
 * seeks to the first name greater than the last (a skip scan), so a million
 * runs of three scenarios cost three seeks, not a million-row DISTINCT. */
#define SCENARIOS_SQL                                                                              \
	"WITH RECURSIVE s(name) AS ("                                                              \
	" SELECT (SELECT min(scenario) FROM runs)"                                                 \
	" UNION ALL SELECT (SELECT min(scenario) FROM runs WHERE scenario > s.name)"               \
	" FROM s WHERE s.name IS NOT NULL) "                                                       \
	"SELECT name FROM s WHERE name IS NOT NULL"

void fl_store_names_free(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		fl_free(names[i]);
	fl_free(names);
}

int fl_store_scenarios(struct fl_store *st, char ***names, size_t *n, struct fl_error *err)
{
	sqlite3_stmt *s;
	char **list = NULL;
	size_t count = 0;
	int rc;

	if (st->ops)
		return st->ops->scenarios(st, names, n, err);
	s = fl_store_prepare(st, SCENARIOS_SQL, err);
	*names = NULL;
	*n = 0;
	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		char **grown = fl_realloc(list, (count + 1) * sizeof(*list));
		if (!grown)
			goto oom;
		list = grown;
		if (fl_sql_col_text(s, 0, &list[count]) || !list[count])
			goto oom;
		count++;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		fl_store_names_free(list, count);
		return fl_store_sql_fail(st, err);
	}
	*names = list;
	*n = count;
	return 0;
oom:
	sqlite3_finalize(s);
	fl_store_names_free(list, count);
	return fl_store_sql_oom(st, err);
}

/*
 * The window of one scenario, newest first, as one statement: the outer loop
 * walks runs_scenario_started backwards (started_wall_ns, then the rowid,
 * which is the store's own order), the inner loop reads the run's phases by
 * their primary key in seq order, so SQLite needs no sort and the caller can
 * stop after the window's last run having touched only the rows it keeps.
 */
#define WINDOW_SQL                                                                                 \
	"SELECT r.id, r.started_wall_ns, r.verdict, r.label, r.rto_ms, r.rpo_ms, r.ttv_ms, "       \
	"r.rto_target_ms, r.rpo_target_ms, r.lost_before_fault, r.lost_after_fault, "              \
	"p.name, p.start_ms, p.end_ms "                                                            \
	"FROM runs AS r LEFT JOIN run_phases AS p ON p.run_id = r.id "                             \
	"WHERE r.scenario = ?1 AND r.verdict <> 'running' "                                        \
	"AND (?2 IS NULL OR r.label = ?2) AND r.started_wall_ns >= ?3 "                            \
	"ORDER BY r.started_wall_ns DESC, r.id DESC, p.seq"

/* One run being gathered from its rows (one row per phase): the figures,
 * its verdict and label and its phases' names in one reused text buffer,
 * the phases in one reused array. Nothing is allocated per run once the
 * buffers have grown to the largest run. */
struct gather {
	struct fl_run_figures f;
	struct fl_buf text; /* verdict, label, phase names; NUL-separated */
	size_t verdict_off, label_off;
	int has_label;
	struct fl_run_phase *phases;
	size_t *name_off; /* offset of phase i's name in text */
	size_t nphases, cap;
};

static void gather_release(struct gather *g)
{
	fl_buf_release(&g->text);
	fl_free(g->phases);
	fl_free(g->name_off);
}

static int text_keep(struct gather *g, const char *t, size_t *off)
{
	*off = g->text.len;
	return fl_buf_add(&g->text, t, strlen(t) + 1);
}

/* Starts the run of the current row. */
static int gather_start(struct gather *g, sqlite3_stmt *q)
{
	const char *verdict = (const char *)sqlite3_column_text(q, 2);
	const char *label = (const char *)sqlite3_column_text(q, 3);
	struct fl_run_figures *f = &g->f;

	fl_buf_reset(&g->text);
	g->nphases = 0;
	f->id = sqlite3_column_int64(q, 0);
	f->started_wall_ns = sqlite3_column_int64(q, 1);
	f->rto_ms = fl_sql_col_real(q, 4);
	f->rpo_ms = fl_sql_col_real(q, 5);
	f->ttv_ms = fl_sql_col_real(q, 6);
	f->rto_target_ms = fl_sql_col_real(q, 7);
	f->rpo_target_ms = fl_sql_col_real(q, 8);
	f->lost_before_fault = fl_sql_col_count(q, 9);
	f->lost_after_fault = fl_sql_col_count(q, 10);
	g->has_label = label != NULL;
	if (!verdict || (!label && sqlite3_column_type(q, 3) != SQLITE_NULL))
		return -1;
	if (text_keep(g, verdict, &g->verdict_off) < 0 ||
	    (label && text_keep(g, label, &g->label_off) < 0))
		return -1;
	return 0;
}

/* Adds the current row's phase, when it has one. */
static int gather_phase(struct gather *g, sqlite3_stmt *q)
{
	const char *name;
	if (sqlite3_column_type(q, 11) == SQLITE_NULL)
		return 0;
	name = (const char *)sqlite3_column_text(q, 11);
	if (!name)
		return -1;
	if (g->nphases == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 8;
		struct fl_run_phase *p = fl_realloc(g->phases, cap * sizeof(*p));
		size_t *o;
		if (!p)
			return -1;
		g->phases = p;
		o = fl_realloc(g->name_off, cap * sizeof(*o));
		if (!o)
			return -1;
		g->name_off = o;
		g->cap = cap;
	}
	g->phases[g->nphases].start_ms = fl_sql_col_real(q, 12);
	g->phases[g->nphases].end_ms = fl_sql_col_real(q, 13);
	if (text_keep(g, name, &g->name_off[g->nphases]) < 0)
		return -1;
	g->nphases++;
	return 0;
}

/* Hands the gathered run to fn: pointers are fixed up only now, once the
 * text buffer has stopped moving. */
static int gather_deliver(struct gather *g, fl_figures_fn fn, void *ctx)
{
	g->f.verdict = g->text.buf + g->verdict_off;
	g->f.label = g->has_label ? g->text.buf + g->label_off : NULL;
	for (size_t i = 0; i < g->nphases; i++)
		g->phases[i].name = g->text.buf + g->name_off[i];
	g->f.phases = g->phases;
	g->f.nphases = g->nphases;
	return fn(&g->f, ctx);
}

static int figures_bind(sqlite3_stmt *q, const struct fl_run_filter *f)
{
	return fl_sql_bind_text(q, 1, f->scenario) || fl_sql_bind_text(q, 2, f->label) ||
	       sqlite3_bind_int64(q, 3, f->since_wall_ns > 0 ? f->since_wall_ns : INT64_MIN);
}

int fl_store_figures_each(struct fl_store *st, const struct fl_run_filter *f, fl_figures_fn fn,
			  void *ctx, struct fl_error *err)
{
	struct gather g;
	sqlite3_stmt *q;
	long nruns = 0;
	int have = 0, step, ret = -1, r;

	if (st->ops)
		return st->ops->figures_each(st, f, fn, ctx, err);
	if (!f || !f->scenario)
		return fl_error_set(err, FL_EXIT_ENV, "store: figures of no scenario asked for");
	memset(&g, 0, sizeof(g));
	fl_buf_init(&g.text, 0);
	q = fl_store_prepare(st, WINDOW_SQL, err);
	if (!q)
		goto out;
	if (figures_bind(q, f)) {
		fl_store_sql_fail(st, err);
		goto out;
	}
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		if (!have || sqlite3_column_int64(q, 0) != g.f.id) {
			if (have && g.text.failed)
				goto oom;
			if (have && (r = gather_deliver(&g, fn, ctx)) != 0) {
				ret = r;
				goto out;
			}
			if (f->limit > 0 && nruns >= f->limit) {
				have = 0;
				break;
			}
			nruns++;
			have = 1;
			if (gather_start(&g, q) < 0)
				goto oom;
		}
		if (gather_phase(&g, q) < 0)
			goto oom;
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE) {
		fl_store_sql_fail(st, err);
		goto out;
	}
	if (have && g.text.failed)
		goto oom;
	if (have && (r = gather_deliver(&g, fn, ctx)) != 0) {
		ret = r;
		goto out;
	}
	ret = 0;
	goto out;
oom:
	fl_store_sql_oom(st, err);
out:
	sqlite3_finalize(q);
	gather_release(&g);
	return ret;
}
