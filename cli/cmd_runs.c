/*
 * cmd_runs: `faultline runs` lists past runs from the store, newest first.
 *
 * Human output is a table whose RTO and RPO always carry their uncertainty
 * and print `-` where a figure does not apply; `--json` prints only the JSON
 * array that docs/cli.md specifies (fl_run_to_json), nothing else on stdout.
 * Listing never creates a database: a missing file simply has no runs.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "core/store.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/clock.h"

enum {
	COL_ID,
	COL_STARTED,
	COL_SCENARIO,
	COL_LABEL,
	COL_VERDICT,
	COL_RTO,
	COL_RPO,
	COL_LOST,
	NCOLS
};

static const char *const col_titles[NCOLS] = {
	"ID", "STARTED (UTC)", "SCENARIO", "LABEL", "VERDICT", "RTO", "RPO", "LOST BEFORE/AFTER",
};

struct runs_row {
	char *cell[NCOLS];
};

struct runs_ctx {
	int json;
	json_t *arr;
	struct runs_row *rows;
	size_t nrows;
	int failed; /* out of memory while collecting */
};

static void usage(FILE *f)
{
	fprintf(f, "usage: faultline runs [--db DB] [--json] [--scenario NAME] [--label TEXT]\n"
		   "                      [--limit N] [--all]\n\n"
		   "Lists past runs, newest first.\n\n"
		   "  --db DB          a SQLite file or a postgresql:// URL (docs/store.md);\n"
		   "                   default $FAULTLINE_DB, else faultline.db\n"
		   "  --json           print a JSON array only (one object per run)\n"
		   "  --scenario NAME  only runs of this scenario\n"
		   "  --label TEXT     only runs with this version label\n"
		   "  --limit N        at most N runs\n"
		   "  --all            include runs still running (or killed mid-run)\n");
}

/* "4.312 s ± 0.010 s"; "-" when the figure does not apply, and "± -" when
 * its uncertainty is unknown rather than pretending to exactness. */
static void fmt_seconds(char *buf, size_t n, double ms, double unc_ms)
{
	if (!isfinite(ms))
		snprintf(buf, n, "-");
	else if (!isfinite(unc_ms))
		snprintf(buf, n, "%.3f s ± -", ms / 1000.0);
	else
		snprintf(buf, n, "%.3f s ± %.3f s", ms / 1000.0, unc_ms / 1000.0);
}

static void fmt_count(char *buf, size_t n, long v)
{
	if (v < 0)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%ld", v);
}

/* Display width of UTF-8 text: "±" is two bytes but one column. */
static size_t text_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

static int collect_row(const struct fl_run *run, struct runs_ctx *ctx)
{
	char cell[NCOLS][160], before[32], after[32];
	struct runs_row *rows;
	struct runs_row *row;

	snprintf(cell[COL_ID], sizeof(cell[COL_ID]), "%lld", (long long)run->id);
	fl_rfc3339(run->started_wall_ns, cell[COL_STARTED], sizeof(cell[COL_STARTED]));
	snprintf(cell[COL_SCENARIO], sizeof(cell[COL_SCENARIO]), "%s",
		 run->scenario ? run->scenario : "-");
	snprintf(cell[COL_LABEL], sizeof(cell[COL_LABEL]), "%s", run->label ? run->label : "-");
	snprintf(cell[COL_VERDICT], sizeof(cell[COL_VERDICT]), "%s",
		 run->verdict ? run->verdict : "-");
	fmt_seconds(cell[COL_RTO], sizeof(cell[COL_RTO]), run->rto_ms, run->rto_uncertainty_ms);
	fmt_seconds(cell[COL_RPO], sizeof(cell[COL_RPO]), run->rpo_ms, run->rpo_uncertainty_ms);
	fmt_count(before, sizeof(before), run->lost_before_fault);
	fmt_count(after, sizeof(after), run->lost_after_fault);
	snprintf(cell[COL_LOST], sizeof(cell[COL_LOST]), "%s/%s", before, after);

	rows = fl_realloc(ctx->rows, (ctx->nrows + 1) * sizeof(*rows));
	if (!rows)
		return -1;
	ctx->rows = rows;
	row = &rows[ctx->nrows];
	memset(row, 0, sizeof(*row));
	ctx->nrows++;
	for (int c = 0; c < NCOLS; c++)
		if (!(row->cell[c] = fl_strdup(cell[c])))
			return -1;
	return 0;
}

static int runs_collect(const struct fl_run *run, void *vctx)
{
	struct runs_ctx *ctx = vctx;
	if (ctx->json) {
		json_t *o = fl_run_to_json(run);
		if (!o || json_array_append_new(ctx->arr, o)) {
			ctx->failed = 1;
			return -1;
		}
		return 0;
	}
	if (collect_row(run, ctx)) {
		ctx->failed = 1;
		return -1;
	}
	return 0;
}

