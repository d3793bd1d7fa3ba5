/*
 * report_json: the whole report as one JSON document, versioned by the
 * "schema" field (FL_REPORT_SCHEMA, "faultline.report/1"): window, method
 * (percentile type, confidence, bootstrap seed), assets, and per scenario its
 * statistics (over the whole window, "runs_in_window"), sentences,
 * comparison and the newest runs in full ("runs", "runs_listed" of them:
 * the report's keep_runs). The document is written to the output as it is
 * serialised, never held as one string. Times are milliseconds; a
 * figure that does not apply is null, never a made-up number.
 * Does not own: computing anything (report.c, stats.c).
 */
#ifndef FAULTLINE_REPORT_JSON_H
#define FAULTLINE_REPORT_JSON_H

#include <jansson.h>

#include "reports/report.h"
#include "core/error.h"
#include "core/buf.h"

/* New reference to the report's JSON object, NULL on allocation failure. */
json_t *fl_report_to_json(const struct fl_report *r);
/* Appends the document (2-space indent, keys in a fixed order, newline at
 * the end) to out. 0, or -1 with err set. */
int fl_report_write_json(const struct fl_report *r, struct fl_buf *out, struct fl_error *err);

#endif
