/*
 * aws.fis injector: run an existing AWS FIS experiment template as the fault.
 *
 * Owns: the `aws.fis` fault family — key `template` (the experiment
 * template's ID). prepare() reads the template (GetExperimentTemplate) and
 * refuses one whose targets do not select by the environment's required tag
 * (resourceTags): a template naming resources by ARN cannot be checked from
 * the template, so it is refused too. The revert record holds the template
 * and a token unique to this fault — StartExperiment's clientToken and the
 * experiment's tag faultline:drill=<token> — so the experiment is found
 * again even when faultline dies between StartExperiment and the journal
 * write that records its ID. inject() calls StartExperiment; ended() follows
 * the experiment (GetExperiment) to its end: completed, or stopped/failed
 * (reported with FIS's reason); revert() stops it (StopExperiment) while it
 * is still pending, initiating or running, and otherwise notes how it ended.
 * Keys and behaviour: docs/aws.md. Does not own: the guardrails
 * (injectors/aws_common.c), the REST-JSON client (core/aws.c).
 */
#include <string.h>

#include "injectors/injector.h"
#include "injectors/aws_common.h"
#include "core/alloc.h"
#include "core/buf.h"

#define FIS_TAG "faultline:drill"

static int fis_validate(struct fl_doc *doc, const struct fl_fault_spec *fault,
			const struct fl_target *target, struct fl_error *err)
{
	char *tmpl = NULL;
	int rc = -1;

	if (fl_doc_string(doc, fault->params, "template", 1, &tmpl, err) < 0)
		goto out;
	if (!tmpl[0] || strlen(tmpl) > 64 ||
	    strspn(tmpl, "abcdefghijklmnopqrstuvwxyz"
			 "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789") != strlen(tmpl)) {
		fl_doc_error_member(doc, fault->params, "template", err,
				    "'template': expected an FIS experiment template ID "
				    "(letters and digits, e.g. EXTa1b2c3d4e5f6g7)");
		goto out;
	}
	if (!fl_aws_is_target(target)) {
		fl_doc_error_member(doc, fault->params, "target", err,
				    "aws.fis needs a cloud target with \"provider\": \"aws\"");
		goto out;
	}
	rc = fl_doc_check_keys(doc, fault->params, err);
out:
	fl_free(tmpl);
	return rc;
}

/* Every target of the template must select by the required tag. */
static int template_guard(const json_t *tmpl, const char *id, const struct fl_aws_target *t,
			  struct fl_error *err)
{
	const char *name;
	json_t *tg;

	json_object_foreach(json_object_get(tmpl, "targets"), name, tg) {
		const char *v = json_string_value(
			json_object_get(json_object_get(tg, "resourceTags"), t->tag_key));
		if (!v || strcmp(v, t->tag_value) != 0)
			return fl_error_set(err, FL_EXIT_ENV,
					    "aws: FIS experiment template %s: target '%s' does not "
					    "select by the required tag %s=%s (resourceTags); "
					    "nothing was changed",
					    id, name, t->tag_key, t->tag_value);
	}
	return 0;
}

static json_t *fis_prepare(const struct fl_fault_spec *fault, const struct fl_target *target,
			   struct fl_error *err)
{
	const char *id = json_string_value(json_object_get(fault->params, "template"));
	struct fl_aws_target t;
	struct fl_aws *aws;
	char *account, *path = NULL, *token = NULL;
	json_t *answer = NULL, *rec = NULL;

	if (fl_aws_guard(target, &t, &aws, &account, err) < 0)
		return NULL;
	if (!(path = fl_aws_rest_path("/experimentTemplates/", id, NULL))) {
		fl_error_oom(err, "aws.fis fault '%s'", fault->name);
		goto out;
	}
	answer = fl_aws_rest_json(aws, FL_AWS_FIS, "GetExperimentTemplate", "GET", path, NULL, 0,
				  err);
	if (!answer || template_guard(json_object_get(answer, "experimentTemplate"), id, &t, err) < 0)
		goto out;
	token = fl_aws_unique_token();
	rec = fl_aws_record_new(fault->name, target, &t, account);
	if (!token || !rec || json_object_set_new(rec, "template", json_string(id)) < 0 ||
	    json_object_set_new(rec, "token", json_string(token)) < 0) {
		json_decref(rec);
		rec = NULL;
		fl_error_oom(err, "aws.fis fault '%s'", fault->name);
	}
out:
	json_decref(answer);
	fl_free(path);
	fl_free(token);
	fl_free(account);
	fl_aws_free(aws);
	fl_aws_target_release(&t);
	return rec;
}

