#!/usr/bin/env bash
# client -j N (at most N of its commands running at once, on all slaves
# together) and --delay SECS (at least SECS between two starts), as GNU
# parallel's -j and --delay: the master holds them (OPTIONS), the joblog's
# Starttime and JobRuntime (the slaves' own clocks, this machine's) show it.
. "$(dirname "$0")/lib.sh"

cluster 2 -j 2 # 4 slots

# most_at_once JOBLOG: the most commands whose [start, start + runtime)
# overlap at one moment.
most_at_once() {
    tail -n +2 "$1" | awk -F'\t' '{ printf "%.3f 1\n%.3f -1\n", $3, $3 + $4 - 0.002 }' | sort -n -k1,1 -k2,2 |
        awk '{ n += $2; if (n > max) max = n } END { print max + 0 }'
}
# gaps JOBLOG: the smallest time between two consecutive starts, in ms.
min_gap_ms() {
    tail -n +2 "$1" | cut -f3 | sort -n | awk 'NR > 1 { g = ($1 - last) * 1000; if (min == "" || g < min) min = g } { last = $1 } END { printf "%d\n", min }'
}

# median_gap_ms JOBLOG: the median time between two consecutive starts.
median_gap_ms() {
    tail -n +2 "$1" | cut -f3 | sort -n | awk 'NR > 1 { printf "%d\n", ($1 - last) * 1000 } { last = $1 }' |
        sort -n | awk '{ g[NR] = $1 } END { print g[int((NR + 1) / 2)] }'
}

for i in 1 2 3 4 5 6; do echo "sleep 0.4; echo $i"; done >"$T/sleeps.txt"
run_client -q --joblog "$T/j0" "$T/sleeps.txt"
is "$RC/$(most_at_once "$T/j0")" "0/4" "without -j: 4 at once (the 4 slots)"
run_client -q -j 1 --joblog "$T/j1" "$T/sleeps.txt"
is "$RC/$(most_at_once "$T/j1")" "0/1" "-j 1: one at a time"
is "$(sort -n "$T/out" | tr '\n' ' ')" "1 2 3 4 5 6 " "-j 1: all six ran"
run_client -q --jobs 2 --joblog "$T/j2" "$T/sleeps.txt"
is "$RC/$(most_at_once "$T/j2")" "0/2" "--jobs 2: two at a time, on two slaves or one"
run_client -q -j 0 --joblog "$T/jz" "$T/sleeps.txt"
is "$RC/$(most_at_once "$T/jz")" "0/4" "-j 0: no cap (GNU parallel's 'as many as possible')"

# Relative to the slots of the slaves alive (4), as GNU parallel's to its CPUs.
run_client -q -j 50% --joblog "$T/jp" "$T/sleeps.txt"
is "$RC/$(most_at_once "$T/jp")" "0/2" "-j 50%: half the 4 slots"
run_client -q -j -3 --joblog "$T/jm" "$T/sleeps.txt"
is "$RC/$(most_at_once "$T/jm")" "0/1" "-j -3: 4 slots less 3"
run_client -q -j -9 --joblog "$T/jm9" "$T/sleeps.txt"
is "$RC/$(most_at_once "$T/jm9")" "0/1" "-j -9: at least 1"
run_client -q -j +0 --joblog "$T/j+" "$T/sleeps.txt"
is "$RC/$(most_at_once "$T/j+")" "0/4" "-j +0: the 4 slots"

for i in 1 2 3 4 5; do echo "echo $i"; done >"$T/quick.txt"
run_client -q --joblog "$T/d0" "$T/quick.txt"
check "without --delay: quick commands start within 150 ms of each other ($(min_gap_ms "$T/d0") ms)" \
    test "$(min_gap_ms "$T/d0")" -lt 150
run_client -q --delay 0.3 --joblog "$T/d3" "$T/quick.txt"
is "$RC" 0 "--delay 0.3: exit 0"
check "--delay 0.3: 300 ms at least between two starts ($(min_gap_ms "$T/d3") ms)" test "$(min_gap_ms "$T/d3")" -ge 290
# The master wakes for the next start (its deadline), not at its next heartbeat (500 ms).
check "--delay 0.3: each start on time (median gap $(median_gap_ms "$T/d3") ms < 450)" \
    test "$(median_gap_ms "$T/d3")" -lt 450

# With GNU parallel, the same counts (its own machine: -j 1 one at a time).
if command -v parallel >/dev/null; then
    parallel -j1 --joblog "$T/p1" <"$T/sleeps.txt" >/dev/null
    is "$(most_at_once "$T/p1")" "$(most_at_once "$T/j1")" "-j 1: as GNU parallel's -j1"
else
    echo "ok $((++_tap_n)) # SKIP GNU parallel is not installed (apt-get install parallel)"
fi

for bad in 10%% +x -2x % +-1; do
    RC=0; "$(prog client)" -j "$bad" 127.0.0.1 "$MASTER_PORT" "$T/quick.txt" >/dev/null 2>"$T/bad.err" || RC=$?
    is "$RC" 255 "-j $bad: a usage error ($(head -c 120 "$T/bad.err"))"
done
RC=0; "$(prog client)" -j lots 127.0.0.1 "$MASTER_PORT" "$T/quick.txt" >/dev/null 2>"$T/bad.err" || RC=$?
is "$RC" 255 "-j lots: a usage error"
check "naming it" grep -q -- "--jobs" "$T/bad.err"
RC=0; "$(prog client)" --delay -1 127.0.0.1 "$MASTER_PORT" "$T/quick.txt" >/dev/null 2>"$T/bad.err" || RC=$?
is "$RC" 255 "--delay -1: a usage error"

done_testing
