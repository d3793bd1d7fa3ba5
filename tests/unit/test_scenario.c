/*
 * test_scenario: the scenario loader's defaults, the choice of availability
 * probe, and fl_resolve_scenario filling probe addresses from environment
 * targets and objectives from the inventory asset. Uses the examples in
 * tests/data/scenarios/valid/ (FAULTLINE_SOURCE_DIR).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/environment.h"
#include "core/scenario.h"
#include "sim/resolve.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/clock.h"

static char valid_dir[4096];

static int setup(void **state)
{
	const char *src = getenv("FAULTLINE_SOURCE_DIR");
	(void)state;
	fl_alloc_install_jansson();
	snprintf(valid_dir, sizeof(valid_dir), "%s/tests/data/scenarios/valid", src ? src : ".");
	return 0;
}

static const char *valid(const char *name)
{
	static char path[4200];
	snprintf(path, sizeof(path), "%s/%s", valid_dir, name);
	return path;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static struct fl_scenario *from_string(const char *text, struct fl_error *err)
{
	struct fl_doc *doc = fl_doc_load_string("s.json", text, err);
	return doc ? fl_scenario_from_doc(doc, err) : NULL;
}

/* Loads and resolves without an environment: the probe kinds read their
 * own keys in fl_resolve_scenario (sim/probe_kind.h). */
static struct fl_scenario *from_string_resolved(const char *text, struct fl_error *err)
{
	struct fl_scenario *sc = from_string(text, err);
	if (sc && fl_resolve_scenario(sc, NULL, NULL, err) < 0) {
		fl_scenario_free(sc);
		return NULL;
	}
	return sc;
}

