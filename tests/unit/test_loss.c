/*
 * Unit tests for fl_loss_compute (sim/timeline.c): the Jepsen-style set
 * check that compares a writer's log with the sequence numbers that
 * survived, and the RPO it implies.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "sim/timeline.h"
#include "core/alloc.h"
#include "core/clock.h"

#define MS(x) ((int64_t)(x)*FL_NS_PER_MS)

static struct fl_write w(long seq, long sent_ms, long ack_ms, enum fl_write_outcome o)
{
	struct fl_write x = { seq, MS(sent_ms), MS(ack_ms), o };
	return x;
}

/* Every class at once, the log out of order. t0 = 500 ms. */
static void test_each_class(void **state)
{
	struct fl_write log[] = {
		w(4, 590, 600, FL_WRITE_ACK),           /* acked after t0, missing */
		w(1, 90, 100, FL_WRITE_ACK),            /* survived */
		w(3, 290, 300, FL_WRITE_ACK),           /* acked before t0, missing */
		w(2, 190, 200, FL_WRITE_ACK),           /* acked before t0, missing: earliest */
		w(5, 510, 520, FL_WRITE_FAIL),          /* refused, yet present */
		w(6, 530, 700, FL_WRITE_INDETERMINATE), /* timed out, present */
		w(7, 540, 700, FL_WRITE_INDETERMINATE), /* timed out, absent: fine */
		w(8, 550, 551, FL_WRITE_FAIL),          /* refused, absent: fine */
		w(9, 560, 570, FL_WRITE_ACK),           /* acked after t0, survived */
		w(10, 480, 500, FL_WRITE_ACK),          /* acked exactly at t0, missing */
	};
	const long present[] = { 1, 5, 6, 9, 42 /* not in the log: ignored */ };
	struct fl_loss loss;
	(void)state;
	assert_int_equal(fl_loss_compute(log, (long)FL_ARRAY_LEN(log), present,
					 (long)FL_ARRAY_LEN(present), MS(500), &loss),
			 0);
	assert_int_equal(loss.acked, 6);
	assert_int_equal(loss.failed, 2);
	assert_int_equal(loss.indeterminate, 2);
	assert_int_equal(loss.lost_before_fault, 2);
	assert_int_equal(loss.lost_after_fault, 2); /* 4, and 10 acked at t0 */
	assert_int_equal(loss.recovered, 1);        /* seq 6 */
	assert_int_equal(loss.failed_present, 1);   /* seq 5: refused, yet present */
	assert_int_equal(loss.rpo_ns, MS(300));     /* t0 - ack of seq 2 */
	assert_int_equal(loss.nlost, 4);
	assert_int_equal(loss.lost_seqs[0], 2);
	assert_int_equal(loss.lost_seqs[1], 3);
	assert_int_equal(loss.lost_seqs[2], 4);
	assert_int_equal(loss.lost_seqs[3], 10);
	fl_loss_release(&loss);
	assert_null(loss.lost_seqs);
	fl_loss_release(&loss); /* twice is harmless */
	fl_loss_release(NULL);
}

/* Only writes during the outage were lost: a bad failover, RPO still 0. */
static void test_only_after_fault(void **state)
{
	struct fl_write log[] = {
		w(1, 0, 10, FL_WRITE_ACK),
		w(2, 600, 610, FL_WRITE_ACK),
	};
	const long present[] = { 1 };
	struct fl_loss loss;
	(void)state;
	assert_int_equal(fl_loss_compute(log, 2, present, 1, MS(500), &loss), 0);
	assert_int_equal(loss.lost_before_fault, 0);
	assert_int_equal(loss.lost_after_fault, 1);
	assert_int_equal(loss.rpo_ns, 0);
	fl_loss_release(&loss);
}

static void test_nothing_lost(void **state)
{
	struct fl_write log[] = {
		w(1, 0, 10, FL_WRITE_ACK),
		w(2, 20, 30, FL_WRITE_ACK),
		w(3, 40, 45, FL_WRITE_INDETERMINATE),
	};
	const long present[] = { 1, 2 };
	struct fl_loss loss;
	(void)state;
	assert_int_equal(fl_loss_compute(log, 3, present, 2, MS(500), &loss), 0);
	assert_int_equal(loss.acked, 2);
	assert_int_equal(loss.nlost, 0);
	assert_int_equal(loss.lost_before_fault + loss.lost_after_fault, 0);
	assert_int_equal(loss.recovered, 0);
	assert_int_equal(loss.rpo_ns, 0);
	fl_loss_release(&loss);
}

/* Everything lost: the RPO reaches back to the first acknowledged write. */
static void test_everything_lost(void **state)
{
	struct fl_write log[] = {
		w(1, 0, 10, FL_WRITE_ACK),
		w(2, 20, 30, FL_WRITE_ACK),
	};
	struct fl_loss loss;
	(void)state;
	assert_int_equal(fl_loss_compute(log, 2, NULL, 0, MS(500), &loss), 0);
	assert_int_equal(loss.lost_before_fault, 2);
	assert_int_equal(loss.rpo_ns, MS(490));
	fl_loss_release(&loss);
}

static void test_empty_logs(void **state)
{
	const long present[] = { 1, 2, 3 };
	struct fl_loss loss;
	(void)state;
	assert_int_equal(fl_loss_compute(NULL, 0, NULL, 0, MS(500), &loss), 0);
	assert_int_equal(loss.acked + loss.failed + loss.indeterminate, 0);
	assert_int_equal(loss.nlost, 0);
	assert_int_equal(loss.rpo_ns, 0);
	assert_null(loss.lost_seqs);
	fl_loss_release(&loss);
	assert_int_equal(fl_loss_compute(NULL, 0, present, 3, MS(500), &loss), 0);
	assert_int_equal(loss.recovered, 0);
	fl_loss_release(&loss);
}

static void test_allocation_failure(void **state)
{
	struct fl_write log[] = { w(1, 0, 10, FL_WRITE_ACK) };
	struct fl_loss loss;
	(void)state;
	fl_alloc_fail_after(1);
	assert_int_equal(fl_loss_compute(log, 1, NULL, 0, MS(500), &loss), -1);
	fl_alloc_fail_after(-1);
	assert_null(loss.lost_seqs);
	fl_loss_release(&loss);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_class),   cmocka_unit_test(test_only_after_fault),
		cmocka_unit_test(test_nothing_lost), cmocka_unit_test(test_everything_lost),
		cmocka_unit_test(test_empty_logs),   cmocka_unit_test(test_allocation_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
