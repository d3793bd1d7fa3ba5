/*
 * aws.ec2 injector: stop, reboot or terminate the EC2 instances a cloud
 * target selects.
 *
 * Owns: the `aws.ec2` fault family — key `action` ("stop", "reboot",
 * "terminate"; terminate needs `"irreversible": true`, since nothing can
 * bring a terminated instance back) and `revert_timeout` (how long revert
 * waits for stopping instances to be stopped before starting them, default
 * 10m). prepare() runs every guardrail read-only — the caller's account in
 * the target's `accounts` (STS GetCallerIdentity), every selected instance
 * carrying the required tag — and records the instance IDs with their state,
 * the region and the endpoint (never credentials: revert finds them again
 * like the AWS CLI does). revert() starts what was stopped and still exists,
 * skipping instances already running or gone, and is safe to repeat.
 * Does not own: selection and guardrails (core/aws_target.c), the client
 * (core/aws.c).
 */
#include <string.h>

#include "injectors/injector.h"
#include "injectors/aws_common.h"
#include "core/alloc.h"
#include "core/aws.h"
#include "core/aws_target.h"
#include "core/buf.h"
#include "core/clock.h"

#define EC2_REVERT_TIMEOUT_NS (600 * FL_NS_PER_S)

static const char *const actions[][3] = {
	/* action, API call, revert */
	{ "stop", "StopInstances",
	  "reads ec2 DescribeInstances; changes ec2 StartInstances for those stopped" },
	{ "reboot", "RebootInstances", "none needed (a reboot ends by itself)" },
	{ "terminate", "TerminateInstances", "none: terminated instances cannot be brought back" },
};

static int action_index(const char *a)
{
	for (size_t i = 0; a && i < FL_ARRAY_LEN(actions); i++)
		if (strcmp(a, actions[i][0]) == 0)
			return (int)i;
	return -1;
}

static int ec2_validate(struct fl_doc *doc, const struct fl_fault_spec *fault,
			const struct fl_target *target, struct fl_error *err)
{
	char *action = NULL;
	int irreversible = 0, rc = -1;
	int64_t timeout = 0;

	if (fl_doc_string(doc, fault->params, "action", 1, &action, err) < 0 ||
	    fl_doc_bool(doc, fault->params, "irreversible", 0, &irreversible, err) < 0 ||
	    fl_doc_duration(doc, fault->params, "revert_timeout", 0, &timeout, err) < 0)
		goto out;
	if (action_index(action) < 0) {
		fl_doc_error_member(doc, fault->params, "action", err,
				    "'action': expected stop, reboot or terminate, not '%s'", action);
		goto out;
	}
	if (strcmp(action, "terminate") == 0 && !irreversible) {
		fl_doc_error_member(doc, fault->params, "action", err,
				    "'action': terminate has no revert (terminated instances are gone); "
				    "add \"irreversible\": true to accept that");
		goto out;
	}
	if (!fl_aws_is_target(target)) {
		fl_doc_error_member(doc, fault->params, "target", err,
				    "aws.ec2 needs a cloud target with \"provider\": \"aws\"");
		goto out;
	}
	if (fl_doc_check_keys(doc, fault->params, err) < 0)
		goto out;
	rc = 0;
out:
	fl_free(action);
	return rc;
}

static json_t *ec2_prepare(const struct fl_fault_spec *fault, const struct fl_target *target,
			   struct fl_error *err)
{
	struct fl_aws *aws;
	json_t *instances, *rec;
	int64_t timeout = EC2_REVERT_TIMEOUT_NS;
	const char *tt = json_string_value(json_object_get(fault->params, "revert_timeout"));

	if (tt && fl_duration_parse(tt, &timeout) < 0)
		timeout = EC2_REVERT_TIMEOUT_NS;
	if (!(rec = fl_aws_prepare_selection(fault->name, target, &aws, &instances, err)))
		return NULL;
	if (json_object_set(rec, "action", json_object_get(fault->params, "action")) < 0 ||
	    json_object_set(rec, "instances", instances) < 0 ||
	    json_object_set_new(rec, "revert_timeout_ns", json_integer(timeout)) < 0) {
		json_decref(rec);
		rec = NULL;
		fl_error_oom(err, "aws.ec2 fault '%s'", fault->name);
	}
	json_decref(instances);
	fl_aws_free(aws);
	return rec;
}

static void add_ids(struct fl_aws_params *p, const json_t *instances, const char *only_state,
		    const json_t *states)
{
	size_t i, n = 0;
	json_t *inst;

	json_array_foreach(instances, i, inst) {
		const char *id = json_string_value(json_object_get(inst, "id"));
		if (only_state && !json_object_get(states, id))
			continue;
		if (only_state && strcmp(json_string_value(json_object_get(states, id)), only_state))
			continue;
		fl_aws_params_addf(p, id, "InstanceId.%zu", ++n);
	}
}

static int ec2_inject(const struct fl_fault_spec *fault, const struct fl_target *target,
		      json_t *rec, struct fl_error *err)
{
	int a = action_index(json_string_value(json_object_get(rec, "action")));
	struct fl_aws *aws;
	struct fl_aws_params p;
	xmlDoc *doc;

	if (a < 0)
		return fl_error_set(err, FL_EXIT_ENV, "aws.ec2: bad action in the revert record");
	if (!(aws = fl_aws_record_client(rec, err)))
		return -1;
	fl_aws_params_init(&p);
	add_ids(&p, json_object_get(rec, "instances"), NULL, NULL);
	doc = fl_aws_query(aws, FL_AWS_EC2, actions[a][1], &p, 1, err);
	fl_aws_params_release(&p);
	fl_aws_free(aws);
	if (!doc)
		return -1;
	xmlFreeDoc(doc);
	return 0;
}

