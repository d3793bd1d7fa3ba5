/*
 * store: opening the SQLite file, its schema and the numbered migrations.
 * See store.h; the run rows are written and read in store_runs.c, the
 * report queries are in store_query.c, the journal in journal.c.
 *
 * One connection per struct fl_store. The file is opened in WAL mode with
 * synchronous=FULL (a committed journal row is what lets `recover` revert
 * after a crash or a power cut, so it must be durable the moment the call
 * returns), foreign keys on, and a 15 s busy timeout. The schema version
 * lives in PRAGMA user_version and moves forward through the migrations[]
 * array, one transaction per step; a database newer than this build is
 * refused, never downgraded.
 */
#include "core/store.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/store_pg.h"
#include "core/store_sql.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- schema -----------------------------------------------------------------
 * migrations[v] takes a database from schema version v to v + 1. Append only:
 * an entry that has shipped is never edited, because databases in the field
 * have already run it. */
static const char *const migrations[] = {
	/* 0 -> 1: runs, their children, and the fault journal. */
	"CREATE TABLE runs ("
	"  id INTEGER PRIMARY KEY,"
	"  scenario TEXT NOT NULL,"
	"  environment TEXT,"
	"  label TEXT,"
	"  asset TEXT,"
	"  asset_tier INTEGER NOT NULL DEFAULT 0,"
	"  started_at TEXT NOT NULL," /* RFC 3339 UTC with ms */
	"  started_wall_ns INTEGER NOT NULL,"
	"  duration_ms REAL,"
	"  verdict TEXT NOT NULL,"
	"  rto_ms REAL, rto_uncertainty_ms REAL,"
	"  rpo_ms REAL, rpo_uncertainty_ms REAL,"
	"  ttv_ms REAL,"
	"  rto_target_ms REAL, rpo_target_ms REAL,"
	"  lost_before_fault INTEGER, lost_after_fault INTEGER,"
	"  writes_acked INTEGER, writes_failed INTEGER, writes_indeterminate INTEGER,"
	"  faultline_version TEXT,"
	"  host TEXT"
	");"
	"CREATE INDEX runs_scenario_started ON runs(scenario, started_wall_ns);"
	"CREATE INDEX runs_label ON runs(label);"
	"CREATE INDEX runs_started ON runs(started_wall_ns);"
	"CREATE TABLE run_events ("
	"  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	"  seq INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"
	"  t_ms REAL,"
	"  uncertainty_ms REAL,"
	"  PRIMARY KEY (run_id, seq)"
	") WITHOUT ROWID;"
	"CREATE TABLE run_phases ("
	"  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	"  seq INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"
	"  start_ms REAL,"
	"  end_ms REAL,"
	"  PRIMARY KEY (run_id, seq)"
	") WITHOUT ROWID;"
	"CREATE TABLE run_failures ("
	"  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	"  seq INTEGER NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  PRIMARY KEY (run_id, seq)"
	") WITHOUT ROWID;"
	"CREATE TABLE run_probes ("
	"  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	"  seq INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"
	"  kind TEXT,"
	"  samples INTEGER, failures INTEGER,"
	"  interval_ms REAL,"
	"  latency_p50_ms REAL, latency_p99_ms REAL, latency_max_ms REAL,"
	"  PRIMARY KEY (run_id, seq)"
	") WITHOUT ROWID;"
	"CREATE TABLE run_lost_writes ("
	"  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	"  seq INTEGER NOT NULL" /* the writer's sequence number */
	");"
	"CREATE INDEX run_lost_writes_run ON run_lost_writes(run_id, seq);"
	/* No cascade from runs: a journal row outlives anything, it is how an
	 * interrupted drill gets reverted. */
	"CREATE TABLE journal ("
	"  id INTEGER PRIMARY KEY,"
	"  run_id INTEGER REFERENCES runs(id),"
	"  created_at TEXT NOT NULL,"
	"  updated_at TEXT NOT NULL,"
	"  injector TEXT NOT NULL,"
	"  target TEXT,"
	"  description TEXT,"
	"  state TEXT NOT NULL CHECK (state IN ('pending','injected','reverted','revert_failed')),"
	"  revert TEXT," /* JSON */
	"  error TEXT"
	");"
	"CREATE INDEX journal_state ON journal(state, id);",
	/* 1 -> 2: who owns a journal row and a run, so that `recover` never
	 * reverts the faults of a drill that is still running (two drills may
	 * share one database), and can close the runs of a harness that died. */
	"ALTER TABLE journal ADD COLUMN owner_host TEXT;"
	"ALTER TABLE journal ADD COLUMN owner_pid INTEGER;"
	"ALTER TABLE journal ADD COLUMN owner_start INTEGER;"
	"ALTER TABLE runs ADD COLUMN owner_pid INTEGER;"
	"ALTER TABLE runs ADD COLUMN owner_start INTEGER;"
	/* The newest good backup of the asset when it was drilled (backup.c). */
	"ALTER TABLE runs ADD COLUMN backup_last_good_wall_ns INTEGER;"
	"ALTER TABLE runs ADD COLUMN backup_last_good_type TEXT;"
	"ALTER TABLE run_probes ADD COLUMN skipped INTEGER;"
	"CREATE INDEX runs_verdict ON runs(verdict);",
	/* 2 -> 3: the journal state 'armed' (a row committed ahead of the
	 * injection instant, journal.h). SQLite cannot change a CHECK in
	 * place: the table is rebuilt with the same columns and rows. */
	"CREATE TABLE journal_v3 ("
	"  id INTEGER PRIMARY KEY,"
	"  run_id INTEGER REFERENCES runs(id),"
	"  created_at TEXT NOT NULL,"
	"  updated_at TEXT NOT NULL,"
	"  injector TEXT NOT NULL,"
	"  target TEXT,"
	"  description TEXT,"
	"  state TEXT NOT NULL CHECK (state IN ('pending','injected','reverted','revert_failed',"
	"                                       'armed')),"
	"  revert TEXT,"
	"  error TEXT,"
	"  owner_host TEXT,"
	"  owner_pid INTEGER,"
	"  owner_start INTEGER"
	");"
	"INSERT INTO journal_v3 (id, run_id, created_at, updated_at, injector, target, description,"
	"  state, revert, error, owner_host, owner_pid, owner_start)"
	" SELECT id, run_id, created_at, updated_at, injector, target, description,"
	"  state, revert, error, owner_host, owner_pid, owner_start FROM journal;"
	"DROP TABLE journal;"
	"ALTER TABLE journal_v3 RENAME TO journal;"
	"CREATE INDEX journal_state ON journal(state, id);",
	/* 3 -> 4: writes the system answered as failed but that are present
	 * after recovery (the system lied about them; sim/timeline.c). */
	"ALTER TABLE runs ADD COLUMN writes_failed_present INTEGER;",
	/* 4 -> 5: the latency over which a probe's answer counted as failed. */
	"ALTER TABLE run_probes ADD COLUMN max_latency_ms REAL;",
	/* 5 -> 6: nothing here. PostgreSQL gets two covering indexes for the
	 * report's reads (store_pg.c); SQLite's indexes already end with the
	 * rowid, so runs_scenario_started gives the window's order as it is. */
	"-- PostgreSQL only",
};

