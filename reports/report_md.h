/*
 * report_md: a Markdown summary for a CI job summary (GitHub's
 * $GITHUB_STEP_SUMMARY, GitLab merge-request notes): one table row per
 * scenario with runs, pass rate and its Wilson interval, p95 RTO with its
 * bootstrap interval against the target, and the trend and comparison
 * sentences. User strings are escaped so a scenario name cannot inject
 * Markdown or HTML. Does not own: computing anything (report.c).
 */
#ifndef FAULTLINE_REPORT_MD_H
#define FAULTLINE_REPORT_MD_H

#include "reports/report.h"
#include "core/error.h"
#include "core/buf.h"

/* Appends the summary to out. 0, or -1 with err set. */
int fl_report_write_markdown(const struct fl_report *r, struct fl_buf *out, struct fl_error *err);

#endif
