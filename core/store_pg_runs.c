/*
 * store_pg_runs: the runs in PostgreSQL: writing, reading, the runs of dead
 * owners, and the report queries. See store_pg.h; the SQLite side is
 * store_runs.c and store_query.c, and the two give the same answers.
 *
 * Long reads (runs_each, figures_each) walk a cursor inside one
 * REPEATABLE READ snapshot, a batch of rows at a time, so a million-run
 * history is never held in memory at once and the caller can stop early.
 */
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/store.h"
#include "core/store_pg.h"
#include "core/store_sql.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PG_FETCH 512

#define RUN_WRITE_COLUMNS                                                                          \
	"scenario, environment, label, asset, asset_tier, started_at, started_wall_ns, "           \
	"duration_ms, verdict, rto_ms, rto_uncertainty_ms, rpo_ms, rpo_uncertainty_ms, "           \
	"ttv_ms, rto_target_ms, rpo_target_ms, lost_before_fault, lost_after_fault, "              \
	"writes_acked, writes_failed, writes_indeterminate, faultline_version, host, "             \
	"backup_last_good_wall_ns, backup_last_good_type, writes_failed_present"
#define RUN_VALUES                                                                                 \
	"$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, "   \
	"$20, $21, $22, $23, $24, $25, $26"
#define RUN_READ_COLUMNS "id, " RUN_WRITE_COLUMNS

/* $1..$26 in RUN_WRITE_COLUMNS order; `started_at` and `host` are buffers
 * of the caller that outlive the statement. */
static void run_params(struct fl_pgq *q, const struct fl_run *run, const char *verdict,
		       char *started_at, size_t started_n, char *host, size_t host_n)
{
	const char *h = run->host;
	if (!h && gethostname(host, host_n) == 0) {
		host[host_n - 1] = '\0';
		h = host;
	}
	fl_rfc3339(run->started_wall_ns, started_at, started_n);
	fl_pgq_init(q);
	fl_pgq_text(q, run->scenario);
	fl_pgq_text(q, run->environment);
	fl_pgq_text(q, run->label);
	fl_pgq_text(q, run->asset);
	fl_pgq_int(q, run->asset_tier);
	fl_pgq_text(q, started_at);
	fl_pgq_int(q, run->started_wall_ns);
	fl_pgq_real(q, run->duration_ms);
	fl_pgq_text(q, verdict);
	fl_pgq_real(q, run->rto_ms);
	fl_pgq_real(q, run->rto_uncertainty_ms);
	fl_pgq_real(q, run->rpo_ms);
	fl_pgq_real(q, run->rpo_uncertainty_ms);
	fl_pgq_real(q, run->ttv_ms);
	fl_pgq_real(q, run->rto_target_ms);
	fl_pgq_real(q, run->rpo_target_ms);
	fl_pgq_count(q, run->lost_before_fault);
	fl_pgq_count(q, run->lost_after_fault);
	fl_pgq_count(q, run->writes_acked);
	fl_pgq_count(q, run->writes_failed);
	fl_pgq_count(q, run->writes_indeterminate);
	fl_pgq_text(q, run->faultline_version ? run->faultline_version : FAULTLINE_VERSION);
	fl_pgq_text(q, h);
	if (run->backup_last_good_wall_ns > 0)
		fl_pgq_int(q, run->backup_last_good_wall_ns);
	else
		fl_pgq_text(q, NULL);
	fl_pgq_text(q, run->backup_last_good_type);
	fl_pgq_count(q, run->writes_failed_present);
}

struct run_begin_tx {
	struct fl_run *run;
	struct fl_pgq q;
};

static int run_begin_body(struct fl_store *st, void *ctx, struct fl_error *err)
{
	struct run_begin_tx *t = ctx;
	PGresult *r;
	if (fl_pg_lease_renew(st, err))
		return -1;
	r = fl_pg_exec(st,
		       "INSERT INTO runs (" RUN_WRITE_COLUMNS ", owner_pid, owner_start) "
		       "VALUES (" RUN_VALUES ", $27, $28) RETURNING id",
		       &t->q, err);
	if (!r)
		return -1;
	t->run->id = fl_pg_int(r, 0, 0);
	PQclear(r);
	return 0;
}

