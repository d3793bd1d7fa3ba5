/*
 * Unit tests for injectors/exec.c: commands run from argv vectors with the
 * target described in the environment, never through a shell string (a
 * hostile target name arrives verbatim and runs nothing); revert works from
 * the serialized record alone; failures carry the exit and the first line
 * of output; ${VAR} is expanded like everywhere else in a scenario.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "injectors/injector.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"

#define NASTY "a'b; touch /tmp/pwned-$RANDOM $(id)"

struct fx {
	char dir[256];
	char out[300];
	char out2[300];
	struct fl_doc *doc;
	struct fl_fault_spec fault;
	struct fl_target target;
	const struct fl_injector_ops *ops;
};

static int setup(void **state)
{
	struct fx *fx = fl_calloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");
	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "%s/fl-exec-XXXXXX", tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->out, sizeof(fx->out), "%s/out", fx->dir);
	snprintf(fx->out2, sizeof(fx->out2), "%s/out2", fx->dir);
	fx->ops = fl_injector_find("exec");
	assert_non_null(fx->ops);
	fx->target.name = NASTY;
	fx->target.kind = FL_TARGET_HOST;
	fx->target.host = "127.0.0.1";
	fx->target.port = 5432;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	fl_doc_free(fx->doc);
	unlink(fx->out);
	unlink(fx->out2);
	rmdir(fx->dir);
	fl_free(fx);
	return 0;
}

/* Builds the fault object with jansson (no quoting by hand) and validates it. */
static int fault_load(struct fx *fx, json_t *obj, struct fl_error *err)
{
	static const char *const common[] = { "name", "injector", "target", "after", "duration" };
	char *text = json_dumps(obj, 0);
	json_decref(obj);
	assert_non_null(text);
	fl_doc_free(fx->doc);
	fx->doc = fl_doc_load_string("scenario.json", text, err);
	fl_free(text);
	assert_non_null(fx->doc);
	fx->fault.name = "break-db";
	fx->fault.injector = "exec";
	fx->fault.params = fl_doc_root(fx->doc);
	for (size_t i = 0; i < FL_ARRAY_LEN(common); i++)
		fl_doc_mark(fx->doc, fx->fault.params, common[i]);
	return fx->ops->validate(fx->doc, &fx->fault, &fx->target, err);
}

static char *slurp(const char *path)
{
	struct fl_buf b;
	struct fl_error e;
	fl_buf_init(&b, 0);
	fl_error_init(&e);
	if (fl_read_file(path, 1 << 16, &b, &e) < 0) {
		fl_buf_release(&b);
		return NULL;
	}
	return fl_buf_detach(&b);
}

static size_t count_pwned(void)
{
	glob_t g;
	size_t n = 0;
	if (glob("/tmp/pwned-*", 0, NULL, &g) == 0)
		n = g.gl_pathc;
	globfree(&g);
	return n;
}

static json_t *reload(json_t *rec)
{
	char *text = json_dumps(rec, JSON_COMPACT);
	json_t *back;
	json_decref(rec);
	back = json_loads(text, 0, NULL);
	fl_free(text);
	assert_non_null(back);
	return back;
}

static void test_shell_safety_and_env(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;
	size_t before = count_pwned();
	char *got, *want;
	json_t *rec;

	fl_error_init(&e);
	/* The target name through the environment, a hostile argument through
	 * argv: both must arrive byte for byte, and nothing may run. */
	assert_int_equal(fault_load(fx,
				    json_pack("{s:s, s:[s,s,s,s,s], s:[s,s,s], s:{s:s, s:s}}",
					      "name", "break-db", "inject", "sh", "-c",
					      "printf '%s|%s|%s|%s' \"$FAULTLINE_TARGET\" \"$1\" \"$FAULTLINE_TARGET_HOST\" \"$FAULTLINE_TARGET_PORT\" > \"$OUT\"",
					      "sh", NASTY, "revert", "sh", "-c",
					      "printf reverted > \"$OUT2\"", "env", "OUT", fx->out,
					      "OUT2", fx->out2),
				    &e),
			 0);
	rec = fx->ops->prepare(&fx->fault, &fx->target, &e);
	assert_non_null(rec);
	if (fx->ops->inject(&fx->fault, &fx->target, rec, &e) < 0)
		fail_msg("inject: %s", e.msg);
	got = slurp(fx->out);
	assert_non_null(got);
	want = NASTY "|" NASTY "|127.0.0.1|5432";
	assert_string_equal(got, want);
	fl_free(got);
	assert_int_equal(count_pwned(), before);

	/* Revert after a "crash": only the serialized record is left. */
	rec = reload(rec);
	if (fl_injector_revert("exec", rec, &e) < 0)
		fail_msg("revert: %s", e.msg);
	got = slurp(fx->out2);
	assert_non_null(got);
	assert_string_equal(got, "reverted");
	fl_free(got);
	json_decref(rec);
}

