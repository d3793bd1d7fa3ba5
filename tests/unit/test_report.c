/*
 * test_report: the report model (windowing, grouping, missing figures,
 * assets and stale flags, failure reasons) and every writer: golden files
 * for JSON and JUnit (tests/data/golden/; regenerate with
 * FAULTLINE_UPDATE_GOLDEN=1 and review the diff), and structural checks for
 * HTML and Markdown — escaping, one chart per scenario, no "nan" printed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <gsl/gsl_errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports/report.h"
#include "reports/report_html.h"
#include "reports/report_json.h"
#include "reports/report_junit.h"
#include "reports/report_gantt.h"
#include "reports/report_md.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"

#define T0 INT64_C(1767225600000000000) /* 2026-01-01T00:00:00Z */
#define DAY (INT64_C(86400) * FL_NS_PER_S)

static int setup(void **state)
{
	(void)state;
	gsl_set_error_handler_off();
	return 0;
}

struct spec {
	int64_t id;
	const char *scenario, *label, *verdict, *asset;
	int64_t t;
	double rto, rpo, detect; /* detect NAN: no phases recorded */
	long lost_after;
	const char *failure;
};

static void add(struct fl_report *r, const struct spec *s)
{
	struct fl_run run;
	struct fl_error err;
	fl_error_init(&err);
	fl_run_init(&run);
	run.id = s->id;
	run.scenario = FL_UNCONST(char *, s->scenario);
	run.label = FL_UNCONST(char *, s->label);
	run.verdict = FL_UNCONST(char *, s->verdict);
	run.asset = FL_UNCONST(char *, s->asset);
	run.asset_tier = s->asset ? 1 : 0;
	run.environment = (char *)"staging";
	run.started_wall_ns = s->t;
	run.duration_ms = isnan(s->rto) ? 1500 : s->rto + 2000;
	run.rto_ms = s->rto;
	run.rto_uncertainty_ms = isnan(s->rto) ? NAN : 10;
	run.rpo_ms = s->rpo;
	run.rpo_uncertainty_ms = isnan(s->rpo) ? NAN : 50;
	run.ttv_ms = isnan(s->rto) ? NAN : s->rto + 500;
	run.rto_target_ms = 5000;
	run.rpo_target_ms = s->asset ? 0 : NAN;
	run.lost_before_fault = s->asset ? 0 : -1;
	run.lost_after_fault = s->asset ? s->lost_after : -1;
	if (!isnan(s->detect)) {
		assert_int_equal(fl_run_add_phase(&run, "detect", 0, s->detect), 0);
		assert_int_equal(fl_run_add_phase(&run, "recover", s->detect, s->rto), 0);
	}
	if (s->failure)
		assert_int_equal(fl_run_add_failure(&run, "%s", s->failure), 0);
	assert_true(fl_report_add_run(r, &run, &err) >= 0);
	run.scenario = run.label = run.verdict = run.asset = run.environment = NULL;
	fl_run_release(&run);
}

/* A small history, newest first per scenario, with the awkward cases: a
 * scenario name that is markup, a failed run without recorded reasons, an
 * error run with no figures, runs without phases. */
static const struct spec history[] = {
	{ 6, "db-failover", "v2", "fail", "orders-db", T0 + 5 * DAY, 7200, 0, 400, 2, NULL },
	{ 5, "db-failover", "v2", "pass", "orders-db", T0 + 4 * DAY, 4300, 0, 350, 0, NULL },
	{ 4, "db-failover", "v1", "error", "orders-db", T0 + 3 * DAY, NAN, NAN, NAN, -1,
	  "environment could not be prepared: orders-db did not answer" },
	{ 3, "db-failover", "v1", "pass", "orders-db", T0 + 2 * DAY, 4100, 0, 300, 0, NULL },
	{ 2, "<script>alert(1)</script>", "v1", "pass", NULL, T0 + 1 * DAY, 1200, NAN, NAN, -1, NULL },
	{ 1, "<script>alert(1)</script>", "v1", "fail", NULL, T0, 6100, NAN, NAN, -1,
	  "rto 6.100 s > target 5.000 s by 1.100 s" },
};

static void build(struct fl_report *r, long last, const char *label, const struct fl_inventory *inv)
{
	struct fl_report_options o = { 0 };
	struct fl_error err;
	fl_error_init(&err);
	o.title = "DR report \"Q1\" & <friends>";
	o.last = last;
	o.label = label;
	o.now_wall_ns = T0 + 40 * DAY;
	o.stale_days = 30;
	o.seed = 7;
	o.resamples = 200;
	assert_int_equal(fl_report_init(r, &o), 0);
	for (size_t i = 0; i < FL_ARRAY_LEN(history); i++)
		add(r, &history[i]);
	assert_int_equal(fl_report_finish(r, inv, &err), 0);
}

