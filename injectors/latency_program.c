/*
 * latency_program: starting, recognising and stopping faultline-delayq for
 * the latency injector (latency_program.h).
 *
 * Owns: the program's lifecycle. Does not own: the rules (latency.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "injectors/latency_program.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/spawn.h"

#define LAT_READY_TIMEOUT_NS (5 * FL_NS_PER_S)
#define LAT_TERM_TIMEOUT_NS (3 * FL_NS_PER_S)
#define LAT_KILL_TIMEOUT_NS (2 * FL_NS_PER_S)
#define LAT_COMM "faultline-delay" /* /proc/PID/comm keeps 15 characters */

/* FAULTLINE_DELAYQ, else next to the running binary, else PATH. New string. */
char *fl_lat_program_find(void)
{
	const char *env = getenv("FAULTLINE_DELAYQ");
	char self[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n;
	char *slash;

	if (env && env[0])
		return fl_strdup(env);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(path, sizeof(path), "%s/" FL_LAT_PROGRAM, self);
			if (access(path, X_OK) == 0)
				return fl_strdup(path);
		}
	}
	return fl_strdup(FL_LAT_PROGRAM);
}

/* Start time of pid in clock ticks since boot (field 22 of /proc/PID/stat),
 * and whether it is a live faultline-delayq. Returns 1 live, 0 gone, a
 * zombie or another program. */
int fl_lat_proc_read(pid_t pid, long long *starttime)
{
	char path[64], buf[1024], state;
	const char *open_paren, *close_paren, *p;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	open_paren = strchr(buf, '(');
	close_paren = strrchr(buf, ')');
	if (!open_paren || !close_paren || close_paren < open_paren)
		return 0;
	if ((size_t)(close_paren - open_paren - 1) != strlen(LAT_COMM) ||
	    strncmp(open_paren + 1, LAT_COMM, strlen(LAT_COMM)) != 0)
		return 0;
	p = close_paren + 2;
	state = *p;
	/* Fields after the name: state is 3, starttime is 22. */
	for (field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p || sscanf(p, "%lld", starttime) != 1)
		return 0;
	return state != 'Z' && state != 'X';
}

/* The pid of a live faultline-delayq whose argv holds "--tag" tag, or 0:
 * for a record journaled before inject could add the pid. */
pid_t fl_lat_proc_find_by_tag(const char *tag)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;
	long long st;

	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		char path[300], buf[4096];
		long v;
		ssize_t n;
		int fd;

		if (fl_parse_long(e->d_name, 1, INT_MAX, &v) < 0 || !fl_lat_proc_read((pid_t)v, &st))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1)
			if (strcmp(buf + i, "--tag") == 0 && i + 6 < n &&
			    strcmp(buf + i + 6, tag) == 0)
				found = (pid_t)v;
	}
	closedir(d);
	return found;
}

/* Waits until pid (with that start time) is gone or a zombie; reaps it when
 * it is our child. 1 gone, 0 still there at the deadline. */
static int lat_proc_wait_gone(pid_t pid, long long starttime, int64_t timeout_ns)
{
	int64_t deadline = fl_now_ns() + timeout_ns;
	struct timespec slice = { 0, 10 * 1000 * 1000 };
	long long now_st;

	for (;;) {
		waitpid(pid, NULL, WNOHANG);
		if (!fl_lat_proc_read(pid, &now_st) || now_st != starttime)
			return 1;
		if (fl_now_ns() >= deadline)
			return 0;
		nanosleep(&slice, NULL);
	}
}

/* Stops the program: SIGTERM (it releases what it holds), then SIGKILL.
 * Sets *how to what happened. 0, or -1 with err set if it will not die. */
int fl_lat_program_stop(pid_t pid, long long starttime, const char **how, struct fl_error *err)
{
	long long st;

	if (!fl_lat_proc_read(pid, &st) || st != starttime) {
		waitpid(pid, NULL, WNOHANG);
		*how = "already gone";
		return 0;
	}
	kill(pid, SIGTERM);
	if (lat_proc_wait_gone(pid, starttime, LAT_TERM_TIMEOUT_NS)) {
		*how = "stopped";
		return 0;
	}
	kill(pid, SIGKILL);
	if (lat_proc_wait_gone(pid, starttime, LAT_KILL_TIMEOUT_NS)) {
		*how = "killed (did not stop on SIGTERM)";
		return 0;
	}
	return fl_error_set(err, FL_EXIT_ENV,
			    "latency revert: " FL_LAT_PROGRAM " pid %ld does not die", (long)pid);
}

/* The program's argv from the record, with the numbers it formats. */
struct lat_argv {
	const char *argv[24];
	char q[32], span[32], delay[32], jitter[32], seed[32], limit[32];
};

