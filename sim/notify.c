/*
 * notify: the notification file, the secrets, and delivery. See notify.h.
 *
 * Delivery is one worker thread draining a queue of ready-made requests
 * (URL, body, channel name), so fl_notifier_send only formats and appends.
 * The queue holds copies: an event's strings may be freed as soon as send
 * returns. Secrets live only in the channel structs and the queued
 * requests, which are wiped before they are freed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "sim/notify.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/doc.h"
#include "core/environment.h"
#include "core/scenario.h"

#define NOTIFY_DEFAULT_TIMEOUT_NS (2 * FL_NS_PER_S)
#define NOTIFY_DEFAULT_ATTEMPTS 3
#define NOTIFY_MAX_ATTEMPTS 10
#define NOTIFY_MAX_QUEUE 256
#define NOTIFY_BACKOFF_NS (200 * FL_NS_PER_MS)
#define NOTIFY_SECRET_LIMIT 4096
#define PAGERDUTY_URL "https://events.pagerduty.com/v2/enqueue"

static const char *const kind_names[FL_NOTIFY_KINDS] = {
	"started",
	"target_missed",
	"aborted",
	"revert_failed",
};

static const struct fl_notify_channel_ops *const channel_types[] = {
	&fl_notify_webhook, &fl_notify_slack, &fl_notify_pagerduty, &fl_notify_alertmanager, NULL,
};

const char *fl_notify_kind_name(enum fl_notify_kind k)
{
	return (unsigned)k < FL_NOTIFY_KINDS ? kind_names[k] : "?";
}

struct channel {
	char *name;
	const struct fl_notify_channel_ops *ops;
	char *url;       /* may be a secret */
	char *secret;    /* routing key, or NULL */
	unsigned events; /* bit set of 1 << kind */
};

struct request {
	struct request *next;
	char *channel, *url, *body, *what;
};

struct fl_notifier {
	struct channel *channels;
	size_t nchannels;
	int64_t timeout_ns;
	long attempts;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct request *head, *tail;
	size_t queued;
	int closing;
	struct fl_buf failures;
	int nfailures;
};

static void wipe_free(char *s)
{
	if (s) {
		volatile char *p = s;
		while (*p)
			*p++ = 0;
		fl_free(s);
	}
}

static void request_free(struct request *r)
{
	if (!r)
		return;
	fl_free(r->channel);
	wipe_free(r->url);
	wipe_free(r->body);
	fl_free(r->what);
	fl_free(r);
}

/* ---- loading ---------------------------------------------------------------------- */

/* The first line of a file, without its newline: secrets are written with
 * `echo`, and a trailing newline in a URL or key would be an error far away. */
static int read_secret_file(const char *path, char **out, struct fl_error *err)
{
	struct fl_buf b;
	fl_buf_init(&b, NOTIFY_SECRET_LIMIT);
	if (fl_read_file(path, NOTIFY_SECRET_LIMIT, &b, err) < 0) {
		fl_buf_release(&b);
		return -1;
	}
	while (b.len && (b.buf[b.len - 1] == '\n' || b.buf[b.len - 1] == '\r'))
		b.buf[--b.len] = '\0';
	if (!b.len || strchr(b.buf, '\n')) {
		fl_buf_release(&b);
		return fl_error_set(err, FL_EXIT_INPUT, "%s: must hold exactly one non-empty line",
				    path);
	}
	*out = fl_buf_detach(&b);
	fl_buf_release(&b);
	return *out ? 0 : fl_error_oom(err, "%s", path);
}

/* value from obj[key] (plain, only when !secret_only), obj[key_env] or
 * obj[key_file]: exactly one of them. Returns 1 found, 0 absent, -1 error. */
static int secret_get(struct fl_doc *doc, json_t *obj, const char *key, int secret_only, char **out,
		      struct fl_error *err)
{
	char kenv[64], kfile[64];
	char *plain = NULL, *var = NULL, *file = NULL;
	int n, rc = -1;