static void test_model(void **state)
{
	struct fl_report r;
	const struct fl_report_scenario *db, *xss;
	struct fl_asset assets[2] = { { 0 } };
	struct fl_inventory inv = { NULL, assets, 2 };
	(void)state;
	assets[0].name = (char *)"orders-db";
	assets[0].tier = 1;
	assets[0].rto_ns = 30 * FL_NS_PER_S;
	assets[0].rpo_ns = 0;
	assets[1].name = (char *)"billing";
	assets[1].tier = 2;
	assets[1].rto_ns = -1;
	assets[1].rpo_ns = -1;

	build(&r, 0, NULL, &inv);
	assert_int_equal(r.nscenarios, 2);
	assert_int_equal(r.nruns, 6);
	/* sorted by name: '<' sorts before 'd' */
	xss = &r.scenarios[0];
	db = &r.scenarios[1];
	assert_string_equal(xss->name, "<script>alert(1)</script>");
	assert_int_equal(db->nruns, 4);
	assert_int_equal(db->runs[0].id, 6);
	/* the error run has no RTO: 3 measured, pass rate counts it against */
	assert_int_equal(db->rto.n, 3);
	assert_int_equal(db->passed, 2);
	assert_float_equal(db->pass.p, 0.5, 0);
	assert_float_equal(db->rto.median, 4300, 0);
	assert_int_equal(db->lost_after, 2);
	assert_int_equal(db->lost_before, 0);
	assert_int_equal(db->nphases, 2);
	assert_string_equal(db->phases[0].name, "detect");
	assert_int_equal(db->phases[0].s.n, 3);
	assert_float_equal(db->phases[0].s.mean, 350, 1e-9);
	/* RTO <= 5 s in 2 of 3 measured runs */
	assert_float_equal(db->rto_meet.p_empirical, 2.0 / 3.0, 1e-12);
	/* no phases, no writer: NAN and -1, never zero */
	assert_int_equal(xss->nphases, 0);
	assert_int_equal(xss->lost_after, -1);
	assert_int_equal(xss->rpo.n, 0);
	assert_true(isnan(xss->rpo.mean));
	/* assets: inventory order by tier, the un-asseted scenario last; the
	 * newest drill is 35 days before "now" -> stale with 30 days */
	assert_int_equal(r.nassets, 3);
	assert_string_equal(r.assets[0].name, "orders-db");
	assert_true(r.assets[0].in_inventory);
	assert_float_equal(r.assets[0].rto_target_ms, 30000, 0);
	assert_int_equal(r.assets[0].last->id, 6);
	assert_true(r.assets[0].stale);
	assert_string_equal(r.assets[1].name, "billing");
	assert_null(r.assets[1].last);
	assert_true(r.assets[1].stale);
	assert_string_equal(r.assets[2].name, "<script>alert(1)</script>");
	assert_int_equal(r.assets[2].tier, 0);
	fl_report_release(&r);

	/* last 2 per scenario; label filter */
	build(&r, 2, NULL, NULL);
	assert_int_equal(r.nruns, 4);
	assert_int_equal(r.scenarios[1].runs[1].id, 5);
	fl_report_release(&r);
	build(&r, 0, "v2", NULL);
	assert_int_equal(r.nscenarios, 1);
	assert_int_equal(r.nruns, 2);
	fl_report_release(&r);
}

static void test_run_reason(void **state)
{
	struct fl_report r;
	struct fl_buf b;
	(void)state;
	build(&r, 0, NULL, NULL);
	fl_buf_init(&b, 0);
	/* run 6 recorded no reason: derive it from the targets and the writer */
	fl_report_run_reason(&r.scenarios[1].runs[0], &b);
	assert_string_equal(b.buf,
			    "rto 7.200 s > target 5.000 s by 2.200 s; 2 acknowledged writes lost after the fault");
	fl_buf_reset(&b);
	fl_report_run_reason(&r.scenarios[0].runs[1], &b);
	assert_string_equal(b.buf, "rto 6.100 s > target 5.000 s by 1.100 s");
	fl_buf_reset(&b);
	fl_report_run_reason(&r.scenarios[0].runs[0], &b);
	assert_string_equal(b.buf, "");
	fl_buf_release(&b);
	fl_report_release(&r);
}

