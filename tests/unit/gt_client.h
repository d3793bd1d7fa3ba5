/*
 * gt_client: the test-side client of the ground-truth fixture
 * (tests/fixtures/groundtruth): start it, read its ports, order outages of
 * known length and read back their true start and end (CLOCK_MONOTONIC).
 * Shared by test_accuracy.c and test_probe.c; header-only, static functions.
 */
#ifndef FAULTLINE_TEST_GT_CLIENT_H
#define FAULTLINE_TEST_GT_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/spawn.h"

struct gt {
	pid_t pid;
	int ctl;
	int http_port;
	char portfile[256];
	char in[512];
	size_t len;
};

static int gt_start(struct gt *g)
{
	const char *dir = getenv("FAULTLINE_FIXTURE_DIR");
	char exe[512];
	const char *argv[4];
	struct fl_error err;
	struct fl_buf b;
	struct sockaddr_in a;
	long hp = 0, cp = 0;
	int64_t deadline;

	memset(g, 0, sizeof(*g));
	g->ctl = -1;
	if (!dir)
		return -1;
	snprintf(exe, sizeof(exe), "%s/groundtruth", dir);
	snprintf(g->portfile, sizeof(g->portfile), "/tmp/fl-groundtruth-%ld.port", (long)getpid());
	unlink(g->portfile);
	argv[0] = exe;
	argv[1] = g->portfile;
	argv[2] = "120";
	argv[3] = NULL;
	fl_error_init(&err);
	g->pid = fl_spawn_argv(argv, 2, NULL, &err);
	if (g->pid < 0)
		return -1;
	deadline = fl_now_ns() + 10 * FL_NS_PER_S;
	fl_buf_init(&b, 256);
	for (;;) {
		fl_error_init(&err);
		fl_buf_reset(&b);
		if (fl_read_file(g->portfile, 256, &b, &err) == 0 &&
		    sscanf(b.buf, "%ld %ld", &hp, &cp) == 2)
			break;
		if (fl_now_ns() > deadline) {
			fl_buf_release(&b);
			return -1;
		}
		fl_sleep_until(fl_now_ns() + 5 * FL_NS_PER_MS, NULL, 5 * FL_NS_PER_MS);
	}
	fl_buf_release(&b);
	unlink(g->portfile);
	g->http_port = (int)hp;
	g->ctl = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)cp);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (g->ctl < 0 || connect(g->ctl, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	return 0;
}

/* Reads one control line before the deadline; 0 or -1. */
static int gt_line(struct gt *g, char *out, size_t n, int64_t deadline)
{
	for (int guard = 0; guard < 10000; guard++) {
		char *nl = memchr(g->in, '\n', g->len);
		struct pollfd p = { g->ctl, POLLIN, 0 };
		int64_t left = deadline - fl_now_ns();
		ssize_t k;
		if (nl) {
			size_t used = (size_t)(nl - g->in) + 1;
			*nl = '\0';
			{
				size_t len = strlen(g->in);
				if (len >= n)
					len = n - 1;
				memcpy(out, g->in, len);
				out[len] = '\0';
			}
			memmove(g->in, g->in + used, g->len - used);
			g->len -= used;
			return 0;
		}
		if (left <= 0 || g->len == sizeof(g->in))
			return -1;
		if (poll(&p, 1, (int)(left / FL_NS_PER_MS) + 1) <= 0)
			continue;
		k = read(g->ctl, g->in + g->len, sizeof(g->in) - g->len);
		if (k <= 0)
			return -1;
		g->len += (size_t)k;
	}
	return -1;

#endif
