/*
 * alloc: the allocation wrapper with its failure hook (alloc.h).
 */
#include "core/alloc.h"

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


/* ---- allocation ---------------------------------------------------------- */

static atomic_long alloc_fail_after = -1;
static atomic_long alloc_count;
static atomic_long alloc_failed;       /* failed outside a benign section */
static _Thread_local int alloc_benign; /* depth of this thread's benign sections */

void fl_alloc_fail_after(long n)
{
	atomic_store(&alloc_count, 0);
	atomic_store(&alloc_failed, 0);
	atomic_store(&alloc_fail_after, n);
}

long fl_alloc_count(void)
{
	return atomic_load(&alloc_count);
}

long fl_alloc_failed(void)
{
	return atomic_load(&alloc_failed);
}

void fl_alloc_benign_begin(void)
{
	alloc_benign++;
}

void fl_alloc_benign_end(void)
{
	alloc_benign--;
}

static int alloc_should_fail(void)
{
	long c = atomic_fetch_add(&alloc_count, 1) + 1;
	long lim = atomic_load(&alloc_fail_after);
	if (lim > 0 && c >= lim) {
		if (alloc_benign == 0)
			atomic_fetch_add(&alloc_failed, 1);
		return 1;
	}
	return 0;
}

void *fl_malloc(size_t n)
{
	if (alloc_should_fail())
		return NULL;
	return malloc(n ? n : 1);
}

void *fl_calloc(size_t nmemb, size_t size)
{
	if (alloc_should_fail())
		return NULL;
	return calloc(nmemb ? nmemb : 1, size ? size : 1);
}

void *fl_realloc(void *p, size_t n)
{
	if (alloc_should_fail())
		return NULL;
	return realloc(p, n ? n : 1);
}

char *fl_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = fl_malloc(len + 1);
	if (!d)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

char *fl_strdup(const char *s)
{
	return s ? fl_strndup(s, SIZE_MAX) : NULL;
}

void fl_free(void *p)
{
	free(p);
}

void fl_alloc_install_jansson(void)
{
	json_set_alloc_funcs(fl_malloc, fl_free);
}
