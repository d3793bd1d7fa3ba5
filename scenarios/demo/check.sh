#!/usr/bin/env bash
# check.sh DIR INSTANCE: exit 0 only when the instance's database passes
# PRAGMA integrity_check (the sqlite3 shell prints problems but exits 0, so
# the answer is compared here).
set -euo pipefail
HOME_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HOME_DIR/common.sh"
[ $# -eq 2 ] || { echo "usage: check.sh DIR INSTANCE" >&2; exit 2; }
dir=$1 name=$2
demo_instance_check "$dir" "$name"
"$DEMO_PYTHON" - "$dir/$name.db" <<'PY'
import sqlite3, sys
try:
    conn = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=5)
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    conn.close()
except sqlite3.Error as e:
    print("integrity check failed: %s" % e, file=sys.stderr)
    sys.exit(1)
if rows != [("ok",)]:
    print("integrity check failed: %s" % "; ".join(r[0] for r in rows[:5]), file=sys.stderr)
    sys.exit(1)
print("ok")
PY
