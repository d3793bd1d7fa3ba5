/*
 * notify_json: what the notification channels share.
 *
 * Owns: the event as a flat JSON object, and dumping a jansson value into
 * a request body. Does not own: any service's payload shape (each channel
 * file) or delivery (notify.c).
 */
#ifndef FAULTLINE_NOTIFY_JSON_H
#define FAULTLINE_NOTIFY_JSON_H

#include <jansson.h>

#include "sim/notify.h"

/* New object: source, event, urgent, summary, scenario, environment, asset,
 * run_id, host, at. NULL on allocation failure. */
json_t *fl_notify_event_json(const struct fl_notify_event *ev);
/* Dumps v (compact) into out and decrefs it; v NULL means out of memory. */
int fl_notify_json_out(json_t *v, struct fl_buf *out, struct fl_error *err);
/* "2026-12-02T06:10:00.000Z" of the event, into buf. */
const char *fl_notify_time(const struct fl_notify_event *ev, char *buf, size_t n);

#endif
