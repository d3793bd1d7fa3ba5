/*
 * process injector: signals a local process (or its process group) and
 * makes sure it runs again afterwards.
 *
 * Owns: the `process` fault family (target kind process). Keys: `signal`
 * ("KILL" default, "TERM", "STOP", "INT", "HUP", ...), `pause` (a duration:
 * SIGSTOP now, SIGCONT when the fault's `duration` ends — it must equal that
 * duration), `children` (signal the whole process group). The pid comes from
 * the target's pidfile, re-read at inject time, or from the one process
 * whose /proc/PID/cmdline contains the target's `match`. prepare() records
 * the pid with its start time (field 22 of /proc/PID/stat), so a pid reused
 * by an unrelated process is never signalled by revert.
 *
 * Revert: a STOP is undone by SIGCONT to the same process (pid + start
 * time) if it still exists. After a terminating signal, revert waits up to
 * 2 s for a supervisor to bring up a new process (the pidfile names a live
 * pid other than the killed one, or another process matches); failing that
 * it runs the target's `start` argv (which must return once the service is
 * up, like `systemctl start`; 30 s limit) and waits up to 5 s for it to
 * appear. With no start command a process still down is an error. Does
 * not own: supervising services, or knowing whether they are healthy
 * (probes).
 *
 * Remote targets (the target has `ssh`, docs/remote.md): the same logic
 * against the host's /proc, pidfile, kill and start command, through the
 * fl_px_* functions (process_host.h); the host is journaled in the record ("ssh") so
 * revert needs nothing else, and revert's remote calls are retried while
 * the host is unreachable (core/ssh.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "injectors/injector.h"
#include "injectors/process_host.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/spawn.h"
#include "core/proc.h"
#include "core/ssh.h"

#define PROCESS_GRACE_NS (2 * FL_NS_PER_S) /* for a supervisor to restart it */
#define PROCESS_START_TIMEOUT_NS (30 * FL_NS_PER_S)
#define PROCESS_START_WAIT_NS (5 * FL_NS_PER_S) /* for the started process to show */
#define PROCESS_POLL_NS (20 * FL_NS_PER_MS)

/* Runs the start command detached from the session's pipes: a daemon
 * holding them open would keep ssh waiting. */
static const char start_script[] = "exec \"$@\" </dev/null >/dev/null 2>&1";

/* ---- the record ---------------------------------------------------------- */
/* Fills pid, start_time, pgid and cmdline of the current process in rec. */
static int record_process(json_t *rec, const char *name, struct fl_error *err)
{
	const char *pidfile = json_string_value(json_object_get(rec, "pidfile"));
	const char *match = json_string_value(json_object_get(rec, "match"));
	unsigned long long start_time = 0;
	struct fl_ssh host;
	const struct fl_ssh *h = NULL;
	struct fl_buf cmd;
	pid_t pid = 0, pgid;
	int rc = -1, remote;

	fl_buf_init(&cmd, 4096);
	remote = fl_px_host(rec, &host, err);
	if (remote < 0)
		goto out;
	h = remote ? &host : NULL;
	if (fl_px_resolve(h, name, pidfile, match, &pid, &start_time, err) < 0)
		goto out;
	fl_px_cmdline(h, pid, &cmd);
	if (json_object_set_new(rec, "pid", json_integer(pid)) < 0 ||
	    json_object_set_new(rec, "start_time", json_integer((json_int_t)start_time)) < 0 ||
	    json_object_set_new(rec, "cmdline", json_string(cmd.buf)) < 0) {
		fl_error_oom(err, "%s", name);
		goto out;
	}
	if (json_is_true(json_object_get(rec, "children"))) {
		struct fl_px_stat s;
		if (fl_px_stat_get(h, pid, &s, 1, err) < 0)
			goto out;
		pgid = s.pgid;
		if (pgid <= 1) {
			fl_error_set(err, FL_EXIT_ENV,
				     "%s: cannot find the process group of pid %d", name, (int)pid);
			goto out;
		}
		/* Signalling our own group would take the harness down with it. */
		if (!h && pgid == getpgrp()) {
			fl_error_set(err, FL_EXIT_ENV,
				     "%s: pid %d shares faultline's process group; refusing 'children'",
				     name, (int)pid);
			goto out;
		}
		if (json_object_set_new(rec, "pgid", json_integer(pgid)) < 0) {
			fl_error_oom(err, "%s", name);
			goto out;
		}
	}
	rc = 0;
out:
	fl_ssh_release(&host);
	fl_buf_release(&cmd);
	return rc;
}

