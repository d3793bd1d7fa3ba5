/*
 * cmocka_skip: a unit-test program that skipped anything exits 77, so ctest
 * (SKIP_RETURN_CODE 77) shows it as skipped instead of passed.
 *
 * Owns: the link-time wrappers of CMocka's _skip() and
 * _cmocka_run_group_tests() every unit test is linked with
 * (-Wl,--wrap=..., tests/CMakeLists.txt). Does not own: the tests.
 *
 * Why wrappers: CMocka counts a skip() as a success and returns only the
 * number of failures, so a network test skipped as non-root looked passed.
 * Wrapping at link time covers every skip() and every main() without a
 * line in the tests. A failure still wins over a skip: exit 1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define FL_TEST_SKIPPED 77

void __real__skip(const char *const file, const int line);
int __real__cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *const tests,
				   const size_t num_tests, CMFixtureFunction group_setup,
				   CMFixtureFunction group_teardown);
void __wrap__skip(const char *const file, const int line);
int __wrap__cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *const tests,
				   const size_t num_tests, CMFixtureFunction group_setup,
				   CMFixtureFunction group_teardown);

static int skipped;

void __wrap__skip(const char *const file, const int line)
{
	skipped++;
	__real__skip(file, line); /* longjmps out of the test */
}

int __wrap__cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *const tests,
				   const size_t num_tests, CMFixtureFunction group_setup,
				   CMFixtureFunction group_teardown)
{
	int failed = __real__cmocka_run_group_tests(group_name, tests, num_tests, group_setup,
						    group_teardown);

	/* The count of failures is printed above; as an exit status it could
	 * be 77 or wrap to 0 at 256, so any failure is 1. */
	if (failed != 0)
		return 1;
	return skipped ? FL_TEST_SKIPPED : 0;
}
