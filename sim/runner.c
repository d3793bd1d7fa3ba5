/*
 * runner: one drill on the timeline of docs/measurement.md, and `recover`.
 *
 * The drill is a single-threaded loop: probes and writers sample in their
 * own threads; each turn of the loop takes the new samples, advances the
 * per-probe timelines, checks the stop conditions, the drill timeout and the
 * interrupt flag, reverts faults whose duration is over, and moves the drill
 * one step along its stages. Nothing here sleeps blindly: every wait is on a
 * new sample or a deadline.
 */
#include "sim/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim/alert.h"
#include "sim/backup.h"
#include "core/environment.h"
#include "injectors/injector.h"
#include "core/inventory.h"
#include "sim/probe.h"
#include "core/scenario.h"
#include "sim/resolve.h"
#include "sim/timeline.h"
#include "sim/writer.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/url.h"
#include "core/spawn.h"

#define SAMPLE_BATCH 256
#define LOOP_SLICE_NS (5 * FL_NS_PER_MS)
#define STEADY_EXTRA_NS (15 * FL_NS_PER_S)
#define REVERT_STEP_TIMEOUT_NS (30 * FL_NS_PER_S)

enum fault_state { FAULT_WAITING, FAULT_INJECTED, FAULT_REVERTED, FAULT_REVERT_FAILED };

struct active_fault {
	const struct fl_fault_spec *spec;
	const struct fl_target *target;
	const struct fl_injector_ops *ops;
	json_t *revert;
	char *desc;
	int64_t journal_id;
	int64_t inject_at;   /* monotonic; when to inject */
	int64_t t_inject;    /* monotonic; -1 until injected */
	int64_t revert_at;   /* monotonic; -1 = at the end */
	int64_t t_revert;
	enum fault_state state;
};

struct probe_state {
	const struct fl_probe_spec *spec;
	int idx;
	size_t seen;                 /* samples consumed for last/streak */
	size_t fed;                  /* samples fed to the timeline */
	struct fl_timeline tl;
	int has_last;
	struct fl_sample last;
	int64_t fail_since;          /* placed time of the first failure of the current streak, -1 */
	int64_t ok_since;            /* placed time of the first ok of the current ok run, -1 */
};

enum stage { ST_INJECT, ST_WATCH, ST_STEP, ST_RESTORE, ST_VALIDATE, ST_DONE };

struct drill {
	const struct fl_run_options *o;
	struct fl_scenario *sc;
	struct fl_environment *env;
	struct fl_inventory *inv;
	struct fl_store *st;
	struct fl_run *run;
	struct fl_error *err;
	struct fl_probe_engine *eng;
	struct probe_state *ps;
	size_t nps;
	struct fl_writer **writers;
	struct active_fault *faults;
	size_t nfaults;
	size_t avail, detect;          /* indexes into ps */
	int64_t t_start;               /* monotonic start of the drill */
	int64_t deadline;              /* drill timeout */
	int64_t t0, t_detect, t_restored, restored_unc, t_impact, impact_unc, t_validated;
	int64_t t_last_inject;
	enum stage stage;
	size_t step;                   /* current recovery step */
	pid_t step_pid;
	int64_t step_start, step_deadline;
	int step_logfd;
	char step_log[64];
	int failed;                    /* a target missed or a step failed: verdict fail */
	int aborted;                   /* stop condition: verdict aborted */
	int errored;                   /* the drill itself could not run: verdict error */
	int interrupted;
	int revert_failed;
	int no_detection;
	int results_filled;
	int journal_stale;             /* a journal update failed: recover must close rows */
	int64_t last_live;
	struct fl_alert_watch *alert;        /* detection by an external alert, or NULL */
	struct fl_alert_observation alert_obs;
};

/* ---- logging --------------------------------------------------------------- */

static void say(struct drill *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct drill *d, const char *fmt, ...)
{
	va_list ap;
	FILE *f = d->o->log;
	if (!f)
		return;
	if (d->o->live)
		fputs("\r\033[K", f);
	fprintf(f, "%s: ", d->sc ? d->sc->name : "faultline");
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fflush(f);
}

static double rel_ms(const struct drill *d, int64_t t)
{
	return (double)(t - d->t0) / 1e6;
}

static const char *stage_name(enum stage s)
{
	switch (s) {
	case ST_INJECT: return "inject";
	case ST_WATCH: return "detect";
	case ST_STEP: return "recover";
	case ST_RESTORE: return "restore";
	case ST_VALIDATE: return "validate";
	case ST_DONE: return "revert";
	}
	return "?";
}

static void live_line(struct drill *d, int64_t now)
{
	FILE *f = d->o->log;
	if (!f || !d->o->live || now - d->last_live < 100 * FL_NS_PER_MS)
		return;
	d->last_live = now;
	fprintf(f, "\r\033[K%s: %s", d->sc->name, stage_name(d->stage));
	if (d->stage == ST_STEP && d->step < d->sc->nrecovery)
		fprintf(f, " (%s)", d->sc->recovery[d->step].name);
	if (d->t0 >= 0)
		fprintf(f, "  t0%+.3f s", (double)(now - d->t0) / 1e9);
	fflush(f);
}

/* ---- samples ------------------------------------------------------------- */

static void ingest(struct drill *d, int64_t now)
{
	struct fl_sample buf[SAMPLE_BATCH];
	for (size_t i = 0; i < d->nps; i++) {
		struct probe_state *p = &d->ps[i];
		size_t n;
		while ((n = fl_probe_engine_samples(d->eng, p->idx, p->seen, buf, SAMPLE_BATCH)) > 0) {
			for (size_t k = 0; k < n; k++) {
				int64_t t = fl_sample_time(&buf[k]);
				p->last = buf[k];
				p->has_last = 1;
				if (buf[k].ok) {
					p->fail_since = -1;
					if (p->ok_since < 0)
						p->ok_since = t;
				} else {
					p->ok_since = -1;
					if (p->fail_since < 0)
						p->fail_since = t;
				}
			}
			p->seen += n;
			if (n < SAMPLE_BATCH)
				break;
		}
		if (d->t0 < 0)
			continue;
		while ((n = fl_probe_engine_samples(d->eng, p->idx, p->fed, buf, SAMPLE_BATCH)) > 0) {
			for (size_t k = 0; k < n; k++)
				fl_timeline_feed(&p->tl, &buf[k]);
			p->fed += n;
			if (n < SAMPLE_BATCH)
				break;
		}
		fl_timeline_tick(&p->tl, now);
	}
}

static struct probe_state *probe_by_name(struct drill *d, const char *name)
{
	for (size_t i = 0; i < d->nps; i++)
		if (!strcmp(d->ps[i].spec->name, name))
			return &d->ps[i];
	return NULL;
}

/* A probe is healthy again: restored per its timeline, or never impacted and
 * its latest sample ok. */
static int probe_healthy(const struct probe_state *p)
{
	if (fl_timeline_impacted(&p->tl))
		return fl_timeline_restored(&p->tl);
	return p->has_last && p->last.ok;
}

/* ---- faults ---------------------------------------------------------------- */

static int fault_inject(struct drill *d, struct active_fault *f)
{
	struct fl_error e;
	int64_t t;
	fl_error_init(&e);
	f->revert = f->ops->prepare(f->spec, f->target, &e);
	if (!f->revert) {
		fl_error_set(d->err, FL_EXIT_ENV, "%s: fault '%s': %s", d->sc->name, f->spec->name, e.msg);
		return -1;
	}
	if (fl_journal_begin(d->st, d->run->id, f->ops->name, f->target ? f->target->name : NULL,
			     f->desc, f->revert, &f->journal_id, &e) < 0) {
		fl_error_set(d->err, FL_EXIT_ENV, "%s: fault '%s' not injected: journal: %s",
			     d->sc->name, f->spec->name, e.msg);
		return -1;
	}
	f->state = FAULT_INJECTED; /* from here on it must be reverted, whatever happens */
	if (f->ops->inject(f->spec, f->target, f->revert, &e) < 0) {
		fl_error_set(d->err, FL_EXIT_ENV, "%s: fault '%s' could not be injected: %s",
			     d->sc->name, f->spec->name, e.msg);
		return -1;
	}
	t = fl_now_ns();
	f->t_inject = t;
	if (d->t0 < 0)
		d->t0 = t;
	d->t_last_inject = t;
	if (f->spec->duration_ns > 0)
		f->revert_at = t + f->spec->duration_ns;
	fl_error_init(&e);
	if (fl_journal_mark(d->st, f->journal_id, FL_JOURNAL_INJECTED, f->revert, NULL, &e) < 0)
		say(d, "warning: journal not updated after injecting '%s': %s", f->spec->name, e.msg);
	say(d, "injected %s: %s", f->spec->name, f->desc);
	return 0;
}

