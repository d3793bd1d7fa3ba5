/*
 * test_store: the SQLite store — opening (permissions, bad files, newer
 * schemas, migrations from an empty file), the run round trip through SQL
 * and JSON, filters and ordering, a full disk, four processes writing at
 * once, a writer killed with SIGKILL mid-loop, and every allocation failing
 * in turn.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/store.h"
#include "core/store_sql.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/clock.h"

#define WALL_NS INT64_C(1795589159123456789) /* 2026-11-25T06:45:59.123Z */

struct tdir {
	char dir[256];
	char db[320];
};

static int tdir_setup(void **state)
{
	struct tdir *t = calloc(1, sizeof(*t));
	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/fl-test-store-XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	snprintf(t->db, sizeof(t->db), "%s/faultline.db", t->dir);
	*state = t;
	return 0;
}

static int tdir_teardown(void **state)
{
	struct tdir *t = *state;
	DIR *d = opendir(t->dir);
	struct dirent *de;
	char p[600];
	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", t->dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(t->dir);
	free(t);
	return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

static struct fl_store *open_ok(const char *path)
{
	struct fl_error err;
	struct fl_store *st;
	fl_error_init(&err);
	st = fl_store_open(path, &err);
	if (!st)
		fail_msg("open %s: %s", path, err.msg);
	return st;
}

static long long query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	long long v = -1;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

static void assert_integrity_ok(sqlite3 *db)
{
	sqlite3_stmt *s = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "ok");
	sqlite3_finalize(s);
}

/* Opens path with plain SQLite (not through the store) for setting up odd files. */
static sqlite3 *raw_open(const char *path)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
			 SQLITE_OK);
	return db;
}

static void run_fill_minimal(struct fl_run *run, const char *scenario, const char *verdict)
{
	fl_run_init(run);
	run->scenario = fl_strdup(scenario);
	run->verdict = fl_strdup(verdict);
	assert_non_null(run->scenario);
	assert_non_null(run->verdict);
}

/* A run with every field set to a value a double holds exactly. */
static void run_fill_full(struct fl_run *run)
{
	struct fl_probe_summary p = { 0 };
	fl_run_init(run);
	run->scenario = fl_strdup("pg-failover");
	run->environment = fl_strdup("staging");
	run->label = fl_strdup("v1.2.3");
	run->asset = fl_strdup("orders-db");
	run->asset_tier = 1;
	run->started_wall_ns = WALL_NS;
	run->duration_ms = 60250.5;
	run->verdict = fl_strdup("fail");
	run->rto_ms = 4312.0;
	run->rto_uncertainty_ms = 10.0;
	run->rpo_ms = 250.0;
	run->rpo_uncertainty_ms = 20.0;
	run->ttv_ms = 5500.25;
	run->rto_target_ms = 5000.0;
	run->rpo_target_ms = 0.0;
	run->lost_before_fault = 2;
	run->lost_after_fault = 1;
	run->writes_acked = 1000;
	run->writes_failed = 7;
	run->writes_indeterminate = 3;
	run->writes_failed_present = 2;
	run->faultline_version = fl_strdup("9.9.9");
	run->host = fl_strdup("drill-host");
	run->backup_last_good_wall_ns = WALL_NS - INT64_C(8000123456789); /* 04:32:39.000Z */
	run->backup_last_good_type = fl_strdup("full");
	assert_int_equal(fl_run_add_lost_seq(run, 41), 0);
	assert_int_equal(fl_run_add_lost_seq(run, 42), 0);
	assert_int_equal(fl_run_add_lost_seq(run, 977), 0);
	assert_int_equal(fl_run_add_event(run, "t_inject", 0.0, NAN), 0);
	assert_int_equal(fl_run_add_event(run, "t_impact", 10.5, 10.0), 0);
	assert_int_equal(fl_run_add_event(run, "t_restored", 4312.0, 10.0), 0);
	assert_int_equal(fl_run_add_phase(run, "detect", 0.0, 30.0), 0);
	assert_int_equal(fl_run_add_phase(run, "recover", 30.0, 4312.0), 0);
	p.name = "api";
	p.kind = "http";
	p.samples = 6000;
	p.failures = 431;
	p.interval_ms = 10.0;
	p.latency_p50_ms = 1.5;
	p.latency_p99_ms = 12.25;
	p.latency_max_ms = 1001.0;
	p.skipped = 3;
	assert_int_equal(fl_run_add_probe(run, &p), 0);
	p.name = "writer";
	p.kind = "writer";
	p.samples = 0;
	p.failures = 0;
	p.latency_p50_ms = p.latency_p99_ms = p.latency_max_ms = NAN;
	p.skipped = -1;
	assert_int_equal(fl_run_add_probe(run, &p), 0);
	assert_int_equal(fl_run_add_failure(run, "rpo %.3f s exceeds target %.3f s", 0.25, 0.0), 0);
	assert_int_equal(fl_run_add_failure(run, "lost %d acknowledged writes\nafter fault", 1), 0);
}

static const char *const full_json =
	"{\"id\": 1, \"scenario\": \"pg-failover\", \"environment\": \"staging\","
	" \"label\": \"v1.2.3\", \"asset\": \"orders-db\","
	" \"started_at\": \"2026-11-25T06:45:59.123Z\", \"verdict\": \"fail\","
	" \"duration_ms\": 60250.5, \"rto_ms\": 4312.0, \"rto_uncertainty_ms\": 10.0,"
	" \"rpo_ms\": 250.0, \"rpo_uncertainty_ms\": 20.0, \"ttv_ms\": 5500.25,"
	" \"rto_target_ms\": 5000.0, \"rpo_target_ms\": 0.0,"
	" \"lost_before_fault\": 2, \"lost_after_fault\": 1,"
	" \"writes\": {\"acked\": 1000, \"failed\": 7, \"indeterminate\": 3, \"failed_present\": 2},"
	" \"backup_last_good_at\": \"2026-11-25T04:32:39.000Z\", \"backup_last_good_type\": \"full\","
	" \"lost_seqs\": [41, 42, 977],"
	" \"events\": [{\"name\": \"t_inject\", \"t_ms\": 0.0, \"uncertainty_ms\": null},"
	"   {\"name\": \"t_impact\", \"t_ms\": 10.5, \"uncertainty_ms\": 10.0},"
	"   {\"name\": \"t_restored\", \"t_ms\": 4312.0, \"uncertainty_ms\": 10.0}],"
	" \"phases\": [{\"name\": \"detect\", \"start_ms\": 0.0, \"end_ms\": 30.0},"
	"   {\"name\": \"recover\", \"start_ms\": 30.0, \"end_ms\": 4312.0}],"
	" \"probes\": [{\"name\": \"api\", \"kind\": \"http\", \"samples\": 6000, \"failures\": 431,"
	"   \"interval_ms\": 10.0, \"latency_p50_ms\": 1.5, \"latency_p99_ms\": 12.25,"
	"   \"latency_max_ms\": 1001.0, \"skipped\": 3},"
	"   {\"name\": \"writer\", \"kind\": \"writer\", \"samples\": 0, \"failures\": 0,"
	"   \"interval_ms\": 10.0, \"latency_p50_ms\": null, \"latency_p99_ms\": null,"
	"   \"latency_max_ms\": null, \"skipped\": null}],"
	" \"failures\": [\"rpo 0.250 s exceeds target 0.000 s\","
	"   \"lost 1 acknowledged writes after fault\"]}";

