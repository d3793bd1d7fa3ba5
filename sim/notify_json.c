/*
 * notify_json: the shared event object and body dump. See notify_json.h.
 */
#include "sim/notify_json.h"
#include "core/alloc.h"
#include "core/clock.h"

const char *fl_notify_time(const struct fl_notify_event *ev, char *buf, size_t n)
{
	return fl_rfc3339(ev->at_wall_ns ? ev->at_wall_ns : fl_wall_ns(), buf, n);
}

json_t *fl_notify_event_json(const struct fl_notify_event *ev)
{
	char at[40];
	return json_pack("{s:s, s:s, s:b, s:s?, s:s?, s:s?, s:s?, s:o, s:s?, s:s}", "source",
			 "faultline", "event", fl_notify_kind_name(ev->kind), "urgent",
			 ev->kind == FL_NOTIFY_REVERT_FAILED, "summary", ev->summary, "scenario",
			 ev->scenario, "environment", ev->environment, "asset", ev->asset, "run_id",
			 ev->run_id > 0 ? json_integer(ev->run_id) : json_null(), "host", ev->host,
			 "at", fl_notify_time(ev, at, sizeof(at)));
}

int fl_notify_json_out(json_t *v, struct fl_buf *out, struct fl_error *err)
{
	char *s;
	if (!v)
		return fl_error_oom(err, "notification");
	s = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	if (!s)
		return fl_error_oom(err, "notification");
	fl_buf_adds(out, s);
	fl_free(s);
	return out->failed ? fl_error_oom(err, "notification") : 0;
}
