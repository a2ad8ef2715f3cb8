#!/usr/bin/env bash
# stop.t - a planned stop of a master that journals (SIGTERM, or SIGINT:
# Ctrl-C in its terminal) pauses durable batches instead of cancelling
# them: queued commands stay queued in the journal, running ones may
# finish within --grace and are then left to their slaves (which keep them
# for --master-grace), clients reconnect by themselves; the master
# restarted on the same port and state dir goes on with them, each command
# run once. An --ephemeral master, and an old client, keep the old ending:
# queued commands cancelled, running ones killed after the grace.
. "$(dirname "$0")/lib.sh"
if ! "$(prog serveur_maitre)" --help 2>&1 | grep -q -- --state-dir; then
    skip_all "needs the journal (issue 10): serveur_maitre has no --state-dir yet"
fi
SEED=${STOP_SEED:-20261201}
echo "# seed $SEED (STOP_SEED=N to replay)"
RANDOM=$SEED
CLIENT=$(prog client)
FT="python3 $TOP/tests/frame_tool.py"
TAG=stop-$$ # our commands, not another test's (pgrep)

ms() { echo $(( $(date +%s%N) / 1000000 )); }
markers() { ls "$1/markers" 2>/dev/null | wc -l; } # markers DIR: how many commands started
cancel_records() { "$(prog serveur_maitre)" --dump-journal "$1" | grep -c '"type":"cancel"\|"status":"cancelled"'; }
# sigterm_restart PID STATE NAME [SIGNAL]: SIGTERM (or SIGNAL), wait for the
# exit (STOP_RC, STOP_MS), restart on the same port
sigterm_restart() {
    local pid=$1 state=$2 name=$3 port=$MASTER_PORT t0
    t0=$(ms)
    kill "-${4:-TERM}" "$pid"
    STOP_RC=0
    wait "$pid" || STOP_RC=$?
    STOP_MS=$(( $(ms) - t0 ))
    local i
    for i in "${!PIDS[@]}"; do [ "${PIDS[$i]}" = "$pid" ] && unset 'PIDS[i]'; done
    PIDS=("${PIDS[@]}")
    MARKERS_DOWN=$(markers "$T/$name")
    MASTER_ON_PORT=$port start_master "$name-b" "$T/slaves.conf" --state-dir "$state" --grace 2
}

start_slave s1 -j 4
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"

# 1. SIGTERM during a 20-command batch: 2 commands (drawn from the first 4
# dispatched) run past the grace (2 s), the other 2 running finish within
# it (1 s), 16 are queued. The same client process gets all 20 results.
D=$T/t1
mkdir -p "$D/markers"
long1=$((RANDOM % 4 + 1))
long2=$(( (long1 + RANDOM % 3) % 4 + 1 ))
for n in $(seq 1 20); do
    s=0.4
    [ "$n" -le 4 ] && s=1 # the first 4 hold their slots 1 s at least: SIGTERM comes before a 5th starts
    [ "$n" = "$long1" ] || [ "$n" = "$long2" ] && s=6
    echo "echo x >> $D/markers/$n; sleep $s; : $TAG; echo out-$n"
done >"$D/cmds"
echo "# long commands: $long1 $long2"
start_master t1 "$T/slaves.conf" --state-dir "$T/st1" --grace 2
wait_slaves_up t1 1 || bail "slave not up"
"$CLIENT" 127.0.0.1 "$MASTER_PORT" "$D/cmds" --joblog "$D/joblog" --results "$D/res" >"$D/out" 2>"$D/err" &
cpid=$!
PIDS+=("$cpid")
for _ in $(seq 1 200); do [ "$(markers "$D")" -ge 4 ] && break; sleep 0.02; done
[ "$(markers "$D")" = 4 ] || bail "the first 4 commands did not start (markers: $(markers "$D"))"
sigterm_restart "$MASTER_PID" "$T/st1" t1
is "$STOP_RC" 0 "SIGTERM: the master exits 0"
check "after the grace (2 s), not waiting for the commands left running ($STOP_MS ms)" test "$STOP_MS" -lt 5000
is "$MARKERS_DOWN" 4 "while it is down, the 16 queued commands have not run"
check "its log says the queued commands stay in the journal" grep -q 'queued commands of durable batches stay in the journal' "$T/t1.log"
check "and that 2 running commands are left to their slave" grep -q '2 running commands of durable batches left to their slaves' "$T/t1.log"
wait_slaves_up t1-b 1 || bail "slave not up after the restart"
wait "$cpid"; rc=$?
is "$rc" 0 "the same client process ends with exit 0"
check_markers "SIGTERM and restart" 20 "$D"
is "$(grep -c '^out-' "$D/out")" 20 "20 results printed, none twice"
check "nothing was cancelled (no cancelled result)" test "$(grep '^==> ' "$D/err" | grep -c 'cancel\|killed')" = 0
is "$(cancel_records "$T/st1")" 0 "no CANCEL record nor cancelled result in the journal"
check "the client was told its batch is kept" grep -q 'client: master: the master is stopping: batch [0-9a-f]\{16\} is kept and goes on when the master is back' "$D/err"
check "then it reconnected" grep -q 'client: reconnected' "$D/err"
check "the slave was not told to cancel anything" test "$(grep -c 'cancelled by the master\|dropping its previous jobs\|killing its jobs' "$T/s1.log")" = 0
check "the slave handed the 2 running jobs to the next life (adopted)" grep -q 'restarted (boot .*): 2 jobs adopted' "$T/s1.log"
stop_pid "$MASTER_PID"