static void assert_json_equals_text(json_t *got, const char *expected_text)
{
	json_error_t jerr;
	json_t *want = json_loads(expected_text, 0, &jerr);
	if (!want)
		fail_msg("bad expected json: %s", jerr.text);
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_SORT_KEYS);
		char *w = json_dumps(want, JSON_SORT_KEYS);
		print_error("got:  %s\nwant: %s\n", g, w);
		free(g);
		free(w);
		json_decref(want);
		fail();
	}
	json_decref(want);
}

static void begin_finish(struct fl_store *st, struct fl_run *run)
{
	struct fl_error err;
	fl_error_init(&err);
	if (fl_store_run_begin(st, run, &err))
		fail_msg("begin: %s", err.msg);
	if (fl_store_run_finish(st, run, &err))
		fail_msg("finish: %s", err.msg);
}

/* ---- opening --------------------------------------------------------------------- */

static void test_open_creates_0600_wal(void **state)
{
	struct tdir *t = *state;
	struct fl_store *st;
	struct stat sb;
	char wal[400];
	mode_t old = umask(0);
	st = open_ok(t->db);
	umask(old);
	assert_int_equal(stat(t->db, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(fl_store_schema_version(st), FL_STORE_SCHEMA_VERSION);
	assert_int_equal(query_int(fl_store_sql_db(st), "PRAGMA user_version"),
			 FL_STORE_SCHEMA_VERSION);
	assert_int_equal(query_int(fl_store_sql_db(st), "PRAGMA synchronous"), 2); /* FULL */
	assert_int_equal(query_int(fl_store_sql_db(st), "PRAGMA foreign_keys"), 1);
	{
		sqlite3_stmt *s = NULL;
		assert_int_equal(sqlite3_prepare_v2(fl_store_sql_db(st), "PRAGMA journal_mode", -1,
						    &s, NULL),
				 SQLITE_OK);
		assert_int_equal(sqlite3_step(s), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
		sqlite3_finalize(s);
	}
	/* Write something so the WAL file exists, then check its mode too. */
	{
		struct fl_run run;
		run_fill_minimal(&run, "perm", "pass");
		begin_finish(st, &run);
		fl_run_release(&run);
	}
	snprintf(wal, sizeof(wal), "%s-wal", t->db);
	assert_int_equal(stat(wal, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	fl_store_close(st);
}

static void test_open_errors(void **state)
{
	struct tdir *t = *state;
	struct fl_error err;
	char path[400], want[600];
	int fd;

	/* A directory that does not exist. */
	snprintf(path, sizeof(path), "%s/missing/faultline.db", t->dir);
	fl_error_init(&err);
	assert_null(fl_store_open(path, &err));
	snprintf(want, sizeof(want), "%s: cannot create database: no such file or directory", path);
	assert_string_equal(err.msg, want);
	assert_int_equal(err.code, FL_EXIT_ENV);

	/* A file that is not a database: refused, and left as it was. */
	snprintf(path, sizeof(path), "%s/notes.txt", t->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(write(fd, "this is not sqlite, just some notes\n", 36), 36);
	close(fd);
	fl_error_init(&err);
	assert_null(fl_store_open(path, &err));
	snprintf(want, sizeof(want), "%s: file is not a database", path);
	assert_string_equal(err.msg, want);
	{
		struct stat sb;
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_size, 200 * 36);
	}

	/* Another program's SQLite database: not adopted. */
	snprintf(path, sizeof(path), "%s/other.db", t->dir);
	{
		sqlite3 *db = raw_open(path);
		assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
	}
	fl_error_init(&err);
	assert_null(fl_store_open(path, &err));
	snprintf(want, sizeof(want),
		 "%s: not a faultline database (it has tables but no schema version)", path);
	assert_string_equal(err.msg, want);
}

static int count_runs(const struct fl_run *run, void *ctx)
{
	(void)run;
	++*(int *)ctx;
	return 0;
}

/* A damaged file is reported as such, in one line naming it. */
static void test_corrupt_file(void **state)
{
	struct tdir *t = *state;
	struct fl_store *st = open_ok(t->db);
	struct fl_error err;
	struct fl_run run;
	char junk[3000], want[600];
	int fd, n = 0;

	for (int i = 0; i < 20; i++) {
		run_fill_full(&run);
		begin_finish(st, &run);
		fl_run_release(&run);
	}
	fl_store_close(st); /* the last close checkpoints the WAL into the file */
	memset(junk, 0xff, sizeof(junk));
	fd = open(t->db, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 4096), (ssize_t)sizeof(junk));
	close(fd);

	fl_error_init(&err);
	st = fl_store_open(t->db, &err);
	if (st) {
		assert_int_equal(fl_store_runs_each(st, NULL, count_runs, &n, &err), -1);
		fl_store_close(st);
	}
	snprintf(want, sizeof(want), "%s: database disk image is malformed", t->db);
	assert_string_equal(err.msg, want);
	assert_int_equal(err.code, FL_EXIT_ENV);
}

/* ---- migrations ------------------------------------------------------------------------ */

static void test_migrate_from_empty(void **state)
{
	struct tdir *t = *state;
	struct fl_store *st;
	sqlite3 *db;

	/* A version-0 database: a valid SQLite file with nothing in it. */
	db = raw_open(t->db);
	assert_int_equal(query_int(db, "PRAGMA user_version"), 0);
	assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode=DELETE; VACUUM", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);

	st = open_ok(t->db);
	db = fl_store_sql_db(st);
	assert_int_equal(fl_store_schema_version(st), FL_STORE_SCHEMA_VERSION);
	assert_int_equal(query_int(db, "PRAGMA user_version"), FL_STORE_SCHEMA_VERSION);
	assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
				       "name IN ('runs', 'run_events', 'run_phases', 'run_failures', "
				       "'run_probes', 'run_lost_writes', 'journal')"),
			 7);
	assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
				       "name IN ('runs_scenario_started', 'runs_label')"),
			 2);
	fl_store_close(st);

	/* Opening again is a no-op: nothing re-applied, nothing lost. */
	st = open_ok(t->db);
	{
		struct fl_run run;
		run_fill_minimal(&run, "again", "pass");
		begin_finish(st, &run);
		fl_run_release(&run);
	}
	fl_store_close(st);
	st = open_ok(t->db);
	assert_int_equal(query_int(fl_store_sql_db(st), "SELECT count(*) FROM runs"), 1);
	fl_store_close(st);
}

