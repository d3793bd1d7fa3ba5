/* PLACEHOLDER: replaced by the module owner. */
#include <stdio.h>
#include "cli.h"
int cmd_report(int argc, char **argv)
{
	(void)argc; (void)argv;
	fprintf(stderr, "faultline report: not built yet\n");
	return FL_EXIT_ENV;
}