# 2. A detached batch across SIGINT (Ctrl-C in the master's terminal: the
# same as SIGTERM) and a restart: client --attach gets it all.
D=$T/t2
mkdir -p "$D/markers"
for n in $(seq 1 10); do
    s=0.3
    [ "$n" -le 2 ] && s=4
    echo "echo x >> $D/markers/$n; sleep $s; echo out-$n"
done >"$D/cmds"
start_master t2 "$T/slaves.conf" --state-dir "$T/st2" --grace 1
wait_slaves_up t2 1 || bail "slave not up"
run_client --detach "$D/cmds"
id=$(cat "$T/out")
for _ in $(seq 1 200); do [ "$(markers "$D")" -ge 4 ] && break; sleep 0.02; done
sigterm_restart "$MASTER_PID" "$T/st2" t2 INT
is "$STOP_RC" 0 "detached batch: SIGINT exits 0"
check "the queued commands did not run meanwhile ($MARKERS_DOWN started of 10)" test "$MARKERS_DOWN" -le 6
wait_slaves_up t2-b 1 || bail "slave not up after the restart"
run_client --attach "$id" --joblog "$D/joblog" --results "$D/res"
is "$RC/$(grep -c '^out-' "$T/out")" "0/10" "restarted: client --attach gets all 10 results, exit 0"
check_markers "detached, SIGTERM and restart" 10 "$D"
is "$(cancel_records "$T/st2")" 0 "no CANCEL record nor cancelled result in the journal"
stop_pid "$MASTER_PID"

# 3. A second SIGTERM stops at once, and cancels nothing either: the
# running command is left to its slave, the restart goes on with all.
D=$T/t3
mkdir -p "$D/markers"
{ echo "echo x >> $D/markers/1; sleep 5; echo out-1"
  for n in $(seq 2 6); do echo "echo x >> $D/markers/$n; echo out-$n"; done; } >"$D/cmds"
echo "127.0.0.1 $SLAVE_PORT 1" >"$T/slaves1.conf" # one slot: 2-6 wait behind 1
start_master t3 "$T/slaves1.conf" --state-dir "$T/st3" --grace 60
wait_slaves_up t3 1 || bail "slave not up"
"$CLIENT" -q 127.0.0.1 "$MASTER_PORT" "$D/cmds" --joblog "$D/joblog" --results "$D/res" >"$D/out" 2>"$D/err" &
cpid=$!
PIDS+=("$cpid")
for _ in $(seq 1 200); do [ "$(markers "$D")" -ge 1 ] && break; sleep 0.02; done
port=$MASTER_PORT
t0=$(ms)
kill -TERM "$MASTER_PID"
wait_for_line "$T/t3.log" 'shutting down' 5 >/dev/null
kill -TERM "$MASTER_PID"
wait "$MASTER_PID"; mrc=$?
took=$(( $(ms) - t0 ))
is "$mrc" 0 "second SIGTERM: exit 0"
check "at once, not after the 60 s grace ($took ms)" test "$took" -lt 3000
is "$(markers "$D")" 1 "the queued commands have not run"
is "$(cancel_records "$T/st3")" 0 "no CANCEL record nor cancelled result in the journal"
pgrep -f "^sh -c echo x >> $D/markers/1; sleep 5" >/dev/null
ok $? "the running command was not killed"
MASTER_ON_PORT=$port start_master t3b "$T/slaves1.conf" --state-dir "$T/st3"
wait "$cpid"; rc=$?
is "$rc" 0 "restarted: the same client process ends with exit 0"
check_markers "second SIGTERM and restart" 6 "$D"
stop_pid "$MASTER_PID"

