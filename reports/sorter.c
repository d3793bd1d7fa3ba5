/*
 * sorter: an external merge sort of doubles (sorter.h).
 */
#include "reports/sorter.h"
#include "core/alloc.h"

#include <errno.h>
#include <gsl/gsl_sort.h>
#include <string.h>
#include <unistd.h>

#define READ_VALUES 512 /* values read from a chunk at a time (4 KiB) */

void fl_sorter_init(struct fl_sorter *s)
{
	memset(s, 0, sizeof(*s));
}

void fl_sorter_release(struct fl_sorter *s)
{
	fl_free(s->buf);
	fl_free(s->runs);
	if (s->spill)
		fclose(s->spill);
	fl_sorter_init(s);
}

/* Sorts the chunk in memory and appends it to the file as one run. */
static int spill(struct fl_sorter *s)
{
	struct fl_sorter_run *runs;
	size_t bytes = s->n * sizeof(*s->buf), done = 0;

	if (!s->spill && !(s->spill = tmpfile()))
		return -1;
	runs = fl_realloc(s->runs, (s->nruns + 1) * sizeof(*runs));
	if (!runs) {
		errno = ENOMEM;
		return -1;
	}
	s->runs = runs;
	gsl_sort(s->buf, 1, s->n);
	while (done < bytes) {
		ssize_t w = pwrite(fileno(s->spill), (const char *)s->buf + done, bytes - done,
				   s->end + (off_t)done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		done += (size_t)w;
	}
	runs[s->nruns].off = s->end;
	runs[s->nruns].n = s->n;
	s->nruns++;
	s->end += (off_t)bytes;
	s->n = 0;
	return 0;
}

int fl_sorter_add(struct fl_sorter *s, double v)
{
	if (s->n == s->cap) {
		if (s->cap == FL_SORTER_CHUNK) {
			if (spill(s) < 0)
				return -1;
		} else {
			/* Grown to a chunk: a small window costs a small buffer. */
			size_t cap = s->cap ? s->cap * 4 : 64;
			double *b;
			if (cap > FL_SORTER_CHUNK)
				cap = FL_SORTER_CHUNK;
			b = fl_realloc(s->buf, cap * sizeof(*b));
			if (!b) {
				errno = ENOMEM;
				return -1;
			}
			s->buf = b;
			s->cap = cap;
		}
	}
	s->buf[s->n++] = v;
	s->total++;
	return 0;
}

/* One run being merged: a buffer of its next values. */
struct cursor {
	const struct fl_sorter_run *run;
	size_t read; /* values of the run read into buf so far */
	size_t at, len;
	double buf[READ_VALUES];
};

static int cursor_fill(FILE *f, struct cursor *c)
{
	size_t want = c->run->n - c->read, bytes, done = 0;
	if (want > READ_VALUES)
		want = READ_VALUES;
	bytes = want * sizeof(double);
	while (done < bytes) {
		ssize_t r = pread(fileno(f), (char *)c->buf + done, bytes - done,
				  c->run->off + (off_t)(c->read * sizeof(double) + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		done += (size_t)r;
	}
	c->read += want;
	c->at = 0;
	c->len = want;
	return 0;
}

static double head(const struct cursor *c)
{
	return c->buf[c->at];
}

/* Restores the min-heap of cursors (by their next value) below i. */
static void sift_down(struct cursor **h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < n && head(h[l]) < head(h[m]))
			m = l;
		if (l + 1 < n && head(h[l + 1]) < head(h[m]))
			m = l + 1;
		if (m == i)
			return;
		struct cursor *t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static int merge(struct fl_sorter *s, fl_sorter_fn fn, void *ctx)
{
	struct cursor *cs = fl_calloc(s->nruns, sizeof(*cs));
	struct cursor **h = fl_calloc(s->nruns, sizeof(*h));
	size_t n = 0;
	int rc = -1;

	if (!cs || !h) {
		errno = ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < s->nruns; i++) {
		cs[i].run = &s->runs[i];
		if (cursor_fill(s->spill, &cs[i]) < 0)
			goto out;
		h[n++] = &cs[i];
	}
	for (size_t i = n / 2; i-- > 0;)
		sift_down(h, n, i);
	while (n > 0) {
		struct cursor *c = h[0];
		fn(head(c), ctx);
		if (++c->at == c->len) {
			if (c->read == c->run->n)
				h[0] = h[--n];
			else if (cursor_fill(s->spill, c) < 0)
				goto out;
		}
		sift_down(h, n, 0);
	}
	rc = 0;
out:
	fl_free(cs);
	fl_free(h);
	return rc;
}

int fl_sorter_each(struct fl_sorter *s, fl_sorter_fn fn, void *ctx)
{
	if (!s->spill) {
		/* One chunk: sorted where it is, no file. */
		gsl_sort(s->buf, 1, s->n);
		for (size_t i = 0; i < s->n; i++)
			fn(s->buf[i], ctx);
		return 0;
	}
	if (s->n > 0 && spill(s) < 0)
		return -1;
	return merge(s, fn, ctx);
}
