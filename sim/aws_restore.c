/*
 * aws_restore: the `aws.backup_restore` recovery step (aws_restore.h).
 */
#include "sim/aws_restore.h"

#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "injectors/aws_common.h"

#define RESTORE_POLL_DEFAULT_NS (10 * FL_NS_PER_S)
#define RESTORE_POLL_MIN_NS FL_NS_PER_S

struct fl_aws_restore {
	struct fl_aws *aws;
	char *job;
	char *what;
	int64_t poll_ns, next_poll;
};

int fl_aws_restore_check(struct fl_doc *doc, json_t *params, const char *step,
			 const struct fl_environment *env, struct fl_error *err)
{
	char *target = NULL, *resource = NULL, *point = NULL, *vault = NULL, *role = NULL;
	int64_t poll = RESTORE_POLL_DEFAULT_NS;
	const struct fl_target *t;
	json_t *meta;
	const char *k;
	json_t *v;
	int rc = -1, nr, np;

	if (fl_doc_string(doc, params, "target", 1, &target, err) < 0 ||
	    (nr = fl_doc_string(doc, params, "resource", 0, &resource, err)) < 0 ||
	    (np = fl_doc_string(doc, params, "recovery_point", 0, &point, err)) < 0 ||
	    fl_doc_string(doc, params, "vault", np > 0, &vault, err) < 0 ||
	    fl_doc_string(doc, params, "iam_role", 1, &role, err) < 0 ||
	    fl_doc_duration(doc, params, "poll", 0, &poll, err) < 0)
		goto out;
	if (nr + np != 1) {
		fl_doc_error_value(doc, params, err,
				   "step '%s': give one of 'resource' (its newest recovery point) or "
				   "'recovery_point' (with its 'vault')",
				   step);
		goto out;
	}
	if (poll < RESTORE_POLL_MIN_NS) {
		fl_doc_error_member(doc, params, "poll", err,
				    "'poll': at least 1s (AWS rate-limits)");
		goto out;
	}
	if ((meta = fl_doc_object(doc, params, "metadata", 0, err)) == NULL && fl_error_is_set(err))
		goto out;
	json_object_foreach(meta, k, v) {
		if (!json_is_string(v)) {
			fl_doc_error_member(doc, meta, k, err,
					    "'metadata': '%s' must be a string (AWS Backup's restore "
					    "metadata are strings)",
					    k);
			goto out;
		}
	}
	t = env ? fl_environment_target(env, target) : NULL;
	if (!t || !fl_aws_is_target(t)) {
		fl_doc_error_member(doc, params, "target", err,
				    "step '%s': '%s' is not a cloud target with \"provider\": \"aws\"%s",
				    step, target, env ? "" : " (no environment)");
		goto out;
	}
	rc = fl_doc_check_keys(doc, params, err);
out:
	fl_free(target);
	fl_free(resource);
	fl_free(point);
	fl_free(vault);
	fl_free(role);
	return rc;
}

char *fl_aws_restore_describe(const json_t *params)
{
	const char *point = json_string_value(json_object_get(params, "recovery_point"));
	struct fl_buf b;

	fl_buf_init(&b, 0);
	if (point)
		fl_buf_addf(&b, "restore recovery point %s", point);
	else
		fl_buf_addf(&b, "restore the newest recovery point of %s",
			    json_string_value(json_object_get(params, "resource")));
	fl_buf_addf(&b,
		    " with AWS Backup: reads sts GetCallerIdentity, %sbackup ListTags, "
		    "backup GetRecoveryPointRestoreMetadata, backup DescribeRestoreJob (until "
		    "COMPLETED); changes backup StartRestoreJob",
		    point ? "" : "backup ListRecoveryPointsByResource, ");
	if (b.failed) {
		fl_buf_release(&b);
		return NULL;
	}
	return fl_buf_detach(&b);
}

/* One REST-JSON GET of path prefix+id+suffix. */
static json_t *get(struct fl_aws *aws, const char *op, const char *prefix, const char *id,
		   const char *suffix, struct fl_error *err)
{
	char *path = fl_aws_rest_path(prefix, id, suffix);
	json_t *answer;

	if (!path) {
		fl_error_oom(err, "aws backup %s", op);
		return NULL;
	}
	answer = fl_aws_rest_json(aws, FL_AWS_BACKUP, op, "GET", path, NULL, 0, err);
	fl_free(path);
	return answer;
}

/* The newest COMPLETED recovery point of the resource (in `vault` when
 * given): its ARN and vault into *arn, *vault_out (new). */
