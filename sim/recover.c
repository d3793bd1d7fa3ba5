/*
 * recover: one pass over the open journal rows, then over orphaned runs.
 */
#include "sim/recover.h"

#include <inttypes.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/proc.h"
#include "core/spawn.h"
#include "injectors/injector.h"

/* A harness killed mid-inject, mid-revert or during a recovery step leaves
 * what it started running (an ssh still writing on a host, a command still
 * at work, a `start` command restarting a service, a recovery action): they
 * end before the revert, or their damage (or their restart) lands after it
 * and fights it. Bounded: 30 s for each owner, once per pass (*waited: the
 * last owner waited for, which a row of the same owner skips). */
static void wait_owned(const struct fl_journal_entry *e, const char *target, char *waited, size_t n,
		       FILE *log)
{
	char marker[96];
	int left;
	if (e->owner_pid <= 0 ||
	    fl_proc_owner_marker(e->owner_pid, e->owner_start, marker, sizeof(marker)) < 0)
		return;
	fl_spawn_tag_as(marker);
	if (strcmp(waited, marker) == 0)
		return;
	snprintf(waited, n, "%s", marker);
	left = fl_proc_wait_marked(marker, 30LL * FL_NS_PER_S);
	if (left > 0 && log)
		fprintf(log,
			"recover: journal %" PRId64 " (%s on %s): %d program(s) its harness started "
			"(inject, revert or recovery step) still run after 30 s; reverting anyway\n",
			e->id, e->injector, target, left);
}

/* Reverts one row. 0 reverted, 1 left alone (a live drill's), -1 not
 * reverted (counted by the caller). */
static int recover_one(struct fl_store *store, const struct fl_journal_entry *e, char *waited,
		       size_t waited_n, FILE *log)
{
	struct fl_error re, me;
	const char *target = e->target ? e->target : "-";
	int rc;
	int alive =
		fl_owner_alive_leased(e->owner_host, e->owner_pid, e->owner_start, e->owner_lease);
	fl_error_init(&re);
	fl_error_init(&me);
	if (alive == 1) {
		/* Another drill sharing this database is still running: its
		 * faults are its own to revert. */
		/* A runner on another host is judged by its lease, not its pid:
		 * say which, so nobody reads "pid N" and looks for it here. */
		if (log && fl_owner_alive(e->owner_host, e->owner_pid, e->owner_start) < 0)
			fprintf(log,
				"recover: journal %" PRId64 " (%s on %s) belongs to a drill still "
				"running (pid %ld on host '%s': its lease is fresh); left alone\n",
				e->id, e->injector, target, e->owner_pid, e->owner_host);
		else if (log)
			fprintf(log,
				"recover: journal %" PRId64 " (%s on %s) belongs to a drill still "
				"running (pid %ld); left alone\n",
				e->id, e->injector, target, e->owner_pid);
		return 1;
	}
	if (alive < 0 && e->owner_host && e->owner_pid > 0) {
		if (log)
			fprintf(log,
				"recover: journal %" PRId64 " (%s on %s) was injected from host "
				"'%s'; run 'faultline recover' there\n",
				e->id, e->injector, target, e->owner_host);
		return -1;
	}
	/* What this revert starts carries the dead drill's tag (wait_owned): a
	 * recover killed here leaves it for the next recover to wait for. */
	wait_owned(e, target, waited, waited_n, log);
	rc = fl_injector_revert(e->injector, e->revert, &re);
	fl_spawn_tag_as(NULL);
	/* The revert record is stored again with the row's new state: the
	 * injector notes in it what the revert did ("outcome"), which is what
	 * an operator reads when a recovered system misbehaves. */
	if (rc < 0) {
		fl_journal_mark(store, e->id, FL_JOURNAL_REVERT_FAILED, e->revert, re.msg, &me);
		if (log)
			fprintf(log,
				"recover: journal %" PRId64 " (%s on %s, run %" PRId64
				"): revert failed: %s\n",
				e->id, e->injector, target, e->run_id, re.msg);
		return -1;
	}
	if (fl_journal_mark(store, e->id, FL_JOURNAL_REVERTED, e->revert, NULL, &me) < 0) {
		if (log)
			fprintf(log, "recover: journal %" PRId64 ": reverted but not marked: %s\n",
				e->id, me.msg);
		return -1;
	}
	if (log)
		fprintf(log,
			"recover: reverted journal %" PRId64 " (%s on %s, run %" PRId64 "): %s\n",
			e->id, e->injector, target, e->run_id, e->description ? e->description : "");
	return 0;
}

/* Runs whose harness died stay "running" forever otherwise: close them. */
static int close_orphans(struct fl_store *store, FILE *log, struct fl_error *err)
{
	int64_t *runs = NULL;
	size_t nruns = 0;
	if (fl_store_runs_orphaned(store, &runs, &nruns, err) < 0)
		return -1;
	for (size_t i = 0; i < nruns; i++) {
		struct fl_error me;
		fl_error_init(&me);
		if (fl_store_run_abandon(store, runs[i],
					 "the harness died during the drill; its faults were reverted by 'faultline recover'",
					 &me) > 0 &&
		    log)
			fprintf(log,
				"recover: run %" PRId64 " marked aborted (its harness is gone)\n",
				runs[i]);
	}
	fl_free(runs);
	return 0;
}

int fl_runner_recover(struct fl_store *store, FILE *log, struct fl_error *err)
{
	struct fl_journal_entry *e = NULL;
	size_t n = 0;
	int failed = 0;
	char waited[96] = "";
	if (fl_journal_open_entries(store, &e, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (recover_one(store, &e[i], waited, sizeof(waited), log) < 0)
			failed++;
	fl_journal_entries_free(e, n);
	if (close_orphans(store, log, err) < 0)
		return -1;
	return failed;
}
