#!/usr/bin/env python3
"""frame_tool.py - a scripted, unkeyed client of the master, frame by frame
(doc/protocol.md 2.3 and 2.6), for tests that must send what the real
client never would: a bad ATTACH, a wrong 'have', a SUBMIT to someone
else's batch, a connection dropped at a chosen point.

  frame_tool.py PORT STEP...

Steps, in order:
  hello[:FLAGS]          HELLO (FLAGS: 2 = FRAME_FLAG_RESUME, the default)
  attach:MODE[:ID[:HAVE]] ATTACH (MODE new|resume|list|follow; ID in hex)
  submit:SEQ:TEXT        SUBMIT
  end:COUNT              END
  ack:COUNT  cancel  detach
  options:HEX            OPTIONS (type 23), its fields as hex (key u8, len u16, value...)
  read:N                 read until N more frames arrived (or the master closed)
  until:TYPE             read until a frame of TYPE (e.g. BYE, BATCH)
  close                  close at once (a reset if unread data is pending)
  wait:PATH              wait (60 s at most) until the file PATH exists: the
                         test's cue between two steps
Every frame received is printed on stdout, one line each:
  BATCH id=... flags=... accepted=... total=... done=...
  RESULT seq=... host=... status=... exit=... stdout=<repr>
  ACCEPTED count=...   NOTICE text   ERROR text   BYE   BATCH_INFO ...   COMMAND index=.. seq=.. line
and "CLOSED" when the master closes the connection.
"""
import os
import socket
import struct
import sys
import time

TYPES = {1: "HELLO", 2: "WELCOME", 3: "SUBMIT", 4: "END", 5: "RESULT", 6: "NOTICE", 7: "ERROR", 8: "BYE",
         9: "READY", 10: "ATTACH", 11: "BATCH", 12: "ACCEPTED", 13: "ACK", 14: "CANCEL", 15: "DETACH",
         16: "BATCH_INFO", 17: "COMMAND"}
MODES = {"new": 0, "resume": 1, "list": 2, "follow": 3}


def frame(ftype, fields=b""):
    return struct.pack(">IB", len(fields) + 1, ftype) + fields


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""
        self.closed = False

    def send(self, data):
        self.s.sendall(data)

    def next_frame(self):
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    t, f = self.buf[4], self.buf[5:4 + n]
                    self.buf = self.buf[4 + n:]
                    return t, f
            try:
                got = self.s.recv(1 << 20)
            except (ConnectionResetError, socket.timeout):
                got = b""
            if not got:
                self.closed = True
                return None, None
            self.buf += got


def describe(t, f):
    name = TYPES.get(t, str(t))
    if t == 11:
        bid, flags, acc, tot, done = struct.unpack(">QBIII", f[:21])
        return "BATCH id=%016x flags=%d accepted=%d total=%d done=%d" % (bid, flags, acc, tot, done)
    if t == 12:
        return "ACCEPTED count=%d" % struct.unpack(">I", f[:4])
    if t in (6, 7):
        n = struct.unpack(">H", f[:2])[0]
        return "%s %s" % (name, f[2:2 + n].decode(errors="replace"))
    if t == 5:
        seq, hl = struct.unpack(">IH", f[:6])
        host = f[6:6 + hl].decode(errors="replace")
        body = f[6 + hl:]
        status = body[0]
        exit_code = struct.unpack(">i", body[1:5])[0]
        # status u8, exit i32, signal u8, flags u8, start u64, duration u64, stdout_len u32, stdout...
        off = 1 + 4 + 1 + 1 + 8 + 8
        ol = struct.unpack(">I", body[off:off + 4])[0]
        out = body[off + 4:off + 4 + ol]
        return "RESULT seq=%d host=%s status=%d exit=%d stdout=%r" % (seq, host, status, exit_code, out)
    if t == 16:
        bid, created, state, sub, done, run, nl = struct.unpack(">QQBIIIH", f[:31])
        return "BATCH_INFO id=%016x state=%d submitted=%d done=%d running=%d name=%s" % (
            bid, state, sub, done, run, f[31:31 + nl].decode(errors="replace"))
    if t == 17:
        index, seq = struct.unpack(">II", f[:8])
        return "COMMAND index=%d seq=%d %s" % (index, seq, f[8:].decode(errors="replace"))
    return name


F_NAMES = {1: "HELLO", 2: "WELCOME", 3: "SUBMIT", 4: "END", 5: "RESULT", 6: "NOTICE", 7: "ERROR", 8: "BYE",
           9: "READY", 10: "ATTACH", 11: "BATCH", 12: "ACCEPTED", 13: "ACK", 14: "CANCEL", 15: "DETACH",
           16: "BATCH_INFO", 17: "COMMAND", 18: "STARTED", 19: "STATUS", 20: "STATUS_SLAVE", 21: "STATUS_BATCH",
           22: "STATUS_JOB", 23: "OPTIONS", 24: "OUTPUT"}


