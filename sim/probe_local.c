/*
 * probe_local: the process behind an http or tcp probe whose target is on
 * this machine, and how long its threads waited for a CPU
 * (docs/measurement.md, "the target's own waits").
 *
 * Owns: finding the listener of a probe's port without configuration (the
 * host resolves to a loopback address or one of this host's interfaces;
 * the LISTEN socket's inode in /proc/net/tcp and tcp6; the processes
 * holding it, /proc/PID/fd -> socket:[inode], as `ss -ltnp` does), opening
 * their threads' schedstat (at most FL_PROBE_TARGET_TASKS), and each
 * sample's share of the target's run_delay: the largest increase of one
 * thread between the sample's send and its completion (a thread's
 * schedstat read within the last 50 µs serves every probe that asks: the
 * ksoftirqd threads are every local probe's). Does not own:
 * subtracting it or judging answers (probe.c), the threshold
 * (probe_latency.c).
 *
 * A target the machine does not run is runnable and accrues run_delay; a
 * hung one (stopped, asleep on a lock, not reading its socket) does not. So
 * the target's waits are the machine's doing, not the target's, exactly
 * like the prober's own.
 */
#include "sim/probe.h"
#include "sim/probe_kind.h"
#include "core/alloc.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <signal.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Bounds of one scan: listening inodes kept, processes and descriptors
 * looked at (a scan of a busy machine must not stall the prober). */
#define LOCAL_MAX_INODES 8
#define LOCAL_MAX_PIDS 8
#define LOCAL_MAX_PROCS 4096
#define LOCAL_MAX_LINKS 65536
/* Least time between two scans of one probe. */
#define LOCAL_RESCAN_NS (250 * FL_NS_PER_MS)
/* stdio's buffer for /proc/net/tcp: fewer reads, fewer walks. */
#define LOCAL_READ_BUF (256 * 1024)

/* Host and port the probe connects to; 0, or -1 when it names none. */
static int local_endpoint(const struct fl_probe_spec *spec, char *host, size_t hn, long *port)
{
	CURLU *u;
	char *h = NULL, *pt = NULL;
	int rc = -1;

	if (spec->kind == FL_PROBE_TCP) {
		if (!spec->host || spec->port <= 0)
			return -1;
		snprintf(host, hn, "%s", spec->host);
		*port = spec->port;
		return 0;
	}
	if (spec->kind != FL_PROBE_HTTP || !spec->url || !(u = curl_url()))
		return -1;
	if (curl_url_set(u, CURLUPART_URL, spec->url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &pt, CURLU_DEFAULT_PORT) == CURLUE_OK) {
		size_t n = strlen(h);
		/* "[::1]" */
		if (n > 2 && h[0] == '[' && h[n - 1] == ']')
			snprintf(host, hn, "%.*s", (int)(n - 2), h + 1);
		else
			snprintf(host, hn, "%s", h);
		*port = strtol(pt, NULL, 10);
		rc = *port > 0 ? 0 : -1;
	}
	curl_free(h);
	curl_free(pt);
	curl_url_cleanup(u);
	return rc;
}

static int same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
	if (!a || !b || a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)(const void *)b)->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr,
			       &((const struct sockaddr_in6 *)(const void *)b)->sin6_addr,
			       sizeof(struct in6_addr));
	return 0;
}

/* 1 when the address is loopback or one of this host's interfaces. */
static int addr_local(const struct sockaddr *sa)
{
	struct ifaddrs *ifs = NULL;
	int local = 0;

	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr);
		if ((a >> 24) == 127)
			return 1;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
			&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127))
			return 1;
	} else {
		return 0;
	}
	if (getifaddrs(&ifs) < 0)
		return 0;
	for (struct ifaddrs *i = ifs; i && !local; i = i->ifa_next)
		local = same_addr(i->ifa_addr, sa);
	freeifaddrs(ifs);
	return local;
}

static int host_local(const char *host)
{
	struct addrinfo hints, *res = NULL;
	int local = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return 0;
	/* curl may connect to any of them: every one must be here. */
	local = res != NULL;
	for (struct addrinfo *a = res; a; a = a->ai_next)
		if (!addr_local(a->ai_addr))
			local = 0;
	freeaddrinfo(res);
	return local;
}

/* One look at the machine for every probe due one: the LISTEN sockets on
 * the wanted ports and the processes holding them, from one read of
 * /proc/net/tcp and tcp6 and one walk of /proc. Both cost in proportion to
 * every socket and descriptor on the machine, so a look per probe made a
 * thousand local targets take longer to start than a bench run lasts (0
 * probes sent in 10 s, a core busy reading /proc/net/tcp). */
struct local_sock {
	unsigned long inode;
	long port;
	pid_t pids[LOCAL_MAX_PIDS];
	int npids;
};

