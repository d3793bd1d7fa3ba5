#!/usr/bin/env bash
# Shell metacharacters in remote targets and arguments run nothing
# unintended: an exec fault on a remote host creates (inject) and removes
# (revert) a file whose name is full of shell syntax, exactly that file,
# with the target's facts in its environment; a remote process target
# found by a cmdline `match` and a remote file whose path holds the same
# syntax are damaged and reverted (the process has forked a copy that
# shares its command line: the match is the parent). The availability probe and the
# validation check and a prepare step are commands run on the host (their
# paths exist only there). No canary file appears anywhere.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/ssh_lib.sh
source "$(dirname "$0")/ssh_lib.sh"

s_host_add alpha 0
# A file name holds no '/': the canary is relative, so a spliced command
# would create it in the current directory of whatever shell ran it (the
# remote home, the remote dir, or here).
canary="fl-canary-$$"
# Everything a shell would act on if this were spliced unquoted.
weird="a b;touch $canary;\$(touch $canary)\`touch $canary\`'\"*?|&>x<y#\${HOME}~!"
# A JSON string for a scenario/environment file: faultline expands ${NAME}
# in them and reads $$ as one literal $ (core/expand.h).
json_str() { printf '%s' "$1" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read().replace("$", "$$")))'; }
weird_json=$(json_str "$weird")
rdir="$S_REMOTE/dir with space"
s_ssh alpha "mkdir -p '$rdir'"
# The remote file: its name is $weird, inside a directory with a space.
python3 - "$rdir" "$weird" <<'PY' >"$T_DIR/mkfile.sh"
import shlex, sys
print("head -c 2048 /dev/urandom > " + shlex.quote(sys.argv[1] + "/" + sys.argv[2]))
PY
s_ssh alpha "$(cat "$T_DIR/mkfile.sh")"
# The sleeper forks a copy of itself that never renames (as a PostgreSQL
# backend is until it sets its title): one program, found as its parent.
s_ssh alpha "setsid python3 -c 'import os, time; os.fork(); time.sleep(100003)' 'sleep 100003' </dev/null >/dev/null 2>&1 &"
forked() { [ "$(s_ssh alpha pgrep -c -x python3)" = 2 ]; }
t_wait_for 20 "the remote sleeper and its fork" forked
sum_remote() { s_ssh alpha "sha256sum \"$rdir\"/a* | cut -d' ' -f1"; }
orig=$(sum_remote)

cat >"$T_DIR/env.json" <<JSON
{ "name": "shell-safety", "production": false,
  "targets": {
    "weird-file": { "kind": "file", "path": $(json_str "$rdir/$weird"),
                    "ssh": { "destination": "alpha", "config": "$S_CONFIG" } },
    "sleeper": { "kind": "process", "match": "sleep 100003",
                 "ssh": { "destination": "alpha", "config": "$S_CONFIG" } } } }
JSON
cat >"$T_DIR/drill.json" <<JSON
{ "name": "shell-safety", "environment": "env.json",
  "targets": { "rto": "1m" },
  "blast_radius": { "max_targets": 3 },
  "probes": [ { "name": "up", "type": "command", "target": "sleeper", "argv": ["test", "-d", "$rdir"],
                "interval": "200ms", "timeout": "5s", "availability": true } ],
  "prepare": [ { "name": "mark", "action": ["touch", "$S_REMOTE/step-ran"], "target": "sleeper" } ],
  "validation": [ { "name": "weird-file-there", "type": "command", "target": "weird-file",
                    "argv": ["test", "-f", $(json_str "$rdir/$weird")],
                    "timeout": "10s" } ],
  "faults": [
    { "name": "touch-weird", "injector": "exec", "target": "sleeper",
      "inject": ["sh", "-c", "cd \"\$1\" && touch -- \"\$2\" && printf '%s' \"\$FAULTLINE_TARGET_SSH\" >ssh-name", "sh", "$rdir", $weird_json],
      "revert": ["rm", "--", "$rdir/ssh-name"] },
    { "name": "flip-weird", "injector": "file", "target": "weird-file", "mode": "flip", "offsets": [1, 2, 3] },
    { "name": "pause-sleeper", "injector": "process", "target": "sleeper", "signal": "STOP", "duration": "2s" } ],
  "steady_state": "100ms", "timeout": "2m" }
JSON

injected() { grep -q 'injected pause-sleeper' "$T_DIR/run.err" 2>/dev/null; }
"$FAULTLINE_BIN" run "$T_DIR/drill.json" --db "$T_DB" >"$T_DIR/run.out" 2>"$T_DIR/run.err" &
harness=$!
T_BG_PIDS+=("$harness")
t_wait_for 60 "all faults injected" injected
# While in place: the weird file exists on the host, under exactly its name.
s_ssh alpha "ls -1 \"$rdir\"" >"$T_DIR/ls.out"
grep -c . "$T_DIR/ls.out" | grep -qx 2 || { cat "$T_DIR/ls.out" >&2; t_fail "expected the weird file and ssh-name in the remote dir"; }
[ "$(s_ssh alpha cat "\"$rdir/ssh-name\"")" = alpha ] || t_fail "FAULTLINE_TARGET_SSH did not reach the remote command"
[ "$(sum_remote)" != "$orig" ] || t_fail "the weird file was not flipped"
rc=0
wait "$harness" || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 1 ] || { cat "$T_DIR/run.err" >&2; t_fail "faultline run exited $rc"; }
[ "$(sum_remote)" = "$orig" ] || t_fail "the weird file was not restored"
grep -q 'validation weird-file-there: passed' "$T_DIR/run.err" || { cat "$T_DIR/run.err" >&2; t_fail "the remote validation check did not pass"; }
grep -q 'steady state: all 1 probe(s) healthy' "$T_DIR/run.err" || t_fail "the remote probe was not healthy"
s_ssh alpha test -f "$S_REMOTE/step-ran" || t_fail "the prepare step with a remote target did not run on the host"
[ ! -e "$S_REMOTE/step-ran" ] || t_fail "the prepare step ran locally"
s_ssh alpha "ls -1 \"$rdir\"" >"$T_DIR/ls.out"
grep -c . "$T_DIR/ls.out" | grep -qx 1 || t_fail "revert left files behind: $(cat "$T_DIR/ls.out")"
if [ -e "$canary" ] || [ -e "$T_DIR/$canary" ] || [ -e "$HOME/$canary" ]; then
	t_fail "a shell metacharacter ran a command locally"
fi
s_ssh alpha "test ! -e ~/$canary && test ! -e /$canary" || t_fail "a shell metacharacter ran a command on the host"
t_log "ok: metacharacters in paths, matches and arguments reached the host as data"
