#!/usr/bin/env bash
# tests/fuzz/seeds.sh TARGET: prints the seed inputs of a fuzz target, one
# path a line: the example files in scenarios/ and tests/data/ (valid and
# invalid) for the loaders, tests/fuzz/seeds/<kind>/ for the rest. The one
# list both ci/fuzz.sh (to build a corpus) and the replay tests read.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
shopt -s nullglob
data=$root/tests/data/scenarios
case ${1:?usage: seeds.sh TARGET} in
fuzz_scenario)
	for f in "$root"/scenarios/*.json "$data"/valid/*.json "$data"/drills/*.json \
		"$data"/invalid/*/scenario.json; do
		case $f in */inventory.json | */env.json) continue ;; esac
		printf '%s\n' "$f"
	done ;;
fuzz_environment)
	printf '%s\n' "$root"/scenarios/env/*.json "$data"/valid/env.json "$data"/invalid/*/env.json ;;
fuzz_inventory)
	printf '%s\n' "$root"/scenarios/inventory.json "$data"/valid/inventory.json \
		"$data"/invalid/*/inventory.json ;;
fuzz_http_body)
	printf '%s\n' "$root"/tests/fuzz/seeds/http_body/* ;;
fuzz_duration)
	printf '%s\n' "$root"/tests/fuzz/seeds/duration/* ;;
*)
	echo "seeds.sh: unknown target '$1'" >&2
	exit 2 ;;
esac
