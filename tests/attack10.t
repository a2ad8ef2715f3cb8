#!/usr/bin/env bash
# attack10.t - the master's batches and journal (issue 10) under hostile or
# careless clients: frame-level clients (tests/frame_tool.py) doing what the
# real client never does, many orphaned batches, restarts on such a state.
. "$(dirname "$0")/lib.sh"
if ! "$(prog serveur_maitre)" --help 2>&1 | grep -q -- --state-dir; then
    skip_all "needs the journal (issue 10): serveur_maitre has no --state-dir yet"
fi
FT="python3 $TOP/tests/frame_tool.py"

# orphans PORT N: N connections, each ATTACH_NEW then closed at once (an
# empty batch each, orphaned: kept --client-grace).
orphans() {
    python3 - "$1" "$2" <<'PY'
import socket, struct, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
def frame(t, f=b""): return struct.pack(">IB", len(f) + 1, t) + f
made = 0
for i in range(n):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(frame(1, struct.pack(">IHHII", 0x534D5043, 4, 2, 0, 0) + b"\x01" * 32) +
                  frame(10, struct.pack(">BQI", 0, 0, 0)))
        b = b""
        types = []
        while 11 not in types: # WELCOME, then BATCH
            g = s.recv(4096)
            if not g:
                break
            b += g
            types, i = [], 0
            while i + 5 <= len(b) and i + 4 + struct.unpack(">I", b[i:i + 4])[0] <= len(b):
                types.append(b[i + 4])
                i += 4 + struct.unpack(">I", b[i:i + 4])[0]
        s.close()
        made += 11 in types
    except OSError:
        break
print(made)
PY
}

start_slave s1 -j 2
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"

# 1. Many orphaned batches: a batch without its connection has no socket,
# it must not take a place in the poll set (poll() refuses more entries
# than RLIMIT_NOFILE: the master died "poll: Invalid argument", and again
# at each restart, since the replay brings every batch back).
start_master m1 "$T/slaves.conf" --state-dir "$T/st1" --max-clients 4
wait_slaves_up m1 1 || bail "slave not up"
prlimit --nofile=128 --pid "$MASTER_PID" || bail "prlimit failed"
made=$(orphans "$MASTER_PORT" 300)
is "$made" 300 "300 empty batches made, each orphaned at once"
echo 'echo alive' >"$T/one.txt"
run_client -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/alive" "with 300 orphaned batches and 128 descriptors, a client is served"
check "the master is still running" kill -0 "$MASTER_PID"
check "it never failed its poll" bash -c "! grep -q 'poll:' '$T/m1.log'"
run_client --batches
is "$(grep -c ' orphaned ' "$T/out")" 300 "--batches lists the 300 orphaned batches"
port=$MASTER_PORT
stop_pid "$MASTER_PID"
# the restart replays 300 batches, none with a connection
MASTER_ON_PORT=$port start_master m1b "$T/slaves.conf" --state-dir "$T/st1" --max-clients 4
prlimit --nofile=128 --pid "$MASTER_PID" || bail "prlimit failed"
wait_slaves_up m1b 1 || bail "slave not up after the restart"
run_client -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/alive" "restarted on 300 orphaned batches with 128 descriptors: a client is served"
check "the restarted master never failed its poll" bash -c "! grep -q 'poll:' '$T/m1b.log'"
stop_pid "$MASTER_PID"

# 2. Frame-level clients doing what the real client never does.
start_master m2 "$T/slaves.conf" --state-dir "$T/st2" --client-grace 1
wait_slaves_up m2 1 || bail "slave not up"
P=$MASTER_PORT
# bid FILE: the batch id of the first BATCH frame frame_tool printed
bid() { sed -n 's/^BATCH id=\([0-9a-f]*\).*/\1/p' "$1" | head -1; }
# state_of ID: the batch's state in client --batches ('' if not listed)
state_of() { run_client --batches; awk -v id="$1" '$1 == id {print $2}' "$T/out"; }

