/*
 * metrics: drill results as Prometheus text exposition (format 0.0.4), for
 * node_exporter's textfile collector or a Pushgateway.
 *
 * Owns: the metric names and labels, and the exposition text. One series
 * per scenario from its newest finished run (labels scenario, asset,
 * environment): last run time, pass, RTO/RPO achieved and their targets,
 * lost acknowledged writes, duration; stored runs per scenario and verdict;
 * per asset the last drill time and whether it is stale. NaN figures (not
 * measured) are left out rather than exported as NaN, so alert rules on
 * them do not misfire. Does not own: writing the file atomically or pushing
 * (cli/cmd_metrics.c), or the statistics (report.c).
 */
#ifndef FAULTLINE_METRICS_H
#define FAULTLINE_METRICS_H

#include "core/buf.h"
#include "core/error.h"
#include "reports/report.h"

/* Appends the exposition of a finished report (fl_report_finish) to out.
 * 0, or -1 with err set (out of memory). */
int fl_metrics_write(const struct fl_report *r, struct fl_buf *out, struct fl_error *err);

#endif
