/*
 * probe_curl: the transport the http and tcp probe kinds share — one easy
 * handle per sample in flight, all on the engine's curl multi handle, and
 * the blocking one-shot check (sim/probe_kind.h).
 *
 * Why it looks like this: an http or tcp probe keeps sending on schedule
 * while earlier samples are still in flight, each on its own easy handle
 * from a small per-probe pool (a kept-alive HTTP/1.1 connection carries one
 * request at a time, so an overlapping sample opens a new connection;
 * connections live in the multi handle's cache, so whichever handle sends
 * next reuses one that is free). In flight is capped per probe at
 * ceil(timeout/interval)+1, enough to keep every tick while each sample
 * lasts its full timeout. Every sample carries CURLOPT_TIMEOUT_MS, so a
 * hanging target turns into failed samples placed at their send time.
 */
#include "sim/probe_kind.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static long curl_timeout_ms(const struct fl_probe_spec *spec)
{
	int64_t ms = (spec->timeout_ns + FL_NS_PER_MS - 1) / FL_NS_PER_MS;
	return ms > 0 ? (long)ms : 1;
}

int fl_probe_curl_common(CURL *easy, const struct fl_probe_spec *spec)
{
	long tmo = curl_timeout_ms(spec);
	CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(easy, opt, val);                                     \
	} while (0)
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TCP_NODELAY, 1L);
	SET(CURLOPT_TIMEOUT_MS, tmo);
	SET(CURLOPT_CONNECTTIMEOUT_MS, tmo);
	SET(CURLOPT_PROXY, ""); /* probes talk to the target, never a proxy */
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_USERAGENT, "faultline/" FAULTLINE_VERSION);
#undef SET
	return rc == CURLE_OK ? 0 : -1;
}

static int curl_setup(CURL *easy, const struct fl_probe_spec *spec, struct fl_buf *body)
{
	const struct fl_probe_kind_ops *ops = fl_probe_kind_of(spec->kind);
	if (!ops || !ops->curl_setup || fl_probe_curl_common(easy, spec) < 0)
		return -1;
	return ops->curl_setup(easy, spec, body);
}

/* Judges a finished transfer: transport errors here, the answer by the
 * kind. Returns 1 ok, 0 failed; a human reason in detail when non-NULL. */
static int curl_judge(const struct fl_probe_spec *spec, CURL *easy, CURLcode res,
		      const struct fl_buf *body, const char *errbuf, char *detail, size_t detail_len)
{
	char dur[32];
	long oserr = 0;

	if (res == CURLE_OK)
		return fl_probe_kind_of(spec->kind)->curl_judge(spec, easy, body, detail, detail_len);
	if (!detail)
		return 0;
	curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &oserr);
	if (res == CURLE_OPERATION_TIMEDOUT)
		snprintf(detail, detail_len, "timed out after %s",
			 fl_duration_format(spec->timeout_ns, dur, sizeof(dur)));
	else if (oserr == ECONNREFUSED)
		snprintf(detail, detail_len, "connection refused");
	else if (errbuf && errbuf[0])
		snprintf(detail, detail_len, "%s", errbuf);
	else
		snprintf(detail, detail_len, "%s", curl_easy_strerror(res));
	if (detail[0] >= 'A' && detail[0] <= 'Z' && detail[1] >= 'a' && detail[1] <= 'z')
		detail[0] = (char)(detail[0] - 'A' + 'a');
	return 0;
}

/* Samples of one probe in flight at most: enough that every tick is sent
 * while each sample lasts its whole timeout. */
size_t fl_probe_curl_cap(const struct fl_probe_spec *spec)
{
	int64_t n = spec->timeout_ns / spec->interval_ns +
		    (spec->timeout_ns % spec->interval_ns != 0) + 1;
	return n < FL_PROBE_MAX_IN_FLIGHT ? (size_t)n : (size_t)FL_PROBE_MAX_IN_FLIGHT;
}

/* Gives slot s an easy handle set up for its probe, once. 0 or -1. */
static int slot_ready(struct probe *p, struct probe_slot *s)
{
	if (s->easy)
		return 0;
	s->easy = curl_easy_init();
	if (!s->easy || curl_setup(s->easy, p->spec, &s->body) < 0 ||
	    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s) != CURLE_OK) {
		curl_easy_cleanup(s->easy);
		s->easy = NULL;
		return -1;
	}
	return 0;
}

int fl_probe_curl_attach(struct probe *p)
{
	p->slots = fl_calloc(p->cap, sizeof(*p->slots));
	if (!p->slots)
		return -1;
	for (size_t i = 0; i < p->cap; i++) {
		p->slots[i].owner = p;
		fl_buf_init(&p->slots[i].body, FL_PROBE_BODY_LIMIT + 1);
	}
	/* The first handle now, so a setup error fails the add instead of
	 * every tick later. The others are made when a hang needs them. */
	return slot_ready(p, &p->slots[0]);
}

void fl_probe_curl_detach(struct probe *p)
{
	for (size_t i = 0; p->slots && i < p->cap; i++) {
		curl_easy_cleanup(p->slots[i].easy);
		fl_buf_release(&p->slots[i].body);
	}
	fl_free(p->slots);
	p->slots = NULL;
}

