/*
 * test_writer: the writer probe against real systems — a SQLite file, a
 * fixture HTTP store (tests/fixtures/write_server.c) and a throwaway
 * PostgreSQL 15 cluster — checking the three outcomes, pacing and
 * read-back. Every wait is on a condition with a deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/spawn.h"
#include "sim/writer.h"

#define WAIT_SLICE_NS (5 * FL_NS_PER_MS)

struct ctx {
	char dir[256];
	char db[512];
	pid_t server;
	int port;
};

/* ---- helpers -------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rmtree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void spec_init(struct fl_probe_spec *s, const char *driver, int64_t interval_ns,
		      int64_t timeout_ns)
{
	memset(s, 0, sizeof(*s));
	s->name = (char *)"w";
	s->kind = FL_PROBE_WRITER;
	s->driver = FL_UNCONST(char *, driver);
	s->interval_ns = interval_ns;
	s->timeout_ns = timeout_ns;
}

static long count_outcome(struct fl_writer *w, enum fl_write_outcome o)
{
	struct fl_write *log;
	long n, i, k = 0;
	assert_int_equal(fl_writer_log(w, &log, &n), 0);
	for (i = 0; i < n; i++)
		k += log[i].outcome == o;
	fl_free(log);
	return k;
}

static long count_log(struct fl_writer *w)
{
	struct fl_write *log;
	long n;
	assert_int_equal(fl_writer_log(w, &log, &n), 0);
	fl_free(log);
	return n;
}

/* Waits until at least `want` writes with outcome `o` (or any outcome when
 * o < 0) are logged, or the deadline passes. Returns 1 when reached. */
static int wait_for(struct fl_writer *w, int o, long want, int64_t timeout_ns)
{
	int64_t deadline = fl_now_ns() + timeout_ns;
	while (fl_now_ns() < deadline) {
		long have = o < 0 ? count_log(w) : count_outcome(w, (enum fl_write_outcome)o);
		if (have >= want)
			return 1;
		fl_sleep_until(fl_now_ns() + WAIT_SLICE_NS, NULL, 0);
	}
	return 0;
}

