/*
 * test_backup: pgBackRest `info --output=json` parsing (newest good backup
 * per stanza and across stanzas, errored backups skipped, old versions
 * without `error`, empty catalogues, malformed shapes), running the command
 * through fl_run_argv, the age wording reports print, and the inventory's
 * `backup_info` key (validation and path resolution).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/backup.h"
#include "reports/report.h"
#include "core/inventory.h"
#include "core/error.h"
#include "core/clock.h"

/* Shaped like pgBackRest 2.4x output (docs: "info --output=json"), trimmed
 * to the members that matter plus a few it adds, which must be ignored. */
#define STANZA_DEMO                                                                                \
	"{\"name\":\"demo\",\"status\":{\"code\":0,\"message\":\"ok\"},"                           \
	"\"cipher\":\"none\",\"db\":[{\"id\":1,\"system-id\":7000,\"version\":\"15\"}],"           \
	"\"archive\":[{\"id\":\"15-1\",\"min\":\"000000010000000000000002\"}],"                    \
	"\"backup\":["                                                                             \
	"{\"label\":\"20261124-060000F\",\"type\":\"full\",\"error\":false,"                       \
	" \"timestamp\":{\"start\":1795500000,\"stop\":1795500060},"                               \
	" \"info\":{\"size\":24000000,\"delta\":24000000}},"                                       \
	"{\"label\":\"20261124-060000F_20261124-070000D\",\"type\":\"diff\",\"error\":false,"      \
	" \"timestamp\":{\"start\":1795503600,\"stop\":1795503630}},"                              \
	"{\"label\":\"20261124-060000F_20261124-080000I\",\"type\":\"incr\",\"error\":true,"       \
	" \"timestamp\":{\"start\":1795507200,\"stop\":1795507260}}"                               \
	"]}"

static void test_newest_good_skips_errored(void **state)
{
	struct fl_backup_info bi;
	struct fl_error err;
	(void)state;
	fl_error_init(&err);
	assert_int_equal(fl_backup_info_parse("info", "[" STANZA_DEMO "]", &bi, &err), 1);
	/* The incr at 1795507260 ended in error: the diff is the newest good one. */
	assert_true(bi.stop_wall_ns == INT64_C(1795503630) * 1000000000);
	assert_string_equal(bi.type, "diff");
	assert_string_equal(bi.label, "20261124-060000F_20261124-070000D");
	assert_string_equal(bi.stanza, "demo");
}

static void test_several_stanzas_and_old_versions(void **state)
{
	/* The second stanza comes from a pgBackRest that does not write
	 * `error` (before 2.36), and is newer: it wins. Order in the array
	 * does not decide, the stop time does. */
	const char *text =
		"[{\"name\":\"other\",\"status\":{\"code\":0,\"message\":\"ok\"},\"backup\":["
		"{\"label\":\"B\",\"type\":\"full\",\"timestamp\":{\"start\":1795509000,\"stop\":1795509100}},"
		"{\"label\":\"A\",\"type\":\"incr\",\"timestamp\":{\"start\":1795400000,\"stop\":1795400100}}]}," STANZA_DEMO
		"]";
	struct fl_backup_info bi;
	struct fl_error err;
	(void)state;
	fl_error_init(&err);
	assert_int_equal(fl_backup_info_parse("info", text, &bi, &err), 1);
	assert_true(bi.stop_wall_ns == INT64_C(1795509100) * 1000000000);
	assert_string_equal(bi.type, "full");
	assert_string_equal(bi.label, "B");
	assert_string_equal(bi.stanza, "other");
}

static void test_no_good_backup(void **state)
{
	struct fl_backup_info bi;
	struct fl_error err;
	(void)state;
	fl_error_init(&err);
	/* An empty catalogue, a stanza without backups (status 2), a stanza
	 * with no `backup` member and one whose only backup failed. */
	assert_int_equal(fl_backup_info_parse("info", "[]", &bi, &err), 0);
	assert_int_equal(fl_backup_info_parse("info",
					      "[{\"name\":\"s\",\"status\":{\"code\":2,\"message\":\"no valid backups\"},\"backup\":[]},"
					      "{\"name\":\"t\",\"status\":{\"code\":1,\"message\":\"missing stanza path\"}},"
					      "{\"name\":\"u\",\"backup\":[{\"label\":\"x\",\"type\":\"full\",\"error\":true,"
					      "\"timestamp\":{\"start\":1,\"stop\":2}}]}]",
					      &bi, &err),
			 0);
	assert_false(fl_error_is_set(&err));
	assert_true(bi.stop_wall_ns == 0);
	assert_string_equal(bi.type, "");
}

