/*
 * main: dispatches `faultline <command>` through the table in cli.c and
 * generates `faultline --help` from it.
 */
#include <curl/curl.h>
#include <gsl/gsl_errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "core/error.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: faultline <command> [options]\n\n"
		   "Disaster-recovery drills: inject real faults into a non-production\n"
		   "environment, time every recovery phase against RTO/RPO targets,\n"
		   "count lost acknowledged writes, and always revert.\n\ncommands:\n");
	for (const struct fl_cmd *const *c = fl_cli_commands(); *c; c++)
		fprintf(f, "  %-10s %s%s\n", (*c)->name, (*c)->summary,
			(*c)->flags & FL_CMD_JSON ? " (--json for machines)" : "");
	fprintf(f, "\nEvery command takes --help and --db DB: a SQLite file or a postgresql:// URL\n"
		   "(default $FAULTLINE_DB, else faultline.db).\n"
		   "exit codes: 0 passed, 1 target missed or gate failed, 2 bad input,\n"
		   "3 environment could not be prepared or reverted, 130 interrupted.\n");
}

int main(int argc, char **argv)
{
	const struct fl_cmd *cmd;
	int rc;
	if (argc < 2) {
		usage(stderr);
		return FL_EXIT_INPUT;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("faultline %s\n", FAULTLINE_VERSION);
		return 0;
	}
	if (!(cmd = fl_cli_find(argv[1]))) {
		fprintf(stderr, "faultline: '%s' is not a command (see 'faultline --help')\n",
			argv[1]);
		return FL_EXIT_INPUT;
	}
	gsl_set_error_handler_off();
	fl_alloc_install_jansson();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "faultline: libcurl could not be initialised\n");
		return FL_EXIT_ENV;
	}
	rc = fl_cli_exec(cmd, argc - 1, argv + 1);
	curl_global_cleanup();
	return rc;
}
