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
		"usage: faultline plan [--db DB] [--format html|markdown] [-o FILE]\n"
		"                      [--inventory FILE] [--stale-days N] [--title TEXT] SCENARIO...\n\n"
		"Writes the recovery strategy: assets by tier with RPO/RTO, each asset's backup,\n"
		"restore procedure (the ordered recovery steps with their measured median and p95),\n"
		"validation checks and who is paged, the infrastructure, and a coverage matrix of\n"
		"asset x disaster type with gaps flagged.\n\n"
		"  --db DB           a SQLite file or a postgresql:// URL (docs/store.md);\n"
		"                    default $FAULTLINE_DB, else faultline.db; may not exist yet\n"
		"  --format F        html (default, to plan.html) or markdown (to stdout)\n"
		"  -o FILE           output file; '-' for stdout\n"
		"  --inventory FILE  assets (default: the first scenario's inventory)\n"
		"  --stale-days N    flag assets not drilled in N days (default %d)\n"
		"  --title TEXT      the document's title\n",
		FL_REPORT_STALE_DAYS);
}

struct plan_args {
	struct fl_report_options ro;
	const char *format, *output, *inv_path, *title;
};

/* The documents a strategy is written from, loaded once. */
struct plan_docs {
	struct fl_scenario **scs;
	struct fl_environment **envs, **sc_env; /* envs owned; sc_env[i] borrowed */
	size_t nsc, nenvs;
	struct fl_inventory *inv;
};

static const struct option opts[] = {
	{ "format", required_argument, NULL, 'f' },
	{ "output", required_argument, NULL, 'o' },
	{ "inventory", required_argument, NULL, 'i' },
	{ "stale-days", required_argument, NULL, 'D' },
	{ "title", required_argument, NULL, 't' },
	{ NULL, 0, NULL, 0 },
};

static void init(void *args)
{
	struct plan_args *a = args;
	a->format = "html";
}

static int option(void *args, int c, const char *arg, const struct fl_cli *cli)
{
	struct plan_args *a = args;
	long v = 0;
	int rc = 0;
	switch (c) {
	case 'o': a->output = arg; break;
	case 'i': a->inv_path = arg; break;
	case 't': a->title = arg; break;
	case 'f':
		if (strcmp(arg, "html") && strcmp(arg, "markdown"))
			return fl_cli_usage_error(cli->cmd,
						  "--format must be html or markdown, not '%s'", arg);
		a->format = arg;
		break;
	case 'D':
		rc = fl_cli_long(cli, "--stale-days", arg, 1, 100000, &v);
		a->ro.stale_days = v;
		break;
	}
	return rc;
}

static void docs_release(struct plan_docs *d)
{
	fl_inventory_free(d->inv);
	for (size_t i = 0; d->scs && i < d->nsc; i++)
		fl_scenario_free(d->scs[i]);
	for (size_t i = 0; d->envs && i < d->nenvs; i++)
		fl_environment_free(d->envs[i]);
	fl_free(d->scs);
	fl_free(d->envs);
	fl_free(d->sc_env);
}

/* Loads the scenarios, each environment file once (shared by the scenarios
 * naming it), and the inventory (inv_path, else the first scenario's). */
static int docs_load(struct plan_docs *d, int argc, char **argv, const char *inv_path,
		     struct fl_error *err)
{
	d->nsc = (size_t)argc;
	d->scs = fl_calloc(d->nsc, sizeof(*d->scs));
	d->envs = fl_calloc(d->nsc, sizeof(*d->envs));
	d->sc_env = fl_calloc(d->nsc, sizeof(*d->sc_env));
	if (!d->scs || !d->envs || !d->sc_env)
		return fl_error_oom(err, "faultline plan");
	for (size_t i = 0; i < d->nsc; i++) {
		struct fl_scenario *sc = d->scs[i] = fl_scenario_load(argv[i], err);
		if (!sc)
			return -1;
		if (!sc->environment)
			continue;
		for (size_t k = 0; k < i && !d->sc_env[i]; k++)
			if (d->scs[k]->environment && !strcmp(d->scs[k]->environment, sc->environment))
				d->sc_env[i] = d->sc_env[k];
		if (!d->sc_env[i]) {
			if (!(d->envs[d->nenvs] = fl_environment_load(sc->environment, err)))
				return -1;
			d->sc_env[i] = d->envs[d->nenvs++];
		}
	}
	if (!inv_path)
		inv_path = d->scs[0]->inventory;
	if (inv_path && !(d->inv = fl_inventory_load(inv_path, err)))
		return -1;
	return 0;
}

