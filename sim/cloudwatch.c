/*
 * cloudwatch: a CloudWatch alarm as a detection signal (sim/cloudwatch.h).
 *
 * One thread with one AWS client polls DescribeAlarms on a fixed schedule;
 * the drill loop reads a snapshot under a mutex, the thread is the only
 * writer. Each request is one attempt bounded by min(interval, 5s): a
 * retry would blur when the alarm was seen, and the next poll is the retry.
 */
#include "sim/cloudwatch.h"
#include "core/alloc.h"
#include "core/aws.h"
#include "core/aws_target.h"
#include "core/clock.h"
#include "core/doc.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define CW_MIN_INTERVAL_NS (1 * FL_NS_PER_S)
#define CW_DEFAULT_INTERVAL_NS (5 * FL_NS_PER_S)
#define CW_DEFAULT_TIMEOUT_NS (5 * 60 * FL_NS_PER_S)
#define CW_MAX_REQUEST_NS (5 * FL_NS_PER_S)
#define CW_SLICE_NS (20 * FL_NS_PER_MS)

/* ---- scenario keys ------------------------------------------------------------ */

static int cw_target(struct fl_scenario *sc, json_t *obj, struct fl_cloudwatch_spec *cw,
		     const struct fl_environment *env, struct fl_error *err)
{
	const struct fl_target *t;
	if (!env)
		return fl_doc_error_member(sc->doc, obj, "target", err,
					   "cloudwatch: target '%s' needs an environment (give --env FILE or an \"environment\" key)",
					   cw->target);
	t = fl_environment_target(env, cw->target);
	if (!t)
		return fl_doc_error_member(sc->doc, obj, "target", err,
					   "unknown target '%s' in environment %s (%s)", cw->target,
					   env->name, fl_doc_file(env->doc));
	if (t->kind != FL_TARGET_CLOUD || !t->json)
		return fl_doc_error_member(sc->doc, obj, "target", err,
					   "cloudwatch: target '%s' is not a cloud target",
					   cw->target);
	cw->cloud = json_incref(t->json);
	return 0;
}

int fl_cloudwatch_resolve(struct fl_scenario *sc, const struct fl_environment *env,
			  struct fl_error *err)
{
	json_t *obj = sc->cloudwatch_obj;
	struct fl_cloudwatch_spec *cw;
	int64_t v;

	if (!obj || sc->detect_cloudwatch)
		return 0;
	cw = sc->detect_cloudwatch = fl_calloc(1, sizeof(*cw));
	if (!cw)
		return fl_error_oom(err, "%s", fl_doc_file(sc->doc));
	cw->interval_ns = CW_DEFAULT_INTERVAL_NS;
	cw->timeout_ns = CW_DEFAULT_TIMEOUT_NS;
	fl_doc_pos_value(sc->doc, obj, &cw->line, &cw->col);
	if (fl_doc_string(sc->doc, obj, "alarm", 1, &cw->alarm, err) < 0 ||
	    fl_doc_string(sc->doc, obj, "target", 1, &cw->target, err) < 0)
		return -1;
	if (!cw->alarm[0])
		return fl_doc_error_member(sc->doc, obj, "alarm", err,
					   "'alarm': expected a non-empty alarm name");
	v = -1;
	if (fl_doc_duration(sc->doc, obj, "interval", 0, &v, err) < 0)
		return -1;
	if (v >= 0 && v < CW_MIN_INTERVAL_NS)
		return fl_doc_error_member(sc->doc, obj, "interval", err,
					   "'interval': CloudWatch is polled at most once a second (AWS API rate limits)");
	if (v >= 0)
		cw->interval_ns = v;
	v = -1;
	if (fl_doc_duration(sc->doc, obj, "timeout", 0, &v, err) < 0)
		return -1;
	if (v == 0)
		return fl_doc_error_member(sc->doc, obj, "timeout", err,
					   "'timeout': expected a positive duration");
	if (v > 0)
		cw->timeout_ns = v;
	if (fl_doc_check_keys(sc->doc, obj, err) < 0)
		return -1;
	return cw_target(sc, obj, cw, env, err);
}

/* ---- the watcher -------------------------------------------------------------- */

struct fl_cloudwatch_watch {
	const struct fl_cloudwatch_spec *spec;
	struct fl_aws *aws;
	pthread_t thread;
	int started;
	atomic_int stop;
	pthread_mutex_t lock;
	struct fl_alert_observation obs; /* guarded by lock */
	int64_t start_ns, start_wall_ns; /* thread-only after start */
	int64_t ignored_since_wall_ns;   /* an ALARM older than the start: its change time, or -1 */
	int saw_not_alarm;
	int answered; /* answers read so far */
};

struct fl_cloudwatch_watch *fl_cloudwatch_watch_new(const struct fl_cloudwatch_spec *spec,
						    struct fl_error *err)
{
	struct fl_cloudwatch_watch *w = fl_calloc(1, sizeof(*w));
	struct fl_aws_target t;
	struct fl_aws_config cfg;
	int64_t req;

	if (!w) {
		fl_error_oom(err, "cloudwatch watcher");
		return NULL;
	}
	memset(&t, 0, sizeof(t));
	w->spec = spec;
	w->ignored_since_wall_ns = -1;
	w->obs.state = FL_ALERT_WAITING;
	w->obs.observed_ns = w->obs.uncertainty_ns = w->obs.starts_at_wall_ns = -1;
	pthread_mutex_init(&w->lock, NULL);
	if (fl_aws_target_load(spec->cloud, &t, err) < 0 ||
	    fl_aws_config_load(&cfg, t.region, t.endpoint_url, err) < 0) {
		fl_aws_target_release(&t);
		fl_cloudwatch_watch_free(w);
		return NULL;
	}
	req = spec->interval_ns < CW_MAX_REQUEST_NS ? spec->interval_ns : CW_MAX_REQUEST_NS;
	cfg.timeout_ns = req;
	cfg.max_attempts = 1;
	cfg.retry_budget_ns = req;
	w->aws = fl_aws_new(&cfg, err);
	fl_aws_config_release(&cfg);
	fl_aws_target_release(&t);
	if (!w->aws) {
		fl_cloudwatch_watch_free(w);
		return NULL;
	}
	return w;
}

