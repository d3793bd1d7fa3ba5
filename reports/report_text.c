/*
 * report_text: the report's words shared by every format — why a run
 * failed, the window description, --since dates, XML escaping and backup
 * ages. Split from report.c (the model) to keep each file within the size
 * limit. See report.h.
 */
#include "reports/report.h"
#include "core/buf.h"
#include "core/clock.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void reason_vs_target(struct fl_buf *out, int *first, const char *what, double got,
			     double target)
{
	char g[32], t[32], d[32];
	if (isnan(got) || isnan(target) || got <= target)
		return;
	fl_buf_addf(out, "%s%s %s > target %s by %s", *first ? "" : "; ", what,
		    fl_stats_fmt_s(got, g, sizeof(g)), fl_stats_fmt_s(target, t, sizeof(t)),
		    fl_stats_fmt_s(got - target, d, sizeof(d)));
	*first = 0;
}

void fl_report_run_reason(const struct fl_run *run, struct fl_buf *out)
{
	int first = 1;
	for (size_t i = 0; i < run->nfailures; i++) {
		fl_buf_addf(out, "%s%s", first ? "" : "; ", run->failures[i]);
		first = 0;
	}
	if (!first)
		return;
	reason_vs_target(out, &first, "rto", run->rto_ms, run->rto_target_ms);
	reason_vs_target(out, &first, "rpo", run->rpo_ms, run->rpo_target_ms);
	if (run->lost_after_fault > 0) {
		fl_buf_addf(out, "%s%ld acknowledged writes lost after the fault",
			    first ? "" : "; ", run->lost_after_fault);
		first = 0;
	}
	if (first && run->verdict && strcmp(run->verdict, "pass"))
		fl_buf_addf(out, "verdict %s with no recorded reason", run->verdict);
}

const char *fl_report_window(const struct fl_report *r, char *buf, size_t n)
{
	char since[40] = "";
	char lab[200] = "";
	if (r->since_wall_ns) {
		char ts[40];
		fl_rfc3339(r->since_wall_ns, ts, sizeof(ts));
		snprintf(since, sizeof(since), " since %.10s", ts);
	}
	if (r->label_filter)
		snprintf(lab, sizeof(lab), " labelled %s", r->label_filter);
	if (r->last > 0)
		snprintf(buf, n, "last %ld runs per scenario%s%s", r->last, since, lab);
	else
		snprintf(buf, n, "all runs%s%s", since, lab);
	return buf;
}

int fl_report_parse_date(const char *s, int64_t *wall_ns)
{
	struct tm tm;
	const char *end;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d", &tm);
	if (!end)
		return -1;
	if (*end == 'T') {
		end = strptime(end + 1, "%H:%M:%S", &tm);
		if (!end || strcmp(end, "Z"))
			return -1;
	} else if (*end) {
		return -1;
	}
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*wall_ns = (int64_t)t * FL_NS_PER_S;
	return 0;
}

void fl_report_escape_xml(struct fl_buf *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		switch (*p) {
		case '&': fl_buf_adds(out, "&amp;"); break;
		case '<': fl_buf_adds(out, "&lt;"); break;
		case '>': fl_buf_adds(out, "&gt;"); break;
		case '"': fl_buf_adds(out, "&quot;"); break;
		case '\'': fl_buf_adds(out, "&#39;"); break;
		default:
			if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
				fl_buf_adds(out, "\xef\xbf\xbd");
			else
				fl_buf_add(out, p, 1);
		}
	}
}

const char *fl_backup_age_describe(int64_t drill_wall_ns, int64_t backup_wall_ns, const char *type,
				   char *buf, size_t n)
{
	int64_t age_s, d, h, m;
	const char *sep = type && *type ? ", " : "";
	if (!type)
		type = "";
	if (backup_wall_ns <= 0) {
		snprintf(buf, n, "not recorded");
		return buf;
	}
	if (drill_wall_ns <= 0 || backup_wall_ns > drill_wall_ns) {
		snprintf(buf, n, "during the drill%s%s", sep, type);
		return buf;
	}
	age_s = (drill_wall_ns - backup_wall_ns) / FL_NS_PER_S;
	d = age_s / 86400;
	h = age_s % 86400 / 3600;
	m = age_s % 3600 / 60;
	if (d > 0)
		snprintf(buf, n, "%" PRId64 " d %" PRId64 " h before the drill%s%s", d, h, sep, type);
	else if (h > 0)
		snprintf(buf, n, "%" PRId64 " h %" PRId64 " m before the drill%s%s", h, m, sep, type);
	else if (m > 0)
		snprintf(buf, n, "%" PRId64 " m before the drill%s%s", m, sep, type);
	else
		snprintf(buf, n, "%" PRId64 " s before the drill%s%s", age_s, sep, type);
	return buf;
}
