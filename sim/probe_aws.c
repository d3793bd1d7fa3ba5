/*
 * probe_aws: the aws probe kind — cloud state read through the AWS API
 * (core/aws.h), sampled on the probe schedule like every other probe:
 *
 *   "watch": "instances_running"  the cloud target's selected instances are
 *                                 running (all of them, or "min" of them)
 *   "watch": "asg_in_service"     Auto Scaling group "group" has InService
 *                                 instances >= its desired capacity
 *   "watch": "targets_healthy"    target group "target_group" has every
 *                                 registered target healthy (or "min")
 *   "watch": "cluster_writer"     DB cluster "cluster" is available with a
 *                                 writer (the one named "writer", if given)
 *
 * Region, endpoint and selection come from the probe's cloud target (the
 * environment file); credentials from the AWS CLI's places, found once per
 * probe. Every call is read-only, so no guardrail applies.
 *
 * Why a thread per sample: the AWS client is blocking (signing, retries,
 * pagination), and the engine's loop must never block. A sample runs on
 * its own thread and signals an eventfd that the loop watches like a
 * command's pidfd. One sample in flight at most, sent with one attempt and
 * the probe's timeout (a retry inside a sample would blur when the state
 * changed; the next tick is the retry). Why a minimum interval: AWS
 * rate-limits Describe* calls per account and region, shared with the
 * team's own tooling; a drill must not be the thing that throttles them.
 * Default 2s, at least 1s; default timeout the interval (at most 10s).
 * See sim/probe_kind.h.
 */
#include "sim/probe_kind.h"
#include "core/alloc.h"
#include "core/aws.h"
#include "core/aws_target.h"
#include "core/clock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define AWS_PROBE_MIN_INTERVAL_NS (1 * FL_NS_PER_S)
#define AWS_PROBE_DEFAULT_INTERVAL_NS (2 * FL_NS_PER_S)
#define AWS_PROBE_MAX_DEFAULT_TIMEOUT_NS (10 * FL_NS_PER_S)
#define AWS_PROBE_DETAIL 256

static const char *const aws_watches[] = { "instances_running", "asg_in_service", "targets_healthy",
					   "cluster_writer" };

/* One probe's sampling state: the worker thread writes result/detail and
 * then `done`; the engine thread reads them only after seeing `done`. */
struct aws_probe {
	const struct fl_probe_spec *spec;
	struct fl_aws *aws; /* made by the first sample, used by one thread at a time */
	int efd;
	pthread_t thread;
	int started; /* a thread to join */
	atomic_int done;
	int result; /* 1 ok, 0 failed, -1 could not run */
	int64_t done_ns;
	int64_t sent_ns;
	size_t sample;
	int recorded; /* the sample was already failed at its timeout */
	char detail[AWS_PROBE_DETAIL];
};

/* ---- reading cloud state (blocking; any thread) ------------------------------- */

static const char *param(const struct fl_probe_spec *spec, const char *key)
{
	return json_string_value(json_object_get(spec->params, key));
}

/* "min" of the probe, or -1 when not given (then: all of them). */
static long param_min(const struct fl_probe_spec *spec)
{
	json_t *v = json_object_get(spec->params, "min");
	return json_is_integer(v) ? (long)json_integer_value(v) : -1;
}

static int judge_count(long got, long of, long min, const char *what, char *detail, size_t n)
{
	int ok = min >= 0 ? got >= min : got == of && of > 0;
	if (min >= 0)
		snprintf(detail, n, "%ld of %ld %s (at least %ld wanted)", got, of, what, min);
	else
		snprintf(detail, n, "%ld of %ld %s", got, of, what);
	return ok;
}

