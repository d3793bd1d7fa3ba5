/*
 * store_runs: writing a run's rows and reading them back. See store.h.
 *
 * A run is inserted "running" when the drill starts and rewritten (its
 * children replaced) when it ends, each in one BEGIN IMMEDIATE transaction:
 * a run is never half-written.
 */
#include "core/store.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/store_pg.h"
#include "core/store_sql.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Columns of runs in the order store_bind_run() binds them (?1..?25) and
 * run_load_row() reads them (after id, which is column 0 there). */
#define RUN_WRITE_COLUMNS                                                                          \
	"scenario, environment, label, asset, asset_tier, started_at, started_wall_ns, "           \
	"duration_ms, verdict, rto_ms, rto_uncertainty_ms, rpo_ms, rpo_uncertainty_ms, "           \
	"ttv_ms, rto_target_ms, rpo_target_ms, lost_before_fault, lost_after_fault, "              \
	"writes_acked, writes_failed, writes_indeterminate, faultline_version, host, "             \
	"backup_last_good_wall_ns, backup_last_good_type, writes_failed_present"
#define RUN_WRITE_COUNT 26
#define RUN_READ_COLUMNS "id, " RUN_WRITE_COLUMNS

/* ---- writing runs ---------------------------------------------------------------- */

/* Binds ?1..?26 in RUN_WRITE_COLUMNS order. The faultline version and host
 * default to this build and this machine: facts, not guesses. */
static int store_bind_run(sqlite3_stmt *s, const struct fl_run *run, const char *verdict)
{
	char started_at[48], host[256];
	const char *h = run->host;
	if (!h) {
		if (gethostname(host, sizeof(host)) == 0) {
			host[sizeof(host) - 1] = '\0';
			h = host;
		}
	}
	fl_rfc3339(run->started_wall_ns, started_at, sizeof(started_at));
	return fl_sql_bind_text(s, 1, run->scenario) || fl_sql_bind_text(s, 2, run->environment) ||
	       fl_sql_bind_text(s, 3, run->label) || fl_sql_bind_text(s, 4, run->asset) ||
	       sqlite3_bind_int(s, 5, run->asset_tier) || fl_sql_bind_text(s, 6, started_at) ||
	       sqlite3_bind_int64(s, 7, run->started_wall_ns) ||
	       fl_sql_bind_real(s, 8, run->duration_ms) || fl_sql_bind_text(s, 9, verdict) ||
	       fl_sql_bind_real(s, 10, run->rto_ms) ||
	       fl_sql_bind_real(s, 11, run->rto_uncertainty_ms) ||
	       fl_sql_bind_real(s, 12, run->rpo_ms) ||
	       fl_sql_bind_real(s, 13, run->rpo_uncertainty_ms) ||
	       fl_sql_bind_real(s, 14, run->ttv_ms) || fl_sql_bind_real(s, 15, run->rto_target_ms) ||
	       fl_sql_bind_real(s, 16, run->rpo_target_ms) ||
	       fl_sql_bind_count(s, 17, run->lost_before_fault) ||
	       fl_sql_bind_count(s, 18, run->lost_after_fault) ||
	       fl_sql_bind_count(s, 19, run->writes_acked) ||
	       fl_sql_bind_count(s, 20, run->writes_failed) ||
	       fl_sql_bind_count(s, 21, run->writes_indeterminate) ||
	       fl_sql_bind_text(s, 22,
				run->faultline_version ? run->faultline_version : FAULTLINE_VERSION) ||
	       fl_sql_bind_text(s, 23, h) ||
	       (run->backup_last_good_wall_ns > 0
			? sqlite3_bind_int64(s, 24, run->backup_last_good_wall_ns)
			: sqlite3_bind_null(s, 24)) ||
	       fl_sql_bind_text(s, 25, run->backup_last_good_type) ||
	       fl_sql_bind_count(s, 26, run->writes_failed_present);
}

