/*
 * Unit tests for injectors/network.c, against real network namespaces this
 * test creates (fltest-<pid>-a and -b, joined by a veth pair on
 * 10.232.N.0/30) and removes in every path. Connectivity is checked for
 * real: a TCP connect from one namespace to a listener in the other, which
 * tells apart "connected", "refused/reset" (reject) and "timed out" (drop).
 * Reverts are checked to restore exactly (table gone, link up) and to work
 * from the serialized record alone in a fresh process. Needs root, ip and
 * nft; skipped otherwise. Key validation runs everywhere.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "injectors/injector.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/spawn.h"

enum { CONN_OK = 0, CONN_REFUSED = 1, CONN_TIMEOUT = 2, CONN_ERROR = 3 };
#define DROP_TIMEOUT_MS 300
#define WAIT_DEADLINE_NS (10 * FL_NS_PER_S)

struct fx {
	char ns_a[64], ns_b[64];
	char addr_a[32], addr_b[32];
	int port;
	pid_t listener;
	pid_t root_listener;
	int root_port;
	struct fl_doc *doc;
	struct fl_fault_spec fault;
	struct fl_target target;
	const struct fl_injector_ops *ops;
	json_t *rec;
};

static int can_run(void)
{
	struct stat st;
	return getuid() == 0 && (stat("/usr/sbin/nft", &st) == 0 || stat("/sbin/nft", &st) == 0) &&
	       (stat("/usr/sbin/ip", &st) == 0 || stat("/sbin/ip", &st) == 0 ||
		stat("/bin/ip", &st) == 0);
}

static int run(const char *const *argv)
{
	struct fl_error err;
	int status = -1;
	fl_error_init(&err);
	if (fl_run_argv(argv, 10 * FL_NS_PER_S, NULL, &status, NULL, &err) < 0)
		return -1;
	return status == 0 ? 0 : -1;
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
	if (!ns)
		return 0;
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = setns(fd, CLONE_NEWNET);
	close(fd);
	return rc;
}

/* A child in namespace ns (NULL: here) accepting and closing connections on
 * addr:port (port 0: any; the bound port is returned through *port) until
 * killed or 120 s pass. Returns its pid once it listens. */
static pid_t listener_start(const char *ns, const char *addr, int *port)
{
	int pfd[2];
	pid_t pid;
	int got = 0;

	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)*port) };
		socklen_t len = sizeof(sa);
		int one = 1, s;
		close(pfd[0]);
		/* Not holding the test's stdout: ctest waits for it to close. */
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
			close(null);
		}
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

static void child_stop(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
	}
	*pid = 0;
}

/* TCP connect from namespace ns to addr:port, in a child (setns is per
 * thread and must not move the test itself). */