_Static_assert(FL_ARRAY_LEN(migrations) == FL_STORE_SCHEMA_VERSION,
	       "one migration per schema version");

/* ---- opening and migrations ---------------------------------------------------- */

static int read_user_version(struct fl_store *st, int *v, struct fl_error *err)
{
	sqlite3_stmt *s = fl_store_prepare(st, "PRAGMA user_version", err);
	int rc;
	if (!s)
		return -1;
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		fl_store_sql_fail(st, err);
		sqlite3_finalize(s);
		return -1;
	}
	*v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return 0;
}

/* A version-0 file that already has tables belongs to some other program:
 * adding ours to it would be the wrong thing to do at 3 a.m. */
static int check_foreign_db(struct fl_store *st, struct fl_error *err)
{
	sqlite3_stmt *s = fl_store_prepare(st, "SELECT count(*) FROM sqlite_master", err);
	int rc, n;
	if (!s)
		return -1;
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		fl_store_sql_fail(st, err);
		sqlite3_finalize(s);
		return -1;
	}
	n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (n > 0)
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: not a faultline database (it has tables but no schema version)",
				    st->path);
	return 0;
}

static int store_migrate(struct fl_store *st, struct fl_error *err)
{
	char sql[64];
	int v;
	if (read_user_version(st, &v, err))
		return -1;
	while (v >= 0 && v < FL_STORE_SCHEMA_VERSION) {
		if (fl_store_tx_begin(st, err))
			return -1;
		/* Another process may have migrated while we waited for the lock. */
		if (read_user_version(st, &v, err))
			goto fail;
		if (v < 0 || v >= FL_STORE_SCHEMA_VERSION) {
			fl_store_tx_rollback(st);
			break;
		}
		if (v == 0 && check_foreign_db(st, err))
			goto fail;
		if (sqlite3_exec(st->db, migrations[v], NULL, NULL, NULL) != SQLITE_OK) {
			fl_error_set(err, FL_EXIT_ENV,
				     "%s: migration to schema version %d failed: %s", st->path,
				     v + 1, sqlite3_errmsg(st->db));
			goto fail;
		}
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
			fl_store_sql_fail(st, err);
			goto fail;
		}
		if (fl_store_tx_commit(st, err))
			return -1;
		v++;
	}
	if (v > FL_STORE_SCHEMA_VERSION)
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: schema version %d is newer than this faultline (%d); "
				    "upgrade faultline",
				    st->path, v, FL_STORE_SCHEMA_VERSION);
	if (v < 0)
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: schema version %d is not a faultline schema", st->path, v);
	st->version = v;
	return 0;
