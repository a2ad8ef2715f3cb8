#!/usr/bin/env bash
# early.t - what a client may have while the journal's flush is still on
# its way to the disk (doc/journal.md, "Durable before told"). The
# master's fdatasync calls are held at a gate (tests/syncgate.c, an
# LD_PRELOAD library) that the test opens one call at a time:
#   - a command does not start before its dispatch is on disk;
#   - a slave's result reaches the client during the flush that writes it
#     (the slave keeps it until its RESULT_ACK, which leaves after);
#   - the batch id (--detach) and a result the master made (a refused
#     command) wait for their flush;
#   - a power cut during that flush (the master killed there, its journal
#     cut back to what the previous fdatasync made durable): the restarted
#     master gets the result again from the slave; the same client process
#     ends with exit 0, the output once, the command run once.
. "$(dirname "$0")/lib.sh"
use_syncgate

# gate_next: the number of the next call to reach the gate
gate_next() { echo $(($(ls "$G" | grep -c '^entered-[0-9]*$') + 1)); }
# later CMD...: CMD stays false for 0.3 s (what must not happen yet)
stays_false() {
    local _
    for _ in 1 2 3 4 5 6; do "$@" && return 1; sleep 0.05; done
    return 0
}
nonempty() { [ -s "$1" ]; }
has_line() { wait_for_line "$1" "$2" 10 >/dev/null; }
# pass_until MARKER N: opens the gate's calls from N on, one by one, until
# MARKER exists (the command ran); k is then the call held at the gate
pass_until() {
    k=$2
    while [ ! -e "$1" ] && [ "$k" -lt $(($2 + 6)) ]; do
        touch "$G/pass-$k"
        k=$((k + 1))
        gate_wait "$k" || break
    done
}

start_slave s1 -j 2
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
start_gated_master() {
    LD_PRELOAD=$GATE_LIB SYNCGATE_DIR=$G start_master "$1" "$T/slaves.conf" --state-dir "$T/state" --client-grace 60
    wait_slaves_up "$1" 1 || bail "slave not up"
}
start_gated_master m1

# 1. A command waits for its dispatch's flush; its result does not wait
# for its own.
M=$T/marker1
echo "echo x >> $M; echo hello" >"$T/one.cmds"
touch "$G/closed"
n=$(gate_next)
"$(prog client)" 127.0.0.1 "$MASTER_PORT" --reconnect 30 "$T/one.cmds" >"$T/c1.out" 2>"$T/c1.err" &
C1=$!
PIDS+=("$C1")
check "the first flush of the batch is at the gate" gate_wait "$n"
check "the command has not started while its dispatch is not on disk" stays_false test -e "$M"
# the flushes before the dispatch's (if the batch came in more than one
# turn), then the dispatch's: the command runs once it is through
pass_until "$M" "$n"
check "the command ran once its dispatch was on disk, and the result's flush is at the gate" test -e "$M" -a -e "$G/entered-$k"
check "the client has the result while the flush that writes it waits" has_line "$T/c1.out" '^hello$'
is "$(wc -l <"$M")" 1 "the command ran once"

# 2. A power cut now: the master dies during that flush, and the journal
# keeps only what the previous fdatasync made durable.
durable=$(cat "$G/entered-$k")
kill -9 "$MASTER_PID"
wait "$MASTER_PID" 2>/dev/null
journal=$T/state/journal
before=$(stat -c %s "$journal")
truncate -s "$durable" "$journal"
check "the journal lost the result record (cut from $before to $durable bytes)" test "$durable" -lt "$before"
rm -f "$G/closed" "$G"/entered-* "$G"/pass-* # the next master counts its calls from 1
MASTER_ON_PORT=$MASTER_PORT start_gated_master m2 # the same port: the client comes back to it
RC=0
wait "$C1" || RC=$?
is "$RC" 0 "the same client process ends with exit 0 after the restart"
is "$(grep -c '^hello$' "$T/c1.out")" 1 "it printed the output once"
is "$(wc -l <"$M")" 1 "the command ran once in both lives"
check "the restarted master got the result from the slave again" grep -q 'hello' "$T/state/journal"

