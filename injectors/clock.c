/*
 * clock injector: skews the wall clock of one running process through
 * libfaketime's timestamp file, and puts it back.
 *
 * Owns: the `clock` fault family (target kind process). Key: `offset`, a
 * signed duration ("+400d", "-90s", "+2h"; no sign means forward). The
 * target must already run under libfaketime (Debian package `faketime`:
 * LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1) with
 * FAKETIME_TIMESTAMP_FILE naming a file it re-reads; the fault writes the
 * offset into that file and the process follows it live (within ~0.1 s with
 * FAKETIME_NO_CACHE=1, or within the cache duration, 10 s by default).
 * Revert writes back the file's original contents (or removes a file that
 * did not exist: libfaketime then reads real time), and only while the file
 * still holds what inject wrote.
 *
 * Why refuse rather than try: a skew the process never saw would make a
 * drill report a resilience that was never exercised. So prepare() checks,
 * from /proc, that the process's executable is dynamically linked (a static
 * binary — Go programs such as etcd or Alertmanager — ignores LD_PRELOAD),
 * that libfaketime is mapped, that its environment names a timestamp file,
 * and that FAKETIME is not set (it overrides the file).
 *
 * Restart mode (`"restart": true`, with `timestamp_file`): for a target
 * that does not run under libfaketime yet. Inject writes the offset into the
 * file, stops the running process (SIGTERM, SIGKILL after 5 s) and runs the
 * target's `start` argv with LD_PRELOAD=libfaketime, that timestamp file,
 * FAKETIME_NO_CACHE=1 and FAKETIME_DONT_FAKE_MONOTONIC=1 added to its
 * environment; then the new process must show up (pidfile or match) with
 * libfaketime mapped, or the fault fails (a static binary started by the
 * command would ignore it). Revert is the live one: the file goes back and
 * the process, still preloaded, reads real time again without a restart.
 *
 * Remote targets (the target has `ssh`, docs/remote.md): live mode only.
 * The look at the process and its timestamp file is one round trip and the
 * writes are fixed scripts on the host (clock_remote.c); the host is
 * journaled in the record ("ssh") so `faultline recover` reverts there, and
 * revert's remote call is retried while the host is unreachable. Restart
 * mode is refused at validation on such a target.
 *
 * Does not own: supervising the target (a supervisor that restarts it
 * without the preload defeats restart mode: use live mode there, see
 * docs/injectors.md), or proving the service reacted (probes do).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "injectors/injector.h"
#include "injectors/clock_remote.h"
#include "injectors/file_io.h"
#include "injectors/process_host.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/proc.h"
#include "core/spawn.h"
#include <signal.h>

#define CLOCK_MAX_OFFSET_NS (INT64_C(100) * 366 * 86400 * FL_NS_PER_S) /* a century */
#define CLOCK_FILE_LIMIT FL_CLOCK_FILE_LIMIT
#define CLOCK_ENVIRON_LIMIT (1 << 20)
#define CLOCK_LIB "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
#define CLOCK_STOP_WAIT_NS (5 * FL_NS_PER_S)
#define CLOCK_START_TIMEOUT_NS (30 * FL_NS_PER_S)
#define CLOCK_APPEAR_WAIT_NS (5 * FL_NS_PER_S)
#define CLOCK_POLL_NS (20 * FL_NS_PER_MS)

/* ---- the offset ------------------------------------------------------------- */

/* "+400d", "-90s", "2h": days are accepted on top of fl_duration_parse's units
 * because skews are usually counted in days. */
static int offset_parse(const char *s, int64_t *ns)
{
	int neg = 0;
	size_t n;
	int64_t v;

	if (!s)
		return -1;
	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	n = strlen(s);
	if (n >= 2 && s[n - 1] == 'd' && s[n - 2] >= '0' && s[n - 2] <= '9') {
		char *days = fl_strndup(s, n - 1);
		long d;
		int rc;
		if (!days)
			return -1;
		rc = fl_parse_long(days, 0, 100L * 366, &d);
		fl_free(days);
		if (rc < 0)
			return -1;
		v = (int64_t)d * 86400 * FL_NS_PER_S;
	} else if (fl_duration_parse(s, &v) < 0) {
		return -1;
	}
	*ns = neg ? -v : v;
	return 0;
}

