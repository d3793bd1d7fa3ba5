/*
 * runner: one drill on the timeline of docs/measurement.md.
 *
 * The drill is a single-threaded loop: probes and writers sample in their
 * own threads; each turn of the loop takes the new samples, advances the
 * per-probe timelines, checks the stop conditions, the drill timeout and the
 * interrupt flag, reverts faults whose duration is over, and moves the drill
 * one step along its stages. Nothing here sleeps blindly: every wait is on a
 * new sample or a deadline.
 */
#include "sim/runner.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "sim/backup.h"
#include "sim/drill.h"
#include "sim/faults.h"
#include "sim/plan.h"
#include "sim/sampling.h"
#include "sim/steps.h"
#include "sim/verify.h"

#define LOOP_SLICE_NS (5 * FL_NS_PER_MS)
#define BACKUP_INFO_TIMEOUT_NS (30 * FL_NS_PER_S)

/* ---- stages, outcome, logging ------------------------------------------------ */

static const char *const stage_names[FL_STAGE_COUNT] = {
	[FL_STAGE_PREPARE] = "prepare",   [FL_STAGE_STEADY] = "steady-state",
	[FL_STAGE_INJECT] = "inject",     [FL_STAGE_DETECT] = "detect",
	[FL_STAGE_RECOVER] = "recover",   [FL_STAGE_RESTORE] = "restore",
	[FL_STAGE_VALIDATE] = "validate", [FL_STAGE_READ_BACK] = "read-back",
	[FL_STAGE_REVERT] = "revert",
};

const char *fl_stage_name(enum fl_stage s)
{
	return (unsigned)s < FL_STAGE_COUNT ? stage_names[s] : "?";
}

int fl_stage_parse(const char *name, enum fl_stage *out)
{
	for (size_t i = 0; name && i < FL_STAGE_COUNT; i++)
		if (!strcmp(name, stage_names[i])) {
			*out = (enum fl_stage)i;
			return 0;
		}
	return -1;
}

void drill_say(struct drill *d, const char *fmt, ...)
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

void drill_outcome(struct drill *d, enum fl_outcome o, const char *fmt, ...)
{
	d->outcome = fl_outcome_raise(d->outcome, o);
	if (fmt) {
		char line[1024];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		fl_run_add_failure(d->run, "%s", line);
	}
}

int drill_interrupted(const struct drill *d)
{
	return d->o->interrupted && atomic_load(d->o->interrupted);
}

void enter_stage(struct drill *d, enum fl_stage s, int64_t now)
{
	steps_abandon(d);
	d->stage = s;
	d->clk.stage_start = now;
	d->step.index = 0;
	d->step.start = d->step.deadline = -1;
}

static double rel_ms(const struct drill *d, int64_t t)
{
	return (double)(t - d->clk.t0) / 1e6;
}

void record_phase(struct drill *d, const char *name, int64_t start, int64_t end)
{
	fl_run_add_phase(d->run, name, rel_ms(d, start), rel_ms(d, end));
}

static void live_line(struct drill *d, int64_t now)
{
	FILE *f = d->o->log;
	if (!f || !d->o->live || now - d->clk.last_live < 100 * FL_NS_PER_MS)
		return;
	d->clk.last_live = now;
	fprintf(f, "\r\033[K%s: %s", d->sc->name, fl_stage_name(d->stage));
	if (d->stage == FL_STAGE_RECOVER && d->step.index < d->sc->nrecovery)
		fprintf(f, " (%s)", d->sc->recovery[d->step.index].name);
	if (d->clk.t0 >= 0)
		fprintf(f, "  t0%+.3f s", (double)(now - d->clk.t0) / 1e9);
	fflush(f);
}

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
	if (!d->inv || !d->sc || !d->sc->asset || drill_interrupted(d))
		return;
	a = fl_inventory_asset(d->inv, d->sc->asset);
	if (!a || !a->backup_info)
		return;
	fl_error_init(&e);
	rc = fl_backup_info_run((const char *const *)a->backup_info, fl_doc_dir(d->inv->doc),
				BACKUP_INFO_TIMEOUT_NS, d->o->interrupted, &bi, &e);
	if (rc < 0) {
		drill_say(d, "warning: last good backup of '%s' not recorded: %s", a->name, e.msg);
		return;
	}
	if (rc == 0) {
		drill_say(d, "warning: '%s' has no good backup in its catalogue", a->name);
		return;
	}
	fl_free(d->run->backup_last_good_type);
	d->run->backup_last_good_type = fl_strdup(bi.type);
	d->run->backup_last_good_wall_ns = d->run->backup_last_good_type ? bi.stop_wall_ns : 0;
	drill_say(d, "last good backup of '%s': %s (%s)", a->name, bi.label, bi.type);
}