int fl_store_run_begin(struct fl_store *st, struct fl_run *run, struct fl_error *err)
{
	sqlite3_stmt *s = NULL;
	int64_t id;
	int ret = -1;

	if (st->ops)
		return st->ops->run_begin(st, run, err);
	if (!run->scenario || !*run->scenario)
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: cannot record a run without a scenario name", st->path);
	if (run->started_wall_ns == 0)
		run->started_wall_ns = fl_wall_ns();
	if (fl_store_tx_begin(st, err))
		return -1;
	s = fl_store_prepare(st,
			     "INSERT INTO runs (" RUN_WRITE_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
			     "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, "
			     "?22, ?23, ?24, ?25, ?26)",
			     err);
	if (!s)
		goto out;
	if (store_bind_run(s, run, "running")) {
		fl_store_sql_fail(st, err);
		goto out;
	}
	if (fl_store_step_done(st, s, err))
		goto out;
	id = sqlite3_last_insert_rowid(st->db);
	sqlite3_finalize(s);
	/* The process that runs it: `recover` closes runs whose owner died. */
	s = fl_store_prepare(st, "UPDATE runs SET owner_pid = ?1, owner_start = ?2 WHERE id = ?3",
			     err);
	if (!s)
		goto out;
	{
		struct fl_owner me;
		fl_owner_self(&me);
		if (sqlite3_bind_int64(s, 1, me.pid) ||
		    sqlite3_bind_int64(s, 2, (sqlite3_int64)me.start) ||
		    sqlite3_bind_int64(s, 3, id)) {
			fl_store_sql_fail(st, err);
			goto out;
		}
	}
	if (fl_store_step_done(st, s, err))
		goto out;
	if (fl_store_tx_commit(st, err))
		goto out;
	run->id = id;
	ret = 0;
out:
	sqlite3_finalize(s);
	if (ret)
		fl_store_tx_rollback(st);
	return ret;
}

static int delete_children(struct fl_store *st, int64_t id, struct fl_error *err)
{
	static const char *const tables[] = { "run_events", "run_phases", "run_failures",
					      "run_probes", "run_lost_writes" };
	char sql[96];
	for (size_t i = 0; i < FL_ARRAY_LEN(tables); i++) {
		sqlite3_stmt *s;
		int rc;
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE run_id = ?1", tables[i]);
		s = fl_store_prepare(st, sql, err);
		if (!s)
			return -1;
		if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK) {
			fl_store_sql_fail(st, err);
			rc = -1;
		} else {
			rc = fl_store_step_done(st, s, err);
		}
		sqlite3_finalize(s);
		if (rc)
			return -1;
	}
	return 0;
}

/* One child table: its INSERT (?1 run id, ?2 position, then the row) and
 * the binder of row i of a run. */
struct child_table {
	const char *insert_sql;
	size_t (*count)(const struct fl_run *run);
	int (*bind)(sqlite3_stmt *s, const struct fl_run *run, size_t i);
};

static size_t events_n(const struct fl_run *run)
{
	return run->nevents;
}
static size_t phases_n(const struct fl_run *run)
{
	return run->nphases;
}
static size_t failures_n(const struct fl_run *run)
{
	return run->nfailures;
}
static size_t probes_n(const struct fl_run *run)
{
	return run->nprobes;
}
static size_t lost_n(const struct fl_run *run)
{
	return run->nlost_seqs;
}

static int event_bind(sqlite3_stmt *s, const struct fl_run *run, size_t i)
{
	const struct fl_run_event *e = &run->events[i];
	return fl_sql_bind_text(s, 3, e->name) || fl_sql_bind_real(s, 4, e->t_ms) ||
	       fl_sql_bind_real(s, 5, e->uncertainty_ms);
}

static int phase_bind(sqlite3_stmt *s, const struct fl_run *run, size_t i)
{
	const struct fl_run_phase *p = &run->phases[i];
	return fl_sql_bind_text(s, 3, p->name) || fl_sql_bind_real(s, 4, p->start_ms) ||
	       fl_sql_bind_real(s, 5, p->end_ms);
}

static int failure_bind(sqlite3_stmt *s, const struct fl_run *run, size_t i)
{
	return fl_sql_bind_text(s, 3, run->failures[i]);
}

static int probe_bind(sqlite3_stmt *s, const struct fl_run *run, size_t i)
{
	const struct fl_probe_summary *p = &run->probes[i];
	return fl_sql_bind_text(s, 3, p->name) || fl_sql_bind_text(s, 4, p->kind) ||
	       fl_sql_bind_count(s, 5, p->samples) || fl_sql_bind_count(s, 6, p->failures) ||
	       fl_sql_bind_real(s, 7, p->interval_ms) || fl_sql_bind_real(s, 8, p->latency_p50_ms) ||
	       fl_sql_bind_real(s, 9, p->latency_p99_ms) ||
	       fl_sql_bind_real(s, 10, p->latency_max_ms) || fl_sql_bind_count(s, 11, p->skipped) ||
	       fl_sql_bind_real(s, 12, p->max_latency_ms > 0 ? p->max_latency_ms : NAN);
}

