/*
 * sorter: the values of one figure over a window, handed back in ascending
 * order without holding the window — an external merge sort. Values are
 * gathered in chunks of FL_SORTER_CHUNK, each chunk sorted with GSL and,
 * once there is more than one, written to an unlinked temporary file
 * (tmpfile(3), so nothing is left behind), then the chunks are merged
 * reading a small buffer of each. Memory: one chunk plus a 4 KiB buffer per
 * chunk of the window (about 20 for a million values).
 *
 * Owns: that sort. Does not own: what is computed from the sorted values
 * (stats.h: fl_stats_sorted) or where they come from (report_stream.c).
 */
#ifndef FAULTLINE_SORTER_H
#define FAULTLINE_SORTER_H

#include <stdio.h>
#include <stddef.h>
#include <sys/types.h>

#define FL_SORTER_CHUNK 16384 /* values sorted in memory at a time (128 KiB) */

struct fl_sorter_run {
	off_t off; /* byte offset in the file */
	size_t n;  /* values */
};

struct fl_sorter {
	double *buf; /* the chunk being filled */
	size_t n, cap;
	size_t total; /* values added */
	FILE *spill;  /* NULL until a second chunk is needed */
	off_t end;
	struct fl_sorter_run *runs;
	size_t nruns;
};

void fl_sorter_init(struct fl_sorter *s);
/* 0; -1 out of memory or when the temporary file failed (errno set). */
int fl_sorter_add(struct fl_sorter *s, double v);
/* Calls fn with every value added, ascending. 0; -1 (errno set: ENOMEM,
 * or the temporary file's error). The sorter is spent afterwards. */
typedef void (*fl_sorter_fn)(double v, void *ctx);
int fl_sorter_each(struct fl_sorter *s, fl_sorter_fn fn, void *ctx);
void fl_sorter_release(struct fl_sorter *s);

#endif