/* ---- checks that run every loop turn ---------------------------------------- */

void drill_timed_out(struct drill *d)
{
	char dur[32];
	drill_outcome(d, FL_OUTCOME_FAIL, "%s not finished within the drill timeout %s",
		      fl_stage_name(d->stage),
		      fl_duration_format(d->sc->timeout_ns, dur, sizeof(dur)));
}

/* Returns 1 when the drill must stop now (stop condition, timeout, interrupt). */
static int check_abort(struct drill *d, int64_t now)
{
	char dur[32];
	if (drill_interrupted(d)) {
		drill_outcome(d, FL_OUTCOME_INTERRUPTED, "interrupted during %s",
			      fl_stage_name(d->stage));
		return 1;
	}
	for (size_t i = 0; i < d->sc->nstops; i++) {
		const struct fl_stop_condition *c = &d->sc->stops[i];
		struct probe_state *p = probe_by_name(d, c->probe);
		if (p && p->fail_since >= 0 && now - p->fail_since >= c->down_for_ns) {
			drill_outcome(d, FL_OUTCOME_STOPPED,
				      "stop condition: probe '%s' down for more than %s", c->probe,
				      fl_duration_format(c->down_for_ns, dur, sizeof(dur)));
			return 1;
		}
	}
	if (now >= d->clk.deadline) {
		drill_timed_out(d);
		return 1;
	}
	return 0;
}

int drill_abort_now(struct drill *d)
{
	int64_t now = fl_now_ns();
	if (d->eng)
		sampling_ingest(d, now);
	return check_abort(d, now);
}

/* ---- stages ------------------------------------------------------------------ */

static int64_t detection_grace(const struct drill *d)
{
	const struct fl_probe_spec *sp = d->ps[d->detect].spec;
	int64_t g = 3 * d->sc->detect_failures * sp->interval_ns + sp->timeout_ns;
	return g > 5 * FL_NS_PER_S ? g : 5 * FL_NS_PER_S;
}

/* Takes the availability probe's edges and moves on to validation. */
static void enter_validate(struct drill *d, int64_t now)
{
	struct probe_state *a = &d->ps[d->avail];
	if (fl_timeline_impacted(&a->tl)) {
		d->clk.t_impact = a->tl.t_impact;
		d->clk.impact_unc = a->tl.impact_unc;
		d->clk.t_restored = a->tl.t_restored;
		d->clk.restored_unc = a->tl.restored_unc;
	} else {
		d->clk.t_restored = d->clk.t0;
		d->clk.restored_unc = a->spec->interval_ns;
	}
	enter_stage(d, FL_STAGE_VALIDATE, now);
}

/* Detection by an external alert: the watcher's observation is t_detect. A
 * missed alert is a DR finding, not a reason to leave the system broken: the
 * drill records it and goes on to the recovery steps. */
