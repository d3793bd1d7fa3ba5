/*
 * test_gameday: the game-day engine (sim/gameday.h) and its debrief
 * (reports/debrief.h) without a drill: plan files rejected with
 * file:line:col, a plan of pauses loaded and run with the facilitator's
 * input from a pipe (a note, Enter, abort), fd 0 given back afterwards, and
 * the debrief's Gantt timeline; loading and the debrief also under every
 * allocation failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/spawn.h"
#include "reports/debrief.h"
#include "sim/gameday.h"

static char dir[256];

static int setup(void **state)
{
	(void)state;
	fl_alloc_install_jansson();
	snprintf(dir, sizeof(dir), "%s/faultline-gameday.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char path[512];
	(void)state;
	snprintf(path, sizeof(path), "%s/plan.json", dir);
	unlink(path);
	return rmdir(dir);
}

static const char *write_plan(const char *text)
{
	static char path[512];
	FILE *f;
	snprintf(path, sizeof(path), "%s/plan.json", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void bad_plan(const char *text, const char *where, const char *want)
{
	struct fl_gameday gd;
	struct fl_error err;
	const char *path = write_plan(text);
	char prefix[600];

	fl_error_init(&err);
	assert_int_equal(fl_gameday_load(&gd, path, NULL, &err), -1);
	assert_int_equal(err.code, FL_EXIT_INPUT);
	/* where: "line:col", or "" when the file named is another one */
	if (*where)
		snprintf(prefix, sizeof(prefix), "%s:%s: ", path, where);
	else
		prefix[0] = '\0';
	if (strncmp(err.msg, prefix, strlen(prefix)) || !strstr(err.msg, want))
		fail_msg("got '%s', wanted '%s...%s'", err.msg, prefix, want);
	fl_gameday_release(&gd);
}

static void test_bad_plans(void **state)
{
	(void)state;
	bad_plan("[1]\n", "1:1", "expected a JSON object");
	bad_plan("{\"name\": \"x\", \"steps\": []}\n", "1:24", "'steps' is empty");
	bad_plan("{\"name\": \"x\",\n \"steps\": [{\"pause\": \"p\", \"scenario\": \"s.json\"}]}\n",
		 "2:12", "a step has either 'scenario' or 'pause'");
	bad_plan("{\"name\": \"x\",\n \"steps\": [{\"pause\": \"p\", \"duraton\": \"1s\"}]}\n",
		 "2:27", "unknown key 'duraton'");
	bad_plan("{\"name\": \"x\", \"participants\": [\"Ana\"], \"steps\": [{\"pause\": \"p\"}]}\n",
		 "1:32", "a participant is an object {name, role}");
	bad_plan("{\"name\": \"x\", \"steps\": [{\"scenario\": \"missing.json\"}]}\n", "",
		 "missing.json");
}

static const char pauses[] =
	"{\"name\": \"drill day\", \"briefing\": \"read the runbook\",\n"
	" \"participants\": [{\"name\": \"Ana\", \"role\": \"facilitator\"}],\n"
	" \"steps\": [{\"pause\": \"briefing\"}, {\"pause\": \"coffee\", \"duration\": \"100ms\"}]}\n";

static void test_load_pauses(void **state)
{
	struct fl_gameday gd;
	struct fl_error err;
	(void)state;
	fl_error_init(&err);
	assert_int_equal(fl_gameday_load(&gd, write_plan(pauses), NULL, &err), 0);
	assert_string_equal(gd.name, "drill day");
	assert_string_equal(gd.briefing, "read the runbook");
	assert_int_equal(gd.npeople, 1);
	assert_string_equal(gd.people[0].role, "facilitator");
	assert_int_equal(gd.nsteps, 2);
	assert_true(gd.steps[0].pause && gd.steps[0].duration_ns == 0);
	assert_int_equal(gd.steps[1].duration_ns, 100 * FL_NS_PER_MS);
	fl_gameday_release(&gd);
}

struct feeder {
	const char *out_path, *input;
	int fd;
	pid_t *child; /* when set: a program started during the day, left running */
};

/* Types the input once the first pause is on the console, as a person
 * would: a pause forgets Enter pressed before it began. */
