#!/usr/bin/env python3
"""tcp_tamper.py - a TCP proxy between a client and a master, for tests.

usage: tcp_tamper.py MODE TARGET_PORT RECORD_DIR

Listens on 127.0.0.1, port 0, says "listening on TCP 127.0.0.1:PORT" and
relays every connection to 127.0.0.1:TARGET_PORT, appending what goes each
way to RECORD_DIR/c2m and RECORD_DIR/m2c (all connections, in order).
MODE: pass; m2c (the first connection only: one bit flipped in the master's
second frame, the first after WELCOME, just past its length bytes); c2m
(likewise in the client's second frame, the first after HELLO). Each
tampering is noted in RECORD_DIR/tampered ("c2m OFFSET", "m2c OFFSET").
"""
import os
import socket
import sys
import threading

mode, target, rec = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
conn_count = 0


def relay(src, dst, name, tamper):
    head = b""  # the first 4 bytes: the first frame's length
    at = 0  # bytes relayed so far
    target_at = None
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if tamper and target_at is None:
                head += data[: max(0, 4 - len(head))]
                if len(head) >= 4:
                    first = int.from_bytes(head[:4], "big")
                    target_at = 4 + first + 4  # past the second frame's length
            if tamper and target_at is not None and at <= target_at < at + len(data):
                b = bytearray(data)
                b[target_at - at] ^= 0x01
                data = bytes(b)
                with open(os.path.join(rec, "tampered"), "a") as f:
                    f.write("%s %d\n" % (name, target_at))
                tamper = False
            at += len(data)
            with lock:
                with open(os.path.join(rec, name), "ab") as f:
                    f.write(data)
            dst.sendall(data)
    except OSError:
        pass
    for s in (dst, src):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(c):
    global conn_count
    with lock:
        conn_count += 1
        first = conn_count == 1
    try:
        m = socket.create_connection(("127.0.0.1", target))
    except OSError:
        c.close()
        return
    threading.Thread(target=relay, args=(c, m, "c2m", first and mode == "c2m"), daemon=True).start()
    relay(m, c, "m2c", first and mode == "m2c")


ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(16)
print("listening on TCP 127.0.0.1:%d" % ls.getsockname()[1], flush=True)
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
