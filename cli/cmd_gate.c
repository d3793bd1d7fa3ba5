/*
 * cmd_gate: `faultline gate` — exits 0 when every rule holds for every
 * scenario in the window, 1 when any fails (and always when there are no
 * runs: no evidence never passes), 2 on bad input (a bad rule names its
 * column). One PASS/FAIL line per rule and scenario on stdout, or with
 * --json a single JSON object and nothing else. The rule grammar is in
 * reports/gate.h.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/window.h"
#include "reports/gate.h"
#include "reports/report.h"
#include "core/inventory.h"
#include "core/store.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"

#define GATE_DEFAULT_LAST 10

static void usage(FILE *f)
{
	fprintf(f,
		"usage: faultline gate [--db DB] [--scenario NAME] [--last N] [--since DATE] [--label L]\n"
		"                      [--rule RULE]... [--gate-file FILE]\n"
		"                      [--baseline LABEL --candidate LABEL] [--inventory FILE] [--json]\n\n"
		"Fails (exit 1) a pipeline when a rule does not hold for a scenario's recent runs;\n"
		"no runs at all is a failure. Exit 2 on a bad rule or option.\n\n"
		"  --db DB         a SQLite file or a postgresql:// URL (docs/store.md);\n"
		"                  default $FAULTLINE_DB, else faultline.db\n"
		"  --scenario NAME only runs of this scenario\n"
		"  --last N        the last N runs of each scenario (default %d; 0 = all)\n"
		"  --since DATE    runs started on or after DATE (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC)\n"
		"  --label L       only runs with version label L\n"
		"  --rule RULE     repeatable\n"
		"  --gate-file FILE  one rule per line ('#' comments); 'FILE:line:col:' on a bad rule\n"
		"  --baseline L --candidate L   the two labels regression(...) compares\n"
		"  --inventory FILE  assets with their drill_every, for stale_assets\n"
		"  --json          print {\"passed\": bool, \"results\": [...]} only\n\n"
		"rules:\n"
		"  p95(rto) <= target          also mean, median, p90, p99, min, max; rto, rpo, ttv, phase:NAME\n"
		"  p95(rto) <= 30s             a duration: 250ms, 30s, 5m, PT1M\n"
		"  pass_rate >= 0.9            passed / all runs\n"
		"  lost_after_fault == 0       acknowledged writes lost (also lost_before_fault)\n"
		"  stale_assets == 0           assets not drilled within drill_every (or 30 days)\n"
		"  runs >= 5                   at least this much evidence\n"
		"  regression(rto) p<0.05 effect>0.2\n"
		"                              candidate slower than baseline (Mann-Whitney U, rank-biserial r)\n",
		GATE_DEFAULT_LAST);
}

struct gate_args {
	struct fl_report_options ro;
	struct fl_gate gate;
	const char *inv_path;
};

static const struct option opts[] = {
	{ "scenario", required_argument, NULL, 's' },
	{ "label", required_argument, NULL, 'l' },
	{ "last", required_argument, NULL, 'n' },
	{ "since", required_argument, NULL, 'S' },
	{ "rule", required_argument, NULL, 'R' },
	{ "gate-file", required_argument, NULL, 'g' },
	{ "baseline", required_argument, NULL, 'b' },
	{ "candidate", required_argument, NULL, 'c' },
	{ "seed", required_argument, NULL, 'r' },
	{ "inventory", required_argument, NULL, 'i' },
	{ NULL, 0, NULL, 0 },
};

static void init(void *args)
{
	struct gate_args *a = args;
	fl_gate_init(&a->gate);
	a->ro.last = GATE_DEFAULT_LAST;
	a->ro.resamples = FL_STATS_RESAMPLES;
}

static void release(void *args)
{
	struct gate_args *a = args;
	fl_gate_release(&a->gate);
}

static int option(void *args, int c, const char *arg, const struct fl_cli *cli)
{
	struct gate_args *a = args;
	struct fl_error err;
	int rc = fl_cli_window_option(&a->ro, c, arg, cli, 0);

	if (rc >= 0)
		return rc;
	fl_error_init(&err);
	switch (c) {
	case 'i': a->inv_path = arg; break;
	case 'R':
		if (fl_gate_add_rule(&a->gate, arg, NULL, 0, &err) < 0)
			return fl_cli_fail(&err);
		break;
	case 'g':
		if (fl_gate_load_file(&a->gate, arg, &err) < 0)
			return fl_cli_fail(&err);
		break;
	}
	return 0;
}

/* Prints the verdict: the lines, or one JSON object. 0, or -1 with err set. */
static int print_verdict(int failed, const struct fl_buf *lines, json_t *results, struct fl_error *err)
{
	if (results) {
		json_t *root = json_pack("{sb sO}", "passed", !failed, "results", results);
		if (!root ||
		    json_dumpf(root, stdout,
			       JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12)) < 0) {
			json_decref(root);
			return fl_error_set(err, FL_EXIT_ENV, "faultline gate: cannot write json");
		}
		putchar('\n');
		json_decref(root);
	} else {
		fwrite(lines->buf, 1, lines->len, stdout);
	}
	fflush(stdout);
	return 0;
}

static int run(void *args, const struct fl_cli *cli)
{
	struct gate_args *a = args;
	struct fl_report report;
	struct fl_error err;
	struct fl_buf lines;
	struct fl_store *st = NULL;
	struct fl_inventory *inv = NULL;
	json_t *results = NULL;
	int have_report = 0, rc, c;

	if (a->gate.nrules == 0)
		return fl_cli_usage_error("gate", "no rules: give --rule RULE or --gate-file FILE");
	if (!a->ro.baseline != !a->ro.candidate)
		return fl_cli_usage_error("gate", "--baseline and --candidate go together");
	fl_error_init(&err);
	fl_buf_init(&lines, 0);
	if (!fl_store_exists(cli->db)) {
		fl_error_set(&err, FL_EXIT_INPUT,
			     "%s: no such database (run a drill first, or pass --db FILE)", cli->db);
		goto fail;
	}
	if (a->inv_path && !(inv = fl_inventory_load(a->inv_path, &err)))
		goto fail;
	if (fl_report_init(&report, &a->ro) < 0) {
		fl_error_oom(&err, "faultline gate");
		goto fail;
	}
	have_report = 1;
	if (cli->json && !(results = json_array())) {
		fl_error_oom(&err, "faultline gate");
		goto fail;
	}
	st = fl_store_open(cli->db, &err);
	if (!st || fl_report_load(&report, st, &err) < 0 || fl_report_finish(&report, inv, &err) < 0)
		goto fail;
	c = fl_gate_evaluate(&a->gate, &report, cli->json ? NULL : &lines, results, &err);
	if (c < 0 || print_verdict(c != 0, &lines, results, &err) < 0)
		goto fail;
	rc = c == 0 ? FL_EXIT_OK : FL_EXIT_FAIL;
	goto out;
fail:
	rc = fl_cli_fail(&err);
out:
	if (have_report)
		fl_report_release(&report);
	json_decref(results);
	fl_store_close(st);
	fl_inventory_free(inv);
	fl_buf_release(&lines);
	return rc;
}

const struct fl_cmd fl_cmd_gate = {
	.name = "gate",
	.summary = "pass or fail a pipeline on recovery targets and regressions",
	.flags = FL_CMD_DB | FL_CMD_JSON,
	.usage = usage,
	.opts = opts,
	.args_size = sizeof(struct gate_args),
	.init = init,
	.option = option,
	.release = release,
	.run = run,
};

int cmd_gate(int argc, char **argv)
{
	return fl_cli_exec(&fl_cmd_gate, argc, argv);
}
