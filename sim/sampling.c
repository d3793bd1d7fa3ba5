/*
 * sampling: probe state per drill, fed from the engine's sample arrays.
 */
#include "sim/sampling.h"

#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "sim/drill.h"

#define SAMPLE_BATCH 256
#define STEADY_SLICE_NS (20 * FL_NS_PER_MS)
#define STEADY_EXTRA_NS (15 * FL_NS_PER_S)


static void take_sample(struct probe_state *p, const struct fl_sample *s)
{
	int64_t t = fl_sample_time(s);
	p->last = *s;
	p->has_last = 1;
	if (s->ok) {
		p->fail_since = -1;
		if (p->ok_since < 0)
			p->ok_since = t;
	} else {
		p->ok_since = -1;
		if (p->fail_since < 0)
			p->fail_since = t;
	}
}

void sampling_ingest(struct drill *d, int64_t now)
{
	struct fl_sample buf[SAMPLE_BATCH];
	for (size_t i = 0; i < d->nps; i++) {
		struct probe_state *p = &d->ps[i];
		size_t n;
		while ((n = fl_probe_engine_samples(d->eng, p->idx, p->seen, buf, SAMPLE_BATCH)) > 0) {
			for (size_t k = 0; k < n; k++)
				take_sample(p, &buf[k]);
			p->seen += n;
			if (n < SAMPLE_BATCH)
				break;
		}
		if (d->clk.t0 < 0)
			continue;
		while ((n = fl_probe_engine_samples(d->eng, p->idx, p->fed, buf, SAMPLE_BATCH)) > 0) {
			for (size_t k = 0; k < n; k++)
				fl_timeline_feed(&p->tl, &buf[k]);
			p->fed += n;
			if (n < SAMPLE_BATCH)
				break;
		}
		fl_timeline_tick(&p->tl, now);
	}
}

struct probe_state *probe_by_name(struct drill *d, const char *name)
{
	for (size_t i = 0; i < d->nps; i++)
		if (!strcmp(d->ps[i].spec->name, name))
			return &d->ps[i];
	return NULL;
}

/* A probe is healthy again: restored per its timeline, or never impacted and
 * its latest sample ok. */
int probe_healthy(const struct probe_state *p)
{
	if (fl_timeline_impacted(&p->tl))
		return fl_timeline_restored(&p->tl);
	return p->has_last && p->last.ok;
}


int sampling_start(struct drill *d, const char *tag_base)
{
	d->nps = d->sc->nprobes;
	d->ps = fl_calloc(d->nps ? d->nps : 1, sizeof(*d->ps));
	d->writers = fl_calloc(d->sc->nwriters ? d->sc->nwriters : 1, sizeof(*d->writers));
	if (!d->ps || !d->writers)
		return fl_error_oom(d->err, "runner");
	d->eng = fl_probe_engine_new(d->err);
	if (!d->eng)
		return -1;
	for (size_t i = 0; i < d->nps; i++) {
		d->ps[i].spec = &d->sc->probes[i];
		d->ps[i].fail_since = d->ps[i].ok_since = -1;
		d->ps[i].idx = fl_probe_engine_add(d->eng, &d->sc->probes[i], d->err);
		if (d->ps[i].idx < 0)
			return -1;
		fl_timeline_init(&d->ps[i].tl, INT64_MAX, 1, d->sc->stability_ns);
	}
	d->avail = d->sc->availability;
	d->detect = d->avail;
	if (d->sc->detect_probe) {
		struct probe_state *p = probe_by_name(d, d->sc->detect_probe);
		if (p)
			d->detect = (size_t)(p - d->ps);
	}
	if (fl_probe_engine_start(d->eng, d->err) < 0)
		return -1;
	for (size_t i = 0; i < d->sc->nwriters; i++) {
		char tag[160];
		snprintf(tag, sizeof(tag), "%s-%s", tag_base, d->sc->writers[i].name);
		d->writers[i] = fl_writer_new(&d->sc->writers[i], tag, d->err);
		if (!d->writers[i] || fl_writer_start(d->writers[i], d->err) < 0)
			return -1;
	}
	return 0;
}

/* The first probe not steady at `now`, or d->nps when all are. */
static size_t unsteady_probe(const struct drill *d, int64_t now)
{
	for (size_t i = 0; i < d->nps; i++) {
		const struct probe_state *p = &d->ps[i];
		if (!(p->has_last && p->last.ok && p->ok_since >= 0 &&
		      now - p->ok_since >= d->sc->steady_ns))
			return i;
	}
	return d->nps;
}

static int steady_failed(struct drill *d, size_t bad)
{
	char detail[256] = "";
	if (bad < d->nps) {
		fl_probe_check_once(d->ps[bad].spec, 0, d->o->interrupted, detail, sizeof(detail));
		fl_error_set(d->err, FL_EXIT_ENV,
			     "%s: steady state not reached: probe '%s' is not healthy%s%s; nothing was injected",
			     d->sc->name, d->ps[bad].spec->name, detail[0] ? ": " : "", detail);
	} else {
		fl_error_set(d->err, FL_EXIT_ENV,
			     "%s: steady state not reached: a writer has no acknowledged write; nothing was injected",
			     d->sc->name);
	}
	drill_outcome(d, FL_OUTCOME_ERROR, NULL);
	return -1;
}

