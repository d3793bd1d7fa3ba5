#!/usr/bin/env python3
"""A loopback stand-in for AWS endpoints, for faultline's AWS tests.

A test fixture, not product code. Listens on 127.0.0.1 on a free port and
writes the port to PORTFILE (written then renamed). Every request is
appended, as one JSON line, to REQUESTS (method, path, headers, body): the
signature test compares what faultline and the AWS CLI sent.

Modes (the answer given):
  capture           200 with an empty XML document (or {} for JSON requests)
  contract DIR      the response document of the AWS API reference for the
                    operation, read from DIR (tests/data/aws/): for a Query
                    call DIR/<Action>.xml, for a REST-JSON call
                    DIR/<Operation>.json, the operation found from method
                    and path (ROUTES); DIR/<Operation>.1.json, .2.json, ...
                    are its answers in order, the last one repeated. A
                    first line "# HTTP 404 ..." answers with that status
                    (an error document); contract tests
  throttle N        N answers "400 Throttling" (the Query error document),
                    then capture's answer
  status CODE       always answer CODE with an AWS error document
                    (AccessDenied for 403, InvalidInstanceID.NotFound for
                    400, InternalError for 5xx)
  hang              read the request, never answer

Usage: aws_fixture.py PORTFILE REQUESTS MODE [ARG]
"""
import http.server
import json
import os
import re
import sys
import threading
import time

PORTFILE, REQUESTS, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
ARG = sys.argv[4] if len(sys.argv) > 4 else None
LOCK = threading.Lock()
STATE = {"throttled": 0}
# REST-JSON operations: (method, path pattern, operation), first match wins.
ROUTES = [
    ("GET", r"^/experimentTemplates/[^/]+$", "GetExperimentTemplate"),
    ("POST", r"^/experiments$", "StartExperiment"),
    ("GET", r"^/experiments$", "ListExperiments"),
    ("GET", r"^/experiments/[^/]+$", "GetExperiment"),
    ("DELETE", r"^/experiments/[^/]+$", "StopExperiment"),
    ("GET", r"^/resources/[^/]+/recovery-points/?$", "ListRecoveryPointsByResource"),
    ("GET", r"^/backup-vaults/[^/]+/recovery-points/[^/]+/restore-metadata$",
     "GetRecoveryPointRestoreMetadata"),
    ("GET", r"^/tags/[^/]+/?$", "ListTags"),
    ("PUT", r"^/restore-jobs/?$", "StartRestoreJob"),
    ("GET", r"^/restore-jobs/[^/]+$", "DescribeRestoreJob"),
]

ERROR_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
    "<Message>{msg}</Message></Error><RequestId>fixture</RequestId></ErrorResponse>"
)
EC2_ERROR_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Response><Errors><Error><Code>{code}</Code><Message>{msg}</Message></Error>"
    "</Errors><RequestID>fixture</RequestID></Response>"
)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one write: split small writes meet the
    # client's delayed ACK (Nagle) and cost 40 ms each, which would swamp
    # the bench's figure for the client.
    wbufsize = 1 << 16

    def log_message(self, *args):
        pass

    def answer(self, code, body, ctype):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(n).decode() if n else ""
        rec = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body,
        }
        with LOCK:
            with open(REQUESTS, "a") as f:
                f.write(json.dumps(rec) + "\n")
        is_json = "json" in self.headers.get("Content-Type", "") or not body.startswith("Action=")
        action = None
        if body.startswith("Action="):
            action = body.split("&")[0].split("=", 1)[1]
        if MODE == "hang":
            time.sleep(3600)
            return
        if MODE == "throttle":
            with LOCK:
                STATE["throttled"] += 1
                left = STATE["throttled"] <= int(ARG)
            if left:
                fmt = EC2_ERROR_XML if "/ec2/" in rec["headers"].get("authorization", "") else ERROR_XML
                return self.answer(400, fmt.format(code="Throttling", msg="Rate exceeded"), "text/xml")
        if MODE == "status":
            code = int(ARG)
            names = {403: ("AccessDenied", "User is not authorized to perform this action"),
                     400: ("InvalidInstanceID.NotFound", "The instance ID 'i-0' does not exist")}
            c, m = names.get(code, ("InternalError", "An internal error has occurred"))
            return self.answer(code, EC2_ERROR_XML.format(code=c, msg=m), "text/xml")
        if MODE == "contract":
            path = self.contract_file(action)
            if not path:
                return self.answer(404, json.dumps({"message": "no contract file"}),
                                   "application/json")
            with open(path) as f:
                text = f.read()
            # The first line of a contract file names its reference page; the
            # document follows it.
            status = 200
            if text.startswith(("#", "<!--")):
                first, text = text.split("\n", 1)
                if first.startswith("# HTTP "):
                    status = int(first.split()[2])
            return self.answer(status, text, "text/xml" if action else "application/json")
        if is_json:
            return self.answer(200, "{}", "application/json")
        return self.answer(200, '<?xml version="1.0"?>\n<%sResponse/>' % (action or "Empty"), "text/xml")

    def contract_file(self, action):
        if action:
            p = os.path.join(ARG, action + ".xml")
            return p if os.path.exists(p) else None
        path = self.path.split("?")[0]
        op = next((o for m, r, o in ROUTES if m == self.command and re.match(r, path)), None)
        if not op:
            return None
        with LOCK:
            n = STATE.setdefault(op, 0) + 1
            STATE[op] = n
        for cand in ["%s.%d.json" % (op, k) for k in range(n, 0, -1)] + [op + ".json"]:
            if os.path.exists(os.path.join(ARG, cand)):
                return os.path.join(ARG, cand)
        return None

    do_GET = do_POST = do_PUT = do_DELETE = handle_any


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = PORTFILE + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, PORTFILE)
    server.serve_forever()


if __name__ == "__main__":
    main()
