/*
 * faults: journal first, then inject; revert and record it. A fault whose
 * journal row exists is reverted by `recover` if this process dies.
 */
#include "sim/faults.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/spawn.h"
#include "sim/drill.h"

int faults_setup(struct drill *d)
{
	d->nfaults = d->sc->nfaults;
	d->faults = fl_calloc(d->nfaults ? d->nfaults : 1, sizeof(*d->faults));
	if (!d->faults)
		return fl_error_oom(d->err, "runner");
	for (size_t i = 0; i < d->nfaults; i++) {
		struct active_fault *f = &d->faults[i];
		f->spec = &d->sc->faults[i];
		f->ops = fl_injector_find(f->spec->injector);
		f->target = f->spec->target && d->env
				    ? fl_environment_target(d->env, f->spec->target)
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

void faults_free(struct drill *d)
{
	if (!d->faults)
		return;
	for (size_t i = 0; i < d->nfaults; i++) {
		json_decref(d->faults[i].revert);
		fl_free(d->faults[i].desc);
	}
	fl_free(d->faults);
	d->faults = NULL;
}

int faults_arm(struct drill *d, size_t i)
{
	struct active_fault *f = &d->faults[i];
	struct fl_error e;
	fl_error_init(&e);
	f->revert = f->ops->prepare(f->spec, f->target, &e);
	if (!f->revert)
		return fl_error_set(d->err, FL_EXIT_ENV, "%s: fault '%s': %s", d->sc->name,
				    f->spec->name, e.msg);
	if (fl_journal_arm(d->st, d->run->id, f->ops->name, f->target ? f->target->name : NULL,
			   f->desc, f->revert, &f->journal_id, &e) < 0)
		return fl_error_set(d->err, FL_EXIT_ENV, "%s: fault '%s' not injected: journal: %s",
				    d->sc->name, f->spec->name, e.msg);
	return 0;
}

/* What the injector re-reads just before the damage is durable before the
 * damage (injectors/injector.h, rearm): only a changed record costs a
 * journal write here. */
static int fault_rearm(struct drill *d, struct active_fault *f)
{
	struct fl_error e;
	int changed;
	if (!f->ops->rearm)
		return 0;
	fl_error_init(&e);
	changed = f->ops->rearm(f->spec, f->target, f->revert, &e);
	if (changed < 0 || (changed > 0 && fl_journal_mark(d->st, f->journal_id, FL_JOURNAL_ARMED,
							   f->revert, NULL, &e) < 0))
		return fl_error_set(d->err, FL_EXIT_ENV, "%s: fault '%s' not injected: %s",
				    d->sc->name, f->spec->name, e.msg);
	return 0;
}

int faults_inject(struct drill *d, size_t i)
{
	struct active_fault *f = &d->faults[i];
	struct fl_error e;
	int64_t t;
	int rc;
	if (f->journal_id <= 0 && faults_arm(d, i) < 0)
		return -1;
	f->state = FAULT_INJECTED; /* from here on it must be reverted, whatever happens */
	if (fault_rearm(d, f) < 0)
		return -1;
	fl_error_init(&e);
	/* What the inject starts is tagged: after a SIGKILL, recover waits for it. */
	fl_spawn_tag_injects(1);
	rc = f->ops->inject(f->spec, f->target, f->revert, &e);
	fl_spawn_tag_injects(0);
	if (rc < 0)
		return fl_error_set(d->err, FL_EXIT_ENV, "%s: fault '%s' could not be injected: %s",
				    d->sc->name, f->spec->name, e.msg);
	t = fl_now_ns();
	f->t_inject = t;
	if (d->clk.t0 < 0)
		d->clk.t0 = t;
	d->clk.t_last_inject = t;
	if (f->spec->duration_ns > 0)
		f->revert_at = t + f->spec->duration_ns;
	fl_error_init(&e);
	if (fl_journal_mark(d->st, f->journal_id, FL_JOURNAL_INJECTED, f->revert, NULL, &e) < 0)
		drill_say(d, "warning: journal not updated after injecting '%s': %s", f->spec->name,
			  e.msg);
	drill_say(d, "injected %s: %s", f->spec->name, f->desc);
	return 0;
}

static void fault_revert(struct drill *d, struct active_fault *f)
{
	struct fl_error e;
	if (f->state == FAULT_WAITING && f->journal_id > 0) {
		/* Armed, never injected (the drill stopped first): nothing to undo. */
		fl_error_init(&e);
		if (fl_journal_mark(d->st, f->journal_id, FL_JOURNAL_REVERTED, NULL, NULL, &e) < 0)
			drill_say(d,
				  "warning: journal not closed for '%s' (armed, never injected): %s",
				  f->spec->name, e.msg);
		f->journal_id = 0;
		return;
	}
	if (f->state != FAULT_INJECTED && f->state != FAULT_REVERT_FAILED)
		return;
	fl_error_init(&e);
	if (f->ops->revert(f->revert, &e) < 0) {
		struct fl_error e2;
		fl_error_init(&e2);
		f->state = FAULT_REVERT_FAILED;
		/* Keep what the revert did before it failed (its "outcome" note). */
		fl_journal_mark(d->st, f->journal_id, FL_JOURNAL_REVERT_FAILED, f->revert, e.msg,
				&e2);
		drill_say(d, "REVERT FAILED %s: %s (run 'faultline recover' or revert by hand)",
			  f->spec->name, e.msg);
		drill_outcome(d, FL_OUTCOME_REVERT_FAILED, "revert of fault '%s' failed: %s",
			      f->spec->name, e.msg);
		return;
	}
	f->state = FAULT_REVERTED;
	f->t_revert = fl_now_ns();
	fl_error_init(&e);
	if (fl_journal_mark(d->st, f->journal_id, FL_JOURNAL_REVERTED, f->revert, NULL, &e) < 0) {
		drill_say(d, "warning: journal not updated after reverting '%s': %s", f->spec->name,
			  e.msg);
		drill_outcome(d, FL_OUTCOME_JOURNAL_STALE,
			      "fault '%s' was reverted but the journal could not record it: %s",
			      f->spec->name, e.msg);
	}
	drill_say(d, "reverted %s", f->spec->name);
}

void faults_timed_reverts(struct drill *d, int64_t now)
{
	for (size_t i = 0; i < d->nfaults; i++) {
		struct active_fault *f = &d->faults[i];
		if (f->state == FAULT_INJECTED && f->revert_at >= 0 && now >= f->revert_at)
			fault_revert(d, f);
	}
}

void faults_revert_all(struct drill *d)
{
	for (size_t i = d->nfaults; i-- > 0;)
		fault_revert(d, &d->faults[i]);
}