def frame_fields(t, f):
    """A clear frame's main fields (type and fields, less the length), named
    as the dissector's (tools/wireshark/smp.lua, less "smp.") and the
    --trace keys, decoded as lib/proto.c does (tests/dissector.t)."""
    d = {"type": F_NAMES.get(t, str(t)), "frame_len": len(f) + 1, "size": len(f) + 5}
    if t == 1:
        d["magic"], d["version"], d["flags"], d["timeout"], d["retries"] = struct.unpack(">IHHII", f[:16])
        d["nonce"] = f[16:48].hex()
    elif t == 2:
        d["version"], d["slaves"], d["alive"], d["slots"], d["flags"] = struct.unpack(">HHHIH", f[:12])
        d["nonce"] = f[12:44].hex()
    elif t in (3, 17):
        at = 4 if t == 3 else 8
        if t == 17:
            d["index"] = struct.unpack(">I", f[:4])[0]
        d["seq"] = struct.unpack(">I", f[at - 4:at])[0]
        d["len"] = len(f) - at
        d["command" if t == 3 else "line"] = f[at:].decode()
    elif t in (4, 12, 13):
        d["count"] = struct.unpack(">I", f[:4])[0]
    elif t == 5:
        d["seq"], hl = struct.unpack(">IH", f[:6])
        d["host"] = f[6:6 + hl].decode()
        b = f[6 + hl:]
        d["exit_code"], d["term_signal"], d["result_flags"], d["start_ms"], d["duration_us"] = \
            struct.unpack(">iBBQQ", b[1:23])
        d["status"] = ("EXITED", "SIGNALED", "NOT_STARTED", "REJECTED", "TIMED_OUT", "NO_SLAVE", "CANCELLED")[b[0]]
        at = 23
        for k in ("stdout", "stderr", "message"):
            n = struct.unpack(">I", b[at:at + 4])[0]
            d[k + "_len"] = n
            if n:
                d[k + "_data" if k != "message" else k] = b[at + 4:at + 4 + n].decode()
            at += 4 + n
    elif t in (6, 7):
        n = struct.unpack(">H", f[:2])[0]
        d["len"], d["text"] = n, f[2:2 + n].decode()
    elif t == 10:
        _, d["batch"], d["have"] = struct.unpack(">BQI", f[:13])
    elif t == 11:
        d["batch"], d["flags"], d["accepted"], d["total"], d["done"] = struct.unpack(">QBIII", f[:21])
    elif t == 18:
        d["seq"], d["attempt"], hl = struct.unpack(">IHH", f[:8])
        d["host"] = f[8:8 + hl].decode()
    elif t == 20:
        st, d["slots"], d["running"], d["dispatched"], d["done"], d["failed"], d["sent"], d["retransmitted"], \
            d["rtt_us"], d["last_heard_ms"], d["load"], nl = struct.unpack(">BHIIQQQQIQHH", f[:59])
        d["state"] = {1: "UP", 2: "SUSPECT", 3: "DEAD", 4: "RETIRED"}.get(st, str(st))
        d["name"] = f[59:59 + nl].decode()
        if len(f) >= 59 + nl + 15:  # a master with load-aware dispatch
            d["mem_free"], d["cpus"], d["weight_milli"], d["slave_held"] = struct.unpack(">QHIB", f[59 + nl:59 + nl + 15])
    elif t == 24:
        d["seq"], d["attempt"], d["stream"], d["offset"] = struct.unpack(">IHBI", f[:11])
        d["len"] = len(f) - 11
    return d


def main():
    port = int(sys.argv[1])
    c = Conn(port)
    for step in sys.argv[2:]:
        parts = step.split(":", 2) if step.startswith("submit:") else step.split(":")
        op = parts[0]
        if op == "hello":
            flags = int(parts[1]) if len(parts) > 1 else 2
            c.send(frame(1, struct.pack(">IHHII", 0x534D5043, 4, flags, 0, 0) + b"\x01" * 32))
        elif op == "attach":
            mode = MODES[parts[1]]
            bid = int(parts[2], 16) if len(parts) > 2 else 0
            have = int(parts[3]) if len(parts) > 3 else 0
            c.send(frame(10, struct.pack(">BQI", mode, bid, have)))
        elif op == "submit":
            c.send(frame(3, struct.pack(">I", int(parts[1])) + parts[2].encode()))
        elif op == "end":
            c.send(frame(4, struct.pack(">I", int(parts[1]))))
        elif op == "ack":
            c.send(frame(13, struct.pack(">I", int(parts[1]))))
        elif op == "cancel":
            c.send(frame(14))
        elif op == "detach":
            c.send(frame(15))
        elif op == "options":
            c.send(frame(23, bytes.fromhex(parts[1])))
        elif op in ("read", "until"):
            want = int(parts[1]) if op == "read" else None
            got = 0
            while True:
                t, f = c.next_frame()
                if t is None:
                    print("CLOSED", flush=True)
                    break
                line = describe(t, f)
                print(line, flush=True)
                got += 1
                if (want is not None and got >= want) or (want is None and TYPES.get(t) == parts[1]):
                    break
        elif op == "close":
            c.s.close()
            return
        elif op == "wait":
            path = step[len("wait:"):]
            for _ in range(6000):
                if os.path.exists(path):
                    break
                time.sleep(0.01)
        else:
            sys.exit("frame_tool: unknown step " + step)
    c.s.close()


if __name__ == "__main__":
    main()