/* ---- validate ---------------------------------------------------------------- */

static int process_validate(struct fl_doc *doc, const struct fl_fault_spec *fault,
			    const struct fl_target *target, struct fl_error *err)
{
	json_t *params = fault->params;
	char *signal_s = NULL, buf1[32], buf2[32];
	int64_t pause = 0;
	int children = 0, sig = SIGKILL, rc = -1;

	if (!target || target->kind != FL_TARGET_PROCESS) {
		fl_doc_error_value(doc, params, err,
				   "fault '%s': the process injector needs a target of kind process",
				   fault->name);
		goto out;
	}
	if (!target->pidfile && !target->match) {
		fl_doc_error_value(doc, params, err,
				   "fault '%s': target '%s' has neither a pidfile nor a match",
				   fault->name, target->name);
		goto out;
	}
	if (fl_doc_string(doc, params, "signal", 0, &signal_s, err) < 0 ||
	    fl_doc_duration(doc, params, "pause", 0, &pause, err) < 0 ||
	    fl_doc_bool(doc, params, "children", 0, &children, err) < 0)
		goto out;
	if (signal_s) {
		sig = fl_signal_parse(signal_s);
		if (sig <= 0 || sig >= NSIG) {
			fl_doc_error_value(doc, json_object_get(params, "signal"), err,
					   "unknown signal '%s'", signal_s);
			goto out;
		}
	}
	if (json_object_get(params, "pause")) {
		if (signal_s && sig != SIGSTOP) {
			fl_doc_error_key(doc, params, "pause", err,
					 "'pause' sends SIGSTOP; it cannot go with signal '%s'",
					 signal_s);
			goto out;
		}
		if (pause <= 0) {
			fl_doc_error_key(doc, params, "pause", err, "'pause': must be more than 0s");
			goto out;
		}
		/* The runner sends SIGCONT (revert) when the fault's duration ends. */
		if (fault->duration_ns != pause) {
			fl_doc_error_key(doc, params, "pause", err,
					 "'pause' (%s) must equal the fault's 'duration' (%s): SIGCONT is sent when the duration ends",
					 fl_duration_format(pause, buf1, sizeof(buf1)),
					 fault->duration_ns ? fl_duration_format(fault->duration_ns,
										 buf2, sizeof(buf2))
							    : "none");
			goto out;
		}
	}
	if (fl_doc_check_keys(doc, params, err) < 0)
		goto out;
	rc = 0;
out:
	fl_free(signal_s);
	return rc;
}

/* ---- prepare / inject ---------------------------------------------------------- */

static int fault_signal(const json_t *params)
{
	const char *s = json_string_value(json_object_get(params, "signal"));
	if (!s)
		return json_object_get(params, "pause") ? SIGSTOP : SIGKILL;
	return fl_signal_parse(s);
}

static json_t *process_prepare(const struct fl_fault_spec *fault, const struct fl_target *target,
			       struct fl_error *err)
{
	int sig = fault_signal(fault->params);
	json_t *rec, *start;

