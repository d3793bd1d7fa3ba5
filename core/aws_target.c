/*
 * aws_target: cloud targets on AWS and the read-only guardrails (aws_target.h).
 */
#include <stdlib.h>
#include <string.h>

#include "core/aws_target.h"
#include "core/alloc.h"
#include "core/buf.h"

static int strv_has(char *const *v, const char *s)
{
	for (size_t i = 0; v && v[i]; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

/* The target's `select` object: ids / tags / zone, then count or percent;
 * never a whole account. */
static int mark_select(struct fl_doc *doc, json_t *obj, struct fl_error *err)
{
	char *zone = NULL, **ids = NULL;
	json_t *select, *tags, *v;
	const char *k;
	long count = 0, percent = 0;
	int rc = -1;

	select = fl_doc_object(doc, obj, "select", 1, err);
	if (!select)
		return -1;
	if (fl_doc_strv(doc, select, "ids", 0, &ids, err) < 0 ||
	    fl_doc_string(doc, select, "zone", 0, &zone, err) < 0 ||
	    fl_doc_int(doc, select, "count", 0, 1, 100000, &count, err) < 0 ||
	    fl_doc_int(doc, select, "percent", 0, 1, 100, &percent, err) < 0)
		goto out;
	tags = fl_doc_object(doc, select, "tags", 0, err);
	if (fl_error_is_set(err))
		goto out;
	json_object_foreach(tags, k, v)
		if (!json_is_string(v)) {
			fl_doc_error_value(doc, v, err, "select.tags: '%s': expected a string", k);
			goto out;
		}
	if (count && percent) {
		fl_doc_error_key(doc, select, "percent", err,
				 "select: 'count' and 'percent' exclude each other");
		goto out;
	}
	if (!ids && !zone && json_object_size(tags) == 0) {
		fl_doc_error_member(doc, obj, "select", err,
				    "'select': name 'ids', 'tags' or 'zone' (a drill never selects a whole account)");
		goto out;
	}
	rc = fl_doc_check_keys(doc, select, err);
out:
	fl_free(zone);
	fl_strv_free(ids);
	return rc;
}

int fl_aws_target_mark(struct fl_doc *doc, json_t *obj, struct fl_error *err)
{
	char *provider = NULL, *region = NULL, *endpoint = NULL, *tag = NULL;
	char **accounts = NULL;
	int rc = -1;

	if (fl_doc_string(doc, obj, "provider", 1, &provider, err) < 0)
		goto out;
	if (strcmp(provider, "aws") != 0) {
		fl_doc_error_member(doc, obj, "provider", err,
				    "'provider': unknown cloud provider '%s' (expected aws)",
				    provider);
		goto out;
	}
	if (fl_doc_string(doc, obj, "region", 0, &region, err) < 0 ||
	    fl_doc_strv(doc, obj, "accounts", 1, &accounts, err) < 0 ||
	    fl_doc_string(doc, obj, "endpoint_url", 0, &endpoint, err) < 0 ||
	    fl_doc_string(doc, obj, "required_tag", 1, &tag, err) < 0)
		goto out;
	if (!accounts[0]) {
		fl_doc_error_member(doc, obj, "accounts", err,
				    "'accounts': list at least one AWS account ID that may be changed");
		goto out;
	}
	for (size_t i = 0; accounts[i]; i++)
		if (strlen(accounts[i]) != 12 || strspn(accounts[i], "0123456789") != 12) {
			fl_doc_error_member(doc, obj, "accounts", err,
					    "'accounts': '%s' is not a 12-digit AWS account ID",
					    accounts[i]);
			goto out;
		}
	if (!strchr(tag, '=') || tag[0] == '=') {
		fl_doc_error_member(doc, obj, "required_tag", err,
				    "'required_tag': expected KEY=VALUE, like \"faultline:environment=staging\"");
		goto out;
	}
	if (endpoint && strncmp(endpoint, "http://", 7) != 0 &&
	    strncmp(endpoint, "https://", 8) != 0) {
		fl_doc_error_member(doc, obj, "endpoint_url", err,
				    "'endpoint_url': expected an http:// or https:// URL");
		goto out;
	}
	rc = mark_select(doc, obj, err);
out:
	fl_free(provider);
	fl_free(region);
	fl_free(endpoint);
	fl_free(tag);
	fl_strv_free(accounts);
	return rc;
}

static int jstrdup(const json_t *obj, const char *key, char **out)
{
	const char *s = json_string_value(json_object_get(obj, key));

	if (!s)
		return 0;
	*out = fl_strdup(s);
	return *out ? 0 : -1;
}

static char **jstrv(const json_t *arr, int *oom)
{
	size_t n = json_array_size(arr), i;
	char **v;

	if (!json_is_array(arr))
		return NULL;
	v = fl_calloc(n + 1, sizeof(*v));
	if (!v) {
		*oom = 1;
		return NULL;
	}
	for (i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(arr, i));
		if (!(v[i] = fl_strdup(s ? s : ""))) {
			*oom = 1;
			fl_strv_free(v);
			return NULL;
		}
	}
	return v;
}

void fl_aws_target_release(struct fl_aws_target *t)
{
	fl_free(t->region);
	fl_free(t->endpoint_url);
	fl_strv_free(t->accounts);
	fl_free(t->tag_key);
	fl_free(t->tag_value);
	fl_strv_free(t->ids);
	json_decref(t->tags);
	fl_free(t->zone);
	memset(t, 0, sizeof(*t));
}

int fl_aws_target_load(const json_t *obj, struct fl_aws_target *t, struct fl_error *err)
{
	const json_t *select = json_object_get(obj, "select");
	const char *tag = json_string_value(json_object_get(obj, "required_tag")), *eq;
	int oom = 0;

	memset(t, 0, sizeof(*t));
	if (!tag || !(eq = strchr(tag, '=')) || !json_is_array(json_object_get(obj, "accounts")))
		return fl_error_set(err, FL_EXIT_INPUT,
				    "aws target: 'accounts' and 'required_tag' are required");
	if (jstrdup(obj, "region", &t->region) < 0 ||
	    jstrdup(obj, "endpoint_url", &t->endpoint_url) < 0 ||
	    !(t->tag_key = fl_strndup(tag, (size_t)(eq - tag))) ||
	    !(t->tag_value = fl_strdup(eq + 1)) || jstrdup(select, "zone", &t->zone) < 0)
		goto oom;
	t->accounts = jstrv(json_object_get(obj, "accounts"), &oom);
	t->ids = jstrv(json_object_get(select, "ids"), &oom);
	if (oom || !t->accounts)
		goto oom;
	if (json_is_object(json_object_get(select, "tags")) &&
	    !(t->tags = json_deep_copy(json_object_get(select, "tags"))))
		goto oom;
	t->count = (long)json_integer_value(json_object_get(select, "count"));
	t->percent = (long)json_integer_value(json_object_get(select, "percent"));
	return 0;
oom:
	fl_aws_target_release(t);
	return fl_error_oom(err, "aws target");
}

struct fl_aws *fl_aws_target_client(const struct fl_aws_target *t, struct fl_error *err)
{
	struct fl_aws_config cfg;
	struct fl_aws *aws;

	if (fl_aws_config_load(&cfg, t->region, t->endpoint_url, err) < 0)
		return NULL;
	aws = fl_aws_new(&cfg, err);
	fl_aws_config_release(&cfg);
	return aws;
}

int fl_aws_check_account(struct fl_aws *aws, const struct fl_aws_target *t, char **account_out,
			 struct fl_error *err)
{
	xmlDoc *doc = fl_aws_query(aws, FL_AWS_STS, "GetCallerIdentity", NULL, 0, err);
	char *account;
	struct fl_buf allowed;
	int rc = -1;

	if (!doc)
		return -1;
	account = fl_aws_xml_text(xmlDocGetRootElement(doc), "GetCallerIdentityResult/Account");
	xmlFreeDoc(doc);
	if (!account)
		return fl_error_set(err, FL_EXIT_ENV,
				    "aws sts GetCallerIdentity: no Account in the answer");
	if (strv_has(t->accounts, account)) {
		rc = 0;
	} else {
		fl_buf_init(&allowed, 0);
		for (size_t i = 0; t->accounts[i]; i++)
			fl_buf_addf(&allowed, "%s%s", i ? ", " : "", t->accounts[i]);
		fl_error_set(err, FL_EXIT_ENV,
			     "aws: account %s is not in the environment's allowed accounts (%s); "
			     "nothing was changed",
			     account, allowed.failed ? "?" : allowed.buf);
		fl_buf_release(&allowed);
	}
	if (rc == 0 && account_out)
		*account_out = account;
	else
		fl_free(account);
	return rc;
}

struct select_ctx {
	const struct fl_aws_target *t;
	const char *target_name;
	json_t *out;
};

static int has_tag(xmlNode *inst, const char *key, const char *value)
{
	for (xmlNode *i = fl_aws_xml_path(inst, "tagSet/item"); i; i = fl_aws_xml_next(i))
		if (fl_aws_xml_text_is(i, "key", key))
			return fl_aws_xml_text_is(i, "value", value);
	return 0;
}

static int select_page(xmlDoc *doc, void *ctx, struct fl_error *err)
{
	struct select_ctx *c = ctx;
	xmlNode *root = xmlDocGetRootElement(doc);

	for (xmlNode *r = fl_aws_xml_path(root, "reservationSet/item"); r; r = fl_aws_xml_next(r))
		for (xmlNode *i = fl_aws_xml_path(r, "instancesSet/item"); i; i = fl_aws_xml_next(i)) {
			char *id = fl_aws_xml_text(i, "instanceId");
			char *state = fl_aws_xml_text(i, "instanceState/name");
			char *zone = fl_aws_xml_text(i, "placement/availabilityZone");
			char *subnet = fl_aws_xml_text(i, "subnetId");
			json_t *o = NULL;
			int rc = 0;

			if (!id || !state) {
				rc = fl_error_set(err, FL_EXIT_ENV,
						  "aws ec2 DescribeInstances: an instance without id or state");
			} else if (strcmp(state, "terminated") == 0 ||
				   strcmp(state, "shutting-down") == 0) {
				rc = 0; /* gone or going: nothing to break or revert */
			} else if (!has_tag(i, c->t->tag_key, c->t->tag_value)) {
				rc = fl_error_set(err, FL_EXIT_ENV,
						  "aws: instance %s of target '%s' lacks the required tag %s=%s; "
						  "nothing was changed",
						  id, c->target_name, c->t->tag_key, c->t->tag_value);
			} else {
				o = json_pack("{s:s, s:s, s:s?, s:s?}", "id", id, "state", state,
					      "zone", zone, "subnet", subnet);
				if (!o || json_array_append_new(c->out, o) < 0)
					rc = fl_error_oom(err, "aws instances");
			}
			fl_free(id);
			fl_free(state);
			fl_free(zone);
			fl_free(subnet);
			if (rc < 0)
				return -1;
		}
	return 0;
}

static int by_id(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;

	return strcmp(json_string_value(json_object_get(x, "id")),
		      json_string_value(json_object_get(y, "id")));
}

json_t *fl_aws_select_instances(struct fl_aws *aws, const struct fl_aws_target *t,
				const char *target_name, struct fl_error *err)
{
	struct fl_aws_params p;
	struct select_ctx c = { t, target_name, json_array() };
	json_t *v, *sorted = NULL, **items = NULL;
	const char *k;
	size_t n, keep, f = 0;

	fl_aws_params_init(&p);
	if (!c.out)
		goto oom;
	/* Filters first, then InstanceIds: the API model's order (the AWS CLI's). */
	json_object_foreach(t->tags, k, v) {
		struct fl_buf b;

		f++;
		fl_buf_init(&b, 0);
		fl_buf_addf(&b, "tag:%s", k);
		if (b.failed)
			p.failed = 1;
		else
			fl_aws_params_addf(&p, b.buf, "Filter.%zu.Name", f);
		fl_buf_release(&b);
		fl_aws_params_addf(&p, json_string_value(v), "Filter.%zu.Value.1", f);
	}
	if (t->zone) {
		f++;
		fl_aws_params_addf(&p, "availability-zone", "Filter.%zu.Name", f);
		fl_aws_params_addf(&p, t->zone, "Filter.%zu.Value.1", f);
	}
	for (size_t i = 0; t->ids && t->ids[i]; i++)
		fl_aws_params_addf(&p, t->ids[i], "InstanceId.%zu", i + 1);
	if (p.failed)
		goto oom;
	if (fl_aws_query_pages(aws, FL_AWS_EC2, "DescribeInstances", &p, "NextToken", "nextToken",
			       select_page, &c, err) < 0)
		goto fail;
	n = json_array_size(c.out);
	if (n == 0) {
		fl_error_set(err, FL_EXIT_ENV,
			     "aws: target '%s' selects no instance; nothing was changed",
			     target_name);
		goto fail;
	}
	items = fl_calloc(n, sizeof(*items));
	if (!items || !(sorted = json_array()))
		goto oom;
	for (size_t i = 0; i < n; i++)
		items[i] = json_array_get(c.out, i);
	qsort(items, n, sizeof(*items), by_id);
	keep = n;
	if (t->count && (size_t)t->count < n)
		keep = (size_t)t->count;
	if (t->percent)
		keep = (n * (size_t)t->percent + 99) / 100;
	for (size_t i = 0; i < keep; i++)
		if (json_array_append(sorted, items[i]) < 0)
			goto oom;
	fl_free(items);
	json_decref(c.out);
	fl_aws_params_release(&p);
	return sorted;
oom:
	fl_error_oom(err, "aws instance selection");
fail:
	fl_free(items);
	json_decref(sorted);
	json_decref(c.out);
	fl_aws_params_release(&p);
	return NULL;
}