static void expect_error(const char *text, const char *msg)
{
	struct fl_backup_info bi;
	struct fl_error err;
	fl_error_init(&err);
	assert_int_equal(fl_backup_info_parse("info", text, &bi, &err), -1);
	assert_true(fl_error_is_set(&err));
	if (!strstr(err.msg, msg))
		fail_msg("'%s' does not contain '%s'", err.msg, msg);
	assert_null(strchr(err.msg, '\n'));
	assert_true(bi.stop_wall_ns == 0);
}

static void test_malformed(void **state)
{
	(void)state;
	expect_error("", "info: not pgBackRest info JSON");
	expect_error("ERROR: [055]: unable to load info file",
		     "info: not pgBackRest info JSON: line 1");
	expect_error("{\"name\":\"demo\"}",
		     "info: not pgBackRest info JSON: expected an array of stanzas");
	expect_error("[1]", "info: stanza 1 is not an object");
	expect_error("[{\"backup\":[]}]", "info: stanza 1 has no string 'name'");
	expect_error("[{\"name\":\"s\",\"backup\":{}}]",
		     "info: stanza 's': 'backup' is not an array");
	expect_error("[{\"name\":\"s\",\"backup\":[7]}]",
		     "info: stanza 's': backup 1 is not an object");
	expect_error("[{\"name\":\"s\",\"backup\":[{\"label\":\"x\",\"type\":\"full\"}]}]",
		     "info: stanza 's': backup 1 has no integer 'timestamp.stop'");
	expect_error("[{\"name\":\"s\",\"backup\":[{\"label\":\"x\",\"type\":\"full\",\"timestamp\":{\"stop\":\"1\"}}]}]",
		     "backup 1 has no integer 'timestamp.stop'");
	expect_error("[{\"name\":\"s\",\"backup\":[{\"label\":\"x\",\"timestamp\":{\"stop\":5}}]}]",
		     "info: stanza 's': backup 1 has no string 'type'");
	expect_error("[{\"name\":\"s\",\"backup\":[{\"type\":\"full\",\"timestamp\":{\"stop\":5}}]}]",
		     "info: stanza 's': backup 1 has no string 'label'");
	expect_error("[{\"name\":\"s\",\"backup\":[{\"label\":\"x\",\"type\":\"full\",\"error\":\"no\","
		     "\"timestamp\":{\"stop\":5}}]}]",
		     "info: stanza 's': backup 1: 'error' is not a boolean");
	expect_error("[{\"name\":\"s\",\"backup\":[{\"label\":\"x\",\"type\":\"full\","
		     "\"timestamp\":{\"stop\":99999999999999}}]}]",
		     "'timestamp.stop' out of range");
}

static void test_run_command(void **state)
{
	const char *ok[] = { "printf", "%s", "[" STANZA_DEMO "]", NULL };
	const char *failing[] = {
		"sh", "-c", "echo 'ERROR: [103]: unable to find a valid repository' >&2; exit 103", NULL
	};
	const char *logged[] = { "printf", "%s\n%s\n",
				 "P00   WARN: option 'repo1-retention-full' is not set",
				 "[" STANZA_DEMO "]", NULL };
	const char *only_log[] = { "printf", "P00   WARN: no stanzas\n", NULL };
	const char *missing[] = { "/nonexistent/faultline-pgbackrest", NULL };
	struct fl_backup_info bi;
	struct fl_error err;
	(void)state;
	fl_error_init(&err);
	assert_int_equal(fl_backup_info_run(ok, NULL, 10 * FL_NS_PER_S, NULL, &bi, &err), 1);
	assert_string_equal(bi.type, "diff");

	/* A warning pgBackRest logs to the console before the JSON is skipped. */
	fl_error_init(&err);
	assert_int_equal(fl_backup_info_run(logged, NULL, 10 * FL_NS_PER_S, NULL, &bi, &err), 1);
	assert_string_equal(bi.label, "20261124-060000F_20261124-070000D");
	/* Text that is only a log line is still an error. */
	fl_error_init(&err);
	assert_int_equal(fl_backup_info_run(only_log, NULL, 10 * FL_NS_PER_S, NULL, &bi, &err), -1);
	assert_non_null(strstr(err.msg, "printf: not pgBackRest info JSON"));

	fl_error_init(&err);
	assert_int_equal(fl_backup_info_run(failing, NULL, 10 * FL_NS_PER_S, NULL, &bi, &err), -1);
	assert_string_equal(err.msg,
			    "backup_info sh exited 103: ERROR: [103]: unable to find a valid repository");

	fl_error_init(&err);
	assert_int_equal(fl_backup_info_run(missing, NULL, 10 * FL_NS_PER_S, NULL, &bi, &err), -1);
	assert_non_null(strstr(err.msg, "backup_info /nonexistent/faultline-pgbackrest: "));
}

