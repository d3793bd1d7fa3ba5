/*
 * Unit tests for sim/verdict.c: the outcome's name table and severity
 * order, outcome -> verdict word and exit code, and the targets check.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "sim/verdict.h"
#include "core/alloc.h"
#include "core/error.h"

static void test_names_round_trip(void **state)
{
	(void)state;
	for (int i = 0; i < FL_OUTCOME_COUNT; i++) {
		enum fl_outcome o;
		const char *name = fl_outcome_name((enum fl_outcome)i);
		assert_string_not_equal(name, "?");
		assert_int_equal(fl_outcome_parse(name, &o), 0);
		assert_int_equal(o, i);
	}
	enum fl_outcome o = FL_OUTCOME_PASS;
	assert_int_equal(fl_outcome_parse("passed", &o), -1);
	assert_int_equal(fl_outcome_parse(NULL, &o), -1);
	assert_string_equal(fl_outcome_name(FL_OUTCOME_COUNT), "?");
}

/* A milder outcome never overwrites a worse one. */
static void test_raise_keeps_the_worst(void **state)
{
	(void)state;
	assert_int_equal(fl_outcome_raise(FL_OUTCOME_PASS, FL_OUTCOME_FAIL), FL_OUTCOME_FAIL);
	assert_int_equal(fl_outcome_raise(FL_OUTCOME_INTERRUPTED, FL_OUTCOME_FAIL),
			 FL_OUTCOME_INTERRUPTED);
	assert_int_equal(fl_outcome_raise(FL_OUTCOME_INTERRUPTED, FL_OUTCOME_REVERT_FAILED),
			 FL_OUTCOME_REVERT_FAILED);
	assert_int_equal(fl_outcome_raise(FL_OUTCOME_REVERT_FAILED, FL_OUTCOME_JOURNAL_STALE),
			 FL_OUTCOME_REVERT_FAILED);
}

static void test_verdict_words(void **state)
{
	(void)state;
	assert_string_equal(fl_verdict_name(fl_verdict_of(FL_OUTCOME_PASS, 0)), "pass");
	/* A recorded failure (a validation check) is never a pass. */
	assert_string_equal(fl_verdict_name(fl_verdict_of(FL_OUTCOME_PASS, 1)), "fail");
	assert_string_equal(fl_verdict_name(fl_verdict_of(FL_OUTCOME_FAIL, 0)), "fail");
	assert_string_equal(fl_verdict_name(fl_verdict_of(FL_OUTCOME_STOPPED, 1)), "aborted");
	assert_string_equal(fl_verdict_name(fl_verdict_of(FL_OUTCOME_INTERRUPTED, 1)), "aborted");
	assert_string_equal(fl_verdict_name(fl_verdict_of(FL_OUTCOME_ERROR, 1)), "error");
	assert_string_equal(fl_verdict_name(fl_verdict_of(FL_OUTCOME_JOURNAL_STALE, 1)), "error");
	assert_string_equal(fl_verdict_name(fl_verdict_of(FL_OUTCOME_REVERT_FAILED, 1)), "error");
}

static void test_exit_codes(void **state)
{
	(void)state;
	assert_int_equal(fl_verdict_exit(FL_OUTCOME_PASS, 0, 0), FL_EXIT_OK);
	assert_int_equal(fl_verdict_exit(FL_OUTCOME_PASS, 2, 0), FL_EXIT_FAIL);
	assert_int_equal(fl_verdict_exit(FL_OUTCOME_FAIL, 1, 0), FL_EXIT_FAIL);
	assert_int_equal(fl_verdict_exit(FL_OUTCOME_STOPPED, 1, 0), FL_EXIT_FAIL);
	assert_int_equal(fl_verdict_exit(FL_OUTCOME_INTERRUPTED, 1, 0), FL_EXIT_INTERRUPTED);
	assert_int_equal(fl_verdict_exit(FL_OUTCOME_ERROR, 1, FL_EXIT_INPUT), FL_EXIT_INPUT);
	assert_int_equal(fl_verdict_exit(FL_OUTCOME_ERROR, 1, 0), FL_EXIT_ENV);
	assert_int_equal(fl_verdict_exit(FL_OUTCOME_REVERT_FAILED, 1, 0), FL_EXIT_ENV);
	assert_int_equal(fl_verdict_exit(FL_OUTCOME_JOURNAL_STALE, 1, 0), FL_EXIT_ENV);
}