# 4. The master never comes back: the client gives up after --reconnect
# and names the batch and how to follow it.
D=$T/t4
mkdir -p "$D/markers"
for n in $(seq 1 6); do echo "echo x >> $D/markers/$n; sleep 1; echo out-$n"; done >"$D/cmds"
echo "127.0.0.1 $SLAVE_PORT 1" >"$T/slaves1.conf"
start_master t4 "$T/slaves1.conf" --state-dir "$T/st4" --grace 1
wait_slaves_up t4 1 || bail "slave not up"
"$CLIENT" --reconnect 3 127.0.0.1 "$MASTER_PORT" "$D/cmds" >"$D/out" 2>"$D/err" &
cpid=$!
PIDS+=("$cpid")
for _ in $(seq 1 200); do [ "$(markers "$D")" -ge 1 ] && break; sleep 0.02; done
stop_pid "$MASTER_PID"
t0=$(ms)
wait "$cpid"; rc=$?
took=$(( $(ms) - t0 ))
is "$rc" 255 "the master never came back: the client exits 255"
check "after --reconnect 3 s ($took ms)" test "$took" -ge 2000 -a "$took" -lt 8000
bid=$(grep -o 'batch [0-9a-f]\{16\} is kept' "$D/err" | cut -d' ' -f2)
check "the client was told batch $bid is kept" test -n "$bid"
check "its last word names the batch and client --attach" \
    grep -q "cannot reach the master again within 3 s (.*batch $bid: client --attach $bid follows it)" "$D/err"
check "no result said cancelled" test "$(grep '^==> ' "$D/err" | grep -c 'cancel')" = 0
MASTER_ON_PORT= start_master t4b "$T/slaves1.conf" --state-dir "$T/st4"
wait_slaves_up t4b 1 || bail "slave not up"
run_client --attach "$bid"
is "$RC/$(grep -c '^out-' "$T/out")" "0/6" "and client --attach of it, on the master started again, gets all 6"
stop_pid "$MASTER_PID"

# 5. A master up long after its last journal write (one long command, 11
# s), then stopped: the restart must not take the quiet time for downtime
# (over 10 s it says the re-claimed jobs "may have run twice": the slaves
# could have killed them at --master-grace's end). A clean stop sets the
# journal's time: the downtime counts from the stop.
D=$T/t7
mkdir -p "$D/markers"
echo "echo x >> $D/markers/1; sleep 14; echo out-1" >"$D/cmds"
start_master t7 "$T/slaves1.conf" --state-dir "$T/st7" --grace 1
wait_slaves_up t7 1 || bail "slave not up"
"$CLIENT" -q 127.0.0.1 "$MASTER_PORT" "$D/cmds" --joblog "$D/joblog" --results "$D/res" >"$D/out" 2>"$D/err" &
cpid=$!
PIDS+=("$cpid")
for _ in $(seq 1 200); do [ "$(markers "$D")" -ge 1 ] && break; sleep 0.02; done
sleep 11 # nothing is written meanwhile
sigterm_restart "$MASTER_PID" "$T/st7" t7
wait "$cpid"; rc=$?
is "$rc" 0 "a long quiet run, SIGTERM, restart: the same client ends with exit 0"
check_markers "long quiet run" 1 "$D"
check "the restart does not count the quiet run as downtime" test "$(grep -c 'last written' "$T/t7-b.log")" = 0
check "the result is not flagged 'may have run twice'" test "$(grep -c 'twice' "$D/err")" = 0
stop_pid "$MASTER_PID"

# 6. --ephemeral keeps the old ending: queued commands cancelled at once,
# running ones killed at the end of the grace, the client told and done.
D=$T/t5
mkdir -p "$D/markers"
{ echo "echo x >> $D/markers/1; sleep 30; : $TAG-e"
  for n in $(seq 2 5); do echo "echo x >> $D/markers/$n; echo out-$n"; done; } >"$D/cmds"
start_master t5 "$T/slaves1.conf" --ephemeral --grace 1
wait_slaves_up t5 1 || bail "slave not up"
"$CLIENT" 127.0.0.1 "$MASTER_PORT" "$D/cmds" >"$D/out" 2>"$D/err" &
cpid=$!
PIDS+=("$cpid")
for _ in $(seq 1 200); do [ "$(markers "$D")" -ge 1 ] && break; sleep 0.02; done
stop_pid "$MASTER_PID"
wait "$cpid"; rc=$?
is "$STOP_RC/$rc" "0/5" "--ephemeral: SIGTERM exits 0; the client gets 5 failures (exit 5)"
is "$(grep -c 'cancelled: the master is shutting down' "$D/err")" 4 "the 4 queued commands are cancelled"
is "$(grep -c 'killed: the master shut down' "$D/err")" 1 "the running one is killed after the grace"
gone=1
for _ in $(seq 1 100); do pgrep -f "^sh -c .*sleep 30; : $TAG-e" >/dev/null || { gone=0; break; }; sleep 0.05; done
is "$gone" 0 "and killed on its slave"
is "$(markers "$D")" 1 "the queued ones never ran"

