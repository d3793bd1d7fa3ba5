/*
 * scenario: strict loader for scenario files and the cross-check against an
 * environment and an inventory. The format is documented in docs/formats.md
 * and scenarios/schema/scenario.schema.json.
 *
 * Loading is in two stages on purpose. fl_scenario_load() needs nothing but
 * the file: syntax, keys, types, durations, defaults and references between
 * parts of the same file (probe names). fl_resolve_scenario (sim/resolve.c)() needs the
 * environment and inventory: targets, injectors and their parameters, blast
 * radius, asset objectives. Fault objects are the one place where unknown
 * keys are not ours to judge: the injector's validate() marks its own
 * parameters and reports the rest.
 */
#include "core/scenario.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/clock.h"
#include "core/url.h"

#include <limits.h>
#include <string.h>


#define MIN_SAMPLE_TIMEOUT_NS (50 * FL_NS_PER_MS)
#define MAX_DEFAULT_TIMEOUT_NS FL_NS_PER_S
#define DEFAULT_STEP_TIMEOUT_NS (60 * FL_NS_PER_S)

static int oom(const struct fl_doc *doc, struct fl_error *err)
{
	return fl_error_oom(err, "%s", fl_doc_file(doc));
}

/* ---- freeing ------------------------------------------------------------ */

static void probe_release(struct fl_probe_spec *p)
{
	fl_free(p->name);
	fl_free(p->target);
	fl_free(p->url);
	fl_free(p->method);
	fl_free(p->body);
	fl_free(p->expect_body);
	fl_free(p->host);
	fl_strv_free(p->argv);
	fl_free(p->driver);
	fl_free(p->dsn);
	fl_free(p->table);
	fl_free(p->read_url);
	json_decref(p->cloud);
}

static void step_release(struct fl_step_spec *s)
{
	fl_free(s->name);
	fl_strv_free(s->argv);
	fl_free(s->target);
	fl_free(s->probe);
	fl_free(s->prompt);
}


void fl_scenario_free(struct fl_scenario *sc)
{
	if (!sc)
		return;
	fl_free(sc->name);
	fl_free(sc->description);
	fl_free(sc->asset);
	fl_free(sc->environment);
	fl_free(sc->inventory);
	fl_strv_free(sc->tags);
	fl_strv_free(sc->secrets);
	for (size_t i = 0; i < sc->nprobes; i++)
		probe_release(&sc->probes[i]);
	fl_free(sc->probes);
	for (size_t i = 0; i < sc->nwriters; i++)
		probe_release(&sc->writers[i]);
	fl_free(sc->writers);
	fl_free(sc->detect_probe);
	if (sc->detect_alert) {
		fl_free(sc->detect_alert->url);
		fl_free(sc->detect_alert->alertname);
		fl_strv_free(sc->detect_alert->matchers);
		fl_free(sc->detect_alert);
	}
	if (sc->detect_cloudwatch) {
		fl_free(sc->detect_cloudwatch->alarm);
		fl_free(sc->detect_cloudwatch->target);
		json_decref(sc->detect_cloudwatch->cloud);
		fl_free(sc->detect_cloudwatch);
	}
	for (size_t i = 0; i < sc->nfaults; i++)
		fl_fault_spec_release(&sc->faults[i]);
	fl_free(sc->faults);
	for (size_t i = 0; i < sc->nprepare; i++)
		step_release(&sc->prepare[i]);
	fl_free(sc->prepare);
	for (size_t i = 0; i < sc->nrecovery; i++)
		step_release(&sc->recovery[i]);
	fl_free(sc->recovery);
	for (size_t i = 0; i < sc->nvalidation; i++)
		probe_release(&sc->validation[i]);
	fl_free(sc->validation);
	for (size_t i = 0; i < sc->nstops; i++)
		fl_free(sc->stops[i].probe);
	fl_free(sc->stops);
	fl_strv_free(sc->allowed_zones);
	fl_doc_free(sc->doc);
	fl_free(sc);
}

/* ---- small checks ----------------------------------------------------------- */

