/*
 * aws: signed calls to AWS (see aws.h for what this module owns).
 *
 * Why libcurl's CURLOPT_AWS_SIGV4 and these exact headers: the AWS CLI signs
 * content-type, host and x-amz-date (plus x-amz-security-token with session
 * credentials). libcurl signs host, x-amz-date and every header we hand it,
 * so handing it exactly Content-Type (and X-Amz-Security-Token) gives the
 * same canonical request, hence a byte-identical Authorization header — the
 * signature test proves it for every operation faultline uses. The Query
 * body is encoded like botocore (RFC 3986 unreserved characters kept,
 * Action and Version first, then the parameters in the order given).
 */
#include <curl/curl.h>
#include <libxml/parser.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/aws.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"

#define AWS_ANSWER_LIMIT ((size_t)64 << 20)

struct aws_service {
	const char *cli;     /* "ec2", "elbv2": as the AWS CLI names it */
	const char *signing; /* SigV4 service name */
	const char *host;    /* endpoint prefix: https://<host>.<region>.amazonaws.com */
	const char *version; /* Query API version, NULL for REST-JSON */
	const char *target;  /* awsJson1.0 X-Amz-Target prefix, NULL for other protocols */
};

static const struct aws_service services[FL_AWS_NSERVICES] = {
	[FL_AWS_EC2] = { "ec2", "ec2", "ec2", "2016-11-15" },
	[FL_AWS_RDS] = { "rds", "rds", "rds", "2014-10-31" },
	[FL_AWS_ELBV2] = { "elbv2", "elasticloadbalancing", "elasticloadbalancing", "2015-12-01" },
	[FL_AWS_AUTOSCALING] = { "autoscaling", "autoscaling", "autoscaling", "2011-01-01" },
	/* CloudWatch answers the Query protocol too, but the AWS CLI now speaks
	 * awsJson1.0 to it (with x-amzn-query-mode), and so do we. */
	[FL_AWS_CLOUDWATCH] = { "cloudwatch", "monitoring", "monitoring", NULL,
				"GraniteServiceVersion20100801" },
	[FL_AWS_STS] = { "sts", "sts", "sts", "2011-06-15" },
	[FL_AWS_FIS] = { "fis", "fis", "fis", NULL },
	[FL_AWS_BACKUP] = { "backup", "backup", "backup", NULL },
};

struct fl_aws {
	CURL *curl;
	char *region;
	char *endpoint_url;
	char *access_key;
	char *secret_key;
	char *token_header; /* "X-Amz-Security-Token: ..." or NULL */
	const char *target; /* request line's path when it differs from the URL's, or NULL */
	char *target_buf;   /* owns target */
	int64_t timeout_ns, retry_budget_ns, backoff_base_ns, backoff_cap_ns;
	int max_attempts;
	long attempts;
	unsigned seed;
};

const char *fl_aws_service_name(enum fl_aws_service svc)
{
	return (unsigned)svc < FL_AWS_NSERVICES ? services[svc].cli : "?";
}

/* ---- libxml2 through fl_malloc ------------------------------------------ */

static char *xml_strdup(const char *s)
{
	return fl_strdup(s);
}

static void xml_init_once(void)
{
	/* Before any other libxml2 call, so every allocation it makes can be
	 * failed by the tests' allocation hook like ours. */
	xmlMemSetup(fl_free, fl_malloc, fl_realloc, xml_strdup);
	xmlInitParser();
}

void fl_aws_xml_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, xml_init_once);
}

/* ---- parameters ------------------------------------------------------------ */

void fl_aws_params_init(struct fl_aws_params *p)
{
	memset(p, 0, sizeof(*p));
}

void fl_aws_params_release(struct fl_aws_params *p)
{
	for (size_t i = 0; i < p->n; i++)
		fl_free(p->kv[i]);
	fl_free(p->kv);
	memset(p, 0, sizeof(*p));
}

