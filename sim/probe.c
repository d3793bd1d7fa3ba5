/*
 * probe: the availability prober. One background thread per engine drives
 * every probe from a single loop: http and tcp transfers through one libcurl
 * multi handle, command probes as spawned children whose exit is watched
 * through a pidfd handed to the same curl_multi_poll. Also the blocking
 * one-shot checks used by validation, steady-state and wait steps.
 *
 * Owns: schedules, per-sample timeouts, classification of an answer as ok or
 * failed, the per-probe sample arrays and their summaries. Does not own: what
 * the samples mean (timeline.c).
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
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/spawn.h"

#include <curl/curl.h>
#include <errno.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROBE_BODY_LIMIT ((size_t)64 << 10)
/* Longest the loop sleeps with nothing due: stop wakes it anyway. */
#define PROBE_IDLE_NS (200 * FL_NS_PER_MS)
/* Poll slice for a command child when pidfds are not available. */
#define PROBE_CHILD_SLICE_NS (2 * FL_NS_PER_MS)
#define PROBE_WAIT_SLICE_NS (50 * FL_NS_PER_MS)
/* done_ns of a sample that was sent and has not completed yet. */
#define PROBE_PENDING INT64_C(-1)

struct probe;

/* One http/tcp sample in flight: its easy handle and answer buffer. */
struct probe_slot {
	struct probe *owner;
	CURL *easy;                 /* created on first use, kept for reuse */
	struct fl_buf body;         /* http answer, capped at PROBE_BODY_LIMIT */
	size_t sample;              /* index of its pending sample in owner->samples */
	int in_flight;
};

struct probe {
	const struct fl_probe_spec *spec;
	char *tcp_url;              /* tcp: "http://host:port/" */
	struct probe_slot *slots;   /* http/tcp: cap entries, never moved (curl PRIVATE) */
	size_t cap;                 /* samples in flight at most */
	size_t in_flight;
	int64_t next_due;
	pid_t pid;                  /* command in flight, or 0 */
	int pidfd;                  /* its pidfd, or -1 */
	int64_t cmd_sent_ns;
	size_t cmd_sample;
	/* guarded by the engine mutex */
	struct fl_sample *samples;  /* in sent order; PROBE_PENDING entries past ncomplete */
	size_t nsamples, ncomplete, alloc;
	long skipped;               /* ticks not sent because a cap was reached */
	long dropped;               /* ticks not sent for want of memory */
};

struct fl_probe_engine {
	struct probe **probes;      /* each its own allocation */
	size_t nprobes;
	CURLM *multi;
	size_t in_flight;           /* all probes: bounded by FL_PROBE_MAX_IN_FLIGHT */
	pthread_t thread;
	int started;
	atomic_int stop;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned long generation;   /* bumped whenever a completed prefix grows */
	int64_t start_ns;
};

/* ---- shared curl setup ------------------------------------------------------ */

static size_t probe_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct fl_buf *b = userp;
	size_t n = size * nmemb;
	size_t room = b->len < PROBE_BODY_LIMIT ? PROBE_BODY_LIMIT - b->len : 0;
	/* Keep the first 64 KiB and swallow the rest: a big page is not a
	 * failure, it just cannot hide the expected text past the cap. */
	if (room > 0)
		fl_buf_add(b, data, n < room ? n : room);
	return n;
}

static char *probe_tcp_url(const struct fl_probe_spec *spec)
{
	struct fl_buf b;
	fl_buf_init(&b, 0);
	if (spec->host && strchr(spec->host, ':'))
		fl_buf_addf(&b, "http://[%s]:%ld/", spec->host, spec->port);
	else
		fl_buf_addf(&b, "http://%s:%ld/", spec->host ? spec->host : "", spec->port);
	if (b.failed) {
		fl_buf_release(&b);
		return NULL;
	}
	return fl_buf_detach(&b);
}