	snprintf(kenv, sizeof(kenv), "%s_env", key);
	snprintf(kfile, sizeof(kfile), "%s_file", key);
	if (secret_only && json_object_get(obj, key)) {
		fl_doc_error_key(doc, obj, key, err,
				 "'%s' is a secret: give it as '%s' (an environment variable) or '%s' (a file), never in this file",
				 key, kenv, kfile);
		return -1;
	}
	if ((!secret_only && fl_doc_string(doc, obj, key, 0, &plain, err) < 0) ||
	    fl_doc_string(doc, obj, kenv, 0, &var, err) < 0 ||
	    fl_doc_string(doc, obj, kfile, 0, &file, err) < 0)
		goto out;
	n = !!plain + !!var + !!file;
	if (n > 1) {
		fl_doc_error_value(doc, obj, err, "give only one of '%s', '%s' and '%s'", key, kenv,
				   kfile);
		goto out;
	}
	if (plain) {
		*out = plain;
		plain = NULL;
	} else if (var) {
		const char *v = getenv(var);
		if (!v || !*v) {
			fl_doc_error_key(doc, obj, kenv, err, "environment variable %s is not set",
					 var);
			goto out;
		}
		if (!(*out = fl_strdup(v))) {
			fl_error_oom(err, "%s", var);
			goto out;
		}
	} else if (file) {
		if (fl_doc_resolve_path(doc, &file, 1, err) < 0 ||
		    read_secret_file(file, out, err) < 0)
			goto out;
	}
	rc = n ? 1 : 0;
out:
	fl_free(plain);
	fl_free(var);
	fl_free(file);
	return rc;
}

static int load_channel(struct fl_doc *doc, json_t *obj, struct channel *ch, struct fl_error *err)
{
	char *type = NULL;
	json_t *events;
	int found, rc = -1;

	if (!json_is_object(obj))
		return fl_doc_error_value(doc, obj, err, "a channel must be an object");
	if (fl_doc_string(doc, obj, "name", 1, &ch->name, err) < 0 ||
	    fl_doc_string(doc, obj, "type", 1, &type, err) < 0)
		goto out;
	for (size_t i = 0; channel_types[i]; i++)
		if (!strcmp(channel_types[i]->type, type))
			ch->ops = channel_types[i];
	if (!ch->ops) {
		fl_doc_error_value(doc, json_object_get(obj, "type"), err,
				   "unknown channel type '%s' (webhook, slack, pagerduty, alertmanager)",
				   type);
		goto out;
	}
	/* Webhook and Slack URLs carry their credentials: never in the file. */
	found = secret_get(doc, obj, "url", !strcmp(ch->ops->secret_key, "url"), &ch->url, err);
	if (found < 0)
		goto out;
	if (!found && !strcmp(ch->ops->type, "pagerduty") && !(ch->url = fl_strdup(PAGERDUTY_URL))) {
		fl_error_oom(err, "channel '%s'", ch->name);
		goto out;
	}
	if (!ch->url) {
		fl_doc_error_value(doc, obj, err, "channel '%s' needs %s", ch->name,
				   !strcmp(ch->ops->secret_key, "url") ? "'url_env' or 'url_file'"
								       : "'url'");
		goto out;
	}
	if (strncmp(ch->url, "http://", 7) && strncmp(ch->url, "https://", 8)) {
		/* Not the URL itself in the message: it may be a secret. */
		fl_doc_error_value(doc, obj, err,
				   "channel '%s': the URL must start with http:// or https://",
				   ch->name);
		goto out;
	}
	if (!strcmp(ch->ops->secret_key, "routing_key")) {
		found = secret_get(doc, obj, "routing_key", 1, &ch->secret, err);
		if (found < 0)
			goto out;
		if (!found) {
			fl_doc_error_value(doc, obj, err,
					   "channel '%s' needs 'routing_key_env' or 'routing_key_file'",
					   ch->name);
			goto out;
		}
	}
	ch->events = (1u << FL_NOTIFY_KINDS) - 1;
	if ((events = fl_doc_array(doc, obj, "events", 0, err))) {
		size_t i;
		json_t *e;
		ch->events = 0;
		json_array_foreach(events, i, e) {
			unsigned bit = 0;
			for (int k = 0; k < FL_NOTIFY_KINDS; k++)
				if (json_is_string(e) && !strcmp(json_string_value(e), kind_names[k]))
					bit = 1u << k;
			if (!bit) {
				fl_doc_error_value(doc, e, err,
						   "unknown event (started, target_missed, aborted, revert_failed)");
				goto out;
			}
			ch->events |= bit;
		}
	} else if (fl_error_is_set(err)) {
		goto out;
	}
	if (fl_doc_check_keys(doc, obj, err) < 0)
		goto out;
	rc = 0;
out:
	fl_free(type);
	return rc;
}

