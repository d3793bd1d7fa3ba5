#!/usr/bin/env bash
# Crash safety of remote and cloud faults, proven by a smaller kill campaign
# (the engine is kill_campaign.py, shared with test_kill_campaign.sh). The
# drill breaks a real sshd host (network, mount and pid namespaces made by
# ssh_lib.sh: its files and processes are reachable only over ssh) and a
# cloud (moto_server on a free loopback port):
#   - bytes flipped in data.bin on the host (file fault over ssh; off with
#     FAULTLINE_KILL_REMOTE_FILE=0). This campaign found that a kill while
#     its remote write ran left bytes flipped after `recover` (the orphaned
#     ssh finished its writes after recover had restored the file): recover
#     now waits for what an inject started (test_orphan_inject.sh);
#   - the host's service paused (SIGSTOP over ssh, SIGCONT after 800 ms):
#     the drill's probe, run on the host over ssh, sees it and the drill
#     detects, recovers and validates;
#   - aws.ec2 stop of the two instances tagged app=kill-campaign (reverted
#     at the end of the drill).
# faultline run is SIGKILLed at every journal transition, at a few seeded
# random times in each phase and at the first store write after one of the
# end-of-drill reverts; a random point is timed from the run's own progress
# line for its phase (a loaded machine or ASan stretches the drill
# unevenly). After each kill: `faultline recover`, from a bare environment
# (PATH, the AWS credentials and the ssh control directory), exits 0; no journal
# row is pending, armed, injected or revert_failed; integrity_check is ok;
# no committed run is lost; on the host data.bin is byte for byte the
# original and the same service process runs (not stopped); moto says both
# stopped instances run again and the one outside the selection (app=other)
# still runs; and nothing a remote write sent is left in faultline's
# TMPDIR (its data travels in an anonymous memfd: a kill between creating
# and unlinking a /tmp/faultline-stdin-* file used to leave fault bytes).
# FAULTLINE_KILL_POINTS scales the random points (default 2 per phase);
# the time budget is 200 s (FAULTLINE_KILL_BUDGET), under ctest's 300 s.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/ssh_lib.sh
. "$(dirname "$0")/ssh_lib.sh"
# shellcheck source=tests/integration/aws_lib.sh
. "$(dirname "$0")/aws_lib.sh"

s_host_add kc 0
moto_start
export AWS_ENDPOINT_URL=$MOTO_URL

# The host's service: a sleep whose pid is in $S_REMOTE/svc.pid there.
s_ssh kc "setsid sleep 100000 </dev/null >/dev/null 2>&1 & echo \$! >$S_REMOTE/svc.pid"
s_ssh kc "head -c 4096 /dev/urandom >$S_REMOTE/data.bin && chmod 640 $S_REMOTE/data.bin"

A=$(run_instance app=kill-campaign faultline:environment=staging)
B=$(run_instance app=kill-campaign faultline:environment=staging)
C=$(run_instance app=other faultline:environment=staging)
[ -n "$A" ] && [ -n "$B" ] && [ -n "$C" ] || t_fail "could not create instances"

cat >"$T_DIR/env.json" <<JSON
{ "name": "kill-campaign-remote", "production": false,
  "targets": {
    "host-svc": { "kind": "process", "pidfile": "$S_REMOTE/svc.pid",
                  "ssh": { "destination": "kc", "config": "$S_CONFIG" } },
    "host-data": { "kind": "file", "path": "$S_REMOTE/data.bin",
                   "ssh": { "destination": "kc", "config": "$S_CONFIG" } },
    "web": { "kind": "cloud", "provider": "aws", "region": "eu-west-1",
             "accounts": ["123456789012"], "endpoint_url": "$MOTO_URL",
             "required_tag": "faultline:environment=staging",
             "select": { "tags": { "app": "kill-campaign" } } } } }
JSON
flip_fault=
if [ "${FAULTLINE_KILL_REMOTE_FILE:-1}" = 1 ]; then
	flip_fault='{ "name": "flip-data", "injector": "file", "target": "host-data",
      "mode": "flip", "count": 16, "seed": 7 },'
fi
scenario=$T_DIR/kill-campaign-remote.json
cat >"$scenario" <<JSON
{ "name": "kill-campaign-remote", "environment": "env.json",
  "description": "test_kill_campaign_remote.sh: a remote host and EC2, reverted at different times",
  "targets": { "rto": "30s" },
  "blast_radius": { "max_targets": 4 },
  "probes": [
    { "name": "svc", "type": "command", "target": "host-svc",
      "argv": ["sh", "-c", "grep -q '^State:.[RSD]' /proc/\$(cat $S_REMOTE/svc.pid)/status"],
      "interval": "150ms", "timeout": "2s", "availability": true } ],
  "detection": { "probe": "svc", "consecutive_failures": 2 },
  "faults": [
    $flip_fault
    { "name": "stop-web", "injector": "aws.ec2", "target": "web", "action": "stop" },
    { "name": "pause-svc", "injector": "process", "target": "host-svc",
      "signal": "STOP", "duration": "800ms" } ],
  "recovery": [ { "name": "resume", "wait_for": "svc", "timeout": "20s" } ],
  "stop_conditions": [ { "probe": "svc", "down_for": "20s" } ],
  "stability_window": "300ms", "steady_state": "300ms", "timeout": "1m" }
