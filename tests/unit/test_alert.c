/*
 * Tests for sim/alert.c: RFC 3339 times, matching alerts in Alertmanager v2
 * bodies (matching, non-matching, silenced, malformed), the "alertmanager"
 * detection block of a scenario, and the watcher against a local HTTP server
 * that plays Alertmanager: it answers with "no alert" until a moment the test
 * chooses (the ground truth), then with a matching alert.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "sim/alert.h"
#include "core/scenario.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/clock.h"

/* ---- fixture: a one-connection-at-a-time HTTP server ------------------------ */

struct fake_am {
	int fd;
	int port;
	pthread_t thread;
	atomic_int stop; /* set by the test, read by the server thread (TSan: no plain int) */
	pthread_mutex_t lock;
	const char *before; /* body served before switch_ns */
	const char *after;  /* body served from switch_ns on */
	int64_t switch_ns;  /* INT64_MAX: never */
	int status;         /* HTTP status to answer with */
	long requests;
	char last_target[256]; /* request target of the latest request */
};

static void serve_one(struct fake_am *am, int c)
{
	char req[4096], head[256];
	size_t got = 0;
	int64_t deadline = fl_now_ns() + FL_NS_PER_S;
	const char *body;
	int status;
	/* Read the request head (bounded in size and time). */
	while (got < sizeof(req) - 1 && fl_now_ns() < deadline) {
		struct pollfd p = { .fd = c, .events = POLLIN };
		ssize_t k;
		if (poll(&p, 1, 50) <= 0)
			continue;
		k = read(c, req + got, sizeof(req) - 1 - got);
		if (k <= 0)
			break;
		got += (size_t)k;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[got] = '\0';
	pthread_mutex_lock(&am->lock);
	am->requests++;
	{
		const char *sp = strchr(req, ' '), *sp2 = sp ? strchr(sp + 1, ' ') : NULL;
		if (sp && sp2)
			snprintf(am->last_target, sizeof(am->last_target), "%.*s",
				 (int)(sp2 - sp - 1), sp + 1);
	}
	body = fl_now_ns() >= am->switch_ns ? am->after : am->before;
	status = am->status;
	pthread_mutex_unlock(&am->lock);
	snprintf(head, sizeof(head),
		 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n",
		 status, strlen(body));
	if (write(c, head, strlen(head)) < 0 || write(c, body, strlen(body)) < 0)
		return;
}

static void *fake_am_thread(void *arg)
{
	struct fake_am *am = arg;
	while (!atomic_load(&am->stop)) {
		struct pollfd p = { .fd = am->fd, .events = POLLIN };
		int c;
		if (poll(&p, 1, 20) <= 0)
			continue;
		c = accept(am->fd, NULL, NULL);
		if (c < 0)
			continue;
		serve_one(am, c);
		close(c);
	}
	return NULL;
}

static void fake_am_start(struct fake_am *am, const char *before, const char *after, int64_t switch_ns)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	memset(am, 0, sizeof(*am));
	pthread_mutex_init(&am->lock, NULL);
	am->before = before;
	am->after = after;
	am->switch_ns = switch_ns;
	am->status = 200;
	am->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(am->fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(am->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(am->fd, 16), 0);
	assert_int_equal(getsockname(am->fd, (struct sockaddr *)&a, &len), 0);
	am->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&am->thread, NULL, fake_am_thread, am), 0);
}

static void fake_am_stop(struct fake_am *am)
{
	atomic_store(&am->stop, 1);
	pthread_join(am->thread, NULL);
	close(am->fd);
	pthread_mutex_destroy(&am->lock);
}

/* Waits (bounded) until the watcher leaves FL_ALERT_WAITING. */
static void wait_settled(struct fl_alert_watch *w, int64_t limit_ns, struct fl_alert_observation *o)
{
	int64_t deadline = fl_now_ns() + limit_ns;
	for (;;) {
		fl_alert_watch_get(w, o);
		if (o->state != FL_ALERT_WAITING || fl_now_ns() >= deadline)
			return;
		fl_sleep_until(fl_now_ns() + 2 * FL_NS_PER_MS, NULL, FL_NS_PER_MS);
	}
}

static char *matchers_orders[] = { "service", "orders", NULL };

static struct fl_alert_spec spec_for(char *url, char **matchers, int64_t interval, int64_t timeout)
{
	struct fl_alert_spec s;
	memset(&s, 0, sizeof(s));
	s.url = url;
	s.alertname = "OrdersApiDown";
	s.matchers = matchers;
	s.interval_ns = interval;
	s.timeout_ns = timeout;
	return s;
}