static long probe_timeout_ms(const struct fl_probe_spec *spec)
{
	int64_t ms = (spec->timeout_ns + FL_NS_PER_MS - 1) / FL_NS_PER_MS;
	return ms > 0 ? (long)ms : 1;
}

/* Longest a kept-alive connection may sit idle and still be reused, in
 * whole seconds (CURLOPT_MAXAGE_CONN): three intervals, at least 1 s. */
static long probe_maxage_s(const struct fl_probe_spec *spec)
{
	int64_t s = spec->interval_ns > 0 ? (3 * spec->interval_ns + FL_NS_PER_S - 1) / FL_NS_PER_S : 1;
	return s >= 1 ? (long)s : 1L;
}

/* Configures easy for one sample of spec (http or tcp). tcp_url is the
 * connect target of a tcp probe. Returns 0 or -1. */
static int probe_easy_setup(CURL *easy, const struct fl_probe_spec *spec, const char *tcp_url,
			    struct fl_buf *body, char *errbuf)
{
	long tmo = probe_timeout_ms(spec);
	CURLcode rc = CURLE_OK;

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(easy, opt, val); } while (0)
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TCP_NODELAY, 1L);
	SET(CURLOPT_TIMEOUT_MS, tmo);
	SET(CURLOPT_CONNECTTIMEOUT_MS, tmo);
	SET(CURLOPT_PROXY, "");           /* probes talk to the target, never a proxy */
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	if (errbuf)
		SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_USERAGENT, "faultline/" FAULTLINE_VERSION);
	if (spec->kind == FL_PROBE_TCP) {
		SET(CURLOPT_URL, tcp_url);
		SET(CURLOPT_CONNECT_ONLY, 1L);
		SET(CURLOPT_FRESH_CONNECT, 1L);
		SET(CURLOPT_FORBID_REUSE, 1L);
	} else {
		SET(CURLOPT_URL, spec->url);
		SET(CURLOPT_FORBID_REUSE, 0L);
		/* After a hang the cache holds one idle connection per sample
		 * that overlapped; let them age out. The connection in regular
		 * use is reused every interval and never gets this old. */
		SET(CURLOPT_MAXAGE_CONN, probe_maxage_s(spec));
		SET(CURLOPT_WRITEFUNCTION, probe_write_cb);
		SET(CURLOPT_WRITEDATA, body);
		if (spec->method && strcmp(spec->method, "GET") != 0)
			SET(CURLOPT_CUSTOMREQUEST, spec->method);
		if (spec->body)
			SET(CURLOPT_POSTFIELDS, spec->body);
	}
#undef SET
	return rc == CURLE_OK ? 0 : -1;
}

/* Judges a finished http/tcp transfer. Returns 1 ok, 0 failed; writes a
 * human reason into detail when non-NULL. */
static int probe_judge_curl(const struct fl_probe_spec *spec, CURL *easy, CURLcode res,
			    const struct fl_buf *body, const char *errbuf, char *detail,
			    size_t detail_len)
{
	const char *where = spec->kind == FL_PROBE_TCP ? NULL : spec->url;
	char dur[32];
	long status = 0;

	if (res != CURLE_OK) {
		long oserr = 0;
		if (!detail)
			return 0;
		curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &oserr);
		if (res == CURLE_OPERATION_TIMEDOUT)
			snprintf(detail, detail_len, "timed out after %s",
				 fl_duration_format(spec->timeout_ns, dur, sizeof(dur)));
		else if (oserr == ECONNREFUSED)
			snprintf(detail, detail_len, "connection refused");
		else if (errbuf && errbuf[0])
			snprintf(detail, detail_len, "%s", errbuf);
		else
			snprintf(detail, detail_len, "%s", curl_easy_strerror(res));
		if (detail[0] >= 'A' && detail[0] <= 'Z' && detail[1] >= 'a' && detail[1] <= 'z')
			detail[0] = (char)(detail[0] - 'A' + 'a');
		return 0;
	}
	if (spec->kind == FL_PROBE_TCP) {
		if (detail)
			snprintf(detail, detail_len, "connected to %s:%ld", spec->host, spec->port);
		return 1;
	}
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (spec->expect_status ? status != spec->expect_status : (status < 200 || status > 299)) {
		if (detail)
			snprintf(detail, detail_len, "HTTP %ld from %s", status, where);
		return 0;
	}
	if (spec->expect_body && spec->expect_body[0] &&
	    !memmem(body->buf, body->len, spec->expect_body, strlen(spec->expect_body))) {
		if (detail)
			snprintf(detail, detail_len, "HTTP %ld from %s without \"%s\" in the body",
				 status, where, spec->expect_body);
		return 0;
	}
	if (detail)
		snprintf(detail, detail_len, "HTTP %ld from %s", status, where);
	return 1;
}