static void fault_revert(struct drill *d, struct active_fault *f)
{
	struct fl_error e;
	if (f->state != FAULT_INJECTED && f->state != FAULT_REVERT_FAILED)
		return;
	fl_error_init(&e);
	if (f->ops->revert(f->revert, &e) < 0) {
		struct fl_error e2;
		fl_error_init(&e2);
		f->state = FAULT_REVERT_FAILED;
		d->revert_failed = 1;
		fl_journal_mark(d->st, f->journal_id, FL_JOURNAL_REVERT_FAILED, NULL, e.msg, &e2);
		say(d, "REVERT FAILED %s: %s (run 'faultline recover' or revert by hand)",
		    f->spec->name, e.msg);
		fl_run_add_failure(d->run, "revert of fault '%s' failed: %s", f->spec->name, e.msg);
		return;
	}
	f->state = FAULT_REVERTED;
	f->t_revert = fl_now_ns();
	fl_error_init(&e);
	if (fl_journal_mark(d->st, f->journal_id, FL_JOURNAL_REVERTED, f->revert, NULL, &e) < 0) {
		d->journal_stale = 1;
		say(d, "warning: journal not updated after reverting '%s': %s", f->spec->name, e.msg);
		fl_run_add_failure(d->run, "fault '%s' was reverted but the journal could not record it: %s",
				   f->spec->name, e.msg);
	}
	say(d, "reverted %s", f->spec->name);
}

#define BACKUP_INFO_TIMEOUT_NS (30 * FL_NS_PER_S)

/* Records the asset's newest good backup on the run (inventory key
 * backup_info). Asked after the faults are reverted, so the catalogue is
 * read from a healthy system; a failure is a warning, never a verdict: the
 * drill measured what it measured, only the backup figure is missing. */
static void record_backup(struct drill *d)
{
	const struct fl_asset *a;
	struct fl_backup_info bi;
	struct fl_error e;
	int rc;
	if (!d->inv || !d->sc || !d->sc->asset || d->interrupted)
		return;
	a = fl_inventory_asset(d->inv, d->sc->asset);
	if (!a || !a->backup_info)
		return;
	fl_error_init(&e);
	rc = fl_backup_info_run((const char *const *)a->backup_info, fl_doc_dir(d->inv->doc),
				BACKUP_INFO_TIMEOUT_NS, d->o->interrupted, &bi, &e);
	if (rc < 0) {
		say(d, "warning: last good backup of '%s' not recorded: %s", a->name, e.msg);
		return;
	}
	if (rc == 0) {
		say(d, "warning: '%s' has no good backup in its catalogue", a->name);
		return;
	}
	fl_free(d->run->backup_last_good_type);
	d->run->backup_last_good_type = fl_strdup(bi.type);
	d->run->backup_last_good_wall_ns = d->run->backup_last_good_type ? bi.stop_wall_ns : 0;
	say(d, "last good backup of '%s': %s (%s)", a->name, bi.label, bi.type);
}

static void revert_all(struct drill *d)
{
	for (size_t i = d->nfaults; i-- > 0;)
		fault_revert(d, &d->faults[i]);
}

/* ---- steps ----------------------------------------------------------------- */

static void step_log_close(struct drill *d)
{
	if (d->step_logfd >= 0) {
		close(d->step_logfd);
		d->step_logfd = -1;
	}
	if (d->step_log[0]) {
		unlink(d->step_log);
		d->step_log[0] = '\0';
	}
}

/* Last non-empty line of the step's output, for a failure reason. */
static void step_log_tail(struct drill *d, char *out, size_t n)
{
	char buf[4096];
	ssize_t k;
	out[0] = '\0';
	if (d->step_logfd < 0)
		return;
	off_t end = lseek(d->step_logfd, 0, SEEK_END);
	off_t start = end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0;
	k = pread(d->step_logfd, buf, sizeof(buf) - 1, start);
	if (k <= 0)
		return;
	buf[k] = '\0';
	while (k > 0 && (buf[k - 1] == '\n' || buf[k - 1] == '\r' || buf[k - 1] == ' '))
		buf[--k] = '\0';
	const char *line = strrchr(buf, '\n');
	line = line ? line + 1 : buf;
	/* Keep the end of a long line: that is where the reason usually is. */
	size_t len = strlen(line);
	if (n == 0)
		return;
	if (len >= n)
		line += len - (n - 1);
	memcpy(out, line, strlen(line) + 1);
}

static int step_spawn(struct drill *d, const struct fl_step_spec *s, struct fl_error *e)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(d->step_log, sizeof(d->step_log), "%s/faultline-step-XXXXXX",
		 tmp && tmp[0] && strlen(tmp) < 40 ? tmp : "/tmp");
	d->step_logfd = mkstemp(d->step_log);
	if (d->step_logfd < 0) {
		d->step_log[0] = '\0';
		return fl_error_set(e, FL_EXIT_ENV, "cannot create a log file for step '%s': %s",
				    s->name, strerror(errno));
	}
	struct fl_spawn_opts so = { 0 };
	so.cwd = fl_doc_dir(d->sc->doc);
	d->step_pid = fl_spawn_argv((const char *const *)s->argv, d->step_logfd, &so, e);
	return d->step_pid > 0 ? 0 : -1;
}

/* Runs a preparation step to completion (before injection: nothing else to watch
 * but the interrupt flag). */
static int run_prepare_step(struct drill *d, const struct fl_step_spec *s)
{
	struct fl_buf out;
	struct fl_error e;
	struct fl_spawn_opts so = { 0 };
	int status = 0, rc = -1;
	char desc[64];
	int64_t start = fl_now_ns();
	fl_buf_init(&out, 64 * 1024);
	fl_error_init(&e);
	so.cwd = fl_doc_dir(d->sc->doc);
	so.stop = d->o->interrupted;
	if (s->kind != FL_STEP_ACTION) {
		fl_error_set(d->err, FL_EXIT_INPUT, "%s: prepare step '%s' must be an action",
			     d->sc->name, s->name);
		goto out;
	}
	if (fl_run_argv((const char *const *)s->argv, s->timeout_ns, &out, &status, &so, &e) < 0) {
		fl_error_set(d->err, FL_EXIT_ENV, "%s: prepare step '%s': %s", d->sc->name, s->name, e.msg);
		goto out;
	}
	if (status == -1 && d->o->interrupted && *d->o->interrupted) {
		/* Stopped by Ctrl-C, not by its timeout: the drill is interrupted. */
		d->interrupted = 1;
		fl_run_add_failure(d->run, "interrupted during prepare step '%s'", s->name);
		goto out;
	}
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != s->expect_exit) {
		char *nl;
		while (out.len && (out.buf[out.len - 1] == '\n' || out.buf[out.len - 1] == ' '))
			out.buf[--out.len] = '\0';
		nl = strrchr(out.buf, '\n');
		fl_error_set(d->err, FL_EXIT_ENV, "%s: prepare step '%s' %s%s%s", d->sc->name, s->name,
			     fl_status_describe(status, desc, sizeof(desc)), out.len ? ": " : "",
			     nl ? nl + 1 : out.buf);
		goto out;
	}
	{
		int64_t end = fl_now_ns();
		/* Stored relative to t0 later: keep absolute for now in the phase list. */
		fl_run_add_phase(d->run, s->name, (double)start, (double)end);
		say(d, "prepare %s: done in %.3f s", s->name, (double)(end - start) / 1e9);
	}
	rc = 0;
out:
	fl_buf_release(&out);
	return rc;
}

static void record_phase(struct drill *d, const char *name, int64_t start, int64_t end)
{
	fl_run_add_phase(d->run, name, rel_ms(d, start), rel_ms(d, end));
}