static void alert_detect(struct drill *d, int64_t now)
{
	const struct fl_alert_spec *as = d->sc->detect_alert;
	const struct fl_cloudwatch_spec *cw = d->sc->detect_cloudwatch;
	const char *name = d->cw ? cw->alarm : as->alertname;
	const char *source = d->cw ? "cloudwatch: entered ALARM" : "alertmanager";
	struct fl_alert_observation *o = &d->alert_obs;
	char dur[32];
	if (d->cw)
		fl_cloudwatch_watch_get(d->cw, o);
	else
		fl_alert_watch_get(d->alert, o);
	if (o->state == FL_ALERT_WAITING)
		return;
	if (o->state == FL_ALERT_FIRED) {
		d->clk.t_detect = o->observed_ns;
		drill_say(d, "detected at t0%+.3f s ± %.3f s (alert '%s' observed in %s)",
			  (double)(d->clk.t_detect - d->clk.t0) / 1e9,
			  (double)o->uncertainty_ns / 1e9, name, source);
		record_phase(d, "detect", d->clk.t0, d->clk.t_detect);
	} else {
		/* Say why, when we know: Alertmanager unreachable, or the alert was
		 * already active before the injection and never fired anew. */
		char why[300] = "";
		if (o->last_error[0])
			snprintf(why, sizeof(why), " (last poll: %s)", o->last_error);
		else if (o->ignored > 0)
			snprintf(why, sizeof(why), " (it was already active before the injection)");
		drill_outcome(d, FL_OUTCOME_FAIL, "alert '%s' did not fire within %s%s", name,
			      fl_duration_format(d->cw ? cw->timeout_ns : as->timeout_ns, dur,
						 sizeof(dur)),
			      why);
		drill_say(d, "alert '%s' did not fire within %s%s; going on to recovery", name, dur,
			  why);
	}
	enter_stage(d, FL_STAGE_RECOVER, now);
}

/* Detection by the detect probe. 1 when the drill goes straight to
 * validation (restored before detection, or no impact at all), else 0. */
static int probe_detect(struct drill *d, int64_t now)
{
	struct probe_state *det = &d->ps[d->detect], *a = &d->ps[d->avail];
	int all_in = d->next_fault >= d->nfaults;
	if (fl_timeline_detected(&det->tl)) {
		d->clk.t_detect = det->tl.t_detect;
		drill_say(d, "detected at t0%+.3f s (probe %s, %ld consecutive failures)",
			  (double)(d->clk.t_detect - d->clk.t0) / 1e9, det->spec->name,
			  d->sc->detect_failures);
		record_phase(d, "detect", d->clk.t0, d->clk.t_detect);
		enter_stage(d, FL_STAGE_RECOVER, now);
		return 0;
	}
	if (fl_timeline_impacted(&a->tl) && fl_timeline_restored(&a->tl) && all_in) {
		drill_say(d, "impact at t0%+.3f s restored before detection fired",
			  (double)(a->tl.t_impact - d->clk.t0) / 1e9);
		enter_validate(d, now);
		return 1;
	}
	if (!fl_timeline_impacted(&a->tl) && !fl_timeline_impacted(&det->tl) && all_in &&
	    now - d->clk.t_last_inject >= detection_grace(d)) {
		drill_say(d, "no impact observed within %.1f s of the injection",
			  (double)detection_grace(d) / 1e9);
		enter_validate(d, now);
		return 1;
	}
	return 0;
}

/* Injects every fault that is due. The first one sets t0 and starts every
 * probe's timeline there. 0, or -1 when a fault could not be injected. */
static int inject_due(struct drill *d, int64_t now)
{
	/* Later faults are armed FAULTS_ARM_LEAD_NS ahead of their instant. */
	for (size_t i = d->next_fault;
	     i < d->nfaults && now >= d->faults[i].inject_at - FAULTS_ARM_LEAD_NS; i++) {
		if (d->faults[i].journal_id <= 0 && faults_arm(d, i) < 0) {
			drill_outcome(d, FL_OUTCOME_ERROR, NULL);
			return -1;
		}
	}
	/* A fault due within FAULTS_INSTANT_LEAD_NS is handed over now:
	 * faults_inject keeps its instant (raised, then a bounded spin). */
	while (d->next_fault < d->nfaults &&
	       now >= d->faults[d->next_fault].inject_at - FAULTS_INSTANT_LEAD_NS) {
		int r = faults_inject(d, d->next_fault);
		if (r < 0) {
			drill_outcome(d, FL_OUTCOME_ERROR, NULL);
			return -1;
		}
		if (r > 0)
			return 0; /* interrupted while waiting: the next turn stops */
		if (d->next_fault == 0)
			for (size_t i = 0; i < d->nps; i++) {
				fl_timeline_init(&d->ps[i].tl, d->clk.t0,
						 i == d->detect ? d->sc->detect_failures : 1,
						 d->sc->stability_ns);
				fl_timeline_set_sample_timeout(&d->ps[i].tl,
							       d->ps[i].spec->timeout_ns);
			}
		d->next_fault++;
		now = fl_now_ns();
	}
	if (d->stage == FL_STAGE_INJECT && d->clk.t0 >= 0)
		enter_stage(d, FL_STAGE_DETECT, now);
	return 0;
}

