/*
 * environment: strict loader for environment files and the injectability
 * check. The format is described in environment.h and
 * scenarios/schema/environment.schema.json.
 */
#include "core/environment.h"
#include "core/aws_target.h"
#include "core/alloc.h"
#include "core/error.h"

#include <string.h>

static const char *const target_kind_names[] = {
	[FL_TARGET_PROCESS] = "process", [FL_TARGET_FILE] = "file",   [FL_TARGET_HOST] = "host",
	[FL_TARGET_NETNS] = "netns",     [FL_TARGET_CLOUD] = "cloud",
};

const char *fl_target_kind_name(enum fl_target_kind kind)
{
	if ((size_t)kind < FL_ARRAY_LEN(target_kind_names))
		return target_kind_names[kind];
	return "?";
}

static int target_kind_parse(const char *s, enum fl_target_kind *out)
{
	for (size_t i = 0; i < FL_ARRAY_LEN(target_kind_names); i++)
		if (strcmp(target_kind_names[i], s) == 0) {
			*out = (enum fl_target_kind)i;
			return 0;
		}
	return -1;
}

static void target_release(struct fl_target *t)
{
	fl_free(t->name);
	fl_free(t->pidfile);
	fl_free(t->match);
	fl_strv_free(t->start);
	fl_free(t->path);
	fl_free(t->host);
	fl_free(t->url);
	fl_free(t->netns);
	fl_free(t->resource);
	fl_free(t->zone);
	fl_strv_free(t->tags);
	fl_ssh_free(t->ssh);
}

void fl_environment_free(struct fl_environment *env)
{
	if (!env)
		return;
	for (size_t i = 0; i < env->ntargets; i++)
		target_release(&env->targets[i]);
	fl_free(env->targets);
	fl_free(env->name);
	fl_free(env->description);
	fl_strv_free(env->secrets);
	fl_doc_free(env->doc);
	fl_free(env);
}

static int zone_check(struct fl_doc *doc, json_t *obj, const char *zone, struct fl_error *err)
{
	/* Zones are names like "az-a" or "eu-west-1b": no spaces, not empty. */
	if (!zone[0] || strpbrk(zone, " \t\r\n")) {
		int line, col;
		fl_doc_pos_value(doc, json_object_get(obj, "zone"), &line, &col);
		return fl_error_at(err, FL_EXIT_INPUT, fl_doc_file(doc), line, col,
				   "'zone': expected a zone name without spaces, like \"az-a\"");
	}
	return 0;
}

/* The target's "ssh": a destination string or an object with options. */
static int ssh_load(struct fl_doc *doc, json_t *obj, struct fl_target *t, struct fl_error *err)
{
	json_t *v = json_object_get(obj, "ssh");
	struct fl_error e2;

	if (!v)
		return 0;
	t->ssh = fl_calloc(1, sizeof(*t->ssh));
	if (!t->ssh)
		return fl_error_oom(err, "%s", fl_doc_file(doc));
	if (t->kind != FL_TARGET_PROCESS && t->kind != FL_TARGET_FILE && t->kind != FL_TARGET_HOST) {
		fl_doc_error_key(doc, obj, "ssh", err,
				 "'ssh': only process, file and host targets can be remote");
		return -1;
	}
	if (json_is_string(v)) {
		fl_doc_mark(doc, obj, "ssh");
		if (fl_doc_string(doc, obj, "ssh", 1, &t->ssh->destination, err) < 0)
			return -1;
	} else if (json_is_object(v)) {
		fl_doc_mark(doc, obj, "ssh");
		if (fl_doc_string(doc, v, "destination", 1, &t->ssh->destination, err) < 0 ||
		    fl_doc_int(doc, v, "port", 0, 1, 65535, &t->ssh->port, err) < 0 ||
		    fl_doc_string(doc, v, "identity", 0, &t->ssh->identity, err) < 0 ||
		    fl_doc_string(doc, v, "jump", 0, &t->ssh->jump, err) < 0 ||
		    fl_doc_string(doc, v, "config", 0, &t->ssh->config, err) < 0 ||
		    fl_doc_check_keys(doc, v, err) < 0)
			return -1;
		if (fl_doc_resolve_path(doc, &t->ssh->identity, 1, err) < 0 ||
		    fl_doc_resolve_path(doc, &t->ssh->config, 1, err) < 0)
			return -1;
	} else {
		fl_doc_error_value(doc, v, err,
				   "'ssh': expected \"user@host\" or an object with 'destination'");
		return -1;
	}
	fl_error_init(&e2);
	if (fl_ssh_check(t->ssh, &e2) < 0) {
		fl_doc_error_value(doc, v, err, "'ssh': %s", e2.msg);
		return -1;
	}
	/* Remote paths cannot be resolved here: they name the other machine. */
	if ((t->pidfile && t->pidfile[0] != '/') || (t->path && t->path[0] != '/')) {
		fl_doc_error_key(doc, obj, t->pidfile && t->pidfile[0] != '/' ? "pidfile" : "path",
				 err, "a remote target's %s must be an absolute path on its host",
				 t->pidfile && t->pidfile[0] != '/' ? "pidfile" : "path");
		return -1;
	}
	return 0;
}