static void lat_num(char *buf, size_t n, const json_t *rec, const char *key)
{
	snprintf(buf, n, "%lld", (long long)json_integer_value(json_object_get(rec, key)));
}

static void lat_argv_build(const json_t *rec, struct lat_argv *a)
{
	const char *ns = json_string_value(json_object_get(rec, "netns"));
	const char *stats = json_string_value(json_object_get(rec, "stats"));
	size_t n = 0;

	lat_num(a->q, sizeof(a->q), rec, "queue");
	lat_num(a->span, sizeof(a->span), rec, "queue_span");
	lat_num(a->delay, sizeof(a->delay), rec, "delay_ns");
	lat_num(a->jitter, sizeof(a->jitter), rec, "jitter_ns");
	lat_num(a->seed, sizeof(a->seed), rec, "seed");
	lat_num(a->limit, sizeof(a->limit), rec, "limit");
	a->argv[n++] = json_string_value(json_object_get(rec, "program"));
	a->argv[n++] = "--queue";
	a->argv[n++] = a->q;
	a->argv[n++] = "--span";
	a->argv[n++] = a->span;
	a->argv[n++] = "--delay";
	a->argv[n++] = a->delay;
	a->argv[n++] = "--jitter";
	a->argv[n++] = a->jitter;
	a->argv[n++] = "--seed";
	a->argv[n++] = a->seed;
	a->argv[n++] = "--limit";
	a->argv[n++] = a->limit;
	if (stats) {
		a->argv[n++] = "--stats";
		a->argv[n++] = stats;
	}
	a->argv[n++] = "--tag";
	a->argv[n++] = json_string_value(json_object_get(rec, "chain"));
	if (ns) {
		a->argv[n++] = "--netns";
		a->argv[n++] = ns;
	}
	a->argv[n] = NULL;
}

/* Reads fd into line until its first line, end of file (the program died:
 * reaped, 1) or the deadline. 0 with the line NUL-terminated, 1 died, -1
 * (err set). */
static int lat_ready_read(int fd, pid_t pid, const char *program, struct fl_buf *line,
			  struct fl_error *err)
{
	int64_t deadline = fl_now_ns() + LAT_READY_TIMEOUT_NS;
	char *nl;

	while (!(nl = memchr(line->buf, '\n', line->len))) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char chunk[512];
		int64_t left = deadline - fl_now_ns();
		ssize_t k;

		if (left <= 0)
			return fl_error_set(err, FL_EXIT_ENV,
					    FL_LAT_PROGRAM " not ready after %lld s",
					    (long long)(LAT_READY_TIMEOUT_NS / FL_NS_PER_S));
		if (poll(&p, 1, (int)(left / FL_NS_PER_MS) + 1) < 0 && errno != EINTR)
			return fl_error_set(err, FL_EXIT_ENV, "latency: poll: %s", strerror(errno));
		k = read(fd, chunk, sizeof(chunk));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			int status = 0;
			char desc[64];
			waitpid(pid, &status, 0);
			if (line->len)
				fl_error_set(err, FL_EXIT_ENV, "%.*s",
					     (int)strcspn(line->buf, "\n"), line->buf);
			else
				fl_error_set(err, FL_EXIT_ENV, "%s %s", program,
					     fl_status_describe(status, desc, sizeof(desc)));
			return 1;
		}
		fl_buf_add(line, chunk, (size_t)k);
		if (line->failed)
			return fl_error_set(err, FL_EXIT_ENV, FL_LAT_PROGRAM ": output too long");
	}
	*nl = '\0';
	return 0;
}

/* Starts the program and waits for "ready N". Returns its pid (queue in
 * *queue), or -1 with err set (the program is stopped again). */
pid_t fl_lat_program_start(const json_t *rec, long *queue, struct fl_error *err)
{
	struct lat_argv a;
	int pfd[2] = { -1, -1 };
	struct fl_buf line;
	pid_t pid = -1;
	long long st;
	const char *how;
	int r;

	fl_buf_init(&line, 4096);
	lat_argv_build(rec, &a);
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "latency: pipe: %s", strerror(errno));
		goto out;
	}
	pid = fl_spawn_argv(a.argv, pfd[1], NULL, err);
	close(pfd[1]);
	if (pid < 0)
		goto out;
	r = lat_ready_read(pfd[0], pid, a.argv[0], &line, err);
	if (r > 0) {
		pid = -1;
		goto out;
	}
	if (r < 0)
		goto fail;
	if (strncmp(line.buf, "ready ", 6) != 0 || fl_parse_long(line.buf + 6, 0, 65535, queue) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s", line.buf);
		goto fail;
	}
	goto out;
fail:
	if (fl_lat_proc_read(pid, &st))
		fl_lat_program_stop(pid, st, &how, err);
	waitpid(pid, NULL, WNOHANG);
	pid = -1;
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	fl_buf_release(&line);
	return pid;
}
