#!/usr/bin/env python3
"""dissector_check.py - checks tools/wireshark/smp.lua against an independent
decoding of the same capture (tests/dissector.t).

  dissector_check.py compare PCAP JSON
      PCAP: a capture of loopback (tcpdump -w) holding only the test's
      traffic; JSON: tshark -T json --no-duplicate-keys of it with the
      dissector. Every UDP datagram is decoded by dgram_tool.fields, every
      TCP stream reassembled here and cut into frames decoded by
      frame_tool.frame_fields (sealed ones after a keyed HELLO / WELCOME),
      and each field compared with the dissector's (smp.FIELD), packet by
      packet, frame by frame. Prints what differs ("# ...") and a summary:
        datagrams N frames N sealed N malformed N unclaimed N empty N mismatches N
        types TYPE=N ...   malformed-why WHY=N ...
      unclaimed: datagrams the dissector did not take (no "smpm" layer);
      empty: datagrams of 0 bytes (Wireshark dissects no empty payload).
      --datagrams-only: the frames are not compared.
  dissector_check.py fuzz PCAP OUT SEED N
      Writes OUT, a capture of N datagrams made from PCAP's by cutting,
      flipping and overwriting bytes (and N/4 TCP connections, each a
      HELLO then a frame so made), for "compare --datagrams-only" and for
      tshark to show without a Lua error.
  dissector_check.py trace PCAP LOG...
      Compares the capture with the programs' --trace lines (doc/protocol.md,
      "Reading a trace") in the LOGs (a program's stderr each): each
      datagram matched by (sender, seq), each frame by connection, direction
      and order; type, job_id, frag, offset, total, len, cum, sack, state,
      slots, size and seq compared. Prints "# ..." for what differs and
      "datagrams N lines N frames N lines N mismatches N".
"""
import json
import os
import re
import struct
import sys
from collections import Counter, defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dgram_tool  # noqa: E402
import frame_tool  # noqa: E402

BYTES = {"cookie", "eph_pub", "payload", "tag", "encrypted", "nonce", "padding"}


def packets(path):
    """(number from 1, ip src, ip dst, proto, sport, dport, tcp seq, tcp flags, payload) of each IPv4 packet."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    link = struct.unpack(end + "I", data[20:24])[0]
    at, n = 24, 0
    while at + 16 <= len(data):
        _, _, incl, _ = struct.unpack(end + "IIII", data[at:at + 16])
        p = data[at + 16:at + 16 + incl]
        at += 16 + incl
        n += 1
        if link == 1:  # Ethernet
            if len(p) < 14 or p[12:14] != b"\x08\x00":
                continue
            ip = p[14:]
        elif link == 113:  # Linux cooked
            if p[14:16] != b"\x08\x00":
                continue
            ip = p[16:]
        else:
            sys.exit("link type %d not handled" % link)
        ihl = (ip[0] & 15) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        proto, src, dst = ip[9], ".".join(map(str, ip[12:16])), ".".join(map(str, ip[16:20]))
        l4 = ip[ihl:total]
        if proto == 17:
            sport, dport = struct.unpack(">HH", l4[:4])
            yield n, src, dst, "udp", sport, dport, 0, 0, l4[8:]
        elif proto == 6:
            sport, dport, seq, _, off = struct.unpack(">HHIIB", l4[:13])
            yield n, src, dst, "tcp", sport, dport, seq, l4[13], l4[(off >> 4) * 4:]


def wire(path):
    """The capture decoded: [(packet, src, dst, fields)] for datagrams;
    {packet: [fields]} for frames, and [(client, server, [(dir, packet, fields)])] per connection."""
    dgrams, frames, conns = [], defaultdict(list), {}
    streams = {}
    for n, src, dst, proto, sport, dport, seq, flags, pl in packets(path):
        a, b = "%s:%d" % (src, sport), "%s:%d" % (dst, dport)
        if proto == "udp":
            dgrams.append((n, a, b, dgram_tool.fields(pl)))
            continue
        key = (a, b)
        st = streams.get(key)
        if flags & 2:  # SYN
            streams[key] = {"next": seq + 1, "buf": b"", "index": 0, "sealed": False}
            if not flags & 16:  # SYN alone: a is the client
                conns[(a, b)] = []
            continue
        if st is None or st["next"] is None or not pl:
            continue
        if seq != st["next"]:  # a retransmission: keep what is new only; a gap: give up on the stream
            d = (st["next"] - seq) & 0xFFFFFFFF
            if d > 1 << 30:
                print("# gap in %s -> %s at packet %d" % (a, b, n))
                st["next"] = None
                continue
            if d >= len(pl):
                continue
            pl = pl[d:]
        st["buf"] += pl
        st["next"] = (st["next"] + len(pl)) & 0xFFFFFFFF
        conn = conns.get((a, b)) if (a, b) in conns else conns.get((b, a))
        direction = "c2m" if (a, b) in conns else "m2c"
        while len(st["buf"]) >= 4:
            flen = struct.unpack(">I", st["buf"][:4])[0]
            if len(st["buf"]) < 4 + flen:
                break
            body = st["buf"][4:4 + flen]
            st["buf"] = st["buf"][4 + flen:]
            if st["index"] > 0 and st["sealed"]:
                d = {"frame_len": flen, "size": flen + 4, "encrypted": body[:-16].hex(), "tag": body[-16:].hex()}
            else:
                d = frame_tool.frame_fields(body[0], body[1:])
                if st["index"] == 0 and body[0] in (1, 2):  # HELLO, WELCOME: flag AUTH seals what follows
                    st["sealed"] = bool(d["flags"] & 1)
            st["index"] += 1
            frames[n].append(d)
            if conn is not None:
                conn.append((direction, n, d))
    return dgrams, frames, [(c, m, lst) for (c, m), lst in conns.items()]


def layers(path):
    """{packet: [smpm layer dict]} from tshark's JSON."""
    with open(path) as f:
        doc = json.load(f)
    out = {}
    for p in doc:
        lay = p["_source"]["layers"]
        s = lay.get("smpm")
        if s is None:
            continue
        out[int(lay["frame"]["frame.number"])] = s if isinstance(s, list) else [s]
    return out


