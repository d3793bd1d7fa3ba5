/*
 * writer: the writer probe. One thread per writer sends record seq = 1, 2,
 * ... on a fixed grid (start + k*interval), each write synchronous and
 * bounded by the probe timeout, and logs when it was sent, when its outcome
 * was known and what that outcome was (Jepsen's ok / fail / info). After
 * recovery, read-back asks the system which of this run's records exist.
 *
 * Drivers (sqlite, http, postgres) sit behind one ops table; the scheduling,
 * the log and the read-back retry loop never know which one they drive. A
 * driver's connection is used by one thread only: the writer thread owns the
 * write connection, and every read-back opens its own.
 *
 * The classification rule every driver follows: FAIL only when the write
 * certainly did not take effect (nothing reached the system, or the system
 * answered with a definite rejection of a transaction it rolled back);
 * INDETERMINATE whenever the request may have been applied but no
 * confirmation arrived. Calling an unknown a failure would hide lost writes.
 */
#include "sim/writer.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WRITER_DEFAULT_TABLE "faultline_writes"
#define WRITER_DEFAULT_INTERVAL_NS (50 * FL_NS_PER_MS)
#define WRITER_MIN_TIMEOUT_NS (50 * FL_NS_PER_MS)
#define WRITER_STOP_SLICE_NS (5 * FL_NS_PER_MS)
#define WRITER_RETRY_NS (100 * FL_NS_PER_MS)
#define WRITER_RETRY_MAX 100000L
#define WRITER_HTTP_BODY_LIMIT ((size_t)1 << 20)
#define WRITER_HTTP_READ_LIMIT ((size_t)64 << 20)
#define WRITER_PG_RESULTS_MAX 16

/* A growable vector of sequence numbers (read-back results). */
struct writer_seqs {
	long *v;
	long n, alloc;
	int failed;
};

struct writer_driver {
	const char *name;
	int uses_url;              /* http: url and read_url instead of a dsn; needs libcurl */
	/* Opens a connection; for_write also creates the table. NULL with err
	 * set when the system cannot be reached (nothing was sent). */
	void *(*open)(struct fl_writer *w, int for_write, int64_t deadline, struct fl_error *err);
	/* Writes one record by the deadline. Sets *broken when the connection
	 * must be closed and reopened before the next write. */
	enum fl_write_outcome (*write)(struct fl_writer *w, void *conn, long seq, int64_t deadline,
				       int *broken);
	/* Appends this run's sequence numbers (any order) to out. */
	int (*read_back)(struct fl_writer *w, void *conn, int64_t deadline, struct writer_seqs *out,
			 struct fl_error *err);
	void (*close)(void *conn);
};

struct fl_writer {
	const struct fl_probe_spec *spec;
	const struct writer_driver *drv;
	const char *name;          /* for messages; borrowed from spec */
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
	volatile int stop;
	/* shared with readers of the log, under lock */
	pthread_mutex_t lock;
	struct fl_write *log;
	long nlog, alloc;
	long acked;
	int log_failed;            /* an entry could not be stored: the log is incomplete */
};

/* ---- small helpers ---------------------------------------------------------- */

static int seqs_add(struct writer_seqs *s, long seq)
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

static void seqs_sort_unique(struct writer_seqs *s)
{
	long i, k = 0;
	if (s->n > 1)
		qsort(s->v, (size_t)s->n, sizeof(*s->v), cmp_long);
	for (i = 0; i < s->n; i++)
		if (k == 0 || s->v[k - 1] != s->v[i])
			s->v[k++] = s->v[i];
	s->n = k;
}

static int identifier_valid(const char *s)
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
static const char *first_line(const char *msg, char *buf, size_t n)
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
static int64_t ms_until(int64_t deadline)
{
	int64_t left = deadline - fl_now_ns();
	if (left < FL_NS_PER_MS)
		return 1;
	return (left + FL_NS_PER_MS - 1) / FL_NS_PER_MS;
}

/* ---- sqlite ------------------------------------------------------------------ */

struct sqlite_conn {
	sqlite3 *db;
	sqlite3_stmt *insert;
	int64_t deadline;          /* the progress handler interrupts past it */
};

static int sqlite_progress(void *arg)
{
	const struct sqlite_conn *c = arg;
	return c->deadline > 0 && fl_now_ns() > c->deadline;
}