int fl_scenario_is_http_url(const char *u)
{
	return u && (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0);
}

int64_t fl_probe_default_timeout(int64_t interval_ns)
{
	int64_t t =
		interval_ns > MAX_DEFAULT_TIMEOUT_NS / 5 ? MAX_DEFAULT_TIMEOUT_NS : 5 * interval_ns;
	return t < MIN_SAMPLE_TIMEOUT_NS ? MIN_SAMPLE_TIMEOUT_NS : t;
}

/* Reads a required, non-empty name. */
static int name_get(struct fl_doc *doc, json_t *obj, char **out, struct fl_error *err)
{
	if (fl_doc_string(doc, obj, "name", 1, out, err) < 0)
		return -1;
	if (!(*out)[0])
		return fl_doc_error_member(doc, obj, "name", err,
					   "'name': expected a non-empty string");
	return 0;
}

/* A duration that must be > 0 when given. */
static int positive_duration(struct fl_doc *doc, json_t *obj, const char *key, int64_t *out,
			     struct fl_error *err)
{
	int r = fl_doc_duration(doc, obj, key, 0, out, err);
	if (r == 1 && *out <= 0)
		return fl_doc_error_member(doc, obj, key, err, "'%s': must be greater than zero",
					   key);
	return r;
}

/* Allocates an array of n elements (at least one, so NULL means failure). */
static void *array_new(const struct fl_doc *doc, size_t n, size_t size, struct fl_error *err)
{
	void *p = fl_calloc(n ? n : 1, size);
	if (!p)
		oom(doc, err);
	return p;
}

/* Objects in a list must be objects: "'probes': expected an array of objects". */
static int expect_object(struct fl_doc *doc, json_t *arr, size_t i, const char *list,
			 struct fl_error *err)
{
	int line, col;
	if (json_is_object(json_array_get(arr, i)))
		return 0;
	fl_doc_pos_index(doc, arr, i, &line, &col);
	return fl_error_at(err, FL_EXIT_INPUT, fl_doc_file(doc), line, col,
			   "'%s': expected an array of objects", list);
}

/* ---- probes and checks -------------------------------------------------------- */

static const char *const probe_kind_names[] = { "http", "tcp", "command", "writer", "aws" };

const char *fl_probe_kind_name(enum fl_probe_kind kind)
{
	return (size_t)kind < FL_ARRAY_LEN(probe_kind_names) ? probe_kind_names[kind] : "?";
}

static int probe_kind_parse(const char *s, enum fl_probe_kind *k)
{
	for (size_t i = 0; i < FL_ARRAY_LEN(probe_kind_names); i++)
		if (strcmp(probe_kind_names[i], s) == 0) {
			*k = (enum fl_probe_kind)i;
			return 0;
		}
	return -1;
}

/* Loads one probe's generic fields (validation checks: is_check, no writers,
 * no availability). The kind's own keys, and the check for unknown keys,
 * are the kind's parse hook's, run by fl_resolve_scenario (sim/resolve.c).
 * *avail is set to 1 / 0 when the probe says so, -1 when it does not. */
static int probe_load(struct fl_doc *doc, json_t *obj, struct fl_probe_spec *p, int is_check,
		      int *avail, struct fl_error *err)
{
	char *type = NULL;
	int rc = -1, r;
	int64_t tmo = -1;

	fl_doc_pos_value(doc, obj, &p->line, &p->col);
	p->params = obj;
	*avail = -1;
	if (name_get(doc, obj, &p->name, err) < 0 ||
	    fl_doc_string(doc, obj, "type", 1, &type, err) < 0)
		goto out;
	if (probe_kind_parse(type, &p->kind) < 0 || (is_check && p->kind == FL_PROBE_WRITER)) {
		fl_doc_error_member(doc, obj, "type", err, "unknown %s type '%s' (expected %s)",
				    is_check ? "check" : "probe", type,
				    is_check ? "http, tcp, command or aws"
					     : "http, tcp, command, writer or aws");
		goto out;
	}
	if (fl_doc_string(doc, obj, "target", 0, &p->target, err) < 0)
		goto out;
	p->interval_ns = p->kind == FL_PROBE_WRITER ? FL_WRITER_DEFAULT_INTERVAL_NS
						    : FL_PROBE_DEFAULT_INTERVAL_NS;
	if (positive_duration(doc, obj, "interval", &p->interval_ns, err) < 0 ||
	    positive_duration(doc, obj, "timeout", &tmo, err) < 0)
		goto out;
	p->timeout_ns = tmo > 0    ? tmo
			: is_check ? FL_CHECK_DEFAULT_TIMEOUT_NS
				   : fl_probe_default_timeout(p->interval_ns);
	if (!is_check && p->kind != FL_PROBE_WRITER) {
		int a = 0;
		r = fl_doc_bool(doc, obj, "availability", 0, &a, err);
		if (r < 0)
			goto out;
		if (r == 1)
			*avail = a;
	}
	rc = 0;
out:
	fl_free(type);
	return rc;
}

