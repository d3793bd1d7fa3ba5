/*
 * aws: the one AWS client faultline talks to AWS (or an emulator) through.
 *
 * Owns: where calls go and as whom (struct fl_aws_config: region, endpoint
 * override, credentials found in the AWS CLI's order), signing (libcurl's
 * CURLOPT_AWS_SIGV4 — no HMAC of our own; the request is built exactly as the
 * AWS CLI builds it so the signature is byte-identical, see
 * tests/integration/test_aws_sigv4.sh), Query-protocol calls (EC2, RDS,
 * ELBv2, Auto Scaling, STS) whose XML answers are parsed with libxml2,
 * awsJson1.0 calls (CloudWatch) and REST-JSON calls (FIS, Backup) parsed
 * with jansson, following
 * NextToken/Marker pages to the end, bounded retries on throttling and 5xx
 * with capped exponential backoff and full jitter, a per-request timeout, and
 * one-line errors "aws ec2 StopInstances: Code: Message". Secrets never leave
 * this module: no message, journal record or trace carries them.
 * Does not own: what is asked of AWS (injectors/aws_*.c), guardrails
 * (injectors/aws_common.c), the environment file (core/environment.c).
 */
#ifndef FAULTLINE_CORE_AWS_H
#define FAULTLINE_CORE_AWS_H

#include <stdint.h>
#include <jansson.h>
#include <libxml/tree.h>

#include "core/error.h"

struct fl_aws_creds {
	char *access_key;
	char *secret_key;
	char *session_token; /* or NULL */
	char *source; /* where they came from ("environment", "profile staging"), never the secret */
};

struct fl_aws_config {
	char *region;
	char *endpoint_url; /* every service at this URL (emulators), or NULL for AWS's own */
	struct fl_aws_creds creds;
	int64_t timeout_ns;      /* per request (default 20s) */
	int max_attempts;        /* per call, retries included (default 5) */
	int64_t retry_budget_ns; /* all attempts of one call (default 60s) */
	int64_t backoff_base_ns; /* first backoff ceiling (default 200ms), doubled per attempt */
	int64_t backoff_cap_ns;  /* (default 5s) */
};

/* Fills cfg. region/endpoint_url given by the environment file win; else
 * AWS_REGION, AWS_DEFAULT_REGION, the profile's region; endpoint from
 * AWS_ENDPOINT_URL. Credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
 * (+AWS_SESSION_TOKEN), else profile AWS_PROFILE (or "default") from
 * AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials), then AWS_CONFIG_FILE
 * (~/.aws/config, "[profile x]" sections). 0, or -1 with err (FL_EXIT_ENV)
 * naming what is missing — never a secret. */
int fl_aws_config_load(struct fl_aws_config *cfg, const char *region, const char *endpoint_url,
		       struct fl_error *err);
void fl_aws_config_release(struct fl_aws_config *cfg);

/* The services faultline calls. */
enum fl_aws_service {
	FL_AWS_EC2,
	FL_AWS_RDS,
	FL_AWS_ELBV2,
	FL_AWS_AUTOSCALING,
	FL_AWS_CLOUDWATCH,
	FL_AWS_STS,
	FL_AWS_FIS,
	FL_AWS_BACKUP,
	FL_AWS_NSERVICES
};
/* The CLI's name of the service ("ec2", "elbv2") for messages and dry runs. */
const char *fl_aws_service_name(enum fl_aws_service svc);

/* A client: one curl handle reused across calls. */
struct fl_aws;
struct fl_aws *fl_aws_new(const struct fl_aws_config *cfg, struct fl_error *err);
void fl_aws_free(struct fl_aws *aws);
/* Calls sent (attempts included) since the client was made, for tests and the bench. */
long fl_aws_attempts(const struct fl_aws *aws);

/* Query-protocol parameters: a growable list of name=value pairs kept in the
 * order they are added (the AWS CLI adds them in the API model's order; the
 * signature test depends on it). */
struct fl_aws_params {
	char **kv; /* name0, value0, name1, value1, ... */
	size_t n, alloc;
	int failed;
};
void fl_aws_params_init(struct fl_aws_params *p);
void fl_aws_params_release(struct fl_aws_params *p);
void fl_aws_params_add(struct fl_aws_params *p, const char *name, const char *value);
void fl_aws_params_addf(struct fl_aws_params *p, const char *value, const char *name_fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One Query-protocol call. Returns the parsed answer (xmlFreeDoc) or NULL
 * with err set: "aws ec2 StopInstances: Code: Message" (FL_EXIT_ENV).
 * `mutating` calls are never retried after an answer that may mean the call
 * took effect (a 5xx, a timeout): only throttling and connection failures,
 * which AWS documents as not applied, are retried for them. */
xmlDoc *fl_aws_query(struct fl_aws *aws, enum fl_aws_service svc, const char *action,
		     const struct fl_aws_params *params, int mutating, struct fl_error *err);

/* Calls action once per page, passing each page to `page` (return -1 with err
 * to stop), until the answer carries no token. token_param is the request
 * parameter ("NextToken", "Marker"), token_path the answer's element path
 * below the root ("nextToken", "DescribeDBClustersResult/Marker"). Read-only. */
int fl_aws_query_pages(struct fl_aws *aws, enum fl_aws_service svc, const char *action,
		       const struct fl_aws_params *params, const char *token_param,
		       const char *token_path,
		       int (*page)(xmlDoc *doc, void *ctx, struct fl_error *err), void *ctx,
		       struct fl_error *err);

/* One awsJson1.0 call (CloudWatch): the body's keys in the API model's
 * order (the signature test depends on it); NULL sends "{}". Returns the
 * answer or NULL with err set, like fl_aws_query. */
json_t *fl_aws_json(struct fl_aws *aws, enum fl_aws_service svc, const char *action,
		    const json_t *body, int mutating, struct fl_error *err);

/* One REST-JSON call (FIS, Backup): method, path ("/experiments"), a body
 * or NULL. Returns the answer (json_decref; an empty object for an empty
 * body) or NULL with err set. */
json_t *fl_aws_rest_json(struct fl_aws *aws, enum fl_aws_service svc, const char *operation,
			 const char *method, const char *path, const json_t *body, int mutating,
			 struct fl_error *err);

/* ---- XML helpers: elements by local name, namespaces ignored ------------- */
/* First child element of n named name, or NULL. */
xmlNode *fl_aws_xml_child(xmlNode *n, const char *name);
/* Follows a '/'-separated path of child names from n; NULL when absent. */
xmlNode *fl_aws_xml_path(xmlNode *n, const char *path);
/* Next sibling element named like n, or NULL (iterate "item"/"member" lists). */
xmlNode *fl_aws_xml_next(xmlNode *n);
/* Text of the element at path below n as a new string (fl_free), NULL when absent. */
char *fl_aws_xml_text(xmlNode *n, const char *path);
/* Same compared in place: 1 when the text at path equals s. */
int fl_aws_xml_text_is(xmlNode *n, const char *path, const char *s);

/* Routes libxml2's allocations through fl_malloc (once; called by fl_aws_new). */
void fl_aws_xml_init(void);

#endif
