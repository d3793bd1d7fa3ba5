/*
 * faultline-delayq: holds each packet an nftables `queue` rule hands it
 * until its due time, then lets it go — latency without sch_netem.
 *
 * Owns: one NFQUEUE queue (bound in the caller's network namespace, or in
 * /run/netns/NAME with --netns), a timer heap of held packets ordered by due
 * time, and the verdicts. A packet that arrives at time t is accepted at
 * t + delay + u, u drawn uniformly from [-jitter, +jitter] with erand48()
 * from --seed (the same seed draws the same offsets; with jitter, packets
 * can overtake one another, as on a real jittery path and under netem).
 * Memory is bounded: past --limit held packets a new one gets NF_DROP (a
 * full buffer on a real link tail-drops too) and is counted. The kernel side
 * is fail-open: the queue has NFQA_CFG_F_FAIL_OPEN and the injector's rules
 * say `bypass`, so when this program is gone — killed, crashed — packets
 * pass undelayed instead of being dropped.
 *
 * Protocol with the injector (injectors/latency.c): once the queue is bound
 * it prints one line `ready <queue>` on stdout and then points stdout and
 * stderr at /dev/null (nobody reads them after that). A failure before that
 * is one line on stderr, exit 3. SIGTERM or SIGINT accepts every held
 * packet at once (the fault ends without losing anything), writes one
 * line of counts to --stats FILE ("delayed N released N dropped N
 * verdict_failed 0"), unbinds and exits 0. The stats file is created at
 * the start with O_EXCL|O_NOFOLLOW, mode 0600 (the injector names it inside
 * a private directory it made); a name that already exists is refused. --tag is not used here: it lets revert find this process by its
 * command line when the harness died before journaling the pid.
 *
 * Does not own: the nftables rules (the injector loads and deletes them),
 * the fault's lifetime (revert kills this program). Linked only with
 * libnetfilter_queue, so it uses the C library's allocator directly.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>

#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#define DQ_NAME "faultline-delayq"
#define DQ_EXIT_FAIL 3
#define DQ_DEFAULT_LIMIT 100000L
#define DQ_RCVBUF (8u << 20)

struct dq_packet {
	int64_t due_ns;
	uint64_t seq; /* arrival order: ties leave in the order they came */
	uint32_t id;
};

struct dq_state {
	struct nfq_q_handle *qh;
	struct dq_packet *heap;
	size_t n, cap;
	int64_t delay_ns, jitter_ns;
	unsigned short xsubi[3];
	uint64_t seq;
	uint64_t delayed; /* accepted after their delay */
	uint64_t dropped; /* past the limit */
	int verdict_failed;
};

static volatile sig_atomic_t dq_stop;

static void dq_on_signal(int sig)
{
	(void)sig;
	dq_stop = 1;
}

static int64_t dq_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int dq_heap_less(const struct dq_packet *a, const struct dq_packet *b)
{
	return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void dq_heap_push(struct dq_state *s, struct dq_packet p)
{
	size_t i = s->n++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!dq_heap_less(&p, &s->heap[parent]))
			break;
		s->heap[i] = s->heap[parent];
		i = parent;
	}
	s->heap[i] = p;
}

static struct dq_packet dq_heap_pop(struct dq_state *s)
{
	struct dq_packet top = s->heap[0], last = s->heap[--s->n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= s->n)
			break;
		if (c + 1 < s->n && dq_heap_less(&s->heap[c + 1], &s->heap[c]))
			c++;
		if (!dq_heap_less(&s->heap[c], &last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->n > 0)
		s->heap[i] = last;
	return top;
}

static void dq_verdict(struct dq_state *s, uint32_t id, uint32_t verdict)
{
	/* A failed verdict leaves the packet to the kernel's queue teardown;
	 * note it once rather than spin on it. */
	if (nfq_set_verdict(s->qh, id, verdict, 0, NULL) < 0)
		s->verdict_failed = 1;
}

static int dq_on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
			void *data)
{
	struct dq_state *s = data;
	struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
	struct dq_packet p;
	int64_t offset = 0;

	(void)qh;
	(void)msg;
	if (!ph)
		return 0;
	p.id = ntohl(ph->packet_id);
	if (s->n >= s->cap) {
		s->dropped++;
		dq_verdict(s, p.id, NF_DROP);
		return 0;
	}
	if (s->jitter_ns > 0)
		offset = (int64_t)((2.0 * erand48(s->xsubi) - 1.0) * (double)s->jitter_ns);
	p.due_ns = dq_now_ns() + s->delay_ns + offset;
	p.seq = s->seq++;
	dq_heap_push(s, p);
	return 0;
}

