/*
 * bench_util: distributions, /proc readings and JSON rows shared by the
 * benchmark programs (see bench_util.h).
 */
#include "bench/bench_util.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/spawn.h"

#include <curl/curl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void bench_dist_init(struct bench_dist *d)
{
	d->v = NULL;
	d->n = d->alloc = 0;
}

void bench_dist_release(struct bench_dist *d)
{
	if (!d)
		return;
	fl_free(d->v);
	bench_dist_init(d);
}

int bench_dist_add(struct bench_dist *d, double x)
{
	if (d->n == d->alloc) {
		size_t na = d->alloc ? d->alloc * 2 : 64;
		double *grown = fl_realloc(d->v, na * sizeof(*grown));
		if (!grown)
			return -1;
		d->v = grown;
		d->alloc = na;
	}
	d->v[d->n++] = x;
	return 0;
}

void bench_dist_summarize(struct bench_dist *d, struct bench_summary *s)
{
	s->n = d->n;
	if (d->n == 0) {
		s->median = s->p99 = s->max = s->min = s->mean = NAN;
		return;
	}
	gsl_sort(d->v, 1, d->n);
	s->median = gsl_stats_median_from_sorted_data(d->v, 1, d->n);
	s->p99 = gsl_stats_quantile_from_sorted_data(d->v, 1, d->n, 0.99);
	s->min = d->v[0];
	s->max = d->v[d->n - 1];
	s->mean = gsl_stats_mean(d->v, 1, d->n);
}

json_t *bench_real(double x)
{
	return isnan(x) ? json_null() : json_real(x);
}

json_t *bench_summary_json(const struct bench_summary *s)
{
	return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "n", (json_int_t)s->n, "median",
			 bench_real(s->median), "p99", bench_real(s->p99), "max",
			 bench_real(s->max), "min", bench_real(s->min), "mean", bench_real(s->mean));
}

/* Reads a small /proc file into buf (NUL-terminated); 0 or -1. */
static int proc_read(const char *path, char *buf, size_t n)
{
	ssize_t k;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	k = read(fd, buf, n - 1);
	close(fd);
	if (k <= 0)
		return -1;
	buf[k] = '\0';
	return 0;
}

double bench_proc_cpu_ms(pid_t pid)
{
	char path[64], buf[2048], *p, *end;
	unsigned long long utime, stime;
	long hz = sysconf(_SC_CLK_TCK);

	if (pid == 0)
		snprintf(path, sizeof(path), "/proc/self/stat");
	else
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (proc_read(path, buf, sizeof(buf)) < 0 || hz <= 0)
		return -1;
	/* comm may hold spaces: fields resume after the last ')'; utime and
	 * stime are fields 14 and 15, i.e. the 12th and 13th after state. */
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	p += 2;
	for (int field = 3; field < 14; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	errno = 0;
	utime = strtoull(p, &end, 10);
	if (errno || end == p)
		return -1;
	p = end;
	stime = strtoull(p, &end, 10);
	if (errno || end == p)
		return -1;
	return (double)(utime + stime) * 1000.0 / (double)hz;
}

long bench_proc_peak_rss_kib(pid_t pid)
{
	char path[64], buf[8192], *p;
	long kib;

	if (pid == 0)
		snprintf(path, sizeof(path), "/proc/self/status");
	else
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (proc_read(path, buf, sizeof(buf)) < 0)
		return -1;
	p = strstr(buf, "VmHWM:");
	if (!p || sscanf(p + 6, "%ld", &kib) != 1)
		return -1;
	return kib;
}

int bench_read_portfile(const char *path, int64_t timeout_ns, long *a, long *b, struct fl_error *err)
{
	int64_t deadline = fl_now_ns() + timeout_ns;
	for (int tries = 0; tries < 100000; tries++) {
		char buf[128];
		struct timespec ts = { 0, 5 * FL_NS_PER_MS };
		if (proc_read(path, buf, sizeof(buf)) == 0 && sscanf(buf, "%ld %ld", a, b) == 2)
			return 0;
		if (fl_now_ns() >= deadline)
			break;
		nanosleep(&ts, NULL);
	}
	return fl_error_set(err, FL_EXIT_ENV, "%s: no port file after %lld ms", path,
			    (long long)(timeout_ns / FL_NS_PER_MS));
}

int bench_connect_loopback(long port)
{
	struct sockaddr_in a;
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

json_t *bench_row(const char *group, const char *name, const char *unit, double faultline,
		  const char *peer_name, double peer, const char *goal, int met, json_t *detail)
{
	double ratio = (!isnan(faultline) && !isnan(peer) && peer != 0) ? faultline / peer : NAN;
	json_t *row =
		json_pack("{s:s, s:s, s:s, s:o, s:s?, s:o, s:o, s:s?, s:o}", "group", group, "name",
			  name, "unit", unit, "faultline", bench_real(faultline), "peer_name",
			  peer_name, "peer", bench_real(peer), "ratio", bench_real(ratio), "goal",
			  goal, "met", met < 0 ? json_null() : json_boolean(met));
	if (row && detail)
		json_object_set(row, "detail", detail);
	json_decref(detail);
	return row;
}

int bench_rows_write(const json_t *rows, const char *path)
{
	int rc;
	if (strcmp(path, "-") == 0) {
		rc = json_dumpf(rows, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
		fputc('\n', stdout);
		fflush(stdout);
	} else {
		rc = json_dump_file(rows, path, JSON_COMPACT | JSON_REAL_PRECISION(6));
	}
	if (rc < 0)
		fprintf(stderr, "bench: cannot write %s\n", path);
	return rc;
}

void bench_child_stop(pid_t pid, int64_t timeout_ns)
{
	int64_t deadline = fl_now_ns() + timeout_ns;
	int st;
	if (pid <= 0)
		return;
	/* Our children lead their own process groups (fl_spawn_argv): the
	 * group takes a shell loop's curl with it. */
	kill(-pid, SIGTERM);
	kill(pid, SIGTERM);
	for (int tries = 0; tries < 10000; tries++) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		struct timespec ts = { 0, 2 * FL_NS_PER_MS };
		if (r == pid || (r < 0 && errno != EINTR))
			return;
		if (fl_now_ns() >= deadline)
			break;
		nanosleep(&ts, NULL);
	}
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
}

long bench_free_port(void)
{
	struct sockaddr_in a;
	socklen_t n = sizeof(a);
	long port = -1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &n) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static size_t scraper_write(char *data, size_t size, size_t nmemb, void *userp)
{
	fl_buf_add(userp, data, size * nmemb);
	return size * nmemb;
}

int bench_scraper_target(struct bench_scraper *s, long exporter_port, const char *target_url)
{
	char *esc = curl_easy_escape(s->easy, target_url, 0);
	int n;
	if (!esc)
		return -1;
	n = snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%ld/probe?target=%s&module=http_2xx",
		     exporter_port, esc);
	curl_free(esc);
	if (n < 0 || (size_t)n >= sizeof(s->url))
		return -1;
	return curl_easy_setopt(s->easy, CURLOPT_URL, s->url) == CURLE_OK ? 0 : -1;
}

int bench_scraper_init(struct bench_scraper *s, long exporter_port, const char *target_url)
{
	fl_buf_init(&s->body, 1 << 20);
	s->easy = curl_easy_init();
	if (!s->easy)
		return -1;
	curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(s->easy, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, scraper_write);
	curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, &s->body);
	return bench_scraper_target(s, exporter_port, target_url);
}

