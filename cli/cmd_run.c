/*
 * cmd_run: `faultline run SCENARIO...` — reverts anything a previous drill
 * left open, checks every file before touching anything, runs each drill,
 * prints the verdict table (or JSON) and exits with the contract's code.
 */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sim/lock.h"
#include "sim/notify.h"
#include "sim/runner.h"
#include "core/store.h"
#include "core/alloc.h"
#include "core/error.h"

static volatile int interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: faultline run SCENARIO... [--env FILE] [--inventory FILE] [--db FILE]\n"
		"                     [--label TEXT] [--json] [--dry-run] [--quiet]\n\n"
		"Runs each drill: steady-state check, inject, detect, recover, validate,\n"
		"measure data loss, revert. Faults a crashed drill left open are reverted first.\n\n"
		"  --env FILE        environment file (default: the scenario's \"environment\")\n"
		"  --inventory FILE  asset inventory (default: the scenario's \"inventory\")\n"
		"  --db FILE         SQLite store (default: $FAULTLINE_DB or faultline.db)\n"
		"  --label TEXT      version label of the system under test (e.g. a git revision)\n"
		"  --json            print the runs as a JSON array instead of the table\n"
		"  --dry-run         show what would be done; touch nothing\n"
		"  --quiet           no progress lines on stderr\n\n"
		"exit: 0 all passed, 1 a target was missed, 2 bad input, 3 environment could\n"
		"not be prepared or reverted, 130 interrupted (after revert)\n");
}

static void fmt_secs(char *buf, size_t n, double ms, double unc_ms)
{
	if (isnan(ms))
		snprintf(buf, n, "-");
	else if (isnan(unc_ms))
		snprintf(buf, n, "%.3f s", ms / 1e3);
	else
		snprintf(buf, n, "%.3f s ± %.3f s", ms / 1e3, unc_ms / 1e3);
}

static void print_table(struct fl_run *runs, size_t n)
{
	printf("%-28s %-24s %-9s %-24s %-9s %-13s %s\n", "SCENARIO", "RTO achieved", "target",
	       "RPO achieved", "target", "lost bef/aft", "VERDICT");
	for (size_t i = 0; i < n; i++) {
		struct fl_run *r = &runs[i];
		char rto[64], rpo[64], rt[32], pt[32], lost[32];
		if (r->id <= 0)
			continue; /* refused before anything was stored: its error is on stderr */
		fmt_secs(rto, sizeof(rto), r->rto_ms, r->rto_uncertainty_ms);
		fmt_secs(rpo, sizeof(rpo), r->rpo_ms, r->rpo_uncertainty_ms);
		fmt_secs(rt, sizeof(rt), r->rto_target_ms, NAN);
		fmt_secs(pt, sizeof(pt), r->rpo_target_ms, NAN);
		if (r->lost_before_fault >= 0)
			snprintf(lost, sizeof(lost), "%ld / %ld", r->lost_before_fault, r->lost_after_fault);
		else
			snprintf(lost, sizeof(lost), "-");
		printf("%-28s %-24s %-9s %-24s %-9s %-13s %s\n", r->scenario ? r->scenario : "?", rto, rt,
		       rpo, pt, lost, r->verdict ? r->verdict : "error");
		for (size_t k = 0; k < r->nfailures; k++)
			printf("    - %s\n", r->failures[k]);
	}
}

static int severity(int rc)
{
	switch (rc) {
	case FL_EXIT_INTERRUPTED: return 5;
	case FL_EXIT_ENV: return 4;
	case FL_EXIT_INPUT: return 3;
	case FL_EXIT_FAIL: return 2;
	case FL_EXIT_OK: return 0;
	}
	return 4;
}