void fl_aws_params_add(struct fl_aws_params *p, const char *name, const char *value)
{
	char *n, *v;

	if (p->failed)
		return;
	if (p->n + 2 > p->alloc) {
		size_t na = p->alloc ? p->alloc * 2 : 16;
		char **kv = fl_realloc(p->kv, na * sizeof(*kv));
		if (!kv) {
			p->failed = 1;
			return;
		}
		p->kv = kv;
		p->alloc = na;
	}
	n = fl_strdup(name);
	v = fl_strdup(value ? value : "");
	if (!n || !v) {
		fl_free(n);
		fl_free(v);
		p->failed = 1;
		return;
	}
	p->kv[p->n++] = n;
	p->kv[p->n++] = v;
}

void fl_aws_params_addf(struct fl_aws_params *p, const char *value, const char *name_fmt, ...)
{
	struct fl_buf b;
	va_list ap;

	fl_buf_init(&b, 4096);
	va_start(ap, name_fmt);
	fl_buf_addvf(&b, name_fmt, ap);
	va_end(ap);
	if (b.failed)
		p->failed = 1;
	else
		fl_aws_params_add(p, b.buf, value);
	fl_buf_release(&b);
}

/* ---- the client ------------------------------------------------------------- */

struct fl_aws *fl_aws_new(const struct fl_aws_config *cfg, struct fl_error *err)
{
	struct fl_aws *aws = fl_calloc(1, sizeof(*aws));
	struct fl_buf b;

	fl_aws_xml_init();
	if (!aws)
		goto oom;
	aws->region = fl_strdup(cfg->region);
	aws->endpoint_url = cfg->endpoint_url ? fl_strdup(cfg->endpoint_url) : NULL;
	aws->access_key = fl_strdup(cfg->creds.access_key);
	aws->secret_key = fl_strdup(cfg->creds.secret_key);
	if (!aws->region || !aws->access_key || !aws->secret_key ||
	    (cfg->endpoint_url && !aws->endpoint_url))
		goto oom;
	if (cfg->creds.session_token) {
		fl_buf_init(&b, 0);
		fl_buf_addf(&b, "X-Amz-Security-Token: %s", cfg->creds.session_token);
		aws->token_header = b.failed ? NULL : fl_buf_detach(&b);
		fl_buf_release(&b);
		if (!aws->token_header)
			goto oom;
	}
	aws->timeout_ns = cfg->timeout_ns > 0 ? cfg->timeout_ns : 20 * FL_NS_PER_S;
	aws->max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts : 5;
	aws->retry_budget_ns = cfg->retry_budget_ns > 0 ? cfg->retry_budget_ns : 60 * FL_NS_PER_S;
	aws->backoff_base_ns = cfg->backoff_base_ns > 0 ? cfg->backoff_base_ns : 200 * FL_NS_PER_MS;
	aws->backoff_cap_ns = cfg->backoff_cap_ns > 0 ? cfg->backoff_cap_ns : 5 * FL_NS_PER_S;
	aws->seed = (unsigned)fl_now_ns() ^ (unsigned)getpid();
	aws->curl = curl_easy_init();
	if (!aws->curl) {
		fl_aws_free(aws);
		fl_error_set(err, FL_EXIT_ENV, "aws: cannot initialise libcurl");
		return NULL;
	}
	return aws;
oom:
	fl_aws_free(aws);
	fl_error_oom(err, "aws client");
	return NULL;
}

static void wipe_free(char *s)
{
	if (s) {
		memset(s, 0, strlen(s));
		fl_free(s);
	}
}

void fl_aws_free(struct fl_aws *aws)
{
	if (!aws)
		return;
	if (aws->curl)
		curl_easy_cleanup(aws->curl);
	fl_free(aws->region);
	fl_free(aws->endpoint_url);
	fl_free(aws->access_key);
	wipe_free(aws->secret_key);
	wipe_free(aws->token_header);
	fl_free(aws);
}

long fl_aws_attempts(const struct fl_aws *aws)
{
	return aws ? aws->attempts : 0;
}

/* ---- one HTTP exchange ---------------------------------------------------------- */

