/*
 * cli: the subcommands of `faultline`, git-style: one file per command
 * (cli/cmd_<name>.c exporting cmd_<name>), dispatched from one table in
 * cli/main.c that also generates `faultline --help`.
 *
 * Owns: the command table type and the small helpers every command uses for
 * options (--db, --json, --help), printing one-line errors to stderr and
 * mapping them to exit codes. Does not own: any drill logic.
 */
#ifndef FAULTLINE_CLI_H
#define FAULTLINE_CLI_H

#include "core/error.h"

typedef int (*fl_cmd_fn)(int argc, char **argv);

struct fl_cmd {
	const char *name;
	fl_cmd_fn fn;
	const char *summary;   /* one line for `faultline --help` */
};

/* Borrowed NULL-terminated-by-name table of all commands. */
const struct fl_cmd *fl_cli_commands(void);

int cmd_validate(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_recover(int argc, char **argv);
int cmd_runs(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_gate(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_gameday(int argc, char **argv);

/* Prints err->msg as-is, one line, to stderr (file errors start with
 * "file:line:col:" so editors can jump to them); returns its exit code. */
int fl_cli_fail(const struct fl_error *err);
/* Prints a usage error "faultline <cmd>: <msg>" plus a hint and returns FL_EXIT_INPUT. */
int fl_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Default database path: $FAULTLINE_DB or "faultline.db". */
const char *fl_cli_default_db(void);

#endif