static void test_defaults(void **state)
{
	struct fl_error err;
	struct fl_scenario *sc;
	const struct fl_probe_spec *p;
	(void)state;
	fl_error_init(&err);
	sc = fl_scenario_load(valid("minimal.json"), &err);
	if (!sc || fl_resolve_scenario(sc, NULL, NULL, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(sc->name, "loaders-minimal");
	assert_int_equal(sc->nprobes, 2);
	assert_int_equal(sc->nwriters, 1);
	/* no probe says so: the first sampling probe, skipping the writer */
	assert_string_equal(sc->probes[sc->availability].name, "port");
	assert_null(sc->detect_probe);
	assert_int_equal(sc->detect_failures, 3);
	assert_int_equal(sc->stability_ns, FL_NS_PER_S);
	assert_int_equal(sc->steady_ns, FL_NS_PER_S);
	assert_int_equal(sc->timeout_ns, 300 * FL_NS_PER_S);
	assert_int_equal(sc->targets.rto_ns, -1);
	assert_int_equal(sc->targets.rpo_ns, -1);
	assert_int_equal(sc->targets.max_lost_after_fault, 0);
	assert_int_equal(sc->targets.max_lost_before_fault, -1);
	assert_int_equal(sc->targets.rto_includes_validation, 0);
	assert_int_equal(sc->max_targets, -1);
	assert_null(sc->allowed_zones);
	assert_null(sc->environment);
	assert_int_equal(sc->nfaults + sc->nrecovery + sc->nprepare + sc->nvalidation + sc->nstops,
			 0);
	/* interval 1s: timeout capped at 1s */
	p = fl_scenario_probe(sc, "port");
	assert_int_equal(p->kind, FL_PROBE_TCP);
	assert_int_equal(p->interval_ns, FL_NS_PER_S);
	assert_int_equal(p->timeout_ns, FL_NS_PER_S);
	assert_string_equal(p->host, "127.0.0.1");
	assert_int_equal(p->port, 18081);
	/* default interval 100ms: timeout 5 intervals */
	p = fl_scenario_probe(sc, "health");
	assert_int_equal(p->interval_ns, 100 * FL_NS_PER_MS);
	assert_int_equal(p->timeout_ns, 500 * FL_NS_PER_MS);
	assert_string_equal(p->method, "GET");
	assert_int_equal(p->expect_status, 0);
	/* writers: 50ms, database path relative to the scenario file */
	p = fl_scenario_probe(sc, "writes");
	assert_int_equal(p->kind, FL_PROBE_WRITER);
	assert_int_equal(p->interval_ns, 50 * FL_NS_PER_MS);
	assert_int_equal(p->timeout_ns, 250 * FL_NS_PER_MS);
	assert_string_equal(p->driver, "sqlite");
	assert_string_equal(p->table, "faultline_writes");
	assert_true(p->dsn[0] == '/');
	assert_true(ends_with(p->dsn, "/valid/data/app.db"));
	assert_null(fl_scenario_probe(sc, "nope"));
	fl_scenario_free(sc);
}

static void test_timeout_floor(void **state)
{
	struct fl_error err;
	struct fl_scenario *sc;
	(void)state;
	fl_error_init(&err);
	sc = from_string("{\"name\": \"t\", \"probes\": [{\"name\": \"a\", \"type\": \"tcp\", "
			 "\"host\": \"127.0.0.1\", \"port\": 1, \"interval\": \"1ms\"}]}",
			 &err);
	if (!sc)
		fail_msg("%s", err.msg);
	/* 5 x 1ms would be 5ms; the floor keeps a loaded machine from failing samples */
	assert_int_equal(sc->probes[0].timeout_ns, 50 * FL_NS_PER_MS);
	fl_scenario_free(sc);
}

static void test_availability(void **state)
{
	struct fl_error err;
	struct fl_scenario *sc;
	(void)state;
	fl_error_init(&err);
	sc = from_string_resolved("{\"name\": \"t\", \"probes\": ["
				  "{\"name\": \"a\", \"type\": \"tcp\", \"host\": \"h\", \"port\": 1},"
				  "{\"name\": \"b\", \"type\": \"tcp\", \"host\": \"h\", \"port\": 2, \"availability\": true}]}",
				  &err);
	if (!sc)
		fail_msg("%s", err.msg);
	assert_string_equal(sc->probes[sc->availability].name, "b");
	fl_scenario_free(sc);

	sc = from_string_resolved("{\"name\": \"t\", \"probes\": ["
				  "{\"name\": \"w\", \"type\": \"writer\", \"driver\": \"postgres\", \"dsn\": \"host=x\"},"
				  "{\"name\": \"a\", \"type\": \"tcp\", \"host\": \"h\", \"port\": 1, \"availability\": false},"
				  "{\"name\": \"c\", \"type\": \"command\", \"argv\": [\"true\"]}]}",
				  &err);
	if (!sc)
		fail_msg("%s", err.msg);
	assert_string_equal(sc->probes[sc->availability].name, "c");
	assert_string_equal(sc->writers[0].dsn, "host=x"); /* not a path */
	fl_scenario_free(sc);

	sc = from_string_resolved("{\"name\": \"t\", \"probes\": [\n"
				  "{\"name\": \"a\", \"type\": \"tcp\", \"host\": \"h\", \"port\": 1, \"availability\": true},\n"
				  "{\"name\": \"b\", \"type\": \"tcp\", \"host\": \"h\", \"port\": 2, \"availability\": true}]}",
				  &err);
	assert_null(sc);
	assert_string_equal(err.msg,
			    "s.json:3:70: probe 'b': only one probe can be the availability probe ('a' already is)");

	fl_error_init(&err);
	sc = from_string_resolved("{\"name\": \"t\", \"probes\": [{\"name\": \"w\", \"type\": \"writer\", "
				  "\"driver\": \"sqlite\", \"dsn\": \"x.db\"}]}",
				  &err);
	assert_null(sc);
	assert_string_equal(err.msg,
			    "s.json:1:25: no availability probe: add an http, tcp or command probe");
}

static void test_resolve(void **state)
{
	struct fl_error err;
	struct fl_scenario *sc;
	struct fl_environment *env;
	struct fl_inventory *inv;
	const struct fl_probe_spec *p;
	(void)state;
	fl_error_init(&err);
	sc = fl_scenario_load(valid("kill.json"), &err);
	if (!sc)
		fail_msg("%s", err.msg);
	assert_true(ends_with(sc->environment, "/valid/env.json"));
	assert_true(ends_with(sc->inventory, "/valid/inventory.json"));
	env = fl_environment_load(sc->environment, &err);
	inv = fl_inventory_load(sc->inventory, &err);
	if (!env || !inv)
		fail_msg("%s", err.msg);
	assert_int_equal(env->production, 0);
	assert_int_equal(fl_environment_check_injectable(env, &err), 0);
	/* environment paths are absolute after loading */
	assert_true(ends_with(fl_environment_target(env, "api-1")->pidfile, "/valid/run/api-1.pid"));
	assert_true(ends_with(fl_environment_target(env, "api-1")->start[0], "/valid/bin/api"));
	assert_string_equal(fl_environment_target(env, "api-2")->start[0], "python3");
	assert_string_equal(sc->probes[sc->availability].name, "api");
	assert_null(sc->probes[sc->availability].url);

	if (fl_resolve_scenario(sc, env, inv, &err) < 0)
		fail_msg("%s", err.msg);
	p = fl_scenario_probe(sc, "api");
	assert_string_equal(p->url, "http://127.0.0.1:18081/health");
	p = fl_scenario_probe(sc, "port");
	assert_string_equal(p->host, "127.0.0.1");
	assert_int_equal(p->port, 18082);
	/* rto from the asset, rpo the scenario's own */
	assert_int_equal(sc->targets.rto_ns, 5 * FL_NS_PER_S);
	assert_int_equal(sc->targets.rpo_ns, 0);
	assert_int_equal(sc->targets.max_lost_before_fault, 0);
	assert_int_equal(sc->nfaults, 1);
	assert_string_equal(sc->faults[0].injector, "process");
	assert_int_equal(sc->nrecovery, 3);
	assert_int_equal(sc->recovery[0].kind, FL_STEP_WAIT);
	assert_int_equal(sc->recovery[1].kind, FL_STEP_ACTION);
	assert_int_equal(sc->recovery[2].kind, FL_STEP_MANUAL);
	assert_int_equal(sc->recovery[2].timeout_ns, 600 * FL_NS_PER_S);
	assert_int_equal(sc->validation[0].timeout_ns, 10 * FL_NS_PER_S);
	assert_int_equal(sc->timeout_ns, 300 * FL_NS_PER_S);
	assert_int_equal(sc->steady_ns, 500 * FL_NS_PER_MS);
	fl_scenario_free(sc);

	/* the scenario's own targets win over the asset's; gaps are filled */
	sc = from_string("{\"name\": \"t\", \"asset\": \"orders-db\", \"targets\": {\"rto\": \"2s\"},"
			 "\"probes\": [{\"name\": \"a\", \"type\": \"http\", \"target\": \"api-1\"}]}",
			 &err);
	if (!sc)
		fail_msg("%s", err.msg);
	if (fl_resolve_scenario(sc, env, inv, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(sc->targets.rto_ns, 2 * FL_NS_PER_S);
	assert_int_equal(sc->targets.rpo_ns, FL_NS_PER_S);
	fl_scenario_free(sc);

	/* a target without a URL cannot feed an http probe */
	sc = from_string("{\"name\": \"t\", \"probes\": [{\"name\": \"a\", \"type\": \"http\", \"target\": \"api-2\"}]}",
			 &err);
	assert_non_null(sc);
	assert_int_equal(fl_resolve_scenario(sc, env, inv, &err), -1);
	assert_string_equal(err.msg,
			    "s.json:1:66: probe 'a': target 'api-2' has no url: give the probe a 'url'");
	fl_scenario_free(sc);

	fl_error_init(&err);
	sc = from_string("{\"name\": \"t\", \"asset\": \"ghost\", \"probes\": [{\"name\": \"a\", \"type\": \"command\", \"argv\": [\"true\"]}]}",
			 &err);
	assert_non_null(sc);
	assert_int_equal(fl_resolve_scenario(sc, env, inv, &err), -1);
	assert_true(strstr(err.msg, "s.json:1:24: unknown asset 'ghost' in inventory ") == err.msg);
	fl_scenario_free(sc);
	fl_inventory_free(inv);
	fl_environment_free(env);
}

/* Loading and resolving with each allocation failed in turn: an error or a
 * success, never a crash or a leak. */
static void test_alloc_failure(void **state)
{
	long n;
	int ok = 0;
	(void)state;
	for (n = 1; n < 200000 && !ok; n++) {
		struct fl_error err;
		struct fl_scenario *sc;
		struct fl_environment *env = NULL;
		struct fl_inventory *inv = NULL;
		fl_error_init(&err);
		fl_alloc_fail_after(n);
		sc = fl_scenario_load(valid("kill.json"), &err);
		if (sc && (env = fl_environment_load(sc->environment, &err)) &&
		    (inv = fl_inventory_load(sc->inventory, &err)) &&
		    fl_resolve_scenario(sc, env, inv, &err) == 0)
			ok = 1;
		fl_alloc_fail_after(-1);
		if (!ok)
			assert_true(fl_error_is_set(&err));
		fl_inventory_free(inv);
		fl_environment_free(env);
		fl_scenario_free(sc);
	}
	assert_true(ok);
}

/* A fault that names a zone becomes one fault per target of that zone whose
 * kind the injector accepts; select keeps the first N; the blast radius is
 * checked after the expansion. */
static const char *zone_env_text =
	"{\"name\": \"z\", \"production\": false, \"targets\": {"
	" \"a1\": {\"kind\": \"process\", \"pidfile\": \"/tmp/a1.pid\", \"zone\": \"az-a\"},"
	" \"f1\": {\"kind\": \"file\", \"path\": \"/tmp/f1\", \"zone\": \"az-a\"},"
	" \"b1\": {\"kind\": \"process\", \"pidfile\": \"/tmp/b1.pid\", \"zone\": \"az-b\"},"
	" \"a2\": {\"kind\": \"process\", \"pidfile\": \"/tmp/a2.pid\", \"zone\": \"az-a\"}}}";

static struct fl_scenario *zone_scenario(const char *fault_extra, const char *blast,
					 struct fl_environment **env, struct fl_error *err)
{
	char text[2048];
	struct fl_doc *edoc = fl_doc_load_string("env.json", zone_env_text, err);
	struct fl_scenario *sc;
	*env = edoc ? fl_environment_from_doc(edoc, err) : NULL;
	if (!*env)
		return NULL;
	snprintf(text, sizeof(text),
		 "{\"name\": \"zone\", %s \"probes\": [{\"name\": \"p\", \"type\": \"tcp\","
		 " \"host\": \"127.0.0.1\", \"port\": 9}],"
		 " \"faults\": [{\"name\": \"kill\", \"injector\": \"process\", \"zone\": \"az-a\" %s}]}",
		 blast, fault_extra);
	sc = from_string(text, err);
	if (sc && fl_resolve_scenario(sc, *env, NULL, err) < 0) {
		fl_scenario_free(sc);
		return NULL;
	}
	return sc;
}

static void test_zone_expansion(void **state)
{
	struct fl_error err;
	struct fl_environment *env = NULL;
	struct fl_scenario *sc;
	(void)state;

	fl_error_init(&err);
	sc = zone_scenario("", "", &env, &err);
	if (!sc)
		fail_msg("%s", err.msg);
	assert_int_equal(sc->nfaults, 2);
	assert_string_equal(sc->faults[0].name, "kill@a1");
	assert_string_equal(sc->faults[0].target, "a1");
	assert_string_equal(sc->faults[1].name, "kill@a2");
	assert_string_equal(sc->faults[1].target, "a2");
	fl_scenario_free(sc);
	fl_environment_free(env);

	fl_error_init(&err);
	sc = zone_scenario(", \"select\": \"count(1)\"", "", &env, &err);
	if (!sc)
		fail_msg("%s", err.msg);
	assert_int_equal(sc->nfaults, 1);
	assert_string_equal(sc->faults[0].target, "a1");
	fl_scenario_free(sc);
	fl_environment_free(env);

	fl_error_init(&err);
	sc = zone_scenario(", \"select\": \"percent(50)\"", "", &env, &err);
	if (!sc)
		fail_msg("%s", err.msg);
	assert_int_equal(sc->nfaults, 1);
	fl_scenario_free(sc);
	fl_environment_free(env);

	/* Two targets selected, one allowed: refused before anything runs. */
	fl_error_init(&err);
	sc = zone_scenario("", "\"blast_radius\": {\"max_targets\": 1},", &env, &err);
	assert_null(sc);
	assert_non_null(strstr(err.msg, "blast radius exceeded"));
	fl_environment_free(env);

	fl_error_init(&err);
	sc = zone_scenario(", \"select\": \"some\"", "", &env, &err);
	assert_null(sc);
	assert_non_null(strstr(err.msg, "'select': expected"));
	fl_environment_free(env);

	fl_error_init(&err);
	sc = zone_scenario(", \"target\": \"a1\"", "", &env, &err);
	assert_null(sc);
	assert_non_null(strstr(err.msg, "either 'target' or 'zone'"));
	fl_environment_free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),       cmocka_unit_test(test_timeout_floor),
		cmocka_unit_test(test_availability),   cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_zone_expansion), cmocka_unit_test(test_alloc_failure),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
