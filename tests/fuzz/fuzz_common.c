/*
 * fuzz_common: helpers shared by the fuzz targets (see fuzz.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "core/alloc.h"
#include "core/error.h"

char *fuzz_cstring(const uint8_t *data, size_t size)
{
	char *s = fl_malloc(size + 1);

	fuzz_require(s != NULL, "out of memory copying the input");
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

void fuzz_require(int cond, const char *what)
{
	if (cond)
		return;
	fprintf(stderr, "fuzz invariant broken: %s\n", what);
	abort();
}

void fuzz_check_error(const struct fl_error *err, int code, const char *what)
{
	if (!fl_error_is_set(err) || err->code != code || err->msg[0] == '\0' ||
	    strchr(err->msg, '\n') || strchr(err->msg, '\r')) {
		fprintf(stderr,
			"fuzz: %s rejected the input without one clear error "
			"(code %d, want %d): '%s'\n",
			what, err->code, code, err->msg);
		abort();
	}
}

const char *fuzz_source_dir(void)
{
	const char *dir = getenv("FAULTLINE_SOURCE_DIR");

	return dir && *dir ? dir : FAULTLINE_FUZZ_SOURCE_DIR;
}
