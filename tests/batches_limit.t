#!/usr/bin/env bash
# batches_limit.t - --max-batches: a master with a journal keeps at most
# N batches. Beyond, a new batch makes room by forgetting the oldest
# finished batch whose client is gone (kept only for a later --attach);
# when every kept batch is unfinished, the new one is refused with an
# ERROR naming the limit, and the kept ones are neither dropped nor
# disturbed. A finished detached batch nobody attached to is forgotten
# after --keep-results.
. "$(dirname "$0")/lib.sh"
start_slave s1 -j 4
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
start_master m1 "$T/slaves.conf" --state-dir "$T/st" --max-batches 2 --keep-results 3
wait_slaves_up m1 1 || bail "slave not up"
echo 'echo one' >"$T/one.txt"
echo 'sleep 613.7' >"$T/long.txt" # a pattern of this test's own
listed() { run_client --batches; grep -q "^$1 " "$T/out"; }

# 1. Two unfinished batches: a third is refused.
run_client --detach "$T/long.txt"
long=$(cat "$T/out")
is "$RC" 0 "batch 1 (a long command) detached"
run_client --detach "$T/long.txt"
long2=$(cat "$T/out")
is "$RC" 0 "batch 2 (another long one) detached"
run_client "$T/one.txt"
is "$RC" 255 "a third batch is refused (exit 255)"
check "with an ERROR naming the limit" grep -q 'keeps 2 unfinished batches, its limit (--max-batches 2)' "$T/err"
run_client --batches
is "$(grep -cE "^($long|$long2) " "$T/out")" 2 "the two batches kept are still there"

# 2. A finished batch, its client gone, makes room for a new one.
kill -TERM "$(pgrep -fx 'sleep 613.7' | head -1)" 2>/dev/null # one of them ends (exit by a signal: finished)
for _ in $(seq 1 100); do
    run_client --batches
    grep -Eq ' (finished|delivered) ' "$T/out" && break
    sleep 0.05
done
check "one of the two batches finished" grep -Eq ' (finished|delivered) ' "$T/out"
done_id=$(awk '$2 == "finished" || $2 == "delivered" {print $1}' "$T/out" | head -1)
run_client -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/one" "a new batch is served: the finished one made room"
check "the master said so" grep -q "batch $done_id: forgotten before its --keep-results ends, to make room" "$T/m1.log"
check "the finished batch is gone" bash -c "! { '$(prog client)' --batches 127.0.0.1 $MASTER_PORT | grep -q '^$done_id '; }"

# 3. A finished detached batch that nobody attached to is forgotten after
# --keep-results (3 s).
stop_pid "$MASTER_PID"
pkill -fx 'sleep 613.7'
start_master m2 "$T/slaves.conf" --state-dir "$T/st2" --max-batches 2 --keep-results 3
wait_slaves_up m2 1 || bail "slave not up"
run_client --detach "$T/one.txt"
short=$(cat "$T/out")
is "$RC" 0 "a short batch detached"
for _ in $(seq 1 200); do listed "$short" || break; sleep 0.1; done
check "the finished detached batch is forgotten after --keep-results" bash -c "! { '$(prog client)' --batches 127.0.0.1 $MASTER_PORT | grep -q '^$short '; }"
stop_pid "$MASTER_PID"
done_testing
