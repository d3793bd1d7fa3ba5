/*
 * aws.elb_deregister injector: take instances out of an ELBv2 target group.
 *
 * Owns: the `aws.elb_deregister` fault family — key `target_group` (the
 * target group's ARN). The instances deregistered are those registered in
 * the group that the cloud target also selects (so each carries the
 * required tag and count/percent apply); prepare() records each with the
 * port it was registered on, and revert() registers exactly those again
 * (RegisterTargets is idempotent, so a repeated revert is harmless).
 * Does not own: the guardrails (injectors/aws_common.c, core/aws_target.c).
 */
#include <string.h>

#include "injectors/injector.h"
#include "injectors/aws_common.h"
#include "core/alloc.h"
#include "core/buf.h"

static int elb_validate(struct fl_doc *doc, const struct fl_fault_spec *fault,
			const struct fl_target *target, struct fl_error *err)
{
	char *tg = NULL;
	int rc = -1;

	if (fl_doc_string(doc, fault->params, "target_group", 1, &tg, err) < 0)
		goto out;
	if (strncmp(tg, "arn:", 4) != 0) {
		fl_doc_error_member(doc, fault->params, "target_group", err,
				    "'target_group': expected a target group ARN (arn:aws:elasticloadbalancing:...)");
		goto out;
	}
	if (!fl_aws_is_target(target)) {
		fl_doc_error_member(doc, fault->params, "target", err,
				    "aws.elb_deregister needs a cloud target with \"provider\": \"aws\"");
		goto out;
	}
	if (fl_doc_check_keys(doc, fault->params, err) < 0)
		goto out;
	rc = 0;
out:
	fl_free(tg);
	return rc;
}

/* The group's registered targets: a new object id -> port. */
static json_t *registered(struct fl_aws *aws, const char *tg, struct fl_error *err)
{
	struct fl_aws_params p;
	xmlDoc *doc;
	json_t *out = json_object();

	fl_aws_params_init(&p);
	fl_aws_params_add(&p, "TargetGroupArn", tg);
	doc = out ? fl_aws_query(aws, FL_AWS_ELBV2, "DescribeTargetHealth", &p, 0, err) : NULL;
	fl_aws_params_release(&p);
	if (!doc) {
		if (!out)
			fl_error_oom(err, "aws.elb_deregister");
		json_decref(out);
		return NULL;
	}
	for (xmlNode *m =
		     fl_aws_xml_path(xmlDocGetRootElement(doc),
				     "DescribeTargetHealthResult/TargetHealthDescriptions/member");
	     m; m = fl_aws_xml_next(m)) {
		char *id = fl_aws_xml_text(m, "Target/Id"), *port = fl_aws_xml_text(m, "Target/Port");
		if (id && json_object_set_new(out, id, json_string(port ? port : "")) < 0) {
			fl_free(id);
			fl_free(port);
			xmlFreeDoc(doc);
			json_decref(out);
			fl_error_oom(err, "aws.elb_deregister");
			return NULL;
		}
		fl_free(id);
		fl_free(port);
	}
	xmlFreeDoc(doc);
	return out;
}

static json_t *elb_prepare(const struct fl_fault_spec *fault, const struct fl_target *target,
			   struct fl_error *err)
{
	const char *tg = json_string_value(json_object_get(fault->params, "target_group"));
	struct fl_aws *aws;
	json_t *reg = NULL, *sel, *targets = NULL, *rec, *inst;
	size_t i;

	if (!(rec = fl_aws_prepare_selection(fault->name, target, &aws, &sel, err)))
		return NULL;
	if (!(reg = registered(aws, tg, err)))
		goto fail;
	if (!(targets = json_array()))
		goto oom;
	json_array_foreach(sel, i, inst) {
		const char *id = json_string_value(json_object_get(inst, "id"));
		json_t *port = json_object_get(reg, id);
		if (port && json_array_append_new(targets, json_pack("{s:s, s:O}", "id", id, "port",
								     port)) < 0)
			goto oom;
	}
	if (json_array_size(targets) == 0) {
		fl_error_set(err, FL_EXIT_ENV,
			     "aws: no instance selected by target '%s' is registered in %s; "
			     "nothing was changed",
			     target->name, tg);
		goto fail;
	}
	if (json_object_set_new(rec, "target_group", json_string(tg)) < 0 ||
	    json_object_set(rec, "targets", targets) < 0)
		goto oom;
	goto out;
oom:
	fl_error_oom(err, "aws.elb_deregister fault '%s'", fault->name);
fail:
	json_decref(rec);
	rec = NULL;
out:
	json_decref(reg);
	json_decref(sel);
	json_decref(targets);
	fl_aws_free(aws);
	return rec;
}

/* DeregisterTargets / RegisterTargets with every recorded target. */
static int targets_call(const json_t *rec, const char *action, struct fl_error *err)
{
	struct fl_aws *aws = fl_aws_record_client(rec, err);
	struct fl_aws_params p;
	json_t *tgt;
	size_t i;
	xmlDoc *doc;

	if (!aws)
		return -1;
	fl_aws_params_init(&p);
	fl_aws_params_add(&p, "TargetGroupArn",
			  json_string_value(json_object_get(rec, "target_group")));
	json_array_foreach(json_object_get(rec, "targets"), i, tgt) {
		const char *port = json_string_value(json_object_get(tgt, "port"));
		fl_aws_params_addf(&p, json_string_value(json_object_get(tgt, "id")),
				   "Targets.member.%zu.Id", i + 1);
		if (port && *port)
			fl_aws_params_addf(&p, port, "Targets.member.%zu.Port", i + 1);
	}
	doc = fl_aws_query(aws, FL_AWS_ELBV2, action, &p, 1, err);
	fl_aws_params_release(&p);
	fl_aws_free(aws);
	if (!doc)
		return -1;
	xmlFreeDoc(doc);
	return 0;
}

static int elb_inject(const struct fl_fault_spec *fault, const struct fl_target *target,
		      json_t *rec, struct fl_error *err)
{
	return targets_call(rec, "DeregisterTargets", err);
}

static int elb_revert(const json_t *rec, struct fl_error *err)
{
	if (targets_call(rec, "RegisterTargets", err) < 0)
		return -1;
	fl_injector_note(rec, "registered %zu target%s again",
			 json_array_size(json_object_get(rec, "targets")),
			 json_array_size(json_object_get(rec, "targets")) == 1 ? "" : "s");
	return 0;
}

static char *elb_describe(const struct fl_fault_spec *fault, const struct fl_target *target)
{
	struct fl_buf b;

	fl_buf_init(&b, 0);
	fl_buf_addf(&b,
		    "aws.elb_deregister the instances of '%s' from %s: reads sts GetCallerIdentity, "
		    "ec2 DescribeInstances, elbv2 DescribeTargetHealth; changes elbv2 DeregisterTargets; "
		    "revert: changes elbv2 RegisterTargets with their ports",
		    target ? target->name : "?",
		    json_string_value(json_object_get(fault->params, "target_group")));
	if (b.failed) {
		fl_buf_release(&b);
		return NULL;
	}
	return fl_buf_detach(&b);
}

const struct fl_injector_ops fl_injector_aws_elb = {
	.name = "aws.elb_deregister",
	.summary = "deregister the selected instances from an ELBv2 target group",
	.target_kinds = 1u << FL_TARGET_CLOUD,
	.validate = elb_validate,
	.prepare = elb_prepare,
	.inject = elb_inject,
	.revert = elb_revert,
	.describe = elb_describe,
	.resources = fl_aws_record_resources,
};
