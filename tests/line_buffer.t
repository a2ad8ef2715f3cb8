#!/usr/bin/env bash
# client --line-buffer (GNU parallel's): output shown line by line while
# the commands run (DG_OUTPUT, F_OUTPUT, doc/protocol.md 3.3), the result
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


# -k --line-buffer, as GNU parallel's: the first command streams, the
# others follow in order once it is done (same lines, same order).
printf '%s\n' 'echo a1; sleep 1.5; echo a2' 'echo b1; sleep 0.2; echo b2' >"$T/k.txt"
(while IFS= read -r l; do echo "$(date +%s%N) $l"; done <"$T/fifo" >"$T/kstamped") &
reader=$!
timeout 60 "$BIN/client" -k --line-buffer 127.0.0.1 "$MASTER_PORT" "$T/k.txt" >"$T/fifo" 2>/dev/null
wait "$reader"
is "$(cut -d' ' -f2- "$T/kstamped" | tr '\n' ' ')" "$(parallel -k --lb <"$T/k.txt" | tr '\n' ' ')" \
    "-k --line-buffer: the lines in GNU parallel's order (a1 a2 b1 b2)"
ta=$(awk '$2 == "a1" {print $1}' "$T/kstamped"); tb=$(awk '$2 == "a2" {print $1}' "$T/kstamped")
check "-k --line-buffer: the first command's first line came while it ran ($(( (tb - ta) / 1000000 )) ms before its next)" \
    test $(( tb - ta )) -gt 800000000

# gen N: a command printing about 0.9 MiB on stdout and 0.3 MiB on stderr,
# every line starting with N, in bursts 0.1 s apart (so it streams).
gen() {
    echo "awk -v n=$1 'BEGIN { for (i = 1; i <= 3000; i++) { printf \"%s %d %0300d\\n\", n, i, 0; if (i % 3 == 0) printf \"%s e%d %0300d\\n\", n, i, 0 > \"/dev/stderr\"; if (i % 300 == 0) { fflush(); system(\"sleep 0.1\") } } printf \"%s last line\\n\", n }'"
}
for n in 1 2 3 4; do gen "$n"; done >"$T/big.txt"
# per_cmd FILE N: the lines of command N, in their order
per_cmd() { grep "^$2 " "$1"; }
# compare LABEL DIR_LB DIR_PLAIN: each command's lines (stdout, stderr) and the --results files
compare() {
    local label=$1 a=$2 b=$3 n bad=0
    for n in 1 2 3 4; do
        cmp -s <(per_cmd "$a/out" "$n") <(per_cmd "$b/out" "$n") || bad=$((bad + 1))
        cmp -s <(per_cmd "$a/err" "$n") <(per_cmd "$b/err" "$n") || bad=$((bad + 1))
    done
    is "$bad" 0 "$label: each command's stdout and stderr lines are the same bytes as without --line-buffer"
    is "$(grep -c '^[1-4] ' "$a/out")" "$(grep -c '^[1-4] ' "$b/out")" "$label: as many stdout lines ($(grep -c '^[1-4] ' "$b/out"))"
    check "$label: the --results files are the same bytes" diff -r "$a/res" "$b/res"
}
# lb_run DIR [options]: the 4 commands, output in DIR
lb_run() {
    local d=$1; shift
    mkdir -p "$d"
    RC=0
    timeout 120 "$BIN/client" "$@" --results "$d/res" 127.0.0.1 "$MASTER_PORT" "$T/big.txt" >"$d/out" 2>"$d/err" || RC=$?
}
# streamed DIR: bytes the client said it showed as they came (-v), in all
streamed() { grep -oE '\] [0-9]+\+[0-9]+ bytes' "$1/err" | grep -oE '[0-9]+\+[0-9]+' | tr '+' '\n' | awk '{s += $1} END {print s + 0}'; }

lb_run "$T/plain"
is "$RC" 0 "4 commands of 1.2 MiB each without --line-buffer: exit 0"
lb_run "$T/lb" --line-buffer -v
is "$RC" 0 "with --line-buffer: exit 0"
compare "--line-buffer" "$T/lb" "$T/plain"
s=$(streamed "$T/lb")
check "most bytes were shown as they came ($s of $(( $(stat -c %s "$T/plain/out") + $(stat -c %s "$T/plain/err") )))" test "$s" -gt 2000000
cmp -s "$T/lb/out" "$T/plain/out"; ok $((! $?)) "the lines of the commands interleave on stdout (not grouped per command)"


# --tag: each line streamed is tagged as the result's lines would be.
lb_run "$T/tagplain" --tag
lb_run "$T/taglb" --tag --line-buffer
is "$RC" 0 "--tag --line-buffer: exit 0"
tagbad=0
for n in 1 2 3 4; do
    cmd=$(sed -n "${n}p" "$T/big.txt")
    cmp -s <(grep -F "$cmd	$n " "$T/taglb/out") <(grep -F "$cmd	$n " "$T/tagplain/out") || tagbad=$((tagbad + 1))
    cmp -s <(grep -F "$cmd	$n " "$T/taglb/err") <(grep -F "$cmd	$n " "$T/tagplain/err") || tagbad=$((tagbad + 1))
