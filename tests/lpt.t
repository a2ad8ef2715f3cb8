#!/usr/bin/env bash
# client --order lpt (OPTION_ORDER) and the learned durations
# (master/history.c, journal DURATION records): a skewed batch, 8 short
# commands then a long one, on 2 slots. The first run (fifo) teaches the
# master how long each line takes; run again with --order lpt, the long
# one starts first (the master's console: the order of dispatch) and the
# batch ends sooner (a loose bound: fifo ~2.4 s, lpt ~1.6 s). The
# durations survive a restart on the same state dir (and a fresh state dir,
# the control, knows nothing: fifo order). A line never seen counts as the
# batch's mean. -k output order is not changed by lpt.
. "$(dirname "$0")/lib.sh"

start_slave s1 -j 2
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
for i in $(seq 1 8); do echo "sleep 0.2; echo short$i"; done >"$T/batch.txt"
echo "sleep 1.6; echo long" >>"$T/batch.txt"

# master NAME STATEDIR
master() {
    start_master "$1" "$T/slaves.conf" --state-dir "$2"
    wait_slaves_up "$1" 1 || bail "slave not seen by master $1"
    MASTER_NAME=$1
}
# batch FILE [client options]: runs it; RC, MS (wall time), FIRST (the seq dispatched first)
batch() {
    local file=$1 n before start
    shift
    n=$(grep -c . "$file")
    before=$(grep -c -- '-> slave' "$T/$MASTER_NAME.log")
    start=$(date +%s%N)
    RC=0
    timeout 60 "$BIN/client" "$@" 127.0.0.1 "$MASTER_PORT" "$file" >"$T/out" 2>"$T/err" || RC=$?
    MS=$(( ($(date +%s%N) - start) / 1000000 ))
    ORDER=$(grep -- '-> slave' "$T/$MASTER_NAME.log" | tail -n +$((before + 1)) | sed -E 's/^.*\[([0-9]+)\] client.*/\1/' | tr '\n' ' ')
    FIRST=${ORDER%% *}
    [ -n "${NOCOUNT:-}" ] || is "$(grep -c . "$T/out")/$(echo "$ORDER" | wc -w)" "$n/$n" "$* : $n results, $n dispatches"
}

master m1 "$T/state"
batch "$T/batch.txt" -q
is "$RC/$FIRST" "0/1" "first run (fifo, learning): in input order ($ORDER)"
fifo_ms=$MS
batch "$T/batch.txt" -q --order lpt
is "$RC/$FIRST" "0/9" "--order lpt: the long command (seq 9) is dispatched first ($ORDER)"
lpt_ms=$MS
check "--order lpt ends sooner: $lpt_ms ms against fifo's $fifo_ms ms (at least 400 ms less)" test "$lpt_ms" -lt $((fifo_ms - 400))
batch "$T/batch.txt" -q
is "$FIRST" 1 "fifo is still the default: input order ($ORDER)"
fifo2_ms=$MS
check "and fifo again takes the long way ($fifo2_ms ms; lpt $lpt_ms)" test "$lpt_ms" -lt $((fifo2_ms - 400))

# -k: output in input order whatever the start order
batch "$T/batch.txt" -q -k --order lpt
is "$FIRST/$(tr '\n' ' ' <"$T/out")" "9/short1 short2 short3 short4 short5 short6 short7 short8 long " \
    "-k --order lpt: started long first, printed in input order"

# The journal holds the durations.
"$(prog serveur_maitre)" --dump-journal "$T/state" >"$T/dump.jsonl" 2>/dev/null
check "the journal has DURATION records" grep -q '"type":"duration".*"avg_us":[0-9]' "$T/dump.jsonl"

# Restart on the same state dir: the durations are known at once.
stop_pid "$MASTER_PID"
master m2 "$T/state"
batch "$T/batch.txt" -q --order lpt
is "$RC/$FIRST" "0/9" "after a restart (same state dir): lpt still puts the long one first ($ORDER)"
# A line never seen counts as the batch's mean (about 0.36 s): after the long one, before the short ones.
{ echo "sleep 0.01; echo new"; cat "$T/batch.txt"; } >"$T/batch2.txt"
batch "$T/batch2.txt" -q --order lpt
is "$(echo "$ORDER" | cut -d' ' -f1-2)" "10 1" "an unknown line: after the long one, before the short ones ($ORDER)"
# Retries still work under lpt: a failing long line runs again (--retries 2).
printf 'sleep 0.2; echo a\nsleep 0.2; echo b\ntest -e %s/again || { touch %s/again; sleep 0.5; exit 3; }; echo c\n' "$T" "$T" >"$T/retry.txt"
NOCOUNT=1 batch "$T/retry.txt" -q
is "$RC/$(echo "$ORDER" | wc -w)" "1/3" "a batch whose third line fails once (learning: it takes 0.5 s)"
rm -f "$T/again"
NOCOUNT=1 batch "$T/retry.txt" -q --order lpt --retries 2
is "$RC/$FIRST/$(sort "$T/out" | tr '\n' ' ')" "0/3/a b c " "--order lpt --retries 2: the known long one first, its failed run run again"
is "$(echo "$ORDER" | wc -w)" 4 "4 dispatches: the failed one twice ($ORDER)"
stop_pid "$MASTER_PID"

# The control: a fresh state dir knows nothing: lpt keeps the input order.
master m3 "$T/state-fresh"
batch "$T/batch.txt" -q --order lpt
is "$RC/$FIRST" "0/1" "a fresh state dir: nothing learned, lpt keeps the input order ($ORDER)"

done_testing