struct local_scan {
	long *ports; /* wanted, sorted */
	size_t nports;
	struct local_sock *socks; /* sorted by inode once read */
	size_t nsocks, cap;
	pid_t softirqd[FL_PROBE_TARGET_TASKS];
	int nsoftirqd, softirqd_read;
};

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

static int cmp_sock(const void *a, const void *b)
{
	unsigned long x = ((const struct local_sock *)a)->inode,
		      y = ((const struct local_sock *)b)->inode;
	return (x > y) - (x < y);
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return (x > y) - (x < y);
}

/* The LISTEN sockets on a wanted port in one /proc/net/tcp file, appended
 * (read in large pieces: the kernel walks its table again for every
 * read). */
static void listen_socks(struct local_scan *sc, const char *path)
{
	FILE *f = fopen(path, "re");
	char line[512], *buf = fl_malloc(LOCAL_READ_BUF);

	if (!f || !buf) {
		if (f)
			fclose(f);
		fl_free(buf);
		return;
	}
	setvbuf(f, buf, _IOFBF, LOCAL_READ_BUF);
	while (sc->nsocks < sc->cap && fgets(line, sizeof(line), f)) {
		char local[64];
		unsigned st;
		unsigned long inode;
		long port;
		char *colon;
		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, " %*s %63s %*s %x %*s %*s %*s %*s %*s %lu", local, &st, &inode) != 3)
			continue;
		colon = strrchr(local, ':');
		if (st != 0x0A || !colon || inode == 0)
			continue;
		port = strtol(colon + 1, NULL, 16);
		if (!bsearch(&port, sc->ports, sc->nports, sizeof(long), cmp_long))
			continue;
		memset(&sc->socks[sc->nsocks], 0, sizeof(sc->socks[0]));
		sc->socks[sc->nsocks].inode = inode;
		sc->socks[sc->nsocks].port = port;
		sc->nsocks++;
	}
	fclose(f);
	fl_free(buf);
}

/* Notes process `pid` (a /proc entry) against every socket it holds;
 * *links counts the descriptors looked at. */
static void holds_socks(struct local_scan *sc, const char *pid, long *links)
{
	char path[sizeof("/proc//fd") + 256], target[64];
	pid_t p = (pid_t)strtol(pid, NULL, 10);
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	d = opendir(path);
	while (d && (de = readdir(d)) && (*links)++ < LOCAL_MAX_LINKS) {
		char fd[sizeof(path) + sizeof(de->d_name) + 2];
		struct local_sock key, *s;
		ssize_t k;
		if (de->d_name[0] == '.')
			continue;
		snprintf(fd, sizeof(fd), "%s/%s", path, de->d_name);
		k = readlink(fd, target, sizeof(target) - 1);
		if (k <= 0)
			continue;
		target[k] = '\0';
		if (sscanf(target, "socket:[%lu]", &key.inode) != 1)
			continue;
		s = bsearch(&key, sc->socks, sc->nsocks, sizeof(*s), cmp_sock);
		if (s && s->npids < LOCAL_MAX_PIDS && (s->npids == 0 || s->pids[s->npids - 1] != p))
			s->pids[s->npids++] = p;
	}
	if (d)
		closedir(d);
}

/* Reads the sockets of the wanted ports and who holds them. */
static void scan_machine(struct local_scan *sc)
{
	long links = 0;
	int procs = 0;
	DIR *d;
	struct dirent *de;

	listen_socks(sc, "/proc/net/tcp");
	listen_socks(sc, "/proc/net/tcp6");
	if (sc->nsocks == 0 || !(d = opendir("/proc")))
		return;
	qsort(sc->socks, sc->nsocks, sizeof(sc->socks[0]), cmp_sock);
	while (procs < LOCAL_MAX_PROCS && links < LOCAL_MAX_LINKS && (de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		procs++;
		if (strtol(de->d_name, NULL, 10) == (long)getpid())
			continue; /* the prober's own connections */
		holds_socks(sc, de->d_name, &links);
	}
	closedir(d);
}

/* The processes listening on port (at most max, lowest pid first), or 0. */
static int listener_pids(const struct local_scan *sc, long port, pid_t *pids, int max)
{
	int n = 0;
	for (size_t i = 0; i < sc->nsocks; i++) {
		const struct local_sock *s = &sc->socks[i];
		if (s->port != port)
			continue;
		for (int j = 0; j < s->npids && n < max; j++) {
			int seen = 0;
			for (int k = 0; k < n && !seen; k++)
				seen = pids[k] == s->pids[j];
			if (!seen)
				pids[n++] = s->pids[j];
		}
	}
	qsort(pids, (size_t)n, sizeof(*pids), cmp_pid);
	return n;
}

static void local_close(struct probe_local *l)
{
	for (int i = 0; i < l->nfd; i++)
		close(l->fds[i]);
	l->nfd = l->ntarget = 0;
	l->pid = 0;
}

/* The kernel's softirq threads (ksoftirqd/N), read once per look: on a
 * loaded machine loopback packets wait for them, and a packet they did not
 * deliver is the machine's doing too. Only those visible (a pid namespace
 * may hide them); up to the cap. */
static void find_softirqd(struct local_scan *sc)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int procs = 0;

	sc->softirqd_read = 1;
	while (d && sc->nsoftirqd < FL_PROBE_TARGET_TASKS && procs++ < LOCAL_MAX_PROCS &&
	       (de = readdir(d))) {
		char path[64], comm[32];
		FILE *f;
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%.20s/comm", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && strncmp(comm, "ksoftirqd/", 10) == 0)
			sc->softirqd[sc->nsoftirqd++] = (pid_t)strtol(de->d_name, NULL, 10);
		fclose(f);
	}
	if (d)
		closedir(d);
}

