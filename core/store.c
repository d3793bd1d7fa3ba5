/*
 * store: the SQLite file that holds every run and the fault journal.
 *
 * One connection per struct fl_store. The file is opened in WAL mode with
 * synchronous=FULL (a committed journal row is what lets `recover` revert
 * after a crash or a power cut, so it must be durable the moment the call
 * returns), foreign keys on, and a 15 s busy timeout; every write is a
 * BEGIN IMMEDIATE transaction so concurrent `faultline run` processes queue
 * for the write lock instead of failing half-way. The schema version lives
 * in PRAGMA user_version and moves forward through the migrations[] array,
 * one transaction per step; a database newer than this build is refused,
 * never downgraded. SQLite's own allocations are routed through fl_malloc so
 * the allocation-failure tests reach SQLite's out-of-memory paths too.
 *
 * Figures that do not apply travel as NAN / -1 in memory, NULL in SQL and
 * null in JSON: nothing is invented on the way through.
 */
#include "core/store.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/proc.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_BUSY_TIMEOUT_MS 15000

struct fl_store {
	sqlite3 *db;
	char *path;
	int version;
};

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
	"  started_at TEXT NOT NULL,"           /* RFC 3339 UTC with ms */
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
	"  seq INTEGER NOT NULL"                /* the writer's sequence number */
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
	"  revert TEXT,"                         /* JSON */
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
	/* 2 -> 3: the latency over which a probe's answer counted as failed. */
	"ALTER TABLE run_probes ADD COLUMN max_latency_ms REAL;",
};

_Static_assert(FL_ARRAY_LEN(migrations) == FL_STORE_SCHEMA_VERSION,
	       "one migration per schema version");

/* Columns of runs in the order store_bind_run() binds them (?1..?25) and
 * run_load_row() reads them (after id, which is column 0 there). */
#define RUN_WRITE_COLUMNS                                                              \
	"scenario, environment, label, asset, asset_tier, started_at, started_wall_ns, " \
	"duration_ms, verdict, rto_ms, rto_uncertainty_ms, rpo_ms, rpo_uncertainty_ms, "  \
	"ttv_ms, rto_target_ms, rpo_target_ms, lost_before_fault, lost_after_fault, "      \
	"writes_acked, writes_failed, writes_indeterminate, faultline_version, host, "     \
	"backup_last_good_wall_ns, backup_last_good_type"
#define RUN_WRITE_COUNT 25
#define RUN_READ_COLUMNS "id, " RUN_WRITE_COLUMNS

static const char *const run_verdicts[] = { "running", "pass", "fail", "error", "aborted" };
static const char *const journal_states[] = { "pending", "injected", "reverted",
					      "revert_failed" };

/* ---- SQLite allocator ------------------------------------------------------ */

static void *sq_malloc(int n)
{
	return n < 0 ? NULL : fl_malloc((size_t)n);
}

static void sq_free(void *p)
{
	fl_free(p);
}

static void *sq_realloc(void *p, int n)
{
	return n < 0 ? NULL : fl_realloc(p, (size_t)n);
}

static int sq_size(void *p)
{
	return p ? (int)malloc_usable_size(p) : 0;
}

static int sq_roundup(int n)
{
	return (n + 7) & ~7;
}

static int sq_init(void *data)
{
	(void)data;
	return SQLITE_OK;
}

static void sq_shutdown(void *data)
{
	(void)data;
}

static const sqlite3_mem_methods sq_mem = {
	sq_malloc, sq_free, sq_realloc, sq_size, sq_roundup, sq_init, sq_shutdown, NULL,
};

static pthread_once_t sq_once = PTHREAD_ONCE_INIT;

static void sq_setup(void)
{
	/* SQLITE_MISUSE when some other code initialised SQLite first: it then
	 * keeps its own allocator, which only makes fault injection coarser. */
	(void)sqlite3_config(SQLITE_CONFIG_MALLOC, &sq_mem);
}

/* ---- small helpers ----------------------------------------------------------- */

static int db_fail(struct fl_store *st, struct fl_error *err)
{
	return fl_error_set(err, FL_EXIT_ENV, "%s: %s", st->path,
			    st->db ? sqlite3_errmsg(st->db) : "out of memory");
}

static int oom_fail(struct fl_store *st, struct fl_error *err)
{
	return fl_error_oom(err, "%s", st->path);
}

