# tests/integration/kill_campaign.py: the kill campaign's engine, shared by
# test_kill_campaign.sh (local faults on the demo environment) and
# test_kill_campaign_remote.sh (a remote host over ssh and EC2 on moto).
#
# Owns: the calibration run (its progress lines timed, every journal state
# it passes through recorded), drawing the kill points (every journal
# transition; seeded random times in the injection, recovery and revert
# phases; the first WAL write after a random moment of the drill's end —
# in anchored mode, after one of its end-of-drill reverts),
# SIGKILLing `faultline run` at each point, `faultline recover` from a bare
# environment, the store's own checks after it (recover exits 0, no journal
# row open, integrity_check ok, no committed run lost or changed) and the
# per-kind tally. Does not own: the drill, and what "the environment is
# whole again" means — the caller's check_env.
import hashlib, os, random, signal, sqlite3, subprocess, sys, time


# The harness's progress lines that bound the phases (stderr of `faultline run`).
PROGRESS = (("steady", "steady state"), ("injected", "injected "),
            ("validated", "validated at"), ("reverted", "reverted "))
# anchored mode: the progress line a phase's random point is timed from (the
# first one; for "injected", the last of the calibration's count).
# A store-write point waits for one of the end-of-drill "reverted" lines
# instead (when the drill has any), then for the next WAL write.
ANCHORS = {"injection": "steady", "recovery": "injected", "revert": "validated",
           "store-write": "validated"}


def count_progress(counts, line):
    """Counts line's progress keys in counts; "reverted_end" counts the
    reverts printed after validation (the end of the drill)."""
    for key, word in PROGRESS:
        if word in line:
            counts[key] = counts.get(key, 0) + 1
            if key == "reverted" and counts.get("validated"):
                counts["reverted_end"] = counts.get("reverted_end", 0) + 1


class Live:
    """A running drill's stderr, read without blocking, copied to its .out
    file, its progress lines counted."""

    def __init__(self, p, out):
        self.p, self.out, self.buf, self.counts = p, out, "", {}
        os.set_blocking(p.stderr.fileno(), False)

    def pump(self):
        try:
            chunk = os.read(self.p.stderr.fileno(), 65536)
        except BlockingIOError:
            return
        self.buf += chunk.decode("utf-8", "replace")
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            self.out.write(line + "\n")
            count_progress(self.counts, line)

    def sleep(self, seconds):
        end = time.monotonic() + seconds
        while self.p.poll() is None and time.monotonic() < end:
            self.pump()
            time.sleep(min(0.002, max(0.0, end - time.monotonic())))

    def wait_line(self, key, n, limit):
        end = time.monotonic() + limit
        while self.p.poll() is None and time.monotonic() < end:
            self.pump()
            if self.counts.get(key, 0) >= n:
                return True
            time.sleep(0.001)
        return False

    def close(self):
        # Non-blocking to the end: a child the drill left behind (an ssh
        # master) may hold the pipe open.
        self.pump()
        if self.buf:
            self.out.write(self.buf + "\n")
        self.p.stderr.close()


