/*
 * test_allocfail: faultline survives running out of memory anywhere in the
 * paths every drill takes before and after its faults.
 *
 * For n = 1, 2, ... fl_alloc_fail_after(n) makes the n-th allocation and
 * every later one fail (jansson's too, through fl_alloc_install_jansson),
 * then one whole operation runs: loading each example scenario with its
 * environment and inventory and resolving it (what `faultline validate`
 * does), loading each example environment and inventory, and opening a new
 * store, writing a full run, journaling a fault and reading both back as
 * JSON. Every attempt that fails must fail with one clear error line; the
 * loop ends at the first n where the operation succeeds (it must, before
 * ALLOCFAIL_MAX_POINTS), and that success must have made fewer than n
 * allocations: one that reports success although an allocation failed
 * swallowed the error. No crash under ASan/UBSan, no leak (ASan's leak
 * check at exit, valgrind in ci/trust.sh).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/environment.h"
#include "core/inventory.h"
#include "core/scenario.h"
#include "sim/resolve.h"
#include "core/store.h"
#include "sim/writer.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"

/* Far above the allocations of any one operation (a few thousand). */
#define ALLOCFAIL_MAX_POINTS 100000

static char src_dir[2048];
static char tmp_dir[256];
/* FAULTLINE_ALLOCFAIL_STRIDE=k tries every k-th failure point only (valgrind
 * runs this test some 50 times slower; ASan and native runs try them all). */
static long stride = 1;

typedef int (*allocfail_op)(const char *arg, struct fl_error *err);

