/*
 * faults: journal first, then inject; revert and record it. A fault whose
 * journal row exists is reverted by `recover` if this process dies.
 */
#include "sim/faults.h"

#include <stdio.h>

#include "core/alloc.h"
#include "core/buf.h"
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
		f->t_inject = f->t_attempt = f->revert_at = f->t_revert = -1;
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

/* ---- the blast radius in cloud resources ----------------------------------
 * resolve.c checks max_targets at load time, counting each fault target
 * once. A cloud target stands for what its selection finds, known only from
 * the API: here, from each prepared record (read-only calls so far), the
 * injector's `resources` replace the target in the count. */

/* Adds what fault f touches to the set `seen`: its resources when its
 * family counts them and its record is prepared (nothing otherwise), else
 * its target. The fault's own resources are also listed in `own` (may be
 * NULL). 0, or -1 when out of memory. */
static int blast_add(json_t *seen, json_t *own, const struct active_fault *f)
{
	json_t *ids, *v;
	size_t i;
	int rc = 0;
	char key[512];
	if (!f->ops->resources) {
		if (!f->target)
			return 0;
		snprintf(key, sizeof(key), "target %s", f->target->name);
		return json_object_set_new(seen, key, json_true());
	}
	if (!f->revert)
		return 0;
	if (!(ids = f->ops->resources(f->revert)))
		return -1;
	json_array_foreach(ids, i, v) {
		snprintf(key, sizeof(key), "cloud %s", json_string_value(v));
		rc |= json_object_set_new(seen, key, json_true());
		if (own)
			rc |= json_array_append(own, v);
	}
	json_decref(ids);
	return rc;
}

/* Fault i's prepared record against blast_radius.max_targets, with every
 * other fault's targets and prepared resources. 0, or -1 with d->err set. */
static int blast_check(struct drill *d, size_t i)
{
	json_t *seen = json_object(), *own = json_array(), *v;
	struct fl_buf b;
	size_t total, k;
	int rc = 0, changed = 0;
	for (size_t j = 0; seen && own && rc == 0 && j < d->nfaults; j++) {
		rc = blast_add(seen, j == i ? own : NULL, &d->faults[j]);
		changed |= d->faults[j].state != FAULT_WAITING;
	}
	if (!seen || !own || rc < 0) {
		json_decref(seen);
		json_decref(own);
		return fl_error_oom(d->err, "%s: blast radius", d->sc->name);
	}
	total = json_object_size(seen);
	if ((long)total > d->sc->max_targets) {
		fl_buf_init(&b, 0);
		json_array_foreach(own, k, v)
			if (k < 8)
				fl_buf_addf(&b, "%s%s", k ? ", " : "", json_string_value(v));
		if (json_array_size(own) > 8)
			fl_buf_addf(&b, ", ...");
		fl_buf_addf(&b, ")");
		if (total != json_array_size(own))
			fl_buf_addf(&b, ", %zu in all with the drill's other faults", total);
		rc = fl_error_set(d->err, FL_EXIT_INPUT,
				  "%s: blast radius exceeded: fault '%s' would touch %zu cloud "
				  "resource%s (%s, max_targets is %ld; %s",
				  d->sc->name, d->faults[i].spec->name, json_array_size(own),
				  json_array_size(own) == 1 ? "" : "s", b.failed ? "?)" : b.buf,
				  d->sc->max_targets,
				  changed ? "the fault was not injected" : "nothing was changed");
		fl_buf_release(&b);
	}
	json_decref(seen);
	json_decref(own);
	return rc;
}

static int fault_prepare(struct drill *d, struct active_fault *f)
{
	struct fl_error e;
	fl_error_init(&e);
	f->revert = f->ops->prepare(f->spec, f->target, &e);
	if (!f->revert)
		return fl_error_set(d->err, FL_EXIT_ENV, "%s: fault '%s': %s", d->sc->name,
				    f->spec->name, e.msg);
	return 0;
}

int faults_check_blast(struct drill *d)
{
	if (d->sc->max_targets < 0)
		return 0;
	for (size_t i = 0; i < d->nfaults; i++) {
		struct active_fault *f = &d->faults[i];
		if (!f->ops->resources)
			continue;
		if (fault_prepare(d, f) < 0 || blast_check(d, i) < 0)
			return -1;
	}
	/* A record is kept for the faults armed now; a later fault is prepared
	 * again at its instant (and checked again: the cloud may have grown). */
	for (size_t i = 0; i < d->nfaults; i++)
		if (d->faults[i].spec->after_ns >= FAULTS_ARM_LEAD_NS) {
			json_decref(d->faults[i].revert);
			d->faults[i].revert = NULL;
		}
	return 0;
}

