#!/usr/bin/env bash
# No shell injection: names and arguments full of shell syntax — quotes, ';',
# $(...), backticks, spaces, a newline-free '|' and '&' — go through
# `faultline validate`, `faultline run --dry-run` and a real run whose exec
# fault records the argv and environment it was given and whose file fault
# flips bytes in a file with such a path. Every one of those strings is a
# command that would create a canary file if a shell ever interpreted it.
# Afterwards: no canary exists, the exec fault saw its arguments and the
# target's name byte for byte, the file is restored exactly, and the names
# come back literally from `faultline runs --json`.
. "$(dirname "$0")/lib.sh"

t_env_start
# Every injected command is `touch pwned-<where>`, relative: faultline runs
# with the canary directory as its working directory, so anything a shell
# ran lands there.
canary=$T_DIR/canary
mkdir -p "$canary"
cd "$canary"
# The scenario sits in a directory whose name is itself an injection.
sdir="$T_DIR/sc dir \$(touch pwned-dir) \`touch pwned-dir2\`"
mkdir -p "$sdir"
victim_dir="$T_DIR/data; touch pwned-path"
mkdir -p "$victim_dir"
victim="$victim_dir/\$(touch pwned-file) 'q' \"dq\".bin"
head -c 8192 /dev/urandom >"$victim"
orig=$(sha256sum <"$victim" | cut -d' ' -f1)

# All JSON is written by python from the same strings, so escaping is exact.
python3 - "$sdir" "$canary" "$victim" "$FAULTLINE_DEMO_DIR" "$FAULTLINE_DEMO_PORT1" \
	"$T_DIR/argv.json" <<'PY'
import json, sys
sdir, canary, victim, demo_dir, port, record = sys.argv[1:]
inj = {
    "semi": "x; touch pwned-semi",
    "subst": "$(touch pwned-subst)",
    "tick": "`touch pwned-tick`",
    "quote": "a' ; touch pwned-quote ; echo 'b",
    "dquote": 'a" ; touch pwned-dquote ; echo "b',
    "pipe": "| touch pwned-pipe &",
}
api = "api 1; touch pwned-target \"$(touch pwned-target2)\""
disk = "disk `touch pwned-target3` 'x'"
env = {
    "name": "shell-safety $(touch pwned-envname)",
    "production": False,
    "targets": {
        api: {"kind": "process", "pidfile": demo_dir + "/api-1.pid",
              "url": "http://127.0.0.1:%s/" % port, "zone": "az-a"},
        disk: {"kind": "file", "path": victim},
    },
}
recorder = ("import json, os, sys\n"
            "json.dump({'argv': sys.argv[2:], 'target': os.environ.get('FAULTLINE_TARGET'),"
            " 'extra': os.environ.get('SHELL_SAFETY_EXTRA')}, open(sys.argv[1], 'w'))\n")
scenario = {
    "name": "shell-safety \"quoted\" 'single' ; touch pwned-name $(touch pwned-name2) `touch pwned-name3`",
    "environment": "env; $(touch pwned-envfile).json",
    "targets": {"rto": "30s", "rpo": "0s"},
    "blast_radius": {"max_targets": 2},
    "probes": [{"name": "api `touch pwned-probe`", "type": "http", "target": api,
                "url": "http://127.0.0.1:%s/health?q=$(touch%%20pwned-url)" % port,
                "interval": "50ms", "timeout": "500ms", "availability": True}],
    "faults": [
        {"name": "exec $(touch pwned-fault)", "injector": "exec", "target": api,
         "inject": ["python3", "-c", recorder, record] + list(inj.values()),
         "revert": ["true", inj["semi"], inj["subst"]],
         "env": {"SHELL_SAFETY_EXTRA": inj["tick"]}},
        {"name": "flip ; touch pwned-fault2", "injector": "file", "target": disk,
         "mode": "flip", "count": 16, "seed": 3, "duration": "300ms"},
    ],
    "recovery": [{"name": "wait `touch pwned-step`", "wait_for": "api `touch pwned-probe`",
                  "timeout": "10s"}],
    "stability_window": "200ms",
    "steady_state": "300ms",
    "timeout": "1m",
}
with open(sdir + "/env; $(touch pwned-envfile).json", "w") as f:
    json.dump(env, f, indent=1)
with open(sdir + "/scenario `touch pwned-scfile`.json", "w") as f:
    json.dump(scenario, f, indent=1)
with open(sdir + "/expected.json", "w") as f:
    json.dump({"argv": list(inj.values()), "target": api, "extra": inj["tick"],
               "name": scenario["name"]}, f)
PY
scenario=$(find "$sdir" -name 'scenario *.json' -print -quit)
[ -n "$scenario" ] || t_fail "the scenario file was not written"

no_canary() {
	local found
	found=$(find "$canary" -mindepth 1 -printf '%f ' 2>/dev/null)
	# Also where a mis-split path could land.
	found+=$(find "$T_DIR" -maxdepth 1 -name 'pwned*' -printf '%f ' 2>/dev/null || true)
	[ -z "$found" ] || t_fail "$1: a shell ran an injected command (canaries: $found)"
}

rc=0
"$FAULTLINE_BIN" validate "$scenario" >"$T_DIR/validate.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || { cat "$T_DIR/validate.out" >&2; t_fail "validate exited $rc"; }
no_canary "validate"

rc=0
"$FAULTLINE_BIN" run "$scenario" --db "$T_DB" --dry-run >"$T_DIR/dry.out" 2>&1 || rc=$?
cat "$T_DIR/dry.out" >&2
[ "$rc" = 0 ] || t_fail "run --dry-run exited $rc"
no_canary "run --dry-run"
[ ! -e "$T_DIR/argv.json" ] || t_fail "--dry-run ran the exec fault's command"
[ "$(sha256sum <"$victim" | cut -d' ' -f1)" = "$orig" ] || t_fail "--dry-run changed the file"
grep -q -F "touch pwned-fault)" "$T_DIR/dry.out" ||
	t_fail "--dry-run does not show the fault's name literally"

t_run "$scenario"
[ "$T_RC" = 0 ] || t_fail "faultline run exited $T_RC, wanted 0"
no_canary "faultline run"
[ -f "$T_DIR/argv.json" ] || t_fail "the exec fault's command did not run"
python3 - "$T_DIR/argv.json" "$sdir/expected.json" <<'PY' || t_fail "the exec fault's argv or environment was altered"
import json, sys
got, want = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for k in ("argv", "target", "extra"):
    if got[k] != want[k]:
        print("%s: got %r want %r" % (k, got[k], want[k]), file=sys.stderr)
        sys.exit(1)
PY
[ "$(sha256sum <"$victim" | cut -d' ' -f1)" = "$orig" ] ||
	t_fail "the file with a shell-syntax path is not restored"
name=$(t_run_field scenario)
want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["name"])' "$sdir/expected.json")
[ "$name" = "$want" ] || t_fail "runs --json shows the name as '$name', not '$want'"
open_rows=$(sqlite3 "$T_DB" "select count(*) from journal where state <> 'reverted'")
[ "$open_rows" = 0 ] || t_fail "$open_rows journal rows open after the run"
no_canary "end"
t_log "pass: shell syntax in names, paths, argv and environment stayed literal"
