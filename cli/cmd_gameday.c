/*
 * cmd_gameday: `faultline gameday PLAN` — runs a game day: the plan's
 * scenarios in order with pauses between them, a live timeline on the
 * terminal, notes anyone can type at any time (stored with the run they
 * were typed in, as events "note: ..." / "action: ..."), hints for manual
 * steps revealed after a delay, `abort` to revert everything, and a debrief
 * page at the end (reports/debrief.h).
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
 *
 * Plan file (strict, like every file):
 *   { "name": "Q4 game day", "briefing": "...",
 *     "participants": [ { "name": "Ana", "role": "facilitator" } ],
 *     "steps": [
 *       { "pause": "Briefing: read the runbook", "duration": "2m" },
 *       { "scenario": "demo-instance-kill.json" },
 *       { "scenario": "gameday-manual.json",
 *         "hints": [ { "step": "operator-resume", "after": "30s", "text": "kill -CONT ..." } ] } ] }
 * A pause without a duration waits for Enter. Scenario paths are taken
 * against the plan's directory.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/doc.h"
#include "core/error.h"
#include "core/scenario.h"
#include "core/store.h"
#include "reports/debrief.h"
#include "sim/lock.h"
#include "sim/notify.h"
#include "sim/runner.h"
#include "sim/recover.h"

#define GD_LINE_MAX 4096
#define GD_POLL_MS 50

static volatile int interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: faultline gameday PLAN [--db FILE] [-o FILE] [--label TEXT] [--notify FILE]\n\n"
		   "Runs a game day: the plan's scenarios in order, with pauses, a live timeline,\n"
		   "notes, hints for manual steps, and a debrief page at the end.\n\n"
		   "While it runs, type a line and Enter:\n"
		   "  (empty) or done   confirm the current manual step, or end a pause\n"
		   "  action: TEXT      an action item for the debrief (also todo:)\n"
		   "  abort             revert everything now and end the day\n"
		   "  anything else     a timestamped note, stored with the running drill\n\n"
		   "  --db FILE      SQLite store (default: $FAULTLINE_DB or faultline.db)\n"
		   "  -o FILE        the debrief page (default debrief.html)\n"
		   "  --label TEXT   version label of the system under test\n"
		   "  --notify FILE  notification channels (default: $FAULTLINE_NOTIFY)\n\n"
		   "exit: 0 all passed, 1 a target was missed, 2 bad input, 3 environment could\n"
		   "not be prepared or reverted, 130 aborted (after revert)\n");
}

/* ---- the plan ------------------------------------------------------------------- */

struct hint {
	char *step, *text;
	int64_t after_ns;
};

struct item {
	int pause;
	char *text;          /* pause text */
	int64_t duration_ns; /* pause: 0 = until Enter */
	char *scenario;      /* resolved path */
	char *name;          /* scenario name (loaded) */
	char **manual;       /* its manual step names, NULL-terminated */
	struct hint *hints;
	size_t nhints;
};

struct plan {
	struct fl_doc *doc;
	char *name, *briefing;
	struct fl_debrief_participant *people;
	char **people_strs;
	size_t npeople;
	struct item *items;
	size_t nitems;
};

static void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->nitems; i++) {
		struct item *it = &p->items[i];
		fl_free(it->text);
		fl_free(it->scenario);
		fl_free(it->name);
		for (size_t k = 0; it->manual && it->manual[k]; k++)
			fl_free(it->manual[k]);
		fl_free(it->manual);
		for (size_t k = 0; k < it->nhints; k++) {
			fl_free(it->hints[k].step);
			fl_free(it->hints[k].text);
		}
		fl_free(it->hints);
	}
	for (size_t i = 0; i < 2 * p->npeople; i++)
		fl_free(p->people_strs[i]);
	fl_free(p->people_strs);
	fl_free(p->people);
	fl_free(p->items);
	fl_free(p->name);
	fl_free(p->briefing);
	fl_doc_free(p->doc);
}