int faults_arm(struct drill *d, size_t i)
{
	struct active_fault *f = &d->faults[i];
	struct fl_error e;
	fl_error_init(&e);
	if (!f->revert) {
		if (fault_prepare(d, f) < 0)
			return -1;
		if (f->ops->resources && d->sc->max_targets >= 0 && blast_check(d, i) < 0)
			return -1;
	}
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

/* The damage itself, at the instant, with the thread raised: rearm, inject
 * and the two clock readings around inject() that bound the effect. */
static int fault_strike(struct drill *d, struct active_fault *f)
{
	struct fl_error e;
	int rc;
	f->state = FAULT_INJECTED; /* from here on it must be reverted, whatever happens */
	if (fault_rearm(d, f) < 0)
		return -1;
	fl_error_init(&e);
	f->t_attempt = fl_now_ns();
	/* What the inject starts is tagged: after a SIGKILL, recover waits for it. */
	fl_spawn_tag_injects(1);
	rc = f->ops->inject(f->spec, f->target, f->revert, &e);
	fl_spawn_tag_injects(0);
	if (rc < 0)
		return fl_error_set(d->err, FL_EXIT_ENV, "%s: fault '%s' could not be injected: %s",
				    d->sc->name, f->spec->name, e.msg);
	f->t_inject = fl_now_ns();
	return 0;
}

/* After t0 was read and the priority dropped: what inject() put in effect
 * is made durable (injector.h, settle: the file injector's fsync), off the
 * instant. A failure leaves the fault in place: its row is marked injected
 * (with the record inject may have added to) and the drill fails, which
 * reverts it (faults_revert_all: the fault is FAULT_INJECTED). */
static int fault_settle(struct drill *d, struct active_fault *f)
{
	struct fl_error e, e2;
	if (!f->ops->settle)
		return 0;
	fl_error_init(&e);
	if (f->ops->settle(f->spec, f->target, f->revert, &e) == 0)
		return 0;
	fl_error_init(&e2);
	if (fl_journal_mark(d->st, f->journal_id, FL_JOURNAL_INJECTED, f->revert, NULL, &e2) < 0)
		drill_say(d, "warning: journal not updated after injecting '%s': %s", f->spec->name,
			  e2.msg);
	drill_say(d, "injected %s: %s (not made durable)", f->spec->name, f->desc);
	return fl_error_set(d->err, FL_EXIT_ENV,
			    "%s: fault '%s' was injected but could not be made durable: %s",
			    d->sc->name, f->spec->name, e.msg);
}

int faults_inject(struct drill *d, size_t i)
{
	struct active_fault *f = &d->faults[i];
	struct fl_instant in;
	struct fl_error e;
	int64_t t;
	int rc;
	if (f->journal_id <= 0 && faults_arm(d, i) < 0)
		return -1;
	fl_instant_enter(&in, FL_INSTANT_DEFAULT);
	if (fl_instant_wait(&in, f->inject_at, d->o->interrupted)) {
		fl_instant_leave(&in);
		return 1;
	}
	rc = fault_strike(d, f);
	f->raised = in.raised;
	fl_instant_leave(&in); /* right after the damage, before anything slow */
	if (rc < 0)
		return -1;
	if (fault_settle(d, f) < 0)
		return -1;
	t = f->t_inject;
	if (d->clk.t0 < 0) {
		d->clk.t0 = t;
		drill_say(d, "injection instant kept at %s", in.policy);
	}
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
	int rc;
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
	/* What the revert starts (a process target's "start", a remote ssh) is
	 * tagged like an inject's: a recover after a SIGKILL here waits for it
	 * rather than race it (two starts of one service). */
	fl_spawn_tag_injects(1);
	rc = f->ops->revert(f->revert, &e);
	fl_spawn_tag_injects(0);
	if (rc < 0) {
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

/* A fault that ends by itself (injector.h, ended): asked once a second; when
 * it is over it is reverted now, and one that ended otherwise than planned
 * fails the drill with the injector's reason. 1 when it ended. */
static int fault_ended(struct drill *d, struct active_fault *f, int64_t now)
{
	struct fl_error e;
	int r;
	if (!f->ops->ended || now < f->next_ended_poll)
		return 0;
	fl_error_init(&e);
	r = f->ops->ended(f->revert, &e);
	f->next_ended_poll = fl_now_ns() + FL_NS_PER_S;
	if (r < 0)
		drill_say(d, "warning: cannot tell whether fault '%s' ended: %s", f->spec->name,
			  e.msg);
	if (r <= 0)
		return 0;
	if (r == FL_FAULT_ENDED_BADLY) {
		drill_say(d, "fault %s ended early: %s", f->spec->name, e.msg);
		drill_outcome(d, FL_OUTCOME_FAIL, "fault '%s' ended early: %s", f->spec->name, e.msg);
	} else {
		drill_say(d, "fault %s ended", f->spec->name);
	}
	return 1;
}

void faults_timed_reverts(struct drill *d, int64_t now)
{
	for (size_t i = 0; i < d->nfaults; i++) {
		struct active_fault *f = &d->faults[i];
		if (f->state == FAULT_INJECTED &&
		    ((f->revert_at >= 0 && now >= f->revert_at) || fault_ended(d, f, now)))
			fault_revert(d, f);
	}
}

void faults_revert_all(struct drill *d)
{
	for (size_t i = d->nfaults; i-- > 0;)
		fault_revert(d, &d->faults[i]);
}
