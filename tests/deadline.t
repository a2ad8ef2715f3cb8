#!/usr/bin/env bash
# client --deadline SECS (OPTIONS key 10): a command of the batch that has
# not started within SECS of reaching the master is not run: it ends not
# started, counted as failed. The master wakes for the deadline (its
# timers), not at its next heartbeat. A command that started is not
# affected; a --retries run that would start after it is not run.
. "$(dirname "$0")/lib.sh"

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
# cpu_ticks PID: its user + system time, in clock ticks
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

cluster 1 -j 2 # 2 slots

# busy N SECS: N commands of SECS in the background (BUSY_PID), once all started.
busy() {
    rm -rf "$T/busy" && mkdir -p "$T/busy"
    for i in $(seq 1 "$1"); do echo "touch $T/busy/$i; sleep $2"; done >"$T/busy.txt"
    "$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/busy.txt" >/dev/null 2>&1 &
    BUSY_PID=$!
    PIDS+=("$BUSY_PID")
    for _ in $(seq 1 200); do [ "$(ls "$T/busy" | wc -l)" -ge "$1" ] && break; sleep 0.05; done
    [ "$(ls "$T/busy" | wc -l)" -ge "$1" ] || bail "the busy commands did not start"
}

mkdir -p "$T/ran"
for i in 1 2 3; do echo "touch $T/ran/b$i; echo b$i"; done >"$T/b.txt"

# --- The 2 slots busy for 5 s: --deadline 1's 3 commands end not started at ~1 s.
busy 2 5
start=$(date +%s%N)
run_client --json --deadline 1 "$T/b.txt"
took=$(ms_since "$start")
is "$RC" 3 "--deadline 1, slots busy: exit 3 (3 failed)"
is "$(grep -c '"status":"not_started"' "$T/out")" 3 "3 results, each not_started (--json)"
is "$(grep -c "\"message\":\"not started within the batch's --deadline of 1 s\"" "$T/out")" 3 \
    "each says: not started within the batch's --deadline of 1 s"
check "they end at the deadline: 900 ms < $took ms < 2500 ms" test "$took" -gt 900 -a "$took" -lt 2500
is "$(ls "$T/ran" | wc -l)" 0 "none of them ran"

# The human output says why, with a fractional deadline.
start=$(date +%s%N)
run_client --deadline 0.5 "$T/b.txt"
took=$(ms_since "$start")
is "$RC/$(grep -c "(not run: not started within the batch's --deadline of 0.5 s)" "$T/err")" 3/3 \
    "--deadline 0.5: exit 3, stderr says why for each"
check "at ~0.5 s ($took ms < 2000)" test "$took" -lt 2000
is "$(ls "$T/ran" | wc -l)" 0 "none of them ran"
wait "$BUSY_PID"

# --- A generous deadline: they wait for the slots and run.
busy 2 1.5
start=$(date +%s%N)
cpu0=$(cpu_ticks "$MASTER_PID")
run_client -q --deadline 30 "$T/b.txt"
took=$(ms_since "$start")
cpu=$(( $(cpu_ticks "$MASTER_PID") - cpu0 ))
is "$RC/$(sort "$T/out" | tr '\n' ' ')" "0/b1 b2 b3 " "--deadline 30, slots busy 1.5 s: they wait and run, exit 0"
check "they waited for the slots ($took ms > 1000)" test "$took" -gt 1000
is "$(ls "$T/ran" | wc -l)" 3 "all 3 ran"
# No busy wait: the master sleeps until the earliest deadline.
check "the master used $cpu ticks of CPU while they waited $took ms (< 30: no polling loop)" test "$cpu" -lt 30
wait "$BUSY_PID"

# --- Started in time: not affected by the deadline while it runs.
echo "sleep 1.5; echo long" >"$T/long.txt"
run_client -q --deadline 0.5 "$T/long.txt"
is "$RC/$(cat "$T/out")" "0/long" "--deadline 0.5, a free slot: a 1.5 s command runs to its end"

# --- --retries: the run again would start after the deadline: not run.
echo "echo x >> $T/retried; sleep 1.2; exit 1" >"$T/fail.txt"
run_client --json --deadline 1 --retries 3 "$T/fail.txt"
is "$RC/$(wc -l <"$T/retried")" "1/1" "--deadline 1 --retries 3: ran once (1.2 s), not again after the deadline; exit 1"
is "$(grep -c "\"status\":\"not_started\".*--deadline of 1 s" "$T/out")" 1 "its result: not started, the deadline's message"

# --- --halt counts it: now,fail=1 stops at the first one.
busy 2 4
for i in $(seq 1 6); do echo "touch $T/ran/h$i; echo h$i"; done >"$T/h.txt"
run_client --json --deadline 0.5 --halt now,fail=1 "$T/h.txt"
is "$(ls "$T/ran" | grep -c '^h')" 0 "--halt now,fail=1 with --deadline: none ran"
check "--halt: the client stopped on it (exit $RC, not 0)" test "$RC" -ne 0
wait "$BUSY_PID"

# --- Journaled: a detached batch keeps its deadline across a master
# killed with -9 (JR_OPTIONS re-applied). One slot; the batch's first
# command holds it for 6 s, the other 2 wait; the master restarts at once.
# The deadline still counts from their submission (JR_QUEUED:
# tests/deadline_restart.t times it). Without it, the 2 would run at 6 s.
start_slave s9 -j 1 --master-grace 30
echo "127.0.0.1 $SLAVE_PORT" >"$T/s9.conf"
start_master m9 "$T/s9.conf" --state-dir "$T/sd9"
p9=$MASTER_PORT
wait_slaves_up m9 1 || bail "slave not up for m9"
{ echo "touch $T/ran/j0; sleep 6; echo long"; echo "touch $T/ran/j1; echo j1"; echo "touch $T/ran/j2; echo j2"; } >"$T/j.txt"
batch=$(timeout 20 "$BIN/client" --detach --deadline 2 127.0.0.1 "$p9" "$T/j.txt" 2>"$T/detach.err")
for _ in $(seq 1 100); do [ -e "$T/ran/j0" ] && break; sleep 0.05; done
{ kill -KILL "$MASTER_PID"; wait "$MASTER_PID"; } 2>/dev/null
restart=$(date +%s%N)
MASTER_ON_PORT=$p9 start_master m9b "$T/s9.conf" --state-dir "$T/sd9"
rc=0
timeout 60 "$BIN/client" --json 127.0.0.1 "$p9" --attach "$batch" >"$T/attach.out" 2>"$T/attach.err" || rc=$?
is "$rc" 2 "after kill -9: client --attach, exit 2 (the 2 not started)"
is "$(grep -c "\"status\":\"not_started\".*--deadline of 2 s" "$T/attach.out")" 2 "the 2 queued ones: not started, the deadline's message"
is "$(grep -c '"status":"exited","exitval":0' "$T/attach.out")" 1 "the running one ran to its end"
is "$(ls "$T/ran" | grep -c '^j[12]')" 0 "the 2 queued ones never ran"
stop_pid "$MASTER_PID"
"$BIN/serveur_maitre" --dump-journal "$T/sd9" >"$T/dump.out" 2>&1
is "$(grep -c '"deadline_ms":2000' "$T/dump.out")" 1 "--dump-journal shows the batch's OPTIONS: deadline_ms 2000"

done_testing