# 2a. DETACH before END: the batch could never end (no END will come, and
# FOLLOW refuses a batch without END): it must not be left "detached" for
# ever; the master refuses it, and the batch is orphaned like a client
# that vanished (cancelled after --client-grace).
$FT "$P" hello attach:new submit:1:"echo a" detach until:CLOSED >"$T/ft.out" 2>&1
id=$(bid "$T/ft.out")
check "DETACH before END: refused with an ERROR that says why" grep -q '^ERROR .*DETACH.*END' "$T/ft.out"
for _ in $(seq 1 100); do [ "$(state_of "$id")" = cancelled ] && break; sleep 0.05; done
is "$(state_of "$id")" cancelled "DETACH before END: the batch is cancelled after --client-grace, not kept detached for ever"

# 2b. A second ATTACH on the same connection.
$FT "$P" hello attach:new attach:new until:CLOSED >"$T/ft.out" 2>&1
check "a second ATTACH is refused" grep -q '^ERROR unexpected frame type 10 (ATTACH)' "$T/ft.out"

# 2c. SUBMIT on a connection that follows a batch.
$FT "$P" hello attach:new submit:1:"sleep 2; echo b" end:1 until:ACCEPTED detach until:CLOSED >"$T/ft.out" 2>&1
id=$(bid "$T/ft.out")
$FT "$P" hello attach:follow:"$id":0 submit:2:"echo c" until:CLOSED >"$T/ft2.out" 2>&1
check "SUBMIT after ATTACH_FOLLOW (the batch still running) is refused" grep -q '^ERROR SUBMIT after END' "$T/ft2.out"
run_client --batches
check "and the batch still has 1 command" grep -Eq "^$id  +[a-z]+ +[01]/1 " "$T/out"
$FT "$P" hello attach:follow:"$id":0 until:BYE ack:1 >"$T/ft.out" 2>&1
check "followed again, it ends with its one result" grep -qF "stdout=b'b\\n'" "$T/ft.out"

# 2d. ATTACH with have beyond done, and a resume of an unknown batch.
$FT "$P" hello attach:follow:"$id":5 until:CLOSED >"$T/ft.out" 2>&1
check "ATTACH_FOLLOW with have 5 of 1: refused" grep -q "^ERROR this client says it holds 5 results of batch $id, which has 1" "$T/ft.out"
$FT "$P" hello attach:resume:0123456789abcdef:0 until:CLOSED >"$T/ft.out" 2>&1
check "ATTACH_RESUME of an unknown batch: refused" grep -q '^ERROR no batch 0123456789abcdef on this master' "$T/ft.out"

# 2e. SUBMIT before ATTACH by a client that speaks batches.
$FT "$P" hello submit:1:"echo d" until:CLOSED >"$T/ft.out" 2>&1
check "SUBMIT before ATTACH: refused" grep -q '^ERROR expected ATTACH, got frame type 3 (SUBMIT)' "$T/ft.out"

# 2f. ACK with absurd counts, then more frames after CANCEL.
$FT "$P" hello attach:new submit:1:"echo e" end:1 ack:4294967295 until:BYE ack:7 >"$T/ft.out" 2>&1
id=$(bid "$T/ft.out")
is "$(state_of "$id")" finished "an ACK before BYE and a wrong ACK after it: the batch is not delivered"
$FT "$P" hello attach:new submit:1:"sleep 5" cancel submit:2:"echo f" end:2 until:CLOSED >"$T/ft.out" 2>&1
id=$(bid "$T/ft.out")
is "$(state_of "$id")" cancelled "CANCEL then more frames: cancelled"
run_client --batches
check "and nothing after the CANCEL was taken (1 command)" grep -Eq "^$id  +cancelled +[0-9]/1 " "$T/out"

