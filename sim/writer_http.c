/*
 * writer_http: the http writer driver — POST {"seq": N, "tag": run_tag} to
 * url; 2xx with a JSON body holding "id" or "seq" = acknowledged; read_url
 * (plus ?tag=run_tag) answers a JSON array of the sequence numbers present
 * (or {"seqs": [...]}). See sim/writer_driver.h.
 */
#include "sim/writer_driver.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/url.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define WRITER_HTTP_BODY_LIMIT ((size_t)1 << 20)
#define WRITER_HTTP_READ_LIMIT ((size_t)64 << 20)

struct http_conn {
	CURL *curl;
	struct curl_slist *headers;
	struct fl_buf resp;
	char errbuf[CURL_ERROR_SIZE];
};

static size_t http_collect(char *data, size_t size, size_t nmemb, void *arg)
{
	struct fl_buf *b = arg;
	size_t n = size * nmemb;
	if (b->len + n > b->limit)
		return 0; /* CURLE_WRITE_ERROR: an answer this large is not ours */
	fl_buf_add(b, data, n);
	return b->failed ? 0 : n;
}

static void http_close(void *arg)
{
	struct http_conn *c = arg;
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->headers);
	fl_buf_release(&c->resp);
	fl_free(c);
}

static void *http_open(struct fl_writer *w, int for_write, int64_t deadline, struct fl_error *err)
{
	struct http_conn *c = fl_calloc(1, sizeof(*c));

	if (!c || !(c->curl = curl_easy_init())) {
		fl_error_set(err, FL_EXIT_ENV, "writer %s: cannot create an http handle", w->name);
		http_close(c);
		return NULL;
	}
	fl_buf_init(&c->resp, for_write ? WRITER_HTTP_BODY_LIMIT : WRITER_HTTP_READ_LIMIT);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, http_collect);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &c->resp);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "faultline-writer/" FAULTLINE_VERSION);
	if (for_write) {
		c->headers = curl_slist_append(NULL, "Content-Type: application/json");
		if (!c->headers) {
			fl_error_oom(err, "writer %s", w->name);
			http_close(c);
			return NULL;
		}
		curl_easy_setopt(c->curl, CURLOPT_URL, w->spec->url);
		curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
	}
	return c;
}

/* The body that acknowledges a write: JSON carrying the record's "id" or
 * "seq" (an answer that echoes something the service stored). */
static int http_body_acknowledges(const struct fl_buf *b)
{
	json_t *j = json_loadb(b->buf, b->len, 0, NULL);
	int ok = json_is_object(j) &&
		 ((json_object_get(j, "id") && !json_is_null(json_object_get(j, "id"))) ||
		  (json_object_get(j, "seq") && !json_is_null(json_object_get(j, "seq"))));
	json_decref(j);
	return ok;
}

static int http_dump_to_buf(const char *data, size_t n, void *arg)
{
	return fl_buf_add(arg, data, n) < 0 ? -1 : 0;
}

static enum fl_write_outcome http_write(struct fl_writer *w, void *arg, long seq, int64_t deadline,
					int *broken)
{
	struct http_conn *c = arg;
	struct fl_buf body;
	json_t *j;
	CURLcode rc;
	long status = 0, request_size = 0;
	enum fl_write_outcome o;

	fl_buf_init(&body, WRITER_HTTP_BODY_LIMIT);
	j = json_pack("{s:I, s:s}", "seq", (json_int_t)seq, "tag", w->run_tag);
	if (!j || json_dump_callback(j, http_dump_to_buf, &body, JSON_COMPACT) < 0 || body.failed) {
		o = FL_WRITE_FAIL; /* nothing was sent */
		goto out;
	}
	fl_buf_reset(&c->resp);
	c->errbuf[0] = '\0';
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body.buf);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)body.len);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)fl_writer_ms_until(deadline));
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)fl_writer_ms_until(deadline));
	rc = curl_easy_perform(c->curl);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c->curl, CURLINFO_REQUEST_SIZE, &request_size);
	if (rc != CURLE_OK) {
		/* Timeouts, resets, empty replies: once the request has left
		 * (libcurl counts its bytes per transfer), the service may have
		 * applied it. That holds for a refused connection too: a reused
		 * keep-alive connection that dies without an answer (the service
		 * killed after its commit) is retried by libcurl on a fresh one,
		 * and that connect is what fails. Only nothing sent is a failure. */
		o = request_size > 0 ? FL_WRITE_INDETERMINATE : FL_WRITE_FAIL;
	} else if (status >= 200 && status < 300) {
		o = http_body_acknowledges(&c->resp) ? FL_WRITE_ACK : FL_WRITE_INDETERMINATE;
	} else if (status >= 400 && status < 600 && status != 504) {
		/* A definite error answer; 504 is a proxy saying it does not
		 * know what the service behind it did. */
		o = FL_WRITE_FAIL;
	} else {
		o = FL_WRITE_INDETERMINATE;
	}