static void step_abandon(struct drill *d)
{
	if (d->step_pid > 0) {
		kill(-d->step_pid, SIGKILL);
		kill(d->step_pid, SIGKILL);
		waitpid(d->step_pid, NULL, 0);
		d->step_pid = -1;
	}
	step_log_close(d);
}

/* Advances the current recovery step. Returns 1 when all steps are done. */
static int step_advance(struct drill *d, int64_t now)
{
	while (d->step < d->sc->nrecovery) {
		const struct fl_step_spec *s = &d->sc->recovery[d->step];
		struct fl_error e;
		int done = 0;
		fl_error_init(&e);
		if (d->step_start < 0) {
			d->step_start = now;
			d->step_deadline = now + s->timeout_ns;
			say(d, "recovery step %s: started", s->name);
			if (s->kind == FL_STEP_ACTION && step_spawn(d, s, &e) < 0) {
				fl_run_add_failure(d->run, "recovery step '%s' could not start: %s",
						   s->name, e.msg);
				d->failed = 1;
				return -1;
			}
			if (s->kind == FL_STEP_MANUAL && d->o->log)
				fprintf(d->o->log, "\n>>> %s\n>>> press Enter when done (timeout %.0f s)\n",
					s->prompt, (double)s->timeout_ns / 1e9);
		}
		switch (s->kind) {
		case FL_STEP_ACTION: {
			int status;
			pid_t r = waitpid(d->step_pid, &status, WNOHANG);
			if (r == d->step_pid) {
				char desc[64], tail[512];
				d->step_pid = -1;
				if (!WIFEXITED(status) || WEXITSTATUS(status) != s->expect_exit) {
					step_log_tail(d, tail, sizeof(tail));
					fl_run_add_failure(d->run, "recovery step '%s' %s%s%s", s->name,
							   fl_status_describe(status, desc, sizeof(desc)),
							   tail[0] ? ": " : "", tail);
					step_log_close(d);
					d->failed = 1;
					return -1;
				}
				step_log_close(d);
				done = 1;
			}
			break;
		}
		case FL_STEP_WAIT: {
			struct probe_state *p = s->probe ? probe_by_name(d, s->probe) : &d->ps[d->avail];
			done = p && probe_healthy(p);
			break;
		}
		case FL_STEP_MANUAL: {
			struct pollfd pfd = { .fd = 0, .events = POLLIN };
			if (!isatty(0)) {
				fl_run_add_failure(d->run, "manual step '%s' needs an operator at a terminal",
						   s->name);
				d->failed = 1;
				return -1;
			}
			if (poll(&pfd, 1, 0) > 0) {
				char line[256];
				ssize_t k = read(0, line, sizeof(line));
				if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
					fl_run_add_failure(d->run, "manual step '%s': the operator's terminal closed",
							   s->name);
					d->failed = 1;
					return -1;
				}
				/* Only a whole line (Enter) confirms; stray bytes do not. */
				if (k > 0 && memchr(line, '\n', (size_t)k))
					done = 1;
				if (k > 0 && memchr(line, '\r', (size_t)k))
					done = 1;
			}
			break;
		}
		}
		if (!done) {
			if (now >= d->step_deadline) {
				char dur[32];
				step_abandon(d);
				fl_run_add_failure(d->run, "recovery step '%s' timed out after %s", s->name,
						   fl_duration_format(s->timeout_ns, dur, sizeof(dur)));
				d->failed = 1;
				return -1;
			}
			return 0;
		}
		{
			/* A wait ends where its probe's restoration began, not when the
			 * stability window confirmed it. */
			int64_t end = now;
			if (s->kind == FL_STEP_WAIT) {
				struct probe_state *p = s->probe ? probe_by_name(d, s->probe)
								 : &d->ps[d->avail];
				if (p && fl_timeline_restored(&p->tl))
					end = p->tl.t_restored > d->step_start ? p->tl.t_restored
									       : d->step_start;
			}
			record_phase(d, s->name, d->step_start, end);
			say(d, "recovery step %s: done in %.3f s", s->name,
			    (double)(end - d->step_start) / 1e9);
		}
		d->step++;
		d->step_start = -1;
	}
	return 1;
}

/* ---- checks that run every loop turn ---------------------------------------- */

/* Returns 1 when the drill must stop now (stop condition, timeout, interrupt). */
static int check_abort(struct drill *d, int64_t now)
{
	if (d->o->interrupted && *d->o->interrupted) {
		d->interrupted = 1;
		fl_run_add_failure(d->run, "interrupted during %s", stage_name(d->stage));
		return 1;
	}
	for (size_t i = 0; i < d->sc->nstops; i++) {
		const struct fl_stop_condition *c = &d->sc->stops[i];
		struct probe_state *p = probe_by_name(d, c->probe);
		if (p && p->fail_since >= 0 && now - p->fail_since >= c->down_for_ns) {
			char dur[32];
			d->aborted = 1;
			fl_run_add_failure(d->run, "stop condition: probe '%s' down for more than %s",
					   c->probe, fl_duration_format(c->down_for_ns, dur, sizeof(dur)));
			return 1;
		}
	}
	if (now >= d->deadline) {
		char dur[32];
		d->failed = 1;
		fl_run_add_failure(d->run, "%s not finished within the drill timeout %s",
				   stage_name(d->stage) , fl_duration_format(d->sc->timeout_ns, dur, sizeof(dur)));
		return 1;
	}
	return 0;
}

static void timed_reverts(struct drill *d, int64_t now)
{
	for (size_t i = 0; i < d->nfaults; i++) {
		struct active_fault *f = &d->faults[i];
		if (f->state == FAULT_INJECTED && f->revert_at >= 0 && now >= f->revert_at)
			fault_revert(d, f);
	}
}

/* ---- stages ------------------------------------------------------------------ */

static int64_t detection_grace(const struct drill *d)
{
	const struct fl_probe_spec *sp = d->ps[d->detect].spec;
	int64_t g = 3 * d->sc->detect_failures * sp->interval_ns + sp->timeout_ns;
	return g > 5 * FL_NS_PER_S ? g : 5 * FL_NS_PER_S;
}

static void enter_validate(struct drill *d, int64_t now)
{
	struct probe_state *a = &d->ps[d->avail];
	if (fl_timeline_impacted(&a->tl)) {
		d->t_impact = a->tl.t_impact;
		d->impact_unc = a->tl.impact_unc;
		d->t_restored = a->tl.t_restored;
		d->restored_unc = a->tl.restored_unc;
	} else {
		d->t_restored = d->t0;
		d->restored_unc = a->spec->interval_ns;
	}
	(void)now;
	d->stage = ST_VALIDATE;
}

/* Detection by an external alert: the watcher's observation is t_detect. A
 * missed alert is a DR finding, not a reason to leave the system broken: the
 * drill records it and goes on to the recovery steps. */
static void alert_detect(struct drill *d)
{
	const struct fl_alert_spec *as = d->sc->detect_alert;
	struct fl_alert_observation *o = &d->alert_obs;
	char dur[32];
	fl_alert_watch_get(d->alert, o);
	if (o->state == FL_ALERT_WAITING)
		return;
	if (o->state == FL_ALERT_FIRED) {
		d->t_detect = o->observed_ns;
		say(d, "detected at t0%+.3f s ± %.3f s (alert '%s' observed in alertmanager)",
		    (double)(d->t_detect - d->t0) / 1e9, (double)o->uncertainty_ns / 1e9, as->alertname);
		record_phase(d, "detect", d->t0, d->t_detect);
	} else {
		/* Say why, when we know: Alertmanager unreachable, or the alert was
		 * already active before the injection and never fired anew. */
		char why[300] = "";
		if (o->last_error[0])
			snprintf(why, sizeof(why), " (last poll: %s)", o->last_error);
		else if (o->ignored > 0)
			snprintf(why, sizeof(why), " (it was already active before the injection)");
		d->failed = 1;
		fl_run_add_failure(d->run, "alert '%s' did not fire within %s%s", as->alertname,
				   fl_duration_format(as->timeout_ns, dur, sizeof(dur)), why);
		say(d, "alert '%s' did not fire within %s%s; going on to recovery", as->alertname, dur,
		    why);
	}
	d->stage = ST_STEP;
	d->step = 0;
	d->step_start = -1;
}

/* Runs the loop from injection to restoration. Returns 0 to continue to
 * validation, -1 when the drill stops early (failure/abort/interrupt/error). */
