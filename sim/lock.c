/*
 * lock: per-environment drill lock across processes. See lock.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/lock.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/environment.h"
#include "core/scenario.h"

#define LOCK_HOLDER_MAX 1024

struct fl_lock {
	int fd;
	char *path;
};

/* File-name safe: letters, digits, '-', '_' and '.' kept, the rest '_'. */
static void safe_name(struct fl_buf *b, const char *s)
{
	for (const char *p = s; *p; p++) {
		char c = *p;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '-' || c == '_' || (c == '.' && p != s);
		fl_buf_add(b, ok ? &c : "_", 1);
	}
}

struct fl_lock *fl_lock_environment(const char *dir, const char *env_name, const char *what,
				    struct fl_error *err)
{
	struct fl_lock *l = NULL;
	struct fl_buf path, line;
	char host[256] = "", since[40];
	int fd = -1;

	fl_buf_init(&path, 4096);
	fl_buf_init(&line, LOCK_HOLDER_MAX);
	fl_buf_addf(&path, "%s/faultline-env-", dir);
	safe_name(&path, env_name);
	fl_buf_adds(&path, ".lock");
	if (path.failed) {
		fl_error_oom(err, "lock");
		goto fail;
	}
	/* 0644 and no O_TRUNC: opening must not erase the holder's line. */
	fd = open(path.buf, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot open the environment lock: %s", path.buf,
			     strerror(errno));
		goto fail;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char holder[LOCK_HOLDER_MAX] = "";
		ssize_t n;
		if (errno != EWOULDBLOCK) {
			fl_error_set(err, FL_EXIT_ENV, "%s: flock: %s", path.buf, strerror(errno));
			goto fail;
		}
		n = pread(fd, holder, sizeof(holder) - 1, 0);
		holder[n > 0 ? n : 0] = '\0';
		holder[strcspn(holder, "\n")] = '\0';
		fl_error_set(err, FL_EXIT_ENV,
			     "environment '%s' is being drilled by %s; not starting another drill",
			     env_name,
			     holder[0] ? holder : "another process (holder not recorded yet)");
		goto fail;
	}
	gethostname(host, sizeof(host) - 1);
	fl_buf_addf(&line, "pid %ld on host %s since %s (%s)\n", (long)getpid(), host,
		    fl_rfc3339(fl_wall_ns(), since, sizeof(since)), what ? what : "faultline");
	if (line.failed || ftruncate(fd, 0) < 0 ||
	    pwrite(fd, line.buf, line.len, 0) != (ssize_t)line.len) {
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot record the lock holder: %s", path.buf,
			     strerror(errno));
		goto fail;
	}
	l = fl_calloc(1, sizeof(*l));
	if (!l) {
		fl_error_oom(err, "lock");
		goto fail;
	}
	l->fd = fd;
	l->path = fl_buf_detach(&path);
	fl_buf_release(&path);
	fl_buf_release(&line);
	return l;
fail:
	if (fd >= 0)
		close(fd);
	fl_buf_release(&path);
	fl_buf_release(&line);
	return NULL;
}

void fl_lock_release(struct fl_lock *l)
{
	if (!l)
		return;
	/* Clear the holder line while still holding the lock, then let go;
	 * the file stays (unlinking it would race with a waiting opener). */
	if (ftruncate(l->fd, 0) < 0) {
		/* Harmless: the next holder overwrites the line. */
	}
	close(l->fd);
	fl_free(l->path);
	fl_free(l);
}

char *fl_lock_scenario_environment(const char *scenario_path, const char *env_path,
				   struct fl_error *err)
{
	struct fl_scenario *sc = fl_scenario_load(scenario_path, err);
	struct fl_environment *env = NULL;
	char *name = NULL;

	if (!sc)
		return NULL;
	if (!env_path && !sc->environment) {
		fl_error_set(err, FL_EXIT_INPUT, "%s: no environment to lock (give --env)",
			     scenario_path);
		goto out;
	}
	env = fl_environment_load(env_path ? env_path : sc->environment, err);
	if (env && !(name = fl_strdup(env->name)))
		fl_error_oom(err, "lock");
out:
	fl_environment_free(env);
	fl_scenario_free(sc);
	return name;
}
