/*
 * report_format: the table of report formats. See report_format.h.
 */
#include "reports/report_format.h"

#include <string.h>

static const struct fl_report_format *const formats[] = {
	&fl_report_format_html,
	&fl_report_format_json,
	&fl_report_format_junit,
	&fl_report_format_markdown,
	NULL,
};

const struct fl_report_format *const *fl_report_format_all(void)
{
	return formats;
}

const struct fl_report_format *fl_report_format_find(const char *name)
{
	for (const struct fl_report_format *const *f = formats; name && *f; f++)
		if (!strcmp((*f)->name, name))
			return *f;
	return NULL;
}

void fl_report_format_names(struct fl_buf *out, const char *sep)
{
	for (const struct fl_report_format *const *f = formats; *f; f++)
		fl_buf_addf(out, "%s%s", f == formats ? "" : sep, (*f)->name);
}
