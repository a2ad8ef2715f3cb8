#!/usr/bin/env bash
# Sessions between the master and its slaves: job ids across a reload,
# lives told apart by fresh round trips and not by wall clocks, the slave's
# session table, replays, amplification and memory before a peer's address
# is confirmed. (doc/protocol.md 4.4, doc/security.md)
. "$(dirname "$0")/lib.sh"

# --- A slave removed from slaves.conf and listed again keeps working: its
# job ids go on from where they were (the slave remembers those it had).
cluster 2
for n in $(seq 1 40); do echo "echo before-$n"; done >"$T/before.txt"
run_client -q "$T/before.txt"
is "$RC/$(grep -c '^before-' "$T/out")" "0/40" "40 commands on 2 slaves"
printf '127.0.0.1 %s\n' "${SLAVE_PORTS[0]}" >"$T/slaves.conf"
kill -HUP "$MASTER_PID"
wait_for_line "$T/master.log" "slave 127.0.0.1:${SLAVE_PORTS[1]} removed" 10 >/dev/null
ok $? "slave 2 removed from slaves.conf: the master forgets it"
printf '127.0.0.1 %s\n127.0.0.1 %s\n' "${SLAVE_PORTS[0]}" "${SLAVE_PORTS[1]}" >"$T/slaves.conf"
kill -HUP "$MASTER_PID"
wait_for_line "$T/master.log" "slave 127.0.0.1:${SLAVE_PORTS[1]} added" 10 >/dev/null
ok $? "and listed again: added back"
for _ in $(seq 1 100); do [ "$(grep -c 'is up with' "$T/master.log")" -ge 3 ] && break; sleep 0.05; done
mkdir -p "$T/readd"
marker_cmds 40 "$T/readd"
run_client -q --joblog "$T/readd/joblog" --results "$T/readd/res" "$T/readd/cmds"
is "$RC" 0 "40 commands after the re-add: client exit 0"
check_markers "re-added slave" 40 "$T/readd"
is "$(grep -c 'lost the command' "$T/master.log")" 0 "no command reported lost"
check "the re-added slave ran some of them" grep -qP "\t127\.0\.0\.1:${SLAVE_PORTS[1]}\t" "$T/readd/joblog"
stop_all

FAKELIB=
for f in /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1; do
    [ -f "$f" ] && { FAKELIB=$f; break; }
