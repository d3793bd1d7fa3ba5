#!/usr/bin/env bash
# backup.sh DIR INSTANCE: a consistent online copy of the instance's
# database to DIR/INSTANCE.backup.db (SQLite's backup API, so a write in
# progress is never half-copied), replaced atomically.
set -euo pipefail
HOME_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HOME_DIR/common.sh"
[ $# -eq 2 ] || { echo "usage: backup.sh DIR INSTANCE" >&2; exit 2; }
dir=$1 name=$2
demo_instance_check "$dir" "$name"
"$DEMO_PYTHON" - "$dir/$name.db" "$dir/$name.backup.db" <<'PY'
import os, sqlite3, sys
src_path, dst_path = sys.argv[1], sys.argv[2]
tmp = dst_path + ".tmp"
if os.path.exists(tmp):
    os.unlink(tmp)
src = sqlite3.connect("file:%s?mode=ro" % src_path, uri=True, timeout=5)
dst = sqlite3.connect(tmp)
try:
    src.backup(dst)
finally:
    dst.close()
    src.close()
os.replace(tmp, dst_path)
PY
echo "backed up $dir/$name.db to $dir/$name.backup.db"
