/*
 * cmd_run: `faultline run SCENARIO...` — reverts anything a previous drill
 * left open, checks every file before touching anything, runs each drill,
 * prints the verdict table (or JSON) and exits with the contract's code.
 */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sim/lock.h"
#include "sim/notify.h"
#include "sim/runner.h"
#include "sim/recover.h"
#include "core/store.h"
#include "core/alloc.h"
#include "core/error.h"

static atomic_int interrupted;

/* SIGINT, SIGTERM and SIGHUP: the drill reverts and exits 130. */
static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&interrupted, 1);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: faultline run SCENARIO... [--env FILE] [--inventory FILE] [--db DB]\n"
		"                     [--label TEXT] [--notify FILE] [--json] [--dry-run] [--quiet]\n\n"
		"Runs each drill: steady-state check, inject, detect, recover, validate,\n"
		"measure data loss, revert. Faults a crashed drill left open are reverted first.\n\n"
		"  --env FILE        environment file (default: the scenario's \"environment\")\n"
		"  --inventory FILE  asset inventory (default: the scenario's \"inventory\")\n"
		"  --db DB           a SQLite file or a postgresql:// URL (docs/store.md);\n"
		"                    default $FAULTLINE_DB, else faultline.db\n"
		"  --label TEXT      version label of the system under test (e.g. a git revision)\n"
		"  --notify FILE     notification channels (default: $FAULTLINE_NOTIFY; the option wins)\n"
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
			snprintf(lost, sizeof(lost), "%ld / %ld", r->lost_before_fault,
				 r->lost_after_fault);
		else
			snprintf(lost, sizeof(lost), "-");
		printf("%-28s %-24s %-9s %-24s %-9s %-13s %s\n", r->scenario ? r->scenario : "?",
		       rto, rt, rpo, pt, lost, r->verdict ? r->verdict : "error");
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

struct run_args {
	struct fl_run_options o;
	const char *notify_path; /* --notify, else $FAULTLINE_NOTIFY */
	int quiet;
};

static const struct option opts[] = {
	{ "env", required_argument, NULL, 'e' },
	{ "inventory", required_argument, NULL, 'i' },
	{ "label", required_argument, NULL, 'l' },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "notify", required_argument, NULL, 'N' },
	{ NULL, 0, NULL, 0 },
};

static void init(void *args)
{
	struct run_args *a = args;
	a->notify_path = getenv("FAULTLINE_NOTIFY");
}

static int option(void *args, int c, const char *arg, const struct fl_cli *cli)
{
	struct run_args *a = args;
	(void)cli;
	switch (c) {
	case 'e': a->o.env_path = arg; break;
	case 'i': a->o.inventory_path = arg; break;
	case 'l': a->o.label = arg; break;
	case 'n': a->o.dry_run = 1; break;
	case 'q': a->quiet = 1; break;
	case 'N':
		if (!*arg)
			return fl_cli_usage_error("run", "--notify needs a file");
		a->notify_path = arg;
		break;
	}
	return 0;
}

/* Opens the store and reverts what earlier drills left open. 0, or the
 * exit code after saying why; *st is set when the store was opened. */
static int open_and_recover(const char *db, const struct fl_run_options *o, struct fl_store **st)
{
	struct fl_error err;
	int left;
	fl_error_init(&err);
	if (!(*st = fl_store_open(db, &err)))
		return fl_cli_fail(&err);
	left = fl_runner_recover(*st, o->log, &err);
	if (left == 0)
		return 0;
	if (left < 0)
		fl_cli_fail(&err);
	else
		fprintf(stderr,
			"faultline run: %d fault(s) from an earlier drill could not be "
			"reverted; fix them and run 'faultline recover' first\n",
			left);
	return FL_EXIT_ENV;
}

/* What an earlier drill left open is reverted (or reported) BEFORE the
 * files are checked: a typo in today's scenario must not leave yesterday's
 * faults in place. A database that does not exist has nothing open and is
 * not created for a run refused as bad input. Then every file is checked
 * before anything is touched. 0 with *st open (NULL for a dry run), or the
 * exit code. */
static int prepare(const struct fl_cli *cli, struct fl_run_options *o, struct fl_store **st)
{
	struct fl_error err;
	struct stat sb;
	int rc;

	fl_error_init(&err);
	if (!o->dry_run && stat(cli->db, &sb) == 0 && (rc = open_and_recover(cli->db, o, st)) != 0)
		return rc;
	for (int i = 0; i < cli->argc; i++)
		if (fl_runner_check(cli->argv[i], o, &err) < 0)
			return fl_cli_fail(&err);
	if (o->dry_run || *st)
		return 0;
	return open_and_recover(cli->db, o, st);
}

static void print_runs(struct fl_run *runs, size_t nruns, const struct fl_cli *cli, int quiet)
{
	int stored = 0;
	for (size_t i = 0; i < nruns; i++)
		stored += runs[i].id > 0;
	if (cli->json) {
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
			fprintf(stderr, "%d run(s) stored in %s\n", stored, cli->db);
	}
}

/* One drill per environment (sim/lock.h) when FAULTLINE_LOCK_DIR asks:
 * the lock, NULL without one, or NULL with *refused set after saying why. */
