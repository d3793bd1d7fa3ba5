/*
 * fuzz_environment: the environment loader on arbitrary bytes. A loaded
 * environment is asked whether it is injectable (the production guardrail)
 * and every target is looked up by name; a rejected one must carry one clear
 * FL_EXIT_INPUT error line.
 */
#include <string.h>

#include "core/environment.h"
#include "tests/fuzz/fuzz.h"
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
	struct fl_environment *env = NULL;
	size_t i;

	fl_error_init(&err);
	doc = fl_doc_load_string("fuzz.json", text, &err);
	if (!doc) {
		fuzz_check_error(&err, FL_EXIT_INPUT, "fl_doc_load_string");
		goto out;
	}
	env = fl_environment_from_doc(doc, &err);
	if (!env) {
		fuzz_check_error(&err, FL_EXIT_INPUT, "fl_environment_from_doc");
		goto out;
	}
	for (i = 0; i < env->ntargets; i++) {
		fuzz_require(env->targets[i].name != NULL, "every target has a name");
		fuzz_require(fl_environment_target(env, env->targets[i].name) != NULL,
			     "every target is found by its name");
		fuzz_require(fl_target_kind_name(env->targets[i].kind) != NULL,
			     "every target kind has a name");
	}
	fl_error_init(&err);
	if (fl_environment_check_injectable(env, &err) < 0)
		fuzz_check_error(&err, FL_EXIT_ENV, "fl_environment_check_injectable");
	else
		fuzz_require(env->production == 0,
			     "only a production:false environment is injectable");
out:
	fl_environment_free(env);
	fl_free(text);
	return 0;
}