static int sqlite_is_corrupt(int rc)
{
	rc &= 0xff;
	return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

static void sqlite_close(void *arg)
{
	struct sqlite_conn *c = arg;
	if (!c)
		return;
	sqlite3_finalize(c->insert);
	sqlite3_close_v2(c->db);
	fl_free(c);
}

static void *sqlite_open(struct fl_writer *w, int for_write, int64_t deadline, struct fl_error *err)
{
	struct sqlite_conn *c = fl_calloc(1, sizeof(*c));
	struct fl_buf sql;
	char *errmsg = NULL;
	char line[256];
	int flags = SQLITE_OPEN_READWRITE, rc;

	fl_buf_init(&sql, 4096);
	if (!c) {
		fl_error_oom(err, "writer %s", w->name);
		goto fail;
	}
	c->deadline = deadline;
	/* The file belongs to the service: create it on the very first open
	 * only, so a database deleted mid-drill shows as failed writes rather
	 * than being silently replaced by an empty one. */
	if (for_write && !w->opened_once)
		flags |= SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(w->spec->dsn, &c->db, flags, NULL);
	if (rc != SQLITE_OK) {
		fl_error_set(err, FL_EXIT_ENV, "writer %s: %s: %s", w->name, w->spec->dsn,
			     c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(c->db, (int)(w->timeout_ns / FL_NS_PER_MS));
	sqlite3_progress_handler(c->db, 1000, sqlite_progress, c);
	if (!for_write)
		goto done;
	fl_buf_addf(&sql, "CREATE TABLE IF NOT EXISTS \"%s\"(run_tag TEXT, seq INTEGER, "
		    "written_at TEXT, PRIMARY KEY(run_tag, seq))", w->table);
	if (sql.failed) {
		fl_error_oom(err, "writer %s", w->name);
		goto fail;
	}
	rc = sqlite3_exec(c->db, sql.buf, NULL, NULL, &errmsg);
	if (rc != SQLITE_OK) {
		fl_error_set(err, FL_EXIT_ENV, "writer %s: %s: %s", w->name, w->spec->dsn,
			     first_line(errmsg ? errmsg : sqlite3_errmsg(c->db), line, sizeof(line)));
		goto fail;
	}
	fl_buf_reset(&sql);
	fl_buf_addf(&sql, "INSERT INTO \"%s\"(run_tag, seq, written_at) VALUES(?, ?, "
		    "strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now'))", w->table);
	rc = sql.failed ? SQLITE_NOMEM : sqlite3_prepare_v2(c->db, sql.buf, -1, &c->insert, NULL);
	if (rc != SQLITE_OK) {
		fl_error_set(err, FL_EXIT_ENV, "writer %s: %s: %s", w->name, w->spec->dsn,
			     sqlite3_errmsg(c->db));
		goto fail;
	}
	w->opened_once = 1;
done:
	sqlite3_free(errmsg);
	fl_buf_release(&sql);
	return c;
fail:
	sqlite3_free(errmsg);
	fl_buf_release(&sql);
	sqlite_close(c);
	return NULL;
}

/* Each write is its own transaction: BEGIN IMMEDIATE takes the write lock
 * (busy here means nothing happened), the INSERT runs inside it (an error
 * rolls back), and only COMMIT's own failure leaves the outcome unknown. */
static enum fl_write_outcome sqlite_write(struct fl_writer *w, void *arg, long seq,
					  int64_t deadline, int *broken)
{
	struct sqlite_conn *c = arg;
	int rc;

	c->deadline = deadline;
	rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		*broken = (rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED;
		return FL_WRITE_FAIL;
	}
	sqlite3_bind_text(c->insert, 1, w->run_tag, -1, SQLITE_STATIC);
	sqlite3_bind_int64(c->insert, 2, seq);
	rc = sqlite3_step(c->insert);
	sqlite3_reset(c->insert);
	sqlite3_clear_bindings(c->insert);
	if (rc != SQLITE_DONE) {
		c->deadline = 0;
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		/* Reopen after anything but contention: the table may have been
		 * dropped by a restore and must be recreated. */
		*broken = (rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED;
		return FL_WRITE_FAIL;
	}
	rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	c->deadline = 0;
	if (rc == SQLITE_OK)
		return FL_WRITE_ACK;
	if ((rc & 0xff) == SQLITE_BUSY) {
		/* SQLite documents that a busy COMMIT leaves the transaction
		 * open and unapplied. */
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		return FL_WRITE_FAIL;
	}
	if (!sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	*broken = 1;
	return sqlite_is_corrupt(rc) ? FL_WRITE_FAIL : FL_WRITE_INDETERMINATE;
}

static int sqlite_read_back(struct fl_writer *w, void *arg, int64_t deadline,
			    struct writer_seqs *out, struct fl_error *err)
{
	struct sqlite_conn *c = arg;
	sqlite3_stmt *st = NULL;
	struct fl_buf sql;
	int rc, ret = -1, exists = 0;

	fl_buf_init(&sql, 4096);
	c->deadline = deadline;
	rc = sqlite3_prepare_v2(c->db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		goto sqlerr;
	sqlite3_bind_text(st, 1, w->table, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		exists = 1;
	else if (rc != SQLITE_DONE)
		goto sqlerr;
	sqlite3_finalize(st);
	st = NULL;
	if (!exists) {
		/* The table is gone (a restore from before the drill): nothing of
		 * this run survived, which is an answer, not an error. */
		ret = 0;
		goto out;
	}
	fl_buf_addf(&sql, "SELECT seq FROM \"%s\" WHERE run_tag = ? ORDER BY seq", w->table);
	rc = sql.failed ? SQLITE_NOMEM : sqlite3_prepare_v2(c->db, sql.buf, -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto sqlerr;
	sqlite3_bind_text(st, 1, w->run_tag, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (seqs_add(out, (long)sqlite3_column_int64(st, 0)) < 0) {
			fl_error_oom(err, "writer %s", w->name);
			goto out;
		}
	if (rc != SQLITE_DONE)
		goto sqlerr;
	ret = 0;
	goto out;
sqlerr:
	fl_error_set(err, FL_EXIT_ENV, "writer %s: %s: %s", w->name, w->spec->dsn,
		     sqlite3_errmsg(c->db));
out:
	sqlite3_finalize(st);
	fl_buf_release(&sql);
	c->deadline = 0;
	return ret;
}

/* ---- http -------------------------------------------------------------------- */

struct http_conn {
	CURL *curl;
	struct curl_slist *headers;
	struct fl_buf resp;
	char errbuf[CURL_ERROR_SIZE];
};

static size_t http_collect(char *data, size_t size, size_t nmemb, void *arg)
{
	struct fl_buf *b = arg;
	size_t n = size * nmemb;
	if (b->len + n > b->limit)
		return 0;  /* CURLE_WRITE_ERROR: an answer this large is not ours */
	fl_buf_add(b, data, n);
	return b->failed ? 0 : n;
}

static void http_close(void *arg)
{
	struct http_conn *c = arg;
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->headers);
	fl_buf_release(&c->resp);
	fl_free(c);
}

static void *http_open(struct fl_writer *w, int for_write, int64_t deadline, struct fl_error *err)
{
	struct http_conn *c = fl_calloc(1, sizeof(*c));

	if (!c || !(c->curl = curl_easy_init())) {
		fl_error_set(err, FL_EXIT_ENV, "writer %s: cannot create an http handle", w->name);
		http_close(c);
		return NULL;
	}
	fl_buf_init(&c->resp, for_write ? WRITER_HTTP_BODY_LIMIT : WRITER_HTTP_READ_LIMIT);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, http_collect);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &c->resp);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "faultline-writer/" FAULTLINE_VERSION);
	if (for_write) {
		c->headers = curl_slist_append(NULL, "Content-Type: application/json");
		if (!c->headers) {
			fl_error_oom(err, "writer %s", w->name);
			http_close(c);
			return NULL;
		}
		curl_easy_setopt(c->curl, CURLOPT_URL, w->spec->url);
		curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
	}
	return c;
}

/* The body that acknowledges a write: JSON carrying the record's "id" or
 * "seq" (an answer that echoes something the service stored). */
static int http_body_acknowledges(const struct fl_buf *b)
{
	json_t *j = json_loadb(b->buf, b->len, 0, NULL);
	int ok = json_is_object(j) &&
		 ((json_object_get(j, "id") && !json_is_null(json_object_get(j, "id"))) ||
		  (json_object_get(j, "seq") && !json_is_null(json_object_get(j, "seq"))));
	json_decref(j);
	return ok;
}

static int http_dump_to_buf(const char *data, size_t n, void *arg)
{
	return fl_buf_add(arg, data, n) < 0 ? -1 : 0;
}

static enum fl_write_outcome http_write(struct fl_writer *w, void *arg, long seq, int64_t deadline,
					int *broken)
{
	struct http_conn *c = arg;
	struct fl_buf body;
	json_t *j;
	CURLcode rc;
	long status = 0, request_size = 0;
	enum fl_write_outcome o;

	fl_buf_init(&body, WRITER_HTTP_BODY_LIMIT);
	j = json_pack("{s:I, s:s}", "seq", (json_int_t)seq, "tag", w->run_tag);
	if (!j || json_dump_callback(j, http_dump_to_buf, &body, JSON_COMPACT) < 0 || body.failed) {
		o = FL_WRITE_FAIL;  /* nothing was sent */
		goto out;
	}
	fl_buf_reset(&c->resp);
	c->errbuf[0] = '\0';
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body.buf);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)body.len);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)ms_until(deadline));
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)ms_until(deadline));
	rc = curl_easy_perform(c->curl);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c->curl, CURLINFO_REQUEST_SIZE, &request_size);
	if (rc != CURLE_OK) {
		switch (rc) {
		case CURLE_COULDNT_CONNECT:
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
			o = FL_WRITE_FAIL;
			break;
		default:
			/* Timeouts, resets, empty replies: once the request has
			 * left (libcurl counts its bytes per transfer), the
			 * service may have applied it. */
			o = request_size > 0 ? FL_WRITE_INDETERMINATE : FL_WRITE_FAIL;
			break;
		}
	} else if (status >= 200 && status < 300) {
		o = http_body_acknowledges(&c->resp) ? FL_WRITE_ACK : FL_WRITE_INDETERMINATE;
	} else if (status >= 400 && status < 600 && status != 504) {
		/* A definite error answer; 504 is a proxy saying it does not
		 * know what the service behind it did. */
		o = FL_WRITE_FAIL;
	} else {
		o = FL_WRITE_INDETERMINATE;
	}