static void test_future_schema_refused(void **state)
{
	struct tdir *t = *state;
	struct fl_error err;
	char want[600];
	sqlite3 *db = raw_open(t->db);

	assert_int_equal(sqlite3_exec(db,
				      "CREATE TABLE runs(id INTEGER PRIMARY KEY, future TEXT);"
				      "INSERT INTO runs(future) VALUES ('keep me');"
				      "PRAGMA user_version = 7;",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);

	fl_error_init(&err);
	assert_null(fl_store_open(t->db, &err));
	snprintf(want, sizeof(want),
		 "%s: schema version 7 is newer than this faultline (%d); upgrade faultline", t->db,
		 FL_STORE_SCHEMA_VERSION);
	assert_string_equal(err.msg, want);
	assert_int_equal(err.code, FL_EXIT_ENV);

	/* Never downgraded or discarded. */
	db = raw_open(t->db);
	assert_int_equal(query_int(db, "PRAGMA user_version"), 7);
	assert_int_equal(query_int(db, "SELECT count(*) FROM runs WHERE future = 'keep me'"), 1);
	sqlite3_close(db);
}

/* ---- runs ---------------------------------------------------------------------------------- */

static void test_run_roundtrip_full(void **state)
{
	struct tdir *t = *state;
	struct fl_store *st = open_ok(t->db);
	struct fl_run run, got;
	struct fl_error err;
	json_t *j;

	run_fill_full(&run);
	begin_finish(st, &run);
	assert_int_equal(run.id, 1);

	fl_error_init(&err);
	if (fl_store_run_get(st, run.id, &got, &err))
		fail_msg("get: %s", err.msg);
	assert_string_equal(got.scenario, "pg-failover");
	assert_string_equal(got.environment, "staging");
	assert_string_equal(got.label, "v1.2.3");
	assert_string_equal(got.asset, "orders-db");
	assert_int_equal(got.asset_tier, 1);
	assert_int_equal(got.started_wall_ns, WALL_NS);
	assert_string_equal(got.verdict, "fail");
	assert_string_equal(got.faultline_version, "9.9.9");
	assert_string_equal(got.host, "drill-host");
	assert_true(got.rto_ms == 4312.0 && got.rto_uncertainty_ms == 10.0);
	assert_true(got.rpo_ms == 250.0 && got.rpo_uncertainty_ms == 20.0);
	assert_true(got.ttv_ms == 5500.25 && got.duration_ms == 60250.5);
	assert_true(got.rto_target_ms == 5000.0 && got.rpo_target_ms == 0.0);
	assert_int_equal(got.lost_before_fault, 2);
	assert_int_equal(got.lost_after_fault, 1);
	assert_int_equal(got.writes_acked, 1000);
	assert_int_equal(got.writes_failed, 7);
	assert_int_equal(got.writes_indeterminate, 3);
	assert_int_equal(got.writes_failed_present, 2);
	assert_int_equal(got.nevents, 3);
	assert_true(isnan(got.events[0].uncertainty_ms));
	assert_int_equal(got.nprobes, 2);
	assert_true(isnan(got.probes[1].latency_p99_ms));
	assert_int_equal(got.nlost_seqs, 3);
	assert_int_equal(got.lost_seqs[2], 977);

	j = fl_run_to_json(&got);
	assert_non_null(j);
	assert_json_equals_text(j, full_json);
	json_decref(j);
	/* The in-memory run and the stored one print the same. */
	j = fl_run_to_json(&run);
	assert_json_equals_text(j, full_json);
	json_decref(j);

	/* The raw row: started_at as RFC 3339 UTC, NAN as NULL. */
	assert_int_equal(query_int(fl_store_sql_db(st), "SELECT count(*) FROM runs WHERE started_at = "
							"'2026-11-25T06:45:59.123Z'"),
			 1);
	assert_int_equal(query_int(fl_store_sql_db(st),
				   "SELECT count(*) FROM run_events WHERE "
				   "name = 't_inject' AND uncertainty_ms IS NULL"),
			 1);
	fl_run_release(&got);
	fl_run_release(&run);
	fl_store_close(st);
}

static void test_run_roundtrip_missing(void **state)
{
	struct tdir *t = *state;
	struct fl_store *st = open_ok(t->db);
	struct fl_run run, got;
	struct fl_error err;
	json_t *j;

	/* Nothing at all: every field null, arrays empty. */
	fl_run_init(&run);
	j = fl_run_to_json(&run);
	assert_json_equals_text(j,
				"{\"id\": null, \"scenario\": null, \"environment\": null, \"label\": null,"
				" \"asset\": null, \"started_at\": null, \"verdict\": null, \"duration_ms\": null,"
				" \"rto_ms\": null, \"rto_uncertainty_ms\": null, \"rpo_ms\": null,"
				" \"rpo_uncertainty_ms\": null, \"ttv_ms\": null, \"rto_target_ms\": null,"
				" \"rpo_target_ms\": null, \"lost_before_fault\": null, \"lost_after_fault\": null,"
				" \"writes\": null, \"backup_last_good_at\": null, \"backup_last_good_type\": null,"
				" \"lost_seqs\": [], \"events\": [], \"phases\": [],"
				" \"probes\": [], \"failures\": []}");
	json_decref(j);

	/* Only what a run cannot be stored without: a scenario and a verdict. */
	run_fill_minimal(&run, "bare", "error");
	run.started_wall_ns = WALL_NS;
	begin_finish(st, &run);
	fl_error_init(&err);
	if (fl_store_run_get(st, run.id, &got, &err))
		fail_msg("get: %s", err.msg);
	assert_true(isnan(got.rto_ms) && isnan(got.rpo_ms) && isnan(got.ttv_ms));
	assert_true(isnan(got.duration_ms) && isnan(got.rto_target_ms));
	assert_int_equal(got.lost_before_fault, -1);
	assert_int_equal(got.writes_acked, -1);
	assert_null(got.environment);
	assert_null(got.label);
	/* What this build knows for a fact is recorded. */
	assert_string_equal(got.faultline_version, FAULTLINE_VERSION);
	assert_non_null(got.host);
	j = fl_run_to_json(&got);
	assert_json_equals_text(j,
				"{\"id\": 1, \"scenario\": \"bare\", \"environment\": null, \"label\": null,"
				" \"asset\": null, \"started_at\": \"2026-11-25T06:45:59.123Z\","
				" \"verdict\": \"error\", \"duration_ms\": null,"
				" \"rto_ms\": null, \"rto_uncertainty_ms\": null, \"rpo_ms\": null,"
				" \"rpo_uncertainty_ms\": null, \"ttv_ms\": null, \"rto_target_ms\": null,"
				" \"rpo_target_ms\": null, \"lost_before_fault\": null, \"lost_after_fault\": null,"
				" \"writes\": null, \"backup_last_good_at\": null, \"backup_last_good_type\": null,"
				" \"lost_seqs\": [], \"events\": [], \"phases\": [],"
				" \"probes\": [], \"failures\": []}");
	json_decref(j);
	fl_run_release(&got);
	fl_run_release(&run);

	/* Unknown id. */
	fl_error_init(&err);
	assert_int_equal(fl_store_run_get(st, 99, &got, &err), -1);
	assert_true(strstr(err.msg, ": run 99 not found") != NULL);
	fl_store_close(st);
}

static void test_run_finish_replaces_children(void **state)
{
	struct tdir *t = *state;
	struct fl_store *st = open_ok(t->db);
	struct fl_run run, got;
	struct fl_error err;

	run_fill_full(&run);
	begin_finish(st, &run);
	/* A second finish with fewer children: only the last call's survive. */
	fl_run_release(&run);
	run_fill_minimal(&run, "pg-failover", "pass");
	run.id = 1;
	run.started_wall_ns = WALL_NS;
	assert_int_equal(fl_run_add_event(&run, "t_inject", 0.0, 1.0), 0);
	fl_error_init(&err);
	assert_int_equal(fl_store_run_finish(st, &run, &err), 0);
	assert_int_equal(fl_store_run_get(st, 1, &got, &err), 0);
	assert_int_equal(got.nevents, 1);
	assert_int_equal(got.nphases, 0);
	assert_int_equal(got.nprobes, 0);
	assert_int_equal(got.nfailures, 0);
	assert_int_equal(got.nlost_seqs, 0);
	assert_string_equal(got.verdict, "pass");
	assert_true(isnan(got.rto_ms));
	fl_run_release(&got);

	/* Finishing a run that was never begun, or with no verdict, is refused. */
	run.id = 42;
	fl_error_init(&err);
	assert_int_equal(fl_store_run_finish(st, &run, &err), -1);
	assert_true(strstr(err.msg, ": run 42 does not exist") != NULL);
	run.id = 1;
	fl_free(run.verdict);
	run.verdict = fl_strdup("maybe");
	fl_error_init(&err);
	assert_int_equal(fl_store_run_finish(st, &run, &err), -1);
	assert_true(strstr(err.msg, ": run 1 has no valid verdict (maybe)") != NULL);
	fl_run_release(&run);
	fl_store_close(st);
}

struct collect {
	int64_t ids[64];
	int n;
	int stop_after;
};

static int collect_ids(const struct fl_run *run, void *ctx)
{
	struct collect *c = ctx;
	if (c->n < 64)
		c->ids[c->n++] = run->id;
	return c->stop_after && c->n >= c->stop_after ? 7 : 0;
}

static void test_runs_each_filters(void **state)
{
	struct tdir *t = *state;
	struct fl_store *st = open_ok(t->db);
	struct fl_error err;
	struct fl_run run;
	struct fl_run_filter f;
	struct collect c;
	/* scenario, label, start offset (s), verdict; ids 1..6 in this order */
	static const struct {
		const char *sc, *label;
		int off;
		const char *verdict;
	} rows[] = {
		{ "a", "v1", 10, "pass" }, { "a", "v2", 30, "fail" }, { "b", "v1", 20, "pass" },
		{ "a", "v1", 30, "pass" }, { "b", "v2", 40, NULL },   { "a", NULL, 5, "aborted" },
	};

	for (size_t i = 0; i < FL_ARRAY_LEN(rows); i++) {
		run_fill_minimal(&run, rows[i].sc, rows[i].verdict ? rows[i].verdict : "running");
		if (rows[i].label)
			run.label = fl_strdup(rows[i].label);
		run.started_wall_ns = WALL_NS + rows[i].off * FL_NS_PER_S;
		fl_error_init(&err);
		assert_int_equal(fl_store_run_begin(st, &run, &err), 0);
		if (rows[i].verdict)
			assert_int_equal(fl_store_run_finish(st, &run, &err), 0);
		fl_run_release(&run);
	}

	/* Newest first, ties broken by id (newest insert first); running left out. */
	memset(&c, 0, sizeof(c));
	memset(&f, 0, sizeof(f));
	fl_error_init(&err);
	assert_int_equal(fl_store_runs_each(st, &f, collect_ids, &c, &err), 0);
	assert_int_equal(c.n, 5);
	assert_int_equal(c.ids[0], 4);
	assert_int_equal(c.ids[1], 2);
	assert_int_equal(c.ids[2], 3);
	assert_int_equal(c.ids[3], 1);
	assert_int_equal(c.ids[4], 6);

	memset(&c, 0, sizeof(c));
	f.include_running = 1;
	assert_int_equal(fl_store_runs_each(st, &f, collect_ids, &c, &err), 0);
	assert_int_equal(c.n, 6);
	assert_int_equal(c.ids[0], 5);

	memset(&c, 0, sizeof(c));
	memset(&f, 0, sizeof(f));
	f.scenario = "a";
	f.label = "v1";
	assert_int_equal(fl_store_runs_each(st, &f, collect_ids, &c, &err), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ids[0], 4);
	assert_int_equal(c.ids[1], 1);

	memset(&c, 0, sizeof(c));
	memset(&f, 0, sizeof(f));
	f.since_wall_ns = WALL_NS + 20 * FL_NS_PER_S;
	f.limit = 2;
	assert_int_equal(fl_store_runs_each(st, &f, collect_ids, &c, &err), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ids[0], 4);
	assert_int_equal(c.ids[1], 2);

	/* The callback's non-zero return stops the walk and is handed back. */
	memset(&c, 0, sizeof(c));
	memset(&f, 0, sizeof(f));
	c.stop_after = 2;
	assert_int_equal(fl_store_runs_each(st, &f, collect_ids, &c, &err), 7);
	assert_int_equal(c.n, 2);
	assert_false(fl_error_is_set(&err));

	/* NULL filter = everything finished. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(fl_store_runs_each(st, NULL, collect_ids, &c, &err), 0);
	assert_int_equal(c.n, 5);
	fl_store_close(st);
}

/* ---- a full disk ------------------------------------------------------------------------------ */

static void test_disk_full(void **state)
{
	struct tdir *t = *state;
	struct fl_store *st = open_ok(t->db);
	sqlite3 *db = fl_store_sql_db(st);
	struct fl_run run;
	struct fl_error err;
	char sql[96], want[600];
	long long pages;
	int64_t id;

	run_fill_full(&run);
	begin_finish(st, &run);
	fl_run_release(&run);

	/* Cap the file at its current size: the next growth is SQLITE_FULL,
	 * exactly what a full disk returns. */
	pages = query_int(db, "PRAGMA page_count");
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", pages);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);

	run_fill_minimal(&run, "big", "pass");
	for (int i = 0; i < 200; i++)
		assert_int_equal(fl_run_add_failure(&run, "%0500d", i), 0);
	fl_error_init(&err);
	assert_int_equal(fl_store_run_begin(st, &run, &err), 0);
	id = run.id;
	assert_int_equal(fl_store_run_finish(st, &run, &err), -1);
	snprintf(want, sizeof(want), "%s: database or disk is full", t->db);
	assert_string_equal(err.msg, want);
	assert_int_equal(err.code, FL_EXIT_ENV);

	/* Nothing half-written: the run is still "running" with no children,
	 * the earlier run is whole, and the file is sound. */
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM run_failures WHERE run_id = %lld",
		 (long long)id);
	assert_int_equal(query_int(db, sql), 0);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM runs WHERE id = %lld AND verdict = 'running'", (long long)id);
	assert_int_equal(query_int(db, sql), 1);
	assert_int_equal(query_int(db, "SELECT count(*) FROM run_events WHERE run_id = 1"), 3);
	assert_integrity_ok(db);

	/* Space again: the same finish now succeeds. */
	assert_int_equal(sqlite3_exec(db, "PRAGMA max_page_count = 1000000", NULL, NULL, NULL),
			 SQLITE_OK);
	fl_error_init(&err);
	assert_int_equal(fl_store_run_finish(st, &run, &err), 0);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM run_failures WHERE run_id = %lld",
		 (long long)id);
	assert_int_equal(query_int(db, sql), 200);
	fl_run_release(&run);
	fl_store_close(st);
}

