/*
 * process_host: the process injector's view of processes, here or over ssh
 * (process_host.h). Each remote script is a constant of the file that runs it; target
 * data only ever reaches them as quoted positional parameters.
 *
 * Owns: /proc scans and the remote look-up scripts. Does not own: signals
 * as faults, revert (process.c).
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

#include "injectors/process_host.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/spawn.h"
#include "core/proc.h"
#include "core/ssh.h"

#define PROCESS_SCAN_LIMIT 100000 /* /proc entries looked at per scan */

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

/* A process whose cmdline contains the match. */
struct px_match {
	pid_t pid, ppid;
	char *cmd;
};

/* Forgets the matches that are their parent forked and not yet renamed:
 * the parent matches too, with the same command line. A server forking
 * for a connection (PostgreSQL's postmaster, Apache's children) makes
 * such a copy; it is the same program, and the parent is the one meant.
 * A wrapper and the daemon it started differ in their command lines and
 * stay two. The matches left are moved to the front; their count. */
static int px_forget_forks(struct px_match *m, int n)
{
	int kept = 0;
	for (int i = 0; i < n; i++) {
		int fork = 0;
		for (int j = 0; j < n && !fork; j++)
			fork = j != i && m[j].pid == m[i].ppid && strcmp(m[j].cmd, m[i].cmd) == 0;
		if (!fork) {
			struct px_match t = m[kept];
			m[kept++] = m[i];
			m[i] = t;
		}
	}
	return kept;
}

static void px_matches_free(struct px_match *m, int n)
{
	for (int i = 0; i < n; i++)
		fl_free(m[i].cmd);
	fl_free(m);
}

/* Adds one match (cmd copied); 0 or -1 out of memory. */
static int px_matches_add(struct px_match **m, int *n, int *cap, pid_t pid, pid_t ppid,
			  const char *cmd)
{
	if (*n == *cap) {
		int c = *cap ? 2 * *cap : 8;
		struct px_match *g = fl_realloc(*m, (size_t)c * sizeof(**m));
		if (!g)
			return -1;
		*m = g;
		*cap = c;
	}
	(*m)[*n] = (struct px_match){ pid, ppid, fl_strdup(cmd) };
	if (!(*m)[*n].cmd)
		return -1;
	(*n)++;
	return 0;
}

/* The /proc/PID/stat line of pid, parsed. 0 or -1. */
static int proc_stat_get(pid_t pid, struct fl_px_stat *s)
{
	char line[1024];
	return fl_proc_stat_line(pid, line, sizeof(line)) < 0 ? -1 : fl_px_stat_parse(line, s);
}

/* Counts live processes whose cmdline contains match, other than faultline
 * itself, other than (skip_pid, skip_start) and other than a parent's
 * fork not yet renamed (px_forget_forks); *first gets one of them. -1 with
 * errno set, -2 out of memory. */
static int proc_find_match(const char *match, pid_t skip_pid, unsigned long long skip_start,
			   pid_t *first)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	struct fl_buf cmd;
	struct px_match *m = NULL;
	int n = 0, cap = 0, seen = 0, count = -1;
	pid_t self = getpid();

	*first = 0;
	if (!d)
		return -1;
	fl_buf_init(&cmd, 1 << 20);
	while ((de = readdir(d)) && seen++ < PROCESS_SCAN_LIMIT) {
		long v;
		struct fl_px_stat st;
		if (fl_parse_long(de->d_name, 1, INT_MAX, &v) < 0 || (pid_t)v == self)
			continue;
		if (proc_stat_get((pid_t)v, &st) < 0 || st.state == 'Z' || st.state == 'X')
			continue;
		if ((pid_t)v == skip_pid && st.start == skip_start)
			continue;
		if (proc_cmdline((pid_t)v, &cmd) < 0 || cmd.len == 0 || !strstr(cmd.buf, match))
			continue;
		if (px_matches_add(&m, &n, &cap, (pid_t)v, st.ppid, cmd.buf) < 0) {
			count = -2;
			goto out;
		}
	}
	count = px_forget_forks(m, n);
	if (count)
		*first = m[0].pid;
out:
	px_matches_free(m, n);
	fl_buf_release(&cmd);
	closedir(d);
	return count;
}

/* ---- where the process lives: here, or on a host over ssh ------------------
 * Every look at a process and every signal goes through these px_*
 * functions: h == NULL is this machine (/proc, kill(2)), otherwise the
 * remote host's /proc and kill, reached with argv-safe remote commands
 * (core/ssh.h). Each remote script is a constant of the file that runs it; target
 * data only ever reaches them as quoted positional parameters. */

