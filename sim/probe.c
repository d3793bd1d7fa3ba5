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
 *  - Probe k's ticks are start + k*interval. A probe never has two samples in
 *    flight: a tick that comes while the previous sample runs is skipped, and
 *    the next send waits for the next tick (a late loop sends at once and
 *    skips the ticks it missed, never bunching them).
 *  - Every sample carries its own timeout (CURLOPT_TIMEOUT_MS, or a kill of
 *    the command's process group), so a hanging target turns into failed
 *    samples placed at their send time, which is what keeps the restore edge
 *    honest (DESIGN.md, "where a sample sits").
 *  - http probes keep one easy handle each, so the connection is kept alive
 *    between samples as a real client would; a killed target breaks it and
 *    the next sample reconnects. tcp probes connect afresh every sample:
 *    reusing a connect-only connection would prove nothing about the
 *    listener.
 */
#include "probe.h"

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

struct probe {
	const struct fl_probe_spec *spec;
	CURL *easy;                 /* http/tcp: reused across samples */
	char *tcp_url;              /* tcp: "http://host:port/" */
	struct fl_buf body;         /* http answer, capped at PROBE_BODY_LIMIT */
	int in_flight;
	int64_t sent_ns;
	int64_t next_due;
	pid_t pid;                  /* command in flight, or 0 */
	int pidfd;                  /* its pidfd, or -1 */
	/* samples, guarded by the engine mutex */
	struct fl_sample *samples;
	size_t nsamples, alloc;
	long dropped;               /* samples lost to allocation failure */
};

struct fl_probe_engine {
	struct probe **probes;      /* each its own allocation: curl holds pointers */
	size_t nprobes;
	CURLM *multi;
	pthread_t thread;
	int started;
	atomic_int stop;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned long generation;   /* bumped on every recorded sample */
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
		fl_error_set(err, FL_EXIT_ENV, "probe engine: out of memory");
		return NULL;
	}
	eng->multi = curl_multi_init();
	if (!eng->multi) {
		fl_free(eng);
		fl_error_set(err, FL_EXIT_ENV, "probe engine: cannot create a curl multi handle");
		return NULL;
	}
	atomic_init(&eng->stop, 0);
	pthread_mutex_init(&eng->lock, NULL);
	/* Deadlines are on CLOCK_MONOTONIC like every time in faultline. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&eng->cond, &ca);
	pthread_condattr_destroy(&ca);
	return eng;
}

int fl_probe_engine_add(struct fl_probe_engine *eng, const struct fl_probe_spec *spec,
			struct fl_error *err)
{
	struct probe **grown, *p;

	if (eng->started)
		return fl_error_set(err, FL_EXIT_INPUT, "probe %s: engine already started",
				    spec->name ? spec->name : "?");
	if (spec->kind == FL_PROBE_WRITER)
		return fl_error_set(err, FL_EXIT_INPUT, "probe %s: writers are not sampled here",
				    spec->name ? spec->name : "?");
	if (spec->interval_ns <= 0 || spec->timeout_ns <= 0)
		return fl_error_set(err, FL_EXIT_INPUT, "probe %s: interval and timeout must be positive",
				    spec->name ? spec->name : "?");
	if ((spec->kind == FL_PROBE_HTTP && !spec->url) ||
	    (spec->kind == FL_PROBE_TCP && (!spec->host || spec->port <= 0)) ||
	    (spec->kind == FL_PROBE_COMMAND && (!spec->argv || !spec->argv[0])))
		return fl_error_set(err, FL_EXIT_INPUT, "probe %s: nothing to probe",
				    spec->name ? spec->name : "?");
	grown = fl_realloc(eng->probes, (eng->nprobes + 1) * sizeof(*grown));
	if (!grown)
		return fl_error_set(err, FL_EXIT_ENV, "probe engine: out of memory");
	eng->probes = grown;
	p = fl_calloc(1, sizeof(*p));
	if (!p)
		return fl_error_set(err, FL_EXIT_ENV, "probe engine: out of memory");
	p->spec = spec;
	p->pidfd = -1;
	fl_buf_init(&p->body, PROBE_BODY_LIMIT + 1);
	if (spec->kind != FL_PROBE_COMMAND) {
		if (spec->kind == FL_PROBE_TCP && !(p->tcp_url = probe_tcp_url(spec))) {
			fl_free(p);
			return fl_error_set(err, FL_EXIT_ENV, "probe engine: out of memory");
		}
		p->easy = curl_easy_init();
		if (!p->easy || probe_easy_setup(p->easy, spec, p->tcp_url, &p->body, NULL) < 0) {
			curl_easy_cleanup(p->easy);
			fl_free(p->tcp_url);
			fl_free(p);
			return fl_error_set(err, FL_EXIT_ENV, "probe %s: cannot set up curl",
					    spec->name ? spec->name : "?");
		}
		curl_easy_setopt(p->easy, CURLOPT_PRIVATE, p);
	}
	eng->probes[eng->nprobes] = p;
	return (int)eng->nprobes++;
}

static void probe_record(struct fl_probe_engine *eng, struct probe *p, int64_t done, int ok)
{
	struct fl_sample s = { p->sent_ns, done, ok };

	pthread_mutex_lock(&eng->lock);
	if (p->nsamples == p->alloc) {
		size_t na = p->alloc ? p->alloc * 2 : 256;
		struct fl_sample *grown = fl_realloc(p->samples, na * sizeof(*grown));
		if (!grown) {
			p->dropped++;
			pthread_mutex_unlock(&eng->lock);
			return;
		}
		p->samples = grown;
		p->alloc = na;
	}
	p->samples[p->nsamples++] = s;
	eng->generation++;
	pthread_cond_broadcast(&eng->cond);
	pthread_mutex_unlock(&eng->lock);
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

static void probe_child_reset(struct probe *p)
{
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
	p->pid = 0;
	p->in_flight = 0;
}

/* Kills a command sample's whole process group and reaps it. */
static void probe_child_kill(struct probe *p)
{
	int st;
	kill(-p->pid, SIGKILL);
	kill(p->pid, SIGKILL);
	while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
		;
	probe_child_reset(p);
}

static void probe_send(struct fl_probe_engine *eng, struct probe *p, int64_t now)
{
	p->sent_ns = now;
	if (p->spec->kind == FL_PROBE_COMMAND) {
		struct fl_error e;
		pid_t pid;
		fl_error_init(&e);
		pid = fl_spawn_argv((const char *const *)p->spec->argv, -1, NULL, &e);
		if (pid < 0) {
			/* A command that cannot start is a failed sample, not a
			 * reason to stop watching the others. */
			probe_record(eng, p, fl_now_ns(), 0);
			return;
		}
		p->pid = pid;
		p->pidfd = probe_pidfd_open(pid);
		p->in_flight = 1;
		return;
	}
	fl_buf_reset(&p->body);
	if (curl_multi_add_handle(eng->multi, p->easy) != CURLM_OK) {
		probe_record(eng, p, fl_now_ns(), 0);
		return;
	}
	p->in_flight = 1;
}

static void probe_collect_curl(struct fl_probe_engine *eng)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(eng->multi, &left))) {
		struct probe *p = NULL;
		int64_t done = fl_now_ns();
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&p);
		if (!p)
			continue;
		{
			CURLcode res = msg->data.result;
			int ok = probe_judge_curl(p->spec, p->easy, res, &p->body, NULL, NULL, 0);
			curl_multi_remove_handle(eng->multi, p->easy);
			p->in_flight = 0;
			probe_record(eng, p, done, ok);
		}
	}
}

