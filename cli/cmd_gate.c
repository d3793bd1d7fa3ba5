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
		"usage: faultline gate [--db FILE] [--scenario NAME] [--last N] [--since DATE] [--label L]\n"
		"                      [--rule RULE]... [--gate-file FILE]\n"
		"                      [--baseline LABEL --candidate LABEL] [--inventory FILE] [--json]\n\n"
		"Fails (exit 1) a pipeline when a rule does not hold for a scenario's recent runs;\n"
		"no runs at all is a failure. Exit 2 on a bad rule or option.\n\n"
		"  --db FILE       database (default $FAULTLINE_DB or faultline.db)\n"
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

int cmd_gate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "scenario", required_argument, NULL, 's' },
		{ "label", required_argument, NULL, 'l' },
		{ "last", required_argument, NULL, 'n' },
		{ "since", required_argument, NULL, 'S' },
		{ "rule", required_argument, NULL, 'R' },
		{ "gate-file", required_argument, NULL, 'g' },
		{ "baseline", required_argument, NULL, 'b' },
		{ "candidate", required_argument, NULL, 'c' },
		{ "seed", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "inventory", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fl_report_options ro = { 0 };
	struct fl_report report;
	struct fl_gate gate;
	struct fl_error err;
	struct fl_buf lines;
	struct fl_store *st = NULL;
	struct fl_inventory *inv = NULL;
	const char *inv_path = NULL;
	json_t *results = NULL;
	const char *db = fl_cli_default_db();
	int have_report = 0, json = 0, rc = FL_EXIT_INPUT, c;
	long v;

	fl_error_init(&err);
	fl_buf_init(&lines, 0);
	fl_gate_init(&gate);
	ro.last = GATE_DEFAULT_LAST;
	ro.resamples = FL_STATS_RESAMPLES;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 's': ro.scenario = optarg; break;
		case 'l': ro.label = optarg; break;
		case 'b': ro.baseline = optarg; break;
		case 'c': ro.candidate = optarg; break;
		case 'j': json = 1; break;
		case 'i': inv_path = optarg; break;
		case 'R':
			if (fl_gate_add_rule(&gate, optarg, NULL, 0, &err) < 0)
				goto fail;
			break;
		case 'g':
			if (fl_gate_load_file(&gate, optarg, &err) < 0)
				goto fail;
			break;
		case 'n':
			if (fl_parse_long(optarg, 0, 100000000, &v) < 0) {
				rc = fl_cli_usage_error("gate", "--last needs a whole number, not '%s'", optarg);
				goto out;
			}
			ro.last = v;
			break;
		case 'r':
			if (fl_parse_long(optarg, 1, 4294967295L, &v) < 0) {
				rc = fl_cli_usage_error("gate", "--seed needs a positive whole number, not '%s'", optarg);
				goto out;
			}
			ro.seed = (unsigned long)v;
			break;
		case 'S':
			if (fl_report_parse_date(optarg, &ro.since_wall_ns) < 0) {
				rc = fl_cli_usage_error("gate", "--since needs a UTC date YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, not '%s'", optarg);
				goto out;
			}
			break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto out;
		default:
			rc = fl_cli_usage_error("gate", "unknown or incomplete option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (optind < argc) {
		rc = fl_cli_usage_error("gate", "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (gate.nrules == 0) {
		rc = fl_cli_usage_error("gate", "no rules: give --rule RULE or --gate-file FILE");
		goto out;
	}
	if (!ro.baseline != !ro.candidate) {
		rc = fl_cli_usage_error("gate", "--baseline and --candidate go together");
		goto out;
	}
	if (access(db, F_OK) != 0) {
		fl_error_set(&err, FL_EXIT_INPUT, "%s: no such database (run a drill first, or pass --db FILE)", db);
		goto fail;
	}
	if (inv_path && !(inv = fl_inventory_load(inv_path, &err)))
		goto fail;
	if (fl_report_init(&report, &ro) < 0) {
		fl_error_oom(&err, "faultline gate");
		goto fail;
	}
	have_report = 1;
	st = fl_store_open(db, &err);
	if (!st || fl_report_load(&report, st, &err) < 0 || fl_report_finish(&report, inv, &err) < 0)
		goto fail;
	if (json && !(results = json_array())) {
		fl_error_oom(&err, "faultline gate");
		goto fail;
	}
	c = fl_gate_evaluate(&gate, &report, json ? NULL : &lines, results, &err);
	if (c < 0)
		goto fail;
	if (json) {
		json_t *root = json_pack("{sb sO}", "passed", c == 0, "results", results);
		if (!root || json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12)) < 0) {
			json_decref(root);
			fl_error_set(&err, FL_EXIT_ENV, "faultline gate: cannot write json");
			goto fail;
		}
		putchar('\n');
		json_decref(root);
	} else {
		fwrite(lines.buf, 1, lines.len, stdout);
	}
	fflush(stdout);
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
	fl_gate_release(&gate);
	fl_buf_release(&lines);
	return rc;
}
