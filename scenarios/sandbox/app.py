#!/usr/bin/python3
"""app.py: the sandbox's reference application service (a fixture, not the product).

One instance runs in each database zone. It takes writes over HTTP and stores
them in PostgreSQL through HAProxy's read-write frontend, answering only
after the transaction committed, so an acknowledged write is a durable one as
far as the database tier promised:

  POST /write          body {"seq": N, "tag": T}: INSERT + COMMIT, and only
                       then 201 {"id": id, "seq": N}; 503 when the database
                       is unreachable or the write failed before COMMIT; 504
                       when the connection broke during COMMIT (the outcome
                       is unknown: the write may be durable)
  GET  /writes?tag=T   {"seqs": [...]} ascending, the sequence numbers stored
                       under tag T (no tag: all of them)
  GET  /health         200 {"ok": true} when the database answers a SELECT 1
                       (503 otherwise): HAProxy routes around an instance
                       whose path to the database is broken

One short connection per request: a failover moves HAProxy to the new
primary, and a fresh connection follows it without reconnect logic here.
Runs under /usr/bin/python3 with python3-psycopg2 (Debian packages).
"""
import argparse
import json
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

SCHEMA = """
CREATE TABLE IF NOT EXISTS app_writes (
    id BIGSERIAL PRIMARY KEY,
    seq BIGINT NOT NULL,
    tag TEXT NOT NULL DEFAULT '',
    at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS app_writes_tag_seq ON app_writes (tag, seq);
"""


def log(msg):
    sys.stderr.write("%s app: %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), msg))
    sys.stderr.flush()



class CommitUnknown(Exception):
    """COMMIT was sent and the connection broke before its answer."""

class Store:
    def __init__(self, dsn, timeout_s):
        self.dsn = dsn
        self.timeout_s = timeout_s

    def connect(self):
        # connect_timeout bounds a hung connect; statement_timeout bounds a
        # commit that waits forever for a synchronous standby that is gone.
        return psycopg2.connect(self.dsn, connect_timeout=max(1, int(self.timeout_s)),
                                options="-c statement_timeout=%d" % int(self.timeout_s * 1000))

    def ensure_schema(self, deadline_s):
        end = time.monotonic() + deadline_s
        while True:
            try:
                conn = self.connect()
                try:
                    with conn, conn.cursor() as cur:
                        cur.execute(SCHEMA)
                finally:
                    conn.close()
                return True
            except psycopg2.Error as e:
                if time.monotonic() >= end:
                    log("schema not created: %s" % str(e).strip())
                    return False
                time.sleep(0.2)

    def write(self, seq, tag):
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("INSERT INTO app_writes (seq, tag) VALUES (%s, %s) RETURNING id",
                            (seq, tag))
                row = cur.fetchone()
            try:
                conn.commit()
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
                # The connection broke while COMMIT was in flight: the
                # server may have made it durable. Saying "failed" here
                # would be a lie whenever it did (faultline counts those).
                raise CommitUnknown(str(e)) from e
            return row[0]
        finally:
            conn.close()

    def seqs(self, tag):
        conn = self.connect()
        try:
            with conn, conn.cursor() as cur:
                if tag is None:
                    cur.execute("SELECT DISTINCT seq FROM app_writes ORDER BY seq")
                else:
                    cur.execute("SELECT DISTINCT seq FROM app_writes WHERE tag = %s ORDER BY seq",
                                (tag,))
                return [r[0] for r in cur.fetchall()]
        finally:
            conn.close()

    def healthy(self):
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                return cur.fetchone()[0] == 1
        finally:
            conn.close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        store = self.server.store
        try:
            if url.path == "/health":
                ok = store.healthy()
                self.reply_json(200 if ok else 503, {"ok": ok})
            elif url.path == "/writes":
                tags = urllib.parse.parse_qs(url.query).get("tag")
                self.reply_json(200, {"seqs": store.seqs(tags[0] if tags else None)})
            else:
                self.reply_json(404, {"error": "not found"})
        except psycopg2.Error as e:
            self.reply_json(503, {"error": str(e).strip().splitlines()[0] if str(e).strip() else "database error"})

    def do_POST(self):
        url = urllib.parse.urlparse(self.path)
        if url.path != "/write":
            self.reply_json(404, {"error": "not found"})
            return
        try:
            n = int(self.headers.get("Content-Length") or 0)
            req = json.loads(self.rfile.read(n) or b"{}")
            seq = req["seq"]
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise ValueError("seq must be an integer")
            tag = req.get("tag")
            if tag is None:
                tag = urllib.parse.parse_qs(url.query).get("tag", [""])[0]
            tag = str(tag)
        except (ValueError, KeyError, TypeError) as e:
            self.reply_json(400, {"error": "bad request: %s" % e})
            return
        try:
            row_id = self.server.store.write(seq, tag)
        except CommitUnknown as e:
            log("write seq=%d: commit outcome unknown: %s" % (seq, str(e).strip()))
            self.reply_json(504, {"error": "commit outcome unknown"})
            return
        except psycopg2.Error as e:
            log("write seq=%d: %s" % (seq, str(e).strip()))
            self.reply_json(503, {"error": "not committed"})
            return
        self.reply_json(201, {"id": row_id, "seq": seq})


def main():
    ap = argparse.ArgumentParser(description="faultline sandbox reference application")
    ap.add_argument("--listen", required=True, help="address to listen on")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dsn", required=True, help="libpq conninfo (through HAProxy)")
    ap.add_argument("--timeout", type=float, default=2.0, help="database timeout, seconds")
    ap.add_argument("--schema-deadline", type=float, default=30.0)
    args = ap.parse_args()

    store = Store(args.dsn, args.timeout)
    # The schema is the app's own; create it before answering health checks.
    if not store.ensure_schema(args.schema_deadline):
        return 1
    srv = ThreadingHTTPServer((args.listen, args.port), Handler)
    srv.daemon_threads = True
    srv.store = store
    log("listening on %s:%d" % (args.listen, args.port))
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
