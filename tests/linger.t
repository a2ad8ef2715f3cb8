#!/usr/bin/env bash
# After SIGTERM's grace period, a master waiting for a client that reads
# nothing (SHUTDOWN_LINGER_MS, the hangup wait) sleeps in poll: it does not
# spin. The stopped client stands for any peer that neither reads nor closes.
. "$(dirname "$0")/lib.sh"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, in clock ticks
[ -r /proc/self/stat ] || skip_all "needs /proc"
hz=$(getconf CLK_TCK)

cluster 1 -j 1
start_master m2 "$T/slaves.conf" --grace 1 --ephemeral # the old ending: the command killed, the client told
wait_slaves_up m2 1 || bail "slave not up for m2"
tag=linger-$$-$RANDOM # our command, not another test's
printf 'sleep 31; : %s\n' "$tag" >"$T/long.txt"
"$BIN/client" 127.0.0.1 "$MASTER_PORT" "$T/long.txt" >"$T/c.out" 2>"$T/c.err" &
cpid=$!
PIDS+=("$cpid")
for _ in $(seq 1 100); do pgrep -f "$tag" >/dev/null && break; sleep 0.05; done
pgrep -f "$tag" >/dev/null || bail "the command did not start"
kill -STOP "$cpid"
kill -TERM "$MASTER_PID"
wait_for_line "$T/m2.log" 'shutting down' 5 >/dev/null || bail "the master did not begin its shutdown"
sleep 1.2 # the grace period (1 s) is over: the command is killed, the client told, and not reading
kill -0 "$MASTER_PID" 2>/dev/null
ok $? "the master is still waiting for the client (the linger)"
t0=$(cpu_ticks "$MASTER_PID")
sleep 0.6
used=$(( ($(cpu_ticks "$MASTER_PID") - t0) * 1000 / hz ))
check "meanwhile it sleeps: ${used} ms of CPU in 0.6 s" test "$used" -lt 100
kill -CONT "$cpid"
wait "$MASTER_PID"; mrc=$?
is "$mrc" 0 "the master exits 0"
wait "$cpid"; rc=$?
check "the client gets its ending (exit $rc, not a hang)" test "$rc" -ne 0

# With a journal (the default) the client's batch is only paused: the
# master does not wait for a client that reads nothing, it leaves the
# running command to its slave at the grace's end and exits; started
# again, it goes on with the batch, and the client, woken, gets its result.
start_master m3 "$T/slaves.conf" --grace 1 --state-dir "$T/st3"
wait_slaves_up m3 1 || bail "slave not up for m3"
printf 'sleep 4; echo done-%s\n' "$tag" >"$T/j.txt"
"$BIN/client" 127.0.0.1 "$MASTER_PORT" "$T/j.txt" >"$T/j.out" 2>"$T/j.err" &
cpid=$!
PIDS+=("$cpid")
for _ in $(seq 1 100); do pgrep -f "sleep 4; echo done-$tag" >/dev/null && break; sleep 0.05; done
kill -STOP "$cpid"
port=$MASTER_PORT
stop_pid "$MASTER_PID"
is "$STOP_RC" 0 "journal: the master exits 0 without waiting for the client that reads nothing"
pgrep -f "sleep 4; echo done-$tag" >/dev/null
ok $? "its command still runs on the slave (left to it, not killed)"
MASTER_ON_PORT=$port start_master m3b "$T/slaves.conf" --state-dir "$T/st3"
kill -CONT "$cpid"
wait "$cpid"; rc=$?
is "$rc/$(grep -c "^done-$tag\$" "$T/j.out")" "0/1" "restarted: the same client gets the result, exit 0"

done_testing
