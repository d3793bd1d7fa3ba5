#!/usr/bin/env bash
# restore.sh DIR INSTANCE: restore the instance's database from the last
# backup.sh copy. Holds the supervisor (DIR/INSTANCE.hold), stops the
# service, swaps the file in atomically (rollback journal removed: it
# belongs to the damaged file), releases the hold and waits, with a
# deadline, until the restarted service answers /health with 200.
set -euo pipefail
HOME_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HOME_DIR/common.sh"
[ $# -eq 2 ] || { echo "usage: restore.sh DIR INSTANCE" >&2; exit 2; }
dir=$1 name=$2
demo_instance_check "$dir" "$name"
backup="$dir/$name.backup.db"
if [ ! -f "$backup" ]; then
	echo "restore.sh: no backup $backup (run backup.sh first)" >&2
	exit 1
fi
hold="$dir/$name.hold"
trap 'rm -f "$hold"' EXIT
: >"$hold"

# Stop the service. The supervisor may be between two instances (it had
# passed the hold check just before we set it), so loop until the current
# pidfile names no live service; bounded.
deadline=$((SECONDS + 10))
while pid=$(demo_read_pid "$dir/$name.pid") && demo_pid_is_service "$pid" "$dir"; do
	if [ "$SECONDS" -ge "$deadline" ]; then
		echo "restore.sh: $name service pid $pid would not stop" >&2
		exit 1
	fi
	kill -CONT "$pid" 2>/dev/null || true
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		demo_pid_is_service "$pid" "$dir" || break
		sleep 0.02
	done
	if demo_pid_is_service "$pid" "$dir"; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	sleep 0.05
done

cp -f "$backup" "$dir/$name.db.restore.tmp"
rm -f "$dir/$name.db-journal" "$dir/$name.db-wal" "$dir/$name.db-shm"
mv -f "$dir/$name.db.restore.tmp" "$dir/$name.db"
rm -f "$hold"

port=$(cat "$dir/$name.port")
if ! demo_wait_healthy "http://127.0.0.1:$port/health" 20; then
	echo "restore.sh: $name did not answer /health within 20s after the restore" >&2
	exit 1
fi
echo "restored $dir/$name.db from $backup"
