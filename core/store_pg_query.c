/*
 * store_pg_query: the report queries in PostgreSQL, the same statements and
 * order as store_query.c so a report reads the same answers from either
 * backend. See store.h ("queries for reports").
 */
#include "core/alloc.h"
#include "core/buf.h"
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

/*
 * The window of one scenario, newest first. The window's runs (only the
 * columns read) are chosen before the join (LIMIT NULL: all), so the last
 * 10 runs read O(10) rows. Each run's phases are read by run_phases'
 * primary key: the LATERAL subquery with OFFSET 0 cannot be flattened into
 * a join, so the plan is the same nested loop at any history size. Left to
 * itself the planner hashes the whole of run_phases once per scenario and
 * sorts the result (spilling at the default work_mem) when it costs the
 * query for all its rows, and picks the nested loop only while the
 * cursor's "first 10%" estimate favours it. A run's rows are adjacent (the
 * order ends with its id); its phases come in any order and are put in seq
 * order here (gather_phase), which spares the server a sort per run.
 */
#define WINDOW_SQL                                                                                 \
	"DECLARE fl_window NO SCROLL CURSOR FOR "                                                  \
	"SELECT r.id, r.started_wall_ns, r.verdict, r.label, r.rto_ms, r.rpo_ms, r.ttv_ms, "       \
	"r.rto_target_ms, r.rpo_target_ms, r.lost_before_fault, r.lost_after_fault, "              \
	"p.name, p.start_ms, p.end_ms, p.seq "                                                     \
	"FROM (SELECT id, started_wall_ns, verdict, label, rto_ms, rpo_ms, ttv_ms, "               \
	"rto_target_ms, rpo_target_ms, lost_before_fault, lost_after_fault FROM runs "             \
	"WHERE scenario = $1 AND verdict <> 'running' "                                            \
	"AND ($2::text IS NULL OR label = $2) AND started_wall_ns >= $3 "                          \
	"ORDER BY started_wall_ns DESC, id DESC LIMIT $4) AS r "                                   \
	"LEFT JOIN LATERAL (SELECT seq, name, start_ms, end_ms FROM run_phases "                   \
	"WHERE run_id = r.id OFFSET 0) AS p ON true "                                              \
	"ORDER BY r.started_wall_ns DESC, r.id DESC"

/* Rows per FETCH. The next batch is asked for before this one is read, so
 * the server computes it while faultline aggregates (two batches alive). */
#define WINDOW_FETCH 4096
#define WINDOW_FETCH_SQL "FETCH 4096 FROM fl_window"

/* One run gathered from its rows (one per phase). A run may straddle two
 * batches, so its strings are copied, into one reused buffer (verdict,
 * label, phase names, NUL-separated): nothing is allocated per run once
 * the buffers have grown to the largest run. */
struct pg_gather {
	struct fl_run_figures f;
	struct fl_buf text;
	size_t verdict_off, label_off;
	int has_label;
	struct fl_run_phase *phases;
	size_t *name_off; /* offset of phase i's name in text */
	int64_t *seq;     /* phase i's seq: the phases are kept in its order */
	size_t nphases, cap;
	int have;
};

static void gather_release(struct pg_gather *g)
{
	fl_buf_release(&g->text);
	fl_free(g->phases);
	fl_free(g->name_off);
	fl_free(g->seq);
}

static int text_keep(struct pg_gather *g, const char *t, size_t *off)
{
	*off = g->text.len;
	return fl_buf_add(&g->text, t, strlen(t) + 1);
}

static int gather_start(struct pg_gather *g, const PGresult *r, int i)
{
	struct fl_run_figures *f = &g->f;
	fl_buf_reset(&g->text);
	g->nphases = 0;
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
	g->has_label = !PQgetisnull(r, i, 3);
	if (text_keep(g, PQgetvalue(r, i, 2), &g->verdict_off) < 0 ||
	    (g->has_label && text_keep(g, PQgetvalue(r, i, 3), &g->label_off) < 0))
		return -1;
	return 0;
}

static int gather_grow(struct pg_gather *g)
{
	size_t cap = g->cap ? g->cap * 2 : 8;
	struct fl_run_phase *p = fl_realloc(g->phases, cap * sizeof(*p));
	size_t *o;
	int64_t *q;
	if (!p)
		return -1;
	g->phases = p;
	o = fl_realloc(g->name_off, cap * sizeof(*o));
	if (!o)
		return -1;
	g->name_off = o;
	q = fl_realloc(g->seq, cap * sizeof(*q));
	if (!q)
		return -1;
	g->seq = q;
	g->cap = cap;
	return 0;
}

