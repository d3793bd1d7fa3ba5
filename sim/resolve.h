/*
 * resolve: fault and probe resolution against the environment and inventory.
 *
 * Owns: filling probe addresses from their targets, expanding zone
 * selections into one fault per target, checking each fault's target kind
 * and blast radius, letting each injector validate its own keys, and taking
 * RTO/RPO targets from the asset when the scenario has none.
 * Does not own: loading the files (core/scenario.h, core/environment.h).
 */
#ifndef FAULTLINE_SIM_RESOLVE_H
#define FAULTLINE_SIM_RESOLVE_H

#include "core/environment.h"
#include "core/inventory.h"
#include "core/scenario.h"
#include "core/error.h"

/* Cross-checks against an environment and an inventory (either may be NULL):
 * every fault/probe target exists, every injector exists and accepts its
 * parameters and target, the blast radius holds, the asset exists. A fault
 * that names a "zone" instead of a "target" is expanded here into one fault
 * per environment target in that zone whose kind its injector accepts (in
 * environment order; "select": "count(N)" or "percent(N)" keeps the first
 * ones), named "<fault>@<target>". Fills
 * missing RTO/RPO targets from the asset, and probe URLs/hosts from targets.
 * Errors point into the scenario file. */
int fl_resolve_scenario(struct fl_scenario *sc, const struct fl_environment *env,
			const struct fl_inventory *inv, struct fl_error *err);

#endif
