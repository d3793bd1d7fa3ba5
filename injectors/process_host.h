/*
 * process_host: where a process lives and how to look at it — this
 * machine's /proc and kill(2), or a host's over ssh (docs/remote.md) — and
 * resolving a process target to one pid with its start time.
 *
 * Every look at a process and every signal of the process injector goes
 * through these fl_px_* functions: h == NULL is this machine, otherwise the
 * remote host's /proc and kill, reached with argv-safe remote commands
 * (core/ssh.h).
 *
 * Owns: the /proc scans, the remote look-up scripts, parsing /proc/PID/stat.
 * Does not own: what is signalled when, or bringing a process back
 * (process.c).
 */
#ifndef FAULTLINE_PROCESS_HOST_H
#define FAULTLINE_PROCESS_HOST_H

#include <jansson.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/ssh.h"

#define FL_PX_REMOTE_TIMEOUT_NS (20 * FL_NS_PER_S)
#define FL_PX_REMOTE_POLL_NS (200 * FL_NS_PER_MS) /* a round trip each */
#define FL_PX_REMOTE_ATTEMPTS 4                   /* revert: host may be back */

/* The fields of /proc/PID/stat the injector uses (start: field 22). */
struct fl_px_stat {
	pid_t pid, ppid, pgid;
	char state;
	unsigned long long start;
};

/* Parses one /proc/PID/stat line (comm may hold spaces and ')'). 0 or -1. */
int fl_px_stat_parse(const char *line, struct fl_px_stat *s);

/* Loads the record's "ssh" into h; 0 when local (no "ssh"), 1 remote, -1. */
int fl_px_host(const json_t *rec, struct fl_ssh *h, struct fl_error *err);

/* Runs argv on h into out (reset first); 0 with *status, -1 err set. */
int fl_px_run(const struct fl_ssh *h, const char *const *argv, int attempts, struct fl_buf *out,
	      int *status, struct fl_error *err);

/* State, start time and pgid of pid: 0, 1 when it does not exist, -1 err. */
int fl_px_stat_get(const struct fl_ssh *h, pid_t pid, struct fl_px_stat *s, int attempts,
		   struct fl_error *err);

/* 1 when pid runs (not a zombie) and, with start != 0, started then; 0 if
 * not; -1 when the host could not be asked. */
int fl_px_alive(const struct fl_ssh *h, pid_t pid, unsigned long long start, int attempts,
		struct fl_error *err);

/* The pid in a pidfile: 0; -1 when it holds none (err set); -2 when the
 * host could not be asked (err set). */
int fl_px_pidfile(const struct fl_ssh *h, const char *path, pid_t *pid, int attempts,
		  struct fl_error *err);

/* Counts live processes matching, other than (skip_pid, skip_start); -1 err. */
int fl_px_find_match(const struct fl_ssh *h, const char *match, pid_t skip_pid,
		     unsigned long long skip_start, pid_t *first, int attempts, struct fl_error *err);

/* kill -s SIG DEST (DEST < 0: a process group). 0 or -1 with err set. */
int fl_px_kill(const struct fl_ssh *h, pid_t dest, int sig, const char *name, struct fl_error *err);

/* The cmdline of pid (NULs as spaces) into b; best effort. */
void fl_px_cmdline(const struct fl_ssh *h, pid_t pid, struct fl_buf *b);

/* The pid the fault applies to right now, and its start time. */
int fl_px_resolve(const struct fl_ssh *h, const char *name, const char *pidfile, const char *match,
		  pid_t *pid, unsigned long long *start_time, struct fl_error *err);

#endif