# 2g. Frames sent with ATTACH in one write: those after it are the
# attached batch's, handled at once (they waited for the next bytes from
# the client, for ever if it sent none: a follower's DETACH stuck until
# the batch ended).
$FT "$P" hello attach:new submit:1:"sleep 6; echo g" end:1 until:ACCEPTED detach until:CLOSED >"$T/ft.out" 2>&1
id=$(bid "$T/ft.out")
start=$(date +%s%N)
python3 - "$P" "$id" >"$T/pipe.out" <<'PY'
import socket, struct, sys
port, bid = int(sys.argv[1]), int(sys.argv[2], 16)
def frame(t, f=b""): return struct.pack(">IB", len(f) + 1, t) + f
s = socket.create_connection(("127.0.0.1", port), timeout=30)
s.sendall(frame(1, struct.pack(">IHHII", 0x534D5043, 4, 2, 0, 0) + b"\x01" * 32))
b = b""
while len(b) < 4 or len(b) < 4 + struct.unpack(">I", b[:4])[0]: b += s.recv(4096)  # WELCOME
s.sendall(frame(10, struct.pack(">BQI", 3, bid, 0)) + frame(15))  # ATTACH_FOLLOW and DETACH, one write
b = b[4 + struct.unpack(">I", b[:4])[0]:]
while True:
    g = s.recv(4096)
    if not g: break
    b += g
    types = []
    i = 0
    while i + 5 <= len(b):
        n = struct.unpack(">I", b[i:i+4])[0]
        if i + 4 + n > len(b): break
        types.append(b[i+4]); i += 4 + n
    if 8 in types: break
print(" ".join(str(t) for t in types))
PY
took=$(( ($(date +%s%N) - start) / 1000000 ))
check "ATTACH_FOLLOW and DETACH in one write: BYE at once ($took ms), not when the batch ends" test "$took" -lt 4000
is "$(cat "$T/pipe.out")" "11 8" "and the follower got BATCH, then BYE (it left: no COMMAND after it)"
stop_pid "$MASTER_PID"

# 3. The wall clock steps (libfaketime, the master's wall clock only) by
# two hours while a delivered batch is kept (--keep-results 3600) and an
# orphaned one waits (--client-grace 300): neither timer may notice, they
# run on the monotonic clock.
FT_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
if [ -f "$FT_LIB" ]; then
    echo "+0" >"$T/faketime"
    # ASan wants to be first: with libfaketime preloaded, it is told not to check
    SMP_PREFIX="env LD_PRELOAD=$FT_LIB FAKETIME_TIMESTAMP_FILE=$T/faketime FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1 ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0" \
        start_master m3 "$T/slaves.conf" --state-dir "$T/st3"
    wait_slaves_up m3 1 || bail "slave not up"
    P=$MASTER_PORT
    $FT "$P" hello attach:new submit:1:"echo kept" end:1 until:BYE ack:1 >"$T/ft.out" 2>&1
    kept=$(bid "$T/ft.out")
    $FT "$P" hello attach:new submit:1:"echo orphan" until:ACCEPTED close >"$T/ft.out" 2>&1
    orphan=$(bid "$T/ft.out")
    for _ in $(seq 1 100); do [ "$(state_of "$kept")/$(state_of "$orphan")" = delivered/orphaned ] && break; sleep 0.05; done
    is "$(state_of "$kept")/$(state_of "$orphan")" delivered/orphaned "before the step: one batch delivered, one orphaned"
    echo "+2h" >"$T/faketime"
    sleep 2.5 # (the master's timers: at least one ping interval)
    is "$(state_of "$kept")/$(state_of "$orphan")" delivered/orphaned "after a 2 h step of the wall clock: both are still kept"
    stop_pid "$MASTER_PID"
else
    ok 0 "# SKIP libfaketime not installed"
fi

