#!/usr/bin/env bash
# The master's queues are bounded in bytes as well as in commands: a client
# with a long file of long commands waits, the master does not grow.
. "$(dirname "$0")/lib.sh"

# Under ASan, freed blocks wait in a quarantine (256 MB by default) that
# would count in the master's peak memory: none here.
export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=0"
cluster 1 -j 1

# 3000 commands of 60 KiB (180 MB in all) queued behind a slow one, on one
# slot: the master holds at most its queue limits (16 MiB per client), not
# the file. Every command still runs, in order.
arg=$(head -c 61440 /dev/zero | tr '\0' A)
gen() {
    echo "sleep 2; echo first"
    for i in $(seq 1 3000); do echo ": $arg; echo $i"; done
}
rc=0; gen | timeout 120 "$BIN/client" -q -k 127.0.0.1 "$MASTER_PORT" - >"$T/out" 2>"$T/err" || rc=$?
hwm_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$MASTER_PID/status")
is "$rc" 0 "3000 x 60 KiB commands behind a slow one: exit 0"
is "$(head -1 "$T/out")/$(tail -n +2 "$T/out" | tr '\n' ' ' | md5sum)" "first/$(seq 1 3000 | tr '\n' ' ' | md5sum)" \
    "every command ran, in order"
if [ -n "$WRAP" ]; then # valgrind's own memory is in the figure
    echo "# master VmHWM $((hwm_kb / 1024)) MB under $WRAP: not checked"
else
    check "the master's peak memory stays under 64 MB (VmHWM $((hwm_kb / 1024)) MB)" test "$hwm_kb" -lt 65536
fi

# Another client is served meanwhile (its queue is not the full one).
before=$(grep -c ' connected' "$T/master.log")
gen | timeout 120 "$BIN/client" -q 127.0.0.1 "$MASTER_PORT" - >"$T/big.out" 2>&1 &
big=$!
PIDS+=("$big")
for _ in $(seq 1 100); do [ "$(grep -c ' connected' "$T/master.log")" -gt "$before" ] && break; sleep 0.05; done
sleep 1 # its queue fills up (the first command sleeps 2 s)
served_meanwhile "the first one's queue is full" 10000
stop_pid "$big"

# And in total: 3 clients with 1000 long commands each, behind a slow one,
# on a master whose queues may hold 4 MiB in all (--max-queued-total 4):
# far less than 3 times the 16 MiB a client may queue.
start_master m2 "$T/slaves.conf" --max-queued-total 4
wait_slaves_up m2 1 || bail "slave not up for m2"
gen3() {
    echo "sleep $1; echo first-$2"
    for i in $(seq 1 1000); do echo ": $arg; echo $2-$i"; done
}
tpids=()
for k in 1 2 3; do
    gen3 $((4 - k)) "c$k" | timeout 120 "$BIN/client" -q -k 127.0.0.1 "$MASTER_PORT" - >"$T/t$k.out" 2>"$T/t$k.err" &
    tpids+=($!)
done
rcs=""
for p in "${tpids[@]}"; do rc=0; wait "$p" || rc=$?; rcs="$rcs$rc"; done
hwm_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$MASTER_PID/status")
is "$rcs" 000 "3 clients of 1000 x 60 KiB commands, --max-queued-total 4: all exit 0"
bad=0
for k in 1 2 3; do
    [ "$(tail -n +2 "$T/t$k.out" | tr '\n' ' ')" = "$(seq 1 1000 | sed "s/^/c$k-/" | tr '\n' ' ')" ] || bad=$((bad + 1))
done
is "$bad" 0 "every command of each ran, in order"
if [ -z "$WRAP" ]; then
    check "the master's peak memory stays under 24 MB (VmHWM $((hwm_kb / 1024)) MB)" test "$hwm_kb" -lt 24576
fi

done_testing