def experts(node):
    msgs = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "_ws.expert.message":
                msgs += v if isinstance(v, list) else [v]
            else:
                msgs += experts(v)
    elif isinstance(node, list):
        for v in node:
            msgs += experts(v)
    return msgs


def same(k, mine, theirs):
    if theirs is None:
        return False
    if isinstance(theirs, list):  # a field shown more than once: the first is the one compared
        theirs = theirs[0]
    if not isinstance(theirs, str):
        return False
    if isinstance(mine, int):
        try:
            return int(theirs, 0) == mine
        except ValueError:
            return False
    if k in BYTES:
        return theirs.replace(":", "") == mine
    return theirs == mine


CORE = ("type", "seq", "job_id", "frag", "offset", "total", "len", "cum", "sack", "state", "slots_free",
        "slots_total", "size")


def mutate(rnd, p):
    p = bytearray(p)
    for _ in range(rnd.randint(1, 3)):
        k = rnd.randrange(5)
        if k == 0 and p:  # cut
            del p[rnd.randrange(len(p)):]
        elif k == 1 and p:  # flip a bit, in the first bytes mostly (the header, the fields)
            i = rnd.randrange(min(len(p), 80))
            p[i] ^= 1 << rnd.randrange(8)
        elif k == 2 and p:  # a random byte
            p[rnd.randrange(min(len(p), 80))] = rnd.randrange(256)
        elif k == 3:  # bytes appended
            p += bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 9)))
        elif k == 4 and len(p) > 4:  # a field of 4 bytes overwritten
            i = rnd.randrange(len(p) - 3)
            p[i:i + 4] = struct.pack(">I", rnd.choice((0, 1, 0xFFFFFFFF, rnd.randrange(1 << 32))))
    return bytes(p)


