/*
 * Unit tests for injectors/clock.c against real processes: a Python child
 * under libfaketime whose wall clock follows the timestamp file live (the
 * skew is observed from inside the child, and the pickup latency measured),
 * revert to real time, a revert that leaves an offset someone else set
 * alone, and the refusals (no libfaketime, a static binary, FAKETIME set)
 * and validation errors. Every wait has a deadline. Skips (77) when
 * libfaketime or python3 is not installed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "injectors/injector.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/clock.h"
#include "core/spawn.h"

#define FAKETIME_LIB "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
#define PYTHON "/usr/bin/python3"

/* Writes its wall clock (time.time(), which libfaketime fakes) to argv[1]
 * every 10 ms. It waits with select(), not time.sleep(): with
 * FAKETIME_DONT_FAKE_MONOTONIC libfaketime 0.9.10 breaks Python 3.11's
 * sleep (upstream #426). */
static const char *const CHILD_PY = "import os, select, sys, time\n"
				    "p = sys.argv[1]\n"
				    "while True:\n"
				    "    with open(p + '.tmp', 'w') as f:\n"
				    "        f.write('%.6f\\n' % time.time())\n"
				    "    os.replace(p + '.tmp', p)\n"
				    "    select.select([], [], [], 0.01)\n";

struct fx {
	char dir[256];
	char pidfile[300];
	char tsfile[300];
	char clockfile[300];
	pid_t child;
	pid_t stray; /* started by a start command: not our child */
	struct fl_doc *doc;
	struct fl_fault_spec fault;
	struct fl_target target;
	const struct fl_injector_ops *ops;
	json_t *rec; /* the test's revert record: released by teardown too, so a
			failed assertion (a longjmp) does not leak it */
};

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *read_text(const char *path)
{
	static char buf[256];
	FILE *f = fopen(path, "r");
	size_t n;
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static void write_pidfile(struct fx *fx, pid_t pid)
{
	char b[32];
	snprintf(b, sizeof(b), "%d\n", (int)pid);
	write_text(fx->pidfile, b);
}

/* Waits (5 s) until /proc/PID/maps shows needle: the preload is mapped. */
static int wait_mapped(pid_t pid, const char *needle)
{
	int64_t deadline = fl_now_ns() + 5 * FL_NS_PER_S;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	while (fl_now_ns() < deadline) {
		FILE *f = fopen(path, "r");
		char line[512];
		int found = 0;
		if (f) {
			while (!found && fgets(line, sizeof(line), f))
				found = strstr(line, needle) != NULL;
			fclose(f);
		}
		if (found)
			return 1;
		fl_sleep_until(fl_now_ns() + 5 * FL_NS_PER_MS, NULL, 5 * FL_NS_PER_MS);
	}
	return 0;
}

/* The child's last reported wall clock minus ours, in seconds; waits (5 s)
 * until the child has written one. */
static double child_skew_s(struct fx *fx)
{
	int64_t deadline = fl_now_ns() + 5 * FL_NS_PER_S;
	while (fl_now_ns() < deadline) {
		const char *t = read_text(fx->clockfile);
		if (t && *t)
			return strtod(t, NULL) - (double)fl_wall_ns() / 1e9;
		fl_sleep_until(fl_now_ns() + 5 * FL_NS_PER_MS, NULL, 5 * FL_NS_PER_MS);
	}
	fail_msg("the child never reported its clock");
	return 0;
}

static pid_t spawn_child(struct fx *fx, const char *const *extra)
{
	const char *argv[] = { PYTHON, "-c", CHILD_PY, fx->clockfile, NULL };
	struct fl_spawn_opts opts = { .envp_extra = extra };
	struct fl_error e;
	pid_t pid;

	fl_error_init(&e);
	unlink(fx->clockfile);
	pid = fl_spawn_argv(argv, -1, &opts, &e);
	if (pid <= 0)
		fail_msg("spawn: %s", e.msg);
	fx->child = pid;
	write_pidfile(fx, pid);
	return pid;
}

static void kill_child(struct fx *fx)
{
	int st;
	if (fx->child > 0) {
		kill(fx->child, SIGKILL);
		waitpid(fx->child, &st, 0);
		fx->child = 0;
	}
}

static int setup(void **state)
{
	struct fx *fx = fl_calloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");
	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "%s/fl-clock-XXXXXX", tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->pidfile, sizeof(fx->pidfile), "%s/svc.pid", fx->dir);
	snprintf(fx->tsfile, sizeof(fx->tsfile), "%s/svc.faketime", fx->dir);
	snprintf(fx->clockfile, sizeof(fx->clockfile), "%s/svc.clock", fx->dir);
	fx->ops = fl_injector_find("clock");
	assert_non_null(fx->ops);
	fx->target.name = "svc";
	fx->target.kind = FL_TARGET_PROCESS;
	fx->target.pidfile = fx->pidfile;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	char tmp[400];
	json_decref(fx->rec);
	fx->rec = NULL;
	kill_child(fx);
	if (fx->stray > 0) {
		/* Not our child: kill it and wait until it is gone or a zombie. */
		int64_t deadline = fl_now_ns() + 5 * FL_NS_PER_S;
		char path[64];
		kill(fx->stray, SIGKILL);
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)fx->stray);
		while (fl_now_ns() < deadline) {
			char buf[512] = "", *p;
			FILE *f = fopen(path, "r");
			if (!f)
				break;
			buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
			fclose(f);
			p = strrchr(buf, ')');
			if (p && p[1] && p[2] == 'Z')
				break;
			fl_sleep_until(fl_now_ns() + 5 * FL_NS_PER_MS, NULL, 5 * FL_NS_PER_MS);
		}
	}
	fl_doc_free(fx->doc);
	unlink(fx->pidfile);
	unlink(fx->tsfile);
	unlink(fx->clockfile);
	snprintf(tmp, sizeof(tmp), "%s.tmp", fx->clockfile);
	unlink(tmp);
	rmdir(fx->dir);
	fl_free(fx);
	return 0;
}

