/*
 * Unit tests for core/ (alloc, buf, error, clock, spawn, proc): bounded buffers, errors, allocation failure
 * injection, argv-vector spawning with timeouts, signal names, pidfiles.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/spawn.h"
#include "core/proc.h"

static void test_buf_grows_and_limits(void **state)
{
	struct fl_buf b;
	(void)state;
	fl_buf_init(&b, 16);
	assert_string_equal(b.buf, "");
	assert_int_equal(fl_buf_adds(&b, "0123456789"), 0);
	assert_int_equal(fl_buf_addf(&b, "%d%s", 42, "ab"), 0);
	assert_string_equal(b.buf, "012345678942ab");
	/* Past the limit: refused, content unchanged, failure sticky. */
	assert_int_equal(fl_buf_adds(&b, "xyz"), -1);
	assert_true(b.failed);
	assert_string_equal(b.buf, "012345678942ab");
	fl_buf_release(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.buf, "");
}

static void test_buf_detach(void **state)
{
	struct fl_buf b;
	char *s;
	(void)state;
	fl_buf_init(&b, 0);
	fl_buf_addf(&b, "run %d", 7);
	s = fl_buf_detach(&b);
	assert_string_equal(s, "run 7");
	assert_string_equal(b.buf, "");
	fl_free(s);
	/* Detaching an empty buffer still hands out an owned string. */
	s = fl_buf_detach(&b);
	assert_non_null(s);
	assert_string_equal(s, "");
	fl_free(s);
}

static void test_error_first_wins_and_one_line(void **state)
{
	struct fl_error e;
	(void)state;
	fl_error_init(&e);
	assert_false(fl_error_is_set(&e));
	assert_int_equal(fl_error_at(&e, FL_EXIT_INPUT, "s.json", 3, 7, "unknown key '%s'", "x\ny"),
			 -1);
	assert_int_equal(fl_error_set(&e, FL_EXIT_ENV, "second"), -1);
	assert_int_equal(e.code, FL_EXIT_INPUT);
	assert_string_equal(e.msg, "s.json:3:7: unknown key 'x y'");
}

static void test_alloc_failure_injection(void **state)
{
	void *a, *b, *c;
	(void)state;
	fl_alloc_fail_after(3);
	a = fl_malloc(8);
	b = fl_malloc(8);
	c = fl_malloc(8);
	assert_non_null(a);
	assert_non_null(b);
	assert_null(c);
	assert_null(fl_strdup("later ones fail too"));
	fl_alloc_fail_after(-1);
	c = fl_malloc(8);
	assert_non_null(c);
	fl_free(a);
	fl_free(b);
	fl_free(c);
}