/* StateUpdatedTimestamp: epoch seconds in the JSON protocol (an ISO string
 * in the Query one, accepted too). -1 when absent or unreadable. */
static int64_t alarm_time(json_t *v)
{
	int64_t ns;
	if (json_is_number(v)) {
		double s = json_number_value(v);
		return isfinite(s) && s > 0 && s < 9e9 ? (int64_t)llround(s * 1e9) : -1;
	}
	if (json_is_string(v) && fl_alert_time_parse(json_string_value(v), &ns) == 0)
		return ns;
	return -1;
}

/* One poll: its outcome into the observation (under the lock). */
static void cw_poll(struct fl_cloudwatch_watch *w, int64_t prev_sent)
{
	json_t *body = json_pack("{s:[s]}", "AlarmNames", w->spec->alarm), *ans = NULL, *alarm;
	struct fl_error e;
	const char *state = NULL;
	int64_t changed = -1, now;
	int first;

	fl_error_init(&e);
	if (!body)
		fl_error_oom(&e, "cloudwatch poll");
	else
		ans = fl_aws_json(w->aws, FL_AWS_CLOUDWATCH, "DescribeAlarms", body, 0, &e);
	json_decref(body);
	now = fl_now_ns();
	alarm = json_array_get(json_object_get(ans, "MetricAlarms"), 0);
	if (!alarm)
		alarm = json_array_get(json_object_get(ans, "CompositeAlarms"), 0);
	if (ans && !alarm)
		fl_error_set(&e, FL_EXIT_ENV, "aws cloudwatch DescribeAlarms: no alarm named '%s'",
			     w->spec->alarm);
	if (alarm) {
		state = json_string_value(json_object_get(alarm, "StateValue"));
		changed = alarm_time(json_object_get(alarm, "StateUpdatedTimestamp"));
	}
	pthread_mutex_lock(&w->lock);
	w->obs.polls++;
	first = !fl_error_is_set(&e) && w->answered++ == 0;
	if (fl_error_is_set(&e)) {
		size_t n = strnlen(e.msg, sizeof(w->obs.last_error) - 1); /* cut to fit */
		w->obs.poll_errors++;
		memcpy(w->obs.last_error, e.msg, n);
		w->obs.last_error[n] = '\0';
	} else if (!state || strcmp(state, "ALARM") != 0) {
		w->saw_not_alarm = 1;
	} else if (first && changed >= 0 && changed < w->start_wall_ns) {
		/* In ALARM before the drill began: a previous incident. */
		w->obs.ignored++;
		w->ignored_since_wall_ns = changed;
	} else if (w->ignored_since_wall_ns < 0 || w->saw_not_alarm ||
		   changed > w->ignored_since_wall_ns) {
		w->obs.state = FL_ALERT_FIRED;
		w->obs.observed_ns = now;
		w->obs.uncertainty_ns = now - prev_sent;
		w->obs.starts_at_wall_ns = changed;
	}
	pthread_mutex_unlock(&w->lock);
	json_decref(ans);
}

static void *cw_thread(void *arg)
{
	struct fl_cloudwatch_watch *w = arg;
	int64_t deadline = w->start_ns + w->spec->timeout_ns, next = w->start_ns;
	int64_t prev_sent = w->start_ns;

	for (;;) {
		int64_t sent;
		if (fl_sleep_until_flag(next, &w->stop, CW_SLICE_NS))
			return NULL;
		sent = fl_now_ns();
		if (sent >= deadline)
			break;
		cw_poll(w, prev_sent);
		prev_sent = sent;
		pthread_mutex_lock(&w->lock);
		if (w->obs.state == FL_ALERT_FIRED) {
			pthread_mutex_unlock(&w->lock);
			return NULL;
		}
		pthread_mutex_unlock(&w->lock);
		next += w->spec->interval_ns;
		if (next < fl_now_ns())
			next = fl_now_ns();
	}
	pthread_mutex_lock(&w->lock);
	w->obs.state = FL_ALERT_TIMED_OUT;
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int fl_cloudwatch_watch_start(struct fl_cloudwatch_watch *w, struct fl_error *err)
{
	w->start_ns = fl_now_ns();
	w->start_wall_ns = fl_wall_ns();
	if (pthread_create(&w->thread, NULL, cw_thread, w) != 0)
		return fl_error_set(err, FL_EXIT_ENV,
				    "cloudwatch: could not start the watcher thread");
	w->started = 1;
	return 0;
}

void fl_cloudwatch_watch_get(struct fl_cloudwatch_watch *w, struct fl_alert_observation *out)
{
	pthread_mutex_lock(&w->lock);
	*out = w->obs;
	pthread_mutex_unlock(&w->lock);
}

void fl_cloudwatch_watch_free(struct fl_cloudwatch_watch *w)
{
	if (!w)
		return;
	if (w->started) {
		atomic_store(&w->stop, 1);
		pthread_join(w->thread, NULL);
	}
	fl_aws_free(w->aws);
	pthread_mutex_destroy(&w->lock);
	fl_free(w);
}
