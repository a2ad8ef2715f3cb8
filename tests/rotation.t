#!/usr/bin/env bash
# rotation.t - sealed datagrams (issue 13): a keyed run through a proxy that
# loses, duplicates and reorders is byte-exact and shows nothing of the
# commands or their output; key rotation with a key file of two lines (new,
# old) in the documented order, slaves first; SIGHUP reloads the key file
# on the master and on the slave, a bad file is logged and the keys in use
# kept; a slave with another key never comes up, and says why.
. "$(dirname "$0")/lib.sh"

OLD=$(random_key) NEW=$(random_key) THIRD=$(random_key)
key_file "$T/slave.key" "$NEW" "$OLD"
key_file "$T/master.key" "$OLD"
cp "$T/master.key" "$T/client.key"

# Slaves first: the slave accepts the new key and the old; the master still
# has the old one alone. Through a proxy that loses, duplicates, reorders.
start_slave s1 -j 4 --key-file "$T/slave.key"
s1port=$SLAVE_PORT
s1pid=$SLAVE_PID
start_chaos proxy "$s1port" --drop 10 --dup 10 --reorder 10 --seed 13 --record "$T/to_slave" --record-answers "$T/to_master"
echo "127.0.0.1 $CHAOS_PORT" >"$T/slaves.conf"
start_master master "$T/slaves.conf" --key-file "$T/master.key"
wait_slaves_up master 1 || bail "slave not up: $(cat "$T/master.log")"
check "the slave opened the session with the old key (line 2)" grep -q 'new master .*key file line 2: the old key' "$T/s1.log"

for i in $(seq 1 30); do echo "echo SECRETCMD-$i; seq 1 $((i * 700)) | sed 's/^/secret-out-/'"; done >"$T/cmds.txt"
sh "$T/cmds.txt" | sort >"$T/expected"
run_client --key-file "$T/client.key" -q "$T/cmds.txt"
is "$RC/$(sort "$T/out" | cmp - "$T/expected" && echo same)" "0/same" \
    "keyed, 10% loss, duplicates, reordering: every output byte-exact ($(wc -c <"$T/expected") bytes)"
sent=$(wc -c <"$T/to_slave") back=$(wc -c <"$T/to_master")
check "the proxy saw datagrams both ways ($sent and $back bytes)" test "$sent" -gt 5000 -a "$back" -gt 100000
check "nothing of a command in clear on the wire" bash -c "! grep -aq -e SECRETCMD -e 'secret-out' -e 'sed s' '$T/to_slave'"
check "nothing of its output in clear either" bash -c "! grep -aq -e SECRETCMD -e 'secret-out' '$T/to_master'"

# The master's file becomes (new, old), SIGHUP: its running conversation
# keeps its keys, its PINGs now go sealed with the new key.
key_file "$T/master.key" "$NEW" "$OLD"
cp "$T/master.key" "$T/client.key"
kill -HUP "$MASTER_PID"
wait_for_line "$T/master.log" 'SIGHUP: key file .* reloaded \(2 keys' 10 >/dev/null
ok $? "SIGHUP: the master reloads its key file (2 keys)"
printf 'echo after-reload\n' >"$T/one.txt"
run_client --key-file "$T/client.key" -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/after-reload" "the running conversation still works"
sleep 2 # PINGs sealed with the new key, PONGs back
check "the slave is still up (no restart, no loss)" bash -c "! grep -q -e 'considered dead' -e 'restarted' '$T/master.log'"

# The slave's session goes dormant (its master frozen longer than 10 s): the
# handshake again, with the same slave life, now on the new key: the master
# takes that handshake's keys (old: it kept the old conversation's, and
# every JOB from then on was refused by the slave).
kill -STOP "$MASTER_PID"
sleep 11
kill -CONT "$MASTER_PID"
wait_for_line "$T/master.log" 'has no session with us: handshake again' 15 >/dev/null
ok $? "the frozen master shakes hands again with the same slave life"
printf 'echo after-dormant\n' >"$T/dormant.txt"
run_client --key-file "$T/client.key" -q "$T/dormant.txt"
is "$RC/$(cat "$T/out")" "0/after-dormant" "and its commands run there (the new handshake's keys on both sides)"

# The slave's file: the new key alone, SIGHUP. The session keeps its (old)
# keys; the master's PINGs (new key) still open.
key_file "$T/slave.key" "$NEW"
kill -HUP "$s1pid"
wait_for_line "$T/s1.log" 'SIGHUP: key file .* reloaded \(1 key\)' 10 >/dev/null
ok $? "SIGHUP: the slave reloads its key file (1 key)"
run_client --key-file "$T/client.key" -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/after-reload" "and the slave still serves its session"

# A new handshake uses the new key: the slave restarted, with the new key alone.
stop_pid "$s1pid"
SLAVE_ON_PORT=$s1port start_slave s1b -j 4 --key-file "$T/slave.key"
s1pid=$SLAVE_PID
wait_for_line "$T/master.log" "restarted" 15 >/dev/null
wait_for_line "$T/s1b.log" 'new master .*key file line 1' 15 >/dev/null
ok $? "the slave's new life: the handshake used the new key (line 1)"
run_client --key-file "$T/client.key" -q "$T/cmds.txt"
is "$RC/$(sort "$T/out" | cmp - "$T/expected" && echo same)" "0/same" "and its commands run, byte-exact"

# SIGHUP with a bad key file: logged, the keys in use kept, still serving.
key_file "$T/master.key" "short"
key_file "$T/slave.key" "short"
kill -HUP "$MASTER_PID" "$s1pid"
wait_for_line "$T/master.log" 'SIGHUP: .*at least 32.*keeping the keys in use' 10 >/dev/null
ok $? "the master names the bad key file and keeps its keys"
wait_for_line "$T/s1b.log" 'SIGHUP: .*at least 32.*keeping the keys in use' 10 >/dev/null
ok $? "so does the slave"
run_client --key-file "$T/client.key" -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/after-reload" "both still serve"
kill -0 "$MASTER_PID" && kill -0 "$s1pid"
ok $? "both still running"
stop_all

# The other order: a master with (new, old) starts with the new key; a
# slave with the old key alone cannot open it, nor can one with a third key.
key_file "$T/old.key" "$OLD"
key_file "$T/third.key" "$THIRD"
key_file "$T/master.key" "$NEW" "$OLD"
start_slave sold -j 1 --key-file "$T/old.key"
echo "127.0.0.1 $SLAVE_PORT" >"$T/wrong.conf"
start_slave sthird -j 1 --key-file "$T/third.key"
echo "127.0.0.1 $SLAVE_PORT" >>"$T/wrong.conf"
start_master mwrong "$T/wrong.conf" --key-file "$T/master.key"
for s in sold sthird; do
    wait_for_line "$T/$s.log" 'dropped a PING from 127\.0\.0\.1:[0-9]+: bad MAC \(wrong key\?\)' 10 >/dev/null
    ok $? "slave $s refuses the master's PINGs: bad MAC (wrong key?)"
done
for _ in $(seq 1 100); do [ "$(grep -c 'has not answered yet: .*not the same key' "$T/mwrong.log")" -ge 2 ] && break; sleep 0.1; done
is "$(grep -c 'has not answered yet: .*not the same key' "$T/mwrong.log")" 2 "the master names both slaves: not the same key?"
check "neither ever comes up" bash -c "! grep -q 'is up with' '$T/mwrong.log'"
stop_all
done_testing
