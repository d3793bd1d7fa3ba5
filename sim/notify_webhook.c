/*
 * notify_webhook: a generic JSON webhook. POSTs one flat object per event:
 *   {"source": "faultline", "event": "revert_failed", "urgent": true,
 *    "summary": "...", "scenario": "...", "environment": "...", "asset": "...",
 *    "run_id": 12, "host": "...", "at": "2026-12-02T06:10:00.000Z"}
 * (members that are unknown are null). The URL, which usually carries a
 * token, comes only from url_env or url_file.
 */
#include <string.h>

#include "sim/notify.h"
#include "sim/notify_json.h"

static int webhook_payload(const struct fl_notify_event *ev, const char *secret, struct fl_buf *out,
			   const char **suffix, struct fl_error *err)
{
	(void)secret;
	*suffix = "";
	return fl_notify_json_out(fl_notify_event_json(ev), out, err);
}

const struct fl_notify_channel_ops fl_notify_webhook = {
	.type = "webhook",
	.secret_key = "url",
	.payload = webhook_payload,
};
