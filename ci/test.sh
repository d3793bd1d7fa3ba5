#!/usr/bin/env bash
# ci/test.sh: the whole test suite, as CI runs it (.ci/run execs this).
#
# 1. install missing Debian packages (ci/lib.sh)
# 2. habits: the include rule, clang-format (ci/check-format.sh), shellcheck
#    over every shell script
# 3. build/ with warnings as errors, every test (unit, invalid-input cases,
#    integration drills) under ctest -j2, but unit.test_allocfail (step 4
#    runs it under ASan+UBSan, ci/trust.sh under valgrind)
# 4. build-asan/ with address and undefined-behaviour sanitizers, every test
#    but the sandbox drills again
# 5. build-tsan/ with ThreadSanitizer, the unit tests (probes, writers and
#    alerting are threads)
# 6. ci/trust.sh: every fuzz target for FAULTLINE_FUZZ_SECONDS (default 20
#    here; ci/fuzz.sh runs longer) and valgrind memcheck over the unit tests
# FAULTLINE_BUILD / FAULTLINE_ASAN_BUILD / FAULTLINE_TSAN_BUILD override the
# build directories. A test that did not run (skipped: exit 77, e.g. a
# root-only test as a user; or not run at all) is listed after each ctest
# step; with CI=true any such test fails the step, since CI must run them
# all. Prints one summary line; exits non-zero when anything failed.
# Budget: under 30 minutes on 2 cores (each ctest run is capped).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FAULTLINE_ROOT"

# Each ctest run's cap: the kill campaign alone may take 540 s under ASan.
CTEST_CAP_S=${FAULTLINE_CTEST_CAP:-2400}
build=${FAULTLINE_BUILD:-build}
asan_build=${FAULTLINE_ASAN_BUILD:-build-asan}
tsan_build=${FAULTLINE_TSAN_BUILD:-build-tsan}
start=$SECONDS
results=()
failed=0
not_run=0

# run_ctest DIR [CTEST_ARG...]: ctest in DIR under the time cap, its output
# kept in DIR/ctest-ci.log; lists the tests that did not run (ctest's "The
# following tests did not run" block: skipped or not runnable) and, with
# CI=true, fails when there is any. ci/sweep.sh runs before and after: it
# removes what a test killed at its TIMEOUT left (a private PostgreSQL,
# network namespaces, sshd, stale libfaketime semaphores), saying what.
# shellcheck disable=SC2317 # called through ci_step
run_ctest() {
	local dir=$1 rc=0 n
	shift
	bash ci/sweep.sh
	timeout --kill-after=30 "$CTEST_CAP_S" ctest --test-dir "$dir" --output-on-failure \
		-j "$FAULTLINE_JOBS" --timeout 300 "$@" 2>&1 | tee "$dir/ctest-ci.log" || rc=$?
	n=$(sed -n '/^The following tests did not run:/,/^$/p' "$dir/ctest-ci.log" |
		grep -cE '^[[:space:]]+[0-9]+ - ' || true)
	bash ci/sweep.sh
	if [ "$n" -gt 0 ]; then
		not_run=$((not_run + n))
		ci_log "$dir: $n test(s) did not run (listed above)"
		if [ "${CI:-}" = true ] && [ "$rc" = 0 ]; then
			ci_log "CI=true: every test must run"
			rc=1
		fi
	fi
	return "$rc"
}

# lint_shell: every shell script in the repository (by extension or
# shebang), following the files they source.
# shellcheck disable=SC2317 # called through ci_step
lint_shell() {
	local -a scripts
	mapfile -t scripts < <(git ls-files '*.sh'
		git ls-files -- ':!*.*' ':!.ci/*' | while read -r f; do
			head -n1 "$f" 2>/dev/null | grep -qE '^#!.*\b(ba)?sh\b' && printf '%s\n' "$f"
		done)
	ci_log "shellcheck: ${#scripts[@]} scripts"
	shellcheck -x -P SCRIPTDIR "${scripts[@]}"
}


