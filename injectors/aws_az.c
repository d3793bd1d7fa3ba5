/*
 * aws.az_outage injector: one availability zone of a VPC becomes
 * unreachable — its subnets' network ACL associations are swapped to a
 * deny-all ACL made for the drill.
 *
 * Owns: the `aws.az_outage` fault family — keys `vpc` (the VPC ID) and
 * `az` (the availability zone; not `zone`, which every fault has for
 * selecting environment targets by zone). prepare() (read-only) finds the zone's subnets in the VPC, refuses
 * when one lacks the environment's required tag, and records for each
 * subnet its original ACL, plus a drill tag value unique to this fault
 * instance. inject() creates the drill ACL (a new custom network ACL denies
 * everything until rules are added; it is tagged faultline:drill=<value>)
 * and moves each subnet onto it. revert() needs nothing inject() learnt:
 * it finds each subnet's current association and moves it back to the
 * recorded ACL, then deletes every ACL carrying the drill tag — so a
 * SIGKILL between any two calls still reverts exactly.
 * With `"stop_instances": true` the zone's running instances in the VPC
 * are stopped too (each must carry the required tag; recorded before the
 * call), and revert starts those recorded ones that are stopped, after
 * waiting for any still stopping.
 * Does not own: the guardrails (injectors/aws_common.c).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "injectors/injector.h"
#include "injectors/aws_common.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"

static int az_validate(struct fl_doc *doc, const struct fl_fault_spec *fault,
		       const struct fl_target *target, struct fl_error *err)
{
	char *vpc = NULL, *zone = NULL;
	int rc = -1, stop = 0;

	if (fl_doc_string(doc, fault->params, "vpc", 1, &vpc, err) < 0 ||
	    fl_doc_string(doc, fault->params, "az", 1, &zone, err) < 0 ||
	    fl_doc_bool(doc, fault->params, "stop_instances", 0, &stop, err) < 0)
		goto out;
	if (strncmp(vpc, "vpc-", 4) != 0) {
		fl_doc_error_member(doc, fault->params, "vpc", err,
				    "'vpc': expected a VPC ID (vpc-...)");
		goto out;
	}
	if (!fl_aws_is_target(target)) {
		fl_doc_error_member(doc, fault->params, "target", err,
				    "aws.az_outage needs a cloud target with \"provider\": \"aws\"");
		goto out;
	}
	if (fl_doc_check_keys(doc, fault->params, err) < 0)
		goto out;
	rc = 0;
out:
	fl_free(vpc);
	fl_free(zone);
	return rc;
}

static xmlDoc *query2(struct fl_aws *aws, const char *action, const char *f1, const char *v1,
		      const char *f2, const char *v2, int mutating, struct fl_error *err)
{
	struct fl_aws_params p;
	xmlDoc *doc;

	fl_aws_params_init(&p);
	if (f1)
		fl_aws_params_add(&p, f1, v1);
	if (f2)
		fl_aws_params_add(&p, f2, v2);
	doc = fl_aws_query(aws, FL_AWS_EC2, action, &p, mutating, err);
	fl_aws_params_release(&p);
	return doc;
}

/* For subnet: the ACL it is associated with and the association ID (new strings). */
static int subnet_acl(struct fl_aws *aws, const char *subnet, char **acl, char **assoc,
		      struct fl_error *err)
{
	struct fl_aws_params p;
	xmlDoc *doc;

	*acl = *assoc = NULL;
	fl_aws_params_init(&p);
	fl_aws_params_add(&p, "Filter.1.Name", "association.subnet-id");
	fl_aws_params_add(&p, "Filter.1.Value.1", subnet);
	doc = fl_aws_query(aws, FL_AWS_EC2, "DescribeNetworkAcls", &p, 0, err);
	fl_aws_params_release(&p);
	if (!doc)
		return -1;
	for (xmlNode *a = fl_aws_xml_path(xmlDocGetRootElement(doc), "networkAclSet/item"); a;
	     a = fl_aws_xml_next(a))
		for (xmlNode *s = fl_aws_xml_path(a, "associationSet/item"); s;
		     s = fl_aws_xml_next(s))
			if (fl_aws_xml_text_is(s, "subnetId", subnet)) {
				*acl = fl_aws_xml_text(a, "networkAclId");
				*assoc = fl_aws_xml_text(s, "networkAclAssociationId");
			}
	xmlFreeDoc(doc);
	if (!*acl || !*assoc) {
		fl_free(*acl);
		fl_free(*assoc);
		*acl = *assoc = NULL;
		return fl_error_set(err, FL_EXIT_ENV,
				    "aws ec2 DescribeNetworkAcls: subnet %s has no "
				    "network ACL association",
				    subnet);
	}
	return 0;
}

