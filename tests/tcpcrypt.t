#!/usr/bin/env bash
# Encrypted frames between client and master (issue 13): keyed runs are
# byte-exact; the master accepts both keys of a rotation, a client with a
# third key is refused, and the wrong order of a rotation fails with a
# named error; a bit flipped on a live connection, either way, is caught;
# nothing of a command or of its output is on the TCP stream in clear; a
# low-order public key in a HELLO or a WELCOME is refused.
. "$(dirname "$0")/lib.sh"

NEW=$(random_key) OLD=$(random_key) THIRD=$(random_key)
key_file "$T/new" "$NEW"
key_file "$T/old" "$OLD"
key_file "$T/third" "$THIRD"
key_file "$T/newold" "$NEW" "$OLD"

start_slave s1 -j 4 --key-file "$T/new"
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
start_master master "$T/slaves.conf" --key-file "$T/newold"
wait_slaves_up master 1 || bail "keyed slave not up: $(cat "$T/master.log")"

# expected_sums FILE: the same rows, each line of FILE run here.
expected_sums() {
    local i=0 line
    while IFS= read -r line; do
        i=$((i + 1))
        sh -c "$line" >"$T/one"
        echo "$i $(stat -c %s "$T/one") $(md5sum <"$T/one" | cut -d' ' -f1) 0"
    done <"$1"
}

# --- keyed runs, byte-exact: 20 commands with --json, 1 MiB outputs among them
for i in $(seq 1 20); do
    if [ $((i % 4)) = 0 ]; then echo "seq $i 99999999 | head -c 1048576"; else echo "yes line-$i | head -c $((i * 777))"; fi
done >"$T/json.txt"
rc=0; timeout 120 "$BIN/client" --key-file "$T/new" --json 127.0.0.1 "$MASTER_PORT" "$T/json.txt" >"$T/json.out" 2>"$T/json.err" || rc=$?
is "$rc" 0 "keyed --json run of 20 commands (five 1 MiB outputs): exit 0"
expected_sums "$T/json.txt" >"$T/json.want"
json_sums "$T/json.out" >"$T/json.got" 2>/dev/null
is "$(diff "$T/json.want" "$T/json.got" | grep -c '^[<>]')/$(wc -l <"$T/json.got")" "0/20" "every result byte-exact"
check "the master logs the client as authenticated" grep -q 'connected (authenticated)' "$T/master.log"

# --- rotation on the master: "NEW\nOLD"; clients with NEW, OLD, both: served
echo 'echo rot-ok' >"$T/one.txt"
run_client --key-file "$T/new" -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/rot-ok" "rotation: a client with the new key is served"
run_client --key-file "$T/old" -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/rot-ok" "rotation: a client with the old key is served too"
check "the master says it used the old key" grep -q 'connected (authenticated with the old key' "$T/master.log"
run_client --key-file "$T/newold" -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/rot-ok" "rotation: a client with both keys (new first) is served"
printf 'touch %s/third-ran\n' "$T" >"$T/evil.txt"
run_client --key-file "$T/third" "$T/evil.txt"
is "$RC" 255 "a client with a third key: exit 255"
check "with the message 'authentication failed: wrong key'" grep -q 'authentication failed: wrong key' "$T/err"
check "its command did not run" test ! -e "$T/third-ran"

# The wrong order (clients first): a client with "NEW\nOLD" starts with
# NEW, which a master that has only OLD does not know: a named error.
start_slave s2 -j 1 --key-file "$T/old"
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves2.conf"
start_master m2 "$T/slaves2.conf" --key-file "$T/old"
M2_PORT=$MASTER_PORT
printf 'touch %s/order-ran\n' "$T" >"$T/order.txt"
rc=0; timeout 60 "$BIN/client" --key-file "$T/newold" 127.0.0.1 "$M2_PORT" "$T/order.txt" >/dev/null 2>"$T/order.err" || rc=$?
is "$rc" 255 "a client with the new key first, a master with the old key only: exit 255"
check "with the message 'authentication failed: wrong key'" grep -q 'authentication failed: wrong key' "$T/order.err"
check "its command did not run" test ! -e "$T/order-ran"
check "the master logs it" grep -q 'authentication failed: wrong key' "$T/m2.log"
MASTER_PORT=$(sed -nE 's/.*TCP [^ ]*:([0-9]+),.*/\1/p' "$T/master.log" | head -1)

# start_proxy NAME MODE: tests/tcp_tamper.py in front of the master (PROXY_PORT).
start_proxy() {
    mkdir -p "$T/$1"
    python3 "$TOP/tests/tcp_tamper.py" "$2" "$MASTER_PORT" "$T/$1" >"$T/$1.log" 2>&1 &
    PIDS+=("$!")
    local line
    line=$(wait_for_line "$T/$1.log" 'listening on TCP' 10) || bail "proxy $1 did not start: $(cat "$T/$1.log")"
    PROXY_PORT=$(echo "$line" | sed -E 's/.*:([0-9]+)$/\1/')
}

# --- nothing in clear on the stream: a random secret the command holds
# and its output (reversed) recorded by the proxy, in neither direction.
secret=s$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
reversed=$(echo "out-$secret" | rev)
echo "echo out-$secret | rev" >"$T/secret.txt"
start_proxy rec pass
rc=0; timeout 60 "$BIN/client" --key-file "$T/new" -q 127.0.0.1 "$PROXY_PORT" "$T/secret.txt" >"$T/secret.out" 2>&1 || rc=$?
is "$rc/$(cat "$T/secret.out")" "0/$reversed" "keyed run through a recording proxy: the output came back"
check "the stream was recorded (both ways)" test -s "$T/rec/c2m" -a -s "$T/rec/m2c"
check "the command's secret is not in the client's stream" sh -c "! grep -qa '$secret' '$T/rec/c2m'"
check "nor in the master's" sh -c "! grep -qa -e '$secret' -e '$reversed' '$T/rec/m2c'"
check "nor the word echo" sh -c "! grep -qa 'echo' '$T/rec/c2m'"