static int fis_inject(const struct fl_fault_spec *fault, const struct fl_target *target,
		      json_t *rec, struct fl_error *err)
{
	const char *token = json_string_value(json_object_get(rec, "token"));
	struct fl_aws *aws;
	json_t *body, *answer = NULL;
	const char *id;
	int rc = -1;

	(void)fault;
	(void)target;
	if (!(aws = fl_aws_record_client(rec, err)))
		return -1;
	/* Members in the API model's order, as the AWS CLI sends them. */
	body = json_pack("{s:s, s:O, s:{s:s}}", "clientToken", token, "experimentTemplateId",
			 json_object_get(rec, "template"), "tags", FIS_TAG, token);
	if (!body) {
		fl_error_oom(err, "aws fis StartExperiment");
		goto out;
	}
	answer = fl_aws_rest_json(aws, FL_AWS_FIS, "StartExperiment", "POST", "/experiments", body,
				  1, err);
	if (!answer)
		goto out;
	id = json_string_value(json_object_get(json_object_get(answer, "experiment"), "id"));
	if (!id) {
		fl_error_set(err, FL_EXIT_ENV,
			     "aws fis StartExperiment: no experiment id in the answer");
		goto out;
	}
	if (json_object_set_new(rec, "experiment", json_string(id)) < 0) {
		fl_error_oom(err, "aws fis StartExperiment");
		goto out;
	}
	rc = 0;
out:
	json_decref(body);
	json_decref(answer);
	fl_aws_free(aws);
	return rc;
}

/* The experiment this fault started, found by its tag when the record lacks
 * its ID (faultline died between StartExperiment and the journal write).
 * New string, NULL with err clear when none was started, NULL with err set
 * on failure. */
static char *find_experiment(struct fl_aws *aws, const json_t *rec, struct fl_error *err)
{
	const char *id = json_string_value(json_object_get(rec, "experiment"));
	const char *token = json_string_value(json_object_get(rec, "token"));
	char *path, *found = NULL, *next = NULL;
	struct fl_buf b;

	if (id)
		return fl_strdup(id);
	for (int pages = 0; pages < 1000 && !found; pages++) {
		json_t *answer, *e;
		size_t i;
		const char *nt;

		fl_buf_init(&b, 0);
		path = fl_aws_rest_path("/experiments?experimentTemplateId=",
					json_string_value(json_object_get(rec, "template")), NULL);
		if (!path)
			b.failed = 1;
		else
			fl_buf_addf(&b, "%s&maxResults=100", path);
		if (next)
			fl_buf_addf(&b, "&nextToken=%s", next);
		fl_free(path);
		fl_free(next);
		next = NULL;
		answer = !b.failed ? fl_aws_rest_json(aws, FL_AWS_FIS, "ListExperiments", "GET",
						      b.buf, NULL, 0, err)
				   : NULL;
		if (!answer && !fl_error_is_set(err))
			fl_error_oom(err, "aws fis ListExperiments");
		fl_buf_release(&b);
		if (!answer)
			return NULL;
		json_array_foreach(json_object_get(answer, "experiments"), i, e) {
			const char *tag = json_string_value(
				json_object_get(json_object_get(e, "tags"), FIS_TAG));
			if (!found && tag && token && strcmp(tag, token) == 0)
				found = fl_strdup(json_string_value(json_object_get(e, "id")));
		}
		nt = json_string_value(json_object_get(answer, "nextToken"));
		if (nt && !found)
			next = fl_aws_rest_path("", nt, NULL);
		json_decref(answer);
		if (!next)
			break;
	}
	fl_free(next);
	return found;
}

/* GetExperiment: the status (new string) and FIS's reason (new, may be NULL). */
static int experiment_state(struct fl_aws *aws, const char *id, char **status, char **reason,
			    struct fl_error *err)
{
	char *path = fl_aws_rest_path("/experiments/", id, NULL);
	json_t *answer, *st;

	*status = *reason = NULL;
	if (!path)
		return fl_error_oom(err, "aws fis GetExperiment");
	answer = fl_aws_rest_json(aws, FL_AWS_FIS, "GetExperiment", "GET", path, NULL, 0, err);
	fl_free(path);
	if (!answer)
		return -1;
	st = json_object_get(json_object_get(answer, "experiment"), "state");
	if (json_string_value(json_object_get(st, "status")))
		*status = fl_strdup(json_string_value(json_object_get(st, "status")));
	if (json_string_value(json_object_get(st, "reason")))
		*reason = fl_strdup(json_string_value(json_object_get(st, "reason")));
	json_decref(answer);
	if (!*status) {
		fl_free(*reason);
		*reason = NULL;
		return fl_error_set(err, FL_EXIT_ENV,
				    "aws fis GetExperiment: no state for experiment %s", id);
	}
	return 0;
}

