/*
 * alert: Alertmanager as a detection signal.
 *
 * The watcher is one thread with one libcurl easy handle, polling on a fixed
 * schedule (a poll is sent every interval, or at once when the previous one
 * took longer). Every request carries a timeout that never reaches past the
 * alert deadline, and a progress callback aborts it when the watcher is
 * stopped, so freeing a watcher never waits for the network. The drill
 * loop reads a snapshot under a mutex; the thread is the only writer.
 */
#include "sim/alert.h"
#include "core/url.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#define ALERT_PATH "/api/v2/alerts?active=true&silenced=false&inhibited=false"
#define ALERT_BODY_LIMIT ((size_t)16 << 20)
#define ALERT_MAX_MATCHES 64
#define ALERT_SLICE_NS (5 * FL_NS_PER_MS)
#define ALERT_MIN_REQUEST_NS (50 * FL_NS_PER_MS)
#define ALERT_MAX_REQUEST_NS (5 * FL_NS_PER_S)

/* ---- timestamps ------------------------------------------------------------ */

int fl_alert_time_parse(const char *s, int64_t *wall_ns)
{
	struct tm tm;
	const char *p;
	int64_t frac = 0, scale = 100000000, offset_s = 0;
	time_t secs;

	if (!s)
		return -1;
	memset(&tm, 0, sizeof(tm));
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -1;
	if (*p == '.') {
		int digits = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 9) {
				frac += (*p - '0') * scale;
				scale /= 10;
			}
		if (digits == 0)
			return -1;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' &&
		   p[2] <= '9' && p[3] == ':' && p[4] >= '0' && p[4] <= '9' && p[5] >= '0' &&
		   p[5] <= '9') {
		int hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = (p[4] - '0') * 10 + (p[5] - '0');
		if (hh > 23 || mm > 59)
			return -1;
		offset_s = (int64_t)(hh * 3600 + mm * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	secs = timegm(&tm);
	/* int64 nanoseconds reach from 1677 to 2262; Go's zero time (year 1)
	 * and other far-off values are not a moment on any drill's timeline. */
	if (secs == (time_t)-1 || (int64_t)secs - offset_s < -((int64_t)9 << 30) ||
	    (int64_t)secs - offset_s > ((int64_t)9 << 30))
		return -1;
	*wall_ns = ((int64_t)secs - offset_s) * FL_NS_PER_S + frac;
	return 0;
}

/* ---- response bodies ---------------------------------------------------------- */

static int label_is(json_t *labels, const char *name, const char *value)
{
	const char *v = json_string_value(json_object_get(labels, name));
	return v && !strcmp(v, value);
}

/* An alert counts when Alertmanager says it is active. The query already
 * excludes silenced and inhibited alerts; checking the status again keeps a
 * misconfigured proxy or an older server from turning a silenced alert into
 * a detection. */
static int alert_is_active(json_t *alert)
{
	json_t *status = json_object_get(alert, "status");
	const char *state;
	if (!json_is_object(status))
		return 1;
	state = json_string_value(json_object_get(status, "state"));
	if (state && strcmp(state, "active") != 0)
		return 0;
	if (json_array_size(json_object_get(status, "silencedBy")) > 0 ||
	    json_array_size(json_object_get(status, "inhibitedBy")) > 0)
		return 0;
	return 1;
}

int fl_alert_match_body(const struct fl_alert_spec *spec, const char *body, size_t len,
			struct fl_alert_match *out, size_t max, struct fl_error *err)
{
	json_error_t jerr;
	/* jansson leaves it untouched when it fails before parsing (out of memory). */
	memset(&jerr, 0, sizeof(jerr));
	json_t *root = json_loadb(body ? body : "", body ? len : 0, 0, &jerr), *alert;
	size_t i;
	int found = 0;

	if (!root)
		return fl_error_set(err, FL_EXIT_ENV,
				    "malformed alertmanager response: line %d column %d: %s",
				    jerr.line, jerr.column, jerr.text);
	if (!json_is_array(root)) {
		json_decref(root);
		return fl_error_set(err, FL_EXIT_ENV,
				    "malformed alertmanager response: expected a JSON array of alerts");
	}
	json_array_foreach(root, i, alert) {
		json_t *labels;
		const char *starts;
		int ok = 1;
		if (!json_is_object(alert)) {
			found = fl_error_set(err, FL_EXIT_ENV,
					     "malformed alertmanager response: alert %zu is not an object",
					     i);
			break;
		}
		labels = json_object_get(alert, "labels");
		if (!json_is_object(labels)) {
			found = fl_error_set(err, FL_EXIT_ENV,
					     "malformed alertmanager response: alert %zu has no labels object",
					     i);
			break;
		}
		if (!label_is(labels, "alertname", spec->alertname) || !alert_is_active(alert))
			continue;
		for (size_t m = 0; spec->matchers && spec->matchers[m] && spec->matchers[m + 1];
		     m += 2)
			if (!label_is(labels, spec->matchers[m], spec->matchers[m + 1]))
				ok = 0;
		if (!ok)
			continue;
		if ((size_t)found < max) {
			struct fl_alert_match *o = &out[found];
			const char *fp = json_string_value(json_object_get(alert, "fingerprint"));
			snprintf(o->fingerprint, sizeof(o->fingerprint), "%s", fp ? fp : "");
			o->starts_at_wall_ns = -1;
			starts = json_string_value(json_object_get(alert, "startsAt"));
			if (starts && fl_alert_time_parse(starts, &o->starts_at_wall_ns) < 0) {
				found = fl_error_set(err, FL_EXIT_ENV,
						     "malformed alertmanager response: alert %zu: startsAt \"%.64s\" is not an RFC 3339 time",
						     i, starts);
				break;
			}
		}
		found++;
	}
	json_decref(root);
	return found;
}

/* ---- the watcher ------------------------------------------------------------------ */

struct ignored_alert {
	char fingerprint[80];
	int64_t starts_at_wall_ns;
};

struct fl_alert_watch {
	const struct fl_alert_spec *spec;
	char *url;
	char shown[FL_URL_REDACTED_MAX]; /* url for messages: no credentials, no query */
	CURL *easy;
	pthread_t thread;
	int started;
	pthread_mutex_t lock;
	atomic_int stop; /* set by the owner thread (fl_alert_watch_free) */
	int64_t start_ns, start_wall_ns, deadline_ns;
	struct fl_alert_observation obs; /* guarded by lock */
	struct ignored_alert ignored[ALERT_MAX_MATCHES];
	size_t nignored;
	int answered; /* a poll has been answered with a valid body */
};

struct fl_alert_watch *fl_alert_watch_new(const struct fl_alert_spec *spec, struct fl_error *err)
{
	struct fl_alert_watch *w = fl_calloc(1, sizeof(*w));
	struct fl_buf url;
	size_t base;

	fl_buf_init(&url, 8192);
	if (!w)
		goto oom;
	w->spec = spec;
	pthread_mutex_init(&w->lock, NULL);
	w->obs.state = FL_ALERT_WAITING;
	w->obs.observed_ns = w->obs.uncertainty_ns = w->obs.starts_at_wall_ns = -1;
	/* "http://am:9093/" and "http://am:9093" name the same API root. */
	base = strlen(spec->url);
	while (base > 0 && spec->url[base - 1] == '/')
		base--;
	fl_buf_add(&url, spec->url, base);
	fl_buf_adds(&url, ALERT_PATH);
	if (url.failed)
		goto oom;
	w->url = fl_buf_detach(&url);
	if (w->url)
		fl_url_redact(w->url, w->shown, sizeof(w->shown));
	if (!w->url)
		goto oom;
	w->easy = curl_easy_init();
	if (!w->easy) {
		fl_error_set(err, FL_EXIT_ENV, "alertmanager watcher: libcurl could not start");
		fl_alert_watch_free(w);
		return NULL;
	}
	return w;
oom:
	fl_buf_release(&url);
	fl_error_oom(err, "alertmanager");
	fl_alert_watch_free(w);
	return NULL;
}

static size_t write_cb(char *data, size_t size, size_t n, void *userp)
{
	struct fl_buf *b = userp;
	if (fl_buf_add(b, data, size * n) < 0)
		return 0; /* over the limit: libcurl ends the transfer with an error */
	return size * n;
}

/* Aborts a request in flight as soon as the watcher is stopped. */
static int progress_cb(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	const struct fl_alert_watch *w = userp;
	return atomic_load(&w->stop) ? 1 : 0;
}

/* One GET of the alert list into body. 0, or -1 with a one-line reason. */
static int poll_once(struct fl_alert_watch *w, int64_t timeout_ns, struct fl_buf *body, char *why,
		     size_t whylen)
{
	char errbuf[CURL_ERROR_SIZE];
	long tmo_ms = (long)(timeout_ns / FL_NS_PER_MS), status = 0;
	CURLcode rc = CURLE_OK;

	errbuf[0] = '\0';
	curl_easy_reset(w->easy);
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(w->easy, opt, val);                                  \
	} while (0)
	SET(CURLOPT_URL, w->url);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, tmo_ms > 0 ? tmo_ms : 1L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, tmo_ms > 0 ? tmo_ms : 1L);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_USERAGENT, "faultline/" FAULTLINE_VERSION);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, body);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, progress_cb);
	SET(CURLOPT_XFERINFODATA, w);
