/*
 * Unit tests for injectors/latency.c (with latency_program.c) and
 * injectors/faultline-delayq.c, against real network namespaces this test
 * creates (fltest-lat-<pid>-a and -b,
 * joined by a veth pair on 10.233.N.0/30) and removes on every path.
 *
 * The ground truth is the injected delay itself: the round trip of a TCP
 * connect from A to a listener in B (median of several) is measured before,
 * during and after the fault, and must rise by the delay the test chose
 * (within [90, 150] ms for 100 ms: an accuracy check of the injector, not a
 * speed test) and come back. Reverts run from the serialized record alone in
 * a fresh process; the fail-open promise is checked by SIGKILLing the delay
 * program mid-fault. Host targets are exercised inside namespace A (from a
 * child that entered it), so nothing in the root namespace is touched.
 * Needs root, ip, nft, iptables-nft and the built faultline-delayq (found
 * through FAULTLINE_DELAYQ or FAULTLINE_BUILD_DIR); skipped otherwise. Key
 * validation runs everywhere.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "injectors/injector.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/spawn.h"

/* Bounds on the medians below: at least the configured delay (the fault is
 * in), at most the delay plus 100 ms (scheduling of an ASan-built delay
 * program on a loaded 2-core machine; measured up to ~60 ms over). */
#define RTT_SAMPLES 5
#define WAIT_DEADLINE_NS (10 * FL_NS_PER_S)

struct fx {
	char ns_a[64], ns_b[64];
	char addr_a[32], addr_b[32];
	int port;
	pid_t listener;
	struct fl_doc *doc;
	struct fl_fault_spec fault;
	struct fl_target target;
	const struct fl_injector_ops *ops;
	json_t *rec;
	int rec_in_ns_a; /* the record is a host fault made inside ns A */
};

static int exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static int can_run(void)
{
	const char *dq = getenv("FAULTLINE_DELAYQ");
	return getuid() == 0 && exists("/usr/sbin/nft") && exists("/usr/sbin/ip") &&
	       exists("/usr/sbin/iptables-nft-restore") && dq && access(dq, X_OK) == 0;
}

static int run_ok(const char *const *argv, struct fl_buf *out)
{
	struct fl_error err;
	int status = -1;
	fl_error_init(&err);
	if (fl_run_argv(argv, 10 * FL_NS_PER_S, out, &status, NULL, &err) < 0)
		return 0;
	return status == 0;
}

static int enter_ns(const char *ns)
{
	char path[256];
	int fd, rc;
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = setns(fd, CLONE_NEWNET);
	close(fd);
	return rc;
}

static void quiet_stdio(void)
{
	/* Children must not hold the test's stdout: ctest waits for it to close. */
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 1);
		dup2(null, 2);
		close(null);
	}
}

/* A child in namespace ns accepting and closing connections on addr until
 * killed or 120 s pass. Returns its pid once it listens; *port is set. */
static pid_t listener_start(const char *ns, const char *addr, int *port)
{
	int pfd[2], got = 0;
	pid_t pid;

	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		socklen_t len = sizeof(sa);
		int one = 1, s;
		close(pfd[0]);
		quiet_stdio();
		alarm(120);
		inet_pton(AF_INET, addr, &sa.sin_addr);
		if (enter_ns(ns) < 0 || (s = socket(AF_INET, SOCK_STREAM, 0)) < 0)
			_exit(1);
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 64) < 0 ||
		    getsockname(s, (struct sockaddr *)&sa, &len) < 0)
			_exit(1);
		got = ntohs(sa.sin_port);
		if (write(pfd[1], &got, sizeof(got)) != sizeof(got))
			_exit(1);
		close(pfd[1]);
		for (;;) {
			int c = accept(s, NULL, NULL);
			if (c >= 0)
				close(c);
		}
	}
	close(pfd[1]);
	if (pid < 0 || read(pfd[0], &got, sizeof(got)) != sizeof(got)) {
		close(pfd[0]);
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		return -1;
	}
	close(pfd[0]);
	*port = got;
	return pid;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Median round trip, in ms, of RTT_SAMPLES TCP connects from namespace ns
 * to addr:port (each bounded by 3 s); -1 when one fails. Measured in a child:
 * setns must not move the test itself. */