static int dq_parse_i64(const char *opt, const char *v, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long x;

	errno = 0;
	x = strtoll(v, &end, 10);
	if (errno || end == v || *end || x < min || x > max) {
		fprintf(stderr,
			DQ_NAME ": %s: expected an integer from %" PRId64 " to %" PRId64
				", not '%s'\n",
			opt, min, max, v);
		return -1;
	}
	*out = x;
	return 0;
}

static int dq_enter_netns(const char *ns)
{
	char path[512];
	int fd, rc;

	if (strchr(ns, '/') ||
	    snprintf(path, sizeof(path), "/run/netns/%s", ns) >= (int)sizeof(path)) {
		fprintf(stderr, DQ_NAME ": bad netns name '%s'\n", ns);
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, DQ_NAME ": netns %s: %s\n", ns, strerror(errno));
		return -1;
	}
	rc = setns(fd, CLONE_NEWNET);
	if (rc < 0)
		fprintf(stderr, DQ_NAME ": cannot enter netns %s: %s\n", ns, strerror(errno));
	close(fd);
	return rc;
}

/* Creates the --stats file before anything else happens, so a path that
 * cannot be ours fails the start (exit 3) instead of the end. O_EXCL and
 * O_NOFOLLOW: a file or symlink someone planted at the name is refused,
 * never truncated or followed (we run as root). */
static FILE *dq_stats_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	if (!f) {
		fprintf(stderr, DQ_NAME ": cannot create stats file %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	return f;
}

/* One line for revert to read once we are gone: what the fault did. */
static void dq_stats_write(FILE *f, const struct dq_state *s, size_t released)
{
	fprintf(f, "delayed %" PRIu64 " released %zu dropped %" PRIu64 " verdict_failed %d\n",
		s->delayed, released, s->dropped, s->verdict_failed);
	fclose(f);
}

static void dq_usage(void)
{
	fprintf(stderr, "usage: " DQ_NAME " --queue N [--span K] --delay NS [--jitter NS] [--seed S]"
			" [--limit N] [--netns NAME] [--stats FILE] [--tag TEXT]\n");
}

/* Command-line options; the numbers have been range-checked. */
struct dq_opts {
	int64_t queue, span, seed, limit;
	const char *netns, *stats;
};

/* Parses argv into o and s->delay_ns / s->jitter_ns; 0, or 2 (the exit
 * code) after a message. */
static int dq_parse_args(int argc, char **argv, struct dq_opts *o, struct dq_state *s)
{
	s->delay_ns = -1;
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;

		if (!v) {
			dq_usage();
			return 2;
		}
		if (strcmp(opt, "--queue") == 0)
			bad = dq_parse_i64(opt, v, 0, 65535, &o->queue);
		else if (strcmp(opt, "--span") == 0)
			bad = dq_parse_i64(opt, v, 1, 65536, &o->span);
		else if (strcmp(opt, "--delay") == 0)
			bad = dq_parse_i64(opt, v, 0, INT64_C(3600000000000), &s->delay_ns);
		else if (strcmp(opt, "--jitter") == 0)
			bad = dq_parse_i64(opt, v, 0, INT64_C(3600000000000), &s->jitter_ns);
		else if (strcmp(opt, "--seed") == 0)
			bad = dq_parse_i64(opt, v, 0, INT64_MAX, &o->seed);
		else if (strcmp(opt, "--limit") == 0)
			bad = dq_parse_i64(opt, v, 1, 10000000, &o->limit);
		else if (strcmp(opt, "--netns") == 0)
			o->netns = v;
		else if (strcmp(opt, "--stats") == 0)
			o->stats = v;
		else if (strcmp(opt, "--tag") != 0) {
			dq_usage();
			return 2;
		}
		if (bad)
			return 2;
		i++;
	}
	if (o->queue < 0 || s->delay_ns < 0) {
		dq_usage();
		return 2;
	}
	return 0;
}

/* SIGTERM and SIGINT set dq_stop and are blocked except inside ppoll()
 * (with *none as its mask): no race between checking dq_stop and going to
 * sleep. */
static void dq_signals_setup(sigset_t *none)
{
	struct sigaction sa = { 0 };
	sigset_t block;

	sa.sa_handler = dq_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, NULL);
	sigemptyset(none);
}

/* Binds the first free queue of [queue, queue + span) into s->qh (its
 * number in *bound) and configures it; the netlink fd (non-blocking), or -1
 * after a message. */
