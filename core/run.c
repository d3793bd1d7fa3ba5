/*
 * run: the record of one drill in memory, and its JSON form. See run.h.
 */
#include "core/run.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

static const char *const verdict_names[] = {
	[FL_VERDICT_RUNNING] = "running", [FL_VERDICT_PASS] = "pass",
	[FL_VERDICT_FAIL] = "fail",       [FL_VERDICT_ERROR] = "error",
	[FL_VERDICT_ABORTED] = "aborted",
};

_Static_assert(FL_ARRAY_LEN(verdict_names) == FL_VERDICT_ABORTED + 1, "one name per verdict");

const char *fl_verdict_name(enum fl_verdict v)
{
	if ((unsigned)v < FL_ARRAY_LEN(verdict_names))
		return verdict_names[v];
	return "unknown";
}

int fl_verdict_parse(const char *name, enum fl_verdict *out)
{
	for (size_t i = 0; name && i < FL_ARRAY_LEN(verdict_names); i++) {
		if (!strcmp(name, verdict_names[i])) {
			*out = (enum fl_verdict)i;
			return 0;
		}
	}
	return -1;
}

static char *dup_or_null(const char *s, int *failed)
{
	char *d;
	if (!s)
		return NULL;
	d = fl_strdup(s);
	if (!d)
		*failed = 1;
	return d;
}

/* ---- runs in memory ---------------------------------------------------------- */

void fl_run_init(struct fl_run *run)
{
	memset(run, 0, sizeof(*run));
	run->duration_ms = NAN;
	run->rto_ms = run->rto_uncertainty_ms = NAN;
	run->rpo_ms = run->rpo_uncertainty_ms = NAN;
	run->ttv_ms = NAN;
	run->rto_target_ms = run->rpo_target_ms = NAN;
	run->lost_before_fault = run->lost_after_fault = -1;
	run->writes_acked = run->writes_failed = run->writes_indeterminate = -1;
	run->writes_failed_present = -1;
}

void fl_run_release(struct fl_run *run)
{
	if (!run)
		return;
	fl_free(run->scenario);
	fl_free(run->environment);
	fl_free(run->label);
	fl_free(run->asset);
	fl_free(run->verdict);
	fl_free(run->lost_seqs);
	for (size_t i = 0; i < run->nevents; i++)
		fl_free(run->events[i].name);
	fl_free(run->events);
	for (size_t i = 0; i < run->nphases; i++)
		fl_free(run->phases[i].name);
	fl_free(run->phases);
	for (size_t i = 0; i < run->nprobes; i++) {
		fl_free(run->probes[i].name);
		fl_free(run->probes[i].kind);
	}
	fl_free(run->probes);
	for (size_t i = 0; i < run->nfailures; i++)
		fl_free(run->failures[i]);
	fl_free(run->failures);
	fl_free(run->faultline_version);
	fl_free(run->host);
	fl_free(run->backup_last_good_type);
	fl_run_init(run);
}

/* Grows *arr (of n elements of size sz) by one; the new slot is zeroed. */
static void *array_grow(void *arr, size_t n, size_t sz)
{
	char *p;
	if (n >= SIZE_MAX / sz - 1)
		return NULL;
	p = fl_realloc(arr, (n + 1) * sz);
	if (p)
		memset(p + n * sz, 0, sz);
	return p;
}

/* Events and phases are the same shape, a name and two figures: one
 * appender for both. The name is the first member of either struct, so the
 * new slot's name is written through a char ** at its start. */
_Static_assert(offsetof(struct fl_run_event, name) == 0 && offsetof(struct fl_run_phase, name) == 0,
	       "named records start with their name");

/* Grows arr (n elements of sz bytes) by one zeroed element named by a copy
 * of name; returns the new array (the caller stores it and counts the
 * element), or NULL with arr untouched. */
static void *named_grow(void *arr, size_t n, size_t sz, const char *name)
{
	char *copy, *p;
	if (!name || !(copy = fl_strdup(name)))
		return NULL;
	p = array_grow(arr, n, sz);
	if (!p) {
		fl_free(copy);
		return NULL;
	}
	memcpy(p + n * sz, &copy, sizeof(copy));
	return p;
}

int fl_run_add_event(struct fl_run *run, const char *name, double t_ms, double unc_ms)
{
	struct fl_run_event *ev = named_grow(run->events, run->nevents, sizeof(*ev), name);
	if (!ev)
		return -1;
	run->events = ev;
	ev[run->nevents].t_ms = t_ms;
	ev[run->nevents].uncertainty_ms = unc_ms;
	run->nevents++;
	return 0;
}