/* The offset as libfaketime reads it: "+34560000" or "-1.500000000" seconds. */
static void offset_text(int64_t ns, char *buf, size_t n)
{
	int64_t a = ns < 0 ? -ns : ns;
	if (a % FL_NS_PER_S == 0)
		snprintf(buf, n, "%c%lld\n", ns < 0 ? '-' : '+', (long long)(a / FL_NS_PER_S));
	else
		snprintf(buf, n, "%c%lld.%09lld\n", ns < 0 ? '-' : '+',
			 (long long)(a / FL_NS_PER_S), (long long)(a % FL_NS_PER_S));
}

/* ---- /proc ------------------------------------------------------------------ */

/* Value of NAME in /proc/PID/environ as a new string, or NULL (absent, or
 * *failed set when the file cannot be read). */
static char *environ_get(const struct fl_buf *env, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < env->len;) {
		const char *e = env->buf + i;
		size_t len = strnlen(e, env->len - i);
		if (len > nl && strncmp(e, name, nl) == 0 && e[nl] == '=')
			return fl_strndup(e + nl + 1, len - nl - 1);
		i += len + 1;
	}
	return NULL;
}

/* What this machine's /proc says of the target's process, into s (the
 * form fl_clock_remote_look fills for a host; the file is read apart). */
static int look_local(const char *name, const char *pidfile, const char *match,
		      struct fl_clock_seen *s, struct fl_error *err)
{
	struct fl_buf maps;
	char path[64], exe[PATH_MAX];
	ssize_t n;
	int rc = -1;

	memset(s, 0, sizeof(*s));
	fl_buf_init(&s->env, CLOCK_ENVIRON_LIMIT);
	fl_buf_init(&maps, 16 << 20);
	if (fl_px_resolve(NULL, name, pidfile, match, &s->pid, &s->start, err) < 0)
		goto out;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)s->pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	s->exe = fl_strdup(n > 0 ? exe : path);
	s->dynamic = fl_clock_elf_file(path);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)s->pid);
	if (s->dynamic <= 0 || !s->exe)
		goto done; /* refused by check_seen */
	if (fl_read_file(path, 16 << 20, &maps, err) < 0)
		goto out;
	s->faketime = strstr(maps.buf, "/libfaketime") != NULL;
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)s->pid);
	if (fl_read_file(path, CLOCK_ENVIRON_LIMIT, &s->env, err) < 0)
		goto out;
done:
	rc = 0;
out:
	fl_buf_release(&maps);
	if (rc < 0)
		fl_clock_seen_release(s);
	return rc;
}

/* The checks that make a skew visible to the process: a dynamically linked
 * executable with libfaketime mapped. where: "" or " on HOST". 0 or -1. */
static int check_seen(const struct fl_clock_seen *s, const char *name, const char *where,
		      struct fl_error *err)
{
	if (!s->exe)
		return fl_error_oom(err, "%s", name);
	if (s->dynamic == 0)
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: %s (pid %d%s) is statically linked: libfaketime cannot change its clock, refusing a skew it would never see",
				    name, s->exe, (int)s->pid, where);
	if (s->dynamic < 0)
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: cannot read the executable of pid %d%s as ELF (%s)", name,
				    (int)s->pid, where, s->exe);
	if (!s->faketime)
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: pid %d%s does not run under libfaketime (start it with LD_PRELOAD=libfaketime.so.1 and FAKETIME_TIMESTAMP_FILE)",
				    name, (int)s->pid, where);
	return 0;
}

/* Looks at the process (here, or on the record's "ssh" host in one round
 * trip: then s also holds the timestamp file's bytes), refuses processes
 * libfaketime cannot or does not reach, and fills pid, start_time and the
 * libfaketime facts into rec. s is released by the caller. */
