/*
 * aws_common: the guarded start shared by the aws.* injectors (aws_common.h).
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "injectors/aws_common.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"

int fl_aws_is_target(const struct fl_target *target)
{
	const char *p = target && target->json
				? json_string_value(json_object_get(target->json, "provider"))
				: NULL;
	return target && target->kind == FL_TARGET_CLOUD && p && strcmp(p, "aws") == 0;
}

int fl_aws_guard(const struct fl_target *target, struct fl_aws_target *t, struct fl_aws **aws,
		 char **account, struct fl_error *err)
{
	*aws = NULL;
	*account = NULL;
	if (fl_aws_target_load(target->json, t, err) < 0)
		return -1;
	if (!(*aws = fl_aws_target_client(t, err)) ||
	    fl_aws_check_account(*aws, t, account, err) < 0) {
		fl_aws_free(*aws);
		*aws = NULL;
		fl_aws_target_release(t);
		return -1;
	}
	return 0;
}

json_t *fl_aws_prepare_selection(const char *fault, const struct fl_target *target,
				 struct fl_aws **aws, json_t **sel, struct fl_error *err)
{
	struct fl_aws_target t;
	char *account;
	json_t *rec = NULL;

	*sel = NULL;
	if (fl_aws_guard(target, &t, aws, &account, err) < 0)
		return NULL;
	if ((*sel = fl_aws_select_instances(*aws, &t, target->name, err)) &&
	    !(rec = fl_aws_record_new(fault, target, &t, account)))
		fl_error_oom(err, "aws fault '%s'", fault);
	if (!rec) {
		json_decref(*sel);
		*sel = NULL;
		fl_aws_free(*aws);
		*aws = NULL;
	}
	fl_free(account);
	fl_aws_target_release(&t);
	return rec;
}

json_t *fl_aws_record_new(const char *fault, const struct fl_target *target,
			  const struct fl_aws_target *t, const char *account)
{
	return json_pack("{s:s, s:s, s:s?, s:s?, s:s}", "fault", fault, "target", target->name,
			 "region", t->region, "endpoint_url", t->endpoint_url, "account", account);
}

struct fl_aws *fl_aws_record_client(const json_t *rec, struct fl_error *err)
{
	struct fl_aws_config cfg;
	struct fl_aws *aws;

	if (fl_aws_config_load(&cfg, json_string_value(json_object_get(rec, "region")),
			       json_string_value(json_object_get(rec, "endpoint_url")), err) < 0)
		return NULL;
	aws = fl_aws_new(&cfg, err);
	fl_aws_config_release(&cfg);
	return aws;
}

char *fl_aws_rest_path(const char *prefix, const char *id, const char *suffix)
{
	/* The handle is unused by curl_easy_escape since curl 7.82. */
	char *enc = curl_easy_escape(NULL, id, 0);
	struct fl_buf b;

	if (!enc)
		return NULL;
	fl_buf_init(&b, 0);
	fl_buf_addf(&b, "%s%s%s", prefix, enc, suffix ? suffix : "");
	curl_free(enc);
	if (b.failed) {
		fl_buf_release(&b);
		return NULL;
	}
	return fl_buf_detach(&b);
}

char *fl_aws_unique_token(void)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "faultline-%" PRIx64 "-%lx", (uint64_t)fl_wall_ns(),
		 (unsigned long)getpid());
	return fl_strdup(buf);
}

static int add_unique(json_t *out, const char *id)
{
	size_t i;
	json_t *v;

	if (!id || !*id)
		return 0;
	json_array_foreach(out, i, v)
		if (strcmp(json_string_value(v), id) == 0)
			return 0;
	return json_array_append_new(out, json_string(id));
}

json_t *fl_aws_record_resources(const json_t *rec)
{
	static const char *const lists[][2] = { { "instances", "id" },
						{ "targets", "id" },
						{ "subnets", "subnet" } };
	json_t *out = json_array(), *v;
	size_t i;
	int rc = 0;

	if (!out)
		return NULL;
	for (size_t l = 0; l < FL_ARRAY_LEN(lists); l++)
		json_array_foreach(json_object_get(rec, lists[l][0]), i, v)
			rc |= add_unique(out, json_is_string(v)
						      ? json_string_value(v)
						      : json_string_value(
								json_object_get(v, lists[l][1])));
	rc |= add_unique(out, json_string_value(json_object_get(rec, "cluster")));
	rc |= add_unique(out, json_string_value(json_object_get(rec, "instance")));
	if (rc < 0) {
		json_decref(out);
		return NULL;
	}
	return out;
}
