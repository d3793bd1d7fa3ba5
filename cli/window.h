/*
 * window: the options `faultline report` and `faultline gate` share — which
 * runs the statistics cover and the comparison they make (--scenario,
 * --label, --last, --since, --baseline, --candidate, --seed) — parsed into
 * struct fl_report_options, with the same messages for both commands.
 *
 * Owns: those options' parsing. Does not own: each command's own options,
 * their defaults (gate's --last 10) or their --help text (cmd_report.c,
 * cmd_gate.c).
 */
#ifndef FAULTLINE_CLI_WINDOW_H
#define FAULTLINE_CLI_WINDOW_H

#include "cli/cli.h"
#include "reports/report.h"

/* A command's option table gives these the codes 's', 'l', 'n', 'S', 'b',
 * 'c' and 'r'. */
/* Option c with its argument into ro. last_min: the smallest --last (gate
 * takes 0 for every run). 0, an exit code (a usage error), or -1 when c is
 * not a window option. */
int fl_cli_window_option(struct fl_report_options *ro, int c, const char *arg,
			 const struct fl_cli *cli, long last_min);

#endif