/* The run's natural key (scenario, start in ns, host) and its owner. */
static int run_begin_committed(struct fl_store *st, void *ctx, int *done, struct fl_error *err)
{
	struct run_begin_tx *t = ctx;
	struct fl_pgq k;
	PGresult *r;
	fl_pgq_init(&k);
	fl_pgq_text(&k, t->q.v[0]);
	fl_pgq_text(&k, t->q.v[6]);
	fl_pgq_text(&k, t->q.v[22]);
	fl_pgq_text(&k, t->q.v[26]);
	fl_pgq_text(&k, t->q.v[27]);
	r = fl_pg_exec(st,
		       "SELECT id FROM runs WHERE scenario = $1 AND started_wall_ns = $2 AND "
		       "host IS NOT DISTINCT FROM $3 AND owner_pid = $4 AND owner_start = $5 "
		       "ORDER BY id LIMIT 1",
		       &k, err);
	if (!r)
		return -1;
	*done = PQntuples(r) == 1;
	if (*done)
		t->run->id = fl_pg_int(r, 0, 0);
	PQclear(r);
	return 0;
}

int fl_pg_run_begin(struct fl_store *st, struct fl_run *run, struct fl_error *err)
{
	static const struct fl_pg_tx tx = { .body = run_begin_body, .committed = run_begin_committed };
	char started_at[48], host[256];
	struct run_begin_tx t = { .run = run };
	struct fl_owner me;

	if (!run->scenario || !*run->scenario)
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: cannot record a run without a scenario name", st->path);
	if (run->started_wall_ns == 0)
		run->started_wall_ns = fl_wall_ns();
	fl_owner_self(&me);
	run_params(&t.q, run, "running", started_at, sizeof(started_at), host, sizeof(host));
	fl_pgq_int(&t.q, me.pid);
	fl_pgq_int(&t.q, (int64_t)me.start);
	return fl_pg_tx(st, &tx, &t, err);
}

/* One child table's INSERT and the parameters of row i ($1 run, $2 seq). */
static void child_params(struct fl_pgq *q, const struct fl_run *run, int t, size_t i)
{
	fl_pgq_init(q);
	fl_pgq_int(q, run->id);
	switch (t) {
	case 0:
		fl_pgq_int(q, (int64_t)i);
		fl_pgq_text(q, run->events[i].name);
		fl_pgq_real(q, run->events[i].t_ms);
		fl_pgq_real(q, run->events[i].uncertainty_ms);
		break;
	case 1:
		fl_pgq_int(q, (int64_t)i);
		fl_pgq_text(q, run->phases[i].name);
		fl_pgq_real(q, run->phases[i].start_ms);
		fl_pgq_real(q, run->phases[i].end_ms);
		break;
	case 2:
		fl_pgq_int(q, (int64_t)i);
		fl_pgq_text(q, run->failures[i]);
		break;
	case 3: {
		const struct fl_probe_summary *p = &run->probes[i];
		fl_pgq_int(q, (int64_t)i);
		fl_pgq_text(q, p->name);
		fl_pgq_text(q, p->kind);
		fl_pgq_count(q, p->samples);
		fl_pgq_count(q, p->failures);
		fl_pgq_real(q, p->interval_ms);
		fl_pgq_real(q, p->latency_p50_ms);
		fl_pgq_real(q, p->latency_p99_ms);
		fl_pgq_real(q, p->latency_max_ms);
		fl_pgq_count(q, p->skipped);
		fl_pgq_real(q, p->max_latency_ms > 0 ? p->max_latency_ms : NAN);
		break;
	}
	default: fl_pgq_int(q, run->lost_seqs[i]); break;
	}
}

