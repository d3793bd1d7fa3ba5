/*
 * test_journal: the fault journal's state machine and its crash safety —
 * every legal and illegal transition, open entries oldest first with their
 * revert JSON, and rows committed by a process killed with SIGKILL right
 * after the call returned; the armed state (a row committed ahead of the
 * injection instant) and `recover` reverting an armed row.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/store.h"
#include "core/store_sql.h"
#include "core/clock.h"
#include "core/proc.h"
#include "injectors/injector.h"
#include "sim/runner.h"
#include "sim/recover.h"
#include "core/alloc.h"
#include "core/error.h"

struct jfix {
	char dir[256];
	char db[320];
	struct fl_store *st;
};

static int jfix_setup(void **state)
{
	struct jfix *f = calloc(1, sizeof(*f));
	struct fl_error err;
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/fl-test-journal-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/faultline.db", f->dir);
	fl_error_init(&err);
	f->st = fl_store_open(f->db, &err);
	if (!f->st) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int jfix_teardown(void **state)
{
	struct jfix *f = *state;
	DIR *d;
	struct dirent *de;
	char p[600];
	fl_store_close(f->st);
	d = opendir(f->dir);
	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", f->dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int64_t jbegin(struct fl_store *st, const char *target, const char *revert_json)
{
	struct fl_error err;
	json_error_t jerr;
	json_t *rev = revert_json ? json_loads(revert_json, 0, &jerr) : NULL;
	int64_t id = 0;
	if (revert_json && !rev)
		fail_msg("bad test json: %s", jerr.text);
	fl_error_init(&err);
	if (fl_journal_begin(st, 0, "process", target, "stop the primary", rev, &id, &err))
		fail_msg("journal begin: %s", err.msg);
	json_decref(rev);
	assert_true(id > 0);
	return id;
}

static int jmark(struct fl_store *st, int64_t id, enum fl_journal_state s, struct fl_error *err)
{
	fl_error_init(err);
	return fl_journal_mark(st, id, s, NULL, NULL, err);
}

static void assert_open_ids(struct fl_store *st, const int64_t *want, size_t nwant)
{
	struct fl_journal_entry *e = NULL;
	size_t n = 0;
	struct fl_error err;
	fl_error_init(&err);
	if (fl_journal_open_entries(st, &e, &n, &err))
		fail_msg("open entries: %s", err.msg);
	assert_int_equal(n, nwant);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(e[i].id, want[i]);
	fl_journal_entries_free(e, n);
}

static void test_state_names(void **state)
{
	(void)state;
	assert_string_equal(fl_journal_state_name(FL_JOURNAL_PENDING), "pending");
	assert_string_equal(fl_journal_state_name(FL_JOURNAL_INJECTED), "injected");
	assert_string_equal(fl_journal_state_name(FL_JOURNAL_REVERTED), "reverted");
	assert_string_equal(fl_journal_state_name(FL_JOURNAL_REVERT_FAILED), "revert_failed");
	assert_string_equal(fl_journal_state_name(FL_JOURNAL_ARMED), "armed");
	assert_string_equal(fl_journal_state_name((enum fl_journal_state)99), "unknown");
	/* One table: every name parses back to its state. */
	for (int i = 0; i < FL_JOURNAL_NSTATES; i++) {
		enum fl_journal_state back = (enum fl_journal_state) - 1;
		assert_int_equal(fl_journal_state_parse(fl_journal_state_name((enum fl_journal_state)i),
							&back),
				 0);
		assert_int_equal(back, i);
	}
	{
		enum fl_journal_state back;
		assert_int_equal(fl_journal_state_parse("unknown", &back), -1);
		assert_int_equal(fl_journal_state_parse(NULL, &back), -1);
	}
}

