#!/usr/bin/env bash
# Issue 10: the master's state dir (its lock, its persistent identity) and
# what its slaves do with the identity: a master killed -9 and restarted on
# its port with the same state dir is "the same master, restarted": its
# slaves hand its running jobs to the new life (adopted, run once to the
# end, never killed); another identity gets them killed as before; a
# master that never comes back has its jobs killed after --master-grace.
. "$(dirname "$0")/lib.sh"

ms() { echo $(( $(date +%s%N) / 1000000 )); }
identity_of() { sed -nE 's/.*state dir: .* \(identity ([0-9a-f]{16})\).*/\1/p' "$T/$1.log" | head -1; }
# wait_file FILE SECONDS: until FILE exists
wait_file() {
    local i
    for i in $(seq 1 $(($2 * 20))); do [ -e "$1" ] && return 0; sleep 0.05; done
    return 1
}

start_slave s1 -j 2 -v
s1port=$SLAVE_PORT
echo "127.0.0.1 $s1port" >"$T/s1.conf"

# --- The default state dir: per port, under $XDG_STATE_HOME (lib.sh: the
# test's own), created 0700, an identity file of 16 hex digits.
start_master m0 "$T/s1.conf"
def="$XDG_STATE_HOME/serveur_maitre/port-$MASTER_PORT"
check "default state dir logged: $def" grep -q "state dir: $def (identity [0-9a-f]\{16\})" "$T/m0.log"
is "$(stat -c %a "$def" 2>/dev/null)" 700 "the state dir is private (0700)"
check "its identity file: 16 lowercase hex digits and a newline" \
    sh -c "grep -Eqx '[0-9a-f]{16}' '$def/identity' && test \$(wc -c <'$def/identity') = 17 && test \"\$(tail -c 1 '$def/identity' | od -An -tx1 | tr -d ' ')\" = 0a"
is "$(identity_of m0)" "$(cat "$def/identity" | tr -d '\n')" "the logged identity is the file's"
check "and it holds the lock, with the master's pid" grep -qx "$MASTER_PID" "$def/lock"
stop_pid "$MASTER_PID"
start_master m0e "$T/s1.conf" --ephemeral
check "--ephemeral: no state dir" grep -q 'state dir: none (--ephemeral)' "$T/m0e.log"
check "and nothing written for its port" test ! -e "$XDG_STATE_HOME/serveur_maitre/port-$MASTER_PORT"
stop_pid "$MASTER_PID"

# --- Restarted with the same state dir: the running job is adopted.
start_master m1 "$T/s1.conf" --state-dir "$T/sd1"
p1=$MASTER_PORT
id1=$(identity_of m1)
wait_slaves_up m1 1 || bail "slave not up for m1"
echo "echo x >> $T/started1; sleep 3; echo ran >> $T/marker1" >"$T/c1.txt"
"$BIN/client" 127.0.0.1 "$p1" "$T/c1.txt" >/dev/null 2>&1 &
PIDS+=($!)
wait_file "$T/started1" 10 || bail "the command did not start"
{ kill -KILL "$MASTER_PID"; wait "$MASTER_PID"; } 2>/dev/null
MASTER_ON_PORT=$p1 start_master m1b "$T/s1.conf" --state-dir "$T/sd1"
is "$(identity_of m1b)" "$id1" "restarted on the same state dir: the same identity ($id1)"
line=$(wait_for_line "$T/s1.log" "master $id1 restarted \(boot [0-9a-f]{16} -> [0-9a-f]{16}\): [0-9]+ jobs adopted" 10)
ok $? "the slave says the master restarted and adopted its jobs"
echo "# $line"
is "$(echo "$line" | sed -E 's/.*: ([0-9]+) jobs adopted/\1/')" 1 "one job adopted"
check "the command had not finished when it was adopted (the marker comes after the restart)" test ! -e "$T/marker1"
wait_file "$T/marker1" 15
is "$(cat "$T/marker1" 2>/dev/null)" "ran" "the adopted command ran to its end, once"
is "$(wc -l <"$T/started1")" 1 "and it started once"
check "the slave did not kill it" sh -c "! grep -Eq 'dropping its previous jobs|killing its jobs' '$T/s1.log'"
# Its result, kept, goes to the new life (which, without a journal yet,
# does not want it: it acknowledges it as complete, and the slave forgets it).
wait_for_line "$T/s1.log" 'job 1: result delivered' 10 >/dev/null
ok $? "the adopted job's result was sent to the new life and acknowledged"
sleep 1
is "$(wc -l <"$T/marker1")" 1 "nothing ran it again"
stop_pid "$MASTER_PID"

