/*
 * probe: the availability prober. One background thread per engine drives
 * every probe from a single loop: http and tcp transfers through one libcurl
 * multi handle, command probes as spawned children whose exit is watched
 * through a pidfd handed to the same curl_multi_poll. Also the blocking
 * one-shot checks used by validation, steady-state and wait steps.
 *
 * Owns: schedules, the per-probe sample arrays and their summaries, the
 * probe kind registry. The kinds (probe_http.c, probe_tcp.c,
 * probe_command.c, and the writer kind in writer.c) parse their own keys,
 * send their samples and judge the answers, behind sim/probe_kind.h; http
 * and tcp share the curl transport in probe_curl.c. Does not own: what the
 * samples mean (timeline.c).
 *
 * Why the loop looks like this:
 *  - Probe k's ticks are start + k*interval. A late loop sends at once and
 *    skips the ticks it missed, never bunching them.
 *  - An http or tcp probe keeps sending on schedule while earlier samples
 *    are still in flight. Otherwise a target that hangs (accepts, never
 *    answers) would be sampled once per timeout instead of once per
 *    interval, and its edges would be known to a timeout instead of to the
 *    interval docs/measurement.md promises. Each in-flight sample runs on its own easy
 *    handle from a small per-probe pool. A kept-alive HTTP/1.1 connection
 *    carries one request at a time, so an overlapping sample opens a new
 *    connection; connections live in the multi handle's cache, so whichever
 *    handle sends next reuses one that is free.
 *  - In flight is capped per probe at ceil(timeout/interval)+1 (enough to
 *    keep every tick while each sample lasts its full timeout) and per engine
 *    at FL_PROBE_MAX_IN_FLIGHT, so a thousand hanging targets cannot exhaust
 *    file descriptors. A tick that finds a cap reached is skipped and
 *    counted (the summary's `skipped`).
 *  - Command probes keep at most one sample in flight: a process per sample
 *    is expensive, and a pile of stuck probe commands would load the very
 *    machine being measured. Their ticks during a running sample are skipped
 *    and counted the same way.
 *  - Samples complete out of order but are stored in the order they were
 *    sent: a slot is reserved in the probe's array when a sample is sent and
 *    filled when it completes. Readers see only the longest completed
 *    prefix, so nobody ever reads past a gap that is filled in later, and
 *    the index a reader keeps (the runner's "copy from i") stays valid.
 *  - Every sample carries its own timeout (CURLOPT_TIMEOUT_MS, or a kill of
 *    the command's process group), so a hanging target turns into failed
 *    samples placed at their send time, which is what keeps the restore edge
 *    honest (docs/measurement.md, "where a sample sits").
 *  - tcp probes connect afresh every sample: reusing a connect-only
 *    connection would prove nothing about the listener.
 */
#include "sim/probe.h"
#include "sim/probe_kind.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* Longest the loop sleeps with nothing due: stop wakes it anyway. */
#define PROBE_IDLE_NS (200 * FL_NS_PER_MS)
#define PROBE_WAIT_SLICE_NS (50 * FL_NS_PER_MS)
/* A tick this late means the loop was not running. */
#define PROBE_STALL_MIN_NS (1 * FL_NS_PER_MS)
/* done_ns of a sample that was sent and has not completed yet. */
#define PROBE_PENDING INT64_C(-1)
/* ok of a completed sample whose slow answer waits for its neighbours'
 * judgement; never visible to readers (the prefix stops before it). */
#define PROBE_SUSPECT 2

/* ---- the kind registry --------------------------------------------------------- */

static const struct fl_probe_kind_ops *const probe_kinds[] = {
	&fl_probe_kind_http,   &fl_probe_kind_tcp, &fl_probe_kind_command,
	&fl_probe_kind_writer, &fl_probe_kind_aws,
};

const struct fl_probe_kind_ops *fl_probe_kind_find(const char *name)
{
	for (size_t i = 0; name && i < FL_ARRAY_LEN(probe_kinds); i++)
		if (strcmp(probe_kinds[i]->name, name) == 0)
			return probe_kinds[i];
	return NULL;
}

const struct fl_probe_kind_ops *fl_probe_kind_of(enum fl_probe_kind kind)
{
	for (size_t i = 0; i < FL_ARRAY_LEN(probe_kinds); i++)
		if (probe_kinds[i]->kind == kind)
			return probe_kinds[i];
	return NULL;
}

/* "max_latency" is read by the http and tcp kinds: an answer slower than
 * this is a failed sample (degraded counts as down). Absent: derived from
 * the steady state; "off": only the timeout. */
int fl_probe_parse_max_latency(struct fl_doc *doc, json_t *obj, struct fl_probe_spec *p,
			       struct fl_error *err)
{
	const char *s = json_string_value(json_object_get(obj, "max_latency"));
	int r;
	if (s && strcmp(s, "off") == 0) {
		char *off = NULL;
		r = fl_doc_string(doc, obj, "max_latency", 1, &off, err); /* marks the key */
		fl_free(off);
		p->max_latency_ns = FL_PROBE_LATENCY_OFF;
		return r < 0 ? -1 : 0;
	}
	r = fl_doc_duration(doc, obj, "max_latency", 0, &p->max_latency_ns, err);
	if (r < 0)
		return -1;
	if (r == 1 && p->max_latency_ns <= 0)
		return fl_doc_error_member(doc, obj, "max_latency", err,
					   "'max_latency': must be greater than zero");
	if (p->max_latency_ns > 0 && p->max_latency_ns >= p->timeout_ns)
		return fl_doc_error_member(doc, obj, "max_latency", err,
					   "'max_latency': must be shorter than the probe's timeout");
	return 0;
}

