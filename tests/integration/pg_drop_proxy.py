#!/usr/bin/env python3
"""pg_drop_proxy: a loopback TCP proxy in front of PostgreSQL that cuts the
client's connection around one COMMIT of each chosen kind of transaction
(test_pgstore_commit_lost.sh).

usage: pg_drop_proxy.py PORT_FILE SERVER_PORT MODE PATTERN...

MODE before: the COMMIT is never sent (the server rolls the transaction
back); after: the COMMIT is sent, the server's answer swallowed, and the
connection closed (the transaction IS committed, the client cannot know).
Each PATTERN (a piece of SQL text or a bound value seen between BEGIN
and COMMIT) causes
one cut, the first time a transaction holding it commits. Writes the
listening port to PORT_FILE, and one line per cut to stdout. Plain
protocol only (the client connects with sslmode=disable and
gssencmode=disable). The test kills it; it stops by itself after 300 s.
"""
import os
import socket
import struct
import sys
import threading
import time

port_file, server_port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
pending = list(sys.argv[4:])
lock = threading.Lock()


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise EOFError
        b += chunk
    return b


def close(*socks):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


def server_to_client(srv, cli, state):
    try:
        while True:
            head = recv_exact(srv, 5)
            body = recv_exact(srv, struct.unpack("!I", head[1:])[0] - 4)
            if state["swallow"]:
                if head[:1] == b"Z":  # ReadyForQuery: the COMMIT's answer is complete
                    close(cli, srv)
                    return
                continue
            cli.sendall(head + body)
    except (EOFError, OSError):
        close(cli, srv)


def cut_for(tx_sql):
    with lock:
        for p in pending:
            if p in tx_sql:
                pending.remove(p)
                return p
    return None


def client_to_server(cli, srv, state):
    tx_sql = ""
    try:
        n = struct.unpack("!I", recv_exact(cli, 4))[0]  # the startup packet
        srv.sendall(struct.pack("!I", n) + recv_exact(cli, n - 4))
        while True:
            head = recv_exact(cli, 5)
            body = recv_exact(cli, struct.unpack("!I", head[1:])[0] - 4)
            kind = head[:1]
            text = body.decode("utf-8", "replace")
            if kind in (b"P", b"B", b"Q"):  # statements and their bound values
                if "BEGIN" in text:
                    tx_sql = ""
                tx_sql += text
            # COMMIT as a simple query, or parsed (unnamed statement) for the
            # extended protocol: the cut covers the messages up to its Sync.
            if kind in (b"P", b"Q") and text.lstrip("\x00").startswith("COMMIT"):
                p = cut_for(tx_sql)
                if p is not None:
                    print(f"cut {mode} COMMIT of a transaction with {p!r}", flush=True)
                    if mode == "before":
                        close(cli, srv)
                        return
                    state["swallow"] = True
            srv.sendall(head + body)
    except (EOFError, OSError):
        close(cli, srv)


def serve(conn):
    srv = socket.create_connection(("127.0.0.1", server_port))
    # Messages are forwarded one by one: without this, Nagle's algorithm and
    # delayed ACKs cost 40 ms a round trip.
    for s in (conn, srv):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    state = {"swallow": False}
    threading.Thread(target=server_to_client, args=(srv, conn, state), daemon=True).start()
    client_to_server(conn, srv, state)


def main():
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.rename(tmp, port_file)
    # The test kills it when it ends; a bound all the same.
    threading.Timer(300, lambda: os._exit(0)).start()
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