/* run_lost_writes has no position column: ?2 is the writer's sequence number. */
static int lost_bind(sqlite3_stmt *s, const struct fl_run *run, size_t i)
{
	return sqlite3_bind_int64(s, 2, run->lost_seqs[i]);
}

static const struct child_table child_tables[] = {
	{ "INSERT INTO run_events (run_id, seq, name, t_ms, uncertainty_ms) "
	  "VALUES (?1, ?2, ?3, ?4, ?5)",
	  events_n, event_bind },
	{ "INSERT INTO run_phases (run_id, seq, name, start_ms, end_ms) "
	  "VALUES (?1, ?2, ?3, ?4, ?5)",
	  phases_n, phase_bind },
	{ "INSERT INTO run_failures (run_id, seq, reason) VALUES (?1, ?2, ?3)", failures_n,
	  failure_bind },
	{ "INSERT INTO run_probes (run_id, seq, name, kind, samples, failures, "
	  "interval_ms, latency_p50_ms, latency_p99_ms, latency_max_ms, skipped, max_latency_ms) "
	  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	  probes_n, probe_bind },
	{ "INSERT INTO run_lost_writes (run_id, seq) VALUES (?1, ?2)", lost_n, lost_bind },
};

static int insert_children(struct fl_store *st, const struct fl_run *run, struct fl_error *err)
{
	for (size_t t = 0; t < FL_ARRAY_LEN(child_tables); t++) {
		const struct child_table *ct = &child_tables[t];
		size_t n = ct->count(run);
		sqlite3_stmt *s;
		int rc = 0;
		if (n == 0)
			continue;
		s = fl_store_prepare(st, ct->insert_sql, err);
		if (!s)
			return -1;
		for (size_t i = 0; i < n && rc == 0; i++) {
			if (sqlite3_bind_int64(s, 1, run->id) ||
			    sqlite3_bind_int64(s, 2, (int64_t)i) || ct->bind(s, run, i))
				rc = fl_store_sql_fail(st, err);
			else
				rc = fl_store_step_done(st, s, err);
		}
		sqlite3_finalize(s);
		if (rc)
			return -1;
	}
	return 0;
}

int fl_store_run_finish(struct fl_store *st, const struct fl_run *run, struct fl_error *err)
{
	sqlite3_stmt *s = NULL;
	int ret = -1;

	if (st->ops)
		return st->ops->run_finish(st, run, err);
	if (run->id <= 0)
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: cannot finish a run that was never begun", st->path);
	if (!run->scenario || !*run->scenario)
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: cannot record a run without a scenario name", st->path);
	enum fl_verdict v;
	if (fl_verdict_parse(run->verdict, &v) < 0)
		return fl_error_set(err, FL_EXIT_ENV, "%s: run %" PRId64 " has no valid verdict (%s)",
				    st->path, run->id, run->verdict ? run->verdict : "none");
	if (fl_store_tx_begin(st, err))
		return -1;
	s = fl_store_prepare(st,
			     "UPDATE runs SET (" RUN_WRITE_COLUMNS ") = (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
			     "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, "
			     "?23, ?24, ?25, ?26) WHERE id = ?27",
			     err);
	if (!s)
		goto out;
	if (store_bind_run(s, run, run->verdict) || sqlite3_bind_int64(s, 27, run->id)) {
		fl_store_sql_fail(st, err);
		goto out;
	}
	if (fl_store_step_done(st, s, err))
		goto out;
	if (sqlite3_changes(st->db) != 1) {
		fl_error_set(err, FL_EXIT_ENV, "%s: run %" PRId64 " does not exist", st->path,
			     run->id);
		goto out;
	}
	/* Replace, not append: a run finished twice (a checkpoint, then the
	 * end) holds only what the last call said. */
	if (delete_children(st, run->id, err) || insert_children(st, run, err))
		goto out;
	if (fl_store_tx_commit(st, err))
		goto out;
	ret = 0;
out:
	sqlite3_finalize(s);
	if (ret)
		fl_store_tx_rollback(st);
	return ret;
}

/* ---- reading runs ------------------------------------------------------------------ */