# 4. SIGTERM with nothing running and no client connected, but batches
# kept (one delivered, one orphaned): the master stops at once, not after
# --grace (10 s) and the linger, waiting for clients that have no
# connection.
start_master m4 "$T/slaves.conf" --state-dir "$T/st4"
wait_slaves_up m4 1 || bail "slave not up"
P=$MASTER_PORT
$FT "$P" hello attach:new submit:1:"echo kept" end:1 until:BYE ack:1 >"$T/ft.out" 2>&1
$FT "$P" hello attach:new submit:1:"echo orphan" until:ACCEPTED close >"$T/ft.out" 2>&1
orphan=$(bid "$T/ft.out")
for _ in $(seq 1 100); do [ "$(state_of "$orphan")" = orphaned ] && break; sleep 0.05; done
start=$(date +%s%N)
stop_pid "$MASTER_PID"
took=$(( ($(date +%s%N) - start) / 1000000 ))
is "$STOP_RC" 0 "SIGTERM: exit 0"
check "SIGTERM with only connection-less batches: stopped within 3 s ($took ms)" test "$took" -lt 3000

# 5. The master killed -9 while commands run, and restarted with the same
# --state-dir on another port (a careless restart; or its UDP port taken):
# it re-claims the running jobs under their ids; the slave must hand them
# over (same identity) rather than run them again for a "new master".
start_master m5 "$T/slaves.conf" --state-dir "$T/st5"
wait_slaves_up m5 1 || bail "slave not up"
mkdir -p "$T/mk5"
for n in 1 2; do echo "echo x >> $T/mk5/$n; sleep 2; echo out-$n"; done >"$T/c5.txt"
run_client --detach "$T/c5.txt"
id=$(cat "$T/out")
for _ in $(seq 1 100); do [ -f "$T/mk5/1" ] && [ -f "$T/mk5/2" ] && break; sleep 0.05; done
{ kill -KILL "$MASTER_PID"; wait "$MASTER_PID"; } 2>/dev/null
start_master m5b "$T/slaves.conf" --state-dir "$T/st5" # port 0: another port
wait_slaves_up m5b 1 || bail "slave not up after the restart"
run_client --attach "$id" --joblog "$T/jl5"
is "$RC/$(grep -c '^out-' "$T/out")" "0/2" "restarted on another port: --attach gets both results"
sleep 2.5 # (a command started again would have written its marker by now)
is "$(cat "$T/mk5/1" "$T/mk5/2" | wc -l)" 2 "and each command ran once (markers)"
check "the slave adopted the jobs (same identity at another address)" grep -q 'restarted (boot .*): 2 jobs adopted' "$T/s1.log"
stop_pid "$MASTER_PID"

# 6. One byte of a COMMAND record changed before a restart (a bad
# checksum): the master keeps the batch and its 5 results; the text of
# command 3 is gone: the replay journals a placeholder in its place, and
# client --attach shows the 5 results (3's under the placeholder) instead
# of failing on it ("cannot read command 3 of this batch back").
start_master m6 "$T/slaves.conf" --state-dir "$T/st6"
wait_slaves_up m6 1 || bail "slave not up"
for n in 1 2 3 4 5; do echo "echo out-$n"; done >"$T/c6.txt"
run_client --detach "$T/c6.txt"
id=$(cat "$T/out")
for _ in $(seq 1 100); do [ "$(state_of "$id")" = finished ] && break; sleep 0.05; done
port=$MASTER_PORT
stop_pid "$MASTER_PID"
off=$("$(prog serveur_maitre)" --dump-journal "$T/st6" | grep '"type":"command"' | sed -n 3p | sed 's/.*"offset":\([0-9]*\).*/\1/')
printf 'Z' | dd of="$T/st6/journal" bs=1 seek=$((off + 25)) conv=notrunc 2>/dev/null
MASTER_ON_PORT=$port start_master m6b "$T/slaves.conf" --state-dir "$T/st6"
wait_slaves_up m6b 1 || bail "slave not up"
check "the damaged COMMAND record is reported" grep -q "bad checksum at offset $off" "$T/m6b.log"
check "the lost COMMAND is reported, with its number" grep -q "batch $id: 1 of its 5 command records lost to damage (number 3)" "$T/m6b.log"
run_client --attach "$id" --json
is "$RC/$(grep -c '"stdout":"out-' "$T/out")" "0/5" "a COMMAND record lost: --attach still prints the 5 results (its RESULT is intact: exit 0)"
check "the lost one's command is the placeholder" grep -q '"command":"(lost: its record was damaged in the journal)".*"stdout":"out-3' "$T/out"
stop_pid "$MASTER_PID"

