/*
 * drill: the state of one drill, shared by the files the runner is split
 * into (runner.c, steps.c, plan.c). Not for use outside sim/.
 *
 * Owns: struct drill — grouped into the drill's clock (every instant on the
 * monotonic clock), the current recovery step and ONE outcome — and the
 * stage enum with its name table (the names users see: the live phase line,
 * the stored phases and failures, docs/measurement.md).
 * Does not own: the scenario, environment and inventory (core/), samples
 * (probe.c), writes (writer.c), faults (injectors/), the verdict rules
 * (verdict.c).
 */
#ifndef FAULTLINE_DRILL_H
#define FAULTLINE_DRILL_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/environment.h"
#include "core/inventory.h"
#include "core/scenario.h"
#include "core/store.h"
#include "injectors/injector.h"
#include "sim/alert.h"
#include "sim/aws_restore.h"
#include "sim/cloudwatch.h"
#include "sim/probe.h"
#include "sim/runner.h"
#include "sim/timeline.h"
#include "sim/verdict.h"
#include "sim/writer.h"

/* In the order a drill goes through them. */
enum fl_stage {
	FL_STAGE_PREPARE,
	FL_STAGE_STEADY, /* the steady-state check */
	FL_STAGE_INJECT,
	FL_STAGE_DETECT,
	FL_STAGE_RECOVER, /* the recovery steps */
	FL_STAGE_RESTORE, /* waiting for the stability window */
	FL_STAGE_VALIDATE,
	FL_STAGE_READ_BACK, /* the writers' read-back */
	FL_STAGE_REVERT,
	FL_STAGE_COUNT
};

const char *fl_stage_name(enum fl_stage s);
int fl_stage_parse(const char *name, enum fl_stage *out);

enum fault_state { FAULT_WAITING, FAULT_INJECTED, FAULT_REVERTED, FAULT_REVERT_FAILED };

struct active_fault {
	const struct fl_fault_spec *spec;
	const struct fl_target *target;
	const struct fl_injector_ops *ops;
	json_t *revert;
	char *desc;
	int64_t journal_id;
	int64_t inject_at; /* when to inject */
	int64_t t_inject;  /* -1 until injected: when inject() returned (t0 for the first) */
	int64_t t_attempt; /* when inject() was called: the effect lies in [t_attempt, t_inject] */
	int raised;        /* injected at SCHED_FIFO (core/clock.h, fl_instant_enter) */
	int64_t revert_at; /* -1 = at the end */
	int64_t t_revert;
	int64_t next_ended_poll; /* ops->ended: when to ask next */
	enum fault_state state;
};

struct probe_state {
	const struct fl_probe_spec *spec;
	int idx;
	size_t seen; /* samples consumed for last/streak */
	size_t fed;  /* samples fed to the timeline */
	struct fl_timeline tl;
	int has_last;
	struct fl_sample last;
	int64_t fail_since; /* placed time of the first failure of the current streak, -1 */
	int64_t ok_since;   /* placed time of the first ok of the current ok run, -1 */
};

/* Every instant of the drill, monotonic ns; -1 = not (yet) known. */
struct drill_clock {
	int64_t start;    /* the drill began (prepare phases count from here) */
	int64_t deadline; /* the drill timeout */
	int64_t t0;       /* first injection */
	int64_t t_impact, impact_unc;
	int64_t t_detect;
	int64_t t_restored, restored_unc;
	int64_t t_validated;
	int64_t t_last_inject;
	int64_t stage_start; /* enter_stage */
	int64_t last_live;   /* last redraw of the live line */
};

/* The recovery step in progress; reset by enter_stage. */
struct drill_step {
	size_t index;
	int64_t start, deadline; /* start -1: not started */
	pid_t pid;               /* action's process group, -1 */
	int logfd;               /* action's output, -1 */
	char log[64];
	struct fl_aws_restore *restore; /* aws.backup_restore's job, or NULL */
};

struct drill {
	const struct fl_run_options *o;
	struct fl_error *err;
	struct fl_store *st;
	struct fl_run *run;
	struct fl_scenario *sc;
	struct fl_environment *env;
	struct fl_inventory *inv;
	struct fl_probe_engine *eng;
	struct probe_state *ps;
	size_t nps;
	size_t avail, detect; /* indexes into ps */
	struct fl_writer **writers;
	struct active_fault *faults;
	size_t nfaults, next_fault;
	size_t nprep_phases;            /* the run's first phases: prepare steps, from clk.start */
	struct fl_alert_watch *alert;   /* detection by an external alert, or NULL */
	struct fl_cloudwatch_watch *cw; /* detection by a CloudWatch alarm, or NULL */
	struct fl_alert_observation alert_obs;
	enum fl_stage stage;
	struct drill_clock clk;
	struct drill_step step;
	enum fl_outcome outcome;
};

/* runner.c */
void drill_say(struct drill *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Moves to stage s at `now` and resets the per-stage state (the step). */
void enter_stage(struct drill *d, enum fl_stage s, int64_t now);
/* Raises the outcome; with a reason, also records it as a failure. */
void drill_outcome(struct drill *d, enum fl_outcome o, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Takes new samples and checks the interrupt flag, the stop conditions and
 * the drill timeout, as every turn of the drill loop does: 1 (outcome
 * raised, reason recorded) when the drill must stop now, else 0. For the
 * stages that run outside the loop, faults still in place. */
int drill_abort_now(struct drill *d);
/* Records that the current stage ran into the drill timeout. */
void drill_timed_out(struct drill *d);
/* 1 when the operator asked to stop (the signal flag). */
int drill_interrupted(const struct drill *d);
struct probe_state *probe_by_name(struct drill *d, const char *name);
int probe_healthy(const struct probe_state *p);
/* Records a phase [start, end] on the t0 timeline. */
void record_phase(struct drill *d, const char *name, int64_t start, int64_t end);

#endif