static int watch_instances(const struct fl_probe_spec *spec, struct fl_aws *aws,
			   const struct fl_aws_target *t, char *detail, size_t n,
			   struct fl_error *err)
{
	json_t *sel = fl_aws_select_instances(aws, t, spec->target, err), *inst;
	size_t i;
	long running = 0;
	if (!sel)
		return -1;
	json_array_foreach(sel, i, inst) {
		const char *st = json_string_value(json_object_get(inst, "state"));
		if (st && strcmp(st, "running") == 0)
			running++;
	}
	i = json_array_size(sel);
	json_decref(sel);
	return judge_count(running, (long)i, param_min(spec), "selected instances running", detail,
			   n);
}

static xmlDoc *query1(struct fl_aws *aws, enum fl_aws_service svc, const char *action,
		      const char *name, const char *value, struct fl_error *err)
{
	struct fl_aws_params p;
	xmlDoc *doc = NULL;
	fl_aws_params_init(&p);
	fl_aws_params_add(&p, name, value);
	if (p.failed)
		fl_error_oom(err, "aws probe");
	else
		doc = fl_aws_query(aws, svc, action, &p, 0, err);
	fl_aws_params_release(&p);
	return doc;
}

static int watch_asg(const struct fl_probe_spec *spec, struct fl_aws *aws, char *detail, size_t n,
		     struct fl_error *err)
{
	const char *group = param(spec, "group");
	xmlDoc *doc = query1(aws, FL_AWS_AUTOSCALING, "DescribeAutoScalingGroups",
			     "AutoScalingGroupNames.member.1", group, err);
	xmlNode *g, *m;
	char *desired;
	long in = 0, want;
	if (!doc)
		return -1;
	g = fl_aws_xml_path(xmlDocGetRootElement(doc),
			    "DescribeAutoScalingGroupsResult/AutoScalingGroups/member");
	if (!g) {
		xmlFreeDoc(doc);
		snprintf(detail, n, "Auto Scaling group %s not found", group);
		return 0;
	}
	for (m = fl_aws_xml_path(g, "Instances/member"); m; m = fl_aws_xml_next(m))
		if (fl_aws_xml_text_is(m, "LifecycleState", "InService"))
			in++;
	desired = fl_aws_xml_text(g, "DesiredCapacity");
	want = desired ? strtol(desired, NULL, 10) : -1;
	fl_free(desired);
	xmlFreeDoc(doc);
	snprintf(detail, n, "%s: %ld InService, desired %ld", group, in, want);
	return want >= 0 && in >= want;
}

static int watch_targets(const struct fl_probe_spec *spec, struct fl_aws *aws, char *detail,
			 size_t n, struct fl_error *err)
{
	xmlDoc *doc = query1(aws, FL_AWS_ELBV2, "DescribeTargetHealth", "TargetGroupArn",
			     param(spec, "target_group"), err);
	xmlNode *m;
	long healthy = 0, all = 0;
	if (!doc)
		return -1;
	for (m = fl_aws_xml_path(xmlDocGetRootElement(doc),
				 "DescribeTargetHealthResult/TargetHealthDescriptions/member");
	     m; m = fl_aws_xml_next(m)) {
		all++;
		if (fl_aws_xml_text_is(m, "TargetHealth/State", "healthy"))
			healthy++;
	}
	xmlFreeDoc(doc);
	return judge_count(healthy, all, param_min(spec), "targets healthy", detail, n);
}

static xmlNode *cluster_writer(xmlNode *c)
{
	for (xmlNode *m = fl_aws_xml_path(c, "DBClusterMembers/DBClusterMember"); m;
	     m = fl_aws_xml_next(m))
		if (fl_aws_xml_text_is(m, "IsClusterWriter", "true"))
			return m;
	return NULL;
}