void bench_scraper_release(struct bench_scraper *s)
{
	if (!s)
		return;
	if (s->easy)
		curl_easy_cleanup(s->easy);
	s->easy = NULL;
	fl_buf_release(&s->body);
}

int bench_scraper_scrape(struct bench_scraper *s)
{
	long status = 0;
	const char *p;
	fl_buf_reset(&s->body);
	if (curl_easy_perform(s->easy) != CURLE_OK)
		return -1;
	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200 || s->body.failed)
		return -1;
	/* The metric line, not the HELP/TYPE comments that also name it. */
	p = strstr(s->body.buf, "\nprobe_success ");
	if (!p)
		return -1;
	return p[15] == '1';
}

pid_t bench_blackbox_start(const char *bin, const char *dir, int64_t timeout_ns, long *port,
			   struct fl_error *err)
{
	char cfg[4096], log[4096], listen[64], cfgarg[4200], url[128];
	struct fl_buf yml;
	pid_t pid = -1;
	int logfd = -1;
	CURL *probe = NULL;
	FILE *f;

	fl_buf_init(&yml, 0);
	snprintf(cfg, sizeof(cfg), "%s/blackbox.yml", dir);
	snprintf(log, sizeof(log), "%s/blackbox.log", dir);
	fl_buf_addf(&yml, "modules:\n  http_2xx:\n    prober: http\n    timeout: %lldms\n",
		    (long long)(timeout_ns / FL_NS_PER_MS));
	f = fopen(cfg, "w");
	if (!f || fputs(yml.buf, f) < 0 || fclose(f) != 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot write: %s", cfg, strerror(errno));
		goto out;
	}
	*port = bench_free_port();
	if (*port < 0) {
		fl_error_set(err, FL_EXIT_ENV, "no free loopback port");
		goto out;
	}
	snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%ld", *port);
	snprintf(cfgarg, sizeof(cfgarg), "--config.file=%s", cfg);
	logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	{
		const char *argv[] = { bin, cfgarg, listen, "--log.level=warn", NULL };
		pid = fl_spawn_argv(argv, logfd, NULL, err);
	}
	if (pid < 0)
		goto out;
	snprintf(url, sizeof(url), "http://127.0.0.1:%ld/-/healthy", *port);
	probe = curl_easy_init();
	if (!probe) {
		fl_error_set(err, FL_EXIT_ENV, "out of memory");
		goto fail;
	}
	curl_easy_setopt(probe, CURLOPT_URL, url);
	curl_easy_setopt(probe, CURLOPT_PROXY, "");
	curl_easy_setopt(probe, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(probe, CURLOPT_TIMEOUT_MS, 500L);
	for (int64_t deadline = fl_now_ns() + 10 * FL_NS_PER_S;;) {
		long status = 0;
		struct timespec ts = { 0, 20 * FL_NS_PER_MS };
		if (curl_easy_perform(probe) == CURLE_OK &&
		    curl_easy_getinfo(probe, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
		    status == 200)
			goto out;
		if (fl_now_ns() >= deadline) {
			fl_error_set(err, FL_EXIT_ENV,
				     "%s: not answering on port %ld after 10 s (see %s)", bin,
				     *port, log);
			goto fail;
		}
		nanosleep(&ts, NULL);
	}
fail:
	bench_child_stop(pid, FL_NS_PER_S);
	pid = -1;
out:
	curl_easy_cleanup(probe);
	if (logfd >= 0)
		close(logfd);
	fl_buf_release(&yml);
	return pid;
}
