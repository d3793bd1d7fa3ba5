/*
 * Unit tests for sim/faults.c's blast radius in cloud resources: a fault
 * whose injector counts resources (ops.resources) counts what its prepared
 * record names, a resource two faults touch counts once, other faults count
 * their target; a drill over max_targets is refused naming the fault, its
 * resources, the total and the limit, before anything is armed; a later
 * fault's record is prepared again at its instant; no max_targets, no
 * prepare. With a stand-in injector (no cloud needed).
 * And the injector's optional settle (injectors/injector.h): called after
 * t0 is read and the instant's priority dropped, before the journal row is
 * marked injected; a settle that fails fails the drill with the fault in
 * place, its row marked injected, and the fault is reverted with the rest.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/journal.h"
#include "core/store.h"
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

/* ---- settle ----------------------------------------------------------------
 * A stand-in injector that notes when and how each op ran: the clock, the
 * scheduling policy, and the journal row's state as settle sees it. */
static struct {
	struct fl_store *st;
	int settle_fails;
	int64_t t_inject_call, t_settle;
	int inject_policy, settle_policy;
	int settled, reverted;
	enum fl_journal_state state_at_settle;
} ss;

static json_t *settle_prepare(const struct fl_fault_spec *fault, const struct fl_target *target,
			      struct fl_error *err)
{
	(void)fault;
	(void)target;
	(void)err;
	return json_pack("{s:b}", "damaged", 0);
}

static int settle_inject(const struct fl_fault_spec *fault, const struct fl_target *target,
			 json_t *revert, struct fl_error *err)
{
	(void)fault;
	(void)target;
	(void)err;
	ss.t_inject_call = fl_now_ns();
	ss.inject_policy = sched_getscheduler(0) & ~SCHED_RESET_ON_FORK;
	/* What inject adds to the record must reach the journal even when
	 * settle then fails. */
	return json_object_set_new(revert, "damaged", json_true());
}

static int settle_settle(const struct fl_fault_spec *fault, const struct fl_target *target,
			 const json_t *revert, struct fl_error *err)
{
	struct fl_journal_entry *e = NULL;
	struct fl_error je;
	size_t n = 0;
	(void)fault;
	(void)target;
	(void)revert;
	ss.settled++;
	ss.t_settle = fl_now_ns();
	ss.settle_policy = sched_getscheduler(0) & ~SCHED_RESET_ON_FORK;
	fl_error_init(&je);
	if (fl_journal_open_entries(ss.st, &e, &n, &je) == 0 && n == 1)
		ss.state_at_settle = e[0].state;
	fl_journal_entries_free(e, n);
	if (ss.settle_fails)
		return fl_error_set(err, FL_EXIT_ENV, "/data/db: fsync: Input/output error");
	return 0;
}

static int settle_revert(const json_t *revert, struct fl_error *err)
{
	(void)err;
	if (json_is_true(json_object_get(revert, "damaged")))
		ss.reverted++;
	return 0;
}

static char *settle_describe(const struct fl_fault_spec *fault, const struct fl_target *target)
{
	(void)fault;
	(void)target;
	return fl_strdup("stand-in: damage");
}

static const struct fl_injector_ops settle_ops = {
	.name = "fake.settle",
	.prepare = settle_prepare,
	.inject = settle_inject,
	.settle = settle_settle,
	.revert = settle_revert,
	.describe = settle_describe,
};

struct settle_fixture {
	struct fixture x;
	struct fl_run run;
	struct fl_run_options o;
	char db[64];
};

static void settle_setup(struct settle_fixture *sf, int fails)
{
	struct fl_error e;
	memset(sf, 0, sizeof(*sf));
	memset(&ss, 0, sizeof(ss));
	setup(&sf->x, -1);
	snprintf(sf->db, sizeof(sf->db), "/tmp/fl-test-faults-%d.db", (int)getpid());
	unlink(sf->db);
	fl_error_init(&e);
	ss.st = fl_store_open(sf->db, &e);
	if (!ss.st)
		fail_msg("store: %s", e.msg);
	ss.settle_fails = fails;
	ss.state_at_settle = FL_JOURNAL_NSTATES;
	add_fault(&sf->x, 0, "db", NULL, 0);
	sf->x.faults[0].ops = &settle_ops;
	sf->x.faults[0].desc = settle_describe(NULL, NULL);
	sf->x.faults[0].t_inject = sf->x.faults[0].t_attempt = -1;
	sf->x.faults[0].revert_at = sf->x.faults[0].t_revert = -1;
	sf->x.faults[0].inject_at = fl_now_ns(); /* due now */
	sf->x.d.st = ss.st;
	sf->x.d.run = &sf->run;
	sf->x.d.o = &sf->o; /* no log */
	sf->x.d.clk.t0 = sf->x.d.clk.t_last_inject = -1;
}

