/*
 * probe_kind: the one small interface every probe kind implements (http,
 * tcp, command, writer), and the engine internals the kinds share.
 *
 * Owns: the kind ops table and its registry, and the engine's private
 * structures (struct probe, struct fl_probe_engine) with the few calls a
 * kind uses to record samples. A kind parses and checks its own scenario
 * keys: the scenario loader (core/scenario.c) reads only the generic ones
 * (name, type, target, interval, timeout, availability) and keeps the
 * probe's JSON object in spec->params; sim/resolve.c runs the kind's parse
 * hook and then reports unknown keys, so `faultline validate` and the runner
 * give the same file:line:col errors. Does not own: the schedule, the
 * sample arrays and their summaries (probe.c), what samples mean
 * (timeline.c).
 *
 * How to add a probe kind:
 *  1. Add its enum fl_probe_kind value and type name in core/scenario.{h,c}
 *     (the loader needs to know the name exists; nothing else).
 *  2. Create sim/probe_<kind>.c with a `const struct fl_probe_kind_ops
 *     fl_probe_kind_<kind>`; keep helpers static.
 *  3. parse(): read the kind's keys with fl_doc_* getters on obj (that
 *     marks them, so unknown keys are reported), check them with
 *     fl_doc_error_member (file:line:col), fill the defaults here and
 *     nowhere else. Keys a target can supply (url, host, port) may be
 *     missing when p->target is set: resolve fills them afterwards.
 *  4. Sampling: either a transfer through the engine's curl multi handle
 *     (set the fl_probe_curl_* functions and write curl_setup/curl_judge,
 *     like probe_http.c) or your own send/poll/wake/abandon over struct
 *     probe (like probe_command.c). Each sample must end by its timeout
 *     and go through fl_probe_sample_done(). check_once() is the blocking
 *     one-shot used by validation, steady-state and wait steps. A kind the
 *     engine does not sample (writer) leaves all of these NULL.
 *  5. Add it to the table in sim/probe.c, to CMakeLists.txt, a test in
 *     tests/unit/test_probe.c, and document its keys in README.md,
 *     docs/formats.md and scenarios/schema/scenario.schema.json.
 */
#ifndef FAULTLINE_PROBE_KIND_H
#define FAULTLINE_PROBE_KIND_H

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/doc.h"
#include "core/error.h"
#include "core/scenario.h"
#include "sim/probe.h"

/* The first bytes of an http answer kept for expect_body. */
#define FL_PROBE_BODY_LIMIT ((size_t)64 << 10)

struct probe;

struct fl_probe_kind_ops {
	const char *name; /* as written in scenarios: "http", "tcp", ... */
	enum fl_probe_kind kind;
	/* Reads and checks the kind's own keys of obj into p (defaults
	 * included); is_check: a validation check, not a sampling probe.
	 * 0, or -1 with a file:line:col error. */
	int (*parse)(struct fl_doc *doc, json_t *obj, struct fl_probe_spec *p, int is_check,
		     struct fl_error *err);
	/* 1 when spec names what to probe (resolve has filled the target). */
	int (*ready)(const struct fl_probe_spec *spec);
	/* Samples in flight at most for one probe of this kind. */
	size_t (*cap)(const struct fl_probe_spec *spec);
	/* Engine sampling; NULL for kinds the engine does not sample. */
	int (*attach)(struct probe *p);  /* at add: 0 or -1 */
	void (*detach)(struct probe *p); /* at free, nothing in flight */
	void (*send)(struct fl_probe_engine *eng, struct probe *p, int64_t now);
	void (*poll)(struct fl_probe_engine *eng, struct probe *p, int64_t now); /* NULL: curl */
	int64_t (*wake)(const struct probe *p, int64_t now, int64_t wake);       /* NULL: tick */
	void (*abandon)(struct fl_probe_engine *eng, struct probe *p);
	/* One blocking sample: 1 ok, 0 failed (reason in detail), -1 could not run.
	 * Ends by the earlier of its timeout and deadline_ns (0: none), and soon
	 * after *stop becomes non-zero (stop may be NULL): a check that hangs
	 * must not outlive Ctrl-C or the drill timeout. */
	int (*check_once)(const struct fl_probe_spec *spec, int64_t deadline_ns, atomic_int *stop,
			  char *detail, size_t detail_len);
	/* Curl kinds: configure easy for one sample, and judge a transfer
	 * that completed without a transport error (1 ok, 0 failed). */
	int (*curl_setup)(CURL *easy, const struct fl_probe_spec *spec, struct fl_buf *body);
	int (*curl_judge)(const struct fl_probe_spec *spec, CURL *easy, const struct fl_buf *body,
			  char *detail, size_t detail_len);
	/* Optional: the cloud API calls one sample makes, all reads, for
	 * `--dry-run` ("ec2 DescribeInstances"); NULL for a kind that calls none. */
	const char *(*api_reads)(const struct fl_probe_spec *spec);
};