out:
	json_decref(j);
	fl_buf_release(&body);
	(void)broken;  /* libcurl drops a dead connection itself */
	return o;
}

/* The read-back answer's parser, shared by the http driver and
 * fl_writer_parse_seqs (which the fuzzers drive): `name` and `url` only
 * label the messages. */
static int seqs_parse_json(const char *name, const char *url, const char *body, size_t len,
			   struct writer_seqs *out, struct fl_error *err)
{
	json_error_t jerr;
	/* jansson leaves it untouched when it fails before parsing (out of memory). */
	memset(&jerr, 0, sizeof(jerr));
	json_t *root = json_loadb(body, len, 0, &jerr), *arr;
	size_t i;
	int ret = -1;

	if (!root) {
		fl_error_set(err, FL_EXIT_ENV, "writer %s: %s: answer is not json: %s", name,
			     url, jerr.text);
		goto out;
	}
	arr = json_is_object(root) ? json_object_get(root, "seqs") : root;
	if (!json_is_array(arr)) {
		fl_error_set(err, FL_EXIT_ENV, "writer %s: %s: expected a json array of sequence "
			     "numbers or {\"seqs\": [...]}", name, url);
		goto out;
	}
	for (i = 0; i < json_array_size(arr); i++) {
		json_t *v = json_array_get(arr, i);
		if (!json_is_integer(v)) {
			fl_error_set(err, FL_EXIT_ENV, "writer %s: %s: element %zu is not an integer",
				     name, url, i);
			goto out;
		}
		if (seqs_add(out, (long)json_integer_value(v)) < 0) {
			fl_error_oom(err, "writer %s", name);
			goto out;
		}
	}
	ret = 0;
out:
	json_decref(root);
	return ret;
}

