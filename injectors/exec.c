/*
 * exec injector: a fault made of two user commands, one that breaks and one
 * that repairs.
 *
 * Owns: the `exec` fault family — keys `inject` and `revert` (argv arrays),
 * `timeout` (per command, default 30s) and `env` (extra environment). Both
 * argv vectors, the extra environment and the target's facts are captured
 * into the revert record by prepare(), so `faultline recover` can run the
 * revert command after the harness died. The target is described to the
 * commands only through environment variables (FAULTLINE_TARGET,
 * FAULTLINE_TARGET_KIND, _HOST, _PORT, _PATH, _PIDFILE, _URL, _ZONE,
 * FAULTLINE_FAULT): never spliced into a command line, never through a
 * shell. When the target has `ssh`, both commands run on the target's host
 * (a target's command runs where the target is), as `env -- K=V... argv`
 * with every word quoted for the remote shell (core/ssh.h); the host is
 * journaled with the commands so `faultline recover` reverts there too, and
 * FAULTLINE_TARGET_SSH names it. Does not own: what the commands do, nor their idempotence — the
 * revert command must tolerate running twice or after a half-done inject.
 */
#include <stdio.h>
#include <string.h>

#include "injectors/injector.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/spawn.h"
#include "core/expand.h"
#include "core/ssh.h"

#define EXEC_DEFAULT_TIMEOUT_NS (30 * FL_NS_PER_S)
#define EXEC_OUTPUT_LIMIT ((size_t)64 << 10)

static int exec_validate(struct fl_doc *doc, const struct fl_fault_spec *fault,
			 const struct fl_target *target, struct fl_error *err)
{
	json_t *params = fault->params;
	char **inject = NULL, **revert = NULL;
	int64_t timeout = 0;
	json_t *env, *value;
	const char *key;
	int rc = -1;

	if (fl_doc_strv(doc, params, "inject", 1, &inject, err) < 0 ||
	    fl_doc_strv(doc, params, "revert", 1, &revert, err) < 0 ||
	    fl_doc_duration(doc, params, "timeout", 0, &timeout, err) < 0)
		goto out;
	if (!inject[0]) {
		fl_doc_error_key(doc, params, "inject", err, "'inject': empty command");
		goto out;
	}
	if (!revert[0]) {
		fl_doc_error_key(doc, params, "revert", err, "'revert': empty command");
		goto out;
	}
	if (json_object_get(params, "timeout") && timeout <= 0) {
		fl_doc_error_key(doc, params, "timeout", err, "'timeout': must be more than 0s");
		goto out;
	}
	env = fl_doc_object(doc, params, "env", 0, err);
	if (fl_error_is_set(err))
		goto out;
	json_object_foreach(env, key, value) {
		char *s = NULL;
		if (!key[0] || strchr(key, '=')) {
			fl_doc_error_key(doc, env, key, err, "env: bad variable name '%s'", key);
			goto out;
		}
		/* Through the getter so ${VAR} and type errors are reported here. */
		if (fl_doc_string(doc, env, key, 1, &s, err) < 0)
			goto out;
		fl_free(s);
	}
	if (fl_doc_check_keys(doc, params, err) < 0)
		goto out;
	rc = 0;
out:
	fl_strv_free(inject);
	fl_strv_free(revert);
	return rc;
}

static int env_put(json_t *env, const char *key, const char *raw, const char *value,
		   const struct fl_fault_spec *fault, struct fl_error *err)
{
	json_t *j;
	if (!value && !raw)
		return 0;
	j = fl_injector_journal_string(raw, value, fault->secrets, fault->name, err);
	if (!j || json_object_set_new(env, key, j) < 0)
		return -1;
	return 0;
}

/* The environment a command sees, in journal form: the target's facts, then
 * the fault's own `env` (which may override them). */
static json_t *exec_env_build(const struct fl_fault_spec *fault, const struct fl_target *target,
			      struct fl_error *err)
{
	json_t *env = json_object(), *user, *value;
	const char *key;
	char port[32];
	char *const *sec = fault->secrets;