int cmd_run(int argc, char **argv)
{
	struct fl_run_options o;
	const char *db = fl_cli_default_db();
	const char **scenarios = NULL;
	size_t nsc = 0, nruns = 0;
	struct fl_run *runs = NULL;
	struct fl_store *st = NULL;
	struct fl_error err;
	int json = 0, quiet = 0, rc = FL_EXIT_OK;
	struct sigaction sa, old_int, old_term;
	struct fl_notifier *notifier = NULL;
	const char *notify_path = getenv("FAULTLINE_NOTIFY");
	const char *lock_dir = getenv("FAULTLINE_LOCK_DIR");
	char host[256] = "";

	memset(&o, 0, sizeof(o));
	fl_error_init(&err);
	scenarios = fl_calloc((size_t)argc + 1, sizeof(*scenarios));
	if (!scenarios)
		return FL_EXIT_ENV;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			fl_free(scenarios);
			return 0;
		} else if (!strcmp(a, "--json")) {
			json = 1;
		} else if (!strcmp(a, "--dry-run")) {
			o.dry_run = 1;
		} else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
			quiet = 1;
		} else if (!strcmp(a, "--env") || !strcmp(a, "--inventory") || !strcmp(a, "--db") ||
			   !strcmp(a, "--label")) {
			if (i + 1 >= argc) {
				fl_free(scenarios);
				return fl_cli_usage_error("run", "%s needs a value", a);
			}
			const char *v = argv[++i];
			if (!strcmp(a, "--env"))
				o.env_path = v;
			else if (!strcmp(a, "--inventory"))
				o.inventory_path = v;
			else if (!strcmp(a, "--db"))
				db = v;
			else
				o.label = v;
		} else if (a[0] == '-' && a[1]) {
			fl_free(scenarios);
			return fl_cli_usage_error("run", "unknown option '%s'", a);
		} else {
			scenarios[nsc++] = a;
		}
	}
	if (nsc == 0) {
		fl_free(scenarios);
		return fl_cli_usage_error("run", "no scenario given");
	}
	o.log = quiet ? NULL : stderr;
	o.live = !quiet && isatty(2);
	o.interrupted = &interrupted;
	if (o.dry_run && json && !(o.plan = json_array())) {
		fl_free(scenarios);
		return FL_EXIT_ENV;
	}

	/* Every file is checked before anything is touched. */
	for (size_t i = 0; i < nsc; i++) {
		if (fl_runner_check(scenarios[i], &o, &err) < 0) {
			fl_free(scenarios);
			return fl_cli_fail(&err);
		}
	}
	if (!o.dry_run) {
		int left;
		st = fl_store_open(db, &err);
		if (!st) {
			fl_free(scenarios);
			return fl_cli_fail(&err);
		}
		left = fl_runner_recover(st, o.log, &err);
		if (left != 0) {
			if (left < 0)
				fl_cli_fail(&err);
			else
				fprintf(stderr, "faultline run: %d fault(s) from an earlier drill could not be "
						"reverted; fix them and run 'faultline recover' first\n", left);
			fl_store_close(st);
			fl_free(scenarios);
			return FL_EXIT_ENV;
		}
	}

	/* Notifications (sim/notify.h): FAULTLINE_NOTIFY names the channel file. */
	if (!o.dry_run && notify_path && *notify_path) {
		if (!(notifier = fl_notifier_open(notify_path, &err))) {
			fl_store_close(st);
			fl_free(scenarios);
			return fl_cli_fail(&err);
		}
		gethostname(host, sizeof(host) - 1);
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	runs = fl_calloc(nsc, sizeof(*runs));
	if (!runs) {
		rc = FL_EXIT_ENV;
		goto out;
	}
	for (size_t i = 0; i < nsc && !interrupted; i++) {
		int r;
		struct fl_lock *lock = NULL;
		fl_error_init(&err);
		fl_run_init(&runs[i]);
		nruns++;
		/* One drill per environment (sim/lock.h), when FAULTLINE_LOCK_DIR asks. */
		if (!o.dry_run && lock_dir && *lock_dir) {
			char *env_name = fl_lock_scenario_environment(scenarios[i], o.env_path, &err);
			struct fl_buf what;
			fl_buf_init(&what, 4096);
			fl_buf_addf(&what, "faultline run %s", scenarios[i]);
			lock = env_name ? fl_lock_environment(lock_dir, env_name, what.buf, &err) : NULL;
			fl_buf_release(&what);
			fl_free(env_name);
			if (!lock) {
				fprintf(stderr, "%s\n", err.msg);
				if (severity(FL_EXIT_ENV) > severity(rc))
					rc = FL_EXIT_ENV;
				continue;
			}
		}
		if (notifier) {
			fl_notify_run_start(notifier, scenarios[i], o.env_path, host);
		}
		r = fl_runner_run(scenarios[i], &o, st, &runs[i], &err);
		if (fl_error_is_set(&err))
			fprintf(stderr, "%s\n", err.msg);
		fl_notify_run_end(notifier, &runs[i], r, host);
		fl_lock_release(lock);
		if (severity(r) > severity(rc))
			rc = r;
	}
	if (interrupted && rc != FL_EXIT_ENV)
		rc = FL_EXIT_INTERRUPTED;
	if (o.dry_run && json) {
		json_dumpf(o.plan, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	}
	if (!o.dry_run) {
		int stored = 0;
		for (size_t i = 0; i < nruns; i++)
			stored += runs[i].id > 0;
		if (json) {
			json_t *arr = json_array();
			for (size_t i = 0; i < nruns; i++)
				if (runs[i].id > 0)
					json_array_append_new(arr, fl_run_to_json(&runs[i]));
			json_dumpf(arr, stdout, JSON_INDENT(2));
			fputc('\n', stdout);
			json_decref(arr);
		} else if (stored > 0) {
			print_table(runs, nruns);
			if (!quiet)
				fprintf(stderr, "%d run(s) stored in %s\n", stored, db);
		}
	}
out:
	if (notifier) {
		struct fl_buf nf;
		fl_buf_init(&nf, 1 << 20);
		fl_notifier_close(notifier, &nf);
		if (nf.len)
			fputs(nf.buf, stderr);
		fl_buf_release(&nf);
	}
	json_decref(o.plan);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	for (size_t i = 0; i < nruns; i++)
		fl_run_release(&runs[i]);
	fl_free(runs);
	fl_store_close(st);
	fl_free(scenarios);
	return rc;
}
