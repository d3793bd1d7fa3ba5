/*
 * alert: detection by an external alert — watching Prometheus Alertmanager
 * for the alert a drill's fault should raise.
 *
 * Owns: reading Alertmanager's v2 alert list (GET
 * {url}/api/v2/alerts?active=true&silenced=false&inhibited=false), picking
 * the alerts that match the scenario's alertname and label matchers and are
 * really active (not silenced, not inhibited), parsing their RFC 3339
 * `startsAt`, and a watcher thread that polls at the scenario's interval
 * with libcurl (every request bounded by a timeout, abortable at once) until
 * a matching alert appears or the alert timeout runs out. The runner only
 * reads the watcher's state; nothing here blocks the drill loop.
 * Does not own: what detection means for the drill (runner.c decides that
 * the observation is t_detect and that a missed alert is a failure), the
 * scenario syntax (scenario.c loads struct fl_alert_spec).
 *
 * Placement: an observation sits at the moment the answer that first showed
 * the alert arrived (the harness cannot know sooner). The alert became
 * visible after the previous poll was sent, so the gap between that send
 * and this arrival is the observation's uncertainty.
 *
 * Alerts already active when the watcher starts (the first poll) and that
 * started before it are a previous incident, not this drill's detection:
 * they are remembered by fingerprint and startsAt and ignored, unless they
 * fire anew with a new startsAt.
 */
#ifndef FAULTLINE_ALERT_H
#define FAULTLINE_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include "core/scenario.h"
#include "core/error.h"

/* One matching alert found in a response body. */
struct fl_alert_match {
	char fingerprint[80];      /* Alertmanager's fingerprint, "" when absent */
	int64_t starts_at_wall_ns; /* parsed startsAt (ns since the epoch, UTC), -1 when absent */
};

/* Parses an RFC 3339 timestamp as Alertmanager writes it
 * ("2024-06-01T12:00:00.123456789Z", "...+02:00"); fraction optional, up to
 * nanoseconds. Returns 0 with *wall_ns set, -1 when malformed. */
int fl_alert_time_parse(const char *s, int64_t *wall_ns);

/* Finds the alerts in an Alertmanager v2 /api/v2/alerts body that match
 * spec: labels.alertname equals spec->alertname, every matcher label equals
 * its value, and status.state is "active" (a silenced or inhibited alert is
 * "suppressed" and does not count). Writes up to `max` matches into out (may
 * be NULL with max 0). Returns the number of matches found (may exceed max),
 * or -1 with err set (FL_EXIT_ENV) when the body is not a JSON array of alert
 * objects each with a labels object: "malformed alertmanager response:
 * <why>". */
int fl_alert_match_body(const struct fl_alert_spec *spec, const char *body, size_t len,
			struct fl_alert_match *out, size_t max, struct fl_error *err);

enum fl_alert_state {
	FL_ALERT_WAITING = 0, /* polling */
	FL_ALERT_FIRED,       /* a matching alert was observed */
	FL_ALERT_TIMED_OUT    /* the alert timeout ran out first */
};

/* What the watcher knows; a snapshot copied out under its lock. */
struct fl_alert_observation {
	enum fl_alert_state state;
	int64_t observed_ns;       /* monotonic: answer that first showed the alert arrived, -1 */
	int64_t uncertainty_ns;    /* observed_ns - send time of the poll before it, -1 */
	int64_t starts_at_wall_ns; /* the alert's own startsAt (UTC ns), -1 when unknown */
	long polls;                /* requests completed (answered or failed) */
	long poll_errors;          /* requests that failed or returned a malformed body */
	long ignored;              /* matching alerts ignored as already active at the start */
	char last_error[256];      /* latest poll error, "" when none */
};

struct fl_alert_watch;

/* A watcher for spec (borrowed: it must outlive the watcher). Returns a new
 * watcher or NULL with err set (out of memory, libcurl could not start). */
struct fl_alert_watch *fl_alert_watch_new(const struct fl_alert_spec *spec, struct fl_error *err);
/* Starts polling in its own thread; the alert timeout runs from now. Call
 * once. 0, or -1 with err set (FL_EXIT_ENV). */
int fl_alert_watch_start(struct fl_alert_watch *w, struct fl_error *err);
/* Copies the current state into out. Never blocks on the network. */
void fl_alert_watch_get(struct fl_alert_watch *w, struct fl_alert_observation *out);
/* Stops the thread (aborting a request in flight) and frees. Accepts NULL. */
void fl_alert_watch_free(struct fl_alert_watch *w);

#endif
