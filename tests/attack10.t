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
        s.sendall(frame(1, struct.pack(">IHHII", 0x534D5043, 3, 2, 0, 0) + b"\x01" * 32) +
                  frame(10, struct.pack(">BQI", 0, 0, 0)))
        b = b""
        while len(b) < 23 + 27: # WELCOME, then BATCH
            g = s.recv(4096)
            if not g:
                break
            b += g
        s.close()
        made += len(b) >= 50
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

done_testing
