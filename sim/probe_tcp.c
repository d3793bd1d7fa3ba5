/*
 * probe_tcp: the tcp probe kind — ok when a TCP connect to host:port
 * succeeds. Through the shared curl transport (probe_curl.c) as
 * CURLOPT_CONNECT_ONLY, connecting afresh every sample: reusing a
 * connection would prove nothing about the listener. See sim/probe_kind.h.
 */
#include "sim/probe_kind.h"
#include "core/alloc.h"

#include <stdio.h>
#include <string.h>

static int tcp_setup(CURL *easy, const struct fl_probe_spec *spec, struct fl_buf *body)
{
	struct fl_buf url;
	CURLcode rc = CURLE_OK;
	(void)body;
	fl_buf_init(&url, 0);
	if (spec->host && strchr(spec->host, ':'))
		fl_buf_addf(&url, "http://[%s]:%ld/", spec->host, spec->port);
	else
		fl_buf_addf(&url, "http://%s:%ld/", spec->host ? spec->host : "", spec->port);
	if (url.failed) {
		fl_buf_release(&url);
		return -1;
	}
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(easy, opt, val);                                     \
	} while (0)
	SET(CURLOPT_URL, url.buf); /* libcurl keeps its own copy */
	SET(CURLOPT_CONNECT_ONLY, 1L);
	SET(CURLOPT_FRESH_CONNECT, 1L);
	SET(CURLOPT_FORBID_REUSE, 1L);
#undef SET
	fl_buf_release(&url);
	return rc == CURLE_OK ? 0 : -1;
}

static int tcp_judge(const struct fl_probe_spec *spec, CURL *easy, const struct fl_buf *body,
		     char *detail, size_t detail_len)
{
	(void)easy;
	(void)body;
	if (detail)
		snprintf(detail, detail_len, "connected to %s:%ld", spec->host, spec->port);
	return 1;
}

static int tcp_ready(const struct fl_probe_spec *spec)
{
	return spec->host && spec->port > 0;
}

static int tcp_parse(struct fl_doc *doc, json_t *obj, struct fl_probe_spec *p, int is_check,
		     struct fl_error *err)
{
	(void)is_check;
	if (fl_probe_parse_max_latency(doc, obj, p, err) < 0 ||
	    fl_doc_string(doc, obj, "host", !p->target, &p->host, err) < 0 ||
	    fl_doc_int(doc, obj, "port", !p->target, 1, 65535, &p->port, err) < 0)
		return -1;
	return 0;
}

const struct fl_probe_kind_ops fl_probe_kind_tcp = {
	.name = "tcp",
	.kind = FL_PROBE_TCP,
	.parse = tcp_parse,
	.ready = tcp_ready,
	.cap = fl_probe_curl_cap,
	.attach = fl_probe_curl_attach,
	.detach = fl_probe_curl_detach,
	.send = fl_probe_curl_send,
	.abandon = fl_probe_curl_abandon,
	.check_once = fl_probe_curl_check_once,
	.curl_setup = tcp_setup,
	.curl_judge = tcp_judge,
};