/* ---- concurrency ----------------------------------------------------------------------------- */

#define CONC_PROCS 4
#define CONC_RUNS 50

/* Child body: returns the exit status. Opens its own connection after the
 * fork, racing the others to create and migrate the file. */
static int conc_child(const char *path, int k)
{
	struct fl_error err;
	struct fl_store *st;
	char scenario[32];
	int rc = 1;

	fl_error_init(&err);
	st = fl_store_open(path, &err);
	if (!st)
		goto out;
	snprintf(scenario, sizeof(scenario), "conc-%d", k);
	for (int i = 0; i < CONC_RUNS; i++) {
		struct fl_run run;
		int64_t jid;
		json_t *rev;
		int bad;
		fl_run_init(&run);
		run.scenario = fl_strdup(scenario);
		run.started_wall_ns = fl_wall_ns();
		if (fl_store_run_begin(st, &run, &err)) {
			fl_run_release(&run);
			goto out;
		}
		rev = json_pack("{s:i, s:i}", "proc", k, "i", i);
		bad = !rev ||
		      fl_journal_begin(st, run.id, "process", scenario, "kill", rev, &jid, &err) ||
		      fl_journal_mark(st, jid, FL_JOURNAL_INJECTED, NULL, NULL, &err) ||
		      fl_journal_mark(st, jid, FL_JOURNAL_REVERTED, NULL, NULL, &err);
		json_decref(rev);
		run.verdict = fl_strdup("pass");
		run.rto_ms = i;
		bad = bad || fl_run_add_event(&run, "t_inject", 0.0, 1.0) ||
		      fl_run_add_event(&run, "t_restored", i, 1.0) ||
		      fl_run_add_phase(&run, "recover", 0.0, i) ||
		      fl_store_run_finish(st, &run, &err);
		fl_run_release(&run);
		if (bad)
			goto out;
	}
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "child %d: %s\n", k, err.msg[0] ? err.msg : "out of memory");
	fl_store_close(st);
	return rc;
}

