#!/usr/bin/env bash
# keywipe.t - forward secrecy in the master's memory (issue 13): a keyed
# connection's frame keys are wiped when the connection ends. A client (in
# Python, holding the key) runs the handshake and derives both frame keys
# as the master does (doc/security.md 4.2); a core of the master (gcore)
# holds them while the connection is open, and no longer once it closed
# (they stayed in freed memory, which opens a recording of the connection
# to whoever reads the master's memory later).
. "$(dirname "$0")/lib.sh"
command -v gcore >/dev/null || skip_all "no gcore (gdb)"
grep -aq __asan_init "$(prog serveur_maitre)" && skip_all "a sanitizer build: its core is too big for gcore"
# the first python3 with the cryptography package (pyenv's may lack what apt installed)
PY=
for p in python3 /usr/bin/python3; do
    "$p" -c 'import cryptography.hazmat.primitives.asymmetric.x25519' 2>/dev/null && { PY=$p; break; }
done
[ -n "$PY" ] || skip_all "no python3-cryptography (apt-get install python3-cryptography)"

KEY=$(random_key)
(umask 077; echo "$KEY" >"$T/key")
start_slave s1 -j 1 --key-file "$T/key"
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
start_master master "$T/slaves.conf" --key-file "$T/key"

"$PY" - "$MASTER_PORT" "$KEY" "$T" >"$T/py.log" 2>&1 <<'PY' &
import hashlib, hmac, os, socket, struct, sys, time
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives import serialization
port, secret, t = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
H = lambda k, m: hmac.new(k, m, hashlib.sha256).digest()
prk = H(b"serveur-mp", secret)
D = {d: H(prk, b"serveur-mp 6 " + d + b"\x01") for d in (b"client->master", b"master->client")}
eph = X25519PrivateKey.generate()
pub = eph.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
cn = os.urandom(32)
fields = struct.pack(">IHHII", 0x534D5043, 4, 1 | 2, 0, 0) + cn + pub
body = bytes([1]) + fields + H(D[b"client->master"], b"hello" + fields)
s = socket.create_connection(("127.0.0.1", port))
s.sendall(struct.pack(">I", len(body)) + body)
got = b""
while len(got) < 4 or len(got) < 4 + struct.unpack(">I", got[:4])[0]:
    got += s.recv(4096)
w = got[5:]  # WELCOME: version, slaves, alive (u16), slots (u32), flags (u16), nonce, public key, proof
mn, mpub = w[12:44], w[44:76]
shared = eph.exchange(__import__("cryptography.hazmat.primitives.asymmetric.x25519", fromlist=["x"]).X25519PublicKey.from_public_bytes(mpub))
info = b"frames\0" + pub + mpub
keys = []
for d in (b"master->client", b"client->master"):
    p = H(cn + mn, D[d] + shared)
    keys.append(H(p, info + b"\x01").hex())
open(t + "/keys.tmp", "w").write("\n".join(keys) + "\n"); os.rename(t + "/keys.tmp", t + "/keys")
while not os.path.exists(t + "/close"):
    time.sleep(0.05)
s.close()
open(t + "/closed", "w").write("1\n")
PY
PIDS+=($!)
wait_for_line "$T/keys" '^[0-9a-f]{64}$' 10 >/dev/null || bail "handshake: $(cat "$T/py.log")"
# in_core FILE: how many of the two keys FILE holds
in_core() { "$PY" -c '
import sys
core = open(sys.argv[1], "rb").read()
print(sum(bytes.fromhex(k) in core for k in open(sys.argv[2]).read().split()))' "$1" "$T/keys"; }
gcore -o "$T/open" "$MASTER_PID" >/dev/null 2>&1 || skip_all "gcore cannot attach here"
is "$(in_core "$T/open.$MASTER_PID")" 2 "the connection open: both of its frame keys are in the master's memory"
check "the key file's text is not in the master's memory (read, derived from, wiped)" bash -c "! grep -aqF '$KEY' '$T/open.$MASTER_PID'"
rm -f "$T/open.$MASTER_PID"
touch "$T/close"
wait_for_line "$T/closed" 1 10 >/dev/null
sleep 0.5 # the master sees the end of the connection
gcore -o "$T/closed" "$MASTER_PID" >/dev/null 2>&1
is "$(in_core "$T/closed.$MASTER_PID")" 0 "the connection closed: neither key is left in the master's memory"
rm -f "$T/closed.$MASTER_PID"
kill -0 "$MASTER_PID"
ok $? "the master still runs"
done_testing
