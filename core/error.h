/*
 * error: the caller-provided error and the exit-code classes.
 *
 * Owns: enum fl_exit (the CLI's contract with CI, docs/cli.md), struct
 * fl_error (one line, first error wins), fl_error_oom.
 * Convention: a function that fails returns -1 with the error set
 * (`return fl_error_set(err, FL_EXIT_..., "...")`); see docs/HACKING.md.
 */
#ifndef FAULTLINE_CORE_ERROR_H
#define FAULTLINE_CORE_ERROR_H

#include <stdarg.h>

/* Exit codes: the CLI's contract with CI (docs/cli.md). */
enum fl_exit {
	FL_EXIT_OK = 0,    /* all scenarios passed */
	FL_EXIT_FAIL = 1,  /* a target was missed or a gate failed */
	FL_EXIT_INPUT = 2, /* bad input: usage, malformed file */
	FL_EXIT_ENV = 3,   /* environment could not be prepared or reverted */
	FL_EXIT_INTERRUPTED = 130
};

/* ---- errors --------------------------------------------------------------
 * A caller-provided error: the first error set wins. `msg` is the whole
 * one-line message as printed (for files: "file:line:column: message",
 * lower case, no final full stop). `code` is the exit-code class. */
struct fl_error {
	int code; /* enum fl_exit, 0 while unset */
	char msg[1024];
};

void fl_error_init(struct fl_error *e);
/* Set the error unless one is already set. Returns -1 for `return fl_error_set(...)`. */
int fl_error_set(struct fl_error *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int fl_error_setv(struct fl_error *e, int code, const char *fmt, va_list ap);
/* Same with a file position prefix: "file:line:column: ". line/col <= 0 omit them. */
int fl_error_at(struct fl_error *e, int code, const char *file, int line, int col, const char *fmt,
		...) __attribute__((format(printf, 6, 7)));
int fl_error_is_set(const struct fl_error *e);

/* "CONTEXT: out of memory", class FL_EXIT_ENV; CONTEXT is printf-formatted
 * (name the file, fault or module that could not allocate). Returns -1. */
int fl_error_oom(struct fl_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