# 6b. Command 3's COMMAND and RESULT records both damaged: without a
# result it could never end. The replay gives it one (not run again: it
# ran), journaled; --attach prints 5 results, exit 1; nothing runs twice.
start_master m6c "$T/slaves.conf" --state-dir "$T/st6c"
wait_slaves_up m6c 1 || bail "slave not up"
mkdir -p "$T/mk6c"
for n in 1 2 3 4 5; do echo "echo x >> $T/mk6c/$n; echo out-$n"; done >"$T/c6c.txt"
run_client --detach "$T/c6c.txt"
id=$(cat "$T/out")
for _ in $(seq 1 100); do [ "$(state_of "$id")" = finished ] && break; sleep 0.05; done
port=$MASTER_PORT
stop_pid "$MASTER_PID"
dump() { "$(prog serveur_maitre)" --dump-journal "$T/st6c"; }
for off in $(dump | grep '"type":"command"' | sed -n 3p | sed 's/.*"offset":\([0-9]*\).*/\1/') \
           $(dump | grep '"type":"result".*"seq":3,' | sed 's/.*"offset":\([0-9]*\).*/\1/'); do
    printf 'Z' | dd of="$T/st6c/journal" bs=1 seek=$((off + 25)) conv=notrunc 2>/dev/null
done
MASTER_ON_PORT=$port start_master m6d "$T/slaves.conf" --state-dir "$T/st6c"
wait_slaves_up m6d 1 || bail "slave not up"
check "the replay names the lost command, given a result" grep -q "batch $id: 1 of its 5 command records lost to damage (number 3).*1 had no result: not run (again)" "$T/m6d.log"
run_client --attach "$id" --json
is "$RC/$(grep -c '"stdout":"out-' "$T/out")" "1/4" "COMMAND and RESULT lost: --attach ends, 4 results and the lost one's (failed: exit 1)"
check "the lost one: placeholder, not started, saying why" grep -q '"seq":3,"command":"(lost: its record was damaged in the journal)".*"status":"not_started".*"message":"not run (again): its record was lost to damage' "$T/out"
is "$(dump | grep -c '"type":"result"')" 5 "the made result is journaled (4 intact results and the one the replay made)"
is "$(cat "$T"/mk6c/* | wc -l)" 5 "nothing ran twice (markers)"
stop_pid "$MASTER_PID"

# 6c. A client holding 4 results (stopped: it does not reconnect), the
# master killed -9; the next life gets results 5 and 6 (journaled, never
# sent to the client) and is killed too; then the RESULT record of command
# 2 is damaged. The third life's results after the damage moved (1 3 4 5 6,
# then 2 made again): the client resumes with have=4 and must get every
# result once and exit 0 (it was sent [4, 6): 6 and 2 again, a protocol
# error that cancelled its batch, and never 5).
start_master m6e "$T/slaves.conf" --state-dir "$T/st6e"
wait_slaves_up m6e 1 || bail "slave not up"
mkdir -p "$T/mk6e"
{ for n in 1 2 3 4; do echo "echo x >> $T/mk6e/$n; echo out-$n"; done
  echo "echo x >> $T/mk6e/5; while [ ! -f $T/go6e ]; do sleep 0.1; done; echo out-5"
  echo "echo x >> $T/mk6e/6; echo out-6"; } >"$T/c6e.txt"
