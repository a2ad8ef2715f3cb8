#!/usr/bin/env bash
# Several clients at once: fair sharing, a stuck client stalls nobody, a
# client that leaves has its commands cancelled.
. "$(dirname "$0")/lib.sh"

cluster 2 -j 2

# A connection that never says HELLO must not hold a place for ever: the
# master hangs up after 10 s (watched in the background meanwhile).
python3 - "$MASTER_PORT" "$T/silent.result" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(30)
t0 = time.time()
try:
    data = s.recv(4096)
    while data:
        data = s.recv(4096)
except OSError:
    pass
open(sys.argv[2], "w").write("%.1f" % (time.time() - t0))
PY
silent=$!
PIDS+=("$silent")

# Fairness: a long batch is running when a second client arrives; the
# second gets every other free slot (round robin), not the end of the queue.
for i in $(seq 1 60); do echo "sleep 0.1; echo big-$i"; done >"$T/big.txt"
for i in $(seq 1 6); do echo "sleep 0.1; echo small-$i"; done >"$T/small.txt"
"$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/big.txt" >"$T/big.out" 2>&1 &
big=$!
PIDS+=("$big")
for _ in $(seq 1 100); do [ -s "$T/big.out" ] && break; sleep 0.05; done
rc=0; timeout 60 "$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/small.txt" >"$T/small.out" 2>&1 || rc=$?
big_done_when_small_finished=$(grep -c '^big-' "$T/big.out")
wait "$big"; big_rc=$?
is "$rc/$big_rc" "0/0" "both clients succeed"
is "$(grep -c '^small-' "$T/small.out")" 6 "the late client got all its results"
check "the late client finished long before the batch (batch had $big_done_when_small_finished of 60 done)" \
    test "$big_done_when_small_finished" -lt 40

# Many clients at once, each gets exactly its own results.
for k in $(seq 1 8); do
    for i in $(seq 1 25); do echo "echo client-$k-cmd-$i"; done >"$T/c$k.txt"
done
cpids=()
for k in $(seq 1 8); do
    timeout 60 "$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/c$k.txt" >"$T/c$k.out" 2>&1 &
    cpids+=($!)
done
allrc=0
for p in "${cpids[@]}"; do wait "$p" || allrc=1; done
is "$allrc" 0 "8 clients at once all succeed"
mixed=0
for k in $(seq 1 8); do
    [ "$(sort "$T/c$k.out")" = "$(for i in $(seq 1 25); do echo "client-$k-cmd-$i"; done | sort)" ] || mixed=1
done
is "$mixed" 0 "each client received exactly its own 25 results"

# A stuck client (sends commands with big output, never reads) stalls nobody.
python3 - "$MASTER_PORT" "$T/stuck.ready" <<'PY' &
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def frame(t, body): return struct.pack(">IB", len(body) + 1, t) + body
s.sendall(frame(1, struct.pack(">IHHII", 0x534D5043, 4, 0, 0, 0) + bytes(32)))  # HELLO v4, no key
for i in range(1, 41):
    s.sendall(frame(3, struct.pack(">I", i) + b"head -c 1000000 /dev/zero"))
s.sendall(frame(4, struct.pack(">I", 40)))
open(sys.argv[2], "w").close()
time.sleep(30)  # never reads: killed by the test's cleanup
PY
PIDS+=($!)
for _ in $(seq 1 100); do [ -f "$T/stuck.ready" ] && break; sleep 0.05; done
printf 'echo still-served\n' >"$T/one.txt"
start=$(date +%s%N)
run_client -q "$T/one.txt"
took_ms=$(( ($(date +%s%N) - start) / 1000000 ))
is "$RC" 0 "a client is served while another never reads its results"
check "and promptly (${took_ms} ms)" test "$took_ms" -lt 5000
kill %?python3 2>/dev/null

# Ctrl-C on a client: its running commands are killed, queued ones dropped, at once.
for i in $(seq 1 10); do echo "sleep 5; touch $T/should-not-exist-$i"; done >"$T/cancel.txt"
"$BIN/client" 127.0.0.1 "$MASTER_PORT" "$T/cancel.txt" >/dev/null 2>&1 &
cl=$!
PIDS+=("$cl")
for _ in $(seq 1 100); do [ "$(pgrep -f 'sleep 5; touch' | wc -l)" -ge 4 ] && break; sleep 0.05; done
running=$(pgrep -f "sleep 5; touch $T" | wc -l)
kill -INT "$cl"
wait "$cl"
is "$?" 130 "Ctrl-C: the client exits 130"
line=$(wait_for_line "$T/master.log" 'cancelled \(Ctrl-C on its client\): [0-9]+ queued commands dropped, [0-9]+ running killed' 10)
ok $? "the master cancels what the client left behind"
# running: on the slaves, a second one per slot queued there when commands are short (sched.c)
is "$(( $(echo "$line" | sed -E 's/.*: ([0-9]+) queued commands dropped, ([0-9]+) running.*/\1 + \2/') ))" 10 "all 10: queued ones dropped, those on the slaves killed"
gone=1
for _ in $(seq 1 60); do pgrep -f "sleep 5; touch $T" >/dev/null || { gone=0; break; }; sleep 0.05; done
is "$gone" 0 "its $running running commands were killed on the slaves (so none can finish)"
run_client -q "$T/one.txt"
is "$RC" 0 "the slaves keep serving afterwards"

# A client killed with -9 (it cannot say anything): its batch waits for it
# to come back (--client-grace, 300 s here), its commands go on meanwhile.
for i in $(seq 1 4); do echo "sleep 1; touch $T/ran-anyway-$i"; done >"$T/orphan.txt"
"$BIN/client" 127.0.0.1 "$MASTER_PORT" "$T/orphan.txt" >/dev/null 2>&1 &
cl=$!
PIDS+=("$cl")
# killed while its commands run (not all four need run at once: a slave
# may hold a second one per slot, queued there)
for _ in $(seq 1 100); do [ "$(pgrep -f "sleep 1; touch $T/ran-anyway" | wc -l)" -ge 1 ] && break; sleep 0.05; done
{ kill -KILL "$cl"; wait "$cl"; } 2>/dev/null
wait_for_line "$T/master.log" 'gone without detaching: kept 300 s for it to come back' 10 >/dev/null
ok $? "a client killed with -9: its batch is kept for it (orphaned), not cancelled"
for _ in $(seq 1 100); do [ "$(ls "$T"/ran-anyway-* 2>/dev/null | wc -l)" -ge 4 ] && break; sleep 0.05; done
is "$(ls "$T"/ran-anyway-* 2>/dev/null | wc -l)" 4 "its running commands finish meanwhile"

wait "$silent"
took=$(cat "$T/silent.result" 2>/dev/null || echo never)
check "a connection without HELLO is closed after 10 s (took $took s)" awk -v t="$took" 'BEGIN { exit !(t >= 9.5 && t <= 13) }'

done_testing
