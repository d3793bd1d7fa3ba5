/*
 * test_doc: the strict JSON loader — positions of keys and values (with
 * multi-byte UTF-8 on the line), syntax errors, typed getter errors,
 * unknown-key suggestions, ${VAR} expansion, and surviving every possible
 * allocation failure while loading.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/doc.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/clock.h"

static const char positions_text[] = "{\n"
				     "  \"name\": \"日本語\", \"x\": 1,\n"
				     "  \"probes\": [\n"
				     "    {\"é\": 1, \"url\": \"x\"},\n"
				     "    true,\n"
				     "    [null, \"ü\"]\n"
				     "  ],\n"
				     "  \"nested\": {\"a\": {\"b\": false}}\n"
				     "}\n";

static int setup(void **state)
{
	(void)state;
	fl_alloc_install_jansson();
	return 0;
}

static void assert_pos(int line, int col, int want_line, int want_col)
{
	if (line != want_line || col != want_col)
		fail_msg("position %d:%d, wanted %d:%d", line, col, want_line, want_col);
}

static void test_positions(void **state)
{
	struct fl_error err;
	struct fl_doc *doc;
	json_t *root, *probes, *e0, *e2, *nested, *a;
	int line, col;
	(void)state;
	fl_error_init(&err);
	doc = fl_doc_load_string("p.json", positions_text, &err);
	assert_non_null(doc);
	root = fl_doc_root(doc);
	fl_doc_pos_value(doc, root, &line, &col);
	assert_pos(line, col, 1, 1);
	fl_doc_pos_key(doc, root, "name", &line, &col);
	assert_pos(line, col, 2, 3);
	fl_doc_pos_value(doc, json_object_get(root, "name"), &line, &col);
	assert_pos(line, col, 2, 11);
	/* after three 3-byte characters: columns count code points like jansson */
	fl_doc_pos_key(doc, root, "x", &line, &col);
	assert_pos(line, col, 2, 18);
	fl_doc_pos_value(doc, json_object_get(root, "x"), &line, &col);
	assert_pos(line, col, 2, 23);
	probes = json_object_get(root, "probes");
	fl_doc_pos_value(doc, probes, &line, &col);
	assert_pos(line, col, 3, 13);
	e0 = json_array_get(probes, 0);
	fl_doc_pos_index(doc, probes, 0, &line, &col);
	assert_pos(line, col, 4, 5);
	fl_doc_pos_value(doc, e0, &line, &col);
	assert_pos(line, col, 4, 5);
	fl_doc_pos_key(doc, e0, "é", &line, &col);
	assert_pos(line, col, 4, 6);
	fl_doc_pos_key(doc, e0, "url", &line, &col);
	assert_pos(line, col, 4, 14);
	fl_doc_pos_value(doc, json_object_get(e0, "url"), &line, &col);
	assert_pos(line, col, 4, 21);
	/* true is a shared singleton: placed by index, never by pointer */
	fl_doc_pos_index(doc, probes, 1, &line, &col);
	assert_pos(line, col, 5, 5);
	fl_doc_pos_value(doc, json_array_get(probes, 1), &line, &col);
	assert_pos(line, col, 0, 0);
	e2 = json_array_get(probes, 2);
	fl_doc_pos_index(doc, e2, 0, &line, &col);
	assert_pos(line, col, 6, 6);
	fl_doc_pos_index(doc, e2, 1, &line, &col);
	assert_pos(line, col, 6, 12);
	nested = json_object_get(root, "nested");
	a = json_object_get(nested, "a");
	fl_doc_pos_value(doc, a, &line, &col);
	assert_pos(line, col, 8, 19);
	fl_doc_pos_key(doc, a, "b", &line, &col);
	assert_pos(line, col, 8, 20);
	/* unknown places */
	fl_doc_pos_key(doc, a, "nope", &line, &col);
	assert_pos(line, col, 0, 0);
	fl_doc_pos_index(doc, e2, 7, &line, &col);
	assert_pos(line, col, 0, 0);
	/* an error at a singleton member still gets a place */
	fl_doc_error_member(doc, a, "b", &err, "bad b");
	assert_string_equal(err.msg, "p.json:8:25: bad b");
	assert_int_equal(err.code, FL_EXIT_INPUT);
	fl_doc_free(doc);
}

static void expect_load_error(const char *text, const char *want)
{
	struct fl_error err;
	struct fl_doc *doc;
	fl_error_init(&err);
	doc = fl_doc_load_string("s.json", text, &err);
	assert_null(doc);
	assert_string_equal(err.msg, want);
	assert_int_equal(err.code, FL_EXIT_INPUT);
}