static void check_golden(const char *name, const struct fl_buf *got)
{
	const char *src = getenv("FAULTLINE_SOURCE_DIR");
	char path[4096];
	struct fl_buf want;
	struct fl_error err;
	assert_non_null(src);
	snprintf(path, sizeof(path), "%s/tests/data/golden/%s", src, name);
	if (getenv("FAULTLINE_UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		assert_int_equal(fwrite(got->buf, 1, got->len, f), got->len);
		fclose(f);
	}
	fl_error_init(&err);
	fl_buf_init(&want, 0);
	if (fl_read_file(path, 1 << 24, &want, &err) < 0)
		fail_msg("%s", err.msg);
	if (strcmp(want.buf, got->buf)) {
		fprintf(stderr, "--- %s differs; got:\n%s\n", path, got->buf);
		fail_msg("golden file %s differs", name);
	}
	fl_buf_release(&want);
}

static void test_golden_json(void **state)
{
	struct fl_report r;
	struct fl_buf out;
	json_t *root;
	char *text;
	(void)state;
	build(&r, 0, NULL, NULL);
	root = fl_report_to_json(&r);
	assert_non_null(root);
	assert_string_equal(json_string_value(json_object_get(root, "schema")), FL_REPORT_SCHEMA);
	/* The version changes with every release; the golden file must not. */
	json_object_set_new(root, "faultline_version", json_string("test"));
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
	assert_non_null(text);
	fl_buf_init(&out, 0);
	fl_buf_adds(&out, text);
	fl_buf_adds(&out, "\n");
	check_golden("report.json", &out);
	free(text);
	json_decref(root);
	fl_buf_release(&out);
	fl_report_release(&r);
}

static void test_golden_junit(void **state)
{
	struct fl_report r;
	struct fl_buf out;
	struct fl_error err;
	(void)state;
	build(&r, 0, NULL, NULL);
	fl_buf_init(&out, 0);
	fl_error_init(&err);
	assert_int_equal(fl_report_write_junit(&r, &out, &err), 0);
	assert_null(strstr(out.buf, "<script"));
	check_golden("report.junit.xml", &out);
	fl_buf_release(&out);
	fl_report_release(&r);
}

/* Every attribute of the JUnit document escaped: a scenario name, label and
 * verdict holding " < > & ' come out as entities, so the XML stays
 * well-formed and no attribute can be closed early. */
static void test_junit_attributes(void **state)
{
	static const char nasty[] = "q\"<>&'x";
	static const struct spec runs[] = {
		{ 2, nasty, nasty, "odd\"<>&'", NULL, T0 + DAY, 6100, NAN, NAN, -1, NULL },
		{ 1, nasty, nasty, "fail", NULL, T0, 6100, NAN, NAN, -1, nasty },
	};
	const char *esc = "q&quot;&lt;&gt;&amp;&#39;x";
	struct fl_report r;
	struct fl_buf out, want;
	struct fl_error err;
	(void)state;
	assert_int_equal(fl_report_init(&r, NULL), 0);
	for (size_t i = 0; i < FL_ARRAY_LEN(runs); i++)
		add(&r, &runs[i]);
	fl_error_init(&err);
	assert_int_equal(fl_report_finish(&r, NULL, &err), 0);
	fl_buf_init(&out, 0);
	fl_buf_init(&want, 0);
	assert_int_equal(fl_report_write_junit(&r, &out, &err), 0);
	fl_buf_addf(&want, "<testsuite name=\"%s\"", esc);
	assert_non_null(strstr(out.buf, want.buf));
	fl_buf_reset(&want);
	fl_buf_addf(&want, "classname=\"faultline.%s\"", esc);
	assert_non_null(strstr(out.buf, want.buf));
	assert_non_null(strstr(out.buf, "<error type=\"odd&quot;&lt;&gt;&amp;&#39;\" message=\""));
	/* nothing user-given appears raw anywhere */
	assert_null(strstr(out.buf, "q\""));
	assert_null(strstr(out.buf, "odd\""));
	assert_null(strstr(out.buf, "<>"));
	assert_null(strstr(out.buf, "'x"));
	fl_buf_release(&want);
	fl_buf_release(&out);
	fl_report_release(&r);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* The Gantt timeline: one row per stage, steps nested under the stage they
 * started in (in time order), a step outside every stage on its own row,
 * each row one bar with its duration, markers for the target, detection and
 * restoration, names escaped, no script, no viewBox (labels never scale). */
static void test_gantt(void **state)
{
	struct fl_run run;
	struct fl_buf out;
	const char *p,
		*order[] = { ">prepare-dns<",         ">detect<",   ">recover<",      "↳ failover<",
			     "↳ flush&lt;cache&gt;<", ">validate<", "↳ restore-zone<" };
	enum fl_gantt_stage st;
	(void)state;

	for (int i = 0; i < FL_GANTT_NSTAGES; i++) {
		assert_int_equal(fl_gantt_stage_parse(fl_gantt_stage_name((enum fl_gantt_stage)i),
						      &st),
				 0);
		assert_int_equal(st, i);
	}
	assert_int_equal(fl_gantt_stage_parse("failover", &st), -1);
	fl_run_init(&run);
	run.id = 42;
	assert_int_equal(fl_run_add_phase(&run, "validate", 11000, 12000), 0);
	assert_int_equal(fl_run_add_phase(&run, "recover", 400, 11000), 0);
	assert_int_equal(fl_run_add_phase(&run, "flush<cache>", 10800, 10900), 0);
	assert_int_equal(fl_run_add_phase(&run, "detect", 0, 400), 0);
	assert_int_equal(fl_run_add_phase(&run, "failover", 450, 10700), 0);
	assert_int_equal(fl_run_add_phase(&run, "restore-zone", 11050, 11900), 0);
	assert_int_equal(fl_run_add_phase(&run, "prepare-dns", -300, -100), 0);
	assert_int_equal(fl_run_add_event(&run, "t_detect", 400, 10), 0);
	assert_int_equal(fl_run_add_event(&run, "t_restored", 11000, 10), 0);
	fl_buf_init(&out, 0);
	fl_report_gantt(&out, &run, 15000);
	assert_false(out.failed);
	assert_int_equal(count(out.buf, "<svg class=\"gantt\""), 1);
	assert_null(strstr(out.buf, "viewBox"));
	assert_null(strstr(out.buf, "<script"));
	assert_int_equal(count(out.buf, "<g class=\"row "), 7);
	assert_int_equal(count(out.buf, "<rect class=\"bar\""), 7);
	assert_int_equal(count(out.buf, "data-depth=\"1\""), 3);
	/* rows in order: the orphan step first (it started before t0) */
	p = out.buf;
	for (size_t i = 0; i < FL_ARRAY_LEN(order); i++) {
		const char *q = strstr(p, order[i]);
		if (!q)
			fail_msg("row %s missing or out of order", order[i]);
		p = q;
	}
	/* durations on the rows, markers labelled, distinct colours */
	assert_non_null(strstr(out.buf, "0.100 s</tspan>"));
	assert_non_null(strstr(out.buf, "RTO target 15.000 s</text>"));
	assert_non_null(strstr(out.buf, "detected 0.400 s</text>"));
	assert_non_null(strstr(out.buf, "restored 11.000 s</text>"));
	for (int i = 0; i < 7; i++) {
		char cls[32];
		snprintf(cls, sizeof(cls), "class=\"row g%d\"", i);
		assert_int_equal(count(out.buf, cls), 1);
	}
	assert_non_null(strstr(out.buf, "flush&lt;cache&gt; (in recover) 0.100 s</li>"));
	/* a target far beyond the drill is named, not drawn to scale */
	fl_buf_reset(&out);
	fl_report_gantt(&out, &run, 3600000);
	assert_non_null(strstr(out.buf, "RTO target 3600.000 s: beyond the right edge"));
	assert_null(strstr(out.buf, "<line class=\"target\""));
	fl_run_release(&run);
	/* no phases: a note, no chart */
	fl_run_init(&run);
	fl_buf_reset(&out);
	fl_report_gantt(&out, &run, NAN);
	assert_string_equal(out.buf, "<p class=\"note\">no phases recorded</p>");
	fl_run_release(&run);
	fl_buf_release(&out);
}

static void test_html(void **state)
{
	struct fl_report r;
	struct fl_buf out;
	struct fl_error err;
	(void)state;
	build(&r, 0, NULL, NULL);
	fl_buf_init(&out, 0);
	fl_error_init(&err);
	assert_int_equal(fl_report_write_html(&r, &out, &err), 0);
	/* self-contained and script-free */
	assert_null(strstr(out.buf, "<script"));
	assert_null(strstr(out.buf, "src="));
	assert_null(strstr(out.buf, "http://"));
	assert_null(strstr(out.buf, "https://"));
	assert_non_null(strstr(out.buf, "<meta name=\"viewport\""));
	assert_non_null(strstr(out.buf, "@media print"));
	/* every user string escaped, quotes included */
	assert_non_null(
		strstr(out.buf, "<title>DR report &quot;Q1&quot; &amp; &lt;friends&gt;</title>"));
	assert_true(count(out.buf, "&lt;script&gt;alert(1)&lt;/script&gt;") >= 3);
	/* one of each chart per scenario, one verdict row per scenario */
	assert_int_equal(count(out.buf, "<svg class=\"trend\""), 2);
	assert_int_equal(count(out.buf, "<svg class=\"histogram\""), 2);
	assert_int_equal(count(out.buf, "<svg class=\"gantt\""), 1);
	assert_int_equal(count(out.buf, "<tr class=\"verdict\">"), 2);
	/* missing figures print n/a, never nan */
	assert_null(strstr(out.buf, "nan"));
	assert_null(strstr(out.buf, "inf s"));
	assert_non_null(strstr(out.buf, "no phases recorded"));
	assert_non_null(strstr(out.buf, "no drill in 30 days"));
	fl_buf_release(&out);
	fl_report_release(&r);
}

static void test_html_degenerate(void **state)
{
	struct fl_report r;
	struct fl_buf out;
	struct fl_error err;
	struct spec one = { 1, "solo", NULL, "pass", NULL, T0, 2000, NAN, NAN, -1, NULL };
	struct spec same = { 2, "flat", NULL, "pass", NULL, T0, 3000, NAN, 100, -1, NULL };
	(void)state;
	fl_error_init(&err);
	/* empty: says there is no evidence */
	assert_int_equal(fl_report_init(&r, NULL), 0);
	assert_int_equal(fl_report_finish(&r, NULL, &err), 0);
	fl_buf_init(&out, 0);
	assert_int_equal(fl_report_write_html(&r, &out, &err), 0);
	assert_non_null(strstr(out.buf, "no evidence of recovery"));
	fl_buf_reset(&out);
	assert_int_equal(fl_report_write_markdown(&r, &out, &err), 0);
	assert_non_null(strstr(out.buf, "No runs match"));
	fl_report_release(&r);
	/* one run, and identical runs (sd 0): no NaN anywhere */
	assert_int_equal(fl_report_init(&r, NULL), 0);
	add(&r, &one);
	for (int i = 0; i < 4; i++) {
		same.id = 2 + i;
		same.t = T0 - i * DAY;
		add(&r, &same);
	}
	assert_int_equal(fl_report_finish(&r, NULL, &err), 0);
	fl_buf_reset(&out);
	assert_int_equal(fl_report_write_html(&r, &out, &err), 0);
	assert_null(strstr(out.buf, "nan"));
	assert_non_null(strstr(out.buf, "not enough runs spread over time"));
	fl_buf_reset(&out);
	assert_int_equal(fl_report_write_markdown(&r, &out, &err), 0);
	assert_null(strstr(out.buf, "nan"));
	fl_buf_reset(&out);
	assert_int_equal(fl_report_write_json(&r, &out, &err), 0);
	assert_null(strstr(out.buf, "nan"));
	fl_buf_release(&out);
	fl_report_release(&r);
}

static void test_markdown(void **state)
{
	struct fl_report r;
	struct fl_buf out;
	struct fl_error err;
	(void)state;
	build(&r, 0, NULL, NULL);
	fl_buf_init(&out, 0);
	fl_error_init(&err);
	assert_int_equal(fl_report_write_markdown(&r, &out, &err), 0);
	assert_null(strstr(out.buf, "<script"));
	assert_non_null(
		strstr(out.buf, "| &lt;script&gt;alert(1)&lt;/script&gt; | 2 | 50 % (9 %–91 %) |"));
	assert_non_null(strstr(out.buf, "| db-failover | 4 | 50 % (15 %–85 %) |"));
	fl_buf_release(&out);
	fl_report_release(&r);
}

/* A chaos tool should survive its own chaos: fail the n-th allocation for
 * every n until a whole report goes through; each attempt must fail cleanly
 * (ASan checks for leaks and bad frees). */
static void test_alloc_failures(void **state)
{
	struct fl_run runs[3];
	long n, done = 0;
	(void)state;
	for (int i = 0; i < 3; i++) {
		fl_run_init(&runs[i]);
		runs[i].id = i + 1;
		runs[i].scenario = fl_strdup(i ? "a" : "b");
		runs[i].verdict = fl_strdup(i == 1 ? "fail" : "pass");
		runs[i].label = fl_strdup("v1");
		runs[i].started_wall_ns = T0 - i * DAY;
		runs[i].rto_ms = 1000 + 500 * i;
		runs[i].rto_target_ms = 1200;
		assert_int_equal(fl_run_add_phase(&runs[i], "detect", 0, 100), 0);
		assert_int_equal(fl_run_add_failure(&runs[i], "reason %d", i), 0);
	}
	for (n = 1; n < 100000 && !done; n++) {
		struct fl_report_options o = { 0 };
		struct fl_report r;
		struct fl_error err;
		struct fl_buf out;
		int rc = 0;
		o.baseline = "v0";
		o.candidate = "v1";
		o.resamples = 50;
		fl_error_init(&err);
		fl_buf_init(&out, 0);
		fl_alloc_fail_after(n);
		if (fl_report_init(&r, &o) < 0) {
			fl_alloc_fail_after(-1);
			continue;
		}
		for (int i = 0; i < 3 && rc >= 0; i++)
			rc = fl_report_add_run(&r, &runs[i], &err);
		if (rc >= 0)
			rc = fl_report_finish(&r, NULL, &err);
		if (rc >= 0)
			rc = fl_report_write_html(&r, &out, &err);
		if (rc >= 0)
			rc = fl_report_write_junit(&r, &out, &err);
		if (rc >= 0)
			rc = fl_report_write_markdown(&r, &out, &err);
		if (rc >= 0)
			rc = fl_report_write_json(&r, &out, &err);
		fl_alloc_fail_after(-1);
		if (rc < 0)
			assert_true(err.msg[0] != '\0');
		else
			done = 1;
		fl_report_release(&r);
		fl_buf_release(&out);
	}
	assert_true(done);
	assert_true(n > 20); /* the loop really failed allocations along the way */
	print_message("report survived %ld failed allocations\n", n - 2);
	for (int i = 0; i < 3; i++)
		fl_run_release(&runs[i]);
}

/* ---- the store path at scale: columns, a window query, runs kept in full ---- */

static void store_add(struct fl_store *st, int i, const char *scenario, const char *verdict)
{
	struct fl_run run;
	struct fl_error err;
	fl_error_init(&err);
	fl_run_init(&run);
	run.scenario = FL_UNCONST(char *, scenario);
	run.environment = FL_UNCONST(char *, "staging");
	run.label = (char *)(i % 3 ? "v1" : "v2");
	run.asset = (char *)"orders-db";
	run.asset_tier = 1;
	run.verdict = (char *)"running";
	run.started_wall_ns = T0 + i * DAY;
	assert_int_equal(fl_store_run_begin(st, &run, &err), 0);
	run.verdict = FL_UNCONST(char *, verdict);
	run.duration_ms = 9000;
	/* some runs measured nothing; some lack a phase or have an extra one */
	run.rto_ms = i % 7 == 3 ? NAN : 3000 + (i * 37) % 900;
	run.rto_uncertainty_ms = 10;
	run.rpo_ms = i % 2 ? 100.0 * i : NAN;
	run.ttv_ms = isnan(run.rto_ms) ? NAN : run.rto_ms + 400;
	run.rto_target_ms = i > 20 ? 3500 : 4000;
	run.lost_before_fault = i % 4 ? 0 : -1;
	run.lost_after_fault = i % 4 ? i % 5 == 0 : -1;
	if (!isnan(run.rto_ms)) {
		if (i % 5)
			assert_int_equal(fl_run_add_phase(&run, "detect", 0, 200 + i), 0);
		assert_int_equal(fl_run_add_phase(&run, "recover", 200 + i, run.rto_ms), 0);
		if (i % 6 == 0)
			assert_int_equal(fl_run_add_phase(&run, "restore", 10, 20 + i), 0);
	}
	if (strcmp(verdict, "pass"))
		assert_int_equal(fl_run_add_failure(&run, "reason %d", i), 0);
	if (strcmp(verdict, "running"))
		assert_int_equal(fl_store_run_finish(st, &run, &err), 0);
	run.scenario = run.environment = run.label = run.asset = run.verdict = NULL;
	fl_run_release(&run);
}

static int add_cb(const struct fl_run *run, void *ctx)
{
	struct fl_error err;
	fl_error_init(&err);
	return fl_report_add_run(ctx, run, &err) < 0;
}

static void assert_within(double a, double b, double rel)
{
	assert_true(isnan(a) == isnan(b));
	if (!isnan(a))
		assert_true(fabs(a - b) <= rel * fmax(1.0, fabs(b)));
}

static void assert_near(double a, double b)
{
	assert_within(a, b, 1e-9);
}

static void assert_same_double(double x, double y)
{
	assert_true(memcmp(&x, &y, sizeof(double)) == 0 || (isnan(x) && isnan(y)));
}

/* A comparison from the sorted streams (fl_stats_compare_sorted) against
 * one from the columns (fl_stats_compare): bit for bit. */
static void assert_compare_same(const struct fl_compare *a, const struct fl_compare *b)
{
	const double x[] = { a->median_base,  a->median_cand, a->mw.u,           a->mw.z,
			     a->mw.p,         a->mw.effect,   a->welch_log.diff, a->welch_log.t,
			     a->welch_log.df, a->welch_log.p, a->welch_log.lo,   a->welch_log.hi,
			     a->ratio,        a->ratio_lo,    a->ratio_hi };
	const double y[] = { b->median_base,  b->median_cand, b->mw.u,           b->mw.z,
			     b->mw.p,         b->mw.effect,   b->welch_log.diff, b->welch_log.t,
			     b->welch_log.df, b->welch_log.p, b->welch_log.lo,   b->welch_log.hi,
			     b->ratio,        b->ratio_lo,    b->ratio_hi };
	assert_int_equal(a->n_base, b->n_base);
	assert_int_equal(a->n_cand, b->n_cand);
	assert_int_equal(a->mw.na, b->mw.na);
	assert_int_equal(a->mw.nb, b->mw.nb);
	assert_int_equal(a->mw.exact, b->mw.exact);
	for (size_t i = 0; i < FL_ARRAY_LEN(x); i++)
		assert_same_double(x[i], y[i]);
}

/* The streamed summary (report_stream.c, no comparison asked) against the
 * columns' (GSL on the whole window): order statistics and the bootstrap
 * bit for bit, mean and sd (running, long double) to 1e-9. */
static void assert_summary_streamed(const struct fl_summary *a, const struct fl_summary *b)
{
	const double x[] = { a->median, a->p90, a->p95, a->p99, a->min, a->max, a->p95_lo, a->p95_hi };
	const double y[] = { b->median, b->p90, b->p95, b->p99, b->min, b->max, b->p95_lo, b->p95_hi };
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < FL_ARRAY_LEN(x); i++)
		assert_true(memcmp(&x[i], &y[i], sizeof(double)) == 0 ||
			    (isnan(x[i]) && isnan(y[i])));
	assert_near(a->mean, b->mean);
	assert_near(a->sd, b->sd);
	assert_near(a->mean_lo, b->mean_lo);
	assert_near(a->mean_hi, b->mean_hi);
}

static void assert_trend_near(const struct fl_trend *a, const struct fl_trend *b)
{
	assert_int_equal(a->n, b->n);
	assert_near(a->slope, b->slope);
	/* The interval's width comes from the residuals, which in a
	 * near-perfect fit (an RPO exactly linear in time here) are rounding
	 * noise either way: running co-moments vs GSL's residual pass, in
	 * double where long double is not (valgrind). */
	assert_within(a->slope_lo, b->slope_lo, 1e-5);
	assert_within(a->slope_hi, b->slope_hi, 1e-5);
	assert_within(a->p, b->p, 1e-5);
}

/* Without a comparison fl_report_load streams (report_stream.c): the same
 * figures as the columns of b, histogram included. */
static void check_stream_matches(struct fl_store *st, const struct fl_report_options *base,
				 const struct fl_report *b)
{
	struct fl_report_options o = *base;
	struct fl_report c;
	struct fl_error err;

	fl_error_init(&err);
	o.baseline = o.candidate = NULL;
	o.keep_runs = 3;
	assert_int_equal(fl_report_init(&c, &o), 0);
	assert_int_equal(fl_report_load(&c, st, &err), 0);
	assert_int_equal(fl_report_finish(&c, NULL, &err), 0);
	assert_int_equal(c.nscenarios, b->nscenarios);
	for (size_t i = 0; i < c.nscenarios; i++) {
		const struct fl_report_scenario *x = &c.scenarios[i], *y = &b->scenarios[i];
		assert_string_equal(x->name, y->name);
		assert_int_equal(x->nruns, y->nruns);
		assert_int_equal(x->passed, y->passed);
		assert_int_equal(x->lost_after, y->lost_after);
		assert_int_equal(x->loss_measured, y->loss_measured);
		assert_int_equal(x->series.n, 0);
		assert_summary_streamed(&x->rto, &y->rto);
		assert_summary_streamed(&x->rpo, &y->rpo);
		assert_summary_streamed(&x->ttv, &y->ttv);
		assert_int_equal(x->nphases, y->nphases);
		for (size_t k = 0; k < x->nphases; k++) {
			assert_string_equal(x->phases[k].name, y->phases[k].name);
			assert_summary_streamed(&x->phases[k].s, &y->phases[k].s);
		}
		assert_near(x->pass.lo, y->pass.lo);
		assert_near(x->rto_meet.mu, y->rto_meet.mu);
		assert_near(x->rto_meet.sigma, y->rto_meet.sigma);
		assert_near(x->rto_meet.p_model, y->rto_meet.p_model);
		assert_near(x->rto_meet.p_empirical, y->rto_meet.p_empirical);
		assert_trend_near(&x->rto_trend, &y->rto_trend);
		assert_trend_near(&x->rpo_trend, &y->rpo_trend);
		assert_int_equal(x->chart.total, y->chart.total);
		assert_int_equal(x->chart.n, y->chart.n); /* under 400 runs: every run */
		assert_true(x->chart.t0 == y->chart.t0 && x->chart.t1 == y->chart.t1);
		assert_true(x->chart.ymax_ms == y->chart.ymax_ms);
		assert_int_equal(x->rto_hist.bins, y->rto_hist.bins);
		for (size_t k = 0; k < x->rto_hist.bins; k++)
			assert_true(x->rto_hist.count[k] == y->rto_hist.count[k] &&
				    x->rto_hist.range[k] == y->rto_hist.range[k]);
		assert_string_equal(x->asset, y->asset);
	}
	fl_report_release(&c);
}

/* fl_report_load (one window query per scenario, 3 runs kept in full,
 * streamed even with a baseline and a candidate) must give the statistics
 * of the old path — every run of the window copied in full through
 * fl_report_add_run, computed from columns: the summaries as streamed
 * ones, every figure's comparison bit for bit. */
static void check_load_matches(struct fl_store *st, long last, const char *label, int64_t since)
{
	struct fl_report_options o = { 0 };
	struct fl_report a, b;
	struct fl_run_filter f = { 0 };
	struct fl_error err;

	fl_error_init(&err);
	o.last = last;
	o.label = label;
	o.since_wall_ns = since;
	o.baseline = "v1";
	o.candidate = "v2";
	o.resamples = 300;
	o.now_wall_ns = T0 + 90 * DAY;
	o.keep_runs = 3;
	assert_int_equal(fl_report_init(&a, &o), 0);
	assert_int_equal(fl_report_load(&a, st, &err), 0);
	assert_int_equal(fl_report_finish(&a, NULL, &err), 0);
	o.keep_runs = 1000;
	assert_int_equal(fl_report_init(&b, &o), 0);
	assert_int_equal(fl_store_runs_each(st, &f, add_cb, &b, &err), 0);
	assert_int_equal(fl_report_finish(&b, NULL, &err), 0);

	assert_int_equal(a.nscenarios, b.nscenarios);
	assert_int_equal(a.nruns, b.nruns);
	for (size_t i = 0; i < a.nscenarios; i++) {
		const struct fl_report_scenario *x = &a.scenarios[i], *y = &b.scenarios[i];
		assert_string_equal(x->name, y->name);
		assert_int_equal(x->nruns, y->nruns);
		assert_int_equal(x->nkept, x->nruns < 3 ? x->nruns : 3);
		assert_int_equal(y->nkept, y->nruns);
		for (size_t k = 0; k < x->nkept; k++) {
			assert_int_equal(x->runs[k].id, y->runs[k].id);
			assert_int_equal(x->runs[k].nphases, y->runs[k].nphases);
			assert_int_equal(x->runs[k].nfailures, y->runs[k].nfailures);
		}
		assert_summary_streamed(&x->rto, &y->rto);
		assert_summary_streamed(&x->rpo, &y->rpo);
		assert_summary_streamed(&x->ttv, &y->ttv);
		assert_true(x->has_compare && y->has_compare);
		assert_compare_same(&x->compare, &y->compare);
		assert_compare_same(&x->compare_rpo, &y->compare_rpo);
		assert_compare_same(&x->compare_ttv, &y->compare_ttv);
		assert_int_equal(x->nphases, y->nphases);
		for (size_t k = 0; k < x->nphases; k++) {
			assert_string_equal(x->phases[k].name, y->phases[k].name);
			assert_summary_streamed(&x->phases[k].s, &y->phases[k].s);
			assert_compare_same(&x->phases[k].compare, &y->phases[k].compare);
		}
		assert_int_equal(x->series.n, 0);
		assert_int_equal(x->passed, y->passed);
		assert_int_equal(x->lost_before, y->lost_before);
		assert_int_equal(x->lost_after, y->lost_after);
		assert_int_equal(x->loss_measured, y->loss_measured);
		assert_true(x->rto_target_ms == y->rto_target_ms);
		assert_trend_near(&x->rto_trend, &y->rto_trend);
		assert_string_equal(x->asset, y->asset);
	}
	check_stream_matches(st, &o, &b);
	fl_report_release(&a);
	fl_report_release(&b);
}

static void test_load_scale_path(void **state)
{
	struct fl_store *st;
	struct fl_error err;
	struct fl_report r;
	struct fl_report_options o = { 0 };
	struct fl_buf out;
	(void)state;
	fl_error_init(&err);
	st = fl_store_open(":memory:", &err);
	assert_non_null(st);
	for (int i = 0; i < 40; i++)
		store_add(st, i, i % 4 == 1 ? "cache-partition" : "db-failover",
			  i == 39      ? "running"
			  : i % 9 == 4 ? "error"
			  : i % 3      ? "pass"
				       : "fail");
	check_load_matches(st, 0, NULL, 0);
	check_load_matches(st, 5, NULL, 0);
	check_load_matches(st, 4, "v1", T0 + 10 * DAY);
	check_load_matches(st, 0, "v3", 0);

	/* The newest 3 of 29 runs in full: the run table and JUnit say so. */
	o.keep_runs = 3;
	o.scenario = "db-failover";
	assert_int_equal(fl_report_init(&r, &o), 0);
	assert_int_equal(fl_report_load(&r, st, &err), 0);
	assert_int_equal(fl_report_finish(&r, NULL, &err), 0);
	assert_int_equal(r.nscenarios, 1);
	assert_int_equal(r.scenarios[0].nruns, 29);       /* 30 minus the one still running */
	assert_int_equal(r.scenarios[0].chart.total, 29); /* drawn from every run */
	assert_int_equal(r.scenarios[0].series.n, 0);     /* columns let go once computed */
	assert_int_equal(r.scenarios[0].runs[0].id, 39);  /* run 40 is running */
	fl_buf_init(&out, 0);
	assert_int_equal(fl_report_write_junit(&r, &out, &err), 0);
	assert_non_null(strstr(out.buf, "tests=\"3\""));
	assert_non_null(strstr(out.buf, "<property name=\"runs_in_window\" value=\"29\"/>"));
	assert_int_equal(count(out.buf, "<testcase "), 3);
	fl_buf_reset(&out);
	assert_int_equal(fl_report_write_html(&r, &out, &err), 0);
	assert_non_null(strstr(out.buf, "Latest 3 of 29 runs listed"));
	fl_buf_reset(&out);
	assert_int_equal(fl_report_write_json(&r, &out, &err), 0);
	assert_non_null(strstr(out.buf, "\"runs_in_window\": 29,\n      \"runs_listed\": 3,"));
	fl_buf_release(&out);
	fl_report_release(&r);
	fl_store_close(st);
}

/* A window longer than the chart: the report keeps every stride-th run and
 * the window's extents, and the RTO histogram counts every run, then lets
 * the columns go (issue 14: memory must not grow with the history). */
static void test_chart_sample(void **state)
{
	struct fl_report r;
	struct fl_report_options o = { 0 };
	struct fl_error err;
	struct fl_buf out;
	struct fl_run run;
	const struct fl_report_scenario *s;
	double total = 0;
	(void)state;

	o.now_wall_ns = T0 + 2000 * DAY;
	assert_int_equal(fl_report_init(&r, &o), 0);
	fl_error_init(&err);
	for (int i = 999; i >= 0; i--) { /* newest first, as the store yields */
		fl_run_init(&run);
		run.scenario = FL_UNCONST(char *, "many");
		run.verdict = FL_UNCONST(char *, i % 10 ? "pass" : "fail");
		run.started_wall_ns = T0 + (int64_t)i * DAY;
		run.rto_ms = 1000.0 + i; /* 1.000 .. 1.999 s */
		assert_int_equal(fl_report_add_run(&r, &run, &err), 1);
	}
	assert_int_equal(fl_report_finish(&r, NULL, &err), 0);
	s = &r.scenarios[0];
	assert_int_equal(s->series.n, 0);
	assert_null(s->series.rto);
	assert_int_equal(s->chart.total, 1000);
	assert_int_equal(s->chart.stride, 3); /* ceil(1000 / 400) */
	assert_int_equal(s->chart.n, 334);
	assert_true(s->chart.rto[0] == 1999.0 && s->chart.rto[1] == 1996.0);
	assert_true(s->chart.t0 == T0 && s->chart.t1 == T0 + 999 * DAY);
	assert_true(s->chart.ymax_ms == 1999.0 && !s->chart.has_rpo);
	/* Sturges: ceil(log2 1000) + 1 = 11 bins over [1, 1.999] s, 1000 runs */
	assert_int_equal(s->rto_hist.bins, 11);
	assert_true(s->rto_hist.range[0] == 1.0);
	for (size_t b = 0; b < s->rto_hist.bins; b++)
		total += s->rto_hist.count[b];
	assert_true(total == 1000.0);
	assert_true(s->rto_hist.count[0] == 91.0); /* 1.000 .. 1.090 s: width 0.999/11 */
	/* a run added after the statistics is refused, not half-counted */
	fl_run_init(&run);
	run.scenario = FL_UNCONST(char *, "many");
	run.verdict = FL_UNCONST(char *, "pass");
	run.started_wall_ns = T0;
	assert_int_equal(fl_report_add_run(&r, &run, &err), -1);
	fl_buf_init(&out, 0);
	fl_error_init(&err);
	assert_int_equal(fl_report_write_html(&r, &out, &err), 0);
	assert_non_null(strstr(out.buf, "Showing every 3-th run (334 of 1000)."));
	assert_non_null(strstr(out.buf, "1000 runs in 11 bins (Sturges)"));
	assert_int_equal(count(out.buf, "<circle class=\"rto"), 334);
	assert_int_equal(count(out.buf, "<rect class=\"bar\""), 11);
	fl_buf_release(&out);
	fl_report_release(&r);
}

/* Streamed from the store, the chart's stride doubles as the window grows
 * (report_stream.c): 1000 runs keep every 4th, newest first. */
static void test_stream_chart_sample(void **state)
{
	struct fl_store *st;
	struct fl_error err;
	struct fl_report r;
	struct fl_report_options o = { 0 };
	const struct fl_report_scenario *s;
	double total = 0;
	(void)state;
	fl_error_init(&err);
	st = fl_store_open(":memory:", &err);
	assert_non_null(st);
	for (int i = 0; i < 1000; i++)
		store_add(st, i, "many", "pass");
	o.now_wall_ns = T0 + 2000 * DAY;
	assert_int_equal(fl_report_init(&r, &o), 0);
	assert_int_equal(fl_report_load(&r, st, &err), 0);
	assert_int_equal(fl_report_finish(&r, NULL, &err), 0);
	s = &r.scenarios[0];
	assert_int_equal(s->nruns, 1000);
	assert_int_equal(s->chart.total, 1000);
	assert_int_equal(s->chart.stride, 4);
	assert_int_equal(s->chart.n, 250);
	assert_true(s->chart.started_wall_ns[0] == T0 + 999 * DAY);
	assert_true(s->chart.started_wall_ns[1] == T0 + 995 * DAY);
	assert_true(s->chart.t0 == T0 && s->chart.t1 == T0 + 999 * DAY);
	for (size_t b = 0; b < s->rto_hist.bins; b++)
		total += s->rto_hist.count[b];
	assert_true(total == (double)s->rto.n);
	assert_int_equal(s->rto.n, 1000 - 143); /* i % 7 == 3 measured nothing */
	fl_report_release(&r);
	fl_store_close(st);
}

/* The streamed load (report_stream.c) fails cleanly at every allocation:
 * an error set, nothing leaked (ASan), and it succeeds in the end. */
/* Few runs: every allocation of a load is failed once, so the cost grows
 * with the square of the allocations one load makes. */
static void stream_alloc_failures(struct fl_store *st, int compare)
{
	struct fl_error err;
	long n, done = 0, stride = 1;
	/* FAULTLINE_ALLOCFAIL_STRIDE=k tries every k-th point only (valgrind). */
	if (getenv("FAULTLINE_ALLOCFAIL_STRIDE") &&
	    fl_parse_long(getenv("FAULTLINE_ALLOCFAIL_STRIDE"), 1, 1000, &stride) < 0)
		stride = 1;
	for (n = 1; n < 100000 && !done; n += stride) {
		struct fl_report_options o = { 0 };
		struct fl_report r;
		struct fl_buf out;
		int rc;
		o.resamples = 50;
		o.baseline = compare ? "v1" : NULL; /* every figure compared, streamed */
		o.candidate = compare ? "v2" : NULL;
		fl_error_init(&err);
		fl_buf_init(&out, 0);
		fl_alloc_fail_after(n);
		if (fl_report_init(&r, &o) < 0) {
			fl_alloc_fail_after(-1);
			continue;
		}
		rc = fl_report_load(&r, st, &err);
		if (rc >= 0)
			rc = fl_report_finish(&r, NULL, &err);
		if (rc >= 0)
			rc = fl_report_write_json(&r, &out, &err);
		fl_alloc_fail_after(-1);
		/* An error, never mistaken for the temporary file's (the
		 * sorters of 4 runs never spill). */
		if (rc >= 0)
			done = 1;
		else if (!err.msg[0] || strstr(err.msg, "temporary"))
			fail_msg("'%s'", err.msg);
		fl_report_release(&r);
		fl_buf_release(&out);
	}
	assert_true(done);
	assert_true(n > 20 * stride);
	print_message("streamed report%s survived %ld failed allocations\n",
		      compare ? " with a comparison" : "", (n - 2) / stride);
}

static void test_stream_alloc_failures(void **state)
{
	struct fl_store *st;
	struct fl_error err;
	(void)state;
	fl_error_init(&err);
	st = fl_store_open(":memory:", &err);
	assert_non_null(st);
	for (int i = 0; i < 4; i++)
		store_add(st, i, i % 3 ? "db-failover" : "cache", i % 2 ? "pass" : "fail");
	stream_alloc_failures(st, 0);
	stream_alloc_failures(st, 1);
	fl_store_close(st);
}

static void test_parse_date(void **state)
{
	int64_t ns;
	(void)state;
	assert_int_equal(fl_report_parse_date("2026-01-01", &ns), 0);
	assert_true(ns == T0);
	assert_int_equal(fl_report_parse_date("2026-01-02T00:00:00Z", &ns), 0);
	assert_true(ns == T0 + DAY);
	assert_int_equal(fl_report_parse_date("2026-01-01x", &ns), -1);
	assert_int_equal(fl_report_parse_date("yesterday", &ns), -1);
	assert_int_equal(fl_report_parse_date("2026-01-02T00:00:00", &ns), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_run_reason),
		cmocka_unit_test(test_golden_json),
		cmocka_unit_test(test_golden_junit),
		cmocka_unit_test(test_junit_attributes),
		cmocka_unit_test(test_gantt),
		cmocka_unit_test(test_html),
		cmocka_unit_test(test_html_degenerate),
		cmocka_unit_test(test_markdown),
		cmocka_unit_test(test_alloc_failures),
		cmocka_unit_test(test_load_scale_path),
		cmocka_unit_test(test_chart_sample),
		cmocka_unit_test(test_stream_chart_sample),
		cmocka_unit_test(test_stream_alloc_failures),
		cmocka_unit_test(test_parse_date),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