/* One turn of the drill loop: 1 when restored (go to validation), 0 to go
 * on, -1 when the drill stops early. */
static int loop_turn(struct drill *d, int64_t now)
{
	if (inject_due(d, now) < 0)
		return -1;
	if (d->stage == FL_STAGE_DETECT) {
		if (d->alert || d->cw)
			alert_detect(d, now);
		else if (probe_detect(d, now))
			return 1;
	}
	if (d->stage == FL_STAGE_RECOVER) {
		int r = steps_advance(d, now);
		if (r < 0)
			return -1;
		if (r > 0)
			enter_stage(d, FL_STAGE_RESTORE, now);
	}
	if (d->stage == FL_STAGE_RESTORE) {
		struct probe_state *a = &d->ps[d->avail];
		if (!fl_timeline_impacted(&a->tl) || fl_timeline_restored(&a->tl)) {
			if (fl_timeline_impacted(&a->tl) && d->clk.t_detect >= 0)
				record_phase(d, "recover", d->clk.t_detect, a->tl.t_restored);
			enter_validate(d, now);
			return 1;
		}
	}
	return 0;
}

/* When the loop turns next: a slice from now, or sooner when the next
 * fault is to be handed over (inject_due) before that. */
static int64_t loop_wake(const struct drill *d, int64_t now)
{
	int64_t wake = now + LOOP_SLICE_NS;
	if (d->next_fault < d->nfaults) {
		int64_t handover = d->faults[d->next_fault].inject_at - FAULTS_INSTANT_LEAD_NS;
		if (handover < wake)
			wake = handover > now ? handover : now;
	}
	return wake;
}

/* Runs the loop from injection to restoration. Returns 0 to continue to
 * validation, -1 when the drill stops early (failure/abort/interrupt/error). */
static int drill_loop(struct drill *d)
{
	int64_t base;
	/* The cloud resources each fault would touch, before any watcher or fault. */
	if (faults_check_blast(d) < 0) {
		drill_outcome(d, FL_OUTCOME_ERROR, NULL);
		return -1;
	}
	if (d->sc->detect_alert) {
		d->alert = fl_alert_watch_new(d->sc->detect_alert, d->err);
		if (!d->alert || fl_alert_watch_start(d->alert, d->err) < 0) {
			drill_outcome(d, FL_OUTCOME_ERROR, NULL);
			return -1;
		}
	}
	if (d->sc->detect_cloudwatch) {
		d->cw = fl_cloudwatch_watch_new(d->sc->detect_cloudwatch, d->err);
		if (!d->cw || fl_cloudwatch_watch_start(d->cw, d->err) < 0) {
			drill_outcome(d, FL_OUTCOME_ERROR, NULL);
			return -1;
		}
	}
	/* Faults due at once are armed before the clock starts (an fsync each),
	 * later ones ahead of their instant (inject_due). */
	for (size_t i = 0; i < d->nfaults; i++) {
		if (d->faults[i].spec->after_ns < FAULTS_ARM_LEAD_NS && faults_arm(d, i) < 0) {
			drill_outcome(d, FL_OUTCOME_ERROR, NULL);
			return -1;
		}
	}
	base = fl_now_ns();
	for (size_t i = 0; i < d->nfaults; i++)
		d->faults[i].inject_at = base + d->faults[i].spec->after_ns;
	enter_stage(d, FL_STAGE_INJECT, base);
	for (;;) {
		int64_t now = fl_now_ns();
		int r;
		sampling_ingest(d, now);
		if (check_abort(d, now))
			return -1;
		faults_timed_reverts(d, now);
		live_line(d, now);
		r = loop_turn(d, now);
		if (r != 0)
			return r > 0 ? 0 : -1;
		fl_probe_engine_wait(d->eng, loop_wake(d, now), d->o->interrupted);
	}
}