# 2b. The same power cut in a batch that goes on: the client holds a
# result the restarted master's journal lacks, and resumes all the same
# (it skips the copy the slave hands over again); the other command,
# running meanwhile, ends in the next life.
M1=$T/marker2a M2=$T/marker2b
printf '%s\n' "echo x >> $M1; echo first" "while [ ! -e $G/go2 ]; do sleep 0.05; done; echo x >> $M2; echo second" >"$T/two.cmds"
touch "$G/closed"
n=$(gate_next)
"$(prog client)" 127.0.0.1 "$MASTER_PORT" --reconnect 30 "$T/two.cmds" >"$T/c2.out" 2>"$T/c2.err" &
C2=$!
PIDS+=("$C2")
check "two commands: the first flush is at the gate" gate_wait "$n"
pass_until "$M1" "$n"
check "the first command ran; the flush of its result is at the gate" test -e "$M1" -a -e "$G/entered-$k"
check "the client has its result meanwhile" has_line "$T/c2.out" '^first$'
durable=$(cat "$G/entered-$k")
kill -9 "$MASTER_PID"
wait "$MASTER_PID" 2>/dev/null
truncate -s "$durable" "$journal"
rm -f "$G/closed" "$G"/entered-* "$G"/pass-*
# The slave sleeps until the client is back: the master has none of the
# batch's results when the client says it holds one.
kill -STOP "$SLAVE_PID"
MASTER_ON_PORT=$MASTER_PORT LD_PRELOAD=$GATE_LIB SYNCGATE_DIR=$G start_master m3 "$T/slaves.conf" --state-dir "$T/state" --client-grace 60
check "the client resumes holding 1 result, the master 0" has_line "$T/m3.log" 'attached \(resuming, it has 1 of 0 results\)'
kill -CONT "$SLAVE_PID"
touch "$G/go2"
RC=0
wait "$C2" || RC=$?
is "$RC" 0 "the client, holding a result the journal lost, resumes and ends with exit 0"
is "$(grep -c '^first$' "$T/c2.out")/$(grep -c '^second$' "$T/c2.out")" "1/1" "each output once"
is "$(cat "$M1" "$M2" 2>/dev/null | wc -l)" 2 "each command ran once"

# 3. What the master itself says waits for its flush: --detach's batch id,
# and the result of a refused command.
touch "$G/closed"
n=$(gate_next)
echo "echo detached" >"$T/d.cmds"
"$(prog client)" 127.0.0.1 "$MASTER_PORT" --detach "$T/d.cmds" >"$T/d.out" 2>"$T/d.err" &
D=$!
PIDS+=("$D")
check "--detach: the batch's flush is at the gate" gate_wait "$n"
check "--detach: no batch id before the batch is on disk" stays_false nonempty "$T/d.out"
rm -f "$G/closed"
wait "$D"
is "$?" 0 "--detach: exit 0 once the flush is done"
check "--detach: then the batch id" grep -Eqx '[0-9a-f]{16}' "$T/d.out"
run_client -q --attach "$(cat "$T/d.out")" # its result in, and every flush of it done
is "$RC/$(cat "$T/out")" "0/detached" "--attach: the detached batch's result"

# A batch whose BATCH frame came (gate open); then, gate closed, an empty
# command, which the real client never sends: the master's "refused"
# result waits for the flush of its RESULT record.
python3 "$TOP/tests/frame_tool.py" "$MASTER_PORT" hello attach:new until:BATCH "wait:$G/go" submit:1: end:1 \
    until:RESULT >"$T/f.out" 2>"$T/f.err" &
F=$!
PIDS+=("$F")
check "frame-level client: its batch id" has_line "$T/f.out" '^BATCH id='
n=$(gate_next)
touch "$G/closed" "$G/go"
check "refused command: its flush is at the gate" gate_wait "$n"
check "refused command: no result before the flush" stays_false grep -q '^RESULT' "$T/f.out"
rm -f "$G/closed"
wait "$F"
check "refused command: then its result" grep -q '^RESULT seq=1 .*status=' "$T/f.out"

# 4. DELIVERED is lazy: a one-command batch costs two fdatasyncs (its
# dispatch, its result), none for the client's last ACK.
n=$(gate_next)
touch "$G/closed"
for k in $(seq "$n" $((n + 9))); do touch "$G/pass-$k"; done # counted, not held
echo "echo counted" >"$T/c.cmds"
run_client -q "$T/c.cmds"
is "$RC/$(cat "$T/out")" "0/counted" "a one-command batch"
for _ in $(seq 1 100); do
    run_client --batches
    grep -Eq ' delivered +1/1 ' "$T/out" && break
    sleep 0.05
done
check "the master has its last ACK (delivered)" grep -Eq ' delivered +1/1 ' "$T/out"
stays_false test -e "$G/entered-$((n + 2))" # what a flush after the ACK would leave
is "$(ls "$G" | grep -c '^entered-[0-9]*$')" $((n + 1)) "two fdatasyncs for it: its dispatch and its result, none for DELIVERED"
rm -f "$G/closed"

done_testing
