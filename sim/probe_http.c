/*
 * probe_http: the http probe kind — GET (or another method) of url; ok when
 * the status matches expect_status (default any 2xx) and the body contains
 * expect_body. Samples go through the shared curl transport (probe_curl.c)
 * with connection reuse. See sim/probe_kind.h.
 */
#include "sim/probe_kind.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/url.h"

#include <stdio.h>
#include <string.h>

static size_t http_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct fl_buf *b = userp;
	size_t n = size * nmemb;
	size_t room = b->len < FL_PROBE_BODY_LIMIT ? FL_PROBE_BODY_LIMIT - b->len : 0;
	/* Keep the first 64 KiB and swallow the rest: a big page is not a
	 * failure, it just cannot hide the expected text past the cap. */
	if (room > 0)
		fl_buf_add(b, data, n < room ? n : room);
	return n;
}

/* Longest a kept-alive connection may sit idle and still be reused, in
 * whole seconds (CURLOPT_MAXAGE_CONN): three intervals, at least 1 s. */
static long http_maxage_s(const struct fl_probe_spec *spec)
{
	int64_t s =
		spec->interval_ns > 0 ? (3 * spec->interval_ns + FL_NS_PER_S - 1) / FL_NS_PER_S : 1;
	return s >= 1 ? (long)s : 1L;
}

static int http_setup(CURL *easy, const struct fl_probe_spec *spec, struct fl_buf *body)
{
	CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(easy, opt, val);                                     \
	} while (0)
	SET(CURLOPT_URL, spec->url);
	SET(CURLOPT_FORBID_REUSE, 0L);
	/* After a hang the cache holds one idle connection per sample that
	 * overlapped; let them age out. The connection in regular use is
	 * reused every interval and never gets this old. */
	SET(CURLOPT_MAXAGE_CONN, http_maxage_s(spec));
	SET(CURLOPT_WRITEFUNCTION, http_write_cb);
	SET(CURLOPT_WRITEDATA, body);
	if (spec->method && strcmp(spec->method, "GET") != 0)
		SET(CURLOPT_CUSTOMREQUEST, spec->method);
	if (spec->body)
		SET(CURLOPT_POSTFIELDS, spec->body);
#undef SET
	return rc == CURLE_OK ? 0 : -1;
}

static int http_judge(const struct fl_probe_spec *spec, CURL *easy, const struct fl_buf *body,
		      char *detail, size_t detail_len)
{
	char where[FL_URL_REDACTED_MAX];
	long status = 0;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (detail)
		fl_url_redact(spec->url, where, sizeof(where));
	if (spec->expect_status ? status != spec->expect_status : (status < 200 || status > 299)) {
		if (detail)
			snprintf(detail, detail_len, "HTTP %ld from %s", status, where);
		return 0;
	}
	if (spec->expect_body && spec->expect_body[0] &&
	    !memmem(body->buf, body->len, spec->expect_body, strlen(spec->expect_body))) {
		if (detail)
			snprintf(detail, detail_len, "HTTP %ld from %s without \"%s\" in the body",
				 status, where, spec->expect_body);
		return 0;
	}
	if (detail)
		snprintf(detail, detail_len, "HTTP %ld from %s", status, where);
	return 1;
}

static int http_ready(const struct fl_probe_spec *spec)
{
	return spec->url != NULL;
}

static int http_parse(struct fl_doc *doc, json_t *obj, struct fl_probe_spec *p, int is_check,
		      struct fl_error *err)
{
	(void)is_check;
	if (fl_probe_parse_max_latency(doc, obj, p, err) < 0 ||
	    fl_doc_string(doc, obj, "url", !p->target, &p->url, err) < 0 ||
	    fl_doc_string(doc, obj, "method", 0, &p->method, err) < 0 ||
	    fl_doc_string(doc, obj, "body", 0, &p->body, err) < 0 ||
	    fl_doc_int(doc, obj, "expect_status", 0, 100, 599, &p->expect_status, err) < 0 ||
	    fl_doc_string(doc, obj, "expect_body", 0, &p->expect_body, err) < 0)
		return -1;
	if (p->url && !fl_scenario_is_http_url(p->url))
		return fl_doc_error_member(doc, obj, "url", err,
					   "'url': expected an http:// or https:// URL");
	if (!p->method && !(p->method = fl_strdup("GET")))
		return fl_error_oom(err, "%s", fl_doc_file(doc));
	return 0;
}

const struct fl_probe_kind_ops fl_probe_kind_http = {
	.name = "http",
	.kind = FL_PROBE_HTTP,
	.parse = http_parse,
	.ready = http_ready,
	.cap = fl_probe_curl_cap,
	.attach = fl_probe_curl_attach,
	.detach = fl_probe_curl_detach,
	.send = fl_probe_curl_send,
	.abandon = fl_probe_curl_abandon,
	.check_once = fl_probe_curl_check_once,
	.curl_setup = http_setup,
	.curl_judge = http_judge,
};
