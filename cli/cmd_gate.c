/* PLACEHOLDER: replaced by the module owner. */
#include <stdio.h>
#include "cli.h"
int cmd_gate(int argc, char **argv)
{
	(void)argc; (void)argv;
	fprintf(stderr, "faultline gate: not built yet\n");
	return FL_EXIT_ENV;
}
