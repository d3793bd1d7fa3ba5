#!/usr/bin/env bash
# Crash safety, proven by a kill campaign. A drill against the demo
# environment flips bytes in api-1.static, creates a marker file through an
# exec fault and pauses api-1 (SIGSTOP for 800 ms). The harness is SIGKILLed
# at many points of that drill:
#   - at every journal state transition a calibration run shows (the journal
#     is polled every ~2 ms; the kill lands as soon as the new state is seen);
#   - at times drawn by a seeded generator (FAULTLINE_KILL_SEED, default
#     20261124) inside each phase — injection, recovery, revert — measured on
#     the calibration run from the harness's own progress lines, and timed
#     in each killed run from its own progress line for that phase (a
#     loaded machine or ASan stretches the drill unevenly: from its start,
#     late points often landed after the drill had ended);
#   - 0-4 ms after the last journal row is closed, while the run's results
#     are being committed (power-loss style).
# After each kill: `faultline recover` exits 0; no journal row is pending,
# injected or revert_failed; PRAGMA integrity_check is ok; every run that
# had been committed before the kill is still there, unchanged; api-1 runs
# (not stopped) and both instances answer /health; api-1.static is byte for
# byte the original; the marker is gone. Prints the count of points tried
# and survived per kind. FAULTLINE_KILL_POINTS scales the random points.
# The engine (calibration, points, kills, recover, the store's checks) is
# kill_campaign.py, shared with test_kill_campaign_remote.sh (remote host
# and cloud faults); this file owns the drill and the environment's checks.
. "$(dirname "$0")/lib.sh"

t_env_start
FAULTLINE_KILL_TOKEN="kill-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export T_DIR T_DB FAULTLINE_BIN FAULTLINE_DEMO_DIR FAULTLINE_DEMO_PORT1 FAULTLINE_DEMO_PORT2 FAULTLINE_KILL_TOKEN
scenario=$T_DIR/kill-campaign.json
cat >"$scenario" <<JSON
{
  "name": "kill-campaign",
  "secrets": ["FAULTLINE_KILL_TOKEN"],
  "description": "test_kill_campaign.sh: three faults reverted at different times",
  "environment": "$FAULTLINE_SOURCE_DIR/scenarios/env/demo.json",
  "targets": { "rto": "30s", "rpo": "0s" },
  "blast_radius": { "max_targets": 4 },
  "probes": [
    { "name": "api", "type": "http", "target": "api-1",
      "url": "http://127.0.0.1:\${FAULTLINE_DEMO_PORT1}/health",
      "interval": "20ms", "timeout": "200ms", "expect_status": 200, "availability": true }
  ],
  "detection": { "probe": "api", "consecutive_failures": 3 },
  "faults": [
    { "name": "flip-static", "injector": "file", "target": "api-1-static",
      "mode": "flip", "count": 16, "seed": 11, "range": [1024, 2048] },
    { "name": "slow", "injector": "exec", "target": "api-2",
      "inject": ["sleep", "0.3"], "revert": ["sleep", "0.3"] },
    { "name": "marker", "injector": "exec", "target": "api-2",
      "inject": ["touch", "\${T_DIR}/marker"], "revert": ["rm", "-f", "\${T_DIR}/marker"],
      "env": { "KILL_TOKEN": "\${FAULTLINE_KILL_TOKEN}" } },
    { "name": "pause-api", "injector": "process", "target": "api-1",
      "signal": "STOP", "duration": "800ms" }
  ],
  "recovery": [ { "name": "resume", "wait_for": "api", "timeout": "20s" } ],
  "stop_conditions": [ { "probe": "api", "down_for": "20s" } ],
  "stability_window": "300ms",
  "steady_state": "300ms",
  "timeout": "1m"
}
JSON

python3 - "$scenario" <<'PY' || t_fail "the kill campaign failed (see above)"
import os, sys, time, urllib.request
sys.path.insert(0, os.path.join(os.environ["FAULTLINE_SOURCE_DIR"], "tests", "integration"))
from kill_campaign import Campaign, sha256

demo = os.environ["FAULTLINE_DEMO_DIR"]
ports = [os.environ["FAULTLINE_DEMO_PORT1"], os.environ["FAULTLINE_DEMO_PORT2"]]
static = os.path.join(demo, "api-1.static")
marker = os.path.join(os.environ["T_DIR"], "marker")
orig = sha256(static)

def health(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%s/health" % port, timeout=1) as r:
            return r.status
    except Exception:
        return 0

def api1_state():
    with open(os.path.join(demo, "api-1.pid")) as f:
        pid = f.read().strip()
    try:
        with open("/proc/%s/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"

def check_env(desc):
    # api-1 runs (not stopped), both answer /health, the file is the
    # original, the marker is gone.
    deadline = time.monotonic() + 10
    while True:
        st = api1_state()
        h = [health(port) for port in ports]
        if st not in ("T", "t", "gone") and h == [200, 200]:
            break
        if time.monotonic() > deadline:
            camp.fail("%s: environment not healthy 10 s after recover (api-1 state %s, /health %s)"
                      % (desc, st, h))
        time.sleep(0.05)
    if sha256(static) != orig:
        camp.fail("%s: api-1.static differs from the original after recover" % desc)
    if os.path.exists(marker):
        camp.fail("%s: the exec fault's marker is still there after recover" % desc)

# Measured: 57 points landed in 230 s under ASan (~4 s a point); 50 are
# needed. 400 s leaves room for a machine twice as slow (ctest gives the
# test 540 s, tests/CMakeLists.txt); a fast one stops early, when its points
# run out. Reserve injection and recovery points are used while fewer than
# 55 landed (points near the end of the drill land only when the drill runs
# as long as the calibration did).
camp = Campaign("test_kill_campaign", sys.argv[1], check_env, keep_env=("FAULTLINE_KILL_TOKEN",),
                per_phase=18, reserve=20, reserve_until=55, min_tried=50, min_per_kind=3,
                budget_s=400, anchored=True)
camp.run()
PY
t_log "pass"
