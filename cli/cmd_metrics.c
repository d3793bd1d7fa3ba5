/*
 * cmd_metrics: `faultline metrics` — writes the drill results as Prometheus
 * text exposition (reports/metrics.h) for node_exporter's textfile
 * collector, atomically (temp file in the same directory, fsync, rename: the
 * collector never reads half a file), and optionally pushes the same text to
 * a Pushgateway (PUT <url>/metrics/job/<job>, bounded by a timeout and three
 * attempts). Exit 0 written, 2 bad input, 3 the file or the push failed.
 */
#include <curl/curl.h>
#include <fcntl.h>
#include <getopt.h>
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
		"usage: faultline metrics [--db FILE] [-o FILE] [--inventory FILE] [--stale-days N]\n"
		"                         [--push URL [--job NAME]]\n\n"
		"Writes the newest drill results per scenario as Prometheus text exposition:\n"
		"RTO/RPO achieved and targets, pass, last run time, lost writes; per asset the\n"
		"last drill time and staleness.\n\n"
		"  --db FILE         database (default $FAULTLINE_DB or faultline.db)\n"
		"  -o FILE           output file, written atomically (default stdout); point it\n"
		"                    into node_exporter's --collector.textfile.directory as *.prom\n"
		"  --inventory FILE  assets, for the staleness series\n"
		"  --stale-days N    an asset not drilled in N days is stale (default %d)\n"
		"  --push URL        also PUT the text to a Pushgateway at URL\n"
		"  --job NAME        Pushgateway job (default faultline)\n",
		FL_REPORT_STALE_DAYS);
}

static int write_atomic(const char *path, const struct fl_buf *data, struct fl_error *err)
{
	struct fl_buf tmp;
	int fd, rc = -1;

	fl_buf_init(&tmp, 4096);
	if (fl_buf_addf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
		fl_buf_release(&tmp);
		return fl_error_set(err, FL_EXIT_INPUT, "%s: output path too long", path);
	}
	/* 0644: node_exporter usually runs as another user. */
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

int cmd_metrics(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "inventory", required_argument, NULL, 'i' },
		{ "stale-days", required_argument, NULL, 'D' },
		{ "push", required_argument, NULL, 'p' },
		{ "job", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fl_report_options ro = { 0 };
	struct fl_report report;
	struct fl_error err;
	struct fl_buf out;
	struct fl_store *st = NULL;
	struct fl_inventory *inv = NULL;
	const char *db = fl_cli_default_db(), *output = NULL, *inv_path = NULL, *push_url = NULL,
		   *job = "faultline";
	int have_report = 0, rc, c;
	long v;

	fl_error_init(&err);
	fl_buf_init(&out, 0);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'o': output = optarg; break;
		case 'i': inv_path = optarg; break;
		case 'p': push_url = optarg; break;
		case 'j': job = optarg; break;
		case 'D':
			if (fl_parse_long(optarg, 1, 100000, &v) < 0)
				return fl_cli_usage_error("metrics",
							  "--stale-days needs a positive whole number, not '%s'",
							  optarg);
			ro.stale_days = v;
			break;
		case 'h': usage(stdout); return 0;
		default:
			return fl_cli_usage_error("metrics", "unknown or incomplete option '%s'",
						  argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fl_cli_usage_error("metrics", "unexpected argument '%s'", argv[optind]);
	if (push_url && strncmp(push_url, "http://", 7) && strncmp(push_url, "https://", 8))
		return fl_cli_usage_error("metrics",
					  "--push needs an http:// or https:// URL, not '%s'",
					  push_url);
	if (!*job)
		return fl_cli_usage_error("metrics", "--job must not be empty");
	if (access(db, F_OK) != 0) {
		fl_error_set(&err, FL_EXIT_INPUT,
			     "%s: no such database (run a drill first, or pass --db FILE)", db);
		goto fail;
	}
	if (inv_path && !(inv = fl_inventory_load(inv_path, &err)))
		goto fail;
	/* Only the newest run of each scenario is exported in full. */
	ro.keep_runs = 1;
	if (fl_report_init(&report, &ro) < 0) {
		fl_error_oom(&err, "faultline metrics");
		goto fail;
	}
	have_report = 1;
	st = fl_store_open(db, &err);
	if (!st || fl_report_load(&report, st, &err) < 0 ||
	    fl_report_finish(&report, inv, &err) < 0 || fl_metrics_write(&report, &out, &err) < 0)
		goto fail;
	if (output && strcmp(output, "-")) {
		if (write_atomic(output, &out, &err) < 0)
			goto fail;
	} else if (fwrite(out.buf, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
		fl_error_set(&err, FL_EXIT_ENV, "faultline metrics: cannot write to stdout");
		goto fail;
	}
	if (push_url && push(push_url, job, &out, &err) < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	rc = fl_cli_fail(&err);
out:
	if (have_report)
		fl_report_release(&report);
	fl_store_close(st);
	fl_inventory_free(inv);
	fl_buf_release(&out);
	return rc;
}

const struct fl_cmd fl_cmd_metrics = {
	.name = "metrics",
	.summary = "write drill results as Prometheus text (textfile collector, Pushgateway)",
	.legacy_main = cmd_metrics,
};
