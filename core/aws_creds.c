/*
 * aws_creds: where an AWS call goes and as whom, found like the AWS CLI does.
 *
 * Owns: fl_aws_config_load/release — credentials from the environment, else
 * from the shared credentials file, else from the config file (the CLI's
 * order for static keys); the region and the endpoint override. The INI
 * reading here is the few lines the AWS files need ([section], key = value,
 * # and ; comments), not a general parser. Does not own: signing (libcurl,
 * core/aws.c). A secret read here is only ever handed to libcurl; messages
 * name the file and the profile, never a value.
 */
#include <stdlib.h>
#include <string.h>

#include "core/aws.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"

#define AWS_FILE_LIMIT ((size_t)1 << 20)

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Value of key in [section] of the INI file at path: 1 found (*out new
 * string), 0 absent (also when the file does not exist), -1 on error. */
static int ini_get(const char *path, const char *section, const char *key, char **out,
		   struct fl_error *err)
{
	struct fl_buf b;
	struct fl_error ferr;
	char *line, *next;
	int in_section = 0, rc = 0;

	fl_buf_init(&b, AWS_FILE_LIMIT);
	fl_error_init(&ferr);
	if (fl_read_file(path, AWS_FILE_LIMIT, &b, &ferr) < 0) {
		/* A missing file is the common case (keys in the environment). */
		fl_buf_release(&b);
		return 0;
	}
	for (line = b.buf; line && *line; line = next) {
		char *eq, *s;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		s = trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']');
			if (!end)
				continue;
			*end = '\0';
			in_section = strcmp(trim(s + 1), section) == 0;
			continue;
		}
		if (!in_section || !(eq = strchr(s, '=')))
			continue;
		*eq = '\0';
		if (strcmp(trim(s), key) == 0) {
			*out = fl_strdup(trim(eq + 1));
			rc = *out ? 1 : fl_error_oom(err, "aws: %s", path);
			break;
		}
	}
	fl_buf_release(&b);
	return rc;
}

/* A file path from env var `var`, else ~/.aws/<name>; new string or NULL (oom). */
static char *aws_file(const char *var, const char *name)
{
	const char *v = getenv(var), *home = getenv("HOME");
	struct fl_buf b;

	fl_buf_init(&b, 0);
	if (v && *v)
		fl_buf_adds(&b, v);
	else
		fl_buf_addf(&b, "%s/.aws/%s", home ? home : "", name);
	if (b.failed) {
		fl_buf_release(&b);
		return NULL;
	}
	return fl_buf_detach(&b);
}

static int dup_env(const char *var, char **out)
{
	const char *v = getenv(var);

	if (!v || !*v)
		return 0;
	*out = fl_strdup(v);
	return *out ? 1 : -1;
}

void fl_aws_config_release(struct fl_aws_config *cfg)
{
	if (!cfg)
		return;
	fl_free(cfg->region);
	fl_free(cfg->endpoint_url);
	fl_free(cfg->creds.access_key);
	if (cfg->creds.secret_key) {
		/* Not left in freed memory for a later core dump to show. */
		memset(cfg->creds.secret_key, 0, strlen(cfg->creds.secret_key));
		fl_free(cfg->creds.secret_key);
	}
	if (cfg->creds.session_token) {
		memset(cfg->creds.session_token, 0, strlen(cfg->creds.session_token));
		fl_free(cfg->creds.session_token);
	}
	fl_free(cfg->creds.source);
	memset(cfg, 0, sizeof(*cfg));
}

/* Keys of `section` in the INI file at path. 1 when both keys were found. */
static int creds_from_file(struct fl_aws_config *cfg, const char *path, const char *section,
			   struct fl_error *err)
{
	int a, s;

	if ((a = ini_get(path, section, "aws_access_key_id", &cfg->creds.access_key, err)) < 0 ||
	    (s = ini_get(path, section, "aws_secret_access_key", &cfg->creds.secret_key, err)) < 0 ||
	    ini_get(path, section, "aws_session_token", &cfg->creds.session_token, err) < 0)
		return -1;
	if (a == 1 && s == 1)
		return 1;
	fl_free(cfg->creds.access_key);
	fl_free(cfg->creds.secret_key);
	fl_free(cfg->creds.session_token);
	cfg->creds.access_key = cfg->creds.secret_key = cfg->creds.session_token = NULL;
	return 0;
}

/* Credentials: the environment as a pair, then the profile's files.
 * 0, or -1 with err set. */
