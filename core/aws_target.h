/*
 * aws_target: an environment's `cloud` target with provider "aws", and the
 * guardrails checked before any AWS resource is changed.
 *
 * Owns: the target's keys (provider, region, accounts, endpoint_url,
 * required_tag, select: ids / tags / zone / count / percent), validating
 * them with positions at load time (fl_aws_target_mark, called by
 * core/environment.c), reading them back from the target's JSON
 * (fl_aws_target_load), the account check (STS GetCallerIdentity against
 * `accounts`) and selecting EC2 instances (by IDs, tags and zone — the zone
 * through each instance's placement — then count/percent, ordered by
 * instance ID so a selection is reproducible), refusing when a selected
 * instance lacks the required tag. Every check is read-only: a refusal comes
 * before the first mutating call. Does not own: what is done to the
 * resources (injectors/aws_*.c), `production: false` (checked by the runner
 * through fl_environment_check_injectable before any fault).
 *
 * Environment file:
 *   "web": { "kind": "cloud", "provider": "aws", "region": "eu-west-1",
 *            "accounts": ["123456789012"], "endpoint_url": "http://127.0.0.1:5000",
 *            "required_tag": "faultline:environment=staging",
 *            "select": { "tags": {"app": "web"}, "zone": "eu-west-1a",
 *                        "ids": ["i-..."], "count": 1 } }
 */
#ifndef FAULTLINE_CORE_AWS_TARGET_H
#define FAULTLINE_CORE_AWS_TARGET_H

#include <jansson.h>

#include "core/aws.h"
#include "core/doc.h"
#include "core/error.h"

struct fl_aws_target {
	char *region;              /* or NULL: the AWS configuration's */
	char *endpoint_url;        /* or NULL */
	char **accounts;           /* NULL-terminated, at least one */
	char *tag_key, *tag_value; /* the required tag */
	char **ids;                /* select.ids, or NULL */
	json_t *tags;              /* select.tags (object of strings), owned, or NULL */
	char *zone;                /* select.zone, or NULL */
	long count, percent;       /* 0 when not given */
};

/* Validates and marks the aws keys of a cloud target object (load time). */
int fl_aws_target_mark(struct fl_doc *doc, json_t *obj, struct fl_error *err);
/* Reads a validated target object (or a revert record's copy of it). */
int fl_aws_target_load(const json_t *obj, struct fl_aws_target *t, struct fl_error *err);
void fl_aws_target_release(struct fl_aws_target *t);

/* A client for the target: config from the target then the process
 * environment (aws.h). New client or NULL with err set. */
struct fl_aws *fl_aws_target_client(const struct fl_aws_target *t, struct fl_error *err);

/* STS GetCallerIdentity; 0 when the caller's account is in t->accounts,
 * else -1: "aws: account 999999999999 is not in the environment's allowed
 * accounts (123456789012); nothing was changed". *account_out (new) when set. */
int fl_aws_check_account(struct fl_aws *aws, const struct fl_aws_target *t, char **account_out,
			 struct fl_error *err);

/* The selected instances as a new JSON array of objects {"id", "state",
 * "zone", "subnet"} ordered by id, after count/percent; -1 when one lacks
 * the required tag ("aws: instance i-1 of target 'web' lacks the required
 * tag faultline:environment=staging; nothing was changed"), or when nothing
 * is selected. `states` limits to instance states (NULL: not terminated). */
json_t *fl_aws_select_instances(struct fl_aws *aws, const struct fl_aws_target *t,
				const char *target_name, struct fl_error *err);

#endif