static const struct fl_probe_spec *probe_find(const struct fl_probe_spec *v, size_t n,
					      const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

const struct fl_probe_spec *fl_scenario_probe(const struct fl_scenario *sc, const char *name)
{
	const struct fl_probe_spec *p;
	if (!sc || !name)
		return NULL;
	p = probe_find(sc->probes, sc->nprobes, name);
	return p ? p : probe_find(sc->writers, sc->nwriters, name);
}

/* The JSON object of the k-th probe in list that is not a writer (the order
 * sc->probes and sc->validation keep), to place errors. */
json_t *fl_scenario_probe_object(const struct fl_scenario *sc, const char *list, size_t k)
{
	const struct fl_probe_spec *v = strcmp(list, "validation") == 0 ? sc->validation : sc->probes;
	size_t n = strcmp(list, "validation") == 0 ? sc->nvalidation : sc->nprobes;
	return k < n ? v[k].params : NULL;
}

static int probes_load(struct fl_scenario *sc, json_t *arr, struct fl_error *err)
{
	struct fl_doc *doc = sc->doc;
	size_t n = json_array_size(arr);
	long chosen = -1;
	json_t *chosen_obj = NULL;

	sc->probes = array_new(doc, n, sizeof(*sc->probes), err);
	sc->writers = array_new(doc, n, sizeof(*sc->writers), err);
	if (!sc->probes || !sc->writers)
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_t *obj = json_array_get(arr, i);
		struct fl_probe_spec p;
		int avail;
		memset(&p, 0, sizeof(p));
		if (expect_object(doc, arr, i, "probes", err) < 0)
			return -1;
		if (probe_load(doc, obj, &p, 0, &avail, err) < 0) {
			probe_release(&p);
			return -1;
		}
		if (fl_scenario_probe(sc, p.name)) {
			fl_doc_error_member(doc, obj, "name", err, "duplicate probe name '%s'",
					    p.name);
			probe_release(&p);
			return -1;
		}
		if (p.kind == FL_PROBE_WRITER) {
			sc->writers[sc->nwriters++] = p;
			continue;
		}
		if (avail == 1) {
			if (chosen_obj) {
				fl_doc_error_member(doc, obj, "availability", err,
						    "probe '%s': only one probe can be the availability probe ('%s' already is)",
						    p.name, sc->probes[chosen].name);
				probe_release(&p);
				return -1;
			}
			chosen = (long)sc->nprobes;
			chosen_obj = obj;
		}
		sc->probes[sc->nprobes++] = p;
	}
	if (chosen < 0) {
		/* The first sampling probe that does not decline the role. */
		for (size_t k = 0; k < sc->nprobes && chosen < 0; k++) {
			json_t *obj = fl_scenario_probe_object(sc, "probes", k);
			if (!json_is_false(json_object_get(obj, "availability")))
				chosen = (long)k;
		}
	}
	if (chosen < 0)
		return fl_doc_error_value(doc, arr, err,
					  "no availability probe: add an http, tcp or command probe");
	sc->availability = (size_t)chosen;
	return 0;
}