static int http_parse_seqs(struct fl_writer *w, const struct fl_buf *b, struct writer_seqs *out,
			   struct fl_error *err)
{
	return seqs_parse_json(w->name, w->spec->read_url, b->buf, b->len, out, err);
}

static int http_read_back(struct fl_writer *w, void *arg, int64_t deadline, struct writer_seqs *out,
			  struct fl_error *err)
{
	struct http_conn *c = arg;
	struct fl_buf url;
	char *tag = NULL;
	CURLcode rc;
	long status = 0;
	int ret = -1;

	fl_buf_init(&url, 0);
	tag = curl_easy_escape(c->curl, w->run_tag, 0);
	if (!tag) {
		fl_error_oom(err, "writer %s", w->name);
		goto out;
	}
	fl_buf_addf(&url, "%s%ctag=%s", w->spec->read_url,
		    strchr(w->spec->read_url, '?') ? '&' : '?', tag);
	if (url.failed) {
		fl_error_oom(err, "writer %s", w->name);
		goto out;
	}
	fl_buf_reset(&c->resp);
	c->errbuf[0] = '\0';
	curl_easy_setopt(c->curl, CURLOPT_URL, url.buf);
	curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)ms_until(deadline));
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)ms_until(deadline));
	rc = curl_easy_perform(c->curl);
	if (rc != CURLE_OK) {
		fl_error_set(err, FL_EXIT_ENV, "writer %s: %s: %s", w->name, w->spec->read_url,
			     c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300) {
		fl_error_set(err, FL_EXIT_ENV, "writer %s: %s: http status %ld", w->name,
			     w->spec->read_url, status);
		goto out;
	}
	ret = http_parse_seqs(w, &c->resp, out, err);
out:
	curl_free(tag);
	fl_buf_release(&url);
	return ret;
}