static int rc_is_busy(int rc)
{
	return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/* Runs sql, retrying while the database is busy. The busy handler already
 * waits, but a few paths (WAL recovery, a lock held across our own retry)
 * return SQLITE_BUSY without calling it, so a bounded loop backs it up. */
static int exec_retry(struct fl_store *st, const char *sql, struct fl_error *err)
{
	int64_t deadline = fl_now_ns() + STORE_BUSY_TIMEOUT_MS * FL_NS_PER_MS;
	for (;;) {
		int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			return 0;
		if (!rc_is_busy(rc) || fl_now_ns() >= deadline)
			return db_fail(st, err);
		sqlite3_sleep(5);
	}
}

static void tx_rollback(struct fl_store *st)
{
	if (st->db && !sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

static int tx_begin(struct fl_store *st, struct fl_error *err)
{
	return exec_retry(st, "BEGIN IMMEDIATE", err);
}

/* Commits, or rolls back and reports why: after a failed COMMIT nothing of
 * the transaction is in the file (SQLITE_FULL included). */
static int tx_commit(struct fl_store *st, struct fl_error *err)
{
	if (exec_retry(st, "COMMIT", err) == 0)
		return 0;
	tx_rollback(st);
	return -1;
}

static sqlite3_stmt *stmt_prepare(struct fl_store *st, const char *sql, struct fl_error *err)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		db_fail(st, err);
		sqlite3_finalize(s);
		return NULL;
	}
	return s;
}

/* Steps a statement that returns no rows and resets it for the next use. */
static int stmt_done(struct fl_store *st, sqlite3_stmt *s, struct fl_error *err)
{
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		db_fail(st, err);
		sqlite3_reset(s);
		return -1;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return 0;
}

static int bind_text(sqlite3_stmt *s, int i, const char *v)
{
	return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

/* NAN (and infinities, which no figure can honestly be) become NULL. */
static int bind_real(sqlite3_stmt *s, int i, double v)
{
	return isfinite(v) ? sqlite3_bind_double(s, i, v) : sqlite3_bind_null(s, i);
}

/* Negative counts mean "not measured" and become NULL. */
static int bind_count(sqlite3_stmt *s, int i, long v)
{
	return v >= 0 ? sqlite3_bind_int64(s, i, v) : sqlite3_bind_null(s, i);
}

static double col_real(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

static long col_count(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? -1 : (long)sqlite3_column_int64(s, i);
}

/* A new copy of a text column in *out (NULL for SQL NULL); -1 when out of memory. */
static int col_text(sqlite3_stmt *s, int i, char **out)
{
	const unsigned char *t;
	*out = NULL;
	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return 0;
	t = sqlite3_column_text(s, i);
	if (!t)
		return -1;
	*out = fl_strdup((const char *)t);
	return *out ? 0 : -1;
}

static char *dup_or_null(const char *s, int *failed)
{
	char *d;
	if (!s)
		return NULL;
	d = fl_strdup(s);
	if (!d)
		*failed = 1;
	return d;
}

static int verdict_known(const char *v)
{
	for (size_t i = 0; v && i < FL_ARRAY_LEN(run_verdicts); i++)
		if (!strcmp(v, run_verdicts[i]))
			return 1;
	return 0;
}

/* ---- runs in memory ---------------------------------------------------------- */

void fl_run_init(struct fl_run *run)
{
	memset(run, 0, sizeof(*run));
	run->duration_ms = NAN;
	run->rto_ms = run->rto_uncertainty_ms = NAN;
	run->rpo_ms = run->rpo_uncertainty_ms = NAN;
	run->ttv_ms = NAN;
	run->rto_target_ms = run->rpo_target_ms = NAN;
	run->lost_before_fault = run->lost_after_fault = -1;
	run->writes_acked = run->writes_failed = run->writes_indeterminate = -1;
}

void fl_run_release(struct fl_run *run)
{
	if (!run)
		return;
	fl_free(run->scenario);
	fl_free(run->environment);
	fl_free(run->label);
	fl_free(run->asset);
	fl_free(run->verdict);
	fl_free(run->lost_seqs);
	for (size_t i = 0; i < run->nevents; i++)
		fl_free(run->events[i].name);
	fl_free(run->events);
	for (size_t i = 0; i < run->nphases; i++)
		fl_free(run->phases[i].name);
	fl_free(run->phases);
	for (size_t i = 0; i < run->nprobes; i++) {
		fl_free(run->probes[i].name);
		fl_free(run->probes[i].kind);
	}
	fl_free(run->probes);
	for (size_t i = 0; i < run->nfailures; i++)
		fl_free(run->failures[i]);
	fl_free(run->failures);
	fl_free(run->faultline_version);
	fl_free(run->host);
	fl_free(run->backup_last_good_type);
	fl_run_init(run);
}

/* Grows *arr (of n elements of size sz) by one; the new slot is zeroed. */
static void *array_grow(void *arr, size_t n, size_t sz)
{
	char *p;
	if (n >= SIZE_MAX / sz - 1)
		return NULL;
	p = fl_realloc(arr, (n + 1) * sz);
	if (p)
		memset(p + n * sz, 0, sz);
	return p;
}

int fl_run_add_event(struct fl_run *run, const char *name, double t_ms, double unc_ms)
{
	struct fl_run_event *ev;
	char *copy;
	if (!name || !(copy = fl_strdup(name)))
		return -1;
	ev = array_grow(run->events, run->nevents, sizeof(*ev));
	if (!ev) {
		fl_free(copy);
		return -1;
	}
	run->events = ev;
	ev[run->nevents].name = copy;
	ev[run->nevents].t_ms = t_ms;
	ev[run->nevents].uncertainty_ms = unc_ms;
	run->nevents++;
	return 0;
}

int fl_run_add_phase(struct fl_run *run, const char *name, double start_ms, double end_ms)
{
	struct fl_run_phase *ph;
	char *copy;
	if (!name || !(copy = fl_strdup(name)))
		return -1;
	ph = array_grow(run->phases, run->nphases, sizeof(*ph));
	if (!ph) {
		fl_free(copy);
		return -1;
	}
	run->phases = ph;
	ph[run->nphases].name = copy;
	ph[run->nphases].start_ms = start_ms;
	ph[run->nphases].end_ms = end_ms;
	run->nphases++;
	return 0;
}

int fl_run_add_failure(struct fl_run *run, const char *fmt, ...)
{
	struct fl_buf b;
	char **arr;
	char *reason;
	va_list ap;
	fl_buf_init(&b, 0);
	va_start(ap, fmt);
	fl_buf_addvf(&b, fmt, ap);
	va_end(ap);
	if (b.failed) {
		fl_buf_release(&b);
		return -1;
	}
	reason = fl_buf_detach(&b);
	if (!reason)
		return -1;
	/* Reasons are one line each: reports and `runs` print them as such. */
	for (char *p = reason; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	arr = array_grow(run->failures, run->nfailures, sizeof(*arr));
	if (!arr) {
		fl_free(reason);
		return -1;
	}
	run->failures = arr;
	arr[run->nfailures++] = reason;
	return 0;
}

int fl_run_add_probe(struct fl_run *run, const struct fl_probe_summary *p)
{
	struct fl_probe_summary *arr;
	int failed = 0;
	char *name, *kind;
	if (!p->name)
		return -1;
	name = dup_or_null(p->name, &failed);
	kind = dup_or_null(p->kind, &failed);
	arr = failed ? NULL : array_grow(run->probes, run->nprobes, sizeof(*arr));
	if (!arr) {
		fl_free(name);
		fl_free(kind);
		return -1;
	}
	run->probes = arr;
	arr[run->nprobes] = *p;
	arr[run->nprobes].name = name;
	arr[run->nprobes].kind = kind;
	run->nprobes++;
	return 0;
}

int fl_run_add_lost_seq(struct fl_run *run, long seq)
{
	long *arr = array_grow(run->lost_seqs, run->nlost_seqs, sizeof(*arr));
	if (!arr)
		return -1;
	run->lost_seqs = arr;
	arr[run->nlost_seqs++] = seq;
	return 0;
}

/* ---- opening and migrations ---------------------------------------------------- */

static int read_user_version(struct fl_store *st, int *v, struct fl_error *err)
{
	sqlite3_stmt *s = stmt_prepare(st, "PRAGMA user_version", err);
	int rc;
	if (!s)
		return -1;
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		db_fail(st, err);
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
	sqlite3_stmt *s = stmt_prepare(st, "SELECT count(*) FROM sqlite_master", err);
	int rc, n;
	if (!s)
		return -1;
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		db_fail(st, err);
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
		if (tx_begin(st, err))
			return -1;
		/* Another process may have migrated while we waited for the lock. */
		if (read_user_version(st, &v, err))
			goto fail;
		if (v < 0 || v >= FL_STORE_SCHEMA_VERSION) {
			tx_rollback(st);
			break;
		}
		if (v == 0 && check_foreign_db(st, err))
			goto fail;
		if (sqlite3_exec(st->db, migrations[v], NULL, NULL, NULL) != SQLITE_OK) {
			fl_error_set(err, FL_EXIT_ENV, "%s: migration to schema version %d failed: %s",
				     st->path, v + 1, sqlite3_errmsg(st->db));
			goto fail;
		}
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
			db_fail(st, err);
			goto fail;
		}
		if (tx_commit(st, err))
			return -1;
		v++;
	}
	if (v > FL_STORE_SCHEMA_VERSION)
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: schema version %d is newer than this faultline (%d); "
				    "upgrade faultline",
				    st->path, v, FL_STORE_SCHEMA_VERSION);
	if (v < 0)
		return fl_error_set(err, FL_EXIT_ENV, "%s: schema version %d is not a faultline schema",
				    st->path, v);
	st->version = v;
	return 0;
fail:
	tx_rollback(st);
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
	int64_t deadline = fl_now_ns() + STORE_BUSY_TIMEOUT_MS * FL_NS_PER_MS;
	int rc, ret = -1;
	const char *mode;

	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	/* Switching a new file to WAL takes an exclusive lock; racing openers
	 * of a brand-new database may see BUSY here. */
	for (;;) {
		rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
		if (rc == SQLITE_OK) {
			rc = sqlite3_step(s);
			if (rc == SQLITE_ROW)
				break;
		}
		if (!rc_is_busy(rc) || fl_now_ns() >= deadline) {
			db_fail(st, err);
			goto out;
		}
		sqlite3_finalize(s);
		s = NULL;
		sqlite3_sleep(5);
	}
	mode = (const char *)sqlite3_column_text(s, 0);
	if (!mode) {
		oom_fail(st, err);
		goto out;
	}
	if (strcmp(mode, "wal") && strcmp(st->path, ":memory:")) {
		fl_error_set(err, FL_EXIT_ENV,
			     "%s: cannot use write-ahead logging (journal mode stays %s)", st->path,
			     mode);
		goto out;
	}
	if (exec_retry(st, "PRAGMA synchronous = FULL", err) ||
	    exec_retry(st, "PRAGMA foreign_keys = ON", err))
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

	pthread_once(&sq_once, sq_setup);
	if (!path || !*path) {
		fl_error_set(err, FL_EXIT_INPUT, "faultline: no database path given");
		return NULL;
	}
	st = fl_calloc(1, sizeof(*st));
	if (!st || !(st->path = fl_strdup(path))) {
		fl_error_oom(err, "%s", path);
		goto fail;
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
	/* Every statement is finalized before its function returns, so close
	 * cannot be refused for busy statements. */
	sqlite3_close(st->db);
	fl_free(st->path);
	fl_free(st);
}

int fl_store_schema_version(struct fl_store *st)
{
	return st->version;
}

struct sqlite3 *fl_store_db(struct fl_store *st)
{
	return st->db;
}

/* ---- writing runs ---------------------------------------------------------------- */

/* Binds ?1..?25 in RUN_WRITE_COLUMNS order. The faultline version and host
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
	return bind_text(s, 1, run->scenario) || bind_text(s, 2, run->environment) ||
	       bind_text(s, 3, run->label) || bind_text(s, 4, run->asset) ||
	       sqlite3_bind_int(s, 5, run->asset_tier) || bind_text(s, 6, started_at) ||
	       sqlite3_bind_int64(s, 7, run->started_wall_ns) ||
	       bind_real(s, 8, run->duration_ms) || bind_text(s, 9, verdict) ||
	       bind_real(s, 10, run->rto_ms) || bind_real(s, 11, run->rto_uncertainty_ms) ||
	       bind_real(s, 12, run->rpo_ms) || bind_real(s, 13, run->rpo_uncertainty_ms) ||
	       bind_real(s, 14, run->ttv_ms) || bind_real(s, 15, run->rto_target_ms) ||
	       bind_real(s, 16, run->rpo_target_ms) || bind_count(s, 17, run->lost_before_fault) ||
	       bind_count(s, 18, run->lost_after_fault) || bind_count(s, 19, run->writes_acked) ||
	       bind_count(s, 20, run->writes_failed) ||
	       bind_count(s, 21, run->writes_indeterminate) ||
	       bind_text(s, 22, run->faultline_version ? run->faultline_version : FAULTLINE_VERSION) ||
	       bind_text(s, 23, h) ||
	       (run->backup_last_good_wall_ns > 0 ? sqlite3_bind_int64(s, 24, run->backup_last_good_wall_ns)
						  : sqlite3_bind_null(s, 24)) ||
	       bind_text(s, 25, run->backup_last_good_type);
}

int fl_store_run_begin(struct fl_store *st, struct fl_run *run, struct fl_error *err)
{
	sqlite3_stmt *s = NULL;
	int64_t id;
	int ret = -1;

	if (!run->scenario || !*run->scenario)
		return fl_error_set(err, FL_EXIT_ENV, "%s: cannot record a run without a scenario name",
				    st->path);
	if (run->started_wall_ns == 0)
		run->started_wall_ns = fl_wall_ns();
	if (tx_begin(st, err))
		return -1;
	s = stmt_prepare(st,
			 "INSERT INTO runs (" RUN_WRITE_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
			 "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, "
			 "?22, ?23, ?24, ?25)",
			 err);
	if (!s)
		goto out;
	if (store_bind_run(s, run, "running")) {
		db_fail(st, err);
		goto out;
	}
	if (stmt_done(st, s, err))
		goto out;
	id = sqlite3_last_insert_rowid(st->db);
	sqlite3_finalize(s);
	/* The process that runs it: `recover` closes runs whose owner died. */
	s = stmt_prepare(st, "UPDATE runs SET owner_pid = ?1, owner_start = ?2 WHERE id = ?3", err);
	if (!s)
		goto out;
	{
		struct fl_owner me;
		fl_owner_self(&me);
		if (sqlite3_bind_int64(s, 1, me.pid) || sqlite3_bind_int64(s, 2, (sqlite3_int64)me.start) ||
		    sqlite3_bind_int64(s, 3, id)) {
			db_fail(st, err);
			goto out;
		}
	}
	if (stmt_done(st, s, err))
		goto out;
	if (tx_commit(st, err))
		goto out;
	run->id = id;
	ret = 0;
out:
	sqlite3_finalize(s);
	if (ret)
		tx_rollback(st);
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
		s = stmt_prepare(st, sql, err);
		if (!s)
			return -1;
		if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK) {
			db_fail(st, err);
			rc = -1;
		} else {
			rc = stmt_done(st, s, err);
		}
		sqlite3_finalize(s);
		if (rc)
			return -1;
	}
	return 0;
}