static void test_syntax_errors(void **state)
{
	(void)state;
	expect_load_error("", "s.json:1:1: empty file: expected a JSON object");
	expect_load_error("  \n ", "s.json:1:1: empty file: expected a JSON object");
	expect_load_error("{\"a\": 1,}", "s.json:1:9: string or '}' expected near '}'");
	expect_load_error("{\"a\": 1, \"a\": 2}", "s.json:1:12: duplicate object key near '\"a\"'");
	expect_load_error("{} x", "s.json:1:4: end of file expected near 'x'");
	expect_load_error("\n  [1, 2]", "s.json:2:3: expected a JSON object at the top level");
	expect_load_error("{\n  \"a\": tru\n}", "s.json:2:10: invalid token near 'tru'");
}

static void test_getters(void **state)
{
	struct fl_error err;
	struct fl_doc *doc;
	json_t *root;
	char *s = NULL, **v = NULL;
	long n = 0;
	int b = 0;
	int64_t ns = 0;
	(void)state;
	fl_error_init(&err);
	doc = fl_doc_load_string("g.json",
				 "{\"name\": \"n\", \"port\": 70000, \"interval\": \"10\", \"on\": true,\n"
				 " \"argv\": [\"a\", 2], \"obj\": [], \"count\": \"3\", \"d\": \"1.5s\"}",
				 &err);
	assert_non_null(doc);
	root = fl_doc_root(doc);
	assert_int_equal(fl_doc_string(doc, root, "name", 1, &s, &err), 1);
	assert_string_equal(s, "n");
	assert_int_equal(fl_doc_string(doc, root, "absent", 0, &s, &err), 0);
	assert_string_equal(s, "n"); /* untouched when absent */
	assert_int_equal(fl_doc_bool(doc, root, "on", 1, &b, &err), 1);
	assert_int_equal(b, 1);
	assert_int_equal(fl_doc_duration(doc, root, "d", 1, &ns, &err), 1);
	assert_int_equal(ns, 1500 * FL_NS_PER_MS);
	assert_false(fl_error_is_set(&err));

	assert_int_equal(fl_doc_int(doc, root, "port", 1, 1, 65535, &n, &err), -1);
	assert_string_equal(err.msg, "g.json:1:23: 'port': expected an integer from 1 to 65535");
	fl_error_init(&err);
	assert_int_equal(fl_doc_int(doc, root, "count", 1, 0, LONG_MAX, &n, &err), -1);
	assert_string_equal(err.msg, "g.json:2:40: 'count': expected an integer >= 0");
	fl_error_init(&err);
	assert_int_equal(fl_doc_duration(doc, root, "interval", 1, &ns, &err), -1);
	assert_string_equal(err.msg,
			    "g.json:1:42: 'interval': expected a duration like \"250ms\", \"30s\" or \"5m\"");
	fl_error_init(&err);
	assert_int_equal(fl_doc_strv(doc, root, "argv", 1, &v, &err), -1);
	assert_null(v);
	assert_string_equal(err.msg, "g.json:2:16: 'argv': expected an array of strings");
	fl_error_init(&err);
	assert_null(fl_doc_object(doc, root, "obj", 1, &err));
	assert_string_equal(err.msg, "g.json:2:27: 'obj': expected an object");
	fl_error_init(&err);
	assert_int_equal(fl_doc_string(doc, root, "on", 1, &s, &err), -1);
	assert_string_equal(err.msg, "g.json:1:54: 'on': expected a string");
	fl_error_init(&err);
	assert_int_equal(fl_doc_string(doc, root, "title", 1, &s, &err), -1);
	assert_string_equal(err.msg, "g.json:1:1: missing key 'title'");
	fl_free(s);
	fl_doc_free(doc);
}

static void check_unknown(const char *text, const char *const *known, const char *want)
{
	struct fl_error err;
	struct fl_doc *doc;
	fl_error_init(&err);
	doc = fl_doc_load_string("k.json", text, &err);
	assert_non_null(doc);
	for (size_t i = 0; known[i]; i++)
		fl_doc_mark(doc, fl_doc_root(doc), known[i]);
	if (want) {
		assert_int_equal(fl_doc_check_keys(doc, fl_doc_root(doc), &err), -1);
		assert_string_equal(err.msg, want);
	} else {
		assert_int_equal(fl_doc_check_keys(doc, fl_doc_root(doc), &err), 0);
	}
	fl_doc_free(doc);
}

static void test_unknown_keys(void **state)
{
	static const char *const known[] = { "name", "interval", "timeout", "url", NULL };
	(void)state;
	check_unknown("{\"name\": 1,\n  \"intervall\": \"1s\"}", known,
		      "k.json:2:3: unknown key 'intervall' (did you mean 'interval'?)");
	check_unknown("{\"timeuot\": 1}", known,
		      "k.json:1:2: unknown key 'timeuot' (did you mean 'timeout'?)");
	check_unknown("{\"nmae\": 1}", known,
		      "k.json:1:2: unknown key 'nmae' (did you mean 'name'?)");
	/* too far from anything known: no guess */
	check_unknown("{\"name\": 1, \"colour\": 2}", known, "k.json:1:13: unknown key 'colour'");
	/* first unknown in document order wins, nested values are not this object's keys */
	check_unknown("{\"zzz\": {\"q\": 1}, \"aaa\": 2, \"url\": \"\"}", known,
		      "k.json:1:2: unknown key 'zzz'");
	check_unknown("{\"url\": 1, \"name\": {\"anything\": 1}}", known, NULL);
	/* one edit is a typo for "ur" but not for a one-letter key */
	check_unknown("{\"ur\": 1}", (const char *const[]){ "u", NULL },
		      "k.json:1:2: unknown key 'ur' (did you mean 'u'?)");
	check_unknown("{\"x\": 1}", (const char *const[]){ "y", NULL },
		      "k.json:1:2: unknown key 'x'");
}

