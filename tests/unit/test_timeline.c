/*
 * Unit tests for sim/timeline.c (the edge arithmetic): constructed sample
 * series with known answers — a clean outage, no impact, a flapping restore,
 * a blip below the detection threshold, samples fed out of order, a hanging
 * target (failed samples that complete long after they were sent), a target
 * that never comes back, and confirmation by tick.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "sim/timeline.h"
#include "core/clock.h"

#define MS(x) ((int64_t)(x)*FL_NS_PER_MS)

static struct fl_sample ok_at(long sent_ms, long done_ms)
{
	struct fl_sample s = { MS(sent_ms), MS(done_ms), 1, 0 };
	return s;
}

static struct fl_sample fail_at(long sent_ms, long done_ms)
{
	struct fl_sample s = { MS(sent_ms), MS(done_ms), 0, 0 };
	return s;
}

/* Feeds one sample every `step` ms sent in [from, to), answered 1 ms later. */
static void feed_run(struct fl_timeline *tl, long from, long to, long step, int ok)
{
	for (long t = from; t < to; t += step) {
		struct fl_sample s = ok ? ok_at(t, t + 1) : fail_at(t, t + 1);
		fl_timeline_feed(tl, &s);
	}
}

static void test_sample_placement(void **state)
{
	struct fl_sample a = ok_at(10, 25), b = fail_at(10, 60);
	(void)state;
	assert_int_equal(fl_sample_time(&a), MS(25)); /* ok: when the answer arrived */
	assert_int_equal(fl_sample_time(&b), MS(10)); /* failed: when it was sent */
}

/* ok every 10 ms until t0 = 1000 ms, failures sent 1010..1500, ok again. */
static void test_clean_outage(void **state)
{
	struct fl_timeline tl;
	(void)state;
	fl_timeline_init(&tl, MS(1000), 3, MS(200));
	feed_run(&tl, 0, 1001, 10, 1);
	assert_false(fl_timeline_impacted(&tl));
	feed_run(&tl, 1010, 1501, 10, 0);
	assert_true(fl_timeline_impacted(&tl));
	assert_int_equal(tl.t_impact, MS(1010));
	/* last answer at 1001, first unanswered request at 1010 */
	assert_int_equal(tl.impact_unc, MS(9));
	assert_true(fl_timeline_detected(&tl));
	assert_int_equal(tl.t_detect, MS(1030));    /* the third failure */
	assert_int_equal(fl_timeline_rto(&tl), -1); /* not back yet */
	/* 1510..1700: 200 ms of successes starting at 1511 are not yet a full window */
	feed_run(&tl, 1510, 1701, 10, 1);
	assert_false(fl_timeline_restored(&tl));
	feed_run(&tl, 1710, 1711, 10, 1); /* answered at 1711 = 1511 + 200 */
	assert_true(fl_timeline_restored(&tl));
	assert_int_equal(tl.t_restored, MS(1511));
	assert_int_equal(tl.restored_unc, MS(11)); /* last failure sent at 1500 */
	assert_int_equal(fl_timeline_rto(&tl), MS(511));
	/* Later samples are counted but move no edge. */
	feed_run(&tl, 1720, 1800, 10, 0);
	assert_int_equal(tl.t_restored, MS(1511));
	assert_int_equal(tl.samples, 101 + 50 + 21 + 8);
	assert_int_equal(tl.failures, 50 + 8);
}

/* After a hang the first answer of the restored run waited through the
 * target's backlog: it is the restore edge (the outage includes it), and
 * the timeline keeps how long it waited so the drill can print it. */