static int fault_load(struct fx *fx, const char *text, struct fl_error *err)
{
	static const char *const common[] = { "name", "injector", "target", "after", "duration" };
	fl_doc_free(fx->doc);
	fx->doc = fl_doc_load_string("scenario.json", text, err);
	assert_non_null(fx->doc);
	fx->fault.name = "skew";
	fx->fault.injector = "clock";
	fx->fault.target = "svc";
	fx->fault.duration_ns = 2 * FL_NS_PER_S;
	fx->fault.params = fl_doc_root(fx->doc);
	for (size_t i = 0; i < FL_ARRAY_LEN(common); i++)
		fl_doc_mark(fx->doc, fx->fault.params, common[i]);
	return fx->ops->validate(fx->doc, &fx->fault, &fx->target, err);
}

/* Round trip through text, as the journal does. */
static json_t *reload(json_t *rec)
{
	char *text = json_dumps(rec, JSON_COMPACT);
	json_t *back;
	json_decref(rec);
	assert_non_null(text);
	back = json_loads(text, 0, NULL);
	fl_free(text);
	assert_non_null(back);
	return back;
}

static void start_faked_child(struct fx *fx)
{
	char preload[128], tsenv[400];
	const char *extra[] = { preload, tsenv, "FAKETIME_NO_CACHE=1",
				"FAKETIME_DONT_FAKE_MONOTONIC=1", NULL };
	pid_t pid;

	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", FAKETIME_LIB);
	snprintf(tsenv, sizeof(tsenv), "FAKETIME_TIMESTAMP_FILE=%s", fx->tsfile);
	write_text(fx->tsfile, "+0\n");
	pid = spawn_child(fx, extra);
	assert_true(wait_mapped(pid, "libfaketime"));
}

