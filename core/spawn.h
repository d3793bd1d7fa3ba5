/*
 * spawn: running external programs from argv vectors, never a shell.
 *
 * Owns: posix_spawnp with captured output, timeouts that kill the process
 * group, interruptible waits on a pidfd, describing an exit status.
 * Does not own: what the programs are (injectors, steps, checks).
 */
#ifndef FAULTLINE_CORE_SPAWN_H
#define FAULTLINE_CORE_SPAWN_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include "core/buf.h"
#include "core/error.h"

/* ---- external programs ----------------------------------------------------
 * Runs argv[0] (PATH is searched when it has no '/') with posix_spawnp; no
 * shell is ever involved. stdin is /dev/null, or opts->stdin_path, or
 * opts->stdin_data: those bytes in an anonymous memfd made for this child
 * (no named file, so a SIGKILL at any moment leaves nothing in /tmp). When
 * out is non-NULL, stdout and stderr are captured into it (up to its limit), else they go to
 * /dev/null. Waits at most timeout_ns (<= 0: no limit), then kills the
 * process group with SIGKILL. Returns 0 when the program ran (exit status in
 * *status as from waitpid, or -1 if it timed out), -1 when it could not be
 * started (error set, FL_EXIT_ENV class). */
struct fl_spawn_opts {
	const char *const *envp_extra; /* NULL-terminated "K=V" added to environ, or NULL */
	const char *cwd;               /* or NULL */
	atomic_int *stop;              /* abort the wait (kill the child) when set */
	const char *stdin_path;        /* file read as stdin instead of /dev/null, or NULL */
	const void *stdin_data;        /* bytes read as stdin (wins over stdin_path), or NULL */
	size_t stdin_len;              /* their length */
};
int fl_run_argv(const char *const *argv, int64_t timeout_ns, struct fl_buf *out, int *status,
		const struct fl_spawn_opts *opts, struct fl_error *err);
/* Start without waiting; returns pid (>0) or -1 with err set. Output discarded
 * unless out_fd >= 0 (then stdout+stderr go there). Child is its own
 * process-group leader. */
pid_t fl_spawn_argv(const char *const *argv, int out_fd, const struct fl_spawn_opts *opts,
		    struct fl_error *err);
/* While on (this thread only: the runner around a fault's inject and its
 * revert, whose `start` command restarts a process target, and around a
 * recovery step), every program started carries
 * FL_OWNER_ENV=PID:START of this process (core/proc.h), so that `recover`
 * can wait for it after a SIGKILL. Calls nest (a counter). */
void fl_spawn_tag_injects(int on);
/* While marker (an FL_OWNER_ENV=PID:START entry, fl_proc_owner_marker) is
 * set (this thread only; NULL clears it), every program started carries it
 * instead: `recover` reverting a dead drill's row tags what the revert
 * starts as that drill's, so a later recover waits for it too. */
void fl_spawn_tag_as(const char *marker);
/* One line describing an exit status: "exited 0", "killed by SIGKILL", "timed out". */
const char *fl_status_describe(int status, char *buf, size_t n);

#endif