static int config_creds(struct fl_aws_config *cfg, const char *profile, const char *cred_path,
			const char *conf_path, const char *conf_section, struct fl_error *err)
{
	struct fl_buf b;
	int found;

	if (dup_env("AWS_ACCESS_KEY_ID", &cfg->creds.access_key) < 0 ||
	    dup_env("AWS_SECRET_ACCESS_KEY", &cfg->creds.secret_key) < 0 ||
	    (cfg->creds.access_key && cfg->creds.secret_key &&
	     dup_env("AWS_SESSION_TOKEN", &cfg->creds.session_token) < 0))
		return fl_error_oom(err, "aws credentials");
	found = cfg->creds.access_key && cfg->creds.secret_key;
	if (found) {
		cfg->creds.source = fl_strdup("environment");
	} else {
		fl_free(cfg->creds.access_key);
		fl_free(cfg->creds.secret_key);
		cfg->creds.access_key = cfg->creds.secret_key = NULL;
		if ((found = creds_from_file(cfg, cred_path, profile, err)) < 0)
			return -1;
		if (!found && (found = creds_from_file(cfg, conf_path, conf_section, err)) < 0)
			return -1;
		if (found) {
			fl_buf_init(&b, 0);
			fl_buf_addf(&b, "profile %s", profile);
			cfg->creds.source = b.failed ? NULL : fl_buf_detach(&b);
			fl_buf_release(&b);
		}
	}
	if (!found)
		return fl_error_set(err, FL_EXIT_ENV,
				    "aws: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
				    "or profile '%s' in %s or %s",
				    profile, cred_path, conf_path);
	if (!cfg->creds.source)
		return fl_error_oom(err, "aws credentials");
	return 0;
}

/* Region: the environment file, the process environment, the profile; then
 * the endpoint override. 0, or -1 with err set. */
static int config_region(struct fl_aws_config *cfg, const char *region, const char *endpoint_url,
			 const char *profile, const char *conf_path, const char *conf_section,
			 struct fl_error *err)
{
	if (region && *region) {
		if (!(cfg->region = fl_strdup(region)))
			return fl_error_oom(err, "aws region");
	} else {
		int r = dup_env("AWS_REGION", &cfg->region);

		if (r == 0)
			r = dup_env("AWS_DEFAULT_REGION", &cfg->region);
		if (r == 0)
			r = ini_get(conf_path, conf_section, "region", &cfg->region, err);
		if (r < 0)
			return fl_error_oom(err, "aws region");
		if (r == 0)
			return fl_error_set(err, FL_EXIT_ENV,
					    "aws: no region: set 'region' in the environment file, "
					    "AWS_REGION, or region in profile '%s' of %s",
					    profile, conf_path);
	}
	if (endpoint_url && *endpoint_url) {
		if (!(cfg->endpoint_url = fl_strdup(endpoint_url)))
			return fl_error_oom(err, "aws endpoint");
	} else if (dup_env("AWS_ENDPOINT_URL", &cfg->endpoint_url) < 0) {
		return fl_error_oom(err, "aws endpoint");
	}
	return 0;
}

int fl_aws_config_load(struct fl_aws_config *cfg, const char *region, const char *endpoint_url,
		       struct fl_error *err)
{
	const char *profile = getenv("AWS_PROFILE");
	char *cred_path = NULL, *conf_path = NULL, *conf_section = NULL;
	struct fl_buf b;
	int rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	cfg->timeout_ns = 20 * FL_NS_PER_S;
	cfg->max_attempts = 5;
	cfg->retry_budget_ns = 60 * FL_NS_PER_S;
	cfg->backoff_base_ns = 200 * FL_NS_PER_MS;
	cfg->backoff_cap_ns = 5 * FL_NS_PER_S;
	if (!profile || !*profile)
		profile = "default";
	cred_path = aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
	conf_path = aws_file("AWS_CONFIG_FILE", "config");
	fl_buf_init(&b, 0);
	if (strcmp(profile, "default") == 0)
		fl_buf_adds(&b, "default");
	else
		fl_buf_addf(&b, "profile %s", profile);
	conf_section = b.failed ? NULL : fl_buf_detach(&b);
	fl_buf_release(&b);
	if (!cred_path || !conf_path || !conf_section)
		fl_error_oom(err, "aws configuration");
	else if (config_creds(cfg, profile, cred_path, conf_path, conf_section, err) == 0 &&
		 config_region(cfg, region, endpoint_url, profile, conf_path, conf_section, err) == 0)
		rc = 0;
	fl_free(cred_path);
	fl_free(conf_path);
	fl_free(conf_section);
	if (rc < 0)
		fl_aws_config_release(cfg);
	return rc;
}
