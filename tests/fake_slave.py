#!/usr/bin/env python3
"""tests/fake_slave.py - a scripted slave for the master's side of the
datagrams (doc/protocol.md 4), keyless, format 6, for hostile-slave tests
(tests/hostile_slave.t): what a buggy, hostile or future serveur_esclave
might send, which the real one never does.

    fake_slave.py LOG

Binds 127.0.0.1, port 0, prints "fake slave listening on UDP
127.0.0.1:PORT", and serves the master that PINGs it: COOKIE to a PING
without a session, PONG once the master echoes it (no cookie check: the
master's side of the handshake is what is tested), JOB_ACK RUNNING to a
complete request, then the job's RESULT, sent again every 200 ms until
its RESULT_ACK COMPLETE. It logs one line per job into LOG ("job N: CMD",
"job N: acked").

Each command "runs" at once: exit 0, stdout "ran: CMD\\n", unless its
words say otherwise (the command line is the script):
  flags=N    the result's flags byte is N (RESULT_FLAG_CACHED 8, RAN_TWICE 4,
             an unknown bit 16...)
  status=N   the result's status byte (RUN_EXITED 0, RUN_SIGNALED 1 ...)
  exit=N     its exit code (an int32)
  signal=N   its term_signal byte
  stray=1    first a complete RESULT for a job id the master never sent
             (this job's id + 1000), then this job's own
"""
import os, select, socket, struct, sys, time

MAGIC, VERSION = 0x534D, 6
PING, PONG, JOB, JOB_ACK, RESULT, RESULT_ACK, COOKIE = 1, 2, 3, 4, 5, 6, 8
HDR = ">HBBBQQQQ"  # magic, version, type, flags, sender boot, receiver boot, seq, job id
HDR_LEN = 37
FRAG = 60000  # loopback
JS_RUNNING = 2


class Slave:
    def __init__(self, log):
        self.log = open(log, "a", buffering=1)
        self.boot = int.from_bytes(os.urandom(8), "big") | 1
        self.seq = 0
        self.master_boot = 0
        self.master_addr = None
        self.session = False
        self.requests = {}  # job id -> bytearray being reassembled
        self.pending = {}  # job id -> result body not yet acknowledged
        self.highest = 0
        self.taken = set()  # job ids whose request was complete
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        print("fake slave listening on UDP 127.0.0.1:%d" % self.s.getsockname()[1], flush=True)

    def send(self, typ, job_id, fields):
        self.seq += 1
        p = struct.pack(HDR, MAGIC, VERSION, typ, 0, self.boot, self.master_boot, self.seq, job_id) + fields
        self.s.sendto(p, self.master_addr)

    def send_result(self, job_id, body):
        for off in range(0, len(body), FRAG):
            self.send(RESULT, job_id, struct.pack(">IIH", len(body), off, FRAG) + body[off:off + FRAG])

    def result_body(self, command):
        opts = dict(w.split("=", 1) for w in command.split() if "=" in w and w.split("=", 1)[1].lstrip("-").isdigit())
        out = ("ran: %s\n" % command).encode()
        return struct.pack(">BiBBQQ", int(opts.get("status", 0)), int(opts.get("exit", 0)),
                           int(opts.get("signal", 0)), int(opts.get("flags", 0)), int(time.time() * 1000), 1000) + \
            struct.pack(">I", len(out)) + out + struct.pack(">II", 0, 0)

    def on_ping(self, sender, receiver, job_id, f, addr):
        echo = f[:8]
        if sender != self.master_boot:
            self.session = False
        self.master_boot, self.master_addr = sender, addr
        if receiver == self.boot and (self.session or f[16:32] != b"\0" * 16):
            self.session = True
            self.send(PONG, 0, echo + struct.pack(">HHQ", 4, 4, self.highest) + b"\0" * 32)
        else:
            self.send(COOKIE, 0, echo + struct.pack(">I", int(time.monotonic() * 1000) & 0xFFFFFFFF) + b"c" * 12 +
                      b"\0" * 32)

    def on_job(self, job_id, f):
        floor, total, off, frag = struct.unpack(">QIIH", f[:18])
        if job_id in self.taken:
            self.send(JOB_ACK, job_id, struct.pack(">BIQH", 3, 1, 0, 4))  # DONE: already taken
            return
        buf = self.requests.setdefault(job_id, bytearray(total))
        buf[off:off + len(f) - 18] = f[18:]
        if off + len(f) - 18 < total:  # the fake takes one-fragment requests only (loopback)
            return
        del self.requests[job_id]
        self.taken.add(job_id)
        self.highest = max(self.highest, job_id)
        self.send(JOB_ACK, job_id, struct.pack(">BIQH", JS_RUNNING, 1, 0, 4))
        timeout_ms, length = struct.unpack(">II", buf[:8])
        command = bytes(buf[8:8 + length]).decode(errors="replace")
        self.log.write("job %d: %s\n" % (job_id, command))
        if "stray=1" in command.split():
            self.send_result(job_id + 1000, self.result_body("a stray result"))
        self.pending[job_id] = self.result_body(command)
        self.send_result(job_id, self.pending[job_id])

    def run(self):
        last = time.monotonic()
        while True:
            r, _, _ = select.select([self.s], [], [], 0.2)
            if r:
                p, addr = self.s.recvfrom(70000)
                if len(p) < HDR_LEN:
                    continue
                magic, version, typ, flags, sender, receiver, seq, job_id = struct.unpack(HDR, p[:HDR_LEN])
                f = p[HDR_LEN:]
                if magic != MAGIC or version != VERSION or flags:
                    continue
                if typ == PING:
                    self.on_ping(sender, receiver, job_id, f, addr)
                elif typ == JOB and self.session and sender == self.master_boot:
                    self.on_job(job_id, f)
                elif typ == RESULT_ACK and sender == self.master_boot and f[:1] == b"\1":
                    if self.pending.pop(job_id, None) is not None:
                        self.log.write("job %d: acked\n" % job_id)
            if time.monotonic() - last >= 0.2:
                last = time.monotonic()
                for job_id, body in list(self.pending.items()):
                    self.send_result(job_id, body)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    Slave(sys.argv[1]).run()