static void test_env_expansion(void **state)
{
	struct fl_error err;
	struct fl_doc *doc;
	json_t *root;
	char *s = NULL, **v = NULL;
	(void)state;
	setenv("FL_TEST_HOST", "db.internal", 1);
	setenv("FL_TEST_EMPTY", "", 1);
	unsetenv("FL_TEST_UNSET");
	fl_error_init(&err);
	doc = fl_doc_load_string("e.json",
				 "{\"a\": \"pg://${FL_TEST_HOST}:5432/${FL_TEST_EMPTY}x\",\n"
				 " \"b\": \"cost: $$5, $HOME stays\",\n"
				 " \"c\": [\"${FL_TEST_HOST}\", \"$${FL_TEST_HOST}\"],\n"
				 " \"d\": \"x ${FL_TEST_UNSET}\",\n"
				 " \"e\": \"${1BAD}\", \"f\": \"${FL_TEST_HOST\"}",
				 &err);
	assert_non_null(doc);
	root = fl_doc_root(doc);
	assert_int_equal(fl_doc_string(doc, root, "a", 1, &s, &err), 1);
	assert_string_equal(s, "pg://db.internal:5432/x");
	assert_int_equal(fl_doc_string(doc, root, "b", 1, &s, &err), 1);
	assert_string_equal(s, "cost: $5, $HOME stays");
	assert_int_equal(fl_doc_strv(doc, root, "c", 1, &v, &err), 1);
	assert_string_equal(v[0], "db.internal");
	assert_string_equal(v[1], "${FL_TEST_HOST}");
	assert_null(v[2]);
	assert_int_equal(fl_doc_string(doc, root, "d", 1, &s, &err), -1);
	assert_string_equal(err.msg, "e.json:4:7: environment variable 'FL_TEST_UNSET' is not set");
	assert_string_equal(s, "cost: $5, $HOME stays"); /* untouched on error */
	fl_error_init(&err);
	assert_int_equal(fl_doc_string(doc, root, "e", 1, &s, &err), -1);
	assert_string_equal(err.msg, "e.json:5:7: bad environment variable name '${1BAD}'");
	fl_error_init(&err);
	assert_int_equal(fl_doc_string(doc, root, "f", 1, &s, &err), -1);
	assert_string_equal(err.msg, "e.json:5:23: unterminated '${' (write '$$' for a literal '$')");
	fl_free(s);
	fl_strv_free(v);
	fl_doc_free(doc);
}

static void test_strv_helpers(void **state)
{
	char *src[] = { "a", "bb", NULL };
	char **d;
	(void)state;
	d = fl_strv_dup(src);
	assert_non_null(d);
	assert_int_equal(fl_strv_len(d), 2);
	assert_string_equal(d[1], "bb");
	assert_ptr_not_equal(d[1], src[1]);
	fl_strv_free(d);
	assert_null(fl_strv_dup(NULL));
	assert_int_equal(fl_strv_len(NULL), 0);
	fl_strv_free(NULL);
}

/* Every allocation fl_doc_load makes is failed once, in turn: each attempt
 * must fail with an error or succeed — never crash, never leak (ASan). */
static void test_alloc_failure(void **state)
{
	char path[] = "/tmp/faultline-test-doc-XXXXXX";
	int fd = mkstemp(path);
	FILE *f;
	long n, failures = 0;
	int succeeded = 0;
	(void)state;
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(positions_text, f);
	fclose(f);
	for (n = 1; n < 100000 && !succeeded; n++) {
		struct fl_error err;
		struct fl_doc *doc;
		char *s = NULL;
		fl_error_init(&err);
		fl_alloc_fail_after(n);
		doc = fl_doc_load(path, &err);
		if (doc && fl_doc_string(doc, fl_doc_root(doc), "name", 1, &s, &err) == 1 &&
		    fl_doc_check_keys(doc, fl_doc_root(doc), &err) == -1)
			succeeded = 1; /* "x", "probes" and "nested" were never asked for */
		fl_alloc_fail_after(-1);
		if (!succeeded) {
			assert_true(fl_error_is_set(&err));
			failures++;
		}
		fl_free(s);
		fl_doc_free(doc);
	}
	unlink(path);
	assert_true(succeeded);
	assert_true(failures > 5); /* the loop really did fail allocations */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_positions),     cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_getters),       cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_env_expansion), cmocka_unit_test(test_strv_helpers),
		cmocka_unit_test(test_alloc_failure),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