	if (!env) {
		fl_error_oom(err, "exec fault '%s'", fault->name);
		return NULL;
	}
	if (env_put(env, "FAULTLINE_FAULT", NULL, fault->name, fault, err) < 0)
		goto fail;
	if (target) {
		snprintf(port, sizeof(port), "%ld", target->port);
		if (env_put(env, "FAULTLINE_TARGET", NULL, target->name, fault, err) < 0 ||
		    env_put(env, "FAULTLINE_TARGET_KIND", NULL, fl_target_kind_name(target->kind),
			    fault, err) < 0 ||
		    env_put(env, "FAULTLINE_TARGET_HOST", fl_injector_raw_secret(target, "host", sec),
			    target->host, fault, err) < 0 ||
		    env_put(env, "FAULTLINE_TARGET_PORT", NULL, target->port > 0 ? port : NULL,
			    fault, err) < 0 ||
		    env_put(env, "FAULTLINE_TARGET_PATH", fl_injector_raw_secret(target, "path", sec),
			    target->path, fault, err) < 0 ||
		    env_put(env, "FAULTLINE_TARGET_PIDFILE",
			    fl_injector_raw_secret(target, "pidfile", sec), target->pidfile, fault,
			    err) < 0 ||
		    env_put(env, "FAULTLINE_TARGET_URL", fl_injector_raw_secret(target, "url", sec),
			    target->url, fault, err) < 0 ||
		    env_put(env, "FAULTLINE_TARGET_ZONE", NULL, target->zone, fault, err) < 0 ||
		    env_put(env, "FAULTLINE_TARGET_SSH", NULL,
			    target->ssh ? target->ssh->destination : NULL, fault, err) < 0)
			goto fail;
	}
	user = json_object_get(fault->params, "env");
	json_object_foreach(user, key, value)
		if (env_put(env, key, json_string_value(value), NULL, fault, err) < 0)
			goto fail;
	return env;
fail:
	if (!fl_error_is_set(err))
		fl_error_oom(err, "exec fault '%s'", fault->name);
	json_decref(env);
	return NULL;
}

/* An argv array of the fault in journal form. */
static json_t *journal_argv(const struct fl_fault_spec *fault, const char *which, struct fl_error *err)
{
	json_t *in = json_object_get(fault->params, which), *out = json_array(), *e;
	size_t i;
	if (!out)
		goto oom;
	json_array_foreach(in, i, e) {
		json_t *j = fl_injector_journal_string(json_string_value(e), NULL, fault->secrets,
						       fault->name, err);
		if (!j || json_array_append_new(out, j) < 0)
			goto fail;
	}
	return out;
oom:
	fl_error_oom(err, "exec fault '%s'", fault->name);
fail:
	if (!fl_error_is_set(err))
		fl_error_oom(err, "exec fault '%s'", fault->name);
	json_decref(out);
	return NULL;
}

static json_t *exec_prepare(const struct fl_fault_spec *fault, const struct fl_target *target,
			    struct fl_error *err)
{
	struct fl_doc *doc = NULL;
	char *text = NULL, **inject = NULL, **revert = NULL;
	json_t *params, *rec = NULL, *env = NULL, *jinject = NULL, *jrevert = NULL;
	int64_t timeout = EXEC_DEFAULT_TIMEOUT_NS;

	/* A private doc made from the fault object expands it exactly as the
	 * loader's getters did: every ${VAR}, secrets included, must be set
	 * before the fault. */
	text = json_dumps(fault->params, JSON_COMPACT);
	if (!text) {
		fl_error_oom(err, "exec fault '%s'", fault->name);
		goto out;
	}
	doc = fl_doc_load_string(fault->name, text, err);
	if (!doc)
		goto out;
	params = fl_doc_root(doc);
	if (fl_doc_strv(doc, params, "inject", 1, &inject, err) < 0 ||
	    fl_doc_strv(doc, params, "revert", 1, &revert, err) < 0 ||
	    fl_doc_duration(doc, params, "timeout", 0, &timeout, err) < 0)
		goto out;
	/* The journal holds everything the revert needs, expanded, except the
	 * declared secrets, which it names (docs/trust.md): recover needs
	 * nothing but the journal and those secrets. exec_run expands the rest. */
	env = exec_env_build(fault, target, err);
	jinject = env ? journal_argv(fault, "inject", err) : NULL;
	jrevert = jinject ? journal_argv(fault, "revert", err) : NULL;
	if (!jrevert)
		goto out;
	rec = json_pack("{s:s, s:s?, s:O, s:O, s:I, s:O}", "fault", fault->name, "target",
			target ? target->name : NULL, "inject", jinject, "revert", jrevert,
			"timeout_ns", (json_int_t)timeout, "env", env);
	if (rec && target && target->ssh &&
	    json_object_set_new(rec, "ssh", fl_ssh_to_json(target->ssh)) < 0) {
		json_decref(rec);
		rec = NULL;
	}
	if (!rec)
		fl_error_oom(err, "exec fault '%s'", fault->name);
out:
	json_decref(env);
	json_decref(jinject);
	json_decref(jrevert);
	fl_strv_free(inject);
	fl_strv_free(revert);
	fl_doc_free(doc);
	if (text) {
		/* json_dumps allocated through whatever jansson was given. */
		json_free_t jfree;
		json_get_alloc_funcs(NULL, &jfree);
		jfree(text);
	}
	return rec;
}

/* Runs argv with envp on the record's host: `env -- K=V... argv`, each word
 * quoted for the remote shell. A revert may find the host back after a
 * while: bounded retries (core/ssh.h). */
