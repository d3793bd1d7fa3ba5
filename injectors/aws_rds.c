/*
 * aws.rds_failover injector: fail over an Aurora or Multi-AZ DB cluster.
 *
 * Owns: the `aws.rds_failover` fault family — keys `cluster` (the DB
 * cluster identifier), `to` (optional: the instance to promote) and
 * `fail_back` (default false: revert fails back to the original writer).
 * The cluster must carry the environment's required tag (read with
 * ListTagsForResource). prepare() records the writer; inject() calls
 * FailoverDBCluster; revert(), when fail_back is asked, waits for the
 * cluster to be available again and fails over to the recorded writer
 * unless it already is the writer (so a repeated revert does nothing).
 * Multi-AZ DB instances: key `instance` instead of `cluster` (one of the
 * two); the instance must be Multi-AZ (a standby to fail over to) and carry
 * the required tag; inject() calls RebootDBInstance with ForceFailover;
 * revert() with fail_back waits for *available* and forces a failover
 * again unless the primary is back in the recorded zone.
 * Does not own: the guardrails (injectors/aws_common.c).
 */
#include <string.h>

#include "injectors/injector.h"
#include "injectors/aws_common.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"

#define RDS_REVERT_WAIT_NS (900 * FL_NS_PER_S)

static int rds_validate(struct fl_doc *doc, const struct fl_fault_spec *fault,
			const struct fl_target *target, struct fl_error *err)
{
	char *cluster = NULL, *to = NULL, *instance = NULL;
	int back = 0, rc = -1, nc, ni;

	if ((nc = fl_doc_string(doc, fault->params, "cluster", 0, &cluster, err)) < 0 ||
	    (ni = fl_doc_string(doc, fault->params, "instance", 0, &instance, err)) < 0 ||
	    fl_doc_string(doc, fault->params, "to", 0, &to, err) < 0 ||
	    fl_doc_bool(doc, fault->params, "fail_back", 0, &back, err) < 0)
		goto out;
	if (nc + ni != 1) {
		fl_doc_error_member(doc, fault->params, ni ? "instance" : "injector", err,
				    "aws.rds_failover: give one of 'cluster' (a DB cluster) or "
				    "'instance' (a Multi-AZ DB instance)");
		goto out;
	}
	if (ni && to) {
		fl_doc_error_member(doc, fault->params, "to", err,
				    "'to': only for a DB cluster (a Multi-AZ instance has one standby)");
		goto out;
	}
	if (!fl_aws_is_target(target)) {
		fl_doc_error_member(doc, fault->params, "target", err,
				    "aws.rds_failover needs a cloud target with \"provider\": \"aws\"");
		goto out;
	}
	if (fl_doc_check_keys(doc, fault->params, err) < 0)
		goto out;
	rc = 0;
out:
	fl_free(cluster);
	fl_free(instance);
	fl_free(to);
	return rc;
}

/* DescribeDBClusters for one cluster: *writer, *arn, *status (new strings, may be NULL). */
static int cluster_state(struct fl_aws *aws, const char *cluster, char **writer, char **arn,
			 char **status, struct fl_error *err)
{
	struct fl_aws_params p;
	xmlDoc *doc;
	xmlNode *c;

	*writer = NULL;
	if (arn)
		*arn = NULL;
	if (status)
		*status = NULL;
	fl_aws_params_init(&p);
	fl_aws_params_add(&p, "DBClusterIdentifier", cluster);
	doc = fl_aws_query(aws, FL_AWS_RDS, "DescribeDBClusters", &p, 0, err);
	fl_aws_params_release(&p);
	if (!doc)
		return -1;
	c = fl_aws_xml_path(xmlDocGetRootElement(doc),
			    "DescribeDBClustersResult/DBClusters/DBCluster");
	for (xmlNode *m = fl_aws_xml_path(c, "DBClusterMembers/DBClusterMember"); m;
	     m = fl_aws_xml_next(m))
		if (fl_aws_xml_text_is(m, "IsClusterWriter", "true"))
			*writer = fl_aws_xml_text(m, "DBInstanceIdentifier");
	if (arn)
		*arn = fl_aws_xml_text(c, "DBClusterArn");
	if (status)
		*status = fl_aws_xml_text(c, "Status");
	xmlFreeDoc(doc);
	if (!*writer)
		return fl_error_set(err, FL_EXIT_ENV,
				    "aws rds DescribeDBClusters: cluster %s has no writer", cluster);
	return 0;
}

static int has_required_tag(struct fl_aws *aws, const char *arn, const struct fl_aws_target *t,
			    struct fl_error *err)
{
	struct fl_aws_params p;
	xmlDoc *doc;
	int found = 0;

