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
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/spawn.h"
#include "core/proc.h"

#define PROCESS_GRACE_NS (2 * FL_NS_PER_S)        /* for a supervisor to restart it */
#define PROCESS_START_TIMEOUT_NS (30 * FL_NS_PER_S)
#define PROCESS_START_WAIT_NS (5 * FL_NS_PER_S)   /* for the started process to show */
#define PROCESS_POLL_NS (20 * FL_NS_PER_MS)
#define PROCESS_SCAN_LIMIT 100000                 /* /proc entries looked at per scan */

/* ---- /proc ------------------------------------------------------------------ */

/* /proc/PID/cmdline with NULs as spaces, into b (reset first). */
static int proc_cmdline(pid_t pid, struct fl_buf *b)
{
	char path[64], chunk[4096];
	ssize_t n;
	int fd;

	fl_buf_reset(b);
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		fl_buf_add(b, chunk, (size_t)n);
	close(fd);
	for (size_t i = 0; i < b->len; i++)
		if (b->buf[i] == '\0')
			b->buf[i] = ' ';
	while (b->len && b->buf[b->len - 1] == ' ')
		b->buf[--b->len] = '\0';
	return b->failed ? -1 : 0;
}

/* Counts live processes whose cmdline contains match, other than faultline
 * itself and other than (skip_pid, skip_start); *first gets one of them. */
static int proc_find_match(const char *match, pid_t skip_pid, unsigned long long skip_start,
			   pid_t *first)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	struct fl_buf cmd;
	int count = 0, seen = 0;
	pid_t self = getpid();

	*first = 0;
	if (!d)
		return -1;
	fl_buf_init(&cmd, 1 << 20);
	while ((de = readdir(d)) && seen++ < PROCESS_SCAN_LIMIT) {
		long v;
		unsigned long long st;
		char state;
		if (fl_parse_long(de->d_name, 1, INT_MAX, &v) < 0 || (pid_t)v == self)
			continue;
		if (fl_proc_stat((pid_t)v, &state, &st) < 0 || state == 'Z' || state == 'X')
			continue;
		if ((pid_t)v == skip_pid && st == skip_start)
			continue;
		if (proc_cmdline((pid_t)v, &cmd) < 0 || cmd.len == 0)
			continue;
		if (strstr(cmd.buf, match)) {
			if (!count)
				*first = (pid_t)v;
			count++;
		}
	}
	fl_buf_release(&cmd);
	closedir(d);
	return count;
}

/* ---- resolving the target ------------------------------------------------ */

/* The pid the fault applies to right now, and its start time. */
static int target_resolve(const char *name, const char *pidfile, const char *match, pid_t *pid,
			  unsigned long long *start_time, struct fl_error *err)
{
	if (pidfile) {
		if (fl_read_pidfile(pidfile, pid, err) < 0)
			return -1;
		if (!fl_proc_alive(*pid, 0) || fl_proc_stat(*pid, NULL, start_time) < 0)
			return fl_error_set(err, FL_EXIT_ENV, "%s: pid %d from %s is not running", name,
					    (int)*pid, pidfile);
		return 0;
	}
	if (match) {
		int n = proc_find_match(match, 0, 0, pid);
		if (n < 0)
			return fl_error_set(err, FL_EXIT_ENV, "%s: cannot read /proc: %s", name, strerror(errno));
		if (n != 1)
			return fl_error_set(err, FL_EXIT_ENV,
					    "%s: %d processes match '%s' (need exactly one)", name, n, match);
		if (fl_proc_stat(*pid, NULL, start_time) < 0)
			return fl_error_set(err, FL_EXIT_ENV, "%s: pid %d exited while being looked at",
					    name, (int)*pid);
		return 0;
	}
	return fl_error_set(err, FL_EXIT_INPUT, "%s: target has neither a pidfile nor a match", name);
}

