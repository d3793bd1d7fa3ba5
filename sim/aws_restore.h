/*
 * aws_restore: the recovery step `aws.backup_restore` — restore AWS data to
 * its newest (or a named) AWS Backup recovery point and time it as a phase.
 *
 * Owns: the step's keys (target, resource or recovery_point + vault,
 * iam_role, metadata, poll; docs/aws.md), checked when the drill is
 * resolved; the guarded start (the environment says "production": false,
 * the caller's account is allowed, the recovery point carries the required
 * tag — all read-only, before StartRestoreJob); choosing the newest
 * COMPLETED recovery point of a resource (ListRecoveryPointsByResource,
 * every page); the restore metadata (GetRecoveryPointRestoreMetadata, the
 * step's `metadata` laid over it); StartRestoreJob with an idempotency
 * token; polling DescribeRestoreJob until COMPLETED, or ABORTED/FAILED
 * reported with the job's StatusMessage. The restored resource is new: it
 * is the user's, never deleted by faultline, and AWS Backup has no call to
 * cancel a running restore job. Does not own: the step's deadline and phase
 * (sim/steps.c), the AWS client (core/aws.c), the account check
 * (core/aws_target.c).
 */
#ifndef FAULTLINE_SIM_AWS_RESTORE_H
#define FAULTLINE_SIM_AWS_RESTORE_H

#include <jansson.h>
#include <stdint.h>

#include "core/doc.h"
#include "core/environment.h"
#include "core/error.h"

/* Checks the step's object `params` (keys, types, its target an AWS cloud
 * target of env): 0, or -1 with err at file:line:col. */
int fl_aws_restore_check(struct fl_doc *doc, json_t *params, const char *step,
			 const struct fl_environment *env, struct fl_error *err);

/* One line for --dry-run: the calls the step makes. New string or NULL. */
char *fl_aws_restore_describe(const json_t *params);

struct fl_aws_restore;
/* Guardrails, the recovery point, StartRestoreJob. New handle or NULL with
 * err set (nothing was started unless the message says so). */
struct fl_aws_restore *fl_aws_restore_start(const json_t *params, const struct fl_environment *env,
					    struct fl_error *err);
/* Asks DescribeRestoreJob when the poll interval has passed since the last
 * answer: 0 while the job runs, 1 when COMPLETED, -1 with err ("restore
 * job ID FAILED: <StatusMessage>", or the AWS error). */
int fl_aws_restore_poll(struct fl_aws_restore *r, int64_t now, struct fl_error *err);
/* What started: "restore job ID from RECOVERY-POINT" (borrowed). */
const char *fl_aws_restore_what(const struct fl_aws_restore *r);
void fl_aws_restore_free(struct fl_aws_restore *r);

#endif