static int dq_queue_open(struct nfq_handle *h, struct dq_state *s, const struct dq_opts *o,
			 int64_t *bound)
{
	int64_t q;
	int fd;

	for (q = o->queue; q < o->queue + o->span && q <= 65535; q++) {
		s->qh = nfq_create_queue(h, (uint16_t)q, dq_on_packet, s);
		if (s->qh)
			break;
	}
	if (!s->qh) {
		fprintf(stderr, DQ_NAME ": cannot bind queue %" PRId64 "%s: %s\n", o->queue,
			o->span > 1 ? " or the ones after it" : "", strerror(errno));
		return -1;
	}
	/* Only the verdict matters, not the payload; GSO packets stay whole;
	 * the kernel's own backlog sits above our limit so our count decides;
	 * and the kernel accepts rather than drops what it cannot hand us. */
	if (nfq_set_mode(s->qh, NFQNL_COPY_META, 0) < 0 ||
	    nfq_set_queue_maxlen(s->qh, (uint32_t)o->limit + 1024) < 0 ||
	    nfq_set_queue_flags(s->qh, NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO,
				NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO) < 0) {
		fprintf(stderr, DQ_NAME ": cannot configure queue %" PRId64 ": %s\n", q,
			strerror(errno));
		return -1;
	}
	nfnl_rcvbufsiz(nfq_nfnlh(h), DQ_RCVBUF);
	fd = nfq_fd(h);
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		fprintf(stderr, DQ_NAME ": fcntl: %s\n", strerror(errno));
		return -1;
	}
	*bound = q;
	return fd;
}

/* Holds and releases packets until SIGTERM/SIGINT. */
static void dq_loop(struct dq_state *s, struct nfq_handle *h, int fd, const sigset_t *none)
{
	static char buf[65536];

	while (!dq_stop) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct timespec ts, *tsp = NULL;
		int64_t now = dq_now_ns();
		ssize_t k;

		while (s->n > 0 && s->heap[0].due_ns <= now) {
			dq_verdict(s, dq_heap_pop(s).id, NF_ACCEPT);
			s->delayed++;
		}
		if (s->n > 0) {
			int64_t wait = s->heap[0].due_ns - now;
			ts.tv_sec = (time_t)(wait / 1000000000);
			ts.tv_nsec = (long)(wait % 1000000000);
			tsp = &ts;
		}
		if (ppoll(&p, 1, tsp, none) < 0 && errno != EINTR)
			break;
		/* Drain everything queued so far before releasing anything. */
		for (int batch = 0; batch < 1024; batch++) {
			k = recv(fd, buf, sizeof(buf), 0);
			if (k > 0) {
				nfq_handle_packet(h, buf, (int)k);
				continue;
			}
			/* ENOBUFS: the kernel could not hand us some packets; with
			 * FAIL_OPEN it accepted them. Keep going. */
			if (k < 0 && errno == ENOBUFS)
				continue;
			break;
		}
	}
}

int main(int argc, char **argv)
{
	struct dq_state s = { 0 };
	struct dq_opts o = { .queue = -1, .span = 1, .seed = 1, .limit = DQ_DEFAULT_LIMIT };
	struct nfq_handle *h = NULL;
	sigset_t none;
	FILE *stats_f = NULL;
	size_t released;
	int64_t q = -1;
	int fd, null_fd, rc = DQ_EXIT_FAIL;

	if (dq_parse_args(argc, argv, &o, &s) != 0)
		return 2;
	s.xsubi[0] = (unsigned short)o.seed;
	s.xsubi[1] = (unsigned short)(o.seed >> 16);
	s.xsubi[2] = (unsigned short)(o.seed >> 32);
	s.cap = (size_t)o.limit;
	s.heap = calloc(s.cap, sizeof(*s.heap));
	if (!s.heap) {
		fprintf(stderr, DQ_NAME ": out of memory for %zu held packets\n", s.cap);
		return DQ_EXIT_FAIL;
	}
	dq_signals_setup(&none);
	if (o.stats && !(stats_f = dq_stats_open(o.stats)))
		goto out;
	if (o.netns && dq_enter_netns(o.netns) < 0)
		goto out;
	h = nfq_open();
	if (!h) {
		fprintf(stderr, DQ_NAME ": cannot open nfnetlink: %s\n", strerror(errno));
		goto out;
	}
	fd = dq_queue_open(h, &s, &o, &q);
	if (fd < 0)
		goto out;
	printf("ready %" PRId64 "\n", q);
	fflush(stdout);
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null_fd >= 0) {
		dup2(null_fd, STDOUT_FILENO);
		dup2(null_fd, STDERR_FILENO);
		close(null_fd);
	}
	dq_loop(&s, h, fd, &none);
	/* The fault is over: release every held packet now. */
	released = s.n;
	while (s.n > 0)
		dq_verdict(&s, dq_heap_pop(&s).id, NF_ACCEPT);
	if (stats_f) {
		dq_stats_write(stats_f, &s, released);
		stats_f = NULL;
	}
	rc = 0;
out:
	if (s.qh)
		nfq_destroy_queue(s.qh);
	if (h)
		nfq_close(h);
	if (stats_f) {
		/* Failed before the fault began: leave no empty stats file behind. */
		fclose(stats_f);
		unlink(o.stats);
	}
	free(s.heap);
	return rc;
}
