#!/usr/bin/env bash
# --http under attack (doc/monitoring.md, "Cost"): a flood of requests for a
# large /status.json must not take the master's loop from the commands.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || skip_all "needs curl: apt-get install curl"
[ -r /proc/self/stat ] || skip_all "needs /proc (the master's CPU time)"
C="$(prog client)"

start_slave s1 -j 4
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
start_master master "$T/slaves.conf" --state-dir "$T/state" --http 127.0.0.1:0
http_port master
wait_slaves_up master 1 || bail "slave not seen by the master"

# 1. A large status: 2000 finished batches, kept for --attach.
printf 'true %s\n' "$(head -c 150 /dev/zero | tr '\0' x)" >"$T/one.txt"
seq 1 2000 | xargs -P 3 -I{} "$C" -q --detach 127.0.0.1 "$MASTER_PORT" "$T/one.txt" >/dev/null 2>&1
n=$(curl -s "${HTTP_URL}status.json" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["batches"]))')
is "$n" 2000 "2000 batches in /status.json"

# 2. What one answer costs the master when it is alone (the best of 3, a
# second apart: each one made anew),
# then its CPU time per answer under a flood from 3 processes for 4 s:
# rendering each answer anew costs it as much as a lone one (5 ms for
# 2000 batches here); a fresh one reused costs a fraction.
lone=$(for _ in 1 2 3; do sleep 1.1; curl -s -o /dev/null -w '%{time_starttransfer}\n' "${HTTP_URL}status.json"; done |
    sort -n | head -1)
cpu() { awk '{print $14 + $15}' "/proc/$MASTER_PID/stat"; }
a=$(cpu)
python3 - "$HTTP_PORT" >"$T/flood" <<'PY'
import os, socket, sys, time
port = int(sys.argv[1])
for k in range(3):
    if os.fork() == 0:
        n, end = 0, time.time() + 4
        while time.time() < end:
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /status.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head = s.recv(12)
            while s.recv(1 << 20):
                pass
            s.close()
            n += head.startswith(b"HTTP/1.1 200")
        print(n, flush=True)
        os._exit(0)
for k in range(3):
    os.wait()
PY
b=$(cpu)
answers=$(awk '{n += $1} END {print n}' "$T/flood")
tick=$(getconf CLK_TCK)
per=$(awk -v t=$((b - a)) -v n="$answers" -v hz="$tick" 'BEGIN {printf "%.6f", t / hz / (n ? n : 1)}')
echo "# a lone answer: ${lone}s; under the flood: $answers answers, master CPU $(((b - a) * 1000 / tick)) ms, ${per}s per answer" >&2
check "under a flood, an answer costs the master less than a third of a lone one" \
    awk -v p="$per" -v l="$lone" 'BEGIN {exit !(p < l / 3)}'
check "the flood got answers" test "$answers" -gt 30

# 3. What is reused is fresh: a batch run after the flood shows at once.
printf 'true\n' >"$T/last.txt"
id=$("$C" -q --detach 127.0.0.1 "$MASTER_PORT" "$T/last.txt")
for _ in $(seq 1 50); do
    curl -s "${HTTP_URL}status.json" | grep -q "\"$id\"" && break
    sleep 0.1
done
check "a new batch is in /status.json within 5 s" sh -c "curl -s '${HTTP_URL}status.json' | grep -q '\"$id\"'"

# 4. A peer that has its answer and goes on sending: its leftovers are read
# (a close at once could reset the answer), but not without end: the loop
# drained them as fast as they came, as long as they came (2 s: gigabytes).
python3 - "$HTTP_PORT" >"$T/blast" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
junk, sent, end = b"x" * (1 << 20), 0, time.time() + 5
s.settimeout(5)
try:
    while time.time() < end:
        sent += s.send(junk)
except OSError:
    pass
print(sent >> 20)
PY
echo "# a peer sending after its answer: $(cat "$T/blast") MiB taken before the master closed" >&2
check "a peer sending after its answer is cut before 64 MiB" test "$(cat "$T/blast")" -lt 64
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "${HTTP_URL}metrics")
is "$code" 200 "then /metrics answers"
done_testing
