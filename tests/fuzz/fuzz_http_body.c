/*
 * fuzz_http_body: the writer's http read-back parser (the JSON answer a
 * service under test sends back: an array of sequence numbers or
 * {"seqs": [...]}) on arbitrary bytes, through fl_writer_parse_seqs, the
 * same function the http driver calls. A parsed answer must be strictly
 * ascending (the loss arithmetic relies on it); a rejected one must carry
 * one clear FL_EXIT_ENV error line.
 */
#include "tests/fuzz/fuzz.h"
#include "sim/writer.h"
#include "core/alloc.h"
#include "core/error.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fl_alloc_install_jansson();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fl_error err;
	long *seqs = NULL, n = 0, i;

	fl_error_init(&err);
	if (fl_writer_parse_seqs((const char *)data, size, &seqs, &n, &err) < 0) {
		fuzz_check_error(&err, FL_EXIT_ENV, "fl_writer_parse_seqs");
		fuzz_require(seqs == NULL && n == 0, "a rejected answer yields no sequence numbers");
		return 0;
	}
	fuzz_require(n >= 0 && (n == 0 || seqs != NULL), "a parsed answer has its numbers");
	for (i = 1; i < n; i++)
		fuzz_require(seqs[i - 1] < seqs[i], "sequence numbers come back strictly ascending");
	fl_free(seqs);
	return 0;
}
