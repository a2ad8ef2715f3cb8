#!/usr/bin/env bash
# Client slots: connections that never finish their handshake, replayed
# HELLOs and idle clients do not lock anyone out; busy clients are never
# pushed out; a client slow to produce commands keeps working.
. "$(dirname "$0")/lib.sh"

# holder PORT NAME [silent|hello|replay FILE]: a connection that sends
# nothing, a HELLO (no key), or the bytes of FILE, then only reads. When
# the master closes it: $T/NAME.bin holds what it received, $T/NAME.done
# after how many seconds.
cat >"$T/holder.py" <<'PY'
import socket, struct, sys, time
port, name, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
if mode == "hello":
    body = struct.pack(">IHHII", 0x534D5043, 4, 0, 0, 0) + bytes(32)
    s.sendall(struct.pack(">IB", len(body) + 1, 1) + body)
elif mode == "replay":
    s.sendall(open(sys.argv[4], "rb").read())
t0 = time.time()
s.settimeout(40)
got = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
        open(name + ".bin", "wb").write(got)
except OSError:
    pass
open(name + ".bin", "wb").write(got)
open(name + ".done", "w").write("%.1f" % (time.time() - t0))
PY
holder() { # holder PORT NAME MODE [FILE]
    local port=$1 name=$2; shift 2
    python3 "$T/holder.py" "$port" "$T/$name" "$@" &
    PIDS+=($!)
}
# wait_count FILE REGEX N: FILE has at least N lines matching REGEX (10 s at most).
wait_count() {
    local i
    for i in $(seq 1 200); do
        [ "$(grep -c "$2" "$1")" -ge "$3" ] && return 0
        sleep 0.05
    done
    return 1
}

start_slave s1 -j 4
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"

# Without a key, all 3 slots taken by clients that said HELLO and nothing
# more: a new client is served, the one idle longest makes room (told why).
start_master m1 "$T/slaves.conf" --max-clients 3
wait_slaves_up m1 1 || bail "slave not up"
for k in 1 2 3; do
    holder "$MASTER_PORT" idle$k hello
    wait_count "$T/m1.log" ' connected' "$k" || bail "holder $k not connected"
done
echo 'echo served' >"$T/one.txt"
run_client -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/served" "3 of 3 slots held by idle clients: a new client is served"
for _ in $(seq 1 100); do [ -f "$T/idle1.done" ] && break; sleep 0.05; done
check "the client idle longest was closed, told why" \
    grep -q 'closed to make room for a new client: all 3 client slots are taken and this one was idle longest' "$T/idle1.bin"
check "the others were not" test ! -e "$T/idle2.done" -a ! -e "$T/idle3.done"

# Clients with commands running are never pushed out: the newcomer is
# refused instead, and the busy ones finish.
start_master m2 "$T/slaves.conf" --max-clients 2
wait_slaves_up m2 1 || bail "slave not up"
bpids=()
for k in 1 2; do
    echo "sleep 2; echo busy-$k" >"$T/busy$k.txt"
    timeout 60 "$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/busy$k.txt" >"$T/busy$k.out" 2>&1 &
    bpids+=($!)
    wait_count "$T/m2.log" ' connected' "$k" || bail "busy client $k not connected"
done
run_client -q "$T/one.txt"
is "$RC" 255 "2 of 2 slots held by clients with a command running: a new client is refused (exit 255)"
check "with a clear message" grep -q 'too many clients (at most 2)' "$T/err"
rcs=""
for p in "${bpids[@]}"; do rc=0; wait "$p" || rc=$?; rcs="$rcs$rc"; done
is "$rcs/$(cat "$T/busy1.out" "$T/busy2.out" | tr '\n' ' ')" "00/busy-1 busy-2 " "and the busy clients finish"

# Connections that never say HELLO: more of them than slots do not keep a
# client out (the oldest one in its handshake makes room).
for k in 1 2 3 4 5; do holder "$MASTER_PORT" silent$k silent; done
for _ in $(seq 1 100); do [ "$(ls "$T"/silent*.done 2>/dev/null | wc -l)" -ge 3 ] && break; sleep 0.05; done
is "$(cat "$T"/silent*.bin | grep -ao 'handshake not finished' | wc -l)" 3 \
    "5 silent connections, 2 slots: the 3 oldest are closed, told why"
run_client -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/served" "and a client is served"

# A client slow to produce its commands is not closed for being idle (a
# slot is free): its first line comes after 11 s (checked at the end).
{ sleep 11; echo 'echo slow-1'; sleep 1; echo 'echo slow-2'; } |
    timeout 60 "$BIN/client" -q 127.0.0.1 "$MASTER_PORT" - >"$T/slow.out" 2>"$T/slow.err" &
slow=$!
PIDS+=("$slow")

