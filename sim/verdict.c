/*
 * verdict: outcome -> verdict word and exit code, and the targets check.
 * Everything here is a function of its arguments (see verdict.h).
 */
#include "sim/verdict.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

static const char *const outcome_names[FL_OUTCOME_COUNT] = {
	[FL_OUTCOME_PASS] = "pass",
	[FL_OUTCOME_FAIL] = "fail",
	[FL_OUTCOME_STOPPED] = "stopped",
	[FL_OUTCOME_INTERRUPTED] = "interrupted",
	[FL_OUTCOME_ERROR] = "error",
	[FL_OUTCOME_JOURNAL_STALE] = "journal-stale",
	[FL_OUTCOME_REVERT_FAILED] = "revert-failed",
};

const char *fl_outcome_name(enum fl_outcome o)
{
	return (unsigned)o < FL_OUTCOME_COUNT ? outcome_names[o] : "?";
}

int fl_outcome_parse(const char *name, enum fl_outcome *out)
{
	for (size_t i = 0; name && i < FL_OUTCOME_COUNT; i++)
		if (!strcmp(name, outcome_names[i])) {
			*out = (enum fl_outcome)i;
			return 0;
		}
	return -1;
}

enum fl_outcome fl_outcome_raise(enum fl_outcome cur, enum fl_outcome next)
{
	return next > cur ? next : cur;
}

enum fl_verdict fl_verdict_of(enum fl_outcome o, size_t nfailures)
{
	switch (o) {
	case FL_OUTCOME_PASS: return nfailures > 0 ? FL_VERDICT_FAIL : FL_VERDICT_PASS;
	case FL_OUTCOME_FAIL: return FL_VERDICT_FAIL;
	case FL_OUTCOME_STOPPED:
	case FL_OUTCOME_INTERRUPTED: return FL_VERDICT_ABORTED;
	case FL_OUTCOME_ERROR:
	case FL_OUTCOME_JOURNAL_STALE:
	case FL_OUTCOME_REVERT_FAILED:
	case FL_OUTCOME_COUNT: break;
	}
	return FL_VERDICT_ERROR;
}

int fl_verdict_exit(enum fl_outcome o, size_t nfailures, int err_code)
{
	switch (o) {
	case FL_OUTCOME_PASS: return nfailures > 0 ? FL_EXIT_FAIL : FL_EXIT_OK;
	case FL_OUTCOME_FAIL:
	case FL_OUTCOME_STOPPED: return FL_EXIT_FAIL;
	case FL_OUTCOME_INTERRUPTED: return FL_EXIT_INTERRUPTED;
	case FL_OUTCOME_ERROR: return err_code ? err_code : FL_EXIT_ENV;
	case FL_OUTCOME_JOURNAL_STALE:
	case FL_OUTCOME_REVERT_FAILED:
	case FL_OUTCOME_COUNT: break;
	}
	return FL_EXIT_ENV;
}

/* One miss: counts it, and stops the count at -1 once a line is lost. */
static void miss(int *n, int added)
{
	if (*n >= 0)
		*n = added < 0 ? -1 : *n + 1;
}

int fl_verdict_judge(struct fl_run *r, const struct fl_objectives *t)
{
	int n = 0;
	if (!isnan(r->rto_ms) && t->rto_ns >= 0) {
		double target = (double)t->rto_ns / 1e6;
		if (r->rto_ms > target)
			miss(&n,
			     fl_run_add_failure(r, "RTO %.3f s ± %.3f s exceeds the target %.3f s by %.3f s",
						r->rto_ms / 1e3, r->rto_uncertainty_ms / 1e3,
						target / 1e3, (r->rto_ms - target) / 1e3));
	}
	if (!isnan(r->rpo_ms) && t->rpo_ns >= 0) {
		double target = (double)t->rpo_ns / 1e6;
		if (r->rpo_ms > target)
			miss(&n,
			     fl_run_add_failure(r, "RPO %.3f s ± %.3f s exceeds the target %.3f s by %.3f s",
						r->rpo_ms / 1e3, r->rpo_uncertainty_ms / 1e3,
						target / 1e3, (r->rpo_ms - target) / 1e3));
	}
	if (r->lost_after_fault >= 0 && r->lost_after_fault > t->max_lost_after_fault)
		miss(&n,
		     fl_run_add_failure(r, "%ld acknowledged write(s) lost after the fault (limit %ld)",
					r->lost_after_fault, t->max_lost_after_fault));
	/* A write the system answered as failed but kept: clients retried or
	 * gave up on data that is there (duplicates, lost compensations). The
	 * system lied; no scenario may expect that. */
	if (r->writes_failed_present > 0)
		miss(&n, fl_run_add_failure(r,
					    "%ld write(s) answered as failed are present after recovery: "
					    "the system reported failures for writes it kept",
					    r->writes_failed_present));
	if (t->max_lost_before_fault >= 0 && r->lost_before_fault > t->max_lost_before_fault)
		miss(&n,
		     fl_run_add_failure(r, "%ld acknowledged write(s) lost from before the fault (limit %ld)",
					r->lost_before_fault, t->max_lost_before_fault));
	return n;
}
