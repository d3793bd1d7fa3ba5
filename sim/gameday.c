/*
 * gameday: running a game day (sim/gameday.h).
 *
 * How the terminal is shared: the runner reads its operator's Enter for a
 * manual step from fd 0 and insists it is a terminal. The game day needs
 * the same keyboard for notes, so fd 0 of the process becomes the slave of
 * a pseudo-terminal for the duration, and a console thread reads the real
 * input line by line: an empty line (or "done") is passed to the runner
 * through the pty (it confirms a manual step) and ends a pause; "abort"
 * sets the runner's interrupt flag (it reverts at once); "action: TEXT" or
 * "todo: TEXT" is an action item; any other line is a note. The runner's
 * progress lines come through a pipe to a second thread that prints them
 * with the time since the day began (the live timeline), learns the wall
 * time of each scenario's first injection (notes are placed relative to
 * it), and reveals hints. The same works without a terminal (input from a
 * pipe or file), which is how CI runs a game day.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "sim/gameday.h"
#include "sim/lock.h"
#include "sim/runner.h"

#define GD_LINE_MAX 4096
#define GD_POLL_MS 50

struct session {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct fl_gameday *gd;
	const struct fl_gameday_options *o;
	int in_fd;      /* the real input */
	int pty_master; /* the runner's fd 0 is its slave */
	int pty_slave;
	int log_fd;   /* read end of the runner's progress pipe */
	FILE *log;    /* its write end, the runner's log */
	int saved_in; /* fd 0 as it was, given back at the end */
	int stop;     /* threads: finish */
	int threads;  /* how many started */
	pthread_t tin, tlog;
	int64_t start_ns;
	size_t notes_cap;
	const char *during; /* title of the current step */
	int scenario_running;
	long enters; /* Enter presses not yet consumed by a pause */
	/* the current scenario, from its progress lines */
	int64_t t0_wall_ns;
	const struct fl_gameday_step *step;
	char manual_step[256];
	int64_t step_started_ns;
	unsigned char *hint_shown;
};

