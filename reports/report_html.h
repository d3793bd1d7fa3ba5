/*
 * report_html: the stakeholder report — one self-contained HTML file (inline
 * CSS and SVG drawn here, no JavaScript, no external fonts or images) that
 * works offline, as an e-mail attachment, printed (@media print) and on a
 * phone (viewport meta, fluid widths).
 *
 * Contents: an executive summary of assets by tier (target vs achieved
 * RTO/RPO of the latest drill, verdict, last drilled, assets with no drill in
 * N days flagged), the verdict table (one row per scenario), and per scenario
 * its statistics with their intervals and sentences, an RTO/RPO trend chart
 * against the target line (<svg class="trend">), an RTO histogram
 * (<svg class="histogram">), a Gantt timeline of the latest run with
 * phases (<svg class="gantt">, report_gantt.h) and a table of runs. Every user-provided string
 * is escaped (&, <, >, ", '). Does not own: computing anything (report.c).
 */
#ifndef FAULTLINE_REPORT_HTML_H
#define FAULTLINE_REPORT_HTML_H

#include "reports/report.h"
#include "core/error.h"
#include "core/buf.h"

#define FL_REPORT_HTML_MAX_POINTS FL_REPORT_CHART_POINTS /* trend points drawn per scenario */
#define FL_REPORT_HTML_MAX_ROWS 50                       /* runs listed per scenario table */

/* Appends the document to out. 0, or -1 with err set. */
int fl_report_write_html(const struct fl_report *r, struct fl_buf *out, struct fl_error *err);

#endif