static int setup(void **state)
{
	const char *src = getenv("FAULTLINE_SOURCE_DIR");
	(void)state;
	fl_alloc_install_jansson();
	snprintf(src_dir, sizeof(src_dir), "%s", src && *src ? src : ".");
	snprintf(tmp_dir, sizeof(tmp_dir), "%s/faultline-allocfail.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp_dir))
		return -1;
	if (getenv("FAULTLINE_ALLOCFAIL_STRIDE") &&
	    fl_parse_long(getenv("FAULTLINE_ALLOCFAIL_STRIDE"), 1, 1000, &stride) < 0)
		return -1;
	/* The example files name the demo environment's directory and ports
	 * (define_variables fills in the rest). */
	setenv("FAULTLINE_DEMO_DIR", tmp_dir, 1);
	setenv("FAULTLINE_DEMO_HOME", tmp_dir, 1);
	setenv("FAULTLINE_DEMO_PORT1", "18081", 1);
	setenv("FAULTLINE_DEMO_PORT2", "18082", 1);
	return 0;
}

static void remove_db(const char *db)
{
	char path[512];
	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
	size_t i;
	for (i = 0; i < FL_ARRAY_LEN(suffixes); i++) {
		snprintf(path, sizeof(path), "%s%s", db, suffixes[i]);
		unlink(path);
	}
}

static int teardown(void **state)
{
	char db[512];
	(void)state;
	snprintf(db, sizeof(db), "%s/allocfail.db", tmp_dir);
	remove_db(db);
	rmdir(tmp_dir);
	return 0;
}

/* Runs op failing allocation n, n+1, ... for n = 1, 2, ... until it
 * succeeds. Returns the number of failing points seen (each of them checked
 * for a clear error). */
static long allocfail_each(const char *what, allocfail_op op, const char *arg)
{
	long n, failures = 0;
	int ok = 0;

	for (n = 1; n <= ALLOCFAIL_MAX_POINTS && !ok; n += stride) {
		struct fl_error err;
		long attempted, failed;
		fl_error_init(&err);
		fl_alloc_fail_after(n);
		ok = op(arg, &err) == 0;
		attempted = fl_alloc_count();
		failed = fl_alloc_failed();
		fl_alloc_fail_after(-1);
		/* A success only counts when no allocation failed during it
		 * (but those in benign sections, alloc.h): an op that reports
		 * success after a failed allocation swallowed an out-of-memory
		 * (a half-loaded scenario, a run stored without its samples). */
		if (ok && failed > 0)
			fail_msg("%s: succeeded although %ld of its %ld allocations failed (from "
				 "allocation %ld on)",
				 what, failed, attempted, n);
		if (ok)
			break;
		failures++;
		if (!fl_error_is_set(&err))
			fail_msg("%s: allocation %ld failed without an error", what, n);
		if (err.msg[0] == '\0' || strchr(err.msg, '\n'))
			fail_msg("%s: allocation %ld: unclear error '%s'", what, n, err.msg);
		if (err.code != FL_EXIT_INPUT && err.code != FL_EXIT_ENV)
			fail_msg("%s: allocation %ld: error class %d ('%s')", what, n, err.code,
				 err.msg);
	}
	if (!ok)
		fail_msg("%s: still failing after %d allocation points", what, ALLOCFAIL_MAX_POINTS);
	return failures;
}

/* ---- the operations ---------------------------------------------------------------------- */

/* What `faultline validate SCENARIO` does: the scenario, the environment and
 * inventory it names, and the cross-check. */
static int op_scenario(const char *path, struct fl_error *err)
{
	struct fl_scenario *sc = fl_scenario_load(path, err);
	struct fl_environment *env = NULL;
	struct fl_inventory *inv = NULL;
	int ret = -1;

	if (!sc)
		goto out;
	if (sc->environment && !(env = fl_environment_load(sc->environment, err)))
		goto out;
	if (sc->inventory && !(inv = fl_inventory_load(sc->inventory, err)))
		goto out;
	if (fl_resolve_scenario(sc, env, inv, err) < 0)
		goto out;
	ret = 0;
out:
	fl_inventory_free(inv);
	fl_environment_free(env);
	fl_scenario_free(sc);
	return ret;
}

static int op_environment(const char *path, struct fl_error *err)
{
	struct fl_environment *env = fl_environment_load(path, err);
	fl_environment_free(env);
	return env ? 0 : -1;
}

static int op_inventory(const char *path, struct fl_error *err)
{
	struct fl_inventory *inv = fl_inventory_load(path, err);
	fl_inventory_free(inv);
	return inv ? 0 : -1;
}

static int fill_run(struct fl_run *run)
{
	struct fl_probe_summary p = { .name = "api",
				      .kind = "http",
				      .samples = 120,
				      .failures = 40,
				      .interval_ms = 50.0,
				      .latency_p50_ms = 1.5,
				      .latency_p99_ms = 9.0,
				      .latency_max_ms = 12.0 };
	int bad = 0;

	bad |= !(run->scenario = fl_strdup("allocfail"));
	bad |= !(run->environment = fl_strdup("demo"));
	bad |= !(run->label = fl_strdup("v1.2.3"));
	bad |= !(run->asset = fl_strdup("orders-db"));
	bad |= !(run->verdict = fl_strdup("fail"));
	run->asset_tier = 1;
	run->started_wall_ns = INT64_C(1795589159123456789);
	run->duration_ms = 9000.0;
	run->rto_ms = 4312.0;
	run->rto_uncertainty_ms = 50.0;
	run->rpo_ms = 250.0;
	run->rpo_uncertainty_ms = 50.0;
	run->rto_target_ms = 30000.0;
	run->rpo_target_ms = 0.0;
	run->lost_before_fault = 2;
	run->lost_after_fault = 0;
	run->writes_acked = 170;
	run->writes_failed = 12;
	run->writes_indeterminate = 1;
	bad |= fl_run_add_lost_seq(run, 41) < 0;
	bad |= fl_run_add_lost_seq(run, 42) < 0;
	bad |= fl_run_add_event(run, "t_inject", 0.0, NAN) < 0;
	bad |= fl_run_add_event(run, "t_restored", 4312.0, 50.0) < 0;
	bad |= fl_run_add_phase(run, "detect", 0.0, 150.0) < 0;
	bad |= fl_run_add_phase(run, "recover", 150.0, 4312.0) < 0;
	bad |= fl_run_add_probe(run, &p) < 0;
	bad |= fl_run_add_failure(run, "rpo %.3f s exceeds target %.3f s", 0.25, 0.0) < 0;
	return bad ? -1 : 0;
}

static int first_run(const struct fl_run *run, void *ctx)
{
	json_t **out = ctx;
	*out = fl_run_to_json(run);
	return 1;
}

/* A new store, a whole run written and read back, a fault journaled and
 * closed: what `faultline run` writes and `faultline runs --json` reads. */
static int op_store(const char *db, struct fl_error *err)
{
	struct fl_store *st = NULL;
	struct fl_run run, back;
	struct fl_run_filter filter = { .include_running = 1 };
	struct fl_journal_entry *open_rows = NULL;
	size_t nopen = 0;
	json_t *revert = NULL, *j = NULL;
	int64_t jid = 0;
	int ret = -1;

	fl_run_init(&run);
	fl_run_init(&back);
	remove_db(db);
	if (!(st = fl_store_open(db, err)))
		goto out;
	if (fill_run(&run) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "allocfail: out of memory filling the run");
		goto out;
	}
	if (fl_store_run_begin(st, &run, err) < 0)
		goto out;
	if (!(revert = json_pack("{s:s, s:i}", "signal", "CONT", "pid", 4242))) {
		fl_error_set(err, FL_EXIT_ENV, "allocfail: out of memory packing the revert");
		goto out;
	}
	if (fl_journal_begin(st, run.id, "process", "api-1", "SIGSTOP api-1", revert, &jid, err) < 0 ||
	    fl_journal_mark(st, jid, FL_JOURNAL_INJECTED, NULL, NULL, err) < 0 ||
	    fl_journal_open_entries(st, &open_rows, &nopen, err) < 0)
		goto out;
	if (nopen != 1) {
		fl_error_set(err, FL_EXIT_ENV, "allocfail: %zu open journal rows, wanted 1", nopen);
		goto out;
	}
	if (fl_journal_mark(st, jid, FL_JOURNAL_REVERTED, NULL, NULL, err) < 0 ||
	    fl_store_run_finish(st, &run, err) < 0 || fl_store_run_get(st, run.id, &back, err) < 0)
		goto out;
	if (fl_store_runs_each(st, &filter, first_run, &j, err) < 0)
		goto out;
	if (!j) {
		fl_error_set(err, FL_EXIT_ENV, "allocfail: out of memory converting the run to json");
		goto out;
	}
	ret = 0;
out:
	json_decref(j);
	json_decref(revert);
	fl_journal_entries_free(open_rows, nopen);
	fl_run_release(&back);
	fl_run_release(&run);
	/* Benign: closing cannot report, and what fails in it is SQLite's
	 * checkpoint at close, which leaves the WAL for the next open to
	 * replay; every write was committed (and checked) before. */
	fl_alloc_benign_begin();
	fl_store_close(st);
	fl_alloc_benign_end();
	return ret;
}