extern const struct fl_probe_kind_ops fl_probe_kind_http;
extern const struct fl_probe_kind_ops fl_probe_kind_tcp;
extern const struct fl_probe_kind_ops fl_probe_kind_command;
extern const struct fl_probe_kind_ops fl_probe_kind_writer;
extern const struct fl_probe_kind_ops fl_probe_kind_aws;

/* Borrowed ops of a kind, or NULL. */
const struct fl_probe_kind_ops *fl_probe_kind_find(const char *name);
const struct fl_probe_kind_ops *fl_probe_kind_of(enum fl_probe_kind kind);

/* ---- engine internals shared with the kinds ----------------------------------- */

/* One curl sample in flight: its easy handle and answer buffer. */
struct probe_slot {
	struct probe *owner;
	CURL *easy;         /* created on first use, kept for reuse */
	struct fl_buf body; /* http answer, capped at FL_PROBE_BODY_LIMIT */
	size_t sample;      /* index of its pending sample in owner->samples */
	int in_flight;
};

/* What the engine keeps beside each sample: how long the engine thread
 * itself was not run while the answer waited (not the target's time), and
 * whether the answer was slower than the threshold. */
struct probe_aux {
	int64_t stalled_ns;
	int64_t run_delay_at_send; /* the engine thread's run_delay then, or -1 */
	unsigned char slow;
	int64_t target_ns; /* the local target's largest thread wait (plus the
			      softirq threads'), or -1: not measured */
	int64_t lost_ns;   /* the CPUs' lost time over the sample (probe_watch.c),
			      or -1: not watched */
};

/* A probe whose target listens on this machine (probe_local.c): the
 * processes holding its LISTEN socket, and their threads' schedstat.
 * Engine thread only. */
#define FL_PROBE_TARGET_TASKS 64
struct probe_local {
	long port;
	pid_t pid;                         /* the first listener whose threads are open, or 0 */
	pid_t found;                       /* the last pid found (for the summary), or 0 */
	int fds[FL_PROBE_TARGET_TASKS];    /* its threads, then ksoftirqd's */
	pid_t tids[FL_PROBE_TARGET_TASKS]; /* whose schedstat each fd is */
	int nfd, ntarget;
	int want;          /* look for the listener again (gone, refused) */
	int64_t next_scan; /* not before */
	/* each sample in flight: its threads' run_delay at send */
	int64_t (*snap)[FL_PROBE_TARGET_TASKS];
	size_t *snap_idx; /* its sample, SIZE_MAX: free */
	size_t nsnap;
};

struct probe {
	const struct fl_probe_spec *spec;
	const struct fl_probe_kind_ops *ops;
	struct probe_slot *slots; /* curl kinds: cap entries, never moved (curl PRIVATE) */
	size_t cap;               /* samples in flight at most */
	size_t in_flight;
	int64_t next_due;
	pid_t pid; /* command in flight, or 0 */
	int pidfd; /* its pidfd, or -1 */
	int64_t cmd_sent_ns;
	size_t cmd_sample;
	/* guarded by the engine mutex */
	struct fl_sample *samples; /* in sent order; pending entries past ncomplete */
	struct probe_aux *aux;     /* per sample, the engine's own notes on it */
	size_t nsamples, ncomplete, alloc;
	long skipped;               /* ticks not sent because a cap was reached */
	int64_t max_latency_ns;     /* slower answers are failed samples; 0 = none */
	int latency_derived;        /* max_latency_ns came from the steady state */
	int64_t busy_latency_ns;    /* the threshold while the machine is busy (probe.h) */
	long busy_judged;           /* answers judged against busy_latency_ns */
	int latency_local;          /* max_latency_ns is the local one (probe.h) */
	long dropped;               /* ticks not sent for want of memory */
	void *kind_data;            /* the kind's own state (attach/detach), or NULL */
	struct probe_local *local;  /* the target is on this machine, or NULL */
	pid_t target_pid;           /* local->found, for readers */
	long target_measured;       /* samples whose target waits were measured */
	int64_t lost_max_ns;        /* the CPUs' most lost time over one sample */
	int64_t target_wait_max_ns; /* the largest of them */
};

