/*
 * Unit tests for core/aws.c, core/aws_creds.c and core/aws_target.c that need
 * no endpoint: credentials and region found in the AWS CLI's order (the
 * environment, then the shared credentials file, then the config file's
 * "[profile x]"), no secret in any message, the XML helpers on EC2- and
 * Query-style documents, loading an AWS cloud target with its errors at
 * file:line:col, and allocation failure in the client's construction.
 * Calls against an endpoint are in tests/integration/test_aws_*.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/aws.h"
#include "core/aws_target.h"
#include "core/environment.h"
#include "core/error.h"
#include "injectors/aws_common.h"
#include "injectors/injector.h"

static char dir[] = "/tmp/faultline-test-aws-XXXXXX";
static char cred_path[256], conf_path[256];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void clean_env(void)
{
	static const char *const vars[] = { "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
					    "AWS_SESSION_TOKEN", "AWS_PROFILE",
					    "AWS_REGION",        "AWS_DEFAULT_REGION",
					    "AWS_ENDPOINT_URL",  NULL };
	for (size_t i = 0; vars[i]; i++)
		unsetenv(vars[i]);
	setenv("AWS_SHARED_CREDENTIALS_FILE", cred_path, 1);
	setenv("AWS_CONFIG_FILE", conf_path, 1);
}

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(cred_path, sizeof(cred_path), "%s/credentials", dir);
	snprintf(conf_path, sizeof(conf_path), "%s/config", dir);
	write_file(cred_path, "# shared credentials\n[default]\naws_access_key_id = AKIADEFAULT\n"
			      "aws_secret_access_key = secret-default\n\n[staging]\n"
			      "aws_access_key_id=AKIASTAGING\naws_secret_access_key=secret-staging\n"
			      "aws_session_token = token-staging\n");
	write_file(conf_path,
		   "[default]\nregion = us-east-1\n[profile staging]\nregion = eu-west-1\n"
		   "[profile onlyconf]\nregion = eu-central-1\naws_access_key_id = AKIACONF\n"
		   "aws_secret_access_key = secret-conf\n");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(cred_path);
	unlink(conf_path);
	rmdir(dir);
	return 0;
}

static void test_creds_environment_first(void **state)
{
	struct fl_aws_config cfg;
	struct fl_error err;
	(void)state;
	clean_env();
	setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret-env", 1);
	setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000", 1);
	fl_error_init(&err);
	assert_int_equal(fl_aws_config_load(&cfg, NULL, NULL, &err), 0);
	assert_string_equal(cfg.creds.access_key, "AKIAENV");
	assert_string_equal(cfg.creds.secret_key, "secret-env");
	assert_null(cfg.creds.session_token);
	assert_string_equal(cfg.creds.source, "environment");
	assert_string_equal(cfg.region, "ap-south-1");
	assert_string_equal(cfg.endpoint_url, "http://127.0.0.1:5000");
	fl_aws_config_release(&cfg);
	/* The environment file's region and endpoint win. */
	assert_int_equal(fl_aws_config_load(&cfg, "eu-north-1", "http://127.0.0.1:1", &err), 0);
	assert_string_equal(cfg.region, "eu-north-1");
	assert_string_equal(cfg.endpoint_url, "http://127.0.0.1:1");
	fl_aws_config_release(&cfg);
}

