/*
 * Unit tests for injectors/process.c (with process_host.c) against real
 * child processes: KILL with
 * a supervisor restart, STOP then CONT, KILL then restart through the
 * target's start argv, the pid-reuse guard, cmdline matching, and the
 * validation errors. Every wait has a deadline; every child is reaped or
 * killed in teardown.
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
#include "core/proc.h"

#define MAX_CHILDREN 8

struct fx {
	char dir[256];
	char pidfile[300];
	char match[64];
	pid_t children[MAX_CHILDREN];
	size_t nchildren;
	pid_t stray; /* started by a start command: not our child */
	struct fl_doc *doc;
	struct fl_fault_spec fault;
	struct fl_target target;
	const struct fl_injector_ops *ops;
};

static pid_t spawn_sleep(struct fx *fx, const char *arg)
{
	const char *argv[] = { "sleep", arg, NULL };
	struct fl_error e;
	pid_t pid;
	fl_error_init(&e);
	pid = fl_spawn_argv(argv, -1, NULL, &e);
	assert_true(pid > 0);
	assert_true(fx->nchildren < MAX_CHILDREN);
	fx->children[fx->nchildren++] = pid;
	return pid;
}

/* A spawned child shows its new cmdline only once it has exec'd: wait for it. */
static void wait_exec(pid_t pid, const char *needle)
{
	int64_t deadline = fl_now_ns() + 5 * FL_NS_PER_S;
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	while (fl_now_ns() < deadline) {
		FILE *f = fopen(path, "r");
		size_t n = 0;
		if (f) {
			n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
		}
		for (size_t i = 0; i < n; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[n] = '\0';
		if (strstr(buf, needle))
			return;
		fl_sleep_until(fl_now_ns() + 2 * FL_NS_PER_MS, NULL, 2 * FL_NS_PER_MS);
	}
	fail_msg("pid %d never showed '%s' in its cmdline", (int)pid, needle);
}

static void write_pidfile(struct fx *fx, pid_t pid)
{
	FILE *f = fopen(fx->pidfile, "w");
	assert_non_null(f);
	fprintf(f, "%d\n", (int)pid);
	fclose(f);
}

/* State letter from /proc/PID/stat, or 0 when gone. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] && p[2] ? p[2] : 0;
}

/* Alive and not stopped: sleeping, or running for a moment. */
static int running(char state)
{
	return state == 'S' || state == 'R';
}

/* Waits up to 5 s for pid to run (S or R): a process resumed by SIGCONT
 * passes through other states on its way out of the stop (seen once under
 * TSan in CI: not 'T', not yet S or R). Fails naming the last state. */
static void wait_running(pid_t pid)
{
	int64_t deadline = fl_now_ns() + 5 * FL_NS_PER_S;
	char s = 0;
	for (int i = 0; i < 100000 && fl_now_ns() < deadline; i++) {
		s = proc_state(pid);
		if (running(s))
			return;
		fl_sleep_until(fl_now_ns() + 2 * FL_NS_PER_MS, NULL, 2 * FL_NS_PER_MS);
	}
	fail_msg("pid %d never ran within 5 s (state '%c')", (int)pid, s ? s : '?');
}

/* Waits up to 5 s for pid's state to be (want != 0) or stop being (want == 0
 * with not) a letter. Returns 1 when reached. */
static int wait_state(pid_t pid, char want, int negate)
{
	int64_t deadline = fl_now_ns() + 5 * FL_NS_PER_S;
	for (int i = 0; i < 100000 && fl_now_ns() < deadline; i++) {
		char s = proc_state(pid);
		if (negate ? s != want : s == want)
			return 1;
		fl_sleep_until(fl_now_ns() + 5 * FL_NS_PER_MS, NULL, 5 * FL_NS_PER_MS);
	}
	return 0;
}

/* Reaps our child pid, waiting up to 5 s; returns its wait status or -1. */
static int reap(struct fx *fx, pid_t pid)
{
	int64_t deadline = fl_now_ns() + 5 * FL_NS_PER_S;
	int st;
	while (fl_now_ns() < deadline) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid) {
			for (size_t i = 0; i < fx->nchildren; i++)
				if (fx->children[i] == pid)
					fx->children[i] = 0;
			return st;
		}
		if (r < 0)
			return -1;
		fl_sleep_until(fl_now_ns() + 5 * FL_NS_PER_MS, NULL, 5 * FL_NS_PER_MS);
	}
	return -1;
}

