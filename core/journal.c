/*
 * journal: the fault journal and its owner rules. See journal.h.
 *
 * Every change is one BEGIN IMMEDIATE transaction on a synchronous=FULL
 * connection (store.c): when fl_journal_begin returns, the row survives a
 * crash or a power cut, which is what lets `recover` revert a fault whose
 * harness died.
 */
#include "core/journal.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/proc.h"
#include "core/store_pg.h"
#include "core/store_sql.h"

#include <inttypes.h>
#include <string.h>
#include <unistd.h>

static const char *const journal_states[] = {
	[FL_JOURNAL_PENDING] = "pending",   [FL_JOURNAL_INJECTED] = "injected",
	[FL_JOURNAL_REVERTED] = "reverted", [FL_JOURNAL_REVERT_FAILED] = "revert_failed",
	[FL_JOURNAL_ARMED] = "armed",
};

_Static_assert(FL_ARRAY_LEN(journal_states) == FL_JOURNAL_NSTATES, "one name per journal state");

/* ---- fault journal ------------------------------------------------------------------- */

const char *fl_journal_state_name(enum fl_journal_state s)
{
	if ((unsigned)s < FL_ARRAY_LEN(journal_states))
		return journal_states[s];
	return "unknown";
}

int fl_journal_state_parse(const char *name, enum fl_journal_state *out)
{
	for (size_t i = 0; name && i < FL_ARRAY_LEN(journal_states); i++) {
		if (!strcmp(name, journal_states[i])) {
			*out = (enum fl_journal_state)i;
			return 0;
		}
	}
	return -1;
}

/* The journal's state machine. Nothing goes back to PENDING, and REVERTED
 * is final: a fault that was reverted is not re-injected under the same row.
 * PENDING -> REVERTED covers an inject that failed before taking effect (or
 * was reverted by `recover` after a crash mid-inject). REVERT_FAILED ->
 * REVERT_FAILED records a retry that failed again. */
int fl_journal_transition_ok(enum fl_journal_state from, enum fl_journal_state to)
{
	switch (from) {
	case FL_JOURNAL_ARMED:
	case FL_JOURNAL_PENDING:
		/* Same state again: the revert record re-journaled (what the
		 * injector re-reads right before the damage, durably first). */
		return to == from || to == FL_JOURNAL_INJECTED || to == FL_JOURNAL_REVERTED ||
		       to == FL_JOURNAL_REVERT_FAILED;
	case FL_JOURNAL_INJECTED:
		return to == FL_JOURNAL_REVERTED || to == FL_JOURNAL_REVERT_FAILED;
	case FL_JOURNAL_REVERT_FAILED:
		return to == FL_JOURNAL_REVERTED || to == FL_JOURNAL_REVERT_FAILED;
	case FL_JOURNAL_REVERTED: return 0;
	}
	return 0;
}