/* The runs in the store, if there is one: a missing database is "not
 * measured", not an error. */
static int load_runs(struct fl_report *report, const char *db, const struct fl_inventory *inv,
		     struct fl_error *err)
{
	struct fl_store *st = NULL;
	int rc = 0;
	if (access(db, F_OK) == 0) {
		st = fl_store_open(db, err);
		if (!st || fl_report_load(report, st, err) < 0)
			rc = -1;
	}
	if (rc == 0 && fl_report_finish(report, inv, err) < 0)
		rc = -1;
	fl_store_close(st);
	return rc;
}

static int render(struct plan_args *a, const struct plan_docs *d, const struct fl_report *report,
		  struct fl_buf *out, struct fl_error *err)
{
	struct fl_strategy strat = {
		.title = a->title,
		.inventory = d->inv,
		.envs = (const struct fl_environment *const *)d->envs,
		.nenvs = d->nenvs,
		.scenarios = (const struct fl_scenario *const *)d->scs,
		.scenario_env = (const struct fl_environment *const *)d->sc_env,
		.nscenarios = d->nsc,
		.report = report,
	};
	return !strcmp(a->format, "html") ? fl_strategy_write_html(&strat, out, err)
					  : fl_strategy_write_markdown(&strat, out, err);
}

static int run(void *args, const struct fl_cli *cli)
{
	struct plan_args *a = args;
	struct plan_docs d = { 0 };
	struct fl_report report;
	struct fl_error err;
	struct fl_buf out;
	int have_report = 0, rc = FL_EXIT_OK;

	if (cli->argc == 0)
		return fl_cli_usage_error(cli->cmd, "name at least one scenario file");
	if (!a->output)
		a->output = strcmp(a->format, "html") ? "-" : "plan.html";
	fl_error_init(&err);
	fl_buf_init(&out, 0);
	if (docs_load(&d, cli->argc, cli->argv, a->inv_path, &err) < 0)
		goto fail;
	if (fl_report_init(&report, &a->ro) < 0) {
		fl_error_oom(&err, "faultline plan");
		goto fail;
	}
	have_report = 1;
	if (load_runs(&report, cli->db, d.inv, &err) < 0 || render(a, &d, &report, &out, &err) < 0 ||
	    fl_cli_write_file(cli, a->output, &out, 0644, &err) < 0)
		goto fail;
	if (strcmp(a->output, "-"))
		printf("wrote %s: %zu scenarios, %zu runs\n", a->output, d.nsc, report.nruns);
	goto out;
fail:
	rc = fl_cli_fail(&err);
out:
	if (have_report)
		fl_report_release(&report);
	docs_release(&d);
	fl_buf_release(&out);
	return rc;
}

const struct fl_cmd fl_cmd_plan = {
	.name = "plan",
	.summary = "write the recovery strategy (HTML or Markdown) with measured figures",
	.flags = FL_CMD_DB | FL_CMD_OPERANDS,
	.usage = usage,
	.shortopts = "o:",
	.opts = opts,
	.args_size = sizeof(struct plan_args),
	.init = init,
	.option = option,
	.run = run,
};

int cmd_plan(int argc, char **argv)
{
	return fl_cli_exec(&fl_cmd_plan, argc, argv);
}
