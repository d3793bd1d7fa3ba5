#!/usr/bin/env bash
# One data-driven loader case: run `faultline validate` in the case folder on
# the files named in `args` (default: scenario.json) and require exit code 2
# (or the code in `exit_code`) and exactly the line in `expected` on stderr.
set -u
bin=$1 dir=$2
cd "$dir" || exit 1
args=(scenario.json)
# shellcheck disable=SC2094 # the file "args" fills the array args; nothing writes the file
[ -f args ] && read -r -a args < args
want_code=2
[ -f exit_code ] && want_code=$(cat exit_code)
err=$("$bin" validate "${args[@]}" 2>&1 >/dev/null)
code=$?
want=$(cat expected)
if [ "$code" != "$want_code" ]; then
  echo "exit code $code, wanted $want_code; stderr: $err"; exit 1
fi
if [ "$err" != "$want" ]; then
  printf 'stderr differs\n  got:  %s\n  want: %s\n' "$err" "$want"; exit 1
fi
echo "ok: $err"