static int insert_children(struct fl_store *st, const struct fl_run *run, struct fl_error *err)
{
	sqlite3_stmt *s = NULL;
	int ret = -1;
	int64_t id = run->id;

	s = stmt_prepare(st, "INSERT INTO run_events (run_id, seq, name, t_ms, uncertainty_ms) "
			     "VALUES (?1, ?2, ?3, ?4, ?5)", err);
	if (!s)
		goto out;
	for (size_t i = 0; i < run->nevents; i++) {
		const struct fl_run_event *e = &run->events[i];
		if (sqlite3_bind_int64(s, 1, id) || sqlite3_bind_int64(s, 2, (int64_t)i) ||
		    bind_text(s, 3, e->name) || bind_real(s, 4, e->t_ms) ||
		    bind_real(s, 5, e->uncertainty_ms)) {
			db_fail(st, err);
			goto out;
		}
		if (stmt_done(st, s, err))
			goto out;
	}
	sqlite3_finalize(s);

	s = stmt_prepare(st, "INSERT INTO run_phases (run_id, seq, name, start_ms, end_ms) "
			     "VALUES (?1, ?2, ?3, ?4, ?5)", err);
	if (!s)
		goto out;
	for (size_t i = 0; i < run->nphases; i++) {
		const struct fl_run_phase *p = &run->phases[i];
		if (sqlite3_bind_int64(s, 1, id) || sqlite3_bind_int64(s, 2, (int64_t)i) ||
		    bind_text(s, 3, p->name) || bind_real(s, 4, p->start_ms) ||
		    bind_real(s, 5, p->end_ms)) {
			db_fail(st, err);
			goto out;
		}
		if (stmt_done(st, s, err))
			goto out;
	}
	sqlite3_finalize(s);

	s = stmt_prepare(st, "INSERT INTO run_failures (run_id, seq, reason) VALUES (?1, ?2, ?3)",
			 err);
	if (!s)
		goto out;
	for (size_t i = 0; i < run->nfailures; i++) {
		if (sqlite3_bind_int64(s, 1, id) || sqlite3_bind_int64(s, 2, (int64_t)i) ||
		    bind_text(s, 3, run->failures[i])) {
			db_fail(st, err);
			goto out;
		}
		if (stmt_done(st, s, err))
			goto out;
	}
	sqlite3_finalize(s);

	s = stmt_prepare(st, "INSERT INTO run_probes (run_id, seq, name, kind, samples, failures, "
			     "interval_ms, latency_p50_ms, latency_p99_ms, latency_max_ms, skipped, "
			     "max_latency_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
			     err);
	if (!s)
		goto out;
	for (size_t i = 0; i < run->nprobes; i++) {
		const struct fl_probe_summary *p = &run->probes[i];
		if (sqlite3_bind_int64(s, 1, id) || sqlite3_bind_int64(s, 2, (int64_t)i) ||
		    bind_text(s, 3, p->name) || bind_text(s, 4, p->kind) ||
		    bind_count(s, 5, p->samples) || bind_count(s, 6, p->failures) ||
		    bind_real(s, 7, p->interval_ms) || bind_real(s, 8, p->latency_p50_ms) ||
		    bind_real(s, 9, p->latency_p99_ms) || bind_real(s, 10, p->latency_max_ms) ||
		    bind_count(s, 11, p->skipped) ||
		    bind_real(s, 12, p->max_latency_ms > 0 ? p->max_latency_ms : NAN)) {
			db_fail(st, err);
			goto out;
		}
		if (stmt_done(st, s, err))
			goto out;
	}
	sqlite3_finalize(s);

	s = stmt_prepare(st, "INSERT INTO run_lost_writes (run_id, seq) VALUES (?1, ?2)", err);
	if (!s)
		goto out;
	for (size_t i = 0; i < run->nlost_seqs; i++) {
		if (sqlite3_bind_int64(s, 1, id) || sqlite3_bind_int64(s, 2, run->lost_seqs[i])) {
			db_fail(st, err);
			goto out;
		}
		if (stmt_done(st, s, err))
			goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(s);
	return ret;
}

int fl_store_run_finish(struct fl_store *st, const struct fl_run *run, struct fl_error *err)
{
	sqlite3_stmt *s = NULL;
	int ret = -1;

	if (run->id <= 0)
		return fl_error_set(err, FL_EXIT_ENV, "%s: cannot finish a run that was never begun",
				    st->path);
	if (!run->scenario || !*run->scenario)
		return fl_error_set(err, FL_EXIT_ENV, "%s: cannot record a run without a scenario name",
				    st->path);
	if (!verdict_known(run->verdict))
		return fl_error_set(err, FL_EXIT_ENV, "%s: run %" PRId64 " has no valid verdict (%s)",
				    st->path, run->id, run->verdict ? run->verdict : "none");
	if (tx_begin(st, err))
		return -1;
	s = stmt_prepare(st,
			 "UPDATE runs SET (" RUN_WRITE_COLUMNS ") = (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
			 "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, "
			 "?23, ?24, ?25) WHERE id = ?26",
			 err);
	if (!s)
		goto out;
	if (store_bind_run(s, run, run->verdict) || sqlite3_bind_int64(s, 26, run->id)) {
		db_fail(st, err);
		goto out;
	}
	if (stmt_done(st, s, err))
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
	if (tx_commit(st, err))
		goto out;
	ret = 0;
out:
	sqlite3_finalize(s);
	if (ret)
		tx_rollback(st);
	return ret;
}

/* ---- reading runs ------------------------------------------------------------------ */

/* Loads one row selected with RUN_READ_COLUMNS into a freshly inited run. */
static int run_load_row(struct fl_store *st, sqlite3_stmt *s, struct fl_run *run,
			struct fl_error *err)
{
	run->id = sqlite3_column_int64(s, 0);
	if (col_text(s, 1, &run->scenario) || col_text(s, 2, &run->environment) ||
	    col_text(s, 3, &run->label) || col_text(s, 4, &run->asset) ||
	    col_text(s, 9, &run->verdict) || col_text(s, 22, &run->faultline_version) ||
	    col_text(s, 23, &run->host) || col_text(s, 25, &run->backup_last_good_type))
		return oom_fail(st, err);
	run->backup_last_good_wall_ns = sqlite3_column_type(s, 24) == SQLITE_NULL
					? 0 : sqlite3_column_int64(s, 24);
	run->asset_tier = sqlite3_column_int(s, 5);
	/* column 6 is started_at, derived from started_wall_ns */
	run->started_wall_ns = sqlite3_column_int64(s, 7);
	run->duration_ms = col_real(s, 8);
	run->rto_ms = col_real(s, 10);
	run->rto_uncertainty_ms = col_real(s, 11);
	run->rpo_ms = col_real(s, 12);
	run->rpo_uncertainty_ms = col_real(s, 13);
	run->ttv_ms = col_real(s, 14);
	run->rto_target_ms = col_real(s, 15);
	run->rpo_target_ms = col_real(s, 16);
	run->lost_before_fault = col_count(s, 17);
	run->lost_after_fault = col_count(s, 18);
	run->writes_acked = col_count(s, 19);
	run->writes_failed = col_count(s, 20);
	run->writes_indeterminate = col_count(s, 21);
	return 0;
}

enum child_kind { CHILD_EVENTS, CHILD_PHASES, CHILD_FAILURES, CHILD_PROBES, CHILD_LOST };

static int load_child_row(sqlite3_stmt *s, enum child_kind kind, struct fl_run *run)
{
	const char *name = (const char *)sqlite3_column_text(s, 0);
	struct fl_probe_summary p;

	switch (kind) {
	case CHILD_EVENTS:
		return name ? fl_run_add_event(run, name, col_real(s, 1), col_real(s, 2)) : -1;
	case CHILD_PHASES:
		return name ? fl_run_add_phase(run, name, col_real(s, 1), col_real(s, 2)) : -1;
	case CHILD_FAILURES:
		return name ? fl_run_add_failure(run, "%s", name) : -1;
	case CHILD_PROBES:
		if (!name)
			return -1;
		p.name = (char *)name;
		p.kind = (char *)sqlite3_column_text(s, 1);
		if (!p.kind && sqlite3_column_type(s, 1) != SQLITE_NULL)
			return -1;
		p.samples = col_count(s, 2);
		p.failures = col_count(s, 3);
		p.interval_ms = col_real(s, 4);
		p.latency_p50_ms = col_real(s, 5);
		p.latency_p99_ms = col_real(s, 6);
		p.latency_max_ms = col_real(s, 7);
		p.skipped = col_count(s, 8);
		p.max_latency_ms = col_real(s, 9);
		return fl_run_add_probe(run, &p);
	case CHILD_LOST:
		return fl_run_add_lost_seq(run, (long)sqlite3_column_int64(s, 0));
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
		[CHILD_PROBES] = "SELECT name, kind, samples, failures, interval_ms, "
				 "latency_p50_ms, latency_p99_ms, latency_max_ms, skipped, max_latency_ms "
				 "FROM run_probes "
				 "WHERE run_id = ?1 ORDER BY seq",
		[CHILD_LOST] = "SELECT seq FROM run_lost_writes WHERE run_id = ?1 ORDER BY seq",
	};
	for (size_t k = 0; k < FL_ARRAY_LEN(sql); k++) {
		sqlite3_stmt *s = stmt_prepare(st, sql[k], err);
		int rc;
		if (!s)
			return -1;
		if (sqlite3_bind_int64(s, 1, run->id) != SQLITE_OK) {
			db_fail(st, err);
			sqlite3_finalize(s);
			return -1;
		}
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			if (load_child_row(s, (enum child_kind)k, run)) {
				oom_fail(st, err);
				sqlite3_finalize(s);
				return -1;
			}
		}
		if (rc != SQLITE_DONE) {
			db_fail(st, err);
			sqlite3_finalize(s);
			return -1;
		}
		sqlite3_finalize(s);
	}
	return 0;
}