static void test_restored_wait(void **state)
{
	struct fl_timeline tl;
	struct fl_sample s;
	char buf[160];
	(void)state;
	fl_timeline_init(&tl, MS(1000), 3, MS(200));
	assert_string_equal(fl_timeline_restored_wait(&tl, buf, sizeof(buf)), "");
	feed_run(&tl, 980, 1000, 10, 1);
	feed_run(&tl, 1000, 1480, 10, 0); /* slower than the threshold: failed */
	s = ok_at(1490, 1507);            /* sent late in the hang, answered after it */
	fl_timeline_feed(&tl, &s);
	feed_run(&tl, 1508, 1800, 10, 1);
	assert_true(fl_timeline_restored(&tl));
	assert_int_equal(tl.t_restored, MS(1507));
	assert_int_equal(tl.restored_wait_ns, MS(17));
	assert_string_equal(fl_timeline_restored_wait(&tl, buf, sizeof(buf)),
			    "; its first answer waited 17.000 ms (a backlog after a hang: counted in the outage)");
}

static void test_no_impact(void **state)
{
	struct fl_timeline tl;
	(void)state;
	fl_timeline_init(&tl, MS(1000), 3, MS(200));
	/* A failure before the fault is a flake, not the fault's impact. */
	feed_run(&tl, 0, 990, 10, 1);
	feed_run(&tl, 990, 991, 10, 0);
	feed_run(&tl, 1000, 3000, 10, 1);
	fl_timeline_tick(&tl, MS(5000));
	assert_false(fl_timeline_impacted(&tl));
	assert_false(fl_timeline_detected(&tl));
	assert_false(fl_timeline_restored(&tl));
	assert_int_equal(fl_timeline_rto(&tl), 0);
	assert_int_equal(tl.failures, 1);
}

/* The target answers again at 1510, fails once at 1650 (a flap), then stays. */
static void test_flapping_restore(void **state)
{
	struct fl_timeline tl;
	(void)state;
	fl_timeline_init(&tl, MS(1000), 3, MS(200));
	feed_run(&tl, 0, 1001, 10, 1);
	feed_run(&tl, 1010, 1501, 10, 0);
	feed_run(&tl, 1510, 1650, 10, 1);
	feed_run(&tl, 1650, 1651, 10, 0);
	fl_timeline_tick(&tl, MS(1655));
	assert_false(fl_timeline_restored(&tl));
	feed_run(&tl, 1660, 1900, 10, 1);
	assert_true(fl_timeline_restored(&tl));
	assert_int_equal(tl.t_restored, MS(1661));
	assert_int_equal(tl.restored_unc, MS(11));
	assert_int_equal(fl_timeline_rto(&tl), MS(661));
	/* detection happened during the outage, unaffected by the flap */
	assert_int_equal(tl.t_detect, MS(1030));
}

/* Two failures with detect_failures = 3: the system was impacted, the
 * harness's own rule would not have fired. RTO still counts the impact: it
 * is the time users saw errors, whatever the alerting did. */
static void test_blip_below_detection(void **state)
{
	struct fl_timeline tl;
	(void)state;
	fl_timeline_init(&tl, MS(1000), 3, MS(200));
	feed_run(&tl, 0, 1001, 10, 1);
	feed_run(&tl, 1010, 1021, 10, 0);
	feed_run(&tl, 1030, 1300, 10, 1);
	assert_true(fl_timeline_impacted(&tl));
	assert_false(fl_timeline_detected(&tl));
	assert_true(fl_timeline_restored(&tl));
	assert_int_equal(tl.t_restored, MS(1031));
	assert_int_equal(fl_timeline_rto(&tl), MS(31));
	/* The count restarts after a success: 2 + 2 failures are not 3 in a row. */
	fl_timeline_init(&tl, MS(1000), 3, MS(500));
	feed_run(&tl, 0, 1001, 10, 1);
	feed_run(&tl, 1010, 1021, 10, 0);
	feed_run(&tl, 1030, 1031, 10, 1);
	feed_run(&tl, 1040, 1051, 10, 0);
	assert_false(fl_timeline_detected(&tl));
	feed_run(&tl, 1060, 1061, 10, 0);
	assert_true(fl_timeline_detected(&tl));
	assert_int_equal(tl.t_detect, MS(1060));
}

