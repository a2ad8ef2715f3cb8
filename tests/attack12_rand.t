#!/usr/bin/env bash
# attack12_rand.t - seeded random power cuts (tests/attack12.t's case 1,
# randomized): ROUNDS batches of 2-6 commands (-k or not; outputs of one
# line, a sleep, or 2 MB), the master killed at a random fdatasync of the
# batch (held by tests/syncgate.c) and its journal cut back to what the
# previous one made durable, restarted on the same port: the same client
# process ends with exit 0, every output once and byte-exact (in order
# with -k), every command once. SEED=N replays a run (the default, 22,
# lost a result on the code before 30ced72); ROUNDS=N (default 10).
. "$(dirname "$0")/lib.sh"
use_syncgate
has_line() { wait_for_line "$1" "$2" 10 >/dev/null; }

start_slave s1 -j 2
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
PORT=

start_slave s2 -j 2
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves2.conf"
big=$T/big
head -c 1500000 /dev/urandom | base64 -w 100 >"$big"
RANDOM=${SEED:-22}
echo "# seed ${SEED:-22}"
PORT=
for round in $(seq 1 ${ROUNDS:-10}); do
    d=$T/r$round
    mkdir -p "$d/markers"
    n=$((2 + RANDOM % 5)); kopt=; [ $((RANDOM % 2)) = 0 ] && kopt=-k
    : >"$d/expect"
    for i in $(seq 1 $n); do
        case $((RANDOM % 3)) in
        0) echo "echo x >> $d/markers/$i; cat $big"; cat "$big" >>"$d/expect.$i" ;;
        1) echo "echo x >> $d/markers/$i; sleep 0.$((RANDOM % 4)); echo r-\$((0))$i"; echo "r-0$i" >>"$d/expect.$i" ;;
        2) echo "echo x >> $d/markers/$i; echo r-\$((0))$i"; echo "r-0$i" >>"$d/expect.$i" ;;
        esac
    done >"$d/cmds"
    for i in $(seq 1 $n); do cat "$d/expect.$i"; done >"$d/expect"
    k=$((1 + RANDOM % 8))
    gate_reset
    MASTER_ON_PORT=$PORT LD_PRELOAD=$GATE_LIB SYNCGATE_DIR=$G start_master x$round "$T/slaves2.conf" --state-dir "$d/state" --client-grace 60
    wait_slaves_up x$round 1 || bail "slave not up"
    PORT=$MASTER_PORT
    base=$(stat -c %s "$d/state/journal")
    touch "$G/closed"
    "$(prog client)" 127.0.0.1 "$PORT" --reconnect 30 -q $kopt "$d/cmds" >"$d/out" 2>"$d/err" &
    c=$!
    PIDS+=("$c")
    j=1 ended=0
    while [ "$j" -lt "$k" ]; do gate_wait "$j" 5 || { ended=1; break; }; touch "$G/pass-$j"; j=$((j + 1)); done
    [ "$ended" = 0 ] && ! gate_wait "$k" 5 && ended=1
    if [ "$ended" = 0 ]; then
        durable=$(cat "$G/entered-$k"); [ "$durable" -lt "$base" ] && durable=$base
        kill -9 "$MASTER_PID"; wait "$MASTER_PID" 2>/dev/null
        truncate -s "$durable" "$d/state/journal"
        gate_reset
        MASTER_ON_PORT=$PORT start_master x${round}b "$T/slaves2.conf" --state-dir "$d/state" --client-grace 60
    else
        rm -f "$G/closed"
    fi
    rc=0; wait "$c" || rc=$?
    if [ "$rc" = 255 ] && grep -q "(0 of $n results received)" "$d/err"; then
        is "$(cat "$d"/markers/* 2>/dev/null | wc -l)" 0 "round $round (n=$n $kopt cut $k): not told its id, nothing ran"
    else
        if [ -n "$kopt" ]; then got=$(md5sum <"$d/out"); exp=$(md5sum <"$d/expect"); else got=$(sort "$d/out" | md5sum); exp=$(sort "$d/expect" | md5sum); fi
        is "$rc/$got" "0/$exp" "round $round (n=$n $kopt cut $k, ended=$ended): exit 0, outputs once, byte-exact"
        is "$(cat "$d"/markers/* | wc -l)" "$n" "round $round: each command once"
    fi
    stop_pid "$MASTER_PID"
done
done_testing