done
is "$tagbad" 0 "--tag --line-buffer: every line tagged with its command, the same bytes as --tag alone"
is "$(grep -vc '	' "$T/taglb/out")" 0 "--tag --line-buffer: no stdout line without its tag"

# 2. Through lossy links (udp_chaos: 20% drop, 20% duplication, 20%
# reordering both ways): the chunks lost or doubled change nothing.
[ -x "$TOOLS/udp_chaos" ] || bail "$TOOLS/udp_chaos is missing: run 'make check-programs'"
: >"$T/chaos.conf"
for i in 1 2; do
    start_slave "cs$i" -j 2
    start_chaos "chaos$i" "$SLAVE_PORT" --drop 20 --dup 20 --reorder 20 --seed "$((70 + i))"
    echo "127.0.0.1 $CHAOS_PORT" >>"$T/chaos.conf"
done
PLAIN_PORT=$MASTER_PORT
start_master chaosmaster "$T/chaos.conf"
wait_slaves_up chaosmaster 2 || bail "slaves not seen through the proxies"
lb_run "$T/chaoslb" --line-buffer -v
is "$RC" 0 "--line-buffer through 20% loss, duplication, reordering: exit 0"
compare "--line-buffer with chaos" "$T/chaoslb" "$T/plain"
s=$(streamed "$T/chaoslb")
check "some bytes were shown as they came there too ($s)" test "$s" -gt 100000
MASTER_PORT=$PLAIN_PORT

# 3. Past the cap (-o 100K on the slave): what is shown stops at the cap
# where the result does; the same bytes as the result without --line-buffer.
start_slave capslave -j 2 -o 100K
echo "127.0.0.1 $SLAVE_PORT" >"$T/cap.conf"
start_master capmaster "$T/cap.conf"
wait_slaves_up capmaster 1 || bail "cap slave not up"
# -j 1: one command at a time, so that the whole of stdout (cut lines
# and all) can be compared byte for byte
lb_run "$T/capplain" -j 1
lb_run "$T/caplb" --line-buffer -j 1
is "$RC" 0 "--line-buffer with a 100 KiB cap: exit 0"
check "--line-buffer past the cap: stdout is the same bytes, cut lines included" cmp "$T/caplb/out" "$T/capplain/out"
check "--line-buffer past the cap: so is stderr (less the status lines)" \
    cmp <(grep -v '^==>' "$T/caplb/err") <(grep -v '^==>' "$T/capplain/err")
check "--line-buffer past the cap: the --results files are the same bytes" diff -r "$T/caplb/res" "$T/capplain/res"
is "$(stat -c %s "$T/caplb/res/1/stdout")" 102400 "the --results stdout stops at the cap (102400 bytes)"
check "the truncation is said" grep -q 'stdout truncated to 102400 bytes' "$T/caplb/err"
MASTER_PORT=$PLAIN_PORT


# 4. kill -9 of the slave mid-command: the command runs again on the
# other slave; what the first run showed stays, a note says it ran again,
# and the second run's output follows from its start (never the end of
# one run glued to the start of the other).
start_slave k1 -j 1; k1_pid=$SLAVE_PID; k1_port=$SLAVE_PORT
start_slave k2 -j 1; k2_pid=$SLAVE_PID; k2_port=$SLAVE_PORT
printf '127.0.0.1 %s\n127.0.0.1 %s\n' "$k1_port" "$k2_port" >"$T/kill.conf"
start_master killmaster "$T/kill.conf" --dead-after 1
wait_slaves_up killmaster 2 || bail "slaves not up"
mkdir -p "$T/kill"
echo 'echo one; echo two; sleep 3; echo three' >"$T/kill.txt"
timeout 60 "$BIN/client" --line-buffer --results "$T/kill/res" 127.0.0.1 "$MASTER_PORT" "$T/kill.txt" \
    >"$T/kill/out" 2>"$T/kill/err" &
kc=$!
victim=
for i in $(seq 1 200); do
    if grep -q two "$T/kill/out" 2>/dev/null; then
        pgrep -P "$k1_pid" -f "echo three" >/dev/null && victim=$k1_pid
        pgrep -P "$k2_pid" -f "echo three" >/dev/null && victim=$k2_pid
        break
    fi
    sleep 0.05
done
check "the first two lines were shown while the command ran" test -n "$victim"
[ -n "$victim" ] && { kill -KILL "$victim"; wait "$victim"; } 2>/dev/null
krc=0; wait "$kc" || krc=$?
is "$krc" 0 "killed slave, command run again elsewhere: exit 0"
is "$(cat "$T/kill/out" | tr '\n' ' ')" "one two one two three " \
    "stdout: the first run's lines, then the second run's from its start (nothing glued)"