static int drill_loop(struct drill *d)
{
	size_t next_fault = 0;
	int64_t base;
	if (d->sc->detect_alert) {
		d->alert = fl_alert_watch_new(d->sc->detect_alert, d->err);
		if (!d->alert || fl_alert_watch_start(d->alert, d->err) < 0) {
			d->errored = 1;
			return -1;
		}
	}
	base = fl_now_ns();
	for (size_t i = 0; i < d->nfaults; i++)
		d->faults[i].inject_at = base + d->faults[i].spec->after_ns;
	d->stage = ST_INJECT;
	for (;;) {
		int64_t now = fl_now_ns(), wake;
		ingest(d, now);
		if (check_abort(d, now))
			return -1;
		timed_reverts(d, now);
		live_line(d, now);

		if (d->stage == ST_INJECT || next_fault < d->nfaults) {
			while (next_fault < d->nfaults && now >= d->faults[next_fault].inject_at) {
				if (fault_inject(d, &d->faults[next_fault]) < 0) {
					d->errored = 1;
					return -1;
				}
				if (next_fault == 0) {
					for (size_t i = 0; i < d->nps; i++) {
						fl_timeline_init(&d->ps[i].tl, d->t0,
								 i == d->detect ? d->sc->detect_failures : 1,
								 d->sc->stability_ns);
						fl_timeline_set_sample_timeout(&d->ps[i].tl,
									       d->ps[i].spec->timeout_ns);
					}
				}
				next_fault++;
				now = fl_now_ns();
			}
			if (d->stage == ST_INJECT && d->t0 >= 0)
				d->stage = ST_WATCH;
		}
		if (d->stage == ST_WATCH && d->alert) {
			alert_detect(d);
		} else if (d->stage == ST_WATCH) {
			struct probe_state *det = &d->ps[d->detect], *a = &d->ps[d->avail];
			if (fl_timeline_detected(&det->tl)) {
				d->t_detect = det->tl.t_detect;
				say(d, "detected at t0%+.3f s (probe %s, %ld consecutive failures)",
				    (double)(d->t_detect - d->t0) / 1e9, det->spec->name,
				    d->sc->detect_failures);
				record_phase(d, "detect", d->t0, d->t_detect);
				d->stage = ST_STEP;
				d->step = 0;
				d->step_start = -1;
			} else if (fl_timeline_impacted(&a->tl) && fl_timeline_restored(&a->tl) &&
				   next_fault >= d->nfaults) {
				say(d, "impact at t0%+.3f s restored before detection fired",
				    (double)(a->tl.t_impact - d->t0) / 1e9);
				d->no_detection = 1;
				enter_validate(d, now);
				return 0;
			} else if (!fl_timeline_impacted(&a->tl) && !fl_timeline_impacted(&det->tl) &&
				   next_fault >= d->nfaults && now - d->t_last_inject >= detection_grace(d)) {
				say(d, "no impact observed within %.1f s of the injection",
				    (double)detection_grace(d) / 1e9);
				d->no_detection = 1;
				enter_validate(d, now);
				return 0;
			}
		}
		if (d->stage == ST_STEP) {
			int r = step_advance(d, now);
			if (r < 0)
				return -1;
			if (r > 0)
				d->stage = ST_RESTORE;
		}
		if (d->stage == ST_RESTORE) {
			struct probe_state *a = &d->ps[d->avail];
			if (!fl_timeline_impacted(&a->tl) || fl_timeline_restored(&a->tl)) {
				if (fl_timeline_impacted(&a->tl) && d->t_detect >= 0)
					record_phase(d, "recover", d->t_detect, a->tl.t_restored);
				enter_validate(d, now);
				return 0;
			}
		}
		wake = now + LOOP_SLICE_NS;
		fl_probe_engine_wait(d->eng, wake, d->o->interrupted);
	}
}

static int validate_stage(struct drill *d)
{
	int ok = 1;
	for (size_t i = 0; i < d->sc->nvalidation; i++) {
		const struct fl_probe_spec *c = &d->sc->validation[i];
		char detail[512];
		int64_t timeout = c->timeout_ns > 0 ? c->timeout_ns : 10 * FL_NS_PER_S;
		detail[0] = '\0';
		if (!fl_probe_check_until(c, timeout, d->o->interrupted, detail, sizeof(detail))) {
			if (d->o->interrupted && *d->o->interrupted) {
				d->interrupted = 1;
				fl_run_add_failure(d->run, "interrupted during validate");
				return -1;
			}
			fl_run_add_failure(d->run, "validation '%s' failed: %s", c->name,
					   detail[0] ? detail : "check did not pass");
			ok = 0;
		} else {
			say(d, "validation %s: passed", c->name);
		}
	}
	return ok ? 0 : -1;
}

/* Stops the writers and computes data loss from their logs and read-back. */
static int writers_finish(struct drill *d, int64_t t0)
{
	long lb = 0, la = 0, acked = 0, failed = 0, indet = 0;
	int64_t rpo = -1;
	int ok = 1;
	for (size_t i = 0; i < d->sc->nwriters; i++)
		if (d->writers[i])
			fl_writer_stop(d->writers[i]);
	for (size_t i = 0; i < d->sc->nwriters; i++) {
		struct fl_write *log = NULL;
		long nlog = 0, *present = NULL, npresent = 0;
		struct fl_loss loss;
		struct fl_error e;
		fl_error_init(&e);
		memset(&loss, 0, sizeof(loss));
		if (!d->writers[i])
			continue;
		if (fl_writer_log(d->writers[i], &log, &nlog) < 0 ||
		    fl_writer_read_back(d->writers[i], 30 * FL_NS_PER_S, &present, &npresent, &e) < 0) {
			fl_run_add_failure(d->run, "writer '%s': read-back failed: %s",
					   d->sc->writers[i].name, e.msg[0] ? e.msg : "out of memory");
			ok = 0;
			fl_free(log);
			fl_free(present);
			continue;
		}
		if (fl_loss_compute(log, nlog, present, npresent, t0, &loss) == 0) {
			lb += loss.lost_before_fault;
			la += loss.lost_after_fault;
			acked += loss.acked;
			failed += loss.failed;
			indet += loss.indeterminate;
			if (loss.rpo_ns > rpo)
				rpo = loss.rpo_ns;
			for (long k = 0; k < loss.nlost; k++)
				if (fl_run_add_lost_seq(d->run, loss.lost_seqs[k]) < 0)
					break;
			say(d, "writer %s: %ld acknowledged, %ld lost before the fault, %ld lost after it, %ld indeterminate",
			    d->sc->writers[i].name, loss.acked, loss.lost_before_fault,
			    loss.lost_after_fault, loss.indeterminate);
			fl_loss_release(&loss);
		} else {
			ok = 0;
		}
		fl_free(log);
		fl_free(present);
	}
	if (d->sc->nwriters > 0) {
		d->run->lost_before_fault = lb;
		d->run->lost_after_fault = la;
		d->run->writes_acked = acked;
		d->run->writes_failed = failed;
		d->run->writes_indeterminate = indet;
		if (rpo >= 0) {
			d->run->rpo_ms = (double)rpo / 1e6;
			d->run->rpo_uncertainty_ms = (double)d->sc->writers[0].interval_ns / 1e6;
		}
	}
	return ok ? 0 : -1;
}

/* ---- verdict ------------------------------------------------------------------- */

static void judge(struct drill *d)
{
	struct fl_run *r = d->run;
	const struct fl_objectives *t = &d->sc->targets;
	if (!isnan(r->rto_ms) && t->rto_ns >= 0) {
		double target = (double)t->rto_ns / 1e6;
		if (r->rto_ms > target) {
			fl_run_add_failure(r, "RTO %.3f s ± %.3f s exceeds the target %.3f s by %.3f s",
					   r->rto_ms / 1e3, r->rto_uncertainty_ms / 1e3, target / 1e3,
					   (r->rto_ms - target) / 1e3);
			d->failed = 1;
		}
	}
	if (!isnan(r->rpo_ms) && t->rpo_ns >= 0) {
		double target = (double)t->rpo_ns / 1e6;
		if (r->rpo_ms > target) {
			fl_run_add_failure(r, "RPO %.3f s ± %.3f s exceeds the target %.3f s by %.3f s",
					   r->rpo_ms / 1e3, r->rpo_uncertainty_ms / 1e3, target / 1e3,
					   (r->rpo_ms - target) / 1e3);
			d->failed = 1;
		}
	}
	if (r->lost_after_fault > t->max_lost_after_fault && r->lost_after_fault >= 0) {
		fl_run_add_failure(r, "%ld acknowledged write(s) lost after the fault (limit %ld)",
				   r->lost_after_fault, t->max_lost_after_fault);
		d->failed = 1;
	}
	if (t->max_lost_before_fault >= 0 && r->lost_before_fault > t->max_lost_before_fault) {
		fl_run_add_failure(r, "%ld acknowledged write(s) lost from before the fault (limit %ld)",
				   r->lost_before_fault, t->max_lost_before_fault);
		d->failed = 1;
	}
}