static void test_skew_live_and_revert(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;
	int64_t t0, t_seen = 0;
	double skew;

	start_faked_child(fx);
	fl_error_init(&e);
	assert_int_equal(fault_load(fx, "{\"offset\":\"+120d\"}", &e), 0);
	skew = child_skew_s(fx);
	assert_true(skew > -1 && skew < 1);

	fx->rec = fx->ops->prepare(&fx->fault, &fx->target, &e);
	if (!fx->rec)
		fail_msg("prepare: %s", e.msg);
	assert_string_equal(json_string_value(json_object_get(fx->rec, "timestamp_file")),
			    fx->tsfile);
	assert_string_equal(json_string_value(json_object_get(fx->rec, "original")), "+0\n");
	assert_true(json_is_true(json_object_get(fx->rec, "no_cache")));
	assert_true(json_is_false(json_object_get(fx->rec, "monotonic_faked")));
	t0 = fl_now_ns();
	if (fx->ops->inject(&fx->fault, &fx->target, fx->rec, &e) < 0)
		fail_msg("inject: %s", e.msg);
	fx->rec = reload(fx->rec);
	assert_string_equal(read_text(fx->tsfile), "+10368000\n");
	/* The child's own clock jumps 120 days: measured from inside it. */
	while (fl_now_ns() - t0 < 5 * FL_NS_PER_S) {
		if (child_skew_s(fx) > 120.0 * 86400 - 5) {
			t_seen = fl_now_ns();
			break;
		}
		fl_sleep_until(fl_now_ns() + 2 * FL_NS_PER_MS, NULL, 2 * FL_NS_PER_MS);
	}
	assert_true(t_seen > 0);
	print_message("clock: the child saw +120d %.1f ms after inject (FAKETIME_NO_CACHE=1)\n",
		      (double)(t_seen - t0) / 1e6);
	assert_true(t_seen - t0 < FL_NS_PER_S);

	if (fl_injector_revert("clock", fx->rec, &e) < 0)
		fail_msg("revert: %s", e.msg);
	assert_string_equal(read_text(fx->tsfile), "+0\n");
	t0 = fl_now_ns();
	while (fl_now_ns() - t0 < 5 * FL_NS_PER_S && child_skew_s(fx) > 1)
		fl_sleep_until(fl_now_ns() + 2 * FL_NS_PER_MS, NULL, 2 * FL_NS_PER_MS);
	skew = child_skew_s(fx);
	assert_true(skew > -1 && skew < 1);
	/* Idempotent: a second revert finds +0, not our line, and leaves it. */
	if (fl_injector_revert("clock", fx->rec, &e) < 0)
		fail_msg("second revert: %s", e.msg);
	assert_string_equal(read_text(fx->tsfile), "+0\n");
	json_decref(fx->rec);
	fx->rec = NULL;
}

static void test_revert_leaves_foreign_offset(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;

	start_faked_child(fx);
	unlink(fx->tsfile); /* no file: real time; revert must remove ours */
	fl_error_init(&e);
	assert_int_equal(fault_load(fx, "{\"offset\":\"-90s\"}", &e), 0);
	fx->rec = fx->ops->prepare(&fx->fault, &fx->target, &e);
	if (!fx->rec)
		fail_msg("prepare: %s", e.msg);
	assert_true(json_is_null(json_object_get(fx->rec, "original")));
	assert_int_equal(fx->ops->inject(&fx->fault, &fx->target, fx->rec, &e), 0);
	assert_string_equal(read_text(fx->tsfile), "-90\n");
	fx->rec = reload(fx->rec);
	/* An operator sets another offset meanwhile: not ours to undo. */
	write_text(fx->tsfile, "+1h\n");
	assert_int_equal(fl_injector_revert("clock", fx->rec, &e), 0);
	assert_string_equal(read_text(fx->tsfile), "+1h\n");
	assert_non_null(strstr(json_string_value(json_object_get(fx->rec, "outcome")), "left alone"));
	/* Ours again: revert restores "no file". */
	write_text(fx->tsfile, "-90\n");
	assert_int_equal(fl_injector_revert("clock", fx->rec, &e), 0);
	assert_null(read_text(fx->tsfile));
	json_decref(fx->rec);
	fx->rec = NULL;
}

static void test_refuses_without_libfaketime(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;

	spawn_child(fx, NULL);
	fl_error_init(&e);
	assert_int_equal(fault_load(fx, "{\"offset\":\"+1h\"}", &e), 0);
	/* Wait until python has exec'd (its maps show libpython or python3). */
	assert_true(wait_mapped(fx->child, "python3"));
	fx->rec = fx->ops->prepare(&fx->fault, &fx->target, &e);
	assert_null(fx->rec);
	assert_non_null(strstr(e.msg, "does not run under libfaketime"));
	assert_int_equal(e.code, FL_EXIT_ENV);
}