struct exchange {
	long status;
	CURLcode cc;
	struct fl_buf body;
	char error_type[128]; /* REST-JSON x-amzn-ErrorType header */
};

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct fl_buf *b = ctx;

	if (fl_buf_add(b, data, size * n) < 0)
		return 0;
	return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct exchange *x = ctx;
	size_t len = size * n;
	static const char name[] = "x-amzn-errortype:";

	if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		const char *v = data + sizeof(name) - 1;
		size_t vl = len - (sizeof(name) - 1), i = 0;

		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		/* "Code:http://internal.amazon.com/..." keeps only the code. */
		while (i < vl && i < sizeof(x->error_type) - 1 && v[i] != ':' && v[i] != '\r' &&
		       v[i] != '\n')
			i++;
		memcpy(x->error_type, v, i);
		x->error_type[i] = '\0';
	}
	return len;
}

static int url_for(const struct fl_aws *aws, enum fl_aws_service svc, const char *path,
		   struct fl_buf *url)
{
	if (aws->endpoint_url) {
		const char *e = aws->endpoint_url, *scheme = strstr(e, "://");
		size_t l = strlen(e);
		int has_path = scheme && strchr(scheme + 3, '/') && e[l - 1] != '/';

		fl_buf_add(url, e, l && e[l - 1] == '/' ? l - 1 : l);
		/* Like botocore: an endpoint with a path of its own is the
		 * request path for "/" (the signature covers the path). */
		if (!(has_path && strcmp(path, "/") == 0))
			fl_buf_adds(url, path);
	} else {
		fl_buf_addf(url, "https://%s.%s.amazonaws.com", services[svc].host, aws->region);
		fl_buf_adds(url, path);
	}
	return url->failed ? -1 : 0;
}

/* Sends one signed request; fills x. -1 only for our own failures (oom). */
static int send_once(struct fl_aws *aws, enum fl_aws_service svc, const char *method,
		     const char *url, const char *const *extra, const char *body, size_t body_len,
		     struct exchange *x, struct fl_error *err)
{
	struct curl_slist *headers = NULL, *h;
	struct fl_buf provider;
	CURL *c = aws->curl;
	int rc = -1;

	fl_buf_init(&provider, 0);
	fl_buf_addf(&provider, "aws:amz:%s:%s", aws->region, services[svc].signing);
	if (provider.failed)
		goto oom;
	for (size_t i = 0; extra && extra[i]; i++) {
		if (!(h = curl_slist_append(headers, extra[i])))
			goto oom;
		headers = h;
	}
	if (aws->token_header) {
		if (!(h = curl_slist_append(headers, aws->token_header)))
			goto oom;
		headers = h;
	}
	/* No other header: libcurl signs every header it is handed (even
	 * "Expect:"), and the AWS CLI signs exactly these. */

	curl_easy_reset(c);
	fl_buf_reset(&x->body);
	x->error_type[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, provider.buf);
	curl_easy_setopt(c, CURLOPT_USERNAME, aws->access_key);
	curl_easy_setopt(c, CURLOPT_PASSWORD, aws->secret_key);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "faultline/" FAULTLINE_VERSION);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(aws->timeout_ns / FL_NS_PER_MS));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(aws->timeout_ns / FL_NS_PER_MS) < 10000L
				 ? (long)(aws->timeout_ns / FL_NS_PER_MS)
				 : 10000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (aws->target)
		curl_easy_setopt(c, CURLOPT_REQUEST_TARGET, aws->target);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	if (strcmp(method, "POST") != 0 || !body)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (!body && strcmp(method, "GET") == 0)
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	aws->attempts++;
	x->cc = curl_easy_perform(c);
	x->status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x->status);
	/* Nothing of the request (the password) outlives the call in the handle. */
	curl_easy_setopt(c, CURLOPT_PASSWORD, "");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	rc = 0;
	if (x->body.failed)
		rc = fl_error_oom(err, "aws %s answer", services[svc].cli);
	goto out;
oom:
	fl_error_oom(err, "aws %s request", services[svc].cli);
out:
	curl_slist_free_all(headers);
	fl_buf_release(&provider);
	return rc;
}