/* ---- postgres ---------------------------------------------------------------- */

struct pg_conn {
	PGconn *pg;
};

/* Waits for the connection's socket to become ready for `events` by the
 * deadline. 1 ready, 0 timed out, -1 error. */
static int pg_wait(PGconn *pg, short events, int64_t deadline)
{
	int fd = PQsocket(pg);
	long guard;

	if (fd < 0)
		return -1;
	for (guard = 0; guard < WRITER_RETRY_MAX; guard++) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = deadline - fl_now_ns();
		int r;
		if (left <= 0)
			return 0;
		r = poll(&p, 1, (int)((left + FL_NS_PER_MS - 1) / FL_NS_PER_MS));
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
	return 0;
}

static void *pg_cancel_main(void *arg)
{
	char buf[256];
	PQcancel(arg, buf, (int)sizeof(buf));
	PQfreeCancel(arg);
	return NULL;
}

/* Asks the server to stop the statement a timed-out write left running.
 * PQcancel blocks on its own connection (PostgreSQL 15 has no async
 * cancel), so it runs in a detached thread: a hung server must not hold the
 * writer past its timeout. */
static void pg_cancel(PGconn *pg)
{
	PGcancel *cancel = PQgetCancel(pg);
	pthread_attr_t attr;
	pthread_t t;

	if (!cancel)
		return;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, pg_cancel_main, cancel) != 0)
		pg_cancel_main(cancel);
	pthread_attr_destroy(&attr);
}

/* Runs one statement asynchronously by the deadline. *sent is set once
 * libpq accepted the query; *timed_out when the deadline passed first (the
 * statement is then cancelled). Returns the first error result, else the
 * last result (caller PQclears), or NULL when none arrived. */
static PGresult *pg_run(PGconn *pg, const char *sql, int nparams, const char *const *params,
			int64_t deadline, int *sent, int *timed_out)
{
	PGresult *res = NULL, *r;
	int i;
	long guard;

	*sent = 0;
	*timed_out = 0;
	if (!PQsendQueryParams(pg, sql, nparams, NULL, params, NULL, NULL, 0))
		return NULL;
	*sent = 1;
	for (guard = 0; guard < WRITER_RETRY_MAX; guard++) {
		int f = PQflush(pg), wr;
		if (f <= 0)
			break;
		wr = pg_wait(pg, POLLOUT | POLLIN, deadline);
		if (wr == 0)
			goto timeout;
		if (wr < 0 || !PQconsumeInput(pg))
			break;
	}
	for (i = 0; i < WRITER_PG_RESULTS_MAX; i++) {
		for (guard = 0; guard < WRITER_RETRY_MAX && PQisBusy(pg); guard++) {
			int wr;
			if (!PQconsumeInput(pg))
				break;  /* connection lost: libpq reports it as a result */
			if (!PQisBusy(pg))
				break;
			wr = pg_wait(pg, POLLIN, deadline);
			if (wr == 0)
				goto timeout;
			if (wr < 0)
				break;
		}
		r = PQgetResult(pg);
		if (!r)
			break;
		if (!res || (PQresultStatus(res) != PGRES_FATAL_ERROR &&
			     PQresultStatus(r) == PGRES_FATAL_ERROR)) {
			PQclear(res);
			res = r;
		} else {
			PQclear(r);
		}
		if (PQstatus(pg) == CONNECTION_BAD)
			break;
	}
	return res;
timeout:
	*timed_out = 1;
	pg_cancel(pg);
	PQclear(res);
	return NULL;
}