/* The keys a target of its kind cannot do without. */
static int target_kind_check(struct fl_doc *doc, const char *name, json_t *obj,
			     const struct fl_target *t, struct fl_error *err)
{
	switch (t->kind) {
	case FL_TARGET_PROCESS:
		if (!t->pidfile && !t->match) {
			fl_doc_error_key(doc, json_object_get(fl_doc_root(doc), "targets"), name, err,
					 "target '%s': a process target needs 'pidfile' or 'match'",
					 name);
			return -1;
		}
		break;
	case FL_TARGET_FILE:
		if (!t->path) {
			fl_doc_error_value(doc, obj, err, "missing key 'path'");
			return -1;
		}
		break;
	case FL_TARGET_HOST:
		if (!t->host) {
			fl_doc_error_value(doc, obj, err, "missing key 'host'");
			return -1;
		}
		break;
	case FL_TARGET_NETNS:
		if (!t->netns) {
			fl_doc_error_value(doc, obj, err, "missing key 'netns'");
			return -1;
		}
		break;
	case FL_TARGET_CLOUD:
		if (!t->resource && !json_object_get(obj, "provider")) {
			fl_doc_error_value(doc, obj, err, "missing key 'resource'");
			return -1;
		}
		break;
	}
	return 0;
}

static int target_load(struct fl_doc *doc, const char *name, json_t *obj, struct fl_target *t,
		       struct fl_error *err)
{
	char *kind = NULL;
	int rc = -1;
	if (!json_is_object(obj)) {
		fl_doc_error_value(doc, obj, err, "target '%s': expected an object", name);
		goto out;
	}
	if (fl_doc_string(doc, obj, "kind", 1, &kind, err) < 0)
		goto out;
	if (target_kind_parse(kind, &t->kind) < 0) {
		fl_doc_error_value(doc, json_object_get(obj, "kind"), err,
				   "unknown target kind '%s' (expected process, file, host, netns or cloud)",
				   kind);
		goto out;
	}
	if (fl_doc_string(doc, obj, "pidfile", 0, &t->pidfile, err) < 0 ||
	    fl_doc_string(doc, obj, "match", 0, &t->match, err) < 0 ||
	    fl_doc_strv(doc, obj, "start", 0, &t->start, err) < 0 ||
	    fl_doc_string(doc, obj, "path", 0, &t->path, err) < 0 ||
	    fl_doc_string(doc, obj, "host", 0, &t->host, err) < 0 ||
	    fl_doc_int(doc, obj, "port", 0, 1, 65535, &t->port, err) < 0 ||
	    fl_doc_string(doc, obj, "url", 0, &t->url, err) < 0 ||
	    fl_doc_string(doc, obj, "netns", 0, &t->netns, err) < 0 ||
	    fl_doc_string(doc, obj, "resource", 0, &t->resource, err) < 0 ||
	    fl_doc_string(doc, obj, "zone", 0, &t->zone, err) < 0 ||
	    fl_doc_strv(doc, obj, "tags", 0, &t->tags, err) < 0)
		goto out;
	fl_doc_mark(doc, obj, "description");
	if (json_object_get(obj, "description") &&
	    !json_is_string(json_object_get(obj, "description"))) {
		fl_doc_error_value(doc, json_object_get(obj, "description"), err,
				   "'description': expected a string");
		goto out;
	}
	/* A cloud target with a provider carries that provider's keys. */
	if (t->kind == FL_TARGET_CLOUD && json_object_get(obj, "provider") &&
	    fl_aws_target_mark(doc, obj, err) < 0)
		goto out;
	if (ssh_load(doc, obj, t, err) < 0 || fl_doc_check_keys(doc, obj, err) < 0)
		goto out;
	if (t->zone && zone_check(doc, obj, t->zone, err) < 0)
		goto out;
	if (t->start && !t->start[0]) {
		fl_doc_error_value(doc, json_object_get(obj, "start"), err,
				   "'start': expected a non-empty command");
		goto out;
	}
	if (t->url && strncmp(t->url, "http://", 7) != 0 && strncmp(t->url, "https://", 8) != 0) {
		fl_doc_error_value(doc, json_object_get(obj, "url"), err,
				   "'url': expected an http:// or https:// URL");
		goto out;
	}
	if (target_kind_check(doc, name, obj, t, err) < 0)
		goto out;
	if (!t->ssh && (fl_doc_resolve_path(doc, &t->pidfile, 1, err) < 0 ||
			fl_doc_resolve_path(doc, &t->path, 1, err) < 0))
		goto out;
	/* A bare program name is looked up on PATH; only "./x" or "bin/x" is a
	 * path (on a remote target it stays as written, for its host). */
	if (!t->ssh && t->start && strchr(t->start[0], '/') &&
	    fl_doc_resolve_path(doc, &t->start[0], 1, err) < 0)
		goto out;
	t->json = obj;
	rc = 0;
out:
	fl_free(kind);
	return rc;
}

