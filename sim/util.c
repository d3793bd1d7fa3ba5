/*
 * util: allocation wrapper, bounded buffers, errors, durations, clocks and
 * argv-vector process spawning shared by every faultline module.
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- allocation ---------------------------------------------------------- */

static atomic_long alloc_fail_after = -1;
static atomic_long alloc_count;

void fl_alloc_fail_after(long n)
{
	atomic_store(&alloc_count, 0);
	atomic_store(&alloc_fail_after, n);
}

long fl_alloc_count(void)
{
	return atomic_load(&alloc_count);
}

static int alloc_should_fail(void)
{
	long c = atomic_fetch_add(&alloc_count, 1) + 1;
	long lim = atomic_load(&alloc_fail_after);
	return lim > 0 && c >= lim;
}

void *fl_malloc(size_t n)
{
	if (alloc_should_fail())
		return NULL;
	return malloc(n ? n : 1);
}

void *fl_calloc(size_t nmemb, size_t size)
{
	if (alloc_should_fail())
		return NULL;
	return calloc(nmemb ? nmemb : 1, size ? size : 1);
}

void *fl_realloc(void *p, size_t n)
{
	if (alloc_should_fail())
		return NULL;
	return realloc(p, n ? n : 1);
}

char *fl_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = fl_malloc(len + 1);
	if (!d)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

char *fl_strdup(const char *s)
{
	return s ? fl_strndup(s, SIZE_MAX) : NULL;
}

void fl_free(void *p)
{
	free(p);
}

void fl_alloc_install_jansson(void)
{
	json_set_alloc_funcs(fl_malloc, fl_free);
}

/* ---- errors -------------------------------------------------------------- */

void fl_error_init(struct fl_error *e)
{
	e->code = 0;
	e->msg[0] = '\0';
}

int fl_error_is_set(const struct fl_error *e)
{
	return e && e->code != 0;
}

int fl_error_setv(struct fl_error *e, int code, const char *fmt, va_list ap)
{
	if (!e || e->code != 0)
		return -1;
	e->code = code ? code : FL_EXIT_ENV;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	/* One line, always: fold any newline a caller's text brought in. */
	for (char *p = e->msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return -1;
}

int fl_error_set(struct fl_error *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fl_error_setv(e, code, fmt, ap);
	va_end(ap);
	return -1;
}

int fl_error_at(struct fl_error *e, int code, const char *file, int line, int col,
		const char *fmt, ...)
{
	char text[900];
	va_list ap;
	if (!e || e->code != 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (line > 0 && col > 0)
		return fl_error_set(e, code, "%s:%d:%d: %s", file, line, col, text);
	if (line > 0)
		return fl_error_set(e, code, "%s:%d: %s", file, line, text);
	return fl_error_set(e, code, "%s: %s", file, text);
}

/* ---- buffers ------------------------------------------------------------- */

static char fl_buf_empty[1];

void fl_buf_init(struct fl_buf *b, size_t limit)
{
	b->buf = fl_buf_empty;
	b->len = 0;
	b->alloc = 0;
	b->limit = limit ? limit : FL_BUF_DEFAULT_LIMIT;
	b->failed = 0;
}

void fl_buf_release(struct fl_buf *b)
{
	if (b->alloc)
		fl_free(b->buf);
	fl_buf_init(b, b->limit);
}

void fl_buf_reset(struct fl_buf *b)
{
	b->len = 0;
	if (b->alloc)
		b->buf[0] = '\0';
}

static int buf_grow(struct fl_buf *b, size_t extra)
{
	size_t want, cap;
	char *nb;
	if (b->failed)
		return -1;
	if (extra > b->limit || b->len > b->limit - extra) {
		b->failed = 1;
		return -1;
	}
	want = b->len + extra + 1;
	if (want <= b->alloc)
		return 0;
	cap = b->alloc ? b->alloc : 64;
	while (cap < want)
		cap *= 2;
	nb = fl_realloc(b->alloc ? b->buf : NULL, cap);
	if (!nb) {
		b->failed = 1;
		return -1;
	}
	if (!b->alloc)
		nb[0] = '\0';
	b->buf = nb;
	b->alloc = cap;
	return 0;
}

int fl_buf_add(struct fl_buf *b, const void *data, size_t n)
{
	if (buf_grow(b, n) < 0)
		return -1;
	memcpy(b->buf + b->len, data, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return 0;
}

int fl_buf_adds(struct fl_buf *b, const char *s)
{
	return fl_buf_add(b, s, strlen(s));
}

int fl_buf_addvf(struct fl_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;
	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0 || buf_grow(b, (size_t)n) < 0) {
		b->failed = 1;
		return -1;
	}
	vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int fl_buf_addf(struct fl_buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;
	va_start(ap, fmt);
	r = fl_buf_addvf(b, fmt, ap);
	va_end(ap);
	return r;
}

char *fl_buf_detach(struct fl_buf *b)
{
	char *s = b->alloc ? b->buf : fl_strdup("");
	fl_buf_init(b, b->limit);
	return s;
}

/* ---- durations ----------------------------------------------------------- */

/* Parses a non-negative decimal with optional fraction into value * 10^9
 * (nano-units), exactly, without floating point. Advances *p. */
static int parse_decimal_nano(const char **p, __int128 *out)
{
	const char *s = *p;
	__int128 v = 0;
	int digits = 0, frac = 0;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (*s - '0');
		if (v > (__int128)INT64_MAX)
			return -1;
		s++;
		digits++;
	}
	v *= 1000000000;
	if (*s == '.') {
		__int128 scale = 100000000;
		s++;
		while (*s >= '0' && *s <= '9') {
			if (scale == 0 && *s != '0')
				return -1; /* more precision than a nanosecond of a ns-unit */
			v += (*s - '0') * scale;
			scale /= 10;
			s++;
			frac++;
		}
		if (frac == 0)
			return -1;
	}
	if (digits == 0 && frac == 0)
		return -1;
	*out = v;
	*p = s;
	return 0;
}

static int unit_ns(const char *u, size_t len, int64_t *mult)
{
	static const struct { const char *name; int64_t ns; } units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "ms", 1000000 }, { "s", 1000000000 },
		{ "m", INT64_C(60000000000) }, { "h", INT64_C(3600000000000) },
	};
	for (size_t i = 0; i < FL_ARRAY_LEN(units); i++)
		if (strlen(units[i].name) == len && memcmp(units[i].name, u, len) == 0) {
			*mult = units[i].ns;
			return 0;
		}
	return -1;
}