	if (!target || target->kind != FL_TARGET_PROCESS) {
		fl_error_set(err, FL_EXIT_INPUT,
			     "fault '%s': the process injector needs a process target", fault->name);
		return NULL;
	}
	if (sig <= 0 || sig >= NSIG) {
		fl_error_set(err, FL_EXIT_INPUT, "fault '%s': unknown signal", fault->name);
		return NULL;
	}
	/* `start` in journal form (docs/trust.md): expanded, secrets by name. */
	start = target->start ? fl_injector_journal_strv(target, "start", target->start,
							 fault->secrets, fault->name, err)
			      : NULL;
	if (target->start && !start)
		return NULL;
	rec = json_pack("{s:s, s:s, s:s, s:i, s:b, s:s?, s:s?, s:o?, s:s?}", "fault", fault->name,
			"target", target->name, "signal", fl_signal_name(sig), "signo", sig,
			"children", json_is_true(json_object_get(fault->params, "children")),
			"pidfile", target->pidfile, "match", target->match, "start", start,
			"start_form", start ? "journal" : NULL);
	/* The host goes into the journal with the fault: `faultline recover`
	 * reverts a remote fault from the record alone. */
	if (rec && target->ssh && json_object_set_new(rec, "ssh", fl_ssh_to_json(target->ssh)) < 0) {
		json_decref(rec);
		rec = NULL;
	}
	if (!rec) {
		fl_error_oom(err, "fault '%s'", fault->name);
		return NULL;
	}
	if (record_process(rec, target->name, err) < 0) {
		json_decref(rec);
		return NULL;
	}
	return rec;
}

/* The pidfile may have changed since prepare (a restart in between): what
 * runs now is what inject signals and revert must know. 1 when it changed. */
static int process_rearm(const struct fl_fault_spec *fault, const struct fl_target *target,
			 json_t *revert, struct fl_error *err)
{
	const char *name = json_string_value(json_object_get(revert, "target"));
	json_int_t pid = json_integer_value(json_object_get(revert, "pid"));
	json_int_t start = json_integer_value(json_object_get(revert, "start_time"));
	json_int_t pgid = json_integer_value(json_object_get(revert, "pgid"));
	struct fl_ssh host;
	int remote = fl_px_host(revert, &host, err), alive = 0;
	/* The process prepare() found still runs (same pid, same start
	 * time): that is the one to signal, nothing to re-journal. Only a
	 * process that ended since (a restart) is looked up again — by then
	 * the target may be mid-change (another fault of the same drill just
	 * killed its supervisor), so an unchanged record is never put at risk
	 * by a second lookup. */
	if (remote < 0)
		return -1;
	if (pid > 0) {
		struct fl_error ignored; /* a host that cannot be asked: look up again */
		fl_error_init(&ignored);
		alive = fl_px_alive(remote ? &host : NULL, (pid_t)pid, (unsigned long long)start, 1,
				    &ignored);
	}
	fl_ssh_release(&host);
	if (alive == 1)
		return 0;
	if (record_process(revert, name ? name : fault->name, err) < 0)
		return -1;
	return pid != json_integer_value(json_object_get(revert, "pid")) ||
	       start != json_integer_value(json_object_get(revert, "start_time")) ||
	       pgid != json_integer_value(json_object_get(revert, "pgid"));
}

static int process_inject(const struct fl_fault_spec *fault, const struct fl_target *target,
			  json_t *revert, struct fl_error *err)
{
	const char *name = json_string_value(json_object_get(revert, "target"));
	int sig = (int)json_integer_value(json_object_get(revert, "signo"));
	unsigned long long start =
		(unsigned long long)json_integer_value(json_object_get(revert, "start_time"));
	struct fl_ssh host;
	const struct fl_ssh *h;
	pid_t pid, dest;
	int remote, alive, rc = -1;

	(void)target;
	if (!name)
		name = fault->name;
	remote = fl_px_host(revert, &host, err);
	if (remote < 0)
		return -1;
	h = remote ? &host : NULL;
	/* process_rearm() re-read the pid and it was journaled before this
	 * call: signal exactly that process, or nothing. */
	pid = (pid_t)json_integer_value(json_object_get(revert, "pid"));
	alive = pid > 0 ? fl_px_alive(h, pid, start, 1, err) : 0;
	if (alive < 0)
		goto out;
	if (!alive) {
		fl_error_set(err, FL_EXIT_ENV,
			     "%s: pid %d ended or was reused since it was journaled", name, (int)pid);
		goto out;
	}
	dest = json_object_get(revert, "pgid")
		       ? -(pid_t)json_integer_value(json_object_get(revert, "pgid"))
		       : pid;
	if (sig <= 0 || sig >= NSIG) {
		fl_error_set(err, FL_EXIT_ENV, "%s: bad signal in revert record", name);
		goto out;
	}
	rc = fl_px_kill(h, dest, sig, name, err);
out:
	fl_ssh_release(&host);
	return rc;
}