static const char *verdict_of(const struct drill *d)
{
	if (d->errored || d->revert_failed || d->journal_stale)
		return "error";
	if (d->interrupted || d->aborted)
		return "aborted";
	if (d->failed || d->run->nfailures > 0)
		return "fail";
	return "pass";
}

/* ---- set-up ---------------------------------------------------------------------- */

/* 1 when argv[0] names an executable file: a path (relative to dir when
 * relative, as steps run there) or a name found on PATH. */
static int program_found(const char *dir, const char *prog)
{
	char buf[4096];
	const char *path, *p;
	if (!prog || !*prog)
		return 0;
	if (strchr(prog, '/')) {
		if (prog[0] == '/' || !dir)
			return access(prog, X_OK) == 0;
		snprintf(buf, sizeof(buf), "%s/%s", dir, prog);
		return access(buf, X_OK) == 0;
	}
	path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
	for (p = path; *p;) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);
		if (len > 0 && len + strlen(prog) + 2 < sizeof(buf)) {
			memcpy(buf, p, len);
			buf[len] = '/';
			memcpy(buf + len + 1, prog, strlen(prog) + 1);
			if (access(buf, X_OK) == 0)
				return 1;
		}
		p = colon ? colon + 1 : p + len;
	}
	return 0;
}

/* Every program a drill will run after injecting must exist before anything
 * is injected: a typo found mid-outage leaves the system broken longer. */
static int check_programs(struct drill *d)
{
	const struct fl_scenario *sc = d->sc;
	const char *dir = fl_doc_dir(sc->doc), *file = fl_doc_file(sc->doc);
	const struct { const struct fl_step_spec *steps; size_t n; const char *what; } lists[] = {
		{ sc->prepare, sc->nprepare, "prepare step" },
		{ sc->recovery, sc->nrecovery, "recovery step" },
	};
	for (size_t l = 0; l < FL_ARRAY_LEN(lists); l++)
		for (size_t i = 0; i < lists[l].n; i++) {
			const struct fl_step_spec *st = &lists[l].steps[i];
			if (st->kind == FL_STEP_ACTION && st->argv && !program_found(dir, st->argv[0]))
				return fl_error_at(d->err, FL_EXIT_INPUT, file, st->line, st->col,
						   "%s '%s': program '%s' not found or not executable",
						   lists[l].what, st->name, st->argv[0]);
		}
	for (size_t i = 0; i < sc->nprobes + sc->nvalidation; i++) {
		const struct fl_probe_spec *p = i < sc->nprobes ? &sc->probes[i]
								: &sc->validation[i - sc->nprobes];
		/* Probe commands run in faultline's working directory. */
		if (p->kind == FL_PROBE_COMMAND && p->argv && !program_found(NULL, p->argv[0]))
			return fl_error_at(d->err, FL_EXIT_INPUT, file, p->line, p->col,
					   "%s '%s': program '%s' not found or not executable",
					   i < sc->nprobes ? "probe" : "validation check", p->name,
					   p->argv[0]);
	}
	return 0;
}

static int load_files(struct drill *d, const char *path)
{
	const char *env_path, *inv_path;
	d->sc = fl_scenario_load(path, d->err);
	if (!d->sc)
		return -1;
	env_path = d->o->env_path ? d->o->env_path : d->sc->environment;
	inv_path = d->o->inventory_path ? d->o->inventory_path : d->sc->inventory;
	if (env_path && !(d->env = fl_environment_load(env_path, d->err)))
		return -1;
	if (inv_path && !(d->inv = fl_inventory_load(inv_path, d->err)))
		return -1;
	if (fl_resolve_scenario(d->sc, d->env, d->inv, d->err) < 0)
		return -1;
	if (check_programs(d) < 0)
		return -1;
	if (d->sc->nfaults > 0 && !d->env)
		return fl_error_set(d->err, FL_EXIT_INPUT,
				    "%s: no environment: give --env FILE or an \"environment\" key",
				    path);
	return 0;
}

static int setup_faults(struct drill *d)
{
	d->nfaults = d->sc->nfaults;
	d->faults = fl_calloc(d->nfaults ? d->nfaults : 1, sizeof(*d->faults));
	if (!d->faults)
		return fl_error_oom(d->err, "runner");
	for (size_t i = 0; i < d->nfaults; i++) {
		struct active_fault *f = &d->faults[i];
		f->spec = &d->sc->faults[i];
		f->ops = fl_injector_find(f->spec->injector);
		f->target = f->spec->target && d->env ? fl_environment_target(d->env, f->spec->target)
						      : NULL;
		f->t_inject = f->revert_at = f->t_revert = -1;
		f->state = FAULT_WAITING;
		if (!f->ops)
			return fl_error_set(d->err, FL_EXIT_INPUT, "%s: unknown injector '%s'",
					    d->sc->name, f->spec->injector);
		f->desc = f->ops->describe(f->spec, f->target);
	}
	return 0;
}

static void print_plan_text(struct drill *d);

static json_t *ns_or_null(int64_t ns)
{
	return ns >= 0 ? json_real((double)ns / 1e6) : json_null();
}

/* The dry-run plan as JSON: what `--dry-run --json` prints for CI review. */
static json_t *plan_json(struct drill *d)
{
	const struct fl_scenario *sc = d->sc;
	json_t *o = json_object(), *probes = json_array(), *faults = json_array();
	json_t *steps = json_array(), *prep = json_array(), *checks = json_array();
	if (!o || !probes || !faults || !steps || !prep || !checks) {
		json_decref(o);
		json_decref(probes);
		json_decref(faults);
		json_decref(steps);
		json_decref(prep);
		json_decref(checks);
		return NULL;
	}
	for (size_t i = 0; i < sc->nprobes; i++)
		json_array_append_new(probes, json_pack("{s:s, s:f, s:b}", "name", sc->probes[i].name,
							"interval_ms", (double)sc->probes[i].interval_ns / 1e6,
							"availability", i == sc->availability));
	for (size_t i = 0; i < sc->nwriters; i++)
		json_array_append_new(probes, json_pack("{s:s, s:s, s:f}", "name", sc->writers[i].name,
							"writer", sc->writers[i].driver,
							"interval_ms", (double)sc->writers[i].interval_ns / 1e6));
	for (size_t i = 0; i < d->nfaults; i++) {
		const struct active_fault *f = &d->faults[i];
		json_array_append_new(faults, json_pack("{s:s, s:s, s:o, s:s, s:f, s:o}",
			"name", f->spec->name, "injector", f->ops->name,
			"target", f->target ? json_string(f->target->name) : json_null(),
			"description", f->desc ? f->desc : "",
			"after_ms", (double)f->spec->after_ns / 1e6,
			"duration_ms", f->spec->duration_ns > 0 ? ns_or_null(f->spec->duration_ns) : json_null()));
	}
	for (size_t i = 0; i < sc->nprepare; i++)
		json_array_append_new(prep, json_string(sc->prepare[i].name));
	for (size_t i = 0; i < sc->nrecovery; i++)
		json_array_append_new(steps, json_pack("{s:s, s:s}", "name", sc->recovery[i].name, "kind",
			sc->recovery[i].kind == FL_STEP_ACTION ? "action"
			: sc->recovery[i].kind == FL_STEP_WAIT ? "wait" : "manual"));
	for (size_t i = 0; i < sc->nvalidation; i++)
		json_array_append_new(checks, json_string(sc->validation[i].name));
	json_object_set_new(o, "scenario", json_string(sc->name));
	json_object_set_new(o, "file", json_string(fl_doc_file(sc->doc)));
	json_object_set_new(o, "environment", d->env ? json_string(d->env->name) : json_null());
	json_object_set_new(o, "production", !d->env || d->env->production < 0 ? json_null()
					      : json_boolean(d->env->production));
	json_object_set_new(o, "rto_target_ms", ns_or_null(sc->targets.rto_ns));
	json_object_set_new(o, "rpo_target_ms", ns_or_null(sc->targets.rpo_ns));
	json_object_set_new(o, "max_lost_after_fault", json_integer(sc->targets.max_lost_after_fault));
	json_object_set_new(o, "prepare", prep);
	json_object_set_new(o, "probes", probes);
	json_object_set_new(o, "faults", faults);
	json_object_set_new(o, "recovery", steps);
	json_object_set_new(o, "validation", checks);
	return o;
}