"$(prog client)" 127.0.0.1 "$MASTER_PORT" "$T/c6e.txt" >"$T/c6e.out" 2>"$T/c6e.err" &
cpid=$!
PIDS+=("$cpid")
for _ in $(seq 1 200); do [ "$(grep -c '^out-[1-4]$' "$T/c6e.out")" = 4 ] && break; sleep 0.05; done
is "$(grep -c '^out-[1-4]$' "$T/c6e.out")" 4 "the client holds 4 results (the 5th command waits)"
port=$MASTER_PORT
kill -STOP "$cpid"
{ kill -KILL "$MASTER_PID"; wait "$MASTER_PID"; } 2>/dev/null
touch "$T/go6e"
MASTER_ON_PORT=$port start_master m6g "$T/slaves.conf" --state-dir "$T/st6e"
for _ in $(seq 1 200); do
    [ "$("$(prog serveur_maitre)" --dump-journal "$T/st6e" | grep -c '"type":"result"')" = 6 ] && break
    sleep 0.05
done
is "$("$(prog serveur_maitre)" --dump-journal "$T/st6e" | grep -c '"type":"result"')" 6 "the second life journaled results 5 and 6"
{ kill -KILL "$MASTER_PID"; wait "$MASTER_PID"; } 2>/dev/null
off=$("$(prog serveur_maitre)" --dump-journal "$T/st6e" | grep '"type":"result".*"seq":2,' | sed 's/.*"offset":\([0-9]*\).*/\1/')
printf 'Z' | dd of="$T/st6e/journal" bs=1 seek=$((off + 25)) conv=notrunc 2>/dev/null
MASTER_ON_PORT=$port start_master m6f "$T/slaves.conf" --state-dir "$T/st6e"
wait_slaves_up m6f 1 || bail "slave not up"
check "the damaged RESULT record is reported" grep -q "bad checksum at offset $off" "$T/m6f.log"
kill -CONT "$cpid"
rc=0; wait "$cpid" || rc=$?
is "$rc/$(grep -c '^out-' "$T/c6e.out")/$(sort -u "$T/c6e.out" | grep -c '^out-')" "0/6/6" \
    "the client resumed: exit 0, 6 results, each once"
is "$(cat "$T"/mk6e/* | wc -l)" 6 "every command ran once (markers)"
stop_pid "$MASTER_PID"

# 7. A planned restart (SIGTERM, then the same state dir): the queued
# commands of a detached batch stay queued in the journal and run in the
# next life, as after a kill -9 (they were reported cancelled, "the master
# is shutting down", and never ran).
start_master m7 "$T/slaves.conf" --state-dir "$T/st7"
wait_slaves_up m7 1 || bail "slave not up"
for n in $(seq 1 8); do echo "sleep 0.5; echo out-$n"; done >"$T/c7.txt"
run_client --detach "$T/c7.txt"
id=$(cat "$T/out")
port=$MASTER_PORT
stop_pid "$MASTER_PID"
MASTER_ON_PORT=$port start_master m7b "$T/slaves.conf" --state-dir "$T/st7"
wait_slaves_up m7b 1 || bail "slave not up"
run_client --attach "$id"
is "$RC/$(grep -c '^out-' "$T/out")" "0/8" "SIGTERM and restart: the detached batch's queued commands run in the next life"
stop_pid "$MASTER_PID"

# 8. Another connection resumes a batch whose client is connected (its id
# from --batches): the client's connection is closed; it reconnects by
# itself and takes its batch back; it must end with every result once.
# And a durable client that reads nothing while its batch makes 80 MiB
# of output: the results wait in the journal, not in the master's memory.
# (the sanitizer build's quarantine would keep every freed result: small here)
SMP_PREFIX="env ASAN_OPTIONS=$ASAN_OPTIONS:quarantine_size_mb=4" start_master m8 "$T/slaves.conf" --state-dir "$T/st8"
wait_slaves_up m8 1 || bail "slave not up"
P=$MASTER_PORT
D=$T/d8
mkdir -p "$D/markers"
for n in $(seq 1 30); do echo "sleep 0.1; echo x >> $D/markers/$n; echo out-$n"; done >"$D/cmds"
"$(prog client)" 127.0.0.1 "$P" --joblog "$D/joblog" --results "$D/res" "$D/cmds" >"$D/out" 2>"$D/err" &
vpid=$!
PIDS+=("$vpid")
for _ in $(seq 1 200); do [ -f "$D/markers/5" ] && break; sleep 0.05; done
run_client --batches
vid=$(awk '$2 == "attached" {print $1}' "$T/out" | head -1)
$FT "$P" hello attach:resume:"$vid":0 read:3 close >"$T/ft.out" 2>&1
check "the stealer got the batch ($vid)" grep -q "^BATCH id=$vid" "$T/ft.out"
rc=0; wait "$vpid" || rc=$?
is "$rc" 0 "the robbed client reconnected and ended: exit 0"
is "$(grep -c '^out-' "$D/out")/$(grep '^out-' "$D/out" | sort -u | wc -l)" "30/30" "every result printed once"
check_markers "a batch resumed by another connection" 30 "$D"

