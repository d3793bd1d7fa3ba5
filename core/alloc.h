/*
 * alloc: the one allocation wrapper every faultline allocation goes through.
 *
 * Owns: fl_malloc and friends, the failure hook tests use to fail the Nth
 * allocation (jansson and SQLite are routed through it too), FL_ARRAY_LEN.
 * Does not own: error reporting (error.h says "out of memory").
 */
#ifndef FAULTLINE_CORE_ALLOC_H
#define FAULTLINE_CORE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

/* ---- allocation ---------------------------------------------------------
 * Every allocation in faultline goes through these. They return NULL on
 * failure (callers check); fl_alloc_fail_after(n) makes the n-th following
 * allocation (1-based) and all later ones fail until reset with -1.
 * fl_alloc_install_jansson() routes jansson through the same wrapper. */
void *fl_malloc(size_t n);
void *fl_calloc(size_t nmemb, size_t size);
void *fl_realloc(void *p, size_t n);
char *fl_strdup(const char *s);
char *fl_strndup(const char *s, size_t n);
void fl_free(void *p);
void fl_alloc_fail_after(long n);
long fl_alloc_count(void); /* allocations attempted since the last reset */
/* Allocations made to fail since the last reset outside a benign section.
 * A benign section (begin/end, nesting, per thread) brackets allocations
 * whose failure the caller absorbs by design, with nothing lost but a
 * nicety (a "did you mean"): test_allocfail then accepts an operation that
 * succeeded although they failed, and rejects one that swallowed any other. */
long fl_alloc_failed(void);
void fl_alloc_benign_begin(void);
void fl_alloc_benign_end(void);
void fl_alloc_install_jansson(void);


#define FL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* FL_UNCONST(type, p): p without its const, for the C APIs that take a
 * non-const pointer they only read (posix_spawn's argv, jansson's iterators)
 * and for structs whose char * members are filled from literals. Through
 * uintptr_t, so -Wcast-qual stays on: any other cast that drops a const
 * still warns. */
#define FL_UNCONST(type, p) ((type)(uintptr_t)(p))

#endif