static int watch_cluster(const struct fl_probe_spec *spec, struct fl_aws *aws, char *detail,
			 size_t n, struct fl_error *err)
{
	const char *want = param(spec, "writer");
	xmlDoc *doc = query1(aws, FL_AWS_RDS, "DescribeDBClusters", "DBClusterIdentifier",
			     param(spec, "cluster"), err);
	xmlNode *c, *w;
	char *status = NULL, *writer = NULL;
	int ok;
	if (!doc)
		return -1;
	c = fl_aws_xml_path(xmlDocGetRootElement(doc),
			    "DescribeDBClustersResult/DBClusters/DBCluster");
	w = c ? cluster_writer(c) : NULL;
	status = c ? fl_aws_xml_text(c, "Status") : NULL;
	writer = w ? fl_aws_xml_text(w, "DBInstanceIdentifier") : NULL;
	xmlFreeDoc(doc);
	ok = status && strcmp(status, "available") == 0 && writer &&
	     (!want || strcmp(want, writer) == 0);
	snprintf(detail, n, "cluster %s %s, writer %s%s%s", param(spec, "cluster"),
		 status ? status : "not found", writer ? writer : "none",
		 want && !ok ? ", wanted " : "", want && !ok ? want : "");
	fl_free(status);
	fl_free(writer);
	return ok;
}

/* A client for spec's cloud target: one attempt per call within the
 * probe's timeout. NULL with err set. */
static struct fl_aws *aws_probe_client(const struct fl_probe_spec *spec,
				       const struct fl_aws_target *t, struct fl_error *err)
{
	struct fl_aws_config cfg;
	struct fl_aws *aws;
	if (fl_aws_config_load(&cfg, t->region, t->endpoint_url, err) < 0)
		return NULL;
	cfg.timeout_ns = spec->timeout_ns;
	cfg.max_attempts = 1;
	cfg.retry_budget_ns = spec->timeout_ns;
	aws = fl_aws_new(&cfg, err);
	fl_aws_config_release(&cfg);
	return aws;
}

/* One reading: 1 ok, 0 failed (an AWS error is a failed sample: the API
 * being unreachable is as much an outage of what it reports), -1 when it
 * could not run at all (no target, no credentials). *aws is made on first
 * use and kept. The reason goes to detail. */
static int aws_read(const struct fl_probe_spec *spec, struct fl_aws **aws, char *detail, size_t n)
{
	const char *watch = param(spec, "watch");
	struct fl_aws_target t;
	struct fl_error e;
	int r = -1;

	fl_error_init(&e);
	memset(&t, 0, sizeof(t));
	if (!spec->cloud) {
		snprintf(detail, n, "aws probe '%s' has no cloud target", spec->name);
		return -1;
	}
	if (fl_aws_target_load(spec->cloud, &t, &e) < 0 ||
	    (!*aws && !(*aws = aws_probe_client(spec, &t, &e)))) {
		fl_aws_target_release(&t);
		snprintf(detail, n, "%s", e.msg);
		return -1;
	}
	if (strcmp(watch, "instances_running") == 0)
		r = watch_instances(spec, *aws, &t, detail, n, &e);
	else if (strcmp(watch, "asg_in_service") == 0)
		r = watch_asg(spec, *aws, detail, n, &e);
	else if (strcmp(watch, "targets_healthy") == 0)
		r = watch_targets(spec, *aws, detail, n, &e);
	else
		r = watch_cluster(spec, *aws, detail, n, &e);
	fl_aws_target_release(&t);
	if (r < 0) {
		snprintf(detail, n, "%s", e.msg);
		r = 0;
	}
	return r;
}

/* ---- engine sampling ---------------------------------------------------------- */