/* ---- engine ------------------------------------------------------------------- */

struct fl_probe_engine *fl_probe_engine_new(struct fl_error *err)
{
	struct fl_probe_engine *eng = fl_calloc(1, sizeof(*eng));
	pthread_condattr_t ca;

	if (!eng) {
		fl_error_oom(err, "probe engine");
		return NULL;
	}
	eng->multi = curl_multi_init();
	if (!eng->multi) {
		fl_free(eng);
		fl_error_set(err, FL_EXIT_ENV, "probe engine: cannot create a curl multi handle");
		return NULL;
	}
	/* The connection cache is shared by every handle of the multi. After a
	 * hang it holds one idle connection per overlapping sample; bound it
	 * like the transfers themselves, so descriptors stay bounded too. */
	curl_multi_setopt(eng->multi, CURLMOPT_MAXCONNECTS, (long)FL_PROBE_MAX_IN_FLIGHT);
	atomic_init(&eng->stop, 0);
	eng->schedstat_fd = -1;
	eng->loadavg_fd = -1;
	eng->run_delay_at_read = -1;
	pthread_mutex_init(&eng->lock, NULL);
	/* Deadlines are on CLOCK_MONOTONIC like every time in faultline. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&eng->cond, &ca);
	pthread_condattr_destroy(&ca);
	return eng;
}

static void probe_free(struct probe *p)
{
	if (!p)
		return;
	if (p->ops && p->ops->detach)
		p->ops->detach(p);
	fl_probe_local_detach(p);
	fl_free(p->samples);
	fl_free(p->aux);
	fl_free(p);
}

int fl_probe_engine_add(struct fl_probe_engine *eng, const struct fl_probe_spec *spec,
			struct fl_error *err)
{
	const char *name = spec->name ? spec->name : "?";
	const struct fl_probe_kind_ops *ops = fl_probe_kind_of(spec->kind);
	struct probe **grown, *p;

	if (eng->started)
		return fl_error_set(err, FL_EXIT_INPUT, "probe %s: engine already started", name);
	if (!ops || !ops->send)
		return fl_error_set(err, FL_EXIT_INPUT, "probe %s: writers are not sampled here",
				    name);
	if (spec->interval_ns <= 0 || spec->timeout_ns <= 0)
		return fl_error_set(err, FL_EXIT_INPUT,
				    "probe %s: interval and timeout must be positive", name);
	if (!ops->ready(spec))
		return fl_error_set(err, FL_EXIT_INPUT, "probe %s: nothing to probe", name);
	grown = fl_realloc(eng->probes, (eng->nprobes + 1) * sizeof(*grown));
	if (!grown)
		return fl_error_oom(err, "probe engine");
	eng->probes = grown;
	p = fl_calloc(1, sizeof(*p));
	if (!p)
		return fl_error_oom(err, "probe engine");
	p->spec = spec;
	p->ops = ops;
	p->pidfd = -1;
	p->cap = ops->cap(spec);
	p->max_latency_ns = spec->max_latency_ns > 0 ? spec->max_latency_ns : 0;
	if (ops->attach(p) < 0 || (ops->curl_judge && fl_probe_local_attach(p) < 0)) {
		probe_free(p);
		return fl_error_set(err, FL_EXIT_ENV, "probe %s: cannot set up its transfers", name);
	}
	eng->probes[eng->nprobes] = p;
	return (int)eng->nprobes++;
}

/* How long the engine thread has waited for a CPU while runnable, in ns,
 * or -1 when the kernel does not say (engine thread only). Its growth since
 * the loop last read its sockets bounds how late an answer was collected:
 * a loaded machine's doing, not the target's. */
static int64_t probe_run_delay(const struct fl_probe_engine *eng)
{
	char buf[96];
	ssize_t n;
	char *end;
	long long cpu, wait;

	if (eng->schedstat_fd < 0)
		return -1;
	n = pread(eng->schedstat_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	cpu = strtoll(buf, &end, 10);
	if (end == buf || cpu < 0)
		return -1;
	wait = strtoll(end, &end, 10);
	return wait >= 0 ? (int64_t)wait : -1;
}

/* How many tasks are runnable on the machine now (the fourth field of
 * /proc/loadavg, "running/total"), or -1 when the kernel does not say. */
static long probe_running(const struct fl_probe_engine *eng)
{
	char buf[128], *f = buf;
	ssize_t n;
	if (eng->loadavg_fd < 0 || eng->ncpu <= 0)
		return -1;
	n = pread(eng->loadavg_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	for (int i = 0; i < 3 && f; i++) {
		f = strchr(f, ' ');
		f = f ? f + 1 : NULL;
	}
	return f ? strtol(f, NULL, 10) : -1;
}

/* Reserves p's next sample, sent at sent_ns, as pending, in sent order.
 * Returns 0 with its index in *idx, or -1 when memory ran out (the tick is
 * dropped, not recorded as a failure of the target). */
int fl_probe_sample_reserve(struct fl_probe_engine *eng, struct probe *p, int64_t sent_ns, size_t *idx)
{
	int64_t run_delay = probe_run_delay(eng);
	int rc = 0;

	pthread_mutex_lock(&eng->lock);
	if (p->nsamples == p->alloc) {
		size_t na = p->alloc ? p->alloc * 2 : 256;
		struct fl_sample *grown = fl_realloc(p->samples, na * sizeof(*grown));
		struct probe_aux *aux;
		if (grown)
			p->samples = grown;
		aux = grown ? fl_realloc(p->aux, na * sizeof(*aux)) : NULL;
		if (!aux) {
			p->dropped++;
			rc = -1;
			goto out;
		}
		p->aux = aux;
		p->alloc = na;
	}
	*idx = p->nsamples++;
	p->samples[*idx] = (struct fl_sample){ sent_ns, PROBE_PENDING, 0, 0 };
	p->aux[*idx] = (struct probe_aux){ 0, run_delay, 0, -1, -1 };
out:
	pthread_mutex_unlock(&eng->lock);
	if (rc == 0)
		fl_probe_local_at_send(eng, p, *idx);
	return rc;
}

/* How much of a sample sent at `from` the loop's stall before this turn
 * delayed its collection (engine thread only). */
static int64_t probe_stalled(const struct fl_probe_engine *eng, int64_t from)
{
	int64_t s = eng->stall_from > from ? eng->stall_from : from;
	return eng->stall_to > s ? eng->stall_to - s : 0;
}

/* Notes a stall when the loop comes round later than its earliest tick:
 * the machine did not run us (load), and whatever answers arrived in the
 * meantime are collected late. */
static void probe_note_stall(struct fl_probe_engine *eng, int64_t now)
{
	int64_t due = INT64_MAX;
	for (size_t i = 0; i < eng->nprobes; i++)
		if (eng->probes[i]->next_due < due)
			due = eng->probes[i]->next_due;
	eng->stall_from = eng->stall_to = 0;
	if (due == INT64_MAX || now - due < PROBE_STALL_MIN_NS)
		return;
	eng->stall_from = due;
	eng->stall_to = now;
}

/* The threads waiting on the engine that are runnable now (their
 * /proc/thread-self/stat's state R). */
static int probe_waiters_running(const struct fl_probe_engine *eng)
{
	int n = 0, nw = atomic_load(&eng->nwaiters);
	for (int i = 0; i < nw; i++) {
		char buf[256], *paren;
		ssize_t got = pread(eng->waiter_fd[i], buf, sizeof(buf) - 1, 0);
		if (got <= 0)
			continue;
		buf[got] = '\0';
		paren = strrchr(buf, ')');
		n += paren && paren[1] == ' ' && paren[2] == 'R';
	}
	return n;
}

/* Notes the calling thread as one that waits on the engine (at most
 * PROBE_WAITERS_MAX). Caller holds the lock. */
static void probe_note_waiter(struct fl_probe_engine *eng)
{
	pid_t tid = gettid();
	int nw = atomic_load(&eng->nwaiters), fd;
	for (int i = 0; i < nw; i++)
		if (eng->waiter_tid[i] == tid)
			return;
	if (nw >= PROBE_WAITERS_MAX || (fd = open("/proc/thread-self/stat", O_RDONLY | O_CLOEXEC)) < 0)
		return;
	eng->waiter_fd[nw] = fd;
	eng->waiter_tid[nw] = tid;
	atomic_store(&eng->nwaiters, nw + 1);
}

/* Reads the thread's run_delay before the loop reads its sockets, and
 * marks the machine for FL_PROBE_BUSY_HOLD_NS: late (late_until) when this
 * turn came late or the thread waited for a CPU since the last read, busy
 * (busy_until) when the last window's turns found it crowded (probe.h). */
static void probe_note_busy(struct fl_probe_engine *eng, int64_t now)
{
	int64_t rd = probe_run_delay(eng);
	long running = probe_running(eng);
	if ((rd >= 0 && eng->run_delay_at_read >= 0 &&
	     rd - eng->run_delay_at_read > FL_PROBE_BUSY_WAIT_NS) ||
	    eng->stall_to - eng->stall_from > FL_PROBE_BUSY_WAIT_NS)
		eng->late_until = now + FL_PROBE_BUSY_HOLD_NS;
	eng->run_delay_at_read = rd;
	/* Crowded turns over a window: one crowded instant is our own
	 * threads and the target's meeting, a share of them is load. */
	if (running < 0)
		return;
	/* Our own threads are not load: the watch's past their deadline,
	 * the drill's woken by what the loop completed. */
	running -= fl_probe_watch_awake(eng->watch, fl_now_ns()) + probe_waiters_running(eng);
	if (fl_probe_crowd_turn(&eng->crowd, now, running > eng->ncpu))
		eng->busy_until = now + FL_PROBE_BUSY_HOLD_NS;
}

int fl_probe_crowd_turn(struct probe_crowd *c, int64_t now, int crowded)
{
	int judged;
	c->turns++;
	c->seen += crowded != 0;
	if (c->window_end == 0) /* the first window opens with its first turn */
		c->window_end = now + FL_PROBE_CROWD_WINDOW_NS;
	if (now < c->window_end || c->turns < FL_PROBE_CROWD_MIN_TURNS)
		return 0;
	judged = c->seen * 1000 >= c->turns * FL_PROBE_CROWDED_PERMILLE;
	c->turns = c->seen = 0;
	c->window_end = now + FL_PROBE_CROWD_WINDOW_NS;
	return judged;
}

/* Whether sample j of p is settled bad for its neighbours: failed, or
 * answered slower than the threshold. Caller holds the lock. */
static int probe_bad(const struct probe *p, size_t j)
{
	return p->samples[j].done_ns != PROBE_PENDING && (p->aux[j].slow || p->samples[j].ok == 0);
}

/* Judges sample j if it is a suspect (a slow answer within the margin) and
 * its neighbours allow: failed when the sample sent before or after it was
 * also bad, ok when neither was. `final`: the loop has ended, a neighbour
 * still pending never comes. Caller holds the lock. */
static void probe_judge_suspect(struct probe *p, size_t j, int final)
{
	int prev_known, next_known;
	if (j >= p->nsamples || p->samples[j].ok != PROBE_SUSPECT)
		return;
	if ((j > 0 && probe_bad(p, j - 1)) || (j + 1 < p->nsamples && probe_bad(p, j + 1))) {
		p->samples[j].ok = 0;
		return;
	}
	prev_known = j == 0 || p->samples[j - 1].done_ns != PROBE_PENDING;
	next_known = j + 1 < p->nsamples && p->samples[j + 1].done_ns != PROBE_PENDING;
	if (final || (prev_known && next_known))
		p->samples[j].ok = 1; /* one slow answer alone: the machine, not an outage */
}

/* The machine's share of sample idx's wait: the prober's stalls and the
 * local target's CPU waits (when measured), or the CPUs' lost time over it
 * (when watched) if that is more. The larger, not the sum: the watch sees
 * the same stretches again (a CPU busy with others is late for its watch
 * too), and counting them twice would hide a hang. */
/* The prober's stalls plus the target's waits into *waits; the CPUs'
 * lost time, 0 when not counted, as the result. Only under a derived
 * threshold: the union over every CPU grows on a loaded machine, and a
 * threshold the scenario set is judged as it always was (a 400 ms hold
 * under max_latency 100 ms is an outage). */
static int64_t probe_machine_parts(const struct probe *p, size_t idx, int64_t *waits)
{
	*waits = p->aux[idx].stalled_ns;
	if (p->aux[idx].target_ns > 0)
		*waits += p->aux[idx].target_ns;
	if (p->spec->max_latency_ns != 0 || p->aux[idx].lost_ns < 0)
		return 0;
	return p->aux[idx].lost_ns;
}

int64_t fl_probe_machine_share(const struct probe *p, size_t idx)
{
	int64_t waits, lost = probe_machine_parts(p, idx, &waits);
	return lost > waits ? lost : waits;
}

int64_t fl_probe_machine_share_most(const struct probe *p, size_t idx)
{
	int64_t waits, lost = probe_machine_parts(p, idx, &waits);
	return waits + lost;
}

/* The target's share of sample idx's wait. Caller holds the lock. */
static int64_t probe_own_share(const struct probe *p, size_t idx, int64_t wait)
{
	int64_t own = wait - fl_probe_machine_share(p, idx);
	return own > 0 ? own : 0;
}

/* How sample idx of p, answered (ok) after a wait of which the target's
 * share was `own` ns, is judged against the latency threshold: 1 ok, 0 failed,
 * PROBE_SUSPECT slow but not by the margin (decided by its neighbours).
 * Sets p->aux[idx].slow. Caller holds the lock. */
static int probe_judge_latency(const struct fl_probe_engine *eng, struct probe *p, size_t idx,
			       int64_t own, int64_t now)
{
	int64_t t = p->max_latency_ns;
	/* The local threshold holds for an answer whose target's waits were
	 * measured and subtracted (probe.h): the loop's lateness and its own
	 * CPU waits are subtracted too, and only a crowded machine is busy. */
	int local = p->latency_local && p->aux[idx].target_ns >= 0;
	if ((now < eng->busy_until || (!local && now < eng->late_until)) && p->busy_latency_ns > t) {
		t = p->busy_latency_ns; /* calm or local steady state, busy machine now */
		p->busy_judged++;
	}
	if (t <= 0 || own <= t)
		return 1;
	/* On time until then at least (the timeline: a request sent before
	 * the fault and held by it is the fault's). */
	p->samples[idx].overdue_ns = p->samples[idx].sent_ns + t;
	p->aux[idx].slow = 1;
	/* The CPUs watched too: what is left is the target's, even alone,
	 * while the threshold is finer than two intervals (where a hang's
	 * second slow sample comes too late to corroborate the first). A
	 * coarser one is the target's own spread (a Python service under
	 * load, 160 ms): there one slow answer alone is not an outage. */
	if (local && p->aux[idx].lost_ns >= 0 && t <= 2 * p->spec->interval_ns) {
		/* Only beyond all the machine may have taken: the larger share
		 * is the least of it, and the prober's stalls and the CPUs'
		 * lost spans may not overlap at all (quiet ASan, a healthy
		 * target: a 3.25 ms answer, the prober stalled 1.30 ms, 2.18 ms
		 * lost, 1.07 ms left over a 1 ms threshold; about one 5 s watch
		 * in 25). Within that, it fails only beside a neighbour that
		 * did, and is no evidence for its neighbours: two answers
		 * delayed by one stop of the machine (7.9 and 10.3 ms, 5-8 ms
		 * of it the prober's stalls, 7-9 ms lost) are not an outage. */
		int64_t left = now - p->samples[idx].sent_ns - fl_probe_machine_share_most(p, idx);
		if (left > t)
			return 0;
		p->aux[idx].slow = 0;
		return PROBE_SUSPECT;
	}
	if (own > FL_PROBE_LATENCY_MARGIN * t && own > FL_PROBE_LATENCY_LONE_NS)
		return 0;
	return PROBE_SUSPECT;
}

/* Whether a sample of p that failed after `wait` ns, `stalled` of them the
 * prober's own, timed out because the prober was stalled: libcurl's clock
 * for a transfer runs on while the loop is not run, and it fails a
 * transfer past its timeout before reading what may have come. A healthy
 * answer is read as soon as the loop runs after it arrives, so a timeout
 * means the loop did not run from then until the timeout: what was left
 * of the wait (the time the target was watched) is then under an answer's
 * time, the threshold (half the timeout at most, and without one). A
 * timeout merely noticed late leaves the whole timeout watched (the
 * loop's lateness covers only the end of the wait). Such a sample fails
 * beside one that failed (a hang past the timeout times those out too),
 * else it is ok, and it is no evidence for its neighbours. Under ASan
 * beside a two-job build the loop stalled 52-62 ms at 1 ms probes (50 ms
 * timeout), leaving 0-0.2 ms watched: 1 to 3 runs of 10 failed. */
static int probe_stall_timed_out(const struct probe *p, int64_t wait, int64_t stalled)
{
	int64_t answer = p->spec->timeout_ns / 2;
	if (p->max_latency_ns > 0 && p->max_latency_ns < answer)
		answer = p->max_latency_ns;
	return wait >= p->spec->timeout_ns && wait - stalled < answer;
}

/* Fills p's pending sample idx and publishes the completed prefix it may
 * extend. Waiters wake only when readers can see something new. */
void fl_probe_sample_done(struct fl_probe_engine *eng, struct probe *p, size_t idx, int64_t done,
			  int ok)
{
	fl_probe_sample_done_after(eng, p, idx, done, ok, 0);
}

void fl_probe_sample_done_after(struct fl_probe_engine *eng, struct probe *p, size_t idx,
				int64_t done, int ok, int64_t prior)
{
	int64_t run_delay = probe_run_delay(eng), stalled, since, waited = 0, wait;
	int64_t target = fl_probe_local_at_done(eng, p, idx);
	size_t before;

	pthread_mutex_lock(&eng->lock);
	wait = done - p->samples[idx].sent_ns;
	/* The prober's own share of the wait: what the kernel says it waited
	 * for a CPU, and at least the loop's lateness before this turn. */
	stalled = probe_stalled(eng, p->samples[idx].sent_ns);
	/* Only waits since the loop last read its sockets: earlier ones fell
	 * while the answer had not come (one that had was read then). */
	since = p->aux[idx].run_delay_at_send;
	if (since >= 0 && eng->run_delay_at_read > since)
		since = eng->run_delay_at_read;
	if (run_delay >= 0 && since >= 0)
		waited = run_delay - since;
	if (waited > stalled)
		stalled = waited;
	/* An answer a read returned: at most the loop's own work since the
	 * answer could have come, and the read itself. */
	if (eng->reading) {
		int64_t sent = p->samples[idx].sent_ns, work = 0;
		if (eng->work_to > 0)
			work = eng->work_to - (eng->work_from > sent ? eng->work_from : sent);
		if (work < 0)
			work = 0;
		work += eng->read_done - (eng->read_at > sent ? eng->read_at : sent);
		if (work > stalled)
			stalled = work;
	}
	if (prior > stalled)
		stalled = prior;
	if (stalled > wait)
		stalled = wait;
	/* A local target's own waits for a CPU (probe_local.c) are the
	 * machine's doing too. Added to the prober's they may count twice a
	 * stretch in which both waited; that hides only a hang shorter than
	 * the overlap, and a machine where both wait counts as busy. */
	p->aux[idx].target_ns = target;
	if (eng->watch && target >= 0) {
		p->aux[idx].lost_ns = fl_probe_watch_lost(eng->watch, p->samples[idx].sent_ns, done);
		if (p->aux[idx].lost_ns > p->lost_max_ns)
			p->lost_max_ns = p->aux[idx].lost_ns;
	}
	p->target_pid = p->local ? p->local->found : 0; /* readers' copy */
	if (target >= 0) {
		p->target_measured++;
		if (target > p->target_wait_max_ns)
			p->target_wait_max_ns = target;
	}
	/* Too slow counts as down: a hang shorter than the timeout is
	 * otherwise invisible. The time the loop itself was stalled while the
	 * answer waited is not the target's, and without the target's own
	 * waits one slow answer between fast ones is the loaded machine, not
	 * an outage: such a slow answer fails only when its neighbour
	 * corroborates it or it is slower by the margin. */
	p->aux[idx].stalled_ns = stalled;
	if (waited > FL_PROBE_BUSY_WAIT_NS) {
		eng->late_until = done + FL_PROBE_BUSY_HOLD_NS;
	}
	if (ok)
		ok = probe_judge_latency(eng, p, idx, probe_own_share(p, idx, wait), done);
	else if (probe_stall_timed_out(p, wait, stalled))
		ok = PROBE_SUSPECT;
	p->samples[idx].done_ns = done;
	p->samples[idx].ok = ok;
	if (idx > 0)
		probe_judge_suspect(p, idx - 1, 0);
	probe_judge_suspect(p, idx, 0);
	probe_judge_suspect(p, idx + 1, 0);
	before = p->ncomplete;
	while (p->ncomplete < p->nsamples && p->samples[p->ncomplete].done_ns != PROBE_PENDING &&
	       p->samples[p->ncomplete].ok != PROBE_SUSPECT)
		p->ncomplete++;
	if (p->ncomplete != before) {
		eng->generation++;
		pthread_cond_broadcast(&eng->cond);
	}
	pthread_mutex_unlock(&eng->lock);
}

int64_t fl_probe_engine_machine_ns(struct fl_probe_engine *eng, int idx, int64_t from_ns,
				   int64_t to_ns)
{
	struct probe *p;
	int64_t most = 0;
	if (idx < 0 || (size_t)idx >= eng->nprobes)
		return 0;
	p = eng->probes[idx];
	pthread_mutex_lock(&eng->lock);
	for (size_t i = 0; i < p->nsamples; i++) {
		int64_t m = fl_probe_machine_share_most(p, i);
		if (p->samples[i].done_ns != PROBE_PENDING && p->samples[i].sent_ns >= from_ns &&
		    p->samples[i].sent_ns <= to_ns && m > most)
			most = m;
	}
	pthread_mutex_unlock(&eng->lock);
	return most;
}

void fl_probe_sample_skip(struct fl_probe_engine *eng, struct probe *p)
{
	pthread_mutex_lock(&eng->lock);
	p->skipped++;
	pthread_mutex_unlock(&eng->lock);
}

/* Forgets samples still pending once the loop has ended: they were
 * abandoned, and the completed ones sent after them become visible.
 * Caller holds the lock. */
static void probe_drop_pending(struct probe *p)
{
	size_t j = p->ncomplete;
	for (size_t i = p->ncomplete; i < p->nsamples; i++)
		probe_judge_suspect(p, i, 1);
	for (size_t i = p->ncomplete; i < p->nsamples; i++) {
		if (p->samples[i].done_ns == PROBE_PENDING)
			continue;
		p->aux[j] = p->aux[i];
		p->samples[j++] = p->samples[i];
	}
	p->nsamples = p->ncomplete = j;
}

/* Lets every kind with its own transport look at its samples in flight. */
static void probe_poll_all(struct fl_probe_engine *eng, int64_t now)
{
	for (size_t i = 0; i < eng->nprobes; i++)
		if (eng->probes[i]->ops->poll)
			eng->probes[i]->ops->poll(eng, eng->probes[i], now);
}

/* Sends every probe whose tick has come and moves its next tick past now.
 * The starting probe rotates, so under the engine-wide cap no probe is
 * always the one that finds it full. */
static void probe_schedule(struct fl_probe_engine *eng, int64_t now, size_t first)
{
	for (size_t n = 0; n < eng->nprobes; n++) {
		struct probe *p = eng->probes[(first + n) % eng->nprobes];
		int64_t k;
		if (now < p->next_due)
			continue;
		if (p->in_flight >= p->cap || eng->in_flight >= FL_PROBE_MAX_IN_FLIGHT)
			fl_probe_sample_skip(eng, p);
		else
			p->ops->send(eng, p, now);
		/* Missed ticks are dropped, never bunched. */
		k = (now - eng->start_ns) / p->spec->interval_ns + 1;
		p->next_due = eng->start_ns + k * p->spec->interval_ns;
	}
}

/* How long the loop may sleep: until the next tick (a tick that will find
 * its cap full still has to be counted), a command's timeout, or (without
 * pidfds) a short slice to look at children again. curl_multi_poll itself
 * wakes for curl's own timeouts. */
static int64_t probe_next_wake(struct fl_probe_engine *eng, int64_t now)
{
	int64_t wake = now + PROBE_IDLE_NS;
	for (size_t i = 0; i < eng->nprobes; i++) {
		struct probe *p = eng->probes[i];
		if (p->next_due < wake)
			wake = p->next_due;
		if (p->ops->wake)
			wake = p->ops->wake(p, now, wake);
	}
	return wake;
}

/* Arms the loop's timer for the next tick. curl_multi_poll counts its
 * timeout in whole milliseconds, so a tick 0.3 ms away slept a whole
 * millisecond: at 1 ms probes the sends came 1.1-1.9 ms apart (send
 * jitter p99 0.93 ms), and a hang of two intervals could fall between
 * two of them. A timerfd armed at the tick's nanosecond wakes the poll
 * on time; the poll's own timeout, rounded up, stays as a backstop.
 * Returns whether the timer is armed. */
static int probe_arm_timer(int tfd, int64_t wake)
{
	struct itimerspec its = { 0 };
	if (tfd < 0 || wake <= 0)
		return 0;
	its.it_value.tv_sec = wake / FL_NS_PER_S;
	its.it_value.tv_nsec = wake % FL_NS_PER_S;
	return timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0;
}

/* Ends every sample still in flight when the loop stops. */
static void probe_abandon_all(struct fl_probe_engine *eng)
{
	for (size_t i = 0; i < eng->nprobes; i++)
		eng->probes[i]->ops->abandon(eng, eng->probes[i]);
	pthread_mutex_lock(&eng->lock);
	for (size_t i = 0; i < eng->nprobes; i++)
		probe_drop_pending(eng->probes[i]);
	eng->generation++;
	pthread_cond_broadcast(&eng->cond);
	pthread_mutex_unlock(&eng->lock);
}

/* Reads the sockets and completes what they answered, noting the loop's
 * own work since the previous read (probe_kind.h). */
static void probe_read(struct fl_probe_engine *eng)
{
	int64_t now = fl_now_ns();
	int running;
	eng->work_from = eng->read_at;
	eng->work_to = eng->read_at > 0 ? (eng->idle_at > eng->read_at ? eng->idle_at : now) : 0;
	eng->read_at = now;
	curl_multi_perform(eng->multi, &running);
	eng->read_done = fl_now_ns();
	eng->reading = 1;
	fl_probe_curl_collect(eng);
	eng->reading = 0;
}

static void *probe_thread(void *arg)
{
	struct fl_probe_engine *eng = arg;
	struct curl_waitfd *fds = fl_calloc(eng->nprobes + 1, sizeof(*fds));
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	size_t first = 0;

	eng->schedstat_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	eng->loadavg_fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	eng->ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	while (!atomic_load(&eng->stop)) {
		int64_t now, wake, ms;
		unsigned nfds = 0;

		/* A local target gone or refusing is looked for again first:
		 * the scan's time then shows as the loop's lateness. */
		fl_probe_local_resolve(eng->probes, eng->nprobes, fl_now_ns());
		probe_note_stall(eng, fl_now_ns());
		probe_read(eng);
		now = fl_now_ns();
		probe_poll_all(eng, now);
		probe_schedule(eng, now, eng->nprobes ? first++ % eng->nprobes : 0);
		probe_note_busy(eng, now);
		probe_read(eng);

		now = fl_now_ns();
		wake = probe_next_wake(eng, now);
		ms = wake > now ? (wake - now + FL_NS_PER_MS - 1) / FL_NS_PER_MS : 0;
		for (size_t i = 0; fds && i < eng->nprobes; i++) {
			if (eng->probes[i]->pidfd >= 0) {
				fds[nfds].fd = eng->probes[i]->pidfd;
				fds[nfds].events = CURL_WAIT_POLLIN;
				fds[nfds].revents = 0;
				nfds++;
			}
		}
		if (fds && ms > 0 && probe_arm_timer(tfd, wake)) {
			fds[nfds].fd = tfd;
			fds[nfds].events = CURL_WAIT_POLLIN;
			fds[nfds].revents = 0;
			nfds++;
		}
		eng->idle_at = fl_now_ns();
		if (ms > 0) {
			uint64_t fired;
			curl_multi_poll(eng->multi, fds, nfds, (int)ms, NULL);
			/* Emptied by a read: EAGAIN when it has not fired. */
			if (tfd >= 0) {
				ssize_t r = read(tfd, &fired, sizeof(fired));
				(void)r;
			}
		}
	}
	if (tfd >= 0)
		close(tfd);
	probe_abandon_all(eng);
	if (eng->schedstat_fd >= 0)
		close(eng->schedstat_fd);
	eng->schedstat_fd = -1;
	if (eng->loadavg_fd >= 0)
		close(eng->loadavg_fd);
	eng->loadavg_fd = -1;
	fl_free(fds);
	return NULL;
}

int fl_probe_engine_start(struct fl_probe_engine *eng, struct fl_error *err)
{
	int rc;
	if (eng->started)
		return fl_error_set(err, FL_EXIT_INPUT, "probe engine already started");
	/* Local targets' listeners, before the schedule starts (a scan of
	 * /proc would make the first samples late); the thread is not
	 * running yet. */
	fl_probe_local_resolve(eng->probes, eng->nprobes, fl_now_ns());
	eng->start_ns = fl_now_ns();
	/* A target on this machine: its CPUs watched (probe_watch.c). */
	for (size_t i = 0; i < eng->nprobes && !eng->watch; i++)
		if (eng->probes[i]->local)
			eng->watch = fl_probe_watch_start(eng->start_ns);
	eng->watch_cpus = fl_probe_watch_cpus(eng->watch);
	for (size_t i = 0; i < eng->nprobes; i++)
		eng->probes[i]->next_due = eng->start_ns;
	atomic_store(&eng->stop, 0);
	rc = pthread_create(&eng->thread, NULL, probe_thread, eng);
	if (rc != 0) {
		fl_probe_watch_stop(eng->watch);
		eng->watch = NULL;
		return fl_error_set(err, FL_EXIT_ENV, "probe engine: cannot start thread: %s",
				    strerror(rc));
	}
	eng->started = 1;
	return 0;
}

void fl_probe_engine_stop(struct fl_probe_engine *eng)
{
	if (!eng || !eng->started)
		return;
	atomic_store(&eng->stop, 1);
	curl_multi_wakeup(eng->multi);
	pthread_join(eng->thread, NULL);
	eng->started = 0;
	fl_probe_watch_stop(eng->watch);
	eng->watch = NULL;
	/* Wake anyone waiting so they see the end promptly. */
	pthread_mutex_lock(&eng->lock);
	pthread_cond_broadcast(&eng->cond);
	pthread_mutex_unlock(&eng->lock);
}

void fl_probe_engine_free(struct fl_probe_engine *eng)
{
	if (!eng)
		return;
	fl_probe_engine_stop(eng);
	for (size_t i = 0; i < eng->nprobes; i++)
		probe_free(eng->probes[i]);
	for (int i = 0; i < atomic_load(&eng->nwaiters); i++)
		close(eng->waiter_fd[i]);
	curl_multi_cleanup(eng->multi);
	pthread_cond_destroy(&eng->cond);
	pthread_mutex_destroy(&eng->lock);
	fl_free(eng->probes);
	fl_free(eng);
}

size_t fl_probe_engine_samples(struct fl_probe_engine *eng, int idx, size_t from,
			       struct fl_sample *out, size_t max)
{
	size_t n = 0;
	if (idx < 0 || (size_t)idx >= eng->nprobes)
		return 0;
	pthread_mutex_lock(&eng->lock);
	{
		struct probe *p = eng->probes[idx];
		if (from < p->ncomplete) {
			n = p->ncomplete - from;
			if (n > max)
				n = max;
			memcpy(out, p->samples + from, n * sizeof(*out));
		}
	}
	pthread_mutex_unlock(&eng->lock);
	return n;
}

size_t fl_probe_engine_count(struct fl_probe_engine *eng, int idx)
{
	size_t n;
	if (idx < 0 || (size_t)idx >= eng->nprobes)
		return 0;
	pthread_mutex_lock(&eng->lock);
	n = eng->probes[idx]->ncomplete;
	pthread_mutex_unlock(&eng->lock);
	return n;
}

int fl_probe_engine_wait(struct fl_probe_engine *eng, int64_t deadline_ns, atomic_int *stop)
{
	int got = 0;
	unsigned long gen;

	pthread_mutex_lock(&eng->lock);
	probe_note_waiter(eng);
	gen = eng->generation;
	while (eng->generation == gen && !(stop && atomic_load(stop))) {
		int64_t now = fl_now_ns(), until;
		struct timespec ts;
		if (now >= deadline_ns || !eng->started)
			break;
		/* Wake in slices so a stop flag set from a signal handler is seen. */
		until = deadline_ns - now > PROBE_WAIT_SLICE_NS ? now + PROBE_WAIT_SLICE_NS
								: deadline_ns;
		ts.tv_sec = (time_t)(until / FL_NS_PER_S);
		ts.tv_nsec = (long)(until % FL_NS_PER_S);
		pthread_cond_timedwait(&eng->cond, &eng->lock, &ts);
	}
	got = eng->generation != gen;
	pthread_mutex_unlock(&eng->lock);
	return got;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void fl_probe_engine_summary(struct fl_probe_engine *eng, int idx, struct fl_probe_summary_lite *out)
{
	double *lat = NULL;
	size_t nok = 0;

	memset(out, 0, sizeof(*out));
	out->latency_p50_ms = out->latency_p99_ms = out->latency_max_ms = NAN;
	out->max_latency_ms = NAN;
	if (idx < 0 || (size_t)idx >= eng->nprobes)
		return;
	pthread_mutex_lock(&eng->lock);
	{
		struct probe *p = eng->probes[idx];
		out->samples = (long)p->ncomplete;
		if (p->max_latency_ns > 0)
			out->max_latency_ms = (double)p->max_latency_ns / 1e6;
		out->max_latency_derived = p->latency_derived;
		out->busy_latency_ms = (double)p->busy_latency_ns / 1e6;
		out->busy_judged = p->busy_judged;
		out->max_latency_local = p->latency_local;
		out->target_pid = (long)p->target_pid;
		out->target_measured = p->target_measured;
		out->cpus_watched = p->local ? eng->watch_cpus : 0;
		out->lost_max_ms = (double)p->lost_max_ns / 1e6;
		out->target_wait_max_ms = (double)p->target_wait_max_ns / 1e6;
		out->skipped = p->skipped;
		for (size_t i = 0; i < p->ncomplete; i++)
			if (!p->samples[i].ok)
				out->failures++;
		if (p->ncomplete > 0)
			lat = fl_malloc(p->ncomplete * sizeof(*lat));
		for (size_t i = 0; lat && i < p->ncomplete; i++)
			if (p->samples[i].ok)
				lat[nok++] =
					(double)(p->samples[i].done_ns - p->samples[i].sent_ns) / 1e6;
	}
	pthread_mutex_unlock(&eng->lock);
	if (nok > 0) {
		qsort(lat, nok, sizeof(*lat), cmp_double);
		out->latency_p50_ms = gsl_stats_median_from_sorted_data(lat, 1, nok);
		out->latency_p99_ms = gsl_stats_quantile_from_sorted_data(lat, 1, nok, 0.99);
		out->latency_max_ms = lat[nok - 1];
	}
	fl_free(lat);
}

/* ---- one-shot checks ----------------------------------------------------------- */

int fl_probe_check_once(const struct fl_probe_spec *spec, int64_t deadline_ns, atomic_int *stop,
			char *detail, size_t detail_len)
{
	const struct fl_probe_kind_ops *ops = fl_probe_kind_of(spec->kind);
	char scratch[512];

	if (!detail || detail_len == 0) {
		detail = scratch;
		detail_len = sizeof(scratch);
	}
	detail[0] = '\0';
	if (!ops || !ops->check_once) {
		snprintf(detail, detail_len, "a %s probe cannot be checked once",
			 ops ? ops->name : "?");
		return -1;
	}
	return ops->check_once(spec, deadline_ns, stop, detail, detail_len);
}

int fl_probe_check_until(const struct fl_probe_spec *spec, int64_t timeout_ns, atomic_int *stop,
			 char *detail, size_t detail_len)
{
	int64_t deadline = fl_now_ns() + (timeout_ns > 0 ? timeout_ns : 0);
	int64_t interval = spec->interval_ns > 0 ? spec->interval_ns : 100 * FL_NS_PER_MS;
	char prev[512] = "";
	/* Bounded by the deadline; the count bound guards a clock that stalls. */
	for (long tries = 0; tries < 100000000L; tries++) {
		int64_t next = fl_now_ns() + interval;
		/* Each attempt ends by the deadline too: one that hangs must
		 * not outlast it, nor Ctrl-C. */
		int r = fl_probe_check_once(spec, deadline, stop, detail, detail_len);
		if (r == 1)
			return 1;
		if (r < 0 || (stop && atomic_load(stop)))
			return 0;
		if (fl_now_ns() >= deadline) {
			/* An attempt the deadline cut short only says "timed
			 * out": the last answer the check did get says why it
			 * failed (a wrong status, a refused connection). */
			if (prev[0] && detail && detail_len)
				snprintf(detail, detail_len, "%s", prev);
			return 0;
		}
		if (detail)
			snprintf(prev, sizeof(prev), "%s", detail);
		if (fl_sleep_until(next < deadline ? next : deadline, stop, 10 * FL_NS_PER_MS))
			return 0;
	}
	return 0;
}
