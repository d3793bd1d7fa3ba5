#!/usr/bin/env bash
# Stands in for `pgbackrest info --output=json` in tests: prints one stanza
# in pgBackRest's documented JSON shape with a full backup that ended at
# epoch second $1, a diff backup after it that ended in error (it must be
# ignored), and an older incr. With "fail" as $1 it behaves like pgBackRest
# without a repository: an error line on stderr, exit 103.
set -euo pipefail
if [ "${1:-}" = fail ]; then
	echo 'ERROR: [103]: unable to find a valid repository' >&2
	exit 103
fi
stop=${1:?usage: pgbackrest-info.sh STOP_EPOCH_SECONDS | fail}
cat <<JSON
[{"name":"orders","status":{"code":0,"message":"ok"},"cipher":"none",
  "db":[{"id":1,"system-id":7311000000000000000,"version":"15"}],
  "backup":[
    {"label":"A-old-incr","type":"incr","error":false,
     "timestamp":{"start":$((stop - 86400)),"stop":$((stop - 86300))}},
    {"label":"B-good-full","type":"full","error":false,
     "timestamp":{"start":$((stop - 600)),"stop":$stop}},
    {"label":"C-failed-diff","type":"diff","error":true,
     "timestamp":{"start":$((stop + 60)),"stop":$((stop + 120))}}
  ]}]
JSON