/* Adds the row's phase, when it has one, at its place in seq order. */
static int gather_phase(struct pg_gather *g, const PGresult *r, int i)
{
	int64_t seq;
	size_t at;
	if (PQgetisnull(r, i, 11))
		return 0;
	if (g->nphases == g->cap && gather_grow(g) < 0)
		return -1;
	seq = fl_pg_int(r, i, 14);
	for (at = g->nphases; at > 0 && g->seq[at - 1] > seq; at--) {
		g->phases[at] = g->phases[at - 1];
		g->name_off[at] = g->name_off[at - 1];
		g->seq[at] = g->seq[at - 1];
	}
	g->phases[at].start_ms = fl_pg_real(r, i, 12);
	g->phases[at].end_ms = fl_pg_real(r, i, 13);
	g->seq[at] = seq;
	if (text_keep(g, PQgetvalue(r, i, 11), &g->name_off[at]) < 0)
		return -1;
	g->nphases++;
	return 0;
}

/* Hands the gathered run to fn: pointers are fixed up only now, once the
 * text buffer has stopped moving. */
static int gather_deliver(struct pg_gather *g, fl_figures_fn fn, void *ctx)
{
	g->f.verdict = g->text.buf + g->verdict_off;
	g->f.label = g->has_label ? g->text.buf + g->label_off : NULL;
	for (size_t i = 0; i < g->nphases; i++)
		g->phases[i].name = g->text.buf + g->name_off[i];
	g->f.phases = g->phases;
	g->f.nphases = g->nphases;
	return fn(&g->f, ctx);
}

/* The rows of one batch: 0 to go on, 1 to stop (*out: fn's value, or 0
 * when the window is full), -1 when out of memory. */
static int window_rows(struct pg_gather *g, const PGresult *r, long limit, long *nruns,
		       fl_figures_fn fn, void *ctx, int *out)
{
	int n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		if (!g->have || fl_pg_int(r, i, 0) != g->f.id) {
			if (g->have && (*out = gather_deliver(g, fn, ctx)) != 0)
				return 1;
			if (limit > 0 && *nruns >= limit) {
				g->have = 0;
				return 1;
			}
			(*nruns)++;
			if (gather_start(g, r, i) < 0)
				return -1;
		}
		if (gather_phase(g, r, i) < 0)
			return -1;
	}
	return 0;
}

/* Walks the fl_window cursor a batch ahead: 0 at the end or when the
 * window is full, fn's value when it stopped, -1 on error. */
static int window_walk(struct fl_store *st, struct pg_gather *g, long limit, fl_figures_fn fn,
		       void *ctx, struct fl_error *err)
{
	long nruns = 0;
	int ahead, rc, out = 0;

	if (fl_pg_send(st, WINDOW_FETCH_SQL, err) < 0)
		return -1;
	do {
		PGresult *r = fl_pg_recv(st, err);
		if (!r)
			return -1;
		ahead = PQntuples(r) == WINDOW_FETCH;
		if (ahead && fl_pg_send(st, WINDOW_FETCH_SQL, err) < 0) {
			PQclear(r);
			return -1;
		}
		rc = window_rows(g, r, limit, &nruns, fn, ctx, &out);
		PQclear(r);
	} while (rc == 0 && ahead);
	if (ahead) {
		/* Stopped with a batch on its way: it must be read before the
		 * connection takes another statement (CLOSE then reports a
		 * connection that failed meanwhile). */
		struct fl_error ignored;
		fl_error_init(&ignored);
		PQclear(fl_pg_recv(st, &ignored));
	}
	if (rc < 0)
		return fl_store_sql_oom(st, err);
	if (rc > 0)
		return out;
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
	fl_buf_init(&g.text, 0);
	fl_pgq_init(&q);
	fl_pgq_text(&q, f->scenario);
	fl_pgq_text(&q, f->label);
	fl_pgq_int(&q, f->since_wall_ns > 0 ? f->since_wall_ns : INT64_MIN);
	if (f->limit > 0)
		fl_pgq_int(&q, f->limit);
	else
		fl_pgq_text(&q, NULL);
	opened = st->ops->read_begin(st, err);
	if (opened < 0) {
		gather_release(&g);
		return -1;
	}
	/* No JIT for this plan: compiling it costs ~0.15 s per scenario once
	 * the estimate passes jit_above_cost (100,000 runs) and the rows come
	 * no faster. Planned at DECLARE, so the setting goes back right after. */
	if (fl_pg_cmd(st, "SET LOCAL jit = off", NULL, err) == 0 &&
	    fl_pg_cmd(st, WINDOW_SQL, &q, err) == 0 &&
	    fl_pg_cmd(st, "SET LOCAL jit TO DEFAULT", NULL, err) == 0) {
		ret = window_walk(st, &g, f->limit, fn, ctx, err);
		if (ret >= 0 && fl_pg_cmd(st, "CLOSE fl_window", NULL, err))
			ret = -1;
	}
	if (st->ops->read_end(st, opened, err) < 0)
		ret = -1;
	gather_release(&g);
	return ret;
}