static int checks_load(struct fl_scenario *sc, json_t *arr, struct fl_error *err)
{
	struct fl_doc *doc = sc->doc;
	size_t n = json_array_size(arr);
	sc->validation = array_new(doc, n, sizeof(*sc->validation), err);
	if (!sc->validation)
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_t *obj = json_array_get(arr, i);
		struct fl_probe_spec *p = &sc->validation[i];
		int avail;
		if (expect_object(doc, arr, i, "validation", err) < 0)
			return -1;
		sc->nvalidation++;
		if (probe_load(doc, obj, p, 1, &avail, err) < 0)
			return -1;
		if (probe_find(sc->validation, i, p->name))
			return fl_doc_error_member(doc, obj, "name", err,
						   "duplicate validation check name '%s'", p->name);
	}
	return 0;
}

/* A reference to a sampling probe (not a writer) at obj[key]. */
static int probe_ref_check(const struct fl_scenario *sc, json_t *obj, const char *key,
			   const char *name, struct fl_error *err)
{
	const struct fl_probe_spec *p = fl_scenario_probe(sc, name);
	if (!p)
		return fl_doc_error_member(sc->doc, obj, key, err, "unknown probe '%s'", name);
	if (p->kind == FL_PROBE_WRITER)
		return fl_doc_error_member(sc->doc, obj, key, err,
					   "'%s' is a writer probe: name an http, tcp or command probe",
					   name);
	return 0;
}

/* ---- steps ----------------------------------------------------------------------- */

static int step_load(struct fl_scenario *sc, json_t *obj, struct fl_step_spec *s, int prepare,
		     struct fl_error *err)
{
	struct fl_doc *doc = sc->doc;
	static const char *const kinds[] = { "action", "wait_for", "manual", "aws.backup_restore" };
	const char *given = NULL;
	fl_doc_pos_value(doc, obj, &s->line, &s->col);
	s->timeout_ns = DEFAULT_STEP_TIMEOUT_NS;
	if (name_get(doc, obj, &s->name, err) < 0)
		return -1;
	for (size_t i = 0; i < FL_ARRAY_LEN(kinds); i++) {
		if (!json_object_get(obj, kinds[i]))
			continue;
		if (given)
			return fl_doc_error_key(doc, obj, kinds[i], err,
						"step '%s': give only one of 'action', 'wait_for', 'manual' or 'aws.backup_restore' (it already has '%s')",
						s->name, given);
		given = kinds[i];
	}
	if (!given)
		return fl_doc_error_value(doc, obj, err,
					  "step '%s': needs one of 'action', 'wait_for', 'manual' or 'aws.backup_restore'",
					  s->name);
	if (prepare && strcmp(given, "action") != 0)
		return fl_doc_error_key(doc, obj, given, err,
					"prepare step '%s': only 'action' steps can prepare a drill",
					s->name);
	if (strcmp(given, "action") == 0) {
		s->kind = FL_STEP_ACTION;
		if (fl_doc_strv(doc, obj, "action", 1, &s->argv, err) < 0 ||
		    fl_doc_string(doc, obj, "target", 0, &s->target, err) < 0 ||
		    fl_doc_int(doc, obj, "expect_exit", 0, 0, 255, &s->expect_exit, err) < 0)
			return -1;
		if (!s->argv[0])
			return fl_doc_error_member(doc, obj, "action", err,
						   "'action': expected a non-empty command");
	} else if (strcmp(given, "wait_for") == 0) {
		s->kind = FL_STEP_WAIT;
		if (fl_doc_string(doc, obj, "wait_for", 1, &s->probe, err) < 0 ||
		    probe_ref_check(sc, obj, "wait_for", s->probe, err) < 0)
			return -1;
	} else if (strcmp(given, "manual") == 0) {
		s->kind = FL_STEP_MANUAL;
		if (fl_doc_string(doc, obj, "manual", 1, &s->prompt, err) < 0)
			return -1;
	} else {
		/* Its keys are read by sim/aws_restore.c when the drill is resolved. */
		s->kind = FL_STEP_AWS_RESTORE;
		if (!(s->aws = fl_doc_object(doc, obj, "aws.backup_restore", 1, err)))
			return -1;
	}
	if (positive_duration(doc, obj, "timeout", &s->timeout_ns, err) < 0)
		return -1;
	return fl_doc_check_keys(doc, obj, err);
}

