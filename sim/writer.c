/*
 * writer: the writer probe. One thread per writer sends record seq = 1, 2,
 * ... on a fixed grid (start + k*interval), each write synchronous and
 * bounded by the probe timeout, and logs when it was sent, when its outcome
 * was known and what that outcome was (Jepsen's ok / fail / info). After
 * recovery, read-back asks the system which of this run's records exist.
 *
 * Drivers (writer_sqlite.c, writer_http.c, writer_postgres.c) sit behind
 * one ops table (sim/writer_driver.h); the scheduling, the log and the
 * read-back retry loop never know which one they drive. A driver's
 * connection is used by one thread only: the writer thread owns the write
 * connection, and every read-back opens its own. This file also holds the
 * "writer" probe kind, whose parse hook hands the probe's keys to its
 * driver.
 *
 * The classification rule every driver follows: FAIL only when the write
 * certainly did not take effect (nothing reached the system, or the system
 * answered with a definite rejection of a transaction it rolled back);
 * INDETERMINATE whenever the request may have been applied but no
 * confirmation arrived. Calling an unknown a failure would hide lost writes.
 */
#include "sim/writer.h"
#include "sim/writer_driver.h"
#include "sim/probe_kind.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WRITER_STOP_SLICE_NS (5 * FL_NS_PER_MS)
#define WRITER_RETRY_NS (100 * FL_NS_PER_MS)

/* ---- small helpers ---------------------------------------------------------- */