# --- A job that finished while the master was down: its result is kept
# (not given up) and handed to the new life.
start_master m5 "$T/s1.conf" --state-dir "$T/sd5"
p5=$MASTER_PORT
wait_slaves_up m5 1 || bail "slave not up for m5"
echo "echo x >> $T/started5; sleep 0.5; echo ran >> $T/marker5; echo out-5" >"$T/c5.txt"
"$BIN/client" 127.0.0.1 "$p5" "$T/c5.txt" >/dev/null 2>&1 &
PIDS+=($!)
wait_file "$T/started5" 10 || bail "the command did not start"
{ kill -KILL "$MASTER_PID"; wait "$MASTER_PID"; } 2>/dev/null
wait_file "$T/marker5" 10
sleep 1.5 # finished with the master down: its result waits for someone to take it
n5=$(grep -c 'result delivered' "$T/s1.log")
MASTER_ON_PORT=$p5 start_master m5b "$T/s1.conf" --state-dir "$T/sd5"
id5=$(identity_of m5b)
wait_for_line "$T/s1.log" "master $id5 restarted .*: 1 jobs adopted" 10 >/dev/null
ok $? "a finished job's result is adopted by the new life"
for _ in $(seq 1 100); do [ "$(grep -c 'result delivered' "$T/s1.log")" -gt "$n5" ] && break; sleep 0.05; done
check "and sent to it" test "$(grep -c 'result delivered' "$T/s1.log")" -gt "$n5"
is "$(wc -l <"$T/marker5")" 1 "it ran once"
stop_pid "$MASTER_PID"

# --- Restarted with another state dir (another identity): killed as before.
start_master m2 "$T/s1.conf" --state-dir "$T/sd2a"
p2=$MASTER_PORT
wait_slaves_up m2 1 || bail "slave not up for m2"
echo "echo x >> $T/started2; sleep 3; echo ran >> $T/marker2" >"$T/c2.txt"
"$BIN/client" 127.0.0.1 "$p2" "$T/c2.txt" >/dev/null 2>&1 &
PIDS+=($!)
wait_file "$T/started2" 10 || bail "the command did not start"
{ kill -KILL "$MASTER_PID"; wait "$MASTER_PID"; } 2>/dev/null
MASTER_ON_PORT=$p2 start_master m2b "$T/s1.conf" --state-dir "$T/sd2b"
check "another state dir: another identity" test "$(identity_of m2)" != "$(identity_of m2b)"
wait_for_line "$T/s1.log" "at the same address restarted: dropping its previous jobs" 10 >/dev/null
ok $? "another identity on the same address: the slave drops the old jobs"
sleep 4
check "the old command was killed (no marker)" test ! -e "$T/marker2"
stop_pid "$MASTER_PID"

# --- How a restarted master re-claims a job (what its journal replay
# does): the same job id's request again, from the new life. The slave
# answers with the job's state, RUNNING or DONE, never runs it again, and
# sends the result to the new life (dgram_tool.py reclaim).
python3 "$TOP/tests/dgram_tool.py" reclaim "$s1port" "echo x >> $T/started8; sleep 1; echo ran >> $T/marker8; echo out-8" \
    >"$T/reclaim8.out" 2>&1
check "a re-claimed running job: the new life is told RUNNING" grep -qx 'second life: JOB_ACK state 2' "$T/reclaim8.out"
check "and gets its result" grep -q "second life: result fragment 0/.*out-8" "$T/reclaim8.out"
is "$(cat "$T/marker8" 2>/dev/null)/$(wc -l <"$T/started8")" "ran/1" "it ran once"
python3 "$TOP/tests/dgram_tool.py" reclaim "$s1port" "echo x >> $T/started9; echo ran >> $T/marker9; echo out-9" --after-result \
    >"$T/reclaim9.out" 2>&1
check "a re-claimed finished job (result not acknowledged): the new life is told DONE" \
    grep -qx 'second life: JOB_ACK state 3' "$T/reclaim9.out"
check "and gets its result" grep -q "second life: result fragment 0/.*out-9" "$T/reclaim9.out"
is "$(cat "$T/marker9" 2>/dev/null)/$(wc -l <"$T/started9")" "ran/1" "it ran once"
[ "$_tap_failed" = 0 ] || cat "$T/reclaim8.out" "$T/reclaim9.out" >&2

