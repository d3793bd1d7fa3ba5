#!/usr/bin/env bash
# `faultline metrics`: the Prometheus textfile of a synthetic history (with
# a scenario name full of characters that need escaping) is parsed by the
# real Prometheus tool (`promtool check metrics`, Debian package
# prometheus); the series carry the newest run's figures; the file is
# replaced atomically with mode 0644 and no temporary file left; a push
# reaches a loopback Pushgateway stand-in as PUT /metrics/job/<job> with
# the same text; a push to a closed port fails with exit 3 within its bound.
set -euo pipefail
: "${FAULTLINE_BIN:?}" "${FAULTLINE_FIXTURE_DIR:?}" "${FAULTLINE_SOURCE_DIR:?}"
work=$(mktemp -d)
rpid=
cleanup() { [ -z "$rpid" ] || { kill "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null; }; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v promtool >/dev/null || fail "promtool is not installed (apt-get install prometheus)"

weird='we"ird\name
x'
"$FAULTLINE_FIXTURE_DIR/gen_history" --db "$work/h.db" --runs 60 --seed 9 --scenario "$weird" >/dev/null
prom="$work/textfile/faultline.prom"
mkdir -p "$work/textfile"
echo "stale" >"$prom"
"$FAULTLINE_BIN" metrics --db "$work/h.db" -o "$prom" --inventory "$FAULTLINE_SOURCE_DIR/scenarios/inventory.json" ||
	fail "faultline metrics exited $?"
promtool check metrics <"$prom" || fail "promtool rejected the file"
[ "$(stat -c %a "$prom")" = 644 ] || fail "mode $(stat -c %a "$prom"), wanted 644"
[ "$(ls "$work/textfile")" = faultline.prom ] || fail "temporary files left: $(ls "$work/textfile")"
grep -q '^faultline_drill_pass{scenario="we\\"ird\\\\name\\nx",' "$prom" || fail "label not escaped"

# The figures are the newest run's, as `faultline runs --json` shows them.
"$FAULTLINE_BIN" runs --db "$work/h.db" --json >"$work/runs.json"
python3 - "$prom" "$work/runs.json" <<'PY' || fail "series do not match the newest runs"
import json, re, sys
series = {}
for line in open(sys.argv[1]):
    if line.startswith("#"):
        continue
    m = re.match(r'(\w+)\{(.*)\} (\S+)$', line.strip())
    assert m, line
    series[(m.group(1), m.group(2))] = float(m.group(3))
runs = json.load(open(sys.argv[2]))
newest = {}
for r in runs:
    if r["verdict"] != "running" and (r["scenario"] not in newest or r["id"] > newest[r["scenario"]]["id"]):
        newest[r["scenario"]] = r
r = newest["orders-db-failover"]
lab = 'scenario="orders-db-failover",asset="%s",environment="%s"' % (r["asset"], r["environment"])
assert abs(series[("faultline_drill_rto_seconds", lab)] - r["rto_ms"] / 1000) < 1e-6
assert series[("faultline_drill_pass", lab)] == (1 if r["verdict"] == "pass" else 0)
assert series[("faultline_asset_stale", 'asset="orders-api"')] == 1   # in the inventory, never drilled
total = sum(v for (n, l), v in series.items() if n == "faultline_drill_runs" and 'orders-db-failover' in l)
assert total == sum(1 for x in runs if x["scenario"] == "orders-db-failover" and x["verdict"] != "running"), total
PY

# ---- push to a loopback Pushgateway stand-in -----------------------------
cat >"$work/recv.py" <<'PY'
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(sys.argv[1] + ".tmp", "wb") as f:
            f.write(("%s %s %s\n" % (self.command, self.path, self.headers["Content-Type"])).encode() + body)
        os.replace(sys.argv[1] + ".tmp", sys.argv[1])
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[2] + ".tmp", "w") as f: f.write(str(s.server_port))
os.replace(sys.argv[2] + ".tmp", sys.argv[2])
s.serve_forever()
PY
python3 "$work/recv.py" "$work/got" "$work/port" & rpid=$!
for _ in $(seq 1 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || fail "receiver did not start"
"$FAULTLINE_BIN" metrics --db "$work/h.db" --push "http://127.0.0.1:$(cat "$work/port")" --job "weekly drills" >"$work/stdout.prom" ||
	fail "push exited $?"
head -n 1 "$work/got" | grep -qx 'PUT /metrics/job/weekly%20drills text/plain; version=0.0.4' || fail "request line: $(head -n 1 "$work/got")"
tail -n +2 "$work/got" | cmp -s - "$work/stdout.prom" || fail "pushed text differs from the written text"

# A closed port: exit 3, bounded (3 attempts, short back-off).
port=$(cat "$work/port"); kill "$rpid"; wait "$rpid" 2>/dev/null || true; rpid=
start=$SECONDS
set +e
err=$("$FAULTLINE_BIN" metrics --db "$work/h.db" -o "$work/x.prom" --push "http://127.0.0.1:$port" 2>&1 >/dev/null); rc=$?
set -e
[ $rc -eq 3 ] || fail "push to a closed port exited $rc"
[[ $err == "pushgateway http://127.0.0.1:$port: "*"(3 attempts)" ]] || fail "message: $err"
[ $((SECONDS - start)) -lt 20 ] || fail "failed push took $((SECONDS - start)) s"
set +e
"$FAULTLINE_BIN" metrics --db "$work/none.db" 2>/dev/null; rc=$?
set -e
[ $rc -eq 2 ] || fail "missing database exited $rc"
echo "ok: promtool accepted $(grep -vc '^#' "$prom") samples"
