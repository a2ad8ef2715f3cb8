#!/usr/bin/env python3
"""dgram_tool.py - forge, record and replay master <-> slave datagrams
(tests/sessions.t). Speaks datagram format 6 keyless (5, 4 and 3, to show what older
builds did): it asks the slave with a PING which one it speaks.

  dgram_tool.py proxy TARGET_PORT [--drop-jobs]
      A two-way proxy in front of a slave on 127.0.0.1:TARGET_PORT; prints
      "listening on UDP 127.0.0.1:PORT". Records everything. SIGHUP: keep
      the PONGs recorded so far as "the old ones"; SIGUSR1: replay those (or
      all) to the master from the proxy's own address; SIGUSR2: replay the
      recorded JOBs to the slave from the proxy's upstream address.
      --drop-jobs: JOBs are recorded but not forwarded (lost on the path).
  dgram_tool.py amplify PORT SECONDS
      Learns the slave's boot with a PING, sends one forged JOB, never
      acknowledges, and prints "sent N received M" after SECONDS.
  dgram_tool.py flood PORT COUNT [--handshake]
      COUNT one-byte fragments, each of its own job declaring a 64 KiB
      request; --handshake first completes the cookie round trip (format 4 on).
  dgram_tool.py reclaim PORT COMMAND [--after-result]
      A master with an identity (tests/identity.t), from one socket: its
      first life gives the slave job 1 (COMMAND), then a second life (same
      identity, new boot) re-claims it as a restarted master does: it sends
      job 1's request again and prints the JOB_ACK state, then the result
      it gets and acknowledges. --after-result: the first life restarts only
      once the result has come (unacknowledged), else as soon as it runs.
  dgram_tool.py jobx PORT COMMAND KEY
      A master (no key) gives the slave job 1 with the request extension
      KEY (empty value): prints each DG_OUTPUT chunk, then the result's
      status, stdout and message (tests/line_buffer.t).
  dgram_tool.py request PORT COMMAND [TAIL_HEX]
      A master gives the slave one job, COMMAND with TAIL_HEX (the job
      request's extensions, as bytes in hex) after it, and prints its
      result: "status S exit E stdout R stderr R message R" (tests/wd_env.t).
      COMMAND "hex:HEX" is those bytes (a NUL in it: tests/policy.t).
  dgram_tool.py lost PORT GRACE
      A master with an identity gives the slave (-j 1) three jobs, falls
      silent past its --master-grace (GRACE s), and a second life asks what
      became of each: prints "job N: state S cum C" (tests/adopt.t).
  dgram_tool.py malformed PORT
      Sends a slave malformed datagrams, one of each kind: another version,
      a header cut short, a JOB whose fragment bounds do not hold, a PING
      with bytes after its fields; prints "sent N" (tests/dissector.t).
"""
import os, select, signal, socket, struct, sys, time

MAGIC = 0x534D
PING, PONG, JOB, JOB_ACK, RESULT, RESULT_ACK, COOKIE = 1, 2, 3, 4, 5, 6, 8
HDR = ">HBBBQQQQ"  # magic, version, type, flags, sender boot, receiver boot, seq, job id


def header(version, typ, sender, receiver, seq, job_id):
    return struct.pack(HDR, MAGIC, version, typ, 0, sender, receiver, seq, job_id)


def ping(version, sender, receiver, seq, cookie=b"\0" * 16, master_id=0):
    body = struct.pack(">QQ", int(time.monotonic() * 1e6), 1)
    body += cookie if version >= 4 else b""
    body += struct.pack(">Q", master_id) if version >= 5 else b""  # format 5: the master's identity
    body += b"\0" * 32 if version >= 6 else b""  # format 6: the master's public key (none without a key)
    return header(version, PING, sender, receiver, seq, 0) + body


def job(version, sender, receiver, seq, job_id, total, payload, frag=1200):
    return header(version, JOB, sender, receiver, seq, job_id) + struct.pack(">QIIH", 1, total, 0, frag) + payload