static int record_process(json_t *rec, const char *name, struct fl_clock_seen *s, struct fl_error *err)
{
	const char *pidfile = json_string_value(json_object_get(rec, "pidfile"));
	const char *match = json_string_value(json_object_get(rec, "match"));
	char *tsfile = NULL, *nocache = NULL, *cache = NULL, *faketime = NULL, *nomono = NULL;
	char where[300] = "", hn[256];
	struct fl_ssh host;
	int rc = -1, remote = fl_fx_host(rec, &host, err);

	memset(s, 0, sizeof(*s));
	if (remote < 0)
		return -1;
	if (remote)
		snprintf(where, sizeof(where), " on %s", fl_ssh_name(&host, hn, sizeof(hn)));
	if ((remote ? fl_clock_remote_look(&host, name, pidfile, match, s, err)
		    : look_local(name, pidfile, match, s, err)) < 0)
		goto out;
	if (check_seen(s, name, where, err) < 0)
		goto out;
	tsfile = environ_get(&s->env, "FAKETIME_TIMESTAMP_FILE");
	faketime = environ_get(&s->env, "FAKETIME");
	nocache = environ_get(&s->env, "FAKETIME_NO_CACHE");
	cache = environ_get(&s->env, "FAKETIME_CACHE_DURATION");
	nomono = environ_get(&s->env, "FAKETIME_DONT_FAKE_MONOTONIC");
	if (!tsfile || tsfile[0] != '/') {
		fl_error_set(err, FL_EXIT_ENV,
			     "%s: pid %d%s runs under libfaketime without an absolute FAKETIME_TIMESTAMP_FILE: its offset cannot be changed live",
			     name, (int)s->pid, where);
		goto out;
	}
	if (faketime) {
		fl_error_set(err, FL_EXIT_ENV,
			     "%s: pid %d%s has FAKETIME set, which overrides its timestamp file %s; refusing",
			     name, (int)s->pid, where, tsfile);
		goto out;
	}
	if (remote && strcmp(tsfile, s->tsfile) != 0) {
		fl_error_set(err, FL_EXIT_ENV,
			     "%s: pid %d%s: its environment names its timestamp file ambiguously; refusing",
			     name, (int)s->pid, where);
		goto out;
	}
	if (json_object_set_new(rec, "pid", json_integer(s->pid)) < 0 ||
	    json_object_set_new(rec, "start_time", json_integer((json_int_t)s->start)) < 0 ||
	    json_object_set_new(rec, "exe", json_string(s->exe)) < 0 ||
	    json_object_set_new(rec, "timestamp_file", json_string(tsfile)) < 0 ||
	    json_object_set_new(rec, "no_cache",
				json_boolean(nocache && strcmp(nocache, "1") == 0)) < 0 ||
	    json_object_set_new(rec, "cache_duration", cache ? json_string(cache) : json_null()) < 0 ||
	    json_object_set_new(rec, "monotonic_faked",
				json_boolean(!(nomono && strcmp(nomono, "1") == 0))) < 0) {
		fl_error_oom(err, "%s", name);
		goto out;
	}
	rc = 0;
out:
	fl_ssh_release(&host);
	fl_free(tsfile);
	fl_free(faketime);
	fl_free(nocache);
	fl_free(cache);
	fl_free(nomono);
	return rc;
}

/* ---- the timestamp file ------------------------------------------------------- */

/* Contents of path into *out (new string; "" for an empty file) or NULL with
 * *absent = 1 when there is no such file. */
static int file_get(const char *path, char **out, int *absent, struct fl_error *err)
{
	struct fl_buf b;
	int fd;

	*out = NULL;
	*absent = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			*absent = 1;
			return 0;
		}
		return fl_error_set(err, FL_EXIT_ENV, "%s: %s", path, strerror(errno));
	}
	close(fd);
	fl_buf_init(&b, CLOCK_FILE_LIMIT);
	if (fl_read_file(path, CLOCK_FILE_LIMIT, &b, err) < 0) {
		fl_buf_release(&b);
		return -1;
	}
	*out = b.failed ? NULL : fl_buf_detach(&b);
	fl_buf_release(&b);
	if (!*out)
		return fl_error_oom(err, "%s", path);
	return 0;
}

/* Replaces path's contents with text by temp file + rename: libfaketime
 * re-opens the file by name, so it reads either the old or the new line,
 * never half of one. */
static int file_put(const char *path, const char *text, struct fl_error *err)
{
	struct fl_buf tmp;
	size_t len = strlen(text);
	int fd, rc = -1;

	fl_buf_init(&tmp, PATH_MAX);
	if (fl_buf_addf(&tmp, "%s.faultline.%d", path, (int)getpid()) < 0) {
		fl_buf_release(&tmp);
		return fl_error_oom(err, "%s", path);
	}
	fd = open(tmp.buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: %s", tmp.buf, strerror(errno));
		goto out;
	}
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: write: %s", tmp.buf, strerror(errno));
		close(fd);
		unlink(tmp.buf);
		goto out;
	}
	close(fd);
	if (rename(tmp.buf, path) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: rename: %s", path, strerror(errno));
		unlink(tmp.buf);
		goto out;
	}
	rc = 0;