void fl_probe_curl_send(struct fl_probe_engine *eng, struct probe *p, int64_t now)
{
	struct probe_slot *s = NULL;
	size_t idx;

	/* A free slot that already has a handle first: fewer handles made. */
	for (size_t i = 0; i < p->cap; i++) {
		struct probe_slot *c = &p->slots[i];
		if (c->in_flight)
			continue;
		if (c->easy) {
			s = c;
			break;
		}
		if (!s)
			s = c;
	}
	if (!s || slot_ready(p, s) < 0) {
		fl_probe_sample_skip(eng, p); /* no handle to be had: like a full cap */
		return;
	}
	if (fl_probe_sample_reserve(eng, p, now, &idx) < 0)
		return;
	fl_buf_reset(&s->body);
	if (curl_multi_add_handle(eng->multi, s->easy) != CURLM_OK) {
		fl_probe_sample_done(eng, p, idx, fl_now_ns(), 0);
		return;
	}
	s->sample = idx;
	s->in_flight = 1;
	p->in_flight++;
	eng->in_flight++;
}

/* How long a transfer took before its request went out that was the
 * prober's, by libcurl's own timing (ns): on a connection reused, all of it
 * (the connection picked, the request written: nothing of the target's);
 * on a new one to a local target, the name lookup (a literal or the hosts
 * file, not the target); otherwise nothing (DNS, TCP and TLS are the
 * target's path). Seen under ASan: a reused connection's request went out
 * 3.1 ms after it was added, and the answer came 0.15 ms after that. */
static int64_t curl_before_send(CURL *easy, int local)
{
	curl_off_t nl = 0, pre = 0;
	long conns = 1;
	if (curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &conns) != CURLE_OK ||
	    curl_easy_getinfo(easy, CURLINFO_NAMELOOKUP_TIME_T, &nl) != CURLE_OK ||
	    curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pre) != CURLE_OK)
		return 0;
	if (conns == 0)
		return (int64_t)pre * 1000;
	return local ? (int64_t)nl * 1000 : 0;
}

void fl_probe_curl_collect(struct fl_probe_engine *eng)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(eng->multi, &left))) {
		struct probe_slot *s = NULL;
		int64_t prior;
		/* Read by the perform just returned: the messages before it
		 * took our time, not the target's. */
		int64_t done = eng->read_done > 0 ? eng->read_done : fl_now_ns();
		CURL *easy = msg->easy_handle;
		CURLcode res = msg->data.result;
		int ok;
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&s);
		if (!s || !s->in_flight)
			continue;
		ok = curl_judge(s->owner->spec, easy, res, &s->body, NULL, NULL, 0);
		prior = curl_before_send(easy, s->owner->local != NULL);
		if (res == CURLE_COULDNT_CONNECT)
			fl_probe_local_refused(s->owner); /* restarted: a new pid */
		/* msg is gone after this; everything needed was read above. */
		curl_multi_remove_handle(eng->multi, easy);
		s->in_flight = 0;
		s->owner->in_flight--;
		eng->in_flight--;
		fl_probe_sample_done_after(eng, s->owner, s->sample, done, ok, prior);
	}
}

void fl_probe_curl_abandon(struct fl_probe_engine *eng, struct probe *p)
{
	for (size_t j = 0; j < p->cap; j++) {
		struct probe_slot *s = &p->slots[j];
		if (!s->in_flight)
			continue;
		curl_multi_remove_handle(eng->multi, s->easy);
		s->in_flight = 0;
		p->in_flight--;
		eng->in_flight--;
	}
}

/* Aborts a one-shot check once its stop flag is set (libcurl calls this
 * at least once a second, also while it waits for a silent server). */
static int check_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			  curl_off_t ulnow)
{
	atomic_int *stop = clientp;
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return stop && atomic_load(stop);
}

/* Cuts one check to its deadline and stop flag. 0, or -1. */
static int check_bound(CURL *easy, const struct fl_probe_spec *spec, int64_t deadline_ns,
		       atomic_int *stop)
{
	long tmo = curl_timeout_ms(spec);
	if (deadline_ns > 0) {
		int64_t left = (deadline_ns - fl_now_ns() + FL_NS_PER_MS - 1) / FL_NS_PER_MS;
		if (left < tmo)
			tmo = left > 0 ? (long)left : 1;
	}
	if (curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, tmo) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, tmo) != CURLE_OK)
		return -1;
	if (!stop)
		return 0;
	if (curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, check_progress) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_XFERINFODATA, stop) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L) != CURLE_OK)
		return -1;
	return 0;
}

int fl_probe_curl_check_once(const struct fl_probe_spec *spec, int64_t deadline_ns,
			     atomic_int *stop, char *detail, size_t detail_len)
{
	const struct fl_probe_kind_ops *ops = fl_probe_kind_of(spec->kind);
	char errbuf[CURL_ERROR_SIZE];
	struct fl_buf body;
	CURL *easy = NULL;
	CURLcode res;
	int rc = -1;

	fl_buf_init(&body, FL_PROBE_BODY_LIMIT + 1);
	if (!ops->ready(spec)) {
		snprintf(detail, detail_len, "nothing to probe");
		goto out;
	}
	errbuf[0] = '\0';
	easy = curl_easy_init();
	if (!easy || curl_setup(easy, spec, &body) < 0 ||
	    check_bound(easy, spec, deadline_ns, stop) < 0 ||
	    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK) {
		snprintf(detail, detail_len, "cannot set up curl");
		goto out;
	}
	res = curl_easy_perform(easy);
	if (res == CURLE_ABORTED_BY_CALLBACK) {
		snprintf(detail, detail_len, "interrupted");
		rc = 0;
		goto out;
	}
	rc = curl_judge(spec, easy, res, &body, errbuf, detail, detail_len);
out:
	curl_easy_cleanup(easy);
	fl_buf_release(&body);
	return rc;
}
