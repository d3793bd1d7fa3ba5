#!/usr/bin/env bash
# ci/check-layers.sh: the include rule (docs/HACKING.md), checked.
#
# Folders are layers, read bottom-up. A file in a layer includes project
# headers only by path from the repository root ("core/doc.h") and only from
# its own folder or from the folders its layer may use:
#
#   core/       core/
#   injectors/  injectors/ core/
#   sim/        sim/ injectors/ core/
#   reports/    reports/ core/
#   cli/        everything
#
# Prints one line per offending include ("file:line: ...") and exits 1 when
# there is any; exits 0 and prints a summary otherwise.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

allowed() {
	case "$1" in
	core) echo "core" ;;
	injectors) echo "injectors core" ;;
	sim) echo "sim injectors core" ;;
	reports) echo "reports core" ;;
	cli) echo "cli sim reports injectors core" ;;
	esac
}

bad=0
files=0
for layer in core injectors sim reports cli; do
	ok=$(allowed "$layer")
	for f in "$layer"/*.c "$layer"/*.h; do
		[ -e "$f" ] || continue
		files=$((files + 1))
		while IFS=: read -r line inc; do
			target=${inc#*\"}
			target=${target%%\"*}
			case "$target" in
			*/*) ;;
			*)
				echo "$f:$line: include \"$target\" by path from the repository root (e.g. \"$layer/$target\")"
				bad=$((bad + 1))
				continue
				;;
			esac
			dir=${target%%/*}
			if [[ " $ok " != *" $dir "* ]]; then
				echo "$f:$line: $layer/ may not include $target (allowed: $ok)"
				bad=$((bad + 1))
			fi
		done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" || true)
	done
done

if [ "$bad" -gt 0 ]; then
	echo "check-layers: $bad include(s) break the layer rule ($files files)"
	exit 1
fi
echo "check-layers: ok ($files files, no upward or cross include)"