/* Opens a read transaction so a run and its children come from one
 * snapshot; returns 1 when it opened one (the caller ends it), 0 when the
 * caller was already inside a transaction, -1 on error. */
static int read_begin(struct fl_store *st, struct fl_error *err)
{
	if (!sqlite3_get_autocommit(st->db))
		return 0;
	return exec_retry(st, "BEGIN", err) ? -1 : 1;
}

static void read_end(struct fl_store *st, int opened)
{
	if (opened == 1)
		tx_rollback(st);
}

int fl_store_runs_each(struct fl_store *st, const struct fl_run_filter *f, fl_run_fn fn,
		       void *ctx, struct fl_error *err)
{
	struct fl_buf sql;
	sqlite3_stmt *s = NULL;
	struct fl_run run;
	int ret = -1, rc, idx = 1, opened = 0;

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
		oom_fail(st, err);
		goto out;
	}
	opened = read_begin(st, err);
	if (opened < 0)
		goto out;
	s = stmt_prepare(st, sql.buf, err);
	if (!s)
		goto out;
	if ((f && f->scenario && bind_text(s, idx++, f->scenario)) ||
	    (f && f->label && bind_text(s, idx++, f->label)) ||
	    (f && f->since_wall_ns && sqlite3_bind_int64(s, idx++, f->since_wall_ns)) ||
	    (f && f->limit > 0 && sqlite3_bind_int64(s, idx++, f->limit))) {
		db_fail(st, err);
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
		db_fail(st, err);
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(s);
	read_end(st, opened);
	fl_run_release(&run);
	fl_buf_release(&sql);
	return ret;
}