static int newest_point(struct fl_aws *aws, const char *resource, const char *vault, char **arn,
			char **vault_out, struct fl_error *err)
{
	double best = -1;
	char *next = NULL;

	*arn = *vault_out = NULL;
	for (int pages = 0; pages < 1000; pages++) {
		json_t *answer, *rp;
		size_t i;
		const char *nt;
		char *suffix = next ? fl_aws_rest_path("/recovery-points/?nextToken=", next, NULL)
				    : fl_strdup("/recovery-points/");

		fl_free(next);
		next = NULL;
		answer = suffix ? get(aws, "ListRecoveryPointsByResource", "/resources/", resource,
				      suffix, err)
				: NULL;
		if (!suffix)
			fl_error_oom(err, "aws backup ListRecoveryPointsByResource");
		fl_free(suffix);
		if (!answer)
			goto fail;
		json_array_foreach(json_object_get(answer, "RecoveryPoints"), i, rp) {
			const char *a = json_string_value(json_object_get(rp, "RecoveryPointArn"));
			const char *vn = json_string_value(json_object_get(rp, "BackupVaultName"));
			double when = json_number_value(json_object_get(rp, "CreationDate"));
			const char *st = json_string_value(json_object_get(rp, "Status"));

			if (!a || !vn || !st || strcmp(st, "COMPLETED") != 0 ||
			    (vault && strcmp(vn, vault) != 0) || when <= best)
				continue;
			fl_free(*arn);
			fl_free(*vault_out);
			*arn = fl_strdup(a);
			*vault_out = fl_strdup(vn);
			best = when;
		}
		nt = json_string_value(json_object_get(answer, "NextToken"));
		next = nt && *nt ? fl_strdup(nt) : NULL;
		json_decref(answer);
		if (!next)
			break;
	}
	fl_free(next);
	if (best < 0)
		return fl_error_set(err, FL_EXIT_ENV,
				    "aws.backup_restore: %s has no COMPLETED recovery point%s%s; "
				    "nothing was restored",
				    resource, vault ? " in vault " : "", vault ? vault : "");
	if (!*arn || !*vault_out) {
		fl_error_oom(err, "aws backup ListRecoveryPointsByResource");
		goto fail;
	}
	return 0;
fail:
	fl_free(*arn);
	fl_free(*vault_out);
	*arn = *vault_out = NULL;
	return -1;
}

/* The recovery point must carry the required tag (backups copy their
 * resource's tags when the backup plan says so). */
static int point_tagged(struct fl_aws *aws, const char *arn, const struct fl_aws_target *t,
			struct fl_error *err)
{
	json_t *answer = get(aws, "ListTags", "/tags/", arn, "/", err);
	const char *v;
	int ok;

	if (!answer)
		return -1;
	v = json_string_value(json_object_get(json_object_get(answer, "Tags"), t->tag_key));
	ok = v && strcmp(v, t->tag_value) == 0;
	json_decref(answer);
	if (!ok)
		return fl_error_set(err, FL_EXIT_ENV,
				    "aws: recovery point %s lacks the required tag %s=%s; "
				    "nothing was restored",
				    arn, t->tag_key, t->tag_value);
	return 0;
}

/* StartRestoreJob from the point's own metadata with the step's laid over. */
static char *start_job(struct fl_aws *aws, const json_t *params, const char *arn, const char *vault,
		       struct fl_error *err)
{
	char *suffix = fl_aws_rest_path("/recovery-points/", arn, "/restore-metadata");
	json_t *md = suffix ? get(aws, "GetRecoveryPointRestoreMetadata", "/backup-vaults/", vault,
				  suffix, err)
			    : NULL;
	json_t *meta, *body = NULL, *answer = NULL;
	char *token = NULL, *job = NULL;
	const char *type;