static int load_scenario_item(struct plan *p, json_t *obj, struct item *it, struct fl_error *err)
{
	struct fl_scenario *sc;
	json_t *hints;
	size_t nman = 0;

	if (fl_doc_string(p->doc, obj, "scenario", 1, &it->scenario, err) < 0 ||
	    fl_doc_resolve_path(p->doc, &it->scenario, 1, err) < 0)
		return -1;
	if (!(sc = fl_scenario_load(it->scenario, err)))
		return -1;
	it->name = fl_strdup(sc->name);
	it->manual = fl_calloc(sc->nrecovery + 1, sizeof(*it->manual));
	if (!it->name || !it->manual) {
		fl_scenario_free(sc);
		return fl_error_oom(err, "plan");
	}
	for (size_t k = 0; k < sc->nrecovery; k++)
		if (sc->recovery[k].kind == FL_STEP_MANUAL &&
		    !(it->manual[nman++] = fl_strdup(sc->recovery[k].name))) {
			fl_scenario_free(sc);
			return fl_error_oom(err, "plan");
		}
	fl_scenario_free(sc);
	if (!(hints = fl_doc_array(p->doc, obj, "hints", 0, err)))
		return fl_error_is_set(err) ? -1 : fl_doc_check_keys(p->doc, obj, err);
	it->hints = fl_calloc(json_array_size(hints) + 1, sizeof(*it->hints));
	if (!it->hints)
		return fl_error_oom(err, "plan");
	for (size_t k = 0; k < json_array_size(hints); k++) {
		json_t *h = json_array_get(hints, k);
		struct hint *hi = &it->hints[k];
		int manual = 0;
		if (!json_is_object(h))
			return fl_doc_error_value(p->doc, h, err,
						  "a hint is an object {step, after, text}");
		it->nhints++;
		if (fl_doc_string(p->doc, h, "step", 1, &hi->step, err) < 0 ||
		    fl_doc_string(p->doc, h, "text", 1, &hi->text, err) < 0 ||
		    fl_doc_duration(p->doc, h, "after", 1, &hi->after_ns, err) < 0 ||
		    fl_doc_check_keys(p->doc, h, err) < 0)
			return -1;
		for (size_t m = 0; it->manual[m]; m++)
			manual |= !strcmp(it->manual[m], hi->step);
		if (!manual)
			return fl_doc_error_value(p->doc, json_object_get(h, "step"), err,
						  "scenario '%s' has no manual step '%s'", it->name,
						  hi->step);
	}
	return fl_doc_check_keys(p->doc, obj, err);
}

static int plan_load(const char *path, struct plan *p, struct fl_error *err)
{
	json_t *root, *steps, *people;

	memset(p, 0, sizeof(*p));
	if (!(p->doc = fl_doc_load(path, err)))
		return -1;
	root = fl_doc_root(p->doc);
	if (!json_is_object(root))
		return fl_doc_error_value(p->doc, root, err, "a game-day plan is a JSON object");
	if (fl_doc_string(p->doc, root, "name", 1, &p->name, err) < 0 ||
	    fl_doc_string(p->doc, root, "briefing", 0, &p->briefing, err) < 0)
		return -1;
	if ((people = fl_doc_array(p->doc, root, "participants", 0, err))) {
		size_t n = json_array_size(people);
		p->people = fl_calloc(n + 1, sizeof(*p->people));
		p->people_strs = fl_calloc(2 * n + 1, sizeof(*p->people_strs));
		if (!p->people || !p->people_strs)
			return fl_error_oom(err, "%s", path);
		for (size_t i = 0; i < n; i++) {
			json_t *o = json_array_get(people, i);
			if (!json_is_object(o))
				return fl_doc_error_value(p->doc, o, err,
							  "a participant is an object {name, role}");
			p->npeople++;
			if (fl_doc_string(p->doc, o, "name", 1, &p->people_strs[2 * i], err) < 0 ||
			    fl_doc_string(p->doc, o, "role", 1, &p->people_strs[2 * i + 1], err) < 0 ||
			    fl_doc_check_keys(p->doc, o, err) < 0)
				return -1;
			p->people[i].name = p->people_strs[2 * i];
			p->people[i].role = p->people_strs[2 * i + 1];
		}
	} else if (fl_error_is_set(err)) {
		return -1;
	}
	if (!(steps = fl_doc_array(p->doc, root, "steps", 1, err)))
		return -1;
	if (!json_array_size(steps))
		return fl_doc_error_value(p->doc, steps, err,
					  "'steps' is empty: name at least one scenario");
	p->items = fl_calloc(json_array_size(steps), sizeof(*p->items));
	if (!p->items)
		return fl_error_oom(err, "%s", path);
	for (size_t i = 0; i < json_array_size(steps); i++) {
		json_t *o = json_array_get(steps, i);
		struct item *it = &p->items[i];
		int has_pause, has_sc;
		if (!json_is_object(o))
			return fl_doc_error_value(p->doc, o, err,
						  "a step is an object: {\"scenario\": ...} or {\"pause\": ...}");
		p->nitems++;
		has_pause = json_object_get(o, "pause") != NULL;
		has_sc = json_object_get(o, "scenario") != NULL;
		if (has_pause == has_sc)
			return fl_doc_error_value(p->doc, o, err,
						  "a step has either 'scenario' or 'pause'");
		if (has_pause) {
			it->pause = 1;
			if (fl_doc_string(p->doc, o, "pause", 1, &it->text, err) < 0 ||
			    fl_doc_duration(p->doc, o, "duration", 0, &it->duration_ns, err) < 0 ||
			    fl_doc_check_keys(p->doc, o, err) < 0)
				return -1;
		} else if (load_scenario_item(p, o, it, err) < 0) {
			return -1;
		}
	}
	return fl_doc_check_keys(p->doc, root, err);
}