python3 - "$P" >"$T/sink.out" 2>&1 <<'PY' &
import socket, struct, sys, time
def frame(t, f=b""): return struct.pack(">IB", len(f) + 1, t) + f
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.sendall(frame(1, struct.pack(">IHHII", 0x534D5043, 4, 2, 0, 0) + b"\x01" * 32) + frame(10, struct.pack(">BQI", 0, 0, 0)))
for i in range(40):
    s.sendall(frame(3, struct.pack(">I", i + 1) + b"head -c 2097152 /dev/zero | tr '\\0' 'a'"))
s.sendall(frame(4, struct.pack(">I", 40)))
time.sleep(120) # reads nothing
PY
spid=$!
PIDS+=("$spid")
for _ in $(seq 1 600); do
    [ "$(stat -c %s "$T/st8/journal")" -gt 83000000 ] && break
    sleep 0.1
done
check "the batch's 80 MiB are in the journal" test "$(stat -c %s "$T/st8/journal")" -gt 83000000
rss=$(awk '/VmHWM/ {print $2}' "/proc/$MASTER_PID/status")
check "the master's memory stayed small while its client read nothing (VmHWM $rss kB < 60000)" test "$rss" -lt 60000
stop_pid "$MASTER_PID"

# 9. A client that stops reading for 25 s (a pager, Ctrl-S) on an
# --ephemeral master (no batch to come back to): it must get every result
# when it reads again. (A TCP_USER_TIMEOUT of 20 s, tried for silent
# network cuts, aborted such a connection: the master dropped the client
# and its results. Keepalive alone is used now.)
start_master m9 "$T/slaves.conf" --ephemeral
wait_slaves_up m9 1 || bail "slave not up"
python3 - "$MASTER_PORT" >"$T/slow.out" 2>&1 <<'PY'
import socket, struct, sys, time
def frame(t, f=b""): return struct.pack(">IB", len(f) + 1, t) + f
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(frame(1, struct.pack(">IHHII", 0x534D5043, 4, 0, 0, 0) + b"\x01" * 32))
for i in range(16): # 32 MiB: more than the socket buffers hold
    s.sendall(frame(3, struct.pack(">I", i + 1) + b"head -c 2097152 /dev/zero | tr '\\0' 'a'"))
s.sendall(frame(4, struct.pack(">I", 16)))
time.sleep(25)
b = b""
s.settimeout(30)
try:
    while True:
        g = s.recv(1 << 20)
        if not g:
            break
        b += g
except OSError as e:
    print("error", e)
i, types = 0, []
while i + 5 <= len(b) and i + 4 + struct.unpack(">I", b[i:i + 4])[0] <= len(b):
    types.append(b[i + 4])
    i += 4 + struct.unpack(">I", b[i:i + 4])[0]
print("results=%d bye=%d" % (types.count(5), types.count(8)))
PY
is "$(tail -1 "$T/slow.out")" "results=16 bye=1" "a client that reads nothing for 25 s gets all its results (no TCP_USER_TIMEOUT)"
stop_pid "$MASTER_PID"

done_testing
