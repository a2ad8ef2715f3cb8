#!/usr/bin/env python3
"""tests/fake_master.py - a scripted master for the client's side of the
batch frames (doc/protocol.md 2.6), for tests/resume_client.t: the real
master of this branch has no journal yet, and a script can break a
connection exactly where a test wants it.

    fake_master.py SCENARIO LOG [-k K]

Listens on 127.0.0.1, port 0, prints "fake master listening on TCP
127.0.0.1:PORT, ..." and logs every frame it receives, one line each
("conn=N TYPE field=value ...") plus what it did ("conn=N sent ACCEPTED 5",
"dropped", ...) into LOG. No key (unkeyed HELLO only). Every command "runs"
at once: exit 0, stdout "ran: LINE\\n" (exit 3 for a line "fail").

Scenarios:
  normal      a durable batch, a result for each SUBMIT at once, BYE, ACK.
  drop        as normal, but the first connection, once END is in, gets
              ACCEPTED for the first K+2 SUBMITs and the first K results and
              is closed; the batch resumes on the next connection (only the
              first K+2 SUBMITs were "on disk": the rest must come again).
  unreachable as drop, and the listener is closed for 2 s, then reopened on
              the same port.
  gone        as drop, and the fake master exits (never comes back).
  stopping    as drop, but the next connection's HELLO gets ERROR "the
              master is shutting down" (a master stopping meanwhile), the
              one after it resumes.
  resend      as drop, but the next connection is told one result less
              than the client holds (BATCH done K-1) and gets the results
              from K-1 on: the K-th again (a master whose journal lost a
              RESULT record resends from before it).
  ephemeral   as drop, but BATCH without BATCH_FLAG_DURABLE.
  detach      a durable batch: ACCEPTED 0.5 s after END, no results; logs
              what follows until the client closes.
  ephemeral-detach  the same without BATCH_FLAG_DURABLE.
  hang        a durable batch: ACCEPTED for each SUBMIT, results never.
  noaccept    a durable batch: neither ACCEPTED nor results (read-ahead).
  badresult   a durable batch: after END, a RESULT for seq 99 (unknown).
  follow      ATTACH_FOLLOW of batch BATCH_ID: four commands (seqs 1 2 4 5)
              and their results out of order (4 1, then 5 2), BYE.
  follow-drop as follow, but the first connection is closed after two
              results; the next ATTACH_FOLLOW gets every COMMAND again and
              the results from its have on.
  list        ATTACH_LIST: two BATCH_INFOs, BYE.
  nostatus    a master older than --status: ERROR "ATTACH with an unknown mode 4"
  old         a master older than batches: ERROR "unexpected frame type 10
              (ATTACH)" to ATTACH; a HELLO without FRAME_FLAG_RESUME is
              served as before batches (results, BYE).
"""
import socket
import struct
import sys
import time

F = dict(HELLO=1, WELCOME=2, SUBMIT=3, END=4, RESULT=5, NOTICE=6, ERROR=7, BYE=8, READY=9, ATTACH=10,
         BATCH=11, ACCEPTED=12, ACK=13, CANCEL=14, DETACH=15, BATCH_INFO=16, COMMAND=17)
NAMES = {v: k for k, v in F.items()}
BATCH_ID = 0x00C0FFEE12345678
DURABLE, ENDED = 1, 2
CREATED_MS = 1764590400000  # 2025-12-01 12:00:00 UTC


class Gone(Exception):
    pass


class Conn:
    def __init__(self, sock, n, log):
        self.s, self.n, self.log, self.buf = sock, n, log, b""

    def note(self, text):
        self.log.write("conn=%d %s\n" % (self.n, text))
        self.log.flush()

    def recv(self):
        """The next frame (type, fields), logged; raises Gone at EOF."""
        while True:
            if len(self.buf) >= 5:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    t, f = self.buf[4], self.buf[5:4 + n]
                    self.buf = self.buf[4 + n:]
                    self.note(describe(t, f))
                    return t, f
            try:
                d = self.s.recv(65536)
            except OSError:
                d = b""
            if not d:
                self.note("EOF")
                raise Gone()
            self.buf += d

    def send(self, t, fields=b""):
        self.s.sendall(struct.pack(">IB", len(fields) + 1, t) + fields)

    def close(self):
        try:
            self.s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.s.close()