static void probe_collect_children(struct fl_probe_engine *eng, int64_t now)
{
	for (size_t i = 0; i < eng->nprobes; i++) {
		struct probe *p = eng->probes[i];
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
			probe_child_reset(p);
			probe_record(eng, p, done, probe_status_ok(p->spec, st));
		} else if (r < 0 && errno != EINTR) {
			probe_child_reset(p);
			probe_record(eng, p, fl_now_ns(), 0);
		} else if (now - p->sent_ns >= p->spec->timeout_ns) {
			probe_child_kill(p);
			probe_record(eng, p, now, 0);
		}
	}
}

/* Sends every probe whose tick has come and moves its next tick past now. */
static void probe_schedule(struct fl_probe_engine *eng, int64_t now)
{
	for (size_t i = 0; i < eng->nprobes; i++) {
		struct probe *p = eng->probes[i];
		int64_t k;
		if (now < p->next_due)
			continue;
		if (!p->in_flight)
			probe_send(eng, p, now);
		/* Missed and skipped ticks are dropped, never bunched. */
		k = (now - eng->start_ns) / p->spec->interval_ns + 1;
		p->next_due = eng->start_ns + k * p->spec->interval_ns;
	}
}

/* How long the loop may sleep: until the next tick, a command's timeout, or
 * (without pidfds) a short slice to look at children again. */
static int64_t probe_next_wake(struct fl_probe_engine *eng, int64_t now)
{
	int64_t wake = now + PROBE_IDLE_NS;
	for (size_t i = 0; i < eng->nprobes; i++) {
		struct probe *p = eng->probes[i];
		if (!p->in_flight && p->next_due < wake)
			wake = p->next_due;
		if (p->spec->kind == FL_PROBE_COMMAND && p->in_flight) {
			int64_t t = p->sent_ns + p->spec->timeout_ns;
			if (p->pidfd < 0 && now + PROBE_CHILD_SLICE_NS < t)
				t = now + PROBE_CHILD_SLICE_NS;
			if (t < wake)
				wake = t;
		}
	}
	return wake;
}

static void *probe_thread(void *arg)
{
	struct fl_probe_engine *eng = arg;
	struct curl_waitfd *fds = fl_calloc(eng->nprobes ? eng->nprobes : 1, sizeof(*fds));
	int running;

	while (!atomic_load(&eng->stop)) {
		int64_t now, wake, ms;
		unsigned nfds = 0;

		curl_multi_perform(eng->multi, &running);
		probe_collect_curl(eng);
		now = fl_now_ns();
		probe_collect_children(eng, now);
		probe_schedule(eng, now);
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
	/* In-flight samples are abandoned; children must not outlive us. */
	for (size_t i = 0; i < eng->nprobes; i++) {
		struct probe *p = eng->probes[i];
		if (!p->in_flight)
			continue;
		if (p->spec->kind == FL_PROBE_COMMAND)
			probe_child_kill(p);
		else
			curl_multi_remove_handle(eng->multi, p->easy);
		p->in_flight = 0;
	}
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
	for (size_t i = 0; i < eng->nprobes; i++) {
		struct probe *p = eng->probes[i];
		curl_easy_cleanup(p->easy);
		fl_free(p->tcp_url);
		fl_buf_release(&p->body);
		fl_free(p->samples);
		fl_free(p);
	}
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
		if (from < p->nsamples) {
			n = p->nsamples - from;
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
	n = eng->probes[idx]->nsamples;
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
		out->samples = (long)p->nsamples;
		for (size_t i = 0; i < p->nsamples; i++)
			if (!p->samples[i].ok)
				out->failures++;
		if (p->nsamples > 0)
			lat = fl_malloc(p->nsamples * sizeof(*lat));
		for (size_t i = 0; lat && i < p->nsamples; i++)
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
