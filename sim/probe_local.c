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
 * thread between the sample's send and its completion. Does not own:
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

/* Inodes of LISTEN sockets on port in one /proc/net/tcp file, appended. */
static void listen_inodes(const char *path, long port, unsigned long *ino, int *n)
{
	FILE *f = fopen(path, "re");
	char line[512];

	if (!f)
		return;
	while (*n < LOCAL_MAX_INODES && fgets(line, sizeof(line), f)) {
		char local[64];
		unsigned st;
		unsigned long inode;
		char *colon;
		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, " %*s %63s %*s %x %*s %*s %*s %*s %*s %lu", local, &st, &inode) != 3)
			continue;
		colon = strrchr(local, ':');
		if (st != 0x0A || !colon || strtol(colon + 1, NULL, 16) != port || inode == 0)
			continue;
		ino[(*n)++] = inode;
	}
	fclose(f);
}

/* Whether process dir `pid` holds one of the inodes; *links counts the
 * descriptors looked at. */
static int holds_inode(const char *pid, const unsigned long *ino, int n, long *links)
{
	char path[sizeof("/proc//fd") + 256], target[64];
	DIR *d;
	struct dirent *de;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	d = opendir(path);
	while (d && !found && (de = readdir(d)) && (*links)++ < LOCAL_MAX_LINKS) {
		char fd[sizeof(path) + sizeof(de->d_name) + 2];
		ssize_t k;
		unsigned long inode;
		if (de->d_name[0] == '.')
			continue;
		snprintf(fd, sizeof(fd), "%s/%s", path, de->d_name);
		k = readlink(fd, target, sizeof(target) - 1);
		if (k <= 0)
			continue;
		target[k] = '\0';
		if (sscanf(target, "socket:[%lu]", &inode) != 1)
			continue;
		for (int i = 0; i < n && !found; i++)
			found = inode == ino[i];
	}
	if (d)
		closedir(d);
	return found;
}

/* The processes listening on port (at most max), or 0 found. */
static int listener_pids(long port, pid_t *pids, int max)
{
	unsigned long ino[LOCAL_MAX_INODES];
	int nino = 0, n = 0, procs = 0;
	long links = 0;
	DIR *d;
	struct dirent *de;

	listen_inodes("/proc/net/tcp", port, ino, &nino);
	listen_inodes("/proc/net/tcp6", port, ino, &nino);
	if (nino == 0 || !(d = opendir("/proc")))
		return 0;
	while (n < max && procs < LOCAL_MAX_PROCS && links < LOCAL_MAX_LINKS && (de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		procs++;
		if (strtol(de->d_name, NULL, 10) == (long)getpid())
			continue; /* the prober's own connections */
		if (holds_inode(de->d_name, ino, nino, &links))
			pids[n++] = (pid_t)strtol(de->d_name, NULL, 10);
	}
	closedir(d);
	return n;
}

static void local_close(struct probe_local *l)
{
	for (int i = 0; i < l->nfd; i++)
		close(l->fds[i]);
	l->nfd = l->ntarget = 0;
	l->pid = 0;
}

/* Opens the schedstat of the kernel's softirq threads (ksoftirqd/N): on a
 * loaded machine loopback packets wait for them, and a packet they did not
 * deliver is the machine's doing too. Only those visible (a pid namespace
 * may hide them); up to the cap. */
static void open_softirqd(struct probe_local *l)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int procs = 0;

	while (d && l->nfd < FL_PROBE_TARGET_TASKS && procs++ < LOCAL_MAX_PROCS && (de = readdir(d))) {
		char path[64], comm[32];
		FILE *f;
		int fd;
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%.20s/comm", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f) || strncmp(comm, "ksoftirqd/", 10) != 0) {
			fclose(f);
			continue;
		}
		fclose(f);
		snprintf(path, sizeof(path), "/proc/%.20s/schedstat", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			l->fds[l->nfd++] = fd;
	}
	if (d)
		closedir(d);
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
		if (fd >= 0)
			l->fds[l->nfd++] = fd;
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

void fl_probe_local_resolve(struct probe *p, int64_t now)
{
	struct probe_local *l = p->local;
	pid_t pids[LOCAL_MAX_PIDS];
	int n;

	if (!l || !l->want || now < l->next_scan)
		return;
	l->want = 0;
	l->next_scan = now + LOCAL_RESCAN_NS;
	n = listener_pids(l->port, pids, LOCAL_MAX_PIDS);
	if (n > 0 && pids[0] == l->pid)
		return; /* the same process: its threads are open */
	local_close(l);
	for (int i = 0; i < n; i++)
		open_tasks(l, pids[i]);
	l->ntarget = l->nfd;
	if (l->nfd > 0) {
		l->pid = pids[0];
		l->found = pids[0];
		open_softirqd(l);
	}
	for (size_t i = 0; i < l->nsnap; i++)
		l->snap_idx[i] = SIZE_MAX; /* another process's figures */
}

/* Reads every thread's run_delay into v; the count, or -1 when the target
 * is gone (it will be looked for again). */
static int local_read(struct probe_local *l, int64_t *v)
{
	for (int i = 0; i < l->nfd; i++) {
		char buf[96], *end;
		ssize_t k = pread(l->fds[i], buf, sizeof(buf) - 1, 0);
		if (k <= 0) {
			local_close(l);
			l->want = 1;
			return -1;
		}
		buf[k] = '\0';
		strtoll(buf, &end, 10);
		v[i] = strtoll(end, NULL, 10);
	}
	return l->nfd;
}

void fl_probe_local_at_send(struct probe *p, size_t idx)
{
	struct probe_local *l = p->local;
	size_t free_slot = SIZE_MAX;

	if (!l || l->pid == 0)
		return;
	for (size_t i = 0; i < l->nsnap && free_slot == SIZE_MAX; i++)
		if (l->snap_idx[i] == SIZE_MAX)
			free_slot = i;
	if (free_slot == SIZE_MAX || local_read(l, l->snap[free_slot]) < 0)
		return;
	l->snap_idx[free_slot] = idx;
}

int64_t fl_probe_local_at_done(struct probe *p, size_t idx)
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
	n = local_read(l, now);
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