#define PROBE_WAITERS_MAX 4
/* A thread's run_delay read this recently serves every probe that asks
 * (probe_local.c): the ksoftirqd threads are every local probe's, and
 * probes of one process share its threads. */
#define PROBE_READS_MAX 64
#define PROBE_READ_REUSE_NS 50000 /* 50 µs */
struct probe_reads {
	size_t n;
	struct {
		pid_t tid;
		int64_t at, value;
	} e[PROBE_READS_MAX];
};
/* The loop's turns over one window, for the crowded judgement (probe.h,
 * FL_PROBE_CROWDED_PERMILLE): when the window ends (0: none opened yet),
 * its turns and how many of them found the machine crowded. */
struct probe_crowd {
	int64_t window_end;
	long turns, seen;
};

struct fl_probe_engine {
	struct probe **probes; /* each its own allocation */
	size_t nprobes;
	CURLM *multi;
	size_t in_flight; /* all probes: bounded by FL_PROBE_MAX_IN_FLIGHT */
	pthread_t thread;
	int started;
	atomic_int stop;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned long generation; /* bumped whenever a completed prefix grows */
	int64_t start_ns;
	/* The stretch the loop was not running before this turn (its earliest
	 * tick was due at stall_from and the turn began at stall_to), or
	 * stall_to == 0. An answer that arrived in it was collected only now:
	 * that part of its wait was ours, not the target's. Earlier stalls do
	 * not matter: answers arriving in them were collected when they ended.
	 * Engine thread only. */
	int64_t stall_from, stall_to;
	/* /proc/thread-self/schedstat of the engine thread, or -1: its second
	 * field is how long the thread has waited, runnable, for a CPU. Engine
	 * thread only. */
	int schedstat_fd;
	/* Its run_delay when the loop last read its sockets before sleeping,
	 * or -1. Waits for a CPU before that delayed no answer still to come:
	 * one that had arrived was read then. Engine thread only. */
	int64_t run_delay_at_read;
	/* Until when the machine counts as busy (probe.h): crowded, more
	 * tasks runnable than CPUs in FL_PROBE_CROWDED_PERMILLE of the loop's
	 * turns over FL_PROBE_CROWD_WINDOW_NS (busy_until, for every probe);
	 * or the loop came round FL_PROBE_BUSY_WAIT_NS late or its thread
	 * waited that long for a CPU in one turn (late_until: not for a probe
	 * whose target's waits are measured). Engine thread only. */
	int64_t busy_until, late_until;
	/* /proc/loadavg (its fourth field counts the tasks runnable now), or
	 * -1; the CPUs online; the current window of turns. Engine thread
	 * only. */
	int loadavg_fd;
	long ncpu;
	struct probe_crowd crowd;
	/* The loop's own work: when it last began to read its sockets
	 * (read_at), when it last began to wait for them (idle_at), and when
	 * the read in progress returned (read_done). An answer read now
	 * arrived after the previous read; if it came while the loop was
	 * busy between work_from and work_to, or during the read itself, it
	 * was collected late by our own work (a growing sample array, the
	 * target's /proc reads, a read that frees and allocates: 5-8 ms now
	 * and then under ASan), not by the target. Engine thread only. */
	int64_t read_at, idle_at, read_done, work_from, work_to;
	int reading; /* completing what the read in progress returned */
	/* The CPUs' watch (probe_watch.c), while a probe's target is on this
	 * machine, or NULL. Started and stopped with the loop. */
	struct probe_watch *watch;
	int watch_cpus; /* the CPUs it watched (kept after it stops) */
	/* The threads that wait on the engine (fl_probe_engine_wait: the
	 * drill's), each one's /proc/thread-self/stat opened by itself: woken
	 * by the samples the loop completes, they are runnable beside it, our
	 * own and not load. fds filled under lock, then nwaiters published. */
	int waiter_fd[PROBE_WAITERS_MAX];
	pid_t waiter_tid[PROBE_WAITERS_MAX];
	atomic_int nwaiters;
	struct probe_reads reads; /* engine thread only */
};

/* Reserves p's next sample, sent at sent_ns, as pending. 0 with its index
 * in *idx, or -1 when memory ran out (the tick is dropped, not failed). */