#undef SET
	if (rc == CURLE_OK)
		rc = curl_easy_perform(w->easy);
	if (rc != CURLE_OK) {
		snprintf(why, whylen, "GET %.200s: %s", w->shown,
			 body->failed ? "response too large"
			 : errbuf[0]  ? errbuf
				      : curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		snprintf(why, whylen, "GET %.200s: HTTP %ld", w->shown, status);
		return -1;
	}
	return 0;
}

static int is_ignored(const struct fl_alert_watch *w, const struct fl_alert_match *m)
{
	for (size_t i = 0; i < w->nignored; i++)
		if (!strcmp(w->ignored[i].fingerprint, m->fingerprint) &&
		    w->ignored[i].starts_at_wall_ns == m->starts_at_wall_ns)
			return 1;
	return 0;
}

/* Judges one answered poll. Returns the index of the first match that is
 * this drill's alert, or -1. The first valid answer sets the baseline. */
static long judge_matches(struct fl_alert_watch *w, const struct fl_alert_match *m, size_t n,
			  long *ignored)
{
	long hit = -1;
	for (size_t i = 0; i < n; i++) {
		if (!w->answered && m[i].starts_at_wall_ns < w->start_wall_ns &&
		    w->nignored < ALERT_MAX_MATCHES) {
			w->ignored[w->nignored] =
				(struct ignored_alert){ .starts_at_wall_ns = m[i].starts_at_wall_ns };
			memcpy(w->ignored[w->nignored].fingerprint, m[i].fingerprint,
			       sizeof(m[i].fingerprint));
			w->nignored++;
			(*ignored)++;
			continue;
		}
		if (!is_ignored(w, &m[i]) && hit < 0)
			hit = (long)i;
	}
	w->answered = 1;
	return hit;
}

