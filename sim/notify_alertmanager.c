/*
 * notify_alertmanager: Alertmanager's v2 API (POST <url>/api/v2/alerts, a
 * JSON array of postable alerts). One alert per event:
 *   [{"labels": {"alertname": "FaultlineRevertFailed", "severity": "critical",
 *                "scenario": ..., "environment": ..., "asset": ..., "source": "faultline"},
 *     "annotations": {"summary": ..., "run_id": ..., "host": ...},
 *     "startsAt": now, "endsAt": now + 1h}]
 * endsAt makes the alert resolve by itself an hour later unless re-sent:
 * a drill notice is not a standing condition. Alertmanager's URL is not a
 * secret, so plain "url" is accepted.
 */
#include <stdio.h>

#include "sim/notify.h"
#include "sim/notify_json.h"
#include "core/clock.h"

#define AM_RESOLVE_AFTER_NS (3600 * FL_NS_PER_S)

static const char *alertname(enum fl_notify_kind k)
{
	switch (k) {
	case FL_NOTIFY_REVERT_FAILED: return "FaultlineRevertFailed";
	case FL_NOTIFY_ABORTED: return "FaultlineDrillAborted";
	case FL_NOTIFY_TARGET_MISSED: return "FaultlineTargetMissed";
	default: return "FaultlineDrillStarted";
	}
}

static int alertmanager_payload(const struct fl_notify_event *ev, const char *secret,
				struct fl_buf *out, const char **suffix, struct fl_error *err)
{
	char starts[40], ends[40], run[32];
	int64_t at = ev->at_wall_ns ? ev->at_wall_ns : fl_wall_ns();
	json_t *labels, *v;

	(void)secret;
	*suffix = "/api/v2/alerts";
	snprintf(run, sizeof(run), "%lld", (long long)ev->run_id);
	labels = json_pack("{s:s, s:s, s:s}", "alertname", alertname(ev->kind), "severity",
			   ev->kind == FL_NOTIFY_REVERT_FAILED ? "critical"
			   : ev->kind == FL_NOTIFY_STARTED     ? "info"
							       : "warning",
			   "source", "faultline");
	/* Alertmanager label values must be strings: absent ones are left out. */
	if (labels && ev->scenario)
		json_object_set_new(labels, "scenario", json_string(ev->scenario));
	if (labels && ev->environment)
		json_object_set_new(labels, "environment", json_string(ev->environment));
	if (labels && ev->asset)
		json_object_set_new(labels, "asset", json_string(ev->asset));
	v = labels ? json_pack("[{s:o, s:{s:s, s:s, s:s}, s:s, s:s}]", "labels", labels,
			       "annotations", "summary", ev->summary ? ev->summary : "", "run_id",
			       run, "host", ev->host ? ev->host : "", "startsAt",
			       fl_rfc3339(at, starts, sizeof(starts)), "endsAt",
			       fl_rfc3339(at + AM_RESOLVE_AFTER_NS, ends, sizeof(ends)))
		   : NULL;
	return fl_notify_json_out(v, out, err);
}

const struct fl_notify_channel_ops fl_notify_alertmanager = {
	.type = "alertmanager",
	.secret_key = "",
	.payload = alertmanager_payload,
};
