#!/usr/bin/env bash
# Notifications (sim/notify*.c) end to end, on loopback only. A receiver
# records every request; a real Alertmanager (Debian's
# prometheus-alertmanager) takes the alerts channel. Three drills on the demo
# environment with FAULTLINE_NOTIFY set:
#  1. demo-rto-miss: "started" then "target_missed" reach the webhook, Slack
#     and PagerDuty stand-ins and Alertmanager, each payload valid against
#     the service's documented shape (tests/data/notify/*.schema.json); the
#     PagerDuty receiver answers 503 twice first, so delivery is retried.
#  2. a drill whose revert command fails: "revert_failed", urgent
#     (PagerDuty severity critical, Alertmanager FaultlineRevertFailed).
#  3. a channel whose receiver never answers, given with --notify (which wins
#     over FAULTLINE_NOTIFY): the drill's RTO is unaffected,
#     the run ends within timeout x attempts, the failure is one line on
#     stderr naming the channel, not its URL.
# Secrets (the webhook and Slack URLs' tokens, the routing key) appear in no
# output, database or report.
. "$(dirname "$0")/lib.sh"

command -v prometheus-alertmanager >/dev/null || t_fail "prometheus-alertmanager is not installed"
python3 -c 'import jsonschema' 2>/dev/null || t_fail "python3-jsonschema is not installed"

# ---- receivers -----------------------------------------------------------------
cat >"$T_DIR/recv.py" <<'PY'
import http.server, json, os, sys, threading, time
log, portfile = sys.argv[1], sys.argv[2]
fails = {"/pd": 2}          # answer 503 this many times first
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        path = self.path.split("?")[0]
        if path.startswith("/hang"):
            time.sleep(30)
            return
        with lock:
            code = 503 if fails.get(path, 0) > 0 else (202 if path == "/pd" else 200)
            if code == 503:
                fails[path] -= 1
            with open(log, "a") as f:
                f.write(json.dumps({"path": self.path, "code": code,
                                    "ctype": self.headers.get("Content-Type"),
                                    "body": body.decode()}) + "\n")
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a): pass
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f: f.write(str(s.server_port))
os.replace(portfile + ".tmp", portfile)
s.serve_forever()
PY
python3 "$T_DIR/recv.py" "$T_DIR/requests.jsonl" "$T_DIR/recv.port" &
T_BG_PIDS+=($!)
t_wait_for 10 "the receiver" test -s "$T_DIR/recv.port"
rport=$(cat "$T_DIR/recv.port")

am_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$T_DIR/am-data"
printf 'route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n' >"$T_DIR/am.yml"
prometheus-alertmanager --config.file="$T_DIR/am.yml" --storage.path="$T_DIR/am-data" \
	--web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= \
	</dev/null >"$T_DIR/alertmanager.log" 2>&1 &
T_BG_PIDS+=($!)
am_url="http://127.0.0.1:$am_port"
am_ready() { curl -sf --max-time 1 "$am_url/-/ready" >/dev/null; }
t_wait_for 30 "alertmanager on port $am_port" am_ready

# ---- secrets and the channel file ---------------------------------------------------
token="hooktoken$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
slack_token="slacktoken$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
routing_key=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')   # 32 hex characters
export FL_TEST_HOOK_URL="http://127.0.0.1:$rport/hook/$token"
export FL_TEST_PD_KEY=$routing_key
printf 'http://127.0.0.1:%s/slack/%s\n' "$rport" "$slack_token" >"$T_DIR/slack-url"
chmod 600 "$T_DIR/slack-url"
cat >"$T_DIR/notify.json" <<JSON
{
  "timeout": "1s",
  "attempts": 3,
  "channels": [
    { "name": "ops-hook", "type": "webhook", "url_env": "FL_TEST_HOOK_URL" },
    { "name": "chat", "type": "slack", "url_file": "$T_DIR/slack-url" },
    { "name": "pager", "type": "pagerduty", "routing_key_env": "FL_TEST_PD_KEY",
      "url": "http://127.0.0.1:$rport/pd", "events": ["target_missed", "aborted", "revert_failed"] },
    { "name": "am", "type": "alertmanager", "url": "$am_url" }
  ]
}
JSON
export FAULTLINE_NOTIFY=$T_DIR/notify.json