static int run_remote(const json_t *rec, const char **argv, const char **envp, int64_t timeout,
		      int attempts, struct fl_buf *out, int *status, struct fl_error *err)
{
	struct fl_ssh h;
	struct fl_ssh_opts o = { .attempts = attempts };
	const char **v;
	size_t n = 0, m = 0, k = 0;
	int rc;

	if (fl_ssh_from_json(json_object_get(rec, "ssh"), &h, err) < 0)
		return -1;
	while (argv[n])
		n++;
	while (envp[m])
		m++;
	v = fl_calloc(n + m + 3, sizeof(*v));
	if (!v) {
		fl_ssh_release(&h);
		return fl_error_oom(err, "%s", h.destination);
	}
	v[k++] = "env";
	v[k++] = "--";
	for (size_t i = 0; i < m; i++)
		v[k++] = envp[i];
	for (size_t i = 0; i < n; i++)
		v[k++] = argv[i];
	rc = fl_ssh_run_argv(&h, v, timeout, out, status, &o, err);
	fl_free(v);
	fl_ssh_release(&h);
	return rc;
}

/* Runs rec[which] with rec.env. 0 when it exited 0; else -1 with
 * "<fault>: <which> command 'argv0' exited 3: first line of its output". */
/* Expands the journaled env (renv) into env: the declared secrets. */
static int env_expand(struct fl_doc *doc, json_t *renv, json_t *env, const char *fault,
		      struct fl_error *err)
{
	const char *key;
	json_t *value;

	json_object_foreach(renv, key, value) {
		char *v = NULL;
		if (fl_doc_string(doc, renv, key, 1, &v, err) < 0)
			return -1;
		if (json_object_set_new(env, key, json_string(v)) < 0) {
			fl_free(v);
			return fl_error_oom(err, "%s", fault);
		}
		fl_free(v);
	}
	return 0;
}

/* The command as an argv vector borrowing argv_json's strings; NULL, err set. */
static const char **argv_from(const json_t *argv_json, const char *fault, const char *which,
			      struct fl_error *err)
{
	size_t bad = 0;
	const char **argv = fl_json_to_argv(argv_json, &bad);

	if (argv)
		return argv;
	if (bad == (size_t)-1)
		fl_error_set(err, FL_EXIT_ENV, "%s: no %s command in the revert record", fault,
			     which);
	else if (bad != (size_t)-2)
		fl_error_set(err, FL_EXIT_ENV, "%s: %s command: argument %zu is not a string",
			     fault, which, bad);
	else
		fl_error_oom(err, "%s", fault);
	return NULL;
}

/* "KEY=value" strings in kv[0..*nenv) (the caller releases them) and a
 * NULL-terminated vector of them; NULL with err set. */
static const char **envp_build(const json_t *env, struct fl_buf *kv, size_t *nenv,
			       const char *fault, struct fl_error *err)
{
	const char **envp = fl_calloc(json_object_size(env) + 1, sizeof(*envp));
	const char *key;
	json_t *value;

	if (!envp) {
		fl_error_oom(err, "%s", fault);
		return NULL;
	}
	json_object_foreach(FL_UNCONST(json_t *, env), key, value) {
		fl_buf_init(&kv[*nenv], 0);
		fl_buf_addf(&kv[*nenv], "%s=%s", key,
			    json_is_string(value) ? json_string_value(value) : "");
		if (kv[*nenv].failed) {
			(*nenv)++;
			fl_free(envp);
			fl_error_oom(err, "%s", fault);
			return NULL;
		}
		envp[*nenv] = kv[*nenv].buf;
		(*nenv)++;
	}
	return envp;
}

/* Runs the command here or over ssh; a non-zero exit is an error quoting
 * the first line of its output. */
static int run_command(const json_t *rec, const char **argv, const char **envp, const char *which,
		       const char *fault, struct fl_error *err)
{
	struct fl_buf out;
	struct fl_spawn_opts opts = { 0 };
	json_int_t timeout = json_integer_value(json_object_get(rec, "timeout_ns"));
	int status = 0, rc = -1;
	char desc[64];

	fl_buf_init(&out, EXEC_OUTPUT_LIMIT);
	opts.envp_extra = envp;
	if (json_object_get(rec, "ssh")) {
		/* Only a revert is retried: an inject is never sent twice. */
		if (run_remote(rec, argv, envp,
			       timeout > 0 ? (int64_t)timeout : EXEC_DEFAULT_TIMEOUT_NS,
			       strcmp(which, "revert") == 0 ? 4 : 1, &out, &status, err) < 0)
			goto out;
	} else if (fl_run_argv(argv, timeout > 0 ? (int64_t)timeout : EXEC_DEFAULT_TIMEOUT_NS, &out,
			       &status, &opts, err) < 0) {
		goto out;
	}
	if (status != 0) {
		const char *nl;
		size_t len;
		fl_status_describe(status, desc, sizeof(desc));
		nl = memchr(out.buf, '\n', out.len);
		len = nl ? (size_t)(nl - out.buf) : out.len;
		fl_error_set(err, FL_EXIT_ENV, "%s: %s command '%s' %s%s%.*s", fault, which,
			     argv[0], desc, len ? ": " : "", (int)(len > 200 ? 200 : len), out.buf);
		goto out;
	}
	rc = 0;
out:
	fl_buf_release(&out);
	return rc;
}