	fl_aws_params_init(&p);
	fl_aws_params_add(&p, "ResourceName", arn);
	doc = fl_aws_query(aws, FL_AWS_RDS, "ListTagsForResource", &p, 0, err);
	fl_aws_params_release(&p);
	if (!doc)
		return -1;
	for (xmlNode *m = fl_aws_xml_path(xmlDocGetRootElement(doc),
					  "ListTagsForResourceResult/TagList/Tag");
	     m; m = fl_aws_xml_next(m))
		if (fl_aws_xml_text_is(m, "Key", t->tag_key) &&
		    fl_aws_xml_text_is(m, "Value", t->tag_value))
			found = 1;
	xmlFreeDoc(doc);
	return found;
}

/* ---- Multi-AZ DB instances ------------------------------------------------------ */

/* DescribeDBInstances for one instance: its zone, ARN, status, Multi-AZ
 * (new strings, NULL when absent). */
static int instance_state(struct fl_aws *aws, const char *id, char **zone, char **arn,
			  char **status, int *multi_az, struct fl_error *err)
{
	struct fl_aws_params p;
	xmlDoc *doc;
	xmlNode *i;

	fl_aws_params_init(&p);
	fl_aws_params_add(&p, "DBInstanceIdentifier", id);
	doc = fl_aws_query(aws, FL_AWS_RDS, "DescribeDBInstances", &p, 0, err);
	fl_aws_params_release(&p);
	if (!doc)
		return -1;
	i = fl_aws_xml_path(xmlDocGetRootElement(doc),
			    "DescribeDBInstancesResult/DBInstances/DBInstance");
	*zone = fl_aws_xml_text(i, "AvailabilityZone");
	if (arn)
		*arn = fl_aws_xml_text(i, "DBInstanceArn");
	*status = fl_aws_xml_text(i, "DBInstanceStatus");
	*multi_az = fl_aws_xml_text_is(i, "MultiAZ", "true");
	xmlFreeDoc(doc);
	if (!*zone)
		return fl_error_set(err, FL_EXIT_ENV,
				    "aws rds DescribeDBInstances: no zone for DB instance %s", id);
	return 0;
}

/* Refuses (nothing called yet) an instance that is not Multi-AZ or lacks
 * the required tag; records its primary's zone. */
static int instance_prepare(struct fl_aws *aws, const char *id, const struct fl_aws_target *t,
			    json_t *rec, struct fl_error *err)
{
	char *zone = NULL, *arn = NULL, *status = NULL;
	int multi = 0, tagged, rc = -1;

	if (instance_state(aws, id, &zone, &arn, &status, &multi, err) < 0)
		goto out;
	if (!multi) {
		fl_error_set(err, FL_EXIT_ENV,
			     "aws: DB instance %s is not Multi-AZ (no standby to fail over to); "
			     "nothing was changed",
			     id);
		goto out;
	}
	if (!arn || (tagged = has_required_tag(aws, arn, t, err)) < 0) {
		if (!arn)
			fl_error_set(err, FL_EXIT_ENV, "aws rds DescribeDBInstances: no ARN for %s",
				     id);
		goto out;
	}
	if (!tagged) {
		fl_error_set(err, FL_EXIT_ENV,
			     "aws: DB instance %s lacks the required tag %s=%s; nothing was changed",
			     id, t->tag_key, t->tag_value);
		goto out;
	}
	if (json_object_set_new(rec, "instance", json_string(id)) < 0 ||
	    json_object_set_new(rec, "zone", json_string(zone)) < 0) {
		fl_error_oom(err, "aws.rds_failover");
		goto out;
	}
	rc = 0;
out:
	fl_free(zone);
	fl_free(arn);
	fl_free(status);
	return rc;
}

static int force_failover(struct fl_aws *aws, const char *id, struct fl_error *err)
{
	struct fl_aws_params p;
	xmlDoc *doc;

	fl_aws_params_init(&p);
	fl_aws_params_add(&p, "DBInstanceIdentifier", id);
	fl_aws_params_add(&p, "ForceFailover", "true");
	doc = fl_aws_query(aws, FL_AWS_RDS, "RebootDBInstance", &p, 1, err);
	fl_aws_params_release(&p);
	if (!doc)
		return -1;
	xmlFreeDoc(doc);
	return 0;
}