out:
	fl_buf_release(&tmp);
	return rc;
}

/* ---- the ops ------------------------------------------------------------------ */

static int clock_validate(struct fl_doc *doc, const struct fl_fault_spec *fault,
			  const struct fl_target *target, struct fl_error *err)
{
	json_t *params = fault->params;
	char *offset = NULL, *tsfile = NULL;
	int64_t ns = 0;
	int rc = -1, restart = 0;

	if (!target || target->kind != FL_TARGET_PROCESS) {
		fl_doc_error_value(doc, params, err,
				   "fault '%s': the clock injector needs a target of kind process",
				   fault->name);
		goto out;
	}
	if (!target->pidfile && !target->match) {
		fl_doc_error_value(doc, params, err,
				   "fault '%s': target '%s' has neither a pidfile nor a match",
				   fault->name, target->name);
		goto out;
	}
	if (fl_doc_string(doc, params, "offset", 1, &offset, err) < 0 ||
	    fl_doc_bool(doc, params, "restart", 0, &restart, err) < 0 ||
	    fl_doc_string(doc, params, "timestamp_file", 0, &tsfile, err) < 0)
		goto out;
	if (restart && target->ssh) {
		/* Restart mode stops and starts the process here: live mode only. */
		fl_doc_error_key(doc, params, "restart", err,
				 "fault '%s': restart mode is local only: target '%s' is on %s over ssh (use live mode there: run it under libfaketime yourself)",
				 fault->name, target->name, target->ssh->destination);
		goto out;
	}
	if (restart && (!tsfile || tsfile[0] != '/')) {
		fl_doc_error_key(doc, params, "restart", err,
				 "'restart' needs 'timestamp_file', an absolute path the restarted process will read its offset from");
		goto out;
	}
	if (tsfile && !restart) {
		fl_doc_error_key(doc, params, "timestamp_file", err,
				 "'timestamp_file' goes with \"restart\": true (live mode reads it from the process)");
		goto out;
	}
	if (restart && (!target->start || !target->start[0])) {
		fl_doc_error_key(doc, params, "restart", err,
				 "'restart' needs a 'start' command on target '%s'", target->name);
		goto out;
	}
	if (offset_parse(offset, &ns) < 0 || ns == 0 || ns > CLOCK_MAX_OFFSET_NS ||
	    ns < -CLOCK_MAX_OFFSET_NS) {
		fl_doc_error_value(doc, json_object_get(params, "offset"), err,
				   "'offset': '%s' is not a signed non-zero duration of at most 100 years (\"+400d\", \"-90s\")",
				   offset);
		goto out;
	}
	if (fl_doc_check_keys(doc, params, err) < 0)
		goto out;
	rc = 0;
out:
	fl_free(offset);
	fl_free(tsfile);
	return rc;
}

static json_t *clock_prepare(const struct fl_fault_spec *fault, const struct fl_target *target,
			     struct fl_error *err)
{
	const char *offset = json_string_value(json_object_get(fault->params, "offset"));
	char *orig = NULL;
	char text[64];
	int64_t ns;
	int absent = 0;
	json_t *rec;

