#!/usr/bin/env python3
"""http_tool.py - what tests/http.t sends to serveur_maitre --http that
curl would not: raw bytes, slow and idle connections.

  http_tool.py raw PORT TEXT      send TEXT (Python escapes: \\r\\n, \\x00),
                                  print the status line of the answer
  http_tool.py big PORT N         a request head of N bytes, status line
  http_tool.py idle PORT N SECS   N connections that send "GET / HT" and
                                  nothing more; after SECS, print how many
                                  the server has closed (read gives EOF)
  http_tool.py unread PORT PATH N N connections that ask for PATH and never
                                  read; print "sent" once all are sent,
                                  then hold them until stdin closes
"""
import socket
import sys
import time


def connect(port):
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    return s


def status_line(s):
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data.split(b"\r\n", 1)[0].decode("latin-1") or "(closed)"


def main():
    cmd, port = sys.argv[1], sys.argv[2]
    if cmd == "raw":
        text = sys.argv[3].encode("latin-1").decode("unicode_escape").encode("latin-1")
        s = connect(port)
        s.sendall(text)
        print(status_line(s))
    elif cmd == "big":
        n = int(sys.argv[3])
        head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: "
        s = connect(port)
        try:
            s.sendall(head + b"a" * (n - len(head) - 4) + b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        print(status_line(s))
    elif cmd == "idle":
        n, secs = int(sys.argv[3]), float(sys.argv[4])
        conns = []
        for _ in range(n):
            s = connect(port)
            s.sendall(b"GET / HT")
            conns.append(s)
        time.sleep(secs)
        closed = 0
        for s in conns:
            s.settimeout(0.5)
            try:
                if s.recv(4096) == b"":
                    closed += 1
            except socket.timeout:
                pass
            except ConnectionResetError:
                closed += 1
        print(closed)
    elif cmd == "unread":
        path, n = sys.argv[3], int(sys.argv[4])
        conns = []
        for _ in range(n):
            s = connect(port)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode())
            conns.append(s)
        print("sent", flush=True)
        sys.stdin.read()
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