/* fail_back for an instance: once available, back to the recorded zone. */
static int instance_revert(struct fl_aws *aws, const json_t *rec, struct fl_error *err)
{
	const char *id = json_string_value(json_object_get(rec, "instance"));
	const char *orig = json_string_value(json_object_get(rec, "zone"));
	int64_t deadline = fl_now_ns() + RDS_REVERT_WAIT_NS;
	char *zone = NULL, *status = NULL;
	int multi, rc = -1;

	for (;;) {
		fl_free(zone);
		fl_free(status);
		if (instance_state(aws, id, &zone, NULL, &status, &multi, err) < 0)
			goto out;
		if (!status || strcmp(status, "available") == 0)
			break;
		if (fl_now_ns() > deadline) {
			fl_error_set(err, FL_EXIT_ENV,
				     "aws.rds_failover revert: DB instance %s is still %s; "
				     "run 'faultline recover' again",
				     id, status);
			goto out;
		}
		fl_sleep_until(fl_now_ns() + 5 * FL_NS_PER_S, NULL, FL_NS_PER_S);
	}
	if (strcmp(zone, orig) == 0) {
		fl_injector_note(rec, "%s's primary is in %s already", id, orig);
	} else {
		if (force_failover(aws, id, err) < 0)
			goto out;
		fl_injector_note(rec, "failed %s back from %s towards %s", id, zone, orig);
	}
	rc = 0;
out:
	fl_free(zone);
	fl_free(status);
	return rc;
}

static json_t *rds_prepare(const struct fl_fault_spec *fault, const struct fl_target *target,
			   struct fl_error *err)
{
	const char *cluster = json_string_value(json_object_get(fault->params, "cluster"));
	struct fl_aws_target t;
	struct fl_aws *aws;
	char *account, *writer = NULL, *arn = NULL;
	json_t *rec = NULL;
	int tagged;

	if (fl_aws_guard(target, &t, &aws, &account, err) < 0)
		return NULL;
	if (!cluster) {
		const char *id = json_string_value(json_object_get(fault->params, "instance"));
		rec = fl_aws_record_new(fault->name, target, &t, account);
		if (!rec)
			fl_error_oom(err, "aws.rds_failover fault '%s'", fault->name);
		if (!rec || instance_prepare(aws, id, &t, rec, err) < 0 ||
		    json_object_set_new(rec, "fail_back",
					json_boolean(json_is_true(
						json_object_get(fault->params, "fail_back")))) < 0) {
			json_decref(rec);
			rec = NULL;
			fl_error_oom(err, "aws.rds_failover fault '%s'", fault->name);
		}
		goto out;
	}
	if (cluster_state(aws, cluster, &writer, &arn, NULL, err) < 0)
		goto out;
	if (!arn) {
		fl_error_set(err, FL_EXIT_ENV, "aws rds DescribeDBClusters: no ARN for cluster %s",
			     cluster);
		goto out;
	}
	if ((tagged = has_required_tag(aws, arn, &t, err)) < 0)
		goto out;
	if (!tagged) {
		fl_error_set(err, FL_EXIT_ENV,
			     "aws: DB cluster %s lacks the required tag %s=%s; "
			     "nothing was changed",
			     cluster, t.tag_key, t.tag_value);
		goto out;
	}
	rec = fl_aws_record_new(fault->name, target, &t, account);
	if (!rec || json_object_set_new(rec, "cluster", json_string(cluster)) < 0 ||
	    json_object_set_new(rec, "writer", json_string(writer)) < 0 ||
	    json_object_set(rec, "to",
			    json_object_get(fault->params, "to") ? json_object_get(fault->params, "to")
								 : json_null()) < 0 ||
	    json_object_set_new(rec, "fail_back",
				json_boolean(json_is_true(
					json_object_get(fault->params, "fail_back")))) < 0) {
		json_decref(rec);
		rec = NULL;
		fl_error_oom(err, "aws.rds_failover fault '%s'", fault->name);
	}
out:
	fl_free(writer);
	fl_free(arn);
	fl_free(account);
	fl_aws_free(aws);
	fl_aws_target_release(&t);
	return rec;
}

static int failover(struct fl_aws *aws, const char *cluster, const char *to, struct fl_error *err)
{
	struct fl_aws_params p;
	xmlDoc *doc;

	fl_aws_params_init(&p);
	fl_aws_params_add(&p, "DBClusterIdentifier", cluster);
	if (to)
		fl_aws_params_add(&p, "TargetDBInstanceIdentifier", to);
	doc = fl_aws_query(aws, FL_AWS_RDS, "FailoverDBCluster", &p, 1, err);
	fl_aws_params_release(&p);
	if (!doc)
		return -1;
	xmlFreeDoc(doc);
	return 0;
}