/* AWS's codes for "slow down": retried for every call (none was applied). */
static int is_throttle(const char *code)
{
	static const char *const codes[] = { "Throttling",
					     "ThrottlingException",
					     "ThrottledException",
					     "RequestThrottled",
					     "RequestLimitExceeded",
					     "TooManyRequestsException",
					     "RequestThrottledException",
					     "SlowDown",
					     "PriorRequestNotComplete",
					     "ProvisionedThroughputExceededException",
					     "EC2ThrottledException",
					     "BandwidthLimitExceeded",
					     NULL };
	for (size_t i = 0; code && codes[i]; i++)
		if (strcmp(code, codes[i]) == 0)
			return 1;
	return 0;
}

/* Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"):
 * sleep a random time up to min(cap, base * 2^attempt). */
static int64_t backoff(struct fl_aws *aws, int attempt)
{
	int64_t ceil = aws->backoff_base_ns;

	for (int i = 1; i < attempt && ceil < aws->backoff_cap_ns; i++)
		ceil *= 2;
	if (ceil > aws->backoff_cap_ns)
		ceil = aws->backoff_cap_ns;
	return (int64_t)((double)ceil * ((double)rand_r(&aws->seed) / ((double)RAND_MAX + 1.0)));
}

/* ---- errors from answers ------------------------------------------------------------ */

/* The Code and Message of an AWS XML error document (EC2's
 * Response/Errors/Error or the others' ErrorResponse/Error). 1 when found. */