# 7. An old client (no FRAME_FLAG_RESUME) on a master that journals: the
# old ending too (its commands are not a batch that outlives it).
start_master t6 "$T/slaves1.conf" --state-dir "$T/st6" --grace 1
wait_slaves_up t6 1 || bail "slave not up"
$FT "$MASTER_PORT" hello:0 submit:1:"sleep 30; : $TAG-o" submit:2:"echo q" end:2 until:BYE >"$T/ft6.out" 2>&1 &
ftpid=$!
PIDS+=("$ftpid")
for _ in $(seq 1 200); do pgrep -f "^sh -c sleep 30; : $TAG-o" >/dev/null && break; sleep 0.02; done
stop_pid "$MASTER_PID"
wait "$ftpid"
is "$(grep -c '^RESULT .*status=6' "$T/ft6.out")" 2 "old client: both commands get a cancelled result (RUN_CANCELLED)"
check "and the master's ERROR last" grep -q '^BYE\|^ERROR the master is shutting down' "$T/ft6.out"
gone=1
for _ in $(seq 1 100); do pgrep -f "^sh -c sleep 30; : $TAG-o" >/dev/null || { gone=0; break; }; sleep 0.05; done
is "$gone" 0 "its running command is killed on its slave"

# 8. SIGTERM while the client still sends its commands (from a pipe): the
# SUBMITs that come while the master waits for a running command are
# journaled and queued for the next start, not cancelled.
D=$T/t8
mkdir -p "$D/markers"
start_master t8 "$T/slaves.conf" --state-dir "$T/st8" --grace 10
wait_slaves_up t8 1 || bail "slave not up"
{
    echo "echo x >> $D/markers/1; sleep 3; echo out-1"
    for n in 2 3; do echo "echo x >> $D/markers/$n; echo out-$n"; done
    for _ in $(seq 1 200); do [ -f "$D/go" ] && break; sleep 0.05; done
    for n in $(seq 4 9); do echo "echo x >> $D/markers/$n; echo out-$n"; done
} | "$CLIENT" -q 127.0.0.1 "$MASTER_PORT" - --joblog "$D/joblog" --results "$D/res" >"$D/out" 2>"$D/err" &
cpid=$!
PIDS+=("$cpid")
for _ in $(seq 1 200); do [ "$(markers "$D")" -ge 3 ] && break; sleep 0.02; done
port=$MASTER_PORT
kill -TERM "$MASTER_PID"
wait_for_line "$T/t8.log" 'shutting down' 5 >/dev/null || bail "t8: no shutdown"
touch "$D/go"
wait "$MASTER_PID"; mrc=$?
is "$mrc/$(markers "$D")" "0/3" "commands sent during the stop: the master exits 0 after the running one, without running them"
MASTER_ON_PORT=$port start_master t8b "$T/slaves.conf" --state-dir "$T/st8"
wait "$cpid"; rc=$?
is "$rc" 0 "restarted: the same client process ends with exit 0"
check_markers "commands sent during the stop" 9 "$D"
is "$(cancel_records "$T/st8")" 0 "no CANCEL record nor cancelled result in the journal"

# 9. A connection between its HELLO and its ATTACH (say a client
# reconnecting) when the stop comes: ERROR "the master is shutting down" at
# once, which the real client takes as one more failed attempt; not the
# ending of a client that is not a batch (a NOTICE, then an ERROR at the
# grace's end that the client cannot take for a pause).
start_master t9 "$T/slaves.conf" --state-dir "$T/st9" --grace 5
wait_slaves_up t9 1 || bail "slave not up"
$FT "$MASTER_PORT" hello read:1 until:ERROR >"$T/ft9.out" 2>&1 &
ftpid=$!
PIDS+=("$ftpid")
wait_for_line "$T/ft9.out" '^WELCOME' 5 >/dev/null || bail "t9: no WELCOME"
t0=$(ms)
stop_pid "$MASTER_PID"
took=$(( $(ms) - t0 ))
wait "$ftpid"
is "$(grep -v '^WELCOME\|^CLOSED' "$T/ft9.out")" "ERROR the master is shutting down" \
    "HELLO without ATTACH yet: ERROR 'the master is shutting down', nothing else"
check "at once: the master did not wait for its grace of 5 s ($took ms)" test "$took" -lt 3000

done_testing