def describe(t, f):
    name = NAMES.get(t, "type%d" % t)
    if t == F["HELLO"]:
        magic, version, flags = struct.unpack(">IHH", f[:8])
        return "HELLO version=%d flags=%d" % (version, flags)
    if t == F["ATTACH"]:
        mode, batch, have = struct.unpack(">BQI", f[:13])
        return "ATTACH mode=%d batch=%016x have=%d" % (mode, batch, have)
    if t == F["SUBMIT"]:
        seq = struct.unpack(">I", f[:4])[0]
        return "SUBMIT seq=%d line=%s" % (seq, f[4:].decode("utf-8", "replace"))
    if t in (F["END"], F["ACK"]):
        return "%s count=%d" % (name, struct.unpack(">I", f[:4])[0])
    return name


def result_fields(seq, line):
    out = ("ran: %s\n" % line).encode()
    code = 3 if line == "fail" else 0
    host = b"fake:1"
    body = struct.pack(">BIBBQQ", 0, code, 0, 0, CREATED_MS, 1500) + struct.pack(">I", len(out)) + out
    body += struct.pack(">I", 0) + struct.pack(">I", 0)
    return struct.pack(">IH", seq, len(host)) + host + body


def handshake(c, old=False):
    t, f = c.recv()
    if t != F["HELLO"]:
        raise Gone()
    c.send(F["WELCOME"], struct.pack(">HHHIH", 4, 1, 1, 2, 0) + bytes(32))
    if old and not struct.unpack(">H", f[6:8])[0] & 2:
        return None
    t, f = c.recv()
    if old:
        msg = b"unexpected frame type %d (%s)" % (t, NAMES.get(t, "?").encode())
        c.send(F["ERROR"], struct.pack(">H", len(msg)) + msg)
        until_eof(c)
        raise Gone()
    if t != F["ATTACH"]:
        raise Gone()
    return struct.unpack(">BQI", f[:13])


def batch(c, flags, accepted, total, done):
    c.send(F["BATCH"], struct.pack(">QBIII", BATCH_ID, flags, accepted, total, done))


def read_submits(c, cmds):
    """SUBMITs appended to cmds until END; returns END's count."""
    while True:
        t, f = c.recv()
        if t == F["SUBMIT"]:
            cmds.append((struct.unpack(">I", f[:4])[0], f[4:].decode("utf-8", "replace")))
        elif t == F["END"]:
            return struct.unpack(">I", f[:4])[0]


def until_eof(c):
    try:
        while True:
            c.recv()
    except Gone:
        pass
    c.close()


def listen(port=0):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(8)
    return ls


