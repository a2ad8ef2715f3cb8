#!/usr/bin/env bash
# Garbage on every port is dropped with a log line; nothing runs, nothing
# crashes, the daemons keep serving. Bad slaves.conf lines are reported.
PRIVATE_NETNS=1 # resolves a name that does not exist, via DNS
. "$(dirname "$0")/lib.sh"

cluster 2 -j 2
printf 'echo still-ok\n' >"$T/one.txt"

# Random bytes and an HTTP request on the master's TCP port.
python3 - "$MASTER_PORT" <<'PY'
import os, socket, sys
port = int(sys.argv[1])
for payload in (os.urandom(20000), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00\x00\x00\x05\x03abcd",
                b"\x00\x00\x00\x11\x01" + b"\x53\x4d\x50\x43" + b"\x00\x09" + b"\x00" * 10):
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(payload)
        s.settimeout(5)
        while s.recv(4096):
            pass
    except OSError:
        pass
    s.close()
PY
check "TCP garbage logged by the master" grep -q 'garbage (frame length out of range): disconnecting' "$T/master.log"
check "a first frame other than HELLO is refused with a reason" grep -q 'expected HELLO, got frame type 3' "$T/master.log"
check "another protocol version is refused with a reason" grep -q 'protocol version 9 not supported' "$T/master.log"
run_client -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/still-ok" "the master still serves after TCP garbage"

# Random datagrams, and well-formed JOB datagrams that must not run: one
# addressed to another life of the slave, one from an unknown sender with
# a valid header but a broken fragment.
python3 - "${SLAVE_PORTS[0]}" "$T/marker" <<'PY'
import os, random, socket, struct, sys
port, marker = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
random.seed(7)
for i in range(2000):
    n = random.randrange(0, 1500)
    body = os.urandom(n)
    if i % 2 and n >= 4:  # valid magic and version, random rest
        body = b"SM\x06" + bytes([random.randrange(1, 9)]) + body[4:]
    s.sendto(body, ("127.0.0.1", port))
cmd = ("touch " + marker).encode()
req = struct.pack(">II", 0, len(cmd)) + cmd
# JOB: header (magic, version 6, type 3, flags, sender boot, receiver boot,
# seq, job id), then floor, total, offset, fragment size, payload
def job(receiver_boot, total):
    return struct.pack(">HBBBQQQQQIIH", 0x534D, 6, 3, 0, 0x1234 << 32, receiver_boot, 1, 1, 1, total, 0, 1200) + req
s.sendto(job(0xDEADBEEF, len(req)), ("127.0.0.1", port))   # wrong receiver boot: not for this life
s.sendto(job(0, len(req) + 5), ("127.0.0.1", port))        # payload shorter than total says
PY
check "datagram garbage logged by the slave" grep -qE 'dropped a [0-9]+-byte datagram from 127\.0\.0\.1:[0-9]+: (bad magic|truncated|unknown type|bad fragment bounds|trailing bytes|unsupported version)' "$T/s1.log"
lines=$(grep -c 'dropped a' "$T/s1.log")
check "2000 bad datagrams, $lines log lines: rate-limited" test "$lines" -le 10
run_client -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/still-ok" "the slaves still serve after datagram garbage"
check "no forged JOB ran a command" test ! -e "$T/marker"
check "slave 1 still alive" kill -0 "${SLAVE_PIDS[0]}"

# Datagrams to the master's UDP socket from a stranger.
mport=$(ss -Hulpn | grep "pid=$MASTER_PID," | sed -E 's/.*127\.0\.0\.1:([0-9]+) .*/\1/' | head -1)
python3 -c "
import os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(50): s.sendto(os.urandom(100), ('127.0.0.1', $mport))
"
wait_for_line "$T/master.log" 'dropped a 100-byte datagram from 127\.0\.0\.1:[0-9]+: not a known slave' 5 >/dev/null
ok $? "stranger's datagrams to the master are logged and dropped"
run_client -q "$T/one.txt"
is "$RC" 0 "the master still serves after UDP garbage"

# slaves.conf: bad lines are reported with their line number and skipped.
cat >"$T/bad.conf" <<CONF
# a comment
127.0.0.1
127.0.0.1 notaport
no-such-host.invalid 10001
127.0.0.1 ${SLAVE_PORTS[0]} 1 extra

127.0.0.1 ${SLAVE_PORTS[1]} 1
CONF
start_master m2 "$T/bad.conf"
check "line 2 reported" grep -q "bad.conf:2: expected 'host port \[slots\] \[weight=W\]': line skipped" "$T/m2.log"
check "line 3 reported" grep -q "bad.conf:3: port is not a number from 1 to 65535: line skipped" "$T/m2.log"
check "line 4 reported (unresolvable host)" grep -q "bad.conf:4: cannot resolve 'no-such-host.invalid'" "$T/m2.log"
check "line 5 reported" grep -q "bad.conf:5: too many fields" "$T/m2.log"
check "the good line is used" grep -q "1 slave in" "$T/m2.log"

printf '# nothing usable\n127.0.0.1 0\n' >"$T/empty.conf"
rc=0; timeout 10 "$BIN/serveur_maitre" 0 "$T/empty.conf" >"$T/m3.log" 2>&1 || rc=$?
is "$rc" 1 "no usable slave: the master refuses to start (exit 1)"
check "and says why" grep -q "no usable slave in '$T/empty.conf'" "$T/m3.log"
rc=0; timeout 10 "$BIN/serveur_maitre" 0 "$T/nope.conf" >"$T/m4.log" 2>&1 || rc=$?
is "$rc" 1 "missing slaves file: exit 1"
check "and says which file" grep -q "cannot read slaves file '$T/nope.conf'" "$T/m4.log"

done_testing