def parse(p):
    if len(p) < 37:
        return None
    magic, version, typ, flags, sender, receiver, seq, job_id = struct.unpack(HDR, p[:37])
    return dict(version=version, type=typ, sender=sender, receiver=receiver, seq=seq, job_id=job_id, body=p[37:])


def learn(s, addr, me):
    """Returns (version, slave boot, cookie) from the slave's answer to a PING."""
    for version in (6, 5, 4, 3):
        s.sendto(ping(version, me, 0, 1), addr)
        s.settimeout(0.5)
        try:
            p, _ = s.recvfrom(70000)
        except socket.timeout:
            continue
        d = parse(p)
        if d and d["type"] in (PONG, COOKIE):
            cookie = d["body"][8:24] if d["type"] == COOKIE else b""
            return version, d["sender"], cookie, len(p)
    sys.exit("no answer from the slave")


def handshake_ping(s, addr, me, version, boot, cookie, seq, master_id=0):
    """Echoes the cookie in a PING; the slave must answer PONG. Returns the next seq."""
    s.sendto(ping(version, me, boot, seq, cookie, master_id), addr)
    s.settimeout(1)
    d = parse(s.recvfrom(70000)[0])
    if not d or d["type"] != PONG:
        sys.exit("handshake failed")
    return seq + 1