/* Opens the softirq threads' schedstat after the target's, up to the cap. */
static void open_softirqd(struct probe_local *l, struct local_scan *sc)
{
	if (!sc->softirqd_read)
		find_softirqd(sc);
	for (int i = 0; i < sc->nsoftirqd && l->nfd < FL_PROBE_TARGET_TASKS; i++) {
		char path[64];
		int fd;
		snprintf(path, sizeof(path), "/proc/%ld/schedstat", (long)sc->softirqd[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			l->tids[l->nfd] = sc->softirqd[i];
			l->fds[l->nfd++] = fd;
		}
	}
}

/* Opens the schedstat of every thread of pid, up to the cap. */
static void open_tasks(struct probe_local *l, pid_t pid)
{
	char path[64];
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
	d = opendir(path);
	while (d && l->nfd < FL_PROBE_TARGET_TASKS && (de = readdir(d))) {
		char f[sizeof(path) + sizeof(de->d_name) + 12];
		int fd;
		if (de->d_name[0] == '.')
			continue;
		snprintf(f, sizeof(f), "%s/%s/schedstat", path, de->d_name);
		fd = open(f, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			l->tids[l->nfd] = (pid_t)strtol(de->d_name, NULL, 10);
			l->fds[l->nfd++] = fd;
		}
	}
	if (d)
		closedir(d);
}

int fl_probe_local_attach(struct probe *p)
{
	struct probe_local *l;
	char host[256];
	long port = 0;
	size_t n = p->cap < FL_PROBE_MAX_IN_FLIGHT ? p->cap : FL_PROBE_MAX_IN_FLIGHT;

	p->local = NULL;
	if (local_endpoint(p->spec, host, sizeof(host), &port) < 0 || !host_local(host))
		return 0; /* remote: today's rule */
	l = fl_calloc(1, sizeof(*l));
	if (!l)
		return -1;
	l->port = port;
	l->nsnap = n;
	l->snap = fl_calloc(n, sizeof(*l->snap));
	l->snap_idx = fl_malloc(n * sizeof(*l->snap_idx));
	if (!l->snap || !l->snap_idx) {
		fl_free(l->snap);
		fl_free(l->snap_idx);
		fl_free(l);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		l->snap_idx[i] = SIZE_MAX;
	l->want = 1;
	p->local = l;
	return 0;
}

void fl_probe_local_detach(struct probe *p)
{
	if (!p->local)
		return;
	local_close(p->local);
	fl_free(p->local->snap);
	fl_free(p->local->snap_idx);
	fl_free(p->local);
	p->local = NULL;
}

/* One probe's listener from the look: the same process keeps its open
 * threads, another is opened. */
static void resolve_one(struct probe_local *l, struct local_scan *sc)
{
	pid_t pids[LOCAL_MAX_PIDS];
	int n = listener_pids(sc, l->port, pids, LOCAL_MAX_PIDS);

	if (n > 0 && pids[0] == l->pid)
		return; /* the same process: its threads are open */
	local_close(l);
	for (int i = 0; i < n; i++)
		open_tasks(l, pids[i]);
	l->ntarget = l->nfd;
	if (l->nfd > 0) {
		l->pid = pids[0];
		l->found = pids[0];
		open_softirqd(l, sc);
	}
	for (size_t i = 0; i < l->nsnap; i++)
		l->snap_idx[i] = SIZE_MAX; /* another process's figures */
}

void fl_probe_local_resolve(struct probe *const *probes, size_t n, int64_t now)
{
	struct local_scan sc;
	struct probe_local **wanted;
	size_t due = 0;

	memset(&sc, 0, sizeof(sc));
	for (size_t i = 0; i < n; i++) {
		struct probe_local *l = probes[i]->local;
		due += l && l->want && now >= l->next_scan;
	}
	if (due == 0)
		return;
	wanted = fl_malloc(due * sizeof(*wanted));
	sc.ports = fl_malloc(due * sizeof(*sc.ports));
	sc.cap = due * LOCAL_MAX_INODES;
	sc.socks = fl_malloc(sc.cap * sizeof(*sc.socks));
	if (!wanted || !sc.ports || !sc.socks) {
		/* Out of memory: looked for again on a later turn. */
		fl_free(wanted);
		fl_free(sc.ports);
		fl_free(sc.socks);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct probe_local *l = probes[i]->local;
		if (!l || !l->want || now < l->next_scan)
			continue;
		/* Looked for at most every LOCAL_RESCAN_NS, found or not. */
		l->want = 0;
		l->next_scan = now + LOCAL_RESCAN_NS;
		wanted[sc.nports] = l;
		sc.ports[sc.nports++] = l->port;
	}
	qsort(sc.ports, sc.nports, sizeof(*sc.ports), cmp_long);
	scan_machine(&sc);
	for (size_t i = 0; i < due; i++)
		resolve_one(wanted[i], &sc);
	fl_free(wanted);
	fl_free(sc.ports);
	fl_free(sc.socks);
}

/* The run_delay of thread tid through fd, from a read of it in the last
 * PROBE_READ_REUSE_NS when there is one (a probe's window widens or
 * narrows by that at most: nothing next to a threshold of a millisecond).
 * 0, or -1 when the thread is gone. */
static int reads_get(struct probe_reads *r, pid_t tid, int fd, int64_t now, int64_t *v)
{
	char buf[96], *end;
	ssize_t k;
	size_t at = r->n, i;

	for (i = 0; i < r->n; i++) {
		if (r->e[i].tid != tid)
			continue;
		if (now - r->e[i].at <= PROBE_READ_REUSE_NS) {
			*v = r->e[i].value;
			return 0;
		}
		at = i;
		break;
	}
	k = pread(fd, buf, sizeof(buf) - 1, 0);
	if (k <= 0)
		return -1;
	buf[k] = '\0';
	strtoll(buf, &end, 10);
	*v = strtoll(end, NULL, 10);
	if (at == r->n && r->n < PROBE_READS_MAX)
		r->n++;
	if (at < r->n)
		r->e[at].tid = tid, r->e[at].at = now, r->e[at].value = *v;
	return 0;
}

/* Reads every thread's run_delay into v; the count, or -1 when the target
 * is gone (it will be looked for again). */
static int local_read(struct probe_reads *r, struct probe_local *l, int64_t *v)
{
	int64_t now = fl_now_ns();
	for (int i = 0; i < l->nfd; i++) {
		if (reads_get(r, l->tids[i], l->fds[i], now, &v[i]) < 0) {
			local_close(l);
			l->want = 1;
			return -1;
		}
	}
	return l->nfd;
}

void fl_probe_local_at_send(struct fl_probe_engine *eng, struct probe *p, size_t idx)
{
	struct probe_local *l = p->local;
	size_t free_slot = SIZE_MAX;

	if (!l || l->pid == 0)
		return;
	for (size_t i = 0; i < l->nsnap && free_slot == SIZE_MAX; i++)
		if (l->snap_idx[i] == SIZE_MAX)
			free_slot = i;
	if (free_slot == SIZE_MAX || local_read(&eng->reads, l, l->snap[free_slot]) < 0)
		return;
	l->snap_idx[free_slot] = idx;
}

int64_t fl_probe_local_at_done(struct fl_probe_engine *eng, struct probe *p, size_t idx)
{
	struct probe_local *l = p->local;
	int64_t now[FL_PROBE_TARGET_TASKS], most = 0, soft = 0;
	size_t s = SIZE_MAX;
	int n;

	if (!l)
		return -1;
	for (size_t i = 0; i < l->nsnap && s == SIZE_MAX; i++)
		if (l->snap_idx[i] == idx)
			s = i;
	if (s == SIZE_MAX)
		return -1;
	l->snap_idx[s] = SIZE_MAX;
	n = local_read(&eng->reads, l, now);
	/* The target's threads, then the softirq threads: the largest wait
	 * of each group (a request is delivered, then served). */
	for (int i = 0; i < n && i < l->ntarget; i++)
		if (now[i] - l->snap[s][i] > most)
			most = now[i] - l->snap[s][i];
	for (int i = l->ntarget; i < n; i++)
		if (now[i] - l->snap[s][i] > soft)
			soft = now[i] - l->snap[s][i];
	return n > 0 ? most + soft : -1;
}

void fl_probe_local_refused(struct probe *p)
{
	/* A listener closed by a process that lives on keeps its pid; one
	 * that died (restarted: a new pid) is looked for again. */
	if (p->local && (p->local->pid == 0 || kill(p->local->pid, 0) < 0))
		p->local->want = 1;
}