struct fl_environment *fl_environment_from_doc(struct fl_doc *doc, struct fl_error *err)
{
	struct fl_environment *env = fl_calloc(1, sizeof(*env));
	json_t *root = fl_doc_root(doc), *targets, *tv;
	char *kind = NULL;
	const char *tname;
	if (!env) {
		fl_error_oom(err, "%s", fl_doc_file(doc));
		fl_doc_free(doc);
		return NULL;
	}
	env->doc = doc;
	env->production = -1;
	if (fl_doc_string(doc, root, "kind", 0, &kind, err) < 0)
		goto fail;
	if (kind && strcmp(kind, "environment") != 0) {
		fl_doc_error_value(doc, json_object_get(root, "kind"), err,
				   "'kind': expected \"environment\", not \"%s\"", kind);
		goto fail;
	}
	if (fl_doc_string(doc, root, "name", 1, &env->name, err) < 0 ||
	    fl_doc_string(doc, root, "description", 0, &env->description, err) < 0 ||
	    fl_doc_bool(doc, root, "production", 0, &env->production, err) < 0 ||
	    fl_doc_secret_names(doc, root, &env->secrets, err) < 0)
		goto fail;
	targets = fl_doc_object(doc, root, "targets", 1, err);
	if (!targets)
		goto fail;
	if (fl_doc_check_keys(doc, root, err) < 0)
		goto fail;
	env->targets = fl_calloc(json_object_size(targets) + 1, sizeof(*env->targets));
	if (!env->targets) {
		fl_error_oom(err, "%s", fl_doc_file(doc));
		goto fail;
	}
	json_object_foreach(targets, tname, tv) {
		struct fl_target *t = &env->targets[env->ntargets];
		int line, col;
		t->name = fl_strdup(tname);
		env->ntargets++;
		if (!t->name) {
			fl_error_oom(err, "%s", fl_doc_file(doc));
			goto fail;
		}
		fl_doc_pos_key(doc, targets, tname, &line, &col);
		t->line = line;
		t->col = col;
		if (target_load(doc, tname, tv, t, err) < 0)
			goto fail;
	}
	fl_free(kind);
	return env;
fail:
	fl_free(kind);
	fl_environment_free(env);
	return NULL;
}

struct fl_environment *fl_environment_load(const char *path, struct fl_error *err)
{
	struct fl_doc *doc = fl_doc_load(path, err);
	if (!doc)
		return NULL;
	return fl_environment_from_doc(doc, err);
}

const struct fl_target *fl_environment_target(const struct fl_environment *env, const char *name)
{
	if (!env || !name)
		return NULL;
	for (size_t i = 0; i < env->ntargets; i++)
		if (strcmp(env->targets[i].name, name) == 0)
			return &env->targets[i];
	return NULL;
}

int fl_environment_check_injectable(const struct fl_environment *env, struct fl_error *err)
{
	if (env->production == 1)
		return fl_error_set(err, FL_EXIT_ENV,
				    "environment %s (%s) is marked production: faultline will not inject faults into it",
				    env->name, fl_doc_file(env->doc));
	if (env->production != 0)
		return fl_error_set(err, FL_EXIT_ENV,
				    "environment %s (%s) does not say \"production\": false; refusing to inject faults",
				    env->name, fl_doc_file(env->doc));
	return 0;
}