static void *aws_worker(void *arg)
{
	struct aws_probe *a = arg;
	uint64_t one = 1;
	a->result = aws_read(a->spec, &a->aws, a->detail, sizeof(a->detail));
	a->done_ns = fl_now_ns();
	atomic_store(&a->done, 1);
	while (write(a->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	return NULL;
}

/* Joins a finished (or, at abandon, a running: bounded by its timeout)
 * sample thread and frees the probe's in-flight place. */
static void aws_join(struct fl_probe_engine *eng, struct probe *p)
{
	struct aws_probe *a = p->kind_data;
	uint64_t v;
	pthread_join(a->thread, NULL);
	a->started = 0;
	while (read(a->efd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	p->in_flight = 0;
	eng->in_flight--;
}

static void aws_send(struct fl_probe_engine *eng, struct probe *p, int64_t now)
{
	struct aws_probe *a = p->kind_data;
	size_t idx;
	if (fl_probe_sample_reserve(eng, p, now, &idx) < 0)
		return;
	a->sample = idx;
	a->sent_ns = now;
	a->recorded = 0;
	atomic_store(&a->done, 0);
	if (pthread_create(&a->thread, NULL, aws_worker, a) != 0) {
		fl_probe_sample_done(eng, p, idx, fl_now_ns(), 0);
		return;
	}
	a->started = 1;
	p->in_flight = 1;
	eng->in_flight++;
}

static void aws_poll(struct fl_probe_engine *eng, struct probe *p, int64_t now)
{
	struct aws_probe *a = p->kind_data;
	if (!a->started)
		return;
	if (atomic_load(&a->done)) {
		aws_join(eng, p);
		if (!a->recorded)
			fl_probe_sample_done(eng, p, a->sample, a->done_ns, a->result == 1);
	} else if (!a->recorded && now - a->sent_ns >= p->spec->timeout_ns) {
		/* Failed at its timeout like any sample; the thread ends on
		 * its own within the same timeout (curl's) and is joined then. */
		a->recorded = 1;
		fl_probe_sample_done(eng, p, a->sample, now, 0);
	}
}

static int64_t aws_wake(const struct probe *p, int64_t now, int64_t wake)
{
	const struct aws_probe *a = p->kind_data;
	int64_t t;
	(void)now;
	if (!a->started || a->recorded)
		return wake;
	t = a->sent_ns + p->spec->timeout_ns;
	return t < wake ? t : wake;
}

static void aws_abandon(struct fl_probe_engine *eng, struct probe *p)
{
	struct aws_probe *a = p->kind_data;
	if (a->started)
		aws_join(eng, p);
}

static int aws_attach(struct probe *p)
{
	struct aws_probe *a = fl_calloc(1, sizeof(*a));
	if (!a)
		return -1;
	a->spec = p->spec;
	a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->efd < 0) {
		fl_free(a);
		return -1;
	}
	p->kind_data = a;
	p->pidfd = a->efd; /* the engine's loop wakes when a sample ends */
	return 0;
}

static void aws_detach(struct probe *p)
{
	struct aws_probe *a = p->kind_data;
	if (!a)
		return;
	close(a->efd);
	p->pidfd = -1;
	fl_aws_free(a->aws);
	fl_free(a);
	p->kind_data = NULL;
}

/* One blocking read. The AWS client bounds it by its own request timeout and
 * retries (core/aws.h), not by deadline_ns: a read in flight finishes its
 * request. A stop already requested means no read at all. */
static int aws_check_once(const struct fl_probe_spec *spec, int64_t deadline_ns, atomic_int *stop,
			  char *detail, size_t detail_len)
{
	struct fl_aws *aws = NULL;
	int r;
	(void)deadline_ns;
	if (stop && atomic_load(stop)) {
		snprintf(detail, detail_len, "not attempted: stopped");
		return 0;
	}
	r = aws_read(spec, &aws, detail, detail_len);
	fl_aws_free(aws);
	return r;
}

static int aws_ready(const struct fl_probe_spec *spec)
{
	return spec->cloud != NULL;
}

static size_t aws_cap(const struct fl_probe_spec *spec)
{
	(void)spec;
	return 1;
}

/* ---- scenario keys ------------------------------------------------------------ */

/* The key a watch needs (NULL: none) and the keys it accepts. */
static int aws_parse_watch(struct fl_doc *doc, json_t *obj, size_t w, struct fl_error *err)
{
	static const char *const needs[] = { NULL, "group", "target_group", "cluster" };
	char *s = NULL;
	long min = 0;
	int r;
	for (size_t i = 1; i < FL_ARRAY_LEN(needs); i++) {
		r = fl_doc_string(doc, obj, needs[i], i == w, &s, err);
		fl_free(s);
		s = NULL;
		if (r < 0)
			return -1;
		if (r == 1 && i != w)
			return fl_doc_error_member(doc, obj, needs[i], err,
						   "'%s': not a key of watch '%s'", needs[i],
						   aws_watches[w]);
	}
	r = fl_doc_string(doc, obj, "writer", 0, &s, err);
	fl_free(s);
	if (r < 0)
		return -1;
	if (r == 1 && w != 3)
		return fl_doc_error_member(doc, obj, "writer", err,
					   "'writer': only for watch 'cluster_writer'");
	r = fl_doc_int(doc, obj, "min", 0, 0, 100000, &min, err);
	if (r < 0)
		return -1;
	if (r == 1 && (w == 1 || w == 3))
		return fl_doc_error_member(doc, obj, "min", err, "'min': not a key of watch '%s'",
					   aws_watches[w]);
	return 0;
}

static int aws_parse(struct fl_doc *doc, json_t *obj, struct fl_probe_spec *p, int is_check,
		     struct fl_error *err)
{
	char *watch = NULL;
	size_t w = FL_ARRAY_LEN(aws_watches);
	int rc = -1;

	if (fl_doc_string(doc, obj, "watch", 1, &watch, err) < 0)
		return -1;
	for (size_t i = 0; i < FL_ARRAY_LEN(aws_watches); i++)
		if (strcmp(watch, aws_watches[i]) == 0)
			w = i;
	if (w == FL_ARRAY_LEN(aws_watches)) {
		fl_doc_error_member(doc, obj, "watch", err,
				    "unknown watch '%s' (expected instances_running, asg_in_service, targets_healthy or cluster_writer)",
				    watch);
		goto out;
	}
	if (!p->target) {
		fl_doc_error_member(doc, obj, "type", err,
				    "aws probe '%s' needs a 'target': a cloud target of the environment",
				    p->name);
		goto out;
	}
	if (aws_parse_watch(doc, obj, w, err) < 0)
		goto out;
	if (!is_check && !json_object_get(obj, "interval"))
		p->interval_ns = AWS_PROBE_DEFAULT_INTERVAL_NS;
	if (!is_check && p->interval_ns < AWS_PROBE_MIN_INTERVAL_NS) {
		fl_doc_error_member(doc, obj, "interval", err,
				    "'interval': an aws probe samples at most once a second (AWS API rate limits)");
		goto out;
	}
	/* An API answer takes longer than a local one (TLS, signing, a busy
	 * region): a sample may use its whole interval, at most 10s. */
	if (!is_check && !json_object_get(obj, "timeout"))
		p->timeout_ns = p->interval_ns < AWS_PROBE_MAX_DEFAULT_TIMEOUT_NS
					? p->interval_ns
					: AWS_PROBE_MAX_DEFAULT_TIMEOUT_NS;
	rc = 0;
out:
	fl_free(watch);
	return rc;
}

/* The one read each watch makes per sample (DescribeInstances over every page). */
static const char *aws_api_reads(const struct fl_probe_spec *spec)
{
	static const char *const reads[] = { "ec2 DescribeInstances",
					     "autoscaling DescribeAutoScalingGroups",
					     "elbv2 DescribeTargetHealth", "rds DescribeDBClusters" };
	const char *watch = param(spec, "watch");
	for (size_t i = 0; watch && i < FL_ARRAY_LEN(aws_watches); i++)
		if (strcmp(watch, aws_watches[i]) == 0)
			return reads[i];
	return NULL;
}

const struct fl_probe_kind_ops fl_probe_kind_aws = {
	.name = "aws",
	.kind = FL_PROBE_AWS,
	.parse = aws_parse,
	.ready = aws_ready,
	.cap = aws_cap,
	.attach = aws_attach,
	.detach = aws_detach,
	.send = aws_send,
	.poll = aws_poll,
	.wake = aws_wake,
	.abandon = aws_abandon,
	.check_once = aws_check_once,
	.api_reads = aws_api_reads,
};