/* Waits until every probe has been ok for the steady-state window and every
 * writer has an acknowledged write. */
int sampling_steady(struct drill *d)
{
	int64_t start = fl_now_ns();
	int64_t deadline = start + d->sc->steady_ns + STEADY_EXTRA_NS;
	for (;;) {
		int64_t now = fl_now_ns();
		size_t bad;
		int writers_ok = 1;
		sampling_ingest(d, now);
		bad = unsteady_probe(d, now);
		for (size_t i = 0; i < d->sc->nwriters; i++)
			if (fl_writer_acked(d->writers[i]) < 1)
				writers_ok = 0;
		if (bad == d->nps && writers_ok && now - start >= d->sc->steady_ns) {
			drill_say(d, "steady state: all %zu probe(s) healthy for %.3f s", d->nps,
				  (double)d->sc->steady_ns / 1e9);
			/* From here an answer much slower than the steady state
			 * is a failed sample: a hang is an outage (probe.h). */
			for (size_t i = 0; i < d->nps; i++) {
				const struct fl_probe_spec *ps = d->ps[i].spec;
				int64_t ml = fl_probe_engine_arm_latency(d->eng, d->ps[i].idx);
				struct fl_probe_summary_lite l;
				char where[160] = "";
				fl_probe_engine_summary(d->eng, d->ps[i].idx, &l);
				if (l.target_pid > 0 && l.cpus_watched > 0)
					snprintf(where, sizeof(where),
						 " (target on this machine: pid %ld, its CPU waits and the "
						 "time its %d CPUs were lost subtracted)",
						 l.target_pid, l.cpus_watched);
				else if (l.target_pid > 0)
					snprintf(where, sizeof(where),
						 " (target on this machine: pid %ld, its CPU waits subtracted)",
						 l.target_pid);
				if (ml > 0)
					drill_say(d,
						  "probe %s: answers slower than %.3f ms count as failed%s",
						  ps->name, (double)ml / 1e6, where);
				else if (ps->max_latency_ns == 0 &&
					 (ps->kind == FL_PROBE_HTTP || ps->kind == FL_PROBE_TCP))
					/* Derivable, but the steady state was too slow
					 * (a loaded machine): say so, hangs shorter than
					 * the timeout go unseen. */
					drill_say(d,
						  "probe %s: no latency threshold: steady-state answers (p99 "
						  "%.3f ms) leave none below the %.3f ms timeout, so only a "
						  "timeout fails a sample%s",
						  ps->name, l.latency_p99_ms,
						  (double)ps->timeout_ns / 1e6, where);
			}
			return 0;
		}
		if (drill_interrupted(d)) {
			drill_outcome(d, FL_OUTCOME_INTERRUPTED, "interrupted during %s",
				      fl_stage_name(d->stage));
			return -1;
		}
		if (now >= deadline)
			return steady_failed(d, bad);
		fl_probe_engine_wait(d->eng, now + STEADY_SLICE_NS, d->o->interrupted);
	}
}

static const char *probe_kind_name(enum fl_probe_kind k)
{
	switch (k) {
	case FL_PROBE_HTTP: return "http";
	case FL_PROBE_TCP: return "tcp";
	case FL_PROBE_COMMAND: return "command";
	case FL_PROBE_WRITER: return "writer";
	case FL_PROBE_AWS: return "aws";
	}
	return "?";
}

void sampling_summarize(struct drill *d)
{
	for (size_t i = 0; i < d->nps; i++) {
		struct fl_probe_summary_lite l;
		struct fl_probe_summary s;
		memset(&l, 0, sizeof(l));
		fl_probe_engine_summary(d->eng, d->ps[i].idx, &l);
		s.name = d->ps[i].spec->name;
		/* fl_run_add_probe copies the name; the summary never writes through it. */
		s.kind = FL_UNCONST(char *, probe_kind_name(d->ps[i].spec->kind));
		s.samples = l.samples;
		s.failures = l.failures;
		s.interval_ms = (double)d->ps[i].spec->interval_ns / 1e6;
		s.latency_p50_ms = l.latency_p50_ms;
		s.latency_p99_ms = l.latency_p99_ms;
		s.latency_max_ms = l.latency_max_ms;
		s.skipped = l.skipped;
		s.max_latency_ms = l.max_latency_ms;
		if (l.skipped > 0)
			drill_say(d,
				  "warning: probe %s skipped %ld tick(s): samples in flight hit their cap, "
				  "so its schedule had gaps",
				  s.name, l.skipped);
		fl_run_add_probe(d->run, &s);
	}
}