/* ---- the zone's instances (stop_instances) ------------------------------------ */

#define AZ_STOPPING_WAIT_NS (600 * FL_NS_PER_S)

struct zone_instances {
	const struct fl_aws_target *t;
	const char *zone;
	json_t *ids;
};

static int zone_instances_page(xmlDoc *doc, void *ctx, struct fl_error *err)
{
	struct zone_instances *z = ctx;
	for (xmlNode *r = fl_aws_xml_path(xmlDocGetRootElement(doc), "reservationSet/item"); r;
	     r = fl_aws_xml_next(r))
		for (xmlNode *i = fl_aws_xml_path(r, "instancesSet/item"); i; i = fl_aws_xml_next(i)) {
			char *id = fl_aws_xml_text(i, "instanceId");
			int tagged = 0, rc = 0;
			for (xmlNode *g = fl_aws_xml_path(i, "tagSet/item"); g;
			     g = fl_aws_xml_next(g))
				if (fl_aws_xml_text_is(g, "key", z->t->tag_key) &&
				    fl_aws_xml_text_is(g, "value", z->t->tag_value))
					tagged = 1;
			if (!id)
				rc = fl_error_oom(err, "aws.az_outage");
			else if (!tagged)
				rc = fl_error_set(err, FL_EXIT_ENV,
						  "aws: instance %s in %s lacks the required tag %s=%s; "
						  "nothing was changed",
						  id, z->zone, z->t->tag_key, z->t->tag_value);
			else if (json_array_append_new(z->ids, json_string(id)) < 0)
				rc = fl_error_oom(err, "aws.az_outage");
			fl_free(id);
			if (rc < 0)
				return -1;
		}
	return 0;
}

/* The running instances in the zone's subnets (found through the subnets,
 * which is what the outage cuts off, rather than the placement filter,
 * which moto does not apply to instances launched into a subnet), as a new
 * array of IDs. */
static json_t *zone_instances(struct fl_aws *aws, const struct fl_aws_target *t,
			      const json_t *subnets, const char *zone, struct fl_error *err)
{
	struct zone_instances z = { t, zone, json_array() };
	struct fl_aws_params p;
	json_t *s;
	size_t i;
	int rc;

	fl_aws_params_init(&p);
	fl_aws_params_add(&p, "Filter.1.Name", "instance-state-name");
	fl_aws_params_add(&p, "Filter.1.Value.1", "running");
	fl_aws_params_add(&p, "Filter.2.Name", "subnet-id");
	json_array_foreach(subnets, i, s)
		fl_aws_params_addf(&p, json_string_value(json_object_get(s, "subnet")),
				   "Filter.2.Value.%zu", i + 1);
	rc = z.ids ? fl_aws_query_pages(aws, FL_AWS_EC2, "DescribeInstances", &p, "NextToken",
					"nextToken", zone_instances_page, &z, err)
		   : fl_error_oom(err, "aws.az_outage");
	fl_aws_params_release(&p);
	if (rc < 0) {
		json_decref(z.ids);
		return NULL;
	}
	return z.ids;
}

/* Calls action (StopInstances, StartInstances) on the IDs whose state in
 * states (NULL: every ID) is `only`. */
static int instances_call(struct fl_aws *aws, const char *action, const json_t *ids,
			  const json_t *states, const char *only, size_t *n, struct fl_error *err)
{
	struct fl_aws_params p;
	xmlDoc *doc;
	json_t *id;
	size_t i;

	*n = 0;
	fl_aws_params_init(&p);
	json_array_foreach(ids, i, id) {
		const char *s =
			states ? json_string_value(json_object_get(states, json_string_value(id)))
			       : NULL;
		if (states && (!s || strcmp(s, only) != 0))
			continue;
		fl_aws_params_addf(&p, json_string_value(id), "InstanceId.%zu", ++*n);
	}
	if (*n == 0) {
		fl_aws_params_release(&p);
		return 0;
	}
	doc = fl_aws_query(aws, FL_AWS_EC2, action, &p, 1, err);
	fl_aws_params_release(&p);
	if (!doc)
		return -1;
	xmlFreeDoc(doc);
	return 0;
}

