/*
 * test_duration: fl_duration_parse (core/clock.c) — every unit, fractions,
 * ISO 8601, and the inputs a scenario author gets wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/clock.h"

static int64_t parse_ok(const char *s)
{
	int64_t ns = -12345;
	if (fl_duration_parse(s, &ns) != 0)
		fail_msg("'%s' was rejected", s);
	return ns;
}

static void parse_bad(const char *s)
{
	int64_t ns = -12345;
	if (fl_duration_parse(s, &ns) == 0)
		fail_msg("'%s' was accepted as %lld ns", s ? s : "(null)", (long long)ns);
	/* a rejected input must not touch the output */
	assert_int_equal(ns, -12345);
}

static void test_units(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("7ns"), 7);
	assert_int_equal(parse_ok("7us"), 7000);
	assert_int_equal(parse_ok("250ms"), 250 * FL_NS_PER_MS);
	assert_int_equal(parse_ok("30s"), 30 * FL_NS_PER_S);
	assert_int_equal(parse_ok("5m"), 300 * FL_NS_PER_S);
	assert_int_equal(parse_ok("2h"), 7200 * FL_NS_PER_S);
	assert_int_equal(parse_ok("0s"), 0);
	assert_int_equal(parse_ok("0ms"), 0);
}

static void test_fractions(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("1.5s"), 1500 * FL_NS_PER_MS);
	assert_int_equal(parse_ok("0.25s"), 250 * FL_NS_PER_MS);
	assert_int_equal(parse_ok("1.5ms"), 1500000);
	assert_int_equal(parse_ok("0.5m"), 30 * FL_NS_PER_S);
	assert_int_equal(parse_ok("2.5us"), 2500);
	/* exact, no binary floating point drift */
	assert_int_equal(parse_ok("0.1s"), 100 * FL_NS_PER_MS);
	assert_int_equal(parse_ok("1.000000001s"), FL_NS_PER_S + 1);
}

static void test_iso8601(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("PT1H2M3.5S"), (3600 + 120 + 3) * FL_NS_PER_S + 500 * FL_NS_PER_MS);
	assert_int_equal(parse_ok("PT5M"), 300 * FL_NS_PER_S);
	assert_int_equal(parse_ok("PT0.25S"), 250 * FL_NS_PER_MS);
	assert_int_equal(parse_ok("PT36H"), 36 * 3600 * FL_NS_PER_S);
	assert_int_equal(parse_ok("P1D"), 86400 * FL_NS_PER_S);
	assert_int_equal(parse_ok("P1DT1S"), 86401 * FL_NS_PER_S);
}

static void test_rejections(void **state)
{
	(void)state;
	parse_bad(NULL);
	parse_bad("");
	parse_bad("5"); /* no unit: seconds? milliseconds? */
	parse_bad("10");
	parse_bad("-1s");
	parse_bad("-5s");
	parse_bad("+5s");
	parse_bad("1.2.3s");
	parse_bad("1.5.2s");
	parse_bad("99999999999999h"); /* overflows int64 nanoseconds */
	parse_bad("5 s");
	parse_bad(" 5s");
	parse_bad("5s ");
	parse_bad("10 parsecs");
	parse_bad("10parsecs");
	parse_bad("5S");
	parse_bad("5sec");
	parse_bad("1.s");
	parse_bad("s");
	parse_bad("0.5ns"); /* finer than a nanosecond */
	parse_bad("PT");
	parse_bad("P");
	parse_bad("P1M"); /* a month has no fixed length */
	parse_bad("P1Y");
	parse_bad("PT1D"); /* days belong before T */
	parse_bad("PT5");
	parse_bad("PT1H1H2");
}

static void test_limits(void **state)
{
	(void)state;
	/* The largest whole hour count that still fits in int64 nanoseconds. */
	assert_int_equal(parse_ok("2562047h"), INT64_C(2562047) * 3600 * FL_NS_PER_S);
	parse_bad("2562048h");
	assert_int_equal(parse_ok("9223372036854775807ns"), INT64_MAX);
	parse_bad("9223372036854775808ns");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units),   cmocka_unit_test(test_fractions),
		cmocka_unit_test(test_iso8601), cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
