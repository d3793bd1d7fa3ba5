#!/usr/bin/env bash
# ci/trust.sh: the CI stages that show faultline survives its own chaos
# (issue 5). Meant to be called from ci/test.sh after its own stages.
#
# 1. fuzz: every libFuzzer target in tests/fuzz/ for FAULTLINE_FUZZ_SECONDS
#    (default 60) each, through ci/fuzz.sh (clang, ASan, UBSan; build-fuzz/);
#    a finding is copied into tests/data/fuzz-regressions/ and fails the stage
# 2. build-trust-asan/ (ASan+UBSan): replay every fuzz seed and regression
#    (ctest -L fuzz) and the allocation-failure loops (unit.test_allocfail)
# 3. build-trust/ (plain Debug): valgrind memcheck over every unit test
#    executable (ctest -L unit) with --leak-check=full and --error-exitcode:
#    any memory error or leak (definite, indirect or possible) fails the
#    stage. A test that fails its own assertions only under valgrind (its
#    clock runs ~30x slower; valgrind's posix_spawn cannot report a failed
#    exec) is listed but judged by ci/test.sh, which runs it natively.
# The kill campaign, secrets and shell-safety drills are integration tests
# (tests/integration/test_{kill_campaign,kill_campaign_remote,secrets,shell_safety}.sh) that
# ci/test.sh already runs. FAULTLINE_TRUST_BUILD / FAULTLINE_TRUST_ASAN_BUILD
# override the build directories; FAULTLINE_TRUST_SKIP_FUZZ=1 skips stage 1.
# Prints one summary line per stage; exits non-zero when any failed.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FAULTLINE_ROOT"

build=${FAULTLINE_TRUST_BUILD:-build-trust}
asan_build=${FAULTLINE_TRUST_ASAN_BUILD:-build-trust-asan}
fuzz_s=${FAULTLINE_FUZZ_SECONDS:-60}
start=$SECONDS
results=()
failed=0


# valgrind_unit DIR: every ctest test labelled unit in DIR under memcheck,
# with the environment and working directory ctest would give it.
# shellcheck disable=SC2317 # called through ci_step, which shellcheck cannot see
valgrind_unit() {
	ctest --test-dir "$1" -N -L unit --show-only=json-v1 >"$1/unit-tests.json"
	python3 - "$1/unit-tests.json" "$1/valgrind" <<'PY'
import json, os, subprocess, sys
tests = json.load(open(sys.argv[1]))["tests"]
logdir = os.path.abspath(sys.argv[2])
os.makedirs(logdir, exist_ok=True)
mem_fail, func_fail, broken, skipped, clean = [], [], [], [], 0
import concurrent.futures, threading
lock = threading.Lock()
def one(t):
    global clean
    props = {p["name"]: p["value"] for p in t.get("properties", [])}
    env = dict(os.environ)
    # Every 40th allocation-failure point under valgrind (every one of them
    # runs under ASan in ci/test.sh): all of them would take hours here.
    env["FAULTLINE_ALLOCFAIL_STRIDE"] = "40"
    for kv in props.get("ENVIRONMENT", []):
        k, v = kv.split("=", 1)
        env[k] = v
    log = os.path.join(logdir, t["name"] + ".log")
    vg = ["valgrind", "--log-file=" + log, "--error-exitcode=99", "--leak-check=full",
          "--show-leak-kinds=definite,indirect,possible",
          "--errors-for-leak-kinds=definite,indirect,possible",
          "--child-silent-after-fork=yes", "--track-origins=yes", "--num-callers=30"]
    if os.path.basename(t["command"][0]) == "bash":
        # A script (the fuzz replays) puts the wrapper before its binary.
        env["FAULTLINE_REPLAY_WRAPPER"] = " ".join(vg)
        cmd = t["command"]
    else:
        cmd = vg + t["command"]
    try:
        r = subprocess.run(cmd, cwd=props.get("WORKING_DIRECTORY"), env=env, timeout=1200,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        rc = r.returncode
    except subprocess.TimeoutExpired:
        rc = -1
    summary = ""
    if os.path.exists(log):
        for line in open(log, errors="replace"):
            if "ERROR SUMMARY" in line:
                summary = line.split("==", 2)[-1].strip()
    with lock:
        judge(t, rc, summary, log)

def judge(t, rc, summary, log):
    global clean
    if not summary:
        # valgrind itself did not run the test to its end: not a pass.
        broken.append(t["name"])
        print("%s: valgrind gave no summary (exit %d, log %s)" % (t["name"], rc, log))
    elif rc == 99:
        mem_fail.append(t["name"])
        print("%s: MEMCHECK FAILED: %s (log %s)" % (t["name"], summary, log))
    elif rc == 77:
        # Skipped (SKIP_RETURN_CODE): memory-clean, but not a run; say so.
        skipped.append(t["name"])
        print("%s: skipped, memory clean as far as it ran (%s)" % (t["name"], summary))
    elif rc != 0:
        func_fail.append(t["name"])
        print("%s: exit %d under valgrind, no memory error (%s)" % (t["name"], rc, summary))
    else:
        clean += 1
        print("%s: clean (%s)" % (t["name"], summary))

jobs = int(os.environ.get("FAULTLINE_JOBS", "2"))
with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
    list(ex.map(one, tests))
print("valgrind: %d tests, %d clean, %d with memory errors or leaks%s, %d failing only "
      "under valgrind%s" % (len(tests), clean, len(mem_fail),
                             (" (" + ", ".join(mem_fail) + ")") if mem_fail else "",
                             len(func_fail),
                             (" (" + ", ".join(func_fail) + ")") if func_fail else ""))
if broken:
    print("valgrind: no result for %s" % ", ".join(broken))
if skipped:
    print("valgrind: skipped %s" % ", ".join(skipped))
sys.exit(1 if mem_fail or broken else 0)
PY
}

FAULTLINE_PACKAGES+=(valgrind clang libclang-rt-14-dev)
ci_install_deps

if [ "${FAULTLINE_TRUST_SKIP_FUZZ:-0}" != 1 ]; then
	ci_step "fuzz (${fuzz_s}s per target)" bash ci/fuzz.sh "$fuzz_s"
fi

# ci/test.sh already runs every unit test (these included) under ASan+UBSan
# and sets FAULTLINE_TRUST_SKIP_ASAN=1 so they are not run twice.
if [ "${FAULTLINE_TRUST_SKIP_ASAN:-0}" != 1 ]; then
	ci_step "build (asan+ubsan)" ci_build "$asan_build" Debug -DFAULTLINE_WERROR=ON \
		"-DFAULTLINE_SANITIZE=address;undefined"
	if [[ ${results[-1]} == *": ok" ]]; then
		ci_step "fuzz regressions + allocation failure (asan+ubsan)" \
			timeout --kill-after=30 900 ctest --test-dir "$asan_build" --output-on-failure \
			-j "$FAULTLINE_JOBS" -R '^(fuzz\.replay_|unit\.test_allocfail$)'
	fi
fi

ci_step "build (plain, for valgrind)" ci_build "$build" Debug -DFAULTLINE_WERROR=ON -DFAULTLINE_SANITIZE=
if [[ ${results[-1]} == *": ok" ]]; then
	ci_step "valgrind memcheck (unit tests)" valgrind_unit "$build"
fi

printf '%s\n' "${results[@]}"
if [ "$failed" = 0 ]; then
	echo "ci/trust.sh: PASS (${#results[@]} steps, $((SECONDS - start)) s)"
else
	echo "ci/trust.sh: FAIL (see the steps above, $((SECONDS - start)) s)"
fi
exit "$failed"
