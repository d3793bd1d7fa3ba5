/*
 * strategy: the organisation's recovery strategy as a document (`faultline
 * plan`), in HTML or Markdown, generated from what faultline already holds:
 * the inventory (assets, tiers, RPO/RTO, owners, backups), the environments
 * (zones and targets), the scenario files (how each asset is recovered: the
 * ordered recovery steps, the validation checks) and the store (each step's
 * measured median and p95 duration, last drilled, verdicts).
 *
 * Owns: choosing what the document says, the coverage matrix (asset x
 * disaster type: data corruption, instance kill, AZ outage, clock, cloud;
 * gaps flagged) and the classification of a scenario into disaster types.
 * Does not own: loading any of its inputs (the caller, cli/cmd_plan.c), the
 * statistics (report.c / stats.c), or writing the file.
 *
 * Named "strategy" rather than "plan" because sim/plan.c is the dry-run plan
 * of one drill; the command is still `faultline plan`.
 */
#ifndef FAULTLINE_STRATEGY_H
#define FAULTLINE_STRATEGY_H

#include <stddef.h>

#include "core/buf.h"
#include "core/environment.h"
#include "core/error.h"
#include "core/inventory.h"
#include "core/scenario.h"
#include "reports/report.h"

/* Disaster types of the coverage matrix, in column order. */
enum fl_disaster {
	FL_DISASTER_CORRUPTION,
	FL_DISASTER_INSTANCE,
	FL_DISASTER_ZONE,
	FL_DISASTER_CLOCK,
	FL_DISASTER_CLOUD,
	FL_DISASTER_COUNT
};

/* Column heading: "data corruption", "instance kill", "AZ outage", "clock", "cloud". */
const char *fl_disaster_name(enum fl_disaster d);

/* Bit set (1 << enum fl_disaster) of what a scenario exercises, from its
 * faults (file → corruption; process → instance kill; a zone selection or a
 * netns target → AZ outage; clock → clock; a cloud target → cloud) and, for
 * faults the injector does not tell (exec), from its tags ("corruption",
 * "restore", "pitr"; "failover", "restart", "kill", "process", "split-brain";
 * "zone", "az-outage"; "clock"; "cloud"). env may be NULL. */
unsigned fl_strategy_classify(const struct fl_scenario *sc, const struct fl_environment *env);

struct fl_strategy {
	const char *title;                        /* NULL: "Recovery strategy" */
	const struct fl_inventory *inventory;     /* may be NULL */
	const struct fl_environment *const *envs; /* distinct environments */
	size_t nenvs;
	const struct fl_scenario *const *scenarios;
	const struct fl_environment *const *scenario_env; /* per scenario, or NULL entries */
	size_t nscenarios;
	const struct fl_report *report; /* finished (fl_report_finish) over the store */
};

/* Append the whole document to out. 0, or -1 with err set (out of memory). */
int fl_strategy_write_html(const struct fl_strategy *s, struct fl_buf *out, struct fl_error *err);
int fl_strategy_write_markdown(const struct fl_strategy *s, struct fl_buf *out, struct fl_error *err);

#endif