# --- Start-up errors.
rc=0
"$BIN/serveur_maitre" --state-dir /dev/null/x 0 "$T/s1.conf" >"$T/bad1.log" 2>&1 || rc=$?
is "$rc" 1 "an uncreatable state dir: exit 1"
check "naming the path and why" grep -q 'state dir /dev/null/x: cannot create directory.*Not a directory' "$T/bad1.log"
check "before listening" sh -c "! grep -q 'listening on' '$T/bad1.log'"
mkdir -p "$T/ro"
chmod 500 "$T/ro"
if touch "$T/ro/probe" 2>/dev/null; then
    rm -f "$T/ro/probe"
    # root writes anyway: the same as an unprivileged user (nobody), in a
    # directory of its own it may read, under a read-only parent, through
    # the default location ($XDG_STATE_HOME).
    N=$(mktemp -d /tmp/smp-nobody.XXXXXX)
    chmod 755 "$N" && cp "$T/s1.conf" "$N/conf" && chmod 644 "$N/conf" && mkdir "$N/ro" && chmod 555 "$N/ro"
    if setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
        rc=0
        setpriv --reuid=65534 --regid=65534 --clear-groups env XDG_STATE_HOME="$N/ro/state" \
            "$BIN/serveur_maitre" 0 "$N/conf" >"$T/bad2.log" 2>&1 || rc=$?
        is "$rc" 1 "an unwritable parent (user nobody): exit 1"
        check "naming the path and why" \
            grep -q "state dir $N/ro/state/serveur_maitre/port-[0-9]*: cannot create directory $N/ro/state: Permission denied" "$T/bad2.log"
    else
        ok 0 "# SKIP a read-only parent (chmod 500) is writable for root, and setpriv cannot drop it"
    fi
    rm -rf "$N"
else
    rc=0
    "$BIN/serveur_maitre" --state-dir "$T/ro/sd" 0 "$T/s1.conf" >"$T/bad2.log" 2>&1 || rc=$?
    is "$rc" 1 "an unwritable parent: exit 1"
    check "naming the path and why" grep -q "state dir $T/ro/sd: cannot create directory $T/ro/sd: Permission denied" "$T/bad2.log"
fi
chmod 700 "$T/ro"

start_master m3 "$T/s1.conf" --state-dir "$T/sd3"
rc=0
"$BIN/serveur_maitre" --state-dir "$T/sd3" 0 "$T/s1.conf" >"$T/bad3.log" 2>&1 || rc=$?
is "$rc" 1 "a second master on the same state dir: exit 1"
check "naming the dir, the lock and the holder's pid" \
    grep -q "state dir $T/sd3 is in use by another master (pid $MASTER_PID holds $T/sd3/lock)" "$T/bad3.log"
check "the first one serves on" kill -0 "$MASTER_PID"
stop_pid "$MASTER_PID"

rc=0
"$BIN/serveur_maitre" --state-dir "$T/sd4" --ephemeral 0 "$T/s1.conf" >"$T/bad4.log" 2>&1 || rc=$?
is "$rc" 2 "--state-dir with --ephemeral: a usage error (exit 2)"
check "saying so" grep -q -- '--state-dir and --ephemeral exclude each other' "$T/bad4.log"
check "and creating nothing" test ! -e "$T/sd4"

mkdir -p "$T/sd6"
printf 'not-an-identity\n' >"$T/sd6/identity"
rc=0
"$BIN/serveur_maitre" --state-dir "$T/sd6" 0 "$T/s1.conf" >"$T/bad6.log" 2>&1 || rc=$?
is "$rc" 1 "a bad identity file: exit 1"
check "naming the file" grep -q "bad identity file $T/sd6/identity" "$T/bad6.log"
printf '0000000000000000\n' >"$T/sd6/identity"
rc=0
"$BIN/serveur_maitre" --state-dir "$T/sd6" 0 "$T/s1.conf" >"$T/bad7.log" 2>&1 || rc=$?
is "$rc" 1 "an identity of 0 (ephemeral's): refused too"

# --- --master-grace 2: a master that never comes back has its jobs killed
# after about 2 s of silence, not 10.
start_slave s2 -j 2 --master-grace 2
echo "127.0.0.1 $SLAVE_PORT" >"$T/s2.conf"
start_master m7 "$T/s2.conf" --state-dir "$T/sd7"
wait_slaves_up m7 1 || bail "slave not up for m7"
echo "echo x >> $T/started7; sleep 37.3; echo ran >> $T/marker7" >"$T/c7.txt"
"$BIN/client" 127.0.0.1 "$MASTER_PORT" "$T/c7.txt" >/dev/null 2>&1 &
PIDS+=($!)
wait_file "$T/started7" 10 || bail "the command did not start"
{ kill -KILL "$MASTER_PID"; wait "$MASTER_PID"; } 2>/dev/null
t0=$(ms)
wait_for_line "$T/s2.log" 'silent for 2 s: killing its jobs' 15 >/dev/null
ok $? "--master-grace 2: the slave kills the jobs of the master that never came back"
took=$(( $(ms) - t0 ))
check "after about 2 s ($took ms), not 10" test "$took" -ge 1500 -a "$took" -lt 7000
gone=1
for _ in $(seq 1 100); do pgrep -f "sleep 37.3" >/dev/null || { gone=0; break; }; sleep 0.05; done
is "$gone" 0 "the command is gone"

done_testing