static int contains(const long *v, long n, long x)
{
	long i;
	for (i = 0; i < n; i++)
		if (v[i] == x)
			return 1;
	return 0;
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int setup(void **state)
{
	struct ctx *c = fl_calloc(1, sizeof(*c));
	if (!c)
		return -1;
	snprintf(c->dir, sizeof(c->dir), "/tmp/fl-writer-XXXXXX");
	if (!mkdtemp(c->dir)) {
		fl_free(c);
		return -1;
	}
	snprintf(c->db, sizeof(c->db), "%s/service.db", c->dir);
	c->server = -1;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	if (c->server > 0) {
		kill(c->server, SIGKILL);
		waitpid(c->server, NULL, 0);
	}
	rmtree(c->dir);
	fl_free(c);
	return 0;
}

/* Starts the fixture HTTP store and waits for its port file. */
static void server_start(struct ctx *c)
{
	const char *fixdir = getenv("FAULTLINE_FIXTURE_DIR");
	char bin[512], portfile[512];
	const char *argv[3];
	struct fl_error err;
	int64_t deadline;

	assert_non_null(fixdir);
	snprintf(bin, sizeof(bin), "%s/write_server", fixdir);
	snprintf(portfile, sizeof(portfile), "%s/port", c->dir);
	argv[0] = bin;
	argv[1] = portfile;
	argv[2] = NULL;
	fl_error_init(&err);
	c->server = fl_spawn_argv(argv, -1, NULL, &err);
	assert_true(c->server > 0);
	deadline = fl_now_ns() + 10 * FL_NS_PER_S;
	while (fl_now_ns() < deadline) {
		struct fl_buf b;
		long port;
		fl_buf_init(&b, 64);
		if (fl_read_file(portfile, 64, &b, &err) == 0) {
			while (b.len > 0 && (b.buf[b.len - 1] == '\n'))
				b.buf[--b.len] = '\0';
			assert_int_equal(fl_parse_long(b.buf, 1, 65535, &port), 0);
			c->port = (int)port;
			fl_buf_release(&b);
			return;
		}
		fl_buf_release(&b);
		fl_error_init(&err);
		fl_sleep_until(fl_now_ns() + WAIT_SLICE_NS, NULL, 0);
	}
	fail_msg("write_server did not publish its port");
}

/* ---- input checks ------------------------------------------------------- */

static void test_new_rejects_bad_input(void **state)
{
	struct ctx *c = *state;
	struct fl_probe_spec s;
	struct fl_error err;

	spec_init(&s, "sqlite", 0, 0);
	s.dsn = c->db;
	s.table = (char *)"writes; DROP TABLE x";
	fl_error_init(&err);
	assert_null(fl_writer_new(&s, "run-1", &err));
	assert_int_equal(err.code, FL_EXIT_INPUT);
	assert_string_equal(err.msg, "writer w: table \"writes; DROP TABLE x\" is not an identifier "
				     "([A-Za-z_][A-Za-z0-9_]*, at most 63 characters)");

	s.table = (char *)"1abc";
	fl_error_init(&err);
	assert_null(fl_writer_new(&s, "run-1", &err));

	spec_init(&s, "mongo", 0, 0);
	s.dsn = c->db;
	fl_error_init(&err);
	assert_null(fl_writer_new(&s, "run-1", &err));
	assert_string_equal(err.msg, "writer w: unknown driver \"mongo\" (sqlite, http, postgres)");

	spec_init(&s, "postgres", 0, 0);
	fl_error_init(&err);
	assert_null(fl_writer_new(&s, "run-1", &err));
	assert_string_equal(err.msg, "writer w: the postgres driver needs a dsn");

	spec_init(&s, "http", 0, 0);
	s.url = (char *)"http://127.0.0.1:1/write";
	fl_error_init(&err);
	assert_null(fl_writer_new(&s, "run-1", &err));
	assert_string_equal(err.msg, "writer w: the http driver needs url and read_url");

	spec_init(&s, "sqlite", 0, 0);
	s.dsn = c->db;
	s.table = (char *)"Drill_Writes_2";
	fl_error_init(&err);
	fl_writer_free(fl_writer_new(&s, "run-1", &err));
	assert_false(fl_error_is_set(&err));
}

/* A chaos tool survives its own chaos: every allocation in fl_writer_new
 * failing in turn gives a clean error, never a crash or a leak. */
static void test_new_survives_allocation_failure(void **state)
{
	struct ctx *c = *state;
	struct fl_probe_spec s;
	const char *drivers[] = { "sqlite", "http" };
	size_t d;

	for (d = 0; d < FL_ARRAY_LEN(drivers); d++) {
		long k, failures = 0;
		spec_init(&s, drivers[d], 0, 0);
		s.dsn = c->db;
		s.url = (char *)"http://127.0.0.1:1/write";
		s.read_url = (char *)"http://127.0.0.1:1/seqs";
		for (k = 1; k < 50; k++) {
			struct fl_error err;
			struct fl_writer *w;
			fl_error_init(&err);
			fl_alloc_fail_after(k);
			w = fl_writer_new(&s, "run-oom", &err);
			fl_alloc_fail_after(-1);
			if (!w) {
				assert_int_equal(err.code, FL_EXIT_ENV);
				assert_string_equal(err.msg, "writer w: out of memory");
				failures++;
				continue;
			}
			fl_writer_free(w);
			break;
		}
		assert_true(failures >= 1);
		assert_true(k < 50);
	}
}

/* ---- sqlite ---------------------------------------------------------------- */

static void test_sqlite_acked_and_read_back(void **state)
{
	struct ctx *c = *state;
	struct fl_probe_spec s;
	struct fl_error err;
	struct fl_writer *w, *other;
	struct fl_write *log;
	long n, np, *present, i;

	spec_init(&s, "sqlite", 10 * FL_NS_PER_MS, 2 * FL_NS_PER_S);
	s.dsn = c->db;
	fl_error_init(&err);
	w = fl_writer_new(&s, "run-a", &err);
	other = fl_writer_new(&s, "run-b", &err);
	assert_non_null(w);
	assert_non_null(other);
	assert_int_equal(fl_writer_start(w, &err), 0);
	assert_int_equal(fl_writer_start(other, &err), 0);
	assert_true(wait_for(w, FL_WRITE_ACK, 20, 10 * FL_NS_PER_S));
	assert_true(wait_for(other, FL_WRITE_ACK, 5, 10 * FL_NS_PER_S));
	fl_writer_stop(w);
	fl_writer_stop(other);
	/* restarting would reuse sequence numbers */
	assert_int_equal(fl_writer_start(w, &err), -1);
	fl_error_init(&err);

	assert_int_equal(fl_writer_log(w, &log, &n), 0);
	assert_true(n >= 20);
	/* Two writers on one file may briefly contend for the lock; whatever
	 * was not acknowledged must then be a certain failure. */
	assert_true(fl_writer_acked(w) >= 20);
	for (i = 0; i < n; i++) {
		assert_int_equal(log[i].seq, i + 1);
		assert_true(log[i].ack_ns >= log[i].sent_ns);
		assert_true(log[i].outcome == FL_WRITE_ACK || log[i].outcome == FL_WRITE_FAIL);
	}
	assert_int_equal(fl_writer_read_back(w, FL_NS_PER_S, &present, &np, &err), 0);
	/* exactly the acknowledged records of this run, none of run-b's */
	{
		long k = 0;
		for (i = 0; i < n; i++)
			if (log[i].outcome == FL_WRITE_ACK) {
				assert_true(k < np);
				assert_int_equal(present[k], log[i].seq);
				k++;
			}
		assert_int_equal(k, np);
	}
	fl_free(present);
	fl_free(log);
	fl_writer_free(w);
	fl_writer_free(other);
}

/* A restore from an older backup loses rows behind the writer's back:
 * read-back must miss exactly those. */
static void test_sqlite_restore_loses_rows(void **state)
{
	struct ctx *c = *state;
	struct fl_probe_spec s;
	struct fl_error err;
	struct fl_writer *w;
	struct fl_write *log;
	long n, np, *present, i, k;
	sqlite3 *db = NULL;
	char sql[256];
	long gone[4];

	spec_init(&s, "sqlite", 5 * FL_NS_PER_MS, FL_NS_PER_S);
	s.dsn = c->db;
	s.table = (char *)"drill";
	fl_error_init(&err);
	w = fl_writer_new(&s, "run 7/α&x", &err);
	assert_non_null(w);
	assert_int_equal(fl_writer_start(w, &err), 0);
	assert_true(wait_for(w, FL_WRITE_ACK, 30, 10 * FL_NS_PER_S));
	fl_writer_stop(w);
	assert_int_equal(fl_writer_log(w, &log, &n), 0);
	assert_int_equal(count_outcome(w, FL_WRITE_ACK), n);

	gone[0] = 1;
	gone[1] = 7;
	gone[2] = 8;
	gone[3] = n;
	assert_int_equal(sqlite3_open(c->db, &db), SQLITE_OK);
	for (i = 0; i < 4; i++) {
		snprintf(sql, sizeof(sql), "DELETE FROM drill WHERE seq = %ld", gone[i]);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_changes(db), 1);
	}
	sqlite3_close(db);

	assert_int_equal(fl_writer_read_back(w, FL_NS_PER_S, &present, &np, &err), 0);
	assert_int_equal(np, n - 4);
	for (i = 0, k = 0; i < n; i++) {
		int missing = contains(gone, 4, log[i].seq);
		assert_int_equal(contains(present, np, log[i].seq), !missing);
		k += !missing;
	}
	assert_int_equal(k, np);
	for (i = 1; i < np; i++)
		assert_true(present[i - 1] < present[i]);
	fl_free(present);

	/* the whole table gone (a restore from before it existed): nothing
	 * survived, which is an answer, not an error */
	assert_int_equal(sqlite3_open(c->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE drill", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(fl_writer_read_back(w, FL_NS_PER_S, &present, &np, &err), 0);
	assert_int_equal(np, 0);
	assert_null(present);
	fl_free(log);
	fl_writer_free(w);
}

/* Corrupting the file header while writing turns writes into certain
 * failures (no crash, no false acknowledgement); repairing it lets the
 * writer reconnect and succeed again. */
static void test_sqlite_corrupt_header(void **state)
{
	struct ctx *c = *state;
	struct fl_probe_spec s;
	struct fl_error err;
	struct fl_writer *w;
	struct fl_write *log;
	unsigned char saved[100], junk[100];
	sqlite3 *locker = NULL;
	long n, i, first_fail = -1, acked_before, np, *present;
	int fd;

	spec_init(&s, "sqlite", 10 * FL_NS_PER_MS, 500 * FL_NS_PER_MS);
	s.dsn = c->db;
	fl_error_init(&err);
	w = fl_writer_new(&s, "run-c", &err);
	assert_non_null(w);
	assert_int_equal(fl_writer_start(w, &err), 0);
	assert_true(wait_for(w, FL_WRITE_ACK, 5, 10 * FL_NS_PER_S));

	/* Hold SQLite's exclusive lock from a second connection while the
	 * header is swapped, so no in-flight commit of the writer rewrites
	 * page 1 from its cache and quietly undoes the damage (or makes the
	 * saved copy stale). */
	assert_int_equal(sqlite3_open(c->db, &locker), SQLITE_OK);
	sqlite3_busy_timeout(locker, 5000);
	assert_int_equal(sqlite3_exec(locker, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	fd = open(c->db, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, saved, sizeof(saved), 0), (ssize_t)sizeof(saved));
	memset(junk, 0xA5, sizeof(junk));
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	sqlite3_exec(locker, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(locker);
	acked_before = fl_writer_acked(w);
	assert_true(wait_for(w, FL_WRITE_FAIL, 3, 10 * FL_NS_PER_S));
	/* repair: the failed writes changed nothing, so the old header is right */
	assert_int_equal(pwrite(fd, saved, sizeof(saved), 0), (ssize_t)sizeof(saved));
	assert_true(wait_for(w, FL_WRITE_ACK, acked_before + 3, 10 * FL_NS_PER_S));
	fl_writer_stop(w);
	/* closed only now: closing a descriptor drops every POSIX lock this
	 * process holds on the file, the writer's included */
	close(fd);

	assert_int_equal(fl_writer_log(w, &log, &n), 0);
	for (i = 0; i < n; i++)
		if (log[i].outcome == FL_WRITE_FAIL && first_fail < 0)
			first_fail = i;
	assert_true(first_fail > 0);
	for (i = 0; i < n; i++)
		assert_true(log[i].outcome != FL_WRITE_INDETERMINATE);
	assert_int_equal(fl_writer_read_back(w, FL_NS_PER_S, &present, &np, &err), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(contains(present, np, log[i].seq), log[i].outcome == FL_WRITE_ACK);
	fl_free(present);
	fl_free(log);
	fl_writer_free(w);
}

/* Pacing: 1 s at 20 ms is about 50 writes, on the grid, never bunched. */
static void test_rate_is_paced(void **state)
{
	struct ctx *c = *state;
	struct fl_probe_spec s;
	struct fl_error err;
	struct fl_writer *w;
	struct fl_write *log;
	long n, i, overrun = 0;
	int64_t start;

	spec_init(&s, "sqlite", 20 * FL_NS_PER_MS, FL_NS_PER_S);
	s.dsn = c->db;
	fl_error_init(&err);
	w = fl_writer_new(&s, "run-rate", &err);
	assert_non_null(w);
	start = fl_now_ns();
	assert_int_equal(fl_writer_start(w, &err), 0);
	fl_sleep_until(start + FL_NS_PER_S, NULL, 0); /* the measurement window itself */
	fl_writer_stop(w);
	assert_int_equal(fl_writer_log(w, &log, &n), 0);
	/* A write still in flight at a grid slot skips that slot (by
	 * design); fsync on a loaded 2-core machine can overrun 20 ms. The
	 * slots the measured overruns excuse are taken off the lower bound,
	 * so a writer that idles or lags with fast writes still fails. */
	for (i = 0; i < n; i++)
		if (log[i].ack_ns > log[i].sent_ns)
			overrun += (log[i].ack_ns - log[i].sent_ns) / (20 * FL_NS_PER_MS);
	print_message("rate: %ld writes in 1 s at a 20 ms interval (%ld slots skipped behind "
		      "slow writes)\n",
		      n, overrun);
	assert_in_range(n, overrun < 35 ? 35 - overrun : 0, 55);
	/* No catch-up burst: a late write may sit close to the next slot's,
	 * but any three consecutive sends span at least one interval. */
	for (i = 2; i < n; i++)
		assert_true(log[i].sent_ns - log[i - 2].sent_ns >= 20 * FL_NS_PER_MS);
	fl_free(log);
	fl_writer_free(w);
}

/* ---- http ------------------------------------------------------------------- */

static struct fl_writer *http_writer(struct ctx *c, struct fl_probe_spec *s, const char *route,
				     const char *read_route, int64_t interval, int64_t timeout,
				     char *url, char *read_url, size_t len)
{
	struct fl_error err;
	struct fl_writer *w;

	snprintf(url, len, "http://127.0.0.1:%d%s", c->port, route);
	snprintf(read_url, len, "http://127.0.0.1:%d%s", c->port, read_route);
	spec_init(s, "http", interval, timeout);
	s->url = url;
	s->read_url = read_url;
	fl_error_init(&err);
	w = fl_writer_new(s, "run 9/β&tag=x", &err);
	assert_non_null(w);
	return w;
}

static void test_http_acked_and_read_back(void **state)
{
	struct ctx *c = *state;
	struct fl_probe_spec s;
	struct fl_error err;
	struct fl_writer *w;
	struct fl_write *log;
	char url[256], read_url[256];
	long n, np, *present, i;

	server_start(c);
	w = http_writer(c, &s, "/write", "/seqs", 10 * FL_NS_PER_MS, FL_NS_PER_S, url, read_url,
			sizeof(url));
	fl_error_init(&err);
	assert_int_equal(fl_writer_start(w, &err), 0);
	assert_true(wait_for(w, FL_WRITE_ACK, 15, 10 * FL_NS_PER_S));
	fl_writer_stop(w);
	assert_int_equal(fl_writer_log(w, &log, &n), 0);
	assert_int_equal(fl_writer_acked(w), n);
	assert_int_equal(fl_writer_read_back(w, FL_NS_PER_S, &present, &np, &err), 0);
	assert_int_equal(np, n);
	for (i = 0; i < n; i++)
		assert_int_equal(present[i], log[i].seq);
	fl_free(present);

	/* the bare-array form, with a query string already in read_url */
	snprintf(read_url, sizeof(read_url), "http://127.0.0.1:%d/list?x=1", c->port);
	assert_int_equal(fl_writer_read_back(w, FL_NS_PER_S, &present, &np, &err), 0);
	assert_int_equal(np, n);
	fl_free(present);

	/* an answer that is not JSON is an error, after retrying */
	snprintf(read_url, sizeof(read_url), "http://127.0.0.1:%d/broken", c->port);
	assert_int_equal(fl_writer_read_back(w, 300 * FL_NS_PER_MS, &present, &np, &err), -1);
	assert_null(present);
	assert_non_null(strstr(err.msg, "answer is not json"));
	fl_free(log);
	fl_writer_free(w);
}

static void test_http_refused_is_fail(void **state)
{
	struct ctx *c = *state;
	struct fl_probe_spec s;
	struct fl_error err;
	struct fl_writer *w;
	long np, *present;
	char url[256], read_url[256];

	c->port = free_port(); /* nothing listens there */
	w = http_writer(c, &s, "/write", "/seqs", 20 * FL_NS_PER_MS, 500 * FL_NS_PER_MS, url,
			read_url, sizeof(url));
	fl_error_init(&err);
	assert_int_equal(fl_writer_start(w, &err), 0);
	assert_true(wait_for(w, -1, 5, 10 * FL_NS_PER_S));
	fl_writer_stop(w);
	assert_int_equal(count_outcome(w, FL_WRITE_FAIL), count_log(w));
	assert_int_equal(fl_writer_acked(w), 0);
	assert_int_equal(fl_writer_read_back(w, 300 * FL_NS_PER_MS, &present, &np, &err), -1);
	assert_int_equal(err.code, FL_EXIT_ENV);
	assert_null(strchr(err.msg, '\n'));
	fl_writer_free(w);
}

static void test_http_hang_is_indeterminate(void **state)
{
	struct ctx *c = *state;
	struct fl_probe_spec s;
	struct fl_error err;
	struct fl_writer *w;
	struct fl_write *log;
	char url[256], read_url[256];
	long n, i;

	server_start(c);
	w = http_writer(c, &s, "/hang", "/seqs", 50 * FL_NS_PER_MS, 200 * FL_NS_PER_MS, url,
			read_url, sizeof(url));
	fl_error_init(&err);
	assert_int_equal(fl_writer_start(w, &err), 0);
	assert_true(wait_for(w, -1, 3, 10 * FL_NS_PER_S));
	fl_writer_stop(w);
	assert_int_equal(fl_writer_log(w, &log, &n), 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(log[i].outcome, FL_WRITE_INDETERMINATE);
		/* known only when the timeout fired, not before */
		assert_true(log[i].ack_ns - log[i].sent_ns >= 195 * FL_NS_PER_MS);
	}
	/* a slow write delays the next one to the next grid point: no bunching */
	for (i = 1; i < n; i++) {
		assert_true(log[i].sent_ns >= log[i - 1].ack_ns);
		assert_true(log[i].sent_ns - log[i - 1].sent_ns >= 195 * FL_NS_PER_MS);
	}
	fl_free(log);
	fl_writer_free(w);
}

/* The service dies between reading seq 3 and answering it, on the
 * keep-alive connection seq 1 and 2 were answered on: libcurl retries a
 * reused connection that died on a fresh one, and that connect is refused.
 * The request had left, so seq 3 is indeterminate, never failed (it used to
 * be failed: a demo drill then "found" a failed write present after the
 * kill). Later writes reach nobody: failed. */
static void test_http_died_after_reading_is_indeterminate(void **state)
{
	struct ctx *c = *state;
	struct fl_probe_spec s;
	struct fl_error err;
	struct fl_writer *w;
	struct fl_write *log;
	char url[256], read_url[256];
	long n, i;

	server_start(c);
	w = http_writer(c, &s, "/vanish", "/seqs", 10 * FL_NS_PER_MS, FL_NS_PER_S, url, read_url,
			sizeof(url));
	fl_error_init(&err);
	assert_int_equal(fl_writer_start(w, &err), 0);
	assert_true(wait_for(w, -1, 5, 10 * FL_NS_PER_S));
	fl_writer_stop(w);
	assert_int_equal(fl_writer_log(w, &log, &n), 0);
	assert_true(n >= 5);
	assert_int_equal(log[0].outcome, FL_WRITE_ACK);
	assert_int_equal(log[1].outcome, FL_WRITE_ACK);
	assert_int_equal(log[2].seq, 3);
	assert_int_equal(log[2].outcome, FL_WRITE_INDETERMINATE);
	for (i = 3; i < n; i++)
		assert_int_equal(log[i].outcome, FL_WRITE_FAIL);
	fl_free(log);
	fl_writer_free(w);
}

static void test_http_rejected_and_unconfirmed(void **state)
{
	struct ctx *c = *state;
	struct fl_probe_spec s;
	struct fl_error err;
	struct fl_writer *w;
	char url[256], read_url[256];

	server_start(c);
	w = http_writer(c, &s, "/reject", "/seqs", 10 * FL_NS_PER_MS, FL_NS_PER_S, url, read_url,
			sizeof(url));
	fl_error_init(&err);
	assert_int_equal(fl_writer_start(w, &err), 0);
	assert_true(wait_for(w, -1, 3, 10 * FL_NS_PER_S));
	fl_writer_stop(w);
	assert_int_equal(count_outcome(w, FL_WRITE_FAIL), count_log(w));
	fl_writer_free(w);

	/* 2xx without an id or seq is not a confirmation */
	w = http_writer(c, &s, "/noid", "/seqs", 10 * FL_NS_PER_MS, FL_NS_PER_S, url, read_url,
			sizeof(url));
	assert_int_equal(fl_writer_start(w, &err), 0);
	assert_true(wait_for(w, -1, 3, 10 * FL_NS_PER_S));
	fl_writer_stop(w);
	assert_int_equal(count_outcome(w, FL_WRITE_INDETERMINATE), count_log(w));
	fl_writer_free(w);
}

/* A listener that accepts and never answers, posing as PostgreSQL: the
 * connection attempt is cut at the probe timeout and, since no INSERT was
 * ever sent, the write is a certain failure. */
static void test_postgres_silent_server_is_bounded(void **state)
{
	struct ctx *c = *state;
	struct fl_probe_spec s;
	struct fl_error err;
	struct fl_writer *w;
	struct fl_write *log;
	char dsn[256];
	long n, i;

	server_start(c);
	snprintf(dsn, sizeof(dsn),
		 "host=127.0.0.1 port=%d user=postgres dbname=postgres "
		 "sslmode=disable",
		 c->port);
	spec_init(&s, "postgres", 50 * FL_NS_PER_MS, 200 * FL_NS_PER_MS);
	s.dsn = dsn;
	fl_error_init(&err);
	w = fl_writer_new(&s, "run-silent", &err);
	assert_non_null(w);
	assert_int_equal(fl_writer_start(w, &err), 0);
	assert_true(wait_for(w, -1, 3, 10 * FL_NS_PER_S));
	fl_writer_stop(w);
	assert_int_equal(fl_writer_log(w, &log, &n), 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(log[i].outcome, FL_WRITE_FAIL);
		assert_true(log[i].ack_ns - log[i].sent_ns >= 195 * FL_NS_PER_MS);
		assert_true(log[i].ack_ns - log[i].sent_ns <= FL_NS_PER_S);
	}
	fl_free(log);
	fl_writer_free(w);
}

/* ---- postgres --------------------------------------------------------------- */

#define PG_BIN "/usr/lib/postgresql/15/bin"

struct pg {
	char dir[256], data[300], logfile[300];
	int port;
	int as_postgres; /* root: run the server as the postgres user */
	int started;
	pid_t frozen; /* a backend stopped with SIGSTOP, resumed in teardown */
};

/* Runs a PostgreSQL binary (as postgres when we are root); exit status 0
 * expected. */
static void pg_run_tool(struct pg *pg, const char *const *args, int64_t timeout_ns)
{
	const char *argv[24];
	struct fl_error err;
	struct fl_buf out;
	int status = 0, k = 0, i;

	if (pg->as_postgres) {
		argv[k++] = "runuser";
		argv[k++] = "-u";
		argv[k++] = "postgres";
		argv[k++] = "--";
	}
	for (i = 0; args[i] && k < 23; i++)
		argv[k++] = args[i];
	argv[k] = NULL;
	fl_error_init(&err);
	fl_buf_init(&out, 65536);
	assert_int_equal(fl_run_argv(argv, timeout_ns, &out, &status, NULL, &err), 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("%s failed: %s", args[0], out.buf);
	fl_buf_release(&out);
}

static void pg_ctl(struct pg *pg, const char *action, const char *mode)
{
	const char *args[16];
	int k = 0;

	args[k++] = PG_BIN "/pg_ctl";
	args[k++] = "-D";
	args[k++] = pg->data;
	args[k++] = "-l";
	args[k++] = pg->logfile;
	args[k++] = "-w";
	args[k++] = "-t";
	args[k++] = "60";
	if (mode) {
		args[k++] = "-m";
		args[k++] = mode;
	}
	args[k++] = action;
	args[k] = NULL;
	pg_run_tool(pg, args, 90 * FL_NS_PER_S);
}

/* The cluster outlives a failed assertion (cmocka jumps out of the test),
 * so the group teardown stops it and removes its directory. */
static struct pg pg_cluster;

static int pg_teardown(void **state)
{
	(void)state;
	if (pg_cluster.frozen > 0)
		kill(pg_cluster.frozen, SIGCONT);
	if (pg_cluster.started) {
		const char *argv[] = {
			"runuser",       "-u", "postgres", "--",        PG_BIN "/pg_ctl", "-D",
			pg_cluster.data, "-w", "-m",       "immediate", "stop",           NULL
		};
		struct fl_error err;
		int status;
		fl_error_init(&err);
		fl_run_argv(pg_cluster.as_postgres ? argv : argv + 4, 60 * FL_NS_PER_S, NULL,
			    &status, NULL, &err);
		pg_cluster.started = 0;
	}
	if (pg_cluster.dir[0])
		rmtree(pg_cluster.dir);
	memset(&pg_cluster, 0, sizeof(pg_cluster));
	return 0;
}

static void pg_cluster_init(struct pg *pg)
{
	struct passwd *pw = getpwnam("postgres");
	const char *initdb[] = { PG_BIN "/initdb", "-D",        pg->data, "-A",   "trust", "-U",
				 "postgres",       "--no-sync", "-E",     "UTF8", NULL };
	FILE *f;
	char conf[400];

	pg->as_postgres = geteuid() == 0;
	snprintf(pg->dir, sizeof(pg->dir), "/tmp/fl-writer-pg-XXXXXX");
	assert_non_null(mkdtemp(pg->dir));
	snprintf(pg->data, sizeof(pg->data), "%s/data", pg->dir);
	snprintf(pg->logfile, sizeof(pg->logfile), "%s/server.log", pg->dir);
	if (pg->as_postgres) {
		assert_non_null(pw);
		assert_int_equal(chown(pg->dir, pw->pw_uid, pw->pw_gid), 0);
	}
	pg_run_tool(pg, initdb, 120 * FL_NS_PER_S);
	pg->port = free_port();
	snprintf(conf, sizeof(conf), "%s/postgresql.conf", pg->data);
	f = fopen(conf, "a");
	assert_non_null(f);
	fprintf(f,
		"\nport = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n"
		"fsync = off\nshared_buffers = 16MB\nmax_connections = 20\n",
		pg->port, pg->dir);
	assert_int_equal(fclose(f), 0);
}

/* The pid of the writer's server backend, found by its application name. */
static pid_t writer_backend_pid(struct pg *pg)
{
	char dsn[256];
	int64_t deadline = fl_now_ns() + 10 * FL_NS_PER_S;
	long pid = 0;
	PGconn *conn;

	snprintf(dsn, sizeof(dsn), "host=127.0.0.1 port=%d user=postgres dbname=postgres", pg->port);
	conn = PQconnectdb(dsn);
	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	while (pid == 0 && fl_now_ns() < deadline) {
		PGresult *r = PQexec(conn, "SELECT pid FROM pg_stat_activity "
					   "WHERE application_name = 'fl-writer'");
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
			assert_int_equal(fl_parse_long(PQgetvalue(r, 0, 0), 1, INT32_MAX, &pid), 0);
		PQclear(r);
		if (pid == 0)
			fl_sleep_until(fl_now_ns() + WAIT_SLICE_NS, NULL, 0);
	}
	PQfinish(conn);
	assert_true(pid > 0);
	return (pid_t)pid;
}

static void test_postgres_outage_and_read_back(void **state)
{
	struct pg *pg = &pg_cluster;
	struct fl_probe_spec s;
	struct fl_error err;
	struct fl_writer *w;
	struct fl_write *log;
	char dsn[256];
	long n, np, *present, i, non_ack, last_bad = 0, acked_after = 0;
	int fixed;

	(void)state;
	if (access(PG_BIN "/initdb", X_OK) != 0 || access(PG_BIN "/pg_ctl", X_OK) != 0) {
		print_message("postgresql 15 binaries absent: skipped\n");
		skip();
	}
	pg_cluster_init(pg);
	pg_ctl(pg, "start", NULL);
	pg->started = 1;

	snprintf(dsn, sizeof(dsn),
		 "host=127.0.0.1 port=%d user=postgres dbname=postgres "
		 "application_name=fl-writer",
		 pg->port);
	spec_init(&s, "postgres", 20 * FL_NS_PER_MS, 500 * FL_NS_PER_MS);
	s.dsn = dsn;
	fl_error_init(&err);
	w = fl_writer_new(&s, "run-pg", &err);
	assert_non_null(w);
	assert_int_equal(fl_writer_start(w, &err), 0);
	assert_true(wait_for(w, FL_WRITE_ACK, 10, 30 * FL_NS_PER_S));

	/* the outage: writes become failures or unknowns, never acks */
	pg_ctl(pg, "stop", "fast");
	non_ack = count_log(w) - fl_writer_acked(w);
	fixed = 0;
	{
		int64_t deadline = fl_now_ns() + 20 * FL_NS_PER_S;
		while (fl_now_ns() < deadline && !fixed) {
			fixed = count_log(w) - fl_writer_acked(w) >= non_ack + 5;
			fl_sleep_until(fl_now_ns() + WAIT_SLICE_NS, NULL, 0);
		}
	}
	assert_true(fixed);
	pg_ctl(pg, "start", NULL);

	/* back: acknowledgements resume after the failed ones */
	assert_int_equal(fl_writer_log(w, &log, &n), 0);
	for (i = 0; i < n; i++)
		if (log[i].outcome != FL_WRITE_ACK)
			last_bad = log[i].seq;
	fl_free(log);
	{
		int64_t deadline = fl_now_ns() + 30 * FL_NS_PER_S;
		while (fl_now_ns() < deadline && acked_after < 5) {
			assert_int_equal(fl_writer_log(w, &log, &n), 0);
			for (i = 0, acked_after = 0; i < n; i++)
				acked_after +=
					log[i].seq > last_bad && log[i].outcome == FL_WRITE_ACK;
			fl_free(log);
			fl_sleep_until(fl_now_ns() + WAIT_SLICE_NS, NULL, 0);
		}
	}
	assert_true(acked_after >= 5);

	/* a hung server: freeze the writer's backend; the write in flight must
	 * end as indeterminate at its timeout, and the writer reconnect */
	{
		long unknown_before = count_outcome(w, FL_WRITE_INDETERMINATE), acked_before;
		pg->frozen = writer_backend_pid(pg);
		assert_int_equal(kill(pg->frozen, SIGSTOP), 0);
		assert_true(wait_for(w, FL_WRITE_INDETERMINATE, unknown_before + 1, 20 * FL_NS_PER_S));
		acked_before = fl_writer_acked(w);
		assert_true(wait_for(w, FL_WRITE_ACK, acked_before + 3, 20 * FL_NS_PER_S));
		assert_int_equal(kill(pg->frozen, SIGCONT), 0);
		pg->frozen = 0;
		assert_int_equal(fl_writer_log(w, &log, &n), 0);
		for (i = 0; i < n; i++)
			if (log[i].outcome == FL_WRITE_INDETERMINATE)
				assert_true(log[i].ack_ns - log[i].sent_ns <=
					    s.timeout_ns + 700 * FL_NS_PER_MS);
		fl_free(log);
	}
	fl_writer_stop(w);

	/* Jepsen's set check: every ack survived, no certain failure exists */
	assert_int_equal(fl_writer_log(w, &log, &n), 0);
	assert_int_equal(fl_writer_read_back(w, 10 * FL_NS_PER_S, &present, &np, &err), 0);
	{
		long fails = 0, unknown = 0;
		for (i = 0; i < n; i++) {
			int here = contains(present, np, log[i].seq);
			if (log[i].outcome == FL_WRITE_ACK)
				assert_true(here);
			if (log[i].outcome == FL_WRITE_FAIL) {
				assert_false(here);
				fails++;
			}
			unknown += log[i].outcome == FL_WRITE_INDETERMINATE;
		}
		print_message("postgres: %ld writes, %ld acked, %ld failed, %ld indeterminate, "
			      "%ld present\n",
			      n, fl_writer_acked(w), fails, unknown, np);
		assert_true(fails + unknown >= 5);
	}
	for (i = 0; i < np; i++)
		assert_true(present[i] >= 1 && present[i] <= n);
	fl_free(present);
	fl_free(log);
	fl_writer_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_rejects_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_survives_allocation_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sqlite_acked_and_read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sqlite_restore_loses_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sqlite_corrupt_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rate_is_paced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_acked_and_read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_refused_is_fail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_hang_is_indeterminate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_died_after_reading_is_indeterminate,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_rejected_and_unconfirmed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_postgres_silent_server_is_bounded, setup,
						teardown),
		cmocka_unit_test_teardown(test_postgres_outage_and_read_back, pg_teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