static int insert_children(struct fl_store *st, const struct fl_run *run, struct fl_error *err)
{
	static const char *const sql[] = {
		"INSERT INTO run_events (run_id, seq, name, t_ms, uncertainty_ms) "
		"VALUES ($1, $2, $3, $4, $5)",
		"INSERT INTO run_phases (run_id, seq, name, start_ms, end_ms) "
		"VALUES ($1, $2, $3, $4, $5)",
		"INSERT INTO run_failures (run_id, seq, reason) VALUES ($1, $2, $3)",
		"INSERT INTO run_probes (run_id, seq, name, kind, samples, failures, interval_ms, "
		"latency_p50_ms, latency_p99_ms, latency_max_ms, skipped, max_latency_ms) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
		"INSERT INTO run_lost_writes (run_id, seq) VALUES ($1, $2)",
	};
	const size_t n[] = { run->nevents, run->nphases, run->nfailures, run->nprobes,
			     run->nlost_seqs };
	struct fl_pgq q;
	for (int t = 0; t < 5; t++)
		for (size_t i = 0; i < n[t]; i++) {
			child_params(&q, run, t, i);
			if (fl_pg_cmd(st, sql[t], &q, err))
				return -1;
		}
	return 0;
}

struct run_finish_tx {
	const struct fl_run *run;
	struct fl_pgq q, qid;
};

static int run_finish_body(struct fl_store *st, void *ctx, struct fl_error *err)
{
	static const char *const del[] = {
		"DELETE FROM run_events WHERE run_id = $1",
		"DELETE FROM run_phases WHERE run_id = $1",
		"DELETE FROM run_failures WHERE run_id = $1",
		"DELETE FROM run_probes WHERE run_id = $1",
		"DELETE FROM run_lost_writes WHERE run_id = $1",
	};
	struct run_finish_tx *t = ctx;
	PGresult *r = fl_pg_exec(st,
				 "UPDATE runs SET (" RUN_WRITE_COLUMNS ") = (" RUN_VALUES
				 ") WHERE id = $27",
				 &t->q, err);
	if (!r)
		return -1;
	if (strcmp(PQcmdTuples(r), "1") != 0) {
		PQclear(r);
		return fl_error_set(err, FL_EXIT_ENV, "%s: run %" PRId64 " does not exist",
				    st->path, t->run->id);
	}
	PQclear(r);
	for (size_t i = 0; i < FL_ARRAY_LEN(del); i++)
		if (fl_pg_cmd(st, del[i], &t->qid, err))
			return -1;
	return insert_children(st, t->run, err);
}

/* Finished as written: the verdict and the duration are this write's
 * (the row said `running` before it, and a run is finished once). */
static int run_finish_committed(struct fl_store *st, void *ctx, int *done, struct fl_error *err)
{
	struct run_finish_tx *t = ctx;
	struct fl_pgq k;
	PGresult *r;
	fl_pgq_init(&k);
	fl_pgq_int(&k, t->run->id);
	fl_pgq_text(&k, t->q.v[8]);
	fl_pgq_text(&k, t->q.v[7]);
	r = fl_pg_exec(st,
		       "SELECT 1 FROM runs WHERE id = $1 AND verdict = $2 AND "
		       "duration_ms IS NOT DISTINCT FROM $3::double precision",
		       &k, err);
	if (!r)
		return -1;
	*done = PQntuples(r) == 1;
	PQclear(r);
	return 0;
}

int fl_pg_run_finish(struct fl_store *st, const struct fl_run *run, struct fl_error *err)
{
	static const struct fl_pg_tx tx = { .body = run_finish_body,
					    .committed = run_finish_committed };
	char started_at[48], host[256];
	struct run_finish_tx t = { .run = run };
	enum fl_verdict v;

	if (run->id <= 0)
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: cannot finish a run that was never begun", st->path);
	if (!run->scenario || !*run->scenario)
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: cannot record a run without a scenario name", st->path);
	if (fl_verdict_parse(run->verdict, &v) < 0)
		return fl_error_set(err, FL_EXIT_ENV, "%s: run %" PRId64 " has no valid verdict (%s)",
				    st->path, run->id, run->verdict ? run->verdict : "none");
	run_params(&t.q, run, run->verdict, started_at, sizeof(started_at), host, sizeof(host));
	fl_pgq_int(&t.q, run->id);
	fl_pgq_init(&t.qid);
	fl_pgq_int(&t.qid, run->id);
	return fl_pg_tx(st, &tx, &t, err);
}

/* ---- reading runs ---------------------------------------------------------------------- */