/* The same outage as test_clean_outage with neighbours swapped: the edges
 * must come out the same. */
static void test_out_of_order(void **state)
{
	struct fl_timeline tl;
	struct fl_sample s;
	(void)state;
	fl_timeline_init(&tl, MS(1000), 3, MS(200));
	feed_run(&tl, 0, 991, 10, 1);
	s = fail_at(1010, 1011); /* first failure before the last ok answer */
	fl_timeline_feed(&tl, &s);
	assert_int_equal(tl.impact_unc, MS(19));
	s = ok_at(1000, 1001);
	fl_timeline_feed(&tl, &s);
	assert_int_equal(tl.t_impact, MS(1010));
	assert_int_equal(tl.impact_unc, MS(9));
	s = fail_at(1030, 1031); /* the third failure before the second */
	fl_timeline_feed(&tl, &s);
	s = fail_at(1020, 1021);
	fl_timeline_feed(&tl, &s);
	assert_int_equal(tl.t_detect, MS(1030));
	feed_run(&tl, 1040, 1501, 10, 0);
	s = ok_at(1520, 1521); /* second success first */
	fl_timeline_feed(&tl, &s);
	s = ok_at(1510, 1511);
	fl_timeline_feed(&tl, &s);
	s = fail_at(1005, 1006); /* a late failure sent before the first known one */
	fl_timeline_feed(&tl, &s);
	assert_int_equal(tl.t_impact, MS(1005));
	assert_int_equal(tl.impact_unc, MS(4));
	s = fail_at(995, 996); /* sent before t0: not the fault's doing */
	fl_timeline_feed(&tl, &s);
	assert_int_equal(tl.t_impact, MS(1005));
	feed_run(&tl, 1530, 1800, 10, 1);
	assert_true(fl_timeline_restored(&tl));
	assert_int_equal(tl.t_restored, MS(1511));
	assert_int_equal(tl.restored_unc, MS(11));
}

/* A hang from 995 to 1237 with a 50 ms probe timeout: every failed sample
 * completes 50 ms after it was sent; the sample sent at 1200 is still
 * waiting when the hang ends and is answered at 1238. */
static void test_hang(void **state)
{
	struct fl_timeline tl;
	struct fl_sample s;
	(void)state;
	fl_timeline_init(&tl, MS(995), 3, MS(200));
	feed_run(&tl, 0, 991, 10, 1);
	for (long t = 1000; t <= 1150; t += 50) {
		s = fail_at(t, t + 50);
		fl_timeline_feed(&tl, &s);
	}
	assert_int_equal(tl.t_impact, MS(1000));
	assert_int_equal(tl.impact_unc, MS(9));
	assert_int_equal(tl.t_detect, MS(1100));
	s = ok_at(1200, 1238);
	fl_timeline_feed(&tl, &s);
	feed_run(&tl, 1240, 1500, 10, 1);
	assert_true(fl_timeline_restored(&tl));
	/* placed at the answer: an ok placed at its send (1200) would claim the
	 * service was back 37 ms before it was */
	assert_int_equal(tl.t_restored, MS(1238));
	assert_int_equal(tl.restored_unc, MS(88));
	assert_int_equal(fl_timeline_rto(&tl), MS(243));
}

static void test_never_restored(void **state)
{
	struct fl_timeline tl;
	(void)state;
	fl_timeline_init(&tl, MS(1000), 3, MS(200));
	feed_run(&tl, 0, 1001, 10, 1);
	feed_run(&tl, 1010, 5000, 10, 0);
	fl_timeline_tick(&tl, MS(9000));
	assert_true(fl_timeline_detected(&tl));
	assert_false(fl_timeline_restored(&tl));
	assert_int_equal(fl_timeline_rto(&tl), -1);
}

