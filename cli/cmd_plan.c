/*
 * cmd_plan: `faultline plan SCENARIO...` — writes the recovery strategy
 * (reports/strategy.h) as HTML (default, to plan.html) or Markdown (to
 * stdout), from the scenario files, the environments and inventory they
 * name (or --inventory), and the runs in the store. A missing database is
 * not an error: the strategy is then written with "not measured" beside
 * every target, which is itself the finding. Files are written whole or not
 * at all (temp file + rename). Exit 0 written, 2 bad input, 3 output or
 * database unusable.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/environment.h"
#include "core/error.h"
#include "core/inventory.h"
#include "core/scenario.h"
#include "core/store.h"
#include "reports/report.h"
#include "reports/strategy.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: faultline plan [--db FILE] [--format html|markdown] [-o FILE]\n"
		"                      [--inventory FILE] [--stale-days N] [--title TEXT] SCENARIO...\n\n"
		"Writes the recovery strategy: assets by tier with RPO/RTO, each asset's backup,\n"
		"restore procedure (the ordered recovery steps with their measured median and p95),\n"
		"validation checks and who is paged, the infrastructure, and a coverage matrix of\n"
		"asset x disaster type with gaps flagged.\n\n"
		"  --db FILE         database (default $FAULTLINE_DB or faultline.db); may not exist yet\n"
		"  --format F        html (default, to plan.html) or markdown (to stdout)\n"
		"  -o FILE           output file; '-' for stdout\n"
		"  --inventory FILE  assets (default: the first scenario's inventory)\n"
		"  --stale-days N    flag assets not drilled in N days (default %d)\n"
		"  --title TEXT      the document's title\n",
		FL_REPORT_STALE_DAYS);
}

static int write_out(const char *path, const struct fl_buf *data, struct fl_error *err)
{
	struct fl_buf tmp;
	int fd, rc = -1;

	if (!strcmp(path, "-")) {
		if (fwrite(data->buf, 1, data->len, stdout) != data->len || fflush(stdout) != 0)
			return fl_error_set(err, FL_EXIT_ENV,
					    "faultline plan: cannot write to stdout");
		return 0;
	}
	fl_buf_init(&tmp, 4096);
	if (fl_buf_addf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
		fl_buf_release(&tmp);
		return fl_error_set(err, FL_EXIT_INPUT, "%s: output path too long", path);
	}
	fd = open(tmp.buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot write: %m", path);
		goto out;
	}
	if (write(fd, data->buf, data->len) != (ssize_t)data->len || fsync(fd) != 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot write: %m", path);
		close(fd);
		unlink(tmp.buf);
		goto out;
	}
	close(fd);
	if (rename(tmp.buf, path) != 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot write: %m", path);
		unlink(tmp.buf);
		goto out;
	}
	rc = 0;
out:
	fl_buf_release(&tmp);
	return rc;
}

int cmd_plan(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "inventory", required_argument, NULL, 'i' },
		{ "stale-days", required_argument, NULL, 'D' },
		{ "title", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fl_report_options ro = { 0 };
	struct fl_report report;
	struct fl_strategy strat = { 0 };
	struct fl_error err;
	struct fl_buf out;
	struct fl_store *st = NULL;
	struct fl_inventory *inv = NULL;
	struct fl_scenario **scs = NULL;
	struct fl_environment **envs = NULL, **sc_env = NULL;
	const char *db = fl_cli_default_db(), *format = "html", *output = NULL, *inv_path = NULL;
	size_t nsc = 0, nenvs = 0;
	int have_report = 0, rc, c;
	long v;

	fl_error_init(&err);
	fl_buf_init(&out, 0);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'f': format = optarg; break;
		case 'o': output = optarg; break;
		case 'i': inv_path = optarg; break;
		case 't': strat.title = optarg; break;
		case 'D':
			if (fl_parse_long(optarg, 1, 100000, &v) < 0)
				return fl_cli_usage_error("plan",
							  "--stale-days needs a positive whole number, not '%s'",
							  optarg);
			ro.stale_days = v;
			break;
		case 'h': usage(stdout); return 0;
		default:
			return fl_cli_usage_error("plan", "unknown or incomplete option '%s'",
						  argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return fl_cli_usage_error("plan", "name at least one scenario file");
	if (strcmp(format, "html") && strcmp(format, "markdown"))
		return fl_cli_usage_error("plan", "--format must be html or markdown, not '%s'",
					  format);
	if (!output)
		output = strcmp(format, "html") ? "-" : "plan.html";

	nsc = (size_t)(argc - optind);
	scs = fl_calloc(nsc, sizeof(*scs));
	envs = fl_calloc(nsc, sizeof(*envs));
	sc_env = fl_calloc(nsc, sizeof(*sc_env));
	if (!scs || !envs || !sc_env) {
		fl_error_oom(&err, "faultline plan");
		goto fail;
	}
	for (size_t i = 0; i < nsc; i++) {
		if (!(scs[i] = fl_scenario_load(argv[optind + (int)i], &err)))
			goto fail;
		if (!scs[i]->environment)
			continue;
		/* One load per environment file, shared by its scenarios. */
		for (size_t k = 0; k < i && !sc_env[i]; k++)
			if (scs[k]->environment && !strcmp(scs[k]->environment, scs[i]->environment))
				sc_env[i] = sc_env[k];
		if (!sc_env[i]) {
			if (!(envs[nenvs] = fl_environment_load(scs[i]->environment, &err)))
				goto fail;
			sc_env[i] = envs[nenvs++];
		}
	}
	if (!inv_path)
		inv_path = scs[0]->inventory;
	if (inv_path && !(inv = fl_inventory_load(inv_path, &err)))
		goto fail;

	if (fl_report_init(&report, &ro) < 0) {
		fl_error_oom(&err, "faultline plan");
		goto fail;
	}
	have_report = 1;
	if (access(db, F_OK) == 0) {
		st = fl_store_open(db, &err);
		if (!st || fl_report_load(&report, st, &err) < 0)
			goto fail;
	}
	if (fl_report_finish(&report, inv, &err) < 0)
		goto fail;

	strat.inventory = inv;
	strat.envs = (const struct fl_environment *const *)envs;
	strat.nenvs = nenvs;
	strat.scenarios = (const struct fl_scenario *const *)scs;
	strat.scenario_env = (const struct fl_environment *const *)sc_env;
	strat.nscenarios = nsc;
	strat.report = &report;
	if (!strcmp(format, "html") ? fl_strategy_write_html(&strat, &out, &err) < 0
				    : fl_strategy_write_markdown(&strat, &out, &err) < 0)
		goto fail;
	if (write_out(output, &out, &err) < 0)
		goto fail;
	if (strcmp(output, "-"))
		printf("wrote %s: %zu scenarios, %zu runs\n", output, nsc, report.nruns);
	rc = 0;
	goto out;
fail:
	rc = fl_cli_fail(&err);
out:
	if (have_report)
		fl_report_release(&report);
	fl_store_close(st);
	fl_inventory_free(inv);
	for (size_t i = 0; scs && i < nsc; i++)
		fl_scenario_free(scs[i]);
	for (size_t i = 0; envs && i < nenvs; i++)
		fl_environment_free(envs[i]);
	fl_free(scs);
	fl_free(envs);
	fl_free(sc_env);
	fl_buf_release(&out);
	return rc;
}

const struct fl_cmd fl_cmd_plan = {
	.name = "plan",
	.summary = "write the recovery strategy (HTML or Markdown) with measured figures",
	.legacy_main = cmd_plan,
};