static double rtt_ms(const char *ns, const char *addr, int port)
{
	int pfd[2];
	int64_t median = -1;
	pid_t pid;

	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		int64_t samples[RTT_SAMPLES];
		struct timeval tv = { .tv_sec = 3 };
		close(pfd[0]);
		alarm(30);
		if (enter_ns(ns) < 0)
			_exit(1);
		for (int i = 0; i < RTT_SAMPLES; i++) {
			struct sockaddr_in sa = { .sin_family = AF_INET,
						  .sin_port = htons((uint16_t)port) };
			int s = socket(AF_INET, SOCK_STREAM, 0);
			int64_t t0;
			inet_pton(AF_INET, addr, &sa.sin_addr);
			setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			t0 = fl_now_ns();
			if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
				_exit(1);
			samples[i] = fl_now_ns() - t0;
			close(s);
		}
		qsort(samples, RTT_SAMPLES, sizeof(samples[0]), cmp_i64);
		if (write(pfd[1], &samples[RTT_SAMPLES / 2], sizeof(int64_t)) != sizeof(int64_t))
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	if (pid > 0 && read(pfd[0], &median, sizeof(median)) != sizeof(median))
		median = -1;
	close(pfd[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return median < 0 ? -1 : (double)median / (double)FL_NS_PER_MS;
}

static void child_stop(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
	}
	*pid = 0;
}

static void ns_delete(const char *ns)
{
	const char *argv[] = { "ip", "netns", "del", ns, NULL };
	char path[256];
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	if (exists(path))
		run_ok(argv, NULL);
}

/* Reverts rec's text in a fresh process (inside namespace ns when given, for
 * host faults made there), as `faultline recover` does after the harness
 * died. Returns the child's exit code. */
static int revert_in_fresh_process(const json_t *rec, const char *ns)
{
	char *text = json_dumps(rec, JSON_COMPACT);
	pid_t pid;
	int status;
	assert_non_null(text);
	pid = fork();
	if (pid == 0) {
		struct fl_error err;
		json_error_t jerr;
		json_t *copy;
		int rc;
		fl_error_init(&err);
		alarm(60);
		if (ns && enter_ns(ns) < 0)
			_exit(2);
		copy = json_loads(text, 0, &jerr);
		rc = fl_injector_revert("latency", copy, &err);
		if (rc < 0)
			fprintf(stderr, "fresh revert: %s\n", err.msg);
		json_decref(copy);
		_exit(rc < 0 ? 1 : 0);
	}
	fl_free(text);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Whether any of our chains is left in namespace ns (both families). */
static int chains_left(const char *ns)
{
	const char *v4[] = { "ip", "netns", "exec", ns, "iptables-nft", "-S", NULL };
	const char *v6[] = { "ip", "netns", "exec", ns, "ip6tables-nft", "-S", NULL };
	struct fl_buf out;
	int left;
	fl_buf_init(&out, 1 << 16);
	run_ok(v4, &out);
	run_ok(v6, &out);
	left = strstr(out.buf, "fllat_") != NULL;
	fl_buf_release(&out);
	return left;
}

static int filter_table_exists(const char *ns)
{
	const char *argv[] = { "ip",   "netns", "exec", ns,       "nft",
			       "list", "table", "ip",   "filter", NULL };
	return run_ok(argv, NULL);
}

/* Waits (bounded) until pid, a child of this process, has exited. */
static int reaped_within(pid_t pid, int64_t timeout_ns)
{
	int64_t deadline = fl_now_ns() + timeout_ns;
	struct timespec slice = { 0, 5 * 1000 * 1000 };
	while (fl_now_ns() < deadline) {
		pid_t r = waitpid(pid, NULL, WNOHANG);
		if (r == pid || (r < 0 && errno == ECHILD))
			return 1;
		nanosleep(&slice, NULL);
	}
	return 0;
}

/* Whether pid is a live faultline-delayq (not a zombie). */
static int delayq_alive(pid_t pid)
{
	char path[64], buf[256];
	FILE *f;
	int alive = 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f)) {
		const char *p = strrchr(buf, ')');
		alive = strstr(buf, "(faultline-delay)") && p && p[2] != 'Z';
	}
	fclose(f);
	return alive;
}