	if (!target || target->kind != FL_TARGET_PROCESS) {
		fl_error_set(err, FL_EXIT_INPUT,
			     "fault '%s': the clock injector needs a process target", fault->name);
		return NULL;
	}
	if (offset_parse(offset, &ns) < 0 || ns == 0) {
		fl_error_set(err, FL_EXIT_INPUT, "fault '%s': bad offset", fault->name);
		return NULL;
	}
	offset_text(ns, text, sizeof(text));
	/* The host goes into the journal with the fault: `faultline recover`
	 * reverts a remote fault from the record alone. */
	rec = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s?, s:s?}", "fault", fault->name, "target",
			target->name, "offset", offset, "offset_ns", (json_int_t)ns, "written",
			text, "pidfile", target->pidfile, "match", target->match);
	if (!rec ||
	    (target->ssh && json_object_set_new(rec, "ssh", fl_ssh_to_json(target->ssh)) < 0)) {
		json_decref(rec);
		fl_error_oom(err, "fault '%s'", fault->name);
		return NULL;
	}
	if (json_is_true(json_object_get(fault->params, "restart"))) {
		/* What runs now only has to be stoppable; the restarted process is
		 * checked after inject. */
		const char *ts = json_string_value(json_object_get(fault->params, "timestamp_file"));
		pid_t pid = 0;
		unsigned long long st = 0;
		struct fl_error ignored;
		fl_error_init(&ignored);
		if (json_object_set_new(rec, "restart", json_true()) < 0 ||
		    json_object_set_new(rec, "timestamp_file", json_string(ts)) < 0 ||
		    json_object_set_new(rec, "start", fl_strv_to_json(target->start)) < 0) {
			fl_error_oom(err, "fault '%s'", fault->name);
			goto fail;
		}
		if (fl_px_resolve(NULL, target->name, target->pidfile, target->match, &pid, &st,
				  &ignored) == 0 &&
		    (json_object_set_new(rec, "old_pid", json_integer(pid)) < 0 ||
		     json_object_set_new(rec, "old_start_time", json_integer((json_int_t)st)) < 0)) {
			fl_error_oom(err, "fault '%s'", fault->name);
			goto fail;
		}
	} else {
		struct fl_clock_seen seen;
		int rc = record_process(rec, target->name, &seen, err);
		/* Over ssh the same round trip read the file. */
		absent = seen.absent;
		orig = seen.file;
		seen.file = NULL;
		fl_clock_seen_release(&seen);
		if (rc < 0)
			goto fail;
	}
	if (!json_object_get(rec, "ssh") &&
	    file_get(json_string_value(json_object_get(rec, "timestamp_file")), &orig, &absent,
		     err) < 0)
		goto fail;
	if (json_object_set_new(rec, "original", absent ? json_null() : json_string(orig)) < 0) {
		fl_error_oom(err, "fault '%s'", fault->name);
		goto fail;
	}
	fl_free(orig);
	return rec;
fail:
	fl_free(orig);
	json_decref(rec);
	return NULL;
}

/* Stops the process recorded by prepare (same pid and start time), if any. */
static int restart_stop(json_t *rec, const char *name, struct fl_error *err)
{
	pid_t pid = (pid_t)json_integer_value(json_object_get(rec, "old_pid"));
	unsigned long long st =
		(unsigned long long)json_integer_value(json_object_get(rec, "old_start_time"));
	int64_t deadline;

	if (pid <= 0 || !fl_proc_alive(pid, st))
		return 0;
	if (kill(pid, SIGTERM) < 0 && errno != ESRCH)
		return fl_error_set(err, FL_EXIT_ENV, "%s: kill TERM %d: %s", name, (int)pid,
				    strerror(errno));
	deadline = fl_now_ns() + CLOCK_STOP_WAIT_NS;
	while (fl_proc_alive(pid, st) && fl_now_ns() < deadline)
		fl_sleep_until(fl_now_ns() + CLOCK_POLL_NS, NULL, CLOCK_POLL_NS);
	if (fl_proc_alive(pid, st)) {
		kill(pid, SIGKILL);
		deadline = fl_now_ns() + CLOCK_STOP_WAIT_NS;
		while (fl_proc_alive(pid, st) && fl_now_ns() < deadline)
			fl_sleep_until(fl_now_ns() + CLOCK_POLL_NS, NULL, CLOCK_POLL_NS);
	}
	if (fl_proc_alive(pid, st))
		return fl_error_set(err, FL_EXIT_ENV, "%s: pid %d did not stop", name, (int)pid);
	return 0;
}

/* Waits for the process the start command brought up: another pid (or
 * start time) than the one stopped, recorded in rec. 0 or -1. */
static int wait_new_process(json_t *rec, const char *name, struct fl_error *err)
{
	pid_t old = (pid_t)json_integer_value(json_object_get(rec, "old_pid"));
	unsigned long long old_st =
		(unsigned long long)json_integer_value(json_object_get(rec, "old_start_time"));
	int64_t deadline;

	/* The new process: another pid than the one stopped, then the same
	 * checks as live mode (libfaketime mapped, the file in its environment). */
	deadline = fl_now_ns() + CLOCK_APPEAR_WAIT_NS;
	for (;;) {
		struct fl_error e;
		struct fl_clock_seen seen;
		int rc;
		fl_error_init(&e);
		rc = record_process(rec, name, &seen, &e);
		fl_clock_seen_release(&seen);
		if (rc == 0) {
			pid_t now = (pid_t)json_integer_value(json_object_get(rec, "pid"));
			if (now != old || (unsigned long long)json_integer_value(
						  json_object_get(rec, "start_time")) != old_st)
				break;
		} else if (fl_now_ns() >= deadline) {
			fl_error_set(err, e.code, "%s after its start command under libfaketime",
				     e.msg);
			return -1;
		}
		if (fl_now_ns() >= deadline) {
			fl_error_set(err, FL_EXIT_ENV,
				     "%s: no new process within 5 s of its start command", name);
			return -1;
		}
		fl_sleep_until(fl_now_ns() + CLOCK_POLL_NS, NULL, CLOCK_POLL_NS);
	}
	return 0;
}

