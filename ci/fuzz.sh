#!/usr/bin/env bash
# ci/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]: fuzz the loaders and parsers.
#
# Builds the libFuzzer targets of tests/fuzz/ with clang, ASan and UBSan in
# build-fuzz/ (FAULTLINE_FUZZ_BUILD overrides), seeds each target's corpus
# (build-fuzz/corpus/<target>/, kept between runs so longer runs build on
# shorter ones) from tests/fuzz/seeds.sh, and runs each target for
# SECONDS_PER_TARGET (default 300; ci/trust.sh uses 60). Every crash, leak,
# timeout or out-of-memory input is copied into
# tests/data/fuzz-regressions/<target>/, where the ctest tests
# fuzz.replay_<target> replay it in every build from then on.
# Prints one line per target (executions, cov, ft, corpus, findings) and
# exits 1 when any target found something, 2 on bad usage.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FAULTLINE_ROOT"

ALL_TARGETS=(fuzz_scenario fuzz_environment fuzz_inventory fuzz_http_body fuzz_duration)
secs=${1:-300}
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${ALL_TARGETS[@]}")
[[ $secs =~ ^[1-9][0-9]*$ ]] || { echo "usage: ci/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2; }
build=${FAULTLINE_FUZZ_BUILD:-build-fuzz}

FAULTLINE_PACKAGES+=(clang libclang-rt-14-dev)
ci_install_deps

CC=clang ci_configure "$build" RelWithDebInfo -DFAULTLINE_FUZZ=ON -DBUILD_TESTING=OFF \
	"-DFAULTLINE_SANITIZE=address;undefined" -DFAULTLINE_WERROR=OFF
ci_log "build ${targets[*]}"
cmake --build "$build" -j "$FAULTLINE_JOBS" --target "${targets[@]}" >/dev/null

# Loaders get the JSON dictionary (keys and words of the schemas).
dict_for() {
	case $1 in
	fuzz_scenario | fuzz_environment | fuzz_inventory | fuzz_http_body)
		printf '%s\n' "-dict=$FAULTLINE_ROOT/tests/fuzz/json.dict" ;;
	esac
}

found=0
summary=()
for t in "${targets[@]}"; do
	corpus=$build/corpus/$t
	artifacts=$build/artifacts/$t
	log=$build/fuzz-$t.log
	mkdir -p "$corpus" "$artifacts"
	# Seeds are named by content so that the many invalid/*/scenario.json
	# do not overwrite each other.
	while IFS= read -r seed; do
		cp "$seed" "$corpus/seed-$(sha1sum "$seed" | cut -c1-16)"
	done < <(bash tests/fuzz/seeds.sh "$t")
	ci_log "fuzz $t for ${secs}s ($(find "$corpus" -type f | wc -l) inputs in the corpus)"
	rc=0
	mapfile -t dict < <(dict_for "$t")
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	FAULTLINE_SOURCE_DIR=$FAULTLINE_ROOT \
		timeout --kill-after=30 $((secs + 120)) \
		"$build/tests/fuzz/$t" "$corpus" "${dict[@]}" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
		-artifact_prefix="$artifacts/" >"$log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
	last=$(grep -E '^#[0-9]+' "$log" | tail -n1 || true)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	n_corpus=$(find "$corpus" -type f | wc -l)
	n_found=0
	for a in "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-* \
		"$artifacts"/slow-unit-*; do
		[ -f "$a" ] || continue
		case $a in */slow-unit-*) continue ;; esac
		mkdir -p "tests/data/fuzz-regressions/$t"
		cp "$a" "tests/data/fuzz-regressions/$t/"
		ci_log "$t: finding $(basename "$a") copied to tests/data/fuzz-regressions/$t/ (log: $log)"
		n_found=$((n_found + 1))
		rm -f "$a"
	done
	if [ "$rc" != 0 ] && [ "$n_found" = 0 ]; then
		ci_log "$t: the fuzzer exited $rc without an artifact; see $log"
		tail -n 30 "$log" >&2
		n_found=1
	fi
	[ "$n_found" = 0 ] || found=1
	summary+=("$t: ${execs:-?} executions, cov ${cov:-?}, ft ${ft:-?}, corpus $n_corpus, findings $n_found")
done

printf '%s\n' "${summary[@]}"
if [ "$found" = 0 ]; then
	echo "ci/fuzz.sh: PASS (${#targets[@]} targets, ${secs}s each)"
else
	echo "ci/fuzz.sh: FAIL (findings copied to tests/data/fuzz-regressions/; fix, then commit them)"
fi
exit "$found"