static void fill_fault_events(struct drill *d)
{
	for (size_t i = 0; i < d->nfaults; i++) {
		char name[200];
		const struct active_fault *f = &d->faults[i];
		if (f->t_inject >= 0) {
			/* The effect lies between the call and its return: that
			 * span is the uncertainty of the injection's instant. */
			snprintf(name, sizeof(name), "inject:%s", f->spec->name);
			fl_run_add_event(d->run, name, rel_ms(d, f->t_inject),
					 (double)(f->t_inject - f->t_attempt) / 1e6);
			/* Which scheduling policy kept its instant (core/clock.h). */
			snprintf(name, sizeof(name), "policy:%s:%s", f->spec->name,
				 f->raised ? "SCHED_FIFO" : "SCHED_OTHER");
			fl_run_add_event(d->run, name, rel_ms(d, f->t_attempt), NAN);
		}
		if (d->faults[i].t_revert >= 0) {
			snprintf(name, sizeof(name), "revert:%s", d->faults[i].spec->name);
			fl_run_add_event(d->run, name, rel_ms(d, d->faults[i].t_revert), NAN);
		}
	}
}

static void fill_results(struct drill *d)
{
	struct fl_run *r = d->run;
	const struct fl_scenario *sc = d->sc;
	const struct drill_clock *c = &d->clk;
	int alert_fired = d->alert_obs.state == FL_ALERT_FIRED;
	if (c->t0 < 0)
		return;
	fl_run_add_event(r, "t_inject", 0, NAN);
	if (c->t_impact >= 0)
		fl_run_add_event(r, "t_impact", rel_ms(d, c->t_impact), (double)c->impact_unc / 1e6);
	if (c->t_detect >= 0)
		fl_run_add_event(r, "t_detect", rel_ms(d, c->t_detect),
				 alert_fired ? (double)d->alert_obs.uncertainty_ns / 1e6 : NAN);
	/* The alert's own start, mapped wall -> monotonic through the run's start pair. */
	if (alert_fired && d->alert_obs.starts_at_wall_ns >= 0)
		fl_run_add_event(r, "t_alert_starts_at",
				 rel_ms(d, c->start + (d->alert_obs.starts_at_wall_ns -
						       r->started_wall_ns)),
				 NAN);
	if (c->t_restored >= 0)
		fl_run_add_event(r, "t_restored", rel_ms(d, c->t_restored),
				 (double)c->restored_unc / 1e6);
	if (c->t_validated >= 0)
		fl_run_add_event(r, "t_validated", rel_ms(d, c->t_validated), NAN);
	fill_fault_events(d);
	if (c->t_restored >= 0) {
		int64_t end = sc->targets.rto_includes_validation && c->t_validated >= 0
				      ? c->t_validated
				      : c->t_restored;
		r->rto_ms = rel_ms(d, end);
		r->rto_uncertainty_ms =
			(double)(c->restored_unc > 0 ? c->restored_unc
						     : sc->probes[sc->availability].interval_ns) /
			1e6;
	}
	if (c->t_validated >= 0) {
		r->ttv_ms = rel_ms(d, c->t_validated);
		if (c->t_restored >= 0)
			record_phase(d, "validate", c->t_restored, c->t_validated);
	}
}

/* Prepare phases were stored from the drill start (t0 was not known yet);
 * put them on the t0 timeline with the other phases, when there is one. */
static void rebase_prepare_phases(struct drill *d)
{
	double shift_ms = d->clk.t0 >= 0 ? (double)(d->clk.t0 - d->clk.start) / 1e6 : 0;
	for (size_t i = 0; i < d->nprep_phases && i < d->run->nphases; i++) {
		d->run->phases[i].start_ms -= shift_ms;
		d->run->phases[i].end_ms -= shift_ms;
	}
}

/* Every field that means "none" with -1 says so here, so that no path can
 * mistake a zeroed descriptor or pid for a real one (fd 0 is stdin). */