static int is_active(const char *status)
{
	return !strcmp(status, "pending") || !strcmp(status, "initiating") ||
	       !strcmp(status, "running");
}

static int fis_ended(const json_t *rec, struct fl_error *err)
{
	const char *id = json_string_value(json_object_get(rec, "experiment"));
	struct fl_aws *aws;
	char *status = NULL, *reason = NULL;
	int rc = -1;

	if (!id)
		return 0; /* not started: nothing to follow */
	if (!(aws = fl_aws_record_client(rec, err)))
		return -1;
	if (experiment_state(aws, id, &status, &reason, err) < 0)
		goto out;
	if (is_active(status) || !strcmp(status, "stopping"))
		rc = 0;
	else if (!strcmp(status, "completed"))
		rc = FL_FAULT_ENDED;
	else {
		fl_error_set(err, FL_EXIT_ENV, "FIS experiment %s %s%s%s", id, status,
			     reason ? ": " : "", reason ? reason : "");
		rc = FL_FAULT_ENDED_BADLY;
	}
out:
	fl_free(status);
	fl_free(reason);
	fl_aws_free(aws);
	return rc;
}

static int stop_experiment(struct fl_aws *aws, const char *id, struct fl_error *err)
{
	char *path = fl_aws_rest_path("/experiments/", id, NULL);
	json_t *answer;

	if (!path)
		return fl_error_oom(err, "aws fis StopExperiment");
	answer = fl_aws_rest_json(aws, FL_AWS_FIS, "StopExperiment", "DELETE", path, NULL, 1, err);
	fl_free(path);
	json_decref(answer);
	return answer ? 0 : -1;
}

static int fis_revert(const json_t *rec, struct fl_error *err)
{
	struct fl_aws *aws = fl_aws_record_client(rec, err);
	char *id = NULL, *status = NULL, *reason = NULL;
	int rc = -1;

	if (!aws)
		return -1;
	if (!(id = find_experiment(aws, rec, err))) {
		if (fl_error_is_set(err))
			goto out;
		fl_injector_note(rec, "no experiment tagged %s=%s: none was started", FIS_TAG,
				 json_string_value(json_object_get(rec, "token")));
		rc = 0;
		goto out;
	}
	if (experiment_state(aws, id, &status, &reason, err) < 0)
		goto out;
	if (is_active(status)) {
		/* FIS rolls the experiment's actions back as it stops. */
		if (stop_experiment(aws, id, err) < 0)
			goto out;
		fl_injector_note(rec, "stopped FIS experiment %s (it was %s)", id, status);
	} else {
		fl_injector_note(rec, "FIS experiment %s had ended: %s%s%s", id, status,
				 reason ? ": " : "", reason ? reason : "");
	}
	rc = 0;
out:
	fl_free(id);
	fl_free(status);
	fl_free(reason);
	fl_aws_free(aws);
	return rc;
}

static char *fis_describe(const struct fl_fault_spec *fault, const struct fl_target *target)
{
	struct fl_buf b;

	(void)target;
	fl_buf_init(&b, 0);
	fl_buf_addf(&b,
		    "aws.fis experiment template %s: reads sts GetCallerIdentity, "
		    "fis GetExperimentTemplate, fis GetExperiment (every 1s until the experiment "
		    "ends); changes fis StartExperiment; revert: reads fis GetExperiment (fis "
		    "ListExperiments finds it by its tag if its id was never journaled); changes "
		    "fis StopExperiment while it still runs",
		    json_string_value(json_object_get(fault->params, "template")));
	if (b.failed) {
		fl_buf_release(&b);
		return NULL;
	}
	return fl_buf_detach(&b);
}

const struct fl_injector_ops fl_injector_aws_fis = {
	.name = "aws.fis",
	.summary = "run an AWS FIS experiment template, follow it to its end, stop it on abort",
	.target_kinds = 1u << FL_TARGET_CLOUD,
	.validate = fis_validate,
	.prepare = fis_prepare,
	.inject = fis_inject,
	.revert = fis_revert,
	.describe = fis_describe,
	.ended = fis_ended,
};
