/*
 * fuzz_inventory: the inventory loader on arbitrary bytes (dependency names
 * checked to exist and to form no cycle, tiers, durations). A loaded
 * inventory must find each asset by name and hold tiers 1-4; a rejected one
 * must carry one clear FL_EXIT_INPUT error line.
 */
#include "tests/fuzz/fuzz.h"
#include "core/inventory.h"
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
	char *text = fuzz_cstring(data, size);
	struct fl_error err;
	struct fl_doc *doc;
	struct fl_inventory *inv = NULL;
	size_t i;

	fl_error_init(&err);
	doc = fl_doc_load_string("fuzz.json", text, &err);
	if (!doc) {
		fuzz_check_error(&err, FL_EXIT_INPUT, "fl_doc_load_string");
		goto out;
	}
	inv = fl_inventory_from_doc(doc, &err);
	if (!inv) {
		fuzz_check_error(&err, FL_EXIT_INPUT, "fl_inventory_from_doc");
		goto out;
	}
	for (i = 0; i < inv->nassets; i++) {
		fuzz_require(fl_inventory_asset(inv, inv->assets[i].name) != NULL,
			     "every asset is found by its name");
		fuzz_require(inv->assets[i].tier >= 1 && inv->assets[i].tier <= 4,
			     "tiers are 1 to 4");
	}
out:
	fl_inventory_free(inv);
	fl_free(text);
	return 0;
}
