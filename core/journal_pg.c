/*
 * journal_pg: the fault journal in PostgreSQL. See journal.h for the states
 * and rules and store_pg.h for the backend; the SQLite side is journal.c.
 *
 * Durability: every commit waits for the server's WAL flush
 * (synchronous_commit on), except the move to injected, which sets
 * synchronous_commit = off for its own transaction: the same reasoning as
 * journal.c's synchronous=NORMAL (a lost mark leaves the row armed or
 * pending, which `recover` reverts all the same).
 * Owner rules: two runners cannot both move a row out of a state (the row
 * is locked FOR UPDATE while the move is checked); every row carries its
 * owner, and its owner's lease travels with it to `recover`.
 */
#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/journal.h"
#include "core/store_pg.h"
#include "core/store_sql.h"

#include <inttypes.h>
#include <string.h>

static char *revert_dump(const json_t *revert)
{
	return json_dumps(revert, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

struct insert_tx {
	struct fl_pgq q;
	int64_t id;
};

static int insert_body(struct fl_store *st, void *ctx, struct fl_error *err)
{
	struct insert_tx *t = ctx;
	PGresult *r;
	/* The lease is renewed in the same transaction: a row is never
	 * committed under an owner that other hosts could not judge. */
	if (fl_pg_lease_renew(st, err))
		return -1;
	r = fl_pg_exec(st,
		       "INSERT INTO journal (run_id, created_at, updated_at, injector, target, "
		       "description, state, revert, error, owner_host, owner_pid, owner_start) "
		       "VALUES ($1, $2, $2, $3, $4, $5, $10, $6, NULL, $7, $8, $9) RETURNING id",
		       &t->q, err);
	if (!r)
		return -1;
	t->id = fl_pg_int(r, 0, 0);
	PQclear(r);
	return 0;
}

/* The id the INSERT returned, with this process as owner and this write's
 * creation time (an id handed out by a server that then lost the
 * transaction may be handed out again, to a row of someone else). */
static int insert_committed(struct fl_store *st, void *ctx, int *done, struct fl_error *err)
{
	struct insert_tx *t = ctx;
	struct fl_pgq k;
	PGresult *r;
	fl_pgq_init(&k);
	fl_pgq_int(&k, t->id);
	fl_pgq_text(&k, t->q.v[6]);
	fl_pgq_text(&k, t->q.v[7]);
	fl_pgq_text(&k, t->q.v[8]);
	fl_pgq_text(&k, t->q.v[1]);
	r = fl_pg_exec(st,
		       "SELECT 1 FROM journal WHERE id = $1 AND owner_host = $2 AND owner_pid = $3 "
		       "AND owner_start = $4 AND created_at = $5",
		       &k, err);
	if (!r)
		return -1;
	*done = PQntuples(r) == 1;
	PQclear(r);
	return 0;
}

int fl_pg_journal_insert(struct fl_store *st, enum fl_journal_state state, int64_t run_id,
			 const char *injector, const char *target, const char *description,
			 const json_t *revert, int64_t *id, struct fl_error *err)
{
	static const struct fl_pg_tx tx = { .body = insert_body, .committed = insert_committed };
	char *revert_text = NULL, now[48];
	struct fl_owner owner;
	struct insert_tx t = { .id = 0 };
	int rc;

	fl_owner_self(&owner);
	if (!injector || !*injector)
		return fl_error_set(err, FL_EXIT_ENV, "%s: journal entry without an injector name",
				    st->path);
	if (revert && !(revert_text = revert_dump(revert)))
		return fl_store_sql_oom(st, err);
	fl_rfc3339(fl_wall_ns(), now, sizeof(now));
	fl_pgq_init(&t.q);
	if (run_id > 0)
		fl_pgq_int(&t.q, run_id);
	else
		fl_pgq_text(&t.q, NULL);
	fl_pgq_text(&t.q, now);
	fl_pgq_text(&t.q, injector);
	fl_pgq_text(&t.q, target);
	fl_pgq_text(&t.q, description);
	fl_pgq_text(&t.q, revert_text);
	fl_pgq_text(&t.q, owner.host);
	fl_pgq_int(&t.q, owner.pid);
	fl_pgq_int(&t.q, (int64_t)owner.start);
	fl_pgq_text(&t.q, fl_journal_state_name(state));
	rc = fl_pg_tx(st, &tx, &t, err);
	if (rc == 0 && id)
		*id = t.id;
	fl_free(revert_text);
	return rc;
}

/* Inside the transaction: locks the row and checks the move. */
static int check_move(struct fl_store *st, int64_t id, enum fl_journal_state to, struct fl_error *err)
{
	struct fl_pgq q;
	PGresult *r;
	enum fl_journal_state from;
	int ret = -1;

	fl_pgq_init(&q);
	fl_pgq_int(&q, id);
	r = fl_pg_exec(st, "SELECT state FROM journal WHERE id = $1 FOR UPDATE", &q, err);
	if (!r)
		return -1;
	if (PQntuples(r) == 0)
		fl_error_set(err, FL_EXIT_ENV, "%s: journal entry %" PRId64 " does not exist",
			     st->path, id);
	else if (fl_journal_state_parse(PQgetvalue(r, 0, 0), &from))
		fl_error_set(err, FL_EXIT_ENV, "%s: journal entry %" PRId64 " has an unknown state",
			     st->path, id);
	else if (!fl_journal_transition_ok(from, to))
		fl_error_set(err, FL_EXIT_ENV,
			     "%s: journal entry %" PRId64 " cannot move from %s to %s", st->path,
			     id, fl_journal_state_name(from), fl_journal_state_name(to));
	else
		ret = 0;
	PQclear(r);
	return ret;
}

struct mark_tx {
	struct fl_pgq q;
	int64_t id;
	enum fl_journal_state state;
};

static int mark_body(struct fl_store *st, void *ctx, struct fl_error *err)
{
	struct mark_tx *t = ctx;
	if ((t->state == FL_JOURNAL_INJECTED &&
	     fl_pg_cmd(st, "SET LOCAL synchronous_commit = off", NULL, err)) ||
	    check_move(st, t->id, t->state, err))
		return -1;
	return fl_pg_cmd(st,
			 "UPDATE journal SET state = $1, updated_at = $2, "
			 "revert = coalesce($3, revert), error = coalesce($4, error) WHERE id = $5",
			 &t->q, err);
}

/* The row is in the new state with this write's timestamp, revert and
 * error: repeating the move would be refused (injected -> injected) or
 * record a second attempt that never happened. */
static int mark_committed(struct fl_store *st, void *ctx, int *done, struct fl_error *err)
{
	struct mark_tx *t = ctx;
	PGresult *r =
		fl_pg_exec(st,
			   "SELECT 1 FROM journal WHERE id = $5 AND state = $1 AND "
			   "updated_at = $2 AND revert IS NOT DISTINCT FROM coalesce($3, revert) "
			   "AND error IS NOT DISTINCT FROM coalesce($4, error)",
			   &t->q, err);
	if (!r)
		return -1;
	*done = PQntuples(r) == 1;
	PQclear(r);
	return 0;
}

int fl_pg_journal_mark(struct fl_store *st, int64_t id, enum fl_journal_state state,
		       const json_t *revert, const char *error, struct fl_error *err)
{
	/* The mark `injected` is the one write in a fault's path: it waits for
	 * no reconnect (a lost mark leaves the row armed or pending, which
	 * `recover` reverts all the same); the others wait out a failover. */
	struct fl_pg_tx tx = { .body = mark_body,
			       .committed = mark_committed,
			       .no_wait = state == FL_JOURNAL_INJECTED };
	struct mark_tx t = { .id = id, .state = state };
	char *revert_text = NULL, now[48];
	int ret;

	if ((unsigned)state >= FL_JOURNAL_NSTATES)
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: journal entry %" PRId64 ": unknown state %d", st->path, id,
				    (int)state);
	if (revert && !(revert_text = revert_dump(revert)))
		return fl_store_sql_oom(st, err);
	fl_rfc3339(fl_wall_ns(), now, sizeof(now));
	fl_pgq_init(&t.q);
	fl_pgq_text(&t.q, fl_journal_state_name(state));
	fl_pgq_text(&t.q, now);
	fl_pgq_text(&t.q, revert_text);
	fl_pgq_text(&t.q, error);
	fl_pgq_int(&t.q, id);
	ret = fl_pg_tx(st, &tx, &t, err);
	fl_free(revert_text);
	return ret;
}

static int load_entry(const PGresult *r, int i, struct fl_journal_entry *e)
{
	char *revert_text = NULL;
	json_error_t jerr;
	int ret = -1;

	memset(&jerr, 0, sizeof(jerr));
	e->id = fl_pg_int(r, i, 0);
	e->run_id = fl_pg_int(r, i, 1);
	if (fl_pg_text(r, i, 2, &e->injector) || fl_pg_text(r, i, 3, &e->target) ||
	    fl_pg_text(r, i, 4, &e->description) || fl_pg_text(r, i, 5, &revert_text) ||
	    fl_pg_text(r, i, 7, &e->created_at) || fl_pg_text(r, i, 8, &e->error) ||
	    fl_pg_text(r, i, 9, &e->owner_host))
		goto out;
	e->owner_pid = (long)fl_pg_int(r, i, 10);
	e->owner_start = (unsigned long long)fl_pg_int(r, i, 11);
	e->owner_lease = (int)fl_pg_int(r, i, 12);
	if (fl_journal_state_parse(PQgetvalue(r, i, 6), &e->state))
		e->state = FL_JOURNAL_PENDING;
	if (revert_text) {
		e->revert = json_loads(revert_text, JSON_DECODE_ANY, &jerr);
		if (!e->revert &&
		    (json_error_code(&jerr) == json_error_out_of_memory || jerr.text[0] == '\0'))
			goto out;
	}
	ret = 0;
out:
	fl_free(revert_text);
	return ret;
}

int fl_pg_journal_open(struct fl_store *st, struct fl_journal_entry **out, size_t *n,
		       struct fl_error *err)
{
	struct fl_journal_entry *arr;
	PGresult *r;
	int count;

	*out = NULL;
	*n = 0;
	r = fl_pg_exec(st,
		       "SELECT j.id, j.run_id, j.injector, j.target, j.description, j.revert, "
		       "j.state, j.created_at, j.error, j.owner_host, j.owner_pid, j.owner_start, "
		       "CASE WHEN o.lease_until IS NULL THEN 0 WHEN o.lease_until > now() THEN 1 "
		       "ELSE 2 END FROM journal AS j LEFT JOIN faultline_owners AS o ON "
		       "o.host = j.owner_host AND o.pid = j.owner_pid AND o.start = j.owner_start "
		       "WHERE j.state IN ('pending', 'armed', 'injected', 'revert_failed') "
		       "ORDER BY j.id",
		       NULL, err);
	if (!r)
		return -1;
	count = PQntuples(r);
	arr = fl_calloc((size_t)count + 1, sizeof(*arr));
	if (!arr) {
		PQclear(r);
		return fl_store_sql_oom(st, err);
	}
	for (int i = 0; i < count; i++)
		if (load_entry(r, i, &arr[i])) {
			PQclear(r);
			fl_journal_entries_free(arr, (size_t)i + 1);
			return fl_store_sql_oom(st, err);
		}
	PQclear(r);
	*out = arr;
	*n = (size_t)count;
	return 0;
}
