/*
 * injector: the registry of fault families and the revert entry point.
 *
 * Owns the one NULL-terminated table the runner, the loaders and `faultline
 * recover` look injectors up in; adding a family is one extern and one line
 * below (see the checklist in injector.h). Does not own any fault: each
 * family lives in its own injectors/<family>.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "injectors/injector.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/alloc.h"
#include "core/expand.h"

extern const struct fl_injector_ops fl_injector_process;
extern const struct fl_injector_ops fl_injector_file;
extern const struct fl_injector_ops fl_injector_exec;
extern const struct fl_injector_ops fl_injector_network;
extern const struct fl_injector_ops fl_injector_latency;
extern const struct fl_injector_ops fl_injector_clock;
extern const struct fl_injector_ops fl_injector_aws_ec2;
extern const struct fl_injector_ops fl_injector_aws_elb;
extern const struct fl_injector_ops fl_injector_aws_asg;
extern const struct fl_injector_ops fl_injector_aws_az;
extern const struct fl_injector_ops fl_injector_aws_rds;
extern const struct fl_injector_ops fl_injector_aws_fis;

static const struct fl_injector_ops *const injectors[] = { &fl_injector_process,
							   &fl_injector_file,
							   &fl_injector_exec,
							   &fl_injector_network,
							   &fl_injector_latency,
							   &fl_injector_clock,
							   &fl_injector_aws_ec2,
							   &fl_injector_aws_elb,
							   &fl_injector_aws_asg,
							   &fl_injector_aws_az,
							   &fl_injector_aws_rds,
							   &fl_injector_aws_fis,
							   NULL };

const struct fl_injector_ops *fl_injector_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; injectors[i]; i++)
		if (strcmp(injectors[i]->name, name) == 0)
			return injectors[i];
	return NULL;
}

const struct fl_injector_ops *const *fl_injector_all(void)
{
	return injectors;
}

int fl_injector_revert(const char *injector, const json_t *revert, struct fl_error *err)
{
	const struct fl_injector_ops *ops = fl_injector_find(injector);

	if (!ops)
		return fl_error_set(err, FL_EXIT_ENV, "cannot revert: unknown injector '%s'",
				    injector ? injector : "(none)");
	if (!json_is_object(revert))
		return fl_error_set(err, FL_EXIT_ENV, "cannot revert %s fault: no revert record",
				    ops->name);
	/* The journal names secrets instead of holding them: all of them must be
	 * set in this process before anything is attempted (docs/trust.md). */
	{
		struct fl_buf missing;
		const char *fault = json_string_value(json_object_get(revert, "fault"));
		size_t n;
		fl_buf_init(&missing, 4096);
		n = fl_expand_missing(revert, &missing);
		if (n > 0) {
			fl_error_set(err, FL_EXIT_ENV,
				     "cannot revert %s fault '%s': secret%s %s not set: export %s in the environment of `faultline recover` (declared under \"secrets\") and run it again",
				     ops->name, fault ? fault : "?", n > 1 ? "s" : "", missing.buf,
				     n > 1 ? "them" : "it");
			fl_buf_release(&missing);
			return -1;
		}
		fl_buf_release(&missing);
	}
	return ops->revert(revert, err);
}

void fl_injector_note(const json_t *revert, const char *fmt, ...)
{
	/* jansson objects are never defined const: the const in revert()'s
	 * signature promises that prepare()'s capture is left alone, which the
	 * separate "outcome" member keeps. */
	json_t *rec = FL_UNCONST(json_t *, revert);
	struct fl_buf b;
	va_list ap;

	if (!json_is_object(rec))
		return;
	fl_buf_init(&b, 4096);
	va_start(ap, fmt);
	fl_buf_addvf(&b, fmt, ap);
	va_end(ap);
	if (!b.failed)
		json_object_set_new(rec, "outcome", json_string(b.buf));
	fl_buf_release(&b);
}

/* What the journal holds for one string of the fault or its target: every
 * ${VAR} expanded except the declared secrets, which stay ${NAME} (core/
 * expand.h). A string the loader already expanded (a target's facts) is
 * escaped as a literal, unless its raw text in the environment file names a
 * secret: then that raw text, so the secret's value is never journaled. */