/* Loads one row selected with RUN_READ_COLUMNS into a freshly inited run. */
static int run_load_row(struct fl_store *st, sqlite3_stmt *s, struct fl_run *run, struct fl_error *err)
{
	run->id = sqlite3_column_int64(s, 0);
	if (fl_sql_col_text(s, 1, &run->scenario) || fl_sql_col_text(s, 2, &run->environment) ||
	    fl_sql_col_text(s, 3, &run->label) || fl_sql_col_text(s, 4, &run->asset) ||
	    fl_sql_col_text(s, 9, &run->verdict) ||
	    fl_sql_col_text(s, 22, &run->faultline_version) || fl_sql_col_text(s, 23, &run->host) ||
	    fl_sql_col_text(s, 25, &run->backup_last_good_type))
		return fl_store_sql_oom(st, err);
	run->backup_last_good_wall_ns =
		sqlite3_column_type(s, 24) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, 24);
	run->asset_tier = sqlite3_column_int(s, 5);
	/* column 6 is started_at, derived from started_wall_ns */
	run->started_wall_ns = sqlite3_column_int64(s, 7);
	run->duration_ms = fl_sql_col_real(s, 8);
	run->rto_ms = fl_sql_col_real(s, 10);
	run->rto_uncertainty_ms = fl_sql_col_real(s, 11);
	run->rpo_ms = fl_sql_col_real(s, 12);
	run->rpo_uncertainty_ms = fl_sql_col_real(s, 13);
	run->ttv_ms = fl_sql_col_real(s, 14);
	run->rto_target_ms = fl_sql_col_real(s, 15);
	run->rpo_target_ms = fl_sql_col_real(s, 16);
	run->lost_before_fault = fl_sql_col_count(s, 17);
	run->lost_after_fault = fl_sql_col_count(s, 18);
	run->writes_acked = fl_sql_col_count(s, 19);
	run->writes_failed = fl_sql_col_count(s, 20);
	run->writes_indeterminate = fl_sql_col_count(s, 21);
	run->writes_failed_present = fl_sql_col_count(s, 26);
	return 0;
}

enum child_kind { CHILD_EVENTS, CHILD_PHASES, CHILD_FAILURES, CHILD_PROBES, CHILD_LOST };

static int load_child_row(sqlite3_stmt *s, enum child_kind kind, struct fl_run *run)
{
	const char *name = (const char *)sqlite3_column_text(s, 0);
	struct fl_probe_summary p;

	switch (kind) {
	case CHILD_EVENTS:
		return name ? fl_run_add_event(run, name, fl_sql_col_real(s, 1),
					       fl_sql_col_real(s, 2))
			    : -1;
	case CHILD_PHASES:
		return name ? fl_run_add_phase(run, name, fl_sql_col_real(s, 1),
					       fl_sql_col_real(s, 2))
			    : -1;
	case CHILD_FAILURES: return name ? fl_run_add_failure(run, "%s", name) : -1;
	case CHILD_PROBES:
		if (!name)
			return -1;
		p.name = FL_UNCONST(char *, name);
		p.kind = FL_UNCONST(char *, sqlite3_column_text(s, 1));
		if (!p.kind && sqlite3_column_type(s, 1) != SQLITE_NULL)
			return -1;
		p.samples = fl_sql_col_count(s, 2);
		p.failures = fl_sql_col_count(s, 3);
		p.interval_ms = fl_sql_col_real(s, 4);
		p.latency_p50_ms = fl_sql_col_real(s, 5);
		p.latency_p99_ms = fl_sql_col_real(s, 6);
		p.latency_max_ms = fl_sql_col_real(s, 7);
		p.skipped = fl_sql_col_count(s, 8);
		p.max_latency_ms = fl_sql_col_real(s, 9);
		return fl_run_add_probe(run, &p);
	case CHILD_LOST: return fl_run_add_lost_seq(run, (long)sqlite3_column_int64(s, 0));
	}
	return -1;
}