int fl_store_run_get(struct fl_store *st, int64_t id, struct fl_run *run, struct fl_error *err)
{
	sqlite3_stmt *s = NULL;
	int ret = -1, rc, opened;

	fl_run_init(run);
	opened = read_begin(st, err);
	if (opened < 0)
		return -1;
	s = stmt_prepare(st, "SELECT " RUN_READ_COLUMNS " FROM runs WHERE id = ?1", err);
	if (!s)
		goto out;
	if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK) {
		db_fail(st, err);
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		fl_error_set(err, FL_EXIT_INPUT, "%s: run %" PRId64 " not found", st->path, id);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		db_fail(st, err);
		goto out;
	}
	if (run_load_row(st, s, run, err) || run_load_children(st, run, err))
		goto out;
	ret = 0;
out:
	sqlite3_finalize(s);
	read_end(st, opened);
	if (ret)
		fl_run_release(run);
	return ret;
}

/* ---- JSON ----------------------------------------------------------------------------- */

/* Builders that turn "does not apply" into null and remember an allocation
 * failure, so fl_run_to_json checks once at the end. */
static json_t *j_real(double v, int *failed)
{
	json_t *j = isfinite(v) ? json_real(v) : json_null();
	if (!j)
		*failed = 1;
	return j;
}

static json_t *j_count(long v, int *failed)
{
	json_t *j = v >= 0 ? json_integer(v) : json_null();
	if (!j)
		*failed = 1;
	return j;
}