static int run_load_row(const PGresult *r, int i, struct fl_run *run)
{
	run->id = fl_pg_int(r, i, 0);
	if (fl_pg_text(r, i, 1, &run->scenario) || fl_pg_text(r, i, 2, &run->environment) ||
	    fl_pg_text(r, i, 3, &run->label) || fl_pg_text(r, i, 4, &run->asset) ||
	    fl_pg_text(r, i, 9, &run->verdict) || fl_pg_text(r, i, 22, &run->faultline_version) ||
	    fl_pg_text(r, i, 23, &run->host) || fl_pg_text(r, i, 25, &run->backup_last_good_type))
		return -1;
	run->backup_last_good_wall_ns = fl_pg_int(r, i, 24);
	run->asset_tier = (int)fl_pg_int(r, i, 5);
	run->started_wall_ns = fl_pg_int(r, i, 7);
	run->duration_ms = fl_pg_real(r, i, 8);
	run->rto_ms = fl_pg_real(r, i, 10);
	run->rto_uncertainty_ms = fl_pg_real(r, i, 11);
	run->rpo_ms = fl_pg_real(r, i, 12);
	run->rpo_uncertainty_ms = fl_pg_real(r, i, 13);
	run->ttv_ms = fl_pg_real(r, i, 14);
	run->rto_target_ms = fl_pg_real(r, i, 15);
	run->rpo_target_ms = fl_pg_real(r, i, 16);
	run->lost_before_fault = fl_pg_count(r, i, 17);
	run->lost_after_fault = fl_pg_count(r, i, 18);
	run->writes_acked = fl_pg_count(r, i, 19);
	run->writes_failed = fl_pg_count(r, i, 20);
	run->writes_indeterminate = fl_pg_count(r, i, 21);
	run->writes_failed_present = fl_pg_count(r, i, 26);
	return 0;
}

/* The child rows of a batch of runs: one statement per table for the whole
 * batch, each ordered by run and seq. Five round trips per batch, not five
 * per run: a report listing 150 runs made 750 of them, 0.13 s on loopback
 * (docs/bench.md, "Every group on one machine"). Column 0 is the run. */
#define CHILD_TABLES 5
struct run_children {
	PGresult *r[CHILD_TABLES];
};

static void children_clear(struct run_children *c)
{
	for (int k = 0; k < CHILD_TABLES; k++) {
		PQclear(c->r[k]);
		c->r[k] = NULL;
	}
}

static int children_fetch(struct fl_store *st, const int64_t *ids, int n, struct run_children *c,
			  struct fl_error *err)
{
	static const char *const sql[CHILD_TABLES] = {
		"SELECT run_id, name, t_ms, uncertainty_ms FROM run_events "
		"WHERE run_id = ANY($1::bigint[]) ORDER BY run_id, seq",
		"SELECT run_id, name, start_ms, end_ms FROM run_phases "
		"WHERE run_id = ANY($1::bigint[]) ORDER BY run_id, seq",
		"SELECT run_id, reason FROM run_failures "
		"WHERE run_id = ANY($1::bigint[]) ORDER BY run_id, seq",
		"SELECT run_id, name, kind, samples, failures, interval_ms, latency_p50_ms, "
		"latency_p99_ms, latency_max_ms, skipped, max_latency_ms FROM run_probes "
		"WHERE run_id = ANY($1::bigint[]) ORDER BY run_id, seq",
		"SELECT run_id, seq FROM run_lost_writes "
		"WHERE run_id = ANY($1::bigint[]) ORDER BY run_id, seq",
	};
	struct fl_buf list;
	struct fl_pgq q;
	int ret = 0;

	memset(c, 0, sizeof(*c));
	fl_buf_init(&list, 0);
	fl_buf_adds(&list, "{");
	for (int i = 0; i < n; i++)
		fl_buf_addf(&list, "%s%" PRId64, i ? "," : "", ids[i]);
	fl_buf_adds(&list, "}");
	if (list.failed) {
		fl_buf_release(&list);
		return fl_store_sql_oom(st, err);
	}
	fl_pgq_init(&q);
	fl_pgq_text(&q, list.buf);
	for (int k = 0; k < CHILD_TABLES && ret == 0; k++) {
		c->r[k] = fl_pg_exec(st, sql[k], &q, err);
		if (!c->r[k])
			ret = -1;
	}
	fl_buf_release(&list);
	if (ret)
		children_clear(c);
	return ret;
}