int fl_run_add_phase(struct fl_run *run, const char *name, double start_ms, double end_ms)
{
	struct fl_run_phase *ph = named_grow(run->phases, run->nphases, sizeof(*ph), name);
	if (!ph)
		return -1;
	run->phases = ph;
	ph[run->nphases].start_ms = start_ms;
	ph[run->nphases].end_ms = end_ms;
	run->nphases++;
	return 0;
}

int fl_run_add_failure(struct fl_run *run, const char *fmt, ...)
{
	struct fl_buf b;
	char **arr;
	char *reason;
	va_list ap;
	fl_buf_init(&b, 0);
	va_start(ap, fmt);
	fl_buf_addvf(&b, fmt, ap);
	va_end(ap);
	if (b.failed) {
		fl_buf_release(&b);
		return -1;
	}
	reason = fl_buf_detach(&b);
	if (!reason)
		return -1;
	/* Reasons are one line each: reports and `runs` print them as such. */
	for (char *p = reason; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	arr = array_grow(run->failures, run->nfailures, sizeof(*arr));
	if (!arr) {
		fl_free(reason);
		return -1;
	}
	run->failures = arr;
	arr[run->nfailures++] = reason;
	return 0;
}

int fl_run_add_probe(struct fl_run *run, const struct fl_probe_summary *p)
{
	struct fl_probe_summary *arr;
	int failed = 0;
	char *name, *kind;
	if (!p->name)
		return -1;
	name = dup_or_null(p->name, &failed);
	kind = dup_or_null(p->kind, &failed);
	arr = failed ? NULL : array_grow(run->probes, run->nprobes, sizeof(*arr));
	if (!arr) {
		fl_free(name);
		fl_free(kind);
		return -1;
	}
	run->probes = arr;
	arr[run->nprobes] = *p;
	arr[run->nprobes].name = name;
	arr[run->nprobes].kind = kind;
	run->nprobes++;
	return 0;
}

int fl_run_add_lost_seq(struct fl_run *run, long seq)
{
	long *arr = array_grow(run->lost_seqs, run->nlost_seqs, sizeof(*arr));
	if (!arr)
		return -1;
	run->lost_seqs = arr;
	arr[run->nlost_seqs++] = seq;
	return 0;
}


/* Builders that turn "does not apply" into null and remember an allocation
 * failure, so fl_run_to_json checks once at the end. */
static json_t *j_real(double v, int *failed)
{
	json_t *j = isfinite(v) ? json_real(v) : json_null();
	if (!j)
		*failed = 1;
	return j;
}

static json_t *j_count(long v, int *failed)
{
	json_t *j = v >= 0 ? json_integer(v) : json_null();
	if (!j)
		*failed = 1;
	return j;
}

static json_t *j_str(const char *s, int *failed)
{
	json_t *j = s ? json_string(s) : json_null();
	if (!j)
		*failed = 1;
	return j;
}

static void j_set(json_t *obj, const char *key, json_t *v, int *failed)
{
	if (!v || json_object_set_new(obj, key, v))
		*failed = 1;
}

static void j_append(json_t *arr, json_t *v, int *failed)
{
	if (!v || json_array_append_new(arr, v))
		*failed = 1;
}

static json_t *run_writes_json(const struct fl_run *run, int *failed)
{
	json_t *w;
	if (run->writes_acked < 0 && run->writes_failed < 0 && run->writes_indeterminate < 0)
		return j_str(NULL, failed);
	w = json_object();
	if (!w) {
		*failed = 1;
		return NULL;
	}
	j_set(w, "acked", j_count(run->writes_acked, failed), failed);
	j_set(w, "failed", j_count(run->writes_failed, failed), failed);
	j_set(w, "indeterminate", j_count(run->writes_indeterminate, failed), failed);
	j_set(w, "failed_present", j_count(run->writes_failed_present, failed), failed);
	return w;
}

static json_t *lost_seqs_json(const struct fl_run *run, int *failed)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < run->nlost_seqs; i++)
		j_append(a, json_integer(run->lost_seqs[i]), failed);
	return a;
}

static json_t *events_json(const struct fl_run *run, int *failed)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < run->nevents; i++) {
		json_t *e = json_object();
		if (e) {
			j_set(e, "name", j_str(run->events[i].name, failed), failed);
			j_set(e, "t_ms", j_real(run->events[i].t_ms, failed), failed);
			j_set(e, "uncertainty_ms", j_real(run->events[i].uncertainty_ms, failed),
			      failed);
		}
		j_append(a, e, failed);
	}
	return a;
}