/* ---- revert ------------------------------------------------------------------- */

/* A live process for the target other than the one we signalled? Pid in
 * *out. 1 yes, 0 no, -1 when the host could not be asked (err set). */
static int target_running_again(const struct fl_ssh *h, const json_t *rec, pid_t *out,
				struct fl_error *err)
{
	const char *pidfile = json_string_value(json_object_get(rec, "pidfile"));
	const char *match = json_string_value(json_object_get(rec, "match"));
	pid_t old = (pid_t)json_integer_value(json_object_get(rec, "pid"));
	unsigned long long old_start =
		(unsigned long long)json_integer_value(json_object_get(rec, "start_time"));
	struct fl_error ignored;
	struct fl_px_stat s;
	pid_t pid = 0;
	int n;

	*out = 0;
	if (pidfile) {
		fl_error_init(&ignored);
		/* An unreadable pidfile is "not yet"; an unreachable host is an error. */
		n = fl_px_pidfile(h, pidfile, &pid, FL_PX_REMOTE_ATTEMPTS, &ignored);
		if (n == -2)
			return fl_error_set(err, ignored.code, "%s", ignored.msg);
		if (n < 0)
			return 0;
		n = fl_px_stat_get(h, pid, &s, FL_PX_REMOTE_ATTEMPTS, err);
		if (n < 0)
			return -1;
		if (n > 0 || s.state == 'Z' || s.state == 'X')
			return 0;
		if (pid == old && s.start == old_start)
			return 0;
		*out = pid;
		return 1;
	}
	if (match) {
		n = fl_px_find_match(h, match, old, old_start, &pid, FL_PX_REMOTE_ATTEMPTS, err);
		if (n < 0)
			return -1;
		if (n > 0) {
			*out = pid;
			return 1;
		}
	}
	return 0;
}

static int is_terminating(int sig)
{
	return sig == SIGKILL || sig == SIGTERM || sig == SIGINT || sig == SIGQUIT ||
	       sig == SIGABRT || sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE;
}

/* 1 when running again within wait_ns, 0 if not, -1 host unreachable. */
static int wait_running_again(const struct fl_ssh *h, const json_t *rec, int64_t wait_ns,
			      pid_t *pid, struct fl_error *err)
{
	int64_t deadline = fl_now_ns() + wait_ns;
	int64_t poll_ns = h ? FL_PX_REMOTE_POLL_NS : PROCESS_POLL_NS;
	for (;;) {
		int r = target_running_again(h, rec, pid, err);
		if (r != 0)
			return r;
		if (fl_now_ns() >= deadline)
			return 0;
		fl_sleep_until(fl_now_ns() + poll_ns, NULL, poll_ns);
	}
}

/* The start command from the revert record; *expanded holds the strings
 * when secrets were expanded (free both). NULL with err set. */
static const char **start_argv(const json_t *rec, const char *name, char ***expanded,
			       struct fl_error *err)
{
	const json_t *start = json_object_get(rec, "start");
	const char **argv;
	size_t bad = 0;

