/*
 * proc: process identity, pidfiles, signal names (proc.h).
 */
#include "core/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#include "core/buf.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/clock.h"

/* ---- /proc ------------------------------------------------------------------ */

/* Reads state (field 3) and start time (field 22, clock ticks after boot)
 * of pid. 0, or -1 when the process does not exist. */
int fl_proc_stat_line(pid_t pid, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

int fl_proc_stat(pid_t pid, char *state, unsigned long long *start_time)
{
	char buf[1024];
	const char *p;

	if (fl_proc_stat_line(pid, buf, sizeof(buf)) < 0)
		return -1;
	/* comm (field 2) may hold spaces and parentheses: fields resume after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return -1;
	p += 2;
	if (state)
		*state = *p;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	if (start_time) {
		char *end;
		errno = 0;
		*start_time = strtoull(p, &end, 10);
		if (errno || end == p)
			return -1;
	}
	return 0;
}

/* 1 when pid exists and is not a zombie (and, when start_time is non-zero,
 * is the process that started then), else 0. */
int fl_proc_alive(pid_t pid, unsigned long long start_time)
{
	unsigned long long st;
	char state;
	if (pid <= 0 || fl_proc_stat(pid, &state, &st) < 0)
		return 0;
	if (state == 'Z' || state == 'X')
		return 0;
	return start_time == 0 || st == start_time;
}

/* ---- what a harness started while injecting --------------------------------------- */

int fl_proc_owner_marker(long pid, unsigned long long start, char *buf, size_t n)
{
	int w = snprintf(buf, n, FL_OWNER_ENV "=%ld:%llu", pid, start);
	return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* Reads up to n-1 bytes of /proc/NAME/FILE into buf (NUL-terminated). */
static ssize_t proc_read(const char *name, const char *file, char *buf, size_t n)
{
	char path[300];
	ssize_t k, got = 0;
	int fd;
	snprintf(path, sizeof(path), "/proc/%s/%s", name, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while ((size_t)got < n - 1 && (k = read(fd, buf + got, n - 1 - (size_t)got)) > 0)
		got += k;
	close(fd);
	buf[got] = '\0';
	return got;
}

/* 1 when process NAME (a /proc entry) carries marker and is not an ssh
 * connection master (its title "ssh: PATH [mux]"). */
static int carries_marker(const char *name, const char *marker, char *buf, size_t n)
{
	ssize_t got = proc_read(name, "environ", buf, n);
	int found = 0;
	for (ssize_t i = 0; got > 0 && i < got; i += (ssize_t)strlen(buf + i) + 1)
		if (strcmp(buf + i, marker) == 0) {
			found = 1;
			break;
		}
	if (!found)
		return 0;
	got = proc_read(name, "cmdline", buf, 64);
	return !(got >= 5 && strncmp(buf, "ssh: ", 5) == 0);
}

static int count_marked(const char *marker, char *buf, size_t n)
{
	char self[32];
	struct dirent *de;
	int count = 0;
	DIR *d = opendir("/proc");
	if (!d)
		return -1;
	snprintf(self, sizeof(self), "%ld", (long)getpid());
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9' || strcmp(de->d_name, self) == 0)
			continue;
		count += carries_marker(de->d_name, marker, buf, n);
	}
	closedir(d);
	return count;
}

int fl_proc_wait_marked(const char *marker, long long timeout_ns)
{
	enum { ENV_MAX = 128 * 1024 };
	int64_t deadline = fl_now_ns() + timeout_ns;
	char *buf = fl_malloc(ENV_MAX);
	int left;
	if (!buf)
		return -1;
	while ((left = count_marked(marker, buf, ENV_MAX)) > 0 && fl_now_ns() < deadline) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	fl_free(buf);
	return left;
}

int fl_read_pidfile(const char *path, pid_t *pid, struct fl_error *err)
{
	struct fl_buf b;
	long v;
	int rc = -1;
	fl_buf_init(&b, 64);
	if (fl_read_file(path, 64, &b, err) < 0)
		goto out;
	while (b.len && (b.buf[b.len - 1] == '\n' || b.buf[b.len - 1] == ' '))
		b.buf[--b.len] = '\0';
	if (fl_parse_long(b.buf, 2, INT_MAX, &v) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: no pid in pidfile", path);
		goto out;
	}
	*pid = (pid_t)v;
	rc = 0;
out:
	fl_buf_release(&b);
	return rc;
}

static const struct {
	const char *name;
	int sig;
} signals[] = {
	{ "HUP", SIGHUP },   { "INT", SIGINT },   { "QUIT", SIGQUIT }, { "KILL", SIGKILL },
	{ "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "TERM", SIGTERM }, { "STOP", SIGSTOP },
	{ "CONT", SIGCONT }, { "ABRT", SIGABRT }, { "SEGV", SIGSEGV }, { "TSTP", SIGTSTP },
};

int fl_signal_parse(const char *name)
{
	long v;
	if (!name)
		return -1;
	if (fl_parse_long(name, 1, 64, &v) == 0)
		return (int)v;
	if (strncmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 0; i < FL_ARRAY_LEN(signals); i++)
		if (strcmp(signals[i].name, name) == 0)
			return signals[i].sig;
	return -1;
}

const char *fl_signal_name(int sig)
{
	for (size_t i = 0; i < FL_ARRAY_LEN(signals); i++)
		if (signals[i].sig == sig)
			return signals[i].name;
	return "?";
}