/* id -> state of the recorded instances, waiting while any is stopping. */
static json_t *settled_states(struct fl_aws *aws, const json_t *ids, struct fl_error *err)
{
	int64_t deadline = fl_now_ns() + AZ_STOPPING_WAIT_NS;
	for (;;) {
		struct fl_aws_params p;
		json_t *states = json_object(), *id;
		xmlDoc *doc;
		size_t i;
		int stopping = 0;

		fl_aws_params_init(&p);
		json_array_foreach(ids, i, id)
			fl_aws_params_addf(&p, json_string_value(id), "InstanceId.%zu", i + 1);
		doc = states ? fl_aws_query(aws, FL_AWS_EC2, "DescribeInstances", &p, 0, err) : NULL;
		if (!states)
			fl_error_oom(err, "aws.az_outage revert");
		fl_aws_params_release(&p);
		if (!doc) {
			json_decref(states);
			return NULL;
		}
		for (xmlNode *r = fl_aws_xml_path(xmlDocGetRootElement(doc), "reservationSet/item");
		     r; r = fl_aws_xml_next(r))
			for (xmlNode *n = fl_aws_xml_path(r, "instancesSet/item"); n;
			     n = fl_aws_xml_next(n)) {
				char *k = fl_aws_xml_text(n, "instanceId");
				char *v = fl_aws_xml_text(n, "instanceState/name");
				if (k && v)
					json_object_set_new(states, k, json_string(v));
				stopping |= v && strcmp(v, "stopping") == 0;
				fl_free(k);
				fl_free(v);
			}
		xmlFreeDoc(doc);
		if (!stopping)
			return states;
		json_decref(states);
		if (fl_now_ns() > deadline) {
			fl_error_set(err, FL_EXIT_ENV,
				     "aws.az_outage revert: instances still stopping; run "
				     "'faultline recover' again");
			return NULL;
		}
		fl_sleep_until(fl_now_ns() + 2 * FL_NS_PER_S, NULL, FL_NS_PER_S);
	}
}

/* The zone's subnets in the VPC with their ACLs now, a new array of
 * {"subnet", "acl"}; refused (nothing was changed) when one lacks the
 * required tag, or when there is none. */
static json_t *zone_subnets(struct fl_aws *aws, const struct fl_aws_target *t, const char *vpc,
			    const char *zone, struct fl_error *err)
{
	struct fl_aws_params p;
	xmlDoc *doc;
	json_t *subnets = json_array();
	int rc = 0;

	fl_aws_params_init(&p);
	fl_aws_params_add(&p, "Filter.1.Name", "vpc-id");
	fl_aws_params_add(&p, "Filter.1.Value.1", vpc);
	fl_aws_params_add(&p, "Filter.2.Name", "availability-zone");
	fl_aws_params_add(&p, "Filter.2.Value.1", zone);
	doc = subnets ? fl_aws_query(aws, FL_AWS_EC2, "DescribeSubnets", &p, 0, err) : NULL;
	fl_aws_params_release(&p);
	if (!doc) {
		if (!subnets)
			fl_error_oom(err, "aws.az_outage");
		json_decref(subnets);
		return NULL;
	}
	for (xmlNode *s = fl_aws_xml_path(xmlDocGetRootElement(doc), "subnetSet/item"); s && !rc;
	     s = fl_aws_xml_next(s)) {
		char *id = fl_aws_xml_text(s, "subnetId"), *acl = NULL, *assoc = NULL;
		int tagged = 0;

		for (xmlNode *i = fl_aws_xml_path(s, "tagSet/item"); i; i = fl_aws_xml_next(i))
			if (fl_aws_xml_text_is(i, "key", t->tag_key) &&
			    fl_aws_xml_text_is(i, "value", t->tag_value))
				tagged = 1;
		if (!id) {
			rc = fl_error_oom(err, "aws.az_outage");
		} else if (!tagged) {
			rc = fl_error_set(err, FL_EXIT_ENV,
					  "aws: subnet %s in %s lacks the required tag %s=%s; "
					  "nothing was changed",
					  id, zone, t->tag_key, t->tag_value);
		} else if ((rc = subnet_acl(aws, id, &acl, &assoc, err)) == 0 &&
			   (rc = json_array_append_new(subnets, json_pack("{s:s, s:s}", "subnet",
									  id, "acl", acl))) < 0) {
			fl_error_oom(err, "aws.az_outage");
		}
		fl_free(id);
		fl_free(acl);
		fl_free(assoc);
	}
	xmlFreeDoc(doc);
	if (!rc && json_array_size(subnets) == 0)
		rc = fl_error_set(err, FL_EXIT_ENV,
				  "aws: VPC %s has no subnet in %s; nothing was changed", vpc, zone);
	if (rc < 0) {
		json_decref(subnets);
		return NULL;
	}
	return subnets;
}