	*expanded = NULL;
	/* Rows written since the journal form carry "start_form": expand the
	 * secrets they name; older rows hold the argv as it ran. */
	if (json_array_size(start) > 0 &&
	    json_string_value(json_object_get(rec, "start_form")) != NULL) {
		*expanded = fl_injector_argv_expand(start, name, err);
		if (!*expanded)
			return NULL;
		argv = fl_calloc(fl_strv_len(*expanded) + 1, sizeof(*argv));
		for (size_t i = 0; argv && (*expanded)[i]; i++)
			argv[i] = (*expanded)[i];
		bad = argv ? 0 : (size_t)-2;
	} else {
		argv = fl_json_to_argv(start, &bad);
	}
	if (argv)
		return argv;
	if (bad == (size_t)-2)
		fl_error_oom(err, "%s", name);
	else if (bad == (size_t)-1)
		fl_error_set(err, FL_EXIT_ENV, "%s: no start command in the revert record", name);
	else
		fl_error_set(err, FL_EXIT_ENV, "%s: start command argument %zu is not a string",
			     name, bad);
	return NULL;
}

/* Runs argv here or on h; 0 with *status, -1 err set. */
static int run_start(const struct fl_ssh *h, const char **argv, const char *name, int *status,
		     struct fl_error *err)
{
	struct fl_ssh_opts o = { .attempts = FL_PX_REMOTE_ATTEMPTS };
	const char **rargv;
	size_t n;
	int rc;

	if (!h)
		/* Output goes to /dev/null, not a pipe: a daemon that keeps writing to
		 * an inherited pipe would die of SIGPIPE once we stop reading. */
		return fl_run_argv(argv, PROCESS_START_TIMEOUT_NS, NULL, status, NULL, err);
	for (n = 0; argv[n]; n++)
		;
	rargv = fl_calloc(n + 5, sizeof(*rargv));
	if (!rargv)
		return fl_error_oom(err, "%s", name);
	rargv[0] = "sh";
	rargv[1] = "-c";
	rargv[2] = start_script;
	rargv[3] = "sh";
	for (size_t i = 0; i < n; i++)
		rargv[4 + i] = argv[i];
	rc = fl_ssh_run_argv(h, rargv, PROCESS_START_TIMEOUT_NS, NULL, status, &o, err);
	fl_free(rargv);
	return rc;
}

static int revert_start(const struct fl_ssh *h, const json_t *rec, const char *name,
			struct fl_error *err)
{
	const char **argv;
	char **expanded = NULL;
	char desc[64], hn[300] = "", b[256];
	int status = 0, rc = -1, w;
	pid_t pid;

	if (h)
		snprintf(hn, sizeof(hn), " on %s", fl_ssh_name(h, b, sizeof(b)));
	argv = start_argv(rec, name, &expanded, err);
	if (!argv) {
		fl_strv_free(expanded);
		return -1;
	}
	if (run_start(h, argv, name, &status, err) < 0)
		goto out;
	if (status != 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: still down%s: start command '%s' %s", name, hn,
			     argv[0], fl_status_describe(status, desc, sizeof(desc)));
		goto out;
	}
	w = wait_running_again(h, rec, PROCESS_START_WAIT_NS, &pid, err);
	if (w < 0)
		goto out;
	if (!w) {
		fl_error_set(err, FL_EXIT_ENV,
			     "%s: still down%s after its start command '%s' exited 0", name, hn,
			     argv[0]);
		goto out;
	}
	fl_injector_note(rec, "restarted with the start command (pid %d%s)", (int)pid, hn);
	rc = 0;
out:
	fl_free(argv);
	fl_strv_free(expanded);
	return rc;
}

static int revert_on(const struct fl_ssh *h, const json_t *revert, const char *name,
		     struct fl_error *err)
{
	int sig = (int)json_integer_value(json_object_get(revert, "signo"));
	pid_t pid = (pid_t)json_integer_value(json_object_get(revert, "pid")), now_pid = 0;
	unsigned long long start =
		(unsigned long long)json_integer_value(json_object_get(revert, "start_time"));
	const json_t *pgid = json_object_get(revert, "pgid");
	int alive, w;

