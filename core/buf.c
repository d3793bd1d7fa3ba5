/*
 * buf: the bounded growable buffer (buf.h).
 */
#include "core/buf.h"

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

#include "core/alloc.h"
#include "core/error.h"

/* ---- buffers ------------------------------------------------------------- */

static char fl_buf_empty[1];

void fl_buf_init(struct fl_buf *b, size_t limit)
{
	b->buf = fl_buf_empty;
	b->len = 0;
	b->alloc = 0;
	b->limit = limit ? limit : FL_BUF_DEFAULT_LIMIT;
	b->failed = 0;
}

void fl_buf_release(struct fl_buf *b)
{
	if (b->alloc)
		fl_free(b->buf);
	fl_buf_init(b, b->limit);
}

void fl_buf_reset(struct fl_buf *b)
{
	b->len = 0;
	if (b->alloc)
		b->buf[0] = '\0';
}

static int buf_grow(struct fl_buf *b, size_t extra)
{
	size_t want, cap;
	char *nb;
	if (b->failed)
		return -1;
	if (extra > b->limit || b->len > b->limit - extra) {
		b->failed = 1;
		return -1;
	}
	want = b->len + extra + 1;
	if (want <= b->alloc)
		return 0;
	cap = b->alloc ? b->alloc : 64;
	while (cap < want)
		cap *= 2;
	nb = fl_realloc(b->alloc ? b->buf : NULL, cap);
	if (!nb) {
		b->failed = 1;
		return -1;
	}
	if (!b->alloc)
		nb[0] = '\0';
	b->buf = nb;
	b->alloc = cap;
	return 0;
}

int fl_buf_add(struct fl_buf *b, const void *data, size_t n)
{
	if (buf_grow(b, n) < 0)
		return -1;
	memcpy(b->buf + b->len, data, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return 0;
}

int fl_buf_adds(struct fl_buf *b, const char *s)
{
	return fl_buf_add(b, s, strlen(s));
}

int fl_buf_addvf(struct fl_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;
	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0 || buf_grow(b, (size_t)n) < 0) {
		b->failed = 1;
		return -1;
	}
	vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int fl_buf_addf(struct fl_buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;
	va_start(ap, fmt);
	r = fl_buf_addvf(b, fmt, ap);
	va_end(ap);
	return r;
}

char *fl_buf_detach(struct fl_buf *b)
{
	char *s = b->alloc ? b->buf : fl_strdup("");
	fl_buf_init(b, b->limit);
	return s;
}

int fl_read_file(const char *path, size_t limit, struct fl_buf *out, struct fl_error *err)
{
	FILE *f = fopen(path, "rb");
	char chunk[8192];
	size_t k;
	if (!f)
		return fl_error_set(err, FL_EXIT_INPUT, "%s: cannot open: %s", path, strerror(errno));
	while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (out->len + k > limit) {
			fclose(f);
			return fl_error_set(err, FL_EXIT_INPUT, "%s: larger than %zu bytes", path,
					    limit);
		}
		if (fl_buf_add(out, chunk, k) < 0) {
			fclose(f);
			return fl_error_oom(err, "%s", path);
		}
	}
	if (ferror(f)) {
		fclose(f);
		return fl_error_set(err, FL_EXIT_INPUT, "%s: read error", path);
	}
	fclose(f);
	return 0;
}