static void test_lifecycle_and_open_entries(void **state)
{
	struct jfix *f = *state;
	struct fl_journal_entry *e = NULL;
	struct fl_error err;
	size_t n = 0;
	json_t *rev;
	int64_t a, b, c;

	a = jbegin(f->st, "db-1", "{\"signal\": \"SIGCONT\", \"pid\": 4242}");
	b = jbegin(f->st, "db-2", "[\"iptables\", \"-D\", \"INPUT\"]");
	c = jbegin(f->st, "db-3", NULL);
	assert_true(a < b && b < c);

	/* All three open, oldest first, revert JSON parsed back. */
	fl_error_init(&err);
	assert_int_equal(fl_journal_open_entries(f->st, &e, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(e[0].id, a);
	assert_int_equal(e[0].state, FL_JOURNAL_PENDING);
	assert_string_equal(e[0].injector, "process");
	assert_string_equal(e[0].target, "db-1");
	assert_string_equal(e[0].description, "stop the primary");
	assert_int_equal(e[0].run_id, 0);
	assert_non_null(e[0].created_at);
	assert_int_equal(strlen(e[0].created_at), 24); /* 2026-11-25T06:45:59.123Z */
	assert_null(e[0].error);
	assert_int_equal(json_integer_value(json_object_get(e[0].revert, "pid")), 4242);
	assert_string_equal(json_string_value(json_object_get(e[0].revert, "signal")), "SIGCONT");
	assert_true(json_is_array(e[1].revert));
	assert_int_equal(json_array_size(e[1].revert), 3);
	assert_null(e[2].revert);
	fl_journal_entries_free(e, n);

	/* a: injected then reverted -> closed. */
	assert_int_equal(jmark(f->st, a, FL_JOURNAL_INJECTED, &err), 0);
	assert_int_equal(jmark(f->st, a, FL_JOURNAL_REVERTED, &err), 0);
	/* b: injected, revert fails (error recorded, revert data replaced), retry fails again. */
	assert_int_equal(jmark(f->st, b, FL_JOURNAL_INJECTED, &err), 0);
	rev = json_pack("{s:s}", "cmd", "ip link set eth0 up");
	fl_error_init(&err);
	assert_int_equal(fl_journal_mark(f->st, b, FL_JOURNAL_REVERT_FAILED, rev,
					 "iptables exited 4", &err),
			 0);
	json_decref(rev);
	fl_error_init(&err);
	assert_int_equal(fl_journal_mark(f->st, b, FL_JOURNAL_REVERT_FAILED, NULL,
					 "iptables exited 1", &err),
			 0);
	/* c: the inject never took effect; closing it straight from pending is legal. */
	assert_int_equal(jmark(f->st, c, FL_JOURNAL_REVERTED, &err), 0);

	fl_error_init(&err);
	assert_int_equal(fl_journal_open_entries(f->st, &e, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(e[0].id, b);
	assert_int_equal(e[0].state, FL_JOURNAL_REVERT_FAILED);
	assert_string_equal(e[0].error, "iptables exited 1");
	/* revert kept from the earlier mark when the later one passed NULL */
	assert_string_equal(json_string_value(json_object_get(e[0].revert, "cmd")),
			    "ip link set eth0 up");
	fl_journal_entries_free(e, n);

	/* b finally reverted: nothing open; the last error stays as history. */
	assert_int_equal(jmark(f->st, b, FL_JOURNAL_REVERTED, &err), 0);
	assert_open_ids(f->st, NULL, 0);
	{
		sqlite3_stmt *s = NULL;
		assert_int_equal(sqlite3_prepare_v2(fl_store_sql_db(f->st),
						    "SELECT state, error FROM journal WHERE id = ?1",
						    -1, &s, NULL),
				 SQLITE_OK);
		sqlite3_bind_int64(s, 1, b);
		assert_int_equal(sqlite3_step(s), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(s, 0), "reverted");
		assert_string_equal((const char *)sqlite3_column_text(s, 1), "iptables exited 1");
		sqlite3_finalize(s);
	}
}

static void test_illegal_transitions(void **state)
{
	struct jfix *f = *state;
	struct fl_error err;
	char want[600];
	int64_t id = jbegin(f->st, "db-1", "{}");
	/* from -> to pairs that must be refused, walking the row forward. */
	static const struct {
		enum fl_journal_state from, to;
	} refused[] = {
		{ FL_JOURNAL_PENDING, FL_JOURNAL_ARMED },
		{ FL_JOURNAL_INJECTED, FL_JOURNAL_PENDING },
		{ FL_JOURNAL_INJECTED, FL_JOURNAL_INJECTED },
		{ FL_JOURNAL_REVERT_FAILED, FL_JOURNAL_PENDING },
		{ FL_JOURNAL_REVERT_FAILED, FL_JOURNAL_INJECTED },
		{ FL_JOURNAL_REVERTED, FL_JOURNAL_INJECTED },
		{ FL_JOURNAL_REVERTED, FL_JOURNAL_PENDING },
		{ FL_JOURNAL_REVERTED, FL_JOURNAL_REVERTED },
		{ FL_JOURNAL_REVERTED, FL_JOURNAL_REVERT_FAILED },
	};
	enum fl_journal_state cur = FL_JOURNAL_PENDING;

	for (size_t i = 0; i < FL_ARRAY_LEN(refused); i++) {
		/* Move the row to the state under test along a legal path. */
		while (cur != refused[i].from) {
			enum fl_journal_state next = cur == FL_JOURNAL_PENDING ? FL_JOURNAL_INJECTED
						     : cur == FL_JOURNAL_INJECTED
							     ? FL_JOURNAL_REVERT_FAILED
							     : FL_JOURNAL_REVERTED;
			if (jmark(f->st, id, next, &err))
				fail_msg("legal move failed: %s", err.msg);
			cur = next;
		}
		assert_int_equal(jmark(f->st, id, refused[i].to, &err), -1);
		snprintf(want, sizeof(want), "%s: journal entry %lld cannot move from %s to %s",
			 f->db, (long long)id, fl_journal_state_name(refused[i].from),
			 fl_journal_state_name(refused[i].to));
		assert_string_equal(err.msg, want);
		/* A refused move changes nothing. */
		{
			sqlite3_stmt *s = NULL;
			assert_int_equal(sqlite3_prepare_v2(fl_store_sql_db(f->st),
							    "SELECT state FROM journal WHERE id = ?1",
							    -1, &s, NULL),
					 SQLITE_OK);
			sqlite3_bind_int64(s, 1, id);
			assert_int_equal(sqlite3_step(s), SQLITE_ROW);
			assert_string_equal((const char *)sqlite3_column_text(s, 0),
					    fl_journal_state_name(cur));
			sqlite3_finalize(s);
		}
	}

	/* Rows that do not exist, and states that do not exist. */
	assert_int_equal(jmark(f->st, 999, FL_JOURNAL_REVERTED, &err), -1);
	snprintf(want, sizeof(want), "%s: journal entry 999 does not exist", f->db);
	assert_string_equal(err.msg, want);
	assert_int_equal(jmark(f->st, id, (enum fl_journal_state)17, &err), -1);
	assert_non_null(strstr(err.msg, "unknown state 17"));

	/* A journal row needs an injector name. */
	{
		int64_t nid = 0;
		fl_error_init(&err);
		assert_int_equal(fl_journal_begin(f->st, 0, NULL, "t", "d", NULL, &nid, &err), -1);
		assert_non_null(strstr(err.msg, "journal entry without an injector name"));
	}
}

static void test_run_link(void **state)
{
	struct jfix *f = *state;
	struct fl_run run;
	struct fl_error err;
	struct fl_journal_entry *e = NULL;
	size_t n = 0;
	int64_t id;

	fl_run_init(&run);
	run.scenario = fl_strdup("pg");
	fl_error_init(&err);
	assert_int_equal(fl_store_run_begin(f->st, &run, &err), 0);
	assert_int_equal(fl_journal_begin(f->st, run.id, "network", "eth0", "drop", NULL, &id, &err),
			 0);
	/* A run id that does not exist is refused by the foreign key. */
	assert_int_equal(fl_journal_begin(f->st, run.id + 100, "network", "eth0", "drop", NULL, &id,
					  &err),
			 -1);
	assert_non_null(strstr(err.msg, "FOREIGN KEY constraint failed"));
	fl_error_init(&err);
	assert_int_equal(fl_journal_open_entries(f->st, &e, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(e[0].run_id, run.id);
	fl_journal_entries_free(e, n);
	fl_run_release(&run);
}

/* Each call commits before it returns: a process SIGKILLed right after
 * journal_begin/mark leaves exactly those rows for `recover`. */
static void test_rows_survive_sigkill(void **state)
{
	struct jfix *f = *state;
	struct fl_journal_entry *e = NULL;
	struct fl_error err;
	size_t n = 0;
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct fl_store *st;
		int64_t a, b;
		json_t *rev = json_pack("{s:s, s:i}", "action", "start", "pid", 77);
		fl_error_init(&err);
		st = fl_store_open(f->db, &err);
		if (!st || !rev ||
		    fl_journal_begin(st, 0, "process", "primary", "SIGSTOP", rev, &a, &err) ||
		    fl_journal_mark(st, a, FL_JOURNAL_INJECTED, NULL, NULL, &err) ||
		    fl_journal_begin(st, 0, "network", "replica", "drop", NULL, &b, &err))
			_exit(1);
		/* No close, no exit handlers: the harness dies here. */
		raise(SIGKILL);
		_exit(2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	fl_error_init(&err);
	assert_int_equal(fl_journal_open_entries(f->st, &e, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(e[0].target, "primary");
	assert_int_equal(e[0].state, FL_JOURNAL_INJECTED);
	assert_int_equal(json_integer_value(json_object_get(e[0].revert, "pid")), 77);
	assert_string_equal(e[1].target, "replica");
	assert_int_equal(e[1].state, FL_JOURNAL_PENDING);
	fl_journal_entries_free(e, n);
}

/* Every row records the process that journaled it; `recover` uses it to
 * leave a live drill's faults alone. */
static void test_owner_recorded(void **state)
{
	struct jfix *f = *state;
	struct fl_journal_entry *e = NULL;
	size_t n = 0;
	struct fl_error err;
	struct fl_owner me;
	fl_owner_self(&me);
	jbegin(f->st, "api-1", "{\"pid\": 1}");
	fl_error_init(&err);
	assert_int_equal(fl_journal_open_entries(f->st, &e, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(e[0].owner_host, me.host);
	assert_int_equal(e[0].owner_pid, (long)getpid());
	assert_true(e[0].owner_start > 0);
	assert_int_equal(fl_owner_alive(e[0].owner_host, e[0].owner_pid, e[0].owner_start), 1);
	/* Same pid, another start time: a reused pid is not the owner. */
	assert_int_equal(fl_owner_alive(e[0].owner_host, e[0].owner_pid, e[0].owner_start + 1), 0);
	assert_int_equal(fl_owner_alive("another-host.invalid", e[0].owner_pid, e[0].owner_start),
			 -1);
	assert_int_equal(fl_owner_alive(NULL, 0, 0), -1);
	fl_journal_entries_free(e, n);
}

/* A schema-1 database (before owners were recorded) is upgraded in place:
 * its open journal rows survive the migration, with no owner. */
static void test_migration_keeps_open_rows(void **state)
{
	struct jfix *f = *state;
	struct fl_journal_entry *e = NULL;
	size_t n = 0;
	struct fl_error err;
	sqlite3 *db;
	int64_t id = jbegin(f->st, "api-1", "{\"pid\": 42}");
	fl_store_close(f->st);
	f->st = NULL;
	/* Turn it back into what schema 1 looked like. */
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "DROP INDEX runs_verdict;"
				      "ALTER TABLE journal DROP COLUMN owner_host;"
				      "ALTER TABLE journal DROP COLUMN owner_pid;"
				      "ALTER TABLE journal DROP COLUMN owner_start;"
				      "ALTER TABLE runs DROP COLUMN owner_pid;"
				      "ALTER TABLE runs DROP COLUMN owner_start;"
				      "ALTER TABLE runs DROP COLUMN backup_last_good_wall_ns;"
				      "ALTER TABLE runs DROP COLUMN backup_last_good_type;"
				      "ALTER TABLE run_probes DROP COLUMN skipped;"
				      "ALTER TABLE runs DROP COLUMN writes_failed_present;"
				      "ALTER TABLE run_probes DROP COLUMN max_latency_ms;"
				      "PRAGMA user_version = 1;",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	fl_error_init(&err);
	f->st = fl_store_open(f->db, &err);
	if (!f->st)
		fail_msg("reopen: %s", err.msg);
	assert_int_equal(fl_store_schema_version(f->st), FL_STORE_SCHEMA_VERSION);
	assert_int_equal(fl_journal_open_entries(f->st, &e, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(e[0].id, id);
	assert_null(e[0].owner_host);
	assert_int_equal(e[0].owner_pid, 0);
	assert_int_equal(json_integer_value(json_object_get(e[0].revert, "pid")), 42);
	fl_journal_entries_free(e, n);
}

static const char *row_state(struct fl_store *st, int64_t id, char *buf, size_t n)
{
	sqlite3_stmt *s = NULL;
	assert_int_equal(sqlite3_prepare_v2(fl_store_sql_db(st),
					    "SELECT state FROM journal WHERE id = ?1", -1, &s, NULL),
			 SQLITE_OK);
	sqlite3_bind_int64(s, 1, id);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	snprintf(buf, n, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return buf;
}

static long long query_ll(struct fl_store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;
	long long v;
	assert_int_equal(sqlite3_prepare_v2(fl_store_sql_db(st), sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* armed: open like pending, moves to injected (then reverted), or straight
 * to reverted / revert_failed; nothing moves back to it. Marking injected
 * commits at synchronous=NORMAL and leaves the connection at FULL again. */
static void test_armed_lifecycle(void **state)
{
	struct jfix *f = *state;
	struct fl_journal_entry *e = NULL;
	struct fl_error err;
	size_t n = 0;
	int64_t a = 0, b = 0, c = 0;
	char buf[32], want[600];
	json_t *rev = json_pack("{s:s, s:i}", "signal", "CONT", "pid", 4242);

	assert_non_null(rev);
	fl_error_init(&err);
	assert_int_equal(fl_journal_arm(f->st, 0, "process", "api-1", "SIGSTOP api-1", rev, &a, &err),
			 0);
	assert_int_equal(fl_journal_arm(f->st, 0, "process", "api-2", "SIGSTOP api-2", rev, &b, &err),
			 0);
	assert_int_equal(fl_journal_arm(f->st, 0, "network", "eth0", "drop", NULL, &c, &err), 0);
	assert_true(a > 0 && b > a && c > b);
	assert_int_equal(query_ll(f->st, "PRAGMA synchronous"), 2); /* FULL: the arm is durable */

	/* Open, oldest first, revert record and all. */
	assert_int_equal(fl_journal_open_entries(f->st, &e, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(e[0].id, a);
	assert_int_equal(e[0].state, FL_JOURNAL_ARMED);
	assert_int_equal(json_integer_value(json_object_get(e[0].revert, "pid")), 4242);
	assert_int_equal(e[2].state, FL_JOURNAL_ARMED);
	assert_null(e[2].revert);
	fl_journal_entries_free(e, n);

	/* a: armed -> injected (relaxed commit, FULL again after) -> reverted. */
	assert_int_equal(jmark(f->st, a, FL_JOURNAL_INJECTED, &err), 0);
	assert_string_equal(row_state(f->st, a, buf, sizeof(buf)), "injected");
	assert_int_equal(query_ll(f->st, "PRAGMA synchronous"), 2);
	assert_int_equal(jmark(f->st, a, FL_JOURNAL_ARMED, &err), -1);
	snprintf(want, sizeof(want), "%s: journal entry %lld cannot move from injected to armed",
		 f->db, (long long)a);
	assert_string_equal(err.msg, want);
	fl_error_init(&err);
	assert_int_equal(jmark(f->st, a, FL_JOURNAL_REVERTED, &err), 0);

	/* b: re-armed with a new revert record (durable), then never injected
	 * (the drill stopped first): closed straight away. */
	{
		json_t *rev2 = json_pack("{s:s, s:i}", "signal", "CONT", "pid", 4343);
		assert_non_null(rev2);
		assert_int_equal(fl_journal_mark(f->st, b, FL_JOURNAL_ARMED, rev2, NULL, &err), 0);
		json_decref(rev2);
		assert_string_equal(row_state(f->st, b, buf, sizeof(buf)), "armed");
		assert_int_equal(fl_journal_open_entries(f->st, &e, &n, &err), 0);
		assert_int_equal(n, 2);
		assert_int_equal(e[0].id, b);
		assert_int_equal(json_integer_value(json_object_get(e[0].revert, "pid")), 4343);
		fl_journal_entries_free(e, n);
	}
	assert_int_equal(jmark(f->st, b, FL_JOURNAL_PENDING, &err), -1);
	snprintf(want, sizeof(want), "%s: journal entry %lld cannot move from armed to pending",
		 f->db, (long long)b);
	assert_string_equal(err.msg, want);
	fl_error_init(&err);
	assert_int_equal(jmark(f->st, b, FL_JOURNAL_REVERTED, &err), 0);
	assert_int_equal(jmark(f->st, b, FL_JOURNAL_INJECTED, &err), -1);
	fl_error_init(&err);

	/* c: a revert that failed keeps it open, a retry closes it. */
	assert_int_equal(fl_journal_mark(f->st, c, FL_JOURNAL_REVERT_FAILED, NULL, "tc exited 2",
					 &err),
			 0);
	assert_int_equal(fl_journal_open_entries(f->st, &e, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(e[0].id, c);
	assert_string_equal(e[0].error, "tc exited 2");
	fl_journal_entries_free(e, n);
	assert_int_equal(jmark(f->st, c, FL_JOURNAL_REVERTED, &err), 0);
	assert_int_equal(fl_journal_open_entries(f->st, &e, &n, &err), 0);
	assert_int_equal(n, 0);
	fl_journal_entries_free(e, n);
	json_decref(rev);
}

/* A harness killed after arming (before or during the inject) leaves an
 * armed row; one killed after the relaxed "injected" mark leaves it
 * injected: a process crash loses no commit, NORMAL or FULL. */
static void test_armed_survives_sigkill(void **state)
{
	struct jfix *f = *state;
	struct fl_journal_entry *e = NULL;
	struct fl_error err;
	size_t n = 0;
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct fl_store *st;
		int64_t a, b;
		fl_error_init(&err);
		st = fl_store_open(f->db, &err);
		if (!st || fl_journal_arm(st, 0, "process", "primary", "SIGSTOP", NULL, &a, &err) ||
		    fl_journal_mark(st, a, FL_JOURNAL_INJECTED, NULL, NULL, &err) ||
		    fl_journal_arm(st, 0, "process", "replica", "SIGSTOP", NULL, &b, &err))
			_exit(1);
		raise(SIGKILL);
		_exit(2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	fl_error_init(&err);
	assert_int_equal(fl_journal_open_entries(f->st, &e, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(e[0].target, "primary");
	assert_int_equal(e[0].state, FL_JOURNAL_INJECTED);
	assert_string_equal(e[1].target, "replica");
	assert_int_equal(e[1].state, FL_JOURNAL_ARMED);
	fl_journal_entries_free(e, n);
}

/* Waits (bounded) until pid's /proc state is or is not 'T' (stopped). */
static int wait_stopped(pid_t pid, int stopped, int64_t timeout_ns)
{
	int64_t deadline = fl_now_ns() + timeout_ns;
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	for (;;) {
		char st = 0;
		if (fl_proc_stat(pid, &st, NULL) < 0)
			return -1;
		if ((st == 'T' || st == 't') == !!stopped)
			return 0;
		if (fl_now_ns() > deadline)
			return -1;
		nanosleep(&ts, NULL);
	}
}

/* `recover` treats an armed row as possibly injected: a harness that armed
 * a SIGSTOP, sent it and died before marking it leaves the victim stopped;
 * recover continues it and closes the row. An armed row whose fault never
 * went in is reverted too (SIGCONT to a running process changes nothing). */
static void test_recover_reverts_armed(void **state)
{
	struct jfix *f = *state;
	struct fl_journal_entry *e = NULL;
	struct fl_error err;
	char pidfile[400];
	size_t n = 0;
	pid_t victim, harness;
	int status;
	FILE *pf, *log;

	snprintf(pidfile, sizeof(pidfile), "%s/victim.pid", f->dir);
	fflush(NULL);
	victim = fork();
	assert_true(victim >= 0);
	if (victim == 0) {
		alarm(60); /* bounded, whatever happens to the test */
		for (;;)
			pause();
	}
	pf = fopen(pidfile, "w");
	assert_non_null(pf);
	fprintf(pf, "%d\n", (int)victim);
	fclose(pf);

	harness = fork();
	assert_true(harness >= 0);
	if (harness == 0) {
		const struct fl_injector_ops *ops = fl_injector_find("process");
		json_t *params = json_pack("{s:s}", "signal", "STOP");
		struct fl_fault_spec fault = {
			.name = "stop", .injector = "process", .target = "victim", .params = params
		};
		struct fl_target target = { .name = (char *)"victim",
					    .kind = FL_TARGET_PROCESS,
					    .pidfile = pidfile };
		struct fl_store *st;
		json_t *rec;
		int64_t a, b;
		fl_error_init(&err);
		st = fl_store_open(f->db, &err);
		if (!st || !ops || !params || !(rec = ops->prepare(&fault, &target, &err)) ||
		    fl_journal_arm(st, 0, "process", "victim", "SIGSTOP victim", rec, &a, &err) ||
		    fl_journal_arm(st, 0, "process", "victim", "SIGSTOP victim", rec, &b, &err) ||
		    ops->inject(&fault, &target, rec, &err))
			_exit(1);
		/* Dies between the inject and the mark. */
		raise(SIGKILL);
		_exit(2);
	}
	assert_int_equal(waitpid(harness, &status, 0), harness);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(wait_stopped(victim, 1, 5 * FL_NS_PER_S), 0);

	fl_error_init(&err);
	log = fopen("/dev/null", "w");
	assert_non_null(log);
	if (fl_runner_recover(f->st, log, &err) != 0)
		fail_msg("recover: %s", err.msg);
	fclose(log);
	assert_int_equal(wait_stopped(victim, 0, 5 * FL_NS_PER_S), 0);
	assert_int_equal(fl_journal_open_entries(f->st, &e, &n, &err), 0);
	assert_int_equal(n, 0);
	fl_journal_entries_free(e, n);
	assert_int_equal(query_ll(f->st, "SELECT count(*) FROM journal WHERE state = 'reverted'"), 2);
	kill(victim, SIGKILL);
	waitpid(victim, NULL, 0);
}

/* A schema-2 database (journal CHECK without 'armed') is rebuilt in place
 * by migration 3: rows and their ids survive, and armed rows are accepted. */
static void test_migration_to_armed(void **state)
{
	struct jfix *f = *state;
	struct fl_journal_entry *e = NULL;
	struct fl_error err;
	size_t n = 0;
	sqlite3 *db;
	int64_t id = jbegin(f->st, "api-1", "{\"pid\": 42}"), armed = 0;

	fl_store_close(f->st);
	f->st = NULL;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "CREATE TABLE j2 (id INTEGER PRIMARY KEY, run_id INTEGER REFERENCES runs(id),"
				      " created_at TEXT NOT NULL, updated_at TEXT NOT NULL, injector TEXT NOT NULL,"
				      " target TEXT, description TEXT, state TEXT NOT NULL CHECK (state IN"
				      " ('pending','injected','reverted','revert_failed')), revert TEXT, error TEXT,"
				      " owner_host TEXT, owner_pid INTEGER, owner_start INTEGER);"
				      "INSERT INTO j2 SELECT * FROM journal;"
				      "DROP TABLE journal;"
				      "ALTER TABLE j2 RENAME TO journal;"
				      "CREATE INDEX journal_state ON journal(state, id);"
				      /* and what later migrations added */
				      "ALTER TABLE runs DROP COLUMN writes_failed_present;"
				      "ALTER TABLE run_probes DROP COLUMN max_latency_ms;"
				      "PRAGMA user_version = 2;",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	/* The old CHECK refuses the new state. */
	assert_int_not_equal(sqlite3_exec(db, "UPDATE journal SET state = 'armed'", NULL, NULL, NULL),
			     SQLITE_OK);
	sqlite3_close(db);
	fl_error_init(&err);
	f->st = fl_store_open(f->db, &err);
	if (!f->st)
		fail_msg("reopen: %s", err.msg);
	assert_int_equal(fl_store_schema_version(f->st), FL_STORE_SCHEMA_VERSION);
	assert_int_equal(fl_journal_arm(f->st, 0, "process", "api-2", "stop", NULL, &armed, &err), 0);
	assert_true(armed > id);
	assert_int_equal(fl_journal_open_entries(f->st, &e, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(e[0].id, id);
	assert_int_equal(e[0].state, FL_JOURNAL_PENDING);
	assert_int_equal(json_integer_value(json_object_get(e[0].revert, "pid")), 42);
	assert_int_equal(e[1].state, FL_JOURNAL_ARMED);
	fl_journal_entries_free(e, n);
	assert_int_equal(query_ll(f->st,
				  "SELECT count(*) FROM sqlite_master WHERE name = 'journal_state'"),
			 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_names),
		cmocka_unit_test_setup_teardown(test_lifecycle_and_open_entries, jfix_setup,
						jfix_teardown),
		cmocka_unit_test_setup_teardown(test_illegal_transitions, jfix_setup, jfix_teardown),
		cmocka_unit_test_setup_teardown(test_run_link, jfix_setup, jfix_teardown),
		cmocka_unit_test_setup_teardown(test_rows_survive_sigkill, jfix_setup, jfix_teardown),
		cmocka_unit_test_setup_teardown(test_owner_recorded, jfix_setup, jfix_teardown),
		cmocka_unit_test_setup_teardown(test_migration_keeps_open_rows, jfix_setup,
						jfix_teardown),
		cmocka_unit_test_setup_teardown(test_armed_lifecycle, jfix_setup, jfix_teardown),
		cmocka_unit_test_setup_teardown(test_armed_survives_sigkill, jfix_setup,
						jfix_teardown),
		cmocka_unit_test_setup_teardown(test_recover_reverts_armed, jfix_setup, jfix_teardown),
		cmocka_unit_test_setup_teardown(test_migration_to_armed, jfix_setup, jfix_teardown),
	};
	fl_alloc_install_jansson();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
