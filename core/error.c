/*
 * error: the first-error-wins error struct (error.h).
 */
#include "core/error.h"

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


/* ---- errors -------------------------------------------------------------- */

void fl_error_init(struct fl_error *e)
{
	e->code = 0;
	e->msg[0] = '\0';
}

int fl_error_is_set(const struct fl_error *e)
{
	return e && e->code != 0;
}

int fl_error_setv(struct fl_error *e, int code, const char *fmt, va_list ap)
{
	if (!e || e->code != 0)
		return -1;
	e->code = code ? code : FL_EXIT_ENV;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	/* One line, always: fold any newline a caller's text brought in. */
	for (char *p = e->msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return -1;
}

int fl_error_set(struct fl_error *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fl_error_setv(e, code, fmt, ap);
	va_end(ap);
	return -1;
}

int fl_error_at(struct fl_error *e, int code, const char *file, int line, int col, const char *fmt,
		...)
{
	char text[900];
	va_list ap;
	if (!e || e->code != 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (line > 0 && col > 0)
		return fl_error_set(e, code, "%s:%d:%d: %s", file, line, col, text);
	if (line > 0)
		return fl_error_set(e, code, "%s:%d: %s", file, line, text);
	return fl_error_set(e, code, "%s: %s", file, text);
}


int fl_error_oom(struct fl_error *e, const char *fmt, ...)
{
	char ctx[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	return fl_error_set(e, FL_EXIT_ENV, "%s: out of memory", ctx);
}
