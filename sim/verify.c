/*
 * verify: validation checks and the writers' read-back, faults still in
 * place until the caller reverts them.
 */
#include "sim/verify.h"

#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "sim/drill.h"

#define READ_BACK_TIMEOUT_NS (30 * FL_NS_PER_S)
#define ABORTED (-2)

/* The earlier of now + budget and the drill's deadline. */
static int64_t bounded(const struct drill *d, int64_t budget)
{
	int64_t now = fl_now_ns();
	return now + budget < d->clk.deadline ? now + budget : d->clk.deadline;
}

/* Runs the checks in order. 0 all passed, -1 one failed (recorded),
 * ABORTED when the drill timeout, a stop condition or the interrupt flag
 * stopped it (outcome raised). */
static int validate_stage(struct drill *d)
{
	int ok = 1;
	for (size_t i = 0; i < d->sc->nvalidation; i++) {
		const struct fl_probe_spec *c = &d->sc->validation[i];
		char detail[512];
		int64_t budget = c->timeout_ns > 0 ? c->timeout_ns : 10 * FL_NS_PER_S, until;
		if (drill_abort_now(d))
			return ABORTED;
		detail[0] = '\0';
		until = bounded(d, budget);
		if (fl_probe_check_until(c, until - fl_now_ns(), d->o->interrupted, detail,
					 sizeof(detail))) {
			drill_say(d, "validation %s: passed", c->name);
			continue;
		}
		if (drill_abort_now(d))
			return ABORTED;
		if (until == d->clk.deadline) {
			/* Cut short by the drill timeout, not failed on its own budget. */
			drill_timed_out(d);
			return ABORTED;
		}
		fl_run_add_failure(d->run, "validation '%s' failed: %s", c->name,
				   detail[0] ? detail : "check did not pass");
		ok = 0;
	}
	return ok ? 0 : -1;
}

struct loss_sum {
	long lb, la, acked, failed, indet, failed_present;
	int64_t rpo;
};

/* Reads back writer i and adds its loss to sum. 0, or -1 (failure recorded). */
static int writer_finish(struct drill *d, size_t i, struct loss_sum *sum)
{
	struct fl_write *log = NULL;
	long nlog = 0, *present = NULL, npresent = 0;
	struct fl_loss loss;
	struct fl_error e;
	int rc = -1;
	fl_error_init(&e);
	memset(&loss, 0, sizeof(loss));
	int64_t until = bounded(d, READ_BACK_TIMEOUT_NS);
	if (fl_writer_log(d->writers[i], &log, &nlog) < 0 ||
	    fl_writer_read_back_until(d->writers[i], until, d->o->interrupted, &present, &npresent,
				      &e) < 0) {
		if (drill_abort_now(d)) {
			rc = ABORTED;
			goto out;
		}
		if (until == d->clk.deadline) {
			drill_timed_out(d);
			rc = ABORTED;
			goto out;
		}
		fl_run_add_failure(d->run, "writer '%s': read-back failed: %s",
				   d->sc->writers[i].name, e.msg[0] ? e.msg : "out of memory");
		goto out;
	}
	if (fl_loss_compute(log, nlog, present, npresent, d->clk.t0, &loss) < 0)
		goto out;
	sum->lb += loss.lost_before_fault;
	sum->la += loss.lost_after_fault;
	sum->acked += loss.acked;
	sum->failed += loss.failed;
	sum->indet += loss.indeterminate;
	sum->failed_present += loss.failed_present;
	if (loss.rpo_ns > sum->rpo)
		sum->rpo = loss.rpo_ns;
	for (long k = 0; k < loss.nlost; k++)
		if (fl_run_add_lost_seq(d->run, loss.lost_seqs[k]) < 0)
			break;
	drill_say(d,
		  "writer %s: %ld acknowledged, %ld lost before the fault, %ld lost after it, %ld indeterminate, "
		  "%ld answered as failed yet present",
		  d->sc->writers[i].name, loss.acked, loss.lost_before_fault, loss.lost_after_fault,
		  loss.indeterminate, loss.failed_present);
	fl_loss_release(&loss);
	rc = 0;
out:
	fl_free(log);
	fl_free(present);
	return rc;
}

/* Stops the writers and computes data loss from their logs and read-back. */
static int writers_finish(struct drill *d)
{
	struct loss_sum sum = { .rpo = -1 };
	int ok = 1;
	for (size_t i = 0; i < d->sc->nwriters; i++)
		if (d->writers[i])
			fl_writer_stop(d->writers[i]);
	for (size_t i = 0; i < d->sc->nwriters; i++) {
		int rc = d->writers[i] ? writer_finish(d, i, &sum) : 0;
		if (rc == ABORTED)
			return ABORTED;
		if (rc < 0)
			ok = 0;
	}
	if (d->sc->nwriters > 0) {
		d->run->lost_before_fault = sum.lb;
		d->run->lost_after_fault = sum.la;
		d->run->writes_acked = sum.acked;
		d->run->writes_failed = sum.failed;
		d->run->writes_indeterminate = sum.indet;
		d->run->writes_failed_present = sum.failed_present;
		if (sum.rpo >= 0) {
			d->run->rpo_ms = (double)sum.rpo / 1e6;
			d->run->rpo_uncertainty_ms = (double)d->sc->writers[0].interval_ns / 1e6;
		}
	}
	return ok ? 0 : -1;
}

void verify_run(struct drill *d)
{
	int vrc, wrc;
	enter_stage(d, FL_STAGE_VALIDATE, fl_now_ns());
	vrc = validate_stage(d);
	/* A check that passed after Ctrl-C (or past the deadline) does not make
	 * the drill a pass. */
	if (vrc == ABORTED || drill_abort_now(d))
		return;
	enter_stage(d, FL_STAGE_READ_BACK, fl_now_ns());
	if (d->sc->nwriters > 0)
		drill_say(d, "reading back %zu writer(s)", d->sc->nwriters);
	wrc = writers_finish(d);
	if (wrc == ABORTED || drill_abort_now(d))
		return;
	if (vrc == 0 && wrc == 0) {
		d->clk.t_validated = fl_now_ns();
		drill_say(d, "validated at t0%+.3f s",
			  (double)(d->clk.t_validated - d->clk.t0) / 1e9);
	} else {
		drill_outcome(d, FL_OUTCOME_FAIL, NULL);
	}
}
