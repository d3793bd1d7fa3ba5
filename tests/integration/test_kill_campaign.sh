#!/usr/bin/env bash
# Crash safety, proven by a kill campaign. A drill against the demo
# environment flips bytes in api-1.static, creates a marker file through an
# exec fault and pauses api-1 (SIGSTOP for 800 ms). The harness is SIGKILLed
# at many points of that drill:
#   - at every journal state transition a calibration run shows (the journal
#     is polled every ~2 ms; the kill lands as soon as the new state is seen);
#   - at times drawn by a seeded generator (FAULTLINE_KILL_SEED, default
#     20261124) inside each phase — injection, recovery, revert — measured on
#     the calibration run from the harness's own progress lines;
#   - 0-4 ms after the last journal row is closed, while the run's results
#     are being committed (power-loss style).
# After each kill: `faultline recover` exits 0; no journal row is pending,
# injected or revert_failed; PRAGMA integrity_check is ok; every run that
# had been committed before the kill is still there, unchanged; api-1 runs
# (not stopped) and both instances answer /health; api-1.static is byte for
# byte the original; the marker is gone. Prints the count of points tried
# and survived per kind. FAULTLINE_KILL_POINTS scales the random points.
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
import hashlib, json, os, random, signal, sqlite3, subprocess, sys, time, urllib.request

scenario = sys.argv[1]
tdir, db, fl = os.environ["T_DIR"], os.environ["T_DB"], os.environ["FAULTLINE_BIN"]
demo = os.environ["FAULTLINE_DEMO_DIR"]
ports = [os.environ["FAULTLINE_DEMO_PORT1"], os.environ["FAULTLINE_DEMO_PORT2"]]
seed = int(os.environ.get("FAULTLINE_KILL_SEED", "20261124"))
per_phase = int(os.environ.get("FAULTLINE_KILL_POINTS", "18"))
# Measured: 57 points landed in 230 s under ASan (~4 s a point); 50 are
# needed. 400 s leaves room for a machine twice as slow (ctest gives the
# test 540 s, tests/CMakeLists.txt); a fast one stops early, when its points
# run out.
budget_s = float(os.environ.get("FAULTLINE_KILL_BUDGET", "400"))
static = os.path.join(demo, "api-1.static")
marker = os.path.join(tdir, "marker")
t_begin = time.monotonic()

def log(msg):
    print("[test_kill_campaign] " + msg, file=sys.stderr, flush=True)

def fail(msg):
    log("FAIL: " + msg)
    sys.exit(1)

def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()

def query(sql):
    # A fresh read-only connection each time: nothing of ours holds the
    # file open while faultline writes or recovers it.
    if not os.path.exists(db):
        return []
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()

def journal_signature(run_floor):
    try:
        rows = query("select state from journal where run_id > %d order by id" % run_floor)
    except sqlite3.Error:
        return None  # being written at this instant; poll again
    return ",".join(r[0] for r in rows)

def last_run_id():
    rows = query("select coalesce(max(id), 0) from runs")
    return rows[0][0] if rows else 0

def committed():
    return set(query("select r.id, r.verdict, (select count(*) from run_events e where "
                     "e.run_id = r.id) from runs r where r.verdict <> 'running'"))

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

def start_run(tag, pipe=False):
    # Each drill's output is kept in T_DIR/kill-TAG.out; the calibration's
    # stderr is read live for its progress lines.
    out = open(os.path.join(tdir, "kill-%s.out" % tag), "w")
    return subprocess.Popen([fl, "run", scenario, "--db", db], stdout=out,
                            stderr=subprocess.PIPE if pipe else out), out

orig = sha(static)

# ---- calibration: one whole drill, its progress lines timed ----------------
floor = last_run_id()
t0 = time.monotonic()
p, out = start_run("calibration", pipe=True)
marks, sigs = {}, []
os.set_blocking(p.stderr.fileno(), False)
buf = ""
while True:
    try:
        buf += os.read(p.stderr.fileno(), 65536).decode("utf-8", "replace")
    except BlockingIOError:
        pass
    now = time.monotonic() - t0
    while "\n" in buf:
        line, buf = buf.split("\n", 1)
        for key, word in (("steady", "steady state"), ("injected", "injected "),
                          ("validated", "validated at"), ("reverted", "reverted ")):
            if word in line:
                marks.setdefault(key + "_first", now)
                marks[key + "_last"] = now
    s = journal_signature(floor)
    if s is not None and (not sigs or sigs[-1] != s):
        sigs.append(s)
    if p.poll() is not None:
        break
    if now > 60:
        p.kill()
        fail("the calibration drill did not finish in 60 s")
    time.sleep(0.002)
marks["exit"] = time.monotonic() - t0
p.stderr.close()
out.close()
if p.returncode != 0:
    fail("the calibration drill exited %d, wanted 0" % p.returncode)
for k in ("steady_first", "injected_last", "validated_first", "reverted_last"):
    if k not in marks:
        fail("no '%s' progress line in the calibration drill" % k)
log("calibration: %s; journal states seen: %s" %
    (", ".join("%s %.3f s" % kv for kv in sorted(marks.items(), key=lambda kv: kv[1])),
     " -> ".join(s or "(none)" for s in sigs)))

