#!/usr/bin/python3
"""Demo service for faultline drills: a tiny order API over one SQLite file.

It is a test fixture, not the product, so it stays small and obviously
correct (stdlib only):

  GET  /health          200 "ok" when the database passes PRAGMA quick_check
                        and the catalog reads back as written, 503 "corrupt"
                        otherwise (result cached for <= 50 ms so a 10 ms
                        probe does not run a check per request); with
                        --cert FILE, 503 "certificate expired" while the
                        wall clock is past the not-after time (Unix seconds)
                        in FILE: what a clock-skew drill trips over
  POST /write           body {"seq": N, "tag": T}: verify the catalog, INSERT
                        + COMMIT, and only then 201 {"id": rowid, "seq": N}
  GET  /writes?tag=T    {"seqs": [...]} ascending, the sequence numbers stored
                        under tag T (no tag: all of them)

Every request opens its own connection: a connection's page cache could hide
damage a drill wrote into the file behind its back, and the health answer
must reflect the bytes on disk.

The catalog is what a data-corruption drill damages. A new database creates
it first, so its root is page 2 (bytes 4096-8191 at the default 4096-byte
page size), and nothing ever writes it again. It used to be the writes
table's root there: a write in flight when the page was zeroed committed its
cached copy of the page over the damage, and about one drill in seven saw no
outage. Every health check and every write reads the whole catalog, so the
damage is seen at once and stays until the restore.
"""

import argparse
import json
import os
import signal
import sqlite3
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HEALTH_CACHE_S = 0.050
BUSY_TIMEOUT_S = 2.0
MAX_BODY = 64 * 1024

# Created first in a new database (root page 2), filled once, never written.
CATALOG_SCHEMA = """
CREATE TABLE IF NOT EXISTS catalog (
    id   INTEGER PRIMARY KEY,
    item BLOB NOT NULL
);
"""
CATALOG_ROWS = 24
CATALOG_ITEM = 600


def catalog_item(i):
    return (b"item-%04d:" % i) * (CATALOG_ITEM // 10)


CATALOG_BYTES = sum(len(catalog_item(i)) for i in range(CATALOG_ROWS))

SCHEMA = """
CREATE TABLE IF NOT EXISTS writes (
    id  INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    tag TEXT NOT NULL DEFAULT '',
    at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS writes_tag_seq ON writes (tag, seq);
"""


def log(msg):
    sys.stderr.write("%s service[%d]: %s\n"
                     % (time.strftime("%Y-%m-%dT%H:%M:%S"), os.getpid(), msg))
    sys.stderr.flush()


class Store:
    """The database file plus the cached health verdict."""

    def __init__(self, path):
        self.path = path
        self.write_lock = threading.Lock()
        self.health_lock = threading.Lock()
        self.health_at = 0.0
        self.health_ok = False

    def connect(self):
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so "answer
        # only after commit" is visible in the code.
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def init_schema(self):
        conn = self.connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            new = conn.execute("SELECT count(*) FROM sqlite_schema "
                               "WHERE name = 'catalog'").fetchone()[0] == 0
            conn.execute(CATALOG_SCHEMA)
            if new:
                conn.executemany("INSERT INTO catalog (id, item) VALUES (?, ?)",
                                 ((i, catalog_item(i)) for i in range(CATALOG_ROWS)))
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute("COMMIT")
        finally:
            conn.close()

    @staticmethod
    def check_catalog(conn):
        """Raises sqlite3.DatabaseError unless every catalog row reads back
        as written (a zeroed page raises on its own: "malformed")."""
        n, size = conn.execute("SELECT count(*), total(length(item)) FROM catalog").fetchone()
        if n != CATALOG_ROWS or int(size) != CATALOG_BYTES:
            raise sqlite3.DatabaseError("catalog damaged: %d rows, %d bytes" % (n, int(size)))

    def healthy(self):
        with self.health_lock:
            now = time.monotonic()
            if now - self.health_at <= HEALTH_CACHE_S:
                return self.health_ok
            ok = False
            conn = None
            try:
                conn = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(self.path),
                                       uri=True, timeout=BUSY_TIMEOUT_S)
                rows = conn.execute("PRAGMA quick_check").fetchall()
                if rows != [("ok",)]:
                    raise sqlite3.DatabaseError("quick_check: %s" % rows[:3])
                self.check_catalog(conn)
                ok = True
            except sqlite3.Error as e:
                log("health: %s" % e)
            finally:
                if conn is not None:
                    conn.close()
            # Cache from the end of the check: a slow check must not make the
            # next request run another one at once.
            self.health_at = time.monotonic()
            self.health_ok = ok
            return ok

    def write(self, seq, tag):
        with self.write_lock:
            conn = self.connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                # Read, never written: damage to it fails the write without
                # this transaction rewriting the damaged page.
                self.check_catalog(conn)
                cur = conn.execute("INSERT INTO writes (seq, tag, at) VALUES (?, ?, ?)",
                                   (seq, tag, time.time()))
                rowid = cur.lastrowid
                conn.execute("COMMIT")
                return rowid
            finally:
                conn.close()

    def seqs(self, tag):
        conn = self.connect()
        try:
            if tag is None:
                rows = conn.execute("SELECT DISTINCT seq FROM writes ORDER BY seq")
            else:
                rows = conn.execute("SELECT DISTINCT seq FROM writes WHERE tag = ? ORDER BY seq",
                                    (tag,))
            return [r[0] for r in rows]
        finally:
            conn.close()


