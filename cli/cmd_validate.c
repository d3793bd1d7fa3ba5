/*
 * cmd_validate: `faultline validate [--env FILE] [--inventory FILE] [--json] FILE...`
 *
 * Checks scenario, environment and inventory files without touching
 * anything: syntax, keys, types, durations, references, and for scenarios
 * the cross-check against their environment and inventory (targets,
 * injectors and their parameters, blast radius, asset). Prints one "ok" line
 * per valid file on stdout and the first error of each invalid file as one
 * line on stderr, then goes on with the next file; exits 2 if any failed.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/environment.h"
#include "core/inventory.h"
#include "core/scenario.h"
#include "sim/resolve.h"
#include "core/alloc.h"
#include "core/error.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: faultline validate [--env FILE] [--inventory FILE] [--json] FILE...\n\n"
		   "Checks scenario, environment and inventory files (kind from their \"kind\"\n"
		   "key, else inferred: \"assets\" -> inventory, \"production\" -> environment,\n"
		   "otherwise scenario). Scenarios are checked against their environment and\n"
		   "inventory: the files they name, or those given here.\n\n"
		   "  --env FILE        environment for every scenario (overrides \"environment\")\n"
		   "  --inventory FILE  inventory for every scenario (overrides \"inventory\")\n"
		   "  --json            print a JSON array of {file, kind, ok, error}\n"
		   "  --db DB           accepted for symmetry with other commands; unused\n\n"
		   "exit codes: 0 all files valid, 2 a file is invalid or the usage is wrong.\n");
}

enum file_kind { KIND_UNKNOWN, KIND_SCENARIO, KIND_ENVIRONMENT, KIND_INVENTORY };

/* One name table for the kinds: kind_name and kind_parse both read it. */
static const char *const kind_names[] = {
	[KIND_SCENARIO] = "scenario",
	[KIND_ENVIRONMENT] = "environment",
	[KIND_INVENTORY] = "inventory",
};

static const char *kind_name(enum file_kind k)
{
	return k > KIND_UNKNOWN && (size_t)k < FL_ARRAY_LEN(kind_names) ? kind_names[k] : NULL;
}

static enum file_kind kind_parse(const char *s)
{
	for (size_t k = KIND_UNKNOWN + 1; s && k < FL_ARRAY_LEN(kind_names); k++)
		if (!strcmp(s, kind_names[k]))
			return (enum file_kind)k;
	return KIND_UNKNOWN;
}

static enum file_kind kind_of(struct fl_doc *doc, struct fl_error *err)
{
	json_t *root = fl_doc_root(doc), *k = json_object_get(root, "kind");
	if (k) {
		enum file_kind kind = kind_parse(json_string_value(k));
		if (kind != KIND_UNKNOWN)
			return kind;
		fl_doc_error_member(doc, root, "kind", err,
				    "'kind': expected \"scenario\", \"environment\" or \"inventory\"");
		return KIND_UNKNOWN;
	}
	if (json_object_get(root, "assets"))
		return KIND_INVENTORY;
	if (json_object_get(root, "production"))
		return KIND_ENVIRONMENT;
	return KIND_SCENARIO;
}

static int validate_scenario(struct fl_doc *doc, const char *env_path, const char *inv_path,
			     char *summary, size_t n, struct fl_error *err)
{
	struct fl_scenario *sc = fl_scenario_from_doc(doc, err);
	struct fl_environment *env = NULL;
	struct fl_inventory *inv = NULL;
	int rc = -1;
	if (!sc)
		goto out;
	if (!env_path)
		env_path = sc->environment;
	if (!inv_path)
		inv_path = sc->inventory;
	if (env_path && !(env = fl_environment_load(env_path, err)))
		goto out;
	if (inv_path && !(inv = fl_inventory_load(inv_path, err)))
		goto out;
	if (fl_resolve_scenario(sc, env, inv, err) < 0)
		goto out;
	snprintf(summary, n, "scenario '%s', %zu probe%s, %zu fault%s", sc->name,
		 sc->nprobes + sc->nwriters, sc->nprobes + sc->nwriters == 1 ? "" : "s",
		 sc->nfaults, sc->nfaults == 1 ? "" : "s");
	rc = 0;
out:
	fl_inventory_free(inv);
	fl_environment_free(env);
	fl_scenario_free(sc);
	return rc;
}

