#!/usr/bin/env bash
# ci/test.sh: the whole test suite, as CI runs it (.ci/run execs this).
#
# 1. install missing Debian packages (ci/lib.sh)
# 2. build/ with warnings as errors, every test (unit, invalid-input cases,
#    integration drills) under ctest -j2
# 3. build-asan/ with address and undefined-behaviour sanitizers, every test
#    but the sandbox drills again
# 4. ci/trust.sh: every fuzz target for FAULTLINE_FUZZ_SECONDS (default 20
#    here; ci/fuzz.sh runs longer) and valgrind memcheck over the unit tests
# FAULTLINE_BUILD / FAULTLINE_ASAN_BUILD override the two build directories.
# Prints one summary line; exits non-zero when anything failed. Budget:
# well under 15 minutes on 2 cores (each ctest run is capped).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FAULTLINE_ROOT"

CTEST_CAP_S=${FAULTLINE_CTEST_CAP:-600}
build=${FAULTLINE_BUILD:-build}
asan_build=${FAULTLINE_ASAN_BUILD:-build-asan}
start=$SECONDS
results=()
failed=0


FAULTLINE_PACKAGES+=("${FAULTLINE_TEST_PACKAGES[@]}")
ci_install_deps

ci_step "layers (include rule)" bash ci/check-layers.sh
ci_step "build (-Werror)" ci_build "$build" Debug -DFAULTLINE_WERROR=ON -DFAULTLINE_SANITIZE=
if [ "$failed" = 0 ]; then
	ci_step "tests" timeout --kill-after=30 "$CTEST_CAP_S" \
		ctest --test-dir "$build" --output-on-failure -j "$FAULTLINE_JOBS" --timeout 300
fi

ci_step "build (asan+ubsan)" ci_build "$asan_build" Debug -DFAULTLINE_WERROR=ON \
	"-DFAULTLINE_SANITIZE=address;undefined"
if [[ ${results[-1]} == *": ok" ]]; then
	# Everything but the sandbox drills (real PostgreSQL/Patroni: already run
	# once above) again under the sanitizers: the drills exercise the runner,
	# probes, writers and injectors end to end through the instrumented binary.
	ci_step "all tests but the sandbox (asan+ubsan)" timeout --kill-after=30 "$CTEST_CAP_S" \
		ctest --test-dir "$asan_build" --output-on-failure -j "$FAULTLINE_JOBS" \
		--timeout 300 -LE sandbox
fi

# Issue 5's stages: fuzzing (bounded), and valgrind memcheck over the unit
# tests, reusing the two builds above (the ASan replays already ran there).
ci_step "trust: fuzz ${FAULTLINE_FUZZ_SECONDS:-20}s/target + valgrind" env \
	FAULTLINE_TRUST_BUILD="$build" FAULTLINE_TRUST_ASAN_BUILD="$asan_build" \
	FAULTLINE_TRUST_SKIP_ASAN=1 FAULTLINE_FUZZ_SECONDS="${FAULTLINE_FUZZ_SECONDS:-20}" \
	bash ci/trust.sh

printf '%s\n' "${results[@]}"
if [ "$failed" = 0 ]; then
	echo "ci/test.sh: PASS (${#results[@]} steps, $((SECONDS - start)) s)"
else
	echo "ci/test.sh: FAIL (see the steps above, $((SECONDS - start)) s)"
fi
exit "$failed"