static int probe_status_ok(const struct fl_probe_spec *spec, int status)
{
	return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == spec->expect_exit;
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
	pthread_mutex_init(&eng->lock, NULL);
	/* Deadlines are on CLOCK_MONOTONIC like every time in faultline. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&eng->cond, &ca);
	pthread_condattr_destroy(&ca);
	return eng;
}

/* Samples of one probe in flight at most: enough that every tick is sent
 * while each sample lasts its whole timeout, and 1 for commands. */
static size_t probe_cap(const struct fl_probe_spec *spec)
{
	int64_t n;
	if (spec->kind == FL_PROBE_COMMAND)
		return 1;
	n = spec->timeout_ns / spec->interval_ns + (spec->timeout_ns % spec->interval_ns != 0) + 1;
	return n < FL_PROBE_MAX_IN_FLIGHT ? (size_t)n : (size_t)FL_PROBE_MAX_IN_FLIGHT;
}

/* Gives slot s an easy handle set up for its probe, once. 0 or -1. */
static int probe_slot_ready(struct probe *p, struct probe_slot *s)
{
	if (s->easy)
		return 0;
	s->easy = curl_easy_init();
	if (!s->easy || probe_easy_setup(s->easy, p->spec, p->tcp_url, &s->body, NULL) < 0 ||
	    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s) != CURLE_OK) {
		curl_easy_cleanup(s->easy);
		s->easy = NULL;
		return -1;
	}
	return 0;
}

/* Frees a probe that is not in flight; NULL ok. */
static void probe_free(struct probe *p)
{
	if (!p)
		return;
	for (size_t i = 0; p->slots && i < p->cap; i++) {
		curl_easy_cleanup(p->slots[i].easy);
		fl_buf_release(&p->slots[i].body);
	}
	fl_free(p->slots);
	fl_free(p->tcp_url);
	fl_free(p->samples);
	fl_free(p);
}

int fl_probe_engine_add(struct fl_probe_engine *eng, const struct fl_probe_spec *spec,
			struct fl_error *err)
{
	const char *name = spec->name ? spec->name : "?";
	struct probe **grown, *p;