static int validate_environment(struct fl_doc *doc, char *summary, size_t n, struct fl_error *err)
{
	struct fl_environment *env = fl_environment_from_doc(doc, err);
	if (!env)
		return -1;
	/* A production file is a valid file; only `run` refuses to inject. */
	snprintf(summary, n, "environment '%s', %zu target%s%s", env->name, env->ntargets,
		 env->ntargets == 1 ? "" : "s",
		 env->production == 0 ? ""
		 : env->production == 1
			 ? ", production: faultline will not inject into it"
			 : ", no \"production\": false: faultline will not inject into it");
	fl_environment_free(env);
	return 0;
}

static int validate_inventory(struct fl_doc *doc, char *summary, size_t n, struct fl_error *err)
{
	struct fl_inventory *inv = fl_inventory_from_doc(doc, err);
	if (!inv)
		return -1;
	snprintf(summary, n, "inventory, %zu asset%s", inv->nassets, inv->nassets == 1 ? "" : "s");
	fl_inventory_free(inv);
	return 0;
}

/* Validates one file; returns 0 when valid. *kind is what it was taken for. */
static int validate_file(const char *path, const char *env_path, const char *inv_path,
			 enum file_kind *kind, char *summary, size_t n, struct fl_error *err)
{
	struct fl_doc *doc = fl_doc_load(path, err);
	*kind = KIND_UNKNOWN;
	if (!doc)
		return -1;
	*kind = kind_of(doc, err);
	switch (*kind) {
	case KIND_SCENARIO: return validate_scenario(doc, env_path, inv_path, summary, n, err);
	case KIND_ENVIRONMENT: return validate_environment(doc, summary, n, err);
	case KIND_INVENTORY: return validate_inventory(doc, summary, n, err);
	default: fl_doc_free(doc); return -1;
	}
}

struct validate_args {
	const char *env_path, *inv_path;
};

static const struct option opts[] = {
	{ "env", required_argument, NULL, 'e' },
	{ "inventory", required_argument, NULL, 'i' },
	{ NULL, 0, NULL, 0 },
};

static int option(void *vargs, int c, const char *arg, const struct fl_cli *cli)
{
	struct validate_args *a = vargs;
	(void)cli;
	if (c == 'e')
		a->env_path = arg;
	else
		a->inv_path = arg;
	return 0;
}

/* Prints the JSON array of results; the exit code. */
static int print_json(json_t *results)
{
	char *s = json_dumps(results, JSON_INDENT(2));
	if (!s) {
		fprintf(stderr, "faultline validate: out of memory\n");
		return FL_EXIT_ENV;
	}
	printf("%s\n", s);
	fl_free(s); /* jansson allocates through fl_malloc (main installs it) */
	return FL_EXIT_OK;
}

static int run(void *vargs, const struct fl_cli *cli)
{
	const struct validate_args *a = vargs;
	json_t *results = NULL;
	int failed = 0, rc = FL_EXIT_OK;

	if (cli->argc == 0)
		return fl_cli_usage_error("validate", "no files to validate");
	if (cli->json && !(results = json_array()))
		return fl_cli_usage_error("validate", "out of memory");
	for (int i = 0; i < cli->argc; i++) {
		const char *path = cli->argv[i];
		struct fl_error err;
		enum file_kind kind;
		char summary[512];
		int ok;
		fl_error_init(&err);
		summary[0] = '\0';
		ok = validate_file(path, a->env_path, a->inv_path, &kind, summary, sizeof(summary),
				   &err) == 0;
		if (!ok) {
			failed = 1;
			if (!fl_error_is_set(&err))
				fl_error_set(&err, FL_EXIT_INPUT, "%s: invalid", path);
		}
		if (results) {
			json_t *o =
				json_pack("{s:s, s:s?, s:b, s:s?}", "file", path, "kind",
					  kind_name(kind), "ok", ok, "error", ok ? NULL : err.msg);
			if (!o || json_array_append_new(results, o) < 0) {
				json_decref(results);
				fprintf(stderr, "faultline validate: out of memory\n");
				return FL_EXIT_ENV;
			}
		} else if (ok) {
			printf("%s: ok (%s)\n", path, summary);
		} else {
			fl_cli_fail(&err);
		}
	}
	if (results) {
		rc = print_json(results);
		json_decref(results);
	}
	fflush(stdout);
	return rc != FL_EXIT_OK ? rc : failed ? FL_EXIT_INPUT : FL_EXIT_OK;
}

const struct fl_cmd fl_cmd_validate = {
	.name = "validate",
	.summary = "check scenario, environment and inventory files",
	.flags = FL_CMD_DB | FL_CMD_JSON | FL_CMD_OPERANDS,
	.usage = usage,
	.opts = opts,
	.args_size = sizeof(struct validate_args),
	.option = option,
	.run = run,
};

int cmd_validate(int argc, char **argv)
{
	return fl_cli_exec(&fl_cmd_validate, argc, argv);
}