/* Lists, for every process whose cmdline contains $1, its /proc/PID/stat
 * line ("s ...") and its cmdline ("c ...", NULs and newlines as spaces),
 * except this shell and its parent (whose own command lines contain $1 as
 * an argument). */
static const char match_script[] =
	"for d in /proc/[0-9]*; do "
	"p=${d#/proc/}; "
	"if [ \"$p\" = \"$$\" ] || [ \"$p\" = \"$PPID\" ]; then continue; fi; "
	"s=$(cat \"$d/stat\" 2>/dev/null) || continue; "
	"c=$(tr '\\000\\n' '  ' <\"$d/cmdline\" 2>/dev/null) || continue; "
	"case $c in *\"$1\"*) printf 's %s\\nc %s\\n' \"$s\" \"$c\";; esac; "
	"done; echo end";

/* Prints "ok <stat line>" or "gone": only a positive answer counts, so a
 * host that stops answering is never taken for a process that ended. */
static const char stat_script[] =
	"if s=$(cat \"/proc/$1/stat\" 2>/dev/null); then printf 'ok %s\\n' \"$s\"; else echo gone; fi";

/* Prints "ok <pid>" or "none <what the file holds>". */
static const char pidfile_script[] =
	"if p=$(cat -- \"$1\" 2>&1); then printf 'ok %s\\n' \"$p\"; else printf 'none %s\\n' \"$p\"; fi";


/* Parses one /proc/PID/stat line (comm may hold spaces and parentheses:
 * the fields resume after the last ')'). 0 or -1. */
int fl_px_stat_parse(const char *line, struct fl_px_stat *s)
{
	const char *rp = strrchr(line, ')');
	char *end;
	long v;
	int field = 3;

	v = strtol(line, &end, 10);
	if (!rp || end == line || v <= 0 || rp[1] != ' ' || !rp[2])
		return -1;
	s->pid = (pid_t)v;
	s->state = rp[2];
	for (const char *p = rp + 2; *p && field < 22; p++) {
		if (*p != ' ')
			continue;
		field++;
		if (field == 4)
			s->ppid = (pid_t)strtol(p + 1, NULL, 10);
		if (field == 5)
			s->pgid = (pid_t)strtol(p + 1, NULL, 10);
		if (field == 22)
			s->start = strtoull(p + 1, NULL, 10);
	}
	return field == 22 ? 0 : -1;
}

/* Loads the record's "ssh" into h; 0 when local (no "ssh"), 1 remote, -1. */
int fl_px_host(const json_t *rec, struct fl_ssh *h, struct fl_error *err)
{
	const json_t *j = json_object_get(rec, "ssh");
	*h = (struct fl_ssh){ 0 };
	if (!j)
		return 0;
	return fl_ssh_from_json(j, h, err) < 0 ? -1 : 1;
}

/* Runs argv on h into out (reset first); 0 with *status, -1 err set. */
int fl_px_run(const struct fl_ssh *h, const char *const *argv, int attempts, struct fl_buf *out,
	      int *status, struct fl_error *err)
{
	struct fl_ssh_opts o = { .attempts = attempts };
	if (out)
		fl_buf_reset(out);
	char hn[256];
	if (fl_ssh_run_argv(h, argv, FL_PX_REMOTE_TIMEOUT_NS, out, status, &o, err) < 0)
		return -1;
	if (*status == -1)
		return fl_error_set(err, FL_EXIT_ENV, "host '%s': no answer within %lld s",
				    fl_ssh_name(h, hn, sizeof(hn)),
				    (long long)(FL_PX_REMOTE_TIMEOUT_NS / FL_NS_PER_S));
	if (out && out->failed)
		return fl_error_oom(err, "%s", h->destination);
	return 0;
}

/* State, start time and pgid of pid: 0, 1 when it does not exist, -1 err. */
int fl_px_stat_get(const struct fl_ssh *h, pid_t pid, struct fl_px_stat *s, int attempts,
		   struct fl_error *err)
{
	char path[256];
	struct fl_buf out;
	int status = 0, rc;

