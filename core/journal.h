/*
 * journal: the fault journal, a row per fault injected, and the rules of who
 * owns a row.
 *
 * Owns: the journal's states (one name table: parse and name), the moves
 * allowed between them, writing a row before a fault is attempted and
 * marking it as the fault goes in and comes out, listing the open rows for
 * `recover`, and the owner of a drill (host, pid, process start time) that
 * tells `recover` a live drill from a dead one.
 * Does not own: reverting (injectors/, sim/runner.c), the database file
 * (store.h).
 *
 * States (docs/store.md):
 *
 *   armed ───┐
 *            ├──> injected ──> reverted
 *   pending ─┘        │           ^
 *      │              v           │
 *      │         revert_failed ───┘   (revert_failed -> revert_failed: a retry failed again)
 *      └─(armed too)──> reverted / revert_failed
 *
 * Rule: the revert record is durable before the fault. Two ways to keep it:
 *   pending  fl_journal_begin commits the row (synchronous=FULL: an fsync)
 *            right before the inject is attempted. The fsync sits between
 *            the scheduled instant and the fault.
 *   armed    fl_journal_arm commits the row (FULL, an fsync) AHEAD of the
 *            instant; at the instant the caller injects with no journal
 *            write in between, then marks the row injected. That mark is
 *            committed at synchronous=NORMAL (no fsync of its own): if a
 *            crash loses it, the row is still armed, and `recover` treats an
 *            armed row as possibly injected and reverts it (reverts tolerate
 *            a fault that never took effect or took effect half-way).
 * An armed row whose fault is then not injected (the drill stopped first)
 * is closed with fl_journal_mark(REVERTED): there is nothing to undo.
 * A pending or armed row may be marked with its own state again to replace
 * its revert record (durably), e.g. with what the injector re-reads right
 * before the damage. reverted is final and nothing goes back to pending or
 * armed from another state. Open rows
 * (pending, armed, injected, revert_failed) are what `recover` reverts,
 * oldest first.
 */
#ifndef FAULTLINE_JOURNAL_H
#define FAULTLINE_JOURNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

struct fl_store;

enum fl_journal_state {
	FL_JOURNAL_PENDING = 0,   /* committed, inject about to be attempted or in progress */
	FL_JOURNAL_INJECTED,      /* inject returned success */
	FL_JOURNAL_REVERTED,      /* revert succeeded: closed */
	FL_JOURNAL_REVERT_FAILED, /* revert failed: still open, needs `recover` or a human */
	FL_JOURNAL_ARMED          /* committed ahead of the instant; the inject may have happened */
};
#define FL_JOURNAL_NSTATES (FL_JOURNAL_ARMED + 1)

/* "pending", "injected", "reverted", "revert_failed", "armed"; "unknown" out of range. */
const char *fl_journal_state_name(enum fl_journal_state s);
/* 0 and *out set when name is a state, -1 otherwise (NULL included). */
int fl_journal_state_parse(const char *name, enum fl_journal_state *out);
/* 1 when a row may move from `from` to `to`, 0 otherwise. */
int fl_journal_transition_ok(enum fl_journal_state from, enum fl_journal_state to);

struct fl_journal_entry {
	int64_t id;
	int64_t run_id;
	char *injector;
	char *target;
	char *description;
	json_t *revert; /* owned */
	enum fl_journal_state state;
	char *created_at;
	char *error; /* last revert error or NULL */
	/* The faultline process that journaled it: `recover` leaves the faults of
	 * a drill that is still running alone (schema 2; NULL/0 for older rows). */
	char *owner_host;
	long owner_pid;
	unsigned long long owner_start;
	/* The owner's lease in a shared store (store_pg.h): FL_LEASE_NONE when
	 * none is known (SQLite, older rows), LIVE or EXPIRED. */
	int owner_lease;
};
#define FL_LEASE_NONE 0
#define FL_LEASE_LIVE 1
#define FL_LEASE_EXPIRED 2

/* Commits a new PENDING row before the fault is attempted; sets *id. */
int fl_journal_begin(struct fl_store *st, int64_t run_id, const char *injector, const char *target,
		     const char *description, const json_t *revert, int64_t *id,
		     struct fl_error *err);
/* Commits a new ARMED row ahead of the injection instant (durable when it
 * returns, like fl_journal_begin); sets *id. Inject at the instant, then
 * fl_journal_mark(id, INJECTED), which commits without an fsync. */
int fl_journal_arm(struct fl_store *st, int64_t run_id, const char *injector, const char *target,
		   const char *description, const json_t *revert, int64_t *id, struct fl_error *err);
/* Moves a row to a new state (revert JSON replaced when non-NULL, error text
 * recorded when non-NULL). The move to INJECTED commits at
 * synchronous=NORMAL (no fsync of its own, see above); every other move is
 * durable when it returns. */
int fl_journal_mark(struct fl_store *st, int64_t id, enum fl_journal_state state,
		    const json_t *revert, const char *error, struct fl_error *err);
/* Open rows (PENDING, ARMED, INJECTED, REVERT_FAILED), oldest first. Caller frees
 * with fl_journal_entries_free. */
int fl_journal_open_entries(struct fl_store *st, struct fl_journal_entry **out, size_t *n,
			    struct fl_error *err);
void fl_journal_entries_free(struct fl_journal_entry *e, size_t n);

/* The process that owns the current drill, as recorded with every journal
 * row and run it begins: this host's name, getpid() and the process's start
 * time (/proc). */
struct fl_owner {
	char host[256];
	long pid;
	unsigned long long start;
};
void fl_owner_self(struct fl_owner *o);
/* 1 when o names a process that is alive on this host now, 0 when it is
 * certainly gone (same host, pid dead or reused), -1 when this host cannot
 * tell (another host, or an owner not recorded). */
int fl_owner_alive(const char *host, long pid, unsigned long long start);
/* fl_owner_alive, and for an owner on another host its lease decides:
 * FL_LEASE_LIVE 1, FL_LEASE_EXPIRED 0 (the host vanished or its runner
 * died), FL_LEASE_NONE -1. */
int fl_owner_alive_leased(const char *host, long pid, unsigned long long start, int lease);

#endif