/* Waits for pid with a deadline; kills it and fails the test past it. */
static int wait_child(pid_t pid, int64_t deadline_ns)
{
	int status = 0;
	for (long spins = 0; spins < 1000000; spins++) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		if (r < 0)
			fail_msg("waitpid: %s", strerror(errno));
		if (fl_now_ns() > deadline_ns) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("child %d did not finish in time", (int)pid);
		}
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	fail_msg("child %d: wait loop exhausted", (int)pid);
	return -1;
}

static void test_concurrent_writers(void **state)
{
	struct tdir *t = *state;
	pid_t pids[CONC_PROCS];
	int64_t deadline = fl_now_ns() + 100 * FL_NS_PER_S;
	struct fl_store *st;
	sqlite3 *db;

	fflush(NULL);
	for (int k = 0; k < CONC_PROCS; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0)
			_exit(conc_child(t->db, k));
	}
	for (int k = 0; k < CONC_PROCS; k++) {
		int status = wait_child(pids[k], deadline);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}

	st = open_ok(t->db);
	db = fl_store_sql_db(st);
	assert_int_equal(query_int(db, "SELECT count(*) FROM runs"), CONC_PROCS * CONC_RUNS);
	assert_int_equal(query_int(db, "SELECT count(*) FROM runs WHERE verdict = 'pass'"),
			 CONC_PROCS * CONC_RUNS);
	assert_int_equal(query_int(db, "SELECT count(DISTINCT scenario) FROM runs"), CONC_PROCS);
	assert_int_equal(query_int(db, "SELECT max(c) FROM (SELECT count(*) AS c FROM runs "
				       "GROUP BY scenario)"),
			 CONC_RUNS);
	assert_int_equal(query_int(db, "SELECT count(*) FROM run_events"),
			 2 * CONC_PROCS * CONC_RUNS);
	assert_int_equal(query_int(db, "SELECT count(*) FROM run_phases"), CONC_PROCS * CONC_RUNS);
	assert_int_equal(query_int(db, "SELECT count(*) FROM journal WHERE state = 'reverted'"),
			 CONC_PROCS * CONC_RUNS);
	/* Each journal row points at the run its process wrote. */
	assert_int_equal(query_int(db, "SELECT count(*) FROM journal j JOIN runs r ON r.id = j.run_id "
				       "WHERE r.scenario = j.target"),
			 CONC_PROCS * CONC_RUNS);
	assert_integrity_ok(db);
	fl_store_close(st);
}