static void print_plan(struct drill *d)
{
	if (d->o->plan) {
		json_t *p = plan_json(d);
		if (p)
			json_array_append_new(d->o->plan, p);
		return;
	}
	print_plan_text(d);
}

static void print_plan_text(struct drill *d)
{
	char shown[FL_URL_REDACTED_MAX];
	FILE *f = stdout;
	char a[32], b[32];
	fprintf(f, "scenario %s (%s)\n", d->sc->name, fl_doc_file(d->sc->doc));
	fprintf(f, "  environment: %s (production: %s)\n", d->env ? d->env->name : "-",
		!d->env ? "-" : d->env->production == 0 ? "false" : d->env->production == 1 ? "TRUE" : "not said");
	fprintf(f, "  targets: RTO %s, RPO %s, lost after fault <= %ld\n",
		d->sc->targets.rto_ns >= 0 ? fl_duration_format(d->sc->targets.rto_ns, a, sizeof(a)) : "none",
		d->sc->targets.rpo_ns >= 0 ? fl_duration_format(d->sc->targets.rpo_ns, b, sizeof(b)) : "none",
		d->sc->targets.max_lost_after_fault);
	for (size_t i = 0; i < d->sc->nprepare; i++)
		fprintf(f, "  prepare %s: run %s\n", d->sc->prepare[i].name, d->sc->prepare[i].argv[0]);
	for (size_t i = 0; i < d->sc->nprobes; i++)
		fprintf(f, "  probe %s every %s%s\n", d->sc->probes[i].name,
			fl_duration_format(d->sc->probes[i].interval_ns, a, sizeof(a)),
			i == d->sc->availability ? " (availability)" : "");
	for (size_t i = 0; i < d->sc->nwriters; i++)
		fprintf(f, "  writer %s (%s) every %s\n", d->sc->writers[i].name, d->sc->writers[i].driver,
			fl_duration_format(d->sc->writers[i].interval_ns, a, sizeof(a)));
	if (d->sc->detect_alert)
		fprintf(f, "  detect: Alertmanager alert '%s' at %s, polled every %s, within %s\n",
			d->sc->detect_alert->alertname,
			fl_url_redact(d->sc->detect_alert->url, shown, sizeof(shown)),
			fl_duration_format(d->sc->detect_alert->interval_ns, a, sizeof(a)),
			fl_duration_format(d->sc->detect_alert->timeout_ns, b, sizeof(b)));
	else
		fprintf(f, "  detect: %ld consecutive failures of probe %s\n", d->sc->detect_failures,
			d->sc->detect_probe ? d->sc->detect_probe
					    : d->sc->probes[d->sc->availability].name);
	for (size_t i = 0; i < d->nfaults; i++)
		fprintf(f, "  would inject %s: %s%s%s\n", d->faults[i].spec->name,
			d->faults[i].desc ? d->faults[i].desc : d->faults[i].ops->name,
			d->faults[i].spec->duration_ns > 0 ? ", reverted after " : "",
			d->faults[i].spec->duration_ns > 0
				? fl_duration_format(d->faults[i].spec->duration_ns, a, sizeof(a)) : "");
	for (size_t i = 0; i < d->sc->nrecovery; i++)
		fprintf(f, "  recovery %s: %s\n", d->sc->recovery[i].name,
			d->sc->recovery[i].kind == FL_STEP_ACTION ? "run an action"
			: d->sc->recovery[i].kind == FL_STEP_WAIT ? "wait until healthy" : "manual");
	for (size_t i = 0; i < d->sc->nvalidation; i++)
		fprintf(f, "  validate %s\n", d->sc->validation[i].name);
}

static int start_sampling(struct drill *d, const char *tag_base)
{
	d->nps = d->sc->nprobes;
	d->ps = fl_calloc(d->nps ? d->nps : 1, sizeof(*d->ps));
	d->writers = fl_calloc(d->sc->nwriters ? d->sc->nwriters : 1, sizeof(*d->writers));
	if (!d->ps || !d->writers)
		return fl_error_oom(d->err, "runner");
	d->eng = fl_probe_engine_new(d->err);
	if (!d->eng)
		return -1;
	for (size_t i = 0; i < d->nps; i++) {
		d->ps[i].spec = &d->sc->probes[i];
		d->ps[i].fail_since = d->ps[i].ok_since = -1;
		d->ps[i].idx = fl_probe_engine_add(d->eng, &d->sc->probes[i], d->err);
		if (d->ps[i].idx < 0)
			return -1;
		fl_timeline_init(&d->ps[i].tl, INT64_MAX, 1, d->sc->stability_ns);
	}
	d->avail = d->sc->availability;
	d->detect = d->avail;
	if (d->sc->detect_probe) {
		struct probe_state *p = probe_by_name(d, d->sc->detect_probe);
		if (p)
			d->detect = (size_t)(p - d->ps);
	}
	if (fl_probe_engine_start(d->eng, d->err) < 0)
		return -1;
	for (size_t i = 0; i < d->sc->nwriters; i++) {
		char tag[160];
		snprintf(tag, sizeof(tag), "%s-%s", tag_base, d->sc->writers[i].name);
		d->writers[i] = fl_writer_new(&d->sc->writers[i], tag, d->err);
		if (!d->writers[i] || fl_writer_start(d->writers[i], d->err) < 0)
			return -1;
	}
	return 0;
}

/* Waits until every probe has been ok for the steady-state window and every
 * writer has an acknowledged write. */
static int steady_state(struct drill *d)
{
	int64_t start = fl_now_ns();
	int64_t deadline = start + d->sc->steady_ns + STEADY_EXTRA_NS;
	for (;;) {
		int64_t now = fl_now_ns();
		size_t bad = d->nps;
		int writers_ok = 1;
		ingest(d, now);
		for (size_t i = 0; i < d->nps; i++) {
			struct probe_state *p = &d->ps[i];
			if (!(p->has_last && p->last.ok && p->ok_since >= 0 &&
			      now - p->ok_since >= d->sc->steady_ns)) {
				bad = i;
				break;
			}
		}
		for (size_t i = 0; i < d->sc->nwriters; i++)
			if (fl_writer_acked(d->writers[i]) < 1)
				writers_ok = 0;
		if (bad == d->nps && writers_ok && now - start >= d->sc->steady_ns) {
			say(d, "steady state: all %zu probe(s) healthy for %.3f s", d->nps,
			    (double)d->sc->steady_ns / 1e9);
			/* From here an answer much slower than the steady state
			 * is a failed sample: a hang is an outage (probe.h). */
			for (size_t i = 0; i < d->nps; i++) {
				int64_t ml = fl_probe_engine_arm_latency(d->eng, d->ps[i].idx);
				if (ml > 0)
					say(d, "probe %s: answers slower than %.3f ms count as failed",
					    d->ps[i].spec->name, (double)ml / 1e6);
			}
			return 0;
		}
		if (d->o->interrupted && *d->o->interrupted) {
			d->interrupted = 1;
			fl_run_add_failure(d->run, "interrupted during the steady-state check");
			return -1;
		}
		if (now >= deadline) {
			char detail[256] = "";
			if (bad < d->nps) {
				fl_probe_check_once(d->ps[bad].spec, detail, sizeof(detail));
				fl_error_set(d->err, FL_EXIT_ENV,
					     "%s: steady state not reached: probe '%s' is not healthy%s%s; nothing was injected",
					     d->sc->name, d->ps[bad].spec->name, detail[0] ? ": " : "", detail);
			} else {
				fl_error_set(d->err, FL_EXIT_ENV,
					     "%s: steady state not reached: a writer has no acknowledged write; nothing was injected",
					     d->sc->name);
			}
			return -1;
		}
		fl_probe_engine_wait(d->eng, now + LOOP_SLICE_NS * 4, d->o->interrupted);
	}
}

