/*
 * Unit tests for sim/notify*.c without a network: the notification file's
 * strict checks (secrets only from variables or files, unknown types and
 * events, duplicates, bounds), and each channel's payload for one event —
 * PagerDuty's 1024-character summary limit and severities, Alertmanager's
 * string-only labels and endsAt, Slack's escaping, the webhook's members.
 * The loopback and schema checks are in tests/integration/test_notify.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "sim/notify.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"

static char dir[256];

static const char *write_tmp(const char *name, const char *text)
{
	static char path[512];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void open_fails(const char *text, const char *want)
{
	struct fl_error err;
	struct fl_notifier *n;
	fl_error_init(&err);
	n = fl_notifier_open(write_tmp("n.json", text), &err);
	if (n) {
		fl_notifier_close(n, NULL);
		fail_msg("accepted: %s", text);
	}
	if (!strstr(err.msg, want))
		fail_msg("got '%s', wanted '%s'", err.msg, want);
	assert_int_equal(err.code, FL_EXIT_INPUT);
}

static void test_file_errors(void **state)
{
	(void)state;
	setenv("FL_UNIT_HOOK", "http://127.0.0.1:9/hook/token", 1);
	unsetenv("FL_UNIT_UNSET");
	open_fails("{\"channels\": [{\"name\": \"a\", \"type\": \"webhook\", \"url\": \"http://x/t0ken\"}]}",
		   "n.json:1:48: 'url' is a secret: give it as 'url_env'");
	open_fails("{\"channels\": [{\"name\": \"a\", \"type\": \"pagerduty\", \"routing_key\": \"k\"}]}",
		   "'routing_key' is a secret");
	open_fails("{\"channels\": [{\"name\": \"a\", \"type\": \"webhook\", \"url_env\": \"FL_UNIT_UNSET\"}]}",
		   "environment variable FL_UNIT_UNSET is not set");
	open_fails("{\"channels\": [{\"name\": \"a\", \"type\": \"webhook\", \"url_file\": \"/nonexistent/x\"}]}",
		   "/nonexistent/x");
	open_fails("{\"channels\": [{\"name\": \"a\", \"type\": \"sms\", \"url_env\": \"FL_UNIT_HOOK\"}]}",
		   "unknown channel type 'sms' (webhook, slack, pagerduty, alertmanager)");
	open_fails("{\"channels\": [{\"name\": \"a\", \"type\": \"webhook\", \"url_env\": \"FL_UNIT_HOOK\", \"events\": [\"started\", \"lunch\"]}]}",
		   "unknown event (started, target_missed, aborted, revert_failed)");
	open_fails("{\"channels\": [{\"name\": \"a\", \"type\": \"webhook\", \"url_env\": \"FL_UNIT_HOOK\"},"
		   " {\"name\": \"a\", \"type\": \"slack\", \"url_env\": \"FL_UNIT_HOOK\"}]}",
		   "duplicate channel name 'a'");
	open_fails("{\"timeout\": \"1h\", \"channels\": [{\"name\": \"a\", \"type\": \"webhook\", \"url_env\": \"FL_UNIT_HOOK\"}]}",
		   "'timeout' must be between 100ms and 60s");
	open_fails("{\"attempts\": 0, \"channels\": [{\"name\": \"a\", \"type\": \"webhook\", \"url_env\": \"FL_UNIT_HOOK\"}]}",
		   "attempts");
	open_fails("{\"channels\": []}", "'channels' is empty");
	open_fails("{\"channels\": [{\"name\": \"a\", \"type\": \"alertmanager\", \"url\": \"ftp://x\"}]}",
		   "the URL must start with http:// or https://");
	open_fails("{\"channels\": [{\"name\": \"a\", \"type\": \"alertmanager\", \"url\": \"http://x\", \"colour\": 1}]}",
		   "unknown key 'colour'");
	/* The secret never shows in an error. */
	{
		struct fl_error err;
		fl_error_init(&err);
		setenv("FL_UNIT_HOOK", "ftp://127.0.0.1/s3cr3t", 1);
		assert_null(
			fl_notifier_open(write_tmp("n.json",
						   "{\"channels\": [{\"name\": \"a\", \"type\": \"webhook\", \"url_env\": \"FL_UNIT_HOOK\"}]}"),
					 &err));
		assert_null(strstr(err.msg, "s3cr3t"));
	}
	/* A URL file's trailing newline is not part of the URL; a good file opens. */
	{
		struct fl_error err;
		struct fl_notifier *n;
		char text[1024];
		fl_error_init(&err);
		write_tmp("url", "http://127.0.0.1:9/slack/x\n");
		snprintf(text, sizeof(text),
			 "{\"timeout\": \"200ms\", \"attempts\": 1, \"channels\": [{\"name\": \"s\", \"type\": \"slack\", \"url_file\": \"%s/url\"}]}",
			 dir);
		n = fl_notifier_open(write_tmp("n.json", text), &err);
		if (!n)
			fail_msg("%s", err.msg);
		assert_int_equal(fl_notifier_close(n, NULL), 0);
	}
}

