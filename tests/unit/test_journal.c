/*
 * test_journal: the fault journal's state machine and its crash safety —
 * every legal and illegal transition, open entries oldest first with their
 * revert JSON, and rows committed by a process killed with SIGKILL right
 * after the call returned.
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
#include <unistd.h>

#include "core/store.h"
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
		assert_int_equal(sqlite3_prepare_v2(fl_store_db(f->st),
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
	static const struct { enum fl_journal_state from, to; } refused[] = {
		{ FL_JOURNAL_PENDING, FL_JOURNAL_PENDING },
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
			assert_int_equal(sqlite3_prepare_v2(fl_store_db(f->st),
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
	assert_int_equal(fl_owner_alive("another-host.invalid", e[0].owner_pid, e[0].owner_start), -1);
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
		cmocka_unit_test_setup_teardown(test_migration_keeps_open_rows, jfix_setup, jfix_teardown),
	};
	fl_alloc_install_jansson();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
