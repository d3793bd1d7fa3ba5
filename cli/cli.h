/*
 * cli: the subcommands of `faultline`, git-style: one file per command
 * (cli/cmd_<name>.c defining `const struct fl_cmd fl_cmd_<name>`), listed
 * in one table (cli/cli.c) that main.c dispatches from and generates
 * `faultline --help` from.
 *
 * A command is a description, not a main(): its own getopt_long options,
 * an option callback, and a run function. One parser (fl_cli_exec) handles
 * everything commands share — --help, --db FILE and --json when the
 * command's flags ask for them, unknown options, missing values and
 * unexpected operands, each as one usage line and exit 2 — so no command
 * re-implements them.
 *
 * Owns: the command table type and parser, printing one-line errors to
 * stderr and mapping them to exit codes. Does not own: any drill logic.
 */
#ifndef FAULTLINE_CLI_H
#define FAULTLINE_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/error.h"

#define FL_CMD_DB 1u       /* takes --db FILE (default fl_cli_default_db()) */
#define FL_CMD_JSON 2u     /* takes --json */
#define FL_CMD_OPERANDS 4u /* takes operands (files, scenarios); otherwise one is a usage error */

/* What the shared parser hands a command's run function. */
struct fl_cli {
	const char *cmd; /* the command's name, for messages */
	const char *db;  /* --db, or the default */
	int json;        /* --json was given */
	int argc;        /* operands left after the options */
	char **argv;
};

struct fl_cmd {
	const char *name;
	const char *summary;       /* one line for `faultline --help` */
	unsigned flags;            /* FL_CMD_* */
	void (*usage)(FILE *f);    /* the text of --help */
	const char *shortopts;     /* the command's own short options (getopt syntax), or NULL */
	const struct option *opts; /* its own long options, zero-terminated, or NULL;
					      * codes must stay below FL_CLI_OPT_BASE */
	size_t args_size;          /* bytes of its argument struct, zeroed before init */
	void (*init)(void *args);  /* defaults, or NULL */
	/* One option of the command's own (c as getopt_long returns it).
	 * 0, or an exit code (fl_cli_usage_error / fl_cli_fail). */
	int (*option)(void *args, int c, const char *arg, const struct fl_cli *cli);
	int (*run)(void *args, const struct fl_cli *cli); /* the exit code */
	void (*release)(void *args);                      /* or NULL */
};

/* Option codes the shared parser uses for the shared options. */
#define FL_CLI_OPT_BASE 0x1000

/* NULL-terminated table of all commands, borrowed. */
const struct fl_cmd *const *fl_cli_commands(void);
/* The command called name, or NULL. */
const struct fl_cmd *fl_cli_find(const char *name);
/* Parses argv (argv[0] is the command's name) and runs the command: its exit code. */
int fl_cli_exec(const struct fl_cmd *cmd, int argc, char **argv);

extern const struct fl_cmd fl_cmd_validate, fl_cmd_run, fl_cmd_recover, fl_cmd_runs, fl_cmd_report,
	fl_cmd_gate, fl_cmd_gameday, fl_cmd_metrics, fl_cmd_plan, fl_cmd_store;

/* fl_cli_exec of each command, for tests and embedding. */
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
/* Parses a whole number in [min, max] for option opt; 0, or a usage error's exit code. */
int fl_cli_long(const struct fl_cli *cli, const char *opt, const char *arg, long min, long max,
		long *out);
/* Writes data to path whole or not at all: a new file beside it that nobody
 * else can have opened (mkostemp: O_EXCL and a random name, so a symlink
 * planted at a guessable name is never followed), written, fsync'd, given
 * mode, and renamed over path, so a reader (a browser, node_exporter's
 * collector) sees the old file or the new one. "-" is stdout. 0, or -1 with
 * err set: "PATH: cannot write: REASON" (FL_EXIT_ENV), or "PATH: output
 * path too long" (FL_EXIT_INPUT). */
int fl_cli_write_file(const struct fl_cli *cli, const char *path, const struct fl_buf *data,
		      mode_t mode, struct fl_error *err);
/* Default database path: $FAULTLINE_DB or "faultline.db". */
const char *fl_cli_default_db(void);

#endif