	if (eng->started)
		return fl_error_set(err, FL_EXIT_INPUT, "probe %s: engine already started", name);
	if (spec->kind == FL_PROBE_WRITER)
		return fl_error_set(err, FL_EXIT_INPUT, "probe %s: writers are not sampled here", name);
	if (spec->interval_ns <= 0 || spec->timeout_ns <= 0)
		return fl_error_set(err, FL_EXIT_INPUT, "probe %s: interval and timeout must be positive",
				    name);
	if ((spec->kind == FL_PROBE_HTTP && !spec->url) ||
	    (spec->kind == FL_PROBE_TCP && (!spec->host || spec->port <= 0)) ||
	    (spec->kind == FL_PROBE_COMMAND && (!spec->argv || !spec->argv[0])))
		return fl_error_set(err, FL_EXIT_INPUT, "probe %s: nothing to probe", name);
	grown = fl_realloc(eng->probes, (eng->nprobes + 1) * sizeof(*grown));
	if (!grown)
		return fl_error_oom(err, "probe engine");
	eng->probes = grown;
	p = fl_calloc(1, sizeof(*p));
	if (!p)
		return fl_error_oom(err, "probe engine");
	p->spec = spec;
	p->pidfd = -1;
	p->cap = probe_cap(spec);
	if (spec->kind != FL_PROBE_COMMAND) {
		p->slots = fl_calloc(p->cap, sizeof(*p->slots));
		if (!p->slots ||
		    (spec->kind == FL_PROBE_TCP && !(p->tcp_url = probe_tcp_url(spec)))) {
			probe_free(p);
			return fl_error_oom(err, "probe engine");
		}
		for (size_t i = 0; i < p->cap; i++) {
			p->slots[i].owner = p;
			fl_buf_init(&p->slots[i].body, PROBE_BODY_LIMIT + 1);
		}
		/* The first handle now, so a setup error fails the add instead
		 * of every tick later. The others are made when a hang needs them. */
		if (probe_slot_ready(p, &p->slots[0]) < 0) {
			probe_free(p);
			return fl_error_set(err, FL_EXIT_ENV, "probe %s: cannot set up curl", name);
		}
	}
	eng->probes[eng->nprobes] = p;
	return (int)eng->nprobes++;
}

/* Reserves p's next sample, sent at sent_ns, as pending, in sent order.
 * Returns 0 with its index in *idx, or -1 when memory ran out (the tick is
 * dropped, not recorded as a failure of the target). */
static int probe_reserve(struct fl_probe_engine *eng, struct probe *p, int64_t sent_ns,
			 size_t *idx)
{
	int rc = 0;

	pthread_mutex_lock(&eng->lock);
	if (p->nsamples == p->alloc) {
		size_t na = p->alloc ? p->alloc * 2 : 256;
		struct fl_sample *grown = fl_realloc(p->samples, na * sizeof(*grown));
		if (!grown) {
			p->dropped++;
			rc = -1;
			goto out;
		}
		p->samples = grown;
		p->alloc = na;
	}
	*idx = p->nsamples++;
	p->samples[*idx] = (struct fl_sample){ sent_ns, PROBE_PENDING, 0 };
out:
	pthread_mutex_unlock(&eng->lock);
	return rc;
}

/* Fills p's pending sample idx and publishes the completed prefix it may
 * extend. Waiters wake only when readers can see something new. */
static void probe_complete(struct fl_probe_engine *eng, struct probe *p, size_t idx, int64_t done,
			   int ok)
{
	size_t before;

	pthread_mutex_lock(&eng->lock);
	/* Too slow counts as down where the scenario says so: a hang shorter
	 * than the timeout is otherwise invisible. */
	if (ok && p->spec->max_latency_ns > 0 && done - p->samples[idx].sent_ns > p->spec->max_latency_ns)
		ok = 0;
	p->samples[idx].done_ns = done;
	p->samples[idx].ok = ok;
	before = p->ncomplete;
	while (p->ncomplete < p->nsamples && p->samples[p->ncomplete].done_ns != PROBE_PENDING)
		p->ncomplete++;
	if (p->ncomplete != before) {
		eng->generation++;
		pthread_cond_broadcast(&eng->cond);
	}
	pthread_mutex_unlock(&eng->lock);
}

static void probe_count_skip(struct fl_probe_engine *eng, struct probe *p)
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
		if (p->samples[i].done_ns != PROBE_PENDING)
			p->samples[j++] = p->samples[i];
	p->nsamples = p->ncomplete = j;
}

static int probe_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	return -1;
#endif
}

static void probe_child_reset(struct fl_probe_engine *eng, struct probe *p)
{
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
	p->pid = 0;
	p->in_flight = 0;
	eng->in_flight--;
}