/* ---- crash --------------------------------------------------------------------------------------- */

#define CRASH_REPORTS 25

/* Writes runs forever; after each one is committed, reports its id. */
static void crash_child(const char *path, int wfd)
{
	struct fl_error err;
	struct fl_store *st;
	fl_error_init(&err);
	st = fl_store_open(path, &err);
	if (!st)
		_exit(1);
	for (long i = 0; i < 1000000; i++) {
		struct fl_run run;
		int64_t jid;
		int bad;
		fl_run_init(&run);
		run.scenario = fl_strdup("crash");
		run.verdict = fl_strdup("pass");
		bad = fl_store_run_begin(st, &run, &err) ||
		      fl_journal_begin(st, run.id, "process", "db", "stop", NULL, &jid, &err) ||
		      fl_journal_mark(st, jid, FL_JOURNAL_INJECTED, NULL, NULL, &err) ||
		      fl_run_add_event(&run, "t_inject", 0.0, 1.0) ||
		      fl_run_add_event(&run, "t_restored", 1000.0 + (double)i, 1.0) ||
		      fl_run_add_failure(&run, "run %ld", i) || fl_store_run_finish(st, &run, &err);
		if (!bad && write(wfd, &run.id, sizeof(run.id)) != (ssize_t)sizeof(run.id))
			bad = 1;
		fl_run_release(&run);
		if (bad)
			_exit(1);
	}
	_exit(0);
}

static void test_crash_keeps_committed(void **state)
{
	struct tdir *t = *state;
	int fds[2];
	int64_t ids[4096];
	size_t n = 0;
	int64_t deadline = fl_now_ns() + 60 * FL_NS_PER_S;
	struct fl_store *st;
	sqlite3 *db;
	pid_t pid;
	int status;

	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		crash_child(t->db, fds[1]);
	}
	close(fds[1]);

	/* Kill it after CRASH_REPORTS commits, wherever it is in its loop. */
	while (n < CRASH_REPORTS) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		ssize_t r;
		if (fl_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("child reported only %zu commits", n);
		}
		if (poll(&p, 1, 100) <= 0)
			continue;
		r = read(fds[0], &ids[n], sizeof(ids[n]));
		if (r != (ssize_t)sizeof(ids[n])) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("child stopped early (read %zd)", r);
		}
		n++;
	}
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* Ids it reported between our last read and the kill count too. */
	while (n < FL_ARRAY_LEN(ids)) {
		ssize_t r = read(fds[0], &ids[n], sizeof(ids[n]));
		if (r != (ssize_t)sizeof(ids[n]))
			break;
		n++;
	}
	close(fds[0]);

	st = open_ok(t->db);
	db = fl_store_sql_db(st);
	assert_integrity_ok(db);
	for (size_t i = 0; i < n; i++) {
		struct fl_run got;
		struct fl_error err;
		fl_error_init(&err);
		if (fl_store_run_get(st, ids[i], &got, &err))
			fail_msg("reported run %lld lost: %s", (long long)ids[i], err.msg);
		assert_string_equal(got.verdict, "pass");
		assert_int_equal(got.nevents, 2);
		assert_int_equal(got.nfailures, 1);
		fl_run_release(&got);
	}
	assert_true(query_int(db, "SELECT count(*) FROM runs WHERE verdict = 'pass'") >= (long long)n);
	/* Every reported run's journal row is still open, for `recover`. */
	{
		struct fl_journal_entry *e = NULL;
		size_t ne = 0;
		struct fl_error err;
		fl_error_init(&err);
		assert_int_equal(fl_journal_open_entries(st, &e, &ne, &err), 0);
		assert_true(ne >= n);
		fl_journal_entries_free(e, ne);
	}
	fl_store_close(st);
}

/* ---- allocation failure ------------------------------------------------------------------------ */

/* One open + begin/finish/get/json/journal cycle; 0 when all of it worked. */
static int alloc_cycle(const char *path, const struct fl_run *tmpl, struct fl_error *err)
{
	struct fl_store *st = fl_store_open(path, err);
	struct fl_run run, got;
	struct fl_journal_entry *e = NULL;
	size_t ne = 0;
	json_t *j = NULL;
	int64_t jid;
	int ret = -1;

	fl_run_init(&got);
	run = *tmpl;
	run.id = 0;
	if (!st)
		goto out;
	if (fl_store_run_begin(st, &run, err) || fl_store_run_finish(st, &run, err) ||
	    fl_store_run_get(st, run.id, &got, err))
		goto out;
	if (!(j = fl_run_to_json(&got))) {
		fl_error_set(err, FL_EXIT_ENV, "%s: out of memory", path);
		goto out;
	}
	if (fl_journal_begin(st, run.id, "process", "db", "stop", json_object_get(j, "writes"),
			     &jid, err) ||
	    fl_journal_mark(st, jid, FL_JOURNAL_REVERTED, NULL, NULL, err) ||
	    fl_journal_open_entries(st, &e, &ne, err))
		goto out;
	ret = 0;
out:
	fl_journal_entries_free(e, ne);
	json_decref(j);
	fl_run_release(&got);
	fl_store_close(st);
	return ret;
}

