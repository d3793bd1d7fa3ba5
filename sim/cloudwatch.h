/*
 * cloudwatch: detection by a CloudWatch alarm entering ALARM — the user's
 * own alarm's time to detect as a measured figure, like the Alertmanager
 * detection (sim/alert.h) whose observation it shares.
 *
 * Owns: the scenario's "detection": {"cloudwatch": {"alarm", "target",
 * "interval"?, "timeout"?}} keys (read at resolve time, with the cloud
 * target giving region and endpoint), and a watcher thread polling
 * DescribeAlarms (awsJson1.0, core/aws.h) until the alarm enters ALARM or
 * the timeout runs out. Does not own: what detection means for the drill
 * (sim/runner.c), the AWS client (core/aws.c).
 *
 * An alarm already in ALARM at the first poll, with a state change older
 * than the watcher's start, is a previous incident: ignored (counted)
 * unless it enters ALARM anew (a newer StateUpdatedTimestamp).
 * Placement: the observation is the arrival of the answer that first showed
 * ALARM, uncertain by the time since the previous poll was sent;
 * StateUpdatedTimestamp (AWS's own transition time) is kept as the alert's
 * start. Polls are at least 1s apart (AWS API rate limits); a request in
 * flight is not aborted on stop, it ends by its timeout (at most 5s).
 */
#ifndef FAULTLINE_SIM_CLOUDWATCH_H
#define FAULTLINE_SIM_CLOUDWATCH_H

#include "core/environment.h"
#include "core/error.h"
#include "core/scenario.h"
#include "sim/alert.h"

/* Reads sc->cloudwatch_obj into sc->detect_cloudwatch with its target's
 * object; file:line:col errors. 0 when there is none. */
int fl_cloudwatch_resolve(struct fl_scenario *sc, const struct fl_environment *env,
			  struct fl_error *err);

struct fl_cloudwatch_watch;

/* A watcher for spec (borrowed: it must outlive the watcher), or NULL with
 * err set (no credentials, out of memory). */
struct fl_cloudwatch_watch *fl_cloudwatch_watch_new(const struct fl_cloudwatch_spec *spec,
						    struct fl_error *err);
/* Starts polling; the timeout runs from now. 0, or -1 with err set. */
int fl_cloudwatch_watch_start(struct fl_cloudwatch_watch *w, struct fl_error *err);
/* Copies the current state into out. Never blocks on the network. */
void fl_cloudwatch_watch_get(struct fl_cloudwatch_watch *w, struct fl_alert_observation *out);
/* Stops the thread and frees. Accepts NULL. */
void fl_cloudwatch_watch_free(struct fl_cloudwatch_watch *w);

#endif
