/*
 * cmd_metrics: `faultline metrics` — writes the drill results as Prometheus
 * text exposition (reports/metrics.h) for node_exporter's textfile
 * collector, atomically (temp file in the same directory, fsync, rename: the
 * collector never reads half a file), and optionally pushes the same text to
 * a Pushgateway (PUT <url>/metrics/job/<job>, bounded by a timeout and three
 * attempts). Exit 0 written, 2 bad input, 3 the file or the push failed.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/inventory.h"
#include "core/store.h"
#include "reports/metrics.h"
#include "reports/report.h"

#define PUSH_TIMEOUT_MS 5000L
#define PUSH_ATTEMPTS 3

static void usage(FILE *f)
{
	fprintf(f,
		"usage: faultline metrics [--db DB] [-o FILE] [--inventory FILE] [--stale-days N]\n"
		"                         [--push URL [--job NAME]]\n\n"
		"Writes the newest drill results per scenario as Prometheus text exposition:\n"
		"RTO/RPO achieved and targets, pass, last run time, lost writes; per asset the\n"
		"last drill time and staleness.\n\n"
		"  --db DB           a SQLite file or a postgresql:// URL (docs/store.md);\n"
		"                    default $FAULTLINE_DB, else faultline.db\n"
		"  -o FILE           output file, written atomically (default stdout); point it\n"
		"                    into node_exporter's --collector.textfile.directory as *.prom\n"
		"  --inventory FILE  assets, for the staleness series\n"
		"  --stale-days N    an asset not drilled in N days is stale (default %d)\n"
		"  --push URL        also PUT the text to a Pushgateway at URL\n"
		"  --job NAME        Pushgateway job (default faultline)\n",
		FL_REPORT_STALE_DAYS);
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
	(void)p;
	(void)u;
	return size * n;
}

static int push(const char *url, const char *job, const struct fl_buf *data, struct fl_error *err)
{
	struct curl_slist *hdr = NULL;
	struct fl_buf target;
	char *ejob = NULL;
	CURL *c = curl_easy_init();
	CURLcode cc = CURLE_OK;
	long status = 0;
	int rc = -1;

	fl_buf_init(&target, 8192);
	if (!c)
		return fl_error_set(err, FL_EXIT_ENV, "pushgateway: libcurl could not start");
	ejob = curl_easy_escape(c, job, 0);
	fl_buf_addf(&target, "%s%smetrics/job/%s", url,
		    url[0] && url[strlen(url) - 1] == '/' ? "" : "/", ejob ? ejob : "");
	hdr = curl_slist_append(NULL, "Content-Type: text/plain; version=0.0.4");
	if (!ejob || !hdr || target.failed) {
		fl_error_oom(err, "pushgateway");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, target.buf);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, data->buf);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)data->len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, PUSH_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	for (int i = 0; i < PUSH_ATTEMPTS; i++) {
		if (i)
			fl_sleep_until(fl_now_ns() + (int64_t)i * 500 * FL_NS_PER_MS, NULL,
				       50 * FL_NS_PER_MS);
		cc = curl_easy_perform(c);
		status = 0;
		if (cc == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (cc == CURLE_OK && status >= 200 && status < 300) {
			rc = 0;
			goto out;
		}
		if (cc == CURLE_OK && status >= 400 && status < 500)
			break; /* our request is wrong; repeating it will not help */
	}
	if (cc != CURLE_OK)
		fl_error_set(err, FL_EXIT_ENV, "pushgateway %s: %s (%d attempts)", url,
			     curl_easy_strerror(cc), PUSH_ATTEMPTS);
	else
		fl_error_set(err, FL_EXIT_ENV, "pushgateway %s: HTTP %ld", url, status);
out:
	curl_free(ejob);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	fl_buf_release(&target);
	return rc;
}

struct metrics_args {
	struct fl_report_options ro;
	const char *output, *inv_path, *push_url, *job;
};

static const struct option opts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "inventory", required_argument, NULL, 'i' },
	{ "stale-days", required_argument, NULL, 'D' },
	{ "push", required_argument, NULL, 'p' },
	{ "job", required_argument, NULL, 'j' },
	{ NULL, 0, NULL, 0 },
};

static void init(void *args)
{
	struct metrics_args *a = args;
	a->job = "faultline";
	/* Only the newest run of each scenario is exported in full. */
	a->ro.keep_runs = 1;
}

static int option(void *args, int c, const char *arg, const struct fl_cli *cli)
{
	struct metrics_args *a = args;
	long v = 0;
	int rc = 0;
	switch (c) {
	case 'o': a->output = arg; break;
	case 'i': a->inv_path = arg; break;
	case 'j': a->job = arg; break;
	case 'p':
		if (strncmp(arg, "http://", 7) && strncmp(arg, "https://", 8))
			return fl_cli_usage_error(cli->cmd,
						  "--push needs an http:// or https:// URL, not '%s'",
						  arg);
		a->push_url = arg;
		break;
	case 'D':
		rc = fl_cli_long(cli, "--stale-days", arg, 1, 100000, &v);
		a->ro.stale_days = v;
		break;
	}
	return rc;
}

/* Loads the window's newest runs and renders them into out. */
static int render(struct metrics_args *a, const char *db, struct fl_buf *out, struct fl_error *err)
{
	struct fl_report report;
	struct fl_store *st = NULL;
	struct fl_inventory *inv = NULL;
	int rc = -1;

	if (access(db, F_OK) != 0)
		return fl_error_set(err, FL_EXIT_INPUT,
				    "%s: no such database (run a drill first, or pass --db FILE)",
				    db);
	if (a->inv_path && !(inv = fl_inventory_load(a->inv_path, err)))
		return -1;
	if (fl_report_init(&report, &a->ro) < 0) {
		fl_inventory_free(inv);
		return fl_error_oom(err, "faultline metrics");
	}
	st = fl_store_open(db, err);
	if (st && fl_report_load(&report, st, err) == 0 &&
	    fl_report_finish(&report, inv, err) == 0 && fl_metrics_write(&report, out, err) == 0)
		rc = 0;
	fl_report_release(&report);
	fl_store_close(st);
	fl_inventory_free(inv);
	return rc;
}

static int run(void *args, const struct fl_cli *cli)
{
	struct metrics_args *a = args;
	struct fl_error err;
	struct fl_buf out;
	int rc = FL_EXIT_OK;

	if (!*a->job)
		return fl_cli_usage_error(cli->cmd, "--job must not be empty");
	fl_error_init(&err);
	fl_buf_init(&out, 0);
	if (render(a, cli->db, &out, &err) < 0)
		goto fail;
	/* 0644: node_exporter usually runs as another user. */
	if (fl_cli_write_file(cli, a->output ? a->output : "-", &out, 0644, &err) < 0)
		goto fail;
	if (a->push_url && push(a->push_url, a->job, &out, &err) < 0)
		goto fail;
	goto out;
fail:
	rc = fl_cli_fail(&err);
out:
	fl_buf_release(&out);
	return rc;
}

const struct fl_cmd fl_cmd_metrics = {
	.name = "metrics",
	.summary = "write drill results as Prometheus text (textfile collector, Pushgateway)",
	.flags = FL_CMD_DB,
	.usage = usage,
	.shortopts = "o:",
	.opts = opts,
	.args_size = sizeof(struct metrics_args),
	.init = init,
	.option = option,
	.run = run,
};

int cmd_metrics(int argc, char **argv)
{
	return fl_cli_exec(&fl_cmd_metrics, argc, argv);
}
