/*
 * store_pg_query: the report queries in PostgreSQL, the same statements and
 * order as store_query.c so a report reads the same answers from either
 * backend. See store.h ("queries for reports").
 */
#include "core/alloc.h"
#include "core/error.h"
#include "core/store.h"
#include "core/store_pg.h"
#include "core/store_sql.h"

#include <string.h>

/* The skip scan of store_query.c: one index probe per scenario. */
#define SCENARIOS_SQL                                                                              \
	"WITH RECURSIVE s(name) AS ("                                                              \
	" SELECT (SELECT min(scenario) FROM runs)"                                                 \
	" UNION ALL SELECT (SELECT min(scenario) FROM runs WHERE scenario > s.name)"               \
	" FROM s WHERE s.name IS NOT NULL) "                                                       \
	"SELECT name FROM s WHERE name IS NOT NULL ORDER BY convert_to(name, 'UTF8')"

int fl_pg_scenarios(struct fl_store *st, char ***names, size_t *n, struct fl_error *err)
{
	PGresult *r;
	char **list;
	int count;

	*names = NULL;
	*n = 0;
	/* Byte order like SQLite's BINARY collation, whatever the database's. */
	r = fl_pg_exec(st, SCENARIOS_SQL, NULL, err);
	if (!r)
		return -1;
	count = PQntuples(r);
	list = fl_calloc((size_t)count + 1, sizeof(*list));
	if (!list) {
		PQclear(r);
		return fl_store_sql_oom(st, err);
	}
	for (int i = 0; i < count; i++)
		if (fl_pg_text(r, i, 0, &list[i])) {
			PQclear(r);
			fl_store_names_free(list, (size_t)i);
			return fl_store_sql_oom(st, err);
		}
	PQclear(r);
	*names = list;
	*n = (size_t)count;
	return 0;
}

#define WINDOW_SQL                                                                                 \
	"DECLARE fl_window NO SCROLL CURSOR FOR "                                                  \
	"SELECT r.id, r.started_wall_ns, r.verdict, r.label, r.rto_ms, r.rpo_ms, r.ttv_ms, "       \
	"r.rto_target_ms, r.rpo_target_ms, r.lost_before_fault, r.lost_after_fault, "              \
	"p.name, p.start_ms, p.end_ms "                                                            \
	"FROM (SELECT * FROM runs WHERE scenario = $1 AND verdict <> 'running' "                   \
	"AND ($2::text IS NULL OR label = $2) AND started_wall_ns >= $3 "                          \
	"ORDER BY started_wall_ns DESC, id DESC LIMIT $4) AS r "                                   \
	"LEFT JOIN run_phases AS p ON p.run_id = r.id "                                            \
	"ORDER BY r.started_wall_ns DESC, r.id DESC, p.seq"

/* One run gathered from its rows (one per phase), owning its strings:
 * a run may straddle two fetched batches. */
struct pg_gather {
	struct fl_run_figures f;
	char *verdict, *label;
	struct fl_run_phase *phases;
	size_t nphases, cap;
	int have;
};

static void gather_clear(struct pg_gather *g)
{
	fl_free(g->verdict);
	fl_free(g->label);
	for (size_t i = 0; i < g->nphases; i++)
		fl_free(g->phases[i].name);
	g->verdict = g->label = NULL;
	g->nphases = 0;
	g->have = 0;
}

static int gather_start(struct pg_gather *g, const PGresult *r, int i)
{
	struct fl_run_figures *f = &g->f;
	gather_clear(g);
	g->have = 1;
	f->id = fl_pg_int(r, i, 0);
	f->started_wall_ns = fl_pg_int(r, i, 1);
	f->rto_ms = fl_pg_real(r, i, 4);
	f->rpo_ms = fl_pg_real(r, i, 5);
	f->ttv_ms = fl_pg_real(r, i, 6);
	f->rto_target_ms = fl_pg_real(r, i, 7);
	f->rpo_target_ms = fl_pg_real(r, i, 8);
	f->lost_before_fault = fl_pg_count(r, i, 9);
	f->lost_after_fault = fl_pg_count(r, i, 10);
	return fl_pg_text(r, i, 2, &g->verdict) || fl_pg_text(r, i, 3, &g->label) ? -1 : 0;
}