t_env_start

# ---- 1: target missed --------------------------------------------------------------
t_run "$T_SCENARIOS/demo-rto-miss.json"
[ "$T_RC" = 1 ] || t_fail "demo-rto-miss exited $T_RC, wanted 1"
cat >"$T_DIR/check.py" <<'PY'
import json, sys, jsonschema
log, schemas, want = sys.argv[1], sys.argv[2], sys.argv[3:]
reqs = [json.loads(l) for l in open(log)]
shape = {"/hook": "webhook", "/slack": "slack-incoming-webhook", "/pd": "pagerduty-events-v2"}
seen = {}
for r in reqs:
    kind = next(v for k, v in shape.items() if r["path"].startswith(k))
    schema = json.load(open("%s/%s.schema.json" % (schemas, kind)))
    body = json.loads(r["body"])
    jsonschema.validate(body, schema, format_checker=jsonschema.FormatChecker())
    assert r["ctype"] == "application/json", r["ctype"]
    ev = body.get("event") or body.get("payload", {}).get("class") or body["text"]
    seen.setdefault(kind, []).append((r["code"], ev))
for w in want:
    kind, code, needle = w.split(":", 2)
    assert any(c == int(code) and needle in e for c, e in seen.get(kind, [])), (w, seen)
print(json.dumps(seen))
PY
s="$FAULTLINE_SOURCE_DIR/tests/data/notify"
t_wait_for 20 "pagerduty delivery after two 503s" grep -q '"path": "/pd", "code": 202' "$T_DIR/requests.jsonl"
python3 "$T_DIR/check.py" "$T_DIR/requests.jsonl" "$s" \
	webhook:200:started webhook:200:target_missed slack-incoming-webhook:200:started \
	slack-incoming-webhook:200:missed pagerduty-events-v2:503:target_missed \
	pagerduty-events-v2:202:target_missed >&2 || t_fail "payloads wrong"
[ "$(grep -c '"path": "/pd"' "$T_DIR/requests.jsonl")" = 3 ] || t_fail "pagerduty: wanted 2 refusals and 1 delivery"
grep '"path": "/pd"' "$T_DIR/requests.jsonl" | t_grep -q started && t_fail "pager got 'started', which it did not subscribe to"
# Alertmanager accepted them (its API validates): they are active alerts now.
curl -sf "$am_url/api/v2/alerts" >"$T_DIR/am-alerts.json"
python3 - "$T_DIR/am-alerts.json" "$s/alertmanager-v2-postable-alerts.schema.json" <<'PY' || t_fail "alertmanager alerts wrong"
import json, sys
alerts = json.load(open(sys.argv[1]))
names = {a["labels"]["alertname"] for a in alerts}
assert {"FaultlineDrillStarted", "FaultlineTargetMissed"} <= names, names
a = next(a for a in alerts if a["labels"]["alertname"] == "FaultlineTargetMissed")
assert a["labels"]["scenario"] == "demo-rto-miss" and a["labels"]["severity"] == "warning", a
assert "missed its target" in a["annotations"]["summary"], a
PY
grep -q "not delivered" <<<"$T_ERR" && t_fail "a delivery was reported failed: $T_ERR"