static void test_inject_failure_reports_exit_and_first_line(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;
	json_t *rec;

	fl_error_init(&e);
	assert_int_equal(fault_load(fx,
				    json_pack("{s:[s,s,s], s:[s]}", "inject", "sh", "-c",
					      "echo 'iptables: permission denied'; echo second; exit 3",
					      "revert", "true"),
				    &e),
			 0);
	rec = fx->ops->prepare(&fx->fault, &fx->target, &e);
	assert_non_null(rec);
	assert_int_equal(fx->ops->inject(&fx->fault, &fx->target, rec, &e), -1);
	assert_string_equal(e.msg,
			    "break-db: inject command 'sh' exited 3: iptables: permission denied");
	assert_int_equal(e.code, FL_EXIT_ENV);
	json_decref(rec);
}

static void test_timeout(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;
	json_t *rec;

	fl_error_init(&e);
	assert_int_equal(fault_load(fx,
				    json_pack("{s:[s,s], s:[s,s], s:s}", "inject", "true", "x",
					      "revert", "sleep", "10", "timeout", "200ms"),
				    &e),
			 0);
	rec = fx->ops->prepare(&fx->fault, &fx->target, &e);
	assert_non_null(rec);
	assert_int_equal(fl_injector_revert("exec", rec, &e), -1);
	assert_string_equal(e.msg, "break-db: revert command 'sleep' timed out");
	json_decref(rec);
}

static void test_env_var_expansion(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;
	char *got;
	json_t *rec;

	setenv("FL_TEST_EXEC_WORD", "hello world", 1);
	fl_error_init(&e);
	assert_int_equal(fault_load(fx,
				    json_pack("{s:[s,s,s,s,s], s:[s], s:{s:s}}", "inject", "sh",
					      "-c", "printf '%s' \"$1\" > \"$OUT\"", "sh",
					      "${FL_TEST_EXEC_WORD}, $$x", "revert", "true", "env",
					      "OUT", fx->out),
				    &e),
			 0);
	rec = fx->ops->prepare(&fx->fault, &fx->target, &e);
	assert_non_null(rec);
	assert_int_equal(fx->ops->inject(&fx->fault, &fx->target, rec, &e), 0);
	got = slurp(fx->out);
	assert_string_equal(got, "hello world, $x");
	fl_free(got);
	json_decref(rec);
}

static void test_validate_errors(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;

	fl_error_init(&e);
	assert_int_equal(fault_load(fx, json_pack("{s:[s]}", "inject", "true"), &e), -1);
	assert_non_null(strstr(e.msg, "missing key 'revert'"));
	fl_error_init(&e);
	assert_int_equal(fault_load(fx,
				    json_pack("{s:[s], s:[s], s:i}", "inject", "true", "revert",
					      "true", "retries", 3),
				    &e),
			 -1);
	assert_non_null(strstr(e.msg, "unknown key 'retries'"));
	fl_error_init(&e);
	assert_int_equal(fault_load(fx, json_pack("{s:[], s:[s]}", "inject", "revert", "true"), &e),
			 -1);
	assert_non_null(strstr(e.msg, "'inject': empty command"));
	fl_error_init(&e);
	assert_int_equal(fault_load(fx,
				    json_pack("{s:[s], s:[s], s:{s:i}}", "inject", "true", "revert",
					      "true", "env", "N", 1),
				    &e),
			 -1);
	assert_non_null(strstr(e.msg, "expected a string"));
	fl_error_init(&e);
	assert_int_equal(fault_load(fx,
				    json_pack("{s:s, s:[s]}", "inject", "rm -rf /x", "revert", "true"),
				    &e),
			 -1);
	assert_non_null(strstr(e.msg, "expected an array of strings"));
	/* No target at all is fine for exec. */
	fl_error_init(&e);
	assert_int_equal(fault_load(fx,
				    json_pack("{s:[s], s:[s]}", "inject", "true", "revert", "true"),
				    &e),
			 0);
	assert_int_equal(fx->ops->validate(fx->doc, &fx->fault, NULL, &e), 0);
}

static void test_registry(void **state)
{
	const struct fl_injector_ops *const *all = fl_injector_all();
	struct fl_error e;
	size_t n = 0;
	(void)state;
	for (; all[n]; n++)
		assert_ptr_equal(fl_injector_find(all[n]->name), all[n]);
	assert_true(n >= 3);
	assert_null(fl_injector_find("teleport"));
	fl_error_init(&e);
	assert_int_equal(fl_injector_revert("teleport", NULL, &e), -1);
	assert_string_equal(e.msg, "cannot revert: unknown injector 'teleport'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_shell_safety_and_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inject_failure_reports_exit_and_first_line,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_env_var_expansion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_errors, setup, teardown),
		cmocka_unit_test(test_registry),
	};
	fl_alloc_install_jansson();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