static void test_tick_confirms(void **state)
{
	struct fl_timeline tl;
	(void)state;
	fl_timeline_init(&tl, MS(1000), 1, MS(300));
	feed_run(&tl, 0, 1001, 10, 1);
	feed_run(&tl, 1010, 1101, 10, 0);
	assert_int_equal(tl.t_detect, MS(1010)); /* N = 1 */
	feed_run(&tl, 1110, 1111, 10, 1);
	fl_timeline_tick(&tl, MS(1410));
	assert_false(fl_timeline_restored(&tl));
	fl_timeline_tick(&tl, MS(1411));
	assert_true(fl_timeline_restored(&tl));
	assert_int_equal(tl.t_restored, MS(1111));
	/* With the probe's timeout known, tick waits for a sample that may be in
	 * flight inside the window; a hang found meanwhile resets the run. */
	fl_timeline_init(&tl, MS(1000), 1, MS(300));
	fl_timeline_set_sample_timeout(&tl, MS(50));
	feed_run(&tl, 0, 1001, 10, 1);
	feed_run(&tl, 1010, 1101, 10, 0);
	feed_run(&tl, 1110, 1111, 10, 1);
	fl_timeline_tick(&tl, MS(1411));
	assert_false(fl_timeline_restored(&tl));
	fl_timeline_tick(&tl, MS(1461));
	assert_true(fl_timeline_restored(&tl));
	fl_timeline_init(&tl, MS(1000), 1, MS(300));
	fl_timeline_set_sample_timeout(&tl, MS(50));
	feed_run(&tl, 0, 1001, 10, 1);
	feed_run(&tl, 1010, 1101, 10, 0);
	feed_run(&tl, 1110, 1111, 10, 1);
	fl_timeline_tick(&tl, MS(1411));
	{
		struct fl_sample s = fail_at(1400, 1450); /* sent in the window, timed out */
		fl_timeline_feed(&tl, &s);
	}
	fl_timeline_tick(&tl, MS(1461));
	assert_false(fl_timeline_restored(&tl));
	/* A tick before impact confirms nothing. */
	fl_timeline_init(&tl, MS(1000), 3, MS(300));
	fl_timeline_tick(&tl, MS(99999));
	assert_false(fl_timeline_restored(&tl));
}

/* A sample sent after the window ends proves the window was clean, even
 * when that sample itself fails (a new outage after restoration). */
static void test_window_closed_by_later_send(void **state)
{
	struct fl_timeline tl;
	struct fl_sample s;
	(void)state;
	fl_timeline_init(&tl, MS(1000), 3, MS(200));
	feed_run(&tl, 0, 1001, 10, 1);
	feed_run(&tl, 1010, 1101, 10, 0);
	s = ok_at(1110, 1111);
	fl_timeline_feed(&tl, &s);
	s = fail_at(1311, 1312);
	fl_timeline_feed(&tl, &s);
	assert_true(fl_timeline_restored(&tl));
	assert_int_equal(tl.t_restored, MS(1111));
	/* ...but one sent inside it resets the run. */
	fl_timeline_init(&tl, MS(1000), 3, MS(200));
	feed_run(&tl, 0, 1001, 10, 1);
	feed_run(&tl, 1010, 1101, 10, 0);
	s = ok_at(1110, 1111);
	fl_timeline_feed(&tl, &s);
	s = fail_at(1310, 1360);
	fl_timeline_feed(&tl, &s);
	assert_false(fl_timeline_restored(&tl));
}

/* An impact with no success ever seen before it: bracketed by t0. */
static void test_impact_without_prior_success(void **state)
{
	struct fl_timeline tl;
	(void)state;
	fl_timeline_init(&tl, MS(1000), 0, -5);
	assert_int_equal(tl.detect_failures, 1);
	assert_int_equal(tl.stability_ns, 0);
	feed_run(&tl, 1004, 1005, 10, 0);
	assert_int_equal(tl.t_impact, MS(1004));
	assert_int_equal(tl.impact_unc, MS(4));
	feed_run(&tl, 1010, 1011, 10, 1);
	assert_true(fl_timeline_restored(&tl)); /* zero stability: first success */
	assert_int_equal(fl_timeline_rto(&tl), MS(11));
}