int fl_writer_seqs_add(struct fl_writer_seqs *s, long seq)
{
	if (s->n == s->alloc) {
		long na = s->alloc ? s->alloc * 2 : 64;
		long *nv = fl_realloc(s->v, (size_t)na * sizeof(*nv));
		if (!nv) {
			s->failed = 1;
			return -1;
		}
		s->v = nv;
		s->alloc = na;
	}
	s->v[s->n++] = seq;
	return 0;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

void fl_writer_seqs_sort(struct fl_writer_seqs *s)
{
	long i, k = 0;
	if (s->n > 1)
		qsort(s->v, (size_t)s->n, sizeof(*s->v), cmp_long);
	for (i = 0; i < s->n; i++)
		if (k == 0 || s->v[k - 1] != s->v[i])
			s->v[k++] = s->v[i];
	s->n = k;
}

int fl_writer_identifier_valid(const char *s)
{
	const char *p;
	if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return 0;
	for (p = s + 1; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			return 0;
	return p - s <= 63; /* PostgreSQL truncates longer names silently */
}

/* The first line of a library message, without trailing newline or full
 * stop, so it fits our one-line errors. */
const char *fl_writer_first_line(const char *msg, char *buf, size_t n)
{
	size_t len = 0;
	if (!msg)
		msg = "unknown error";
	while (msg[len] && msg[len] != '\n' && len + 1 < n)
		len++;
	memcpy(buf, msg, len);
	while (len > 0 && (buf[len - 1] == '.' || buf[len - 1] == ' ' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	return buf;
}

/* Milliseconds left until the deadline, rounded up (at least 1): libcurl
 * counts whole milliseconds, and firing early would cut the probe timeout. */
int64_t fl_writer_ms_until(int64_t deadline)
{
	int64_t left = deadline - fl_now_ns();
	if (left < FL_NS_PER_MS)
		return 1;
	return (left + FL_NS_PER_MS - 1) / FL_NS_PER_MS;
}


/* ---- the driver table ------------------------------------------------------- */

static const struct fl_writer_driver *const writer_drivers[] = {
	&fl_writer_driver_sqlite,
	&fl_writer_driver_http,
	&fl_writer_driver_postgres,
};

const struct fl_writer_driver *fl_writer_driver_find(const char *name)
{
	for (size_t i = 0; name && i < FL_ARRAY_LEN(writer_drivers); i++)
		if (strcmp(writer_drivers[i]->name, name) == 0)
			return writer_drivers[i];
	return NULL;
}

/* "sqlite, http or postgres", from the table, for messages. */
static void writer_driver_names(struct fl_buf *b)
{
	size_t n = FL_ARRAY_LEN(writer_drivers);
	for (size_t i = 0; i < n; i++)
		fl_buf_addf(b, "%s%s",
			    i == 0       ? ""
			    : i + 1 == n ? " or "
					 : ", ",
			    writer_drivers[i]->name);
}

/* The "writer" probe kind: "driver" picks the driver, which reads the rest. */
static int writer_kind_parse(struct fl_doc *doc, json_t *obj, struct fl_probe_spec *p, int is_check,
			     struct fl_error *err)
{
	const struct fl_writer_driver *drv;
	struct fl_buf names;
	(void)is_check; /* the loader refuses writers as checks */
	if (fl_doc_string(doc, obj, "driver", 1, &p->driver, err) < 0)
		return -1;
	drv = fl_writer_driver_find(p->driver);
	if (drv)
		return drv->parse(doc, obj, p, err);
	fl_buf_init(&names, 0);
	writer_driver_names(&names);
	fl_doc_error_member(doc, obj, "driver", err, "unknown writer driver '%s' (expected %s)",
			    p->driver, names.failed ? "see docs/writer.md" : names.buf);
	fl_buf_release(&names);
	return -1;
}

const struct fl_probe_kind_ops fl_probe_kind_writer = {
	.name = "writer",
	.kind = FL_PROBE_WRITER,
	.parse = writer_kind_parse,
};

/* ---- lifecycle ---------------------------------------------------------------- */

struct fl_writer *fl_writer_new(const struct fl_probe_spec *spec, const char *run_tag,
				struct fl_error *err)
{
	struct fl_writer *w = NULL;
	const struct fl_writer_driver *drv;
	const char *name = spec && spec->name ? spec->name : "writer";

	if (!spec || !spec->driver) {
		fl_error_set(err, FL_EXIT_INPUT, "writer %s: no driver (sqlite, http, postgres)",
			     name);
		return NULL;
	}
	drv = fl_writer_driver_find(spec->driver);
	if (!drv) {
		fl_error_set(err, FL_EXIT_INPUT,
			     "writer %s: unknown driver \"%s\" (sqlite, http, postgres)", name,
			     spec->driver);
		return NULL;
	}
	if (!run_tag || !run_tag[0]) {
		fl_error_set(err, FL_EXIT_INPUT, "writer %s: empty run tag", name);
		return NULL;
	}
	if (drv->uses_url) {
		if (!spec->url || !spec->read_url) {
			fl_error_set(err, FL_EXIT_INPUT,
				     "writer %s: the http driver needs url and read_url", name);
			return NULL;
		}
	} else if (!spec->dsn || !spec->dsn[0]) {
		fl_error_set(err, FL_EXIT_INPUT, "writer %s: the %s driver needs a dsn", name,
			     drv->name);
		return NULL;
	}
	if (spec->table && !fl_writer_identifier_valid(spec->table)) {
		fl_error_set(err, FL_EXIT_INPUT,
			     "writer %s: table \"%s\" is not an identifier ([A-Za-z_][A-Za-z0-9_]*, "
			     "at most 63 characters)",
			     name, spec->table);
		return NULL;
	}
	w = fl_calloc(1, sizeof(*w));
	if (!w)
		goto oom;
	w->spec = spec;
	w->drv = drv;
	w->name = name;
	pthread_mutex_init(&w->lock, NULL);
	w->run_tag = fl_strdup(run_tag);
	w->table = fl_strdup(spec->table ? spec->table : FL_WRITER_DEFAULT_TABLE);
	if (!w->run_tag || !w->table)
		goto oom;
	w->interval_ns = spec->interval_ns > 0 ? spec->interval_ns : FL_WRITER_DEFAULT_INTERVAL_NS;
	w->timeout_ns = spec->timeout_ns;
	if (w->timeout_ns <= 0)
		w->timeout_ns = fl_probe_default_timeout(w->interval_ns);
	/* Reference-counted by libcurl; released in fl_writer_free. */
	if (drv->uses_url) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			fl_error_set(err, FL_EXIT_ENV, "writer %s: cannot initialise libcurl", name);
			goto fail;
		}
		w->curl_inited = 1;
	}
	return w;
oom:
	fl_error_oom(err, "writer %s", name);
fail:
	fl_writer_free(w);
	return NULL;
}

static void writer_record(struct fl_writer *w, long seq, int64_t sent, int64_t done,
			  enum fl_write_outcome o)
{
	pthread_mutex_lock(&w->lock);
	if (w->nlog == w->alloc) {
		long na = w->alloc ? w->alloc * 2 : 256;
		struct fl_write *nl = fl_realloc(w->log, (size_t)na * sizeof(*nl));
		if (!nl) {
			w->log_failed = 1;
			goto out;
		}
		w->log = nl;
		w->alloc = na;
	}
	w->log[w->nlog].seq = seq;
	w->log[w->nlog].sent_ns = sent;
	w->log[w->nlog].ack_ns = done;
	w->log[w->nlog].outcome = o;
	w->nlog++;
	if (o == FL_WRITE_ACK)
		w->acked++;
out:
	pthread_mutex_unlock(&w->lock);
}

static void writer_write_one(struct fl_writer *w, long seq)
{
	int64_t sent = fl_now_ns(), deadline = sent + w->timeout_ns;
	enum fl_write_outcome o;
	struct fl_error e;
	int broken = 0;

	fl_error_init(&e);
	if (!w->conn)
		w->conn = w->drv->open(w, 1, deadline, &e);
	if (!w->conn) {
		o = FL_WRITE_FAIL; /* could not connect: nothing was sent */
	} else {
		o = w->drv->write(w, w->conn, seq, deadline, &broken);
		if (broken) {
			w->drv->close(w->conn);
			w->conn = NULL;
		}
	}
	writer_record(w, seq, sent, fl_now_ns(), o);
}

/* Ticks sit on the grid start + k*interval. A write that overruns its tick
 * moves the next write to the first grid point still in the future: missed
 * ticks are skipped, never sent in a burst, so the rate never exceeds one
 * write per interval and a slow system is not hammered on recovery. */
static void *writer_main(void *arg)
{
	struct fl_writer *w = arg;
	int64_t start = fl_now_ns(), k = 0;
	long seq = 0;

	while (fl_sleep_until_flag(start + k * w->interval_ns, &w->stop, WRITER_STOP_SLICE_NS) == 0) {
		int64_t elapsed;
		writer_write_one(w, ++seq);
		elapsed = fl_now_ns() - start;
		k = elapsed / w->interval_ns + 1;
	}
	if (w->conn) {
		w->drv->close(w->conn);
		w->conn = NULL;
	}
	return NULL;
}

int fl_writer_start(struct fl_writer *w, struct fl_error *err)
{
	int rc;

	if (w->ran)
		return fl_error_set(err, FL_EXIT_ENV, "writer %s: already started once", w->name);
	atomic_store(&w->stop, 0);
	rc = pthread_create(&w->thread, NULL, writer_main, w);
	if (rc != 0)
		return fl_error_set(err, FL_EXIT_ENV, "writer %s: cannot start thread: %s", w->name,
				    strerror(rc));
	w->running = 1;
	w->ran = 1;
	return 0;
}

void fl_writer_stop(struct fl_writer *w)
{
	if (!w || !w->running)
		return;
	atomic_store(&w->stop, 1);
	pthread_join(w->thread, NULL);
	w->running = 0;
}

void fl_writer_free(struct fl_writer *w)
{
	if (!w)
		return;
	fl_writer_stop(w);
	if (w->curl_inited)
		curl_global_cleanup();
	pthread_mutex_destroy(&w->lock);
	fl_free(w->log);
	fl_free(w->run_tag);
	fl_free(w->table);
	fl_free(w);
}

int fl_writer_log(struct fl_writer *w, struct fl_write **out, long *n)
{
	int ret = -1;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&w->lock);
	if (w->log_failed)
		goto out;
	if (w->nlog > 0) {
		/* The thread appends in seq order already; copying keeps the
		 * contract independent of that. */
		*out = fl_malloc((size_t)w->nlog * sizeof(**out));
		if (!*out)
			goto out;
		memcpy(*out, w->log, (size_t)w->nlog * sizeof(**out));
		*n = w->nlog;
	}
	ret = 0;
out:
	pthread_mutex_unlock(&w->lock);
	return ret;
}

long fl_writer_acked(struct fl_writer *w)
{
	long n;
	pthread_mutex_lock(&w->lock);
	n = w->acked;
	pthread_mutex_unlock(&w->lock);
	return n;
}

int fl_writer_parse_seqs(const char *body, size_t len, long **out, long *n, struct fl_error *err)
{
	struct fl_writer_seqs seqs = { 0 };

	*out = NULL;
	*n = 0;
	if (fl_writer_seqs_parse_json("http", "read_url", body, len, &seqs, err) < 0) {
		fl_free(seqs.v);
		return -1;
	}
	fl_writer_seqs_sort(&seqs);
	*out = seqs.v;
	*n = seqs.n;
	return 0;
}

int fl_writer_read_back(struct fl_writer *w, int64_t timeout_ns, long **present, long *n,
			struct fl_error *err)
{
	return fl_writer_read_back_until(w,
					 fl_now_ns() + (timeout_ns > 0 ? timeout_ns : w->timeout_ns),
					 NULL, present, n, err);
}

int fl_writer_read_back_until(struct fl_writer *w, int64_t deadline, atomic_int *stop,
			      long **present, long *n, struct fl_error *err)
{
	struct fl_writer_seqs seqs = { 0 };
	struct fl_error last;
	long attempt;

	*present = NULL;
	*n = 0;
	fl_error_init(&last);
	for (attempt = 0; attempt < FL_WRITER_RETRY_MAX; attempt++) {
		void *conn;
		int rc = -1;
		int64_t next;

		if (stop && atomic_load(stop)) {
			fl_error_init(&last);
			fl_error_set(&last, FL_EXIT_INTERRUPTED, "writer %s: read-back interrupted",
				     w->name);
			break;
		}
		fl_error_init(&last);
		seqs.n = 0;
		conn = w->drv->open(w, 0, deadline, &last);
		if (conn) {
			rc = w->drv->read_back(w, conn, deadline, &seqs, &last);
			w->drv->close(conn);
		}
		if (rc == 0) {
			fl_writer_seqs_sort(&seqs);
			*present = seqs.v;
			*n = seqs.n;
			return 0;
		}
		/* The system may still be coming back: retry until the budget
		 * runs out, then report the last reason. */
		next = fl_now_ns() + WRITER_RETRY_NS;
		if (next >= deadline)
			break;
		fl_sleep_until(next, stop, 10 * FL_NS_PER_MS);
	}
	fl_free(seqs.v);
	if (!fl_error_is_set(&last))
		fl_error_set(&last, FL_EXIT_ENV, "writer %s: read-back timed out", w->name);
	return fl_error_set(err, last.code, "%s", last.msg);
}