# The same without a key: then it is there (the check above can fail).
KEYED_PORT=$MASTER_PORT
start_slave s3 -j 1
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves3.conf"
start_master m3 "$T/slaves3.conf"
wait_slaves_up m3 1 || bail "keyless slave not up"
start_proxy plain pass
rc=0; timeout 60 "$BIN/client" -q 127.0.0.1 "$PROXY_PORT" "$T/secret.txt" >"$T/plain.out" 2>&1 || rc=$?
is "$rc/$(cat "$T/plain.out")" "0/$reversed" "keyless run through the proxy"
check "without a key the command is in clear" grep -qa "$secret" "$T/plain/c2m"
check "and so is its output" grep -qa "$reversed" "$T/plain/m2c"
MASTER_PORT=$KEYED_PORT

# --- tampering on a live connection
for i in $(seq 1 5); do echo "echo t-$i"; done >"$T/five.txt"
start_proxy m2c m2c
rc=0; timeout 60 "$BIN/client" --key-file "$T/new" 127.0.0.1 "$PROXY_PORT" "$T/five.txt" >/dev/null 2>"$T/m2c.err" || rc=$?
check "the proxy flipped a bit of the master's first frame after WELCOME" grep -q '^m2c ' "$T/m2c/tampered"
is "$rc" 255 "a frame from the master changed on the way: the client exits 255"
check "saying so" grep -q 'a frame from the master failed authentication: connection tampered with?' "$T/m2c.err"

start_proxy c2m c2m
rc=0; timeout 60 "$BIN/client" --key-file "$T/new" 127.0.0.1 "$PROXY_PORT" "$T/five.txt" >/dev/null 2>"$T/c2m.err" || rc=$?
check "the proxy flipped a bit of the client's first frame after HELLO" grep -q '^c2m ' "$T/c2m/tampered"
wait_for_line "$T/master.log" 'frame failed authentication \(tampered with\?\): disconnecting' 10 >/dev/null
ok $? "a frame from the client changed on the way: the master logs it and disconnects"
check "the client does not hang (exit $rc)" test "$rc" != 124
run_client --key-file "$T/new" -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/rot-ok" "and the master serves another client"

# --- low-order (all-zero) public keys: a keyed HELLO whose tag is right
python3 - "$MASTER_PORT" "$NEW" >"$T/low.out" 2>&1 <<'PY'
import hashlib, hmac, os, socket, struct, sys
port, secret = int(sys.argv[1]), sys.argv[2].encode()
prk = hmac.new(b"serveur-mp", secret, hashlib.sha256).digest()
c2m = hmac.new(prk, b"serveur-mp 6 client->master\x01", hashlib.sha256).digest()
fields = struct.pack(">IHHII", 0x534D5043, 4, 1 | 2, 0, 0) + os.urandom(32) + bytes(32)
tag = hmac.new(c2m, b"hello" + fields, hashlib.sha256).digest()
body = bytes([1]) + fields + tag
s = socket.create_connection(("127.0.0.1", port))
s.sendall(struct.pack(">I", len(body)) + body)
s.settimeout(10)
got = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    got += d
print(got[7:].decode("utf-8", "replace") if len(got) > 5 and got[4] == 7 else "no ERROR frame: %r" % got[:40])
PY
check "a HELLO with an all-zero public key gets ERROR naming it" grep -q 'authentication failed: the client.s public key is of low order' "$T/low.out"
check "the master logs it" grep -q 'public key is of low order' "$T/master.log"
run_client --key-file "$T/new" -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/rot-ok" "and serves the next client"

# ... and a WELCOME with one, its proof right (a fake master that has the key)
python3 - "$NEW" "$T/fake.port" <<'PY' >"$T/fake.log" 2>&1 &
import hashlib, hmac, os, socket, struct, sys
secret, portfile = sys.argv[1].encode(), sys.argv[2]
prk = hmac.new(b"serveur-mp", secret, hashlib.sha256).digest()
m2c = hmac.new(prk, b"serveur-mp 6 master->client\x01", hashlib.sha256).digest()
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(1)
open(portfile + ".tmp", "w").write("%d\n" % ls.getsockname()[1])
os.rename(portfile + ".tmp", portfile)
c, _ = ls.accept()
buf = b""
while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
    buf += c.recv(4096)
nonce = buf[5 + 16:5 + 48]
fields = struct.pack(">HHHIH", 4, 1, 1, 1, 1) + os.urandom(32) + bytes(32)
proof = hmac.new(m2c, b"welcome" + nonce + fields, hashlib.sha256).digest()
body = bytes([2]) + fields + proof
c.sendall(struct.pack(">I", len(body)) + body)
c.settimeout(10)
try:
    while c.recv(4096):
        pass
except OSError:
    pass
PY
PIDS+=("$!")
wait_for_line "$T/fake.port" '^[0-9]+$' 10 >/dev/null || bail "fake master did not start: $(cat "$T/fake.log")"
rc=0; timeout 60 "$BIN/client" --key-file "$T/new" 127.0.0.1 "$(cat "$T/fake.port")" "$T/one.txt" >/dev/null 2>"$T/lowm.err" || rc=$?
is "$rc" 255 "a WELCOME with an all-zero public key: the client exits 255"
check "naming it" grep -q "authentication failed: the master's public key is of low order" "$T/lowm.err"

done_testing
