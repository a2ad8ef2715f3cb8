#!/usr/bin/env bash
# keyfile.t - a careless user's key file (issue 13): a FIFO given as the
# key file is refused at once by all three programs (it used to hang them
# in open(2) for ever, before any message), and a SIGHUP while the key
# file is a FIFO, a directory, three lines, empty or mode 644 is logged
# with the file's name while the keys in use are kept and both daemons keep
# serving; a key file with CRLF line ends is the same key as with LF.
. "$(dirname "$0")/lib.sh"

KEY=$(random_key)

# A FIFO as the key file: each program names it and exits, without waiting
# for a writer.
mkfifo -m 600 "$T/fifo.key"
echo "127.0.0.1 9" >"$T/none.conf"
for p in serveur_esclave serveur_maitre client; do
    case $p in
    serveur_esclave) args=(--key-file "$T/fifo.key" 0) ;;
    serveur_maitre) args=(--key-file "$T/fifo.key" 0 "$T/none.conf") ;;
    client) args=(--key-file "$T/fifo.key" 127.0.0.1 9 /dev/null) ;;
    esac
    rc=0
    timeout 10 $WRAP $PROG_RUNNER "$(prog $p)" "${args[@]}" >"$T/$p.fifo.out" 2>&1 </dev/null || rc=$?
    check "$p: a FIFO as key file is refused at once (rc $rc, not 124: no hang)" test "$rc" -ne 0 -a "$rc" -ne 124
    check "$p: the message names the file: not a regular file" grep -q "key file '$T/fifo.key' is not a regular file" "$T/$p.fifo.out"
done

# A running pair; the client's key file has CRLF line ends: the same key.
key_file "$T/master.key" "$KEY"
key_file "$T/slave.key" "$KEY"
(umask 077; printf '%s\r\n' "$KEY" >"$T/client.key")
start_slave s1 -j 2 --key-file "$T/slave.key"
spid=$SLAVE_PID
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
start_master master "$T/slaves.conf" --key-file "$T/master.key"
wait_slaves_up master 1 || bail "slave not up: $(cat "$T/master.log")"
printf 'echo served\n' >"$T/one.txt"
run_client --key-file "$T/client.key" -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/served" "a client whose key file has CRLF line ends is served"

# SIGHUP with a bad key file each time: named in the log, keys kept, both serve.
n=0
hup() { # hup WHAT REGEX: both daemons reload a bad file, say so, and serve
    local what=$1 re=$2
    n=$((n + 1))
    kill -HUP "$MASTER_PID" "$spid"

    for _ in $(seq 1 100); do
        [ "$(grep -c 'SIGHUP: .*keeping the keys in use' "$T/master.log")" -ge "$n" ] &&
            [ "$(grep -c 'SIGHUP: .*keeping the keys in use' "$T/s1.log")" -ge "$n" ] && break
        sleep 0.1
    done
    is "$(grep 'SIGHUP: .*keeping the keys in use' "$T/master.log" | sed -n "${n}p" | grep -cE "$re")" 1 \
        "master, key file $what: the log says why, naming the file"
    is "$(grep 'SIGHUP: .*keeping the keys in use' "$T/s1.log" | sed -n "${n}p" | grep -cE "$re")" 1 \
        "slave, key file $what: the log says why, naming the file"
    run_client --key-file "$T/client.key" -q "$T/one.txt"
    is "$RC/$(cat "$T/out")" "0/served" "key file $what: both still serve with the keys in use"

}
for f in master.key slave.key; do rm -f "$T/$f"; mkfifo -m 600 "$T/$f"; done
hup "a FIFO" "key file '$T/(master|slave).key' is not a regular file"
for f in master.key slave.key; do rm -f "$T/$f"; mkdir -m 700 "$T/$f"; done
hup "a directory" "key file '$T/(master|slave).key' is not a regular file"
for f in master.key slave.key; do key_file "$T/$f" "$KEY" "$(random_key)" "$(random_key)"; done
hup "of three lines" "key file '$T/(master|slave).key' holds more than 2 keys"
for f in master.key slave.key; do key_file "$T/$f" ""; done
hup "empty" "key file '$T/(master|slave).key' is empty"
for f in master.key slave.key; do key_file "$T/$f" "$KEY"; chmod 644 "$T/$f"; done
hup "of mode 644" "key file '$T/(master|slave).key' is accessible by group or others \(mode 644\)"
# A SIGHUP storm during a run, the key file good again: the run is exact.
for f in master.key slave.key; do key_file "$T/$f" "$KEY"; done
for i in $(seq 1 30); do echo "echo storm-$i; seq 1 $((i * 500))"; done >"$T/storm.txt"
sh "$T/storm.txt" | sort >"$T/storm.expected"
(for _ in $(seq 1 300); do kill -HUP "$MASTER_PID" "$spid" 2>/dev/null || break; done) &
storm=$!
run_client --key-file "$T/client.key" -q "$T/storm.txt"
wait "$storm"
is "$RC/$(sort "$T/out" | cmp - "$T/storm.expected" && echo same)" "0/same" "300 SIGHUPs to both during a run: every output exact"
run_client --key-file "$T/client.key" -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/served" "and both serve after it"
kill -0 "$MASTER_PID" && kill -0 "$spid"
ok $? "both still running"
stop_all

# A rotation in the wrong order (the master on the new key alone, before
# the slaves and clients have it): each refusal names the key file to fix.
OTHER=$(random_key)
key_file "$T/new.key" "$OTHER"
key_file "$T/old.key" "$KEY"
start_slave sold -j 1 --key-file "$T/old.key"
echo "127.0.0.1 $SLAVE_PORT" >"$T/wrong.conf"
start_master mnew "$T/wrong.conf" --key-file "$T/new.key"
start=$(date +%s)
run_client --key-file "$T/old.key" -q "$T/one.txt"
is "$RC" 255 "a client with the old key against a master with the new one: exit 255"
check "at once ($(($(date +%s) - start)) s)" test $(($(date +%s) - start)) -le 10
check "naming the client's key file" grep -q "authentication failed: wrong key (ours: the first line of key file '$T/old.key'" "$T/err"
wait_for_line "$T/mnew.log" 'has not answered yet' 10 >/dev/null
check "the master names its key file for the slave that cannot answer" \
    grep -q "has not answered yet: .*not the same key? (this master's: key file '$T/new.key')" "$T/mnew.log"
done_testing