static int xml_error(const struct fl_buf *body, char *code, size_t ncode, char *msg, size_t nmsg)
{
	xmlDoc *doc;
	xmlNode *root, *e;
	char *c, *m;
	int found = 0;

	if (!body->len)
		return 0;
	doc = xmlReadMemory(body->buf, (int)body->len, "aws-error.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc)
		return 0;
	root = xmlDocGetRootElement(doc);
	e = fl_aws_xml_path(root, "Errors/Error");
	if (!e)
		e = fl_aws_xml_child(root, "Error");
	if (e) {
		c = fl_aws_xml_text(e, "Code");
		m = fl_aws_xml_text(e, "Message");
		if (c) {
			snprintf(code, ncode, "%s", c);
			snprintf(msg, nmsg, "%s", m ? m : "");
			found = 1;
		}
		fl_free(c);
		fl_free(m);
	}
	xmlFreeDoc(doc);
	return found;
}

static int json_error(const struct exchange *x, char *code, size_t ncode, char *msg, size_t nmsg)
{
	json_t *j = x->body.len ? json_loadb(x->body.buf, x->body.len, 0, NULL) : NULL;
	const char *c = x->error_type[0] ? x->error_type : NULL, *m = NULL;

	if (json_is_object(j)) {
		if (!c)
			c = json_string_value(json_object_get(j, "__type"));
		if (!c)
			c = json_string_value(json_object_get(j, "code"));
		m = json_string_value(json_object_get(j, "message"));
		if (!m)
			m = json_string_value(json_object_get(j, "Message"));
	}
	if (c) {
		const char *hash = strrchr(c, '#'); /* "aws.protocol#Code" */
		snprintf(code, ncode, "%s", hash ? hash + 1 : c);
		snprintf(msg, nmsg, "%s", m ? m : "");
	}
	json_decref(j);
	return c != NULL;
}

/* Sends with retries. On success (2xx) returns 0 with the answer in x->body.
 * Else -1 with the one-line error "aws <svc> <op>: ...". */
static int call(struct fl_aws *aws, enum fl_aws_service svc, const char *op, const char *method,
		const char *path, const char *const *extra, const char *body, size_t body_len,
		int mutating, int is_json, struct exchange *x, struct fl_error *err)
{
	struct fl_buf url;
	int64_t start = fl_now_ns();
	char code[128], msg[512], tbuf[32];
	int attempt, rc = -1;

	fl_buf_init(&url, 0);
	if (url_for(aws, svc, path, &url) < 0)
		return fl_error_oom(err, "aws %s %s", services[svc].cli, op);
	for (attempt = 1;; attempt++) {
		int retry = 0, have = 0;

		if (send_once(aws, svc, method, url.buf, extra, body, body_len, x, err) < 0)
			goto out;
		code[0] = msg[0] = '\0';
		if (x->cc == CURLE_OK && x->status >= 200 && x->status < 300) {
			rc = 0;
			goto out;
		}
		if (x->cc == CURLE_OK) {
			have = is_json ? json_error(x, code, sizeof(code), msg, sizeof(msg))
				       : xml_error(&x->body, code, sizeof(code), msg, sizeof(msg));
			/* A throttled call was not applied; a 5xx might have been,
			 * so a mutating one is not sent twice on a 5xx. */
			retry = (have && is_throttle(code)) || x->status == 429 ||
				(x->status >= 500 && !mutating);
		} else {
			/* Refused or unresolvable: nothing reached AWS. A timeout
			 * may have, so it is retried only for reads. */
			retry = x->cc == CURLE_COULDNT_CONNECT ||
				x->cc == CURLE_COULDNT_RESOLVE_HOST ||
				(!mutating &&
				 (x->cc == CURLE_OPERATION_TIMEDOUT || x->cc == CURLE_RECV_ERROR ||
				  x->cc == CURLE_GOT_NOTHING || x->cc == CURLE_SEND_ERROR));
		}
		if (retry && attempt < aws->max_attempts) {
			int64_t pause = backoff(aws, attempt);
			if (fl_now_ns() + pause - start <= aws->retry_budget_ns) {
				struct timespec ts = { (time_t)(pause / FL_NS_PER_S),
						       (long)(pause % FL_NS_PER_S) };
				nanosleep(&ts, NULL);
				continue;
			}
		}
		/* Final: one line, with how hard we tried when we did retry. */
		if (x->cc != CURLE_OK && x->cc == CURLE_OPERATION_TIMEDOUT)
			fl_error_set(err, FL_EXIT_ENV, "aws %s %s: no answer from %s within %s%s",
				     services[svc].cli, op, url.buf,
				     fl_duration_format(aws->timeout_ns, tbuf, sizeof(tbuf)),
				     attempt > 1 ? " (retried)" : "");
		else if (x->cc != CURLE_OK)
			fl_error_set(err, FL_EXIT_ENV,
				     "aws %s %s: cannot reach %s: %s (%d attempt%s)",
				     services[svc].cli, op, url.buf, curl_easy_strerror(x->cc),
				     attempt, attempt == 1 ? "" : "s");
		else if (have && attempt > 1)
			fl_error_set(err, FL_EXIT_ENV,
				     "aws %s %s: %s: %s (gave up after %d attempts)",
				     services[svc].cli, op, code, msg, attempt);
		else if (have)
			fl_error_set(err, FL_EXIT_ENV, "aws %s %s: %s: %s", services[svc].cli, op,
				     code, msg);
		else
			fl_error_set(err, FL_EXIT_ENV,
				     "aws %s %s: HTTP %ld without an AWS error document (%d attempt%s)",
				     services[svc].cli, op, x->status, attempt,
				     attempt == 1 ? "" : "s");
		goto out;
	}
out:
	fl_buf_release(&url);
	return rc;
}

static void query_body(CURL *c, const char *action, const char *version,
		       const struct fl_aws_params *params, struct fl_buf *body)
{
	fl_buf_addf(body, "Action=%s&Version=%s", action, version);
	for (size_t i = 0; params && i + 1 < params->n; i += 2) {
		char *k = curl_easy_escape(c, params->kv[i], 0);
		char *v = curl_easy_escape(c, params->kv[i + 1], 0);

		if (!k || !v)
			body->failed = 1;
		else
			fl_buf_addf(body, "&%s=%s", k, v);
		curl_free(k);
		curl_free(v);
	}
}

xmlDoc *fl_aws_query(struct fl_aws *aws, enum fl_aws_service svc, const char *action,
		     const struct fl_aws_params *params, int mutating, struct fl_error *err)
{
	struct exchange x;
	struct fl_buf body;
	xmlDoc *doc = NULL;

	if ((unsigned)svc >= FL_AWS_NSERVICES || !services[svc].version) {
		fl_error_set(err, FL_EXIT_ENV, "aws: %s is not a Query-protocol service",
			     fl_aws_service_name(svc));
		return NULL;
	}
	memset(&x, 0, sizeof(x));
	fl_buf_init(&x.body, AWS_ANSWER_LIMIT);
	fl_buf_init(&body, 0);
	if (params && params->failed) {
		fl_error_oom(err, "aws %s %s", services[svc].cli, action);
		goto out;
	}
	query_body(aws->curl, action, services[svc].version, params, &body);
	if (body.failed) {
		fl_error_oom(err, "aws %s %s", services[svc].cli, action);
		goto out;
	}
	static const char *const extra[] = {
		"Content-Type: application/x-www-form-urlencoded; charset=utf-8", NULL
	};
	if (call(aws, svc, action, "POST", "/", extra, body.buf, body.len, mutating, 0, &x, err) < 0)
		goto out;
	doc = xmlReadMemory(x.body.buf, (int)x.body.len, "aws.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc || !xmlDocGetRootElement(doc)) {
		if (doc)
			xmlFreeDoc(doc);
		doc = NULL;
		fl_error_set(err, FL_EXIT_ENV, "aws %s %s: the answer is not an XML document",
			     services[svc].cli, action);
	}
out:
	fl_buf_release(&body);
	fl_buf_release(&x.body);
	return doc;
}

int fl_aws_query_pages(struct fl_aws *aws, enum fl_aws_service svc, const char *action,
		       const struct fl_aws_params *params, const char *token_param,
		       const char *token_path,
		       int (*page)(xmlDoc *doc, void *ctx, struct fl_error *err), void *ctx,
		       struct fl_error *err)
{
	char *token = NULL;
	int rc = -1, pages = 0;

	for (;;) {
		struct fl_aws_params p;
		xmlDoc *doc;
		char *next;

		fl_aws_params_init(&p);
		for (size_t i = 0; params && i + 1 < params->n; i += 2)
			fl_aws_params_add(&p, params->kv[i], params->kv[i + 1]);
		if (params && params->failed)
			p.failed = 1;
		if (token)
			fl_aws_params_add(&p, token_param, token);
		doc = fl_aws_query(aws, svc, action, &p, 0, err);
		fl_aws_params_release(&p);
		if (!doc)
			break;
		if (page(doc, ctx, err) < 0) {
			xmlFreeDoc(doc);
			break;
		}
		next = fl_aws_xml_text(xmlDocGetRootElement(doc), token_path);
		xmlFreeDoc(doc);
		fl_free(token);
		token = NULL;
		if (!next || !*next) {
			fl_free(next);
			rc = 0;
			break;
		}
		/* A service that hands back the same token forever would loop. */
		if (++pages > 10000) {
			fl_free(next);
			fl_error_set(err, FL_EXIT_ENV, "aws %s %s: more than 10000 pages",
				     services[svc].cli, action);
			break;
		}
		token = next;
	}
	fl_free(token);
	return rc;
}

/* *canon: path with every '%' of its path part (not the query) encoded
 * again; aws->target: the request line's target, the endpoint's own path
 * (if any) then path. */
static int rest_target(struct fl_aws *aws, const char *path, char **canon, struct fl_error *err)
{
	const char *e = aws->endpoint_url, *sch = e ? strstr(e, "://") : NULL;
	const char *ep = sch ? strchr(sch + 3, '/') : NULL;
	size_t qpos = strcspn(path, "?");
	struct fl_buf c, t;

	fl_buf_init(&c, 0);
	fl_buf_init(&t, 0);
	for (size_t i = 0; path[i]; i++)
		fl_buf_add(&c, i < qpos && path[i] == '%' ? "%25" : path + i,
			   i < qpos && path[i] == '%' ? 3 : 1);
	if (ep)
		fl_buf_add(&t, ep, strlen(ep) - (ep[strlen(ep) - 1] == '/'));
	fl_buf_adds(&t, path);
	if (c.failed || t.failed) {
		fl_buf_release(&c);
		fl_buf_release(&t);
		return fl_error_oom(err, "aws request");
	}
	*canon = fl_buf_detach(&c);
	aws->target = aws->target_buf = fl_buf_detach(&t);
	return 0;
}

json_t *fl_aws_rest_json(struct fl_aws *aws, enum fl_aws_service svc, const char *operation,
			 const char *method, const char *path, const json_t *body, int mutating,
			 struct fl_error *err)
{
	struct exchange x;
	char *text = NULL, *canon = NULL;
	json_t *answer = NULL;
	json_error_t jerr;
	int rc;

	memset(&x, 0, sizeof(x));
	fl_buf_init(&x.body, AWS_ANSWER_LIMIT);
	/* Flags 0: separated like the AWS CLI's body (see fl_aws_json). */
	if (body && !(text = json_dumps(body, 0))) {
		fl_error_oom(err, "aws %s %s", fl_aws_service_name(svc), operation);
		goto out;
	}
	static const char *const extra[] = { "Content-Type: application/json", NULL };
	/* SigV4 signs a REST path encoded twice (an ARN's "%3A" as "%253A"), as
	 * botocore does; libcurl signs the URL's path as it stands. So the URL
	 * carries the twice-encoded path and the request line the real one. */
	if (strchr(path, '%') && rest_target(aws, path, &canon, err) < 0)
		goto out;
	rc = call(aws, svc, operation, method, canon ? canon : path, text ? extra : NULL, text,
		  text ? strlen(text) : 0, mutating, 1, &x, err);
	aws->target = NULL;
	if (rc < 0)
		goto out;
	if (!x.body.len)
		answer = json_object();
	else
		answer = json_loadb(x.body.buf, x.body.len, 0, &jerr);
	if (!answer)
		fl_error_set(err, FL_EXIT_ENV, "aws %s %s: the answer is not JSON: %s",
			     fl_aws_service_name(svc), operation, x.body.len ? jerr.text : "empty");
out:
	if (text) {
		json_free_t jfree;
		json_get_alloc_funcs(NULL, &jfree);
		jfree(text);
	}
	fl_free(canon);
	fl_free(aws->target_buf);
	aws->target_buf = NULL;
	fl_buf_release(&x.body);
	return answer;
}

json_t *fl_aws_json(struct fl_aws *aws, enum fl_aws_service svc, const char *action,
		    const json_t *body, int mutating, struct fl_error *err)
{
	struct exchange x;
	struct fl_buf target;
	char *text = NULL;
	json_t *answer = NULL;
	json_error_t jerr;
	const char *extra[4];

	memset(&x, 0, sizeof(x));
	fl_buf_init(&x.body, AWS_ANSWER_LIMIT);
	fl_buf_init(&target, 0);
	if ((unsigned)svc >= FL_AWS_NSERVICES || !services[svc].target) {
		fl_error_set(err, FL_EXIT_ENV, "aws: %s is not a JSON-protocol service",
			     fl_aws_service_name(svc));
		goto out;
	}
	fl_buf_addf(&target, "X-Amz-Target: %s.%s", services[svc].target, action);
	/* Flags 0: jansson then separates like Python's json.dumps (", ", ": "),
	 * which is what the AWS CLI signs; keys keep their insertion order. */
	text = body ? json_dumps(body, 0) : NULL;
	if (target.failed || (body && !text)) {
		fl_error_oom(err, "aws %s %s", fl_aws_service_name(svc), action);
		goto out;
	}
	extra[0] = "Content-Type: application/x-amz-json-1.0";
	extra[1] = target.buf;
	extra[2] = "x-amzn-query-mode: true";
	extra[3] = NULL;
	if (call(aws, svc, action, "POST", "/", extra, text ? text : "{}", text ? strlen(text) : 2,
		 mutating, 1, &x, err) < 0)
		goto out;
	answer = x.body.len ? json_loadb(x.body.buf, x.body.len, 0, &jerr) : json_object();
	if (!answer)
		fl_error_set(err, FL_EXIT_ENV, "aws %s %s: the answer is not JSON: %s",
			     fl_aws_service_name(svc), action, jerr.text);
out:
	if (text) {
		json_free_t jfree;
		json_get_alloc_funcs(NULL, &jfree);
		jfree(text);
	}
	fl_buf_release(&target);
	fl_buf_release(&x.body);
	return answer;
}