static int rds_inject(const struct fl_fault_spec *fault, const struct fl_target *target,
		      json_t *rec, struct fl_error *err)
{
	struct fl_aws *aws = fl_aws_record_client(rec, err);
	int rc;

	if (!aws)
		return -1;
	if (json_object_get(rec, "instance"))
		rc = force_failover(aws, json_string_value(json_object_get(rec, "instance")), err);
	else
		rc = failover(aws, json_string_value(json_object_get(rec, "cluster")),
			      json_string_value(json_object_get(rec, "to")), err);
	fl_aws_free(aws);
	return rc;
}

static int rds_revert(const json_t *rec, struct fl_error *err)
{
	const char *cluster = json_string_value(json_object_get(rec, "cluster"));
	const char *orig = json_string_value(json_object_get(rec, "writer"));
	int64_t deadline = fl_now_ns() + RDS_REVERT_WAIT_NS;
	struct fl_aws *aws;
	char *writer = NULL, *status = NULL;
	int rc = -1;

	if (!json_is_true(json_object_get(rec, "fail_back"))) {
		fl_injector_note(rec, "no fail-back asked: the new writer stays");
		return 0;
	}
	if (!(aws = fl_aws_record_client(rec, err)))
		return -1;
	if (json_object_get(rec, "instance")) {
		rc = instance_revert(aws, rec, err);
		goto out;
	}
	/* A cluster still failing over refuses another failover. */
	for (;;) {
		fl_free(writer);
		fl_free(status);
		if (cluster_state(aws, cluster, &writer, NULL, &status, err) < 0)
			goto out;
		if (!status || strcmp(status, "available") == 0)
			break;
		if (fl_now_ns() > deadline) {
			fl_error_set(err, FL_EXIT_ENV,
				     "aws.rds_failover revert: cluster %s is still %s; "
				     "run 'faultline recover' again",
				     cluster, status);
			goto out;
		}
		fl_sleep_until(fl_now_ns() + 5 * FL_NS_PER_S, NULL, FL_NS_PER_S);
	}
	if (strcmp(writer, orig) == 0) {
		fl_injector_note(rec, "%s is the writer already", orig);
	} else {
		if (failover(aws, cluster, orig, err) < 0)
			goto out;
		fl_injector_note(rec, "failed back from %s to %s", writer, orig);
	}
	rc = 0;
out:
	fl_free(writer);
	fl_free(status);
	fl_aws_free(aws);
	return rc;
}

static char *rds_describe(const struct fl_fault_spec *fault, const struct fl_target *target)
{
	const char *to = json_string_value(json_object_get(fault->params, "to"));
	const char *inst = json_string_value(json_object_get(fault->params, "instance"));
	int back = json_is_true(json_object_get(fault->params, "fail_back"));
	struct fl_buf b;

	fl_buf_init(&b, 0);
	if (inst)
		fl_buf_addf(&b,
			    "aws.rds_failover Multi-AZ DB instance %s: reads sts GetCallerIdentity, "
			    "rds DescribeDBInstances, rds ListTagsForResource; changes rds RebootDBInstance "
			    "(ForceFailover); revert: %s",
			    inst,
			    back ? "reads rds DescribeDBInstances until available; changes rds "
				   "RebootDBInstance (ForceFailover) back to the original zone"
				 : "none (fail_back not asked)");
	else
		fl_buf_addf(&b,
			    "aws.rds_failover DB cluster %s%s%s: reads sts GetCallerIdentity, "
			    "rds DescribeDBClusters, rds ListTagsForResource; changes rds FailoverDBCluster; "
			    "revert: %s",
			    json_string_value(json_object_get(fault->params, "cluster")),
			    to ? " to " : "", to ? to : "",
			    json_is_true(json_object_get(fault->params, "fail_back"))
				    ? "reads rds DescribeDBClusters until available; changes rds "
				      "FailoverDBCluster back to the original writer"
				    : "none (fail_back not asked)");
	if (b.failed) {
		fl_buf_release(&b);
		return NULL;
	}
	return fl_buf_detach(&b);
}

const struct fl_injector_ops fl_injector_aws_rds = {
	.name = "aws.rds_failover",
	.summary = "fail over an Aurora or Multi-AZ DB cluster, or a Multi-AZ DB instance "
		   "(optionally back at the end)",
	.target_kinds = 1u << FL_TARGET_CLOUD,
	.validate = rds_validate,
	.prepare = rds_prepare,
	.inject = rds_inject,
	.revert = rds_revert,
	.describe = rds_describe,
	.resources = fl_aws_record_resources,
};