static int states_page(xmlDoc *doc, void *ctx, struct fl_error *err)
{
	json_t *states = ctx;
	xmlNode *root = xmlDocGetRootElement(doc);

	for (xmlNode *r = fl_aws_xml_path(root, "reservationSet/item"); r; r = fl_aws_xml_next(r))
		for (xmlNode *i = fl_aws_xml_path(r, "instancesSet/item"); i; i = fl_aws_xml_next(i)) {
			char *id = fl_aws_xml_text(i, "instanceId");
			char *state = fl_aws_xml_text(i, "instanceState/name");
			int rc = id && state ? json_object_set_new(states, id, json_string(state))
					     : -1;
			fl_free(id);
			fl_free(state);
			if (rc < 0)
				return fl_error_oom(err, "aws instance states");
		}
	return 0;
}

/* Current state of each recorded instance, by id (absent = no longer exists). */
static json_t *current_states(struct fl_aws *aws, const json_t *instances, struct fl_error *err)
{
	struct fl_aws_params p;
	json_t *states = json_object(), *inst;
	size_t i, n = 0;

	fl_aws_params_init(&p);
	/* By a filter, not InstanceId.N: an ID that no longer exists would fail
	 * the whole call with InvalidInstanceID.NotFound. */
	fl_aws_params_add(&p, "Filter.1.Name", "instance-id");
	json_array_foreach(instances, i, inst)
		fl_aws_params_addf(&p, json_string_value(json_object_get(inst, "id")),
				   "Filter.1.Value.%zu", ++n);
	if (!states || p.failed) {
		fl_error_oom(err, "aws instance states");
		goto fail;
	}
	if (fl_aws_query_pages(aws, FL_AWS_EC2, "DescribeInstances", &p, "NextToken", "nextToken",
			       states_page, states, err) < 0)
		goto fail;
	fl_aws_params_release(&p);
	return states;
fail:
	fl_aws_params_release(&p);
	json_decref(states);
	return NULL;
}

static int ec2_revert(const json_t *rec, struct fl_error *err)
{
	const char *action = json_string_value(json_object_get(rec, "action"));
	const json_t *instances = json_object_get(rec, "instances");
	int64_t deadline =
		fl_now_ns() + json_integer_value(json_object_get(rec, "revert_timeout_ns"));
	struct fl_aws *aws;
	json_t *states = NULL, *v;
	const char *id;
	size_t stopped = 0, gone = 0, running = 0;
	int rc = -1;

	if (!action || strcmp(action, "stop") != 0) {
		fl_injector_note(rec, "%s: nothing to revert", action ? action : "?");
		return 0;
	}
	if (!(aws = fl_aws_record_client(rec, err)))
		return -1;
	/* A stopping instance cannot be started yet: wait for it to be stopped. */
	for (;;) {
		int stopping = 0;

		json_decref(states);
		if (!(states = current_states(aws, instances, err)))
			goto out;
		json_object_foreach(states, id, v)
			if (strcmp(json_string_value(v), "stopping") == 0)
				stopping = 1;
		if (!stopping)
			break;
		if (fl_now_ns() > deadline) {
			fl_error_set(err, FL_EXIT_ENV,
				     "aws.ec2 revert: instances still stopping after the "
				     "revert timeout; run 'faultline recover' again");
			goto out;
		}
		fl_sleep_until(fl_now_ns() + 2 * FL_NS_PER_S, NULL, FL_NS_PER_S);
	}
	{
		size_t i;
		json_t *inst;
		json_array_foreach(instances, i, inst) {
			const char *s = json_string_value(
				json_object_get(states,
						json_string_value(json_object_get(inst, "id"))));
			if (!s || !strcmp(s, "terminated") || !strcmp(s, "shutting-down"))
				gone++;
			else if (!strcmp(s, "stopped"))
				stopped++;
			else
				running++;
		}
	}
	if (stopped) {
		struct fl_aws_params p;
		xmlDoc *doc;

		fl_aws_params_init(&p);
		add_ids(&p, instances, "stopped", states);
		doc = fl_aws_query(aws, FL_AWS_EC2, "StartInstances", &p, 1, err);
		fl_aws_params_release(&p);
		if (!doc)
			goto out;
		xmlFreeDoc(doc);
	}
	fl_injector_note(rec, "started %zu instance%s, %zu already running, %zu gone", stopped,
			 stopped == 1 ? "" : "s", running, gone);
	rc = 0;
out:
	json_decref(states);
	fl_aws_free(aws);
	return rc;
}

static char *ec2_describe(const struct fl_fault_spec *fault, const struct fl_target *target)
{
	int a = action_index(json_string_value(json_object_get(fault->params, "action")));
	struct fl_buf b;

	fl_buf_init(&b, 0);
	fl_buf_addf(&b,
		    "aws.ec2 %s the instances of '%s': reads sts GetCallerIdentity, "
		    "ec2 DescribeInstances; changes ec2 %s; revert: %s",
		    a < 0 ? "?" : actions[a][0], target ? target->name : "?",
		    a < 0 ? "?" : actions[a][1], a < 0 ? "?" : actions[a][2]);
	if (b.failed) {
		fl_buf_release(&b);
		return NULL;
	}
	return fl_buf_detach(&b);
}

const struct fl_injector_ops fl_injector_aws_ec2 = {
	.name = "aws.ec2",
	.summary = "stop, reboot or terminate the EC2 instances a cloud target selects",
	.target_kinds = 1u << FL_TARGET_CLOUD,
	.validate = ec2_validate,
	.prepare = ec2_prepare,
	.inject = ec2_inject,
	.revert = ec2_revert,
	.describe = ec2_describe,
	.resources = fl_aws_record_resources,
};