static json_t *j_str(const char *s, int *failed)
{
	json_t *j = s ? json_string(s) : json_null();
	if (!j)
		*failed = 1;
	return j;
}

static void j_set(json_t *obj, const char *key, json_t *v, int *failed)
{
	if (!v || json_object_set_new(obj, key, v))
		*failed = 1;
}

static void j_append(json_t *arr, json_t *v, int *failed)
{
	if (!v || json_array_append_new(arr, v))
		*failed = 1;
}

static json_t *run_writes_json(const struct fl_run *run, int *failed)
{
	json_t *w;
	if (run->writes_acked < 0 && run->writes_failed < 0 && run->writes_indeterminate < 0)
		return j_str(NULL, failed);
	w = json_object();
	if (!w) {
		*failed = 1;
		return NULL;
	}
	j_set(w, "acked", j_count(run->writes_acked, failed), failed);
	j_set(w, "failed", j_count(run->writes_failed, failed), failed);
	j_set(w, "indeterminate", j_count(run->writes_indeterminate, failed), failed);
	return w;
}

json_t *fl_run_to_json(const struct fl_run *run)
{
	json_t *o = json_object(), *a;
	char started[48], backup_at[48];
	int failed = !o;

	if (failed)
		return NULL;
	j_set(o, "id", run->id > 0 ? json_integer(run->id) : json_null(), &failed);
	j_set(o, "scenario", j_str(run->scenario, &failed), &failed);
	j_set(o, "environment", j_str(run->environment, &failed), &failed);
	j_set(o, "label", j_str(run->label, &failed), &failed);
	j_set(o, "asset", j_str(run->asset, &failed), &failed);
	j_set(o, "started_at",
	      j_str(run->started_wall_ns ? fl_rfc3339(run->started_wall_ns, started, sizeof(started))
					 : NULL, &failed),
	      &failed);
	j_set(o, "verdict", j_str(run->verdict, &failed), &failed);
	j_set(o, "duration_ms", j_real(run->duration_ms, &failed), &failed);
	j_set(o, "rto_ms", j_real(run->rto_ms, &failed), &failed);
	j_set(o, "rto_uncertainty_ms", j_real(run->rto_uncertainty_ms, &failed), &failed);
	j_set(o, "rpo_ms", j_real(run->rpo_ms, &failed), &failed);
	j_set(o, "rpo_uncertainty_ms", j_real(run->rpo_uncertainty_ms, &failed), &failed);
	j_set(o, "ttv_ms", j_real(run->ttv_ms, &failed), &failed);
	j_set(o, "rto_target_ms", j_real(run->rto_target_ms, &failed), &failed);
	j_set(o, "rpo_target_ms", j_real(run->rpo_target_ms, &failed), &failed);
	j_set(o, "lost_before_fault", j_count(run->lost_before_fault, &failed), &failed);
	j_set(o, "lost_after_fault", j_count(run->lost_after_fault, &failed), &failed);
	j_set(o, "writes", run_writes_json(run, &failed), &failed);
	j_set(o, "backup_last_good_at",
	      j_str(run->backup_last_good_wall_ns > 0
			    ? fl_rfc3339(run->backup_last_good_wall_ns, backup_at, sizeof(backup_at))
			    : NULL, &failed),
	      &failed);
	j_set(o, "backup_last_good_type", j_str(run->backup_last_good_type, &failed), &failed);

	a = json_array();
	for (size_t i = 0; a && i < run->nlost_seqs; i++)
		j_append(a, json_integer(run->lost_seqs[i]), &failed);
	j_set(o, "lost_seqs", a, &failed);

	a = json_array();
	for (size_t i = 0; a && i < run->nevents; i++) {
		json_t *e = json_object();
		if (e) {
			j_set(e, "name", j_str(run->events[i].name, &failed), &failed);
			j_set(e, "t_ms", j_real(run->events[i].t_ms, &failed), &failed);
			j_set(e, "uncertainty_ms", j_real(run->events[i].uncertainty_ms, &failed),
			      &failed);
		}
		j_append(a, e, &failed);
	}
	j_set(o, "events", a, &failed);

	a = json_array();
	for (size_t i = 0; a && i < run->nphases; i++) {
		json_t *p = json_object();
		if (p) {
			j_set(p, "name", j_str(run->phases[i].name, &failed), &failed);
			j_set(p, "start_ms", j_real(run->phases[i].start_ms, &failed), &failed);
			j_set(p, "end_ms", j_real(run->phases[i].end_ms, &failed), &failed);
		}
		j_append(a, p, &failed);
	}
	j_set(o, "phases", a, &failed);

	a = json_array();
	for (size_t i = 0; a && i < run->nprobes; i++) {
		const struct fl_probe_summary *ps = &run->probes[i];
		json_t *p = json_object();
		if (p) {
			j_set(p, "name", j_str(ps->name, &failed), &failed);
			j_set(p, "kind", j_str(ps->kind, &failed), &failed);
			j_set(p, "samples", j_count(ps->samples, &failed), &failed);
			j_set(p, "failures", j_count(ps->failures, &failed), &failed);
			j_set(p, "interval_ms", j_real(ps->interval_ms, &failed), &failed);
			j_set(p, "latency_p50_ms", j_real(ps->latency_p50_ms, &failed), &failed);
			j_set(p, "latency_p99_ms", j_real(ps->latency_p99_ms, &failed), &failed);
			j_set(p, "latency_max_ms", j_real(ps->latency_max_ms, &failed), &failed);
			j_set(p, "skipped", j_count(ps->skipped, &failed), &failed);
			/* Only where a threshold was in force: older runs and
			 * probes without one keep their shape. */
			if (ps->max_latency_ms > 0)
				j_set(p, "max_latency_ms", j_real(ps->max_latency_ms, &failed), &failed);
		}
		j_append(a, p, &failed);
	}
	j_set(o, "probes", a, &failed);

	a = json_array();
	for (size_t i = 0; a && i < run->nfailures; i++)
		j_append(a, j_str(run->failures[i], &failed), &failed);
	j_set(o, "failures", a, &failed);

	if (failed) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- fault journal ------------------------------------------------------------------- */

const char *fl_journal_state_name(enum fl_journal_state s)
{
	if ((unsigned)s < FL_ARRAY_LEN(journal_states))
		return journal_states[s];
	return "unknown";
}

static int journal_state_parse(const char *name, enum fl_journal_state *out)
{
	for (size_t i = 0; name && i < FL_ARRAY_LEN(journal_states); i++) {
		if (!strcmp(name, journal_states[i])) {
			*out = (enum fl_journal_state)i;
			return 0;
		}
	}
	return -1;
}

/* The journal's state machine. Nothing goes back to PENDING, and REVERTED
 * is final: a fault that was reverted is not re-injected under the same row.
 * PENDING -> REVERTED covers an inject that failed before taking effect (or
 * was reverted by `recover` after a crash mid-inject). REVERT_FAILED ->
 * REVERT_FAILED records a retry that failed again. */
static int journal_transition_ok(enum fl_journal_state from, enum fl_journal_state to)
{
	switch (from) {
	case FL_JOURNAL_PENDING:
		return to == FL_JOURNAL_INJECTED || to == FL_JOURNAL_REVERTED ||
		       to == FL_JOURNAL_REVERT_FAILED;
	case FL_JOURNAL_INJECTED:
		return to == FL_JOURNAL_REVERTED || to == FL_JOURNAL_REVERT_FAILED;
	case FL_JOURNAL_REVERT_FAILED:
		return to == FL_JOURNAL_REVERTED || to == FL_JOURNAL_REVERT_FAILED;
	case FL_JOURNAL_REVERTED:
		return 0;
	}
	return 0;
}

static char *revert_dump(const json_t *revert)
{
	return json_dumps(revert, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

int fl_journal_begin(struct fl_store *st, int64_t run_id, const char *injector,
		     const char *target, const char *description, const json_t *revert,
		     int64_t *id, struct fl_error *err)
{
	sqlite3_stmt *s = NULL;
	char *revert_text = NULL, now[48];
	int64_t new_id;
	int ret = -1;
	struct fl_owner owner;

	fl_owner_self(&owner);
	if (!injector || !*injector)
		return fl_error_set(err, FL_EXIT_ENV, "%s: journal entry without an injector name",
				    st->path);
	if (revert && !(revert_text = revert_dump(revert)))
		return oom_fail(st, err);
	fl_rfc3339(fl_wall_ns(), now, sizeof(now));
	if (tx_begin(st, err))
		goto out;
	s = stmt_prepare(st, "INSERT INTO journal (run_id, created_at, updated_at, injector, "
			     "target, description, state, revert, error, owner_host, owner_pid, "
			     "owner_start) "
			     "VALUES (?1, ?2, ?2, ?3, ?4, ?5, 'pending', ?6, NULL, ?7, ?8, ?9)", err);
	if (!s)
		goto out;
	if ((run_id > 0 ? sqlite3_bind_int64(s, 1, run_id) : sqlite3_bind_null(s, 1)) ||
	    bind_text(s, 2, now) || bind_text(s, 3, injector) || bind_text(s, 4, target) ||
	    bind_text(s, 5, description) || bind_text(s, 6, revert_text) ||
	    bind_text(s, 7, owner.host) || sqlite3_bind_int64(s, 8, owner.pid) ||
	    sqlite3_bind_int64(s, 9, (sqlite3_int64)owner.start)) {
		db_fail(st, err);
		goto out;
	}
	if (stmt_done(st, s, err))
		goto out;
	new_id = sqlite3_last_insert_rowid(st->db);
	if (tx_commit(st, err))
		goto out;
	if (id)
		*id = new_id;
	ret = 0;
out:
	sqlite3_finalize(s);
	if (ret)
		tx_rollback(st);
	fl_free(revert_text);
	return ret;
}

int fl_journal_mark(struct fl_store *st, int64_t id, enum fl_journal_state state,
		    const json_t *revert, const char *error, struct fl_error *err)
{
	sqlite3_stmt *s = NULL;
	char *revert_text = NULL, now[48];
	enum fl_journal_state from;
	int ret = -1, rc;

	if ((unsigned)state >= FL_ARRAY_LEN(journal_states))
		return fl_error_set(err, FL_EXIT_ENV, "%s: journal entry %" PRId64
				    ": unknown state %d", st->path, id, (int)state);
	if (revert && !(revert_text = revert_dump(revert)))
		return oom_fail(st, err);
	fl_rfc3339(fl_wall_ns(), now, sizeof(now));
	/* Read and update under one write lock so two processes cannot both
	 * move the same row out of a state. */
	if (tx_begin(st, err))
		goto out;
	s = stmt_prepare(st, "SELECT state FROM journal WHERE id = ?1", err);
	if (!s)
		goto out;
	if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK) {
		db_fail(st, err);
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		fl_error_set(err, FL_EXIT_ENV, "%s: journal entry %" PRId64 " does not exist",
			     st->path, id);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		db_fail(st, err);
		goto out;
	}
	if (journal_state_parse((const char *)sqlite3_column_text(s, 0), &from)) {
		fl_error_set(err, FL_EXIT_ENV, "%s: journal entry %" PRId64 " has an unknown state",
			     st->path, id);
		goto out;
	}
	if (!journal_transition_ok(from, state)) {
		fl_error_set(err, FL_EXIT_ENV, "%s: journal entry %" PRId64
			     " cannot move from %s to %s", st->path, id,
			     fl_journal_state_name(from), fl_journal_state_name(state));
		goto out;
	}
	sqlite3_finalize(s);
	s = stmt_prepare(st, "UPDATE journal SET state = ?1, updated_at = ?2, "
			     "revert = coalesce(?3, revert), error = coalesce(?4, error) "
			     "WHERE id = ?5", err);
	if (!s)
		goto out;
	if (bind_text(s, 1, journal_states[state]) || bind_text(s, 2, now) ||
	    bind_text(s, 3, revert_text) || bind_text(s, 4, error) ||
	    sqlite3_bind_int64(s, 5, id)) {
		db_fail(st, err);
		goto out;
	}
	if (stmt_done(st, s, err))
		goto out;
	if (tx_commit(st, err))
		goto out;
	ret = 0;
out:
	sqlite3_finalize(s);
	if (ret)
		tx_rollback(st);
	fl_free(revert_text);
	return ret;
}

static int journal_load_row(sqlite3_stmt *s, struct fl_journal_entry *e)
{
	char *revert_text = NULL, *state = NULL;
	json_error_t jerr;
	/* jansson leaves it untouched when it fails before parsing (out of memory). */
	memset(&jerr, 0, sizeof(jerr));
	int ret = -1;

	e->id = sqlite3_column_int64(s, 0);
	e->run_id = sqlite3_column_type(s, 1) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, 1);
	if (col_text(s, 2, &e->injector) || col_text(s, 3, &e->target) ||
	    col_text(s, 4, &e->description) || col_text(s, 5, &revert_text) ||
	    col_text(s, 6, &state) || col_text(s, 7, &e->created_at) || col_text(s, 8, &e->error) ||
	    col_text(s, 9, &e->owner_host))
		goto out;
	e->owner_pid = (long)sqlite3_column_int64(s, 10);
	e->owner_start = (unsigned long long)sqlite3_column_int64(s, 11);
	if (journal_state_parse(state, &e->state))
		e->state = FL_JOURNAL_PENDING;
	if (revert_text) {
		e->revert = json_loads(revert_text, JSON_DECODE_ANY, &jerr);
		/* Text that is not JSON (edited by hand) leaves revert NULL: the
		 * entry is still listed, and `recover` hands it to a human. */
		if (!e->revert && (json_error_code(&jerr) == json_error_out_of_memory ||
				   jerr.text[0] == '\0'))
			goto out;
	}
	ret = 0;
out:
	fl_free(revert_text);
	fl_free(state);
	return ret;
}

int fl_journal_open_entries(struct fl_store *st, struct fl_journal_entry **out, size_t *n,
			    struct fl_error *err)
{
	sqlite3_stmt *s = NULL;
	struct fl_journal_entry *arr = NULL;
	size_t count = 0;
	int ret = -1, rc;

	*out = NULL;
	*n = 0;
	s = stmt_prepare(st, "SELECT id, run_id, injector, target, description, revert, state, "
			     "created_at, error, owner_host, owner_pid, owner_start FROM journal "
			     "WHERE state IN ('pending', 'injected', 'revert_failed') ORDER BY id",
			 err);
	if (!s)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct fl_journal_entry *grown = array_grow(arr, count, sizeof(*arr));
		if (!grown) {
			oom_fail(st, err);
			goto out;
		}
		arr = grown;
		count++;
		if (journal_load_row(s, &arr[count - 1])) {
			oom_fail(st, err);
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		db_fail(st, err);
		goto out;
	}
	*out = arr;
	*n = count;
	arr = NULL;
	ret = 0;
out:
	sqlite3_finalize(s);
	fl_journal_entries_free(arr, count);
	return ret;
}

void fl_journal_entries_free(struct fl_journal_entry *e, size_t n)
{
	if (!e)
		return;
	for (size_t i = 0; i < n; i++) {
		fl_free(e[i].injector);
		fl_free(e[i].target);
		fl_free(e[i].description);
		json_decref(e[i].revert);
		fl_free(e[i].created_at);
		fl_free(e[i].error);
		fl_free(e[i].owner_host);
	}
	fl_free(e);
}

void fl_owner_self(struct fl_owner *o)
{
	memset(o, 0, sizeof(*o));
	if (gethostname(o->host, sizeof(o->host)) != 0)
		o->host[0] = '\0';
	o->host[sizeof(o->host) - 1] = '\0';
	o->pid = (long)getpid();
	if (fl_proc_stat(getpid(), NULL, &o->start) < 0)
		o->start = 0;
}

int fl_owner_alive(const char *host, long pid, unsigned long long start)
{
	struct fl_owner me;
	if (!host || pid <= 0)
		return -1;
	fl_owner_self(&me);
	if (strcmp(host, me.host) != 0)
		return -1;
	return fl_proc_alive((pid_t)pid, start);
}

int fl_store_run_abandon(struct fl_store *st, int64_t id, const char *reason,
			 struct fl_error *err)
{
	sqlite3_stmt *s = NULL;
	int ret = -1, changed = 0;
	if (tx_begin(st, err))
		return -1;
	s = stmt_prepare(st, "UPDATE runs SET verdict = 'aborted' WHERE id = ?1 AND verdict = 'running'",
			 err);
	if (!s || sqlite3_bind_int64(s, 1, id) != SQLITE_OK) {
		if (s)
			db_fail(st, err);
		goto out;
	}
	if (stmt_done(st, s, err))
		goto out;
	changed = sqlite3_changes(st->db) > 0;
	sqlite3_finalize(s);
	s = NULL;
	if (changed && reason) {
		s = stmt_prepare(st, "INSERT INTO run_failures (run_id, seq, reason) VALUES (?1, "
				     "(SELECT coalesce(max(seq), -1) + 1 FROM run_failures WHERE run_id = ?1), ?2)",
				 err);
		if (!s || sqlite3_bind_int64(s, 1, id) != SQLITE_OK || bind_text(s, 2, reason)) {
			if (s)
				db_fail(st, err);
			goto out;
		}
		if (stmt_done(st, s, err))
			goto out;
	}
	if (tx_commit(st, err))
		goto out;
	ret = changed;
out:
	sqlite3_finalize(s);
	if (ret < 0)
		tx_rollback(st);
	return ret;
}

int fl_store_runs_orphaned(struct fl_store *st, int64_t **ids, size_t *n, struct fl_error *err)
{
	sqlite3_stmt *s;
	int64_t *arr = NULL;
	size_t count = 0;
	int rc;
	*ids = NULL;
	*n = 0;
	s = stmt_prepare(st, "SELECT id, host, owner_pid, owner_start FROM runs "
			     "WHERE verdict = 'running' ORDER BY id", err);
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
			return oom_fail(st, err);
		}
		arr = g;
		arr[count++] = sqlite3_column_int64(s, 0);
	}
	if (rc != SQLITE_DONE) {
		db_fail(st, err);
		sqlite3_finalize(s);
		fl_free(arr);
		return -1;
	}
	sqlite3_finalize(s);
	*ids = arr;
	*n = count;
	return 0;
}