/* ---- times -------------------------------------------------------------------- */

static void test_time_parse(void **state)
{
	int64_t t = 0;
	assert_int_equal(fl_alert_time_parse("1970-01-01T00:00:01Z", &t), 0);
	assert_true(t == FL_NS_PER_S);
	assert_int_equal(fl_alert_time_parse("2024-06-01T12:00:00.123456789Z", &t), 0);
	assert_true(t == INT64_C(1717243200) * FL_NS_PER_S + 123456789);
	/* More than nine fraction digits: the rest is below a nanosecond. */
	assert_int_equal(fl_alert_time_parse("2024-06-01T12:00:00.1234567899Z", &t), 0);
	assert_true(t == INT64_C(1717243200) * FL_NS_PER_S + 123456789);
	assert_int_equal(fl_alert_time_parse("2024-06-01T14:00:00.5+02:00", &t), 0);
	assert_true(t == INT64_C(1717243200) * FL_NS_PER_S + 500000000);
	assert_int_equal(fl_alert_time_parse("2024-06-01T07:30:00-04:30", &t), 0);
	assert_true(t == INT64_C(1717243200) * FL_NS_PER_S);
	assert_int_equal(fl_alert_time_parse("2024-06-01T12:00:00", &t), -1);   /* no zone */
	assert_int_equal(fl_alert_time_parse("2024-06-01T12:00:00.Z", &t), -1); /* empty fraction */
	assert_int_equal(fl_alert_time_parse("2024-06-01T12:00:00Zjunk", &t), -1);
	assert_int_equal(fl_alert_time_parse("2024-06-01 12:00:00Z", &t), -1);
	assert_int_equal(fl_alert_time_parse("0001-01-01T00:00:00Z", &t), -1); /* Go's zero time */
	assert_int_equal(fl_alert_time_parse("", &t), -1);
	assert_int_equal(fl_alert_time_parse(NULL, &t), -1);
}

/* ---- bodies ------------------------------------------------------------------------ */

#define ALERT(name, extra_labels, state, starts)                                                    \
	"{\"labels\":{\"alertname\":\"" name "\"" extra_labels "},\"fingerprint\":\"fp-" name "\"," \
	"\"startsAt\":\"" starts "\",\"status\":{\"state\":\"" state "\",\"silencedBy\":[],"        \
	"\"inhibitedBy\":[]}}"

static int match(const char *body, char **matchers, struct fl_alert_match *m, size_t max,
		 struct fl_error *err)
{
	struct fl_alert_spec s = spec_for("http://127.0.0.1:1", matchers, FL_NS_PER_S, FL_NS_PER_S);
	fl_error_init(err);
	return fl_alert_match_body(&s, body, strlen(body), m, max, err);
}

static void test_body_matching(void **state)
{
	struct fl_alert_match m[4];
	struct fl_error e;
	const char *body =
		"[" ALERT("DiskFull", "", "active",
			  "2024-06-01T12:00:00Z") "," ALERT("OrdersApiDown",
							    ",\"service\":\"orders\"", "active",
							    "2024-06-01T12:00:01.250Z") "]";
	assert_int_equal(match(body, NULL, m, 4, &e), 1);
	assert_string_equal(m[0].fingerprint, "fp-OrdersApiDown");
	assert_true(m[0].starts_at_wall_ns == INT64_C(1717243201) * FL_NS_PER_S + 250 * FL_NS_PER_MS);
	/* Matchers must all hold, exactly. */
	assert_int_equal(match(body, matchers_orders, m, 4, &e), 1);
	{
		char *other[] = { "service", "payments", NULL };
		char *missing[] = { "team", "core", NULL };
		assert_int_equal(match(body, other, m, 4, &e), 0);
		assert_int_equal(match(body, missing, m, 4, &e), 0);
	}
	/* No alert of that name, or none at all. */
	assert_int_equal(match("[" ALERT("DiskFull", "", "active", "2024-06-01T12:00:00Z") "]",
			       NULL, m, 4, &e),
			 0);
	assert_int_equal(match("[]", NULL, m, 4, &e), 0);
	assert_false(fl_error_is_set(&e));
	/* A missing startsAt is unknown, not an error. */
	assert_int_equal(match("[{\"labels\":{\"alertname\":\"OrdersApiDown\"}}]", NULL, m, 4, &e),
			 1);
	assert_true(m[0].starts_at_wall_ns == -1);
	assert_string_equal(m[0].fingerprint, "");
	/* More matches than room: counted, only max written. */
	assert_int_equal(match("[" ALERT("OrdersApiDown", "", "active",
					 "2024-06-01T12:00:00Z") "," ALERT("OrdersApiDown", "",
									   "active",
									   "2024-06-01T12:00:00Z") "]",
			       NULL, m, 1, &e),
			 2);
}

