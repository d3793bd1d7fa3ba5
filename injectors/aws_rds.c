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

/* ---- what a failover moves: a cluster's writer, an instance's primary zone ---- */

/* The state of the cluster or instance, read from the API (new strings,
 * NULL when absent). */
struct rds_state {
	char *where;  /* the cluster's writer, the instance's primary zone */
	char *arn;    /* for ListTagsForResource */
	char *status; /* "available", "failing-over", ... */
	int multi_az; /* instance: a standby to fail over to */
};

static void rds_state_release(struct rds_state *s)
{
	fl_free(s->where);
	fl_free(s->arn);
	fl_free(s->status);
	memset(s, 0, sizeof(*s));
}

/* DescribeDBClusters or DescribeDBInstances for one of them. 0, or -1
 * with err set (also when there is no writer, or no zone). */
static int rds_read(struct fl_aws *aws, int instance, const char *id, struct rds_state *s,
		    struct fl_error *err)
{
	const char *action = instance ? "DescribeDBInstances" : "DescribeDBClusters";
	struct fl_aws_params p;
	xmlDoc *doc;
	xmlNode *c;

	rds_state_release(s);
	fl_aws_params_init(&p);
	fl_aws_params_add(&p, instance ? "DBInstanceIdentifier" : "DBClusterIdentifier", id);
	doc = fl_aws_query(aws, FL_AWS_RDS, action, &p, 0, err);
	fl_aws_params_release(&p);
	if (!doc)
		return -1;
	c = fl_aws_xml_path(xmlDocGetRootElement(doc),
			    instance ? "DescribeDBInstancesResult/DBInstances/DBInstance"
				     : "DescribeDBClustersResult/DBClusters/DBCluster");
	if (instance) {
		s->where = fl_aws_xml_text(c, "AvailabilityZone");
		s->status = fl_aws_xml_text(c, "DBInstanceStatus");
		s->multi_az = fl_aws_xml_text_is(c, "MultiAZ", "true");
	} else {
		for (xmlNode *m = fl_aws_xml_path(c, "DBClusterMembers/DBClusterMember"); m;
		     m = fl_aws_xml_next(m))
			if (!s->where && fl_aws_xml_text_is(m, "IsClusterWriter", "true"))
				s->where = fl_aws_xml_text(m, "DBInstanceIdentifier");
		s->status = fl_aws_xml_text(c, "Status");
	}
	s->arn = fl_aws_xml_text(c, instance ? "DBInstanceArn" : "DBClusterArn");
	xmlFreeDoc(doc);
	if (!s->where)
		return fl_error_set(err, FL_EXIT_ENV, "aws rds %s: %s %s has no %s", action,
				    instance ? "DB instance" : "cluster", id,
				    instance ? "zone" : "writer");
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

/* The guardrails of either kind, read-only: an instance must be Multi-AZ,
 * either must carry the required tag. 0, or -1 (nothing was changed). */
static int rds_check(struct fl_aws *aws, int instance, const char *id, const struct rds_state *s,
		     const struct fl_aws_target *t, struct fl_error *err)
{
	const char *what = instance ? "DB instance" : "DB cluster";
	int tagged;

	if (instance && !s->multi_az)
		return fl_error_set(err, FL_EXIT_ENV,
				    "aws: DB instance %s is not Multi-AZ (no standby to fail over to); "
				    "nothing was changed",
				    id);
	if (!s->arn)
		return fl_error_set(err, FL_EXIT_ENV, "aws rds %s: no ARN for %s %s",
				    instance ? "DescribeDBInstances" : "DescribeDBClusters", what,
				    id);
	if ((tagged = has_required_tag(aws, s->arn, t, err)) < 0)
		return -1;
	if (!tagged)
		return fl_error_set(err, FL_EXIT_ENV,
				    "aws: %s %s lacks the required tag %s=%s; nothing was changed",
				    what, id, t->tag_key, t->tag_value);
	return 0;
}

static json_t *rds_prepare(const struct fl_fault_spec *fault, const struct fl_target *target,
			   struct fl_error *err)
{
	const char *inst = json_string_value(json_object_get(fault->params, "instance"));
	const char *id = inst ? inst : json_string_value(json_object_get(fault->params, "cluster"));
	json_t *to = json_object_get(fault->params, "to");
	struct fl_aws_target t;
	struct fl_aws *aws;
	struct rds_state s = { 0 };
	char *account;
	json_t *rec = NULL;