static void test_creds_profiles(void **state)
{
	struct fl_aws_config cfg;
	struct fl_error err;
	(void)state;
	clean_env();
	fl_error_init(&err);
	assert_int_equal(fl_aws_config_load(&cfg, NULL, NULL, &err), 0);
	assert_string_equal(cfg.creds.access_key, "AKIADEFAULT");
	assert_string_equal(cfg.region, "us-east-1");
	assert_string_equal(cfg.creds.source, "profile default");
	fl_aws_config_release(&cfg);

	setenv("AWS_PROFILE", "staging", 1);
	assert_int_equal(fl_aws_config_load(&cfg, NULL, NULL, &err), 0);
	assert_string_equal(cfg.creds.access_key, "AKIASTAGING");
	assert_string_equal(cfg.creds.session_token, "token-staging");
	assert_string_equal(cfg.region, "eu-west-1"); /* "[profile staging]" of the config */
	fl_aws_config_release(&cfg);

	/* Keys only in the config file are found there. */
	setenv("AWS_PROFILE", "onlyconf", 1);
	assert_int_equal(fl_aws_config_load(&cfg, NULL, NULL, &err), 0);
	assert_string_equal(cfg.creds.access_key, "AKIACONF");
	assert_string_equal(cfg.region, "eu-central-1");
	fl_aws_config_release(&cfg);

	/* A half pair in the environment is not used: the profile is. */
	setenv("AWS_PROFILE", "staging", 1);
	setenv("AWS_ACCESS_KEY_ID", "AKIAHALF", 1);
	assert_int_equal(fl_aws_config_load(&cfg, NULL, NULL, &err), 0);
	assert_string_equal(cfg.creds.access_key, "AKIASTAGING");
	fl_aws_config_release(&cfg);
}

static void test_creds_missing_names_no_secret(void **state)
{
	struct fl_aws_config cfg;
	struct fl_error err;
	(void)state;
	clean_env();
	setenv("AWS_PROFILE", "nosuch", 1);
	fl_error_init(&err);
	assert_int_equal(fl_aws_config_load(&cfg, NULL, NULL, &err), -1);
	assert_int_equal(err.code, FL_EXIT_ENV);
	assert_non_null(strstr(err.msg, "aws: no credentials"));
	assert_non_null(strstr(err.msg, "profile 'nosuch'"));
	assert_null(strstr(err.msg, "secret"));

	/* Credentials but no region anywhere. */
	setenv("AWS_PROFILE", "staging", 1);
	setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
	fl_error_init(&err);
	assert_int_equal(fl_aws_config_load(&cfg, NULL, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "aws: no region"));
	assert_null(strstr(err.msg, "secret-staging"));
}