static int connect_from(const char *ns, const char *addr, int port, int timeout_ms)
{
	pid_t pid = fork();
	int status;
	if (pid == 0) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		struct pollfd p;
		int s, e = 0;
		socklen_t el = sizeof(e);
		alarm(30);
		inet_pton(AF_INET, addr, &sa.sin_addr);
		if (enter_ns(ns) < 0 || (s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0)
			_exit(CONN_ERROR);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			_exit(CONN_OK);
		if (errno == ECONNREFUSED)
			_exit(CONN_REFUSED);
		if (errno != EINPROGRESS)
			_exit(CONN_ERROR);
		p.fd = s;
		p.events = POLLOUT;
		if (poll(&p, 1, timeout_ms) == 0)
			_exit(CONN_TIMEOUT);
		getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el);
		_exit(e == 0                                  ? CONN_OK
		      : e == ECONNREFUSED || e == ECONNRESET  ? CONN_REFUSED
		      : e == EHOSTUNREACH || e == ENETUNREACH ? CONN_REFUSED
							      : CONN_ERROR);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void ns_delete(const char *ns)
{
	const char *argv[] = { "ip", "netns", "del", ns, NULL };
	struct stat st;
	char path[256];
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	if (stat(path, &st) == 0)
		run(argv);
}

static int setup(void **state)
{
	struct fx *fx = fl_calloc(1, sizeof(*fx));
	int net = (int)(getpid() % 250) + 1;
	assert_non_null(fx);
	*state = fx;
	fx->ops = fl_injector_find("network");
	assert_non_null(fx->ops);
	snprintf(fx->ns_a, sizeof(fx->ns_a), "fltest-%ld-a", (long)getpid());
	snprintf(fx->ns_b, sizeof(fx->ns_b), "fltest-%ld-b", (long)getpid());
	snprintf(fx->addr_a, sizeof(fx->addr_a), "10.232.%d.1", net);
	snprintf(fx->addr_b, sizeof(fx->addr_b), "10.232.%d.2", net);
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
			if (run(cmds[i]) < 0) {
				fprintf(stderr, "setup: %s %s %s failed\n", cmds[i][0], cmds[i][1],
					cmds[i][2]);
				return -1;
			}
	}
	fx->port = 0;
	fx->listener = listener_start(fx->ns_b, fx->addr_b, &fx->port);
	if (fx->listener <= 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	/* Kill what runs in the namespaces before deleting them. */
	child_stop(&fx->listener);
	child_stop(&fx->root_listener);
	if (fx->rec) {
		struct fl_error err;
		fl_error_init(&err);
		fl_injector_revert("network", fx->rec, &err);
		json_decref(fx->rec);
	}
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
	fx->fault.name = "cut zone-a";
	fx->fault.injector = "network";
	fx->fault.params = fl_doc_root(fx->doc);
	for (size_t i = 0; i < FL_ARRAY_LEN(common); i++)
		fl_doc_mark(fx->doc, fx->fault.params, common[i]);
	return fx->ops->validate(fx->doc, &fx->fault, &fx->target, err);
}

/* validate + prepare + inject; the record stays in fx->rec for teardown. */
static void fault_inject(struct fx *fx, json_t *obj)
{
	struct fl_error err;
	fl_error_init(&err);
	assert_int_equal(fault_load(fx, obj, &err), 0);
	fx->rec = fx->ops->prepare(&fx->fault, &fx->target, &err);
	if (!fx->rec)
		fail_msg("prepare: %s", err.msg);
	if (fx->ops->inject(&fx->fault, &fx->target, fx->rec, &err) < 0)
		fail_msg("inject: %s", err.msg);
}

static int table_exists(const char *ns, const char *table)
{
	const char *argv[] = { "ip",   "netns", "exec", ns,    "nft",
			       "list", "table", "inet", table, NULL };
	const char *root[] = { "nft", "list", "table", "inet", table, NULL };
	return run_ok(ns ? argv : root, NULL);
}

/* How many times word occurs in `nft list table inet TABLE` inside ns. */
static int count_in_table(const char *ns, const char *table, const char *word)
{
	const char *argv[] = { "ip",   "netns", "exec", ns,    "nft",
			       "list", "table", "inet", table, NULL };
	struct fl_buf out;
	int n = 0;
	fl_buf_init(&out, 1 << 16);
	if (run_ok(argv, &out))
		for (const char *p = strstr(out.buf, word); p; p = strstr(p + 1, word))
			n++;
	fl_buf_release(&out);
	return n;
}

static int link_up(const char *ns, const char *dev)
{
	const char *argv[] = { "ip", "-n", ns, "-o", "link", "show", "dev", dev, NULL };
	struct fl_buf out;
	int up;
	fl_buf_init(&out, 1 << 16);
	up = run_ok(argv, &out) && strstr(out.buf, ",UP") != NULL;
	fl_buf_release(&out);
	return up;
}

/* Reverts from the record's text in a fresh process, as `faultline
 * recover` does after the harness died; returns the child's exit code. */
static int revert_in_fresh_process(const json_t *rec)
{
	char *text = json_dumps(rec, JSON_COMPACT);
	pid_t pid;
	int status;
	assert_non_null(text);
	pid = fork();
	if (pid == 0) {
		struct fl_error err;
		json_error_t jerr;
		json_t *copy = json_loads(text, 0, &jerr);
		int rc;
		fl_error_init(&err);
		alarm(60);
		rc = fl_injector_revert("network", copy, &err);
		if (rc < 0)
			fprintf(stderr, "fresh revert: %s\n", err.msg);
		_exit(rc < 0 ? 1 : 0);
	}
	fl_free(text);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#define SKIP_UNLESS_ROOT()                                                                         \
	do {                                                                                       \
		if (!can_run()) {                                                                  \
			print_message("skipped: needs root, ip and nft\n");                        \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

static void test_validate_errors(void **state)
{
	struct fx *fx = *state;
	struct fl_target file = { .name = "f", .kind = FL_TARGET_FILE, .path = "/x" };
	struct fl_target host = {
		.name = "db", .kind = FL_TARGET_HOST, .host = "db.example", .port = 5432
	};
	struct fl_error err;

	fl_error_init(&err);
	assert_int_equal(fault_load(fx, json_pack("{s:s}", "mode", "cut"), &err), -1);
	assert_string_equal(err.msg,
			    "scenario.json:1:10: 'mode': expected \"link-down\", \"drop\", \"reject\" or \"loss\", not \"cut\"");
	fl_error_init(&err);
	assert_int_equal(fault_load(fx, json_pack("{s:s}", "mode", "loss"), &err), -1);
	assert_non_null(strstr(err.msg, "mode \"loss\" needs 'percent'"));
	fl_error_init(&err);
	assert_int_equal(fault_load(fx, json_pack("{s:s, s:i}", "mode", "loss", "percent", 101), &err),
			 -1);
	assert_non_null(strstr(err.msg, "percent"));
	fl_error_init(&err);
	assert_int_equal(fault_load(fx, json_pack("{s:s, s:s}", "mode", "drop", "peer", "10.0.0.300"),
				    &err),
			 -1);
	assert_non_null(strstr(err.msg, "'peer': expected an IP address or CIDR"));
	fl_error_init(&err);
	assert_int_equal(fault_load(fx, json_pack("{s:s, s:s}", "mode", "drop", "speed", "x"), &err),
			 -1);
	assert_non_null(strstr(err.msg, "unknown key 'speed'"));
	fl_error_init(&err);
	assert_int_equal(fault_load(fx,
				    json_pack("{s:s, s:s}", "mode", "link-down", "direction", "in"),
				    &err),
			 -1);
	assert_non_null(strstr(err.msg, "no 'peer' or 'direction'"));
	fx->target = file;
	fl_error_init(&err);
	assert_int_equal(fault_load(fx, json_pack("{s:s}", "mode", "drop"), &err), -1);
	assert_non_null(strstr(err.msg, "is a file target (expected netns or host)"));
	fx->target = host;
	fl_error_init(&err);
	assert_int_equal(fault_load(fx, json_pack("{s:s}", "mode", "drop"), &err), -1);
	assert_non_null(strstr(err.msg, "needs an IP address, not 'db.example'"));
	host.host = "127.0.0.1";
	fx->target = host;
	fl_error_init(&err);
	assert_int_equal(fault_load(fx, json_pack("{s:s}", "mode", "link-down"), &err), -1);
	assert_non_null(strstr(err.msg, "needs a netns target"));
	fl_error_init(&err);
	assert_int_equal(fault_load(fx,
				    json_pack("{s:s, s:s, s:s}", "mode", "reject", "direction",
					      "in", "peer", "10.0.0.0/8"),
				    &err),
			 0);
	{
		char *d = fx->ops->describe(&fx->fault, &fx->target);
		assert_string_equal(d,
				    "network reject on host 127.0.0.1 port 5432 to/from 10.0.0.0/8 (in only) (target db)");
		fl_free(d);
	}
}

static void test_drop_zone_and_revert(void **state)
{
	struct fx *fx = *state;
	struct fl_error err;
	const char *table;

	SKIP_UNLESS_ROOT();
	assert_int_equal(connect_from(fx->ns_a, fx->addr_b, fx->port, 2000), CONN_OK);
	fault_inject(fx, json_pack("{s:s}", "mode", "drop"));
	table = json_string_value(json_object_get(fx->rec, "table"));
	assert_non_null(table);
	assert_int_equal(strncmp(table, "faultline_cut_zone_a_", 21), 0);
	assert_true(table_exists(fx->ns_a, table));
	/* DROP: the SYN vanishes, the client waits for its own timeout. */
	assert_int_equal(connect_from(fx->ns_a, fx->addr_b, fx->port, DROP_TIMEOUT_MS), CONN_TIMEOUT);
	assert_int_equal(connect_from(fx->ns_b, fx->addr_a, 9, DROP_TIMEOUT_MS), CONN_TIMEOUT);
	fl_error_init(&err);
	assert_int_equal(fx->ops->revert(fx->rec, &err), 0);
	assert_false(table_exists(fx->ns_a, table));
	assert_int_equal(connect_from(fx->ns_a, fx->addr_b, fx->port, 2000), CONN_OK);
	/* Idempotent: a second revert finds nothing and says so. */
	assert_int_equal(fx->ops->revert(fx->rec, &err), 0);
	assert_non_null(
		strstr(json_string_value(json_object_get(fx->rec, "outcome")), "already gone"));
}

static void test_reject_one_way_to_peer(void **state)
{
	struct fx *fx = *state;
	struct fl_error err;
	int64_t t0, ms;

	SKIP_UNLESS_ROOT();
	fault_inject(fx, json_pack("{s:s, s:s, s:s}", "mode", "reject", "direction", "out", "peer",
				   fx->addr_b));
	/* REJECT with tcp reset: fails at once rather than hanging. */
	t0 = fl_now_ns();
	assert_int_equal(connect_from(fx->ns_a, fx->addr_b, fx->port, 5000), CONN_REFUSED);
	ms = (fl_now_ns() - t0) / FL_NS_PER_MS;
	assert_true(ms < 5000);
	/* One way only: the table holds the two reject rules of one chain. */
	assert_int_equal(count_in_table(fx->ns_a, json_string_value(json_object_get(fx->rec, "table")),
					"reject"),
			 2);
	fl_error_init(&err);
	assert_int_equal(revert_in_fresh_process(fx->rec), 0);
	assert_false(table_exists(fx->ns_a, json_string_value(json_object_get(fx->rec, "table"))));
	assert_int_equal(connect_from(fx->ns_a, fx->addr_b, fx->port, 2000), CONN_OK);
}

static void test_reject_inbound_only(void **state)
{
	struct fx *fx = *state;
	int port_a = 0, port_lo = 0;
	pid_t l, lo;

	SKIP_UNLESS_ROOT();
	l = listener_start(fx->ns_a, fx->addr_a, &port_a);
	assert_true(l > 0);
	lo = listener_start(fx->ns_a, "127.0.0.1", &port_lo);
	assert_true(lo > 0);
	fault_inject(fx, json_pack("{s:s, s:s}", "mode", "reject", "direction", "in"));
	/* New connections into A are refused at once... */
	assert_int_equal(connect_from(fx->ns_b, fx->addr_a, port_a, 5000), CONN_REFUSED);
	/* ...the zone's own loopback is never cut... */
	assert_int_equal(connect_from(fx->ns_a, "127.0.0.1", port_lo, 2000), CONN_OK);
	/* ...and only the input chain carries rules. */
	assert_int_equal(count_in_table(fx->ns_a, json_string_value(json_object_get(fx->rec, "table")),
					"reject"),
			 2);
	child_stop(&l);
	child_stop(&lo);
	assert_int_equal(revert_in_fresh_process(fx->rec), 0);
	assert_int_equal(connect_from(fx->ns_b, fx->addr_a, port_a, 2000),
			 CONN_REFUSED); /* no listener now */
	assert_int_equal(connect_from(fx->ns_a, fx->addr_b, fx->port, 2000), CONN_OK);
}

static void test_link_down_fresh_revert(void **state)
{
	struct fx *fx = *state;

	SKIP_UNLESS_ROOT();
	assert_true(link_up(fx->ns_a, "veth0"));
	fault_inject(fx, json_pack("{s:s}", "mode", "link-down"));
	assert_false(link_up(fx->ns_a, "veth0"));
	assert_int_not_equal(connect_from(fx->ns_a, fx->addr_b, fx->port, DROP_TIMEOUT_MS), CONN_OK);
	assert_int_equal(revert_in_fresh_process(fx->rec), 0);
	assert_true(link_up(fx->ns_a, "veth0"));
	assert_int_equal(connect_from(fx->ns_a, fx->addr_b, fx->port, 2000), CONN_OK);
	/* Reverting again changes nothing and succeeds. */
	assert_int_equal(revert_in_fresh_process(fx->rec), 0);
	assert_true(link_up(fx->ns_a, "veth0"));
}

static void test_loss_all(void **state)
{
	struct fx *fx = *state;
	struct fl_error err;

	SKIP_UNLESS_ROOT();
	/* 100 % is the one loss figure a test can assert exactly. */
	fault_inject(fx, json_pack("{s:s, s:i}", "mode", "loss", "percent", 100));
	assert_int_equal(connect_from(fx->ns_a, fx->addr_b, fx->port, DROP_TIMEOUT_MS), CONN_TIMEOUT);
	fl_error_init(&err);
	assert_int_equal(fx->ops->revert(fx->rec, &err), 0);
	assert_int_equal(connect_from(fx->ns_a, fx->addr_b, fx->port, 2000), CONN_OK);
}

static void test_host_target_port_only(void **state)
{
	struct fx *fx = *state;
	struct fl_error err;
	int other = 0;
	pid_t l2;
	const char *table;

	SKIP_UNLESS_ROOT();
	fx->root_port = 0;
	fx->root_listener = listener_start(NULL, "127.0.0.1", &fx->root_port);
	assert_true(fx->root_listener > 0);
	l2 = listener_start(NULL, "127.0.0.1", &other);
	assert_true(l2 > 0);
	fx->target.name = "db";
	fx->target.kind = FL_TARGET_HOST;
	fx->target.host = "127.0.0.1";
	fx->target.port = fx->root_port;
	fault_inject(fx, json_pack("{s:s}", "mode", "reject"));
	table = json_string_value(json_object_get(fx->rec, "table"));
	assert_true(table_exists(NULL, table));
	assert_int_equal(connect_from(NULL, "127.0.0.1", fx->root_port, 5000), CONN_REFUSED);
	/* The target is the service: another port on the same host is untouched. */
	assert_int_equal(connect_from(NULL, "127.0.0.1", other, 2000), CONN_OK);
	child_stop(&l2);
	fl_error_init(&err);
	assert_int_equal(fx->ops->revert(fx->rec, &err), 0);
	assert_false(table_exists(NULL, table));
	assert_int_equal(connect_from(NULL, "127.0.0.1", fx->root_port, 2000), CONN_OK);
}

static void test_revert_after_netns_gone(void **state)
{
	struct fx *fx = *state;
	struct fl_error err;

	SKIP_UNLESS_ROOT();
	fault_inject(fx, json_pack("{s:s}", "mode", "drop"));
	child_stop(&fx->listener);
	ns_delete(fx->ns_a);
	fl_error_init(&err);
	assert_int_equal(fx->ops->revert(fx->rec, &err), 0);
	assert_non_null(strstr(json_string_value(json_object_get(fx->rec, "outcome")), "is gone"));
	/* And prepare refuses a namespace that does not exist, before any fault. */
	json_decref(fx->rec);
	fx->rec = fx->ops->prepare(&fx->fault, &fx->target, &err);
	assert_null(fx->rec);
	assert_non_null(strstr(err.msg, "does not exist"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_validate_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_zone_and_revert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_one_way_to_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_inbound_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_down_fresh_revert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loss_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_target_port_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revert_after_netns_gone, setup, teardown),
	};
	fl_alloc_install_jansson();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