static char *revert_dump(const json_t *revert)
{
	return json_dumps(revert, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

/* Commits a new row in state `state` (pending or armed), durably: the
 * connection is synchronous=FULL, so the row is on disk when this returns. */
static int journal_insert(struct fl_store *st, enum fl_journal_state state, int64_t run_id,
			  const char *injector, const char *target, const char *description,
			  const json_t *revert, int64_t *id, struct fl_error *err)
{
	sqlite3_stmt *s = NULL;
	char *revert_text = NULL, now[48];
	int64_t new_id;
	int ret = -1;
	struct fl_owner owner;

	if (st->ops)
		return st->ops->journal_insert(st, state, run_id, injector, target, description,
					       revert, id, err);
	fl_owner_self(&owner);
	if (!injector || !*injector)
		return fl_error_set(err, FL_EXIT_ENV, "%s: journal entry without an injector name",
				    st->path);
	if (revert && !(revert_text = revert_dump(revert)))
		return fl_store_sql_oom(st, err);
	fl_rfc3339(fl_wall_ns(), now, sizeof(now));
	if (fl_store_tx_begin(st, err))
		goto out;
	s = fl_store_prepare(st,
			     "INSERT INTO journal (run_id, created_at, updated_at, injector, "
			     "target, description, state, revert, error, owner_host, owner_pid, "
			     "owner_start) "
			     "VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?10, ?6, NULL, ?7, ?8, ?9)",
			     err);
	if (!s)
		goto out;
	if ((run_id > 0 ? sqlite3_bind_int64(s, 1, run_id) : sqlite3_bind_null(s, 1)) ||
	    fl_sql_bind_text(s, 2, now) || fl_sql_bind_text(s, 3, injector) ||
	    fl_sql_bind_text(s, 4, target) || fl_sql_bind_text(s, 5, description) ||
	    fl_sql_bind_text(s, 6, revert_text) || fl_sql_bind_text(s, 7, owner.host) ||
	    sqlite3_bind_int64(s, 8, owner.pid) ||
	    sqlite3_bind_int64(s, 9, (sqlite3_int64)owner.start) ||
	    fl_sql_bind_text(s, 10, journal_states[state])) {
		fl_store_sql_fail(st, err);
		goto out;
	}
	if (fl_store_step_done(st, s, err))
		goto out;
	new_id = sqlite3_last_insert_rowid(st->db);
	if (fl_store_tx_commit(st, err))
		goto out;
	if (id)
		*id = new_id;
	ret = 0;
out:
	sqlite3_finalize(s);
	if (ret)
		fl_store_tx_rollback(st);
	fl_free(revert_text);
	return ret;
}

int fl_journal_begin(struct fl_store *st, int64_t run_id, const char *injector, const char *target,
		     const char *description, const json_t *revert, int64_t *id, struct fl_error *err)
{
	return journal_insert(st, FL_JOURNAL_PENDING, run_id, injector, target, description, revert,
			      id, err);
}

int fl_journal_arm(struct fl_store *st, int64_t run_id, const char *injector, const char *target,
		   const char *description, const json_t *revert, int64_t *id, struct fl_error *err)
{
	return journal_insert(st, FL_JOURNAL_ARMED, run_id, injector, target, description, revert,
			      id, err);
}

/* Inside a write transaction: the row exists and may move to `to`. */
static int journal_check_move(struct fl_store *st, int64_t id, enum fl_journal_state to,
			      struct fl_error *err)
{
	sqlite3_stmt *s = fl_store_prepare(st, "SELECT state FROM journal WHERE id = ?1", err);
	enum fl_journal_state from;
	int rc, ret = -1;

	if (!s)
		return -1;
	if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK) {
		fl_store_sql_fail(st, err);
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		fl_error_set(err, FL_EXIT_ENV, "%s: journal entry %" PRId64 " does not exist",
			     st->path, id);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		fl_store_sql_fail(st, err);
		goto out;
	}
	if (fl_journal_state_parse((const char *)sqlite3_column_text(s, 0), &from)) {
		fl_error_set(err, FL_EXIT_ENV, "%s: journal entry %" PRId64 " has an unknown state",
			     st->path, id);
		goto out;
	}
	if (!fl_journal_transition_ok(from, to)) {
		fl_error_set(err, FL_EXIT_ENV,
			     "%s: journal entry %" PRId64 " cannot move from %s to %s", st->path,
			     id, fl_journal_state_name(from), fl_journal_state_name(to));
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(s);
	return ret;
}

/* Marking a row injected is the one move that needs no fsync of its own:
 * the row was committed durably (pending or armed) before the inject, and
 * `recover` reverts a pending or armed row exactly as it reverts an
 * injected one. So that commit runs at synchronous=NORMAL: in WAL mode it
 * reaches the log without a sync, and becomes durable with the next FULL
 * commit or checkpoint (each syncs the whole log first, so what survives a
 * power cut is always a prefix of the commits). Lost, the row is simply
 * still pending or armed. Every other move stays FULL. */
int fl_journal_mark(struct fl_store *st, int64_t id, enum fl_journal_state state,
		    const json_t *revert, const char *error, struct fl_error *err)
{
	sqlite3_stmt *s = NULL;
	char *revert_text = NULL, now[48];
	int ret = -1, relaxed = state == FL_JOURNAL_INJECTED;

	if (st->ops)
		return st->ops->journal_mark(st, id, state, revert, error, err);
	if ((unsigned)state >= FL_ARRAY_LEN(journal_states))
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: journal entry %" PRId64 ": unknown state %d", st->path, id,
				    (int)state);
	if (revert && !(revert_text = revert_dump(revert)))
		return fl_store_sql_oom(st, err);
	fl_rfc3339(fl_wall_ns(), now, sizeof(now));
	/* Read and update under one write lock so two processes cannot both
	 * move the same row out of a state. */
	if ((relaxed ? fl_store_tx_begin_relaxed(st, err) : fl_store_tx_begin(st, err)) ||
	    journal_check_move(st, id, state, err))
		goto out;
	s = fl_store_prepare(st,
			     "UPDATE journal SET state = ?1, updated_at = ?2, "
			     "revert = coalesce(?3, revert), error = coalesce(?4, error) "
			     "WHERE id = ?5",
			     err);
	if (!s)
		goto out;
	if (fl_sql_bind_text(s, 1, journal_states[state]) || fl_sql_bind_text(s, 2, now) ||
	    fl_sql_bind_text(s, 3, revert_text) || fl_sql_bind_text(s, 4, error) ||
	    sqlite3_bind_int64(s, 5, id)) {
		fl_store_sql_fail(st, err);
		goto out;
	}
	if (fl_store_step_done(st, s, err) || fl_store_tx_commit(st, err))
		goto out;
	ret = 0;
out:
	sqlite3_finalize(s);
	if (ret)
		fl_store_tx_rollback(st);
	if (relaxed)
		fl_store_sync_restore(st);
	fl_free(revert_text);
	return ret;
}

static int journal_load_row(sqlite3_stmt *s, struct fl_journal_entry *e)
{
	char *revert_text = NULL, *state = NULL;
	json_error_t jerr;
	/* jansson leaves it untouched when it fails before parsing (out of memory). */
	memset(&jerr, 0, sizeof(jerr));
	int ret = -1;

	e->id = sqlite3_column_int64(s, 0);
	e->run_id = sqlite3_column_type(s, 1) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, 1);
	if (fl_sql_col_text(s, 2, &e->injector) || fl_sql_col_text(s, 3, &e->target) ||
	    fl_sql_col_text(s, 4, &e->description) || fl_sql_col_text(s, 5, &revert_text) ||
	    fl_sql_col_text(s, 6, &state) || fl_sql_col_text(s, 7, &e->created_at) ||
	    fl_sql_col_text(s, 8, &e->error) || fl_sql_col_text(s, 9, &e->owner_host))
		goto out;
	e->owner_pid = (long)sqlite3_column_int64(s, 10);
	e->owner_start = (unsigned long long)sqlite3_column_int64(s, 11);
	if (fl_journal_state_parse(state, &e->state))
		e->state = FL_JOURNAL_PENDING;
	if (revert_text) {
		e->revert = json_loads(revert_text, JSON_DECODE_ANY, &jerr);
		/* Text that is not JSON (edited by hand) leaves revert NULL: the
		 * entry is still listed, and `recover` hands it to a human. */
		if (!e->revert &&
		    (json_error_code(&jerr) == json_error_out_of_memory || jerr.text[0] == '\0'))
			goto out;
	}
	ret = 0;
out:
	fl_free(revert_text);
	fl_free(state);
	return ret;
}