# With a key: a HELLO recorded from a real client and replayed holds no
# slot, gets no command run, and is dropped at the HELLO deadline.
(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/key")
start_slave ks -j 4 --key-file "$T/key"
echo "127.0.0.1 $SLAVE_PORT" >"$T/keyed.conf"
start_master m3 "$T/keyed.conf" --key-file "$T/key" --max-clients 3
wait_slaves_up m3 1 || bail "keyed slave not up"
# A recording proxy: what the client sends goes to $T/rec too.
python3 - "$MASTER_PORT" "$T/rec" "$T/rec.port" <<'PY' &
import socket, sys, threading
up = int(sys.argv[1])
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(1)
open(sys.argv[3] + ".tmp", "w").write(str(ls.getsockname()[1]))
import os; os.rename(sys.argv[3] + ".tmp", sys.argv[3])
c, _ = ls.accept()
m = socket.create_connection(("127.0.0.1", up))
rec = open(sys.argv[2], "wb")
def back():
    while True:
        d = m.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.shutdown(socket.SHUT_WR)  # not close: the loop below still reads c
threading.Thread(target=back, daemon=True).start()
while True:
    d = c.recv(65536)
    if not d:
        break
    rec.write(d); rec.flush()
    m.sendall(d)
m.shutdown(socket.SHUT_WR)
PY
PIDS+=($!)
for _ in $(seq 1 100); do [ -f "$T/rec.port" ] && break; sleep 0.05; done
echo "echo x >> $T/marker; echo recorded" >"$T/rec.txt"
RC=0; timeout 60 "$BIN/client" --key-file "$T/key" -q 127.0.0.1 "$(cat "$T/rec.port")" "$T/rec.txt" >"$T/out" 2>"$T/err" || RC=$?
is "$RC/$(cat "$T/out")/$(wc -l <"$T/marker")" "0/recorded/1" "a keyed client, recorded: its command ran once"
python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(); n=struct.unpack(">I",d[:4])[0]; open(sys.argv[2],"wb").write(d[:4+n])' \
    "$T/rec" "$T/rec.hello"
# Everything replayed: the frames after HELLO are bound to the old master nonce.
for k in 1 2; do holder "$MASTER_PORT" all$k replay "$T/rec"; done
for _ in $(seq 1 100); do [ -f "$T/all1.done" ] && [ -f "$T/all2.done" ] && break; sleep 0.05; done
check "the whole recorded conversation replayed: closed at once" test -f "$T/all1.done" -a -f "$T/all2.done"
# The HELLO alone, replayed on 2 connections of a master of 3 slots, and
# 2 genuine clients: all fit, as replays hold no slot.
hello_start=$(date +%s%N)
for k in 1 2; do holder "$MASTER_PORT" hello$k replay "$T/rec.hello"; done
for _ in $(seq 1 100); do [ -s "$T/hello1.bin" ] && [ -s "$T/hello2.bin" ] && break; sleep 0.05; done
is "$(od -An -tu1 -j4 -N1 "$T/hello1.bin" | tr -d ' ')" 2 "a replayed HELLO is answered with a WELCOME"
# Meanwhile a genuine keyed client that is slow to produce its commands:
# its first line comes after the HELLO deadline.
{ sleep 11; echo 'echo late-1'; sleep 1; echo 'echo late-2'; } |
    timeout 60 "$BIN/client" --key-file "$T/key" -q 127.0.0.1 "$MASTER_PORT" - >"$T/late.out" 2>"$T/late.err" &
late=$!
PIDS+=("$late")
wait_count "$T/m3.log" 'connected (authenticated)' 2 || bail "the slow keyed client did not connect"
run_client --key-file "$T/key" -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/served" "2 replayed HELLOs and a client on a master of 3 slots: another client is served"
check "no connection had to make room for it" sh -c "! grep -q 'handshake not finished\|make room' '$T/m3.log'"
for _ in $(seq 1 300); do [ -f "$T/hello1.done" ] && [ -f "$T/hello2.done" ] && break; sleep 0.05; done
waited=$(( ($(date +%s%N) - hello_start) / 1000000 ))
check "the replayed HELLOs were dropped at the deadline (after ${waited} ms)" \
    test -f "$T/hello1.done" -a -f "$T/hello2.done" -a "$waited" -lt 14000
is "$(grep -c 'no READY within 10 s of connecting' "$T/m3.log")" 2 "saying why, in the master's log"
is "$(cat "$T/hello1.bin" "$T/hello2.bin" | grep -ao 'no READY within 10 s' | wc -l)" 0 \
    "the ERROR after WELCOME is sealed: the replayer cannot read it"
is "$(wc -l <"$T/marker")" 1 "no replay got a command run"
rc=0; wait "$late" || rc=$?
is "$rc/$(sort "$T/late.out" | tr '\n' ' ')" "0/late-1 late-2 " "a keyed client whose first command comes after 11 s completes"
rc=0; wait "$slow" || rc=$?
is "$rc/$(sort "$T/slow.out" | tr '\n' ' ')" "0/slow-1 slow-2 " "without a key too"

done_testing
