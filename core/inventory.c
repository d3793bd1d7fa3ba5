/*
 * inventory: strict loader for asset inventories. Besides keys and types it
 * checks the dependency graph: every depends_on name exists, no asset is
 * listed twice, and there is no cycle (the error names the whole cycle, so a
 * planner sees which edge to cut).
 */
#include "core/inventory.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"

#include <string.h>

void fl_inventory_free(struct fl_inventory *inv)
{
	if (!inv)
		return;
	for (size_t i = 0; i < inv->nassets; i++) {
		struct fl_asset *a = &inv->assets[i];
		fl_free(a->name);
		fl_free(a->kind);
		fl_strv_free(a->depends_on);
		fl_free(a->owner);
		fl_free(a->description);
		fl_strv_free(a->backup_info);
	}
	fl_free(inv->assets);
	fl_doc_free(inv->doc);
	fl_free(inv);
}

const struct fl_asset *fl_inventory_asset(const struct fl_inventory *inv, const char *name)
{
	if (!inv || !name)
		return NULL;
	for (size_t i = 0; i < inv->nassets; i++)
		if (strcmp(inv->assets[i].name, name) == 0)
			return &inv->assets[i];
	return NULL;
}

static long asset_index(const struct fl_inventory *inv, const char *name)
{
	const struct fl_asset *a = fl_inventory_asset(inv, name);
	return a ? (long)(a - inv->assets) : -1;
}

/* drill_every: "30d", "2w" or any duration ("12h"): days and weeks are
 * how drill policies are written, on top of fl_duration_parse's units. */
static int drill_every_load(struct fl_doc *doc, json_t *obj, int64_t *ns, struct fl_error *err)
{
	char *s = NULL;
	size_t n;
	int rc;

	rc = fl_doc_string(doc, obj, "drill_every", 0, &s, err);
	if (rc <= 0)
		return rc;
	n = strlen(s);
	if (n >= 2 && (s[n - 1] == 'd' || s[n - 1] == 'w')) {
		long v = 0;
		char last = s[n - 1];
		int64_t unit = (s[n - 1] == 'd' ? 1 : 7) * INT64_C(86400) * INT64_C(1000000000);
		s[n - 1] = '\0';
		/* v is only read when the parse succeeded: 3660 weeks still fits. */
		rc = fl_parse_long(s, 1, 3660, &v) < 0 ? -1 : 0;
		if (rc == 0)
			*ns = (int64_t)v * unit;
		s[n - 1] = last;
	} else {
		rc = fl_duration_parse(s, ns) < 0 || *ns <= 0 ? -1 : 0;
	}
	if (rc < 0)
		fl_doc_error_value(doc, json_object_get(obj, "drill_every"), err,
				   "'drill_every': expected a positive period such as \"30d\", \"2w\" or \"12h\", not '%s'",
				   s);
	fl_free(s);
	return rc;
}

static int asset_load(struct fl_doc *doc, json_t *obj, struct fl_asset *a, struct fl_error *err)
{
	long tier = 0;
	if (!json_is_object(obj))
		return fl_doc_error_value(doc, obj, err, "'assets': expected an array of objects");
	if (fl_doc_string(doc, obj, "name", 1, &a->name, err) < 0 ||
	    fl_doc_string(doc, obj, "kind", 0, &a->kind, err) < 0 ||
	    fl_doc_int(doc, obj, "tier", 1, 1, 4, &tier, err) < 0 ||
	    fl_doc_duration(doc, obj, "rpo", 0, &a->rpo_ns, err) < 0 ||
	    fl_doc_duration(doc, obj, "rto", 0, &a->rto_ns, err) < 0 ||
	    fl_doc_strv(doc, obj, "depends_on", 0, &a->depends_on, err) < 0 ||
	    fl_doc_string(doc, obj, "owner", 0, &a->owner, err) < 0 ||
	    fl_doc_string(doc, obj, "description", 0, &a->description, err) < 0 ||
	    fl_doc_strv(doc, obj, "backup_info", 0, &a->backup_info, err) < 0 ||
	    drill_every_load(doc, obj, &a->drill_every_ns, err) < 0 ||
	    fl_doc_check_keys(doc, obj, err) < 0)
		return -1;
	if (a->backup_info && (!a->backup_info[0] || !a->backup_info[0][0]))
		return fl_doc_error_member(doc, obj, "backup_info", err,
					   "'backup_info': expected a non-empty command");
	/* Like other paths in the file: "./x.sh" means next to the inventory,
	 * whatever directory faultline runs in; a bare name is searched in PATH. */
	if (a->backup_info && strchr(a->backup_info[0], '/') &&
	    fl_doc_resolve_path(doc, &a->backup_info[0], 1, err) < 0)
		return -1;
	if (!a->name[0])
		return fl_doc_error_value(doc, json_object_get(obj, "name"), err,
					  "'name': expected a non-empty string");
	a->tier = (int)tier;
	return 0;
}

/* Depth-first search for a cycle. state: 0 new, 1 on the stack, 2 done.
 * On finding one, writes "a -> b -> c -> a" into msg. */
