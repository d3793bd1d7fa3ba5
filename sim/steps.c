/*
 * steps: prepare steps run to completion; recovery steps advance one loop
 * turn at a time so the drill loop keeps sampling, checking its stop
 * conditions and its deadline while an action runs or an operator works.
 */
#include "sim/steps.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/spawn.h"
#include "sim/drill.h"

static const char *const step_kind_names[] = {
	[FL_STEP_WAIT] = "wait",
	[FL_STEP_ACTION] = "action",
	[FL_STEP_MANUAL] = "manual",
	[FL_STEP_AWS_RESTORE] = "aws.backup_restore",
};

const char *fl_step_kind_name(enum fl_step_kind k)
{
	return (unsigned)k < FL_ARRAY_LEN(step_kind_names) ? step_kind_names[k] : "?";
}

int fl_step_kind_parse(const char *name, enum fl_step_kind *out)
{
	for (size_t i = 0; name && i < FL_ARRAY_LEN(step_kind_names); i++)
		if (!strcmp(name, step_kind_names[i])) {
			*out = (enum fl_step_kind)i;
			return 0;
		}
	return -1;
}

/* ---- prepare ------------------------------------------------------------- */

/* The last line of a step's output, for its failure reason. */
static const char *last_line(struct fl_buf *out)
{
	char *nl;
	while (out->len && (out->buf[out->len - 1] == '\n' || out->buf[out->len - 1] == ' '))
		out->buf[--out->len] = '\0';
	nl = strrchr(out->buf, '\n');
	return nl ? nl + 1 : out->buf;
}

/* Runs one preparation step to completion: before injection there is
 * nothing else to watch but the interrupt flag and the drill deadline. */
static int prepare_one(struct drill *d, const struct fl_step_spec *s)
{
	struct fl_buf out;
	struct fl_error e;
	struct fl_spawn_opts so = { 0 };
	int status = 0, rc = -1;
	char desc[64];
	int64_t start = fl_now_ns(), timeout = s->timeout_ns;
	fl_buf_init(&out, 64 * 1024);
	fl_error_init(&e);
	so.cwd = fl_doc_dir(d->sc->doc);
	so.stop = d->o->interrupted;
	if (start + timeout > d->clk.deadline)
		timeout = d->clk.deadline > start ? d->clk.deadline - start : 1;
	if (fl_run_argv((const char *const *)s->argv, timeout, &out, &status, &so, &e) < 0) {
		fl_error_set(d->err, FL_EXIT_ENV, "%s: prepare step '%s': %s", d->sc->name, s->name,
			     e.msg);
		drill_outcome(d, FL_OUTCOME_ERROR, NULL);
		goto out;
	}
	if (status == -1 && drill_interrupted(d)) {
		/* Stopped by Ctrl-C, not by its timeout: the drill is interrupted. */
		drill_outcome(d, FL_OUTCOME_INTERRUPTED, "interrupted during %s (step '%s')",
			      fl_stage_name(d->stage), s->name);
		goto out;
	}
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != s->expect_exit) {
		const char *line = last_line(&out);
		fl_error_set(d->err, FL_EXIT_ENV, "%s: prepare step '%s' %s%s%s", d->sc->name,
			     s->name, fl_status_describe(status, desc, sizeof(desc)),
			     line[0] ? ": " : "", line);
		drill_outcome(d, FL_OUTCOME_ERROR, NULL);
		goto out;
	}
	{
		int64_t end = fl_now_ns();
		fl_run_add_phase(d->run, s->name, (double)(start - d->clk.start) / 1e6,
				 (double)(end - d->clk.start) / 1e6);
		d->nprep_phases++;
		drill_say(d, "prepare %s: done in %.3f s", s->name, (double)(end - start) / 1e9);
	}
	rc = 0;
out:
	fl_buf_release(&out);
	return rc;
}

int steps_prepare(struct drill *d)
{
	for (size_t i = 0; i < d->sc->nprepare; i++) {
		const struct fl_step_spec *s = &d->sc->prepare[i];
		if (s->kind != FL_STEP_ACTION) {
			fl_error_set(d->err, FL_EXIT_INPUT,
				     "%s: prepare step '%s' must be an action", d->sc->name, s->name);
			drill_outcome(d, FL_OUTCOME_ERROR, NULL);
			return -1;
		}
		if (prepare_one(d, s) < 0)
			return -1;
	}
	return 0;
}