static pid_t rec_pid(const json_t *rec)
{
	return (pid_t)json_integer_value(json_object_get(rec, "pid"));
}

#define SKIP_UNLESS_ROOT()                                                                            \
	do {                                                                                          \
		if (!can_run()) {                                                                     \
			print_message(                                                                \
				"skipped: needs root, ip, nft, iptables-nft and faultline-delayq\n"); \
			skip();                                                                       \
		}                                                                                     \
	} while (0)

static int setup(void **state)
{
	struct fx *fx = fl_calloc(1, sizeof(*fx));
	int net = (int)(getpid() % 250) + 1;
	assert_non_null(fx);
	*state = fx;
	fx->ops = fl_injector_find("latency");
	assert_non_null(fx->ops);
	snprintf(fx->ns_a, sizeof(fx->ns_a), "fltest-lat-%ld-a", (long)getpid());
	snprintf(fx->ns_b, sizeof(fx->ns_b), "fltest-lat-%ld-b", (long)getpid());
	snprintf(fx->addr_a, sizeof(fx->addr_a), "10.233.%d.1", net);
	snprintf(fx->addr_b, sizeof(fx->addr_b), "10.233.%d.2", net);
	fx->target.name = "zone-a";
	fx->target.kind = FL_TARGET_NETNS;
	fx->target.netns = fx->ns_a;
	if (!can_run())
		return 0;
	{
		char cidr_a[48], cidr_b[48];
		snprintf(cidr_a, sizeof(cidr_a), "%s/30", fx->addr_a);
		snprintf(cidr_b, sizeof(cidr_b), "%s/30", fx->addr_b);
		const char *cmds[][12] = {
			{ "ip", "netns", "add", fx->ns_a, NULL },
			{ "ip", "netns", "add", fx->ns_b, NULL },
			{ "ip", "-n", fx->ns_a, "link", "add", "veth0", "type", "veth", "peer",
			  "name", "veth1", NULL },
			{ "ip", "-n", fx->ns_a, "link", "set", "veth1", "netns", fx->ns_b, NULL },
			{ "ip", "-n", fx->ns_a, "addr", "add", cidr_a, "dev", "veth0", NULL },
			{ "ip", "-n", fx->ns_b, "addr", "add", cidr_b, "dev", "veth1", NULL },
			{ "ip", "-n", fx->ns_a, "link", "set", "veth0", "up", NULL },
			{ "ip", "-n", fx->ns_b, "link", "set", "veth1", "up", NULL },
			{ "ip", "-n", fx->ns_a, "link", "set", "lo", "up", NULL },
			{ "ip", "-n", fx->ns_b, "link", "set", "lo", "up", NULL },
		};
		for (size_t i = 0; i < FL_ARRAY_LEN(cmds); i++)
			if (!run_ok(cmds[i], NULL)) {
				fprintf(stderr, "setup: %s %s %s failed\n", cmds[i][0], cmds[i][1],
					cmds[i][2]);
				ns_delete(fx->ns_a);
				ns_delete(fx->ns_b);
				return -1;
			}
	}
	fx->listener = listener_start(fx->ns_b, fx->addr_b, &fx->port);
	if (fx->listener <= 0) {
		ns_delete(fx->ns_a);
		ns_delete(fx->ns_b);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	/* Revert (stops the delay program) before the namespaces go: the
	 * program would keep its namespace alive. */
	if (fx->rec) {
		pid_t pid = rec_pid(fx->rec);
		if (fx->rec_in_ns_a) {
			revert_in_fresh_process(fx->rec, fx->ns_a);
		} else {
			struct fl_error err;
			fl_error_init(&err);
			fl_injector_revert("latency", fx->rec, &err);
		}
		if (pid > 0 && delayq_alive(pid))
			kill(pid, SIGKILL);
		if (pid > 0)
			waitpid(pid, NULL, WNOHANG);
		json_decref(fx->rec);
	}
	child_stop(&fx->listener);
	ns_delete(fx->ns_a);
	ns_delete(fx->ns_b);
	fl_doc_free(fx->doc);
	fl_free(fx);
	return 0;
}

static int fault_load(struct fx *fx, json_t *obj, struct fl_error *err)
{
	static const char *const common[] = { "name", "injector", "target", "after", "duration" };
	char *text = json_dumps(obj, 0);
	json_decref(obj);
	assert_non_null(text);
	fl_doc_free(fx->doc);
	fx->doc = fl_doc_load_string("scenario.json", text, err);
	fl_free(text);
	assert_non_null(fx->doc);
	fx->fault.name = "slow zone-a";
	fx->fault.injector = "latency";
	fx->fault.params = fl_doc_root(fx->doc);
	for (size_t i = 0; i < FL_ARRAY_LEN(common); i++)
		fl_doc_mark(fx->doc, fx->fault.params, common[i]);
	return fx->ops->validate(fx->doc, &fx->fault, &fx->target, err);
}

/* validate + prepare + inject here; the record stays in fx->rec. */
static void fault_inject(struct fx *fx, json_t *obj)
{
	struct fl_error err;
	fl_error_init(&err);
	if (fault_load(fx, obj, &err) < 0)
		fail_msg("validate: %s", err.msg);
	fx->rec = fx->ops->prepare(&fx->fault, &fx->target, &err);
	if (!fx->rec)
		fail_msg("prepare: %s", err.msg);
	if (fx->ops->inject(&fx->fault, &fx->target, fx->rec, &err) < 0)
		fail_msg("inject: %s", err.msg);
}

static void test_validate_errors(void **state)
{
	struct fx *fx = *state;
	struct fl_target file = { .name = "f", .kind = FL_TARGET_FILE, .path = "/x" };
	struct fl_target host = {
		.name = "db", .kind = FL_TARGET_HOST, .host = "db.example", .port = 5432
	};
	struct fl_error err;
	char *d;

	fl_error_init(&err);
	assert_int_equal(fault_load(fx, json_pack("{s:s}", "direction", "in"), &err), -1);
	assert_non_null(strstr(err.msg, "missing key 'delay'"));
	fl_error_init(&err);
	assert_int_equal(fault_load(fx, json_pack("{s:s}", "delay", "100"), &err), -1);
	assert_non_null(strstr(err.msg, "duration"));
	fl_error_init(&err);
	assert_int_equal(fault_load(fx, json_pack("{s:s}", "delay", "2h"), &err), -1);
	assert_string_equal(err.msg, "scenario.json:1:11: 'delay': expected 1ms to 1h");
	fl_error_init(&err);
	assert_int_equal(fault_load(fx, json_pack("{s:s, s:s}", "delay", "10ms", "jitter", "20ms"),
				    &err),
			 -1);
	assert_non_null(strstr(err.msg, "'jitter' must not exceed 'delay'"));
	fl_error_init(&err);
	assert_int_equal(fault_load(fx, json_pack("{s:s, s:i}", "delay", "10ms", "seed", 3), &err),
			 -1);
	assert_non_null(strstr(err.msg, "'seed' only applies with 'jitter'"));
	fl_error_init(&err);
	assert_int_equal(fault_load(fx, json_pack("{s:s, s:s}", "delay", "10ms", "direction", "up"),
				    &err),
			 -1);
	assert_non_null(
		strstr(err.msg, "'direction': expected \"both\", \"in\" or \"out\", not \"up\""));
	fl_error_init(&err);
	assert_int_equal(fault_load(fx,
				    json_pack("{s:s, s:s}", "delay", "10ms", "peer", "10.0.0.0/33"),
				    &err),
			 -1);
	assert_non_null(strstr(err.msg, "'peer': expected an IP address or CIDR"));
	fl_error_init(&err);
	assert_int_equal(fault_load(fx, json_pack("{s:s, s:i}", "delay", "10ms", "queue", 70000),
				    &err),
			 -1);
	assert_non_null(strstr(err.msg, "queue"));
	fl_error_init(&err);
	assert_int_equal(fault_load(fx, json_pack("{s:s, s:s}", "delay", "10ms", "loss", "5"), &err),
			 -1);
	assert_non_null(strstr(err.msg, "unknown key 'loss'"));
	fx->target = file;
	fl_error_init(&err);
	assert_int_equal(fault_load(fx, json_pack("{s:s}", "delay", "10ms"), &err), -1);
	assert_non_null(strstr(err.msg, "is a file target (expected netns or host)"));
	fx->target = host;
	fl_error_init(&err);
	assert_int_equal(fault_load(fx, json_pack("{s:s}", "delay", "10ms"), &err), -1);
	assert_non_null(strstr(err.msg, "needs an IP address, not 'db.example'"));
	host.host = "10.1.2.3";
	fx->target = host;
	fl_error_init(&err);
	assert_int_equal(fault_load(fx,
				    json_pack("{s:s, s:s, s:i, s:s, s:s}", "delay", "100ms",
					      "jitter", "10ms", "seed", 7, "direction", "in",
					      "peer", "10.0.0.0/8"),
				    &err),
			 0);
	d = fx->ops->describe(&fx->fault, &fx->target);
	assert_string_equal(d,
			    "latency +100ms ± 10ms on host 10.1.2.3 port 5432 to/from 10.0.0.0/8 (in only) (target db)");
	fl_free(d);
}

/* The brief's core: +100 ms one way shows as +100 ms of round trip; the
 * revert from the record alone, in a fresh process, leaves no rule, no
 * table and no program. */
static void test_delay_in_and_fresh_revert(void **state)
{
	struct fx *fx = *state;
	double before, during, after;
	pid_t pid;

	SKIP_UNLESS_ROOT();
	before = rtt_ms(fx->ns_a, fx->addr_b, fx->port);
	assert_true(before >= 0 && before < 20);
	assert_false(filter_table_exists(fx->ns_a));
	fault_inject(fx, json_pack("{s:s, s:s}", "delay", "100ms", "direction", "in"));
	pid = rec_pid(fx->rec);
	assert_true(pid > 0);
	assert_true(delayq_alive(pid));
	assert_int_equal(json_integer_value(json_object_get(fx->rec, "queue")), 24000);
	assert_true(chains_left(fx->ns_a));
	during = rtt_ms(fx->ns_a, fx->addr_b, fx->port);
	print_message("rtt before %.3f ms, with +100ms in: %.3f ms\n", before, during);
	assert_true(during - before >= 90 && during - before <= 150);

	assert_int_equal(revert_in_fresh_process(fx->rec, NULL), 0);
	/* The program was our child: it must have exited, not merely been
	 * forgotten. */
	assert_true(reaped_within(pid, WAIT_DEADLINE_NS));
	assert_false(chains_left(fx->ns_a));
	assert_false(filter_table_exists(fx->ns_a));
	after = rtt_ms(fx->ns_a, fx->addr_b, fx->port);
	print_message("rtt after revert: %.3f ms\n", after);
	assert_true(after >= 0 && after < before + 20);
	/* Idempotent: once more finds nothing and succeeds. */
	assert_int_equal(revert_in_fresh_process(fx->rec, NULL), 0);
	json_decref(fx->rec);
	fx->rec = NULL;
}

/* Fail-open: with the program SIGKILLed mid-fault, traffic flows undelayed
 * and revert still succeeds and cleans up. */
static void test_sigkill_fails_open(void **state)
{
	struct fx *fx = *state;
	struct fl_error err;
	double during, killed;
	pid_t pid;

	SKIP_UNLESS_ROOT();
	fault_inject(fx, json_pack("{s:s, s:s}", "delay", "100ms", "direction", "out"));
	during = rtt_ms(fx->ns_a, fx->addr_b, fx->port);
	assert_true(during >= 90 && during <= 200);
	pid = rec_pid(fx->rec);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_true(reaped_within(pid, WAIT_DEADLINE_NS));
	killed = rtt_ms(fx->ns_a, fx->addr_b, fx->port);
	print_message("rtt with +100ms out: %.3f ms; program killed: %.3f ms\n", during, killed);
	assert_true(killed >= 0 && killed < 20);
	assert_true(chains_left(fx->ns_a));
	fl_error_init(&err);
	assert_int_equal(fx->ops->revert(fx->rec, &err), 0);
	assert_non_null(strstr(json_string_value(json_object_get(fx->rec, "outcome")),
			       "rules removed; faultline-delayq already gone"));
	assert_false(chains_left(fx->ns_a));
}

/* Both directions double the round trip; a graceful stop reports what the
 * program delayed; a record journaled before the pid was known still finds
 * and stops the program (by its tag). */
static void test_both_ways_stats_and_lost_pid(void **state)
{
	struct fx *fx = *state;
	struct fl_error err;
	json_t *no_pid;
	const char *outcome;
	double during;
	pid_t pid;
	long long delayed = 0;
	char stats_dir[512];

	SKIP_UNLESS_ROOT();
	fault_inject(fx, json_pack("{s:s, s:s, s:i}", "delay", "30ms", "peer", fx->addr_b, "queue",
				   31000));
	assert_int_equal(json_integer_value(json_object_get(fx->rec, "queue")), 31000);
	/* The stats file lives in a private directory (0700, made by mkdtemp),
	 * not at a guessable name in the shared temporary directory. */
	{
		const char *dir = json_string_value(json_object_get(fx->rec, "stats_dir"));
		const char *file = json_string_value(json_object_get(fx->rec, "stats"));
		struct stat sb;
		assert_non_null(dir);
		assert_non_null(file);
		assert_int_equal(strncmp(file, dir, strlen(dir)), 0);
		assert_string_equal(file + strlen(dir), "/stats");
		assert_int_equal(lstat(dir, &sb), 0);
		assert_true(S_ISDIR(sb.st_mode));
		assert_int_equal(sb.st_mode & 0777, 0700);
		assert_int_equal(lstat(file, &sb), 0);
		assert_true(S_ISREG(sb.st_mode));
		assert_int_equal(sb.st_mode & 0777, 0600);
		snprintf(stats_dir, sizeof(stats_dir), "%s", dir);
	}
	during = rtt_ms(fx->ns_a, fx->addr_b, fx->port);
	print_message("rtt with +30ms both ways: %.3f ms\n", during);
	assert_true(during >= 55 && during <= 160);
	pid = rec_pid(fx->rec);
	no_pid = json_deep_copy(fx->rec);
	assert_non_null(no_pid);
	json_object_del(no_pid, "pid");
	json_object_del(no_pid, "starttime");
	fl_error_init(&err);
	assert_int_equal(fx->ops->revert(no_pid, &err), 0);
	assert_true(reaped_within(pid, WAIT_DEADLINE_NS));
	outcome = json_string_value(json_object_get(no_pid, "outcome"));
	assert_non_null(outcome);
	print_message("outcome: %s\n", outcome);
	assert_non_null(strstr(outcome, "rules removed; faultline-delayq stopped: delayed "));
	assert_int_equal(sscanf(strstr(outcome, "delayed ") + 8, "%lld", &delayed), 1);
	/* Five connects: at least a SYN and a SYN-ACK each. */
	assert_true(delayed >= 2 * RTT_SAMPLES);
	assert_int_equal(access(stats_dir, F_OK), -1); /* read and removed by revert */
	json_decref(no_pid);
	assert_false(chains_left(fx->ns_a));
}

/* A host target, made from inside namespace A (the injector works in the
 * namespace it runs in): to and from B's listening port, each way 50 ms. */
static void test_host_target_port(void **state)
{
	struct fx *fx = *state;
	int pfd[2];
	pid_t child;
	int status;
	struct fl_buf text;
	json_error_t jerr;
	double during;

	SKIP_UNLESS_ROOT();
	/* Close-on-exec: the delay program the child starts must not hold
	 * the pipe open. */
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	child = fork();
	if (child == 0) {
		struct fl_error err;
		char *dump;
		size_t len;
		close(pfd[0]);
		alarm(60);
		fl_error_init(&err);
		if (enter_ns(fx->ns_a) < 0)
			_exit(2);
		fx->target.name = "b-service";
		fx->target.kind = FL_TARGET_HOST;
		fx->target.host = fx->addr_b;
		fx->target.port = fx->port;
		fx->target.netns = NULL;
		if (fault_load(fx, json_pack("{s:s}", "delay", "50ms"), &err) < 0 ||
		    !(fx->rec = fx->ops->prepare(&fx->fault, &fx->target, &err)) ||
		    fx->ops->inject(&fx->fault, &fx->target, fx->rec, &err) < 0) {
			fprintf(stderr, "host inject: %s\n", err.msg);
			_exit(1);
		}
		dump = json_dumps(fx->rec, JSON_COMPACT);
		len = dump ? strlen(dump) : 0;
		if (!dump || write(pfd[1], dump, len) != (ssize_t)len)
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	fl_buf_init(&text, 1 << 16);
	for (int i = 0; i < 1000; i++) {
		char chunk[4096];
		ssize_t k = read(pfd[0], chunk, sizeof(chunk));
		if (k <= 0)
			break;
		fl_buf_add(&text, chunk, (size_t)k);
	}
	close(pfd[0]);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	fx->rec = json_loads(text.buf, 0, &jerr);
	fl_buf_release(&text);
	assert_non_null(fx->rec);
	fx->rec_in_ns_a = 1;
	assert_false(json_is_string(json_object_get(fx->rec, "netns")));
	assert_int_equal(json_integer_value(json_object_get(fx->rec, "port")), fx->port);
	during = rtt_ms(fx->ns_a, fx->addr_b, fx->port);
	print_message("rtt to host port with +50ms each way: %.3f ms\n", during);
	assert_true(during >= 90 && during <= 200);
	assert_int_equal(revert_in_fresh_process(fx->rec, fx->ns_a), 0);
	assert_false(chains_left(fx->ns_a));
	assert_false(filter_table_exists(fx->ns_a));
	during = rtt_ms(fx->ns_a, fx->addr_b, fx->port);
	assert_true(during >= 0 && during < 50);
	json_decref(fx->rec);
	fx->rec = NULL;
}

/* The namespace deleted under the fault: nothing of the rules is left, the
 * program is still stopped (it would pin the namespace). */
static void test_revert_after_netns_gone(void **state)
{
	struct fx *fx = *state;
	struct fl_error err;
	pid_t pid;

	SKIP_UNLESS_ROOT();
	fault_inject(fx, json_pack("{s:s}", "delay", "10ms"));
	pid = rec_pid(fx->rec);
	child_stop(&fx->listener);
	ns_delete(fx->ns_a);
	fl_error_init(&err);
	assert_int_equal(fx->ops->revert(fx->rec, &err), 0);
	assert_true(reaped_within(pid, WAIT_DEADLINE_NS));
	assert_non_null(strstr(json_string_value(json_object_get(fx->rec, "outcome")), "is gone"));
	json_decref(fx->rec);
	/* And prepare refuses a namespace that does not exist. */
	fx->rec = fx->ops->prepare(&fx->fault, &fx->target, &err);
	assert_null(fx->rec);
	assert_non_null(strstr(err.msg, "does not exist"));
}

int main(void)
{
	const char *build = getenv("FAULTLINE_BUILD_DIR");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_validate_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delay_in_and_fresh_revert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigkill_fails_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_both_ways_stats_and_lost_pid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_target_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revert_after_netns_gone, setup, teardown),
	};
	char path[4096];

	if (!getenv("FAULTLINE_DELAYQ") && build) {
		snprintf(path, sizeof(path), "%s/faultline-delayq", build);
		setenv("FAULTLINE_DELAYQ", path, 1);
	}
	fl_alloc_install_jansson();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
