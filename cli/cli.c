/*
 * cli: the command table and helpers shared by the subcommands.
 */
#include "cli/cli.h"
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const struct fl_cmd commands[] = {
	{ "validate", cmd_validate, "check scenario, environment and inventory files" },
	{ "run", cmd_run, "run drills: inject, time recovery, measure data loss, revert" },
	{ "recover", cmd_recover, "revert every fault a crashed or interrupted drill left open" },
	{ "runs", cmd_runs, "list past runs (--json for machines)" },
	{ "report", cmd_report, "write an HTML, JSON, JUnit or Markdown report" },
	{ "gate", cmd_gate, "pass or fail a pipeline on recovery targets and regressions" },
	{ "gameday", cmd_gameday, "run a game day: scenarios in order, notes, hints, abort, a debrief page" },
	{ "metrics", cmd_metrics, "write drill results as Prometheus text (textfile collector, Pushgateway)" },
	{ "plan", cmd_plan, "write the recovery strategy (HTML or Markdown) with measured figures" },
	{ NULL, NULL, NULL },
};

const struct fl_cmd *fl_cli_commands(void)
{
	return commands;
}

int fl_cli_fail(const struct fl_error *err)
{
	fprintf(stderr, "%s\n", err->msg[0] ? err->msg : "faultline: unknown error");
	return err->code ? err->code : FL_EXIT_ENV;
}

int fl_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "faultline %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'faultline %s --help')\n", cmd);
	return FL_EXIT_INPUT;
}

const char *fl_cli_default_db(void)
{
	const char *db = getenv("FAULTLINE_DB");
	return db && *db ? db : "faultline.db";
}