static json_t *az_prepare(const struct fl_fault_spec *fault, const struct fl_target *target,
			  struct fl_error *err)
{
	const char *vpc = json_string_value(json_object_get(fault->params, "vpc"));
	const char *zone = json_string_value(json_object_get(fault->params, "az"));
	struct fl_aws_target t;
	struct fl_aws *aws;
	char *account, drill[128];
	json_t *subnets = NULL, *rec = NULL, *instances = NULL;

	if (fl_aws_guard(target, &t, &aws, &account, err) < 0)
		return NULL;
	if (!(subnets = zone_subnets(aws, &t, vpc, zone, err)))
		goto fail;
	/* Unique to this fault instance, so revert finds exactly its own ACL. */
	snprintf(drill, sizeof(drill), "%s-%lld-%ld", fault->name,
		 (long long)(fl_wall_ns() / 1000000), (long)getpid());
	if (json_is_true(json_object_get(fault->params, "stop_instances")) &&
	    !(instances = zone_instances(aws, &t, subnets, zone, err)))
		goto fail;
	rec = fl_aws_record_new(fault->name, target, &t, account);
	if (!rec || (instances && json_object_set(rec, "instances", instances) < 0) ||
	    json_object_set_new(rec, "vpc", json_string(vpc)) < 0 ||
	    json_object_set_new(rec, "zone", json_string(zone)) < 0 ||
	    json_object_set_new(rec, "drill_tag", json_string(drill)) < 0 ||
	    json_object_set(rec, "subnets", subnets) < 0) {
		json_decref(rec);
		rec = NULL;
		fl_error_oom(err, "aws.az_outage fault '%s'", fault->name);
	}
fail:
	json_decref(subnets);
	json_decref(instances);
	fl_free(account);
	fl_aws_free(aws);
	fl_aws_target_release(&t);
	return rec;
}

static int move_subnet(struct fl_aws *aws, const char *subnet, const char *to, struct fl_error *err)
{
	char *acl, *assoc;
	xmlDoc *doc;

	if (subnet_acl(aws, subnet, &acl, &assoc, err) < 0)
		return -1;
	if (strcmp(acl, to) == 0) {
		doc = NULL;
	} else if (!(doc = query2(aws, "ReplaceNetworkAclAssociation", "AssociationId", assoc,
				  "NetworkAclId", to, 1, err))) {
		fl_free(acl);
		fl_free(assoc);
		return -1;
	}
	if (doc)
		xmlFreeDoc(doc);
	fl_free(acl);
	fl_free(assoc);
	return 0;
}

static int az_inject(const struct fl_fault_spec *fault, const struct fl_target *target, json_t *rec,
		     struct fl_error *err)
{
	struct fl_aws *aws = fl_aws_record_client(rec, err);
	struct fl_aws_params p;
	xmlDoc *doc;
	char *acl = NULL;
	json_t *s;
	size_t i, n;
	int rc = -1;

	if (!aws)
		return -1;
	fl_aws_params_init(&p);
	fl_aws_params_add(&p, "TagSpecification.1.ResourceType", "network-acl");
	fl_aws_params_add(&p, "TagSpecification.1.Tag.1.Key", "faultline:drill");
	fl_aws_params_add(&p, "TagSpecification.1.Tag.1.Value",
			  json_string_value(json_object_get(rec, "drill_tag")));
	/* The same token on a repeated call returns the same ACL. */
	fl_aws_params_add(&p, "ClientToken", json_string_value(json_object_get(rec, "drill_tag")));
	fl_aws_params_add(&p, "VpcId", json_string_value(json_object_get(rec, "vpc")));
	doc = fl_aws_query(aws, FL_AWS_EC2, "CreateNetworkAcl", &p, 1, err);
	fl_aws_params_release(&p);
	if (!doc)
		goto out;
	acl = fl_aws_xml_text(xmlDocGetRootElement(doc), "networkAcl/networkAclId");
	xmlFreeDoc(doc);
	if (!acl) {
		fl_error_set(err, FL_EXIT_ENV,
			     "aws ec2 CreateNetworkAcl: no networkAclId in the answer");
		goto out;
	}
	json_object_set_new(rec, "drill_acl", json_string(acl));
	json_array_foreach(json_object_get(rec, "subnets"), i, s)
		if (move_subnet(aws, json_string_value(json_object_get(s, "subnet")), acl, err) < 0)
			goto out;
	if (instances_call(aws, "StopInstances", json_object_get(rec, "instances"), NULL, NULL, &n,
			   err) < 0)
		goto out;
	rc = 0;
out:
	fl_free(acl);
	fl_aws_free(aws);
	return rc;
}