static int steps_load(struct fl_scenario *sc, json_t *arr, int prepare, struct fl_error *err)
{
	struct fl_doc *doc = sc->doc;
	size_t n = json_array_size(arr);
	struct fl_step_spec *v = array_new(doc, n, sizeof(*v), err);
	size_t *count = prepare ? &sc->nprepare : &sc->nrecovery;
	const char *list = prepare ? "prepare" : "recovery";
	if (!v)
		return -1;
	if (prepare)
		sc->prepare = v;
	else
		sc->recovery = v;
	for (size_t i = 0; i < n; i++) {
		json_t *obj = json_array_get(arr, i);
		if (expect_object(doc, arr, i, list, err) < 0)
			return -1;
		(*count)++;
		if (step_load(sc, obj, &v[i], prepare, err) < 0)
			return -1;
		/* Step names are phase names in reports: unique across both lists. */
		for (size_t k = 0; k < sc->nprepare + (prepare ? 0 : sc->nrecovery); k++) {
			const struct fl_step_spec *o =
				k < sc->nprepare ? &sc->prepare[k] : &sc->recovery[k - sc->nprepare];
			if (o != &v[i] && strcmp(o->name, v[i].name) == 0)
				return fl_doc_error_member(doc, obj, "name", err,
							   "duplicate step name '%s'", v[i].name);
		}
	}
	return 0;
}

/* ---- faults and stop conditions ------------------------------------------------- */

/* Parses a zone selection: "all", "count(N)", "percent(N)". kind: 0 all,
 * 1 count, 2 percent. Either out pointer may be NULL. */
int fl_select_parse(const char *s, int *kind, long *n)
{
	long v = 0;
	int k;
	char num[32];
	const char *open, *close;
	if (!strcmp(s, "all")) {
		if (kind)
			*kind = 0;
		return 0;
	}
	if (!strncmp(s, "count(", 6))
		k = 1;
	else if (!strncmp(s, "percent(", 8))
		k = 2;
	else
		return -1;
	open = strchr(s, '(');
	close = strchr(s, ')');
	if (!close || close[1] != '\0' || (size_t)(close - open - 1) >= sizeof(num))
		return -1;
	memcpy(num, open + 1, (size_t)(close - open - 1));
	num[close - open - 1] = '\0';
	if (fl_parse_long(num, 1, k == 2 ? 100 : 1000000, &v) < 0)
		return -1;
	if (kind)
		*kind = k;
	if (n)
		*n = v;
	return 0;
}

static int faults_load(struct fl_scenario *sc, json_t *arr, struct fl_error *err)
{
	struct fl_doc *doc = sc->doc;
	size_t n = json_array_size(arr);
	sc->faults = array_new(doc, n, sizeof(*sc->faults), err);
	if (!sc->faults)
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_t *obj = json_array_get(arr, i);
		struct fl_fault_spec *f = &sc->faults[i];
		if (expect_object(doc, arr, i, "faults", err) < 0)
			return -1;
		sc->nfaults++;
		fl_doc_pos_value(doc, obj, &f->line, &f->col);
		f->params = obj;
		if (name_get(doc, obj, &f->name, err) < 0 ||
		    fl_doc_string(doc, obj, "injector", 1, &f->injector, err) < 0 ||
		    fl_doc_string(doc, obj, "target", 0, &f->target, err) < 0 ||
		    fl_doc_string(doc, obj, "zone", 0, &f->zone, err) < 0 ||
		    fl_doc_string(doc, obj, "select", 0, &f->select, err) < 0 ||
		    fl_doc_duration(doc, obj, "after", 0, &f->after_ns, err) < 0 ||
		    fl_doc_duration(doc, obj, "duration", 0, &f->duration_ns, err) < 0)
			return -1;
		for (size_t k = 0; k < i; k++)
			if (strcmp(sc->faults[k].name, f->name) == 0)
				return fl_doc_error_member(doc, obj, "name", err,
							   "duplicate fault name '%s'", f->name);
		if (f->zone && f->target)
			return fl_doc_error_member(doc, obj, "zone", err,
						   "fault '%s': give either 'target' or 'zone', not both",
						   f->name);
		if (f->select && !f->zone)
			return fl_doc_error_member(doc, obj, "select", err,
						   "fault '%s': 'select' goes with 'zone'", f->name);
		if (f->select && fl_select_parse(f->select, NULL, NULL) < 0)
			return fl_doc_error_member(doc, obj, "select", err,
						   "'select': expected \"all\", \"count(N)\" or \"percent(N)\" (N from 1; percent up to 100)");
		/* The remaining keys are the injector's: fl_resolve_scenario (sim/resolve.c). */
	}
	return 0;
}