static void test_body_silenced(void **state)
{
	struct fl_alert_match m[2];
	struct fl_error e;
	assert_int_equal(match("[" ALERT("OrdersApiDown", "", "suppressed", "2024-06-01T12:00:00Z") "]",
			       NULL, m, 2, &e),
			 0);
	assert_int_equal(match("[" ALERT("OrdersApiDown", "", "unprocessed", "2024-06-01T12:00:00Z") "]",
			       NULL, m, 2, &e),
			 0);
	/* "active" but with a silence attached: not a detection either. */
	assert_int_equal(match("[{\"labels\":{\"alertname\":\"OrdersApiDown\"},\"status\":"
			       "{\"state\":\"active\",\"silencedBy\":[\"s1\"],\"inhibitedBy\":[]}}]",
			       NULL, m, 2, &e),
			 0);
	assert_int_equal(match("[{\"labels\":{\"alertname\":\"OrdersApiDown\"},\"status\":"
			       "{\"state\":\"active\",\"silencedBy\":[],\"inhibitedBy\":[\"i1\"]}}]",
			       NULL, m, 2, &e),
			 0);
	assert_false(fl_error_is_set(&e));
}

static void test_body_malformed(void **state)
{
	struct fl_alert_match m[2];
	struct fl_error e;
	assert_int_equal(match("<html>bad gateway</html>", NULL, m, 2, &e), -1);
	assert_int_equal(e.code, FL_EXIT_ENV);
	assert_non_null(strstr(e.msg, "malformed alertmanager response: line 1 column 1: "));
	assert_int_equal(match("", NULL, m, 2, &e), -1);
	assert_non_null(strstr(e.msg, "malformed alertmanager response: "));
	assert_int_equal(match("{\"alerts\":[]}", NULL, m, 2, &e), -1);
	assert_string_equal(e.msg,
			    "malformed alertmanager response: expected a JSON array of alerts");
	assert_int_equal(match("[" ALERT("DiskFull", "", "active", "2024-06-01T12:00:00Z") ",3]",
			       NULL, m, 2, &e),
			 -1);
	assert_string_equal(e.msg, "malformed alertmanager response: alert 1 is not an object");
	assert_int_equal(match("[{\"status\":{\"state\":\"active\"}}]", NULL, m, 2, &e), -1);
	assert_string_equal(e.msg, "malformed alertmanager response: alert 0 has no labels object");
	assert_int_equal(match("[" ALERT("OrdersApiDown", "", "active", "yesterday") "]", NULL, m,
			       2, &e),
			 -1);
	assert_string_equal(e.msg, "malformed alertmanager response: alert 0: startsAt \"yesterday\" "
				   "is not an RFC 3339 time");
}

/* ---- scenario block ---------------------------------------------------------------- */

#define SC_HEAD                                                                                    \
	"{\"name\":\"a\",\"probes\":[{\"name\":\"api\",\"type\":\"tcp\",\"host\":\"127.0.0.1\","   \
	"\"port\":1,\"availability\":true}],\"detection\":{\"alertmanager\":"

static struct fl_scenario *load_sc(const char *text, struct fl_error *e)
{
	struct fl_doc *doc;
	fl_error_init(e);
	doc = fl_doc_load_string("sc.json", text, e);
	assert_non_null(doc);
	return fl_scenario_from_doc(doc, e);
}