static int run_load_children(struct fl_store *st, struct fl_run *run, struct fl_error *err)
{
	static const char *const sql[] = {
		[CHILD_EVENTS] = "SELECT name, t_ms, uncertainty_ms FROM run_events "
				 "WHERE run_id = ?1 ORDER BY seq",
		[CHILD_PHASES] = "SELECT name, start_ms, end_ms FROM run_phases "
				 "WHERE run_id = ?1 ORDER BY seq",
		[CHILD_FAILURES] = "SELECT reason FROM run_failures WHERE run_id = ?1 ORDER BY seq",
		[CHILD_PROBES] =
			"SELECT name, kind, samples, failures, interval_ms, "
			"latency_p50_ms, latency_p99_ms, latency_max_ms, skipped, max_latency_ms "
			"FROM run_probes "
			"WHERE run_id = ?1 ORDER BY seq",
		[CHILD_LOST] = "SELECT seq FROM run_lost_writes WHERE run_id = ?1 ORDER BY seq",
	};
	for (size_t k = 0; k < FL_ARRAY_LEN(sql); k++) {
		sqlite3_stmt *s = fl_store_prepare(st, sql[k], err);
		int rc;
		if (!s)
			return -1;
		if (sqlite3_bind_int64(s, 1, run->id) != SQLITE_OK) {
			fl_store_sql_fail(st, err);
			sqlite3_finalize(s);
			return -1;
		}
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			if (load_child_row(s, (enum child_kind)k, run)) {
				fl_store_sql_oom(st, err);
				sqlite3_finalize(s);
				return -1;
			}
		}
		if (rc != SQLITE_DONE) {
			fl_store_sql_fail(st, err);
			sqlite3_finalize(s);
			return -1;
		}
		sqlite3_finalize(s);
	}
	return 0;
}

int fl_store_runs_each(struct fl_store *st, const struct fl_run_filter *f, fl_run_fn fn, void *ctx,
		       struct fl_error *err)
{
	struct fl_buf sql;
	sqlite3_stmt *s = NULL;
	struct fl_run run;
	int ret = -1, rc, idx = 1, opened = 0;