FAULTLINE_PACKAGES+=("${FAULTLINE_TEST_PACKAGES[@]}")
ci_install_deps

ci_step "layers (include rule)" bash ci/check-layers.sh
ci_step "format (clang-format)" bash ci/check-format.sh
ci_step "shellcheck" lint_shell
# The benchmark programs (bench/, run by ci/bench.sh only) are compiled here
# too, so a warning or a broken build there is caught like any other.
ci_step "build (-Werror)" ci_build "$build" Debug -DFAULTLINE_WERROR=ON -DFAULTLINE_SANITIZE= \
	-DFAULTLINE_BENCH=ON
# test_allocfail's loops (some 30,000 failure points, 110 s here) assert
# the same natively as under ASan+UBSan, which also checks every path for
# leaks and undefined behaviour: they run there (and under valgrind in
# ci/trust.sh), not a third time here, to keep the suite within its budget.
if [[ ${results[-1]} == *": ok" ]]; then
	ci_step "tests" run_ctest "$build" -E '^unit[.]test_allocfail$'
fi

ci_step "build (asan+ubsan)" ci_build "$asan_build" Debug -DFAULTLINE_WERROR=ON \
	"-DFAULTLINE_SANITIZE=address;undefined"
if [[ ${results[-1]} == *": ok" ]]; then
	# Everything but the sandbox drills (real PostgreSQL/Patroni: already run
	# once above) again under the sanitizers: the drills exercise the runner,
	# probes, writers and injectors end to end through the instrumented binary.
	ci_step "all tests but the sandbox (asan+ubsan)" run_ctest "$asan_build" -LE sandbox
fi

# Probes, writers and alerting run threads: the unit tests under TSan
# (halt_on_error: a race fails the test; TSAN_OPTIONS is in tests/CMakeLists.txt).
# Not test_accuracy (it measures timing to a few ms, which TSan's slowdown
# makes meaningless) nor test_allocfail (one thread, ~30,000 operations:
# ASan and valgrind cover it).
ci_step "build (tsan)" ci_build "$tsan_build" Debug -DFAULTLINE_WERROR=ON \
	-DFAULTLINE_SANITIZE=thread
if [[ ${results[-1]} == *": ok" ]]; then
	ci_step "unit tests (tsan)" run_ctest "$tsan_build" -L unit \
		-E '^unit[.]test_(accuracy|allocfail)$'
fi

# Issue 5's stages: fuzzing (bounded), and valgrind memcheck over the unit
# tests, reusing the two builds above (the ASan replays already ran there).
ci_step "trust: fuzz ${FAULTLINE_FUZZ_SECONDS:-20}s/target + valgrind" env \
	FAULTLINE_TRUST_BUILD="$build" FAULTLINE_TRUST_ASAN_BUILD="$asan_build" \
	FAULTLINE_TRUST_SKIP_ASAN=1 FAULTLINE_FUZZ_SECONDS="${FAULTLINE_FUZZ_SECONDS:-20}" \
	bash ci/trust.sh

# What each failed test said, again at the very end: a CI page that shows
# only the head and the tail of a long log still shows why.
for dir in "$build" "$asan_build" "$tsan_build"; do
	log=$dir/ctest-ci.log
	[ -f "$log" ] && grep -q '^The following tests FAILED:' "$log" || continue
	echo "==> why tests failed in $dir (first lines of each failure)"
	sed -n '/^The following tests FAILED:/,/^$/p' "$log"
	grep -E '^(FAIL|ERROR)[: []|^VOID: |\[  (ERROR|FAILED)  \]|Failure!' "$log" | head -n 60 || true
done
printf '%s\n' "${results[@]}"
skipped_note=""
[ "$not_run" -gt 0 ] && skipped_note=", $not_run test runs did NOT run (skipped)"
if [ "$failed" = 0 ]; then
	echo "ci/test.sh: PASS (${#results[@]} steps, $((SECONDS - start)) s$skipped_note)"
else
	echo "ci/test.sh: FAIL (see the steps above, $((SECONDS - start)) s$skipped_note)"
fi
exit "$failed"
