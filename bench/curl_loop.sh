#!/usr/bin/env bash
# curl_loop.sh: the prober of a hand-made drill, used as a peer by the
# benchmarks: curl each URL in turn, log one line per sample, sleep PERIOD
# between rounds (0: back to back). Stops after COUNT samples (0: no limit)
# or MAX_S seconds, whichever comes first.
#
#   curl_loop.sh OUT PERIOD COUNT MAX_S URL...
#
# Each line of OUT: "SENT DONE OK" with SENT/DONE from $EPOCHREALTIME
# (seconds, wall clock) and OK 1 or 0 — a hand-made loop timestamps a sample
# before it runs curl, so the benchmark places it there.
set -u
out=$1 period=$2 count=$3 max_s=$4
shift 4
n=0
SECONDS=0
while [ "$count" -eq 0 ] || [ "$n" -lt "$count" ]; do
	for url in "$@"; do
		t0=$EPOCHREALTIME
		if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then ok=1; else ok=0; fi
		printf '%s %s %s\n' "$t0" "$EPOCHREALTIME" "$ok" >>"$out"
		n=$((n + 1))
		if [ "$count" -ne 0 ] && [ "$n" -ge "$count" ]; then
			break
		fi
		# Checked per sample: a round over 1,000 targets outlasts MAX_S.
		[ "$SECONDS" -lt "$max_s" ] || break 2
	done
	[ "$SECONDS" -lt "$max_s" ] || break
	[ "$period" = 0 ] || sleep "$period"
done