static int stops_load(struct fl_scenario *sc, json_t *arr, struct fl_error *err)
{
	struct fl_doc *doc = sc->doc;
	size_t n = json_array_size(arr);
	sc->stops = array_new(doc, n, sizeof(*sc->stops), err);
	if (!sc->stops)
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_t *obj = json_array_get(arr, i);
		struct fl_stop_condition *c = &sc->stops[i];
		if (expect_object(doc, arr, i, "stop_conditions", err) < 0)
			return -1;
		sc->nstops++;
		fl_doc_pos_value(doc, obj, &c->line, &c->col);
		if (fl_doc_string(doc, obj, "probe", 1, &c->probe, err) < 0 ||
		    probe_ref_check(sc, obj, "probe", c->probe, err) < 0 ||
		    fl_doc_duration(doc, obj, "down_for", 1, &c->down_for_ns, err) < 0)
			return -1;
		if (c->down_for_ns <= 0)
			return fl_doc_error_member(doc, obj, "down_for", err,
						   "'down_for': must be greater than zero");
		if (fl_doc_check_keys(doc, obj, err) < 0)
			return -1;
	}
	return 0;
}

/* ---- the whole file ---------------------------------------------------------------- */

static int objectives_load(struct fl_scenario *sc, json_t *root, struct fl_error *err)
{
	struct fl_doc *doc = sc->doc;
	json_t *t = fl_doc_object(doc, root, "targets", 0, err);
	if (fl_error_is_set(err))
		return -1;
	if (!t)
		return 0;
	if (fl_doc_duration(doc, t, "rto", 0, &sc->targets.rto_ns, err) < 0 ||
	    fl_doc_duration(doc, t, "rpo", 0, &sc->targets.rpo_ns, err) < 0 ||
	    fl_doc_int(doc, t, "max_lost_after_fault", 0, 0, LONG_MAX,
		       &sc->targets.max_lost_after_fault, err) < 0 ||
	    fl_doc_int(doc, t, "max_lost_before_fault", 0, 0, LONG_MAX,
		       &sc->targets.max_lost_before_fault, err) < 0 ||
	    fl_doc_bool(doc, t, "rto_includes_validation", 0, &sc->targets.rto_includes_validation,
			err) < 0)
		return -1;
	return fl_doc_check_keys(doc, t, err);
}

static int blast_load(struct fl_scenario *sc, json_t *root, struct fl_error *err)
{
	struct fl_doc *doc = sc->doc;
	json_t *b = fl_doc_object(doc, root, "blast_radius", 0, err);
	if (fl_error_is_set(err))
		return -1;
	if (!b)
		return 0;
	if (fl_doc_int(doc, b, "max_targets", 0, 1, LONG_MAX, &sc->max_targets, err) < 0 ||
	    fl_doc_strv(doc, b, "zones", 0, &sc->allowed_zones, err) < 0)
		return -1;
	return fl_doc_check_keys(doc, b, err);
}

