/*
 * aws_common: what the aws.* injectors share.
 *
 * Owns: recognising an AWS cloud target, the guarded start of every aws.*
 * prepare() (target read, client made, caller's account checked against the
 * allow-list — read-only, before any mutating call), and a client rebuilt
 * from a revert record (region and endpoint as recorded, credentials found
 * again at revert time so none is ever journaled), REST paths with an
 * encoded identifier, unique tokens.
 * Does not own: the AWS client (core/aws.c), targets (core/aws_target.c).
 */
#ifndef FAULTLINE_INJECTORS_AWS_COMMON_H
#define FAULTLINE_INJECTORS_AWS_COMMON_H

#include <jansson.h>

#include "core/aws.h"
#include "core/aws_target.h"
#include "core/environment.h"

int fl_aws_is_target(const struct fl_target *target);

/* Loads the target into *t, makes *aws and checks the account (*account,
 * new). 0, or -1 with err set and nothing to release. */
int fl_aws_guard(const struct fl_target *target, struct fl_aws_target *t, struct fl_aws **aws,
		 char **account, struct fl_error *err);

/* The start of a family acting on the target's selected instances: the
 * guard, then the selection (fl_aws_select_instances: refused when one
 * lacks the required tag, or none is selected), then the record. A new
 * record, *sel the selection (new) and *aws the client (the caller frees
 * both); or NULL with err set and nothing to free. */
json_t *fl_aws_prepare_selection(const char *fault, const struct fl_target *target,
				 struct fl_aws **aws, json_t **sel, struct fl_error *err);

/* A new record with the members every aws.* record has. */
json_t *fl_aws_record_new(const char *fault, const struct fl_target *target,
			  const struct fl_aws_target *t, const char *account);

struct fl_aws *fl_aws_record_client(const json_t *rec, struct fl_error *err);

/* A REST path: prefix, id percent-encoded as botocore encodes a URI label
 * (only RFC 3986 unreserved characters kept: an ARN's ':' and '/' are
 * encoded), then suffix. New string (fl_free) or NULL (out of memory). */
char *fl_aws_rest_path(const char *prefix, const char *id, const char *suffix);

/* A token unique to this process and instant ("faultline-<hex>"), for
 * idempotency tokens and the tag that finds what a drill started. New
 * string or NULL. */
char *fl_aws_unique_token(void);
/* The ops' `resources` of every aws.* family: the IDs a record names —
 * "instances" (strings or objects with "id"), "targets" (objects with
 * "id"), "subnets" (objects with "subnet"), "cluster", "instance" — once
 * each, in record order. New array, or NULL when out of memory. */
json_t *fl_aws_record_resources(const json_t *rec);

#endif
