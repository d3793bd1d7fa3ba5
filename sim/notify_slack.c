/*
 * notify_slack: Slack incoming webhooks. The documented minimum is
 * {"text": "..."}; we send that (it is also the notification's fallback
 * text) plus one section block with the run's facts in mrkdwn. The webhook
 * URL is the credential: only from url_env or url_file.
 */
#include <stdio.h>
#include <string.h>

#include "sim/notify.h"
#include "sim/notify_json.h"
#include "core/buf.h"

/* Slack's mrkdwn treats &, < and > as control characters. */
static void mrkdwn(struct fl_buf *b, const char *s)
{
	for (const char *p = s ? s : ""; *p; p++) {
		if (*p == '&')
			fl_buf_adds(b, "&amp;");
		else if (*p == '<')
			fl_buf_adds(b, "&lt;");
		else if (*p == '>')
			fl_buf_adds(b, "&gt;");
		else
			fl_buf_add(b, p, 1);
	}
}

static int slack_payload(const struct fl_notify_event *ev, const char *secret, struct fl_buf *out,
			 const char **suffix, struct fl_error *err)
{
	struct fl_buf text, facts;
	char at[40];
	json_t *v;

	(void)secret;
	*suffix = "";
	fl_buf_init(&text, 1 << 16);
	fl_buf_init(&facts, 1 << 16);
	fl_buf_addf(&text, "%s[faultline] ",
		    ev->kind == FL_NOTIFY_REVERT_FAILED ? ":rotating_light: " : "");
	mrkdwn(&text, ev->summary);
	fl_buf_adds(&facts, "*");
	mrkdwn(&facts, fl_notify_kind_name(ev->kind));
	fl_buf_adds(&facts, "*  scenario `");
	mrkdwn(&facts, ev->scenario ? ev->scenario : "?");
	fl_buf_adds(&facts, "`  environment `");
	mrkdwn(&facts, ev->environment ? ev->environment : "?");
	fl_buf_adds(&facts, "`");
	if (ev->run_id > 0)
		fl_buf_addf(&facts, "  run %lld", (long long)ev->run_id);
	fl_buf_addf(&facts, "  at %s", fl_notify_time(ev, at, sizeof(at)));
	v = text.failed || facts.failed
		    ? NULL
		    : json_pack("{s:s, s:[{s:s, s:{s:s, s:s}}, {s:s, s:[{s:s, s:s}]}]}", "text",
				text.buf, "blocks", "type", "section", "text", "type", "mrkdwn",
				"text", text.buf, "type", "context", "elements", "type", "mrkdwn",
				"text", facts.buf);
	fl_buf_release(&text);
	fl_buf_release(&facts);
	return fl_notify_json_out(v, out, err);
}

const struct fl_notify_channel_ops fl_notify_slack = {
	.type = "slack",
	.secret_key = "url",
	.payload = slack_payload,
};
