/*
 * report_junit: JUnit XML writer. See report_junit.h.
 */
#include "reports/report_junit.h"
#include "reports/report_format.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"

#include <math.h>
#include <string.h>

static int is_verdict(const struct fl_run *run, const char *v)
{
	return run->verdict && !strcmp(run->verdict, v);
}

static void testcase(struct fl_buf *out, const struct fl_report_scenario *s, const struct fl_run *run)
{
	char ts[40], a[32], b[32];
	struct fl_buf reason;

	fl_buf_init(&reason, 0);
	fl_buf_adds(out, "    <testcase classname=\"faultline.");
	fl_report_escape_xml(out, s->name);
	fl_buf_addf(out, "\" name=\"run %lld %s", (long long)run->id,
		    fl_rfc3339(run->started_wall_ns, ts, sizeof(ts)));
	if (run->label) {
		fl_buf_adds(out, " ");
		fl_report_escape_xml(out, run->label);
	}
	fl_buf_addf(out, "\" time=\"%.3f\">\n",
		    isnan(run->duration_ms) ? 0.0 : run->duration_ms / 1000.0);
	if (!is_verdict(run, "pass")) {
		const char *tag = is_verdict(run, "fail") ? "failure" : "error";
		fl_report_run_reason(run, &reason);
		/* The verdict is a string from the store, not a fixed word: a
		 * foreign or older database can hold anything, so it is escaped
		 * like every other attribute. */
		fl_buf_addf(out, "      <%s type=\"", tag);
		fl_report_escape_xml(out, run->verdict ? run->verdict : "unknown");
		fl_buf_adds(out, "\" message=\"");
		fl_report_escape_xml(out, reason.buf);
		fl_buf_adds(out, "\">");
		fl_report_escape_xml(out, reason.buf);
		fl_buf_addf(out, "</%s>\n", tag);
	}
	fl_buf_addf(out, "      <system-out>RTO %s", fl_stats_fmt_s(run->rto_ms, a, sizeof(a)));
	if (!isnan(run->rto_ms) && !isnan(run->rto_uncertainty_ms))
		fl_buf_addf(out, " &#177; %s", fl_stats_fmt_s(run->rto_uncertainty_ms, b, sizeof(b)));
	fl_buf_addf(out, " (target %s)", fl_stats_fmt_s(run->rto_target_ms, a, sizeof(a)));
	fl_buf_addf(out, ", RPO %s", fl_stats_fmt_s(run->rpo_ms, a, sizeof(a)));
	if (!isnan(run->rpo_ms) && !isnan(run->rpo_uncertainty_ms))
		fl_buf_addf(out, " &#177; %s", fl_stats_fmt_s(run->rpo_uncertainty_ms, b, sizeof(b)));
	fl_buf_addf(out, " (target %s)", fl_stats_fmt_s(run->rpo_target_ms, a, sizeof(a)));
	if (run->lost_before_fault >= 0)
		fl_buf_addf(out, ", %ld acknowledged writes lost before the fault",
			    run->lost_before_fault);
	if (run->lost_after_fault >= 0)
		fl_buf_addf(out, ", %ld acknowledged writes lost after the fault",
			    run->lost_after_fault);
	fl_buf_adds(out, "</system-out>\n    </testcase>\n");
	fl_buf_release(&reason);
}

int fl_report_write_junit(const struct fl_report *r, struct fl_buf *out, struct fl_error *err)
{
	long tests = 0, failures = 0, errors = 0;
	char ts[40];

	for (size_t i = 0; i < r->nscenarios; i++)
		for (size_t k = 0; k < r->scenarios[i].nkept; k++) {
			const struct fl_run *run = &r->scenarios[i].runs[k];
			tests++;
			failures += is_verdict(run, "fail");
			errors += !is_verdict(run, "fail") && !is_verdict(run, "pass");
		}
	fl_buf_adds(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"");
	fl_report_escape_xml(out, r->title);
	fl_buf_addf(out, "\" tests=\"%ld\" failures=\"%ld\" errors=\"%ld\" timestamp=\"%s\">\n",
		    tests, failures, errors, fl_rfc3339(r->generated_wall_ns, ts, sizeof(ts)));
	for (size_t i = 0; i < r->nscenarios; i++) {
		const struct fl_report_scenario *s = &r->scenarios[i];
		long f = 0, e = 0;
		double t = 0;
		for (size_t k = 0; k < s->nkept; k++) {
			f += is_verdict(&s->runs[k], "fail");
			e += !is_verdict(&s->runs[k], "fail") && !is_verdict(&s->runs[k], "pass");
			if (!isnan(s->runs[k].duration_ms))
				t += s->runs[k].duration_ms / 1000.0;
		}
		fl_buf_adds(out, "  <testsuite name=\"");
		fl_report_escape_xml(out, s->name);
		fl_buf_addf(out, "\" tests=\"%zu\" failures=\"%ld\" errors=\"%ld\" time=\"%.3f\">\n",
			    s->nkept, f, e, t);
		if (s->nkept < s->nruns)
			/* Test cases are the newest runs the report holds in full;
			 * say how many the window had, so nobody reads the counts
			 * as the whole history. */
			fl_buf_addf(out,
				    "    <properties>\n      <property name=\"runs_in_window\" value=\"%zu\"/>\n"
				    "      <property name=\"runs_listed\" value=\"%zu\"/>\n    </properties>\n",
				    s->nruns, s->nkept);
		for (size_t k = 0; k < s->nkept; k++)
			testcase(out, s, &s->runs[k]);
		fl_buf_adds(out, "  </testsuite>\n");
	}
	fl_buf_adds(out, "</testsuites>\n");
	if (out->failed)
		return fl_error_set(err, FL_EXIT_ENV, "report: output too large or out of memory");
	return 0;
}

const struct fl_report_format fl_report_format_junit = {
	.name = "junit",
	.extension = "xml",
	.content_type = "application/xml",
	.default_output = "-",
	.summary = "JUnit XML for CI test tabs, one test case per run",
	.render = fl_report_write_junit,
};