static struct fl_lock *lock_for(const char *scenario, const struct fl_run_options *o, int *refused)
{
	const char *lock_dir = getenv("FAULTLINE_LOCK_DIR");
	struct fl_lock *lock;
	struct fl_error err;
	struct fl_buf what;
	char *env_name;
	*refused = 0;
	if (o->dry_run || !lock_dir || !*lock_dir)
		return NULL;
	fl_error_init(&err);
	env_name = fl_lock_scenario_environment(scenario, o->env_path, &err);
	fl_buf_init(&what, 4096);
	fl_buf_addf(&what, "faultline run %s", scenario);
	lock = env_name ? fl_lock_environment(lock_dir, env_name, what.buf, &err) : NULL;
	fl_buf_release(&what);
	fl_free(env_name);
	if (!lock) {
		fprintf(stderr, "%s\n", err.msg);
		*refused = 1;
	}
	return lock;
}

/* Runs each drill in turn until one is interrupted; the worst exit code.
 * notifier (sim/notify.h) may be NULL. */
static int run_all(const struct fl_cli *cli, struct fl_run_options *o, struct fl_store *st,
		   struct fl_run *runs, size_t *nruns, struct fl_notifier *notifier, const char *host)
{
	int rc = FL_EXIT_OK;
	for (int i = 0; i < cli->argc && !atomic_load(&interrupted); i++) {
		struct fl_error err;
		struct fl_lock *lock;
		int r, refused;
		fl_error_init(&err);
		fl_run_init(&runs[i]);
		(*nruns)++;
		lock = lock_for(cli->argv[i], o, &refused);
		if (refused) {
			if (severity(FL_EXIT_ENV) > severity(rc))
				rc = FL_EXIT_ENV;
			continue;
		}
		if (notifier)
			fl_notify_run_start(notifier, cli->argv[i], o->env_path, host);
		r = fl_runner_run(cli->argv[i], o, st, &runs[i], &err);
		if (fl_error_is_set(&err))
			fprintf(stderr, "%s\n", err.msg);
		fl_notify_run_end(notifier, &runs[i], r, host);
		fl_lock_release(lock);
		if (severity(r) > severity(rc))
			rc = r;
	}
	if (atomic_load(&interrupted) && rc != FL_EXIT_ENV)
		rc = FL_EXIT_INTERRUPTED;
	return rc;
}

static int run(void *args, const struct fl_cli *cli)
{
	struct run_args *a = args;
	struct fl_run_options *o = &a->o;
	struct fl_run *runs = NULL;
	struct fl_store *st = NULL;
	size_t nruns = 0;
	int rc;
	struct sigaction sa, old_int, old_term, old_hup, old_pipe;
	struct fl_notifier *notifier = NULL;
	const char *notify_path = a->notify_path;
	char host[256] = "";

	if (cli->argc == 0)
		return fl_cli_usage_error("run", "no scenario given");
	o->log = a->quiet ? NULL : stderr;
	o->live = !a->quiet && isatty(2);
	o->interrupted = &interrupted;
	if (o->dry_run && cli->json && !(o->plan = json_array()))
		return FL_EXIT_ENV;
	/* SIGHUP (an ssh session dropping during a game day) stops a drill like
	 * Ctrl-C: revert, record, exit 130. SIGPIPE (`faultline run ... | head`)
	 * must not kill the harness with faults in place: a closed pipe only
	 * loses output. Both are set before anything is touched. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, &old_pipe);
	if ((rc = prepare(cli, o, &st)) != 0)
		goto out;
	/* Notifications (sim/notify.h): --notify or FAULTLINE_NOTIFY names the
	 * channel file; an explicit option beats the environment. */
	if (!o->dry_run && notify_path && *notify_path) {
		struct fl_error err;
		fl_error_init(&err);
		if (!(notifier = fl_notifier_open(notify_path, &err))) {
			rc = fl_cli_fail(&err);
			goto out;
		}
		gethostname(host, sizeof(host) - 1);
	}
	runs = fl_calloc((size_t)cli->argc, sizeof(*runs));
	rc = runs ? run_all(cli, o, st, runs, &nruns, notifier, host) : FL_EXIT_ENV;
	if (o->dry_run && cli->json) {
		json_dumpf(o->plan, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	}
	if (!o->dry_run)
		print_runs(runs, nruns, cli, a->quiet);
out:
	if (notifier) {
		struct fl_buf nf;
		fl_buf_init(&nf, 1 << 20);
		fl_notifier_close(notifier, &nf);
		if (nf.len)
			fputs(nf.buf, stderr);
		fl_buf_release(&nf);
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	json_decref(o->plan);
	for (size_t i = 0; i < nruns; i++)
		fl_run_release(&runs[i]);
	fl_free(runs);
	fl_store_close(st);
	return rc;
}

const struct fl_cmd fl_cmd_run = {
	.name = "run",
	.summary = "run drills: inject, time recovery, measure data loss, revert",
	.flags = FL_CMD_DB | FL_CMD_JSON | FL_CMD_OPERANDS,
	.usage = usage,
	.shortopts = "q",
	.opts = opts,
	.args_size = sizeof(struct run_args),
	.init = init,
	.option = option,
	.run = run,
};

int cmd_run(int argc, char **argv)
{
	return fl_cli_exec(&fl_cmd_run, argc, argv);
}
