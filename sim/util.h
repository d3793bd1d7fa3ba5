/*
 * util: the small foundations every faultline module shares.
 *
 * Owns: the allocation wrapper (so tests can fail the Nth allocation), the
 * growable bounded string buffer, the error struct that carries one
 * `file:line:column: message` line plus an exit-code class, duration parsing
 * ("250ms", "30s", "5m", "1h", ISO 8601 "PT5M"), the monotonic and wall
 * clocks, and running external programs from argv vectors (never a shell).
 * Does not own: anything about scenarios, probes or storage.
 */
#ifndef FAULTLINE_UTIL_H
#define FAULTLINE_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Exit codes: the CLI's contract with CI (DESIGN.md). */
enum fl_exit {
	FL_EXIT_OK = 0,          /* all scenarios passed */
	FL_EXIT_FAIL = 1,        /* a target was missed or a gate failed */
	FL_EXIT_INPUT = 2,       /* bad input: usage, malformed file */
	FL_EXIT_ENV = 3,         /* environment could not be prepared or reverted */
	FL_EXIT_INTERRUPTED = 130
};

/* ---- allocation ---------------------------------------------------------
 * Every allocation in faultline goes through these. They return NULL on
 * failure (callers check); fl_alloc_fail_after(n) makes the n-th following
 * allocation (1-based) and all later ones fail until reset with -1.
 * fl_alloc_install_jansson() routes jansson through the same wrapper. */
void *fl_malloc(size_t n);
void *fl_calloc(size_t nmemb, size_t size);
void *fl_realloc(void *p, size_t n);
char *fl_strdup(const char *s);
char *fl_strndup(const char *s, size_t n);
void fl_free(void *p);
void fl_alloc_fail_after(long n);
long fl_alloc_count(void);  /* allocations attempted since the last reset */
void fl_alloc_install_jansson(void);

/* ---- errors --------------------------------------------------------------
 * A caller-provided error: the first error set wins. `msg` is the whole
 * one-line message as printed (for files: "file:line:column: message",
 * lower case, no final full stop). `code` is the exit-code class. */
struct fl_error {
	int code;          /* enum fl_exit, 0 while unset */
	char msg[1024];
};