static void summarize_probes(struct drill *d)
{
	for (size_t i = 0; i < d->nps; i++) {
		struct fl_probe_summary_lite l;
		struct fl_probe_summary s;
		memset(&l, 0, sizeof(l));
		fl_probe_engine_summary(d->eng, d->ps[i].idx, &l);
		s.name = d->ps[i].spec->name;
		s.kind = d->ps[i].spec->kind == FL_PROBE_HTTP ? "http"
			 : d->ps[i].spec->kind == FL_PROBE_TCP ? "tcp" : "command";
		s.samples = l.samples;
		s.failures = l.failures;
		s.interval_ms = (double)d->ps[i].spec->interval_ns / 1e6;
		s.latency_p50_ms = l.latency_p50_ms;
		s.latency_p99_ms = l.latency_p99_ms;
		s.latency_max_ms = l.latency_max_ms;
		s.skipped = l.skipped;
		s.max_latency_ms = l.max_latency_ms;
		if (l.skipped > 0)
			say(d, "warning: probe %s skipped %ld tick(s): samples in flight hit their cap, "
			       "so its schedule had gaps", s.name, l.skipped);
		fl_run_add_probe(d->run, &s);
	}
}

static void fill_results(struct drill *d)
{
	struct fl_run *r = d->run;
	const struct fl_scenario *sc = d->sc;
	d->results_filled = 1;
	if (d->t0 < 0)
		return;
	fl_run_add_event(r, "t_inject", 0, NAN);
	if (d->t_impact >= 0)
		fl_run_add_event(r, "t_impact", rel_ms(d, d->t_impact), (double)d->impact_unc / 1e6);
	if (d->t_detect >= 0)
		fl_run_add_event(r, "t_detect", rel_ms(d, d->t_detect),
				 d->alert_obs.state == FL_ALERT_FIRED
					 ? (double)d->alert_obs.uncertainty_ns / 1e6 : NAN);
	/* The alert's own start, mapped wall -> monotonic through the run's start pair. */
	if (d->alert_obs.state == FL_ALERT_FIRED && d->alert_obs.starts_at_wall_ns >= 0)
		fl_run_add_event(r, "t_alert_starts_at",
				 rel_ms(d, d->t_start + (d->alert_obs.starts_at_wall_ns - r->started_wall_ns)),
				 NAN);
	if (d->t_restored >= 0)
		fl_run_add_event(r, "t_restored", rel_ms(d, d->t_restored), (double)d->restored_unc / 1e6);
	if (d->t_validated >= 0)
		fl_run_add_event(r, "t_validated", rel_ms(d, d->t_validated), NAN);
	for (size_t i = 0; i < d->nfaults; i++) {
		char name[200];
		if (d->faults[i].t_inject >= 0) {
			snprintf(name, sizeof(name), "inject:%s", d->faults[i].spec->name);
			fl_run_add_event(r, name, rel_ms(d, d->faults[i].t_inject), NAN);
		}
		if (d->faults[i].t_revert >= 0) {
			snprintf(name, sizeof(name), "revert:%s", d->faults[i].spec->name);
			fl_run_add_event(r, name, rel_ms(d, d->faults[i].t_revert), NAN);
		}
	}
	if (d->t_restored >= 0) {
		int64_t end = sc->targets.rto_includes_validation && d->t_validated >= 0
				      ? d->t_validated : d->t_restored;
		r->rto_ms = rel_ms(d, end);
		r->rto_uncertainty_ms = (double)(d->restored_unc > 0 ? d->restored_unc
						 : sc->probes[sc->availability].interval_ns) / 1e6;
	}
	if (d->t_validated >= 0) {
		r->ttv_ms = rel_ms(d, d->t_validated);
		if (d->t_restored >= 0)
			record_phase(d, "validate", d->t_restored, d->t_validated);
	}
}

/* Prepare phases were recorded with absolute monotonic times; move them onto
 * the t0 timeline now that t0 is known (or onto the drill start). */
static void rebase_prepare_phases(struct drill *d, size_t nprep)
{
	int64_t base = d->t0 >= 0 ? d->t0 : d->t_start;
	for (size_t i = 0; i < nprep && i < d->run->nphases; i++) {
		d->run->phases[i].start_ms = (d->run->phases[i].start_ms - (double)base) / 1e6;
		d->run->phases[i].end_ms = (d->run->phases[i].end_ms - (double)base) / 1e6;
	}
}

/* Every field that means "none" with -1 says so here, so that no path can
 * mistake a zeroed descriptor or pid for a real one (fd 0 is stdin). */
static void drill_init(struct drill *d, const struct fl_run_options *o, struct fl_error *err)
{
	memset(d, 0, sizeof(*d));
	d->o = o;
	d->err = err;
	d->t0 = d->t_detect = d->t_restored = d->t_impact = d->t_validated = -1;
	d->t_last_inject = -1;
	d->step_pid = -1;
	d->step_logfd = -1;
	d->step_start = -1;
}

static void drill_release(struct drill *d)
{
	step_abandon(d);
	if (d->writers) {
		for (size_t i = 0; i < d->sc->nwriters; i++)
			fl_writer_free(d->writers[i]);
		fl_free(d->writers);
	}
	fl_alert_watch_free(d->alert);
	fl_probe_engine_free(d->eng);
	fl_free(d->ps);
	if (d->faults) {
		for (size_t i = 0; i < d->nfaults; i++) {
			json_decref(d->faults[i].revert);
			fl_free(d->faults[i].desc);
		}
		fl_free(d->faults);
	}
	fl_scenario_free(d->sc);
	fl_environment_free(d->env);
	fl_inventory_free(d->inv);
}

int fl_runner_run(const char *scenario_path, const struct fl_run_options *o,
		  struct fl_store *store, struct fl_run *run, struct fl_error *err)
{
	struct drill d;
	int rc = FL_EXIT_ENV, began = 0;
	size_t nprep = 0;
	char hostname[256];

	drill_init(&d, o, err);
	d.st = store;
	d.run = run;

	if (load_files(&d, scenario_path) < 0) {
		rc = err->code ? err->code : FL_EXIT_INPUT;
		goto out;
	}
	if (setup_faults(&d) < 0) {
		rc = err->code;
		goto out;
	}
	run->scenario = fl_strdup(d.sc->name);
	run->environment = fl_strdup(d.env ? d.env->name : "");
	run->label = o->label ? fl_strdup(o->label) : NULL;
	run->asset = d.sc->asset ? fl_strdup(d.sc->asset) : NULL;
	if (d.inv && d.sc->asset) {
		const struct fl_asset *a = fl_inventory_asset(d.inv, d.sc->asset);
		run->asset_tier = a ? a->tier : 0;
	}
	run->rto_target_ms = d.sc->targets.rto_ns >= 0 ? (double)d.sc->targets.rto_ns / 1e6 : NAN;
	run->rpo_target_ms = d.sc->targets.rpo_ns >= 0 ? (double)d.sc->targets.rpo_ns / 1e6 : NAN;
	run->faultline_version = fl_strdup(FAULTLINE_VERSION);
	if (gethostname(hostname, sizeof(hostname)) == 0) {
		hostname[sizeof(hostname) - 1] = '\0';
		run->host = fl_strdup(hostname);
	}
	if (!run->scenario || !run->environment || !run->faultline_version) {
		fl_error_oom(err, "runner");
		goto out;
	}
	if (o->dry_run) {
		print_plan(&d);
		rc = FL_EXIT_OK;
		goto out;
	}
	if (d.nfaults > 0 && fl_environment_check_injectable(d.env, err) < 0) {
		rc = err->code ? err->code : FL_EXIT_ENV;
		goto out;
	}

	run->started_wall_ns = fl_wall_ns();
	d.t_start = fl_now_ns();
	d.deadline = d.t_start + d.sc->timeout_ns;
	if (fl_store_run_begin(store, run, err) < 0)
		goto out;
	began = 1;
	say(&d, "run %" PRId64 " started", run->id);