class Handler(BaseHTTPRequestHandler):
    server_version = "faultline-demo/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        # Only errors are logged: 50 probe requests a second would bury them.
        pass

    def reply(self, status, body, ctype="text/plain"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def reply_json(self, status, obj):
        self.reply(status, json.dumps(obj), "application/json")

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        store = self.server.store
        if url.path == "/health":
            if cert_expired(self.server.cert):
                self.reply(503, "certificate expired\n")
            elif store.healthy():
                self.reply(200, "ok\n")
            else:
                self.reply(503, "corrupt\n")
        elif url.path == "/writes":
            tags = urllib.parse.parse_qs(url.query).get("tag")
            try:
                seqs = store.seqs(tags[0] if tags else None)
            except sqlite3.Error as e:
                log("read: %s" % e)
                self.reply(500, "read failed: %s\n" % e)
                return
            self.reply_json(200, {"seqs": seqs})
        else:
            self.reply(404, "not found\n")

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/write":
            self.reply(404, "not found\n")
            return
        try:
            n = int(self.headers.get("Content-Length", "0"))
            if n < 0 or n > MAX_BODY:
                raise ValueError("bad length")
            req = json.loads(self.rfile.read(n) or b"{}")
            seq = req["seq"]
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise ValueError("seq must be an integer")
            tag = req.get("tag")
            if tag is None:
                tag = urllib.parse.parse_qs(url.query).get("tag", [""])[0]
            tag = str(tag)
        except (ValueError, KeyError, TypeError) as e:
            self.reply(400, "bad request: %s\n" % e)
            return
        try:
            rowid = self.server.store.write(seq, tag)
        except sqlite3.Error as e:
            log("write seq=%d: %s" % (seq, e))
            self.reply(500, "write failed: %s\n" % e)
            return
        self.reply_json(201, {"id": rowid, "seq": seq})


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # A client that gave up (a probe past its timeout) closed the
        # connection before the answer: not the service's error, and a
        # traceback each would flood the log while a loaded machine makes
        # answers late.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def cert_expired(path):
    """True while time.time() (the wall clock, which libfaketime skews) is
    past the not-after time in path. Read per request: a renewal shows at
    once. An unreadable file counts as expired, as a TLS stack would."""
    if not path:
        return False
    try:
        with open(path) as f:
            not_after = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return True
    return time.time() > not_after


def write_pidfile(path):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % os.getpid())
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--pidfile")
    ap.add_argument("--log")
    ap.add_argument("--cert", help="file holding the certificate's not-after time (Unix seconds)")
    args = ap.parse_args()

    if args.log:
        fd = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 2)
        os.close(fd)

    store = Store(args.db)
    try:
        store.init_schema()
    except sqlite3.Error as e:
        # A damaged file is the drill's business: serve 503 on /health
        # rather than refusing to start, so recovery can be observed.
        log("schema: %s" % e)

    server = Server(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.store = store
    server.cert = args.cert

    def on_term(signum, frame):
        # shutdown() blocks until serve_forever returns: call it elsewhere.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    if args.pidfile:
        write_pidfile(args.pidfile)
    log("listening on 127.0.0.1:%d, database %s" % (args.port, args.db))
    server.serve_forever(poll_interval=0.05)
    server.server_close()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