static json_t *phases_json(const struct fl_run *run, int *failed)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < run->nphases; i++) {
		json_t *p = json_object();
		if (p) {
			j_set(p, "name", j_str(run->phases[i].name, failed), failed);
			j_set(p, "start_ms", j_real(run->phases[i].start_ms, failed), failed);
			j_set(p, "end_ms", j_real(run->phases[i].end_ms, failed), failed);
		}
		j_append(a, p, failed);
	}
	return a;
}

static json_t *probes_json(const struct fl_run *run, int *failed)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < run->nprobes; i++) {
		const struct fl_probe_summary *ps = &run->probes[i];
		json_t *p = json_object();
		if (p) {
			j_set(p, "name", j_str(ps->name, failed), failed);
			j_set(p, "kind", j_str(ps->kind, failed), failed);
			j_set(p, "samples", j_count(ps->samples, failed), failed);
			j_set(p, "failures", j_count(ps->failures, failed), failed);
			j_set(p, "interval_ms", j_real(ps->interval_ms, failed), failed);
			j_set(p, "latency_p50_ms", j_real(ps->latency_p50_ms, failed), failed);
			j_set(p, "latency_p99_ms", j_real(ps->latency_p99_ms, failed), failed);
			j_set(p, "latency_max_ms", j_real(ps->latency_max_ms, failed), failed);
			j_set(p, "skipped", j_count(ps->skipped, failed), failed);
			/* Only where a threshold was in force: older runs and
			 * probes without one keep their shape. */
			if (ps->max_latency_ms > 0)
				j_set(p, "max_latency_ms", j_real(ps->max_latency_ms, failed),
				      failed);
		}
		j_append(a, p, failed);
	}
	return a;
}

static json_t *failures_json(const struct fl_run *run, int *failed)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < run->nfailures; i++)
		j_append(a, j_str(run->failures[i], failed), failed);
	return a;
}

json_t *fl_run_to_json(const struct fl_run *run)
{
	json_t *o = json_object();
	char started[48], backup_at[48];
	int failed = !o;

	if (failed)
		return NULL;
	j_set(o, "id", run->id > 0 ? json_integer(run->id) : json_null(), &failed);
	j_set(o, "scenario", j_str(run->scenario, &failed), &failed);
	j_set(o, "environment", j_str(run->environment, &failed), &failed);
	j_set(o, "label", j_str(run->label, &failed), &failed);
	j_set(o, "asset", j_str(run->asset, &failed), &failed);
	j_set(o, "started_at",
	      j_str(run->started_wall_ns ? fl_rfc3339(run->started_wall_ns, started, sizeof(started))
					 : NULL,
		    &failed),
	      &failed);
	j_set(o, "verdict", j_str(run->verdict, &failed), &failed);
	j_set(o, "duration_ms", j_real(run->duration_ms, &failed), &failed);
	j_set(o, "rto_ms", j_real(run->rto_ms, &failed), &failed);
	j_set(o, "rto_uncertainty_ms", j_real(run->rto_uncertainty_ms, &failed), &failed);
	j_set(o, "rpo_ms", j_real(run->rpo_ms, &failed), &failed);
	j_set(o, "rpo_uncertainty_ms", j_real(run->rpo_uncertainty_ms, &failed), &failed);
	j_set(o, "ttv_ms", j_real(run->ttv_ms, &failed), &failed);
	j_set(o, "rto_target_ms", j_real(run->rto_target_ms, &failed), &failed);
	j_set(o, "rpo_target_ms", j_real(run->rpo_target_ms, &failed), &failed);
	j_set(o, "lost_before_fault", j_count(run->lost_before_fault, &failed), &failed);
	j_set(o, "lost_after_fault", j_count(run->lost_after_fault, &failed), &failed);
	j_set(o, "writes", run_writes_json(run, &failed), &failed);
	j_set(o, "backup_last_good_at",
	      j_str(run->backup_last_good_wall_ns > 0
			    ? fl_rfc3339(run->backup_last_good_wall_ns, backup_at, sizeof(backup_at))
			    : NULL,
		    &failed),
	      &failed);
	j_set(o, "backup_last_good_type", j_str(run->backup_last_good_type, &failed), &failed);

	j_set(o, "lost_seqs", lost_seqs_json(run, &failed), &failed);
	j_set(o, "events", events_json(run, &failed), &failed);
	j_set(o, "phases", phases_json(run, &failed), &failed);
	j_set(o, "probes", probes_json(run, &failed), &failed);
	j_set(o, "failures", failures_json(run, &failed), &failed);

	if (failed) {
		json_decref(o);
		return NULL;
	}
	return o;
}