	if (st->ops)
		return st->ops->runs_each(st, f, fn, ctx, err);
	fl_run_init(&run);
	fl_buf_init(&sql, 4096);
	fl_buf_adds(&sql, "SELECT " RUN_READ_COLUMNS " FROM runs WHERE 1 = 1");
	if (f && f->scenario)
		fl_buf_adds(&sql, " AND scenario = ?");
	if (f && f->label)
		fl_buf_adds(&sql, " AND label = ?");
	if (f && f->since_wall_ns)
		fl_buf_adds(&sql, " AND started_wall_ns >= ?");
	if (!f || !f->include_running)
		fl_buf_adds(&sql, " AND verdict <> 'running'");
	fl_buf_adds(&sql, " ORDER BY started_wall_ns DESC, id DESC");
	if (f && f->limit > 0)
		fl_buf_adds(&sql, " LIMIT ?");
	if (sql.failed) {
		fl_store_sql_oom(st, err);
		goto out;
	}
	opened = fl_store_read_begin(st, err);
	if (opened < 0)
		goto out;
	s = fl_store_prepare(st, sql.buf, err);
	if (!s)
		goto out;
	if ((f && f->scenario && fl_sql_bind_text(s, idx++, f->scenario)) ||
	    (f && f->label && fl_sql_bind_text(s, idx++, f->label)) ||
	    (f && f->since_wall_ns && sqlite3_bind_int64(s, idx++, f->since_wall_ns)) ||
	    (f && f->limit > 0 && sqlite3_bind_int64(s, idx++, f->limit))) {
		fl_store_sql_fail(st, err);
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int r;
		if (run_load_row(st, s, &run, err) || run_load_children(st, &run, err))
			goto out;
		r = fn(&run, ctx);
		fl_run_release(&run);
		if (r) {
			ret = r;
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		fl_store_sql_fail(st, err);
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(s);
	if (fl_store_read_end(st, opened, err) < 0)
		ret = -1;
	fl_run_release(&run);
	fl_buf_release(&sql);
	return ret;
}

int fl_store_run_get(struct fl_store *st, int64_t id, struct fl_run *run, struct fl_error *err)
{
	sqlite3_stmt *s = NULL;
	int ret = -1, rc, opened;

	if (st->ops)
		return st->ops->run_get(st, id, run, err);
	fl_run_init(run);
	opened = fl_store_read_begin(st, err);
	if (opened < 0)
		return -1;
	s = fl_store_prepare(st, "SELECT " RUN_READ_COLUMNS " FROM runs WHERE id = ?1", err);
	if (!s)
		goto out;
	if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK) {
		fl_store_sql_fail(st, err);
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		fl_error_set(err, FL_EXIT_INPUT, "%s: run %" PRId64 " not found", st->path, id);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		fl_store_sql_fail(st, err);
		goto out;
	}
	if (run_load_row(st, s, run, err) || run_load_children(st, run, err))
		goto out;
	ret = 0;
out:
	sqlite3_finalize(s);
	if (fl_store_read_end(st, opened, err) < 0)
		ret = -1;
	if (ret)
		fl_run_release(run);
	return ret;
}


int fl_store_run_find(struct fl_store *st, const char *scenario, int64_t started_wall_ns,
		      const char *host, int64_t *id, int *running, struct fl_error *err)
{
	sqlite3_stmt *s;
	int rc;

	if (st->ops)
		return st->ops->run_find(st, scenario, started_wall_ns, host, id, running, err);
	s = fl_store_prepare(st,
			     "SELECT id, verdict = 'running' FROM runs WHERE scenario = ?1 "
			     "AND started_wall_ns = ?2 AND host IS ?3 ORDER BY id LIMIT 1",
			     err);
	if (!s)
		return -1;
	if (fl_sql_bind_text(s, 1, scenario) || sqlite3_bind_int64(s, 2, started_wall_ns) ||
	    fl_sql_bind_text(s, 3, host)) {
		fl_store_sql_fail(st, err);
		sqlite3_finalize(s);
		return -1;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(s, 0);
		*running = sqlite3_column_int(s, 1);
	} else if (rc != SQLITE_DONE) {
		fl_store_sql_fail(st, err);
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW;
}

int fl_store_run_abandon(struct fl_store *st, int64_t id, const char *reason, struct fl_error *err)
{
	sqlite3_stmt *s = NULL;
	int ret = -1, changed = 0;
	if (st->ops)
		return st->ops->run_abandon(st, id, reason, err);
	if (fl_store_tx_begin(st, err))
		return -1;
	s = fl_store_prepare(st,
			     "UPDATE runs SET verdict = 'aborted' WHERE id = ?1 AND verdict = 'running'",
			     err);
	if (!s || sqlite3_bind_int64(s, 1, id) != SQLITE_OK) {
		if (s)
			fl_store_sql_fail(st, err);
		goto out;
	}
	if (fl_store_step_done(st, s, err))
		goto out;
	changed = sqlite3_changes(st->db) > 0;
	sqlite3_finalize(s);
	s = NULL;
	if (changed && reason) {
		s = fl_store_prepare(st,
				     "INSERT INTO run_failures (run_id, seq, reason) VALUES (?1, "
				     "(SELECT coalesce(max(seq), -1) + 1 FROM run_failures WHERE run_id = ?1), ?2)",
				     err);
		if (!s || sqlite3_bind_int64(s, 1, id) != SQLITE_OK ||
		    fl_sql_bind_text(s, 2, reason)) {
			if (s)
				fl_store_sql_fail(st, err);
			goto out;
		}
		if (fl_store_step_done(st, s, err))
			goto out;
	}
	if (fl_store_tx_commit(st, err))
		goto out;
	ret = changed;
out:
	sqlite3_finalize(s);
	if (ret < 0)
		fl_store_tx_rollback(st);
	return ret;
}

int fl_store_runs_orphaned(struct fl_store *st, int64_t **ids, size_t *n, struct fl_error *err)
{
	sqlite3_stmt *s;
	int64_t *arr = NULL;
	size_t count = 0;
	int rc;
	if (st->ops)
		return st->ops->runs_orphaned(st, ids, n, err);
	*ids = NULL;
	*n = 0;
	s = fl_store_prepare(st,
			     "SELECT id, host, owner_pid, owner_start FROM runs "
			     "WHERE verdict = 'running' ORDER BY id",
			     err);
	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *host = (const char *)sqlite3_column_text(s, 1);
		long pid = (long)sqlite3_column_int64(s, 2);
		unsigned long long start = (unsigned long long)sqlite3_column_int64(s, 3);
		int64_t *g;
		if (fl_owner_alive(host, pid, start) != 0)
			continue; /* alive, or not ours to judge */
		g = fl_realloc(arr, (count + 1) * sizeof(*arr));
		if (!g) {
			sqlite3_finalize(s);
			fl_free(arr);
			return fl_store_sql_oom(st, err);
		}
		arr = g;
		arr[count++] = sqlite3_column_int64(s, 0);
	}
	if (rc != SQLITE_DONE) {
		fl_store_sql_fail(st, err);
		sqlite3_finalize(s);
		fl_free(arr);
		return -1;
	}
	sqlite3_finalize(s);
	*ids = arr;
	*n = count;
	return 0;
}