static json_t *payload(const struct fl_notify_channel_ops *ops, const struct fl_notify_event *ev,
		       const char *secret, const char **suffix)
{
	struct fl_buf b;
	struct fl_error err;
	json_t *v;
	fl_buf_init(&b, 0);
	fl_error_init(&err);
	assert_int_equal(ops->payload(ev, secret, &b, suffix, &err), 0);
	v = json_loads(b.buf, 0, NULL);
	assert_non_null(v);
	fl_buf_release(&b);
	return v;
}

static void test_payloads(void **state)
{
	char summary[3000];
	struct fl_notify_event ev = { .kind = FL_NOTIFY_REVERT_FAILED,
				      .scenario = "db-<kill>",
				      .environment = "staging",
				      .asset = "orders-db",
				      .run_id = 42,
				      .at_wall_ns = INT64_C(1767225600000000000),
				      .host = "ci-1" };
	const char *suffix = NULL;
	json_t *v, *p;
	(void)state;

	memset(summary, 'x', sizeof(summary) - 1);
	summary[sizeof(summary) - 1] = '\0';
	ev.summary = summary;
	v = payload(&fl_notify_pagerduty, &ev, "0123456789abcdef0123456789abcdef", &suffix);
	assert_string_equal(suffix, "");
	assert_string_equal(json_string_value(json_object_get(v, "routing_key")),
			    "0123456789abcdef0123456789abcdef");
	assert_string_equal(json_string_value(json_object_get(v, "event_action")), "trigger");
	assert_string_equal(json_string_value(json_object_get(v, "dedup_key")),
			    "faultline/db-<kill>/42/revert_failed");
	p = json_object_get(v, "payload");
	assert_int_equal(strlen(json_string_value(json_object_get(p, "summary"))), 1024);
	assert_string_equal(json_string_value(json_object_get(p, "severity")), "critical");
	assert_string_equal(json_string_value(json_object_get(p, "source")), "ci-1");
	assert_string_equal(json_string_value(json_object_get(p, "timestamp")),
			    "2026-01-01T00:00:00.000Z");
	assert_string_equal(json_string_value(json_object_get(p, "component")), "orders-db");
	assert_true(json_is_true(json_object_get(json_object_get(p, "custom_details"), "urgent")));
	json_decref(v);

	ev.summary = "drill db-<kill> on staging missed its target & more";
	ev.kind = FL_NOTIFY_TARGET_MISSED;
	v = payload(&fl_notify_alertmanager, &ev, NULL, &suffix);
	assert_string_equal(suffix, "/api/v2/alerts");
	assert_true(json_is_array(v) && json_array_size(v) == 1);
	p = json_array_get(v, 0);
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(p, "labels"), "alertname")),
			    "FaultlineTargetMissed");
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(p, "labels"), "severity")),
			    "warning");
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(p, "annotations"), "run_id")),
			    "42");
	assert_string_equal(json_string_value(json_object_get(p, "startsAt")),
			    "2026-01-01T00:00:00.000Z");
	assert_string_equal(json_string_value(json_object_get(p, "endsAt")),
			    "2026-01-01T01:00:00.000Z");
	json_decref(v);

	v = payload(&fl_notify_slack, &ev, NULL, &suffix);
	assert_string_equal(json_string_value(json_object_get(v, "text")),
			    "[faultline] drill db-&lt;kill&gt; on staging missed its target &amp; more");
	json_decref(v);

	ev.kind = FL_NOTIFY_STARTED;
	ev.asset = NULL;
	ev.run_id = 0;
	v = payload(&fl_notify_webhook, &ev, NULL, &suffix);
	assert_string_equal(json_string_value(json_object_get(v, "event")), "started");
	assert_true(json_is_false(json_object_get(v, "urgent")));
	assert_true(json_is_null(json_object_get(v, "asset")));
	assert_true(json_is_null(json_object_get(v, "run_id")));
	assert_int_equal(json_object_size(v), 10);
	json_decref(v);
}

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	(void)state;
	snprintf(dir, sizeof(dir), "%s/fl-notify-XXXXXX", tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char p[600];
	(void)state;
	snprintf(p, sizeof(p), "%s/n.json", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/url", dir);
	unlink(p);
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_payloads),
	};
	fl_alloc_install_jansson();
	return cmocka_run_group_tests(tests, setup, teardown);
}