/* ---- recovery -------------------------------------------------------------- */

static void step_log_close(struct drill *d)
{
	if (d->step.logfd >= 0) {
		close(d->step.logfd);
		d->step.logfd = -1;
	}
	if (d->step.log[0]) {
		unlink(d->step.log);
		d->step.log[0] = '\0';
	}
}

/* Last non-empty line of the step's output, for a failure reason. */
static void step_log_tail(struct drill *d, char *out, size_t n)
{
	char buf[4096];
	ssize_t k;
	out[0] = '\0';
	if (d->step.logfd < 0 || n == 0)
		return;
	off_t end = lseek(d->step.logfd, 0, SEEK_END);
	off_t start = end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0;
	k = pread(d->step.logfd, buf, sizeof(buf) - 1, start);
	if (k <= 0)
		return;
	buf[k] = '\0';
	while (k > 0 && (buf[k - 1] == '\n' || buf[k - 1] == '\r' || buf[k - 1] == ' '))
		buf[--k] = '\0';
	const char *line = strrchr(buf, '\n');
	line = line ? line + 1 : buf;
	/* Keep the end of a long line: that is where the reason usually is. */
	size_t len = strlen(line);
	if (len >= n)
		line += len - (n - 1);
	memcpy(out, line, strlen(line) + 1);
}

static int step_spawn(struct drill *d, const struct fl_step_spec *s, struct fl_error *e)
{
	const char *tmp = getenv("TMPDIR");
	struct fl_spawn_opts so = { 0 };
	snprintf(d->step.log, sizeof(d->step.log), "%s/faultline-step-XXXXXX",
		 tmp && tmp[0] && strlen(tmp) < 40 ? tmp : "/tmp");
	d->step.logfd = mkstemp(d->step.log);
	if (d->step.logfd < 0) {
		d->step.log[0] = '\0';
		return fl_error_set(e, FL_EXIT_ENV, "cannot create a log file for step '%s': %s",
				    s->name, strerror(errno));
	}
	so.cwd = fl_doc_dir(d->sc->doc);
	/* Tagged like an inject: a recovery step outliving a SIGKILLed harness
	 * (a restart, a restore at work) ends before recover reverts. */
	fl_spawn_tag_injects(1);
	d->step.pid = fl_spawn_argv((const char *const *)s->argv, d->step.logfd, &so, e);
	fl_spawn_tag_injects(0);
	return d->step.pid > 0 ? 0 : -1;
}

void steps_abandon(struct drill *d)
{
	fl_aws_restore_free(d->step.restore);
	d->step.restore = NULL;
	if (d->step.pid > 0) {
		kill(-d->step.pid, SIGKILL);
		kill(d->step.pid, SIGKILL);
		waitpid(d->step.pid, NULL, 0);
		d->step.pid = -1;
	}
	step_log_close(d);
}

/* Starts step s: its clock, its process or its prompt. */
static int step_begin(struct drill *d, const struct fl_step_spec *s, int64_t now)
{
	struct fl_error e;
	fl_error_init(&e);
	d->step.start = now;
	d->step.deadline = now + s->timeout_ns;
	drill_say(d, "recovery step %s: started", s->name);
	if (s->kind == FL_STEP_ACTION && step_spawn(d, s, &e) < 0) {
		drill_outcome(d, FL_OUTCOME_FAIL, "recovery step '%s' could not start: %s", s->name,
			      e.msg);
		return -1;
	}
	if (s->kind == FL_STEP_AWS_RESTORE) {
		d->step.restore = fl_aws_restore_start(s->aws, d->env, &e);
		if (!d->step.restore) {
			drill_outcome(d, FL_OUTCOME_FAIL, "recovery step '%s' could not start: %s",
				      s->name, e.msg);
			return -1;
		}
		drill_say(d, "recovery step %s: %s", s->name, fl_aws_restore_what(d->step.restore));
	}
	if (s->kind == FL_STEP_MANUAL && d->o->log)
		fprintf(d->o->log, "\n>>> %s\n>>> press Enter when done (timeout %.0f s)\n",
			s->prompt, (double)s->timeout_ns / 1e9);
	return 0;
}