JSON
"$FAULTLINE_BIN" validate "$scenario" >&2 || t_fail "the drill does not validate"

# faultline's own TMPDIR, empty: after every kill and recover it must still be.
mkdir "$T_DIR/tmp"
export TMPDIR=$T_DIR/tmp
export T_DIR T_DB FAULTLINE_BIN S_CONFIG S_CM S_REMOTE AWS_CALL A B C
python3 - "$scenario" <<'PY' || t_fail "the kill campaign failed (see above)"
import os, re, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.join(os.environ["FAULTLINE_SOURCE_DIR"], "tests", "integration"))
from kill_campaign import Campaign

remote = os.environ["S_REMOTE"]
ids = [os.environ["A"], os.environ["B"]]
control = os.environ["C"]

def host(cmd):
    # The test's own ssh (ssh_lib.sh's s_ssh): same config, its own masters.
    # Its answer goes to a file, not a pipe: an ssh that becomes the master
    # stays in the background holding its stdout, and reading a pipe to its
    # end would wait for the master to exit.
    with tempfile.TemporaryFile() as f:
        subprocess.run(["ssh", "-F", os.environ["S_CONFIG"], "-o", "BatchMode=yes",
                        "-o", "ConnectTimeout=3", "-o", "LogLevel=ERROR",
                        "-o", "ControlMaster=auto", "-o", "ControlPath=%s/t/%%C" % os.environ["S_CM"],
                        "-o", "ControlPersist=30", "kc", cmd],
                       stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.DEVNULL, timeout=30)
        f.seek(0)
        return f.read().decode("utf-8", "replace").strip()

def host_state():
    # data.bin's digest, the service's pid and its state letter
    out = host("sha256sum %s/data.bin | cut -d' ' -f1; p=$(cat %s/svc.pid); echo $p; "
               "sed -n 's/^State:.\\(.\\).*/\\1/p' /proc/$p/status 2>/dev/null || echo gone"
               % (remote, remote)).split("\n")
    return out + [""] * (3 - len(out))

def ec2_states():
    args = [os.environ["AWS_CALL"], "ec2", "DescribeInstances"]
    args += ["InstanceId.%d=%s" % (i + 1, x) for i, x in enumerate(ids + [control])]
    r = subprocess.run(args, capture_output=True, text=True, timeout=30)
    items = re.findall(r"<instanceId>([^<]*)</instanceId>.*?<instanceState><code>\d+</code>"
                       r"<name>([a-z-]*)</name>", r.stdout, re.S)
    return dict(items)

orig_sum, orig_pid, st = host_state()
if not orig_sum or st not in ("R", "S"):
    print("[test_kill_campaign_remote] FAIL: the host is not set up: %r" % [orig_sum, orig_pid, st])
    sys.exit(1)

def check_env(desc):
    deadline = time.monotonic() + 10
    while True:
        s, pid, st = host_state()
        ec2 = ec2_states()
        bad = []
        left = os.listdir(os.environ["TMPDIR"])
        if left:
            bad.append("faultline left %s in its TMPDIR" % ", ".join(sorted(left)[:5]))
        if s != orig_sum:
            bad.append("data.bin on the host differs from the original")
        if pid != orig_pid or st not in ("R", "S", "D"):
            bad.append("the host's service is pid %s state %s, wanted pid %s running" % (pid, st, orig_pid))
        for x in ids + [control]:
            if ec2.get(x) != "running":
                bad.append("instance %s is %s, not running" % (x, ec2.get(x)))
        if not bad:
            return
        if time.monotonic() > deadline:
            camp.fail("%s: not whole 10 s after recover: %s" % (desc, "; ".join(bad)))
        time.sleep(0.05)

camp = Campaign("test_kill_campaign_remote", sys.argv[1], check_env,
                keep_env=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "TMPDIR",
                          # where ssh masters live: ssh_lib.sh's cleanup ends them
                          "FAULTLINE_SSH_CONTROL_DIR"),
                per_phase=2, store_writes=2, reserve=4, reserve_kinds=("revert", "store-write"),
                min_tried=10, min_per_kind=2,
                budget_s=200, anchored=True)
camp.run()
PY
aws_no_secret "$T_DIR"/kill-*.out "$T_DB"
t_log "pass"