	if (pid <= 0 || start == 0)
		return fl_error_set(err, FL_EXIT_ENV, "%s: revert record has no pid", name);

	if (sig == SIGSTOP || sig == SIGTSTP) {
		/* Same pid AND start time, or it is a stranger that reused the pid. */
		alive = fl_px_alive(h, pid, start, FL_PX_REMOTE_ATTEMPTS, err);
		if (alive < 0)
			return -1;
		if (!alive) {
			fl_injector_note(revert, "pid %d is gone; nothing to continue", (int)pid);
			return 0;
		}
		if (fl_px_kill(h, pgid ? -(pid_t)json_integer_value(pgid) : pid, SIGCONT, name,
			       err) < 0)
			return -1;
		fl_injector_note(revert, "sent SIGCONT to %s %d", pgid ? "process group" : "pid",
				 pgid ? (int)json_integer_value(pgid) : (int)pid);
		return 0;
	}

	alive = fl_px_alive(h, pid, start, FL_PX_REMOTE_ATTEMPTS, err);
	if (alive < 0)
		return -1;
	if (!is_terminating(sig) && alive) {
		fl_injector_note(revert, "pid %d still running after SIG%s", (int)pid,
				 fl_signal_name(sig));
		return 0;
	}
	/* Give a supervisor the grace period to restart it (and a dying process
	 * time to finish dying). */
	w = wait_running_again(h, revert, PROCESS_GRACE_NS, &now_pid, err);
	if (w < 0)
		return -1;
	if (w) {
		fl_injector_note(revert, "running again (pid %d)", (int)now_pid);
		return 0;
	}
	alive = fl_px_alive(h, pid, start, FL_PX_REMOTE_ATTEMPTS, err);
	if (alive < 0)
		return -1;
	if (alive) {
		fl_injector_note(revert, "pid %d still running after SIG%s", (int)pid,
				 fl_signal_name(sig));
		return 0;
	}
	if (json_array_size(json_object_get(revert, "start")) == 0)
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: still down after revert (no start command)", name);
	return revert_start(h, revert, name, err);
}

static int process_revert(const json_t *revert, struct fl_error *err)
{
	const char *name = json_string_value(json_object_get(revert, "target"));
	struct fl_ssh host;
	int remote, rc;

	if (!name)
		name = "process";
	remote = fl_px_host(revert, &host, err);
	if (remote < 0)
		return -1;
	rc = revert_on(remote ? &host : NULL, revert, name, err);
	fl_ssh_release(&host);
	return rc;
}

static char *process_describe(const struct fl_fault_spec *fault, const struct fl_target *target)
{
	int sig = fault_signal(fault->params);
	struct fl_buf b;
	char d[32];

	fl_buf_init(&b, 4096);
	fl_buf_addf(&b, "process: SIG%s %s%s", sig > 0 ? fl_signal_name(sig) : "?",
		    target ? target->name : "?",
		    json_is_true(json_object_get(fault->params, "children")) ? " and its process group"
									     : "");
	if ((sig == SIGSTOP || sig == SIGTSTP) && fault->duration_ns > 0)
		fl_buf_addf(&b, " for %s", fl_duration_format(fault->duration_ns, d, sizeof(d)));
	if (target && target->ssh)
		fl_buf_addf(&b, " on %s", target->ssh->destination);
	if (target && target->pidfile)
		fl_buf_addf(&b, " (pidfile %s)", target->pidfile);
	else if (target && target->match)
		fl_buf_addf(&b, " (cmdline matching '%s')", target->match);
	return fl_buf_detach(&b);
}

const struct fl_injector_ops fl_injector_process = {
	.name = "process",
	.summary =
		"signal a process, here or over ssh (KILL, TERM, STOP/CONT pause, ...); revert continues or restarts it",
	.target_kinds = 1u << FL_TARGET_PROCESS,
	.rearm = process_rearm,
	.validate = process_validate,
	.prepare = process_prepare,
	.inject = process_inject,
	.revert = process_revert,
	.describe = process_describe,
};
