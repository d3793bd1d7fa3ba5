/*
 * report_junit: JUnit XML for CI test tabs — one <testsuite> per scenario,
 * one <testcase> per run the report holds in full (the newest keep_runs of
 * the window; when the window has more, the suite's <properties> carry
 * runs_in_window and runs_listed). A failed run carries a <failure>
 * whose message names the missed target and by how much (its recorded
 * reasons, else "rto 7.200 s > target 5.000 s by 2.200 s"); a run that
 * could not be carried out ("error", "aborted") is an <error>. Every string
 * is XML-escaped. Does not own: computing anything (report.c).
 */
#ifndef FAULTLINE_REPORT_JUNIT_H
#define FAULTLINE_REPORT_JUNIT_H

#include "reports/report.h"
#include "core/error.h"
#include "core/buf.h"

/* Appends the document to out. 0, or -1 with err set. */
int fl_report_write_junit(const struct fl_report *r, struct fl_buf *out, struct fl_error *err);

#endif