int fl_probe_sample_reserve(struct fl_probe_engine *eng, struct probe *p, int64_t sent_ns,
			    size_t *idx);
/* Fills p's pending sample idx and publishes what it completes. _after:
 * the first `prior` ns of its wait were the prober's before the request
 * went out (probe_curl.c), not the target's. */
void fl_probe_sample_done(struct fl_probe_engine *eng, struct probe *p, size_t idx, int64_t done,
			  int ok);
void fl_probe_sample_done_after(struct fl_probe_engine *eng, struct probe *p, size_t idx,
				int64_t done, int ok, int64_t prior);
/* Counts a tick not sent because a cap was full. */
void fl_probe_sample_skip(struct fl_probe_engine *eng, struct probe *p);

/* The local target (probe_local.c). attach: at add, for http and tcp
 * probes whose host is this machine (0; -1 out of memory); resolve: finds
 * the listener of each of probes[0..n) that wants one (at start, when gone
 * or refused; at most every 250 ms each), all in one look; at_send / at_done: the target's largest thread wait over a
 * sample (ns; -1 not measured). Engine thread only but attach/detach. */
int fl_probe_local_attach(struct probe *p);
void fl_probe_local_detach(struct probe *p);
void fl_probe_local_resolve(struct probe *const *probes, size_t n, int64_t now);
void fl_probe_local_at_send(struct fl_probe_engine *eng, struct probe *p, size_t idx);
int64_t fl_probe_local_at_done(struct fl_probe_engine *eng, struct probe *p, size_t idx);
void fl_probe_local_refused(struct probe *p);

/* The CPUs' watch (probe_watch.c): start (NULL when it cannot: more CPUs
 * than FL_PROBE_WATCH_MAX_CPUS, no thread; its wake-ups half a period off
 * the ticks of origin_ns, so a turn of the loop does not meet them), stop,
 * the CPUs watched, its threads that may be runnable at now (not load), and how long within
 * [from, to] some CPU was not available (ns; -1 no watch). Thread-safe but
 * start and stop. */
struct probe_watch;
struct probe_watch *fl_probe_watch_start(int64_t origin_ns);
void fl_probe_watch_stop(struct probe_watch *w);
int fl_probe_watch_cpus(const struct probe_watch *w);
int fl_probe_watch_awake(struct probe_watch *w, int64_t now);
int64_t fl_probe_watch_lost(struct probe_watch *w, int64_t from, int64_t to);

/* The machine's share of p's answered sample idx (probe.c): what the
 * judging and the threshold take out of its wait. Caller holds the lock. */
int64_t fl_probe_machine_share(const struct probe *p, size_t idx);
/* The most the machine may have taken of it: the same parts summed, as if
 * none overlapped. What a slow answer alone is judged against. */
int64_t fl_probe_machine_share_most(const struct probe *p, size_t idx);

/* Notes one turn of the loop at now, crowded or not. 1 when the turn
 * closed a window of at least FL_PROBE_CROWD_MIN_TURNS turns, lasting at
 * least FL_PROBE_CROWD_WINDOW_NS from its first, that was crowded in
 * FL_PROBE_CROWDED_PERMILLE of its turns; else 0. */
int fl_probe_crowd_turn(struct probe_crowd *c, int64_t now, int crowded);

/* The curl transport (probe_curl.c), shared by http and tcp. */
size_t fl_probe_curl_cap(const struct fl_probe_spec *spec);
int fl_probe_curl_attach(struct probe *p);
void fl_probe_curl_detach(struct probe *p);
void fl_probe_curl_send(struct fl_probe_engine *eng, struct probe *p, int64_t now);
void fl_probe_curl_abandon(struct fl_probe_engine *eng, struct probe *p);
/* Reads every finished transfer of the engine's multi handle. */
void fl_probe_curl_collect(struct fl_probe_engine *eng);
int fl_probe_curl_check_once(const struct fl_probe_spec *spec, int64_t deadline_ns,
			     atomic_int *stop, char *detail, size_t detail_len);
/* Common curl options of every sample of spec (timeouts, no proxy, ...). */
int fl_probe_curl_common(CURL *easy, const struct fl_probe_spec *spec);
/* "max_latency" of an http or tcp probe (must be below the timeout). */
int fl_probe_parse_max_latency(struct fl_doc *doc, json_t *obj, struct fl_probe_spec *p,
			       struct fl_error *err);

#endif