/* A slow answer: failed on its latency, overdue from sent + threshold. */
static struct fl_sample slow_at(long sent_ms, long done_ms, long threshold_ms)
{
	struct fl_sample s = { MS(sent_ms), MS(done_ms), 0, MS(sent_ms + threshold_ms) };
	return s;
}

/* A short hang at 1 ms probes: the request in flight when it begins waits
 * the longest, and it was sent before the fault. */
static void test_held_at_t0(void **state)
{
	struct fl_timeline tl;
	struct fl_sample s;
	(void)state;
	fl_timeline_init(&tl, MS(1000), 1, MS(50));
	feed_run(&tl, 900, 1000, 1, 1); /* the last answered at 1000 */
	/* Sent at 999.5 (just before t0), answered 2.4 ms later, overdue
	 * from 1000.5 with a 1 ms threshold: on time at t0, the fault's. */
	s = (struct fl_sample){ MS(999) + 500000, MS(1002) - 100000, 0, MS(1000) + 500000 };
	fl_timeline_feed(&tl, &s);
	assert_true(fl_timeline_impacted(&tl));
	assert_int_equal(tl.t_impact, MS(1000)); /* placed at t0, not before the fault */
	assert_int_equal(tl.impact_unc, 500000); /* began between t0 and overdue */
	assert_true(fl_timeline_detected(&tl));
	assert_int_equal(tl.t_detect, MS(1000));
	/* Later samples answered on time: restored at the first answer. */
	feed_run(&tl, 1001, 1100, 1, 1);
	assert_true(fl_timeline_restored(&tl));
	assert_int_equal(tl.t_restored, MS(1002));
	assert_int_equal(fl_timeline_rto(&tl), MS(2));
}

/* Failures sent before t0 that the fault cannot have caused: an error
 * (refused: no overdue time) and a slow answer already late before t0. */
static void test_not_held_at_t0(void **state)
{
	struct fl_timeline tl;
	struct fl_sample s;
	(void)state;
	fl_timeline_init(&tl, MS(1000), 1, MS(50));
	feed_run(&tl, 900, 990, 1, 1);
	s = fail_at(990, 1001); /* an error answered after t0 */
	fl_timeline_feed(&tl, &s);
	s = slow_at(995, 1003, 2); /* overdue at 997 */
	fl_timeline_feed(&tl, &s);
	assert_false(fl_timeline_impacted(&tl));
	feed_run(&tl, 1000, 1100, 1, 1);
	fl_timeline_tick(&tl, MS(2000));
	assert_false(fl_timeline_impacted(&tl));
	assert_int_equal(tl.failures, 2);
	/* An impact already recorded after t0 moves back to t0 when such a
	 * held answer arrives late. */
	fl_timeline_init(&tl, MS(1000), 1, MS(50));
	s = slow_at(1001, 1003, 1);
	fl_timeline_feed(&tl, &s);
	assert_int_equal(tl.t_impact, MS(1001));
	s = slow_at(999, 1004, 1);
	fl_timeline_feed(&tl, &s);
	assert_int_equal(tl.t_impact, MS(1000));
	assert_int_equal(tl.impact_unc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_placement),
		cmocka_unit_test(test_clean_outage),
		cmocka_unit_test(test_restored_wait),
		cmocka_unit_test(test_no_impact),
		cmocka_unit_test(test_flapping_restore),
		cmocka_unit_test(test_blip_below_detection),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_hang),
		cmocka_unit_test(test_never_restored),
		cmocka_unit_test(test_tick_confirms),
		cmocka_unit_test(test_window_closed_by_later_send),
		cmocka_unit_test(test_impact_without_prior_success),
		cmocka_unit_test(test_held_at_t0),
		cmocka_unit_test(test_not_held_at_t0),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
