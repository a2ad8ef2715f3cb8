#!/usr/bin/env bash
# Faults injected for real: a slave killed (-9) mid-run and restarted, a
# slave and a master stopped by SIGTERM mid-run, the master killed under
# a client, slaves.conf reloaded by SIGHUP.
. "$(dirname "$0")/lib.sh"
# Long commands this test alone runs (another test's "sleep 30" must not
# count): 30 and 31 seconds and a fraction taken from our PID.
S30=30.$$ S31=31.$$

ms() { echo $(( $(date +%s%N) / 1000000 )); }
markers_with() { # markers_with N: how many marker files hold exactly N lines
    local n=0 f
    for f in "$T"/markers/*; do [ "$(wc -l <"$f")" = "$1" ] && n=$((n + 1)); done
    echo $n
}

cluster 3 -j 2

# kill -9 of a slave running commands: they die with it (nothing of theirs
# runs on), the master notices and runs them elsewhere.
mkdir -p "$T/markers"
for i in $(seq 1 30); do echo "sleep 0.5; echo \$\$ >> $T/markers/$i; echo done-$i"; done >"$T/k9.txt"
"$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/k9.txt" --joblog "$T/jk9" >"$T/k9.out" 2>&1 &
cpid=$!
PIDS+=("$cpid")
for _ in $(seq 1 100); do [ "$(pgrep -cP "${SLAVE_PIDS[0]}")" -ge 2 ] && break; sleep 0.02; done
victims=$(pgrep -P "${SLAVE_PIDS[0]}" | tr '\n' ' ')
killed_at=$(ms)
{ kill -KILL "${SLAVE_PIDS[0]}"; wait "${SLAVE_PIDS[0]}"; } 2>/dev/null # no "Killed" notice
wait_for_line "$T/master.log" "slave 127.0.0.1:${SLAVE_PORTS[0]}: no answer .* considered dead" 10 >/dev/null
ok $? "the master declares the killed slave dead"
noticed_at=$(ms)
wait "$cpid"; rc=$?
done_at=$(ms)
echo "# kill -9 -> dead slave noticed in $((noticed_at - killed_at)) ms, all its commands done elsewhere $((done_at - killed_at)) ms after the kill"
is "$rc" 0 "every command completes although a slave was killed"
is "$(grep -c '^done-' "$T/k9.out")" 30 "30 results"
is "$(markers_with 1)" 30 "each command ran to completion exactly once"
alive=0
for p in $victims; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
is "$alive" 0 "the killed slave's commands died with it"
check "the log says the commands were dispatched again" grep -q 'slave 127.0.0.1:'"${SLAVE_PORTS[0]}"' stopped answering: dispatching it again' "$T/master.log"

# The slave restarted on the same port is used again, master untouched.
SLAVE_ON_PORT=${SLAVE_PORTS[0]} start_slave s1again -j 2
wait_for_line "$T/master.log" "slave 127.0.0.1:${SLAVE_PORTS[0]} restarted \(boot" 10 >/dev/null
ok $? "the master sees the restarted slave"
for i in $(seq 1 30); do echo "sleep 0.05; echo $i"; done >"$T/after.txt"
run_client -q "$T/after.txt" --joblog "$T/jafter"
is "$RC" 0 "the next client succeeds"
check "and the restarted slave ran some of its commands" grep -qP "\t127\.0\.0\.1:${SLAVE_PORTS[0]}\t" "$T/jafter"

# SIGTERM to a slave mid-run: it kills its commands and exits 0 at once;
# the master runs them elsewhere.
for i in $(seq 1 12); do echo "sleep 1; echo term-$i"; done >"$T/term.txt"
"$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/term.txt" >"$T/term.out" 2>&1 &
cpid=$!
PIDS+=("$cpid")
s2=${SLAVE_PIDS[1]}
for _ in $(seq 1 100); do [ "$(pgrep -cP "$s2")" -ge 2 ] && break; sleep 0.02; done
children=$(pgrep -P "$s2" | tr '\n' ' ')
kill -TERM "$s2"
t0=$(ms)
wait "$s2"; src=$?
is "$src" 0 "the slave exits 0 on SIGTERM"
check "within a second ($(( $(ms) - t0 )) ms)" test $(( $(ms) - t0 )) -lt 1000
alive=0
for p in $children; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
is "$alive" 0 "its running commands were killed"
check "no zombie left under it" test -z "$(ps -o stat= --ppid "$s2" 2>/dev/null)"
wait "$cpid"; rc=$?
is "$rc/$(grep -c '^term-' "$T/term.out")" "0/12" "the client still gets its 12 results"

# SIGTERM to an --ephemeral master: running commands finish, queued ones
# are reported cancelled, the client ends normally and says so.
for i in $(seq 1 4); do echo "sleep 1; echo ran-$i"; done >"$T/grace.txt"
for i in $(seq 1 10); do echo "echo queued-$i"; done >>"$T/grace.txt"
start_master m2 "$T/slaves.conf" --grace 5 --ephemeral
wait_slaves_up m2 2 || bail "slaves not up for m2"
"$BIN/client" 127.0.0.1 "$MASTER_PORT" "$T/grace.txt" >"$T/grace.out" 2>"$T/grace.err" &
cpid=$!
PIDS+=("$cpid")
m2=$MASTER_PID
for _ in $(seq 1 100); do [ "$(pgrep -f 'sleep 1; echo ran-' | wc -l)" -ge 4 ] && break; sleep 0.02; done
kill -TERM "$m2"
wait "$cpid"; rc=$?
wait "$m2"; mrc=$?
is "$mrc" 0 "the master exits 0 after SIGTERM"
check "running commands were allowed to finish" test "$(grep -c '^ran-' "$T/grace.out")" = 4
is "$rc" 10 "the 10 queued commands are reported, as failures: exit 10"
check "each says why" test "$(grep -c 'cancelled: the master is shutting down' "$T/grace.err")" = 10
check "the client was told" grep -q 'master: the master is shutting down' "$T/grace.err"

# The same with a journal (the default): the running commands finish and
# their results reach the client, the queued ones wait in the journal (no
# result, nothing cancelled) and run once the master is started again on
# its port and state dir; the same client process ends with exit 0.
start_master m2j "$T/slaves.conf" --grace 5 --state-dir "$T/st2j"
wait_slaves_up m2j 2 || bail "slaves not up for m2j"
"$BIN/client" 127.0.0.1 "$MASTER_PORT" "$T/grace.txt" >"$T/gracej.out" 2>"$T/gracej.err" &
cpid=$!
PIDS+=("$cpid")
m2j=$MASTER_PID
for _ in $(seq 1 100); do [ "$(pgrep -f 'sleep 1; echo ran-' | wc -l)" -ge 4 ] && break; sleep 0.02; done
stop_pid "$m2j"
is "$STOP_RC/$(grep -c '^ran-' "$T/gracej.out")/$(grep -c '^queued-' "$T/gracej.out")/$(grep -c 'cancel' "$T/gracej.err")" "0/4/0/0" \
    "journal: SIGTERM exits 0 once the 4 running commands are done and delivered; the queued ones wait (not cancelled)"
MASTER_ON_PORT=$MASTER_PORT start_master m2jb "$T/slaves.conf" --state-dir "$T/st2j"
wait "$cpid"; rc=$?
is "$rc/$(grep -c '^ran-' "$T/gracej.out")/$(grep -c '^queued-' "$T/gracej.out")" "0/4/10" \
    "restarted: the same client gets the 10 queued ones too, exit 0"
check "none cancelled" test "$(grep -c 'cancel' "$T/gracej.err")" = 0
stop_pid "$MASTER_PID"

# A second SIGTERM stops at once; commands still running are killed
# (--ephemeral; with a journal they are left to their slaves: stop.t).
start_master m3 "$T/slaves.conf" --grace 60 --ephemeral
wait_slaves_up m3 2 || bail "slaves not up for m3"
printf 'sleep %s\nsleep %s\n' "$S30" "$S30" >"$T/long.txt"
"$BIN/client" 127.0.0.1 "$MASTER_PORT" "$T/long.txt" >"$T/long.out" 2>"$T/long.err" &
cpid=$!
PIDS+=("$cpid")
for _ in $(seq 1 100); do [ "$(pgrep -fx "sh -c sleep $S30|sleep $S30" | wc -l)" -ge 2 ] && break; sleep 0.02; done
kill -TERM "$MASTER_PID"; sleep 0.2; kill -TERM "$MASTER_PID"
wait "$MASTER_PID"; mrc=$?
wait "$cpid"; rc=$?
is "$mrc/$rc" "0/2" "second SIGTERM: the master stops at once; both running commands get a result: the client exits 2"
check "each says it was killed" test "$(grep -c 'killed: the master shut down' "$T/long.err")" = 2
check "the client was told why" grep -q 'the master is shutting down' "$T/long.err"
gone=1
for _ in $(seq 1 100); do pgrep -fx "sh -c sleep $S30|sleep $S30" >/dev/null || { gone=0; break; }; sleep 0.05; done
is "$gone" 0 "the slaves were told to kill the commands"

# The master killed under a client: 255, promptly, cause named.
start_master m4 "$T/slaves.conf" --ephemeral # its slaves kill its commands after 10 s (no --master-grace)
wait_slaves_up m4 2 || bail "slaves not up for m4"
"$BIN/client" 127.0.0.1 "$MASTER_PORT" "$T/long.txt" >/dev/null 2>"$T/gone.err" &
cpid=$!
PIDS+=("$cpid")
for _ in $(seq 1 100); do [ "$(pgrep -fx "sh -c sleep $S30|sleep $S30" | wc -l)" -ge 2 ] && break; sleep 0.02; done
{ kill -KILL "$MASTER_PID"; wait "$MASTER_PID"; } 2>/dev/null
t0=$(ms)
wait "$cpid"; rc=$?
is "$rc" 255 "master killed: the client exits 255"
check "at once ($(( $(ms) - t0 )) ms)" test $(( $(ms) - t0 )) -lt 2000
check "and says the connection was lost" grep -q 'lost the connection to the master (0 of 2 results received)' "$T/gone.err"

# SIGHUP: slaves.conf reloaded, a slave added and another retired.
echo "127.0.0.1 ${SLAVE_PORTS[0]}" >"$T/hup.conf"
start_master m5 "$T/hup.conf"
wait_slaves_up m5 1 || bail "slave not up for m5"
echo "127.0.0.1 ${SLAVE_PORTS[2]}" >"$T/hup.conf"
kill -HUP "$MASTER_PID"
wait_for_line "$T/m5.log" "slave 127.0.0.1:${SLAVE_PORTS[2]} is up" 10 >/dev/null
ok $? "SIGHUP: the new slave is contacted"
check "the old one is retired" grep -q "slave 127.0.0.1:${SLAVE_PORTS[0]} no longer listed" "$T/m5.log"
run_client -q "$T/after.txt" --joblog "$T/jhup"
is "$RC/$(cut -f2 "$T/jhup" | sort -u | grep -v Host | tr '\n' ' ')" "0/127.0.0.1:${SLAVE_PORTS[2]} " \
    "after the reload only the listed slave runs commands"

printf 'echo one\necho two\n' >"$T/one-more.txt" # one job for each live slave: its first JOB reveals the new life

# The master killed and restarted on its port: the slaves recognise its new
# life (same address, newer boot id) and kill the commands of the old one
# (an ephemeral master: one with a state dir has them adopted, identity.t).
start_master m6 "$T/slaves.conf" --ephemeral
wait_slaves_up m6 2 || bail "slaves not up for m6"
m6port=$MASTER_PORT
printf 'sleep %s\nsleep %s\n' "$S31" "$S31" >"$T/orphans.txt"
"$BIN/client" 127.0.0.1 "$MASTER_PORT" "$T/orphans.txt" >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do [ "$(pgrep -fx "sh -c sleep $S31|sleep $S31" | wc -l)" -ge 2 ] && break; sleep 0.02; done
{ kill -KILL "$MASTER_PID"; wait "$MASTER_PID"; } 2>/dev/null
MASTER_ON_PORT=$m6port start_master m6b "$T/slaves.conf" --ephemeral
run_client -q "$T/one-more.txt" 2>/dev/null
gone=1
for _ in $(seq 1 100); do pgrep -fx "sh -c sleep $S31|sleep $S31" >/dev/null || { gone=0; break; }; sleep 0.05; done
is "$gone" 0 "a restarted master's slaves kill the commands of its previous life"
check "and say so" grep -q 'at the same address restarted: dropping its previous jobs' "$T"/s3.log

# The master killed earlier (m4) never came back: once it has been silent
# for 10 s, its slaves kill its commands.
gone=1
for _ in $(seq 1 300); do pgrep -fx "sh -c sleep $S30|sleep $S30" >/dev/null || { gone=0; break; }; sleep 0.05; done
is "$gone" 0 "the commands of a master that died are killed by its slaves"
check "who say why" grep -q 'silent for 10 s: killing its jobs' "$T"/s3.log

done_testing
