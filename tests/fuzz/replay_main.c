/*
 * replay_main: runs a fuzz target without libFuzzer, over files and
 * directories named on the command line (the seed corpora and
 * tests/data/fuzz-regressions/<target>/), so every ordinary build (gcc,
 * ASan, valgrind) replays each crash ever found. Exits 0 when every input
 * ran (a finding aborts the process), 2 when an input cannot be read.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"
#include "core/error.h"
#include "core/buf.h"

/* Larger than any seed or regression; libFuzzer's own -max_len is smaller. */
#define REPLAY_MAX_INPUT ((size_t)4 << 20)

static int replay_file(const char *path, long *count)
{
	struct fl_buf b;
	struct fl_error err;
	int ret = -1;

	fl_buf_init(&b, REPLAY_MAX_INPUT);
	fl_error_init(&err);
	if (fl_read_file(path, REPLAY_MAX_INPUT, &b, &err) < 0) {
		fprintf(stderr, "replay: %s\n", err.msg);
		goto out;
	}
	LLVMFuzzerTestOneInput((const uint8_t *)b.buf, b.len);
	(*count)++;
	ret = 0;
out:
	fl_buf_release(&b);
	return ret;
}

static int replay_dir(const char *dir, long *count)
{
	struct dirent **names = NULL;
	char path[4096];
	int n, i, ret = 0;

	/* scandir sorts, so a failure names the same input on every run; its
	 * list comes from libc's malloc and goes back with free(). */
	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "replay: %s: cannot read the directory\n", dir);
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct stat st;
		if (names[i]->d_name[0] != '.' &&
		    snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) < (int)sizeof(path) &&
		    stat(path, &st) == 0 && S_ISREG(st.st_mode) && replay_file(path, count) < 0)
			ret = -1;
		free(names[i]);
	}
	free(names);
	return ret;
}

int main(int argc, char **argv)
{
	long count = 0;
	int i, failed = 0;

	LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			/* An absent regression folder simply holds no cases yet. */
			continue;
		}
		if ((S_ISDIR(st.st_mode) ? replay_dir(argv[i], &count)
					 : replay_file(argv[i], &count)) < 0)
			failed = 1;
	}
	printf("replayed %ld inputs\n", count);
	return failed ? 2 : 0;
}