static void drill_init(struct drill *d, const struct fl_run_options *o, struct fl_error *err)
{
	memset(d, 0, sizeof(*d));
	d->o = o;
	d->err = err;
	d->outcome = FL_OUTCOME_PASS;
	d->clk.start = d->clk.deadline = d->clk.t0 = d->clk.t_impact = d->clk.t_detect = -1;
	d->clk.t_restored = d->clk.t_validated = d->clk.t_last_inject = d->clk.stage_start = -1;
	d->step.pid = -1;
	d->step.logfd = -1;
	d->step.start = d->step.deadline = -1;
}

static void drill_release(struct drill *d)
{
	steps_abandon(d);
	if (d->writers) {
		for (size_t i = 0; i < d->sc->nwriters; i++)
			fl_writer_free(d->writers[i]);
		fl_free(d->writers);
	}
	fl_alert_watch_free(d->alert);
	fl_cloudwatch_watch_free(d->cw);
	fl_probe_engine_free(d->eng);
	fl_free(d->ps);
	faults_free(d);
	fl_scenario_free(d->sc);
	fl_environment_free(d->env);
	fl_inventory_free(d->inv);
}

/* Fills the run's description from the loaded files. 0 or -1 (out of memory). */
static int describe_run(struct drill *d)
{
	struct fl_run *run = d->run;
	char hostname[256];
	run->scenario = fl_strdup(d->sc->name);
	run->environment = fl_strdup(d->env ? d->env->name : "");
	run->label = d->o->label ? fl_strdup(d->o->label) : NULL;
	run->asset = d->sc->asset ? fl_strdup(d->sc->asset) : NULL;
	if (d->inv && d->sc->asset) {
		const struct fl_asset *a = fl_inventory_asset(d->inv, d->sc->asset);
		run->asset_tier = a ? a->tier : 0;
	}
	run->rto_target_ms = d->sc->targets.rto_ns >= 0 ? (double)d->sc->targets.rto_ns / 1e6 : NAN;
	run->rpo_target_ms = d->sc->targets.rpo_ns >= 0 ? (double)d->sc->targets.rpo_ns / 1e6 : NAN;
	run->faultline_version = fl_strdup(FAULTLINE_VERSION);
	if (gethostname(hostname, sizeof(hostname)) == 0) {
		hostname[sizeof(hostname) - 1] = '\0';
		run->host = fl_strdup(hostname);
	}
	if (!run->scenario || !run->environment || !run->faultline_version)
		return fl_error_oom(d->err, "runner");
	return 0;
}

/* The drill from the prepare steps to the read-back. Whatever stops it
 * early, the caller reverts and records. */
static void drill_run(struct drill *d)
{
	char tag[64];
	enter_stage(d, FL_STAGE_PREPARE, d->clk.start);
	if (steps_prepare(d) < 0)
		return;
	/* The run id alone repeats across databases; the start time makes the
	 * tag unique per drill, so two stores never share a writer's rows. */
	snprintf(tag, sizeof(tag), "run%" PRId64 "-%" PRIx64, d->run->id,
		 (uint64_t)d->run->started_wall_ns);
	if (sampling_start(d, tag) < 0) {
		drill_outcome(d, FL_OUTCOME_ERROR, NULL);
		return;
	}
	enter_stage(d, FL_STAGE_STEADY, fl_now_ns());
	if (sampling_steady(d) < 0)
		return;
	if (drill_loop(d) < 0) {
		steps_abandon(d);
		/* Keep what we know about the edges for the record. */
		if (d->clk.t0 >= 0 && fl_timeline_impacted(&d->ps[d->avail].tl)) {
			d->clk.t_impact = d->ps[d->avail].tl.t_impact;
			d->clk.impact_unc = d->ps[d->avail].tl.impact_unc;
		}
		return;
	}
	if (d->clk.t_restored >= 0 && d->clk.t_restored != d->clk.t0) {
		char backlog[128];
		drill_say(d, "restored at t0%+.3f s ± %.3f s%s",
			  (double)(d->clk.t_restored - d->clk.t0) / 1e9,
			  (double)d->clk.restored_unc / 1e9,
			  fl_timeline_restored_wait(&d->ps[d->avail].tl, backlog, sizeof(backlog)));
	}
	verify_run(d);
}

