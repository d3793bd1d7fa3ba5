#!/usr/bin/env bash
# ci/check-format.sh: fails, listing them, when C files are not formatted as
# .clang-format says. Checks every tracked .c/.h file (or the files given),
# without changing any; `clang-format -i FILE` formats one.
#
# Exit: 0 all formatted, 1 some are not (listed on stderr with the count of
# lines that would change), 3 clang-format is missing.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

cf=${CLANG_FORMAT:-}
if [ -z "$cf" ]; then
	for c in clang-format clang-format-14; do
		if command -v "$c" >/dev/null 2>&1; then
			cf=$c
			break
		fi
	done
fi
if [ -z "$cf" ]; then
	echo "check-format: clang-format not found (apt-get install -y clang-format)" >&2
	exit 3
fi

if [ "$#" -gt 0 ]; then
	files=("$@")
else
	mapfile -t files < <(git ls-files '*.c' '*.h')
fi

bad=0
for f in "${files[@]}"; do
	# diff's exit status is the verdict; the count is for the message.
	if ! out=$("$cf" --style=file "$f" | diff "$f" -); then
		n=$(grep -c '^>' <<<"$out" || true)
		echo "check-format: $f: $n line(s) not formatted (clang-format -i $f)" >&2
		bad=$((bad + 1))
	fi
done
if [ "$bad" -gt 0 ]; then
	echo "check-format: $bad of ${#files[@]} files not formatted" >&2
	exit 1
fi
echo "check-format: ${#files[@]} files formatted"