fail:
	fl_store_tx_rollback(st);
	return -1;
}

/* Creates the file ourselves so it is 0600 whatever the umask: it holds
 * hostnames, targets and revert commands. SQLite gives the -wal and -shm
 * files the database file's mode. An existing file keeps its mode. */
static int store_precreate(const char *path, struct fl_error *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	char msg[256];
	if (fd >= 0) {
		int rc = fchmod(fd, 0600);
		close(fd);
		if (rc == 0)
			return 0;
	} else if (errno == EEXIST) {
		return 0;
	}
	snprintf(msg, sizeof(msg), "%s", strerror(errno));
	if (msg[0] >= 'A' && msg[0] <= 'Z')
		msg[0] = (char)(msg[0] - 'A' + 'a');
	return fl_error_set(err, FL_EXIT_ENV, "%s: cannot create database: %s", path, msg);
}

static int store_configure(struct fl_store *st, struct fl_error *err)
{
	sqlite3_stmt *s = NULL;
	int64_t deadline = fl_now_ns() + FL_STORE_BUSY_TIMEOUT_MS * FL_NS_PER_MS;
	int rc, ret = -1;
	const char *mode;

	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, FL_STORE_BUSY_TIMEOUT_MS);
	/* Switching a new file to WAL takes an exclusive lock; racing openers
	 * of a brand-new database may see BUSY here. */
	for (;;) {
		rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
		if (rc == SQLITE_OK) {
			rc = sqlite3_step(s);
			if (rc == SQLITE_ROW)
				break;
		}
		if (!fl_store_sql_busy(rc) || fl_now_ns() >= deadline) {
			fl_store_sql_fail(st, err);
			goto out;
		}
		sqlite3_finalize(s);
		s = NULL;
		sqlite3_sleep(5);
	}
	mode = (const char *)sqlite3_column_text(s, 0);
	if (!mode) {
		fl_store_sql_oom(st, err);
		goto out;
	}
	if (strcmp(mode, "wal") && strcmp(st->path, ":memory:")) {
		fl_error_set(err, FL_EXIT_ENV,
			     "%s: cannot use write-ahead logging (journal mode stays %s)", st->path,
			     mode);
		goto out;
	}
	if (fl_store_exec(st, "PRAGMA synchronous = FULL", err) ||
	    fl_store_exec(st, "PRAGMA foreign_keys = ON", err))
		goto out;
	ret = 0;
out:
	sqlite3_finalize(s);
	return ret;
}

struct fl_store *fl_store_open(const char *path, struct fl_error *err)
{
	struct fl_store *st = NULL;
	int rc;

	fl_store_sql_setup();
	if (!path || !*path) {
		fl_error_set(err, FL_EXIT_INPUT, "faultline: no database path given");
		return NULL;
	}
	st = fl_calloc(1, sizeof(*st));
	if (!st || !(st->path = fl_strdup(path))) {
		fl_error_oom(err, "%s", path);
		goto fail;
	}
	if (fl_store_is_pg_url(path)) {
		fl_free(st->path);
		st->path = NULL;
		if (fl_store_pg_open(st, path, err))
			goto fail;
		return st;
	}
	if (strcmp(path, ":memory:") && store_precreate(path, err))
		goto fail;
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot open database: %s", path,
			     st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto fail;
	}
	if (store_configure(st, err) || store_migrate(st, err))
		goto fail;
	return st;
fail:
	fl_store_close(st);
	return NULL;
}

void fl_store_close(struct fl_store *st)
{
	if (!st)
		return;
	if (st->ops) {
		st->ops->close(st);
		return;
	}
	/* Every statement is finalized before its function returns, so close
	 * cannot be refused for busy statements. */
	sqlite3_close(st->db);
	fl_free(st->path);
	fl_free(st);
}

int fl_store_exists(const char *db)
{
	return db && (fl_store_is_pg_url(db) || access(db, F_OK) == 0);
}

int fl_store_schema_version(struct fl_store *st)
{
	return st->version;
}

int fl_store_unsafe_fast(struct fl_store *st, struct fl_error *err)
{
	if (st->ops)
		return st->ops->unsafe_fast(st, err);
	return fl_store_exec(st, "PRAGMA synchronous = OFF", err);
}
