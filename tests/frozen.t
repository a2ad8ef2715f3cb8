#!/usr/bin/env bash
# A slave frozen (SIGSTOP) longer than --dead-after and then let go
# (SIGCONT): its commands were run again elsewhere while their processes
# went on. Whichever copy answers first gives the one result, the other is
# cancelled, and a command that may have run twice says so (JSON, status
# line). With a longer --dead-after the same freeze re-runs nothing. A
# slave stopped by SIGTERM tells its master (DG_LEAVING): its commands run
# again at once, and the client is told.
. "$(dirname "$0")/lib.sh"

ms() { echo $(( $(date +%s%N) / 1000000 )); }

# Commands of two lengths: a short copy on the frozen slave ends during
# the freeze (both copies run: the new one answers first); a long one
# ends during the freeze too but answers at SIGCONT, before its new copy
# ends (that copy is cancelled).
freeze_cmds() { # freeze_cmds N DIR
    local n
    mkdir -p "$2/markers"
    for n in $(seq 1 "$1"); do
        # the master deals 1, 5, 9, 13 to the first slave: both kinds there
        if [ $((n % 8)) -lt 4 ]; then d=0.5; else d=3; fi
        echo "sleep $d; echo x >> $2/markers/$n; echo out-$n"
    done >"$2/cmds"
}

# freeze_run NAME DEAD_AFTER [client options]: slaves f1 (4 slots, frozen
# for 4 s once its 4 commands run) and f2 (12 slots), a master with
# --dead-after DEAD_AFTER, 16 commands; client output in $T/NAME/out.
freeze_run() {
    local name=$1 dead=$2 i; shift 2
    local dir=$T/$name
    mkdir -p "$dir"
    freeze_cmds 16 "$dir"
    start_slave "$name-f1" -j 4; local p1=$SLAVE_PORT f1=$SLAVE_PID
    start_slave "$name-f2" -j 12; local p2=$SLAVE_PORT
    printf '127.0.0.1 %s\n127.0.0.1 %s\n' "$p1" "$p2" >"$dir/slaves.conf"
    start_master "$name-master" "$dir/slaves.conf" --dead-after "$dead"
    wait_slaves_up "$name-master" 2 || bail "slaves not up"
    timeout 120 "$BIN/client" 127.0.0.1 "$MASTER_PORT" "$dir/cmds" --joblog "$dir/joblog" --results "$dir/res" \
        "$@" >"$dir/out" 2>"$dir/err" &
    local cpid=$!
    for i in $(seq 1 200); do [ "$(pgrep -cP "$f1")" -ge 4 ] && break; sleep 0.02; done
    kill -STOP "$f1"
    FROZE_AT=$(ms)
    sleep 4
    kill -CONT "$f1"
    CRC=0
    wait "$cpid" || CRC=$?
    # Nothing may still run: wait longer than any command, then look.
    for n in $(seq 1 16); do wc -l <"$dir/markers/$n" 2>/dev/null || echo 0; done >"$dir/counts"
    sleep 3.5
    for n in $(seq 1 16); do wc -l <"$dir/markers/$n" 2>/dev/null || echo 0; done >"$dir/counts.later"
}

# A command's marker count: 1 or 2 lines.
count_of() { sed -n "${2}p" "$T/$1/counts"; }

# --- frozen 4 s, dead after 2 s: JSON output ---------------------------
freeze_run json 2 --json
d=$T/json
is "$CRC" 0 "frozen slave: the client ends with status 0"
is "$(tail -n +2 "$d/joblog" | wc -l)/$(tail -n +2 "$d/joblog" | cut -f1 | sort -u | wc -l)" "16/16" \
    "every command has exactly one result"
is "$(grep -c '"status":"exited","exitval":0' "$d/out")" 16 "every result is exit 0"
wrong=0
for n in $(seq 1 16); do [ "$(cat "$d/res/$n/stdout" 2>/dev/null)" = "out-$n" ] || wrong=$((wrong + 1)); done
is "$wrong" 0 "every result's stdout is right"
check "the master declared the frozen slave dead" grep -q 'no answer for 2000 ms: considered dead' "$T/json-master.log"
redone=$(grep -c 'stopped answering: dispatching it again' "$T/json-master.log")
check "its commands were dispatched again ($redone)" test "$redone" -ge 1
twice=0 unmarked_twice=0 marked=0 missing=0
for n in $(seq 1 16); do
    c=$(count_of json "$n")
    m=0
    grep -q "^{\"seq\":$n,.*\"may_have_run_twice\":true" "$d/out" && m=1
    marked=$((marked + m))
    [ "$c" = 0 ] && missing=$((missing + 1))
    [ "$c" = 2 ] && twice=$((twice + 1))
    [ "$c" -ge 2 ] && [ "$m" = 0 ] && unmarked_twice=$((unmarked_twice + 1))
done
is "$missing" 0 "every command ran"
check "the freeze made some command run twice ($twice)" test "$twice" -ge 1
is "$unmarked_twice" 0 "every command that ran twice is marked may_have_run_twice in JSON"
is "$marked" "$redone" "exactly the commands dispatched again are marked ($marked)"
check "no command ran more than twice" test -z "$(awk '$1 > 2' "$d/counts")"
check "an earlier copy answered first somewhere: the other copy was cancelled" \
    grep -q 'the earlier copy on .* answered first: cancelling the other one' "$T/json-master.log"
is "$(cat "$d/counts.later" | tr '\n' ' ')" "$(cat "$d/counts" | tr '\n' ' ')" \
    "no copy still ran after the client ended (no marker grew)"