static int op_http_body(const char *body, struct fl_error *err)
{
	long *seqs = NULL, n = 0;
	int rc = fl_writer_parse_seqs(body, strlen(body), &seqs, &n, err);
	fl_free(seqs);
	return rc;
}

/* ---- the tests ------------------------------------------------------------------------------ */

/* Gives every ${NAME} a file names (and the environment and inventory it
 * points at, which use the same variables) a value when the test's
 * environment has none: a port number for *PORT*, else the temporary
 * directory. Nothing is started; the loaders only need values. */
static void define_variables(const char *path)
{
	struct fl_buf b;
	struct fl_error err;
	const char *p;

	fl_buf_init(&b, 0);
	fl_error_init(&err);
	if (fl_read_file(path, (size_t)1 << 20, &b, &err) < 0)
		fail_msg("%s", err.msg);
	for (p = strstr(b.buf, "${"); p; p = strstr(p + 2, "${")) {
		char name[128];
		const char *end = strchr(p + 2, '}');
		size_t len = end ? (size_t)(end - p - 2) : 0;
		if (!end || len == 0 || len >= sizeof(name))
			continue;
		memcpy(name, p + 2, len);
		name[len] = '\0';
		if (!getenv(name))
			setenv(name, strstr(name, "PORT") ? "18083" : tmp_dir, 1);
	}
	fl_buf_release(&b);
}

/* Runs op over every file matching pattern (relative to the source tree);
 * returns the number of files. */