static void test_run_argv_captures_and_passes_literally(void **state)
{
	/* An argument full of shell syntax reaches the program verbatim. */
	const char *weird = "a'b; touch /tmp/faultline-pwned $(id) `id` \"q\"";
	const char *argv[] = { "printf", "%s", weird, NULL };
	struct fl_buf out;
	struct fl_error e;
	int status = 0;
	(void)state;
	fl_buf_init(&out, 0);
	fl_error_init(&e);
	assert_int_equal(fl_run_argv(argv, 5 * FL_NS_PER_S, &out, &status, NULL, &e), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_string_equal(out.buf, weird);
	assert_int_not_equal(access("/tmp/faultline-pwned", F_OK), 0);
	fl_buf_release(&out);
}

static void test_run_argv_exit_codes_and_missing(void **state)
{
	const char *f[] = { "false", NULL };
	const char *missing[] = { "/nonexistent/faultline-no-such-program", NULL };
	struct fl_error e;
	int status = 0;
	char desc[64];
	(void)state;
	fl_error_init(&e);
	assert_int_equal(fl_run_argv(f, 5 * FL_NS_PER_S, NULL, &status, NULL, &e), 0);
	assert_string_equal(fl_status_describe(status, desc, sizeof(desc)), "exited 1");
	assert_int_equal(fl_run_argv(missing, FL_NS_PER_S, NULL, &status, NULL, &e), -1);
	assert_int_equal(e.code, FL_EXIT_ENV);
	assert_non_null(strstr(e.msg, "cannot run"));
}

static void test_run_argv_timeout_kills(void **state)
{
	const char *argv[] = { "sleep", "30", NULL };
	struct fl_error e;
	int status = 0;
	int64_t start = fl_now_ns();
	(void)state;
	fl_error_init(&e);
	assert_int_equal(fl_run_argv(argv, 200 * FL_NS_PER_MS, NULL, &status, NULL, &e), 0);
	assert_int_equal(status, -1);
	/* Killed at the deadline, not after the program's own 30 s. */
	assert_true(fl_now_ns() - start < 10 * FL_NS_PER_S);
}

static void test_run_argv_env_and_cwd(void **state)
{
	const char *argv[] = { "sh", "-c", "printf '%s:%s' \"$FL_TEST_VAR\" \"$(pwd)\"", NULL };
	const char *extra[] = { "FL_TEST_VAR=hello world", NULL };
	struct fl_spawn_opts so = { .envp_extra = extra, .cwd = "/", .stop = NULL };
	struct fl_buf out;
	struct fl_error e;
	int status;
	(void)state;
	fl_buf_init(&out, 0);
	fl_error_init(&e);
	assert_int_equal(fl_run_argv(argv, 5 * FL_NS_PER_S, &out, &status, &so, &e), 0);
	assert_string_equal(out.buf, "hello world:/");
	fl_buf_release(&out);
}

/* Bytes for a child's stdin live in an anonymous memfd, never a named file
 * (a SIGKILL between create and unlink left fault bytes in /tmp), and a
 * second run with the same opts (an ssh retry) reads them from the start. */
static void test_run_argv_stdin_data_is_anonymous(void **state)
{
	const char *argv[] = { "sh", "-c", "readlink /proc/self/fd/0; cat", NULL };
	char data[300];
	struct fl_spawn_opts so = { .stdin_data = data, .stdin_len = sizeof(data) };
	struct fl_buf out;
	struct fl_error e;
	int status;
	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i & 0xff);
	for (int round = 0; round < 2; round++) {
		const char *nl;
		fl_buf_init(&out, 0);
		fl_error_init(&e);
		assert_int_equal(fl_run_argv(argv, 5 * FL_NS_PER_S, &out, &status, &so, &e), 0);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		nl = memchr(out.buf, '\n', out.len);
		assert_non_null(nl);
		assert_true(strncmp(out.buf, "/memfd:faultline-stdin", 22) == 0);
		assert_int_equal(out.buf + out.len - (nl + 1), sizeof(data));
		assert_memory_equal(nl + 1, data, sizeof(data));
		fl_buf_release(&out);
	}
	/* Zero bytes: stdin is empty, not /dev/null's absence of a file. */
	so.stdin_len = 0;
	fl_buf_init(&out, 0);
	assert_int_equal(fl_run_argv(argv, 5 * FL_NS_PER_S, &out, &status, &so, &e), 0);
	assert_true(strncmp(out.buf, "/memfd:faultline-stdin", 22) == 0);
	assert_non_null(strchr(out.buf, '\n'));
	assert_int_equal(strchr(out.buf, '\n')[1], '\0');
	fl_buf_release(&out);
}

static void test_signals(void **state)
{
	(void)state;
	assert_int_equal(fl_signal_parse("KILL"), SIGKILL);
	assert_int_equal(fl_signal_parse("SIGSTOP"), SIGSTOP);
	assert_int_equal(fl_signal_parse("15"), 15);
	assert_int_equal(fl_signal_parse("NOPE"), -1);
	assert_int_equal(fl_signal_parse("0"), -1);
	assert_string_equal(fl_signal_name(SIGCONT), "CONT");
}

static void test_pidfile(void **state)
{
	char path[] = "/tmp/faultline-test-pid-XXXXXX";
	int fd = mkstemp(path);
	struct fl_error e;
	pid_t pid = 0;
	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "1234\n", 5), 5);
	close(fd);
	fl_error_init(&e);
	assert_int_equal(fl_read_pidfile(path, &pid, &e), 0);
	assert_int_equal(pid, 1234);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "garbage", 7), 7);
	close(fd);
	assert_int_equal(fl_read_pidfile(path, &pid, &e), -1);
	assert_non_null(strstr(e.msg, "no pid"));
	unlink(path);
}

static void test_rfc3339(void **state)
{
	char buf[40];
	(void)state;
	/* 2026-11-24T06:45:59.123Z */
	assert_string_equal(fl_rfc3339(INT64_C(1795502759123000000), buf, sizeof(buf)),
			    "2026-11-24T06:45:59.123Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_grows_and_limits),
		cmocka_unit_test(test_buf_detach),
		cmocka_unit_test(test_error_first_wins_and_one_line),
		cmocka_unit_test(test_alloc_failure_injection),
		cmocka_unit_test(test_run_argv_captures_and_passes_literally),
		cmocka_unit_test(test_run_argv_exit_codes_and_missing),
		cmocka_unit_test(test_run_argv_timeout_kills),
		cmocka_unit_test(test_run_argv_env_and_cwd),
		cmocka_unit_test(test_run_argv_stdin_data_is_anonymous),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_pidfile),
		cmocka_unit_test(test_rfc3339),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
