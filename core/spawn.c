/*
 * spawn: argv-vector programs, never a shell (spawn.h).
 */
#include "core/spawn.h"

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
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#include "core/alloc.h"
#include "core/clock.h"
#include "core/proc.h"
#include "core/error.h"
#include "core/buf.h"

extern char **environ;

/* ---- external programs ---------------------------------------------------- */

static _Thread_local int tag_depth;
static _Thread_local char tag_as[96];

void fl_spawn_tag_injects(int on)
{
	tag_depth += on ? 1 : (tag_depth > 0 ? -1 : 0);
}

void fl_spawn_tag_as(const char *marker)
{
	snprintf(tag_as, sizeof(tag_as), "%s",
		 marker && strlen(marker) < sizeof(tag_as) ? marker : "");
}

/* first (or NULL), then extra, then environ. */
static char **env_merge(const char *first, const char *const *extra)
{
	size_t n = 0, m = 0, k = 0;
	char **envp;
	while (environ && environ[n])
		n++;
	while (extra && extra[m])
		m++;
	envp = fl_calloc(n + m + 2, sizeof(*envp));
	if (!envp)
		return NULL;
	if (first)
		envp[k++] = FL_UNCONST(char *, first);
	for (size_t i = 0; i < m; i++)
		envp[k++] = FL_UNCONST(char *, extra[i]);
	for (size_t i = 0; i < n; i++)
		envp[k++] = environ[i];
	return envp;
}

/* The FL_OWNER_ENV entry a program started now carries (fl_spawn_tag_as's,
 * else this process's while tagging), into buf, or NULL. */
static const char *owner_tag(char *buf, size_t n)
{
	unsigned long long start = 0;
	if (tag_as[0]) {
		snprintf(buf, n, "%s", tag_as);
		return buf;
	}
	if (!tag_depth || fl_proc_stat(getpid(), NULL, &start) < 0 ||
	    fl_proc_owner_marker((long)getpid(), start, buf, n) < 0)
		return NULL;
	return buf;
}

/* opts->stdin_data in an anonymous memfd at offset 0 (nothing named on any
 * file system: a kill at any moment leaves nothing behind), -2 when there is
 * none, -1 with err set. The caller closes it once the child has it. */