static size_t allocfail_glob(const char *pattern, allocfail_op op, long *points)
{
	char full[4096];
	glob_t g;
	size_t i, n = 0;

	snprintf(full, sizeof(full), "%s/%s", src_dir, pattern);
	if (glob(full, 0, NULL, &g) != 0)
		fail_msg("no files match %s", full);
	for (i = 0; i < g.gl_pathc; i++) {
		const char *base = strrchr(g.gl_pathv[i], '/');
		base = base ? base + 1 : g.gl_pathv[i];
		struct fl_error err;
		/* Inventories and environments sit beside the scenarios. */
		if (op == op_scenario &&
		    (strncmp(base, "inventory", 9) == 0 || strncmp(base, "env", 3) == 0))
			continue;
		define_variables(g.gl_pathv[i]);
		/* Each example must load as it is, or the loop below would only
		 * ever see failures. */
		fl_error_init(&err);
		if (op(g.gl_pathv[i], &err) < 0)
			fail_msg("%s does not load without allocation failures: %s", g.gl_pathv[i],
				 err.msg);
		*points += allocfail_each(g.gl_pathv[i], op, g.gl_pathv[i]);
		n++;
	}
	globfree(&g);
	return n;
}

static void test_scenarios(void **state)
{
	char pattern[4096];
	long points = 0;
	size_t files, i;
	glob_t g;
	(void)state;
	/* The environments the scenarios name use variables of their own. */
	snprintf(pattern, sizeof(pattern), "%s/scenarios/env/*.json", src_dir);
	if (glob(pattern, 0, NULL, &g) == 0) {
		for (i = 0; i < g.gl_pathc; i++)
			define_variables(g.gl_pathv[i]);
		globfree(&g);
	}
	files = allocfail_glob("scenarios/*.json", op_scenario, &points);
	files += allocfail_glob("tests/data/scenarios/valid/*.json", op_scenario, &points);
	files += allocfail_glob("tests/data/scenarios/drills/*.json", op_scenario, &points);
	print_message("scenarios: %zu files, %ld allocation failure points\n", files, points);
	assert_true(files >= 5);
	assert_true(points * stride > 100 * (long)files);
}

static void test_environments(void **state)
{
	long points = 0;
	size_t files;
	(void)state;
	files = allocfail_glob("scenarios/env/*.json", op_environment, &points);
	files += allocfail_glob("tests/data/scenarios/valid/env.json", op_environment, &points);
	print_message("environments: %zu files, %ld allocation failure points\n", files, points);
	assert_true(files >= 2);
	assert_true(points * stride > 50 * (long)files);
}

static void test_inventories(void **state)
{
	long points = 0;
	size_t files;
	(void)state;
	files = allocfail_glob("scenarios/inventory.json", op_inventory, &points);
	files += allocfail_glob("tests/data/scenarios/valid/inventory.json", op_inventory, &points);
	print_message("inventories: %zu files, %ld allocation failure points\n", files, points);
	assert_true(files >= 2);
	assert_true(points * stride > 20 * (long)files);
}

static void test_store_cycle(void **state)
{
	char db[512];
	long points;
	struct fl_error err;
	struct fl_store *st;
	struct fl_journal_entry *rows = NULL;
	size_t nrows = 0;
	(void)state;

	snprintf(db, sizeof(db), "%s/allocfail.db", tmp_dir);
	points = allocfail_each("store", op_store, db);
	print_message("store: %ld allocation failure points\n", points);
	assert_true(points * stride > 100);

	/* The last, successful cycle left a sound file with the run finished
	 * and the journal closed. */
	fl_error_init(&err);
	st = fl_store_open(db, &err);
	if (!st)
		fail_msg("%s", err.msg);
	assert_int_equal(fl_journal_open_entries(st, &rows, &nrows, &err), 0);
	assert_int_equal(nrows, 0);
	fl_journal_entries_free(rows, nrows);
	fl_store_close(st);
}

static void test_http_body(void **state)
{
	long points;
	(void)state;
	points = allocfail_each("http body", op_http_body,
				"{\"seqs\": [9, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 2, 1]}");
	print_message("http read-back body: %ld allocation failure points\n", points);
	assert_true(points * stride > 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scenarios),   cmocka_unit_test(test_environments),
		cmocka_unit_test(test_inventories), cmocka_unit_test(test_store_cycle),
		cmocka_unit_test(test_http_body),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
