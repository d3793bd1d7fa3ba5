/*
 * bench_util: what the benchmark programs share.
 *
 * Owns: distributions (median, p99, max through GSL), CPU time and peak RSS
 * of a process read from /proc, waiting on a fixture's port file with a
 * deadline, and the JSON row every benchmark prints for ci/bench.sh
 * ({group, name, unit, faultline, peer, peer_name, ratio, goal, met, detail}).
 * Does not own: what is measured (bench_fidelity.c, bench_probe_cost.c,
 * bench_inject.c) or the table ci/bench.sh prints from the rows.
 */
#ifndef FAULTLINE_BENCH_UTIL_H
#define FAULTLINE_BENCH_UTIL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/error.h"
#include "core/buf.h"

/* A growable array of doubles (values in the unit the caller chose). */
struct bench_dist {
	double *v;
	size_t n, alloc;
};

void bench_dist_init(struct bench_dist *d);
void bench_dist_release(struct bench_dist *d);
/* Appends x; -1 on allocation failure. */
int bench_dist_add(struct bench_dist *d, double x);

struct bench_summary {
	size_t n;
	double median, p99, max, min, mean;
};
/* Summary of d (sorts d in place). All figures NAN when d is empty. */
void bench_dist_summarize(struct bench_dist *d, struct bench_summary *s);
/* New JSON object {"n","median","p99","max","min","mean"} (nulls for NAN). */
json_t *bench_summary_json(const struct bench_summary *s);
/* A JSON real, or null for NAN. New reference. */
json_t *bench_real(double x);

/* CPU time (user + system) of pid in ms from /proc/PID/stat; -1 on error.
 * pid 0 means this process (all threads). */
double bench_proc_cpu_ms(pid_t pid);
/* Peak resident set (VmHWM) of pid in KiB from /proc/PID/status; -1 on error.
 * pid 0 means this process. */
long bench_proc_peak_rss_kib(pid_t pid);

/* Waits until path exists and holds two integers (a fixture's "PORT CTLPORT"
 * file), at most timeout_ns. Returns 0, or -1 with err set. */
int bench_read_portfile(const char *path, int64_t timeout_ns, long *a, long *b, struct fl_error *err);

/* Connects to 127.0.0.1:port (blocking). Returns the fd or -1. */
int bench_connect_loopback(long port);

/* A benchmark row for ci/bench.sh; takes ownership of detail (may be NULL).
 * faultline/peer/ratio are NAN when they do not apply. met: 1, 0, or -1 (no
 * goal). Returns a new object. */
json_t *bench_row(const char *group, const char *name, const char *unit, double faultline,
		  const char *peer_name, double peer, const char *goal, int met, json_t *detail);

/* Writes rows (a JSON array) to path ("-" for stdout), compact, one line.
 * Returns 0 or -1 with a message on stderr. */
int bench_rows_write(const json_t *rows, const char *path);

/* ---- blackbox_exporter (the Prometheus peer) -----------------------------
 * Starts `bin` on a free loopback port with a config written into dir
 * (module http_2xx, prober http, the given per-probe timeout), its log in
 * dir/blackbox.log, and waits (at most 10 s) until it answers. Returns the
 * pid (its own process group) with *port set, or -1 with err set. */
pid_t bench_blackbox_start(const char *bin, const char *dir, int64_t timeout_ns, long *port,
			   struct fl_error *err);

/* One scraper of the exporter: GET /probe?target=URL&module=http_2xx over a
 * kept-alive connection, reading probe_success from the answer, the way
 * Prometheus scrapes it. */
struct bench_scraper {
	void *easy; /* CURL *, reused */
	char url[512];
	struct fl_buf body;
};
int bench_scraper_init(struct bench_scraper *s, long exporter_port, const char *target_url);
void bench_scraper_release(struct bench_scraper *s);
/* Points the scraper at another target (same exporter). */
int bench_scraper_target(struct bench_scraper *s, long exporter_port, const char *target_url);
/* One scrape. Returns 1 when probe_success is 1, 0 when 0, -1 when the
 * exporter itself did not answer. */
int bench_scraper_scrape(struct bench_scraper *s);

/* Kills pid with SIGTERM, waits up to timeout_ns, then SIGKILL; reaps it. */
void bench_child_stop(pid_t pid, int64_t timeout_ns);

/* A free loopback TCP port (bound then released), or -1. */
long bench_free_port(void);

#endif