static void *feed(void *arg)
{
	struct feeder *f = arg;
	int64_t deadline = fl_now_ns() + 10 * FL_NS_PER_S;
	char buf[4096];
	for (;;) {
		FILE *in = fopen(f->out_path, "r");
		size_t n = in ? fread(buf, 1, sizeof(buf) - 1, in) : 0;
		if (in)
			fclose(in);
		buf[n] = '\0';
		if (strstr(buf, "PAUSE: briefing") || fl_now_ns() > deadline)
			break;
		fl_sleep_until(fl_now_ns() + 10 * FL_NS_PER_MS, NULL, 10 * FL_NS_PER_MS);
	}
	if (f->child) {
		/* Started as a drill starts a program (a recovery step's daemon):
		 * it inherits whatever the process left open across exec. */
		const char *argv[] = { "sleep", "30", NULL };
		struct fl_error e;
		fl_error_init(&e);
		*f->child = fl_spawn_argv(argv, -1, NULL, &e);
	}
	if (write(f->fd, f->input, strlen(f->input)) != (ssize_t)strlen(f->input))
		return NULL;
	return NULL;
}

/* Runs the pause plan with lines fed to the console; the exit class.
 * child: see struct feeder (may be NULL). */
static int run_with_input(struct fl_gameday *gd, const char *input, pid_t *child)
{
	static atomic_int interrupted;
	struct fl_gameday_options o = { .interrupted = &interrupted };
	struct feeder f = { .input = input, .child = child };
	struct fl_error err;
	char out_path[512];
	pthread_t t;
	int p[2], rc;

	snprintf(out_path, sizeof(out_path), "%s/console.txt", dir);
	assert_non_null(o.out = fopen(out_path, "w"));
	interrupted = 0;
	fl_error_init(&err);
	assert_int_equal(pipe(p), 0);
	f.out_path = out_path;
	f.fd = p[1];
	assert_int_equal(pthread_create(&t, NULL, feed, &f), 0);
	o.in_fd = p[0];
	rc = fl_gameday_run(gd, &o, NULL, &err);
	pthread_join(t, NULL);
	close(p[0]);
	close(p[1]);
	fclose(o.out);
	unlink(out_path);
	if (rc < 0)
		fail_msg("fl_gameday_run: %s", err.msg);
	return rc;
}

static void test_run_pauses(void **state)
{
	struct fl_gameday gd;
	struct fl_error err;
	struct stat before, after;
	(void)state;
	fl_error_init(&err);
	assert_int_equal(fstat(0, &before), 0);
	assert_int_equal(fl_gameday_load(&gd, write_plan(pauses), NULL, &err), 0);
	/* A note during the briefing, then Enter ends it; the timed pause ends by itself. */
	assert_int_equal(run_with_input(&gd, "the room is ready\naction: fix alerts\n\n", NULL),
			 FL_EXIT_OK);
	assert_false(gd.aborted);
	assert_int_equal(gd.nnotes, 2);
	assert_string_equal(gd.notes[0].text, "the room is ready");
	assert_string_equal(gd.notes[0].during, "briefing");
	assert_false(gd.notes[0].action);
	assert_string_equal(gd.notes[1].text, "fix alerts");
	assert_true(gd.notes[1].action);
	assert_true(gd.steps[1].started);
	assert_true(gd.steps[1].end_wall_ns - gd.steps[1].start_wall_ns >= 100 * FL_NS_PER_MS);
	assert_true(gd.end_wall_ns >= gd.steps[1].end_wall_ns);
	/* fd 0 is what it was before the day. */
	assert_int_equal(fstat(0, &after), 0);
	assert_true(before.st_dev == after.st_dev && before.st_ino == after.st_ino);
	fl_gameday_release(&gd);

	assert_int_equal(fl_gameday_load(&gd, write_plan(pauses), NULL, &err), 0);
	assert_int_equal(run_with_input(&gd, "abort\n", NULL), FL_EXIT_INTERRUPTED);
	assert_true(gd.aborted);
	assert_true(gd.steps[0].started);
	assert_false(gd.steps[1].started);
	fl_gameday_release(&gd);
}

/* A program started during the day that outlives it (a daemon a recovery
 * step launched) holds none of the console's descriptors, so the day ends
 * when its steps do: it used to hold the progress pipe's write end and the
 * day's end waited for it to exit. */
static void test_child_holds_no_console_fd(void **state)
{
	struct fl_gameday gd;
	struct fl_error err;
	pid_t child = -1;
	int64_t t;
	(void)state;
	fl_error_init(&err);
	assert_int_equal(fl_gameday_load(&gd, write_plan(pauses), NULL, &err), 0);
	t = fl_now_ns();
	assert_int_equal(run_with_input(&gd, "\n", &child), FL_EXIT_OK);
	t = fl_now_ns() - t;
	assert_true(child > 0);
	assert_int_equal(kill(child, 0), 0); /* still running */
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	if (t > 5 * FL_NS_PER_S)
		fail_msg("the day took %.1f s: it waited for a program it started", (double)t / 1e9);
	fl_gameday_release(&gd);
}