int fl_journal_open_entries(struct fl_store *st, struct fl_journal_entry **out, size_t *n,
			    struct fl_error *err)
{
	sqlite3_stmt *s = NULL;
	struct fl_journal_entry *arr = NULL;
	size_t count = 0;
	int ret = -1, rc;

	if (st->ops)
		return st->ops->journal_open(st, out, n, err);
	*out = NULL;
	*n = 0;
	s = fl_store_prepare(st,
			     "SELECT id, run_id, injector, target, description, revert, state, "
			     "created_at, error, owner_host, owner_pid, owner_start FROM journal "
			     "WHERE state IN ('pending', 'armed', 'injected', 'revert_failed') ORDER BY id",
			     err);
	if (!s)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct fl_journal_entry *grown = fl_realloc(arr, (count + 1) * sizeof(*arr));
		if (!grown) {
			fl_store_sql_oom(st, err);
			goto out;
		}
		arr = grown;
		memset(&arr[count], 0, sizeof(*arr));
		count++;
		if (journal_load_row(s, &arr[count - 1])) {
			fl_store_sql_oom(st, err);
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		fl_store_sql_fail(st, err);
		goto out;
	}
	*out = arr;
	*n = count;
	arr = NULL;
	ret = 0;
out:
	sqlite3_finalize(s);
	fl_journal_entries_free(arr, count);
	return ret;
}

void fl_journal_entries_free(struct fl_journal_entry *e, size_t n)
{
	if (!e)
		return;
	for (size_t i = 0; i < n; i++) {
		fl_free(e[i].injector);
		fl_free(e[i].target);
		fl_free(e[i].description);
		json_decref(e[i].revert);
		fl_free(e[i].created_at);
		fl_free(e[i].error);
		fl_free(e[i].owner_host);
	}
	fl_free(e);
}

void fl_owner_self(struct fl_owner *o)
{
	memset(o, 0, sizeof(*o));
	if (gethostname(o->host, sizeof(o->host)) != 0)
		o->host[0] = '\0';
	o->host[sizeof(o->host) - 1] = '\0';
	o->pid = (long)getpid();
	if (fl_proc_stat(getpid(), NULL, &o->start) < 0)
		o->start = 0;
}

int fl_owner_alive_leased(const char *host, long pid, unsigned long long start, int lease)
{
	int local = fl_owner_alive(host, pid, start);
	if (local >= 0 || !host || pid <= 0)
		return local;
	return lease == FL_LEASE_LIVE ? 1 : lease == FL_LEASE_EXPIRED ? 0 : -1;
}

int fl_owner_alive(const char *host, long pid, unsigned long long start)
{
	struct fl_owner me;
	if (!host || pid <= 0)
		return -1;
	fl_owner_self(&me);
	if (strcmp(host, me.host) != 0)
		return -1;
	return fl_proc_alive((pid_t)pid, start);
}
