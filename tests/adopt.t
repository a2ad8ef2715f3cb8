#!/usr/bin/env bash
# adopt.t - "may have run twice", exactly: a master killed -9 and restarted
# from its journal re-claims its running commands from their slaves, which
# say what became of each (doc/protocol.md 4.3, JOB_ACK GONE's reason):
#   1. restarted within the slaves' --master-grace: adopted, ran once, not
#      flagged, however old the journal looks (its mtime an hour back: the
#      downtime says nothing);
#   2. restarted after a short --master-grace: the slave killed them; they
#      run again, their results flagged with the reason, markers show 2 runs;
#   3. a slave restarted while the master was down: the same, with that reason;
#   4. a re-claim the slave never saw (the master died between journaling the
#      dispatch and sending the request): runs once, not flagged;
#   5. the slave's answers themselves (dgram_tool.py), every reason;
#   6. a slave that forgot the master meanwhile (another master took its
#      address): its PONG says it took less than the journal shows it ran.
# The master's reaction to each answer: tests/unit_replay.c (test_reclaim).
. "$(dirname "$0")/lib.sh"

# wait_file FILE LINES SECONDS: until FILE has at least LINES lines
wait_lines() {
    local i
    for i in $(seq 1 $(($3 * 20))); do
        [ -e "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
        sleep 0.05
    done
    return 1
}
kill9() { { kill -KILL "$1"; wait "$1"; } 2>/dev/null; }

# cmds DIR SLEEP...: a command per SLEEP; command K notes its start in
# DIR/started, its run in DIR/m/K (a line a run), sleeps, prints out-K.
cmds() {
    local d=$1 k=0 t
    shift
    mkdir -p "$d/m"
    for t in "$@"; do
        k=$((k + 1))
        echo "echo x >> $d/started; echo x >> $d/m/$k; sleep $t; echo out-$k"
    done >"$d/cmds"
}

# client_bg DIR: the client, in the background, --json into DIR/out.
client_bg() {
    timeout 120 "$BIN/client" --json --reconnect 60 127.0.0.1 "$MASTER_PORT" "$1/cmds" >"$1/out" 2>"$1/err" &
    CLIENT_PID=$!
    PIDS+=("$CLIENT_PID")
}

# runs DIR N: how many markers of DIR hold exactly N lines
runs() {
    local k c=0
    for k in "$1"/m/*; do [ "$(wc -l <"$k")" = "$2" ] && c=$((c + 1)); done
    echo "$c"
}

# --- 1. Restarted within the grace: adopted, ran once, not flagged. The
# journal is made to look an hour old: the old heuristic (a journal last
# written more than 10 s before the restart) flagged every re-claim.
D=$T/c1
cmds "$D" 2 2 2
start_slave s1 -j 4 --master-grace 30
echo "127.0.0.1 $SLAVE_PORT" >"$T/s1.conf"
start_master m1 "$T/s1.conf" --state-dir "$T/sd1"
p1=$MASTER_PORT
wait_slaves_up m1 1 || bail "slave not up for m1"
client_bg "$D"
wait_lines "$D/started" 3 15 || bail "case 1: the commands did not start"
kill9 "$MASTER_PID"
touch -d '1 hour ago' "$T/sd1/journal"
MASTER_ON_PORT=$p1 start_master m1b "$T/s1.conf" --state-dir "$T/sd1"
wait_for_line "$T/s1.log" 'restarted \(boot [0-9a-f]{16} -> [0-9a-f]{16}\): 3 jobs adopted' 10 >/dev/null
ok $? "case 1: the slave adopted the 3 running jobs"
wait "$CLIENT_PID"
is "$?" 0 "case 1: the client ends with exit 0"
is "$(grep -c '"status":"exited","exitval":0' "$D/out")" 3 "case 1: 3 results, each exit 0"
is "$(grep -c 'may_have_run_twice' "$D/out")" 0 "case 1: none flagged 'may have run twice' (the journal looked an hour old)"
is "$(runs "$D" 1)" 3 "case 1: each command ran once (its marker holds one line)"
is "$(grep -o '"stdout":"out-[0-9]\\n"' "$D/out" | sort | tr -d '\n')" '"stdout":"out-1\n""stdout":"out-2\n""stdout":"out-3\n"' \
    "case 1: the outputs are the first runs'"
check "case 1: the master does not call them 'may have run twice'" sh -c "! grep -q 'may have run twice' '$T/m1b.log'"
stop_pid "$MASTER_PID"

# --- 2. Restarted after the grace (2 s): the slave killed the 3 jobs
# still running, and dropped the result of the 4th, which ended while the
# master was away; the restarted master hears so (GONE, with the reason)
# and runs them again, flagged.
D=$T/c2
cmds "$D" 4 4 4 0.2
start_slave s2 -j 4 --master-grace 2
echo "127.0.0.1 $SLAVE_PORT" >"$T/s2.conf"
start_master m2 "$T/s2.conf" --state-dir "$T/sd2"
p2=$MASTER_PORT
wait_slaves_up m2 1 || bail "slave not up for m2"
client_bg "$D"
wait_lines "$D/started" 4 15 || bail "case 2: the commands did not start"
kill9 "$MASTER_PID"
wait_for_line "$T/s2.log" 'silent for 2 s: killing its jobs' 15 >/dev/null
ok $? "case 2: the slave kills the jobs at the end of its --master-grace"
MASTER_ON_PORT=$p2 start_master m2b "$T/s2.conf" --state-dir "$T/sd2"
wait "$CLIENT_PID"
is "$?" 0 "case 2: the client ends with exit 0"
is "$(grep -c '"status":"exited","exitval":0' "$D/out")" 4 "case 2: 4 results, each exit 0"
is "$(grep -c '"may_have_run_twice":true' "$D/out")" 4 "case 2: each flagged 'may have run twice'"
is "$(grep '"seq":[123],' "$D/out" | grep -c '"message":"may have run twice: its first run was killed on slave 127.0.0.1:[0-9]* when the master was away longer than the slave'"'"'s --master-grace: run again"')" 3 \
    "case 2: the 3 killed say why: killed on their slave when the master was away longer than --master-grace"
is "$(grep '"seq":4,' "$D/out" | grep -c '"message":"ran twice: its first run ended on slave 127.0.0.1:[0-9]*, which dropped its result when the master was away longer than the slave'"'"'s --master-grace: run again"')" 1 \
    "case 2: the one that ended says it ran twice: its result was dropped at the end of the grace"
is "$(runs "$D" 2)" 4 "case 2: each command's marker shows 2 runs (the first and the one that gave the result)"
is "$(grep -o '"stdout":"out-[0-9]\\n"' "$D/out" | sort | tr -d '\n')" '"stdout":"out-1\n""stdout":"out-2\n""stdout":"out-3\n""stdout":"out-4\n"' \
    "case 2: each output is that of the run that ended"
is "$(grep -c 'killed it when the master was away longer than its --master-grace: running it again' "$T/m2b.log")" 3 \
    "case 2: the master logs each killed one"
stop_pid "$MASTER_PID"

# --- 3. The slave restarted (stopped, started on its port) while the
# master was down: the re-claims went to its earlier life and are lost;
# they run again, flagged, with that reason.
D=$T/c3
cmds "$D" 1.5 1.5
start_slave s3 -j 4 --master-grace 30
s3port=$SLAVE_PORT
echo "127.0.0.1 $s3port" >"$T/s3.conf"
start_master m3 "$T/s3.conf" --state-dir "$T/sd3"
p3=$MASTER_PORT
wait_slaves_up m3 1 || bail "slave not up for m3"
client_bg "$D"
wait_lines "$D/started" 2 15 || bail "case 3: the commands did not start"
kill9 "$MASTER_PID"
stop_pid "$SLAVE_PID"
SLAVE_ON_PORT=$s3port start_slave s3b -j 4 --master-grace 30
MASTER_ON_PORT=$p3 start_master m3b "$T/s3.conf" --state-dir "$T/sd3"
wait "$CLIENT_PID"
is "$?" 0 "case 3: the client ends with exit 0"
is "$(grep -c '"status":"exited","exitval":0' "$D/out")" 2 "case 3: 2 results, each exit 0"
is "$(grep -c '"may_have_run_twice":true' "$D/out")" 2 "case 3: each flagged 'may have run twice'"
is "$(grep -c '"message":"may have run twice: slave 127.0.0.1:'"$s3port"' restarted while the master was down' "$D/out")" 2 \
    "case 3: each result says why: its slave restarted while the master was down"
is "$(runs "$D" 2)" 2 "case 3: each command's marker shows 2 runs"
check "case 3: the master logs the slave's restart against the journal's" \
    grep -q "slave 127.0.0.1:$s3port restarted while the master was down (boot" "$T/m3b.log"
stop_pid "$MASTER_PID"

# --- 4. A re-claim its slave never saw: the master died after journaling
# the dispatch and before the request left. Made by hand: command 2 waits
# on the master (the slave has 1 slot in slaves.conf) when the master is
# killed, and a DISPATCH of it, under the next job id, is added to the
# journal (tests/journal_tool dispatch). The slave takes that id as new:
# it runs once, not flagged (the journal an hour old again).
D=$T/c4
cmds "$D" 1.5 0.2
start_slave s4 -j 4 --master-grace 30 -v
echo "127.0.0.1 $SLAVE_PORT 1" >"$T/s4.conf"
start_master m4 "$T/s4.conf" --state-dir "$T/sd4"
p4=$MASTER_PORT
wait_slaves_up m4 1 || bail "slave not up for m4"
client_bg "$D"
wait_lines "$D/started" 1 15 || bail "case 4: the command did not start"
dump() { "$BIN/serveur_maitre" --dump-journal "$T/sd4" >"$T/dump4" 2>/dev/null; }
for _ in $(seq 1 100); do dump; [ "$(grep -c '"type":"command"' "$T/dump4")" = 2 ] && break; sleep 0.05; done
kill9 "$MASTER_PID"
dump
is "$(grep -c '"type":"dispatch"' "$T/dump4")/$(grep -c '"type":"command"' "$T/dump4")" 1/2 \
    "case 4: the journal holds 2 commands, 1 dispatched"
batch=$(sed -nE 's/.*"type":"batch","batch":"([0-9a-f]{16})".*/\1/p' "$T/dump4")
boot=$(sed -nE 's/.*"type":"dispatch".*"slave_boot":"([0-9a-f]{16})".*/\1/p' "$T/dump4")
slave=$(sed -nE 's/.*"type":"dispatch".*"slave":"([^"]*)".*/\1/p' "$T/dump4")
job=$(sed -nE 's/.*"type":"dispatch".*"job_id":([0-9]+).*/\1/p' "$T/dump4")
"$TOOLS/journal_tool" dispatch "$T/sd4/journal" "$batch" 1 $((job + 1)) "$boot" "$slave" || bail "journal_tool dispatch"
touch -d '1 hour ago' "$T/sd4/journal"
MASTER_ON_PORT=$p4 start_master m4b "$T/s4.conf" --state-dir "$T/sd4"
check "case 4: the restarted master re-claims both" grep -q '0 commands queued again, 2 re-claimed' "$T/m4b.log"
wait "$CLIENT_PID"
is "$?" 0 "case 4: the client ends with exit 0"
is "$(grep -c '"status":"exited","exitval":0' "$D/out")" 2 "case 4: 2 results, each exit 0"
is "$(grep -c 'may_have_run_twice' "$D/out")" 0 "case 4: none flagged (the one never sent ran once, under its journaled id)"
is "$(runs "$D" 1)" 2 "case 4: each command ran once"
check "case 4: the slave ran the re-claim under the journaled id $((job + 1)), its one and only job id for it" \
    sh -c "grep -q 'job $((job + 1)): result delivered' '$T/s4.log' && ! grep -q 'job $((job + 2))' '$T/s4.log'"
stop_pid "$MASTER_PID"

# --- 6. The slave forgot the master while it was down: another master
# (another identity) took its address, so the slave dropped the old jobs
# with no record (not this master's any more), and has nothing to adopt
# from. Its PONG says it took no job id from this identity, but the
# journal shows it ran job 1 (its result): the re-claimed job 2 runs
# again, flagged. (Detached batch: the other master must not be asked for
# it; client --attach takes the results at the end.)
D=$T/c6
cmds "$D" 0 2
start_slave s6 -j 4 --master-grace 30 -v
echo "127.0.0.1 $SLAVE_PORT" >"$T/s6.conf"
start_master m6 "$T/s6.conf" --state-dir "$T/sd6"
p6=$MASTER_PORT
wait_slaves_up m6 1 || bail "slave not up for m6"
batch6=$(timeout 20 "$BIN/client" --detach 127.0.0.1 "$p6" "$D/cmds" 2>"$D/detach.err")
wait_for_line "$T/s6.log" 'job 1: result delivered' 10 >/dev/null || bail "case 6: job 1 did not end"
wait_lines "$D/started" 2 15 || bail "case 6: the commands did not start"
kill9 "$MASTER_PID"
MASTER_ON_PORT=$p6 start_master m6x "$T/s6.conf" --state-dir "$T/sd6x"
wait_for_line "$T/s6.log" 'at the same address restarted: dropping its previous jobs' 10 >/dev/null
ok $? "case 6: another master at the address: the slave drops the first one's jobs"
stop_pid "$MASTER_PID"
MASTER_ON_PORT=$p6 start_master m6b "$T/s6.conf" --state-dir "$T/sd6"
timeout 60 "$BIN/client" --json 127.0.0.1 "$p6" --attach "$batch6" >"$D/out" 2>"$D/err"
is "$?" 0 "case 6: client --attach gets the batch's results, exit 0"
is "$(grep -c '"status":"exited","exitval":0' "$D/out")" 2 "case 6: 2 results, each exit 0"
is "$(grep '"seq":1,' "$D/out" | grep -c may_have_run_twice)/$(wc -l <"$D/m/1")" 0/1 "case 6: the one that ended before: once, not flagged"
is "$(grep '"seq":2,' "$D/out" | grep -c '"may_have_run_twice":true,"message":"may have run twice: slave 127.0.0.1:[0-9]* forgot this master while it was down')" 1 \
    "case 6: the re-claimed one is flagged, the result says its slave forgot this master"
is "$(wc -l <"$D/m/2")" 2 "case 6: it ran twice (its marker)"

# --- 5. The slave's side, every reason (tests/dgram_tool.py lost: a master
# with an identity gives job 3, which ends, job 1, which runs, and job 2,
# queued behind it on one slot, then is silent past a 1 s --master-grace;
# its next life asks for each): the answer says what became of each, the
# same to a second request, and nothing runs again.
start_slave s5 -j 1 --master-grace 1 -v
python3 "$TOP/tests/dgram_tool.py" lost "$SLAVE_PORT" 1 >"$T/lost5.out" 2>&1
is "$(grep '^job' "$T/lost5.out" | tr '\n' ' ')" "job 1: state 4 cum 2 job 2: state 4 cum 1 job 3: state 4 cum 3 job 1: state 4 cum 2 " \
    "case 5: GONE with the reason: 1 killed running (2), 2 never started (1), 3's result dropped (3); 1 again: the same"
check "case 5: nothing ran again (the log names each command started: 2 of the first life's)" \
    sh -c "[ \$(grep -c 'started pid' '$T/s5.log') = 2 ] && ! grep -q 'must-not-run' '$T/s5.log'"
[ "$_tap_failed" = 0 ] || cat "$T/lost5.out" >&2

done_testing