static void *watch_thread(void *arg)
{
	struct fl_alert_watch *w = arg;
	const struct fl_alert_spec *spec = w->spec;
	struct fl_alert_match matches[ALERT_MAX_MATCHES];
	struct fl_buf body;
	int64_t prev_sent = w->start_ns, next = w->start_ns;

	fl_buf_init(&body, ALERT_BODY_LIMIT);
	for (;;) {
		int64_t sent, done, tmo;
		char why[sizeof(w->obs.last_error)];
		struct fl_error e;
		long hit = -1, ignored = 0;
		int n;

		if (fl_sleep_until_flag(next < w->deadline_ns ? next : w->deadline_ns, &w->stop,
					ALERT_SLICE_NS))
			break;
		sent = fl_now_ns();
		if (sent >= w->deadline_ns) {
			pthread_mutex_lock(&w->lock);
			w->obs.state = FL_ALERT_TIMED_OUT;
			pthread_mutex_unlock(&w->lock);
			break;
		}
		next = sent + spec->interval_ns;
		tmo = spec->interval_ns > FL_NS_PER_S ? spec->interval_ns : FL_NS_PER_S;
		if (tmo > ALERT_MAX_REQUEST_NS)
			tmo = ALERT_MAX_REQUEST_NS;
		if (tmo > w->deadline_ns - sent)
			tmo = w->deadline_ns - sent;
		if (tmo < ALERT_MIN_REQUEST_NS)
			tmo = ALERT_MIN_REQUEST_NS;
		fl_buf_reset(&body);
		fl_error_init(&e);
		why[0] = '\0';
		n = -1;
		if (poll_once(w, tmo, &body, why, sizeof(why)) == 0) {
			n = fl_alert_match_body(spec, body.buf, body.len, matches,
						ALERT_MAX_MATCHES, &e);
			if (n < 0)
				snprintf(why, sizeof(why), "%.250s", e.msg);
			else
				hit = judge_matches(w, matches,
						    n < ALERT_MAX_MATCHES ? (size_t)n
									  : ALERT_MAX_MATCHES,
						    &ignored);
		}
		done = fl_now_ns();
		pthread_mutex_lock(&w->lock);
		w->obs.polls++;
		w->obs.ignored += ignored;
		if (n < 0) {
			w->obs.poll_errors++;
			snprintf(w->obs.last_error, sizeof(w->obs.last_error), "%s", why);
		}
		/* An answer that arrives after the deadline is too late: the
		 * alert did not fire within its timeout. */
		if (hit >= 0 && done <= w->deadline_ns) {
			w->obs.state = FL_ALERT_FIRED;
			w->obs.observed_ns = done;
			w->obs.uncertainty_ns = done - prev_sent;
			w->obs.starts_at_wall_ns = matches[hit].starts_at_wall_ns;
		} else if (done >= w->deadline_ns) {
			w->obs.state = FL_ALERT_TIMED_OUT;
		}
		pthread_mutex_unlock(&w->lock);
		if (w->obs.state != FL_ALERT_WAITING)
			break;
		prev_sent = sent;
	}
	fl_buf_release(&body);
	return NULL;
}