/* Fails allocation n, n+1, ... for n = 1, 2, ... until op succeeds; each
 * failure must be a clear one-line error naming the file. Returns the
 * number of failing points. */
static long alloc_fail_each(const char *path,
			    int (*op)(const char *, const struct fl_run *, struct fl_error *),
			    const struct fl_run *tmpl)
{
	long n, failures = 0, stride = 1;
	int ok = 0;
	/* FAULTLINE_ALLOCFAIL_STRIDE=k tries every k-th point only (valgrind). */
	if (getenv("FAULTLINE_ALLOCFAIL_STRIDE") &&
	    fl_parse_long(getenv("FAULTLINE_ALLOCFAIL_STRIDE"), 1, 1000, &stride) < 0)
		stride = 1;
	for (n = 1; n <= 200000 && !ok; n += stride) {
		struct fl_error err;
		fl_error_init(&err);
		fl_alloc_fail_after(n);
		ok = op(path, tmpl, &err) == 0;
		fl_alloc_fail_after(-1);
		if (!ok) {
			failures++;
			if (!fl_error_is_set(&err))
				fail_msg("allocation %ld failed without an error", n);
			if (!strstr(err.msg, path) || strchr(err.msg, '\n'))
				fail_msg("allocation %ld: unclear error '%s'", n, err.msg);
		}
	}
	assert_true(ok);
	return failures;
}

static int alloc_open(const char *path, const struct fl_run *tmpl, struct fl_error *err)
{
	struct fl_store *st = fl_store_open(path, err);
	(void)tmpl;
	fl_store_close(st);
	return st ? 0 : -1;
}

static void test_alloc_failures(void **state)
{
	struct tdir *t = *state;
	struct fl_run tmpl;
	struct fl_store *st;
	long f_open, f_cycle;

	run_fill_full(&tmpl);
	/* Creating and migrating a new file, failing at every allocation. */
	f_open = alloc_fail_each(t->db, alloc_open, &tmpl);
	/* Then the whole write/read cycle on the migrated file. */
	f_cycle = alloc_fail_each(t->db, alloc_cycle, &tmpl);
	print_message("allocation failure: %ld points in open+migrate, %ld in the run cycle\n",
		      f_open, f_cycle);
	assert_true(f_cycle > 500 / (getenv("FAULTLINE_ALLOCFAIL_STRIDE") ? 50 : 1));

	/* Whatever failed where, the file is sound and no run is half-written:
	 * every finished run has all its children. */
	st = open_ok(t->db);
	assert_integrity_ok(fl_store_sql_db(st));
	assert_int_equal(fl_store_schema_version(st), FL_STORE_SCHEMA_VERSION);
	assert_int_equal(query_int(fl_store_sql_db(st),
				   "SELECT count(*) FROM runs r WHERE verdict <> 'running' AND "
				   "(SELECT count(*) FROM run_events WHERE run_id = r.id) <> 3"),
			 0);
	assert_true(query_int(fl_store_sql_db(st),
			      "SELECT count(*) FROM runs WHERE verdict = 'fail'") >= 1);
	fl_store_close(st);
	fl_run_release(&tmpl);
}

/* ---- faultline runs ---------------------------------------------------------------------------- */

struct cli_out {
	int rc;
	char out[16384];
	char err[2048];
};

static void slurp(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "r");
	size_t got = 0;
	if (f) {
		got = fread(buf, 1, n - 1, f);
		fclose(f);
	}
	buf[got] = '\0';
}

/* Runs cmd_runs in this process with stdout and stderr captured. */
static void cli_runs(struct tdir *t, struct cli_out *o, int argc, const char **argv)
{
	char outp[400], errp[400];
	int so, se, fo, fe;
	snprintf(outp, sizeof(outp), "%s/cli.out", t->dir);
	snprintf(errp, sizeof(errp), "%s/cli.err", t->dir);
	fflush(stdout);
	fflush(stderr);
	so = dup(1);
	se = dup(2);
	fo = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fe = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(so >= 0 && se >= 0 && fo >= 0 && fe >= 0);
	dup2(fo, 1);
	dup2(fe, 2);
	o->rc = cmd_runs(argc, FL_UNCONST(char **, argv));
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	close(fo);
	close(fe);
	slurp(outp, o->out, sizeof(o->out));
	slurp(errp, o->err, sizeof(o->err));
	unlink(outp);
	unlink(errp);
}

/* The line of the table whose first cell is id, copied into buf. */
static const char *table_line(const char *out, const char *id, char *buf, size_t n)
{
	size_t idlen = strlen(id);
	for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (!strncmp(l, id, idlen) && l[idlen] == ' ') {
			size_t len = strcspn(l, "\n");
			snprintf(buf, n, "%.*s", (int)len, l);
			return buf;
		}
	}
	fail_msg("no table line for id %s in:\n%s", id, out);
	return NULL;
}