json_t *fl_injector_journal_string(const char *raw, const char *value, char *const *secrets,
				   const char *fault, struct fl_error *err)
{
	static char *const none[] = { NULL };
	char *text = NULL, name[256];
	json_t *j;
	enum fl_expand_status st;
	if (raw) {
		st = fl_expand(raw, secrets ? secrets : none, &text, name, sizeof(name));
		if (st == FL_EXPAND_UNSET) {
			fl_error_set(err, FL_EXIT_ENV,
				     "fault '%s': environment variable '%s' is not set", fault, name);
			return NULL;
		}
		if (st != FL_EXPAND_OK && st != FL_EXPAND_OOM) {
			fl_error_set(err, FL_EXIT_INPUT, "fault '%s': bad ${...} in '%s'", fault,
				     raw);
			return NULL;
		}
	} else {
		text = fl_expand_escape(value);
	}
	j = text ? json_string(text) : NULL;
	fl_free(text);
	if (!j)
		fl_error_oom(err, "fault '%s'", fault);
	return j;
}

/* The raw text of a target fact when it references a declared secret. */
const char *fl_injector_raw_secret(const struct fl_target *target, const char *key,
				   char *const *secrets)
{
	const char *raw = json_string_value(json_object_get(target->json, key));
	struct fl_buf seen;
	int secret = 0;
	if (!raw || !strstr(raw, "${"))
		return NULL;
	for (size_t i = 0; secrets && secrets[i] && !secret; i++) {
		fl_buf_init(&seen, 0);
		fl_buf_addf(&seen, "${%s}", secrets[i]);
		secret = !seen.failed && strstr(raw, seen.buf) != NULL;
		fl_buf_release(&seen);
	}
	return secret ? raw : NULL;
}

json_t *fl_injector_journal_strv(const struct fl_target *target, const char *key,
				 char *const *expanded, char *const *secrets, const char *fault,
				 struct fl_error *err)
{
	json_t *raw = json_object_get(target->json, key), *out = json_array();
	int by_name = 0;
	size_t i;
	if (!out) {
		fl_error_oom(err, "fault '%s'", fault);
		return NULL;
	}
	for (i = 0; i < json_array_size(raw) && !by_name; i++) {
		const char *r = json_string_value(json_array_get(raw, i));
		for (size_t k = 0; r && secrets && secrets[k] && !by_name; k++) {
			char ref[300];
			snprintf(ref, sizeof(ref), "${%s}", secrets[k]);
			by_name = strstr(r, ref) != NULL;
		}
	}
	for (i = 0; expanded && expanded[i]; i++) {
		const char *r = by_name ? json_string_value(json_array_get(raw, i)) : NULL;
		json_t *j = fl_injector_journal_string(r, expanded[i], secrets, fault, err);
		if (!j || json_array_append_new(out, j) < 0) {
			if (!fl_error_is_set(err))
				fl_error_oom(err, "fault '%s'", fault);
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

char **fl_injector_argv_expand(const json_t *arr, const char *what, struct fl_error *err)
{
	size_t n = json_array_size(arr), i;
	char **v = fl_calloc(n + 1, sizeof(*v)), name[256];
	if (!v) {
		fl_error_oom(err, "%s", what);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(arr, i));
		enum fl_expand_status st =
			s ? fl_expand(s, NULL, &v[i], name, sizeof(name)) : FL_EXPAND_BAD_NAME;
		if (st == FL_EXPAND_OK)
			continue;
		if (st == FL_EXPAND_UNSET)
			fl_error_set(err, FL_EXIT_ENV, "%s: secret '%s' is not set", what, name);
		else if (st == FL_EXPAND_OOM)
			fl_error_oom(err, "%s", what);
		else
			fl_error_set(err, FL_EXIT_ENV,
				     "%s: argument %zu is not a valid journaled string", what, i);
		fl_strv_free(v);
		return NULL;
	}
	return v;
}