static int iso8601_parse(const char *s, int64_t *ns_out)
{
	/* PT[nH][nM][n.nS] ; also P[nD]T... */
	__int128 total = 0;
	int in_time = 0, any = 0;
	if (*s != 'P')
		return -1;
	s++;
	while (*s) {
		__int128 v;
		int64_t mult;
		if (*s == 'T') {
			if (in_time)
				return -1;
			in_time = 1;
			s++;
			continue;
		}
		if (parse_decimal_nano(&s, &v) < 0)
			return -1;
		switch (*s) {
		case 'D': if (in_time) return -1; mult = INT64_C(86400); break;
		case 'H': if (!in_time) return -1; mult = 3600; break;
		case 'M': if (!in_time) return -1; mult = 60; break;
		case 'S': if (!in_time) return -1; mult = 1; break;
		default: return -1;
		}
		s++;
		total += v * mult;
		if (total > (__int128)INT64_MAX)
			return -1;
		any = 1;
	}
	if (!any)
		return -1;
	*ns_out = (int64_t)total;
	return 0;
}

int fl_duration_parse(const char *s, int64_t *ns_out)
{
	const char *p = s;
	__int128 v;
	int64_t mult;
	const char *u;
	if (!s || !*s)
		return -1;
	if (*s == 'P')
		return iso8601_parse(s, ns_out);
	if (parse_decimal_nano(&p, &v) < 0)
		return -1;
	u = p;
	while (*p >= 'a' && *p <= 'z')
		p++;
	if (*p != '\0' || unit_ns(u, (size_t)(p - u), &mult) < 0)
		return -1;
	if (v > (__int128)INT64_MAX * 1000000000 / mult)
		return -1; /* would not fit in int64 ns: refuse before multiplying */
	v = v * mult;
	if (v % 1000000000 != 0)
		return -1; /* finer than a nanosecond */
	v /= 1000000000;
	if (v > (__int128)INT64_MAX)
		return -1;
	*ns_out = (int64_t)v;
	return 0;
}

const char *fl_duration_format(int64_t ns, char *buf, size_t n)
{
	if (ns % FL_NS_PER_S == 0)
		snprintf(buf, n, "%" PRId64 "s", ns / FL_NS_PER_S);
	else if (ns % FL_NS_PER_MS == 0)
		snprintf(buf, n, "%" PRId64 "ms", ns / FL_NS_PER_MS);
	else if (ns % 1000 == 0)
		snprintf(buf, n, "%" PRId64 "us", ns / 1000);
	else
		snprintf(buf, n, "%" PRId64 "ns", ns);
	return buf;
}

/* ---- clocks -------------------------------------------------------------- */

int64_t fl_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * FL_NS_PER_S + ts.tv_nsec;
}

int64_t fl_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * FL_NS_PER_S + ts.tv_nsec;
}