static void test_scenario_block(void **state)
{
	struct fl_error e;
	struct fl_scenario *sc;

	sc = load_sc(SC_HEAD
		     "{\"url\":\"http://127.0.0.1:19093/\",\"alertname\":\"OrdersApiDown\"}}}",
		     &e);
	assert_non_null(sc);
	assert_non_null(sc->detect_alert);
	assert_string_equal(sc->detect_alert->url, "http://127.0.0.1:19093/");
	assert_string_equal(sc->detect_alert->alertname, "OrdersApiDown");
	assert_null(sc->detect_alert->matchers);
	assert_true(sc->detect_alert->interval_ns == 250 * FL_NS_PER_MS);
	assert_true(sc->detect_alert->timeout_ns == 30 * FL_NS_PER_S);
	fl_scenario_free(sc);

	sc = load_sc(SC_HEAD
		     "{\"url\":\"http://h:1\",\"alertname\":\"X\",\"matchers\":"
		     "{\"service\":\"orders\",\"env\":\"dr\"},\"interval\":\"100ms\",\"timeout\":\"PT2S\"}}}",
		     &e);
	assert_non_null(sc);
	assert_int_equal(fl_strv_len(sc->detect_alert->matchers), 4);
	assert_string_equal(sc->detect_alert->matchers[0], "service");
	assert_string_equal(sc->detect_alert->matchers[1], "orders");
	assert_string_equal(sc->detect_alert->matchers[2], "env");
	assert_string_equal(sc->detect_alert->matchers[3], "dr");
	assert_true(sc->detect_alert->interval_ns == 100 * FL_NS_PER_MS);
	assert_true(sc->detect_alert->timeout_ns == 2 * FL_NS_PER_S);
	fl_scenario_free(sc);

	/* No block: probe-rule detection as before. */
	sc = load_sc("{\"name\":\"a\",\"probes\":[{\"name\":\"api\",\"type\":\"tcp\",\"host\":\"h\","
		     "\"port\":1,\"availability\":true}]}",
		     &e);
	assert_non_null(sc);
	assert_null(sc->detect_alert);
	fl_scenario_free(sc);
}

static void test_scenario_block_errors(void **state)
{
	static const struct {
		const char *block, *msg;
	} cases[] = {
		{ "{\"alertname\":\"X\"}", "sc.json:1:128: missing key 'url'" },
		{ "{\"url\":\"127.0.0.1:9093\",\"alertname\":\"X\"}",
		  "sc.json:1:135: 'url': expected an http:// or https:// URL, not \"127.0.0.1:9093\"" },
		{ "{\"url\":\"http://h:1\"}", "sc.json:1:128: missing key 'alertname'" },
		{ "{\"url\":\"http://h:1\",\"alertname\":\"\"}",
		  "sc.json:1:160: 'alertname': expected a non-empty string" },
		{ "{\"url\":\"http://h:1\",\"alertname\":\"X\",\"matchers\":{\"a\":1}}",
		  "sc.json:1:180: 'a': expected a string" },
		{ "{\"url\":\"http://h:1\",\"alertname\":\"X\",\"interval\":\"0s\"}",
		  "sc.json:1:175: 'interval': must be greater than zero" },
		{ "{\"url\":\"http://h:1\",\"alertname\":\"X\",\"timeout\":\"soon\"}", NULL },
		{ "{\"url\":\"http://h:1\",\"alertname\":\"X\",\"labels\":{}}",
		  "sc.json:1:164: unknown key 'labels'" },
		{ "\"http://h:1\"", NULL },
	};
	for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
		char text[512];
		struct fl_error e;
		struct fl_scenario *sc;
		snprintf(text, sizeof(text), SC_HEAD "%s}}", cases[i].block);
		sc = load_sc(text, &e);
		if (sc)
			print_error("case %zu loaded\n", i);
		assert_null(sc);
		assert_int_equal(e.code, FL_EXIT_INPUT);
		assert_non_null(strstr(e.msg, "sc.json:1:"));
		if (cases[i].msg && strcmp(e.msg, cases[i].msg) != 0) {
			print_error("case %zu: got \"%s\"\n", i, e.msg);
			fail();
		}
	}
}

/* ---- the watcher --------------------------------------------------------------------- */

