/*
 * sorter: the values of one figure over a window, handed back in ascending
 * order without holding the window — an external merge sort. Values are
 * gathered in chunks of FL_SORTER_CHUNK, each chunk sorted with GSL and,
 * once there is more than one, written to an unlinked temporary file, then
 * the chunks are merged reading a small buffer of each. Memory: one chunk
 * plus a 4 KiB buffer per chunk of the window (about 60 for a million
 * values) while it is read.
 *
 * The temporary file. One file per sorter would hold one descriptor per
 * large figure: a scenario with a thousand phases would run out of them
 * (EMFILE at the usual limit of 1024). So the sorters of one load share one
 * file (struct fl_sorter_file): every chunk is appended to it and remembered
 * by offset, and a load holds one descriptor whatever the number of
 * figures. The file is made in $TMPDIR (else /tmp) with O_TMPFILE, or
 * mkstemp(3) and unlinked at once, so nothing is left behind even after a
 * crash; tmpfile(3) would ignore TMPDIR. It grows by 8 bytes per value of
 * the figures that spill (one scenario's window, released after it).
 *
 * Owns: that sort and its file. Does not own: what is computed from the
 * sorted values (stats.h: fl_stats_sorted, fl_stats_compare_sorted) or
 * where they come from (report_stream.c).
 */
#ifndef FAULTLINE_SORTER_H
#define FAULTLINE_SORTER_H

#include <stdio.h>
#include <stddef.h>
#include <sys/types.h>

#include "reports/stats.h"

#define FL_SORTER_CHUNK 16384 /* values sorted in memory at a time (128 KiB) */

/* The temporary file sorters share; fd -1 until the first chunk spills.
 * Owned by the caller: fl_sorter_file_close after its sorters are done. */
struct fl_sorter_file {
	int fd;
	off_t end;
	char dir[256]; /* where it was made, for messages */
};
void fl_sorter_file_init(struct fl_sorter_file *f);
void fl_sorter_file_close(struct fl_sorter_file *f);

struct fl_sorter_run {
	off_t off; /* byte offset in the file */
	size_t n;  /* values */
};

struct fl_sorter {
	double *buf; /* the chunk being filled */
	size_t n, cap;
	size_t chunk;                  /* values per chunk: FL_SORTER_CHUNK (tests set less) */
	size_t total;                  /* values added */
	struct fl_sorter_file *shared; /* or NULL: own (so a sorter may be moved) */
	struct fl_sorter_file own;
	struct fl_sorter_run *runs;
	size_t nruns;
};

/* A sorter with its own file (file NULL) or one shared with others. */
void fl_sorter_init(struct fl_sorter *s);
void fl_sorter_init_shared(struct fl_sorter *s, struct fl_sorter_file *file);
/* 0; -1 out of memory or when the temporary file failed (errno set). */
int fl_sorter_add(struct fl_sorter *s, double v);

/* Reading in ascending order, as often as needed (no add after the first
 * read). begin: 0, -1 (errno: ENOMEM or the file's error); next: 1 with *v,
 * 0 at the end, -1 (errno); end frees the cursor (safe after a failed
 * begin). */
struct fl_sorter_iter {
	struct fl_sorter *s;
	size_t i; /* in memory: the next index */
	struct fl_sorter_cursor *cs;
	struct fl_sorter_cursor **heap;
	size_t nheap;
};
int fl_sorter_begin(struct fl_sorter *s, struct fl_sorter_iter *it);
int fl_sorter_next(struct fl_sorter_iter *it, double *v);
void fl_sorter_end(struct fl_sorter_iter *it);

/* s as a source of fl_stats_compare_sorted (stats.h), read through it
 * (fl_sorter_end(it) afterwards). */
void fl_sorter_source(struct fl_sorter *s, struct fl_sorter_iter *it, struct fl_stats_source *out);

/* Calls fn with every value added, ascending. 0; -1 (errno set). */
typedef void (*fl_sorter_fn)(double v, void *ctx);
int fl_sorter_each(struct fl_sorter *s, fl_sorter_fn fn, void *ctx);
void fl_sorter_release(struct fl_sorter *s);

#endif
