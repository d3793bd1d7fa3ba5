/*
 * notify: telling people about drills — drill started, target missed,
 * aborted, and (urgent) revert failed — through channels behind one table:
 * a generic JSON webhook (notify_webhook.c), Slack incoming webhooks
 * (notify_slack.c), PagerDuty Events API v2 (notify_pagerduty.c) and
 * Alertmanager's v2 alerts API (notify_alertmanager.c).
 *
 * Owns: the notification file (strict, like every file), where secrets come
 * from (webhook URLs and routing keys only from environment variables or
 * files, never from the notification file itself, and never written into an
 * error, a log line, the store or a report: errors name the channel, not its
 * URL), and delivery: one worker thread with a queue, so a drill never waits
 * for the network; each attempt is bounded by the file's `timeout` and at
 * most `attempts` are made (with a short back-off); fl_notifier_close waits
 * for the queue at most until every attempt has run out.
 * Does not own: when events happen (the commands around fl_runner_run), or
 * the payload of each service (the channel files).
 *
 * File format:
 *   { "timeout": "2s", "attempts": 3,
 *     "channels": [
 *       { "name": "ops", "type": "webhook", "url_env": "OPS_HOOK_URL" },
 *       { "name": "chat", "type": "slack", "url_file": "/etc/faultline/slack-url",
 *         "events": ["target_missed", "aborted", "revert_failed"] },
 *       { "name": "pager", "type": "pagerduty", "routing_key_env": "PD_ROUTING_KEY" },
 *       { "name": "am", "type": "alertmanager", "url": "http://127.0.0.1:9093" } ] }
 * `events` defaults to all four. PagerDuty's endpoint defaults to
 * https://events.pagerduty.com/v2/enqueue (`url` overrides it, for tests).
 */
#ifndef FAULTLINE_NOTIFY_H
#define FAULTLINE_NOTIFY_H

#include <jansson.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/store.h"

enum fl_notify_kind {
	FL_NOTIFY_STARTED,
	FL_NOTIFY_TARGET_MISSED,
	FL_NOTIFY_ABORTED,
	FL_NOTIFY_REVERT_FAILED, /* urgent: the environment may still be broken */
	FL_NOTIFY_KINDS
};

/* "started", "target_missed", "aborted", "revert_failed". */
const char *fl_notify_kind_name(enum fl_notify_kind k);

struct fl_notify_event {
	enum fl_notify_kind kind;
	const char *scenario, *environment, *asset; /* may be NULL */
	int64_t run_id;                             /* 0: not stored yet */
	int64_t at_wall_ns;
	const char *summary; /* one line for humans */
	const char *host;    /* where faultline runs */
};

/* A channel type: builds the request for one event. */
struct fl_notify_channel_ops {
	const char *type;       /* as written in the file */
	const char *secret_key; /* "url" or "routing_key": the member that may
					come only from *_env / *_file */
	int needs_url;          /* the channel needs a URL (from url / url_env / url_file) */
	/* Appends the JSON body to out and sets *path_suffix (borrowed, "" when the
	 * URL is complete). secret is the routing key (pagerduty) or NULL. */
	int (*payload)(const struct fl_notify_event *ev, const char *secret, struct fl_buf *out,
		       const char **path_suffix, struct fl_error *err);
};

extern const struct fl_notify_channel_ops fl_notify_webhook;
extern const struct fl_notify_channel_ops fl_notify_slack;
extern const struct fl_notify_channel_ops fl_notify_pagerduty;
extern const struct fl_notify_channel_ops fl_notify_alertmanager;

struct fl_notifier;

/* Loads and checks the file, reads the secrets (an unset variable or an
 * unreadable file is an error naming the variable or file), starts the
 * worker. NULL with err set. */
struct fl_notifier *fl_notifier_open(const char *path, struct fl_error *err);

/* Queues the event for every channel that wants its kind; never blocks on
 * the network. */
void fl_notifier_send(struct fl_notifier *n, const struct fl_notify_event *ev);

/* Delivers what is queued (bounded: timeout x attempts per message), then
 * appends one line per failed delivery to failures (may be NULL): "notify:
 * channel 'pager': revert_failed not delivered: HTTP 400 after 1 attempt",
 * and frees. Returns the number of failed deliveries. NULL n is fine. */
int fl_notifier_close(struct fl_notifier *n, struct fl_buf *failures);

/* Sends "started" for the scenario file at path (its name, asset and
 * environment are read from the files; env_path overrides the scenario's
 * environment, may be NULL). */
void fl_notify_run_start(struct fl_notifier *n, const char *path, const char *env_path,
			 const char *host);

/* Sends what a finished run implies, from the runner's exit class rc and
 * the run: revert_failed (a failure saying a revert failed), aborted
 * (verdict "aborted" or "error" — a drill that could not run, such as a
 * degraded steady state — or rc FL_EXIT_INTERRUPTED), target_missed
 * (verdict "fail"). Nothing for a pass. */
void fl_notify_run_end(struct fl_notifier *n, const struct fl_run *run, int rc, const char *host);

#endif