static void test_watch_fires_at_ground_truth(void **state)
{
	struct fake_am am;
	struct fl_alert_observation o;
	struct fl_error e;
	struct fl_alert_watch *w;
	char url[64];
	const int64_t interval = 50 * FL_NS_PER_MS;
	/* startsAt in the future relative to the watcher start: this drill's alert. */
	char after[512];
	int64_t starts = fl_wall_ns() + 200 * FL_NS_PER_MS, appear;
	char ts[40];
	fl_rfc3339(starts, ts, sizeof(ts));
	snprintf(after, sizeof(after),
		 "[" ALERT("DiskFull", "", "active",
			   "2024-06-01T12:00:00Z") ",{\"labels\":{\"alertname\":\"OrdersApiDown\",\"service\":\"orders\"},"
						   "\"fingerprint\":\"f1\",\"startsAt\":\"%s\",\"status\":{\"state\":\"active\"}}]",
		 ts);
	appear = fl_now_ns() + 300 * FL_NS_PER_MS;
	fake_am_start(&am, "[]", after, appear);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", am.port);
	struct fl_alert_spec s = spec_for(url, matchers_orders, interval, 5 * FL_NS_PER_S);
	fl_error_init(&e);
	w = fl_alert_watch_new(&s, &e);
	assert_non_null(w);
	assert_int_equal(fl_alert_watch_start(w, &e), 0);
	wait_settled(w, 10 * FL_NS_PER_S, &o);
	fl_alert_watch_free(w);
	fake_am_stop(&am);

	assert_int_equal(o.state, FL_ALERT_FIRED);
	/* Observed after it appeared, within one interval plus a request. */
	assert_true(o.observed_ns >= appear);
	if (o.observed_ns - appear > interval + 50 * FL_NS_PER_MS) {
		print_error("observed %.1f ms after the alert appeared\n",
			    (double)(o.observed_ns - appear) / 1e6);
		fail();
	}
	/* The bracket contains the true moment. */
	assert_true(o.observed_ns - o.uncertainty_ns <= appear);
	assert_true(o.uncertainty_ns <= 2 * interval + 50 * FL_NS_PER_MS);
	/* startsAt went through RFC 3339 with milliseconds. */
	assert_true(o.starts_at_wall_ns == starts / FL_NS_PER_MS * FL_NS_PER_MS);
	assert_true(o.polls >= 3);
	assert_int_equal(o.poll_errors, 0);
	assert_int_equal(o.ignored, 0);
	assert_string_equal(am.last_target,
			    "/api/v2/alerts?active=true&silenced=false&inhibited=false");
}

static void test_watch_ignores_preexisting(void **state)
{
	struct fake_am am;
	struct fl_alert_observation o;
	struct fl_error e;
	struct fl_alert_watch *w;
	char url[64];
	/* Already firing since long before the drill: a previous incident. */
	const char *old = "[" ALERT("OrdersApiDown", "", "active", "2024-06-01T12:00:00Z") "]";
	/* The same labels firing anew (a new startsAt) would count. */
	fake_am_start(&am, old, old, INT64_MAX);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", am.port);
	struct fl_alert_spec s = spec_for(url, NULL, 20 * FL_NS_PER_MS, 300 * FL_NS_PER_MS);
	fl_error_init(&e);
	w = fl_alert_watch_new(&s, &e);
	assert_non_null(w);
	assert_int_equal(fl_alert_watch_start(w, &e), 0);
	wait_settled(w, 10 * FL_NS_PER_S, &o);
	fl_alert_watch_free(w);
	fake_am_stop(&am);
	assert_int_equal(o.state, FL_ALERT_TIMED_OUT);
	assert_int_equal(o.ignored, 1);
	assert_true(o.polls >= 2);
	assert_true(o.observed_ns == -1);
}

static void test_watch_refire_counts(void **state)
{
	struct fake_am am;
	struct fl_alert_observation o;
	struct fl_error e;
	struct fl_alert_watch *w;
	char url[64], after[256], ts[40];
	const char *old = "[" ALERT("OrdersApiDown", "", "active", "2024-06-01T12:00:00Z") "]";
	fl_rfc3339(fl_wall_ns() + FL_NS_PER_S, ts, sizeof(ts));
	snprintf(after, sizeof(after),
		 "[{\"labels\":{\"alertname\":\"OrdersApiDown\"},"
		 "\"fingerprint\":\"fp-OrdersApiDown\",\"startsAt\":\"%s\"}]",
		 ts);
	fake_am_start(&am, old, after, fl_now_ns() + 150 * FL_NS_PER_MS);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", am.port);
	struct fl_alert_spec s = spec_for(url, NULL, 20 * FL_NS_PER_MS, 5 * FL_NS_PER_S);
	fl_error_init(&e);
	w = fl_alert_watch_new(&s, &e);
	assert_non_null(w);
	assert_int_equal(fl_alert_watch_start(w, &e), 0);
	wait_settled(w, 10 * FL_NS_PER_S, &o);
	fl_alert_watch_free(w);
	fake_am_stop(&am);
	assert_int_equal(o.state, FL_ALERT_FIRED);
	assert_int_equal(o.ignored, 1);
}