# ---- 2: revert failed (urgent) --------------------------------------------------------
python3 - "$T_SCENARIOS/demo-instance-kill.json" "$T_DIR/revert-fails.json" <<'PY'
import json, sys
sc = json.load(open(sys.argv[1]))
sc["name"] = "notify-revert-fails"
sc["environment"] = sys.argv[1].rsplit("/", 1)[0] + "/env/demo.json"
sc["inventory"] = sys.argv[1].rsplit("/", 1)[0] + "/inventory.json"
sc["faults"] = [{"name": "no-undo", "injector": "exec", "inject": ["true"], "revert": ["false"]}]
sc["detection"] = {"probe": "api", "consecutive_failures": 3}
sc["recovery"] = []
sc["timeout"] = "20s"
json.dump(sc, open(sys.argv[2], "w"))
PY
: >"$T_DIR/requests.jsonl"
T_DB_SAVE=$T_DB; T_DB="$T_DIR/revert.db"
t_run "$T_DIR/revert-fails.json"
T_DB=$T_DB_SAVE
[ "$T_RC" = 3 ] || t_fail "a failed revert exited $T_RC, wanted 3"
t_wait_for 20 "the revert_failed page" grep -q '"path": "/pd", "code": 202' "$T_DIR/requests.jsonl"
python3 "$T_DIR/check.py" "$T_DIR/requests.jsonl" "$s" webhook:200:revert_failed \
	pagerduty-events-v2:202:revert_failed slack-incoming-webhook:200:URGENT >&2 || t_fail "revert_failed payloads wrong"
grep '"path": "/pd"' "$T_DIR/requests.jsonl" | t_grep -q '\\"severity\\": *\\"critical\\"\|"severity":"critical"\|\\"severity\\":\\"critical\\"' ||
	t_fail "revert_failed is not critical for PagerDuty"
grep '"path": "/hook' "$T_DIR/requests.jsonl" | t_grep 'revert_failed' | t_grep -q 'urgent\\": *true\|urgent\\":true' ||
	t_fail "webhook revert_failed not urgent"
curl -sf "$am_url/api/v2/alerts" | t_grep -q FaultlineRevertFailed || t_fail "alertmanager lacks FaultlineRevertFailed"

# ---- 3: a receiver that never answers does not stall the drill ---------------------------
python3 - "$T_DIR/notify.json" "$T_DIR/notify-hang.json" "$rport" <<'PY'
import json, sys
n = json.load(open(sys.argv[1]))
n["timeout"] = "500ms"; n["attempts"] = 2
n["channels"] = [{"name": "slow", "type": "alertmanager", "url": "http://127.0.0.1:%s/hang" % sys.argv[3]}]
json.dump(n, open(sys.argv[2], "w"))
PY
# Given as --notify while FAULTLINE_NOTIFY still names the working channels:
# the option wins, so none of those hears about this drill.
: >"$T_DIR/requests.jsonl"
start=$(date +%s%N)
t_run "$T_SCENARIOS/demo-instance-kill.json" --notify "$T_DIR/notify-hang.json"
took_ms=$((($(date +%s%N) - start) / 1000000))
[ "$T_RC" = 0 ] || t_fail "drill with a hanging receiver exited $T_RC"
[ -s "$T_DIR/requests.jsonl" ] && t_fail "--notify did not win over FAULTLINE_NOTIFY: $(cat "$T_DIR/requests.jsonl")"
grep -q "^notify: channel 'slow': started not delivered: Timeout was reached after 2 attempts$" <<<"$T_ERR" ||
	t_fail "no failure line for the hanging channel: $T_ERR"
grep -q "/hang" <<<"$T_ERR$T_OUT" && t_fail "the failure line shows the URL"
rto=$(t_run_field rto_ms)
t_check 'rto < 2000' "RTO disturbed by a hanging notification channel" rto="$rto"
t_log "drill with a hanging channel took ${took_ms} ms end to end"

# ---- secrets ---------------------------------------------------------------------------------
"$FAULTLINE_BIN" report --db "$T_DB" -o "$T_DIR/report.html" >/dev/null
for f in "$T_DIR/run.out" "$T_DIR/run.err" "$T_DB" "$T_DIR/revert.db" "$T_DIR/report.html"; do
	for sec in "$token" "$slack_token" "$routing_key"; do
		! grep -qa -- "$sec" "$f" || t_fail "secret found in $f"
	done
done
t_log "pass: 4 channels, retries, revert_failed, bounded delivery, no secrets"