is "$(pgrep -f "$d/markers" | wc -l)" 0 "no process of these commands is left"
check "the client was told which commands run again" grep -q 'master: command [0-9]*: slave 127.0.0.1:[0-9]* stopped answering: running it again on another slave' "$d/err"
stop_all

# --- the same freeze, human output: the status line says it ------------
freeze_run human 2
d=$T/human
is "$CRC" 0 "frozen slave, status lines: the client ends with status 0"
bad=0 marked=0
for n in $(seq 1 16); do
    line=$(grep "^==> \[$n\] " "$d/err")
    case "$line" in *"may have run twice"*) marked=$((marked + 1)); m=1 ;; *) m=0 ;; esac
    [ "$(count_of human "$n")" -ge 2 ] && [ "$m" = 0 ] && bad=$((bad + 1))
done
is "$bad" 0 "every command that ran twice says 'may have run twice' in its status line"
is "$marked" "$(grep -c 'stopped answering: dispatching it again' "$T/human-master.log")" \
    "exactly the commands dispatched again say so ($marked)"
stop_all

# --- the same freeze with --dead-after 10: nothing runs twice -----------
freeze_run patient 10 --json
d=$T/patient
is "$CRC" 0 "--dead-after 10: the client ends with status 0"
is "$(grep -c 'considered dead\|dispatching it again' "$T/patient-master.log")" 0 \
    "--dead-after 10: a 4 s freeze re-dispatches nothing"
is "$(tr '\n' ' ' <"$d/counts")" "$(printf '1 %.0s' $(seq 1 16))" "--dead-after 10: every command ran exactly once"
is "$(grep -c may_have_run_twice "$d/out")" 0 "--dead-after 10: no result is marked"
stop_all

# --- SIGTERM: the slave says it leaves, its commands run again at once ---
start_slave t1 -j 4; p1=$SLAVE_PORT; t1=$SLAVE_PID
start_slave t2 -j 8; p2=$SLAVE_PORT
printf '127.0.0.1 %s\n127.0.0.1 %s\n' "$p1" "$p2" >"$T/term.conf"
start_master term "$T/term.conf"
wait_slaves_up term 2 || bail "slaves not up"
mkdir -p "$T/term"
marker_cmds 12 "$T/term"
sed -i 's/^/sleep 2; /' "$T/term/cmds"
timeout 120 "$BIN/client" 127.0.0.1 "$MASTER_PORT" "$T/term/cmds" --joblog "$T/term/joblog" --results "$T/term/res" \
    >"$T/term/out" 2>"$T/term/err" &
cpid=$!
for i in $(seq 1 200); do [ "$(pgrep -cP "$t1")" -ge 4 ] && break; sleep 0.02; done
t0=$(ms)
stop_pid "$t1"
wait_for_line "$T/term.log" "left \(it was stopped\): dispatching it again" 5 >/dev/null
ok $? "after SIGTERM of a slave, the master dispatches its commands again"
took=$(( $(ms) - t0 ))
echo "# SIGTERM of a slave -> its commands dispatched again after $took ms (the dead-slave timeout is 3000 ms)"
check "within 1.5 s of the kill ($took ms), not after the 3 s timeout" test "$took" -lt 1500
check "the master logs that the slave is leaving" grep -q "slave 127.0.0.1:$p1 is leaving (it was stopped): 4 commands" "$T/term.log"
wait "$cpid"; rc=$?
is "$rc" 0 "the client gets every result"
check_markers "SIGTERM" 12 "$T/term"
is "$(grep -c "master: command [0-9]*: slave 127.0.0.1:$p1 left (it was stopped): running it again on another slave" "$T/term/err")" 4 \
    "the client's stderr names each of the 4 commands run again"
is "$(grep -c 'may have run twice' "$T/term/err")" 4 "their status lines say they may have run twice"
check "no 'considered dead' (the timeout did not have to fire)" sh -c "! grep -q 'considered dead' '$T/term.log'"
stop_all

# --- the same with a key: LEAVING is authenticated like any datagram -----
head -c 48 /dev/urandom | base64 >"$T/key"
chmod 600 "$T/key"
start_slave k1 -j 2 --key-file "$T/key"; p1=$SLAVE_PORT; k1=$SLAVE_PID
start_slave k2 -j 2 --key-file "$T/key"; p2=$SLAVE_PORT
printf '127.0.0.1 %s\n127.0.0.1 %s\n' "$p1" "$p2" >"$T/keyed.conf"
start_master keyed "$T/keyed.conf" --key-file "$T/key"
wait_slaves_up keyed 2 || bail "slaves not up"
for i in 1 2 3 4; do echo "sleep 1; echo keyed-$i"; done >"$T/keyed.cmds"
timeout 60 "$BIN/client" -q --key-file "$T/key" 127.0.0.1 "$MASTER_PORT" "$T/keyed.cmds" >"$T/keyed.out" 2>"$T/keyed.err" &
cpid=$!
for i in $(seq 1 200); do [ "$(pgrep -cP "$k1")" -ge 2 ] && break; sleep 0.02; done
stop_pid "$k1"
wait "$cpid"; rc=$?
is "$rc/$(sort "$T/keyed.out" | tr '\n' ' ')" "0/keyed-1 keyed-2 keyed-3 keyed-4 " "with a key: every result"
check "with a key: the master heeds the slave's LEAVING" grep -q "slave 127.0.0.1:$p1 is leaving (it was stopped): 2 commands" "$T/keyed.log"
check "with a key: no datagram refused" sh -c "! grep -q 'dropped' '$T/keyed.log'"
is "$(grep -c '^client: warning: command [1-4] may have run twice: its slave failed and it was dispatched again$' "$T/keyed.err")" 2 \
    "with -q, the mark is a warning on stderr, one per command dispatched again"

done_testing