/* "matchers": {"label": "value", ...} -> NULL-terminated pairs. */
static int alert_matchers_load(struct fl_doc *doc, json_t *a, struct fl_alert_spec *al,
			       struct fl_error *err)
{
	json_t *m = fl_doc_object(doc, a, "matchers", 0, err), *v;
	const char *key;
	size_t n = 0;
	if (fl_error_is_set(err))
		return -1;
	if (!m)
		return 0;
	al->matchers = array_new(doc, 2 * json_object_size(m) + 1, sizeof(char *), err);
	if (!al->matchers)
		return -1;
	json_object_foreach(m, key, v) {
		if (!key[0])
			return fl_doc_error_key(doc, m, key, err, "'matchers': empty label name");
		if (!(al->matchers[n] = fl_strdup(key)))
			return oom(doc, err);
		n++;
		if (fl_doc_string(doc, m, key, 1, &al->matchers[n], err) < 0)
			return -1;
		n++;
	}
	return 0;
}

/* "alertmanager": {"url", "alertname", "matchers"?, "interval"?, "timeout"?} */
static int alert_load(struct fl_scenario *sc, json_t *d, struct fl_error *err)
{
	struct fl_doc *doc = sc->doc;
	json_t *a = fl_doc_object(doc, d, "alertmanager", 0, err);
	struct fl_alert_spec *al;
	if (fl_error_is_set(err))
		return -1;
	if (!a)
		return 0;
	al = sc->detect_alert = fl_calloc(1, sizeof(*al));
	if (!al)
		return oom(doc, err);
	al->interval_ns = 250 * FL_NS_PER_MS;
	al->timeout_ns = 30 * FL_NS_PER_S;
	fl_doc_pos_value(doc, a, &al->line, &al->col);
	if (fl_doc_string(doc, a, "url", 1, &al->url, err) < 0)
		return -1;
	if (!fl_scenario_is_http_url(al->url)) {
		char shown[FL_URL_REDACTED_MAX];
		return fl_doc_error_member(doc, a, "url", err,
					   "'url': expected an http:// or https:// URL, not \"%s\"",
					   fl_url_redact(al->url, shown, sizeof(shown)));
	}
	if (fl_doc_string(doc, a, "alertname", 1, &al->alertname, err) < 0)
		return -1;
	if (!al->alertname[0])
		return fl_doc_error_member(doc, a, "alertname", err,
					   "'alertname': expected a non-empty string");
	if (alert_matchers_load(doc, a, al, err) < 0 ||
	    positive_duration(doc, a, "interval", &al->interval_ns, err) < 0 ||
	    positive_duration(doc, a, "timeout", &al->timeout_ns, err) < 0)
		return -1;
	return fl_doc_check_keys(doc, a, err);
}

static int detection_load(struct fl_scenario *sc, json_t *root, struct fl_error *err)
{
	struct fl_doc *doc = sc->doc;
	json_t *d = fl_doc_object(doc, root, "detection", 0, err);
	if (fl_error_is_set(err))
		return -1;
	if (!d)
		return 0;
	if (fl_doc_string(doc, d, "probe", 0, &sc->detect_probe, err) < 0 ||
	    (sc->detect_probe && probe_ref_check(sc, d, "probe", sc->detect_probe, err) < 0) ||
	    fl_doc_int(doc, d, "consecutive_failures", 0, 1, 1000, &sc->detect_failures, err) < 0 ||
	    alert_load(sc, d, err) < 0)
		return -1;
	/* Its keys are sim/cloudwatch.c's, read at resolve (the target's). */
	sc->cloudwatch_obj = fl_doc_object(doc, d, "cloudwatch", 0, err);
	if (fl_error_is_set(err))
		return -1;
	if (sc->cloudwatch_obj && sc->detect_alert)
		return fl_doc_error_member(doc, d, "cloudwatch", err,
					   "'cloudwatch': detection by one alert source only (alertmanager or cloudwatch)");
	return fl_doc_check_keys(doc, d, err);
}

struct fl_scenario *fl_scenario_from_doc(struct fl_doc *doc, struct fl_error *err)
{
	struct fl_scenario *sc = fl_calloc(1, sizeof(*sc));
	json_t *root = fl_doc_root(doc), *arr;
	char *kind = NULL;