/* ---- the session ---------------------------------------------------------------- */

struct note {
	int64_t wall_ns;
	char *text;
	int action;
	char *during;
};

struct session {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int in_fd;      /* the real input */
	int pty_master; /* the runner's fd 0 is its slave */
	int log_fd;     /* read end of the runner's progress pipe */
	int stop;       /* threads: finish */
	int64_t start_ns, start_wall_ns;
	struct note *notes;
	size_t nnotes, cap;
	int oom;
	const char *during; /* title of the current step */
	int scenario_running;
	long enters; /* Enter presses not yet consumed by a pause */
	/* the current scenario, from its progress lines */
	int64_t t0_wall_ns;
	const struct item *item;
	char step[256];
	int64_t step_started_ns;
	unsigned char *hint_shown;
};

/* "[+01:02.3] " and a line, to stdout, under the lock. */
static void show(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void show(struct session *s, const char *fmt, ...)
{
	double t = (double)(fl_now_ns() - s->start_ns) / 1e9;
	va_list ap;
	printf("[+%02d:%04.1f] ", (int)(t / 60), t - 60 * (int)(t / 60));
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void add_note(struct session *s, const char *line)
{
	struct note *n;
	int action = !strncmp(line, "action:", 7) || !strncmp(line, "todo:", 5);
	const char *text = line;

	if (action)
		for (text = strchr(line, ':') + 1; *text == ' '; text++)
			;
	if (!*text)
		return;
	if (s->nnotes == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 32;
		struct note *v = fl_realloc(s->notes, cap * sizeof(*v));
		if (!v) {
			s->oom = 1;
			return;
		}
		s->notes = v;
		s->cap = cap;
	}
	n = &s->notes[s->nnotes];
	n->wall_ns = fl_wall_ns();
	n->action = action;
	n->text = fl_strdup(text);
	n->during = s->during ? fl_strdup(s->during) : NULL;
	if (!n->text) {
		fl_free(n->during);
		s->oom = 1;
		return;
	}
	s->nnotes++;
	show(s, "%s noted: %s", action ? "action item" : "note", text);
}

static int manual_step_waiting(const struct session *s)
{
	for (size_t k = 0; s->item && s->step[0] && s->item->manual && s->item->manual[k]; k++)
		if (!strcmp(s->item->manual[k], s->step))
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
		interrupted = 1;
		show(s, "ABORT requested: reverting everything");
	} else {
		add_note(s, line);
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void *input_thread(void *arg)
{
	struct session *s = arg;
	char buf[GD_LINE_MAX];
	size_t len = 0;

	for (;;) {
		struct pollfd pfd = { .fd = s->in_fd, .events = POLLIN };
		ssize_t k;
		int stop;
		pthread_mutex_lock(&s->mu);
		stop = s->stop;
		pthread_mutex_unlock(&s->mu);
		if (stop)
			break;
		if (poll(&pfd, 1, GD_POLL_MS) <= 0)
			continue;
		k = read(s->in_fd, buf + len, sizeof(buf) - 1 - len);
		if (k <= 0) {
			if (k < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			break; /* end of input: the day goes on without a keyboard */
		}
		len += (size_t)k;
		buf[len] = '\0';
		for (char *nl; (nl = memchr(buf, '\n', len));) {
			size_t used = (size_t)(nl - buf) + 1;
			*nl = '\0';
			handle_line(s, buf);
			memmove(buf, buf + used, len - used);
			len -= used;
			buf[len] = '\0';
		}
		if (len == sizeof(buf) - 1) {
			handle_line(s, buf);
			len = 0;
		}
	}
	return NULL;
}

/* Parses one progress line of the runner (sim/runner.c's say()). */
static void progress_line(struct session *s, const char *line)
{
	const char *p;
	show(s, "%s", line);
	if (!s->item)
		return;
	if (!s->t0_wall_ns && strstr(line, ": injected "))
		s->t0_wall_ns = fl_wall_ns();
	if ((p = strstr(line, ": recovery step ")) != NULL) {
		const char *name = p + strlen(": recovery step ");
		const char *colon = strstr(name, ": started");
		if (colon) {
			snprintf(s->step, sizeof(s->step), "%.*s", (int)(colon - name), name);
			s->step_started_ns = fl_now_ns();
		} else if (strstr(name, ": done") || strstr(name, "timed out")) {
			s->step[0] = '\0';
		}
	}
}

static void reveal_hints(struct session *s)
{
	const struct item *it = s->item;
	if (!it || !s->step[0] || !s->hint_shown)
		return;
	for (size_t k = 0; k < it->nhints; k++) {
		if (s->hint_shown[k] || strcmp(it->hints[k].step, s->step) ||
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
		pthread_mutex_lock(&s->mu);
		reveal_hints(s);
		pthread_mutex_unlock(&s->mu);
		if (r <= 0)
			continue;
		ssize_t k = read(s->log_fd, buf + len, sizeof(buf) - 1 - len);
		if (k <= 0) {
			if (k < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			break; /* write end closed: the day is over */
		}
		len += (size_t)k;
		buf[len] = '\0';
		pthread_mutex_lock(&s->mu);
		for (char *nl; (nl = memchr(buf, '\n', len));) {
			size_t used = (size_t)(nl - buf) + 1;
			*nl = '\0';
			if (buf[0])
				progress_line(s, buf);
			memmove(buf, buf + used, len - used);
			len -= used;
			buf[len] = '\0';
		}
		if (len == sizeof(buf) - 1) {
			progress_line(s, buf);
			len = 0;
		}
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

/* Waits for Enter, the pause's duration, or abort. */
static void run_pause(struct session *s, const struct item *it)
{
	int64_t deadline = it->duration_ns > 0 ? fl_now_ns() + it->duration_ns : 0;
	char d[32];

	pthread_mutex_lock(&s->mu);
	s->enters = 0;
	s->during = it->text;
	show(s, "PAUSE: %s (%s)", it->text,
	     it->duration_ns > 0 ? fl_duration_format(it->duration_ns, d, sizeof(d))
				 : "press Enter to go on");
	while (!interrupted && s->enters == 0 && (!deadline || fl_now_ns() < deadline)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
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

/* Adds the notes typed during the run to it, as events relative to its t0,
 * and stores it again. */
static void store_notes(struct session *s, struct fl_store *st, struct fl_run *run, size_t from,
			int64_t t0_wall, const char *title)
{
	struct fl_error e;
	int added = 0;

	for (size_t i = from; i < s->nnotes; i++) {
		struct fl_buf name;
		if (!s->notes[i].during || strcmp(s->notes[i].during, title))
			continue;
		fl_buf_init(&name, GD_LINE_MAX + 16);
		fl_buf_addf(&name, "%s: %s", s->notes[i].action ? "action" : "note",
			    s->notes[i].text);
		if (!name.failed &&
		    fl_run_add_event(run, name.buf, (double)(s->notes[i].wall_ns - t0_wall) / 1e6,
				     NAN) == 0)
			added++;
		fl_buf_release(&name);
	}
	if (!added || run->id <= 0 || !st)
		return;
	fl_error_init(&e);
	if (fl_store_run_finish(st, run, &e) < 0)
		fprintf(stderr, "faultline gameday: notes not stored with run %lld: %s\n",
			(long long)run->id, e.msg);
}

static int write_file(const char *path, const struct fl_buf *data, struct fl_error *err)
{
	struct fl_buf tmp;
	int fd, rc = -1;

	fl_buf_init(&tmp, 4096);
	fl_buf_addf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	fd = tmp.failed ? -1 : open(tmp.buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot write: %s", path, strerror(errno));
		goto out;
	}
	if (write(fd, data->buf, data->len) != (ssize_t)data->len || fsync(fd) < 0 ||
	    close(fd) < 0 || rename(tmp.buf, path) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot write: %s", path, strerror(errno));
		unlink(tmp.buf);
		goto out;
	}
	rc = 0;
out:
	fl_buf_release(&tmp);
	return rc;
}

int cmd_gameday(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "label", required_argument, NULL, 'l' },
		{ "notify", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct plan plan;
	struct session s;
	struct fl_run_options o;
	struct fl_error err;
	struct fl_store *st = NULL;
	struct fl_notifier *notifier = NULL;
	struct fl_run *runs = NULL;
	struct fl_debrief_item *ditems = NULL;
	struct fl_debrief_note *dnotes = NULL;
	struct fl_buf page;
	struct sigaction sa, old_int, old_term;
	const char *db = fl_cli_default_db(), *out_path = "debrief.html", *plan_path = NULL;
	const char *notify_path = getenv("FAULTLINE_NOTIFY"),
		   *lock_dir = getenv("FAULTLINE_LOCK_DIR");
	pthread_t tin, tlog;
	int pipefd[2] = { -1, -1 }, saved_in = -1, slave = -1, have_threads = 0, rc = FL_EXIT_OK;
	char host[256] = "";
	FILE *log = NULL;

	memset(&plan, 0, sizeof(plan));
	memset(&s, 0, sizeof(s));
	memset(&o, 0, sizeof(o));
	fl_error_init(&err);
	fl_buf_init(&page, 0);
	optind = 1;
	opterr = 0;
	for (int c; (c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1;) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'o': out_path = optarg; break;
		case 'l': o.label = optarg; break;
		case 'n': notify_path = optarg; break;
		case 'h': usage(stdout); return 0;
		default:
			return fl_cli_usage_error("gameday", "unknown or incomplete option '%s'",
						  argv[optind - 1]);
		}
	}
	if (optind < argc)
		plan_path = argv[optind++];
	if (optind < argc)
		return fl_cli_usage_error("gameday", "one plan at a time ('%s' and '%s')",
					  plan_path, argv[optind]);
	if (!plan_path)
		return fl_cli_usage_error("gameday", "name a game-day plan file");

	/* Everything is checked before anyone is told the day has started. */
	if (plan_load(plan_path, &plan, &err) < 0)
		goto fail_early;
	for (size_t i = 0; i < plan.nitems; i++)
		if (!plan.items[i].pause && fl_runner_check(plan.items[i].scenario, &o, &err) < 0)
			goto fail_early;
	if (!(st = fl_store_open(db, &err)))
		goto fail_early;
	{
		int left = fl_runner_recover(st, stderr, &err);
		if (left != 0) {
			if (left > 0)
				fl_error_set(&err, FL_EXIT_ENV,
					     "faultline gameday: %d fault(s) from an earlier drill could not be reverted; run 'faultline recover' first",
					     left);
			goto fail_early;
		}
	}
	if (notify_path && *notify_path && !(notifier = fl_notifier_open(notify_path, &err)))
		goto fail_early;
	gethostname(host, sizeof(host) - 1);
	runs = fl_calloc(plan.nitems, sizeof(*runs));
	ditems = fl_calloc(plan.nitems, sizeof(*ditems));
	if (!runs || !ditems) {
		fl_error_oom(&err, "faultline gameday");
		goto fail_early;
	}
	for (size_t i = 0; i < plan.nitems; i++)
		fl_run_init(&runs[i]);

	/* The terminal: fd 0 becomes a pty slave the runner can read Enter
	 * from; we keep the real input. */
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	if (openpty(&s.pty_master, &slave, NULL, NULL, NULL) < 0 || pipe(pipefd) < 0) {
		fl_error_set(&err, FL_EXIT_ENV, "faultline gameday: cannot set up the console: %s",
			     strerror(errno));
		goto fail_early;
	}
	{
		struct termios tio;
		if (tcgetattr(slave, &tio) == 0) {
			cfmakeraw(&tio);
			tcsetattr(slave, TCSANOW, &tio);
		}
	}
	saved_in = dup(0);
	if (saved_in < 0 || dup2(slave, 0) < 0 || !(log = fdopen(pipefd[1], "w"))) {
		fl_error_set(&err, FL_EXIT_ENV, "faultline gameday: cannot set up the console: %s",
			     strerror(errno));
		goto fail_early;
	}
	pipefd[1] = -1;
	setvbuf(log, NULL, _IOLBF, 0);
	s.in_fd = saved_in;
	s.log_fd = pipefd[0];
	s.start_ns = fl_now_ns();
	s.start_wall_ns = fl_wall_ns();
	if (pthread_create(&tin, NULL, input_thread, &s) != 0) {
		fl_error_set(&err, FL_EXIT_ENV, "faultline gameday: cannot start the console");
		goto fail_early;
	}
	if (pthread_create(&tlog, NULL, log_thread, &s) != 0) {
		pthread_mutex_lock(&s.mu);
		s.stop = 1;
		pthread_mutex_unlock(&s.mu);
		pthread_join(tin, NULL);
		fl_error_set(&err, FL_EXIT_ENV, "faultline gameday: cannot start the console");
		goto fail_early;
	}
	have_threads = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	pthread_mutex_lock(&s.mu);
	show(&s, "GAME DAY: %s", plan.name);
	for (size_t i = 0; i < plan.npeople; i++)
		show(&s, "  %s (%s)", plan.people[i].name, plan.people[i].role);
	if (plan.briefing)
		show(&s, "BRIEFING: %s", plan.briefing);
	show(&s,
	     "type a note + Enter at any time; 'action: ...' for an action item; Enter confirms a manual step or ends a pause; 'abort' reverts everything");
	pthread_mutex_unlock(&s.mu);

	o.log = log;
	o.interrupted = &interrupted;
	for (size_t i = 0; i < plan.nitems && !interrupted; i++) {
		const struct item *it = &plan.items[i];
		struct fl_debrief_item *di = &ditems[i];
		struct fl_lock *lock = NULL;
		size_t notes_from;
		int r;

		di->start_wall_ns = fl_wall_ns();
		if (it->pause) {
			di->kind = FL_DEBRIEF_PAUSE;
			di->title = it->text;
			run_pause(&s, it);
			di->end_wall_ns = fl_wall_ns();
			continue;
		}
		di->kind = FL_DEBRIEF_SCENARIO;
		di->title = it->name;
		di->manual_steps = (const char *const *)it->manual;
		fl_error_init(&err);
		if (lock_dir && *lock_dir) {
			char *env_name = fl_lock_scenario_environment(it->scenario, NULL, &err);
			lock = env_name ? fl_lock_environment(lock_dir, env_name,
							      "faultline gameday", &err)
					: NULL;
			fl_free(env_name);
			if (!lock) {
				pthread_mutex_lock(&s.mu);
				show(&s, "%s", err.msg);
				pthread_mutex_unlock(&s.mu);
				di->error = "environment locked";
				di->exit_code = FL_EXIT_ENV;
				di->end_wall_ns = fl_wall_ns();
				if (severity(FL_EXIT_ENV) > severity(rc))
					rc = FL_EXIT_ENV;
				continue;
			}
		}
		pthread_mutex_lock(&s.mu);
		s.item = it;
		s.t0_wall_ns = 0;
		s.step[0] = '\0';
		s.during = it->name;
		s.scenario_running = 1;
		s.hint_shown = fl_calloc(it->nhints + 1, 1);
		notes_from = s.nnotes;
		pthread_mutex_unlock(&s.mu);

		fl_notify_run_start(notifier, it->scenario, NULL, host);
		r = fl_runner_run(it->scenario, &o, st, &runs[i], &err);
		fflush(log);
		if (fl_error_is_set(&err)) {
			pthread_mutex_lock(&s.mu);
			show(&s, "%s", err.msg);
			pthread_mutex_unlock(&s.mu);
		}
		fl_notify_run_end(notifier, &runs[i], r, host);
		fl_lock_release(lock);

		pthread_mutex_lock(&s.mu);
		s.scenario_running = 0;
		s.item = NULL;
		fl_free(s.hint_shown);
		s.hint_shown = NULL;
		di->t0_wall_ns = s.t0_wall_ns;
		store_notes(&s, st, &runs[i], notes_from,
			    s.t0_wall_ns ? s.t0_wall_ns : di->start_wall_ns, it->name);
		s.during = NULL;
		show(&s, "%s: %s", it->name, runs[i].verdict ? runs[i].verdict : "not run");
		pthread_mutex_unlock(&s.mu);
		di->run = runs[i].id > 0 ? &runs[i] : NULL;
		di->exit_code = r;
		di->end_wall_ns = fl_wall_ns();
		if (!di->run && fl_error_is_set(&err) && !(di->error = fl_strdup(err.msg)))
			di->error = "could not run";
		if (severity(r) > severity(rc))
			rc = r;
	}
	if (interrupted && rc != FL_EXIT_ENV)
		rc = FL_EXIT_INTERRUPTED;

	/* The console is done: stop the threads, give fd 0 back. */
	fclose(log);
	log = NULL;
	pthread_mutex_lock(&s.mu);
	s.stop = 1;
	pthread_mutex_unlock(&s.mu);
	pthread_join(tin, NULL);
	pthread_join(tlog, NULL);
	have_threads = 0;
	dup2(saved_in, 0);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);

	{
		struct fl_debrief d = { .name = plan.name,
					.briefing = plan.briefing,
					.participants = plan.people,
					.nparticipants = plan.npeople,
					.items = ditems,
					.nitems = plan.nitems,
					.start_wall_ns = s.start_wall_ns,
					.end_wall_ns = fl_wall_ns(),
					.aborted = interrupted };
		size_t nitems = 0;
		dnotes = fl_calloc(s.nnotes + 1, sizeof(*dnotes));
		if (!dnotes) {
			fl_error_oom(&err, "faultline gameday");
			goto fail;
		}
		for (size_t i = 0; i < s.nnotes; i++) {
			dnotes[i].wall_ns = s.notes[i].wall_ns;
			dnotes[i].text = s.notes[i].text;
			dnotes[i].action = s.notes[i].action;
			dnotes[i].during = s.notes[i].during;
		}
		for (size_t i = 0; i < plan.nitems; i++)
			nitems += ditems[i].start_wall_ns != 0;
		d.nitems = nitems;
		d.notes = dnotes;
		d.nnotes = s.nnotes;
		fl_error_init(&err);
		if (fl_debrief_write_html(&d, &page, &err) < 0 ||
		    write_file(out_path, &page, &err) < 0)
			goto fail;
		printf("debrief written to %s\n", out_path);
	}
	goto out;
fail_early:
	rc = fl_cli_fail(&err);
	goto out;
fail:
	fprintf(stderr, "%s\n", err.msg);
	if (severity(FL_EXIT_ENV) > severity(rc))
		rc = FL_EXIT_ENV;
out:
	if (log)
		fclose(log);
	if (have_threads) {
		pthread_mutex_lock(&s.mu);
		s.stop = 1;
		pthread_mutex_unlock(&s.mu);
		pthread_join(tin, NULL);
		pthread_join(tlog, NULL);
	}
	if (saved_in >= 0) {
		dup2(saved_in, 0);
		close(saved_in);
	}
	if (slave >= 0)
		close(slave);
	if (s.pty_master > 0)
		close(s.pty_master);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (notifier) {
		struct fl_buf nf;
		fl_buf_init(&nf, 1 << 20);
		fl_notifier_close(notifier, &nf);
		if (nf.len)
			fputs(nf.buf, stderr);
		fl_buf_release(&nf);
	}
	for (size_t i = 0; i < s.nnotes; i++) {
		fl_free(s.notes[i].text);
		fl_free(s.notes[i].during);
	}
	fl_free(s.notes);
	for (size_t i = 0; runs && i < plan.nitems; i++) {
		fl_run_release(&runs[i]);
		if (ditems && ditems[i].error && strcmp(ditems[i].error, "environment locked") &&
		    strcmp(ditems[i].error, "could not run"))
			fl_free(FL_UNCONST(char *, ditems[i].error));
	}
	fl_free(runs);
	fl_free(ditems);
	fl_free(dnotes);
	fl_buf_release(&page);
	fl_store_close(st);
	plan_free(&plan);
	return rc;
}

const struct fl_cmd fl_cmd_gameday = {
	.name = "gameday",
	.summary = "run a game day: scenarios in order, notes, hints, abort, a debrief page",
	.legacy_main = cmd_gameday,
};