/* Kills a command sample's whole process group and reaps it. */
static void probe_child_kill(struct fl_probe_engine *eng, struct probe *p)
{
	int st;
	kill(-p->pid, SIGKILL);
	kill(p->pid, SIGKILL);
	while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
		;
	probe_child_reset(eng, p);
}

static void probe_send_command(struct fl_probe_engine *eng, struct probe *p, int64_t now)
{
	struct fl_error e;
	size_t idx;
	pid_t pid;

	if (probe_reserve(eng, p, now, &idx) < 0)
		return;
	fl_error_init(&e);
	pid = fl_spawn_argv((const char *const *)p->spec->argv, -1, NULL, &e);
	if (pid < 0) {
		/* A command that cannot start is a failed sample, not a reason
		 * to stop watching the others. */
		probe_complete(eng, p, idx, fl_now_ns(), 0);
		return;
	}
	p->pid = pid;
	p->pidfd = probe_pidfd_open(pid);
	p->cmd_sent_ns = now;
	p->cmd_sample = idx;
	p->in_flight = 1;
	eng->in_flight++;
}

static void probe_send_curl(struct fl_probe_engine *eng, struct probe *p, int64_t now)
{
	struct probe_slot *s = NULL;
	size_t idx;

	/* A free slot that already has a handle first: fewer handles made. */
	for (size_t i = 0; i < p->cap; i++) {
		struct probe_slot *c = &p->slots[i];
		if (c->in_flight)
			continue;
		if (c->easy) {
			s = c;
			break;
		}
		if (!s)
			s = c;
	}
	if (!s || probe_slot_ready(p, s) < 0) {
		probe_count_skip(eng, p); /* no handle to be had: like a full cap */
		return;
	}
	if (probe_reserve(eng, p, now, &idx) < 0)
		return;
	fl_buf_reset(&s->body);
	if (curl_multi_add_handle(eng->multi, s->easy) != CURLM_OK) {
		probe_complete(eng, p, idx, fl_now_ns(), 0);
		return;
	}
	s->sample = idx;
	s->in_flight = 1;
	p->in_flight++;
	eng->in_flight++;
}

static void probe_collect_curl(struct fl_probe_engine *eng)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(eng->multi, &left))) {
		struct probe_slot *s = NULL;
		int64_t done = fl_now_ns();
		CURL *easy = msg->easy_handle;
		CURLcode res = msg->data.result;
		int ok;
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&s);
		if (!s || !s->in_flight)
			continue;
		ok = probe_judge_curl(s->owner->spec, easy, res, &s->body, NULL, NULL, 0);
		/* msg is gone after this; everything needed was read above. */
		curl_multi_remove_handle(eng->multi, easy);
		s->in_flight = 0;
		s->owner->in_flight--;
		eng->in_flight--;
		probe_complete(eng, s->owner, s->sample, done, ok);
	}
}

static void probe_collect_children(struct fl_probe_engine *eng, int64_t now)
{
	for (size_t i = 0; i < eng->nprobes; i++) {
		struct probe *p = eng->probes[i];
		size_t idx = p->cmd_sample;
		siginfo_t info;
		int st = 0, r;
		if (p->spec->kind != FL_PROBE_COMMAND || !p->in_flight)
			continue;
		/* Peek without reaping, so the group id cannot be reused before
		 * whatever the command left behind is killed with it. */
		memset(&info, 0, sizeof(info));
		r = waitid(P_PID, (id_t)p->pid, &info, WEXITED | WNOHANG | WNOWAIT);
		if (r == 0 && info.si_pid == p->pid) {
			int64_t done = fl_now_ns();
			kill(-p->pid, SIGKILL);
			while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
				;
			probe_child_reset(eng, p);
			probe_complete(eng, p, idx, done, probe_status_ok(p->spec, st));
		} else if (r < 0 && errno != EINTR) {
			probe_child_reset(eng, p);
			probe_complete(eng, p, idx, fl_now_ns(), 0);
		} else if (now - p->cmd_sent_ns >= p->spec->timeout_ns) {
			probe_child_kill(eng, p);
			probe_complete(eng, p, idx, now, 0);
		}
	}
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
			probe_count_skip(eng, p);
		else if (p->spec->kind == FL_PROBE_COMMAND)
			probe_send_command(eng, p, now);
		else
			probe_send_curl(eng, p, now);
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
		if (p->spec->kind == FL_PROBE_COMMAND && p->in_flight) {
			int64_t t = p->cmd_sent_ns + p->spec->timeout_ns;
			if (p->pidfd < 0 && now + PROBE_CHILD_SLICE_NS < t)
				t = now + PROBE_CHILD_SLICE_NS;
			if (t < wake)
				wake = t;
		}
	}
	return wake;
}