# ---- the kill points ---------------------------------------------------------
rng = random.Random(seed)
windows = {
    # From just before the first fault is journaled until all are injected.
    "injection": (marks["steady_first"] - 0.05, marks["injected_last"] + 0.02),
    # Detection, the pause's own revert, the recovery step, validation.
    "recovery": (marks["injected_last"], marks["validated_first"]),
    # The end-of-drill reverts and the final store write.
    "revert": (marks["validated_first"], marks["exit"]),
}
points = []
for s in sigs[1:]:
    points.append(("transition", s))
for phase, (a, b) in windows.items():
    for _ in range(per_phase):
        points.append((phase, rng.uniform(a, b)))
# Power-loss style: from a random moment of the end of the drill, kill at
# the first write to the store's WAL seen after it (a journal mark or the
# run's results being committed), polling the file's size and mtime.
for _ in range(max(4, per_phase // 2)):
    points.append(("store-write", rng.uniform(marks["validated_first"] - 0.05,
                                              marks["reverted_last"] - 0.01)))

tried = survived = 0
by_kind = {}
def check_after(desc):
    # recover, then the environment and the store must be whole again
    # From a bare environment (cron, sudo, env -i): the journal alone plus
    # the one declared secret must be enough to revert everything.
    r = subprocess.run(["env", "-i", "PATH=" + os.environ["PATH"],
                        "FAULTLINE_KILL_TOKEN=" + os.environ["FAULTLINE_KILL_TOKEN"],
                        fl, "recover", "--db", db], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        fail("%s: faultline recover exited %d: %s" % (desc, r.returncode, r.stderr.strip()))
    open_rows = query("select count(*) from journal where state in "
                      "('pending','armed','injected','revert_failed')")[0][0]
    if open_rows != 0:
        fail("%s: %d journal rows still open after recover" % (desc, open_rows))
    ic = query("pragma integrity_check")
    if ic != [("ok",)]:
        fail("%s: integrity_check says %r" % (desc, ic))
    deadline = time.monotonic() + 10
    while True:
        st = api1_state()
        h = [health(port) for port in ports]
        if st not in ("T", "t", "gone") and h == [200, 200]:
            break
        if time.monotonic() > deadline:
            fail("%s: environment not healthy 10 s after recover (api-1 state %s, /health %s)"
                 % (desc, st, h))
        time.sleep(0.05)
    if sha(static) != orig:
        fail("%s: api-1.static differs from the original after recover" % desc)
    if os.path.exists(marker):
        fail("%s: the exec fault's marker is still there after recover" % desc)

# Reserve: points near the end of the drill land only when the drill runs
# as long as the calibration did (a slower machine, ASan); these extra
# injection and recovery points are used only while fewer than 55 landed.
reserve = [(kind, rng.uniform(*windows[kind])) for kind in ("injection", "recovery") * 10]
points.extend(("reserve-" + k, t) for k, t in reserve)

for i, (kind, at) in enumerate(points):
    if kind.startswith("reserve-"):
        if tried >= 55:
            break
        kind = kind[len("reserve-"):]
    if time.monotonic() - t_begin > budget_s:
        log("time budget of %.0f s spent after %d points" % (budget_s, tried))
        break
    before = committed()
    floor = last_run_id()
    p, out = start_run(str(i))
    t0 = time.monotonic()
    state = None
    if kind == "transition":
        # Kill as soon as this journal state is seen (bounded: 20 s).
        while p.poll() is None and time.monotonic() - t0 < 20:
            state = journal_signature(floor)
            if state == at:
                break
            time.sleep(0.001)
    else:
        while p.poll() is None and time.monotonic() - t0 < at:
            time.sleep(min(0.002, max(0.0, at - (time.monotonic() - t0))))
        if kind == "store-write":
            # Busy-poll (bounded: 2 s) for the WAL to change.
            def wal():
                try:
                    st = os.stat(db + "-wal")
                    return (st.st_size, st.st_mtime_ns)
                except OSError:
                    return None
            first, t_poll = wal(), time.monotonic()
            while p.poll() is None and wal() == first and time.monotonic() - t_poll < 2:
                pass
        else:
            state = journal_signature(floor)
    killed = p.poll() is None
    if killed:
        p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    out.close()
    if state is None:
        state = journal_signature(floor)
    when = time.monotonic() - t0
    desc = "point %d (%s %s, killed at %.3f s, journal %s)" % (
        i, kind, at if kind == "transition" else "%.4f s" % at, when, state or "(none)")
    if not killed or p.returncode != -signal.SIGKILL:
        # The drill ended first (or the state was never seen): not a kill
        # point; the environment must still be whole.
        check_after(desc + " [not killed: exit %s]" % p.returncode)
        log(desc + ": drill ended before the kill, not counted")
        continue
    tried += 1
    check_after(desc)
    after = committed()
    lost = before - after
    if lost:
        fail("%s: committed runs lost or changed: %r" % (desc, sorted(lost)))
    survived += 1
    by_kind[kind] = by_kind.get(kind, 0) + 1
    log(desc + ": recovered, healthy")

summary = ", ".join("%s %d" % kv for kv in sorted(by_kind.items()))
log("kill campaign: %d points tried, %d survived (%s); seed %d; %.0f s" %
    (tried, survived, summary, seed, time.monotonic() - t_begin))
if tried < 50:
    fail("only %d kill points landed, wanted at least 50" % tried)
for kind in ("transition", "injection", "recovery", "revert", "store-write"):
    if by_kind.get(kind, 0) < 3:
        fail("only %d kill points of kind %s" % (by_kind.get(kind, 0), kind))
PY
t_log "pass"
