/*
 * Unit tests for sim/faults.c's blast radius in cloud resources: a fault
 * whose injector counts resources (ops.resources) counts what its prepared
 * record names, a resource two faults touch counts once, other faults count
 * their target; a drill over max_targets is refused naming the fault, its
 * resources, the total and the limit, before anything is armed; a later
 * fault's record is prepared again at its instant; no max_targets, no
 * prepare. With a stand-in injector (no cloud needed).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "sim/drill.h"
#include "sim/faults.h"

static int prepared; /* prepare() calls */

/* The record is the fault's "ids", as a cloud family's selection would be. */
static json_t *fake_prepare(const struct fl_fault_spec *fault, const struct fl_target *target,
			    struct fl_error *err)
{
	(void)target;
	(void)err;
	prepared++;
	return json_pack("{s:O}", "ids", json_object_get(fault->params, "ids"));
}

static json_t *fake_resources(const json_t *rec)
{
	return json_deep_copy(json_object_get(rec, "ids"));
}

static const struct fl_injector_ops cloud_ops = {
	.name = "fake.cloud",
	.prepare = fake_prepare,
	.resources = fake_resources,
};
static const struct fl_injector_ops local_ops = { .name = "fake.local" };

struct fixture {
	struct fl_scenario sc;
	struct fl_fault_spec specs[3];
	struct active_fault faults[3];
	struct fl_target targets[3];
	struct fl_error err;
	struct drill d;
};

/* Fault i: on target `target`; cloud when ids is a JSON array, else local. */
static void add_fault(struct fixture *x, size_t i, const char *target, const char *ids,
		      int64_t after_ns)
{
	static char *names[] = { "f0", "f1", "f2" };
	x->specs[i].name = names[i];
	x->specs[i].after_ns = after_ns;
	x->specs[i].params = ids ? json_pack("{s:o}", "ids", json_loads(ids, 0, NULL)) : NULL;
	x->targets[i].name = FL_UNCONST(char *, target);
	x->faults[i].spec = &x->specs[i];
	x->faults[i].target = &x->targets[i];
	x->faults[i].ops = ids ? &cloud_ops : &local_ops;
	x->faults[i].state = FAULT_WAITING;
	x->d.nfaults = i + 1;
}

static void setup(struct fixture *x, long max_targets)
{
	memset(x, 0, sizeof(*x));
	prepared = 0;
	x->sc.name = "drill";
	x->sc.max_targets = max_targets;
	fl_error_init(&x->err);
	x->d.sc = &x->sc;
	x->d.faults = x->faults;
	x->d.err = &x->err;
}

static void teardown(struct fixture *x)
{
	for (size_t i = 0; i < x->d.nfaults; i++) {
		json_decref(x->specs[i].params);
		json_decref(x->faults[i].revert);
	}
}

static void test_shared_resource_counts_once(void **state)
{
	struct fixture x;
	(void)state;
	setup(&x, 2);
	add_fault(&x, 0, "web", "[\"i-1\", \"i-2\"]", 0);
	add_fault(&x, 1, "web", "[\"i-2\"]", 0);
	assert_int_equal(faults_check_blast(&x.d), 0);
	assert_int_equal(prepared, 2);
	/* due at once: the records are kept for faults_arm */
	assert_non_null(x.faults[0].revert);
	assert_non_null(x.faults[1].revert);
	teardown(&x);
}

static void test_refused_with_other_targets(void **state)
{
	struct fixture x;
	(void)state;
	setup(&x, 2);
	add_fault(&x, 0, "db-1", NULL, 0);
	add_fault(&x, 1, "web", "[\"i-1\", \"i-2\"]", 0);
	assert_int_equal(faults_check_blast(&x.d), -1);
	assert_int_equal(x.err.code, FL_EXIT_INPUT);
	assert_string_equal(x.err.msg,
			    "drill: blast radius exceeded: fault 'f1' would touch 2 cloud resources "
			    "(i-1, i-2), 3 in all with the drill's other faults, max_targets is 2; "
			    "nothing was changed");
	teardown(&x);
}

static void test_refused_alone(void **state)
{
	struct fixture x;
	(void)state;
	setup(&x, 1);
	add_fault(&x, 0, "web", "[\"i-1\", \"i-2\", \"i-3\"]", 0);
	add_fault(&x, 1, "web", "[\"i-9\"]", 0);
	assert_int_equal(faults_check_blast(&x.d), -1);
	assert_string_equal(x.err.msg,
			    "drill: blast radius exceeded: fault 'f0' would touch 3 cloud resources "
			    "(i-1, i-2, i-3), max_targets is 1; nothing was changed");
	assert_int_equal(prepared, 1); /* refused at the first fault over the limit */
	teardown(&x);
}

static void test_later_fault_prepared_again(void **state)
{
	struct fixture x;
	(void)state;
	setup(&x, 5);
	add_fault(&x, 0, "web", "[\"i-1\"]", 0);
	add_fault(&x, 1, "web", "[\"i-2\"]", FAULTS_ARM_LEAD_NS);
	assert_int_equal(faults_check_blast(&x.d), 0);
	assert_non_null(x.faults[0].revert);
	assert_null(x.faults[1].revert); /* prepared and checked again at its instant */
	teardown(&x);
}

static void test_no_limit_no_prepare(void **state)
{
	struct fixture x;
	(void)state;
	setup(&x, -1);
	add_fault(&x, 0, "web", "[\"i-1\", \"i-2\"]", 0);
	assert_int_equal(faults_check_blast(&x.d), 0);
	assert_int_equal(prepared, 0);
	assert_null(x.faults[0].revert);
	teardown(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_resource_counts_once),
		cmocka_unit_test(test_refused_with_other_targets),
		cmocka_unit_test(test_refused_alone),
		cmocka_unit_test(test_later_fault_prepared_again),
		cmocka_unit_test(test_no_limit_no_prepare),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