static int gather_phase(struct pg_gather *g, const PGresult *r, int i)
{
	if (PQgetisnull(r, i, 11))
		return 0;
	if (g->nphases == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 8;
		struct fl_run_phase *p = fl_realloc(g->phases, cap * sizeof(*p));
		if (!p)
			return -1;
		g->phases = p;
		g->cap = cap;
	}
	g->phases[g->nphases].start_ms = fl_pg_real(r, i, 12);
	g->phases[g->nphases].end_ms = fl_pg_real(r, i, 13);
	if (fl_pg_text(r, i, 11, &g->phases[g->nphases].name))
		return -1;
	g->nphases++;
	return 0;
}

static int gather_deliver(struct pg_gather *g, fl_figures_fn fn, void *ctx)
{
	g->f.verdict = g->verdict;
	g->f.label = g->label;
	g->f.phases = g->phases;
	g->f.nphases = g->nphases;
	return fn(&g->f, ctx);
}

/* Walks the fl_window cursor: 1 when the window is full, fn's value when
 * it stopped, 0 at the end, -1 on error. */
static int window_walk(struct fl_store *st, struct pg_gather *g, long limit, fl_figures_fn fn,
		       void *ctx, struct fl_error *err)
{
	long nruns = 0;
	for (;;) {
		PGresult *r = fl_pg_exec(st, "FETCH 2048 FROM fl_window", NULL, err);
		int n, rc;
		if (!r)
			return -1;
		n = PQntuples(r);
		for (int i = 0; i < n; i++) {
			if (!g->have || fl_pg_int(r, i, 0) != g->f.id) {
				if (g->have && (rc = gather_deliver(g, fn, ctx)) != 0) {
					PQclear(r);
					return rc;
				}
				if (limit > 0 && nruns >= limit) {
					g->have = 0;
					PQclear(r);
					return 0;
				}
				nruns++;
				if (gather_start(g, r, i) < 0)
					goto oom;
			}
			if (gather_phase(g, r, i) < 0)
				goto oom;
		}
		PQclear(r);
		if (n < 2048)
			break;
		continue;
	oom:
		PQclear(r);
		return fl_store_sql_oom(st, err);
	}
	return g->have ? gather_deliver(g, fn, ctx) : 0;
}

int fl_pg_figures_each(struct fl_store *st, const struct fl_run_filter *f, fl_figures_fn fn,
		       void *ctx, struct fl_error *err)
{
	struct pg_gather g;
	struct fl_pgq q;
	int opened, ret = -1;

	if (!f || !f->scenario)
		return fl_error_set(err, FL_EXIT_ENV, "store: figures of no scenario asked for");
	memset(&g, 0, sizeof(g));
	fl_pgq_init(&q);
	fl_pgq_text(&q, f->scenario);
	fl_pgq_text(&q, f->label);
	fl_pgq_int(&q, f->since_wall_ns > 0 ? f->since_wall_ns : INT64_MIN);
	/* The window's runs are chosen before the join (LIMIT NULL: all), so
	 * the last 10 runs read O(10) rows, as on SQLite. */
	if (f->limit > 0)
		fl_pgq_int(&q, f->limit);
	else
		fl_pgq_text(&q, NULL);
	opened = st->ops->read_begin(st, err);
	if (opened < 0)
		return -1;
	if (fl_pg_cmd(st, WINDOW_SQL, &q, err) == 0) {
		ret = window_walk(st, &g, f->limit, fn, ctx, err);
		if (ret >= 0 && fl_pg_cmd(st, "CLOSE fl_window", NULL, err))
			ret = -1;
	}
	if (st->ops->read_end(st, opened, err) < 0)
		ret = -1;
	gather_clear(&g);
	fl_free(g.phases);
	return ret;
}