out:
	json_decref(j);
	fl_buf_release(&body);
	(void)broken; /* libcurl drops a dead connection itself */
	return o;
}

/* The read-back answer's parser, shared by the http driver and
 * fl_writer_parse_seqs (which the fuzzers drive): `name` and `url` only
 * label the messages. */
int fl_writer_seqs_parse_json(const char *name, const char *url, const char *body, size_t len,
			      struct fl_writer_seqs *out, struct fl_error *err)
{
	json_error_t jerr;
	/* jansson leaves it untouched when it fails before parsing (out of memory). */
	memset(&jerr, 0, sizeof(jerr));
	json_t *root = json_loadb(body, len, 0, &jerr), *arr;
	size_t i;
	int ret = -1;

	if (!root) {
		fl_error_set(err, FL_EXIT_ENV, "writer %s: %s: answer is not json: %s", name, url,
			     jerr.text);
		goto out;
	}
	arr = json_is_object(root) ? json_object_get(root, "seqs") : root;
	if (!json_is_array(arr)) {
		fl_error_set(err, FL_EXIT_ENV,
			     "writer %s: %s: expected a json array of sequence "
			     "numbers or {\"seqs\": [...]}",
			     name, url);
		goto out;
	}
	for (i = 0; i < json_array_size(arr); i++) {
		json_t *v = json_array_get(arr, i);
		if (!json_is_integer(v)) {
			fl_error_set(err, FL_EXIT_ENV,
				     "writer %s: %s: element %zu is not an integer", name, url, i);
			goto out;
		}
		if (fl_writer_seqs_add(out, (long)json_integer_value(v)) < 0) {
			fl_error_oom(err, "writer %s", name);
			goto out;
		}
	}
	ret = 0;
out:
	json_decref(root);
	return ret;
}

static int http_parse_seqs(struct fl_writer *w, const struct fl_buf *b, struct fl_writer_seqs *out,
			   struct fl_error *err)
{
	char shown[FL_URL_REDACTED_MAX];
	return fl_writer_seqs_parse_json(w->name,
					 fl_url_redact(w->spec->read_url, shown, sizeof(shown)),
					 b->buf, b->len, out, err);
}

static int http_read_back(struct fl_writer *w, void *arg, int64_t deadline,
			  struct fl_writer_seqs *out, struct fl_error *err)
{
	struct http_conn *c = arg;
	struct fl_buf url;
	char shown[FL_URL_REDACTED_MAX];
	char *tag = NULL;
	CURLcode rc;
	long status = 0;
	int ret = -1;

	fl_buf_init(&url, 0);
	tag = curl_easy_escape(c->curl, w->run_tag, 0);
	if (!tag) {
		fl_error_oom(err, "writer %s", w->name);
		goto out;
	}
	fl_buf_addf(&url, "%s%ctag=%s", w->spec->read_url,
		    strchr(w->spec->read_url, '?') ? '&' : '?', tag);
	if (url.failed) {
		fl_error_oom(err, "writer %s", w->name);
		goto out;
	}
	fl_buf_reset(&c->resp);
	c->errbuf[0] = '\0';
	curl_easy_setopt(c->curl, CURLOPT_URL, url.buf);
	curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)fl_writer_ms_until(deadline));
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)fl_writer_ms_until(deadline));
	rc = curl_easy_perform(c->curl);
	if (rc != CURLE_OK) {
		fl_error_set(err, FL_EXIT_ENV, "writer %s: %s: %s", w->name,
			     fl_url_redact(w->spec->read_url, shown, sizeof(shown)),
			     c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300) {
		fl_error_set(err, FL_EXIT_ENV, "writer %s: %s: http status %ld", w->name,
			     fl_url_redact(w->spec->read_url, shown, sizeof(shown)), status);
		goto out;
	}
	ret = http_parse_seqs(w, &c->resp, out, err);
out:
	curl_free(tag);
	fl_buf_release(&url);
	return ret;
}


static int http_parse(struct fl_doc *doc, json_t *obj, struct fl_probe_spec *p, struct fl_error *err)
{
	const char *bad;
	if (fl_doc_string(doc, obj, "url", 1, &p->url, err) < 0 ||
	    fl_doc_string(doc, obj, "read_url", 1, &p->read_url, err) < 0)
		return -1;
	if (fl_scenario_is_http_url(p->url) && fl_scenario_is_http_url(p->read_url))
		return 0;
	bad = fl_scenario_is_http_url(p->url) ? "read_url" : "url";
	return fl_doc_error_member(doc, obj, bad, err, "'%s': expected an http:// or https:// URL",
				   bad);
}

const struct fl_writer_driver fl_writer_driver_http = {
	.name = "http",
	.uses_url = 1,
	.parse = http_parse,
	.open = http_open,
	.write = http_write,
	.read_back = http_read_back,
	.close = http_close,
};
