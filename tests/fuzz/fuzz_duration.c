/*
 * fuzz_duration: fl_duration_parse, which every loader uses for "250ms",
 * "1.5s" and ISO 8601 "PT5M", on arbitrary strings. An accepted duration
 * must be non-negative and survive fl_duration_format and a second parse
 * unchanged (the reports print what the loader read).
 */
#include "tests/fuzz/fuzz.h"
#include "core/alloc.h"
#include "core/clock.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstring(data, size);
	char buf[64];
	int64_t ns = -1, again = -1;

	if (fl_duration_parse(text, &ns) == 0) {
		fuzz_require(ns >= 0, "a parsed duration is not negative");
		fl_duration_format(ns, buf, sizeof(buf));
		fuzz_require(fl_duration_parse(buf, &again) == 0,
			     "a formatted duration parses again");
		fuzz_require(again == ns, "format then parse gives back the same duration");
	}
	fl_free(text);
	return 0;
}