/* Server notices ("relation already exists, skipping") are not ours to
 * print: the CLI's stderr carries one-line errors only. */
static void pg_notice_ignore(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static void pg_close(void *arg)
{
	struct pg_conn *c = arg;
	if (!c)
		return;
	PQfinish(c->pg);
	fl_free(c);
}

static int pg_exec_simple(struct fl_writer *w, PGconn *pg, const char *sql, int64_t deadline,
			  struct fl_error *err)
{
	int sent, timed_out, ret = -1;
	char line[256];
	PGresult *res = pg_run(pg, sql, 0, NULL, deadline, &sent, &timed_out);

	if (timed_out)
		fl_error_set(err, FL_EXIT_ENV, "writer %s: postgres: timed out", w->name);
	else if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
		fl_error_set(err, FL_EXIT_ENV, "writer %s: postgres: %s", w->name,
			     first_line(res ? PQresultErrorMessage(res) : PQerrorMessage(pg),
					line, sizeof(line)));
	else
		ret = 0;
	PQclear(res);
	return ret;
}

static void *pg_open(struct fl_writer *w, int for_write, int64_t deadline, struct fl_error *err)
{
	struct pg_conn *c = fl_calloc(1, sizeof(*c));
	struct fl_buf sql;
	char line[256];
	long guard;

	fl_buf_init(&sql, 4096);
	if (!c) {
		fl_error_oom(err, "writer %s", w->name);
		goto fail;
	}
	/* PQconnectStart + poll: connect_timeout counts whole seconds, the
	 * probe timeout is milliseconds. */
	c->pg = PQconnectStart(w->spec->dsn);
	if (!c->pg) {
		fl_error_oom(err, "writer %s", w->name);
		goto fail;
	}
	if (PQstatus(c->pg) == CONNECTION_BAD)
		goto connfail;
	PQsetNoticeProcessor(c->pg, pg_notice_ignore, NULL);
	for (guard = 0; guard < WRITER_RETRY_MAX; guard++) {
		PostgresPollingStatusType st = PQconnectPoll(c->pg);
		int wr;
		if (st == PGRES_POLLING_OK)
			break;
		if (st == PGRES_POLLING_FAILED)
			goto connfail;
		wr = pg_wait(c->pg, st == PGRES_POLLING_WRITING ? POLLOUT : POLLIN, deadline);
		if (wr == 0) {
			fl_error_set(err, FL_EXIT_ENV, "writer %s: postgres: connect timed out", w->name);
			goto fail;
		}
		if (wr < 0)
			goto connfail;
	}
	if (PQstatus(c->pg) != CONNECTION_OK)
		goto connfail;
	if (PQsetnonblocking(c->pg, 1) != 0)
		goto connfail;
	/* The server enforces the timeout too, so a statement the client gave
	 * up on does not keep running. */
	fl_buf_addf(&sql, "SET statement_timeout = %lld", (long long)(w->timeout_ns / FL_NS_PER_MS));
	if (sql.failed || pg_exec_simple(w, c->pg, sql.buf, deadline, err) < 0)
		goto fail;
	if (for_write) {
		fl_buf_reset(&sql);
		fl_buf_addf(&sql, "CREATE TABLE IF NOT EXISTS \"%s\" (run_tag text NOT NULL, "
			    "seq bigint NOT NULL, written_at timestamptz NOT NULL DEFAULT now(), "
			    "PRIMARY KEY (run_tag, seq))", w->table);
		if (sql.failed || pg_exec_simple(w, c->pg, sql.buf, deadline, err) < 0)
			goto fail;
	}
	fl_buf_release(&sql);
	return c;
connfail:
	fl_error_set(err, FL_EXIT_ENV, "writer %s: postgres: %s", w->name,
		     first_line(PQerrorMessage(c->pg), line, sizeof(line)));
fail:
	fl_buf_release(&sql);
	pg_close(c);
	return NULL;
}

static enum fl_write_outcome pg_write(struct fl_writer *w, void *arg, long seq, int64_t deadline,
				      int *broken)
{
	struct pg_conn *c = arg;
	struct fl_buf sql;
	char seqbuf[32];
	const char *params[2];
	PGresult *res = NULL;
	int sent = 0, timed_out = 0;
	enum fl_write_outcome o;

	fl_buf_init(&sql, 4096);
	fl_buf_addf(&sql, "INSERT INTO \"%s\" (run_tag, seq) VALUES ($1, $2)", w->table);
	if (sql.failed) {
		o = FL_WRITE_FAIL;
		goto out;
	}
	snprintf(seqbuf, sizeof(seqbuf), "%ld", seq);
	params[0] = w->run_tag;
	params[1] = seqbuf;
	res = pg_run(c->pg, sql.buf, 2, params, deadline, &sent, &timed_out);
	if (!sent) {
		/* libpq could not hand the whole query to the socket: the server
		 * never saw a complete statement. */
		o = FL_WRITE_FAIL;
		*broken = 1;
	} else if (timed_out) {
		o = FL_WRITE_INDETERMINATE;
		*broken = 1;
	} else if (res && PQresultStatus(res) == PGRES_COMMAND_OK) {
		o = FL_WRITE_ACK;
	} else if (PQstatus(c->pg) == CONNECTION_BAD) {
		/* The connection died after the statement left: it may have
		 * committed just before. */
		o = FL_WRITE_INDETERMINATE;
		*broken = 1;
	} else if (res && PQresultErrorField(res, PG_DIAG_SQLSTATE)) {
		/* The server answered an autocommit INSERT with an error: its
		 * transaction rolled back. */
		o = FL_WRITE_FAIL;
		*broken = 1;
	} else {
		o = FL_WRITE_INDETERMINATE;
		*broken = 1;
	}
out:
	PQclear(res);
	fl_buf_release(&sql);
	return o;
}

static int pg_read_back(struct fl_writer *w, void *arg, int64_t deadline, struct writer_seqs *out,
			struct fl_error *err)
{
	struct pg_conn *c = arg;
	struct fl_buf sql;
	const char *params[1] = { w->run_tag };
	PGresult *res = NULL;
	int sent, timed_out, ret = -1, i;
	const char *state;
	char line[256];

	fl_buf_init(&sql, 4096);
	fl_buf_addf(&sql, "SELECT seq FROM \"%s\" WHERE run_tag = $1 ORDER BY seq", w->table);
	if (sql.failed) {
		fl_error_oom(err, "writer %s", w->name);
		goto out;
	}
	res = pg_run(c->pg, sql.buf, 1, params, deadline, &sent, &timed_out);
	if (timed_out) {
		fl_error_set(err, FL_EXIT_ENV, "writer %s: postgres: read-back timed out", w->name);
		goto out;
	}
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		if (state && strcmp(state, "42P01") == 0) {
			/* undefined_table: restored from before the table existed */
			ret = 0;
			goto out;
		}
		fl_error_set(err, FL_EXIT_ENV, "writer %s: postgres: %s", w->name,
			     first_line(res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg),
					line, sizeof(line)));
		goto out;
	}
	for (i = 0; i < PQntuples(res); i++) {
		long v;
		if (fl_parse_long(PQgetvalue(res, i, 0), LONG_MIN, LONG_MAX, &v) < 0) {
			fl_error_set(err, FL_EXIT_ENV, "writer %s: postgres: bad seq \"%s\"", w->name,
				     PQgetvalue(res, i, 0));
			goto out;
		}
		if (seqs_add(out, v) < 0) {
			fl_error_oom(err, "writer %s", w->name);
			goto out;
		}
	}
	ret = 0;
