#!/usr/bin/env bash
# --deadline under load: commands arriving steadily, each with a deadline,
# while every slot is busy. Each expiry used to walk the whole queue, so
# with commands arriving every millisecond the master walked 100,000 of
# them about every millisecond once they expired (quadratic: 210 ticks of
# CPU after the last was queued, 57 now). The queue is in arrival order:
# the walk stops at the first command whose deadline has not come.
. "$(dirname "$0")/lib.sh"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

cluster 1 -j 1 # 1 slot
mkdir -p "$T/busy"
echo "touch $T/busy/1; sleep 60" >"$T/busy.txt"
"$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/busy.txt" >/dev/null 2>&1 &
BUSY_PID=$!
PIDS+=("$BUSY_PID")
for _ in $(seq 1 200); do [ -e "$T/busy/1" ] && break; sleep 0.05; done
[ -e "$T/busy/1" ] || bail "the busy command did not start"

# N commands over about 8 s (a batch of N/8000 a millisecond), --deadline 8:
# they expire over 8 s too, about one expiry a millisecond.
N=${N:-100000}
cat >"$T/feed.py" <<'PY'
import sys, time
n = int(sys.argv[1]); per = max(1, n // 8000); out = sys.stdout
t0 = time.monotonic(); i = 0
while i < n:
    for _ in range(min(per, n - i)):
        out.write("echo %d\n" % i); i += 1
    out.flush()
    time.sleep(0.001)
open(sys.argv[2], "w").write(open("/proc/%s/stat" % sys.argv[3]).read())
PY
cpu0=$(cpu_ticks "$MASTER_PID")
start=$(date +%s%N)
RC=0
python3 "$T/feed.py" "$N" "$T/fed" "$MASTER_PID" | timeout 120 "$BIN/client" --json --deadline 8 127.0.0.1 "$MASTER_PORT" - >"$T/out" 2>"$T/err" || RC=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
cpu1=$(cpu_ticks "$MASTER_PID")
cpu=$(( cpu1 - cpu0 )) expiry=$(( cpu1 - $(awk '{ print $14 + $15 }' "$T/fed") ))
is "$(grep -c '"status":"not_started"' "$T/out")" "$N" "all $N commands end not started (--deadline 8, the slot busy)"
echo "# the master used $cpu ticks of CPU in $took ms, $expiry once all were queued"
# a sanitizer build spends about 2.5 times the plain one's CPU (135 ticks
# alone on a quiet machine); the quadratic walk took 210 in a plain build
bound=150
grep -qa __asan_init "$BIN/serveur_maitre" && bound=300
check "the master's CPU once all were queued (expiries and results): $expiry ticks < $bound" test "$expiry" -lt "$bound"
stop_pid "$BUSY_PID"
done_testing