def amplify(port, seconds):
    addr = ("127.0.0.1", port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    me = int.from_bytes(os.urandom(8), "big") | 1
    version, boot, _, got = learn(s, addr, me)
    sent = len(ping(version, me, 0, 1))
    cmd = b"echo amplified"
    req = struct.pack(">II", 0, len(cmd)) + cmd
    p = job(version, me, boot, 2, 1, len(req), req)
    s.sendto(p, addr)
    sent += len(p)
    end = time.monotonic() + seconds
    s.setblocking(False)
    while time.monotonic() < end:
        r, _, _ = select.select([s], [], [], 0.05)
        if r:
            try:
                while True:
                    got += len(s.recv(70000))
            except BlockingIOError:
                pass
    print("sent %d received %d" % (sent, got))


def flood(port, count, handshake):
    addr = ("127.0.0.1", port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    me = int.from_bytes(os.urandom(8), "big") | 1
    version, boot, cookie, _ = learn(s, addr, me)
    seq = 2
    if handshake and version >= 4:
        seq = handshake_ping(s, addr, me, version, boot, cookie, seq)
    s.setblocking(False)
    for i in range(count):
        try:
            s.sendto(job(version, me, boot, seq, i + 1, 65536, b"x", frag=1), addr)
        except BlockingIOError:
            time.sleep(0.001)
        seq += 1
        if i % 512 == 0:  # read and drop the answers, and let the slave breathe
            try:
                while True:
                    s.recv(70000)
            except BlockingIOError:
                pass
            time.sleep(0.002)
    print("version %d: sent %d fragments" % (version, count))


def reclaim(port, command, after_result):
    addr = ("127.0.0.1", port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    master_id = int.from_bytes(os.urandom(8), "big") | 1
    cmd = command.encode()
    req = struct.pack(">II", 0, len(cmd)) + cmd

    def life():
        me = int.from_bytes(os.urandom(8), "big") | 1
        version, boot, cookie, _ = learn(s, addr, me)
        if version < 6:
            sys.exit("the slave speaks format %d, not 6" % version)
        seq = handshake_ping(s, addr, me, version, boot, cookie, 2, master_id)
        return me, boot, seq

    def wait_for(typ, me, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            s.settimeout(max(0.01, end - time.monotonic()))
            try:
                d = parse(s.recvfrom(70000)[0])
            except socket.timeout:
                break
            if d and d["type"] == typ and d["receiver"] == me and d["job_id"] == 1:
                return d
        return None

    me, boot, seq = life()
    s.sendto(job(6, me, boot, seq, 1, len(req), req), addr)
    a = wait_for(JOB_ACK, me, 2)
    print("first life: JOB_ACK state %s" % (a["body"][0] if a else "none"), flush=True)
    if after_result:
        r = wait_for(RESULT, me, 20)
        print("first life: result %s, not acknowledged" % ("came" if r else "never came"), flush=True)
    me2, boot2, seq2 = life()
    s.sendto(job(6, me2, boot2, seq2, 1, len(req), req), addr)  # the same job id: a re-claim
    a = wait_for(JOB_ACK, me2, 2)
    print("second life: JOB_ACK state %s" % (a["body"][0] if a else "none"), flush=True)
    r = wait_for(RESULT, me2, 20)
    if not r:
        sys.exit("second life: no result")
    total, offset, frag = struct.unpack(">IIH", r["body"][:10])
    print("second life: result fragment %d/%d bytes: %r" % (offset, total, r["body"][10:]), flush=True)
    s.sendto(header(6, RESULT_ACK, me2, boot2, seq2 + 1, 1) + struct.pack(">BIQ", 1, 1, 0), addr)


def request(port, command, tail):
    addr = ("127.0.0.1", port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    cmd = bytes.fromhex(command[4:]) if command.startswith("hex:") else command.encode()
    req = struct.pack(">II", 0, len(cmd)) + cmd + bytes.fromhex(tail)
    me = int.from_bytes(os.urandom(8), "big") | 1
    version, boot, cookie, _ = learn(s, addr, me)
    if version < 6:
        sys.exit("the slave speaks format %d, not 6" % version)
    seq = handshake_ping(s, addr, me, version, boot, cookie, 2, int.from_bytes(os.urandom(8), "big") | 1)
    s.sendto(job(6, me, boot, seq, 1, len(req), req), addr)
    end = time.monotonic() + 20
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            d = parse(s.recvfrom(70000)[0])
        except socket.timeout:
            break
        if not d or d["type"] != RESULT or d["receiver"] != me or d["job_id"] != 1:
            continue
        total, offset, frag = struct.unpack(">IIH", d["body"][:10])
        b = d["body"][10:]
        if offset != 0 or len(b) != total:
            sys.exit("a result of several fragments")
        status, code, sig, flags, start, dur = struct.unpack(">BiBBQQ", b[:23])
        at, fields = 23, []
        for _ in range(3):
            (n,) = struct.unpack(">I", b[at:at + 4])
            fields.append(b[at + 4:at + 4 + n])
            at += 4 + n
        print("status %d exit %d stdout %r stderr %r message %r" % (status, code, fields[0], fields[1], fields[2]),
              flush=True)
        s.sendto(header(6, RESULT_ACK, me, boot, seq + 1, 1) + struct.pack(">BIQ", 1, 1, 0), addr)
        return
    sys.exit("no result")


def lost(port, grace):
    """A master with an identity whose first life gives the slave (-j 1)
    job 3 (ends at once: its result is never acknowledged), job 1 (runs)
    and job 2 (queued behind it), then falls silent past the slave's
    --master-grace (GRACE seconds); a second life (same identity) asks for
    jobs 1, 2, 3 and 1 again and prints each JOB_ACK's state and cum."""
    addr = ("127.0.0.1", port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    master_id = int.from_bytes(os.urandom(8), "big") | 1

    def req(command):
        cmd = command.encode()
        return struct.pack(">II", 0, len(cmd)) + cmd

    def life():
        me = int.from_bytes(os.urandom(8), "big") | 1
        version, boot, cookie, _ = learn(s, addr, me)
        if version < 6:
            sys.exit("the slave speaks format %d, not 6" % version)
        return me, boot, handshake_ping(s, addr, me, version, boot, cookie, 2, master_id)

    def wait_for(typ, me, job_id, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            s.settimeout(max(0.01, end - time.monotonic()))
            try:
                d = parse(s.recvfrom(70000)[0])
            except socket.timeout:
                break
            if d and d["type"] == typ and d["receiver"] == me and d["job_id"] == job_id:
                return d
        return None

    me, boot, seq = life()
    for job_id, command in ((3, "echo three"), (1, "sleep 30"), (2, "sleep 30")):
        r = req(command)
        s.sendto(job(6, me, boot, seq, job_id, len(r), r), addr)
        seq += 1
        if not wait_for(RESULT if job_id == 3 else JOB_ACK, me, job_id, 5):
            sys.exit("first life: nothing for job %d" % job_id)
    print("first life: job 3 ended (result not acknowledged), job 1 runs, job 2 queued; silent now", flush=True)
    time.sleep(grace + 1.5)
    s.setblocking(False)
    try:
        while s.recv(70000):  # what the slave sent the first life meanwhile (its result, again)
            pass
    except BlockingIOError:
        pass
    s.setblocking(True)
    me2, boot2, seq2 = life()
    for job_id in (1, 2, 3, 1):
        r = req("echo must-not-run")
        s.sendto(job(6, me2, boot2, seq2, job_id, len(r), r), addr)
        seq2 += 1
        a = wait_for(JOB_ACK, me2, job_id, 2)
        if not a:
            print("job %d: no answer" % job_id, flush=True)
            continue
        state, cum = struct.unpack(">BI", a["body"][:5])
        print("job %d: state %d cum %d" % (job_id, state, cum), flush=True)


def proxy(target, drop_jobs):
    listen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listen.bind(("127.0.0.1", 0))
    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up.connect(("127.0.0.1", target))
    master = None
    to_slave, to_master, old_pongs = [], [], None
    flags = {"mark": False, "pongs": False, "jobs": False}

    def on(sig, key):
        signal.signal(sig, lambda *_: flags.__setitem__(key, True))

    on(signal.SIGHUP, "mark")
    on(signal.SIGUSR1, "pongs")
    on(signal.SIGUSR2, "jobs")
    print("listening on UDP 127.0.0.1:%d" % listen.getsockname()[1], flush=True)
    while True:
        try:
            r, _, _ = select.select([listen, up], [], [], 0.05)
        except InterruptedError:
            r = []
        if flags["mark"]:
            flags["mark"] = False
            old_pongs = [p for p in to_master if parse(p)["type"] == PONG]
            print("marked %d PONGs" % len(old_pongs), flush=True)
        if flags["pongs"]:
            flags["pongs"] = False
            pongs = old_pongs if old_pongs is not None else [p for p in to_master if parse(p)["type"] == PONG]
            for p in pongs:
                listen.sendto(p, master)
            print("replayed %d PONGs" % len(pongs), flush=True)
        if flags["jobs"]:
            flags["jobs"] = False
            jobs = [p for p in to_slave if parse(p)["type"] == JOB]
            for p in jobs:
                up.send(p)
            print("replayed %d JOBs" % len(jobs), flush=True)
        if listen in r:
            p, master = listen.recvfrom(70000)
            to_slave.append(p)
            d = parse(p)
            if drop_jobs and d and d["type"] == JOB:
                if not flags.get("told"):
                    flags["told"] = True
                    print("dropped a JOB", flush=True)
                continue
            up.send(p)
        if up in r:
            try:
                p = up.recv(70000)
            except ConnectionRefusedError:
                continue
            to_master.append(p)
            if master:
                listen.sendto(p, master)


def jobx(port, command, key):
    """A job request with one extension (key, empty value): prints each
    DG_OUTPUT chunk (stream, offset, bytes) and the result's message."""
    addr = ("127.0.0.1", port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    cmd = command.encode()
    req = struct.pack(">II", 0, len(cmd)) + cmd + struct.pack(">BH", key, 0)
    me = int.from_bytes(os.urandom(8), "big") | 1
    version, boot, cookie, _ = learn(s, addr, me)
    seq = handshake_ping(s, addr, me, version, boot, cookie, 2, 0)
    s.sendto(job(6, me, boot, seq, 1, len(req), req), addr)
    end = time.monotonic() + 20
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            d = parse(s.recvfrom(70000)[0])
        except socket.timeout:
            break
        if not d or d["receiver"] != me or d["job_id"] != 1:
            continue
        if d["type"] == 10:  # DG_OUTPUT
            stream, offset = struct.unpack(">BI", d["body"][:5])
            print("output stream %d offset %d: %r" % (stream, offset, d["body"][5:]), flush=True)
        elif d["type"] == RESULT:
            body = d["body"][10:]
            status = body[0]
            out_len = struct.unpack(">I", body[23:27])[0]
            err_at = 27 + out_len
            err_len = struct.unpack(">I", body[err_at:err_at + 4])[0]
            msg_at = err_at + 4 + err_len
            msg_len = struct.unpack(">I", body[msg_at:msg_at + 4])[0]
            print("result status %d stdout %r message %r" % (status, body[27:27 + out_len],
                                                             body[msg_at + 4:msg_at + 4 + msg_len].decode()), flush=True)
            s.sendto(header(6, RESULT_ACK, me, boot, seq + 1, 1) + struct.pack(">BIQ", 1, 1, 0), addr)
            return
    sys.exit("no result")


DG_NAMES = {1: "PING", 2: "PONG", 3: "JOB", 4: "JOB_ACK", 5: "RESULT", 6: "RESULT_ACK", 7: "CANCEL", 8: "COOKIE",
            9: "LEAVING", 10: "OUTPUT"}
JOB_STATES = {1: "RECEIVING", 2: "RUNNING", 3: "DONE", 4: "GONE"}


def fields(p):
    """A datagram's fields named as the dissector's (tools/wireshark/smp.lua,
    less "smp.") and the --trace keys, decoded as lib/proto.c does; "why"
    says what is malformed (the datagram is then decoded up to there)."""
    d = {"size": len(p)}
    if len(p) < 2:
        return dict(d, why="truncated header")
    d["magic"] = struct.unpack(">H", p[:2])[0]
    if d["magic"] != MAGIC:
        return dict(d, why="bad magic")
    if len(p) < 3:
        return dict(d, why="truncated header")
    d["version"] = p[2]
    if d["version"] != 6:
        return dict(d, why="unsupported version")
    if len(p) < 37:
        return dict(d, why="truncated header")
    _, _, typ, flags, d["sender_boot"], d["receiver_boot"], d["seq"], d["job_id"] = struct.unpack(HDR, p[:37])
    d.update(type=DG_NAMES.get(typ, str(typ)), flags=flags)
    if flags & ~1:
        return dict(d, why="unknown flags")
    if flags & 1:  # sealed: the header alone is clear
        if len(p) < 37 + 16:
            return dict(d, why="truncated")
        if typ not in DG_NAMES:
            return dict(d, why="unknown type")
        d["tag"] = p[-16:].hex()
        if len(p) > 53:
            d["encrypted"] = p[37:-16].hex()
        return d
    b = p[37:]
    need = {1: 72, 2: 52, 8: 56, 4: 15, 6: 13, 7: 16, 9: 0}
    if typ in need and len(b) < need[typ]:
        return dict(d, why="truncated")
    if typ in (1, 8):
        d["echo_us"] = struct.unpack(">Q", b[:8])[0]
        at = 8
        if typ == 1:
            d["floor"] = struct.unpack(">Q", b[8:16])[0]
            at = 16
        d["cookie"] = b[at:at + 16].hex()
        at += 16
        if typ == 1:
            d["master_id"] = struct.unpack(">Q", b[at:at + 8])[0]
            at += 8
        d["eph_pub"] = b[at:at + 32].hex()
        rest = b[at + 32:]
    elif typ == 2:
        d["echo_us"], d["slots_total"], d["slots_free"], d["highest_job"] = struct.unpack(">QHHQ", b[:20])
        d["eph_pub"] = b[20:52].hex()
        rest = b[52:]
        if len(rest) == 16:  # the load fields (a PING with PING_WANTS_LOAD)
            d["load_milli"], d["cpus"], d["mem_avail"], d["load_running"] = struct.unpack(">IHQH", rest)
            rest = b""
    elif typ in (3, 5):
        at = 0
        if typ == 3:
            if len(b) < 8:
                return dict(d, why="truncated")
            d["floor"] = struct.unpack(">Q", b[:8])[0]
            at = 8
        if len(b) < at + 10:
            return dict(d, why="truncated")
        total, offset, fs = struct.unpack(">IIH", b[at:at + 10])
        n = len(b) - at - 10
        d.update(total=total, offset=offset, frag_size=fs, len=n)
        if n:
            d["payload"] = b[at + 10:].hex()
        if fs == 0 or fs > 60000 or n == 0 or total == 0 or offset % fs or offset >= total or \
                n != min(total - offset, fs):
            return dict(d, why="bad fragment bounds")
        d["frag"] = "%d/%d" % (offset // fs + 1, -(-total // fs))
        rest = b""
    elif typ in (4, 6):
        state, d["cum"], d["sack"] = struct.unpack(">BIQ", b[:13])
        if typ == 4:
            d["state"] = JOB_STATES.get(state, str(state))
            d["slots_free"] = struct.unpack(">H", b[13:15])[0]
            rest = b[15:]
        else:
            d["complete"] = state
            rest = b[13:]
    elif typ == 7:
        d["padding"] = b[:16].hex()
        rest = b[16:]
    elif typ == 9:
        rest = b
    elif typ == 10:
        if len(b) < 5:
            return dict(d, why="truncated")
        d["stream"], d["offset"] = struct.unpack(">BI", b[:5])
        d["len"] = len(b) - 5
        if d["len"]:
            d["payload"] = b[5:].hex()
        if d["stream"] not in (1, 2) or d["len"] == 0 or d["len"] > 60000 or d["offset"] + d["len"] > 32 << 20:
            return dict(d, why="bad output chunk")
        rest = b""
    else:
        return dict(d, why="unknown type")
    if rest:
        return dict(d, why="trailing bytes")
    if typ not in (1, 2, 8, 9) and d["job_id"] == 0:
        return dict(d, why="job id 0")
    return d


def malformed(port):
    """One datagram of each malformed kind (fields() names them)."""
    addr = ("127.0.0.1", port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    me = int.from_bytes(os.urandom(8), "big") | 1
    bad = [
        header(5, PING, me, 0, 1, 0) + b"\0" * 40,  # another version
        header(6, PING, me, 0, 2, 0)[:20],  # the header cut short
        job(6, me, 0, 3, 1, 100, b"x" * 10, frag=0),  # fragment size 0
        ping(6, me, 0, 4) + b"trailing",  # bytes after the fields
    ]
    for p in bad:
        s.sendto(p, addr)
    print("sent %d" % len(bad))


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "proxy":
        proxy(int(a[1]), "--drop-jobs" in a)
    elif a[0] == "amplify":
        amplify(int(a[1]), float(a[2]))
    elif a[0] == "reclaim":
        reclaim(int(a[1]), a[2], "--after-result" in a)
    elif a[0] == "request":
        request(int(a[1]), a[2], a[3] if len(a) > 3 else "")
    elif a[0] == "lost":
        lost(int(a[1]), float(a[2]))
    elif a[0] == "jobx":
        jobx(int(a[1]), a[2], int(a[3]))
    elif a[0] == "malformed":
        malformed(int(a[1]))
    elif a[0] == "flood":
        flood(int(a[1]), int(a[2]), "--handshake" in a)
    else:
        sys.exit(__doc__)