out:
	PQclear(res);
	fl_buf_release(&sql);
	return ret;
}

/* ---- the driver table ------------------------------------------------------- */

static const struct writer_driver writer_drivers[] = {
	{ "sqlite", 0, sqlite_open, sqlite_write, sqlite_read_back, sqlite_close },
	{ "http", 1, http_open, http_write, http_read_back, http_close },
	{ "postgres", 0, pg_open, pg_write, pg_read_back, pg_close },
};

static const struct writer_driver *writer_driver_find(const char *name)
{
	size_t i;
	for (i = 0; name && i < FL_ARRAY_LEN(writer_drivers); i++)
		if (strcmp(writer_drivers[i].name, name) == 0)
			return &writer_drivers[i];
	return NULL;
}

/* ---- lifecycle ---------------------------------------------------------------- */

struct fl_writer *fl_writer_new(const struct fl_probe_spec *spec, const char *run_tag,
				struct fl_error *err)
{
	struct fl_writer *w = NULL;
	const struct writer_driver *drv;
	const char *name = spec && spec->name ? spec->name : "writer";

	if (!spec || !spec->driver) {
		fl_error_set(err, FL_EXIT_INPUT, "writer %s: no driver (sqlite, http, postgres)", name);
		return NULL;
	}
	drv = writer_driver_find(spec->driver);
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
			fl_error_set(err, FL_EXIT_INPUT, "writer %s: the http driver needs url and read_url",
				     name);
			return NULL;
		}
	} else if (!spec->dsn || !spec->dsn[0]) {
		fl_error_set(err, FL_EXIT_INPUT, "writer %s: the %s driver needs a dsn", name, drv->name);
		return NULL;
	}
	if (spec->table && !identifier_valid(spec->table)) {
		fl_error_set(err, FL_EXIT_INPUT,
			     "writer %s: table \"%s\" is not an identifier ([A-Za-z_][A-Za-z0-9_]*, "
			     "at most 63 characters)", name, spec->table);
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
	w->table = fl_strdup(spec->table ? spec->table : WRITER_DEFAULT_TABLE);
	if (!w->run_tag || !w->table)
		goto oom;
	w->interval_ns = spec->interval_ns > 0 ? spec->interval_ns : WRITER_DEFAULT_INTERVAL_NS;
	w->timeout_ns = spec->timeout_ns;
	if (w->timeout_ns <= 0) {
		w->timeout_ns = w->interval_ns * 5 < FL_NS_PER_S ? w->interval_ns * 5 : FL_NS_PER_S;
		if (w->timeout_ns < WRITER_MIN_TIMEOUT_NS)
			w->timeout_ns = WRITER_MIN_TIMEOUT_NS;
	}
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
		o = FL_WRITE_FAIL;  /* could not connect: nothing was sent */
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

	while (fl_sleep_until(start + k * w->interval_ns, &w->stop, WRITER_STOP_SLICE_NS) == 0) {
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
	w->stop = 0;
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
	w->stop = 1;
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
	struct writer_seqs seqs = { 0 };

	*out = NULL;
	*n = 0;
	if (seqs_parse_json("http", "read_url", body, len, &seqs, err) < 0) {
		fl_free(seqs.v);
		return -1;
	}
	seqs_sort_unique(&seqs);
	*out = seqs.v;
	*n = seqs.n;
	return 0;
}

int fl_writer_read_back(struct fl_writer *w, int64_t timeout_ns, long **present, long *n,
			struct fl_error *err)
{
	return fl_writer_read_back_until(w, fl_now_ns() + (timeout_ns > 0 ? timeout_ns : w->timeout_ns),
					 NULL, present, n, err);
}

int fl_writer_read_back_until(struct fl_writer *w, int64_t deadline, volatile sig_atomic_t *stop,
			      long **present, long *n, struct fl_error *err)
{
	struct writer_seqs seqs = { 0 };
	struct fl_error last;
	long attempt;

	*present = NULL;
	*n = 0;
	fl_error_init(&last);
	for (attempt = 0; attempt < WRITER_RETRY_MAX; attempt++) {
		void *conn;
		int rc = -1;
		int64_t next;

		if (stop && *stop) {
			fl_error_init(&last);
			fl_error_set(&last, FL_EXIT_INTERRUPTED, "writer %s: read-back interrupted", w->name);
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
			seqs_sort_unique(&seqs);
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
