/*
 * bench_aws: the cost of one signed AWS call through faultline's client
 * against one `aws` CLI call of the same operation (goal: 30x faster).
 *
 * Usage: bench_aws ENDPOINT_URL [N]. ENDPOINT_URL is any loopback stand-in
 * that answers (tests/integration/aws_fixture.py ... capture, or
 * moto_server); credentials and region come from the environment as for
 * faultline. Sends N (default 200) sts GetCallerIdentity calls through
 * core/aws.c on one reused connection, and N/40 (at least 3) through the
 * AWS CLI as a separate process each — which is how a harness that shells
 * out to the CLI pays for it. Prints one JSON object: per-call medians in
 * milliseconds and their ratio.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench_util.h"
#include "core/alloc.h"
#include "core/aws.h"
#include "core/clock.h"
#include "core/spawn.h"

int main(int argc, char **argv)
{
	struct fl_aws_config cfg;
	struct fl_error err;
	struct fl_aws *aws;
	struct bench_dist ours, cli;
	struct bench_summary so, sc;
	long n = argc > 2 ? strtol(argv[2], NULL, 10) : 200, ncli;
	const char *cli_argv[] = { "aws", "--endpoint-url",      argv[1],
				   "sts", "get-caller-identity", NULL };

	if (argc < 2 || n < 1) {
		fprintf(stderr, "usage: bench_aws ENDPOINT_URL [N]\n");
		return 2;
	}
	ncli = n / 40 < 3 ? 3 : n / 40;
	fl_error_init(&err);
	fl_alloc_install_jansson();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (fl_aws_config_load(&cfg, NULL, argv[1], &err) < 0 || !(aws = fl_aws_new(&cfg, &err))) {
		fprintf(stderr, "bench_aws: %s\n", err.msg);
		return 3;
	}
	bench_dist_init(&ours);
	bench_dist_init(&cli);
	for (long i = 0; i < n; i++) {
		int64_t t0 = fl_now_ns();
		xmlDoc *doc = fl_aws_query(aws, FL_AWS_STS, "GetCallerIdentity", NULL, 0, &err);
		if (!doc) {
			fprintf(stderr, "bench_aws: %s\n", err.msg);
			return 3;
		}
		xmlFreeDoc(doc);
		bench_dist_add(&ours, (double)(fl_now_ns() - t0) / 1e6);
	}
	for (long i = 0; i < ncli; i++) {
		int status = 0;
		int64_t t0 = fl_now_ns();
		if (fl_run_argv(cli_argv, 120 * FL_NS_PER_S, NULL, &status, NULL, &err) < 0) {
			fprintf(stderr, "bench_aws: %s\n", err.msg);
			return 3;
		}
		bench_dist_add(&cli, (double)(fl_now_ns() - t0) / 1e6);
	}
	bench_dist_summarize(&ours, &so);
	bench_dist_summarize(&cli, &sc);
	printf("{\"group\": \"aws\", \"operation\": \"sts GetCallerIdentity\",\n"
	       " \"faultline_client\": {\"runs\": %zu, \"median_ms\": %.3f, \"p99_ms\": %.3f},\n"
	       " \"aws_cli\": {\"runs\": %zu, \"median_ms\": %.1f, \"p99_ms\": %.1f},\n"
	       " \"speedup\": %.0f, \"goal\": 30}\n",
	       so.n, so.median, so.p99, sc.n, sc.median, sc.p99, sc.median / so.median);
	bench_dist_release(&ours);
	bench_dist_release(&cli);
	fl_aws_free(aws);
	fl_aws_config_release(&cfg);
	curl_global_cleanup();
	return sc.median / so.median >= 30 ? 0 : 1;
}
