/*
 * fuzz: what the libFuzzer targets in tests/fuzz/ share.
 *
 * Owns: the entry points every target defines (LLVMFuzzerInitialize and
 * LLVMFuzzerTestOneInput, libFuzzer's contract), turning the fuzzer's bytes
 * into a NUL-terminated string for the loaders, and the invariant every
 * rejected input must keep: one clear error line of the right class (a
 * violation aborts, so libFuzzer records it like a crash). Does not own what
 * each target feeds (fuzz_<target>.c) or how inputs are replayed without
 * libFuzzer (replay_main.c).
 */
#ifndef FAULTLINE_FUZZ_H
#define FAULTLINE_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* New NUL-terminated copy of data (fl_free); aborts when out of memory,
 * which under the fuzzer's memory limit is a finding, not a rejection. */
char *fuzz_cstring(const uint8_t *data, size_t size);

/* Aborts unless err holds a non-empty one-line message of class `code`. */
void fuzz_check_error(const struct fl_error *err, int code, const char *what);

/* Aborts with `what` when cond is false (an invariant of a parser broke). */
void fuzz_require(int cond, const char *what);

/* Directory of the example files the targets resolve against
 * (FAULTLINE_SOURCE_DIR at run time, else the source tree at build time). */
const char *fuzz_source_dir(void);

#endif
