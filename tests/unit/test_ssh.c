/*
 * Unit tests for core/ssh.c: quoting nasty strings for a POSIX shell and
 * proving each comes back byte for byte through real shells (`sh -c`,
 * `bash -c` locally; a real sshd when tests/integration/test_ssh_quote.sh
 * runs this binary with FAULTLINE_SSH_TEST_CONFIG and _DEST set), with
 * nothing run that the words spell (a canary file must never appear); the
 * ssh argv (BatchMode, ControlMaster, no option read from a destination);
 * the private control directory; the journal JSON round trip.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/doc.h"
#include "core/environment.h"
#include "core/error.h"
#include "core/spawn.h"
#include "core/ssh.h"

static char canary[256];

/* Each would run something (or split, or glob) if spliced unquoted. */
static const char *nasty[] = {
	"",
	" ",
	"plain",
	"two words",
	"'",
	"''",
	"it's",
	"'\\''",
	"\"",
	"\\",
	"\\'",
	"$HOME",
	"${HOME}",
	"$(touch CANARY)",
	"`touch CANARY`",
	"; touch CANARY",
	"&& touch CANARY",
	"| touch CANARY",
	"> CANARY",
	"< /etc/passwd",
	"*",
	"/*",
	"?",
	"[a-z]*",
	"~",
	"~root",
	"#comment",
	"a\nb",
	"\ntouch CANARY\n",
	"\t",
	"!",
	"!!",
	"{a,b}",
	"-n",
	"-e",
	"--",
	"%s%s%n",
	"\x01\x02\x7f\xff\xfe",
	"é ü 日本",
	"$'\\n'",
	"'$(touch CANARY)'",
	"\"$(touch CANARY)\"",
	"x' ; touch CANARY ; echo 'y",
	NULL,
};

/* nasty[] with CANARY replaced by the canary path, NULL-terminated. */
static char **words(void)
{
	size_t n = 0;
	char **v;
	while (nasty[n])
		n++;
	v = calloc(n + 1, sizeof(*v));
	assert_non_null(v);
	for (size_t i = 0; i < n; i++) {
		const char *p = strstr(nasty[i], "CANARY");
		struct fl_buf b;
		fl_buf_init(&b, 0);
		if (p) {
			fl_buf_add(&b, nasty[i], (size_t)(p - nasty[i]));
			fl_buf_adds(&b, canary);
			fl_buf_adds(&b, p + 6);
		} else {
			fl_buf_adds(&b, nasty[i]);
		}
		assert_false(b.failed);
		v[i] = strdup(b.buf);
		fl_buf_release(&b);
	}
	return v;
}

