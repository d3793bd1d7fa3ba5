/*
 * aws.asg_terminate injector: terminate instances of an Auto Scaling group
 * without lowering its desired capacity, so the group must heal.
 *
 * Owns: the `aws.asg_terminate` fault family — keys `group` (the group's
 * name) and `count` (instances to terminate, default 1, the InService ones
 * in instance-ID order). The group itself must carry the environment's
 * required tag. There is nothing to revert: the recovery measured is the
 * group launching replacements; revert() only notes that, and the record
 * keeps the desired capacity the group must get back to.
 * Does not own: the guardrails (injectors/aws_common.c).
 */
#include <stdlib.h>
#include <string.h>

#include "injectors/injector.h"
#include "injectors/aws_common.h"
#include "core/alloc.h"
#include "core/buf.h"

static int asg_validate(struct fl_doc *doc, const struct fl_fault_spec *fault,
			const struct fl_target *target, struct fl_error *err)
{
	char *group = NULL;
	long count = 1;
	int rc = -1;

	if (fl_doc_string(doc, fault->params, "group", 1, &group, err) < 0 ||
	    fl_doc_int(doc, fault->params, "count", 0, 1, 1000, &count, err) < 0)
		goto out;
	if (!fl_aws_is_target(target)) {
		fl_doc_error_member(doc, fault->params, "target", err,
				    "aws.asg_terminate needs a cloud target with \"provider\": \"aws\"");
		goto out;
	}
	if (fl_doc_check_keys(doc, fault->params, err) < 0)
		goto out;
	rc = 0;
out:
	fl_free(group);
	return rc;
}

/* Inserts id into the array of strings ids, kept in ID order (a group's
 * size is small: a linear insertion is enough). 0, or -1 out of memory. */
static int insert_sorted(json_t *ids, const char *id)
{
	size_t k = 0;

	while (k < json_array_size(ids) && strcmp(json_string_value(json_array_get(ids, k)), id) < 0)
		k++;
	return json_array_insert_new(ids, k, json_string(id));
}

/* DescribeAutoScalingGroups for the group, refused (nothing was changed)
 * when it is missing or lacks the required tag: its InService instance IDs
 * in ID order (a new array) and *desired, its desired capacity. */
static json_t *group_in_service(struct fl_aws *aws, const char *group, const struct fl_aws_target *t,
				json_int_t *desired, struct fl_error *err)
{
	struct fl_aws_params p;
	xmlDoc *doc;
	xmlNode *g;
	json_t *ids = NULL;
	char *d;
	int tagged = 0;

	fl_aws_params_init(&p);
	fl_aws_params_add(&p, "AutoScalingGroupNames.member.1", group);
	doc = fl_aws_query(aws, FL_AWS_AUTOSCALING, "DescribeAutoScalingGroups", &p, 0, err);
	fl_aws_params_release(&p);
	if (!doc)
		return NULL;
	g = fl_aws_xml_path(xmlDocGetRootElement(doc),
			    "DescribeAutoScalingGroupsResult/AutoScalingGroups/member");
	for (xmlNode *m = fl_aws_xml_path(g, "Tags/member"); m; m = fl_aws_xml_next(m))
		if (fl_aws_xml_text_is(m, "Key", t->tag_key) &&
		    fl_aws_xml_text_is(m, "Value", t->tag_value))
			tagged = 1;
	if (!g)
		fl_error_set(err, FL_EXIT_ENV,
			     "aws autoscaling: no Auto Scaling group '%s'; nothing was changed",
			     group);
	else if (!tagged)
		fl_error_set(err, FL_EXIT_ENV,
			     "aws: Auto Scaling group %s lacks the required tag %s=%s; "
			     "nothing was changed",
			     group, t->tag_key, t->tag_value);
	else if (!(ids = json_array()))
		fl_error_oom(err, "aws.asg_terminate");
	for (xmlNode *m = ids ? fl_aws_xml_path(g, "Instances/member") : NULL; m && ids;
	     m = fl_aws_xml_next(m)) {
		char *id = fl_aws_xml_text_is(m, "LifecycleState", "InService")
				   ? fl_aws_xml_text(m, "InstanceId")
				   : NULL;
		if (id && insert_sorted(ids, id) < 0) {
			json_decref(ids);
			ids = NULL;
			fl_error_oom(err, "aws.asg_terminate");
		}
		fl_free(id);
	}
	d = ids ? fl_aws_xml_text(g, "DesiredCapacity") : NULL;
	*desired = d ? strtoll(d, NULL, 10) : 0;
	fl_free(d);
	xmlFreeDoc(doc);
	return ids;
}

