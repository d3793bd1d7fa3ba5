/*
 * probe_latency: the default latency threshold of an http or tcp probe,
 * derived from its steady state (sim/probe.h, FL_PROBE_LATENCY_*;
 * docs/measurement.md, "slow is down"). Owns: reading a probe's steady
 * state and the derivation. Does not own: judging answers against the
 * threshold (probe.c).
 */
#include "sim/probe.h"
#include "sim/probe_kind.h"
#include "core/alloc.h"

#include <gsl/gsl_statistics_double.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static int cmp_ns(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int64_t fl_probe_latency_derive(const struct fl_probe_steady *st, int64_t *busy)
{
	const double *own = st->own;
	size_t n = st->n;
	int64_t t, max, loaded = FL_PROBE_LATENCY_INTERVALS * st->interval_ns;
	int calm;

	if (busy)
		*busy = 0;
	if (n < FL_PROBE_LATENCY_MIN_SAMPLES)
		return 0;
	max = (int64_t)own[n - 1];
	t = (int64_t)(FL_PROBE_LATENCY_P99_FACTOR *
		      gsl_stats_quantile_from_sorted_data(own, 1, n, 0.99));
	/* A machine that stalled once in the steady state will again: the
	 * worst answer seen, with room, is not an outage. */
	if (t < FL_PROBE_LATENCY_MAX_FACTOR * max)
		t = FL_PROBE_LATENCY_MAX_FACTOR * max;
	/* No stall of the target nor of the prober in a long enough steady
	 * state: the floor a loaded machine needs is not this one's. */
	calm = n >= FL_PROBE_LATENCY_CALM_SAMPLES && st->late_ns <= FL_PROBE_LATENCY_CALM_SPREAD_NS &&
	       st->waited_ns >= 0 && st->span_ns > 0 &&
	       st->waited_ns * 1000 <= st->span_ns * FL_PROBE_LATENCY_CALM_WAIT_PERMILLE &&
	       max - (int64_t)gsl_stats_median_from_sorted_data(own, 1, n) <=
		       FL_PROBE_LATENCY_CALM_SPREAD_NS;
	if (loaded < FL_PROBE_LATENCY_FLOOR_NS)
		loaded = FL_PROBE_LATENCY_FLOOR_NS;
	loaded = t > loaded ? t : loaded;
	if (t < FL_PROBE_LATENCY_CALM_FLOOR_NS)
		t = FL_PROBE_LATENCY_CALM_FLOOR_NS;
	if (!calm)
		t = loaded;
	/* The answers' shares with the machine's waits taken out (the
	 * prober's and the local target's): what is left is the target's
	 * own answer time, and no guess about the machine is needed. */
	if (st->local) {
		t = (int64_t)(FL_PROBE_LATENCY_P99_FACTOR *
			      gsl_stats_quantile_from_sorted_data(own, 1, n, 0.99));
		if (t < FL_PROBE_LATENCY_LOCAL_FLOOR_NS)
			t = FL_PROBE_LATENCY_LOCAL_FLOOR_NS;
	}
	/* At or past the timeout the timeout already says it. */
	if (busy)
		*busy = loaded >= st->timeout_ns ? 0 : loaded;
	return t >= st->timeout_ns ? 0 : t;
}

/* Reads probe p's steady state so far into st (own[] allocated, sorted;
 * the caller frees it). Caller holds the lock. */
static void probe_steady(const struct fl_probe_engine *eng, const struct probe *p,
			 struct fl_probe_steady *st, double **own)
{
	size_t n = p->ncomplete, nok = 0;
	int64_t interval = p->spec->interval_ns;

	memset(st, 0, sizeof(*st));
	st->interval_ns = interval;
	st->timeout_ns = p->spec->timeout_ns;
	st->waited_ns = -1;
	*own = n > 0 ? fl_malloc(n * sizeof(**own)) : NULL;
	if (!*own)
		return;
	size_t measured = 0;
	for (size_t i = 0; i < n; i++) {
		/* Late on its tick, or ticks dropped since the one before. */
		int64_t off = (p->samples[i].sent_ns - eng->start_ns) % interval;
		if (i > 0 && p->samples[i].sent_ns - p->samples[i - 1].sent_ns - interval > off)
			off = p->samples[i].sent_ns - p->samples[i - 1].sent_ns - interval;
		if (off > st->late_ns)
			st->late_ns = off;
		/* The target's share of each answer: the loop's own stalls
		 * would otherwise set the threshold (and a stall near the
		 * timeout would switch it off). */
		if (!p->samples[i].ok)
			continue;
		(*own)[nok] = (double)(p->samples[i].done_ns - p->samples[i].sent_ns -
				       fl_probe_machine_share(p, i));
		if (p->aux[i].target_ns >= 0)
			measured++;
		if ((*own)[nok] < 0)
			(*own)[nok] = 0;
		nok++;
	}
	/* Every answer's target waits measured: the local threshold. */
	st->local = nok > 0 && measured == nok;
	if (n > 1 && p->aux[0].run_delay_at_send >= 0 && p->aux[n - 1].run_delay_at_send >= 0) {
		st->waited_ns = p->aux[n - 1].run_delay_at_send - p->aux[0].run_delay_at_send;
		st->span_ns = p->samples[n - 1].sent_ns - p->samples[0].sent_ns;
	}
	qsort(*own, nok, sizeof(**own), cmp_ns);
	st->own = *own;
	st->n = nok;
}

int64_t fl_probe_engine_arm_latency(struct fl_probe_engine *eng, int idx)
{
	struct fl_probe_steady st;
	struct probe *p;
	double *own = NULL;
	int64_t t = 0, busy = 0;

	if (idx < 0 || (size_t)idx >= eng->nprobes)
		return 0;
	p = eng->probes[idx];
	/* The scenario said (a duration, or "off"), or the kind has none. */
	if (p->spec->max_latency_ns != 0 || !p->ops->curl_judge)
		return p->max_latency_ns;
	pthread_mutex_lock(&eng->lock);
	probe_steady(eng, p, &st, &own);
	pthread_mutex_unlock(&eng->lock);
	if (own)
		t = fl_probe_latency_derive(&st, &busy);
	fl_free(own);
	pthread_mutex_lock(&eng->lock);
	p->max_latency_ns = t;
	p->busy_latency_ns = t > 0 && busy > t ? busy : t;
	p->latency_derived = t > 0;
	p->latency_local = t > 0 && st.local;
	pthread_mutex_unlock(&eng->lock);
	return t;
}