done
# fake_clock OFFSET: a prefix that runs a program with its wall clock moved
# (FAKETIME syntax), its monotonic clock untouched.
# (ASan wants to be first in the library list: the preload is fine with it.)
fake_clock() { echo "env FAKETIME=$1 FAKETIME_DONT_FAKE_MONOTONIC=1 LD_PRELOAD=$FAKELIB ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0"; }
# client_run NAME PORT FILE [options]: a client bounded by 25 s (RC 124 if it hangs)
client_run() {
    local name=$1 port=$2 file=$3; shift 3
    RC=0
    timeout 25 "$BIN/client" "$@" 127.0.0.1 "$port" "$file" >"$T/$name.out" 2>"$T/$name.err" || RC=$?
}
newkey() { (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1"); }
newkey "$T/key"
start_tool() { # start_tool NAME ARGS...: dgram_tool.py proxy; sets TOOL_PORT, TOOL_PID
    local name=$1; shift
    python3 -u "$TOP/tests/dgram_tool.py" "$@" >"$T/$name.log" 2>&1 &
    TOOL_PID=$!
    PIDS+=("$TOOL_PID")
    local line
    line=$(wait_for_line "$T/$name.log" 'listening on UDP' 10) || bail "tool $name did not start"
    TOOL_PORT=$(echo "$line" | sed -E 's/.*:([0-9]+)$/\1/')
}
for n in 1 2 3 4 5; do echo "echo batch-$n"; done >"$T/batch.txt"

if [ -z "$FAKELIB" ]; then
    ok 0 "# SKIP libfaketime not found: wall-clock steps not tested (apt-get install libfaketime)"
else
    # --- A master restarted on its port with its wall clock 10 s behind:
    # its slaves take the new life (it completed a handshake), not the clock.
    start_slave ck -j 4
    echo "127.0.0.1 $SLAVE_PORT" >"$T/ck.conf"
    start_master mc "$T/ck.conf" --ephemeral # a new life without a journal: new job ids from 1
    wait_slaves_up mc 1 || bail "slave not up for mc"
    client_run warm "$MASTER_PORT" "$T/batch.txt" -q
    is "$RC" 0 "a master and its slave: a batch"
    mport=$MASTER_PORT
    { kill -KILL "$MASTER_PID"; wait "$MASTER_PID"; } 2>/dev/null
    MASTER_ON_PORT=$mport SMP_PREFIX=$(fake_clock -10s) start_master mc2 "$T/ck.conf" --ephemeral
    wait_slaves_up mc2 1
    ok $? "the master restarted on its port, 10 s behind, sees its slave"
    client_run behind "$MASTER_PORT" "$T/batch.txt" -q
    is "$RC/$(grep -c '^batch-' "$T/behind.out")" "0/5" "and a client's batch completes (no hang)"
    stop_all

    # --- A slave restarted on its port with its clock 1 h behind is used again.
    start_slave sk -j 4
    skport=$SLAVE_PORT
    echo "127.0.0.1 $skport" >"$T/sk.conf"
    start_master ms "$T/sk.conf"
    wait_slaves_up ms 1 || bail "slave not up for ms"
    client_run warm "$MASTER_PORT" "$T/batch.txt" -q
    stop_pid "$SLAVE_PID"
    SLAVE_ON_PORT=$skport SMP_PREFIX=$(fake_clock -3600s) start_slave sk2 -j 4
    wait_for_line "$T/ms.log" "slave 127.0.0.1:$skport restarted" 10 >/dev/null
    ok $? "the master takes the slave's new life, 1 h behind"
    client_run late "$MASTER_PORT" "$T/batch.txt" -q --joblog "$T/late.joblog"
    is "$RC/$(grep -c '^batch-' "$T/late.out")" "0/5" "and uses it again: the batch completes"
    stop_all

    # --- A recorded PONG of a slave's earlier life, replayed after it
    # restarted in the same wall-clock second (each process of the two starts
    # at the same fake time), does not make the master
    # abandon (and run again) a running command: no fresh round trip.
    FAKETIME="@2026-01-01 00:00:00" FAKETIME_DONT_FAKE_MONOTONIC=1 LD_PRELOAD=$FAKELIB \
        ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0 start_slave rp -j 4 --key-file "$T/key"
    rpport=$SLAVE_PORT
    start_tool rpproxy proxy "$rpport"
    proxy_pid=$TOOL_PID
    echo "127.0.0.1 $TOOL_PORT" >"$T/rp.conf"
    start_master mr "$T/rp.conf" --key-file "$T/key"
    wait_slaves_up mr 1 || bail "slave not up for mr"
    sleep 1 # a few heartbeats: PONGs of this life recorded
    kill -HUP "$proxy_pid"
    wait_for_line "$T/rpproxy.log" 'marked [1-9][0-9]* PONGs' 5 >/dev/null || bail "no PONG recorded"
    stop_pid "$SLAVE_PID"
    SLAVE_ON_PORT=$rpport FAKETIME="@2026-01-01 00:00:00" FAKETIME_DONT_FAKE_MONOTONIC=1 LD_PRELOAD=$FAKELIB \
        ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0 start_slave rp2 -j 4 --key-file "$T/key"
    wait_for_line "$T/mr.log" "restarted" 10 >/dev/null
    ok $? "the master takes the slave's new life (same boot second)"
    printf 'echo x >> %s/twice; sleep 3; echo long-done\n' "$T" >"$T/long.txt"
    timeout 30 "$BIN/client" --key-file "$T/key" -q 127.0.0.1 "$MASTER_PORT" "$T/long.txt" >"$T/long.out" 2>&1 &
    long_pid=$!
    for _ in $(seq 1 100); do [ -s "$T/twice" ] && break; sleep 0.05; done
    kill -USR1 "$proxy_pid"
    wait_for_line "$T/rpproxy.log" 'replayed [1-9][0-9]* PONGs' 5 >/dev/null
    ok $? "the earlier life's PONGs replayed to the master"
    RC=0; wait "$long_pid" || RC=$?
    is "$RC/$(cat "$T/long.out")" "0/long-done" "the running command's result arrives"
    is "$(wc -l <"$T/twice")" 1 "it ran once"
    is "$(grep -c 'restarted' "$T/mr.log")" 1 "the master saw one restart, not a second one"
    stop_all
fi

# --- Many master lives against one slave: the session of an idle master is
# not forgotten (old: 8 sessions, the 9th life evicted it, then its JOBs were
# ignored without a word and its clients hung).
start_slave many -j 16
echo "127.0.0.1 $SLAVE_PORT" >"$T/many.conf"
start_master ma "$T/many.conf"
wait_slaves_up ma 1 || bail "slave not up for ma"
aport=$MASTER_PORT
client_run warm "$aport" "$T/batch.txt" -q
printf 'echo x >> %s/bees; sleep 4\n' "$T" >"$T/bee.txt"
bee_pids=()
for i in $(seq 1 9); do
    start_master "mb$i" "$T/many.conf"
    wait_slaves_up "mb$i" 1 || bail "slave not up for mb$i"
    timeout 30 "$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/bee.txt" >/dev/null 2>&1 &
    bee_pids+=($!)
done
for _ in $(seq 1 100); do [ "$(cat "$T/bees" 2>/dev/null | wc -l)" -ge 9 ] && break; sleep 0.05; done
is "$(cat "$T/bees" 2>/dev/null | wc -l)" 9 "9 more masters each run a command on the slave at once"
client_run idle "$aport" "$T/batch.txt" -q
is "$RC/$(grep -c '^batch-' "$T/idle.out")" "0/5" "the first, idle master's batch still completes"
bad=0
for p in "${bee_pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
is "$bad" 0 "and so do the other masters' commands"
stop_all

# --- Recorded PINGs, replayed from elsewhere, do not redirect the slave's
# replies (old: those recorded before a session's first JOB were accepted
# once each, and results went to the replayer).
start_slave rd -j 2 --key-file "$T/key"
rdport=$SLAVE_PORT
start_chaos rdproxy "$rdport" --record "$T/rdcap"
echo "127.0.0.1 $CHAOS_PORT" >"$T/rd.conf"
start_master md "$T/rd.conf" --key-file "$T/key"
wait_slaves_up md 1 || bail "slave not up for md"
sleep 1 # more heartbeats recorded
cp "$T/rdcap" "$T/rdcap.old"
printf 'sleep 1.5; echo mine\n' >"$T/mine.txt"
timeout 30 "$BIN/client" --key-file "$T/key" -q 127.0.0.1 "$MASTER_PORT" "$T/mine.txt" >"$T/mine.out" 2>&1 &
mine_pid=$!
sleep 0.3 # the job has started
got=$(python3 - "$T/rdcap.old" "$rdport" <<'PY'
import select, socket, struct, sys, time
data = open(sys.argv[1], "rb").read()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
off = 0
while off + 4 <= len(data):
    (n,) = struct.unpack(">I", data[off:off + 4])
    if data[off + 4 + 3] == 1:  # PINGs only
        s.sendto(data[off + 4:off + 4 + n], ("127.0.0.1", int(sys.argv[2])))
    off += 4 + n
got, end = 0, time.monotonic() + 3
while time.monotonic() < end:
    if select.select([s], [], [], 0.1)[0]:
        s.recv(70000)
        got += 1
print(got)
PY
)
is "$got" 0 "replayed PINGs get no answer at the replayer's address"
RC=0; wait "$mine_pid" || RC=$?
is "$RC/$(cat "$T/mine.out")" "0/mine" "the result still reaches the master"
stop_all

# --- A JOB lost on the path, delivered after its master has gone, runs
# nothing (old: it opened a session and ran).
start_slave dj -j 2 --key-file "$T/key"
start_tool djproxy proxy "$SLAVE_PORT" --drop-jobs
dj_proxy=$TOOL_PID
echo "127.0.0.1 $TOOL_PORT" >"$T/dj.conf"
start_master mj "$T/dj.conf" --key-file "$T/key"
wait_slaves_up mj 1 || bail "slave not up for mj"
printf 'touch %s/late-job\n' "$T" >"$T/late.txt"
timeout 30 "$BIN/client" --key-file "$T/key" -q 127.0.0.1 "$MASTER_PORT" "$T/late.txt" >/dev/null 2>&1 &
PIDS+=($!)
wait_for_line "$T/djproxy.log" 'dropped a JOB' 10 >/dev/null || bail "no JOB seen"
{ kill -KILL "$MASTER_PID"; wait "$MASTER_PID"; } 2>/dev/null
sleep 11 # the master has been silent for longer than MASTER_SILENT_MS (10 s)
kill -USR2 "$dj_proxy"
wait_for_line "$T/djproxy.log" 'replayed [1-9][0-9]* JOBs' 5 >/dev/null
ok $? "the lost JOBs delivered to the slave from the master's address"
sleep 1 # time to run, were it accepted
check "they ran nothing" test ! -e "$T/late-job"
stop_all

# --- Keyless, an unconfirmed sender gets no more than it sent (old: one JOB
# from a socket that never acknowledges brought back its result for 2 minutes).
cluster 1 -j 2
read -r _ sent _ got < <(python3 "$TOP/tests/dgram_tool.py" amplify "${SLAVE_PORTS[0]}" 6)
check "one forged JOB: $sent bytes sent, $got received in 6 s: no more than sent" test "${got:-999999}" -le "${sent:-0}"
# and 70,000 one-byte fragments of 64 KiB requests do not grow the slave
python3 "$TOP/tests/dgram_tool.py" flood "${SLAVE_PORTS[0]}" 70000 >/dev/null
python3 "$TOP/tests/dgram_tool.py" flood "${SLAVE_PORTS[0]}" 70000 --handshake >/dev/null
rss=$(awk '/VmRSS/ {print $2}' "/proc/${SLAVE_PIDS[0]}/status")
check "70,000 fragments twice (unconfirmed, then after a handshake): slave at ${rss} kB, under 64 MB" test "${rss:-999999}" -lt 65536
run_client -q "$T/batch.txt"
is "$RC/$(grep -c '^batch-' "$T/out")" "0/5" "and it still serves its master"
stop_all

done_testing