static void test_refuses_faketime_env(void **state)
{
	struct fx *fx = *state;
	char preload[128], tsenv[400];
	const char *extra[] = { preload, tsenv, "FAKETIME=+0", NULL };
	struct fl_error e;

	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", FAKETIME_LIB);
	snprintf(tsenv, sizeof(tsenv), "FAKETIME_TIMESTAMP_FILE=%s", fx->tsfile);
	write_text(fx->tsfile, "+0\n");
	assert_true(wait_mapped(spawn_child(fx, extra), "libfaketime"));
	fl_error_init(&e);
	assert_int_equal(fault_load(fx, "{\"offset\":\"+1h\"}", &e), 0);
	fx->rec = fx->ops->prepare(&fx->fault, &fx->target, &e);
	assert_null(fx->rec);
	assert_non_null(strstr(e.msg, "has FAKETIME set"));
}

static void test_refuses_static_binary(void **state)
{
	struct fx *fx = *state;
	const char *dir = getenv("FAULTLINE_FIXTURE_DIR");
	char path[512], preload[128];
	const char *argv[] = { path, NULL };
	const char *extra[] = { preload, NULL };
	struct fl_spawn_opts opts = { .envp_extra = extra };
	struct fl_error e;
	char exe[64], link[512];
	int64_t deadline = fl_now_ns() + 5 * FL_NS_PER_S;
	ssize_t n = -1;

	snprintf(path, sizeof(path), "%s/static_pause", dir ? dir : ".");
	if (access(path, X_OK) != 0)
		skip();
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", FAKETIME_LIB);
	fl_error_init(&e);
	fx->child = fl_spawn_argv(argv, -1, &opts, &e);
	assert_true(fx->child > 0);
	write_pidfile(fx, fx->child);
	/* Wait until the child has exec'd the static program. */
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)fx->child);
	while (fl_now_ns() < deadline) {
		n = readlink(exe, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = '\0';
			if (strstr(link, "static_pause"))
				break;
		}
		fl_sleep_until(fl_now_ns() + 2 * FL_NS_PER_MS, NULL, 2 * FL_NS_PER_MS);
	}
	assert_non_null(strstr(link, "static_pause"));
	assert_int_equal(fault_load(fx, "{\"offset\":\"+1h\"}", &e), 0);
	fx->rec = fx->ops->prepare(&fx->fault, &fx->target, &e);
	assert_null(fx->rec);
	assert_non_null(strstr(e.msg, "is statically linked"));
}

static void test_validate_errors(void **state)
{
	struct fx *fx = *state;
	static const struct {
		const char *json, *want;
	} cases[] = {
		{ "{}", "missing key 'offset'" },
		{ "{\"offset\":\"soon\"}", "'offset': 'soon' is not a signed non-zero duration" },
		{ "{\"offset\":\"+0s\"}", "is not a signed non-zero duration" },
		{ "{\"offset\":\"+40000d\"}", "is not a signed non-zero duration" },
		{ "{\"offset\":\"+1h\",\"ofset\":1}", "unknown key 'ofset'" },
	};
	for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
		struct fl_error e;
		fl_error_init(&e);
		assert_int_equal(fault_load(fx, cases[i].json, &e), -1);
		if (!strstr(e.msg, cases[i].want))
			fail_msg("%s: got '%s', wanted '%s'", cases[i].json, e.msg, cases[i].want);
		assert_non_null(strstr(e.msg, "scenario.json:1:"));
	}
	/* Wrong target kind. */
	{
		struct fl_error e;
		fx->target.kind = FL_TARGET_FILE;
		fl_error_init(&e);
		assert_int_equal(fault_load(fx, "{\"offset\":\"+1h\"}", &e), -1);
		assert_non_null(strstr(e.msg, "needs a target of kind process"));
		fx->target.kind = FL_TARGET_PROCESS;
	}
}

/* Restart mode: a process NOT under libfaketime is stopped and started
 * again by the target's start command, now preloaded and reading the
 * offset; revert puts it on real time without another restart. */
