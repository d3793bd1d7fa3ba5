/*
 * cmd_recover: `faultline recover` — reverts every fault the journal says is
 * still open (a drill killed with SIGKILL, a power cut, a revert that failed).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "sim/runner.h"
#include "sim/recover.h"
#include "core/store.h"
#include "core/error.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: faultline recover [--db DB]\n\n"
		   "Reverts every fault that a crashed or interrupted drill left open,\n"
		   "oldest first, from what the journal recorded before injecting it.\n\n"
		   "  --db DB     a SQLite file or a postgresql:// URL (docs/store.md);\n"
		   "              default $FAULTLINE_DB, else faultline.db; a file\n"
		   "              that does not exist has nothing open and is not created\n\n"
		   "exit: 0 nothing left open, 3 something could not be reverted\n");
}

static int run(void *args, const struct fl_cli *cli)
{
	struct fl_store *st;
	struct fl_error err;
	int left;

	(void)args;
	/* A mistyped --db must not be answered with a fresh empty database and
	 * "nothing left open": say the file is not there, and leave nothing
	 * behind. No drill journaled a fault into it, so there is nothing to
	 * revert and the exit stays 0 for scripts that recover first thing. */
	if (!fl_store_exists(cli->db)) {
		printf("recover: nothing left open: %s does not exist (no drill has used it)\n",
		       cli->db);
		return FL_EXIT_OK;
	}
	fl_error_init(&err);
	st = fl_store_open(cli->db, &err);
	if (!st)
		return fl_cli_fail(&err);
	left = fl_runner_recover(st, stdout, &err);
	fl_store_close(st);
	if (left < 0)
		return fl_cli_fail(&err);
	if (left > 0) {
		fprintf(stderr, "faultline recover: %d fault(s) could not be reverted; see above\n",
			left);
		return FL_EXIT_ENV;
	}
	printf("recover: nothing left open in %s\n", cli->db);
	return FL_EXIT_OK;
}

const struct fl_cmd fl_cmd_recover = {
	.name = "recover",
	.summary = "revert every fault a crashed or interrupted drill left open",
	.flags = FL_CMD_DB,
	.usage = usage,
	.run = run,
};

int cmd_recover(int argc, char **argv)
{
	return fl_cli_exec(&fl_cmd_recover, argc, argv);
}