/* 1 when the action exited as expected, 0 while it runs, -1 failed. */
static int poll_action(struct drill *d, const struct fl_step_spec *s)
{
	int status;
	char desc[64], tail[512];
	pid_t r = waitpid(d->step.pid, &status, WNOHANG);
	if (r != d->step.pid)
		return 0;
	d->step.pid = -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != s->expect_exit) {
		step_log_tail(d, tail, sizeof(tail));
		step_log_close(d);
		drill_outcome(d, FL_OUTCOME_FAIL, "recovery step '%s' %s%s%s", s->name,
			      fl_status_describe(status, desc, sizeof(desc)), tail[0] ? ": " : "",
			      tail);
		return -1;
	}
	step_log_close(d);
	return 1;
}

/* 1 when the operator pressed Enter, 0 while waiting, -1 no operator. */
static int poll_manual(struct drill *d, const struct fl_step_spec *s)
{
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	char line[256];
	ssize_t k;
	if (!isatty(0)) {
		drill_outcome(d, FL_OUTCOME_FAIL,
			      "manual step '%s' needs an operator at a terminal", s->name);
		return -1;
	}
	if (poll(&pfd, 1, 0) <= 0)
		return 0;
	k = read(0, line, sizeof(line));
	if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
		drill_outcome(d, FL_OUTCOME_FAIL,
			      "manual step '%s': the operator's terminal closed", s->name);
		return -1;
	}
	/* Only a whole line (Enter) confirms; stray bytes do not. */
	return k > 0 && (memchr(line, '\n', (size_t)k) || memchr(line, '\r', (size_t)k));
}

/* 1 when the restore job completed, 0 while it runs, -1 failed. */
static int poll_restore(struct drill *d, const struct fl_step_spec *s, int64_t now)
{
	struct fl_error e;
	int r;
	fl_error_init(&e);
	r = fl_aws_restore_poll(d->step.restore, now, &e);
	if (r < 0)
		drill_outcome(d, FL_OUTCOME_FAIL, "recovery step '%s': %s", s->name, e.msg);
	if (r != 0) {
		fl_aws_restore_free(d->step.restore);
		d->step.restore = NULL;
	}
	return r;
}

static struct probe_state *wait_probe(struct drill *d, const struct fl_step_spec *s)
{
	return s->probe ? probe_by_name(d, s->probe) : &d->ps[d->avail];
}

/* Records the finished step's phase. A wait ends where its probe's
 * restoration began, not when the stability window confirmed it. */
static void step_end(struct drill *d, const struct fl_step_spec *s, int64_t now)
{
	int64_t end = now;
	if (s->kind == FL_STEP_WAIT) {
		struct probe_state *p = wait_probe(d, s);
		if (p && fl_timeline_restored(&p->tl))
			end = p->tl.t_restored > d->step.start ? p->tl.t_restored : d->step.start;
	}
	record_phase(d, s->name, d->step.start, end);
	drill_say(d, "recovery step %s: done in %.3f s", s->name,
		  (double)(end - d->step.start) / 1e9);
	d->step.index++;
	d->step.start = -1;
}

int steps_advance(struct drill *d, int64_t now)
{
	while (d->step.index < d->sc->nrecovery) {
		const struct fl_step_spec *s = &d->sc->recovery[d->step.index];
		int done = 0;
		if (d->step.start < 0 && step_begin(d, s, now) < 0)
			return -1;
		switch (s->kind) {
		case FL_STEP_ACTION: done = poll_action(d, s); break;
		case FL_STEP_WAIT: {
			struct probe_state *p = wait_probe(d, s);
			done = p && probe_healthy(p);
			break;
		}
		case FL_STEP_MANUAL: done = poll_manual(d, s); break;
		case FL_STEP_AWS_RESTORE: done = poll_restore(d, s, now); break;
		}
		if (done < 0)
			return -1;
		if (!done) {
			char dur[32];
			if (now < d->step.deadline)
				return 0;
			steps_abandon(d);
			drill_outcome(d, FL_OUTCOME_FAIL, "recovery step '%s' timed out after %s",
				      s->name, fl_duration_format(s->timeout_ns, dur, sizeof(dur)));
			return -1;
		}
		step_end(d, s, now);
	}
	return 1;
}