def fuzz(pcap, out, seed, count):
    import random
    rnd = random.Random(seed)
    dgrams, frames, _ = wire(pcap)
    seeds = []
    for n, src, dst, proto, sport, dport, seq, flags, pl in packets(pcap):
        if proto == "udp" and len(pl) < 2000:
            seeds.append((dport, pl))
    hello = frame_tool.frame(1, struct.pack(">IHHII", 0x534D5043, 4, 2, 0, 0) + b"\1" * 32)
    bodies = [frame_tool.frame(t, bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 40))))
              for t in list(range(1, 26)) + [77]]
    recs = []

    def ip(proto, payload):
        return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, 64, proto, 0,
                           bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + payload

    def eth(p):
        return b"\0" * 12 + b"\x08\x00" + p
    for i in range(count):
        dport, pl = rnd.choice(seeds)
        pl = mutate(rnd, pl)
        recs.append(eth(ip(17, struct.pack(">HHHH", 40000, 5555, 8 + len(pl), 0) + pl)))
    for i in range(count // 4):
        sport = 20000 + i
        seq = 1000
        for j, pl in enumerate((hello, mutate(rnd, rnd.choice(bodies)))):
            flags = 0x02 if j < 0 else 0x18
            recs.append(eth(ip(6, struct.pack(">HHIIBBHHH", sport, 6000, seq, 1, 0x50, flags, 65535, 0, 0) + pl)))
            seq += len(pl)
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for i, r in enumerate(recs):
            f.write(struct.pack("<IIII", 1000 + i, 0, len(r), len(r)) + r)
    print("wrote %d datagrams, %d connections" % (count, count // 4))


def compare(pcap, js, datagrams_only=False):
    dgrams, frames, _ = wire(pcap)
    lay = layers(js)
    bad, types, whys = [], Counter(), Counter()
    counts = Counter()

    def diff(where, mine, theirs, clear):
        for k, v in mine.items():
            if k == "why":
                continue
            if not same(k, v, theirs.get("smp." + k)):
                bad.append("%s: %s is %.80r, the dissector says %.80r" % (where, k, v, theirs.get("smp." + k)))
        if clear:  # what the dissector shows that this decoding does not
            for k in CORE:
                if k not in mine and "smp." + k in theirs:
                    bad.append("%s: the dissector shows %s=%.80r" % (where, k, theirs["smp." + k]))
        malformed = [m for m in experts(theirs) if m.startswith("Malformed")]
        if "why" in mine:
            counts["malformed"] += 1
            whys[mine["why"]] += 1
            if not any(mine["why"] in m for m in malformed):
                bad.append("%s: malformed (%s), the dissector says %r" % (where, mine["why"], malformed))
        elif malformed:
            bad.append("%s: well-formed, the dissector says %r" % (where, malformed))

    for n, a, b, d in dgrams:
        counts["datagrams"] += 1
        types[d.get("type", "?")] += 1
        got = lay.get(n)
        if got is None and d["size"] == 0:  # Wireshark hands an empty payload to no dissector
            counts["empty"] += 1
            continue
        if got is None:
            counts["unclaimed"] += 1
            print("# packet %d (%s -> %s, %s) not dissected" % (n, a, b, d.get("why") or d.get("type")))
            continue
        if len(got) != 1:
            bad.append("packet %d: %d messages shown for one datagram" % (n, len(got)))
        sealed = "encrypted" in d or "tag" in d
        counts["sealed"] += sealed
        diff("packet %d %s" % (n, d.get("type", "?")), d, got[0], "why" not in d and not sealed)
        if sealed:
            extra = [k for k in got[0] if k.startswith("smp.") and k[4:] not in d and k != "smp.type_code"]
            if extra:
                bad.append("packet %d: sealed, yet the dissector shows %s" % (n, extra))
    for n, lst in sorted(frames.items()):
        if datagrams_only:
            break
        got = lay.get(n, [])
        if len(got) != len(lst):
            bad.append("packet %d: %d frames, the dissector shows %d" % (n, len(lst), len(got)))
        for i, (d, t) in enumerate(zip(lst, got)):
            counts["frames"] += 1
            sealed = "encrypted" in d
            counts["sealed"] += sealed
            types["F_" + d.get("type", "sealed")] += 1
            diff("packet %d frame %d %s" % (n, i + 1, d.get("type", "sealed")), d, t, not sealed)
            if sealed and "smp.type" in t:
                bad.append("packet %d frame %d: sealed, yet the dissector shows type %r" % (n, i + 1, t["smp.type"]))
    for b in bad[:int(os.environ.get("CHECK_SHOW", 20))]:
        print("# " + b)
    print("datagrams %d frames %d sealed %d malformed %d unclaimed %d empty %d mismatches %d" % (
        counts["datagrams"], counts["frames"], counts["sealed"], counts["malformed"], counts["unclaimed"],
        counts["empty"], len(bad)))
    print("types " + " ".join("%s=%d" % kv for kv in sorted(types.items())))
    print("malformed-why " + " ".join("%s=%d" % (k.replace(" ", "_"), v) for k, v in sorted(whys.items())))


LINE = re.compile(r"^trace (\S+) (client|maitre|esclave) (send|recv) (udp|tcp) (\S+) (\S+)((?: \S+=\S+)*)\s*$")


def trace_lines(path):
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if m:
                kv = dict(x.split("=", 1) for x in m.group(7).split())
                out.append(dict(prog=m.group(2), dir=m.group(3), link=m.group(4), peer=m.group(5),
                                type=m.group(6), kv=kv, file=path))
    return out


def expect_dgram(d):
    """What a trace line says of this datagram (the spec's keys)."""
    e = {"seq": str(d["seq"])}
    if d["job_id"]:
        e["job_id"] = str(d["job_id"])
    for k in ("frag", "offset", "total", "len", "cum", "state"):
        if k in d:
            e[k] = str(d[k])
    if "sack" in d:
        e["sack"] = "0x%x" % d["sack"]
    if d["type"] == "PONG":
        e["slots"] = "%d/%d" % (d["slots_free"], d["slots_total"])
    e["size"] = str(d["size"])
    return e


def check_kv(where, line, expect, bad):
    if line["type"] != expect.pop("type"):
        bad.append("%s: type %s in the trace" % (where, line["type"]))
    for k, v in expect.items():
        if line["kv"].get(k) != v:
            bad.append("%s: %s=%s in the trace, %s on the wire" % (where, k, line["kv"].get(k), v))


def trace(pcap, logs):
    dgrams, _, conns = wire(pcap)
    lines = [ln for p in logs for ln in trace_lines(p)]
    bad = []
    forged = {a for n, a, b, d in dgrams if "why" in d}  # the test's malformed datagrams: no program sent them
    udp = [ln for ln in lines if ln["link"] == "udp" and ln["peer"] not in forged]
    ok = [(n, a, b, d) for n, a, b, d in dgrams if "why" not in d and a not in forged]
    # each log's own UDP port: a slave's from its "listening on UDP" line; the
    # master's is the one its slaves' lines name as their peer
    me = {}
    for p in logs:
        with open(p, errors="replace") as f:
            m = re.search(r"listening on UDP \S*:(\d+) ", f.read())
        if m:
            me[p] = m.group(1)
    peers = Counter(ln["peer"].rsplit(":", 1)[1] for ln in udp if ln["prog"] == "esclave")
    for p in logs:
        if p not in me and any(ln["file"] == p and ln["prog"] == "maitre" for ln in udp) and peers:
            me[p] = peers.most_common(1)[0][0]
    sends = {}
    recvs = {}
    port = lambda addr: addr.rsplit(":", 1)[1]  # noqa: E731
    for ln in udp:
        own = me.get(ln["file"])
        key = (own, port(ln["peer"])) if ln["dir"] == "send" else (port(ln["peer"]), own)
        key += (ln["kv"].get("seq"),)
        (sends if ln["dir"] == "send" else recvs).setdefault(key, []).append(ln)
    nd = nl = 0
    for n, a, b, d in ok:
        nd += 1
        key = (port(a), port(b), str(d["seq"]))
        for what, table in (("send", sends), ("recv", recvs)):
            got = table.pop(key, [])
            if what == "send" and len(got) != 1:
                bad.append("packet %d %s %s -> %s seq %d: %d send lines" % (n, d["type"], a, b, d["seq"], len(got)))
            for ln in got:
                nl += 1
                e = expect_dgram(d)
                e["type"] = d["type"]
                check_kv("packet %d %s line" % (n, what), ln, e, bad)
    for key, got in list(sends.items()) + list(recvs.items()):
        bad.append("%d trace line(s) %s %s with no datagram on the wire: %s" % (
            len(got), got[0]["dir"], got[0]["type"], key))
    # frames: each connection's lines in order, on both ends
    nf = nfl = 0
    tcp = [ln for ln in lines if ln["link"] == "tcp"]
    client_files = [p for p in logs if any(ln["prog"] == "client" for ln in trace_lines(p))]
    for i, (c, m, lst) in enumerate(sorted(conns, key=lambda x: x[2][0][1] if x[2] else 0)):
        mine = {"c2m": [d for dr, _, d in lst if dr == "c2m"], "m2c": [d for dr, _, d in lst if dr == "m2c"]}
        nf += len(lst)
        views = [("maitre", "recv", "c2m", lambda ln: ln["prog"] == "maitre" and ln["peer"] == c),
                 ("maitre", "send", "m2c", lambda ln: ln["prog"] == "maitre" and ln["peer"] == c)]
        if i < len(client_files):
            f = client_files[i]
            views += [("client", "send", "c2m", lambda ln, f=f: ln["file"] == f and ln["peer"] == m),
                      ("client", "recv", "m2c", lambda ln, f=f: ln["file"] == f and ln["peer"] == m)]
        for prog, dr, way, pick in views:
            got = [ln for ln in tcp if ln["dir"] == dr and pick(ln)]
            if len(got) != len(mine[way]):
                bad.append("connection %s: %d %s frames, %d %s %s lines" % (c, len(mine[way]), way, len(got), prog, dr))
            for j, (ln, d) in enumerate(zip(got, mine[way])):
                nfl += 1
                e = {"type": d["type"], "size": str(d["size"])}
                if "seq" in d:
                    e["seq"] = str(d["seq"])
                check_kv("connection %s %s frame %d (%s %s)" % (c, way, j + 1, prog, dr), ln, e, bad)
    for b in bad[:20]:
        print("# " + b)
    print("datagrams %d lines %d frames %d lines %d mismatches %d" % (nd, nl, nf, nfl, len(bad)))


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "compare":
        compare(sys.argv[2], sys.argv[3], "--datagrams-only" in sys.argv[4:])
    elif len(sys.argv) == 6 and sys.argv[1] == "fuzz":
        fuzz(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "trace":
        trace(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)