check "stderr says it ran again, before the second run's output" grep -q '^client: \[1\] ran again; its output from the start:$' "$T/kill/err"
is "$(cat "$T/kill/res/1/stdout" | tr '\n' ' ')" "one two three " "--results holds the one result: the second run's"


# 6. The slave itself, spoken to as a master would (dgram_tool.py): a job
# with JOBX_STREAM sends DG_OUTPUT chunks at their offsets, then its
# result; a job with an extension the slave does not know is not run,
# and its result names the key.
start_slave xs -j 1; xs_port=$SLAVE_PORT
python3 "$TOP/tests/dgram_tool.py" jobx "$xs_port" 'echo a; sleep 0.5; echo bb; sleep 1' 1 >"$T/jobx1" 2>&1
is "$(grep -c '^output' "$T/jobx1")" 2 "JOBX_STREAM: two DG_OUTPUT chunks (a line, then after 0.5 s the next)"
check "the first at offset 0, the second at offset 2" \
    grep -qzE "output stream 1 offset 0: b'a.n'.output stream 1 offset 2: b'bb.n'" "$T/jobx1"
check "then the whole result" grep -q "^result status 0 stdout b'a.nbb.n'" "$T/jobx1"
python3 "$TOP/tests/dgram_tool.py" jobx "$xs_port" "echo x >$T/jobx_ran" 99 >"$T/jobx99" 2>&1
check "extension 99: not run, the result says which key" \
    grep -q "^result status 2 stdout b'' message 'job request with an extension this slave does not know (key 99): a slave older than its master?'" "$T/jobx99"
check "and the command did not run" test ! -e "$T/jobx_ran"
check "no DG_OUTPUT for it" test "$(grep -c '^output' "$T/jobx99")" = 0

# 5. A frozen client (SIGSTOP) does not make its master hold what it
# cannot send: chunks are dropped over OUTPUT_RELAY_MAX (the results carry
# them). 4 commands stream 4 MiB on each stream (32 MiB) while the client
# is stopped: let go, it was sent only what the socket buffers and the
# threshold held (the master kept no more), far less than the 32 MiB.
for n in 1 2 3 4; do
    echo "for i in 1 2 3 4 5 6 7 8; do head -c 524287 /dev/zero | tr '\\0' $n; echo; head -c 524287 /dev/zero | tr '\\0' e >&2; echo >&2; sleep 0.2; done"
done >"$T/frozen.txt"
# frozen_rss NAME [client options]: VmRSS (KiB) of a fresh master once the
# commands ended with its client stopped; the client is then let go
frozen_rss() {
    local name=$1 i; shift
    start_slave "$name-s" -j 4; local sp=$SLAVE_PID
    echo "127.0.0.1 $SLAVE_PORT" >"$T/$name.conf"
    start_master "$name-m" "$T/$name.conf"
    wait_slaves_up "$name-m" 1 || bail "slave not up"
    mkdir -p "$T/$name"
    timeout 120 "$BIN/client" "$@" --results "$T/$name/res" 127.0.0.1 "$MASTER_PORT" "$T/frozen.txt" \
        >"$T/$name/out" 2>"$T/$name/err" &
    local c=$!
    for i in $(seq 1 400); do [ "$(pgrep -c -P "$sp" -f 'for i in')" -ge 4 ] && break; sleep 0.02; done
    kill -STOP "$c"
    for i in $(seq 1 600); do [ "$(pgrep -c -P "$sp" -f 'for i in')" = 0 ] && break; sleep 0.05; done
    sleep 1 # the results' last fragments
    FROZEN_RSS=$(awk '/^VmRSS/ {print $2}' "/proc/$MASTER_PID/status")
    kill -CONT "$c"
    FROZEN_RC=0; wait "$c" || FROZEN_RC=$?
}
frozen_rss frozen_plain
plain_rss=$FROZEN_RSS
frozen_rss frozen_lb --line-buffer -v
lb_rss=$FROZEN_RSS
is "$FROZEN_RC" 0 "the frozen --line-buffer client, let go, ends with exit 0"
echo "# master VmRSS with a frozen client: $plain_rss KiB without --line-buffer, $lb_rss KiB with it"
s=$(streamed "$T/frozen_lb")
echo "# the frozen client, let go, was shown $s bytes as they came (of 33554432)"
check "the master kept at most its threshold of chunks for the frozen client ($s of 33554432 bytes relayed)" \
    test "$s" -lt 16777216
check "its output, once let go, is the same bytes as without --line-buffer" diff -r "$T/frozen_lb/res" "$T/frozen_plain/res"
bad=0
for n in 1 2 3 4; do cmp -s <(grep "^$n" "$T/frozen_lb/out") <(grep "^$n" "$T/frozen_plain/out") || bad=$((bad + 1)); done
is "$bad" 0 "and each command's stdout lines too"

done_testing