static int setup(void **state)
{
	struct fx *fx = fl_calloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");
	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "%s/fl-proc-XXXXXX", tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->pidfile, sizeof(fx->pidfile), "%s/api-1.pid", fx->dir);
	/* A sleep length no other process on the machine will have. */
	snprintf(fx->match, sizeof(fx->match), "3600.%d", (int)getpid());
	fx->ops = fl_injector_find("process");
	assert_non_null(fx->ops);
	fx->target.name = "api-1";
	fx->target.kind = FL_TARGET_PROCESS;
	fx->target.pidfile = fx->pidfile;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	for (size_t i = 0; i < fx->nchildren; i++) {
		if (fx->children[i] > 0) {
			kill(fx->children[i], SIGKILL);
			kill(fx->children[i], SIGCONT);
			reap(fx, fx->children[i]);
		}
	}
	if (fx->stray > 0) {
		/* Not our child: init reaps it; wait until it is a zombie or gone. */
		int64_t deadline = fl_now_ns() + 5 * FL_NS_PER_S;
		kill(fx->stray, SIGKILL);
		while (fl_now_ns() < deadline && proc_state(fx->stray) != 0 &&
		       proc_state(fx->stray) != 'Z')
			fl_sleep_until(fl_now_ns() + 5 * FL_NS_PER_MS, NULL, 5 * FL_NS_PER_MS);
	}
	fl_doc_free(fx->doc);
	unlink(fx->pidfile);
	rmdir(fx->dir);
	fl_free(fx);
	return 0;
}

static int fault_load(struct fx *fx, const char *text, int64_t duration_ns, struct fl_error *err)
{
	static const char *const common[] = { "name", "injector", "target", "after", "duration" };
	fl_doc_free(fx->doc);
	fx->doc = fl_doc_load_string("scenario.json", text, err);
	assert_non_null(fx->doc);
	fx->fault.name = "kill-api";
	fx->fault.injector = "process";
	fx->fault.target = "api-1";
	fx->fault.duration_ns = duration_ns;
	fx->fault.params = fl_doc_root(fx->doc);
	for (size_t i = 0; i < FL_ARRAY_LEN(common); i++)
		fl_doc_mark(fx->doc, fx->fault.params, common[i]);
	return fx->ops->validate(fx->doc, &fx->fault, &fx->target, err);
}

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

static json_t *prepare_inject(struct fx *fx)
{
	struct fl_error e;
	json_t *rec;
	fl_error_init(&e);
	rec = fx->ops->prepare(&fx->fault, &fx->target, &e);
	if (!rec)
		fail_msg("prepare: %s", e.msg);
	if (fx->ops->inject(&fx->fault, &fx->target, rec, &e) < 0)
		fail_msg("inject: %s", e.msg);
	return reload(rec);
}

static void revert_ok(json_t *rec)
{
	struct fl_error e;
	fl_error_init(&e);
	if (fl_injector_revert("process", rec, &e) < 0)
		fail_msg("revert: %s", e.msg);
}

static void test_kill_then_supervisor_restart(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;
	pid_t a, b;
	int st;
	json_t *rec;

	a = spawn_sleep(fx, "60");
	write_pidfile(fx, a);
	fl_error_init(&e);
	assert_int_equal(fault_load(fx, "{\"name\":\"kill-api\",\"signal\":\"KILL\"}", 0, &e), 0);
	rec = prepare_inject(fx);
	assert_int_equal(json_integer_value(json_object_get(rec, "pid")), a);
	assert_true(json_integer_value(json_object_get(rec, "start_time")) > 0);
	st = reap(fx, a);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);

	/* The "supervisor" brings up a new instance. */
	b = spawn_sleep(fx, "60");
	write_pidfile(fx, b);
	revert_ok(rec);
	assert_non_null(strstr(json_string_value(json_object_get(rec, "outcome")), "running again"));
	wait_running(b);
	json_decref(rec);
}

static void test_kill_without_start_stays_down(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;
	pid_t a;
	json_t *rec;

	a = spawn_sleep(fx, "60");
	write_pidfile(fx, a);
	fl_error_init(&e);
	assert_int_equal(fault_load(fx, "{}", 0, &e), 0); /* KILL by default */
	rec = prepare_inject(fx);
	reap(fx, a);
	assert_int_equal(fl_injector_revert("process", rec, &e), -1);
	assert_string_equal(e.msg, "api-1: still down after revert (no start command)");
	json_decref(rec);
}

static void test_stop_then_cont(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;
	pid_t a;
	json_t *rec;

	a = spawn_sleep(fx, "60");
	write_pidfile(fx, a);
	fl_error_init(&e);
	assert_int_equal(fault_load(fx, "{\"pause\":\"2s\"}", 2 * FL_NS_PER_S, &e), 0);
	rec = prepare_inject(fx);
	assert_string_equal(json_string_value(json_object_get(rec, "signal")), "STOP");
	assert_true(wait_state(a, 'T', 0));
	revert_ok(rec);
	assert_true(wait_state(a, 'T', 1));
	wait_running(a);
	/* Idempotent. */
	revert_ok(rec);
	wait_running(a);
	json_decref(rec);
}