static void test_load_allocfail(void **state)
{
	const char *path = write_plan(pauses);
	long n;
	(void)state;
	for (n = 1; n < 10000; n++) {
		struct fl_gameday gd;
		struct fl_error err;
		int rc;
		fl_error_init(&err);
		fl_alloc_fail_after(n);
		rc = fl_gameday_load(&gd, path, NULL, &err);
		fl_gameday_release(&gd);
		if (rc == 0) {
			assert_int_equal(fl_alloc_failed(), 0);
			fl_alloc_fail_after(-1);
			break;
		}
		fl_alloc_fail_after(-1);
		if (!err.msg[0])
			fail_msg("allocation %ld failed without an error", n);
	}
	assert_true(n > 1 && n < 10000);
}

/* A day of one pause and one scenario run with phases, for the debrief. */
static void debrief_of(struct fl_run *run, struct fl_debrief_item items[2], struct fl_debrief *d)
{
	static const char *const manual[] = { "operator-resume", NULL };
	int64_t t = 1700000000LL * FL_NS_PER_S;
	fl_run_init(run);
	run->id = 1;
	run->verdict = fl_strdup("pass");
	run->rto_ms = 1500;
	run->rto_target_ms = 5000;
	assert_non_null(run->verdict);
	assert_int_equal(fl_run_add_event(run, "t_detect", 100, NAN), 0);
	assert_int_equal(fl_run_add_phase(run, "detect", 0, 100), 0);
	assert_int_equal(fl_run_add_phase(run, "recover", 100, 1500), 0);
	assert_int_equal(fl_run_add_phase(run, "operator-resume", 120, 1400), 0);
	items[0] = (struct fl_debrief_item){ .kind = FL_DEBRIEF_PAUSE,
					     .title = "briefing",
					     .start_wall_ns = t,
					     .end_wall_ns = t + FL_NS_PER_S };
	items[1] = (struct fl_debrief_item){ .kind = FL_DEBRIEF_SCENARIO,
					     .title = "demo-manual-resume",
					     .start_wall_ns = t + FL_NS_PER_S,
					     .end_wall_ns = t + 4 * FL_NS_PER_S,
					     .t0_wall_ns = t + 2 * FL_NS_PER_S,
					     .run = run,
					     .manual_steps = manual };
	*d = (struct fl_debrief){ .name = "day",
				  .items = items,
				  .nitems = 2,
				  .start_wall_ns = t,
				  .end_wall_ns = t + 5 * FL_NS_PER_S };
}

static void test_debrief_gantt(void **state)
{
	struct fl_debrief_item items[2];
	struct fl_debrief d;
	struct fl_run run;
	struct fl_error err;
	struct fl_buf page;
	const char *tl, *log;
	long n;
	(void)state;
	debrief_of(&run, items, &d);
	fl_error_init(&err);
	fl_buf_init(&page, 0);
	assert_int_equal(fl_debrief_write_html(&d, &page, &err), 0);
	tl = strstr(page.buf, "<h2>Timeline</h2>");
	log = strstr(page.buf, "<h2>Session log</h2>");
	assert_true(tl && log && tl < log);
	assert_non_null(strstr(tl, "<h3>demo-manual-resume"));
	assert_non_null(strstr(tl, "<svg class=\"gantt\""));
	assert_true(strstr(tl, "operator-resume") < log);
	assert_null(strstr(strstr(tl, "<svg") + 1, "<svg class=\"gantt\"")); /* one run, one chart */
	assert_non_null(strstr(page.buf, ".gantt"));
	assert_non_null(strstr(log, "pause: briefing"));
	assert_null(strstr(log, "phase ")); /* phases are in the chart, not the log */
	fl_buf_release(&page);
	for (n = 1; n < 100000; n++) {
		int rc;
		fl_error_init(&err);
		fl_buf_init(&page, 0);
		fl_alloc_fail_after(n);
		rc = fl_debrief_write_html(&d, &page, &err);
		fl_alloc_fail_after(-1);
		fl_buf_release(&page);
		if (rc == 0)
			break;
		assert_int_equal(err.code, FL_EXIT_ENV);
	}
	assert_true(n > 1 && n < 100000);
	fl_run_release(&run);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_plans),
		cmocka_unit_test(test_load_pauses),
		cmocka_unit_test(test_run_pauses),
		cmocka_unit_test(test_load_allocfail),
		cmocka_unit_test(test_debrief_gantt),
		cmocka_unit_test(test_child_holds_no_console_fd),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