static void words_free(char **v)
{
	for (size_t i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

static int setup(void **state)
{
	(void)state;
	snprintf(canary, sizeof(canary), "%s/faultline-ssh-canary-%ld",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
	unlink(canary);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(canary);
	return 0;
}

/* printf '%s\0' WORD... : each word comes back NUL-terminated, exactly. */
static void expect_round_trip(const struct fl_buf *out, char **w)
{
	size_t off = 0;
	for (size_t i = 0; w[i]; i++) {
		size_t n = strlen(w[i]);
		assert_true(off + n + 1 <= out->len);
		if (memcmp(out->buf + off, w[i], n) != 0 || out->buf[off + n] != '\0')
			fail_msg("word %zu (%s) did not come back intact", i, w[i]);
		off += n + 1;
	}
	assert_int_equal(off, out->len);
}

static const char **printf_argv(char **w)
{
	size_t n = 0;
	const char **argv;
	while (w[n])
		n++;
	argv = calloc(n + 3, sizeof(*argv));
	assert_non_null(argv);
	argv[0] = "printf";
	argv[1] = "%s\\0";
	for (size_t i = 0; i < n; i++)
		argv[i + 2] = w[i];
	return argv;
}

static void test_quote_simple(void **state)
{
	struct fl_buf b;
	(void)state;
	fl_buf_init(&b, 0);
	assert_int_equal(fl_ssh_quote(&b, "a b"), 0);
	assert_string_equal(b.buf, "'a b'");
	fl_buf_reset(&b);
	assert_int_equal(fl_ssh_quote(&b, "it's"), 0);
	assert_string_equal(b.buf, "'it'\\''s'");
	fl_buf_reset(&b);
	assert_int_equal(fl_ssh_quote(&b, ""), 0);
	assert_string_equal(b.buf, "''");
	fl_buf_release(&b);
	/* A full buffer is reported, never a half-quoted word handed on. */
	fl_buf_init(&b, 4);
	assert_int_equal(fl_ssh_quote(&b, "abcdef"), -1);
	fl_buf_release(&b);
}

static void round_trip_shell(const char *shell)
{
	char **w = words();
	const char **pa = printf_argv(w);
	struct fl_error err;
	struct fl_buf out;
	char *cmd;
	int status = 0;

	fl_error_init(&err);
	cmd = fl_ssh_command(pa, &err);
	assert_non_null(cmd);
	{
		const char *argv[] = { shell, "-c", cmd, NULL };
		fl_buf_init(&out, 0);
		assert_int_equal(fl_run_argv(argv, 10 * FL_NS_PER_S, &out, &status, NULL, &err), 0);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		expect_round_trip(&out, w);
		fl_buf_release(&out);
	}
	assert_int_equal(access(canary, F_OK), -1);
	fl_free(cmd);
	free(pa);
	words_free(w);
}

static void test_round_trip_sh(void **state)
{
	(void)state;
	round_trip_shell("sh");
}

static void test_round_trip_bash(void **state)
{
	(void)state;
	if (access("/bin/bash", X_OK) != 0)
		skip();
	round_trip_shell("/bin/bash");
}

static void test_command_empty(void **state)
{
	const char *none[] = { NULL };
	struct fl_error err;
	(void)state;
	fl_error_init(&err);
	assert_null(fl_ssh_command(none, &err));
	assert_int_equal(err.code, FL_EXIT_INPUT);
}

static void test_argv(void **state)
{
	char dir[128];
	struct fl_ssh h = { .destination = "admin@db-1",
			    .port = 2222,
			    .identity = "/k",
			    .jump = "bastion",
			    .config = "/c" };
	const char *remote[] = { "cat", "/etc/x y", NULL };
	struct fl_error err;
	char **argv;
	size_t n;
	int saw_batch = 0, saw_master = 0, saw_path = 0;
	(void)state;

	snprintf(dir, sizeof(dir), "/tmp/fl-ssh-unit-%ld", (long)getpid());
	setenv("FAULTLINE_SSH_CONTROL_DIR", dir, 1);
	fl_error_init(&err);
	argv = fl_ssh_argv(&h, remote, &err);
	assert_non_null(argv);
	n = fl_strv_len(argv);
	assert_string_equal(argv[0], "ssh");
	/* destination right after "--", the quoted command last and alone */
	assert_string_equal(argv[n - 3], "--");
	assert_string_equal(argv[n - 2], "admin@db-1");
	assert_string_equal(argv[n - 1], "'cat' '/etc/x y'");
	for (size_t i = 0; i < n; i++) {
		saw_batch |= strcmp(argv[i], "BatchMode=yes") == 0;
		saw_master |= strcmp(argv[i], "ControlMaster=auto") == 0;
		saw_path |= strncmp(argv[i], "ControlPath=", 12) == 0 && strstr(argv[i], dir) != NULL;
		/* StrictHostKeyChecking stays what the user's config says. */
		assert_null(strstr(argv[i], "StrictHostKeyChecking"));
	}
	assert_true(saw_batch && saw_master && saw_path);
	fl_strv_free(argv);
	{
		struct stat st;
		assert_int_equal(stat(dir, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0700);
	}
	/* A group-readable control directory is refused. */
	assert_int_equal(chmod(dir, 0750), 0);
	fl_error_init(&err);
	assert_null(fl_ssh_argv(&h, remote, &err));
	assert_non_null(strstr(err.msg, "mode 0700"));
	rmdir(dir);
	unsetenv("FAULTLINE_SSH_CONTROL_DIR");
}

static void test_destination_option(void **state)
{
	struct fl_ssh h = { .destination = "-oProxyCommand=touch /tmp/x" };
	struct fl_ssh j = { .destination = "host", .jump = "-oProxyCommand=x" };
	struct fl_error err;
	(void)state;
	fl_error_init(&err);
	assert_int_equal(fl_ssh_check(&h, &err), -1);
	assert_int_equal(err.code, FL_EXIT_INPUT);
	fl_error_init(&err);
	assert_int_equal(fl_ssh_check(&j, &err), -1);
}

static void test_json(void **state)
{
	struct fl_ssh h = { .destination = "u@h", .port = 2200, .config = "/etc/c" }, back;
	struct fl_error err;
	json_t *j;
	char name[64];
	(void)state;
	fl_error_init(&err);
	j = fl_ssh_to_json(&h);
	assert_non_null(j);
	assert_int_equal(fl_ssh_from_json(j, &back, &err), 0);
	assert_string_equal(back.destination, "u@h");
	assert_int_equal(back.port, 2200);
	assert_string_equal(back.config, "/etc/c");
	assert_null(back.identity);
	assert_string_equal(fl_ssh_name(&back, name, sizeof(name)), "u@h:2200");
	fl_ssh_release(&back);
	json_decref(j);
	j = json_pack("{s:s}", "destination", "-x");
	assert_int_equal(fl_ssh_from_json(j, &back, &err), -1);
	json_decref(j);
}

/* The environment's "ssh" key: string and object forms; identity and
 * config resolved against the file's directory, remote paths kept as
 * written; a remote target with a relative path refused. */
static void test_environment_ssh(void **state)
{
	char dir[] = "/tmp/fl-ssh-env-XXXXXX", path[512];
	const struct fl_target *t;
	struct fl_environment *env;
	struct fl_error err;
	FILE *f;
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/env.json", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{ \"name\": \"e\", \"production\": false, \"targets\": {\n"
	      "  \"a\": { \"kind\": \"process\", \"pidfile\": \"/run/a.pid\", \"start\": [\"bin/a\"], \"ssh\": \"ops@a\" },\n"
	      "  \"b\": { \"kind\": \"file\", \"path\": \"/srv/b\", \"ssh\": { \"destination\": \"b\", \"port\": 2222,\n"
	      "         \"identity\": \"k/id\", \"jump\": \"bastion\", \"config\": \"cfg\" } },\n"
	      "  \"c\": { \"kind\": \"file\", \"path\": \"local.db\" } } }\n",
	      f);
	fclose(f);
	fl_error_init(&err);
	env = fl_environment_load(path, &err);
	if (!env)
		fail_msg("%s", err.msg);
	t = fl_environment_target(env, "a");
	assert_non_null(t->ssh);
	assert_string_equal(t->ssh->destination, "ops@a");
	assert_string_equal(t->pidfile, "/run/a.pid");
	assert_string_equal(t->start[0], "bin/a"); /* the host's, not resolved here */
	t = fl_environment_target(env, "b");
	assert_int_equal(t->ssh->port, 2222);
	assert_string_equal(t->ssh->jump, "bastion");
	assert_non_null(strstr(t->ssh->identity, dir));
	assert_non_null(strstr(t->ssh->config, dir));
	t = fl_environment_target(env, "c");
	assert_null(t->ssh);
	fl_environment_free(env);

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{ \"name\": \"e\", \"production\": false, \"targets\": {\n"
	      "  \"n\": { \"kind\": \"netns\", \"netns\": \"x\", \"ssh\": \"h\" } } }\n",
	      f);
	fclose(f);
	fl_error_init(&err);
	assert_null(fl_environment_load(path, &err));
	assert_int_equal(err.code, FL_EXIT_INPUT);
	assert_non_null(strstr(err.msg, "only process, file and host targets can be remote"));
	unlink(path);
	rmdir(dir);
}

/* Through a real sshd: only when test_ssh_quote.sh provides one. */
static void test_round_trip_remote(void **state)
{
	const char *config = getenv("FAULTLINE_SSH_TEST_CONFIG");
	const char *dest = getenv("FAULTLINE_SSH_TEST_DEST");
	struct fl_ssh h = { 0 };
	struct fl_error err;
	struct fl_buf out;
	char **w;
	const char **pa;
	int status = -2;
	(void)state;

	if (!config || !dest)
		skip();
	h.destination = FL_UNCONST(char *, dest);
	h.config = FL_UNCONST(char *, config);
	w = words();
	pa = printf_argv(w);
	fl_error_init(&err);
	fl_buf_init(&out, 0);
	if (fl_ssh_run_argv(&h, pa, 30 * FL_NS_PER_S, &out, &status, NULL, &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	expect_round_trip(&out, w);
	assert_int_equal(access(canary, F_OK), -1);
	fl_buf_release(&out);

	/* Data on stdin travels byte for byte too (the file injector's writes). */
	{
		char path[256];
		const char *cat[] = { "cat", NULL };
		FILE *f;
		snprintf(path, sizeof(path), "/tmp/fl-ssh-stdin-%ld", (long)getpid());
		f = fopen(path, "w");
		assert_non_null(f);
		for (int i = 0; i < 256; i++)
			fputc(i, f);
		fclose(f);
		struct fl_ssh_opts o = { .stdin_path = path };
		fl_buf_init(&out, 0);
		assert_int_equal(fl_ssh_run_argv(&h, cat, 30 * FL_NS_PER_S, &out, &status, &o, &err),
				 0);
		assert_int_equal(out.len, 256);
		for (int i = 0; i < 256; i++)
			assert_int_equal((unsigned char)out.buf[i], i);
		fl_buf_release(&out);
		unlink(path);
		/* The same bytes from memory (an anonymous memfd, core/spawn.h). */
		char bytes[256];
		for (int i = 0; i < 256; i++)
			bytes[i] = (char)i;
		struct fl_ssh_opts m = { .stdin_data = bytes, .stdin_len = sizeof(bytes) };
		fl_buf_init(&out, 0);
		assert_int_equal(fl_ssh_run_argv(&h, cat, 30 * FL_NS_PER_S, &out, &status, &m, &err),
				 0);
		assert_int_equal(out.len, 256);
		assert_memory_equal(out.buf, bytes, 256);
		fl_buf_release(&out);
	}
	/* The remote command's exit status is the status. */
	{
		const char *f[] = { "sh", "-c", "exit 7", NULL };
		assert_int_equal(fl_ssh_run_argv(&h, f, 30 * FL_NS_PER_S, NULL, &status, NULL, &err),
				 0);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 7);
	}
	free(pa);
	words_free(w);
}

/* A host nobody answers for: bounded attempts, then an error naming it. */
static void test_unreachable(void **state)
{
	const char *config = getenv("FAULTLINE_SSH_TEST_CONFIG");
	const char *dead = getenv("FAULTLINE_SSH_TEST_DEAD");
	struct fl_ssh h = { 0 };
	struct fl_ssh_opts o = { .attempts = 2 };
	const char *t[] = { "true", NULL };
	struct fl_error err;
	int status = 0;
	int64_t t0;
	(void)state;

	if (!config || !dead)
		skip();
	h.destination = FL_UNCONST(char *, dead);
	h.config = FL_UNCONST(char *, config);
	fl_error_init(&err);
	t0 = fl_now_ns();
	assert_int_equal(fl_ssh_run_argv(&h, t, 30 * FL_NS_PER_S, NULL, &status, &o, &err), -1);
	assert_int_equal(err.code, FL_EXIT_ENV);
	assert_non_null(strstr(err.msg, dead));
	assert_non_null(strstr(err.msg, "unreachable after 2 attempts"));
	/* one back-off of 1 s between the two attempts */
	assert_true(fl_now_ns() - t0 >= FL_NS_PER_S);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote_simple),
		cmocka_unit_test(test_command_empty),
		cmocka_unit_test_setup_teardown(test_round_trip_sh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_bash, setup, teardown),
		cmocka_unit_test(test_argv),
		cmocka_unit_test(test_destination_option),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_environment_ssh),
	};
	/* Against a live sshd: tests/integration/test_ssh_quote.sh sets up the
	 * hosts and runs this program with FAULTLINE_SSH_TEST_CONFIG (and fails
	 * on any skip); plain ctest runs the local cases only, so nothing shows
	 * as skipped there that was never meant to run. */
	const struct CMUnitTest live[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_remote, setup, teardown),
		cmocka_unit_test(test_unreachable),
	};
	int local = cmocka_run_group_tests(tests, NULL, NULL), remote = 0;
	if (getenv("FAULTLINE_SSH_TEST_CONFIG"))
		remote = cmocka_run_group_tests(live, NULL, NULL);
	/* Failed (1) wins over skipped (77, tests/unit/cmocka_skip.c). */
	return local == 1 || remote == 1 ? 1 : local ? local : remote;
}