static void test_xml_helpers(void **state)
{
	static const char ec2[] =
		"<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
		"<reservationSet><item><instancesSet>"
		"<item><instanceId>i-1</instanceId><instanceState><name>running</name></instanceState></item>"
		"<item><instanceId>i-2</instanceId><instanceState><name>stopped</name></instanceState></item>"
		"</instancesSet></item></reservationSet><nextToken>abc</nextToken></DescribeInstancesResponse>";
	xmlDoc *doc;
	xmlNode *root, *i;
	char *t;
	int n = 0;
	(void)state;
	fl_aws_xml_init();
	doc = xmlReadMemory(ec2, (int)strlen(ec2), "x.xml", NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	root = xmlDocGetRootElement(doc);
	for (i = fl_aws_xml_path(root, "reservationSet/item/instancesSet/item"); i;
	     i = fl_aws_xml_next(i))
		n++;
	assert_int_equal(n, 2);
	t = fl_aws_xml_text(root, "nextToken");
	assert_string_equal(t, "abc");
	fl_free(t);
	assert_true(fl_aws_xml_text_is(fl_aws_xml_path(root, "reservationSet/item/instancesSet/item"),
				       "instanceState/name", "running"));
	assert_null(fl_aws_xml_text(root, "nosuch/path"));
	xmlFreeDoc(doc);
}

static void test_params(void **state)
{
	struct fl_aws_params p;
	(void)state;
	fl_aws_params_init(&p);
	for (int i = 1; i <= 40; i++)
		fl_aws_params_addf(&p, "v", "InstanceId.%d", i);
	assert_false(p.failed);
	assert_int_equal(p.n, 80);
	assert_string_equal(p.kv[78], "InstanceId.40");
	fl_aws_params_release(&p);
	/* Allocation failure is sticky and leaks nothing. */
	fl_aws_params_init(&p);
	fl_alloc_fail_after(1);
	fl_aws_params_add(&p, "a", "b");
	fl_alloc_fail_after(-1);
	assert_true(p.failed);
	fl_aws_params_add(&p, "c", "d");
	assert_int_equal(p.n, 0);
	fl_aws_params_release(&p);
}

static const char *env_text(const char *target)
{
	static char buf[2048];
	snprintf(buf, sizeof(buf),
		 "{ \"name\": \"t\", \"production\": false,\n  \"targets\": { \"web\": %s } }",
		 target);
	return buf;
}

static void expect_env_error(const char *target, const char *msg)
{
	struct fl_error err;
	struct fl_doc *doc;
	struct fl_environment *env;

	fl_error_init(&err);
	doc = fl_doc_load_string("env.json", env_text(target), &err);
	assert_non_null(doc);
	env = fl_environment_from_doc(doc, &err);
	if (env)
		fail_msg("accepted: %s", target);
	if (!strstr(err.msg, msg))
		fail_msg("got '%s', expected '%s'", err.msg, msg);
	assert_int_equal(err.code, FL_EXIT_INPUT);
}

static void test_target_load(void **state)
{
	struct fl_error err;
	struct fl_doc *doc;
	struct fl_environment *env;
	struct fl_aws_target t;
	(void)state;
	fl_error_init(&err);
	doc = fl_doc_load_string("env.json",
				 env_text("{ \"kind\": \"cloud\", \"provider\": \"aws\", \"region\": \"eu-west-1\",\n"
					  "  \"accounts\": [\"123456789012\"], \"required_tag\": \"faultline:environment=staging\",\n"
					  "  \"select\": { \"tags\": { \"app\": \"web\" }, \"zone\": \"eu-west-1a\", \"count\": 2 } }"),
				 &err);
	assert_non_null(doc);
	env = fl_environment_from_doc(doc, &err);
	if (!env)
		fail_msg("%s", err.msg);
	assert_int_equal(fl_aws_target_load(fl_environment_target(env, "web")->json, &t, &err), 0);
	assert_string_equal(t.region, "eu-west-1");
	assert_string_equal(t.accounts[0], "123456789012");
	assert_string_equal(t.tag_key, "faultline:environment");
	assert_string_equal(t.tag_value, "staging");
	assert_string_equal(t.zone, "eu-west-1a");
	assert_int_equal(t.count, 2);
	assert_string_equal(json_string_value(json_object_get(t.tags, "app")), "web");
	fl_aws_target_release(&t);
	fl_environment_free(env);

	expect_env_error("{ \"kind\": \"cloud\", \"provider\": \"gcp\" }",
			 "env.json:2:54: 'provider': unknown cloud provider 'gcp' (expected aws)");
	expect_env_error("{ \"kind\": \"cloud\", \"provider\": \"aws\", \"accounts\": [\"12\"],"
			 " \"required_tag\": \"a=b\", \"select\": { \"ids\": [\"i-1\"] } }",
			 "'accounts': '12' is not a 12-digit AWS account ID");
	expect_env_error("{ \"kind\": \"cloud\", \"provider\": \"aws\", \"accounts\": [\"123456789012\"],"
			 " \"required_tag\": \"nokey\", \"select\": { \"ids\": [\"i-1\"] } }",
			 "'required_tag': expected KEY=VALUE");
	expect_env_error("{ \"kind\": \"cloud\", \"provider\": \"aws\", \"accounts\": [\"123456789012\"],"
			 " \"required_tag\": \"a=b\", \"select\": { \"count\": 1 } }",
			 "'select': name 'ids', 'tags' or 'zone'");
	expect_env_error("{ \"kind\": \"cloud\", \"provider\": \"aws\", \"accounts\": [\"123456789012\"],"
			 " \"required_tag\": \"a=b\", \"select\": { \"ids\": [\"i-1\"], \"bogus\": 1 } }",
			 "unknown key 'bogus'");
	expect_env_error("{ \"kind\": \"cloud\", \"provider\": \"aws\", \"accounts\": [\"123456789012\"],"
			 " \"required_tag\": \"a=b\" }",
			 "missing key 'select'");
}

static void test_client_alloc_failure(void **state)
{
	struct fl_aws_config cfg;
	struct fl_error err;
	struct fl_aws *aws;
	int failed = 0;
	(void)state;
	clean_env();
	setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret-env", 1);
	setenv("AWS_SESSION_TOKEN", "token", 1);
	setenv("AWS_REGION", "eu-west-1", 1);
	for (long n = 1; n < 200; n++) {
		fl_error_init(&err);
		fl_alloc_fail_after(n);
		if (fl_aws_config_load(&cfg, NULL, "http://127.0.0.1:1", &err) < 0) {
			fl_alloc_fail_after(-1);
			assert_non_null(strstr(err.msg, "out of memory"));
			failed++;
			continue;
		}
		aws = fl_aws_new(&cfg, &err);
		fl_alloc_fail_after(-1);
		if (!aws) {
			assert_non_null(strstr(err.msg, "out of memory"));
			failed++;
		}
		fl_aws_free(aws);
		fl_aws_config_release(&cfg);
		if (aws)
			break;
	}
	assert_true(failed > 5);
}

/* What each aws.* record counts against the blast radius: every resource
 * it would touch, once. */
static void expect_resources(const char *record, const char *want)
{
	json_t *rec = json_loads(record, 0, NULL), *ids, *w = json_loads(want, 0, NULL);
	assert_non_null(rec);
	assert_non_null(w);
	ids = fl_aws_record_resources(rec);
	assert_non_null(ids);
	if (!json_equal(ids, w)) {
		char *got = json_dumps(ids, JSON_COMPACT);
		fail_msg("resources of %s: got %s, want %s", record, got, want);
	}
	json_decref(ids);
	json_decref(w);
	json_decref(rec);
}

static void test_record_resources(void **state)
{
	(void)state;
	/* aws.ec2: instance objects; a repeated ID counts once */
	expect_resources("{\"instances\": [{\"id\": \"i-1\"}, {\"id\": \"i-2\"}, {\"id\": \"i-1\"}]}",
			 "[\"i-1\", \"i-2\"]");
	/* aws.asg_terminate: instance ID strings */
	expect_resources("{\"group\": \"g\", \"instances\": [\"i-3\"]}", "[\"i-3\"]");
	/* aws.elb_deregister: targets with ports */
	expect_resources("{\"targets\": [{\"id\": \"i-4\", \"port\": \"80\"}]}", "[\"i-4\"]");
	/* aws.az_outage: every subnet of the zone, and the instances it stops */
	expect_resources("{\"instances\": [\"i-5\"], \"subnets\": [{\"subnet\": \"subnet-1\", \"acl\": "
			 "\"acl-1\"}, {\"subnet\": \"subnet-2\", \"acl\": \"acl-1\"}]}",
			 "[\"i-5\", \"subnet-1\", \"subnet-2\"]");
	/* aws.rds_failover: the cluster, or the instance */
	expect_resources("{\"cluster\": \"aur\", \"writer\": \"aur-a\"}", "[\"aur\"]");
	expect_resources("{\"instance\": \"db-1\", \"zone\": \"eu-west-1a\"}", "[\"db-1\"]");
	/* the families that select cloud resources count them */
	static const char *const families[] = { "aws.ec2", "aws.elb_deregister", "aws.asg_terminate",
						"aws.rds_failover", "aws.az_outage" };
	for (size_t i = 0; i < FL_ARRAY_LEN(families); i++) {
		assert_non_null(fl_injector_find(families[i]));
		assert_ptr_equal(fl_injector_find(families[i])->resources, fl_aws_record_resources);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_creds_environment_first),
		cmocka_unit_test(test_creds_profiles),
		cmocka_unit_test(test_creds_missing_names_no_secret),
		cmocka_unit_test(test_xml_helpers),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_target_load),
		cmocka_unit_test(test_client_alloc_failure),
		cmocka_unit_test(test_record_resources),
	};
	fl_alloc_install_jansson();
	return cmocka_run_group_tests(tests, setup, teardown);
}