static json_t *asg_prepare(const struct fl_fault_spec *fault, const struct fl_target *target,
			   struct fl_error *err)
{
	const char *group = json_string_value(json_object_get(fault->params, "group"));
	json_int_t count = json_integer_value(json_object_get(fault->params, "count")), desired;
	struct fl_aws_target t;
	struct fl_aws *aws;
	char *account;
	json_t *rec = NULL, *ids, *chosen = NULL;
	size_t n;

	if (count <= 0)
		count = 1;
	if (fl_aws_guard(target, &t, &aws, &account, err) < 0)
		return NULL;
	if (!(ids = group_in_service(aws, group, &t, &desired, err)))
		goto out;
	n = json_array_size(ids);
	if ((size_t)count > n) {
		fl_error_set(err, FL_EXIT_ENV,
			     "aws: Auto Scaling group %s has %zu instance%s in service, "
			     "fewer than count %lld; nothing was changed",
			     group, n, n == 1 ? "" : "s", (long long)count);
		goto out;
	}
	/* The first `count` in ID order: a reproducible choice. */
	if (!(chosen = json_array()))
		goto oom;
	for (json_int_t i = 0; i < count; i++)
		if (json_array_append(chosen, json_array_get(ids, (size_t)i)) < 0)
			goto oom;
	rec = fl_aws_record_new(fault->name, target, &t, account);
	if (!rec || json_object_set_new(rec, "group", json_string(group)) < 0 ||
	    json_object_set_new(rec, "desired_capacity", json_integer(desired)) < 0 ||
	    json_object_set(rec, "instances", chosen) < 0) {
		json_decref(rec);
		rec = NULL;
		goto oom;
	}
	goto out;
oom:
	fl_error_oom(err, "aws.asg_terminate fault '%s'", fault->name);
out:
	json_decref(ids);
	json_decref(chosen);
	fl_free(account);
	fl_aws_free(aws);
	fl_aws_target_release(&t);
	return rec;
}

static int asg_inject(const struct fl_fault_spec *fault, const struct fl_target *target,
		      json_t *rec, struct fl_error *err)
{
	struct fl_aws *aws = fl_aws_record_client(rec, err);
	json_t *id;
	size_t i;

	if (!aws)
		return -1;
	json_array_foreach(json_object_get(rec, "instances"), i, id) {
		struct fl_aws_params p;
		xmlDoc *doc;

		fl_aws_params_init(&p);
		fl_aws_params_add(&p, "InstanceId", json_string_value(id));
		/* The point of the fault: the group must replace what it lost. */
		fl_aws_params_add(&p, "ShouldDecrementDesiredCapacity", "false");
		doc = fl_aws_query(aws, FL_AWS_AUTOSCALING, "TerminateInstanceInAutoScalingGroup",
				   &p, 1, err);
		fl_aws_params_release(&p);
		if (!doc) {
			fl_aws_free(aws);
			return -1;
		}
		xmlFreeDoc(doc);
	}
	fl_aws_free(aws);
	return 0;
}

static int asg_revert(const json_t *rec, struct fl_error *err)
{
	fl_injector_note(rec, "nothing to revert: group %s heals itself back to %lld instances",
			 json_string_value(json_object_get(rec, "group")),
			 (long long)json_integer_value(json_object_get(rec, "desired_capacity")));
	return 0;
}

static char *asg_describe(const struct fl_fault_spec *fault, const struct fl_target *target)
{
	json_int_t count = json_integer_value(json_object_get(fault->params, "count"));
	struct fl_buf b;

	fl_buf_init(&b, 0);
	fl_buf_addf(&b,
		    "aws.asg_terminate %lld instance%s of Auto Scaling group %s (desired capacity kept): "
		    "reads sts GetCallerIdentity, autoscaling DescribeAutoScalingGroups; "
		    "changes autoscaling TerminateInstanceInAutoScalingGroup; revert: none, the group heals",
		    (long long)(count > 0 ? count : 1), count > 1 ? "s" : "",
		    json_string_value(json_object_get(fault->params, "group")));
	if (b.failed) {
		fl_buf_release(&b);
		return NULL;
	}
	return fl_buf_detach(&b);
}

const struct fl_injector_ops fl_injector_aws_asg = {
	.name = "aws.asg_terminate",
	.summary = "terminate instances of an Auto Scaling group, desired capacity kept",
	.target_kinds = 1u << FL_TARGET_CLOUD,
	.validate = asg_validate,
	.prepare = asg_prepare,
	.inject = asg_inject,
	.revert = asg_revert,
	.describe = asg_describe,
	.resources = fl_aws_record_resources,
};
