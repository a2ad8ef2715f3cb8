#!/usr/bin/env bash
# cache_flood.t: a cache hit is answered at SUBMIT, past every back-pressure.
# A dispatched command waits while its client's output is over
# OUT_HIGH_WATER (16 MiB, sched.c can_take); a --cache hit does not: its
# stored result goes into the client's output buffer at once, and
# --max-queued does not count it (nothing is queued). A client that sends
# the same cached 1 MB command N times and reads nothing makes the master
# hold N MB (a slow reader too: client --cache big.txt | less). Here 80
# SUBMITs of ~60 bytes: the master's RSS should stay near 16 MiB of
# buffered output, not grow to 80 MB. (With a journal, the default, the
# hits become RESULT records instead: the disk fills at disk speed.)
. "$(dirname "$0")/lib.sh"
# a sanitizer build's RSS: without its quarantine of freed memory
export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=0"

start_slave s1 -j 2
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
start_master master "$T/slaves.conf" --ephemeral
wait_slaves_up master 1 || bail "slave not up"
L='head -c 1000000 /dev/zero | tr "\0" a'
echo "$L" >"$T/c.txt"
run_client -q --cache "$T/c.txt"
run_client --cache "$T/c.txt" >/dev/null
check "the 1 MB result is cached" grep -q -- "-- cached (ran on" "$T/err"
rss() { awk '/^VmRSS/ {print $2}' "/proc/$MASTER_PID/status"; }
before=$(rss)
cat >"$T/flood.py" <<'PY'
import socket, struct, sys, time
port, line, n = int(sys.argv[1]), sys.argv[2].encode(), int(sys.argv[3])
def frame(t, f=b""): return struct.pack(">IB", len(f) + 1, t) + f
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.sendall(frame(1, struct.pack(">IHHII", 0x534D5043, 4, 2, 0, 0) + b"\x01" * 32))  # HELLO
s.sendall(frame(10, struct.pack(">BQI", 0, 0, 0)))                                # ATTACH new
s.sendall(frame(23, bytes.fromhex("0d0000")))                                      # OPTIONS: --cache
for i in range(1, n + 1):
    s.sendall(frame(3, struct.pack(">I", i) + line))                               # SUBMIT, never read
open(sys.argv[4], "w").close()
time.sleep(20)
PY
python3 "$T/flood.py" "$MASTER_PORT" "$L" 80 "$T/sent" &
FP=$!
PIDS+=("$FP")
for _ in $(seq 1 100); do [ -e "$T/sent" ] && break; sleep 0.1; done
sleep 1
during=$(rss)
kill "$FP" 2>/dev/null; wait "$FP" 2>/dev/null
# its growth, not its size: a sanitizer build starts larger (before the
# fix it grew by 74 MB, one per hit; now by the 16 MiB high water and change)
check "a non-reading client's 80 cached SUBMITs: master RSS ${before} kB -> ${during} kB, grown by under 40 MB" \
    test $((during - before)) -lt 40960

# The hits that waited are answered once the client reads: a slow reader
# gets every result, from the cache, and nothing runs again.
M="echo x >> $T/runs; head -c 1000000 /dev/zero | tr '\\0' b"
echo "$M" >"$T/m1.txt"
run_client -q --cache "$T/m1.txt" >/dev/null
for _ in $(seq 1 40); do echo "$M"; done >"$T/m40.txt"
"$BIN/client" --cache 127.0.0.1 "$MASTER_PORT" "$T/m40.txt" 2>"$T/m40.err" | (sleep 2; wc -c) >"$T/m40.bytes"
is "$(tr -d ' ' <"$T/m40.bytes")" 40000000 "a slow reader of 40 cached 1 MB results gets all 40 MB"
is "$(grep -c -- '-- cached (ran on' "$T/m40.err")" 40 "each marked cached"
is "$(wc -l <"$T/runs" | tr -d ' ')" 1 "and the command ran once, the first time"
done_testing