void fl_error_init(struct fl_error *e);
/* Set the error unless one is already set. Returns -1 for `return fl_error_set(...)`. */
int fl_error_set(struct fl_error *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int fl_error_setv(struct fl_error *e, int code, const char *fmt, va_list ap);
/* Same with a file position prefix: "file:line:column: ". line/col <= 0 omit them. */
int fl_error_at(struct fl_error *e, int code, const char *file, int line, int col,
		const char *fmt, ...) __attribute__((format(printf, 6, 7)));
int fl_error_is_set(const struct fl_error *e);

/* ---- growable buffer (git strbuf / curl dynbuf) --------------------------
 * buf is never NULL after init (points at a static "" until first growth).
 * `limit` caps the length; an append past it or an allocation failure sets
 * `failed` and leaves the content unchanged, so callers check once at the end. */
struct fl_buf {
	char *buf;
	size_t len;
	size_t alloc;
	size_t limit;
	int failed;
};
#define FL_BUF_DEFAULT_LIMIT ((size_t)256 << 20)

void fl_buf_init(struct fl_buf *b, size_t limit); /* limit 0 = default */
void fl_buf_release(struct fl_buf *b);
int fl_buf_add(struct fl_buf *b, const void *data, size_t n);
int fl_buf_adds(struct fl_buf *b, const char *s);
int fl_buf_addf(struct fl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int fl_buf_addvf(struct fl_buf *b, const char *fmt, va_list ap);
void fl_buf_reset(struct fl_buf *b);
/* Hands the string to the caller (free with fl_free); the buffer is re-inited. */
char *fl_buf_detach(struct fl_buf *b);

/* ---- durations ------------------------------------------------------------
 * Accepts "<number><unit>" with unit ns, us, ms, s, m, h (number may have a
 * fraction: "1.5s"), and ISO 8601 "PT1H2M3.5S". Rejects negatives, missing
 * units, overflow and trailing junk. Returns 0 or -1. */
int fl_duration_parse(const char *s, int64_t *ns_out);
/* Formats ns as the shortest exact form ("250ms", "1.5s"); writes to buf. */
const char *fl_duration_format(int64_t ns, char *buf, size_t n);

#define FL_NS_PER_MS INT64_C(1000000)
#define FL_NS_PER_S INT64_C(1000000000)

/* ---- clocks --------------------------------------------------------------- */
int64_t fl_now_ns(void);          /* CLOCK_MONOTONIC */
int64_t fl_wall_ns(void);         /* CLOCK_REALTIME */
/* RFC 3339 UTC with milliseconds ("2026-11-24T06:45:59.123Z") into buf. */
const char *fl_rfc3339(int64_t wall_ns, char *buf, size_t n);
/* Sleep until the monotonic deadline or until *stop becomes non-zero (may be
 * NULL), checking every `slice_ns`. Returns 0 at deadline, 1 if stopped. */
int fl_sleep_until(int64_t deadline_ns, volatile int *stop, int64_t slice_ns);

/* ---- external programs ----------------------------------------------------
 * Runs argv[0] (PATH is searched when it has no '/') with posix_spawnp; no
 * shell is ever involved. stdin is /dev/null. When out is non-NULL, stdout
 * and stderr are captured into it (up to its limit), else they go to
 * /dev/null. Waits at most timeout_ns (<= 0: no limit), then kills the
 * process group with SIGKILL. Returns 0 when the program ran (exit status in
 * *status as from waitpid, or -1 if it timed out), -1 when it could not be
 * started (error set, FL_EXIT_ENV class). */
struct fl_spawn_opts {
	const char *const *envp_extra; /* NULL-terminated "K=V" added to environ, or NULL */
	const char *cwd;               /* or NULL */
	volatile int *stop;            /* abort the wait (kill the child) when set */
};
int fl_run_argv(const char *const *argv, int64_t timeout_ns, struct fl_buf *out,
		int *status, const struct fl_spawn_opts *opts, struct fl_error *err);
/* Start without waiting; returns pid (>0) or -1 with err set. Output discarded
 * unless out_fd >= 0 (then stdout+stderr go there). Child is its own
 * process-group leader. */
pid_t fl_spawn_argv(const char *const *argv, int out_fd, const struct fl_spawn_opts *opts,
		    struct fl_error *err);
/* One line describing an exit status: "exited 0", "killed by SIGKILL", "timed out". */
const char *fl_status_describe(int status, char *buf, size_t n);

/* ---- processes --------------------------------------------------------------
 * State (field 3) and start time (field 22 of /proc/PID/stat, clock ticks
 * after boot) of pid: 0, or -1 when it does not exist. Either out may be
 * NULL. A pid plus its start time names one process for good: pids are
 * reused, start times are not. */
int fl_proc_stat(pid_t pid, char *state, unsigned long long *start_time);
/* 1 when pid exists and is not a zombie (and, when start_time is non-zero,
 * is the process that started then), else 0. */
int fl_proc_alive(pid_t pid, unsigned long long start_time);

/* ---- small helpers ---------------------------------------------------------- */
/* Checked integer parse of the whole string; 0 or -1. */
int fl_parse_long(const char *s, long min, long max, long *out);
/* Reads a whole file (up to limit bytes) into out; 0 or -1 with err set. */
int fl_read_file(const char *path, size_t limit, struct fl_buf *out, struct fl_error *err);
/* Reads a pid from a pidfile; 0 on success, -1 with err set. */
int fl_read_pidfile(const char *path, pid_t *pid, struct fl_error *err);
/* Signal name <-> number: "KILL", "SIGKILL", "9". Returns -1 if unknown. */
int fl_signal_parse(const char *name);
const char *fl_signal_name(int sig);

#define FL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
