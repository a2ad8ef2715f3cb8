#!/usr/bin/env bash
# Big outputs, byte-exact: batches of MiB results through --json, --results
# and a client whose standard output is a pipe that stops being read.
. "$(dirname "$0")/lib.sh"

cluster 2 -j 2

# expected_sums N CMD-TEMPLATE: the same rows made here, by running each
# command locally (@ is replaced by the sequence number).
expected_sums() {
    local n=$1 tpl=$2 i
    for i in $(seq 1 "$n"); do
        sh -c "${tpl//@/$i}" >"$T/one"
        echo "$i $(stat -c %s "$T/one") $(md5sum <"$T/one" | cut -d' ' -f1) 0"
    done
}

# 100 results of 1 MiB each, as JSON from standard input.
seq 100 | sed 's/.*/yes|head -c 1048576/' >"$T/mib.txt"
rc=0; timeout 120 "$BIN/client" --json 127.0.0.1 "$MASTER_PORT" - <"$T/mib.txt" >"$T/mib.json" 2>"$T/mib.err" || rc=$?
is "$rc" 0 "100 x 1 MiB with --json: exit 0"
want="$(yes | head -c 1048576 | md5sum | cut -d' ' -f1)"
is "$(json_sums "$T/mib.json" | awk -v w="$want" '$2 == 1048576 && $3 == w && $4 == 0' | wc -l)" 100 \
    "every one of the 100 results is 1048576 bytes with the right checksum"

# 300 results of 200 KB, each different, into --results DIR.
tpl='seq @ 99999999 | head -c 200000'
for i in $(seq 1 300); do echo "${tpl//@/$i}"; done >"$T/kb.txt"
run_client -q --results "$T/res" "$T/kb.txt"
is "$RC" 0 "300 x 200 KB with --results: exit 0"
expected_sums 300 "$tpl" >"$T/kb.want"
for i in $(seq 1 300); do
    echo "$i $(stat -c %s "$T/res/$i/stdout" 2>/dev/null) $(md5sum <"$T/res/$i/stdout" 2>/dev/null | cut -d' ' -f1) 0"
done >"$T/kb.got"
is "$(diff "$T/kb.want" "$T/kb.got" | grep -c '^>')" 0 "every results file has the exact bytes of its command"

# 30 results of 4 MB (under the slaves' 4 MiB cap: not truncated), --json.
tpl='yes @ | head -c 4000000'
for i in $(seq 1 30); do echo "${tpl//@/$i}"; done >"$T/mb.txt"
rc=0; timeout 120 "$BIN/client" --json 127.0.0.1 "$MASTER_PORT" "$T/mb.txt" >"$T/mb.json" 2>"$T/mb.err" || rc=$?
is "$rc" 0 "30 x 4 MB with --json: exit 0"
expected_sums 30 "$tpl" >"$T/mb.want"
json_sums "$T/mb.json" >"$T/mb.got"
is "$(diff "$T/mb.want" "$T/mb.got" | grep -c '^>')/$(wc -l <"$T/mb.got")" "0/30" \
    "every 4 MB result is byte-exact"
check "and none is said to be truncated" sh -c "! grep -q '\"stdout_truncated\":true' '$T/mb.json'"

# A slow reader: the client's standard output is a pipe into a reader that
# is stopped for 5 s, then stopped and resumed again and again. The master
# must neither drop that client nor lose a byte, and serves others meanwhile.
tpl='sleep 0.4; yes @ | head -c 1048576'
for i in $(seq 1 80); do echo "${tpl//@/$i}"; done >"$T/slow.txt"
for i in $(seq 1 80); do yes $i | head -c 1048576; done | md5sum | cut -d' ' -f1 >"$T/slow.want"
mkfifo "$T/pipe"
cat "$T/pipe" >"$T/slow.out" &
reader=$!
PIDS+=("$reader")
timeout 120 "$BIN/client" -q -k 127.0.0.1 "$MASTER_PORT" "$T/slow.txt" >"$T/pipe" 2>"$T/slow.err" &
slow=$!
PIDS+=("$slow")
for _ in $(seq 1 100); do [ -s "$T/slow.out" ] && break; sleep 0.05; done
kill -STOP "$reader"
sleep 1 # the pipe and the client's socket fill up
served_meanwhile "one does not read" 3000
sleep 4
kill -CONT "$reader"
cycles=0
while kill -0 "$slow" 2>/dev/null && [ "$cycles" -lt 40 ]; do
    sleep 0.1; kill -STOP "$reader" 2>/dev/null; sleep 0.4; kill -CONT "$reader" 2>/dev/null
    cycles=$((cycles + 1))
done
rc=0; wait "$slow" || rc=$?
wait "$reader"
is "$rc" 0 "the client whose reader was stopped (5 s, then $cycles times 0.4 s) exits 0"
is "$(stat -c %s "$T/slow.out")/$(md5sum <"$T/slow.out" | cut -d' ' -f1)" "$((80 * 1048576))/$(cat "$T/slow.want")" \
    "and its standard output has every byte, in order"
check "the master did not drop it" sh -c "! grep -q 'disconnecting' '$T/master.log'"

done_testing