	if (fl_aws_guard(target, &t, &aws, &account, err) < 0)
		return NULL;
	if (rds_read(aws, inst != NULL, id, &s, err) < 0 ||
	    rds_check(aws, inst != NULL, id, &s, &t, err) < 0)
		goto out;
	/* An instance records its primary's zone, a cluster its writer. */
	rec = fl_aws_record_new(fault->name, target, &t, account);
	if (!rec || json_object_set_new(rec, inst ? "instance" : "cluster", json_string(id)) < 0 ||
	    json_object_set_new(rec, inst ? "zone" : "writer", json_string(s.where)) < 0 ||
	    (!inst && json_object_set(rec, "to", to ? to : json_null()) < 0) ||
	    json_object_set_new(rec, "fail_back",
				json_boolean(json_is_true(
					json_object_get(fault->params, "fail_back")))) < 0) {
		json_decref(rec);
		rec = NULL;
		fl_error_oom(err, "aws.rds_failover fault '%s'", fault->name);
	}
out:
	rds_state_release(&s);
	fl_free(account);
	fl_aws_free(aws);
	fl_aws_target_release(&t);
	return rec;
}

/* FailoverDBCluster (to `to`, when given), or RebootDBInstance with
 * ForceFailover for an instance. */
static int failover(struct fl_aws *aws, int instance, const char *id, const char *to,
		    struct fl_error *err)
{
	struct fl_aws_params p;
	xmlDoc *doc;

	fl_aws_params_init(&p);
	fl_aws_params_add(&p, instance ? "DBInstanceIdentifier" : "DBClusterIdentifier", id);
	if (instance)
		fl_aws_params_add(&p, "ForceFailover", "true");
	else if (to)
		fl_aws_params_add(&p, "TargetDBInstanceIdentifier", to);
	doc = fl_aws_query(aws, FL_AWS_RDS, instance ? "RebootDBInstance" : "FailoverDBCluster", &p,
			   1, err);
	fl_aws_params_release(&p);
	if (!doc)
		return -1;
	xmlFreeDoc(doc);
	return 0;
}

static int rds_inject(const struct fl_fault_spec *fault, const struct fl_target *target,
		      json_t *rec, struct fl_error *err)
{
	const char *inst = json_string_value(json_object_get(rec, "instance"));
	struct fl_aws *aws = fl_aws_record_client(rec, err);
	int rc;

	if (!aws)
		return -1;
	rc = failover(aws, inst != NULL,
		      inst ? inst : json_string_value(json_object_get(rec, "cluster")),
		      json_string_value(json_object_get(rec, "to")), err);
	fl_aws_free(aws);
	return rc;
}

/* Waits until the cluster or instance is available again (one failing
 * over refuses another failover); *s then says where it is. */
static int wait_available(struct fl_aws *aws, int instance, const char *id, struct rds_state *s,
			  struct fl_error *err)
{
	int64_t deadline = fl_now_ns() + RDS_REVERT_WAIT_NS;

	for (;;) {
		if (rds_read(aws, instance, id, s, err) < 0)
			return -1;
		if (!s->status || strcmp(s->status, "available") == 0)
			return 0;
		if (fl_now_ns() > deadline)
			return fl_error_set(err, FL_EXIT_ENV,
					    "aws.rds_failover revert: %s %s is still %s; "
					    "run 'faultline recover' again",
					    instance ? "DB instance" : "cluster", id, s->status);
		fl_sleep_until(fl_now_ns() + 5 * FL_NS_PER_S, NULL, FL_NS_PER_S);
	}
}

/* fail_back: once available, back to the recorded writer (cluster) or
 * zone (instance, by forcing a failover again) unless it is there already. */
static int rds_revert(const json_t *rec, struct fl_error *err)
{
	const char *inst = json_string_value(json_object_get(rec, "instance"));
	const char *id = inst ? inst : json_string_value(json_object_get(rec, "cluster"));
	const char *orig = json_string_value(json_object_get(rec, inst ? "zone" : "writer"));
	struct rds_state s = { 0 };
	struct fl_aws *aws;
	int rc = -1;

	if (!json_is_true(json_object_get(rec, "fail_back"))) {
		fl_injector_note(rec, "no fail-back asked: the new writer stays");
		return 0;
	}
	if (!orig)
		return fl_error_set(err, FL_EXIT_ENV, "aws.rds_failover: bad revert record");
	if (!(aws = fl_aws_record_client(rec, err)))
		return -1;
	if (wait_available(aws, inst != NULL, id, &s, err) < 0)
		goto out;
	if (strcmp(s.where, orig) == 0) {
		if (inst)
			fl_injector_note(rec, "%s's primary is in %s already", id, orig);
		else
			fl_injector_note(rec, "%s is the writer already", orig);
	} else {
		if (failover(aws, inst != NULL, id, orig, err) < 0)
			goto out;
		if (inst)
			fl_injector_note(rec, "failed %s back from %s towards %s", id, s.where, orig);
		else
			fl_injector_note(rec, "failed back from %s to %s", s.where, orig);
	}
	rc = 0;
out:
	rds_state_release(&s);
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