/* Ends every sample still in flight when the loop stops. */
static void probe_abandon_all(struct fl_probe_engine *eng)
{
	for (size_t i = 0; i < eng->nprobes; i++) {
		struct probe *p = eng->probes[i];
		if (p->spec->kind == FL_PROBE_COMMAND) {
			if (p->in_flight)
				probe_child_kill(eng, p); /* children must not outlive us */
			continue;
		}
		for (size_t j = 0; j < p->cap; j++) {
			struct probe_slot *s = &p->slots[j];
			if (!s->in_flight)
				continue;
			curl_multi_remove_handle(eng->multi, s->easy);
			s->in_flight = 0;
			p->in_flight--;
			eng->in_flight--;
		}
	}
	pthread_mutex_lock(&eng->lock);
	for (size_t i = 0; i < eng->nprobes; i++)
		probe_drop_pending(eng->probes[i]);
	eng->generation++;
	pthread_cond_broadcast(&eng->cond);
	pthread_mutex_unlock(&eng->lock);
}

static void *probe_thread(void *arg)
{
	struct fl_probe_engine *eng = arg;
	struct curl_waitfd *fds = fl_calloc(eng->nprobes ? eng->nprobes : 1, sizeof(*fds));
	size_t first = 0;
	int running;

	while (!atomic_load(&eng->stop)) {
		int64_t now, wake, ms;
		unsigned nfds = 0;

		curl_multi_perform(eng->multi, &running);
		probe_collect_curl(eng);
		now = fl_now_ns();
		probe_collect_children(eng, now);
		probe_schedule(eng, now, eng->nprobes ? first++ % eng->nprobes : 0);
		curl_multi_perform(eng->multi, &running);
		probe_collect_curl(eng);

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
		if (ms > 0)
			curl_multi_poll(eng->multi, fds, nfds, (int)ms, NULL);
	}
	probe_abandon_all(eng);
	fl_free(fds);
	return NULL;
}

