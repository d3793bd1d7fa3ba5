/*
 * gameday_plan: loading and checking a game-day plan (sim/gameday.h).
 * Everything is checked before anyone is told the day has started: each
 * scenario as `run` would, and each hint against the scenario's manual
 * steps, so a typo never surfaces in front of the room.
 */
#include <string.h>

#include "core/alloc.h"
#include "core/doc.h"
#include "core/error.h"
#include "core/scenario.h"
#include "sim/gameday.h"
#include "sim/runner.h"

static void step_release(struct fl_gameday_step *it)
{
	fl_free(it->text);
	fl_free(it->scenario);
	fl_free(it->name);
	for (size_t k = 0; it->manual && it->manual[k]; k++)
		fl_free(it->manual[k]);
	fl_free(it->manual);
	for (size_t k = 0; k < it->nhints; k++) {
		fl_free(it->hints[k].step);
		fl_free(it->hints[k].text);
	}
	fl_free(it->hints);
	fl_run_release(&it->run);
	fl_free(it->error);
}

void fl_gameday_release(struct fl_gameday *gd)
{
	for (size_t i = 0; i < gd->nsteps; i++)
		step_release(&gd->steps[i]);
	for (size_t i = 0; i < gd->npeople; i++) {
		fl_free(gd->people[i].name);
		fl_free(gd->people[i].role);
	}
	for (size_t i = 0; i < gd->nnotes; i++) {
		fl_free(gd->notes[i].text);
		fl_free(gd->notes[i].during);
	}
	fl_free(gd->notes);
	fl_free(gd->people);
	fl_free(gd->steps);
	fl_free(gd->name);
	fl_free(gd->briefing);
	fl_doc_free(gd->doc);
	memset(gd, 0, sizeof(*gd));
}

/* The scenario's name and its manual recovery steps, which hints name. */
static int load_manual_steps(struct fl_gameday_step *it, struct fl_error *err)
{
	struct fl_scenario *sc;
	size_t nman = 0;
	int rc = 0;

	if (!(sc = fl_scenario_load(it->scenario, err)))
		return -1;
	it->name = fl_strdup(sc->name);
	it->manual = fl_calloc(sc->nrecovery + 1, sizeof(*it->manual));
	if (!it->name || !it->manual)
		rc = fl_error_oom(err, "plan");
	for (size_t k = 0; rc == 0 && k < sc->nrecovery; k++)
		if (sc->recovery[k].kind == FL_STEP_MANUAL &&
		    !(it->manual[nman++] = fl_strdup(sc->recovery[k].name)))
			rc = fl_error_oom(err, "plan");
	fl_scenario_free(sc);
	return rc;
}

static int load_hint(struct fl_doc *doc, json_t *h, struct fl_gameday_step *it, struct fl_error *err)
{
	struct fl_gameday_hint *hi = &it->hints[it->nhints];
	int manual = 0;

	if (!json_is_object(h))
		return fl_doc_error_value(doc, h, err, "a hint is an object {step, after, text}");
	it->nhints++;
	if (fl_doc_string(doc, h, "step", 1, &hi->step, err) < 0 ||
	    fl_doc_string(doc, h, "text", 1, &hi->text, err) < 0 ||
	    fl_doc_duration(doc, h, "after", 1, &hi->after_ns, err) < 0 ||
	    fl_doc_check_keys(doc, h, err) < 0)
		return -1;
	for (size_t m = 0; it->manual[m]; m++)
		manual |= !strcmp(it->manual[m], hi->step);
	if (!manual)
		return fl_doc_error_value(doc, json_object_get(h, "step"), err,
					  "scenario '%s' has no manual step '%s'", it->name,
					  hi->step);
	return 0;
}

static int load_scenario_step(struct fl_doc *doc, json_t *obj, struct fl_gameday_step *it,
			      struct fl_error *err)
{
	json_t *hints;

