/* PLACEHOLDER: replaced by the module owner. */
#include <stdio.h>
#include "cli.h"
int cmd_recover(int argc, char **argv)
{
	(void)argc; (void)argv;
	fprintf(stderr, "faultline recover: not built yet\n");
	return FL_EXIT_ENV;
}