/* Restart mode: offset into the file, stop, start under libfaketime, check. */
static int restart_inject(json_t *rec, const char *name, struct fl_error *err)
{
	/* A copy: record_process() below replaces the member it points into. */
	char *file = fl_strdup(json_string_value(json_object_get(rec, "timestamp_file")));
	const char **argv = NULL;
	struct fl_buf pre, ts;
	struct fl_spawn_opts opts = { 0 };
	const char *extra[5];
	size_t bad = 0;
	char desc[64];
	int status = 0, rc = -1;

	fl_buf_init(&pre, 4096);
	fl_buf_init(&ts, 8192);
	if (!file) {
		fl_error_oom(err, "%s", name);
		goto out;
	}
	if (access(CLOCK_LIB, R_OK) != 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: %s is missing (Debian package libfaketime)",
			     name, CLOCK_LIB);
		goto out;
	}
	if (file_put(file, json_string_value(json_object_get(rec, "written")), err) < 0 ||
	    restart_stop(rec, name, err) < 0)
		goto out;
	argv = fl_json_to_argv(json_object_get(rec, "start"), &bad);
	fl_buf_addf(&pre, "LD_PRELOAD=%s", CLOCK_LIB);
	fl_buf_addf(&ts, "FAKETIME_TIMESTAMP_FILE=%s", file);
	if (!argv || pre.failed || ts.failed) {
		fl_error_set(err, FL_EXIT_ENV, "%s: no usable start command in the revert record",
			     name);
		goto out;
	}
	extra[0] = pre.buf;
	extra[1] = ts.buf;
	extra[2] = "FAKETIME_NO_CACHE=1";
	extra[3] = "FAKETIME_DONT_FAKE_MONOTONIC=1";
	extra[4] = NULL;
	opts.envp_extra = extra;
	if (fl_run_argv(argv, CLOCK_START_TIMEOUT_NS, NULL, &status, &opts, err) < 0)
		goto out;
	if (status != 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: start command '%s' %s", name, argv[0],
			     fl_status_describe(status, desc, sizeof(desc)));
		goto out;
	}
	if (wait_new_process(rec, name, err) < 0)
		goto out;
	if (strcmp(json_string_value(json_object_get(rec, "timestamp_file")), file) != 0) {
		fl_error_set(err, FL_EXIT_ENV,
			     "%s: the restarted process reads another timestamp file", name);
		goto out;
	}
	rc = 0;
out:
	fl_free(file);
	fl_free(argv);
	fl_buf_release(&pre);
	fl_buf_release(&ts);
	return rc;
}

static int clock_inject(const struct fl_fault_spec *fault, const struct fl_target *target,
			json_t *revert, struct fl_error *err)
{
	const char *name = json_string_value(json_object_get(revert, "target"));
	const char *text = json_string_value(json_object_get(revert, "written"));
	char *file = fl_strdup(json_string_value(json_object_get(revert, "timestamp_file")));
	struct fl_clock_seen seen;
	struct fl_ssh host = { 0 };
	int rc = -1, remote;

	(void)target;
	if (!name)
		name = fault->name;
	if (!file)
		return fl_error_oom(err, "%s", name);
	if (json_is_true(json_object_get(revert, "restart"))) {
		fl_free(file);
		return restart_inject(revert, name, err);
	}
	/* Re-check what runs now: a restart since prepare may have come up
	 * without the preload, or with another timestamp file — whose original
	 * contents prepare() never saw, so revert could not restore them. */
	rc = record_process(revert, name, &seen, err);
	fl_clock_seen_release(&seen);
	if (rc < 0)
		goto out;
	rc = -1;
	if (strcmp(file, json_string_value(json_object_get(revert, "timestamp_file"))) != 0) {
		fl_error_set(err, FL_EXIT_ENV,
			     "%s: its timestamp file changed since prepare (%s, now %s)", name,
			     file, json_string_value(json_object_get(revert, "timestamp_file")));
		goto out;
	}
	if (!text) {
		fl_error_set(err, FL_EXIT_ENV, "%s: no offset in the revert record", name);
		goto out;
	}
	remote = fl_fx_host(revert, &host, err);
	if (remote > 0)
		rc = fl_clock_remote_put(&host, file, FL_CLOCK_PUT, text, NULL, 1, NULL, err);
	else if (remote == 0)
		rc = file_put(file, text, err);
	fl_ssh_release(&host);
out:
	fl_free(file);
	return rc;
}