/* Reverts, records and judges whatever the drill got to. */
static void drill_wrap_up(struct drill *d)
{
	enter_stage(d, FL_STAGE_REVERT, fl_now_ns());
	faults_revert_all(d);
	if (d->eng) {
		fl_probe_engine_stop(d->eng);
		sampling_summarize(d);
	}
	if (d->writers)
		for (size_t i = 0; i < d->sc->nwriters; i++)
			fl_writer_stop(d->writers[i]);
	record_backup(d);
	fill_results(d);
	if (fl_verdict_judge(d->run, &d->sc->targets) > 0)
		drill_outcome(d, FL_OUTCOME_FAIL, NULL);
	rebase_prepare_phases(d);
	d->run->duration_ms = (double)(fl_now_ns() - d->clk.start) / 1e6;
	if (fl_error_is_set(d->err))
		fl_run_add_failure(d->run, "%s", d->err->msg);
	fl_free(d->run->verdict);
	d->run->verdict = fl_strdup(fl_verdict_name(fl_verdict_of(d->outcome, d->run->nfailures)));
}

/* Stores the finished run and says what the caller must hear. Returns the
 * exit class. */
static int drill_store(struct drill *d)
{
	struct fl_error e2;
	fl_error_init(&e2);
	if (fl_store_run_finish(d->st, d->run, &e2) < 0) {
		/* Whatever was measured, nobody can trust a run that is not on
		 * record: the caller sees it as an error, never as a pass. */
		fl_free(d->run->verdict);
		d->run->verdict = fl_strdup("error");
		fl_run_add_failure(d->run, "the run could not be stored: %s", e2.msg);
		fl_error_set(d->err, FL_EXIT_ENV,
			     "%s: the run could not be stored (%s); faults were reverted%s — "
			     "free the space and run 'faultline recover' to close the journal",
			     d->sc->name, e2.msg,
			     d->outcome == FL_OUTCOME_JOURNAL_STALE
				     ? " but the journal could not record it"
				     : "");
		return FL_EXIT_ENV;
	}
	if (d->outcome == FL_OUTCOME_REVERT_FAILED)
		fl_error_set(d->err, FL_EXIT_ENV,
			     "%s: a fault could not be reverted; run 'faultline recover'",
			     d->sc->name);
	else if (d->outcome == FL_OUTCOME_JOURNAL_STALE)
		fl_error_set(d->err, FL_EXIT_ENV,
			     "%s: the journal could not record a revert; run 'faultline recover'",
			     d->sc->name);
	return fl_verdict_exit(d->outcome, d->run->nfailures, d->err->code);
}

int fl_runner_run(const char *scenario_path, const struct fl_run_options *o, struct fl_store *store,
		  struct fl_run *run, struct fl_error *err)
{
	struct drill d;
	int rc = FL_EXIT_ENV;

	drill_init(&d, o, err);
	d.st = store;
	d.run = run;
	if (plan_load(&d, scenario_path) < 0) {
		rc = err->code ? err->code : FL_EXIT_INPUT;
		goto out;
	}
	if (describe_run(&d) < 0)
		goto out;
	if (o->dry_run) {
		plan_print(&d);
		rc = FL_EXIT_OK;
		goto out;
	}
	if (d.nfaults > 0 && fl_environment_check_injectable(d.env, err) < 0) {
		rc = err->code ? err->code : FL_EXIT_ENV;
		goto out;
	}
	run->started_wall_ns = fl_wall_ns();
	d.clk.start = fl_now_ns();
	d.clk.deadline = d.clk.start + d.sc->timeout_ns;
	if (fl_store_run_begin(store, run, err) < 0)
		goto out;
	drill_say(&d, "run %" PRId64 " started", run->id);
	drill_run(&d);
	drill_wrap_up(&d);
	rc = drill_store(&d);
out:
	if (o->log && o->live)
		fputs("\r\033[K", o->log);
	drill_release(&d);
	return rc;
}

int fl_runner_check(const char *scenario_path, const struct fl_run_options *opts, struct fl_error *err)
{
	struct drill d;
	int rc;
	drill_init(&d, opts, err);
	rc = plan_load(&d, scenario_path);
	drill_release(&d);
	return rc;
}