const char *fl_rfc3339(int64_t wall_ns, char *buf, size_t n)
{
	time_t secs = (time_t)(wall_ns / FL_NS_PER_S);
	int ms = (int)((wall_ns % FL_NS_PER_S) / FL_NS_PER_MS);
	struct tm tm;
	char tmp[32];
	gmtime_r(&secs, &tm);
	strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, n, "%s.%03dZ", tmp, ms);
	return buf;
}

int fl_sleep_until(int64_t deadline_ns, volatile int *stop, int64_t slice_ns)
{
	if (slice_ns <= 0)
		slice_ns = 10 * FL_NS_PER_MS;
	for (;;) {
		int64_t now = fl_now_ns(), step;
		struct timespec ts;
		if (stop && *stop)
			return 1;
		if (now >= deadline_ns)
			return 0;
		step = deadline_ns - now;
		if (stop && step > slice_ns)
			step = slice_ns;
		ts.tv_sec = step / FL_NS_PER_S;
		ts.tv_nsec = step % FL_NS_PER_S;
		nanosleep(&ts, NULL);
	}
}

/* ---- external programs ---------------------------------------------------- */

static char **env_merge(const char *const *extra)
{
	size_t n = 0, m = 0;
	char **envp;
	while (environ && environ[n])
		n++;
	while (extra && extra[m])
		m++;
	envp = fl_calloc(n + m + 1, sizeof(*envp));
	if (!envp)
		return NULL;
	for (size_t i = 0; i < m; i++)
		envp[i] = (char *)extra[i];
	for (size_t i = 0; i < n; i++)
		envp[m + i] = environ[i];
	return envp;
}

pid_t fl_spawn_argv(const char *const *argv, int out_fd, const struct fl_spawn_opts *opts,
		    struct fl_error *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	char **envp = environ;
	pid_t pid = -1;
	int rc;

	if (!argv || !argv[0] || !argv[0][0]) {
		fl_error_set(err, FL_EXIT_INPUT, "empty command");
		return -1;
	}
	if (opts && opts->envp_extra) {
		envp = env_merge(opts->envp_extra);
		if (!envp) {
			fl_error_set(err, FL_EXIT_ENV, "%s: out of memory", argv[0]);
			return -1;
		}
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (out_fd >= 0) {
		posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
		posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
	} else {
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	}
	if (opts && opts->cwd)
		posix_spawn_file_actions_addchdir_np(&fa, opts->cwd);
	sigemptyset(&none);
	sigfillset(&dfl);
	sigdelset(&dfl, SIGKILL);
	sigdelset(&dfl, SIGSTOP);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					 POSIX_SPAWN_SETPGROUP);
	rc = posix_spawnp(&pid, argv[0], &fa, &attr, (char *const *)argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (envp != environ)
		fl_free(envp);
	if (rc != 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot run: %s", argv[0], strerror(rc));
		return -1;
	}
	return pid;
}

/* Drains what the child wrote so far into out (up to its limit). Returns 1 at
 * end of file, 0 otherwise. */
static int drain_pipe(int fd, struct fl_buf *out)
{
	char chunk[4096];
	ssize_t k;
	while ((k = read(fd, chunk, sizeof(chunk))) > 0)
		if (out->len < out->limit)
			fl_buf_add(out, chunk, (size_t)k < out->limit - out->len
						       ? (size_t)k : out->limit - out->len);
	return k == 0;
}

int fl_run_argv(const char *const *argv, int64_t timeout_ns, struct fl_buf *out, int *status,
		const struct fl_spawn_opts *opts, struct fl_error *err)
{
	int pipefd[2] = { -1, -1 };
	int64_t deadline = timeout_ns > 0 ? fl_now_ns() + timeout_ns : INT64_MAX;
	pid_t pid;
	int st = 0, timed_out = 0, pidfd;

	if (out && pipe2(pipefd, O_CLOEXEC) < 0)
		return fl_error_set(err, FL_EXIT_ENV, "%s: pipe: %s", argv[0], strerror(errno));
	pid = fl_spawn_argv(argv, out ? pipefd[1] : -1, opts, err);
	if (out)
		close(pipefd[1]);
	if (pid < 0) {
		if (out)
			close(pipefd[0]);
		return -1;
	}
	if (out)
		fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	/* Wait on the child's pidfd and its output together: no polling sleep. */
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	for (;;) {
		struct pollfd fds[2];
		nfds_t n = 0;
		int64_t now = fl_now_ns(), wait_ns;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR && errno != EAGAIN)) {
			if (r < 0)
				st = 0;
			break;
		}
		if (now >= deadline || (opts && opts->stop && *opts->stop)) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			timed_out = 1;
			break;
		}
		wait_ns = deadline - now;
		/* Without a pidfd (old kernel) or with a stop flag, look again soon. */
		if ((pidfd < 0 || (opts && opts->stop)) && wait_ns > 20 * FL_NS_PER_MS)
			wait_ns = 20 * FL_NS_PER_MS;
		if (wait_ns > 1000 * FL_NS_PER_S)
			wait_ns = 1000 * FL_NS_PER_S;
		if (pidfd >= 0)
			fds[n++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
		if (out && pipefd[0] >= 0)
			fds[n++] = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
		poll(fds, n, (int)((wait_ns + FL_NS_PER_MS - 1) / FL_NS_PER_MS));
		if (out && pipefd[0] >= 0 && drain_pipe(pipefd[0], out)) {
			close(pipefd[0]);
			pipefd[0] = -1;
		}
	}
	if (out && pipefd[0] >= 0) {
		drain_pipe(pipefd[0], out);
		close(pipefd[0]);
	}
	if (pidfd >= 0)
		close(pidfd);
	if (status)
		*status = timed_out ? -1 : st;
	return 0;
}