static void print_cell(const char *text, size_t width, int last)
{
	fputs(text, stdout);
	if (last)
		return;
	for (size_t w = text_width(text); w < width + 2; w++)
		fputc(' ', stdout);
}

static void print_table(const struct runs_ctx *ctx)
{
	size_t width[NCOLS];
	for (int c = 0; c < NCOLS; c++) {
		width[c] = text_width(col_titles[c]);
		for (size_t r = 0; r < ctx->nrows; r++) {
			size_t w = text_width(ctx->rows[r].cell[c]);
			if (w > width[c])
				width[c] = w;
		}
	}
	for (int c = 0; c < NCOLS; c++)
		print_cell(col_titles[c], width[c], c == NCOLS - 1);
	fputc('\n', stdout);
	for (size_t r = 0; r < ctx->nrows; r++) {
		for (int c = 0; c < NCOLS; c++)
			print_cell(ctx->rows[r].cell[c], width[c], c == NCOLS - 1);
		fputc('\n', stdout);
	}
}

static void print_empty(int json, const char *db, int exists)
{
	if (json) {
		fputs("[]\n", stdout);
		return;
	}
	if (exists)
		printf("no runs in %s\n", db);
	else
		printf("no runs (%s does not exist yet)\n", db);
}

enum { OPT_SCENARIO = 's', OPT_LABEL = 'l', OPT_LIMIT = 'n', OPT_ALL = 'a' };

static const struct option opts[] = {
	{ "scenario", required_argument, NULL, OPT_SCENARIO },
	{ "label", required_argument, NULL, OPT_LABEL },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	{ "all", no_argument, NULL, OPT_ALL },
	{ NULL, 0, NULL, 0 },
};

static int option(void *args, int c, const char *arg, const struct fl_cli *cli)
{
	struct fl_run_filter *filter = args;
	switch (c) {
	case OPT_SCENARIO: filter->scenario = arg; return 0;
	case OPT_LABEL: filter->label = arg; return 0;
	case OPT_ALL: filter->include_running = 1; return 0;
	case OPT_LIMIT: return fl_cli_long(cli, "--limit", arg, 1, 1000000000L, &filter->limit);
	}
	return FL_EXIT_INPUT;
}

/* Writes what was collected to stdout. 0, or -1 with err set. */
static int print_runs(const struct runs_ctx *ctx, const char *db, struct fl_error *err)
{
	if (ctx->json) {
		if (json_dumpf(ctx->arr, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) ||
		    fputc('\n', stdout) == EOF)
			return fl_error_set(err, FL_EXIT_ENV,
					    "faultline runs: cannot write to stdout");
	} else if (ctx->nrows == 0) {
		print_empty(0, db, 1);
	} else {
		print_table(ctx);
	}
	if (fflush(stdout) == EOF)
		return fl_error_set(err, FL_EXIT_ENV, "faultline runs: cannot write to stdout");
	return 0;
}

static int run(void *args, const struct fl_cli *cli)
{
	const struct fl_run_filter *filter = args;
	struct runs_ctx ctx = { .json = cli->json };
	struct fl_error err;
	struct fl_store *st = NULL;
	int rc = FL_EXIT_ENV;

	fl_error_init(&err);
	/* Listing must not leave a fresh database file behind. */
	if (!fl_store_exists(cli->db)) {
		print_empty(ctx.json, cli->db, 0);
		return FL_EXIT_OK;
	}
	st = fl_store_open(cli->db, &err);
	if (!st)
		return fl_cli_fail(&err);
	if (ctx.json && !(ctx.arr = json_array())) {
		fl_error_oom(&err, "faultline runs");
		goto out;
	}
	if (fl_store_runs_each(st, filter, runs_collect, &ctx, &err)) {
		if (ctx.failed)
			fl_error_oom(&err, "faultline runs");
		goto out;
	}
	if (print_runs(&ctx, cli->db, &err) == 0)
		rc = FL_EXIT_OK;
out:
	if (rc != FL_EXIT_OK)
		rc = fl_cli_fail(&err);
	json_decref(ctx.arr);
	for (size_t r = 0; r < ctx.nrows; r++)
		for (int c = 0; c < NCOLS; c++)
			fl_free(ctx.rows[r].cell[c]);
	fl_free(ctx.rows);
	fl_store_close(st);
	return rc;
}

const struct fl_cmd fl_cmd_runs = {
	.name = "runs",
	.summary = "list past runs",
	.flags = FL_CMD_DB | FL_CMD_JSON,
	.usage = usage,
	.opts = opts,
	.args_size = sizeof(struct fl_run_filter),
	.option = option,
	.run = run,
};

int cmd_runs(int argc, char **argv)
{
	return fl_cli_exec(&fl_cmd_runs, argc, argv);
}