	if (fl_doc_string(doc, obj, "scenario", 1, &it->scenario, err) < 0 ||
	    fl_doc_resolve_path(doc, &it->scenario, 1, err) < 0 || load_manual_steps(it, err) < 0)
		return -1;
	if (!(hints = fl_doc_array(doc, obj, "hints", 0, err)))
		return fl_error_is_set(err) ? -1 : fl_doc_check_keys(doc, obj, err);
	it->hints = fl_calloc(json_array_size(hints) + 1, sizeof(*it->hints));
	if (!it->hints)
		return fl_error_oom(err, "plan");
	for (size_t k = 0; k < json_array_size(hints); k++)
		if (load_hint(doc, json_array_get(hints, k), it, err) < 0)
			return -1;
	return fl_doc_check_keys(doc, obj, err);
}

static int load_step(struct fl_doc *doc, json_t *o, struct fl_gameday_step *it, struct fl_error *err)
{
	int has_pause, has_sc;

	if (!json_is_object(o))
		return fl_doc_error_value(doc, o, err,
					  "a step is an object: {\"scenario\": ...} or {\"pause\": ...}");
	has_pause = json_object_get(o, "pause") != NULL;
	has_sc = json_object_get(o, "scenario") != NULL;
	if (has_pause == has_sc)
		return fl_doc_error_value(doc, o, err, "a step has either 'scenario' or 'pause'");
	if (!has_pause)
		return load_scenario_step(doc, o, it, err);
	it->pause = 1;
	if (fl_doc_string(doc, o, "pause", 1, &it->text, err) < 0 ||
	    fl_doc_duration(doc, o, "duration", 0, &it->duration_ns, err) < 0)
		return -1;
	return fl_doc_check_keys(doc, o, err);
}

static int load_people(struct fl_gameday *gd, json_t *root, struct fl_error *err)
{
	json_t *people = fl_doc_array(gd->doc, root, "participants", 0, err);
	size_t n;

	if (!people)
		return fl_error_is_set(err) ? -1 : 0;
	n = json_array_size(people);
	if (!(gd->people = fl_calloc(n + 1, sizeof(*gd->people))))
		return fl_error_oom(err, "plan");
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_array_get(people, i);
		if (!json_is_object(o))
			return fl_doc_error_value(gd->doc, o, err,
						  "a participant is an object {name, role}");
		gd->npeople++;
		if (fl_doc_string(gd->doc, o, "name", 1, &gd->people[i].name, err) < 0 ||
		    fl_doc_string(gd->doc, o, "role", 1, &gd->people[i].role, err) < 0 ||
		    fl_doc_check_keys(gd->doc, o, err) < 0)
			return -1;
	}
	return 0;
}

int fl_gameday_load(struct fl_gameday *gd, const char *path, const char *label, struct fl_error *err)
{
	struct fl_run_options o = { .label = label };
	json_t *root, *steps;

	memset(gd, 0, sizeof(*gd));
	if (!(gd->doc = fl_doc_load(path, err)))
		return -1;
	root = fl_doc_root(gd->doc);
	if (!json_is_object(root))
		return fl_doc_error_value(gd->doc, root, err, "a game-day plan is a JSON object");
	if (fl_doc_string(gd->doc, root, "name", 1, &gd->name, err) < 0 ||
	    fl_doc_string(gd->doc, root, "briefing", 0, &gd->briefing, err) < 0 ||
	    load_people(gd, root, err) < 0)
		return -1;
	if (!(steps = fl_doc_array(gd->doc, root, "steps", 1, err)))
		return -1;
	if (!json_array_size(steps))
		return fl_doc_error_value(gd->doc, steps, err,
					  "'steps' is empty: name at least one scenario");
	if (!(gd->steps = fl_calloc(json_array_size(steps), sizeof(*gd->steps))))
		return fl_error_oom(err, "%s", path);
	for (size_t i = 0; i < json_array_size(steps); i++) {
		fl_run_init(&gd->steps[i].run);
		gd->nsteps++;
		if (load_step(gd->doc, json_array_get(steps, i), &gd->steps[i], err) < 0)
			return -1;
	}
	if (fl_doc_check_keys(gd->doc, root, err) < 0)
		return -1;
	for (size_t i = 0; i < gd->nsteps; i++)
		if (!gd->steps[i].pause && fl_runner_check(gd->steps[i].scenario, &o, err) < 0)
			return -1;
	return 0;
}
