/*
 * writer_driver: the one small interface every writer driver implements,
 * and what the drivers share with the writer core (sim/writer.c).
 *
 * Owns: the driver ops table and its registry, the struct every driver
 * reads its settings from (struct fl_writer), and the helpers drivers share
 * (sequence vectors, identifiers, one-line library messages). A driver
 * parses and checks its own scenario keys: the scenario loader
 * (core/scenario.c) reads only the generic ones (name, type, interval,
 * timeout), the writer probe kind (writer.c) reads "driver", and
 * sim/resolve.c runs the driver's parse hook through it, so `faultline validate` and
 * the runner report the same file:line:col errors. Does not own: the write
 * schedule, the log or the read-back retry loop (writer.c), nor the loss
 * arithmetic (timeline.c).
 *
 * How to add a writer driver:
 *  1. Create sim/writer_<driver>.c with a `const struct fl_writer_driver
 *     fl_writer_driver_<driver>` and its functions; keep helpers static.
 *  2. parse(): read the driver's keys with fl_doc_* getters on the probe's
 *     object (that marks them, so unknown keys are reported), check them
 *     with fl_doc_error_member (file:line:col), fill the defaults here and
 *     nowhere else. No side effects.
 *  3. open(): connect (for_write: create the table); NULL with err set when
 *     nothing could be sent. write(): one record by the deadline, FAIL only
 *     when it certainly did not take effect, INDETERMINATE otherwise.
 *     read_back(): this run's sequence numbers. close(): NULL ok.
 *  4. Add it to the table in sim/writer.c (fl_writer_driver_find), to
 *     CMakeLists.txt, a test in tests/unit/test_writer.c, and document its
 *     keys in docs/writer.md and scenarios/schema/scenario.schema.json.
 */
#ifndef FAULTLINE_WRITER_DRIVER_H
#define FAULTLINE_WRITER_DRIVER_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/doc.h"
#include "core/error.h"
#include "core/scenario.h"
#include "sim/writer.h"

/* Bounds loops that wait on a peer (connect polls, retries), in case a
 * clock stalls: the deadline ends them long before. */
#define FL_WRITER_RETRY_MAX 100000L

/* A growable vector of sequence numbers (read-back results). */
struct fl_writer_seqs {
	long *v;
	long n, alloc;
	int failed;
};

struct fl_writer_driver {
	const char *name; /* as written in scenarios: "sqlite", "http", "postgres" */
	int uses_url;     /* needs libcurl initialised while the writer lives */
	/* Reads and checks the driver's own keys of the probe object obj into
	 * p (defaults included). 0, or -1 with a file:line:col error. */
	int (*parse)(struct fl_doc *doc, json_t *obj, struct fl_probe_spec *p, struct fl_error *err);
	/* Opens a connection; for_write also creates the table. NULL with err
	 * set when the system cannot be reached (nothing was sent). */
	void *(*open)(struct fl_writer *w, int for_write, int64_t deadline, struct fl_error *err);
	/* Writes one record by the deadline. Sets *broken when the connection
	 * must be closed and reopened before the next write. */
	enum fl_write_outcome (*write)(struct fl_writer *w, void *conn, long seq, int64_t deadline,
				       int *broken);
	/* Appends this run's sequence numbers (any order) to out. */
	int (*read_back)(struct fl_writer *w, void *conn, int64_t deadline,
			 struct fl_writer_seqs *out, struct fl_error *err);
	void (*close)(void *conn);
};

extern const struct fl_writer_driver fl_writer_driver_sqlite;
extern const struct fl_writer_driver fl_writer_driver_http;
extern const struct fl_writer_driver fl_writer_driver_postgres;

/* Borrowed driver by name, or NULL. */
const struct fl_writer_driver *fl_writer_driver_find(const char *name);

struct fl_writer {
	const struct fl_probe_spec *spec;
	const struct fl_writer_driver *drv;
	const char *name; /* for messages; borrowed from spec */
	char *run_tag;
	char *table;
	int64_t interval_ns, timeout_ns;
	/* writer thread only */
	void *conn;
	int opened_once;
	/* lifecycle */
	pthread_t thread;
	int running, ran;
	int curl_inited;
	atomic_int stop; /* set by the owner thread (fl_writer_stop) */
	/* shared with readers of the log, under lock */
	pthread_mutex_t lock;
	struct fl_write *log;
	long nlog, alloc;
	long acked;
	int log_failed; /* an entry could not be stored: the log is incomplete */
};

/* Appends seq; -1 (and s->failed) when memory ran out. */
int fl_writer_seqs_add(struct fl_writer_seqs *s, long seq);
/* Sorts ascending and drops duplicates. */
void fl_writer_seqs_sort(struct fl_writer_seqs *s);
/* [A-Za-z_][A-Za-z0-9_]*, at most 63 characters (PostgreSQL's limit). */
int fl_writer_identifier_valid(const char *s);
/* The first line of a library message, without trailing newline or full
 * stop, so it fits our one-line errors. Returns buf. */
const char *fl_writer_first_line(const char *msg, char *buf, size_t n);
/* Milliseconds left until the deadline, rounded up, at least 1. */
int64_t fl_writer_ms_until(int64_t deadline);
/* Parses a read-back answer (array or {"seqs": [...]}) into out; `name`
 * and `url` only label the messages. 0 or -1 (FL_EXIT_ENV). */
int fl_writer_seqs_parse_json(const char *name, const char *url, const char *body, size_t len,
			      struct fl_writer_seqs *out, struct fl_error *err);

#endif