static void *worker(void *arg);

struct fl_notifier *fl_notifier_open(const char *path, struct fl_error *err)
{
	struct fl_notifier *n = fl_calloc(1, sizeof(*n));
	struct fl_doc *doc = NULL;
	json_t *root, *chans;
	long attempts = NOTIFY_DEFAULT_ATTEMPTS;
	int64_t timeout = NOTIFY_DEFAULT_TIMEOUT_NS;

	if (!n) {
		fl_error_oom(err, "%s", path);
		return NULL;
	}
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cv, NULL);
	fl_buf_init(&n->failures, 1 << 20);
	if (!(doc = fl_doc_load(path, err)))
		goto fail;
	root = fl_doc_root(doc);
	if (!json_is_object(root)) {
		fl_doc_error_value(doc, root, err, "a notification file is a JSON object");
		goto fail;
	}
	if (fl_doc_duration(doc, root, "timeout", 0, &timeout, err) < 0 ||
	    fl_doc_int(doc, root, "attempts", 0, 1, NOTIFY_MAX_ATTEMPTS, &attempts, err) < 0)
		goto fail;
	if (timeout < 100 * FL_NS_PER_MS || timeout > 60 * FL_NS_PER_S) {
		fl_doc_error_member(doc, root, "timeout", err,
				    "'timeout' must be between 100ms and 60s");
		goto fail;
	}
	if (!(chans = fl_doc_array(doc, root, "channels", 1, err)))
		goto fail;
	if (!json_array_size(chans)) {
		fl_doc_error_value(doc, chans, err, "'channels' is empty");
		goto fail;
	}
	if (!(n->channels = fl_calloc(json_array_size(chans), sizeof(*n->channels)))) {
		fl_error_oom(err, "%s", path);
		goto fail;
	}
	for (size_t i = 0; i < json_array_size(chans); i++) {
		n->nchannels++;
		if (load_channel(doc, json_array_get(chans, i), &n->channels[i], err) < 0)
			goto fail;
		for (size_t k = 0; k < i; k++)
			if (!strcmp(n->channels[k].name, n->channels[i].name)) {
				fl_doc_error_value(doc, json_array_get(chans, i), err,
						   "duplicate channel name '%s'",
						   n->channels[i].name);
				goto fail;
			}
	}
	if (fl_doc_check_keys(doc, root, err) < 0)
		goto fail;
	n->timeout_ns = timeout;
	n->attempts = attempts;
	if (pthread_create(&n->thread, NULL, worker, n) != 0) {
		fl_error_set(err, FL_EXIT_ENV, "notify: cannot start the delivery thread");
		goto fail;
	}
	n->started = 1;
	fl_doc_free(doc);
	return n;
fail:
	fl_doc_free(doc);
	fl_notifier_close(n, NULL);
	return NULL;
}

/* ---- delivery --------------------------------------------------------------------- */

static size_t discard(char *p, size_t size, size_t nmemb, void *u)
{
	(void)p;
	(void)u;
	return size * nmemb;
}

/* One attempt: 0 delivered, 1 worth retrying, -1 not (a 4xx: the request
 * itself is wrong). *why gets a short reason. */
static int post_once(struct fl_notifier *n, const struct request *r, char *why, size_t whyn)
{
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	CURL *c = curl_easy_init();
	CURLcode cc;
	long status = 0;
	int rc = 1;

	if (!c || !hdr) {
		snprintf(why, whyn, "out of memory");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, r->url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(n->timeout_ns / FL_NS_PER_MS));
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		/* curl's message, not the URL (a secret). */
		snprintf(why, whyn, "%s", curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300) {
		rc = 0;
	} else {
		snprintf(why, whyn, "HTTP %ld", status);
		rc = status >= 400 && status < 500 && status != 429 ? -1 : 1;
	}
out:
	curl_slist_free_all(hdr);
	if (c)
		curl_easy_cleanup(c);
	return rc;
}