int fl_probe_engine_start(struct fl_probe_engine *eng, struct fl_error *err)
{
	int rc;
	if (eng->started)
		return fl_error_set(err, FL_EXIT_INPUT, "probe engine already started");
	eng->start_ns = fl_now_ns();
	for (size_t i = 0; i < eng->nprobes; i++)
		eng->probes[i]->next_due = eng->start_ns;
	atomic_store(&eng->stop, 0);
	rc = pthread_create(&eng->thread, NULL, probe_thread, eng);
	if (rc != 0)
		return fl_error_set(err, FL_EXIT_ENV, "probe engine: cannot start thread: %s",
				    strerror(rc));
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

int fl_probe_engine_wait(struct fl_probe_engine *eng, int64_t deadline_ns, volatile int *stop)
{
	int got = 0;
	unsigned long gen;

	pthread_mutex_lock(&eng->lock);
	gen = eng->generation;
	while (eng->generation == gen && !(stop && *stop)) {
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
	if (idx < 0 || (size_t)idx >= eng->nprobes)
		return;
	pthread_mutex_lock(&eng->lock);
	{
		struct probe *p = eng->probes[idx];
		out->samples = (long)p->ncomplete;
		out->skipped = p->skipped;
		for (size_t i = 0; i < p->ncomplete; i++)
			if (!p->samples[i].ok)
				out->failures++;
		if (p->ncomplete > 0)
			lat = fl_malloc(p->ncomplete * sizeof(*lat));
		for (size_t i = 0; lat && i < p->ncomplete; i++)
			if (p->samples[i].ok)
				lat[nok++] = (double)(p->samples[i].done_ns - p->samples[i].sent_ns) / 1e6;
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

static int probe_check_command(const struct fl_probe_spec *spec, char *detail, size_t detail_len)
{
	struct fl_error e;
	char dur[32], why[64];
	int status = 0;

	fl_error_init(&e);
	if (fl_run_argv((const char *const *)spec->argv, spec->timeout_ns, NULL, &status, NULL,
			&e) < 0) {
		snprintf(detail, detail_len, "%s", e.msg);
		return -1;
	}
	if (status == -1)
		snprintf(detail, detail_len, "timed out after %s",
			 fl_duration_format(spec->timeout_ns, dur, sizeof(dur)));
	else
		snprintf(detail, detail_len, "%s", fl_status_describe(status, why, sizeof(why)));
	return probe_status_ok(spec, status);
}

int fl_probe_check_once(const struct fl_probe_spec *spec, char *detail, size_t detail_len)
{
	char scratch[512];
	char errbuf[CURL_ERROR_SIZE];
	struct fl_buf body;
	char *tcp_url = NULL;
	CURL *easy = NULL;
	CURLcode res;
	int rc = -1;

	if (!detail || detail_len == 0) {
		detail = scratch;
		detail_len = sizeof(scratch);
	}
	detail[0] = '\0';
	fl_buf_init(&body, PROBE_BODY_LIMIT + 1);
	switch (spec->kind) {
	case FL_PROBE_COMMAND:
		if (!spec->argv || !spec->argv[0]) {
			snprintf(detail, detail_len, "empty command");
			goto out;
		}
		rc = probe_check_command(spec, detail, detail_len);
		goto out;
	case FL_PROBE_WRITER:
		snprintf(detail, detail_len, "a writer cannot be checked once");
		goto out;
	case FL_PROBE_TCP:
		if (!(tcp_url = probe_tcp_url(spec))) {
			snprintf(detail, detail_len, "out of memory");
			goto out;
		}
		break;
	case FL_PROBE_HTTP:
		if (!spec->url) {
			snprintf(detail, detail_len, "no url to probe");
			goto out;
		}
		break;
	}
	errbuf[0] = '\0';
	easy = curl_easy_init();
	if (!easy || probe_easy_setup(easy, spec, tcp_url, &body, errbuf) < 0) {
		snprintf(detail, detail_len, "cannot set up curl");
		goto out;
	}
	res = curl_easy_perform(easy);
	rc = probe_judge_curl(spec, easy, res, &body, errbuf, detail, detail_len);
out:
	curl_easy_cleanup(easy);
	fl_free(tcp_url);
	fl_buf_release(&body);
	return rc;
}

int fl_probe_check_until(const struct fl_probe_spec *spec, int64_t timeout_ns,
			 volatile int *stop, char *detail, size_t detail_len)
{
	int64_t deadline = fl_now_ns() + (timeout_ns > 0 ? timeout_ns : 0);
	int64_t interval = spec->interval_ns > 0 ? spec->interval_ns : 100 * FL_NS_PER_MS;
	/* Bounded by the deadline; the count bound guards a clock that stalls. */
	for (long tries = 0; tries < 100000000L; tries++) {
		int64_t next = fl_now_ns() + interval;
		int r = fl_probe_check_once(spec, detail, detail_len);
		if (r == 1)
			return 1;
		if (r < 0 || (stop && *stop) || fl_now_ns() >= deadline)
			return 0;
		if (fl_sleep_until(next < deadline ? next : deadline, stop, 10 * FL_NS_PER_MS))
			return 0;
	}
	return 0;
}
