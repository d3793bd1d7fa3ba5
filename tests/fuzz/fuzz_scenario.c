/*
 * fuzz_scenario: the scenario loader on arbitrary bytes.
 *
 * Each input is parsed as a scenario file (syntax, keys, types, durations,
 * references); one that loads is then resolved against the example
 * environment and inventory in tests/data/scenarios/valid/, which drives the
 * injectors' validate() and the zone expansion. A rejected input must carry
 * one clear FL_EXIT_INPUT error line; anything else (crash, leak, sanitizer
 * report, an error without a message) is a finding.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/environment.h"
#include "tests/fuzz/fuzz.h"
#include "core/inventory.h"
#include "core/scenario.h"
#include "sim/resolve.h"
#include "core/alloc.h"
#include "core/error.h"

static struct fl_environment *fuzz_env;
static struct fl_inventory *fuzz_inv;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[4096];
	struct fl_error err;

	(void)argc;
	(void)argv;
	fl_alloc_install_jansson();
	fl_error_init(&err);
	snprintf(path, sizeof(path), "%s/tests/data/scenarios/valid/env.json", fuzz_source_dir());
	fuzz_env = fl_environment_load(path, &err);
	snprintf(path, sizeof(path), "%s/tests/data/scenarios/valid/inventory.json",
		 fuzz_source_dir());
	fuzz_inv = fl_inventory_load(path, &err);
	if (!fuzz_env || !fuzz_inv) {
		fprintf(stderr, "fuzz_scenario: cannot load the examples: %s\n", err.msg);
		exit(2);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstring(data, size);
	struct fl_error err;
	struct fl_doc *doc;
	struct fl_scenario *sc = NULL;

	fl_error_init(&err);
	doc = fl_doc_load_string("fuzz.json", text, &err);
	if (!doc) {
		fuzz_check_error(&err, FL_EXIT_INPUT, "fl_doc_load_string");
		goto out;
	}
	sc = fl_scenario_from_doc(doc, &err);
	if (!sc) {
		fuzz_check_error(&err, FL_EXIT_INPUT, "fl_scenario_from_doc");
		goto out;
	}
	fuzz_require(sc->name != NULL, "a loaded scenario has a name");
	if (fl_resolve_scenario(sc, fuzz_env, fuzz_inv, &err) < 0)
		fuzz_check_error(&err, FL_EXIT_INPUT, "fl_resolve_scenario");
out:
	fl_scenario_free(sc);
	fl_free(text);
	return 0;
}
