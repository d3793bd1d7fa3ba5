#!/usr/bin/env bash
# tests/fuzz/replay.sh BINARY TARGET: runs a fuzz target's replay build over
# its seeds and every regression in tests/data/fuzz-regressions/TARGET/ (the
# ctest test fuzz.replay_TARGET). A crash, a sanitizer report or a broken
# invariant fails the test; the input that did it is named on stderr by the
# sanitizer or the invariant message.
set -euo pipefail
bin=${1:?usage: replay.sh BINARY TARGET}
target=${2:?usage: replay.sh BINARY TARGET}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
mapfile -t seeds < <(bash "$here/seeds.sh" "$target")
[ "${#seeds[@]}" -gt 0 ] || { echo "replay.sh: no seeds for $target" >&2; exit 1; }
# shellcheck disable=SC2086  # the wrapper is a list of words on purpose
exec ${FAULTLINE_REPLAY_WRAPPER:-} "$bin" "${seeds[@]}" "$root/tests/data/fuzz-regressions/$target"