static int exec_run(const json_t *rec, const char *which, struct fl_error *err)
{
	struct fl_doc *doc = NULL;
	char **expanded = NULL, *text = NULL;
	json_t *root, *argv_json = NULL, *env = NULL;
	const char *fault = json_string_value(json_object_get(rec, "fault"));
	const char **argv = NULL, **envp = NULL;
	struct fl_buf kv[64];
	size_t nenv = 0, i;
	int rc = -1;

	if (!fault)
		fault = "exec";
	/* The journal form is expanded now: what remains are the declared
	 * secrets (${NAME}, from this process's environment) and $$ escapes. */
	text = json_dumps(rec, JSON_COMPACT);
	if (!text) {
		fl_error_oom(err, "%s", fault);
		goto out;
	}
	doc = fl_doc_load_string(fault, text, err);
	if (!doc)
		goto out;
	root = fl_doc_root(doc);
	if (json_array_size(json_object_get(root, which)) > 0 &&
	    fl_doc_strv(doc, root, which, 1, &expanded, err) < 0)
		goto out;
	argv_json = fl_strv_to_json(expanded);
	env = json_object();
	if (!argv_json || !env) {
		fl_error_oom(err, "%s", fault);
		goto out;
	}
	if (env_expand(doc, json_object_get(root, "env"), env, fault, err) < 0)
		goto out;
	if (json_object_size(env) > FL_ARRAY_LEN(kv)) {
		fl_error_set(err, FL_EXIT_ENV, "%s: more than %zu environment variables", fault,
			     FL_ARRAY_LEN(kv));
		goto out;
	}
	argv = argv_from(argv_json, fault, which, err);
	if (!argv)
		goto out;
	envp = envp_build(env, kv, &nenv, fault, err);
	if (!envp)
		goto out;
	if (run_command(rec, argv, envp, which, fault, err) < 0)
		goto out;
	rc = 0;
out:
	for (i = 0; i < nenv; i++)
		fl_buf_release(&kv[i]);
	fl_free(argv);
	fl_free(envp);
	json_decref(argv_json);
	json_decref(env);
	fl_strv_free(expanded);
	fl_doc_free(doc);
	if (text) {
		json_free_t jfree;
		json_get_alloc_funcs(NULL, &jfree);
		jfree(text);
	}
	return rc;
}

static int exec_inject(const struct fl_fault_spec *fault, const struct fl_target *target,
		       json_t *revert, struct fl_error *err)
{
	return exec_run(revert, "inject", err);
}

static int exec_revert(const json_t *revert, struct fl_error *err)
{
	if (exec_run(revert, "revert", err) < 0)
		return -1;
	fl_injector_note(revert, "revert command exited 0");
	return 0;
}

static char *exec_describe(const struct fl_fault_spec *fault, const struct fl_target *target)
{
	struct fl_buf b;
	json_t *inject = json_object_get(fault->params, "inject");
	json_t *arg;
	size_t i;

	fl_buf_init(&b, 4096);
	fl_buf_adds(&b, "exec:");
	json_array_foreach(inject, i, arg) {
		if (i == 8) {
			fl_buf_adds(&b, " ...");
			break;
		}
		fl_buf_addf(&b, " %s", json_is_string(arg) ? json_string_value(arg) : "?");
	}
	if (target && target->ssh)
		fl_buf_addf(&b, " (target %s, on %s)", target->name, target->ssh->destination);
	else if (target)
		fl_buf_addf(&b, " (target %s)", target->name);
	return fl_buf_detach(&b);
}

const struct fl_injector_ops fl_injector_exec = {
	.name = "exec",
	.summary = "run a command to inject and another to revert (argv, no shell)",
	/* Any target, or none: the commands learn about it from the environment. */
	.target_kinds = (1u << FL_TARGET_PROCESS) | (1u << FL_TARGET_FILE) |
			(1u << FL_TARGET_HOST) | (1u << FL_TARGET_NETNS) | (1u << FL_TARGET_CLOUD) |
			FL_INJECTOR_TARGET_OPTIONAL,
	.validate = exec_validate,
	.prepare = exec_prepare,
	.inject = exec_inject,
	.revert = exec_revert,
	.describe = exec_describe,
};