static void test_kill_then_start_command(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;
	char script[512];
	char *start[] = { "sh", "-c", script, NULL };
	pid_t a, b = 0;
	json_t *rec;

	/* A start command that daemonizes and writes the pidfile, like an init script. */
	snprintf(script, sizeof(script), "sleep 60 </dev/null >/dev/null 2>&1 & echo $! > '%s'",
		 fx->pidfile);
	fx->target.start = start;
	a = spawn_sleep(fx, "60");
	write_pidfile(fx, a);
	fl_error_init(&e);
	assert_int_equal(fault_load(fx, "{\"signal\":\"SIGKILL\"}", 0, &e), 0);
	rec = prepare_inject(fx);
	assert_true(json_is_array(json_object_get(rec, "start")));
	reap(fx, a);
	revert_ok(rec);
	assert_non_null(strstr(json_string_value(json_object_get(rec, "outcome")),
			       "restarted with the start command"));
	assert_int_equal(fl_read_pidfile(fx->pidfile, &b, &e), 0);
	fx->stray = b;
	assert_true(b != a);
	wait_running(b);
	/* A second revert sees it running and starts nothing more. */
	revert_ok(rec);
	assert_non_null(strstr(json_string_value(json_object_get(rec, "outcome")), "running again"));
	fx->target.start = NULL;
	json_decref(rec);
}

/* A pid whose start time differs from the journaled one is another process:
 * revert must not send it SIGCONT. */
static void test_pid_reuse_guard(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;
	pid_t a;
	json_t *rec;

	a = spawn_sleep(fx, "60");
	write_pidfile(fx, a);
	fl_error_init(&e);
	assert_int_equal(fault_load(fx, "{\"signal\":\"STOP\"}", 0, &e), 0);
	rec = prepare_inject(fx);
	assert_true(wait_state(a, 'T', 0));
	json_object_set_new(rec, "start_time",
			    json_integer(json_integer_value(json_object_get(rec, "start_time")) + 1));
	revert_ok(rec);
	assert_non_null(strstr(json_string_value(json_object_get(rec, "outcome")), "is gone"));
	/* kill(SIGCONT) resumes a stopped task synchronously: had it been sent,
	 * the state would no longer be 'T' here. */
	assert_int_equal(proc_state(a), 'T');
	json_decref(rec);
}

static void test_match_resolution(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;
	pid_t a;
	json_t *rec;

	fx->target.pidfile = NULL;
	fx->target.match = fx->match;
	a = spawn_sleep(fx, fx->match);
	wait_exec(a, fx->match);
	fl_error_init(&e);
	assert_int_equal(fault_load(fx, "{\"signal\":\"TERM\"}", 0, &e), 0);
	rec = fx->ops->prepare(&fx->fault, &fx->target, &e);
	assert_non_null(rec);
	assert_int_equal(json_integer_value(json_object_get(rec, "pid")), a);
	json_decref(rec);

	wait_exec(spawn_sleep(fx, fx->match), fx->match);
	rec = fx->ops->prepare(&fx->fault, &fx->target, &e);
	assert_null(rec);
	assert_non_null(strstr(e.msg, "2 processes match"));
	fx->target.match = NULL;
	fx->target.pidfile = fx->pidfile;
}

/* The pid a file names once something writes it, within 5 s; 0 if never. */
static pid_t wait_pid_in(const char *path)
{
	int64_t deadline = fl_now_ns() + 5 * FL_NS_PER_S;
	while (fl_now_ns() < deadline) {
		FILE *f = fopen(path, "r");
		int v = 0;
		if (f) {
			if (fscanf(f, "%d", &v) != 1)
				v = 0;
			fclose(f);
		}
		if (v > 0)
			return (pid_t)v;
		fl_sleep_until(fl_now_ns() + 2 * FL_NS_PER_MS, NULL, 2 * FL_NS_PER_MS);
	}
	return 0;
}

/* A server that forked and whose copy has not renamed itself yet (a
 * PostgreSQL backend for a new connection, before it sets its title) is
 * one program: the match is its parent. The copy here never renames and
 * ends with its parent. A wrapper and the program it started share an
 * argument but not their command lines: still two, refused. */