/* Fills pid, start_time, pgid and cmdline of the current process in rec. */
static int record_process(json_t *rec, const char *name, struct fl_error *err)
{
	const char *pidfile = json_string_value(json_object_get(rec, "pidfile"));
	const char *match = json_string_value(json_object_get(rec, "match"));
	unsigned long long start_time = 0;
	struct fl_buf cmd;
	pid_t pid = 0, pgid;
	int rc = -1;

	fl_buf_init(&cmd, 4096);
	if (target_resolve(name, pidfile, match, &pid, &start_time, err) < 0)
		goto out;
	proc_cmdline(pid, &cmd);
	if (json_object_set_new(rec, "pid", json_integer(pid)) < 0 ||
	    json_object_set_new(rec, "start_time", json_integer((json_int_t)start_time)) < 0 ||
	    json_object_set_new(rec, "cmdline", json_string(cmd.buf)) < 0) {
		fl_error_oom(err, "%s", name);
		goto out;
	}
	if (json_is_true(json_object_get(rec, "children"))) {
		pgid = getpgid(pid);
		if (pgid <= 1) {
			fl_error_set(err, FL_EXIT_ENV, "%s: cannot find the process group of pid %d", name,
				     (int)pid);
			goto out;
		}
		/* Signalling our own group would take the harness down with it. */
		if (pgid == getpgrp()) {
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
				   "fault '%s': the process injector needs a target of kind process", fault->name);
		goto out;
	}
	if (!target->pidfile && !target->match) {
		fl_doc_error_value(doc, params, err, "fault '%s': target '%s' has neither a pidfile nor a match",
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
			fl_doc_error_value(doc, json_object_get(params, "signal"), err, "unknown signal '%s'",
					   signal_s);
			goto out;
		}
	}
	if (json_object_get(params, "pause")) {
		if (signal_s && sig != SIGSTOP) {
			fl_doc_error_key(doc, params, "pause", err,
					 "'pause' sends SIGSTOP; it cannot go with signal '%s'", signal_s);
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
					 fault->duration_ns ? fl_duration_format(fault->duration_ns, buf2, sizeof(buf2))
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
		fl_error_set(err, FL_EXIT_INPUT, "fault '%s': the process injector needs a process target",
			     fault->name);
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
	pid_t pid, dest;

	unsigned long long start = (unsigned long long)json_integer_value(json_object_get(revert, "start_time"));

	if (!name)
		name = fault->name;
	/* process_rearm() re-read the pid and it was journaled before this
	 * call: signal exactly that process, or nothing. */
	pid = (pid_t)json_integer_value(json_object_get(revert, "pid"));
	if (pid <= 0 || !fl_proc_alive(pid, start))
		return fl_error_set(err, FL_EXIT_ENV, "%s: pid %d ended or was reused since it was journaled",
				    name, (int)pid);
	dest = json_object_get(revert, "pgid") ? -(pid_t)json_integer_value(json_object_get(revert, "pgid"))
					       : pid;
	if (sig <= 0 || sig >= NSIG)
		return fl_error_set(err, FL_EXIT_ENV, "%s: bad signal in revert record", name);
	if (kill(dest, sig) < 0)
		return fl_error_set(err, FL_EXIT_ENV, "%s: kill %s %d: %s", name, fl_signal_name(sig),
				    (int)dest, strerror(errno));
	return 0;
}

/* ---- revert ------------------------------------------------------------------- */

/* A live process for the target other than the one we signalled? Pid in *out. */
static int target_running_again(const json_t *rec, pid_t *out)
{
	const char *pidfile = json_string_value(json_object_get(rec, "pidfile"));
	const char *match = json_string_value(json_object_get(rec, "match"));
	pid_t old = (pid_t)json_integer_value(json_object_get(rec, "pid"));
	unsigned long long old_start = (unsigned long long)json_integer_value(json_object_get(rec, "start_time"));
	unsigned long long st = 0;
	struct fl_error ignored;
	pid_t pid = 0;

	*out = 0;
	if (pidfile) {
		fl_error_init(&ignored);
		if (fl_read_pidfile(pidfile, &pid, &ignored) < 0 || !fl_proc_alive(pid, 0) ||
		    fl_proc_stat(pid, NULL, &st) < 0)
			return 0;
		if (pid == old && st == old_start)
			return 0;
		*out = pid;
		return 1;
	}
	if (match && proc_find_match(match, old, old_start, &pid) > 0) {
		*out = pid;
		return 1;
	}
	return 0;
}

static int is_terminating(int sig)
{
	return sig == SIGKILL || sig == SIGTERM || sig == SIGINT || sig == SIGQUIT ||
	       sig == SIGABRT || sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE;
}

static int wait_running_again(const json_t *rec, int64_t wait_ns, pid_t *pid)
{
	int64_t deadline = fl_now_ns() + wait_ns;
	for (;;) {
		if (target_running_again(rec, pid))
			return 1;
		if (fl_now_ns() >= deadline)
			return 0;
		fl_sleep_until(fl_now_ns() + PROCESS_POLL_NS, NULL, PROCESS_POLL_NS);
	}
}

static int revert_start(const json_t *rec, const char *name, struct fl_error *err)
{
	const char **argv = NULL;
	char **expanded = NULL;
	const json_t *start = json_object_get(rec, "start");
	size_t bad = 0;
	char desc[64];
	int status = 0, rc = -1;
	pid_t pid;

	/* Rows written since the journal form carry "start_form": expand the
	 * secrets they name; older rows hold the argv as it ran. */
	if (json_array_size(start) > 0 &&
	    json_string_value(json_object_get(rec, "start_form")) != NULL) {
		expanded = fl_injector_argv_expand(start, name, err);
		if (!expanded)
			return -1;
		argv = fl_calloc(fl_strv_len(expanded) + 1, sizeof(*argv));
		for (size_t i = 0; argv && expanded[i]; i++)
			argv[i] = expanded[i];
		bad = argv ? 0 : (size_t)-2;
	} else {
		argv = fl_json_to_argv(start, &bad);
	}
	if (!argv) {
		fl_strv_free(expanded);
		if (bad == (size_t)-2)
			return fl_error_oom(err, "%s", name);
		if (bad == (size_t)-1)
			return fl_error_set(err, FL_EXIT_ENV, "%s: no start command in the revert record", name);
		return fl_error_set(err, FL_EXIT_ENV, "%s: start command argument %zu is not a string",
				    name, bad);
	}
	/* Output goes to /dev/null, not a pipe: a daemon that keeps writing to
	 * an inherited pipe would die of SIGPIPE once we stop reading. */
	if (fl_run_argv(argv, PROCESS_START_TIMEOUT_NS, NULL, &status, NULL, err) < 0)
		goto out;
	if (status != 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: still down: start command '%s' %s", name, argv[0],
			     fl_status_describe(status, desc, sizeof(desc)));
		goto out;
	}
	if (!wait_running_again(rec, PROCESS_START_WAIT_NS, &pid)) {
		fl_error_set(err, FL_EXIT_ENV, "%s: still down after its start command '%s' exited 0",
			     name, argv[0]);
		goto out;
	}
	fl_injector_note(rec, "restarted with the start command (pid %d)", (int)pid);
	rc = 0;
out:
	fl_free(argv);
	fl_strv_free(expanded);
	return rc;
}

static int process_revert(const json_t *revert, struct fl_error *err)
{
	const char *name = json_string_value(json_object_get(revert, "target"));
	int sig = (int)json_integer_value(json_object_get(revert, "signo"));
	pid_t pid = (pid_t)json_integer_value(json_object_get(revert, "pid")), now_pid = 0;
	unsigned long long start = (unsigned long long)json_integer_value(json_object_get(revert, "start_time"));
	const json_t *pgid = json_object_get(revert, "pgid");

	if (!name)
		name = "process";
	if (pid <= 0 || start == 0)
		return fl_error_set(err, FL_EXIT_ENV, "%s: revert record has no pid", name);

	if (sig == SIGSTOP || sig == SIGTSTP) {
		/* Same pid AND start time, or it is a stranger that reused the pid. */
		if (!fl_proc_alive(pid, start)) {
			fl_injector_note(revert, "pid %d is gone; nothing to continue", (int)pid);
			return 0;
		}
		if (kill(pgid ? -(pid_t)json_integer_value(pgid) : pid, SIGCONT) < 0)
			return fl_error_set(err, FL_EXIT_ENV, "%s: kill CONT %d: %s", name, (int)pid,
					    strerror(errno));
		fl_injector_note(revert, "sent SIGCONT to %s %d", pgid ? "process group" : "pid",
				 pgid ? (int)json_integer_value(pgid) : (int)pid);
		return 0;
	}

	if (!is_terminating(sig) && fl_proc_alive(pid, start)) {
		fl_injector_note(revert, "pid %d still running after SIG%s", (int)pid, fl_signal_name(sig));
		return 0;
	}
	/* Give a supervisor the grace period to restart it (and a dying process
	 * time to finish dying). */
	if (wait_running_again(revert, PROCESS_GRACE_NS, &now_pid)) {
		fl_injector_note(revert, "running again (pid %d)", (int)now_pid);
		return 0;
	}
	if (fl_proc_alive(pid, start)) {
		fl_injector_note(revert, "pid %d still running after SIG%s", (int)pid, fl_signal_name(sig));
		return 0;
	}
	if (json_array_size(json_object_get(revert, "start")) == 0)
		return fl_error_set(err, FL_EXIT_ENV, "%s: still down after revert (no start command)", name);
	return revert_start(revert, name, err);
}

static char *process_describe(const struct fl_fault_spec *fault, const struct fl_target *target)
{
	int sig = fault_signal(fault->params);
	struct fl_buf b;
	char d[32];

	fl_buf_init(&b, 4096);
	fl_buf_addf(&b, "process: SIG%s %s%s", sig > 0 ? fl_signal_name(sig) : "?",
		    target ? target->name : "?",
		    json_is_true(json_object_get(fault->params, "children")) ? " and its process group" : "");
	if ((sig == SIGSTOP || sig == SIGTSTP) && fault->duration_ns > 0)
		fl_buf_addf(&b, " for %s", fl_duration_format(fault->duration_ns, d, sizeof(d)));
	if (target && target->pidfile)
		fl_buf_addf(&b, " (pidfile %s)", target->pidfile);
	else if (target && target->match)
		fl_buf_addf(&b, " (cmdline matching '%s')", target->match);
	return fl_buf_detach(&b);
}

const struct fl_injector_ops fl_injector_process = {
	.name = "process",
	.summary = "signal a local process (KILL, TERM, STOP/CONT pause, ...); revert continues or restarts it",
	.target_kinds = 1u << FL_TARGET_PROCESS,
	.rearm = process_rearm,
	.validate = process_validate,
	.prepare = process_prepare,
	.inject = process_inject,
	.revert = process_revert,
	.describe = process_describe,
};