/* "[+01:02.3] " and a line to the console; the caller holds the lock. */
static void show(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void show(struct session *s, const char *fmt, ...)
{
	double t = (double)(fl_now_ns() - s->start_ns) / 1e9;
	va_list ap;
	fprintf(s->o->out, "[+%02d:%04.1f] ", (int)(t / 60), t - 60 * (int)(t / 60));
	va_start(ap, fmt);
	vfprintf(s->o->out, fmt, ap);
	va_end(ap);
	fputc('\n', s->o->out);
	fflush(s->o->out);
}

static void add_note(struct session *s, const char *line)
{
	struct fl_gameday *gd = s->gd;
	struct fl_gameday_note *n;
	int action = !strncmp(line, "action:", 7) || !strncmp(line, "todo:", 5);
	const char *text = line;

	if (action)
		for (text = strchr(line, ':') + 1; *text == ' '; text++)
			;
	if (!*text)
		return;
	if (gd->nnotes == s->notes_cap) {
		size_t cap = s->notes_cap ? 2 * s->notes_cap : 32;
		struct fl_gameday_note *v = fl_realloc(gd->notes, cap * sizeof(*v));
		if (!v) {
			show(s, "out of memory: note not kept");
			return;
		}
		gd->notes = v;
		s->notes_cap = cap;
	}
	n = &gd->notes[gd->nnotes];
	n->wall_ns = fl_wall_ns();
	n->action = action;
	n->text = fl_strdup(text);
	n->during = s->during ? fl_strdup(s->during) : NULL;
	if (!n->text || (s->during && !n->during)) {
		fl_free(n->text);
		fl_free(n->during);
		show(s, "out of memory: note not kept");
		return;
	}
	gd->nnotes++;
	show(s, "%s noted: %s", action ? "action item" : "note", text);
}

static int manual_step_waiting(const struct session *s)
{
	const struct fl_gameday_step *it = s->step;
	for (size_t k = 0; it && s->manual_step[0] && it->manual && it->manual[k]; k++)
		if (!strcmp(it->manual[k], s->manual_step))
			return 1;
	return 0;
}

static void handle_line(struct session *s, char *line)
{
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
		line[--n] = '\0';
	pthread_mutex_lock(&s->mu);
	if (!strcmp(line, "") || !strcmp(line, "done") || !strcmp(line, "next")) {
		s->enters++;
		/* Confirms a manual step: the runner reads it from the pty. Only
		 * while one waits: an Enter typed during an automatic step would
		 * stay in the pty and confirm the next manual step unseen. */
		if (s->scenario_running && manual_step_waiting(s) &&
		    write(s->pty_master, "\n", 1) != 1)
			show(s, "could not pass Enter to the drill: %s", strerror(errno));
	} else if (!strcmp(line, "abort")) {
		atomic_store(s->o->interrupted, 1);
		s->gd->aborted = 1;
		show(s, "ABORT requested: reverting everything");
	} else {
		add_note(s, line);
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Splits buf (len bytes) into lines for fn, keeping a partial last line;
 * a line longer than the buffer is passed on in pieces. */
static size_t split_lines(struct session *s, char *buf, size_t len, size_t cap,
			  void (*fn)(struct session *, char *))
{
	buf[len] = '\0';
	for (char *nl; (nl = memchr(buf, '\n', len));) {
		size_t used = (size_t)(nl - buf) + 1;
		*nl = '\0';
		fn(s, buf);
		memmove(buf, buf + used, len - used);
		len -= used;
		buf[len] = '\0';
	}
	if (len == cap - 1) {
		fn(s, buf);
		len = 0;
	}
	return len;
}

static int stopping(struct session *s)
{
	int stop;
	pthread_mutex_lock(&s->mu);
	stop = s->stop;
	pthread_mutex_unlock(&s->mu);
	return stop;
}

static void *input_thread(void *arg)
{
	struct session *s = arg;
	char buf[GD_LINE_MAX];
	size_t len = 0;

	while (!stopping(s)) {
		struct pollfd pfd = { .fd = s->in_fd, .events = POLLIN };
		ssize_t k;
		if (poll(&pfd, 1, GD_POLL_MS) <= 0)
			continue;
		k = read(s->in_fd, buf + len, sizeof(buf) - 1 - len);
		if (k <= 0) {
			if (k < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			break; /* end of input: the day goes on without a keyboard */
		}
		len = split_lines(s, buf, len + (size_t)k, sizeof(buf), handle_line);
	}
	return NULL;
}

/* One progress line of the runner (sim/runner.c's say()); the lock is held. */
static void progress_line(struct session *s, char *line)
{
	const char *p;
	if (!line[0])
		return;
	show(s, "%s", line);
	if (!s->step)
		return;
	if (!s->t0_wall_ns && strstr(line, ": injected "))
		s->t0_wall_ns = fl_wall_ns();
	if ((p = strstr(line, ": recovery step ")) != NULL) {
		const char *name = p + strlen(": recovery step ");
		const char *colon = strstr(name, ": started");
		if (colon) {
			snprintf(s->manual_step, sizeof(s->manual_step), "%.*s",
				 (int)(colon - name), name);
			s->step_started_ns = fl_now_ns();
		} else if (strstr(name, ": done") || strstr(name, "timed out")) {
			s->manual_step[0] = '\0';
		}
	}
}

static void reveal_hints(struct session *s)
{
	const struct fl_gameday_step *it = s->step;
	if (!it || !s->manual_step[0] || !s->hint_shown)
		return;
	for (size_t k = 0; k < it->nhints; k++) {
		if (s->hint_shown[k] || strcmp(it->hints[k].step, s->manual_step) ||
		    fl_now_ns() - s->step_started_ns < it->hints[k].after_ns)
			continue;
		s->hint_shown[k] = 1;
		show(s, "HINT for %s: %s", it->hints[k].step, it->hints[k].text);
	}
}

static void *log_thread(void *arg)
{
	struct session *s = arg;
	char buf[GD_LINE_MAX];
	size_t len = 0;

	for (;;) {
		struct pollfd pfd = { .fd = s->log_fd, .events = POLLIN };
		int r = poll(&pfd, 1, GD_POLL_MS);
		ssize_t k;
		pthread_mutex_lock(&s->mu);
		reveal_hints(s);
		pthread_mutex_unlock(&s->mu);
		/* The write end closes when the day ends; a process a drill
		 * started (a daemon a recovery step launched) must not be able
		 * to hold it open and hang the day's end: once asked to stop,
		 * a drained pipe is the end. */
		if (r == 0 && stopping(s))
			break;
		if (r <= 0)
			continue;
		k = read(s->log_fd, buf + len, sizeof(buf) - 1 - len);
		if (k <= 0) {
			if (k < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			break; /* write end closed: the day is over */
		}
		pthread_mutex_lock(&s->mu);
		len = split_lines(s, buf, len + (size_t)k, sizeof(buf), progress_line);
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

/* Waits for Enter, the pause's duration, or abort. */
static void run_pause(struct session *s, const struct fl_gameday_step *it)
{
	int64_t deadline = it->duration_ns > 0 ? fl_now_ns() + it->duration_ns : 0;
	char d[32];

	pthread_mutex_lock(&s->mu);
	s->enters = 0;
	s->during = it->text;
	show(s, "PAUSE: %s (%s)", it->text,
	     it->duration_ns > 0 ? fl_duration_format(it->duration_ns, d, sizeof(d))
				 : "press Enter to go on");
	while (!atomic_load(s->o->interrupted) && s->enters == 0 &&
	       (!deadline || fl_now_ns() < deadline)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += GD_POLL_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->cv, &s->mu, &ts);
	}
	s->enters = 0;
	s->during = NULL;
	pthread_mutex_unlock(&s->mu);
}

/* The interrupt flag: a C11 atomic, since the console thread sets it on
 * "abort" while the runner reads it in another thread, and a signal handler
 * may set it too (no lock could order that). */
static int interrupted(const struct session *s)
{
	return atomic_load(s->o->interrupted) != 0;
}

static int severity(int rc)
{
	switch (rc) {
	case FL_EXIT_INTERRUPTED: return 5;
	case FL_EXIT_ENV: return 4;
	case FL_EXIT_INPUT: return 3;
	case FL_EXIT_FAIL: return 2;
	default: return 0;
	}
}

/* Adds the notes typed during the step's run to it, as events relative to
 * its t0, and stores it again. The lock is held. */
static void store_notes(struct session *s, struct fl_store *st, struct fl_gameday_step *it,
			size_t from, int64_t t0_wall)
{
	struct fl_error e;
	int added = 0;

	for (size_t i = from; i < s->gd->nnotes; i++) {
		const struct fl_gameday_note *n = &s->gd->notes[i];
		struct fl_buf name;
		if (!n->during || strcmp(n->during, it->name))
			continue;
		fl_buf_init(&name, GD_LINE_MAX + 16);
		fl_buf_addf(&name, "%s: %s", n->action ? "action" : "note", n->text);
		if (!name.failed && fl_run_add_event(&it->run, name.buf,
						     (double)(n->wall_ns - t0_wall) / 1e6, NAN) == 0)
			added++;
		fl_buf_release(&name);
	}
	if (!added || it->run.id <= 0 || !st)
		return;
	fl_error_init(&e);
	if (fl_store_run_finish(st, &it->run, &e) < 0)
		show(s, "notes not stored with run %lld: %s", (long long)it->run.id, e.msg);
}

/* One drill per environment when a lock directory is set: the lock, NULL
 * without one, or NULL with *refused set after saying why. */
static struct fl_lock *lock_step(struct session *s, const struct fl_gameday_step *it, int *refused)
{
	struct fl_lock *lock;
	struct fl_error err;
	char *env_name;

	*refused = 0;
	if (!s->o->lock_dir || !*s->o->lock_dir)
		return NULL;
	fl_error_init(&err);
	env_name = fl_lock_scenario_environment(it->scenario, NULL, &err);
	lock = env_name ? fl_lock_environment(s->o->lock_dir, env_name, "faultline gameday", &err)
			: NULL;
	fl_free(env_name);
	if (!lock) {
		pthread_mutex_lock(&s->mu);
		show(s, "%s", err.msg);
		pthread_mutex_unlock(&s->mu);
		*refused = 1;
	}
	return lock;
}

/* Runs one scenario step; its exit class. */
static int run_scenario(struct session *s, struct fl_gameday_step *it, struct fl_store *st,
			const char *host)
{
	struct fl_run_options ro = { .label = s->o->label,
				     .log = s->log,
				     .interrupted = s->o->interrupted };
	struct fl_error err;
	struct fl_lock *lock;
	size_t notes_from;
	int r, refused;

	if (!(lock = lock_step(s, it, &refused)) && refused) {
		it->error = fl_strdup("environment locked");
		return FL_EXIT_ENV;
	}
	pthread_mutex_lock(&s->mu);
	s->step = it;
	s->t0_wall_ns = 0;
	s->manual_step[0] = '\0';
	s->during = it->name;
	s->scenario_running = 1;
	s->hint_shown = fl_calloc(it->nhints + 1, 1);
	notes_from = s->gd->nnotes;
	pthread_mutex_unlock(&s->mu);

	fl_error_init(&err);
	fl_notify_run_start(s->o->notifier, it->scenario, NULL, host);
	r = fl_runner_run(it->scenario, &ro, st, &it->run, &err);
	fflush(s->log);
	fl_notify_run_end(s->o->notifier, &it->run, r, host);
	fl_lock_release(lock);

	pthread_mutex_lock(&s->mu);
	if (fl_error_is_set(&err))
		show(s, "%s", err.msg);
	s->scenario_running = 0;
	s->step = NULL;
	fl_free(s->hint_shown);
	s->hint_shown = NULL;
	it->t0_wall_ns = s->t0_wall_ns;
	store_notes(s, st, it, notes_from, s->t0_wall_ns ? s->t0_wall_ns : it->start_wall_ns);
	s->during = NULL;
	show(s, "%s: %s", it->name, it->run.verdict ? it->run.verdict : "not run");
	pthread_mutex_unlock(&s->mu);
	if (it->run.id <= 0 && fl_error_is_set(&err))
		it->error = fl_strdup(err.msg); /* NULL when out of memory: "could not run" */
	return r;
}

/* Stops the threads, closes the pty and the pipe, gives fd 0 back. */
static void console_close(struct session *s)
{
	if (s->log)
		fclose(s->log);
	s->log = NULL;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_mutex_unlock(&s->mu);
	if (s->threads > 0)
		pthread_join(s->tin, NULL);
	if (s->threads > 1)
		pthread_join(s->tlog, NULL);
	s->threads = 0;
	if (s->saved_in >= 0) {
		dup2(s->saved_in, 0);
		close(s->saved_in);
	}
	if (s->pty_slave >= 0)
		close(s->pty_slave);
	if (s->pty_master >= 0)
		close(s->pty_master);
	if (s->log_fd >= 0)
		close(s->log_fd);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
}

/* fd 0 becomes a pty slave the runner can read Enter from (raw, so a
 * newline arrives as typed); the real input stays with the console thread.
 * 0, or -1 with err set (console_close undoes what was done). */
static int console_open(struct session *s, struct fl_error *err)
{
	struct termios tio;
	int pipefd[2];

	pthread_condattr_t ca;

	s->pty_master = s->pty_slave = s->log_fd = s->saved_in = -1;
	pthread_mutex_init(&s->mu, NULL);
	/* A pause's wait is on the monotonic clock: a wall-clock step (NTP)
	 * must not stretch it. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	/* Close-on-exec, all of them: the drills' programs inherit none (fd 0
	 * is the dup2'ed slave, and spawn gives them /dev/null there). */
	if (openpty(&s->pty_master, &s->pty_slave, NULL, NULL, NULL) < 0 ||
	    fcntl(s->pty_master, F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(s->pty_slave, F_SETFD, FD_CLOEXEC) < 0 || pipe2(pipefd, O_CLOEXEC) < 0)
		return fl_error_set(err, FL_EXIT_ENV,
				    "faultline gameday: cannot set up the console: %s",
				    strerror(errno));
	s->log_fd = pipefd[0];
	if (!(s->log = fdopen(pipefd[1], "w"))) {
		close(pipefd[1]);
		return fl_error_set(err, FL_EXIT_ENV,
				    "faultline gameday: cannot set up the console: %s",
				    strerror(errno));
	}
	setvbuf(s->log, NULL, _IOLBF, 0);
	if (tcgetattr(s->pty_slave, &tio) == 0) {
		cfmakeraw(&tio);
		tcsetattr(s->pty_slave, TCSANOW, &tio);
	}
	/* fd 0 is kept to be given back; when it is also the input, the
	 * console reads the kept copy. */
	if ((s->saved_in = fcntl(0, F_DUPFD_CLOEXEC, 3)) < 0 || dup2(s->pty_slave, 0) < 0)
		return fl_error_set(err, FL_EXIT_ENV,
				    "faultline gameday: cannot set up the console: %s",
				    strerror(errno));
	s->in_fd = s->o->in_fd == 0 ? s->saved_in : s->o->in_fd;
	s->start_ns = fl_now_ns();
	if (pthread_create(&s->tin, NULL, input_thread, s) != 0)
		return fl_error_set(err, FL_EXIT_ENV, "faultline gameday: cannot start the console");
	s->threads = 1;
	if (pthread_create(&s->tlog, NULL, log_thread, s) != 0)
		return fl_error_set(err, FL_EXIT_ENV, "faultline gameday: cannot start the console");
	s->threads = 2;
	return 0;
}

static void greet(struct session *s)
{
	const struct fl_gameday *gd = s->gd;
	pthread_mutex_lock(&s->mu);
	show(s, "GAME DAY: %s", gd->name);
	for (size_t i = 0; i < gd->npeople; i++)
		show(s, "  %s (%s)", gd->people[i].name, gd->people[i].role);
	if (gd->briefing)
		show(s, "BRIEFING: %s", gd->briefing);
	show(s,
	     "type a note + Enter at any time; 'action: ...' for an action item; Enter confirms a manual step or ends a pause; 'abort' reverts everything");
	pthread_mutex_unlock(&s->mu);
}

int fl_gameday_run(struct fl_gameday *gd, const struct fl_gameday_options *o, struct fl_store *st,
		   struct fl_error *err)
{
	struct session s;
	char host[256] = "";
	int rc = FL_EXIT_OK;

	memset(&s, 0, sizeof(s));
	s.gd = gd;
	s.o = o;
	if (console_open(&s, err) < 0) {
		console_close(&s);
		return -1;
	}
	gethostname(host, sizeof(host) - 1);
	gd->start_wall_ns = fl_wall_ns();
	greet(&s);
	for (size_t i = 0; i < gd->nsteps && !interrupted(&s); i++) {
		struct fl_gameday_step *it = &gd->steps[i];
		int r = FL_EXIT_OK;
		it->started = 1;
		it->start_wall_ns = fl_wall_ns();
		if (it->pause)
			run_pause(&s, it);
		else
			r = it->exit_code = run_scenario(&s, it, st, host);
		it->end_wall_ns = fl_wall_ns();
		if (severity(r) > severity(rc))
			rc = r;
	}
	if (interrupted(&s) && rc != FL_EXIT_ENV)
		rc = FL_EXIT_INTERRUPTED;
	console_close(&s);
	/* After the console thread is joined: it sets both on "abort". */
	if (atomic_load(o->interrupted))
		gd->aborted = 1;
	gd->end_wall_ns = fl_wall_ns();
	return rc;
}