def main():
    scenario, logpath = sys.argv[1], sys.argv[2]
    k = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "-k" else 3
    log = open(logpath, "a")
    ls = listen()
    port = ls.getsockname()[1]
    print("fake master listening on TCP 127.0.0.1:%d, scenario %s" % (port, scenario), flush=True)
    durable = 0 if scenario.startswith("ephemeral") else DURABLE
    nconn = 0
    cmds = []       # the batch's SUBMITs "on disk": (seq, line)
    accepted = 0
    sent = 0        # results of the batch sent so far (the first ones, in SUBMIT order)
    dropped = False
    while True:
        s, _ = ls.accept()
        nconn += 1
        c = Conn(s, nconn, log)
        try:
            if scenario == "stopping" and nconn == 2:
                c.recv()
                msg = b"the master is shutting down"
                c.send(F["ERROR"], struct.pack(">H", len(msg)) + msg)
                c.note("sent ERROR to HELLO")
                until_eof(c)
                continue
            if scenario == "old":
                if handshake(c, old=True) is None:
                    cmds = []
                    read_submits(c, cmds)
                    for seq, line in cmds:
                        c.send(F["RESULT"], result_fields(seq, line))
                    c.send(F["BYE"])
                    until_eof(c)
                continue
            mode, bid, have = handshake(c)
            if scenario == "nostatus":  # a master older than --status (ATTACH_STATUS): its real answer
                msg = b"ATTACH with an unknown mode %d" % mode
                c.send(F["ERROR"], struct.pack(">H", len(msg)) + msg)
                until_eof(c)
                continue
            if scenario == "list":
                for b in ((BATCH_ID, 2, 10, 4, 2, b"127.0.0.1:5555"), (0xFEDCBA9876543210, 5, 3, 3, 0, b"10.0.0.7:4242")):
                    c.send(F["BATCH_INFO"], struct.pack(">QQBIIIH", b[0], CREATED_MS, b[1], b[2], b[3], b[4],
                                                        len(b[5])) + b[5])
                c.send(F["BYE"])
                until_eof(c)
                continue
            if scenario in ("follow", "follow-drop"):
                if mode != 3 or bid != BATCH_ID:
                    msg = ("no batch %016x on this master" % bid).encode()
                    c.send(F["ERROR"], struct.pack(">H", len(msg)) + msg)
                    until_eof(c)
                    continue
                follow = [(1, "one"), (2, "two"), (4, "four"), (5, "fail")]
                batch(c, DURABLE | ENDED, 4, 4, 2)
                for i, (seq, line) in enumerate(follow):
                    c.send(F["COMMAND"], struct.pack(">II", i, seq) + line.encode())
                order = [2, 0, 3, 1]  # completion order: seq 4, 1, then 5, 2
                for j, i in enumerate(order):
                    if j < have:  # the client has them
                        continue
                    if j == 2:
                        if scenario == "follow-drop" and not dropped:
                            time.sleep(0.2)
                            c.note("dropped after 2 results")
                            c.close()
                            dropped = True
                            break
                        time.sleep(0.3)
                    c.send(F["RESULT"], result_fields(*follow[i]))
                else:
                    c.send(F["BYE"])
                    until_eof(c)
                continue
            if mode == 0:
                batch(c, durable, 0, 0, 0)
            elif mode == 1 and bid == BATCH_ID:
                if scenario == "resend":
                    sent -= 1  # it "lost" the last result it sent: sends it again
                batch(c, durable, accepted, 0, sent)
                del cmds[accepted:]  # what was not on disk is gone
                if have != sent + (scenario == "resend"):
                    c.note("WRONG have=%d, sent %d" % (have, sent))
            else:
                msg = ("no batch %016x on this master" % bid).encode()
                c.send(F["ERROR"], struct.pack(">H", len(msg)) + msg)
                until_eof(c)
                continue
            if scenario in ("detach", "ephemeral-detach"):
                read_submits(c, cmds)
                time.sleep(0.5)
                c.send(F["ACCEPTED"], struct.pack(">I", len(cmds)))
                c.note("sent ACCEPTED %d" % len(cmds))
                until_eof(c)
                continue
            if scenario == "badresult":
                read_submits(c, cmds)
                c.send(F["RESULT"], result_fields(99, "what"))
                until_eof(c)
                continue
            if scenario in ("hang", "noaccept"):
                while True:
                    t, f = c.recv()
                    if t == F["SUBMIT"] and scenario == "hang":
                        cmds.append(f)
                        c.send(F["ACCEPTED"], struct.pack(">I", len(cmds)))
            if scenario == "normal" or dropped:
                first = len(cmds)
                if dropped:
                    c.note("resend from index %d" % first)
                read_submits(c, cmds)
                c.send(F["ACCEPTED"], struct.pack(">I", len(cmds)))
                for seq, line in cmds[sent:]:
                    c.send(F["RESULT"], result_fields(seq, line))
                sent = len(cmds)
                c.send(F["BYE"])
                until_eof(c)
                continue
            # drop, unreachable, gone, ephemeral: the first connection breaks
            read_submits(c, cmds)
            accepted = min(k + 2, len(cmds))
            c.send(F["ACCEPTED"], struct.pack(">I", accepted))
            for seq, line in cmds[:k]:
                c.send(F["RESULT"], result_fields(seq, line))
            sent = k
            time.sleep(0.2)
            c.note("dropped after %d results, %d accepted" % (k, accepted))
            c.close()
            dropped = True
            if scenario == "gone":
                c.note("exiting")
                return
            if scenario == "unreachable":
                ls.close()
                c.note("listener closed")
                time.sleep(2)
                ls = listen(port)
                c.note("listener reopened")
        except Gone:
            c.close()


if __name__ == "__main__":
    main()
