#!/usr/bin/env bash
# client --line-buffer (GNU parallel's): output shown line by line while
# the commands run (DG_OUTPUT, F_OUTPUT, doc/protocol.md 3.9), the result
# still authoritative: byte-exact with loss, duplication and reordering,
# past the cap, with --results; a re-run is never glued to the first run.
. "$(dirname "$0")/lib.sh"

cluster 2 -j 2

# 1. The first line of `echo a; sleep 2; echo b` is on the client's stdout
# while the command still runs: read through a fifo, each line stamped.
mkfifo "$T/fifo"
echo 'echo a; sleep 2; echo b' >"$T/ab.txt"
(while IFS= read -r l; do echo "$(date +%s%N) $l"; done <"$T/fifo" >"$T/stamped") &
reader=$!
t0=$(date +%s%N)
timeout 60 "$BIN/client" --line-buffer 127.0.0.1 "$MASTER_PORT" "$T/ab.txt" >"$T/fifo" 2>"$T/ab.err"
rc=$?
t1=$(date +%s%N)
wait "$reader"
is "$rc" 0 "echo a; sleep 2; echo b: exit 0"
is "$(cut -d' ' -f2- "$T/stamped" | tr '\n' ' ')" "a b " "its output is a, then b, once each"
ta=$(awk '$2 == "a" {print $1}' "$T/stamped"); tb=$(awk '$2 == "b" {print $1}' "$T/stamped")
check "a reached stdout at least 1 s before b ($(( (tb - ta) / 1000000 )) ms)" test $(( tb - ta )) -gt 1000000000
check "a reached stdout at least 1 s before the client ended ($(( (t1 - ta) / 1000000 )) ms)" test $(( t1 - ta )) -gt 1000000000

# The same without --line-buffer: a comes with b (the test can fail).
(while IFS= read -r l; do echo "$(date +%s%N) $l"; done <"$T/fifo" >"$T/stamped0") &
reader=$!
timeout 60 "$BIN/client" 127.0.0.1 "$MASTER_PORT" "$T/ab.txt" >"$T/fifo" 2>/dev/null
wait "$reader"
ta=$(awk '$2 == "a" {print $1}' "$T/stamped0"); tb=$(awk '$2 == "b" {print $1}' "$T/stamped0")
check "without --line-buffer, a comes with b ($(( (tb - ta) / 1000000 )) ms apart)" test $(( tb - ta )) -lt 500000000

done_testing