static void test_restart_mode(void **state)
{
	struct fx *fx = *state;
	char json[600], script[600];
	struct fl_error e;
	pid_t old, now;
	int64_t t0;

	old = spawn_child(fx, NULL);
	assert_true(wait_mapped(old, "python3"));
	/* The start command backgrounds the service and writes its pidfile,
	 * like a daemon's init script; it is not our child. */
	snprintf(script, sizeof(script),
		 "%s -c \"$0\" \"$1\" </dev/null >/dev/null 2>&1 & echo $! >\"$2\"", PYTHON);
	{
		/* sh -c SCRIPT CHILD_PY CLOCKFILE PIDFILE */
		static char *argv_with_args[8];
		argv_with_args[0] = "/bin/sh";
		argv_with_args[1] = "-c";
		argv_with_args[2] = script;
		argv_with_args[3] = FL_UNCONST(char *, CHILD_PY);
		argv_with_args[4] = fx->clockfile;
		argv_with_args[5] = fx->pidfile;
		argv_with_args[6] = NULL;
		fx->target.start = argv_with_args;
	}
	snprintf(json, sizeof(json),
		 "{\"offset\":\"-2d\",\"restart\":true,\"timestamp_file\":\"%s\"}", fx->tsfile);
	fl_error_init(&e);
	if (fault_load(fx, json, &e) < 0)
		fail_msg("validate: %s", e.msg);
	fx->rec = fx->ops->prepare(&fx->fault, &fx->target, &e);
	if (!fx->rec)
		fail_msg("prepare: %s", e.msg);
	assert_int_equal(json_integer_value(json_object_get(fx->rec, "old_pid")), old);
	assert_true(json_is_null(json_object_get(fx->rec, "original")));
	t0 = fl_now_ns();
	if (fx->ops->inject(&fx->fault, &fx->target, fx->rec, &e) < 0)
		fail_msg("inject: %s", e.msg);
	fx->rec = reload(fx->rec);
	now = (pid_t)json_integer_value(json_object_get(fx->rec, "pid"));
	assert_true(now > 0 && now != old);
	fx->stray = now;
	assert_true(json_is_true(json_object_get(fx->rec, "no_cache")));
	/* The old process was stopped (our child: reap it). */
	{
		int st;
		assert_int_equal(waitpid(old, &st, 0), old);
		fx->child = 0;
	}
	/* The new one lives two days behind. */
	while (fl_now_ns() - t0 < 10 * FL_NS_PER_S) {
		double sk = child_skew_s(fx);
		if (sk < -2.0 * 86400 + 5 && sk > -2.0 * 86400 - 5)
			break;
		fl_sleep_until(fl_now_ns() + 5 * FL_NS_PER_MS, NULL, 5 * FL_NS_PER_MS);
	}
	assert_true(child_skew_s(fx) < -86400);
	print_message("clock restart: new pid %d saw -2d %.0f ms after inject began\n", (int)now,
		      (double)(fl_now_ns() - t0) / 1e6);
	/* Revert: real time, same process. */
	if (fl_injector_revert("clock", fx->rec, &e) < 0)
		fail_msg("revert: %s", e.msg);
	assert_null(read_text(fx->tsfile));
	t0 = fl_now_ns();
	while (fl_now_ns() - t0 < 5 * FL_NS_PER_S && child_skew_s(fx) < -1)
		fl_sleep_until(fl_now_ns() + 5 * FL_NS_PER_MS, NULL, 5 * FL_NS_PER_MS);
	assert_true(child_skew_s(fx) > -1);
	assert_true(kill(now, 0) == 0);
	assert_non_null(strstr(json_string_value(json_object_get(fx->rec, "outcome")),
			       "stays under libfaketime"));
	json_decref(fx->rec);
	fx->rec = NULL;
	fx->target.start = NULL;

	/* Validation: restart needs a timestamp file and a start command. */
	fl_error_init(&e);
	assert_int_equal(fault_load(fx, "{\"offset\":\"+1h\",\"restart\":true}", &e), -1);
	assert_non_null(strstr(e.msg, "'restart' needs 'timestamp_file'"));
	fl_error_init(&e);
	snprintf(json, sizeof(json),
		 "{\"offset\":\"+1h\",\"restart\":true,\"timestamp_file\":\"%s\"}", fx->tsfile);
	assert_int_equal(fault_load(fx, json, &e), -1);
	assert_non_null(strstr(e.msg, "'restart' needs a 'start' command on target 'svc'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_skew_live_and_revert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revert_leaves_foreign_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_without_libfaketime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_faketime_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_static_binary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_mode, setup, teardown),
	};
	if (access(FAKETIME_LIB, R_OK) != 0 || access(PYTHON, X_OK) != 0) {
		fprintf(stderr, "skip: %s or %s missing (Debian packages libfaketime, python3)\n",
			FAKETIME_LIB, PYTHON);
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