static void deliver(struct fl_notifier *n, const struct request *r)
{
	char why[256] = "";
	long tries = 0;
	int rc = 1;

	while (tries < n->attempts && rc > 0) {
		if (tries)
			fl_sleep_until(fl_now_ns() + tries * NOTIFY_BACKOFF_NS, NULL,
				       10 * FL_NS_PER_MS);
		rc = post_once(n, r, why, sizeof(why));
		tries++;
	}
	if (rc == 0)
		return;
	pthread_mutex_lock(&n->mu);
	fl_buf_addf(&n->failures, "notify: channel '%s': %s not delivered: %s after %ld attempt%s\n",
		    r->channel, r->what, why, tries, tries == 1 ? "" : "s");
	n->nfailures++;
	pthread_mutex_unlock(&n->mu);
}

static void *worker(void *arg)
{
	struct fl_notifier *n = arg;
	pthread_mutex_lock(&n->mu);
	for (;;) {
		struct request *r;
		while (!n->head && !n->closing)
			pthread_cond_wait(&n->cv, &n->mu);
		if (!n->head)
			break;
		r = n->head;
		n->head = r->next;
		if (!n->head)
			n->tail = NULL;
		n->queued--;
		pthread_mutex_unlock(&n->mu);
		deliver(n, r);
		request_free(r);
		pthread_mutex_lock(&n->mu);
	}
	pthread_mutex_unlock(&n->mu);
	return NULL;
}

void fl_notifier_send(struct fl_notifier *n, const struct fl_notify_event *ev)
{
	if (!n || !ev || (unsigned)ev->kind >= FL_NOTIFY_KINDS)
		return;
	for (size_t i = 0; i < n->nchannels; i++) {
		struct channel *ch = &n->channels[i];
		struct request *r;
		struct fl_buf body, url;
		struct fl_error e;
		const char *suffix = "";

		if (!(ch->events & (1u << ev->kind)))
			continue;
		fl_error_init(&e);
		fl_buf_init(&body, 1 << 20);
		fl_buf_init(&url, 8192);
		r = fl_calloc(1, sizeof(*r));
		if (!r || ch->ops->payload(ev, ch->secret, &body, &suffix, &e) < 0 ||
		    fl_buf_addf(&url, "%s%s", ch->url, suffix) < 0 || body.failed) {
			pthread_mutex_lock(&n->mu);
			fl_buf_addf(&n->failures, "notify: channel '%s': %s not sent: %s\n", ch->name,
				    kind_names[ev->kind], e.msg[0] ? e.msg : "out of memory");
			n->nfailures++;
			pthread_mutex_unlock(&n->mu);
			fl_free(r);
			fl_buf_release(&body);
			fl_buf_release(&url);
			continue;
		}
		r->channel = fl_strdup(ch->name);
		r->what = fl_strdup(kind_names[ev->kind]);
		r->body = fl_buf_detach(&body);
		r->url = fl_buf_detach(&url);
		fl_buf_release(&body);
		fl_buf_release(&url);
		pthread_mutex_lock(&n->mu);
		if (!r->channel || !r->what || !r->body || !r->url || n->queued >= NOTIFY_MAX_QUEUE) {
			fl_buf_addf(&n->failures, "notify: channel '%s': %s dropped (%s)\n",
				    ch->name, kind_names[ev->kind],
				    n->queued >= NOTIFY_MAX_QUEUE ? "queue full" : "out of memory");
			n->nfailures++;
			pthread_mutex_unlock(&n->mu);
			request_free(r);
			continue;
		}
		if (n->tail)
			n->tail->next = r;
		else
			n->head = r;
		n->tail = r;
		n->queued++;
		pthread_cond_signal(&n->cv);
		pthread_mutex_unlock(&n->mu);
	}
}

