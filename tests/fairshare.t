#!/usr/bin/env bash
# Fair share (master/sched.c sched_share): a batch of long commands that
# holds every slot when another batch arrives does not refill them: as its
# commands end, the newcomer gets the freed slots up to its share
# (ceil(slots / batches with work)). Nothing is preempted: the newcomer
# waits for the first of them to end. Work-conserving: alone, a batch
# takes every slot, and the long batch takes them back once the other is
# done.
. "$(dirname "$0")/lib.sh"

cluster 2 -j 2 # 4 slots

# A: 8 commands of 4 s, 4 at once; each leaves a mark when it starts.
mkdir -p "$T/a-started"
for i in $(seq 1 8); do echo "touch $T/a-started/$i; sleep 4; echo a$i"; done >"$T/a.txt"
for i in $(seq 1 8); do echo "echo b$i"; done >"$T/b.txt"

a_start=$(date +%s%N)
"$BIN/client" -q --joblog "$T/a.joblog" 127.0.0.1 "$MASTER_PORT" "$T/a.txt" >"$T/a.out" 2>"$T/a.err" &
a=$!
PIDS+=("$a")
for _ in $(seq 1 200); do [ "$(ls "$T/a-started" | wc -l)" -ge 4 ] && break; sleep 0.05; done
is "$(ls "$T/a-started" | wc -l)" 4 "A holds the 4 slots (4 of its 8 started, the others queued)"

# B: 8 short commands. Before fair share, A's 4 freed slots went to A and
# B alternately and A refilled them as B's ended: B's last result came
# with A's second wave's end (~8 s after A began).
b_start=$(date +%s%N)
rc=0
timeout 60 "$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/b.txt" >"$T/b.out" 2>"$T/b.err" || rc=$?
b_end=$(date +%s%N)
b_ms=$(( (b_end - b_start) / 1000000 ))
a_running=0
kill -0 "$a" 2>/dev/null && a_running=1
a_done_then=$(grep -c '^a' "$T/a.out")
is "$rc" 0 "B exits 0"
is "$(sort "$T/b.out" | tr '\n' ' ')" "b1 b2 b3 b4 b5 b6 b7 b8 " "B got its 8 results"
# A's first 4 end at ~4 s: B's 8 take 2 of those slots at once (A at its
# share of 2 gets no more while B waits) and end within ~0.2 s of that.
check "B's last result within 5.5 s of B's start ($b_ms ms; before fair share ~8000)" test "$b_ms" -lt 5500
is "$a_running" 1 "A was still running when B finished (no preemption: A's commands go on)"
check "A had at most 4 of 8 results when B finished ($a_done_then)" test "$a_done_then" -le 4

wait "$a"; a_rc=$?
a_ms=$(( ($(date +%s%N) - a_start) / 1000000 ))
is "$a_rc" 0 "A exits 0"
is "$(grep -c '^a' "$T/a.out")" 8 "A got its 8 results"
# A ends after 2 waves of 4 s: B's short commands delayed it by little,
# and A took every slot back once B was done (work-conserving).
check "A ended within 11 s ($a_ms ms; 2 waves of 4 s)" test "$a_ms" -lt 11000
# Its second wave: two started at ~4 s (its share), two more once B was done.
starts=$(tail -n +2 "$T/a.joblog" | cut -f3 | sort -n | awk 'NR == 1 { t0 = $1 } { printf "%d ", ($1 - t0) }')
is "$(echo "$starts" | tr ' ' '\n' | awk '$1 >= 3' | wc -l)" 4 "A's second wave: 4 commands started at about 4 s ($starts)"

done_testing
