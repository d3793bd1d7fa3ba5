/*
 * cmd_report: `faultline report` — writes the HTML, JSON, JUnit or Markdown
 * report of the runs in a window. HTML goes to report.html unless -o says
 * otherwise; the other formats go to stdout unless -o names a file ("-" is
 * stdout for every format). Files are written whole or not at all (a
 * temporary file renamed into place), so a CI artifact is never half a page.
 * Exit 0 when the report was written (the verdicts are the gate's business),
 * 2 on bad input, 3 when the database or the output cannot be used.
 */
#include <getopt.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/inventory.h"
#include "reports/report.h"
#include "reports/report_html.h"
#include "reports/report_json.h"
#include "reports/report_junit.h"
#include "reports/report_md.h"
#include "core/store.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: faultline report [--db FILE] [--format html|json|junit|markdown] [-o FILE]\n"
		"                        [--scenario NAME] [--label L] [--last N] [--since DATE]\n"
		"                        [--inventory FILE] [--stale-days N] [--title TEXT]\n"
		"                        [--baseline LABEL --candidate LABEL] [--seed N] [--runs-listed N]\n\n"
		"Writes a report of the stored runs: statistics per scenario with 95 %% intervals,\n"
		"trends, pass rates, and (html) an executive summary of assets by tier.\n\n"
		"  --db FILE        database (default $FAULTLINE_DB or faultline.db)\n"
		"  --format F       html (default, to report.html), json, junit or markdown (to stdout)\n"
		"  -o FILE          output file; '-' for stdout\n"
		"  --scenario NAME  only runs of this scenario\n"
		"  --last N         the last N runs of each scenario (default: all)\n"
		"  --since DATE     runs started on or after DATE (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC)\n"
		"  --label L        only runs with version label L\n"
		"  --inventory FILE assets (tiers, targets) for the executive summary\n"
		"  --stale-days N   flag assets with no drill in N days (default %d)\n"
		"  --title TEXT     the report's title\n"
		"  --baseline L --candidate L   compare RTO of runs labelled L (Mann-Whitney, Welch on logs)\n"
		"  --seed N         bootstrap seed (default %lu; printed in the report)\n"
		"  --runs-listed N  newest runs per scenario listed in full: run tables, JUnit cases,\n"
		"                   the JSON run list (default %d; statistics always cover the window)\n",
		FL_REPORT_STALE_DAYS, FL_STATS_SEED, FL_REPORT_KEEP_RUNS);
}