static int az_revert(const json_t *rec, struct fl_error *err)
{
	struct fl_aws *aws = fl_aws_record_client(rec, err);
	struct fl_aws_params p;
	xmlDoc *doc;
	json_t *s;
	size_t i, deleted = 0;
	int rc = -1;

	if (!aws)
		return -1;
	json_array_foreach(json_object_get(rec, "subnets"), i, s)
		if (move_subnet(aws, json_string_value(json_object_get(s, "subnet")),
				json_string_value(json_object_get(s, "acl")), err) < 0)
			goto out;
	/* Every ACL this fault made, found by its tag (inject may have died
	 * before it could record the ACL's ID). */
	fl_aws_params_init(&p);
	fl_aws_params_add(&p, "Filter.1.Name", "tag:faultline:drill");
	fl_aws_params_add(&p, "Filter.1.Value.1",
			  json_string_value(json_object_get(rec, "drill_tag")));
	doc = fl_aws_query(aws, FL_AWS_EC2, "DescribeNetworkAcls", &p, 0, err);
	fl_aws_params_release(&p);
	if (!doc)
		goto out;
	for (xmlNode *a = fl_aws_xml_path(xmlDocGetRootElement(doc), "networkAclSet/item"); a;
	     a = fl_aws_xml_next(a)) {
		char *id = fl_aws_xml_text(a, "networkAclId");
		xmlDoc *d =
			id ? query2(aws, "DeleteNetworkAcl", "NetworkAclId", id, NULL, NULL, 1, err)
			   : NULL;
		fl_free(id);
		if (!d) {
			xmlFreeDoc(doc);
			goto out;
		}
		xmlFreeDoc(d);
		deleted++;
	}
	xmlFreeDoc(doc);
	if (json_array_size(json_object_get(rec, "instances")) > 0) {
		json_t *states = settled_states(aws, json_object_get(rec, "instances"), err);
		size_t started = 0;
		int r = states ? instances_call(aws, "StartInstances",
						json_object_get(rec, "instances"), states,
						"stopped", &started, err)
			       : -1;
		json_decref(states);
		if (r < 0)
			goto out;
		fl_injector_note(rec, "%zu instance%s started", started, started == 1 ? "" : "s");
	}
	fl_injector_note(rec, "%zu subnet%s back on their ACLs, %zu drill ACL%s deleted",
			 json_array_size(json_object_get(rec, "subnets")),
			 json_array_size(json_object_get(rec, "subnets")) == 1 ? "" : "s", deleted,
			 deleted == 1 ? "" : "s");
	rc = 0;
out:
	fl_aws_free(aws);
	return rc;
}

static char *az_describe(const struct fl_fault_spec *fault, const struct fl_target *target)
{
	int stop = json_is_true(json_object_get(fault->params, "stop_instances"));
	struct fl_buf b;

	fl_buf_init(&b, 0);
	fl_buf_addf(&b,
		    "aws.az_outage %s of %s: reads sts GetCallerIdentity, ec2 DescribeSubnets, "
		    "ec2 DescribeNetworkAcls%s; changes ec2 CreateNetworkAcl (deny-all, tagged), "
		    "ec2 ReplaceNetworkAclAssociation per subnet%s; revert: reads "
		    "ec2 DescribeNetworkAcls%s; changes ec2 ReplaceNetworkAclAssociation to each "
		    "original ACL, ec2 DeleteNetworkAcl%s",
		    json_string_value(json_object_get(fault->params, "az")),
		    json_string_value(json_object_get(fault->params, "vpc")),
		    stop ? ", ec2 DescribeInstances" : "",
		    stop ? ", ec2 StopInstances (the zone's running instances)" : "",
		    stop ? ", ec2 DescribeInstances" : "",
		    stop ? ", ec2 StartInstances for those stopped" : "");
	if (b.failed) {
		fl_buf_release(&b);
		return NULL;
	}
	return fl_buf_detach(&b);
}

const struct fl_injector_ops fl_injector_aws_az = {
	.name = "aws.az_outage",
	.summary = "make one availability zone of a VPC unreachable (deny-all network ACL)",
	.target_kinds = 1u << FL_TARGET_CLOUD,
	.validate = az_validate,
	.prepare = az_prepare,
	.inject = az_inject,
	.revert = az_revert,
	.describe = az_describe,
	.resources = fl_aws_record_resources,
};