int fl_notifier_close(struct fl_notifier *n, struct fl_buf *failures)
{
	int nfailed;

	if (!n)
		return 0;
	if (n->started) {
		pthread_mutex_lock(&n->mu);
		n->closing = 1;
		pthread_cond_signal(&n->cv);
		pthread_mutex_unlock(&n->mu);
		/* Bounded: each queued request makes at most `attempts` attempts of
		 * at most `timeout` each. */
		pthread_join(n->thread, NULL);
	}
	while (n->head) {
		struct request *r = n->head;
		n->head = r->next;
		request_free(r);
	}
	for (size_t i = 0; i < n->nchannels; i++) {
		fl_free(n->channels[i].name);
		wipe_free(n->channels[i].url);
		wipe_free(n->channels[i].secret);
	}
	fl_free(n->channels);
	if (failures)
		fl_buf_add(failures, n->failures.buf, n->failures.len);
	nfailed = n->nfailures;
	fl_buf_release(&n->failures);
	pthread_mutex_destroy(&n->mu);
	pthread_cond_destroy(&n->cv);
	fl_free(n);
	return nfailed;
}

/* ---- runs -> events ------------------------------------------------------------------ */

void fl_notify_run_end(struct fl_notifier *n, const struct fl_run *run, int rc, const char *host)
{
	struct fl_notify_event ev = { 0 };
	struct fl_buf sum;
	int revert_failed = 0;

	if (!n || !run)
		return;
	for (size_t i = 0; i < run->nfailures; i++)
		if (strstr(run->failures[i], "revert of fault") ||
		    strstr(run->failures[i], "could not record"))
			revert_failed = 1;
	fl_buf_init(&sum, 4096);
	ev.scenario = run->scenario;
	ev.environment = run->environment;
	ev.asset = run->asset;
	ev.run_id = run->id;
	ev.at_wall_ns = fl_wall_ns();
	ev.host = host;
	/* Only a revert the runner reported as failed is urgent: a drill that
	 * could not start (exit 3 too: a degraded steady state, a lock) broke
	 * nothing and is reported as aborted. */
	if (revert_failed) {
		ev.kind = FL_NOTIFY_REVERT_FAILED;
		fl_buf_addf(&sum, "URGENT: drill %s on %s could not revert everything: %s",
			    run->scenario ? run->scenario : "?",
			    run->environment ? run->environment : "?",
			    run->nfailures ? run->failures[0]
					   : "see the journal (faultline recover)");
	} else if ((run->verdict &&
		    (!strcmp(run->verdict, "aborted") || !strcmp(run->verdict, "error"))) ||
		   rc == FL_EXIT_INTERRUPTED) {
		ev.kind = FL_NOTIFY_ABORTED;
		fl_buf_addf(&sum, "drill %s on %s %s%s%s", run->scenario ? run->scenario : "?",
			    run->environment ? run->environment : "?",
			    run->verdict && !strcmp(run->verdict, "error") ? "did not run" : "aborted",
			    run->nfailures ? ": " : "", run->nfailures ? run->failures[0] : "");
	} else if (run->verdict && !strcmp(run->verdict, "fail")) {
		ev.kind = FL_NOTIFY_TARGET_MISSED;
		fl_buf_addf(&sum, "drill %s on %s missed its target%s%s",
			    run->scenario ? run->scenario : "?",
			    run->environment ? run->environment : "?", run->nfailures ? ": " : "",
			    run->nfailures ? run->failures[0] : "");
	} else {
		fl_buf_release(&sum);
		return;
	}
	ev.summary = sum.buf;
	fl_notifier_send(n, &ev);
	fl_buf_release(&sum);
}

void fl_notify_run_start(struct fl_notifier *n, const char *path, const char *env_path,
			 const char *host)
{
	struct fl_notify_event ev = { .kind = FL_NOTIFY_STARTED, .host = host };
	struct fl_scenario *sc;
	struct fl_environment *env = NULL;
	struct fl_buf sum;
	struct fl_error e;

	if (!n)
		return;
	fl_error_init(&e);
	sc = fl_scenario_load(path, &e);
	if (sc && (env_path || sc->environment))
		env = fl_environment_load(env_path ? env_path : sc->environment, &e);
	fl_buf_init(&sum, 4096);
	ev.scenario = sc ? sc->name : path;
	ev.asset = sc ? sc->asset : NULL;
	ev.environment = env ? env->name : NULL;
	ev.at_wall_ns = fl_wall_ns();
	fl_buf_addf(&sum, "drill %s started on %s", ev.scenario,
		    ev.environment ? ev.environment : "?");
	ev.summary = sum.buf;
	fl_notifier_send(n, &ev);
	fl_buf_release(&sum);
	fl_environment_free(env);
	fl_scenario_free(sc);
}
