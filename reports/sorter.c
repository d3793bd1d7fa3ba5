/*
 * sorter: an external merge sort of doubles (sorter.h).
 */
#include "reports/sorter.h"
#include "core/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <gsl/gsl_sort.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_VALUES 512 /* values read from a chunk at a time (4 KiB) */

void fl_sorter_file_init(struct fl_sorter_file *f)
{
	memset(f, 0, sizeof(*f));
	f->fd = -1;
}

void fl_sorter_file_close(struct fl_sorter_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	fl_sorter_file_init(f);
}

/* An unlinked file in $TMPDIR (tmpfile(3) would ignore it), else /tmp. */
static int file_open(struct fl_sorter_file *f)
{
	const char *dir = getenv("TMPDIR");
	char path[sizeof(f->dir) + 32];
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
	snprintf(f->dir, sizeof(f->dir), "%s", dir);
	fd = open(f->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		/* A file system without O_TMPFILE: named for an instant. */
		snprintf(path, sizeof(path), "%s/faultline-sort.XXXXXX", f->dir);
		fd = mkostemp(path, O_CLOEXEC);
		if (fd >= 0)
			unlink(path);
	}
	if (fd < 0)
		return -1;
	f->fd = fd;
	f->end = 0;
	return 0;
}

static struct fl_sorter_file *file_of(struct fl_sorter *s)
{
	return s->shared ? s->shared : &s->own;
}

void fl_sorter_init(struct fl_sorter *s)
{
	memset(s, 0, sizeof(*s));
	fl_sorter_file_init(&s->own);
	s->chunk = FL_SORTER_CHUNK;
}

void fl_sorter_init_shared(struct fl_sorter *s, struct fl_sorter_file *file)
{
	fl_sorter_init(s);
	s->shared = file;
}

void fl_sorter_release(struct fl_sorter *s)
{
	struct fl_sorter_file *shared = s->shared;
	size_t chunk = s->chunk;

	fl_free(s->buf);
	fl_free(s->runs);
	fl_sorter_file_close(&s->own);
	fl_sorter_init(s);
	s->shared = shared;
	s->chunk = chunk;
}