static struct fl_objectives targets(void)
{
	struct fl_objectives t = { .rto_ns = 2000 * 1000000LL,
				   .rpo_ns = 500 * 1000000LL,
				   .max_lost_after_fault = 0,
				   .max_lost_before_fault = -1 };
	return t;
}

static void test_judge_within_targets(void **state)
{
	struct fl_run r;
	struct fl_objectives t = targets();
	(void)state;
	fl_run_init(&r);
	r.rto_ms = 2000; /* exactly on target is a pass */
	r.rpo_ms = 10;
	r.lost_after_fault = 0;
	r.lost_before_fault = 7; /* no limit beyond the RPO */
	r.writes_failed_present = 0;
	assert_int_equal(fl_verdict_judge(&r, &t), 0);
	assert_int_equal(r.nfailures, 0);
	fl_run_release(&r);
}

static void test_judge_each_miss(void **state)
{
	struct fl_run r;
	struct fl_objectives t = targets();
	(void)state;
	t.max_lost_before_fault = 1;
	fl_run_init(&r);
	r.rto_ms = 2500;
	r.rto_uncertainty_ms = 100;
	r.rpo_ms = 501;
	r.rpo_uncertainty_ms = 50;
	r.lost_after_fault = 3;
	r.lost_before_fault = 2;
	r.writes_failed_present = 1;
	assert_int_equal(fl_verdict_judge(&r, &t), 5);
	assert_int_equal(r.nfailures, 5);
	assert_string_equal(r.failures[0],
			    "RTO 2.500 s ± 0.100 s exceeds the target 2.000 s by 0.500 s");
	assert_non_null(strstr(r.failures[1], "RPO 0.501 s"));
	assert_string_equal(r.failures[2], "3 acknowledged write(s) lost after the fault (limit 0)");
	assert_non_null(strstr(r.failures[3], "1 write(s) answered as failed are present"));
	assert_string_equal(r.failures[4],
			    "2 acknowledged write(s) lost from before the fault (limit 1)");
	fl_run_release(&r);
}

/* Not measured (NAN, -1) or no target (-1): nothing to judge. */
static void test_judge_unmeasured(void **state)
{
	struct fl_run r;
	struct fl_objectives t = targets();
	(void)state;
	fl_run_init(&r);
	assert_true(isnan(r.rto_ms));
	assert_int_equal(fl_verdict_judge(&r, &t), 0);
	t.rto_ns = t.rpo_ns = -1;
	r.rto_ms = 1e9;
	r.rpo_ms = 1e9;
	assert_int_equal(fl_verdict_judge(&r, &t), 0);
	fl_run_release(&r);
}

static void test_judge_out_of_memory(void **state)
{
	struct fl_run r;
	struct fl_objectives t = targets();
	(void)state;
	fl_run_init(&r);
	r.rto_ms = 9000;
	fl_alloc_fail_after(1);
	assert_int_equal(fl_verdict_judge(&r, &t), -1);
	fl_alloc_fail_after(-1);
	fl_run_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_round_trip),
		cmocka_unit_test(test_raise_keeps_the_worst),
		cmocka_unit_test(test_verdict_words),
		cmocka_unit_test(test_exit_codes),
		cmocka_unit_test(test_judge_within_targets),
		cmocka_unit_test(test_judge_each_miss),
		cmocka_unit_test(test_judge_unmeasured),
		cmocka_unit_test(test_judge_out_of_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