const char *fl_status_describe(int status, char *buf, size_t n)
{
	if (status == -1)
		snprintf(buf, n, "timed out");
	else if (WIFEXITED(status))
		snprintf(buf, n, "exited %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, n, "killed by SIG%s", fl_signal_name(WTERMSIG(status)));
	else
		snprintf(buf, n, "status %d", status);
	return buf;
}

/* ---- /proc ------------------------------------------------------------------ */

/* Reads state (field 3) and start time (field 22, clock ticks after boot)
 * of pid. 0, or -1 when the process does not exist. */
int fl_proc_stat(pid_t pid, char *state, unsigned long long *start_time)
{
	char path[64], buf[1024];
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* comm (field 2) may hold spaces and parentheses: fields resume after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return -1;
	p += 2;
	if (state)
		*state = *p;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	if (start_time) {
		char *end;
		errno = 0;
		*start_time = strtoull(p, &end, 10);
		if (errno || end == p)
			return -1;
	}
	return 0;
}

/* 1 when pid exists and is not a zombie (and, when start_time is non-zero,
 * is the process that started then), else 0. */
int fl_proc_alive(pid_t pid, unsigned long long start_time)
{
	unsigned long long st;
	char state;
	if (pid <= 0 || fl_proc_stat(pid, &state, &st) < 0)
		return 0;
	if (state == 'Z' || state == 'X')
		return 0;
	return start_time == 0 || st == start_time;
}

/* ---- small helpers ---------------------------------------------------------- */

int fl_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;
	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int fl_read_file(const char *path, size_t limit, struct fl_buf *out, struct fl_error *err)
{
	FILE *f = fopen(path, "rb");
	char chunk[8192];
	size_t k;
	if (!f)
		return fl_error_set(err, FL_EXIT_INPUT, "%s: cannot open: %s", path, strerror(errno));
	while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (out->len + k > limit) {
			fclose(f);
			return fl_error_set(err, FL_EXIT_INPUT, "%s: larger than %zu bytes", path, limit);
		}
		if (fl_buf_add(out, chunk, k) < 0) {
			fclose(f);
			return fl_error_set(err, FL_EXIT_ENV, "%s: out of memory", path);
		}
	}
	if (ferror(f)) {
		fclose(f);
		return fl_error_set(err, FL_EXIT_INPUT, "%s: read error", path);
	}
	fclose(f);
	return 0;
}

int fl_read_pidfile(const char *path, pid_t *pid, struct fl_error *err)
{
	struct fl_buf b;
	long v;
	int rc = -1;
	fl_buf_init(&b, 64);
	if (fl_read_file(path, 64, &b, err) < 0)
		goto out;
	while (b.len && (b.buf[b.len - 1] == '\n' || b.buf[b.len - 1] == ' '))
		b.buf[--b.len] = '\0';
	if (fl_parse_long(b.buf, 2, INT_MAX, &v) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: no pid in pidfile", path);
		goto out;
	}
	*pid = (pid_t)v;
	rc = 0;
out:
	fl_buf_release(&b);
	return rc;
}

static const struct { const char *name; int sig; } signals[] = {
	{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "KILL", SIGKILL },
	{ "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "TERM", SIGTERM }, { "STOP", SIGSTOP },
	{ "CONT", SIGCONT }, { "ABRT", SIGABRT }, { "SEGV", SIGSEGV }, { "TSTP", SIGTSTP },
};

int fl_signal_parse(const char *name)
{
	long v;
	if (!name)
		return -1;
	if (fl_parse_long(name, 1, 64, &v) == 0)
		return (int)v;
	if (strncmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 0; i < FL_ARRAY_LEN(signals); i++)
		if (strcmp(signals[i].name, name) == 0)
			return signals[i].sig;
	return -1;
}

const char *fl_signal_name(int sig)
{
	for (size_t i = 0; i < FL_ARRAY_LEN(signals); i++)
		if (signals[i].sig == sig)
			return signals[i].name;
	return "?";
}