int fl_alert_watch_start(struct fl_alert_watch *w, struct fl_error *err)
{
	int rc;
	if (w->started)
		return fl_error_set(err, FL_EXIT_ENV, "alertmanager watcher already started");
	w->start_wall_ns = fl_wall_ns();
	w->start_ns = fl_now_ns();
	w->deadline_ns = w->start_ns + w->spec->timeout_ns;
	rc = pthread_create(&w->thread, NULL, watch_thread, w);
	if (rc != 0)
		return fl_error_set(err, FL_EXIT_ENV,
				    "alertmanager watcher: cannot start a thread: %s", strerror(rc));
	w->started = 1;
	return 0;
}

void fl_alert_watch_get(struct fl_alert_watch *w, struct fl_alert_observation *out)
{
	pthread_mutex_lock(&w->lock);
	*out = w->obs;
	pthread_mutex_unlock(&w->lock);
}

void fl_alert_watch_free(struct fl_alert_watch *w)
{
	if (!w)
		return;
	if (w->started) {
		atomic_store(&w->stop, 1);
		pthread_join(w->thread, NULL);
	}
	if (w->easy)
		curl_easy_cleanup(w->easy);
	pthread_mutex_destroy(&w->lock);
	fl_free(w->url);
	fl_free(w);
}
