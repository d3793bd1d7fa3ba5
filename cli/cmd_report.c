/*
 * cmd_report: `faultline report` — writes the HTML, JSON, JUnit or Markdown
 * report of the runs in a window. HTML goes to report.html unless -o says
 * otherwise; the other formats go to stdout unless -o names a file ("-" is
 * stdout for every format). Files are written whole or not at all (a
 * temporary file renamed into place), so a CI artifact is never half a page.
 * Exit 0 when the report was written (the verdicts are the gate's business),
 * 2 on bad input, 3 when the database or the output cannot be used.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/window.h"
#include "core/inventory.h"
#include "reports/report.h"
#include "reports/report_format.h"
#include "core/store.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"

struct report_args {
	struct fl_report_options ro;
	const struct fl_report_format *format;
	const char *output, *inv_path;
};

static void usage(FILE *f)
{
	struct fl_buf names;
	fl_buf_init(&names, 64);
	fl_report_format_names(&names, "|");
	fprintf(f,
		"usage: faultline report [--db DB] [--format %s] [-o FILE]\n"
		"                        [--scenario NAME] [--label L] [--last N] [--since DATE]\n"
		"                        [--inventory FILE] [--stale-days N] [--title TEXT]\n"
		"                        [--baseline LABEL --candidate LABEL] [--seed N] [--runs-listed N]\n\n"
		"Writes a report of the stored runs: statistics per scenario with 95 %% intervals,\n"
		"trends, pass rates, and (html) an executive summary of assets by tier.\n\n"
		"  --db DB          a SQLite file or a postgresql:// URL (docs/store.md);\n"
		"                   default $FAULTLINE_DB, else faultline.db\n"
		"  --format F       one of the formats below (default %s)\n"
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
		"                   the JSON run list (default %d; statistics always cover the window)\n\nformats:\n",
		names.failed ? "F" : names.buf, fl_report_format_all()[0]->name,
		FL_REPORT_STALE_DAYS, FL_STATS_SEED, FL_REPORT_KEEP_RUNS);
	for (const struct fl_report_format *const *fm = fl_report_format_all(); *fm; fm++)
		fprintf(f, "  %-10s %s (to %s)\n", (*fm)->name, (*fm)->summary,
			strcmp((*fm)->default_output, "-") ? (*fm)->default_output : "stdout");
	fl_buf_release(&names);
}

static const struct option opts[] = {
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
	{ NULL, 0, NULL, 0 },
};

static void init(void *args)
{
	struct report_args *a = args;
	a->format = fl_report_format_all()[0];
}

static int option_format(struct report_args *a, const char *arg)
{
	struct fl_buf names;
	int rc;
	if ((a->format = fl_report_format_find(arg)))
		return 0;
	fl_buf_init(&names, 64);
	fl_report_format_names(&names, ", ");
	rc = fl_cli_usage_error("report", "--format must be one of %s, not '%s'",
				names.failed ? "(out of memory)" : names.buf, arg);
	fl_buf_release(&names);
	return rc;
}

static int option(void *args, int c, const char *arg, const struct fl_cli *cli)
{
	struct report_args *a = args;
	long v = 0;
	int rc = fl_cli_window_option(&a->ro, c, arg, cli, 1);

	if (rc >= 0)
		return rc;
	rc = 0;
	switch (c) {
	case 'f': return option_format(a, arg);
	case 'o': a->output = arg; break;
	case 'i': a->inv_path = arg; break;
	case 't': a->ro.title = arg; break;
	case 'D':
		rc = fl_cli_long(cli, "--stale-days", arg, 1, 100000, &v);
		a->ro.stale_days = v;
		break;
	case 'L':
		rc = fl_cli_long(cli, "--runs-listed", arg, 1, 100000000, &v);
		a->ro.keep_runs = v;
		break;
	}
	return rc;
}

static int run(void *args, const struct fl_cli *cli)
{
	struct report_args *a = args;
	struct fl_report report;
	struct fl_error err;
	struct fl_buf out;
	struct fl_store *st = NULL;
	struct fl_inventory *inv = NULL;
	int have_report = 0, rc = FL_EXIT_OK;

	if (!a->ro.baseline != !a->ro.candidate)
		return fl_cli_usage_error("report", "--baseline and --candidate go together");
	if (!a->output)
		a->output = a->format->default_output;
	fl_error_init(&err);
	fl_buf_init(&out, 0);
	if (!fl_store_exists(cli->db)) {
		fl_error_set(&err, FL_EXIT_INPUT,
			     "%s: no such database (run a drill first, or pass --db FILE)", cli->db);
		goto fail;
	}
	if (a->inv_path && !(inv = fl_inventory_load(a->inv_path, &err)))
		goto fail;
	if (fl_report_init(&report, &a->ro) < 0) {
		fl_error_oom(&err, "faultline report");
		goto fail;
	}
	have_report = 1;
	st = fl_store_open(cli->db, &err);
	if (!st || fl_report_load(&report, st, &err) < 0 ||
	    fl_report_finish(&report, inv, &err) < 0 || a->format->render(&report, &out, &err) < 0 ||
	    fl_cli_write_file(cli, a->output, &out, 0600, &err) < 0)
		goto fail;
	if (strcmp(a->output, "-"))
		printf("wrote %s: %zu runs of %zu scenarios\n", a->output, report.nruns,
		       report.nscenarios);
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

const struct fl_cmd fl_cmd_report = {
	.name = "report",
	.summary = "write an HTML, JSON, JUnit or Markdown report",
	.flags = FL_CMD_DB,
	.usage = usage,
	.shortopts = "o:",
	.opts = opts,
	.args_size = sizeof(struct report_args),
	.init = init,
	.option = option,
	.run = run,
};

int cmd_report(int argc, char **argv)
{
	return fl_cli_exec(&fl_cmd_report, argc, argv);
}