	fl_free(suffix);
	if (!md) {
		if (!fl_error_is_set(err))
			fl_error_oom(err, "aws backup GetRecoveryPointRestoreMetadata");
		return NULL;
	}
	meta = json_object_get(md, "RestoreMetadata");
	type = json_string_value(json_object_get(md, "ResourceType"));
	token = fl_aws_unique_token();
	/* Members in the API model's order. */
	body = json_pack("{s:s, s:o, s:O, s:s?}", "RecoveryPointArn", arn, "Metadata",
			 json_is_object(meta) ? json_deep_copy(meta) : json_object(), "IamRoleArn",
			 json_object_get(params, "iam_role"), "IdempotencyToken", token);
	if (!token || !body ||
	    (json_object_get(params, "metadata") &&
	     json_object_update(json_object_get(body, "Metadata"),
				json_object_get(params, "metadata")) < 0) ||
	    (type && json_object_set_new(body, "ResourceType", json_string(type)) < 0)) {
		fl_error_oom(err, "aws backup StartRestoreJob");
		goto out;
	}
	answer = fl_aws_rest_json(aws, FL_AWS_BACKUP, "StartRestoreJob", "PUT", "/restore-jobs",
				  body, 1, err);
	if (answer && !json_string_value(json_object_get(answer, "RestoreJobId")))
		fl_error_set(err, FL_EXIT_ENV,
			     "aws backup StartRestoreJob: no RestoreJobId in the answer");
	else if (answer &&
		 !(job = fl_strdup(json_string_value(json_object_get(answer, "RestoreJobId")))))
		fl_error_oom(err, "aws backup StartRestoreJob");
out:
	fl_free(token);
	json_decref(answer);
	json_decref(body);
	json_decref(md);
	return job;
}

struct fl_aws_restore *fl_aws_restore_start(const json_t *params, const struct fl_environment *env,
					    struct fl_error *err)
{
	const struct fl_target *target =
		fl_environment_target(env, json_string_value(json_object_get(params, "target")));
	const char *resource = json_string_value(json_object_get(params, "resource"));
	const char *vault = json_string_value(json_object_get(params, "vault"));
	struct fl_aws_restore *r = NULL;
	struct fl_aws_target t;
	struct fl_aws *aws = NULL;
	char *account = NULL, *arn = NULL, *vault_of = NULL, *job = NULL;
	struct fl_buf b;

	if (!target || fl_environment_check_injectable(env, err) < 0 ||
	    fl_aws_guard(target, &t, &aws, &account, err) < 0) {
		if (!target)
			fl_error_set(err, FL_EXIT_INPUT, "aws.backup_restore: no such target");
		return NULL;
	}
	if (resource) {
		if (newest_point(aws, resource, vault, &arn, &vault_of, err) < 0)
			goto out;
	} else if (!(arn = fl_strdup(json_string_value(json_object_get(params, "recovery_point")))) ||
		   !(vault_of = fl_strdup(vault))) {
		fl_error_oom(err, "aws.backup_restore");
		goto out;
	}
	if (point_tagged(aws, arn, &t, err) < 0 ||
	    !(job = start_job(aws, params, arn, vault_of, err)))
		goto out;
	fl_buf_init(&b, 0);
	fl_buf_addf(&b, "restore job %s from %s", job, arn);
	if (!(r = fl_calloc(1, sizeof(*r))) || b.failed) {
		fl_free(r);
		r = NULL;
		fl_buf_release(&b);
		fl_error_oom(err, "aws.backup_restore (restore job %s started)", job);
		goto out;
	}
	r->what = fl_buf_detach(&b);
	r->aws = aws;
	r->job = job;
	aws = NULL;
	job = NULL;
	r->poll_ns = RESTORE_POLL_DEFAULT_NS;
	if (json_object_get(params, "poll"))
		fl_duration_parse(json_string_value(json_object_get(params, "poll")), &r->poll_ns);
out:
	fl_free(job);
	fl_free(arn);
	fl_free(vault_of);
	fl_free(account);
	fl_aws_free(aws);
	fl_aws_target_release(&t);
	return r;
}

int fl_aws_restore_poll(struct fl_aws_restore *r, int64_t now, struct fl_error *err)
{
	json_t *answer;
	const char *st, *msg;
	int rc = 0;

	if (now < r->next_poll)
		return 0;
	answer = get(r->aws, "DescribeRestoreJob", "/restore-jobs/", r->job, NULL, err);
	r->next_poll = fl_now_ns() + r->poll_ns;
	if (!answer)
		return -1;
	st = json_string_value(json_object_get(answer, "Status"));
	msg = json_string_value(json_object_get(answer, "StatusMessage"));
	if (st && strcmp(st, "COMPLETED") == 0)
		rc = 1;
	else if (st && (strcmp(st, "ABORTED") == 0 || strcmp(st, "FAILED") == 0))
		rc = fl_error_set(err, FL_EXIT_ENV, "restore job %s %s: %s", r->job, st,
				  msg && *msg ? msg : "(no StatusMessage)");
	json_decref(answer);
	return rc;
}

const char *fl_aws_restore_what(const struct fl_aws_restore *r)
{
	return r->what;
}

void fl_aws_restore_free(struct fl_aws_restore *r)
{
	if (!r)
		return;
	fl_aws_free(r->aws);
	fl_free(r->job);
	fl_free(r->what);
	fl_free(r);
}