	if (!sc) {
		oom(doc, err);
		fl_doc_free(doc);
		return NULL;
	}
	sc->doc = doc;
	sc->targets.rto_ns = -1;
	sc->targets.rpo_ns = -1;
	sc->targets.max_lost_after_fault = 0;
	sc->targets.max_lost_before_fault = -1;
	sc->detect_failures = 3;
	sc->max_targets = -1;
	sc->stability_ns = FL_NS_PER_S;
	sc->steady_ns = FL_NS_PER_S;
	sc->timeout_ns = 5 * 60 * FL_NS_PER_S;

	if (fl_doc_string(doc, root, "kind", 0, &kind, err) < 0)
		goto fail;
	if (kind && strcmp(kind, "scenario") != 0) {
		fl_doc_error_member(doc, root, "kind", err,
				    "'kind': expected \"scenario\", not \"%s\"", kind);
		goto fail;
	}
	if (name_get(doc, root, &sc->name, err) < 0 ||
	    fl_doc_string(doc, root, "description", 0, &sc->description, err) < 0 ||
	    fl_doc_string(doc, root, "asset", 0, &sc->asset, err) < 0 ||
	    fl_doc_string(doc, root, "environment", 0, &sc->environment, err) < 0 ||
	    fl_doc_string(doc, root, "inventory", 0, &sc->inventory, err) < 0 ||
	    fl_doc_strv(doc, root, "tags", 0, &sc->tags, err) < 0 ||
	    fl_doc_secret_names(doc, root, &sc->secrets, err) < 0 ||
	    fl_doc_resolve_path(doc, &sc->environment, 0, err) < 0 ||
	    fl_doc_resolve_path(doc, &sc->inventory, 0, err) < 0 ||
	    objectives_load(sc, root, err) < 0 || blast_load(sc, root, err) < 0)
		goto fail;
	arr = fl_doc_array(doc, root, "probes", 1, err);
	if (!arr || probes_load(sc, arr, err) < 0 || detection_load(sc, root, err) < 0)
		goto fail;
	if ((arr = fl_doc_array(doc, root, "faults", 0, err)) && faults_load(sc, arr, err) < 0)
		goto fail;
	if (fl_error_is_set(err))
		goto fail;
	if ((arr = fl_doc_array(doc, root, "prepare", 0, err)) && steps_load(sc, arr, 1, err) < 0)
		goto fail;
	if (fl_error_is_set(err))
		goto fail;
	if ((arr = fl_doc_array(doc, root, "recovery", 0, err)) && steps_load(sc, arr, 0, err) < 0)
		goto fail;
	if (fl_error_is_set(err))
		goto fail;
	if ((arr = fl_doc_array(doc, root, "validation", 0, err)) && checks_load(sc, arr, err) < 0)
		goto fail;
	if (fl_error_is_set(err))
		goto fail;
	if ((arr = fl_doc_array(doc, root, "stop_conditions", 0, err)) && stops_load(sc, arr, err) < 0)
		goto fail;
	if (fl_error_is_set(err))
		goto fail;
	if (fl_doc_duration(doc, root, "stability_window", 0, &sc->stability_ns, err) < 0 ||
	    fl_doc_duration(doc, root, "steady_state", 0, &sc->steady_ns, err) < 0 ||
	    positive_duration(doc, root, "timeout", &sc->timeout_ns, err) < 0 ||
	    fl_doc_check_keys(doc, root, err) < 0)
		goto fail;
	fl_free(kind);
	return sc;
fail:
	fl_free(kind);
	fl_scenario_free(sc);
	return NULL;
}

struct fl_scenario *fl_scenario_load(const char *path, struct fl_error *err)
{
	struct fl_doc *doc = fl_doc_load(path, err);
	if (!doc)
		return NULL;
	return fl_scenario_from_doc(doc, err);
}


void fl_fault_spec_release(struct fl_fault_spec *f)
{
	fl_free(f->name);
	fl_free(f->injector);
	fl_free(f->target);
	fl_free(f->zone);
	fl_free(f->select);
}