class Campaign:
    """One kill campaign over one drill.

    name: log prefix. scenario: the drill. keep_env: variables `recover`
    gets on top of PATH (the journal plus these must be enough).
    check_env(desc): fails (via self.fail) unless the environment is whole
    again. per_phase: random points per phase; store_writes: WAL points;
    reserve: extra points of reserve_kinds, each used while fewer than
    reserve_until (default min_tried) landed or fewer than min_per_kind of
    its kind; at least min_tried must land, and min_per_kind of each kind.
    anchored: a phase's random point is timed from the moment the run
    itself prints that phase's first progress line (its stderr read live),
    not from the run's start, so a drill that runs faster or slower than
    the calibration (a loaded machine, ASan) still lands it in its phase.
    """

    def __init__(self, name, scenario, check_env, keep_env=(), per_phase=18,
                 store_writes=None, reserve=20, reserve_kinds=("injection", "recovery"),
                 reserve_until=None, min_tried=50, min_per_kind=3,
                 budget_s=400.0, calibration_s=60.0, anchored=False):
        self.name, self.scenario, self.check_env = name, scenario, check_env
        self.tdir, self.db = os.environ["T_DIR"], os.environ["T_DB"]
        self.fl = os.environ["FAULTLINE_BIN"]
        self.keep_env = keep_env
        self.seed = int(os.environ.get("FAULTLINE_KILL_SEED", "20261124"))
        self.per_phase = int(os.environ.get("FAULTLINE_KILL_POINTS", str(per_phase)))
        self.store_writes = store_writes if store_writes is not None else max(4, self.per_phase // 2)
        self.reserve, self.min_tried, self.min_per_kind = reserve, min_tried, min_per_kind
        self.reserve_kinds = reserve_kinds
        self.reserve_until = reserve_until if reserve_until is not None else min_tried
        self.budget_s = float(os.environ.get("FAULTLINE_KILL_BUDGET", str(budget_s)))
        self.calibration_s = calibration_s
        self.anchored = anchored
        self.t_begin = time.monotonic()

    # ---- helpers -------------------------------------------------------------
    def log(self, msg):
        print("[%s] %s" % (self.name, msg), file=sys.stderr, flush=True)

    def fail(self, msg):
        self.log("FAIL: " + msg)
        sys.exit(1)

    def query(self, sql):
        # A fresh read-only connection each time: nothing of ours holds the
        # file open while faultline writes or recovers it.
        if not os.path.exists(self.db):
            return []
        con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=5)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def journal_signature(self, run_floor):
        try:
            rows = self.query("select state from journal where run_id > %d order by id" % run_floor)
        except sqlite3.Error:
            return None  # being written at this instant; poll again
        return ",".join(r[0] for r in rows)

    def last_run_id(self):
        rows = self.query("select coalesce(max(id), 0) from runs")
        return rows[0][0] if rows else 0

    def committed(self):
        return set(self.query("select r.id, r.verdict, (select count(*) from run_events e where "
                              "e.run_id = r.id) from runs r where r.verdict <> 'running'"))

    def start_run(self, tag, pipe=False):
        # Each drill's output is kept in T_DIR/kill-TAG.out; the calibration's
        # stderr is read live for its progress lines.
        out = open(os.path.join(self.tdir, "kill-%s.out" % tag), "w")
        return subprocess.Popen([self.fl, "run", self.scenario, "--db", self.db], stdout=out,
                                stderr=subprocess.PIPE if pipe else out), out

    # ---- calibration: one whole drill, its progress lines timed --------------
    def calibrate(self):
        floor = self.last_run_id()
        t0 = time.monotonic()
        p, out = self.start_run("calibration", pipe=True)
        marks, sigs = {}, []
        self.counts = {}
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
                out.write(line + "\n")
                for key, word in PROGRESS:
                    if word in line:
                        marks.setdefault(key + "_first", now)
                        marks[key + "_last"] = now
                count_progress(self.counts, line)
            s = self.journal_signature(floor)
            if s is not None and (not sigs or sigs[-1] != s):
                sigs.append(s)
            if p.poll() is not None:
                break
            if now > self.calibration_s:
                p.kill()
                self.fail("the calibration drill did not finish in %.0f s" % self.calibration_s)
            time.sleep(0.002)
        marks["exit"] = time.monotonic() - t0
        p.stderr.close()
        out.close()
        if p.returncode != 0:
            self.fail("the calibration drill exited %d, wanted 0" % p.returncode)
        for k in ("steady_first", "injected_last", "validated_first", "reverted_last"):
            if k not in marks:
                self.fail("no '%s' progress line in the calibration drill" % k)
        self.log("calibration: %s; journal states seen: %s" %
                 (", ".join("%s %.3f s" % kv for kv in sorted(marks.items(), key=lambda kv: kv[1])),
                  " -> ".join(s or "(none)" for s in sigs)))
        return marks, sigs

    # ---- the kill points -----------------------------------------------------
    def draw_points(self, marks, sigs):
        rng = random.Random(self.seed)
        windows = {
            # From just before the first fault is journaled until all are injected.
            "injection": (marks["steady_first"] - 0.05, marks["injected_last"] + 0.02),
            # Detection, timed reverts, the recovery step, validation.
            "recovery": (marks["injected_last"], marks["validated_first"]),
            # The end-of-drill reverts and the final store write.
            "revert": (marks["validated_first"], marks["exit"]),
        }
        drawn = {}
        for phase, (a, b) in windows.items():
            drawn[phase] = [rng.uniform(a, b) for _ in range(self.per_phase)]
        # Power-loss style: from a random moment of the end of the drill, kill
        # at the first write to the store's WAL seen after it (a journal mark
        # or the run's results being committed), polling its size and mtime.
        windows["store-write"] = (marks["validated_first"] - 0.05, marks["reverted_last"] - 0.01)
        drawn["store-write"] = [rng.uniform(*windows["store-write"])
                                for _ in range(self.store_writes)]
        # Every transition, then the kinds in turn: a campaign cut short by
        # its time budget still has some of each.
        points = [("transition", s) for s in sigs[1:]]
        for j in range(max(len(v) for v in drawn.values())):
            points += [(kind, drawn[kind][j]) for kind in drawn if j < len(drawn[kind])]
        # Reserve: points near the end of the drill land only when the drill
        # runs as long as the calibration did (a slower machine, ASan); these
        # extra points are used only while fewer than reserve_until landed,
        # or fewer than min_per_kind of their kind.
        n = len(self.reserve_kinds)
        reserve = [(kind, rng.uniform(*windows[kind]))
                   for kind in self.reserve_kinds * (self.reserve // n)]
        points.extend(("reserve-" + k, t) for k, t in reserve)
        self.windows = windows
        return points

    def recover_and_check(self, desc):
        # From a bare environment (cron, sudo, env -i): the journal alone
        # plus the declared variables must be enough to revert everything.
        env = ["PATH=" + os.environ["PATH"]]
        env += ["%s=%s" % (k, os.environ[k]) for k in self.keep_env if k in os.environ]
        r = subprocess.run(["env", "-i"] + env + [self.fl, "recover", "--db", self.db],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            self.fail("%s: faultline recover exited %d: %s" % (desc, r.returncode, r.stderr.strip()))
        open_rows = self.query("select count(*) from journal where state in "
                               "('pending','armed','injected','revert_failed')")[0][0]
        if open_rows != 0:
            self.fail("%s: %d journal rows still open after recover" % (desc, open_rows))
        ic = self.query("pragma integrity_check")
        if ic != [("ok",)]:
            self.fail("%s: integrity_check says %r" % (desc, ic))
        self.check_env(desc)

    def wait_kill(self, p, live, kind, at, floor):
        """Waits for the point (journal state or time), returns the state seen."""
        t0, state = time.monotonic(), None
        if kind == "transition":
            # Kill as soon as this journal state is seen (bounded: 20 s).
            while p.poll() is None and time.monotonic() - t0 < 20:
                if live:
                    live.pump()
                state = self.journal_signature(floor)
                if state == at:
                    break
                time.sleep(0.001)
            return state
        if live and kind == "store-write" and self.counts.get("reverted_end"):
            # Right after one of the end-of-drill reverts, chosen by where
            # `at` falls in the window (bounded: 60 s): the next store write
            # is the next revert's journal mark or the run's results.
            a, b = self.windows["store-write"]
            n = self.counts["reverted_end"]
            live.wait_line("reverted_end", min(n, 1 + int(n * (at - a) / max(b - a, 1e-9))), 60)
        elif live:
            # From the run's own progress line for the phase (bounded: 60 s).
            key = ANCHORS[kind]
            live.wait_line(key, self.counts[key] if key == "injected" else 1, 60)
            live.sleep(max(0.0, at - self.marks[key + ("_last" if key == "injected" else "_first")]))
        while p.poll() is None and time.monotonic() - t0 < at and not live:
            time.sleep(min(0.002, max(0.0, at - (time.monotonic() - t0))))
        if kind != "store-write":
            return self.journal_signature(floor)

        def wal():
            try:
                st = os.stat(self.db + "-wal")
                return (st.st_size, st.st_mtime_ns)
            except OSError:
                return None
        # Busy-poll (bounded: 2 s) for the WAL to change.
        first, t_poll = wal(), time.monotonic()
        while p.poll() is None and wal() == first and time.monotonic() - t_poll < 2:
            pass
        return None

    def run(self):
        marks, sigs = self.calibrate()
        self.marks = marks
        points = self.draw_points(marks, sigs)
        tried = survived = 0
        by_kind = {}
        for i, (kind, at) in enumerate(points):
            if kind.startswith("reserve-"):
                kind = kind[len("reserve-"):]
                if tried >= self.reserve_until and by_kind.get(kind, 0) >= self.min_per_kind:
                    continue
            if time.monotonic() - self.t_begin > self.budget_s:
                self.log("time budget of %.0f s spent after %d points" % (self.budget_s, tried))
                break
            before = self.committed()
            floor = self.last_run_id()
            p, out = self.start_run(str(i), pipe=self.anchored)
            live = Live(p, out) if self.anchored else None
            t0 = time.monotonic()
            state = self.wait_kill(p, live, kind, at, floor)
            killed = p.poll() is None
            if killed:
                p.send_signal(signal.SIGKILL)
            p.wait(timeout=30)
            if live:
                live.close()
            out.close()
            if state is None:
                state = self.journal_signature(floor)
            when = time.monotonic() - t0
            desc = "point %d (%s %s, killed at %.3f s, journal %s)" % (
                i, kind, at if kind == "transition" else "%.4f s" % at, when, state or "(none)")
            if not killed or p.returncode != -signal.SIGKILL:
                # The drill ended first (or the state was never seen): not a
                # kill point; the environment must still be whole.
                self.recover_and_check(desc + " [not killed: exit %s]" % p.returncode)
                self.log(desc + ": drill ended before the kill, not counted")
                continue
            tried += 1
            self.recover_and_check(desc)
            lost = before - self.committed()
            if lost:
                self.fail("%s: committed runs lost or changed: %r" % (desc, sorted(lost)))
            survived += 1
            by_kind[kind] = by_kind.get(kind, 0) + 1
            self.log(desc + ": recovered, healthy")
        summary = ", ".join("%s %d" % kv for kv in sorted(by_kind.items()))
        self.log("kill campaign: %d points tried, %d survived (%s); seed %d; %.0f s" %
                 (tried, survived, summary, self.seed, time.monotonic() - self.t_begin))
        if tried < self.min_tried:
            self.fail("only %d kill points landed, wanted at least %d" % (tried, self.min_tried))
        for kind in ("transition", "injection", "recovery", "revert", "store-write"):
            if by_kind.get(kind, 0) < self.min_per_kind:
                self.fail("only %d kill points of kind %s" % (by_kind.get(kind, 0), kind))


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()