/* The journal's rows by state: open ones in *open, the state of the first. */
static enum fl_journal_state journal_state(size_t *open)
{
	struct fl_journal_entry *e = NULL;
	struct fl_error err;
	enum fl_journal_state st = FL_JOURNAL_NSTATES;
	fl_error_init(&err);
	assert_int_equal(fl_journal_open_entries(ss.st, &e, open, &err), 0);
	if (*open)
		st = e[0].state;
	if (*open && !json_is_true(json_object_get(e[0].revert, "damaged")))
		fail_msg("the journaled record misses what inject added");
	fl_journal_entries_free(e, *open);
	return st;
}

static void settle_teardown(struct settle_fixture *sf)
{
	fl_free(sf->x.faults[0].desc);
	teardown(&sf->x);
	fl_store_close(ss.st);
	unlink(sf->db);
}

static void test_settle_after_t0(void **state)
{
	struct settle_fixture sf;
	size_t open = 0;
	(void)state;
	settle_setup(&sf, 0);
	if (faults_inject(&sf.x.d, 0) != 0)
		fail_msg("faults_inject: %s", sf.x.err.msg);
	assert_int_equal(ss.settled, 1);
	/* t0 (t_inject, read when inject returned) precedes settle. */
	assert_true(sf.x.faults[0].t_inject >= ss.t_inject_call);
	assert_true(ss.t_settle >= sf.x.faults[0].t_inject);
	assert_true(sf.x.d.clk.t0 == sf.x.faults[0].t_inject);
	/* The row was still armed when settle ran, and injected after it. */
	assert_int_equal(ss.state_at_settle, FL_JOURNAL_ARMED);
	assert_int_equal(journal_state(&open), FL_JOURNAL_INJECTED);
	assert_int_equal(open, 1);
	/* Raised for the instant (when permitted), dropped before settle. */
	if (sf.x.faults[0].raised)
		assert_int_equal(ss.inject_policy, SCHED_FIFO);
	assert_int_equal(ss.settle_policy, SCHED_OTHER);
	faults_revert_all(&sf.x.d);
	assert_int_equal(ss.reverted, 1);
	assert_int_equal(journal_state(&open), FL_JOURNAL_NSTATES);
	assert_int_equal(open, 0);
	settle_teardown(&sf);
}

static void test_settle_failure_is_reverted(void **state)
{
	struct settle_fixture sf;
	size_t open = 0;
	(void)state;
	settle_setup(&sf, 1);
	assert_int_equal(faults_inject(&sf.x.d, 0), -1);
	assert_int_equal(sf.x.err.code, FL_EXIT_ENV);
	assert_string_equal(sf.x.err.msg,
			    "drill: fault 'f0' was injected but could not be made durable: "
			    "/data/db: fsync: Input/output error");
	/* In place: still to revert, its row injected with inject's record. */
	assert_int_equal(sf.x.faults[0].state, FAULT_INJECTED);
	assert_int_equal(journal_state(&open), FL_JOURNAL_INJECTED);
	assert_int_equal(open, 1);
	assert_int_equal(ss.reverted, 0);
	/* What the runner does when a fault fails (drill_wrap_up). */
	faults_revert_all(&sf.x.d);
	assert_int_equal(ss.reverted, 1);
	assert_int_equal(sf.x.faults[0].state, FAULT_REVERTED);
	assert_int_equal(journal_state(&open), FL_JOURNAL_NSTATES);
	assert_int_equal(open, 0);
	settle_teardown(&sf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_resource_counts_once),
		cmocka_unit_test(test_refused_with_other_targets),
		cmocka_unit_test(test_refused_alone),
		cmocka_unit_test(test_later_fault_prepared_again),
		cmocka_unit_test(test_no_limit_no_prepare),
		cmocka_unit_test(test_settle_after_t0),
		cmocka_unit_test(test_settle_failure_is_reverted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
