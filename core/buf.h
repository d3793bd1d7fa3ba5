/*
 * buf: the growable, bounded string buffer (git strbuf, curl dynbuf).
 *
 * Owns: struct fl_buf and its appenders, reading a whole file into one.
 * Does not own: allocation policy (alloc.h).
 */
#ifndef FAULTLINE_CORE_BUF_H
#define FAULTLINE_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include "core/error.h"

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

/* Reads a whole file (up to limit bytes) into out; 0 or -1 with err set. */
int fl_read_file(const char *path, size_t limit, struct fl_buf *out, struct fl_error *err);

#endif