/* Writes data to path atomically (temp file + rename), or to stdout for "-". */
static int write_out(const char *path, const struct fl_buf *data, struct fl_error *err)
{
	struct fl_buf tmp;
	FILE *f = NULL;
	int rc = -1;

	if (!strcmp(path, "-")) {
		if (fwrite(data->buf, 1, data->len, stdout) != data->len || fflush(stdout) != 0)
			return fl_error_set(err, FL_EXIT_ENV, "faultline report: cannot write to stdout");
		return 0;
	}
	fl_buf_init(&tmp, 4096);
	fl_buf_addf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	if (tmp.failed) {
		fl_error_set(err, FL_EXIT_INPUT, "%s: output path too long", path);
		goto out;
	}
	{
		/* Reports name assets, hosts and failures: readable by the owner
		 * only, whatever the umask; share them on purpose. */
		int fd = open(tmp.buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (fd >= 0 && !f)
			close(fd);
	}
	if (!f) {
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot write: %m", path);
		goto out;
	}
	if (fwrite(data->buf, 1, data->len, f) != data->len || fclose(f) != 0) {
		f = NULL;
		unlink(tmp.buf);
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot write: %m", path);
		goto out;
	}
	f = NULL;
	if (rename(tmp.buf, path) != 0) {
		unlink(tmp.buf);
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot write: %m", path);
		goto out;
	}
	rc = 0;
out:
	if (f)
		fclose(f);
	fl_buf_release(&tmp);
	return rc;
}

int cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "scenario", required_argument, NULL, 's' },
		{ "label", required_argument, NULL, 'l' },
		{ "last", required_argument, NULL, 'n' },
		{ "since", required_argument, NULL, 'S' },
		{ "inventory", required_argument, NULL, 'i' },
		{ "stale-days", required_argument, NULL, 'D' },
		{ "title", required_argument, NULL, 't' },
		{ "baseline", required_argument, NULL, 'b' },
		{ "candidate", required_argument, NULL, 'c' },
		{ "seed", required_argument, NULL, 'r' },
		{ "runs-listed", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fl_report_options ro = { 0 };
	struct fl_report report;
	struct fl_error err;
	struct fl_buf out;
	struct fl_store *st = NULL;
	struct fl_inventory *inv = NULL;
	const char *db = fl_cli_default_db(), *format = "html", *output = NULL, *inv_path = NULL;
	int have_report = 0, rc = FL_EXIT_INPUT, c;
	long v;

	fl_error_init(&err);
	fl_buf_init(&out, 0);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'f': format = optarg; break;
		case 'o': output = optarg; break;
		case 's': ro.scenario = optarg; break;
		case 'l': ro.label = optarg; break;
		case 'i': inv_path = optarg; break;
		case 't': ro.title = optarg; break;
		case 'b': ro.baseline = optarg; break;
		case 'c': ro.candidate = optarg; break;
		case 'n':
			if (fl_parse_long(optarg, 1, 100000000, &v) < 0)
				return fl_cli_usage_error("report", "--last needs a positive whole number, not '%s'", optarg);
			ro.last = v;
			break;
		case 'D':
			if (fl_parse_long(optarg, 1, 100000, &v) < 0)
				return fl_cli_usage_error("report", "--stale-days needs a positive whole number, not '%s'", optarg);
			ro.stale_days = v;
			break;
		case 'r':
			if (fl_parse_long(optarg, 1, 4294967295L, &v) < 0)
				return fl_cli_usage_error("report", "--seed needs a positive whole number, not '%s'", optarg);
			ro.seed = (unsigned long)v;
			break;
		case 'L':
			if (fl_parse_long(optarg, 1, 100000, &v) < 0)
				return fl_cli_usage_error("report", "--runs-listed needs a positive whole number, not '%s'", optarg);
			ro.keep_runs = v;
			break;
		case 'S':
			if (fl_report_parse_date(optarg, &ro.since_wall_ns) < 0)
				return fl_cli_usage_error("report", "--since needs a UTC date YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, not '%s'", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return fl_cli_usage_error("report", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fl_cli_usage_error("report", "unexpected argument '%s'", argv[optind]);
	if (strcmp(format, "html") && strcmp(format, "json") && strcmp(format, "junit") &&
	    strcmp(format, "markdown"))
		return fl_cli_usage_error("report", "--format must be html, json, junit or markdown, not '%s'", format);
	if (!ro.baseline != !ro.candidate)
		return fl_cli_usage_error("report", "--baseline and --candidate go together");
	if (!output)
		output = strcmp(format, "html") ? "-" : "report.html";
	if (access(db, F_OK) != 0) {
		fl_error_set(&err, FL_EXIT_INPUT, "%s: no such database (run a drill first, or pass --db FILE)", db);
		goto fail;
	}
	if (inv_path && !(inv = fl_inventory_load(inv_path, &err)))
		goto fail;
	if (fl_report_init(&report, &ro) < 0) {
		fl_error_oom(&err, "faultline report");
		goto fail;
	}
	have_report = 1;
	st = fl_store_open(db, &err);
	if (!st || fl_report_load(&report, st, &err) < 0 || fl_report_finish(&report, inv, &err) < 0)
		goto fail;
	if (!strcmp(format, "html"))
		c = fl_report_write_html(&report, &out, &err);
	else if (!strcmp(format, "json"))
		c = fl_report_write_json(&report, &out, &err);
	else if (!strcmp(format, "junit"))
		c = fl_report_write_junit(&report, &out, &err);
	else
		c = fl_report_write_markdown(&report, &out, &err);
	if (c < 0 || write_out(output, &out, &err) < 0)
		goto fail;
	if (strcmp(output, "-"))
		printf("wrote %s: %zu runs of %zu scenarios\n", output, report.nruns, report.nscenarios);
	rc = 0;
	goto out;
fail:
	rc = fl_cli_fail(&err);
out:
	if (have_report)
		fl_report_release(&report);
	fl_store_close(st);
	fl_inventory_free(inv);
	fl_buf_release(&out);
	return rc;
}