	memset(s, 0, sizeof(*s));
	if (!h) {
		if (fl_proc_stat(pid, &s->state, &s->start) < 0)
			return 1;
		s->pid = pid;
		s->pgid = getpgid(pid);
		return 0;
	}
	snprintf(path, sizeof(path), "%d", (int)pid);
	fl_buf_init(&out, 4096);
	{
		const char *argv[] = { "sh", "-c", stat_script, "sh", path, NULL };
		rc = fl_px_run(h, argv, attempts, &out, &status, err);
	}
	if (rc == 0 && status == 0 && strcmp(out.buf, "gone\n") == 0)
		rc = 1;
	else if (rc == 0 && (status != 0 || strncmp(out.buf, "ok ", 3) != 0 ||
			     fl_px_stat_parse(out.buf + 3, s) < 0 || s->pid != pid))
		rc = fl_error_set(err, FL_EXIT_ENV,
				  "host '%s': unexpected answer reading /proc/%d/stat: %.200s",
				  fl_ssh_name(h, path, sizeof(path)), (int)pid, out.buf);
	fl_buf_release(&out);
	return rc;
}

/* 1 when pid runs (not a zombie) and, with start != 0, started then; 0 if
 * not; -1 when the host could not be asked. */
int fl_px_alive(const struct fl_ssh *h, pid_t pid, unsigned long long start, int attempts,
		struct fl_error *err)
{
	struct fl_px_stat s;
	int rc;
	if (!h)
		return fl_proc_alive(pid, start);
	rc = fl_px_stat_get(h, pid, &s, attempts, err);
	if (rc < 0)
		return -1;
	return rc == 0 && s.state != 'Z' && s.state != 'X' && (!start || s.start == start);
}

/* The pid in a pidfile: 0; -1 when it holds none (err set); -2 when the
 * host could not be asked (err set). */
int fl_px_pidfile(const struct fl_ssh *h, const char *path, pid_t *pid, int attempts,
		  struct fl_error *err)
{
	const char *argv[] = { "sh", "-c", pidfile_script, "sh", path, NULL };
	struct fl_buf out;
	char name[256];
	long v;
	int status = 0, rc = -1;
	if (!h)
		return fl_read_pidfile(path, pid, err);
	fl_buf_init(&out, 4096);
	if (fl_px_run(h, argv, attempts, &out, &status, err) < 0) {
		rc = -2;
		goto out;
	}
	while (out.len && (out.buf[out.len - 1] == '\n' || out.buf[out.len - 1] == ' '))
		out.buf[--out.len] = '\0';
	if (status != 0 || (strncmp(out.buf, "ok ", 3) != 0 && strncmp(out.buf, "none ", 5) != 0)) {
		fl_error_set(err, FL_EXIT_ENV, "host '%s': unexpected answer reading %s: %.200s",
			     fl_ssh_name(h, name, sizeof(name)), path, out.buf);
		rc = -2;
		goto out;
	}
	if (strncmp(out.buf, "ok ", 3) != 0 || fl_parse_long(out.buf + 3, 1, INT_MAX, &v) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s on %s: no pid in it: %.200s", path,
			     fl_ssh_name(h, name, sizeof(name)),
			     out.buf + (out.buf[0] == 'o' ? 3 : 5));
		goto out;
	}
	*pid = (pid_t)v;
	rc = 0;
out:
	fl_buf_release(&out);
	return rc;
}

/* Counts live processes matching, other than (skip_pid, skip_start); -1 err. */
int fl_px_find_match(const struct fl_ssh *h, const char *match, pid_t skip_pid,
		     unsigned long long skip_start, pid_t *first, int attempts, struct fl_error *err)
{
	const char *argv[] = { "sh", "-c", match_script, "sh", match, NULL };
	struct fl_buf out;
	struct px_match *m = NULL;
	struct fl_px_stat s;
	int status = 0, count = -1, n = 0, cap = 0, have = 0;
	char *line, *save = NULL, hn[256];

	if (!h) {
		count = proc_find_match(match, skip_pid, skip_start, first);
		if (count == -2)
			return fl_error_oom(err, "looking for '%s'", match);
		if (count < 0)
			return fl_error_set(err, FL_EXIT_ENV, "cannot read /proc: %s",
					    strerror(errno));
		return count;
	}
	*first = 0;
	fl_buf_init(&out, 16 << 20);
	if (fl_px_run(h, argv, attempts, &out, &status, err) < 0)
		goto out;
	if (status != 0 || out.len < 4 || strcmp(out.buf + out.len - 4, "end\n") != 0) {
		fl_error_set(err, FL_EXIT_ENV,
			     "host '%s': the process list did not come back complete",
			     fl_ssh_name(h, hn, sizeof(hn)));
		goto out;
	}
	/* "s <stat>" then "c <cmdline>" per process. */
	for (line = strtok_r(out.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "s ", 2) == 0) {
			have = fl_px_stat_parse(line + 2, &s) == 0 && s.state != 'Z' &&
			       s.state != 'X' && !(s.pid == skip_pid && s.start == skip_start);
			continue;
		}
		if (!have || strncmp(line, "c ", 2) != 0)
			continue;
		have = 0;
		if (px_matches_add(&m, &n, &cap, s.pid, s.ppid, line + 2) < 0) {
			fl_error_oom(err, "host '%s': processes matching '%s'",
				     fl_ssh_name(h, hn, sizeof(hn)), match);
			goto out;
		}
	}
	count = px_forget_forks(m, n);
	if (count)
		*first = m[0].pid;