static void test_age_describe(void **state)
{
	const int64_t drill = INT64_C(1795589159) * FL_NS_PER_S;
	char b[96];
	(void)state;
	assert_string_equal(fl_backup_age_describe(drill,
						   drill - (2 * 3600 + 13 * 60 + 9) * FL_NS_PER_S,
						   "full", b, sizeof(b)),
			    "2 h 13 m before the drill, full");
	assert_string_equal(fl_backup_age_describe(drill, drill - (3 * 86400 + 5 * 3600) * FL_NS_PER_S,
						   "incr", b, sizeof(b)),
			    "3 d 5 h before the drill, incr");
	assert_string_equal(fl_backup_age_describe(drill, drill - 7 * 60 * FL_NS_PER_S, NULL, b,
						   sizeof(b)),
			    "7 m before the drill");
	assert_string_equal(fl_backup_age_describe(drill, drill - 42 * FL_NS_PER_S, "diff", b,
						   sizeof(b)),
			    "42 s before the drill, diff");
	assert_string_equal(fl_backup_age_describe(drill, drill + FL_NS_PER_S, "full", b, sizeof(b)),
			    "during the drill, full");
	assert_string_equal(fl_backup_age_describe(drill, 0, "full", b, sizeof(b)), "not recorded");
}

static struct fl_inventory *load_inventory(const char *dir, const char *text, struct fl_error *err)
{
	char path[512];
	FILE *f;
	struct fl_inventory *inv;
	snprintf(path, sizeof(path), "%s/inv.json", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	inv = fl_inventory_load(path, err);
	unlink(path);
	return inv;
}

static void test_inventory_key(void **state)
{
	char dir[] = "/tmp/fl-test-backup-XXXXXX";
	struct fl_inventory *inv;
	const struct fl_asset *a;
	struct fl_error err;
	(void)state;
	assert_non_null(mkdtemp(dir));

	fl_error_init(&err);
	inv = load_inventory(dir,
			     "{\"assets\":[{\"name\":\"db\",\"tier\":1,\"backup_info\":[\"./info.sh\",\"--stanza=x\"]},\n"
			     " {\"name\":\"db2\",\"tier\":2,\"backup_info\":[\"pgbackrest\",\"info\",\"--output=json\"]},\n"
			     " {\"name\":\"app\",\"tier\":2}]}",
			     &err);
	if (!inv)
		fail_msg("%s", err.msg);
	a = fl_inventory_asset(inv, "db");
	assert_non_null(a->backup_info);
	/* Relative to the inventory, not to where faultline runs. */
	assert_true(a->backup_info[0][0] == '/');
	assert_non_null(strstr(a->backup_info[0], "info.sh"));
	assert_non_null(strstr(a->backup_info[0], dir));
	assert_string_equal(a->backup_info[1], "--stanza=x");
	assert_null(a->backup_info[2]);
	a = fl_inventory_asset(inv, "db2");
	assert_string_equal(a->backup_info[0], "pgbackrest"); /* searched in PATH */
	assert_null(fl_inventory_asset(inv, "app")->backup_info);
	fl_inventory_free(inv);

	fl_error_init(&err);
	assert_null(load_inventory(dir,
				   "{\"assets\":[{\"name\":\"db\",\"tier\":1,\n  \"backup_info\":[]}]}",
				   &err));
	if (!strstr(err.msg, "/inv.json:2:17: 'backup_info': expected a non-empty command"))
		fail_msg("%s", err.msg);
	fl_error_init(&err);
	assert_null(
		load_inventory(dir,
			       "{\"assets\":[{\"name\":\"db\",\"tier\":1,\"backup_info\":\"pgbackrest info\"}]}",
			       &err));
	if (!strstr(err.msg, "/inv.json:1:48: 'backup_info': expected an array of strings"))
		fail_msg("%s", err.msg);
	fl_error_init(&err);
	assert_null(load_inventory(dir,
				   "{\"assets\":[{\"name\":\"db\",\"tier\":1,\"backup_info\":[\"\"]}]}",
				   &err));
	assert_non_null(strstr(err.msg, "'backup_info': expected a non-empty command"));
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_newest_good_skips_errored),
		cmocka_unit_test(test_several_stanzas_and_old_versions),
		cmocka_unit_test(test_no_good_backup),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_run_command),
		cmocka_unit_test(test_age_describe),
		cmocka_unit_test(test_inventory_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