static void test_cli_runs(void **state)
{
	struct tdir *t = *state;
	struct cli_out *o = calloc(1, sizeof(*o));
	struct fl_store *st;
	struct fl_run run;
	struct fl_error err;
	char missing[400], line[512], want[600];
	json_error_t jerr;
	json_t *arr;

	assert_non_null(o);
	/* No database yet: an empty list, exit 0, and no file created. */
	snprintf(missing, sizeof(missing), "%s/none.db", t->dir);
	{
		const char *argv[] = { "runs", "--db", missing, "--json", NULL };
		cli_runs(t, o, 4, argv);
		assert_int_equal(o->rc, 0);
		assert_string_equal(o->out, "[]\n");
		assert_string_equal(o->err, "");
		assert_int_equal(access(missing, F_OK), -1);
	}
	{
		const char *argv[] = { "runs", "--db", missing, NULL };
		cli_runs(t, o, 3, argv);
		assert_int_equal(o->rc, 0);
		assert_non_null(strstr(o->out, "no runs"));
		assert_int_equal(access(missing, F_OK), -1);
	}

	/* Seed: 1 full (fail), 2 bare (error, newer), 3 still running. */
	st = open_ok(t->db);
	run_fill_full(&run);
	begin_finish(st, &run);
	fl_run_release(&run);
	run_fill_minimal(&run, "bare", "error");
	run.started_wall_ns = WALL_NS + FL_NS_PER_S;
	begin_finish(st, &run);
	fl_run_release(&run);
	fl_run_init(&run);
	run.scenario = fl_strdup("pg-failover");
	run.started_wall_ns = WALL_NS + 2 * FL_NS_PER_S;
	fl_error_init(&err);
	assert_int_equal(fl_store_run_begin(st, &run, &err), 0);
	fl_run_release(&run);

	/* --json: only a JSON array, newest first, each object as fl_run_to_json. */
	{
		const char *argv[] = { "runs", "--json", "--db", t->db, NULL };
		struct fl_run got;
		json_t *want_obj;
		cli_runs(t, o, 4, argv);
		assert_int_equal(o->rc, 0);
		assert_string_equal(o->err, "");
		arr = json_loads(o->out, 0, &jerr);
		if (!arr)
			fail_msg("runs --json is not JSON (%s): %s", jerr.text, o->out);
		assert_true(json_is_array(arr));
		assert_int_equal(json_array_size(arr), 2);
		assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 0), "id")),
				 2);
		assert_json_equals_text(json_array_get(arr, 1), full_json);
		assert_int_equal(fl_store_run_get(st, 2, &got, &err), 0);
		want_obj = fl_run_to_json(&got);
		assert_true(json_equal(json_array_get(arr, 0), want_obj));
		json_decref(want_obj);
		fl_run_release(&got);
		json_decref(arr);
	}
	/* Filters and --all. */
	{
		const char *argv[] = { "runs",  "--db",       t->db,         "--json",
				       "--all", "--scenario", "pg-failover", NULL };
		cli_runs(t, o, 7, argv);
		assert_int_equal(o->rc, 0);
		arr = json_loads(o->out, 0, &jerr);
		assert_non_null(arr);
		assert_int_equal(json_array_size(arr), 2);
		assert_string_equal(json_string_value(
					    json_object_get(json_array_get(arr, 0), "verdict")),
				    "running");
		json_decref(arr);
	}
	{
		char dbopt[400];
		const char *argv[] = { "runs",    dbopt, "--json", "--label=v1.2.3",
				       "--limit", "1",   NULL };
		snprintf(dbopt, sizeof(dbopt), "--db=%s", t->db);
		cli_runs(t, o, 6, argv);
		assert_int_equal(o->rc, 0);
		arr = json_loads(o->out, 0, &jerr);
		assert_non_null(arr);
		assert_int_equal(json_array_size(arr), 1);
		assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 0), "id")),
				 1);
		json_decref(arr);
	}

	/* Human table: figures with their uncertainty, "-" where nothing applies. */
	{
		const char *argv[] = { "runs", "--db", t->db, NULL };
		cli_runs(t, o, 3, argv);
		assert_int_equal(o->rc, 0);
		assert_string_equal(o->err, "");
		assert_true(!strncmp(o->out, "ID ", 3));
		assert_null(strstr(o->out, "running"));
		table_line(o->out, "1", line, sizeof(line));
		assert_non_null(strstr(line, "2026-11-25T06:45:59.123Z"));
		assert_non_null(strstr(line, "pg-failover"));
		assert_non_null(strstr(line, "v1.2.3"));
		assert_non_null(strstr(line, " fail "));
		assert_non_null(strstr(line, "4.312 s ± 0.010 s"));
		assert_non_null(strstr(line, "0.250 s ± 0.020 s"));
		assert_non_null(strstr(line, " 2/1"));
		table_line(o->out, "2", line, sizeof(line));
		assert_non_null(strstr(line, " error "));
		assert_non_null(strstr(line, " -/-"));
		assert_null(strstr(line, " s ±"));
		/* newest first */
		assert_true(strstr(o->out, "\n2 ") < strstr(o->out, "\n1 "));
	}

	/* Usage errors: one line, exit 2, nothing on stdout. */
	{
		const char *argv[] = { "runs", "--db", t->db, "--limit", "zero", NULL };
		cli_runs(t, o, 5, argv);
		assert_int_equal(o->rc, FL_EXIT_INPUT);
		assert_string_equal(o->out, "");
		assert_non_null(strstr(o->err, "--limit"));
		assert_int_equal(strchr(o->err, '\n') - o->err, (long)strlen(o->err) - 1);
	}
	{
		const char *argv[] = { "runs", "--frobnicate", NULL };
		cli_runs(t, o, 2, argv);
		assert_int_equal(o->rc, FL_EXIT_INPUT);
		assert_string_equal(o->out, "");
	}
	fl_store_close(st);

	/* A database from a newer faultline: one line, exit 3, nothing on stdout. */
	{
		sqlite3 *db = raw_open(missing);
		const char *argv[] = { "runs", "--db", missing, "--json", NULL };
		assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 9", NULL, NULL, NULL),
				 SQLITE_OK);
		sqlite3_close(db);
		cli_runs(t, o, 4, argv);
		assert_int_equal(o->rc, FL_EXIT_ENV);
		assert_string_equal(o->out, "");
		snprintf(want, sizeof(want),
			 "%s: schema version 9 is newer than this faultline (%d); upgrade faultline\n",
			 missing, FL_STORE_SCHEMA_VERSION);
		assert_string_equal(o->err, want);
	}
	free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_0600_wal, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_file, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_empty, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_future_schema_refused, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_run_roundtrip_full, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_run_roundtrip_missing, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_run_finish_replaces_children, tdir_setup,
						tdir_teardown),
		cmocka_unit_test_setup_teardown(test_runs_each_filters, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_cli_runs, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writers, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_crash_keeps_committed, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_alloc_failures, tdir_setup, tdir_teardown),
	};
	fl_alloc_install_jansson();
	/* Without lookaside every small SQLite allocation reaches fl_malloc, so
	 * test_alloc_failures fails each of them in turn (must precede the first
	 * sqlite3 call; the store's allocator setup then follows it). */
	if (sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0) != SQLITE_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
