/*
 * window: the options report and gate share (window.h).
 */
#include "cli/window.h"

int fl_cli_window_option(struct fl_report_options *ro, int c, const char *arg,
			 const struct fl_cli *cli, long last_min)
{
	long v = 0;
	int rc = 0;

	switch (c) {
	case 's': ro->scenario = arg; break;
	case 'l': ro->label = arg; break;
	case 'b': ro->baseline = arg; break;
	case 'c': ro->candidate = arg; break;
	case 'n':
		rc = fl_cli_long(cli, "--last", arg, last_min, 100000000, &v);
		ro->last = v;
		break;
	case 'r':
		rc = fl_cli_long(cli, "--seed", arg, 1, 4294967295L, &v);
		ro->seed = (unsigned long)v;
		break;
	case 'S':
		if (fl_report_parse_date(arg, &ro->since_wall_ns) < 0)
			rc = fl_cli_usage_error(cli->cmd,
						"--since needs a UTC date YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, not '%s'",
						arg);
		break;
	default: return -1;
	}
	return rc;
}
