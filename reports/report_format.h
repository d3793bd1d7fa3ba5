/*
 * report_format: the report formats behind one table, the way injectors
 * sit behind injectors/injector.h. `faultline report --format NAME` looks
 * the format up here and `--help` lists the table, so a new format is one
 * file and one line:
 *  1. Create reports/report_<name>.c rendering a finished struct fl_report
 *     into a buffer (escape every user string for the format).
 *  2. Define `const struct fl_report_format fl_report_format_<name>` in it.
 *  3. Add it to the table in reports/report_format.c and a test to
 *     tests/unit/test_report.c.
 *
 * Owns: the table and lookups by name. Does not own: rendering (the
 * format files) or the model (report.c).
 */
#ifndef FAULTLINE_REPORT_FORMAT_H
#define FAULTLINE_REPORT_FORMAT_H

#include "reports/report.h"
#include "core/error.h"
#include "core/buf.h"

struct fl_report_format {
	const char *name;           /* as given to --format */
	const char *extension;      /* file name extension, no dot */
	const char *content_type;   /* MIME type, for CI artifact uploads and servers */
	const char *default_output; /* where it goes without -o: a file name, or "-" for stdout */
	const char *summary;        /* one line for --help */
	/* Appends the document to out. 0, or -1 with err set. */
	int (*render)(const struct fl_report *r, struct fl_buf *out, struct fl_error *err);
};

extern const struct fl_report_format fl_report_format_html, fl_report_format_json,
	fl_report_format_junit, fl_report_format_markdown;

/* Borrowed format by name, or NULL. */
const struct fl_report_format *fl_report_format_find(const char *name);
/* NULL-terminated table of all formats, borrowed; the first is the default. */
const struct fl_report_format *const *fl_report_format_all(void);
/* Appends the names joined with sep ("html|json|junit|markdown"). */
void fl_report_format_names(struct fl_buf *out, const char *sep);

#endif