static int write_all(int fd, const void *p, size_t bytes, off_t off)
{
	size_t done = 0;
	while (done < bytes) {
		ssize_t w = pwrite(fd, (const char *)p + done, bytes - done, off + (off_t)done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		done += (size_t)w;
	}
	return 0;
}

/* Sorts the chunk in memory and appends it to the file as one run. */
static int spill(struct fl_sorter *s)
{
	struct fl_sorter_file *f = file_of(s);
	struct fl_sorter_run *runs;
	size_t bytes = s->n * sizeof(*s->buf);

	if (f->fd < 0 && file_open(f) < 0)
		return -1;
	runs = fl_realloc(s->runs, (s->nruns + 1) * sizeof(*runs));
	if (!runs) {
		errno = ENOMEM;
		return -1;
	}
	s->runs = runs;
	gsl_sort(s->buf, 1, s->n);
	if (write_all(f->fd, s->buf, bytes, f->end) < 0)
		return -1;
	runs[s->nruns].off = f->end;
	runs[s->nruns].n = s->n;
	s->nruns++;
	f->end += (off_t)bytes;
	s->n = 0;
	return 0;
}

int fl_sorter_add(struct fl_sorter *s, double v)
{
	if (s->n == s->cap) {
		if (s->cap >= s->chunk) {
			if (spill(s) < 0)
				return -1;
		} else {
			/* Grown to a chunk: a small window costs a small buffer. */
			size_t cap = s->cap ? s->cap * 4 : 64;
			double *b;
			if (cap > s->chunk)
				cap = s->chunk;
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
struct fl_sorter_cursor {
	const struct fl_sorter_run *run;
	size_t read; /* values of the run read into buf so far */
	size_t at, len;
	double buf[READ_VALUES];
};

static int cursor_fill(int fd, struct fl_sorter_cursor *c)
{
	size_t want = c->run->n - c->read, bytes, done = 0;
	if (want > READ_VALUES)
		want = READ_VALUES;
	bytes = want * sizeof(double);
	while (done < bytes) {
		ssize_t r = pread(fd, (char *)c->buf + done, bytes - done,
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

static double head(const struct fl_sorter_cursor *c)
{
	return c->buf[c->at];
}

/* Restores the min-heap of cursors (by their next value) below i. */
static void sift_down(struct fl_sorter_cursor **h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < n && head(h[l]) < head(h[m]))
			m = l;
		if (l + 1 < n && head(h[l + 1]) < head(h[m]))
			m = l + 1;
		if (m == i)
			return;
		struct fl_sorter_cursor *t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

int fl_sorter_begin(struct fl_sorter *s, struct fl_sorter_iter *it)
{
	int fd;

	memset(it, 0, sizeof(*it));
	it->s = s;
	if (s->nruns == 0) {
		/* One chunk: sorted where it is, no file. */
		gsl_sort(s->buf, 1, s->n);
		return 0;
	}
	if (s->n > 0 && spill(s) < 0)
		return -1;
	it->cs = fl_calloc(s->nruns, sizeof(*it->cs));
	it->heap = fl_calloc(s->nruns, sizeof(*it->heap));
	if (!it->cs || !it->heap) {
		errno = ENOMEM;
		return -1;
	}
	fd = file_of(s)->fd;
	for (size_t i = 0; i < s->nruns; i++) {
		it->cs[i].run = &s->runs[i];
		if (cursor_fill(fd, &it->cs[i]) < 0)
			return -1;
		it->heap[it->nheap++] = &it->cs[i];
	}
	for (size_t i = it->nheap / 2; i-- > 0;)
		sift_down(it->heap, it->nheap, i);
	return 0;
}

int fl_sorter_next(struct fl_sorter_iter *it, double *v)
{
	struct fl_sorter *s = it->s;
	struct fl_sorter_cursor *c;

	if (!it->heap) {
		if (it->i == s->n)
			return 0;
		*v = s->buf[it->i++];
		return 1;
	}
	if (it->nheap == 0)
		return 0;
	c = it->heap[0];
	*v = head(c);
	if (++c->at == c->len) {
		if (c->read == c->run->n)
			it->heap[0] = it->heap[--it->nheap];
		else if (cursor_fill(file_of(s)->fd, c) < 0)
			return -1;
	}
	sift_down(it->heap, it->nheap, 0);
	return 1;
}

void fl_sorter_end(struct fl_sorter_iter *it)
{
	fl_free(it->cs);
	fl_free(it->heap);
	it->cs = NULL;
	it->heap = NULL;
	it->nheap = 0;
}

static int source_begin(void *ctx)
{
	struct fl_sorter_iter *it = ctx;
	struct fl_sorter *s = it->s;
	fl_sorter_end(it);
	return fl_sorter_begin(s, it);
}

static int source_next(void *ctx, double *v)
{
	return fl_sorter_next(ctx, v);
}

void fl_sorter_source(struct fl_sorter *s, struct fl_sorter_iter *it, struct fl_stats_source *out)
{
	memset(it, 0, sizeof(*it));
	it->s = s;
	*out = (struct fl_stats_source){ it, s->total, source_begin, source_next };
}

int fl_sorter_each(struct fl_sorter *s, fl_sorter_fn fn, void *ctx)
{
	struct fl_sorter_iter it;
	double v;
	int rc;

	if (fl_sorter_begin(s, &it) < 0) {
		int e = errno;
		fl_sorter_end(&it);
		errno = e;
		return -1;
	}
	while ((rc = fl_sorter_next(&it, &v)) > 0)
		fn(v, ctx);
	{
		int e = errno;
		fl_sorter_end(&it);
		errno = e;
	}
	return rc < 0 ? -1 : 0;
}