/* The first row of r whose run (column 0, ascending) is id, or the row
 * count when there is none. */
static int children_first(const PGresult *r, int64_t id)
{
	int lo = 0, hi = PQntuples(r);
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (fl_pg_int(r, mid, 0) < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int child_row(const PGresult *r, int i, int k, struct fl_run *run)
{
	const char *name = PQgetvalue(r, i, 1);
	struct fl_probe_summary p;
	switch (k) {
	case 0: return fl_run_add_event(run, name, fl_pg_real(r, i, 2), fl_pg_real(r, i, 3));
	case 1: return fl_run_add_phase(run, name, fl_pg_real(r, i, 2), fl_pg_real(r, i, 3));
	case 2: return fl_run_add_failure(run, "%s", name);
	case 3:
		p.name = FL_UNCONST(char *, name);
		p.kind = PQgetisnull(r, i, 2) ? NULL : FL_UNCONST(char *, PQgetvalue(r, i, 2));
		p.samples = fl_pg_count(r, i, 3);
		p.failures = fl_pg_count(r, i, 4);
		p.interval_ms = fl_pg_real(r, i, 5);
		p.latency_p50_ms = fl_pg_real(r, i, 6);
		p.latency_p99_ms = fl_pg_real(r, i, 7);
		p.latency_max_ms = fl_pg_real(r, i, 8);
		p.skipped = fl_pg_count(r, i, 9);
		p.max_latency_ms = fl_pg_real(r, i, 10);
		return fl_run_add_probe(run, &p);
	default: return fl_run_add_lost_seq(run, (long)fl_pg_int(r, i, 1));
	}
}

/* run's rows from a batch fetched by children_fetch. */
static int run_add_children(struct fl_store *st, const struct run_children *c, struct fl_run *run,
			    struct fl_error *err)
{
	for (int k = 0; k < CHILD_TABLES; k++) {
		int n = PQntuples(c->r[k]);
		for (int i = children_first(c->r[k], run->id);
		     i < n && fl_pg_int(c->r[k], i, 0) == run->id; i++)
			if (child_row(c->r[k], i, k, run))
				return fl_store_sql_oom(st, err);
	}
	return 0;
}

/* Walks the cursor fl_runs (declared by the caller) a batch at a time. */
static int runs_walk(struct fl_store *st, fl_run_fn fn, void *ctx, struct fl_error *err)
{
	struct fl_run run;
	int64_t ids[PG_FETCH];
	fl_run_init(&run);
	for (;;) {
		/* PG_FETCH rows: */
		PGresult *r = fl_pg_exec(st, "FETCH 512 FROM fl_runs", NULL, err);
		struct run_children c = { { NULL } };
		int n;
		if (!r)
			return -1;
		n = PQntuples(r) < PG_FETCH ? PQntuples(r) : PG_FETCH;
		for (int i = 0; i < n; i++)
			ids[i] = fl_pg_int(r, i, 0);
		if (n > 0 && children_fetch(st, ids, n, &c, err)) {
			PQclear(r);
			return -1;
		}
		for (int i = 0; i < n; i++) {
			int rc;
			if (run_load_row(r, i, &run)) {
				fl_run_release(&run);
				children_clear(&c);
				PQclear(r);
				return fl_store_sql_oom(st, err);
			}
			if (run_add_children(st, &c, &run, err)) {
				fl_run_release(&run);
				children_clear(&c);
				PQclear(r);
				return -1;
			}
			rc = fn(&run, ctx);
			fl_run_release(&run);
			if (rc) {
				children_clear(&c);
				PQclear(r);
				return rc;
			}
		}
		children_clear(&c);
		PQclear(r);
		if (n < PG_FETCH)
			return 0;
	}
}

int fl_pg_runs_each(struct fl_store *st, const struct fl_run_filter *f, fl_run_fn fn, void *ctx,
		    struct fl_error *err)
{
	struct fl_buf sql;
	struct fl_pgq q;
	char ph[16];
	int ret = -1, opened;

	fl_pgq_init(&q);
	fl_buf_init(&sql, 1024);
	fl_buf_adds(&sql, "DECLARE fl_runs NO SCROLL CURSOR FOR SELECT " RUN_READ_COLUMNS
			  " FROM runs WHERE 1 = 1");
	if (f && f->scenario) {
		fl_pgq_text(&q, f->scenario);
		snprintf(ph, sizeof(ph), "$%d", q.n);
		fl_buf_adds(&sql, " AND scenario = ");
		fl_buf_adds(&sql, ph);
	}
	if (f && f->label) {
		fl_pgq_text(&q, f->label);
		snprintf(ph, sizeof(ph), "$%d", q.n);
		fl_buf_adds(&sql, " AND label = ");
		fl_buf_adds(&sql, ph);
	}
	if (f && f->since_wall_ns) {
		fl_pgq_int(&q, f->since_wall_ns);
		snprintf(ph, sizeof(ph), "$%d", q.n);
		fl_buf_adds(&sql, " AND started_wall_ns >= ");
		fl_buf_adds(&sql, ph);
	}
	if (!f || !f->include_running)
		fl_buf_adds(&sql, " AND verdict <> 'running'");
	fl_buf_adds(&sql, " ORDER BY started_wall_ns DESC, id DESC");
	if (f && f->limit > 0) {
		fl_pgq_int(&q, f->limit);
		snprintf(ph, sizeof(ph), "$%d", q.n);
		fl_buf_adds(&sql, " LIMIT ");
		fl_buf_adds(&sql, ph);
	}
	if (sql.failed) {
		fl_buf_release(&sql);
		return fl_store_sql_oom(st, err);
	}
	opened = st->ops->read_begin(st, err);
	if (opened < 0)
		goto out;
	if (fl_pg_cmd(st, sql.buf, &q, err))
		goto end;
	ret = runs_walk(st, fn, ctx, err);
	if (ret >= 0 && fl_pg_cmd(st, "CLOSE fl_runs", NULL, err))
		ret = -1;
end:
	if (st->ops->read_end(st, opened, err) < 0)
		ret = -1;
out:
	fl_buf_release(&sql);
	return ret;
}

int fl_pg_run_get(struct fl_store *st, int64_t id, struct fl_run *run, struct fl_error *err)
{
	struct fl_pgq q;
	PGresult *r;
	int ret = -1, opened;

	fl_run_init(run);
	fl_pgq_init(&q);
	fl_pgq_int(&q, id);
	opened = st->ops->read_begin(st, err);
	if (opened < 0)
		return -1;
	r = fl_pg_exec(st, "SELECT " RUN_READ_COLUMNS " FROM runs WHERE id = $1", &q, err);
	if (!r)
		goto out;
	if (PQntuples(r) == 0)
		fl_error_set(err, FL_EXIT_INPUT, "%s: run %" PRId64 " not found", st->path, id);
	else if (run_load_row(r, 0, run))
		fl_store_sql_oom(st, err);
	else {
		struct run_children c;
		if (children_fetch(st, &id, 1, &c, err) == 0) {
			ret = run_add_children(st, &c, run, err);
			children_clear(&c);
		}
	}
	PQclear(r);
out:
	if (st->ops->read_end(st, opened, err) < 0)
		ret = -1;
	if (ret)
		fl_run_release(run);
	return ret;
}

int fl_pg_run_find(struct fl_store *st, const char *scenario, int64_t started_wall_ns,
		   const char *host, int64_t *id, int *running, struct fl_error *err)
{
	struct fl_pgq q;
	PGresult *r;
	int found;

	fl_pgq_init(&q);
	fl_pgq_text(&q, scenario);
	fl_pgq_int(&q, started_wall_ns);
	fl_pgq_text(&q, host);
	r = fl_pg_exec(st,
		       "SELECT id, verdict = 'running' FROM runs WHERE scenario = $1 "
		       "AND started_wall_ns = $2 AND host IS NOT DISTINCT FROM $3 ORDER BY id LIMIT 1",
		       &q, err);
	if (!r)
		return -1;
	found = PQntuples(r) > 0;
	if (found) {
		*id = fl_pg_int(r, 0, 0);
		*running = PQgetvalue(r, 0, 1)[0] == 't';
	}
	PQclear(r);
	return found;
}

struct run_abandon_tx {
	struct fl_pgq q, qid;
	int changed;
};

static int run_abandon_body(struct fl_store *st, void *ctx, struct fl_error *err)
{
	struct run_abandon_tx *t = ctx;
	PGresult *r =
		fl_pg_exec(st,
			   "UPDATE runs SET verdict = 'aborted' WHERE id = $1 AND verdict = 'running'",
			   &t->qid, err);
	if (!r)
		return -1;
	t->changed = strcmp(PQcmdTuples(r), "0") != 0;
	PQclear(r);
	if (t->changed && t->q.v[1] &&
	    fl_pg_cmd(st,
		      "INSERT INTO run_failures (run_id, seq, reason) VALUES ($1, "
		      "(SELECT coalesce(max(seq), -1) + 1 FROM run_failures WHERE run_id = $1), $2)",
		      &t->q, err))
		return -1;
	return 0;
}

/* Committed when the run is no longer running (the body only ever moves
 * running -> aborted; another runner's move counts as not ours). */
static int run_abandon_committed(struct fl_store *st, void *ctx, int *done, struct fl_error *err)
{
	struct run_abandon_tx *t = ctx;
	PGresult *r = fl_pg_exec(st, "SELECT verdict FROM runs WHERE id = $1", &t->qid, err);
	if (!r)
		return -1;
	*done = PQntuples(r) == 0 || strcmp(PQgetvalue(r, 0, 0), "running") != 0;
	if (*done && t->changed)
		t->changed = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "aborted") == 0;
	PQclear(r);
	return 0;
}

int fl_pg_run_abandon(struct fl_store *st, int64_t id, const char *reason, struct fl_error *err)
{
	static const struct fl_pg_tx tx = { .body = run_abandon_body,
					    .committed = run_abandon_committed };
	struct run_abandon_tx t = { .changed = 0 };

	fl_pgq_init(&t.qid);
	fl_pgq_int(&t.qid, id);
	fl_pgq_init(&t.q);
	fl_pgq_int(&t.q, id);
	fl_pgq_text(&t.q, reason);
	return fl_pg_tx(st, &tx, &t, err) ? -1 : t.changed;
}

/* A running run is orphaned when its owner is certainly dead: on this host
 * the kernel says so; on another, its lease has run out. */
int fl_pg_runs_orphaned(struct fl_store *st, int64_t **ids, size_t *n, struct fl_error *err)
{
	PGresult *r;
	int64_t *arr = NULL;
	size_t count = 0;

	*ids = NULL;
	*n = 0;
	r = fl_pg_exec(st,
		       "SELECT r.id, r.host, r.owner_pid, r.owner_start,"
		       " CASE WHEN o.lease_until IS NULL THEN 0"
		       "  WHEN o.lease_until > now() THEN 1 ELSE 2 END"
		       " FROM runs AS r LEFT JOIN faultline_owners AS o ON o.host = r.host"
		       " AND o.pid = r.owner_pid AND o.start = r.owner_start"
		       " WHERE r.verdict = 'running' ORDER BY r.id",
		       NULL, err);
	if (!r)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *host = PQgetisnull(r, i, 1) ? NULL : PQgetvalue(r, i, 1);
		int dead = fl_owner_alive_leased(host, (long)fl_pg_int(r, i, 2),
						 (unsigned long long)fl_pg_int(r, i, 3),
						 (int)fl_pg_int(r, i, 4)) == 0;
		int64_t *g;
		if (!dead)
			continue;
		g = fl_realloc(arr, (count + 1) * sizeof(*arr));
		if (!g) {
			PQclear(r);
			fl_free(arr);
			return fl_store_sql_oom(st, err);
		}
		arr = g;
		arr[count++] = fl_pg_int(r, i, 0);
	}
	PQclear(r);
	*ids = arr;
	*n = count;
	return 0;
}
