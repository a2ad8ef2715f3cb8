#!/usr/bin/env bash
# batches_limit.t - --max-batches: a master with a journal keeps at most
# N batches; a new one beyond is refused with an ERROR naming the limit,
# the batches it keeps are neither dropped nor disturbed, and once one is
# forgotten (--keep-results) a new batch is taken again. A finished
# detached batch that nobody attached to is forgotten too.
. "$(dirname "$0")/lib.sh"
start_slave s1
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
start_master m1 "$T/slaves.conf" --state-dir "$T/st" --max-batches 2 --keep-results 3
wait_slaves_up m1 1 || bail "slave not up"
echo 'echo one' >"$T/one.txt"
echo 'sleep 600' >"$T/long.txt"

run_client --detach "$T/long.txt"
long=$(cat "$T/out")
is "$RC" 0 "batch 1 (a long command) detached"
run_client --detach "$T/one.txt"
short=$(cat "$T/out")
is "$RC" 0 "batch 2 (a short one) detached"
run_client "$T/one.txt"
is "$RC" 255 "a third batch is refused (exit 255)"
check "with an ERROR naming the limit" grep -q 'keeps 2 batches, its limit (--max-batches 2)' "$T/err"
run_client --batches
is "$(grep -cE "^($long|$short) " "$T/out")" 2 "the two batches kept are still there"
# the detached batch that finished and nobody attached to is forgotten after --keep-results (3 s)
for _ in $(seq 1 200); do
    run_client --batches
    grep -q "^$short " "$T/out" || break
    sleep 0.1
done
check "the finished detached batch is forgotten after --keep-results" bash -c "! grep -q '^$short ' '$T/out'"
check "the running one is not" grep -q "^$long " "$T/out"
run_client -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/one" "a place free: a new batch is served"
stop_pid "$MASTER_PID"
done_testing
