/*
 * writer: the writer probe — sequence-numbered writes at a fixed rate, a log
 * of what was acknowledged, and the read-back that shows what survived.
 *
 * Owns: one thread per writer that writes record seq = 1, 2, ... every
 * interval through a driver, logging sent/ack times and the outcome (ack,
 * fail = certainly not applied, indeterminate = sent but no answer), and the
 * read-back after recovery. Drivers sit behind one small ops table:
 *   sqlite   — INSERT into a table of a database file the service owns
 *              (dsn = path; busy timeout = the probe timeout)
 *   http     — POST {"seq": N, "tag": run_tag} to url; 2xx with a JSON
 *              body holding "id" or "seq" = acknowledged; read_url (plus
 *              ?tag=run_tag) answers a JSON array of the sequence numbers
 *              present (or {"seqs": [...]})
 *   postgres — libpq conninfo in dsn; one autocommit INSERT per write,
 *              awaited with poll() until the probe timeout
 * Log times (sent_ns, ack_ns) are CLOCK_MONOTONIC ns from fl_now_ns(), the
 * probes' clock; docs/writer.md says what each outcome means per driver.
 * Does not own: the loss arithmetic (fl_loss_compute in timeline.c).
 */
#ifndef FAULTLINE_WRITER_H
#define FAULTLINE_WRITER_H

#include <stdatomic.h>
#include <stddef.h>

#include "core/scenario.h"
#include "sim/timeline.h"
#include "core/error.h"

struct fl_writer;

/* spec is borrowed and must outlive the writer; run_tag distinguishes this
 * run's records from earlier runs' (e.g. the run id) where the driver stores
 * it. Connects lazily. */
struct fl_writer *fl_writer_new(const struct fl_probe_spec *spec, const char *run_tag,
				struct fl_error *err);
int fl_writer_start(struct fl_writer *w, struct fl_error *err);
void fl_writer_stop(struct fl_writer *w); /* joins; the log stays */
void fl_writer_free(struct fl_writer *w); /* NULL ok */
/* Copy of the log so far (new array, fl_free), in seq order. */
int fl_writer_log(struct fl_writer *w, struct fl_write **out, long *n);
long fl_writer_acked(struct fl_writer *w);
/* Reads back which of this run's sequence numbers exist now (new array,
 * ascending). Retries until timeout_ns on connection errors. */
int fl_writer_read_back(struct fl_writer *w, int64_t timeout_ns, long **present, long *n,
			struct fl_error *err);
/* The same, bounded by the monotonic deadline_ns and given up as soon as
 * *stop is set (may be NULL): the drill's timeout and Ctrl-C reach the
 * read-back, which otherwise runs with nothing watching it. */
int fl_writer_read_back_until(struct fl_writer *w, int64_t deadline_ns, atomic_int *stop,
			      long **present, long *n, struct fl_error *err);

/* Parses an http read-back answer (a JSON array of sequence numbers or
 * {"seqs": [...]}) exactly as the http driver does: *out is a new array
 * (fl_free), ascending and without duplicates, *n its length. Returns 0, or
 * -1 with err set (FL_EXIT_ENV) and *out NULL. Public so the fuzzers
 * (tests/fuzz/fuzz_http_body.c) reach the real parser. */
int fl_writer_parse_seqs(const char *body, size_t len, long **out, long *n, struct fl_error *err);

#endif