	for (size_t i = 0; i < d.sc->nprepare; i++) {
		if (run_prepare_step(&d, &d.sc->prepare[i]) < 0) {
			if (!d.interrupted)
				d.errored = 1;
			goto finish;
		}
		nprep++;
	}
	{
		/* The run id alone repeats across databases; the start time makes the
		 * tag unique per drill, so two stores never share a writer's rows. */
		char tag[64];
		snprintf(tag, sizeof(tag), "run%" PRId64 "-%" PRIx64, run->id,
			 (uint64_t)run->started_wall_ns);
		if (start_sampling(&d, tag) < 0) {
			d.errored = 1;
			goto finish;
		}
	}
	if (steady_state(&d) < 0) {
		if (!d.interrupted)
			d.errored = 1;
		goto finish;
	}
	if (drill_loop(&d) < 0) {
		step_abandon(&d);
		/* Keep what we know about the edges for the record. */
		if (d.t0 >= 0 && fl_timeline_impacted(&d.ps[d.avail].tl)) {
			d.t_impact = d.ps[d.avail].tl.t_impact;
			d.impact_unc = d.ps[d.avail].tl.impact_unc;
		}
		revert_all(&d);
		goto finish;
	}
	if (d.t_restored >= 0 && d.t_restored != d.t0) {
		char backlog[128];
		say(&d, "restored at t0%+.3f s ± %.3f s%s", (double)(d.t_restored - d.t0) / 1e9,
		    (double)d.restored_unc / 1e9,
		    fl_timeline_restored_wait(&d.ps[d.avail].tl, backlog, sizeof(backlog)));
	}
	{
		int vrc = validate_stage(&d);
		int wrc;
		/* A check that passed after Ctrl-C does not make the drill a pass. */
		if (o->interrupted && *o->interrupted && !d.interrupted) {
			d.interrupted = 1;
			fl_run_add_failure(run, "interrupted during validate");
		}
		wrc = d.interrupted ? 0 : writers_finish(&d, d.t0);
		if (vrc == 0 && wrc == 0 && !d.interrupted) {
			d.t_validated = fl_now_ns();
			say(&d, "validated at t0%+.3f s", (double)(d.t_validated - d.t0) / 1e9);
		} else if (!d.interrupted) {
			d.failed = 1;
		}
	}
	revert_all(&d);
	fill_results(&d);
	judge(&d);

finish:
	if (d.eng) {
		fl_probe_engine_stop(d.eng);
		summarize_probes(&d);
	}
	if (d.writers && d.t0 < 0)
		for (size_t i = 0; i < d.sc->nwriters; i++)
			if (d.writers[i])
				fl_writer_stop(d.writers[i]);
	/* Anything still injected (an early exit path) is reverted here too. */
	revert_all(&d);
	record_backup(&d);
	if (!d.results_filled)
		fill_results(&d);
	rebase_prepare_phases(&d, nprep);
	run->duration_ms = (double)(fl_now_ns() - d.t_start) / 1e6;
	if (d.errored && fl_error_is_set(err))
		fl_run_add_failure(run, "%s", err->msg);
	fl_free(run->verdict);
	run->verdict = fl_strdup(verdict_of(&d));
	if (began) {
		struct fl_error e2;
		fl_error_init(&e2);
		if (fl_store_run_finish(store, run, &e2) < 0) {
			/* Whatever was measured, nobody can trust a run that is not on
			 * record: the caller sees it as an error, never as a pass. */
			fl_free(run->verdict);
			run->verdict = fl_strdup("error");
			fl_run_add_failure(run, "the run could not be stored: %s", e2.msg);
			fl_error_set(err, FL_EXIT_ENV,
				     "%s: the run could not be stored (%s); faults were reverted%s — "
				     "free the space and run 'faultline recover' to close the journal",
				     d.sc->name, e2.msg, d.journal_stale ? " but the journal could not record it" : "");
			rc = FL_EXIT_ENV;
			goto out;
		}
	}
	if (d.revert_failed) {
		fl_error_set(err, FL_EXIT_ENV, "%s: a fault could not be reverted; run 'faultline recover'",
			     d.sc->name);
		rc = FL_EXIT_ENV;
	} else if (d.journal_stale) {
		fl_error_set(err, FL_EXIT_ENV, "%s: the journal could not record a revert; run 'faultline recover'",
			     d.sc->name);
		rc = FL_EXIT_ENV;
	} else if (d.interrupted) {
		rc = FL_EXIT_INTERRUPTED;
	} else if (d.errored) {
		rc = err->code ? err->code : FL_EXIT_ENV;
	} else if (d.aborted || d.failed || run->nfailures > 0) {
		rc = FL_EXIT_FAIL;
	} else {
		rc = FL_EXIT_OK;
	}
out:
	if (o->log && o->live)
		fputs("\r\033[K", o->log);
	drill_release(&d);
	return rc;
}

int fl_runner_check(const char *scenario_path, const struct fl_run_options *opts,
		    struct fl_error *err)
{
	struct drill d;
	int rc;
	drill_init(&d, opts, err);
	rc = load_files(&d, scenario_path);
	if (rc == 0 && d.sc->nfaults > 0)
		rc = setup_faults(&d);
	drill_release(&d);
	return rc;
}

int fl_runner_recover(struct fl_store *store, FILE *log, struct fl_error *err)
{
	struct fl_journal_entry *e = NULL;
	size_t n = 0;
	int failed = 0;
	int64_t *runs = NULL;
	size_t nruns = 0;
	if (fl_journal_open_entries(store, &e, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct fl_error re, me;
		int alive = fl_owner_alive(e[i].owner_host, e[i].owner_pid, e[i].owner_start);
		fl_error_init(&re);
		fl_error_init(&me);
		if (alive == 1) {
			/* Another drill sharing this database is still running: its
			 * faults are its own to revert. */
			if (log)
				fprintf(log, "recover: journal %" PRId64 " (%s on %s) belongs to a drill still "
					     "running (pid %ld); left alone\n", e[i].id, e[i].injector,
					e[i].target ? e[i].target : "-", e[i].owner_pid);
			continue;
		}
		if (alive < 0 && e[i].owner_host && e[i].owner_pid > 0) {
			failed++;
			if (log)
				fprintf(log, "recover: journal %" PRId64 " (%s on %s) was injected from host "
					     "'%s'; run 'faultline recover' there\n", e[i].id, e[i].injector,
					e[i].target ? e[i].target : "-", e[i].owner_host);
			continue;
		}
		if (fl_injector_revert(e[i].injector, e[i].revert, &re) < 0) {
			failed++;
			fl_journal_mark(store, e[i].id, FL_JOURNAL_REVERT_FAILED, NULL, re.msg, &me);
			if (log)
				fprintf(log, "recover: journal %" PRId64 " (%s on %s, run %" PRId64
					     "): revert failed: %s\n", e[i].id, e[i].injector,
					e[i].target ? e[i].target : "-", e[i].run_id, re.msg);
			continue;
		}
		if (fl_journal_mark(store, e[i].id, FL_JOURNAL_REVERTED, NULL, NULL, &me) < 0) {
			failed++;
			if (log)
				fprintf(log, "recover: journal %" PRId64 ": reverted but not marked: %s\n",
					e[i].id, me.msg);
			continue;
		}
		if (log)
			fprintf(log, "recover: reverted journal %" PRId64 " (%s on %s, run %" PRId64 "): %s\n",
				e[i].id, e[i].injector, e[i].target ? e[i].target : "-", e[i].run_id,
				e[i].description ? e[i].description : "");
	}
	fl_journal_entries_free(e, n);
	/* Runs whose harness died stay "running" forever otherwise: close them. */
	if (fl_store_runs_orphaned(store, &runs, &nruns, err) < 0)
		return -1;
	for (size_t i = 0; i < nruns; i++) {
		struct fl_error me;
		fl_error_init(&me);
		if (fl_store_run_abandon(store, runs[i],
					 "the harness died during the drill; its faults were reverted by 'faultline recover'",
					 &me) > 0 && log)
			fprintf(log, "recover: run %" PRId64 " marked aborted (its harness is gone)\n",
				runs[i]);
	}
	fl_free(runs);
	return failed;
}