static void test_watch_errors_then_timeout(void **state)
{
	struct fake_am am;
	struct fl_alert_observation o;
	struct fl_error e;
	struct fl_alert_watch *w;
	char url[64];
	/* A 503 answer, then malformed JSON: both are poll errors, reported. */
	fake_am_start(&am, "[]", "[]", INT64_MAX);
	am.status = 503;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", am.port);
	struct fl_alert_spec s = spec_for(url, NULL, 20 * FL_NS_PER_MS, 200 * FL_NS_PER_MS);
	fl_error_init(&e);
	w = fl_alert_watch_new(&s, &e);
	assert_non_null(w);
	assert_int_equal(fl_alert_watch_start(w, &e), 0);
	wait_settled(w, 10 * FL_NS_PER_S, &o);
	fl_alert_watch_free(w);
	assert_int_equal(o.state, FL_ALERT_TIMED_OUT);
	assert_true(o.poll_errors >= 1 && o.poll_errors == o.polls);
	assert_non_null(strstr(o.last_error, ": HTTP 503"));
	assert_non_null(strstr(o.last_error, "GET http://127.0.0.1:"));

	pthread_mutex_lock(&am.lock);
	am.status = 200;
	am.before = "not json";
	pthread_mutex_unlock(&am.lock);
	w = fl_alert_watch_new(&s, &e);
	assert_non_null(w);
	assert_int_equal(fl_alert_watch_start(w, &e), 0);
	wait_settled(w, 10 * FL_NS_PER_S, &o);
	fl_alert_watch_free(w);
	fake_am_stop(&am);
	assert_int_equal(o.state, FL_ALERT_TIMED_OUT);
	assert_true(o.poll_errors >= 1);
	assert_non_null(strstr(o.last_error, "malformed alertmanager response: line 1"));

	/* Nothing listening: connection refused, reported the same way. */
	w = fl_alert_watch_new(&s, &e);
	assert_non_null(w);
	assert_int_equal(fl_alert_watch_start(w, &e), 0);
	wait_settled(w, 10 * FL_NS_PER_S, &o);
	fl_alert_watch_free(w);
	assert_int_equal(o.state, FL_ALERT_TIMED_OUT);
	assert_true(o.poll_errors >= 1);
	assert_non_null(strstr(o.last_error, "GET http://127.0.0.1:"));
}

/* Freeing a watcher that waits out a long timeout stops it (the test would
 * hit ctest's timeout otherwise); freeing NULL is a no-op. */
static void test_watch_free_while_waiting(void **state)
{
	struct fake_am am;
	struct fl_alert_observation o;
	struct fl_error e;
	struct fl_alert_watch *w;
	char url[64];
	fake_am_start(&am, "[]", "[]", INT64_MAX);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", am.port);
	struct fl_alert_spec s = spec_for(url, NULL, 10 * FL_NS_PER_MS, 600 * FL_NS_PER_S);
	fl_error_init(&e);
	w = fl_alert_watch_new(&s, &e);
	assert_non_null(w);
	assert_int_equal(fl_alert_watch_start(w, &e), 0);
	assert_int_equal(fl_alert_watch_start(w, &e), -1);
	{
		int64_t deadline = fl_now_ns() + 10 * FL_NS_PER_S;
		do {
			fl_alert_watch_get(w, &o);
			fl_sleep_until(fl_now_ns() + 2 * FL_NS_PER_MS, NULL, FL_NS_PER_MS);
		} while (o.polls < 2 && fl_now_ns() < deadline);
	}
	assert_int_equal(o.state, FL_ALERT_WAITING);
	assert_true(o.polls >= 2);
	fl_alert_watch_free(w);
	fl_alert_watch_free(NULL);
	fake_am_stop(&am);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_parse),
		cmocka_unit_test(test_body_matching),
		cmocka_unit_test(test_body_silenced),
		cmocka_unit_test(test_body_malformed),
		cmocka_unit_test(test_scenario_block),
		cmocka_unit_test(test_scenario_block_errors),
		cmocka_unit_test(test_watch_fires_at_ground_truth),
		cmocka_unit_test(test_watch_ignores_preexisting),
		cmocka_unit_test(test_watch_refire_counts),
		cmocka_unit_test(test_watch_errors_then_timeout),
		cmocka_unit_test(test_watch_free_while_waiting),
	};
	fl_alloc_install_jansson();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
