/*
 * injector: the one small interface every fault family implements.
 *
 * Owns: the ops table, the registry the runner looks injectors up in, and the
 * contract that makes "always revert" possible: everything needed to undo a
 * fault is captured by prepare() as a JSON object BEFORE the fault is
 * attempted, committed to the journal, and revert() works from that JSON
 * alone — after a crash the runner has nothing else. The runner never knows a
 * fault by name. Does not own: scheduling, timing or journaling (runner.c,
 * journal in store.c).
 *
 * How to add an injector (git's builtin.h style checklist):
 *  1. Create injectors/<family>.c with a `const struct fl_injector_ops
 *     fl_injector_<family>` and its five functions; keep helpers static.
 *  2. validate(): check the fault's own keys (mark them with fl_doc_* getters
 *     on the fault object so unknown keys are reported) and the target's
 *     kind; no side effects.
 *  3. prepare(): read what revert needs (original bytes, the pid, the rule
 *     handle) into a new JSON object; no side effects on the environment.
 *  4. inject(): do the damage, acting on what the journaled record says;
 *     may add to the revert JSON (it is re-journaled after inject returns).
 *     Must be quick: long faults are a state, reverted later, not a blocking
 *     call; return as soon as the fault is in effect (t0 is read then) and
 *     make it durable in the optional settle() (an fsync), called after t0. What must be re-read just before the damage goes in the
 *     optional rearm(), never in inject(): the runner journals a changed
 *     record before the damage.
 *  5. revert(): idempotent, safe to call when inject never happened or
 *     half-happened, and after the harness itself was killed.
 *  6. describe(): one line for --dry-run, the journal and reports.
 *  7. Add it to the table in injectors/injector.c, add a unit test in
 *     tests/unit/test_injector_<family>.c, and document its keys in README.md
 *     and scenarios/schema/scenario.schema.json.
 */
#ifndef FAULTLINE_INJECTOR_H
#define FAULTLINE_INJECTOR_H

#include <jansson.h>

#include "core/doc.h"
#include "core/environment.h"
#include "core/scenario.h"
#include "core/error.h"

/* Bit in target_kinds: the target is optional (no enum fl_target_kind uses it). */
#define FL_INJECTOR_TARGET_OPTIONAL (1u << 31)

struct fl_injector_ops {
	const char *name;    /* as written in scenarios: "process", "file", "exec" */
	const char *summary; /* one line for `faultline --help` and docs */
	/* Target kinds accepted, as a bit set of (1 << enum fl_target_kind); 0 = no target needed.
	 * With FL_INJECTOR_TARGET_OPTIONAL also set, a fault may name one of those
	 * kinds or no target at all (exec). */
	unsigned target_kinds;
	int (*validate)(struct fl_doc *doc, const struct fl_fault_spec *fault,
			const struct fl_target *target, struct fl_error *err);
	/* Returns a new JSON object (the revert record) or NULL with err set. */
	json_t *(*prepare)(const struct fl_fault_spec *fault, const struct fl_target *target,
			   struct fl_error *err);
	int (*inject)(const struct fl_fault_spec *fault, const struct fl_target *target,
		      json_t *revert, struct fl_error *err);
	/* Optional. Makes durable what inject() put in effect: inject() returns
	 * as soon as the fault is in effect for everyone (the file injector's
	 * pwrite: in the page cache, seen by every reader), t0 is read then, and
	 * the runner calls settle() after t0 and after the instant's raised
	 * priority was dropped, before the journal row is marked injected (the
	 * file injector's fsync). The fault is in place whatever settle returns:
	 * -1 (err set) fails the drill like an inject error, and the runner
	 * reverts the fault. */
	int (*settle)(const struct fl_fault_spec *fault, const struct fl_target *target,
		      const json_t *revert, struct fl_error *err);
	int (*revert)(const json_t *revert, struct fl_error *err);
	/* New string (fl_free) describing the fault in one line. */
	char *(*describe)(const struct fl_fault_spec *fault, const struct fl_target *target);
	/* Optional. Re-reads, right before the damage, what prepare() captured
	 * and the world may have changed since (bytes written to the file, a pid
	 * a restart replaced) into revert. Returns 1 when the record changed —
	 * the runner then commits it to the journal BEFORE calling inject(), so
	 * a SIGKILL in between can never restore stale bytes or signal a
	 * stranger — 0 when unchanged, -1 with err set. */
	int (*rearm)(const struct fl_fault_spec *fault, const struct fl_target *target,
		     json_t *revert, struct fl_error *err);
	/* Optional. For a fault that ends by itself (an AWS FIS experiment runs
	 * its course): asked by the drill loop about once a second while the
	 * fault is injected. 0 while it goes on; FL_FAULT_ENDED when it ended
	 * as planned; FL_FAULT_ENDED_BADLY when it ended otherwise (failed,
	 * stopped by someone else), the reason in err; -1 with err when it could
	 * not be asked (asked again later). Once it ended the runner reverts it
	 * (revert then finds nothing left to stop). */
	int (*ended)(const json_t *revert, struct fl_error *err);
	/* Optional, for a family whose one target stands for many resources (a
	 * cloud target selecting instances): the resources a prepared record
	 * would touch, as a new JSON array of unique ID strings (NULL: out of
	 * memory). Pure, no call. The runner counts these against
	 * blast_radius.max_targets instead of the target (sim/faults.c). */
	json_t *(*resources)(const json_t *revert);
};

#define FL_FAULT_ENDED 1
#define FL_FAULT_ENDED_BADLY 2

/* Borrowed ops by name, or NULL. */
const struct fl_injector_ops *fl_injector_find(const char *name);
/* NULL-terminated table of all injectors, borrowed. */
const struct fl_injector_ops *const *fl_injector_all(void);

/* Reverts a journaled fault from its injector name and revert JSON. Used by
 * the runner and by `faultline recover`. */
int fl_injector_revert(const char *injector, const json_t *revert, struct fl_error *err);

/* Records in the revert record what a revert actually did ("restarted with
 * start command", "region 0: already recovered"), as the member "outcome"
 * (replacing an earlier one). The record's contents captured by prepare()
 * are never changed; the outcome only travels into the journal, which the
 * runner rewrites from the same object after revert returns. */
void fl_injector_note(const json_t *revert, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- the journal form (docs/trust.md) ----------------------------------
 * The journal holds everything a revert needs, expanded, except the values
 * of declared secrets, which it names as ${NAME}; recover checks they are
 * set before reverting (fl_injector_revert). */

/* New JSON string for the journal: raw (a file's text, may hold ${VAR}) in
 * journal form when given, else value escaped as a literal. NULL, err set. */
json_t *fl_injector_journal_string(const char *raw, const char *value, char *const *secrets,
				   const char *fault, struct fl_error *err);
/* The raw text of target->json[key] when it references a declared secret
 * (borrowed), else NULL: the fact is then journaled as its expanded value. */
const char *fl_injector_raw_secret(const struct fl_target *target, const char *key,
				   char *const *secrets);
/* New JSON array for the journal of a target's argv (target->json[key] raw,
 * `expanded` as loaded): by name when it references a secret. */
json_t *fl_injector_journal_strv(const struct fl_target *target, const char *key,
				 char *const *expanded, char *const *secrets, const char *fault,
				 struct fl_error *err);
/* A journaled argv array expanded for running (new vector, fl_strv_free);
 * NULL with err set naming `what` (e.g. a secret that is not set). */
char **fl_injector_argv_expand(const json_t *arr, const char *what, struct fl_error *err);

#endif
