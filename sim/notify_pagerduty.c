/*
 * notify_pagerduty: PagerDuty Events API v2 (POST
 * https://events.pagerduty.com/v2/enqueue). A trigger event:
 *   {"routing_key": K, "event_action": "trigger", "dedup_key": "faultline/<scenario>/<run>/<event>",
 *    "payload": {"summary": ≤1024 chars, "source": host, "severity": ..., "timestamp": RFC 3339,
 *                "component": asset, "group": environment, "class": event,
 *                "custom_details": {...the generic event object...}}}
 * Severity: revert_failed critical (page now), aborted error, target_missed
 * warning, started info. The routing key is a secret: only from
 * routing_key_env or routing_key_file.
 */
#include <stdio.h>
#include <string.h>

#include "sim/notify.h"
#include "sim/notify_json.h"
#include "core/buf.h"

#define PD_SUMMARY_MAX 1024

static const char *severity(enum fl_notify_kind k)
{
	switch (k) {
	case FL_NOTIFY_REVERT_FAILED: return "critical";
	case FL_NOTIFY_ABORTED: return "error";
	case FL_NOTIFY_TARGET_MISSED: return "warning";
	default: return "info";
	}
}

static int pagerduty_payload(const struct fl_notify_event *ev, const char *secret,
			     struct fl_buf *out, const char **suffix, struct fl_error *err)
{
	char summary[PD_SUMMARY_MAX + 1], dedup[512], at[40];
	json_t *details = fl_notify_event_json(ev), *v;

	*suffix = "";
	if (!secret)
		return fl_error_set(err, FL_EXIT_INPUT, "pagerduty: no routing key");
	/* The API rejects summaries over 1024 characters. */
	snprintf(summary, sizeof(summary), "%s",
		 ev->summary ? ev->summary : fl_notify_kind_name(ev->kind));
	snprintf(dedup, sizeof(dedup), "faultline/%s/%lld/%s", ev->scenario ? ev->scenario : "-",
		 (long long)ev->run_id, fl_notify_kind_name(ev->kind));
	v = details ? json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s, s:O}}",
				"routing_key", secret, "event_action", "trigger", "dedup_key",
				dedup, "payload", "summary", summary, "source",
				ev->host ? ev->host : "faultline", "severity", severity(ev->kind),
				"timestamp", fl_notify_time(ev, at, sizeof(at)), "component",
				ev->asset, "group", ev->environment, "class",
				fl_notify_kind_name(ev->kind), "custom_details", details)
		    : NULL;
	json_decref(details);
	return fl_notify_json_out(v, out, err);
}

const struct fl_notify_channel_ops fl_notify_pagerduty = {
	.type = "pagerduty",
	.secret_key = "routing_key",
	.payload = pagerduty_payload,
};
