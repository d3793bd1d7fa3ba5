/*
 * cmd_store: `faultline store copy FROM TO` — moves run history between
 * stores: a SQLite file and a shared PostgreSQL database, either way.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/error.h"
#include "core/store.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: faultline store copy FROM TO\n\n"
		   "Copies every finished run of FROM into TO. Each is a SQLite file or a\n"
		   "postgresql://user@host:port/db URL. Idempotent: a run already in TO (same\n"
		   "scenario, start instant and host) is skipped, so copying twice copies\n"
		   "nothing the second time. Runs still running and the fault journal stay\n"
		   "where they are (docs/store.md).\n\n"
		   "exit: 0 copied, 2 bad arguments or FROM does not exist, 3 a store\n"
		   "could not be opened or written\n");
}

static int run(void *args, const struct fl_cli *cli)
{
	struct fl_store *from = NULL, *to = NULL;
	struct fl_store_copy_stats stats;
	struct fl_error err;
	int rc = FL_EXIT_OK;

	(void)args;
	if (cli->argc != 3 || strcmp(cli->argv[0], "copy") != 0)
		return fl_cli_usage_error(cli->cmd, "expected: copy FROM TO");
	if (!fl_store_exists(cli->argv[1])) {
		fprintf(stderr, "faultline store: %s: no such database\n", cli->argv[1]);
		return FL_EXIT_INPUT;
	}
	fl_error_init(&err);
	if (!(from = fl_store_open(cli->argv[1], &err)) ||
	    !(to = fl_store_open(cli->argv[2], &err)) || fl_store_copy(from, to, &stats, &err))
		rc = fl_cli_fail(&err);
	else
		printf("store copy: %ld run(s) copied, %ld already there, %ld still running "
		       "not copied\n",
		       stats.copied, stats.skipped, stats.running);
	fl_store_close(to);
	fl_store_close(from);
	return rc;
}

const struct fl_cmd fl_cmd_store = {
	.name = "store",
	.summary = "copy run history between SQLite and PostgreSQL stores",
	.flags = FL_CMD_OPERANDS,
	.usage = usage,
	.run = run,
};
