/*
 * bench_targets: N HTTP targets on loopback in one process, for the probe
 * cost benchmark.
 *
 * One thread, one epoll set: N listeners on ephemeral 127.0.0.1 ports, each
 * answering every request with "200 ok" on a kept-alive connection (a
 * client that closes is fine too). Cheap on purpose, so that the CPU the
 * benchmark charges to a prober is the prober's. Requests are GETs without
 * bodies: the end of the headers delimits them.
 *
 * Usage: bench_targets N PORTFILE [LIFETIME_S]. PORTFILE receives the N
 * ports, one a line (written then renamed). Exits after LIFETIME_S seconds
 * (default 600) or on SIGTERM.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"

#define MAX_TARGETS 4096
#define REQ_MAX 4096

/* Per-connection state; listeners are marked with listener = 1. */
struct conn {
	int fd;
	int listener;
	size_t len;
	char req[REQ_MAX];
};

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static const char reply[] =
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";

static void conn_close(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	fl_free(c);
}

/* Answers every complete request buffered on c; -1 when c must close. */
static int conn_serve(struct conn *c)
{
	for (int guard = 0; guard < 256; guard++) {
		char *end = memmem(c->req, c->len, "\r\n\r\n", 4);
		size_t used;
		if (!end)
			return c->len == sizeof(c->req) ? -1 : 0;
		if (send(c->fd, reply, sizeof(reply) - 1, MSG_NOSIGNAL) !=
		    (ssize_t)(sizeof(reply) - 1))
			return -1;
		used = (size_t)(end - c->req) + 4;
		memmove(c->req, c->req + used, c->len - used);
		c->len -= used;
	}
	return 0;
}

static int listener_open(int ep, struct conn **out, long *port)
{
	struct sockaddr_in a;
	socklen_t n = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct conn *c;
	struct epoll_event ev;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 512) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &n) < 0 || !(c = fl_calloc(1, sizeof(*c)))) {
		close(fd);
		return -1;
	}
	c->fd = fd;
	c->listener = 1;
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		fl_free(c);
		return -1;
	}
	*port = ntohs(a.sin_port);
	*out = c;
	return 0;
}

static void accept_all(int ep, struct conn *l)
{
	for (int guard = 0; guard < 1024; guard++) {
		int one = 1, fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;
		struct epoll_event ev;
		if (fd < 0)
			return;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = fl_calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->fd = fd;
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			fl_free(c);
		}
	}
}

int main(int argc, char **argv)
{
	long n = 0, lifetime = 600;
	char tmp[4096];
	FILE *f;
	int ep;
	int64_t die_at;
	struct rlimit rl;

	if (argc < 3 || fl_parse_long(argv[1], 1, MAX_TARGETS, &n) < 0 ||
	    (argc > 3 && fl_parse_long(argv[3], 1, 86400, &lifetime) < 0)) {
		fprintf(stderr, "usage: bench_targets N PORTFILE [LIFETIME_S]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	/* N listeners plus a connection or two per prober per target. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[2]);
	f = fopen(tmp, "w");
	if (ep < 0 || !f) {
		perror("bench_targets");
		return 1;
	}
	for (long i = 0; i < n; i++) {
		struct conn *l;
		long port;
		if (listener_open(ep, &l, &port) < 0) {
			perror("bench_targets: listen");
			return 1;
		}
		fprintf(f, "%ld\n", port);
	}
	if (fclose(f) != 0 || rename(tmp, argv[2]) < 0) {
		perror("bench_targets: port file");
		return 1;
	}
	die_at = fl_now_ns() + lifetime * FL_NS_PER_S;
	while (!stop && fl_now_ns() < die_at) {
		struct epoll_event evs[256];
		int k = epoll_wait(ep, evs, (int)FL_ARRAY_LEN(evs), 500);
		if (k < 0 && errno != EINTR)
			return 1;
		for (int i = 0; i < k; i++) {
			struct conn *c = evs[i].data.ptr;
			ssize_t r;
			if (c->listener) {
				accept_all(ep, c);
				continue;
			}
			r = read(c->fd, c->req + c->len, sizeof(c->req) - c->len);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				conn_close(ep, c);
				continue;
			}
			if (r > 0) {
				c->len += (size_t)r;
				if (conn_serve(c) < 0)
					conn_close(ep, c);
			}
		}
	}
	return 0;
}