static int clock_revert(const json_t *revert, struct fl_error *err)
{
	const char *name = json_string_value(json_object_get(revert, "target"));
	const char *file = json_string_value(json_object_get(revert, "timestamp_file"));
	const char *written = json_string_value(json_object_get(revert, "written"));
	const json_t *orig = json_object_get(revert, "original");
	char *now = NULL;
	struct fl_ssh host;
	int absent = 0, remote;

	if (!name)
		name = "clock";
	if (!file || !written || !orig)
		return fl_error_set(err, FL_EXIT_ENV, "%s: revert record has no timestamp file",
				    name);
	remote = fl_fx_host(revert, &host, err);
	if (remote != 0) {
		int rc = remote < 0
				 ? -1
				 : fl_clock_remote_revert(revert, &host, file, written, orig, err);
		fl_ssh_release(&host);
		return rc;
	}
	if (file_get(file, &now, &absent, err) < 0)
		return -1;
	/* Only undo our own line: someone who set another offset since (an
	 * operator, a later drill) is not overruled. */
	if (absent || strcmp(now, written) != 0) {
		fl_injector_note(revert, "%s does not hold our offset (%s); left alone", file,
				 absent ? "file absent" : "changed since");
		fl_free(now);
		return 0;
	}
	fl_free(now);
	if (json_is_null(orig)) {
		if (unlink(file) < 0 && errno != ENOENT)
			return fl_error_set(err, FL_EXIT_ENV, "%s: unlink %s: %s", name, file,
					    strerror(errno));
		fl_injector_note(revert, "removed %s: real time again%s", file,
				 json_is_true(json_object_get(revert, "restart"))
					 ? " (the restarted process stays under libfaketime)"
					 : "");
		return 0;
	}
	if (file_put(file, json_string_value(orig), err) < 0)
		return -1;
	fl_injector_note(revert, "restored %s to its original offset%s", file,
			 json_is_true(json_object_get(revert, "restart"))
				 ? " (the restarted process stays under libfaketime, on real time)"
				 : "");
	return 0;
}

static char *clock_describe(const struct fl_fault_spec *fault, const struct fl_target *target)
{
	const char *offset = json_string_value(json_object_get(fault->params, "offset"));
	struct fl_buf b;
	char d[32];

	fl_buf_init(&b, 4096);
	if (json_is_true(json_object_get(fault->params, "restart")))
		fl_buf_addf(&b, "clock: restart %s under libfaketime with its wall clock %s",
			    target ? target->name : "?", offset ? offset : "?");
	else
		fl_buf_addf(&b, "clock: skew %s's wall clock by %s through libfaketime",
			    target ? target->name : "?", offset ? offset : "?");
	if (fault->duration_ns > 0)
		fl_buf_addf(&b, " for %s", fl_duration_format(fault->duration_ns, d, sizeof(d)));
	if (target && target->ssh)
		fl_buf_addf(&b, " on %s", target->ssh->destination);
	if (target && target->pidfile)
		fl_buf_addf(&b, " (pidfile %s)", target->pidfile);
	else if (target && target->match)
		fl_buf_addf(&b, " (cmdline matching '%s')", target->match);
	return fl_buf_detach(&b);
}

const struct fl_injector_ops fl_injector_clock = {
	.name = "clock",
	.summary =
		"skew a process's wall clock live through libfaketime's timestamp file, here or over ssh; revert restores it",
	.target_kinds = 1u << FL_TARGET_PROCESS,
	.validate = clock_validate,
	.prepare = clock_prepare,
	.inject = clock_inject,
	.revert = clock_revert,
	.describe = clock_describe,
};