static void test_match_forked_copy(void **state)
{
	static const char server[] =
		"import os, sys, time\n"
		"parent = os.getpid()\n"
		"child = os.fork()\n"
		"if child == 0:\n"
		"    while os.getppid() == parent: time.sleep(0.02)\n"
		"    os._exit(0)\n"
		"with open(sys.argv[1] + '.tmp', 'w') as f: f.write(str(child))\n"
		"os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n"
		"time.sleep(3600)\n";
	struct fx *fx = *state;
	struct fl_error e;
	char forked[320];
	pid_t a, copy;
	json_t *rec;

	snprintf(forked, sizeof(forked), "%s/forked", fx->dir);
	fx->target.pidfile = NULL;
	fx->target.match = fx->match;
	{
		const char *argv[] = { "python3", "-c", server, forked, fx->match, NULL };
		fl_error_init(&e);
		a = fl_spawn_argv(argv, -1, NULL, &e);
		assert_true(a > 0);
		fx->children[fx->nchildren++] = a;
	}
	copy = wait_pid_in(forked);
	if (copy <= 0)
		fail_msg("the python server never wrote its fork's pid to %s", forked);
	assert_int_equal(fault_load(fx, "{\"signal\":\"TERM\"}", 0, &e), 0);
	rec = fx->ops->prepare(&fx->fault, &fx->target, &e);
	if (!rec)
		fail_msg("prepare: %s", e.msg);
	assert_int_equal(json_integer_value(json_object_get(rec, "pid")), a);
	json_decref(rec);
	kill(a, SIGKILL);
	assert_true(reap(fx, a) >= 0);
	unlink(forked);

	{
		/* sh waits for sleep (the trailing ':' keeps it from exec'ing it). */
		const char *argv[] = { "sh", "-c", "sleep \"$0\"; :", fx->match, NULL };
		a = fl_spawn_argv(argv, -1, NULL, &e);
		assert_true(a > 0);
		fx->children[fx->nchildren++] = a;
	}
	{
		/* Until sleep runs, only sh matches; wait for the second. */
		int64_t deadline = fl_now_ns() + 5 * FL_NS_PER_S;
		int n = 0;
		while (fl_now_ns() < deadline) {
			rec = fx->ops->prepare(&fx->fault, &fx->target, &e);
			if (!rec && strstr(e.msg, "2 processes match"))
				break;
			json_decref(rec);
			fl_error_init(&e);
			n++;
			fl_sleep_until(fl_now_ns() + 2 * FL_NS_PER_MS, NULL, 2 * FL_NS_PER_MS);
		}
		if (fl_now_ns() >= deadline)
			fail_msg("a wrapper and its sleep were never refused as two (%d looks): %s",
				 n, e.msg);
	}
	fx->target.match = NULL;
	fx->target.pidfile = fx->pidfile;
}

static void test_not_running(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;
	pid_t a = spawn_sleep(fx, "60");
	kill(a, SIGKILL);
	reap(fx, a);
	write_pidfile(fx, a);
	fl_error_init(&e);
	assert_int_equal(fault_load(fx, "{}", 0, &e), 0);
	assert_null(fx->ops->prepare(&fx->fault, &fx->target, &e));
	assert_non_null(strstr(e.msg, "is not running"));
}

static void expect_invalid(struct fx *fx, const char *text, int64_t duration_ns, const char *msg)
{
	struct fl_error e;
	fl_error_init(&e);
	assert_int_equal(fault_load(fx, text, duration_ns, &e), -1);
	if (!strstr(e.msg, msg))
		fail_msg("expected '%s' in '%s'", msg, e.msg);
}

static void test_validate_errors(void **state)
{
	struct fx *fx = *state;
	char *d, want[512];
	struct fl_error e;
	expect_invalid(fx, "{\"signal\":\"BOGUS\"}", 0, "scenario.json:1:11: unknown signal 'BOGUS'");
	expect_invalid(fx, "{\"signal\":\"KILL\",\n\"sginal\":1}", 0,
		       "scenario.json:2:1: unknown key 'sginal'");
	expect_invalid(fx, "{\"pause\":\"2s\",\"signal\":\"KILL\"}", 0,
		       "cannot go with signal 'KILL'");
	expect_invalid(fx, "{\"pause\":\"2s\"}", 0, "must equal the fault's 'duration' (none)");
	expect_invalid(fx, "{\"children\":\"yes\"}", 0, "children");
	fx->target.kind = FL_TARGET_FILE;
	expect_invalid(fx, "{}", 0, "needs a target of kind process");
	fx->target.kind = FL_TARGET_PROCESS;

	fl_error_init(&e);
	assert_int_equal(fault_load(fx, "{\"signal\":\"STOP\",\"children\":true}", 3 * FL_NS_PER_S,
				    &e),
			 0);
	d = fx->ops->describe(&fx->fault, &fx->target);
	snprintf(want, sizeof(want),
		 "process: SIGSTOP api-1 and its process group for 3s (pidfile %s)", fx->pidfile);
	assert_string_equal(d, want);
	fl_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kill_then_supervisor_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_without_start_stays_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_then_cont, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_then_start_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pid_reuse_guard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_match_resolution, setup, teardown),
		cmocka_unit_test_setup_teardown(test_match_forked_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_errors, setup, teardown),
	};
	fl_alloc_install_jansson();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