static int stdin_memfd(const struct fl_spawn_opts *opts, const char *what, struct fl_error *err)
{
	const char *p = opts ? opts->stdin_data : NULL;
	size_t left = opts ? opts->stdin_len : 0;
	int fd;

	if (!p)
		return -2;
	fd = memfd_create("faultline-stdin", MFD_CLOEXEC);
	if (fd >= 0 && fd < 3) {
		/* This process runs without a stdin (CI has none): dup2 onto the
		 * same number would keep close-on-exec and the child no stdin. */
		int high = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		close(fd);
		fd = high;
	}
	if (fd < 0)
		return fl_error_set(err, FL_EXIT_ENV, "%s: memfd for stdin: %s", what,
				    strerror(errno));
	while (left > 0) {
		ssize_t k = write(fd, p, left);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			fl_error_set(err, FL_EXIT_ENV, "%s: memfd for stdin: %s", what,
				     k < 0 ? strerror(errno) : "short write");
			close(fd);
			return -1;
		}
		p += k;
		left -= (size_t)k;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: memfd for stdin: %s", what, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

pid_t fl_spawn_argv(const char *const *argv, int out_fd, const struct fl_spawn_opts *opts,
		    struct fl_error *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	char **envp = environ, tagbuf[96];
	const char *tag = owner_tag(tagbuf, sizeof(tagbuf));
	pid_t pid = -1;
	int rc, in_fd;

	if (!argv || !argv[0] || !argv[0][0]) {
		fl_error_set(err, FL_EXIT_INPUT, "empty command");
		return -1;
	}
	in_fd = stdin_memfd(opts, argv[0], err);
	if (in_fd == -1)
		return -1;
	if (tag || (opts && opts->envp_extra)) {
		envp = env_merge(tag, opts ? opts->envp_extra : NULL);
		if (!envp) {
			if (in_fd >= 0)
				close(in_fd);
			fl_error_oom(err, "%s", argv[0]);
			return -1;
		}
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	/* Data for a remote command (core/ssh.c) travels on stdin, not argv. */
	if (in_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0,
						 opts && opts->stdin_path ? opts->stdin_path
									  : "/dev/null",
						 O_RDONLY, 0);
	if (out_fd >= 0) {
		posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
		posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
	} else {
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	}
	if (opts && opts->cwd)
		posix_spawn_file_actions_addchdir_np(&fa, opts->cwd);
	sigemptyset(&none);
	sigfillset(&dfl);
	sigdelset(&dfl, SIGKILL);
	sigdelset(&dfl, SIGSTOP);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
						POSIX_SPAWN_SETPGROUP);
	rc = posix_spawnp(&pid, argv[0], &fa, &attr, FL_UNCONST(char *const *, argv), envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (in_fd >= 0)
		close(in_fd);
	if (envp != environ)
		fl_free(envp);
	if (rc != 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot run: %s", argv[0], strerror(rc));
		return -1;
	}
	return pid;
}

/* Drains what the child wrote so far into out (up to its limit). Returns 1 at
 * end of file, 0 otherwise. */
static int drain_pipe(int fd, struct fl_buf *out)
{
	char chunk[4096];
	ssize_t k;
	while ((k = read(fd, chunk, sizeof(chunk))) > 0)
		if (out->len < out->limit)
			fl_buf_add(out, chunk,
				   (size_t)k < out->limit - out->len ? (size_t)k
								     : out->limit - out->len);
	return k == 0;
}

int fl_run_argv(const char *const *argv, int64_t timeout_ns, struct fl_buf *out, int *status,
		const struct fl_spawn_opts *opts, struct fl_error *err)
{
	int pipefd[2] = { -1, -1 };
	int64_t deadline = timeout_ns > 0 ? fl_now_ns() + timeout_ns : INT64_MAX;
	pid_t pid;
	int st = 0, timed_out = 0, pidfd;

	if (out && pipe2(pipefd, O_CLOEXEC) < 0)
		return fl_error_set(err, FL_EXIT_ENV, "%s: pipe: %s", argv[0], strerror(errno));
	pid = fl_spawn_argv(argv, out ? pipefd[1] : -1, opts, err);
	if (out)
		close(pipefd[1]);
	if (pid < 0) {
		if (out)
			close(pipefd[0]);
		return -1;
	}
	if (out)
		fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	/* Wait on the child's pidfd and its output together: no polling sleep. */
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	for (;;) {
		struct pollfd fds[2];
		nfds_t n = 0;
		int64_t now = fl_now_ns(), wait_ns;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR && errno != EAGAIN)) {
			if (r < 0)
				st = 0;
			break;
		}
		if (now >= deadline || (opts && opts->stop && atomic_load(opts->stop))) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			timed_out = 1;
			break;
		}
		wait_ns = deadline - now;
		/* Without a pidfd (old kernel) or with a stop flag, look again soon. */
		if ((pidfd < 0 || (opts && opts->stop)) && wait_ns > 20 * FL_NS_PER_MS)
			wait_ns = 20 * FL_NS_PER_MS;
		if (wait_ns > 1000 * FL_NS_PER_S)
			wait_ns = 1000 * FL_NS_PER_S;
		if (pidfd >= 0)
			fds[n++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
		if (out && pipefd[0] >= 0)
			fds[n++] = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
		poll(fds, n, (int)((wait_ns + FL_NS_PER_MS - 1) / FL_NS_PER_MS));
		if (out && pipefd[0] >= 0 && drain_pipe(pipefd[0], out)) {
			close(pipefd[0]);
			pipefd[0] = -1;
		}
	}
	if (out && pipefd[0] >= 0) {
		drain_pipe(pipefd[0], out);
		close(pipefd[0]);
	}
	if (pidfd >= 0)
		close(pidfd);
	if (status)
		*status = timed_out ? -1 : st;
	return 0;
}

const char *fl_status_describe(int status, char *buf, size_t n)
{
	if (status == -1)
		snprintf(buf, n, "timed out");
	else if (WIFEXITED(status))
		snprintf(buf, n, "exited %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, n, "killed by SIG%s", fl_signal_name(WTERMSIG(status)));
	else
		snprintf(buf, n, "status %d", status);
	return buf;
}
