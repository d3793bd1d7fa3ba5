/*
 * store_copy: moving history between stores (SQLite <-> PostgreSQL, or
 * either to another of its kind). See fl_store_copy in store.h.
 *
 * Idempotent by the run's natural key (scenario, start instant, host), not
 * by id: ids are each store's own, and two stores merged into one would
 * collide. Each run is copied in its own transactions through the public
 * API, so a copy interrupted half-way leaves whole runs (and at worst one
 * "running" run, which the next copy finishes over).
 * store_copy reads struct fl_store only to tell the backends apart.
 */
#include "core/alloc.h"
#include "core/error.h"
#include "core/store.h"
#include "core/store_pg.h"
#include "core/store_sql.h"

#include <string.h>

struct copy_ctx {
	struct fl_store *to;
	struct fl_store_copy_stats *stats;
	struct fl_error *err;
	int64_t *ids;
	size_t n, cap;
	int failed;
};

/* Pass 1: the ids of the finished runs, newest first. */
static int collect(const struct fl_run *src, void *arg)
{
	struct copy_ctx *c = arg;
	if (src->verdict && strcmp(src->verdict, "running") == 0) {
		c->stats->running++;
		return 0;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		int64_t *g = fl_realloc(c->ids, cap * sizeof(*g));
		if (!g) {
			fl_error_oom(c->err, "store copy");
			c->failed = 1;
			return 1;
		}
		c->ids = g;
		c->cap = cap;
	}
	c->ids[c->n++] = src->id;
	return 0;
}

static int copy_one(struct copy_ctx *c, const struct fl_run *src)
{
	struct fl_run run = *src; /* borrowed pointers: nothing here is freed */
	int64_t id = 0;
	int running = 0, found;

	found = fl_store_run_find(c->to, src->scenario, src->started_wall_ns, src->host, &id,
				  &running, c->err);
	if (found < 0)
		return -1;
	if (found && !running) {
		c->stats->skipped++;
		return 0;
	}
	if (found)
		run.id = id;
	else if (fl_store_run_begin(c->to, &run, c->err))
		return -1;
	if (fl_store_run_finish(c->to, &run, c->err))
		return -1;
	c->stats->copied++;
	return 0;
}

/* Pass 2 copies oldest first, so the copy's ids keep the source's order
 * (the reports' tie-break between runs that started at the same instant). */
int fl_store_copy(struct fl_store *from, struct fl_store *to, struct fl_store_copy_stats *stats,
		  struct fl_error *err)
{
	struct fl_run_filter all;
	struct copy_ctx c;
	int ret = -1;

	memset(stats, 0, sizeof(*stats));
	memset(&c, 0, sizeof(c));
	c.to = to;
	c.stats = stats;
	c.err = err;
	memset(&all, 0, sizeof(all));
	all.include_running = 1;
	/* Into PostgreSQL, commits do not wait for the server's flush: a crash
	 * loses at most the last runs copied, never consistency, and the next
	 * copy copies them again. (SQLite's equivalent, synchronous=OFF, could
	 * corrupt the file on a power cut: a SQLite target keeps FULL.) */
	if (to->ops && to->ops->unsafe_fast(to, err))
		goto out;
	if (fl_store_runs_each(from, &all, collect, &c, err) < 0 || c.failed)
		goto out;
	for (size_t i = c.n; i-- > 0;) {
		struct fl_run run;
		if (fl_store_run_get(from, c.ids[i], &run, err))
			goto out;
		if (copy_one(&c, &run)) {
			fl_run_release(&run);
			goto out;
		}
		fl_run_release(&run);
	}
	ret = 0;
out:
	fl_free(c.ids);
	return ret;
}
