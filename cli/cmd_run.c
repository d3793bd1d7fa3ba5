/* PLACEHOLDER: replaced by the module owner. */
#include <stdio.h>
#include "cli.h"
int cmd_run(int argc, char **argv)
{
	(void)argc; (void)argv;
	fprintf(stderr, "faultline run: not built yet\n");
	return FL_EXIT_ENV;
}
