/*
 * inventory: the asset inventory — what DR planners protect, by tier.
 *
 * Owns: the asset model (name, kind, tier 1-4, RPO, RTO, depends-on) and its
 * strict loader; dependency names are checked to exist and to form no cycle.
 * Scenarios name an asset; its RTO/RPO are the scenario's targets unless the
 * scenario sets its own. Does not own: runs or verdicts.
 *
 * File format: { "kind": "inventory"?, "assets": [ { "name": "orders-db",
 *   "kind": "database", "tier": 1, "rpo": "0s", "rto": "30s",
 *   "depends_on": ["..."], "description": "...", "owner": "...",
 *   "backup_info": ["pgbackrest", "--stanza=main", "info", "--output=json"],
 *   "drill_every": "30d" } ] }
 * backup_info is a command (argv, no shell) that prints pgBackRest's info
 * JSON; a relative argv[0] with a '/' is taken against the inventory's
 * directory.
 */
#ifndef FAULTLINE_INVENTORY_H
#define FAULTLINE_INVENTORY_H

#include <stddef.h>
#include <stdint.h>

#include "core/doc.h"
#include "core/error.h"

struct fl_asset {
	char *name;
	char *kind;             /* "database", "service", "infrastructure", ... */
	int tier;               /* 1 (most critical) .. 4 */
	int64_t rpo_ns;         /* -1 when not given */
	int64_t rto_ns;         /* -1 when not given */
	char **depends_on;      /* NULL-terminated, may be NULL */
	char *owner;            /* may be NULL */
	char *description;      /* may be NULL */
	char **backup_info;     /* NULL-terminated argv printing pgBackRest info JSON, or NULL */
	int64_t drill_every_ns; /* drill_every ("30d", "2w", "12h"): stale when not drilled
				   for longer; -1 when not given (the report's --stale-days) */
	int line, col;
};

struct fl_inventory {
	struct fl_doc *doc;
	struct fl_asset *assets;
	size_t nassets;
};

struct fl_inventory *fl_inventory_load(const char *path, struct fl_error *err);
struct fl_inventory *fl_inventory_from_doc(struct fl_doc *doc, struct fl_error *err);
void fl_inventory_free(struct fl_inventory *inv);
const struct fl_asset *fl_inventory_asset(const struct fl_inventory *inv, const char *name);

#endif