static int find_cycle(const struct fl_inventory *inv, size_t i, int *state, size_t *stack,
		      size_t depth, struct fl_buf *msg)
{
	state[i] = 1;
	stack[depth] = i;
	for (char **d = inv->assets[i].depends_on; d && *d; d++) {
		long j = asset_index(inv, *d);
		if (j < 0)
			continue;
		if (state[j] == 1) {
			size_t from = 0;
			while (stack[from] != (size_t)j)
				from++;
			for (size_t k = from; k <= depth; k++)
				fl_buf_addf(msg, "%s -> ", inv->assets[stack[k]].name);
			fl_buf_adds(msg, inv->assets[j].name);
			return 1;
		}
		if (state[j] == 0 && find_cycle(inv, (size_t)j, state, stack, depth + 1, msg))
			return 1;
	}
	state[i] = 2;
	return 0;
}

static int check_graph(struct fl_inventory *inv, json_t *assets, struct fl_error *err)
{
	struct fl_doc *doc = inv->doc;
	int *state = NULL;
	size_t *stack = NULL;
	struct fl_buf msg;
	int rc = -1;
	fl_buf_init(&msg, 4096);
	for (size_t i = 0; i < inv->nassets; i++) {
		json_t *obj = json_array_get(assets, i);
		json_t *deps = json_object_get(obj, "depends_on");
		for (size_t k = 0; k < i; k++)
			if (strcmp(inv->assets[k].name, inv->assets[i].name) == 0) {
				fl_doc_error_value(doc, json_object_get(obj, "name"), err,
						   "duplicate asset name '%s'", inv->assets[i].name);
				goto out;
			}
		for (size_t k = 0; inv->assets[i].depends_on && inv->assets[i].depends_on[k]; k++)
			if (asset_index(inv, inv->assets[i].depends_on[k]) < 0) {
				int line, col;
				fl_doc_pos_index(doc, deps, k, &line, &col);
				fl_error_at(err, FL_EXIT_INPUT, fl_doc_file(doc), line, col,
					    "'depends_on': unknown asset '%s'",
					    inv->assets[i].depends_on[k]);
				goto out;
			}
	}
	state = fl_calloc(inv->nassets + 1, sizeof(*state));
	stack = fl_calloc(inv->nassets + 1, sizeof(*stack));
	if (!state || !stack) {
		fl_error_oom(err, "%s", fl_doc_file(doc));
		goto out;
	}
	for (size_t i = 0; i < inv->nassets; i++) {
		if (state[i] == 0 && find_cycle(inv, i, state, stack, 0, &msg)) {
			/* Report at the asset where the cycle was entered. */
			json_t *obj = json_array_get(assets, i);
			if (msg.failed) {
				fl_error_oom(err, "%s", fl_doc_file(doc));
				goto out;
			}
			fl_doc_error_value(doc, json_object_get(obj, "depends_on"), err,
					   "dependency cycle: %s", msg.buf);
			goto out;
		}
	}
	rc = 0;
out:
	fl_free(state);
	fl_free(stack);
	fl_buf_release(&msg);
	return rc;
}

struct fl_inventory *fl_inventory_from_doc(struct fl_doc *doc, struct fl_error *err)
{
	struct fl_inventory *inv = fl_calloc(1, sizeof(*inv));
	json_t *root = fl_doc_root(doc), *assets, *av;
	char *kind = NULL;
	size_t i;
	if (!inv) {
		fl_error_oom(err, "%s", fl_doc_file(doc));
		fl_doc_free(doc);
		return NULL;
	}
	inv->doc = doc;
	if (fl_doc_string(doc, root, "kind", 0, &kind, err) < 0)
		goto fail;
	if (kind && strcmp(kind, "inventory") != 0) {
		fl_doc_error_value(doc, json_object_get(root, "kind"), err,
				   "'kind': expected \"inventory\", not \"%s\"", kind);
		goto fail;
	}
	fl_doc_mark(doc, root, "description");
	if (json_object_get(root, "description") &&
	    !json_is_string(json_object_get(root, "description"))) {
		fl_doc_error_value(doc, json_object_get(root, "description"), err,
				   "'description': expected a string");
		goto fail;
	}
	assets = fl_doc_array(doc, root, "assets", 1, err);
	if (!assets || fl_doc_check_keys(doc, root, err) < 0)
		goto fail;
	inv->assets = fl_calloc(json_array_size(assets) + 1, sizeof(*inv->assets));
	if (!inv->assets) {
		fl_error_oom(err, "%s", fl_doc_file(doc));
		goto fail;
	}
	json_array_foreach(assets, i, av) {
		struct fl_asset *a = &inv->assets[i];
		a->rpo_ns = a->rto_ns = a->drill_every_ns = -1;
		fl_doc_pos_index(doc, assets, i, &a->line, &a->col);
		inv->nassets++;
		if (asset_load(doc, av, a, err) < 0)
			goto fail;
	}
	if (check_graph(inv, assets, err) < 0)
		goto fail;
	fl_free(kind);
	return inv;
fail:
	fl_free(kind);
	fl_inventory_free(inv);
	return NULL;
}

struct fl_inventory *fl_inventory_load(const char *path, struct fl_error *err)
{
	struct fl_doc *doc = fl_doc_load(path, err);
	if (!doc)
		return NULL;
	return fl_inventory_from_doc(doc, err);
}