out:
	px_matches_free(m, n);
	fl_buf_release(&out);
	return count;
}

/* kill -s SIG DEST (DEST < 0: a process group). 0 or -1 with err set. */
int fl_px_kill(const struct fl_ssh *h, pid_t dest, int sig, const char *name, struct fl_error *err)
{
	char d[32], desc[64], hn[256];
	struct fl_buf out;
	int status = 0, rc = -1;
	if (!h) {
		if (kill(dest, sig) < 0)
			return fl_error_set(err, FL_EXIT_ENV, "%s: kill %s %d: %s", name,
					    fl_signal_name(sig), (int)dest, strerror(errno));
		return 0;
	}
	snprintf(d, sizeof(d), "%d", (int)dest);
	fl_buf_init(&out, 4096);
	{
		const char *argv[] = { "kill", "-s", fl_signal_name(sig), "--", d, NULL };
		if (fl_px_run(h, argv, 1, &out, &status, err) < 0)
			goto out;
	}
	if (status != 0) {
		while (out.len && out.buf[out.len - 1] == '\n')
			out.buf[--out.len] = '\0';
		fl_error_set(err, FL_EXIT_ENV, "%s: kill %s %d on %s %s%s%s", name,
			     fl_signal_name(sig), (int)dest, fl_ssh_name(h, hn, sizeof(hn)),
			     fl_status_describe(status, desc, sizeof(desc)), out.len ? ": " : "",
			     out.buf);
		goto out;
	}
	rc = 0;
out:
	fl_buf_release(&out);
	return rc;
}

/* The cmdline of pid (NULs as spaces) into b; best effort. */
void fl_px_cmdline(const struct fl_ssh *h, pid_t pid, struct fl_buf *b)
{
	char path[64];
	struct fl_error ignored;
	int status = 0;
	if (!h) {
		proc_cmdline(pid, b);
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fl_error_init(&ignored);
	{
		const char *argv[] = { "cat", path, NULL };
		if (fl_px_run(h, argv, 1, b, &status, &ignored) < 0 || status != 0) {
			fl_buf_reset(b);
			return;
		}
	}
	for (size_t i = 0; i < b->len; i++)
		if (b->buf[i] == '\0')
			b->buf[i] = ' ';
	while (b->len && b->buf[b->len - 1] == ' ')
		b->buf[--b->len] = '\0';
}

/* ---- resolving the target ------------------------------------------------ */

/* The pid the fault applies to right now, and its start time. */
int fl_px_resolve(const struct fl_ssh *h, const char *name, const char *pidfile, const char *match,
		  pid_t *pid, unsigned long long *start_time, struct fl_error *err)
{
	struct fl_px_stat s;
	char hn[300] = "", b[256];
	int rc;

	if (h)
		snprintf(hn, sizeof(hn), " on %s", fl_ssh_name(h, b, sizeof(b)));
	if (pidfile) {
		if (fl_px_pidfile(h, pidfile, pid, 1, err) < 0)
			return -1;
		rc = fl_px_stat_get(h, *pid, &s, 1, err);
		if (rc < 0)
			return -1;
		if (rc > 0 || s.state == 'Z' || s.state == 'X')
			return fl_error_set(err, FL_EXIT_ENV, "%s: pid %d from %s%s is not running",
					    name, (int)*pid, pidfile, hn);
		*start_time = s.start;
		return 0;
	}
	if (match) {
		int n = fl_px_find_match(h, match, 0, 0, pid, 1, err);
		if (n < 0)
			return -1;
		if (n != 1)
			return fl_error_set(err, FL_EXIT_ENV,
					    "%s: %d processes match '%s'%s (need exactly one)",
					    name, n, match, hn);
		rc = fl_px_stat_get(h, *pid, &s, 1, err);
		if (rc < 0)
			return -1;
		if (rc > 0)
			return fl_error_set(err, FL_EXIT_ENV,
					    "%s: pid %d%s exited while being looked at", name,
					    (int)*pid, hn);
		*start_time = s.start;
		return 0;
	}
	return fl_error_set(err, FL_EXIT_INPUT, "%s: target has neither a pidfile nor a match", name);
}
