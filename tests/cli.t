#!/usr/bin/env bash
# The command line: help, version, usage errors, exit statuses for errors,
# slot counts, and what the client says when no slave answers.
. "$(dirname "$0")/lib.sh"

for prog in client serveur_maitre serveur_esclave; do
    out=$("$BIN/$prog" --help 2>&1); rc=$?
    is "$rc" 0 "$prog --help exits 0"
    for opt in --help --version --verbose --quiet; do
        case "$out" in *"$opt"*) ;; *) ok 1 "$prog --help mentions $opt"; continue ;; esac
    done
    check "$prog -h shows usage" sh -c "'$BIN/$prog' -h | grep -q '^Usage: $prog'"
    check "$prog -V prints the version" sh -c "'$BIN/$prog' -V | grep -qE '^$prog [0-9]+\.[0-9]+\.[0-9]+$'"
done
check "slave --help gives the slots default" sh -c "'$BIN/serveur_esclave' --help | grep -q 'default: number of CPUs, here $(nproc)'"
check "master --help gives the port default" sh -c "'$BIN/serveur_maitre' --help | grep -q 'default 6000'"

rc=0; "$BIN/serveur_esclave" --slots zero 0 >"$T/e1" 2>&1 || rc=$?
is "$rc" 2 "slave: bad --slots value is a usage error, exit 2"
check "and the message names the option" grep -q "\-\-slots: 'zero' is not a number" "$T/e1"
rc=0; "$BIN/serveur_esclave" >"$T/e2" 2>&1 || rc=$?
is "$rc" 2 "slave without a port: usage error, exit 2"
rc=0; "$BIN/serveur_maitre" --bogus x.conf >"$T/e3" 2>&1 || rc=$?
is "$rc" 2 "master with an unknown option: exit 2"
rc=0; "$BIN/client" 127.0.0.1 notaport f >"$T/e4" 2>&1 || rc=$?
is "$rc" 255 "client with a bad port: exit 255"
rc=0; "$BIN/client" --timeout -3 f >"$T/e5" 2>&1 || rc=$?
is "$rc" 255 "client with a bad --timeout: exit 255"
check "and the message names the option" grep -q "\-\-timeout: '-3'" "$T/e5"

# Default slots = CPUs; slaves.conf can lower what the master uses.
start_slave sdef
check "slave default slots = number of CPUs" grep -q "with $(nproc) slots" "$T/sdef.log"
start_slave swide -j 4
echo "127.0.0.1 $SLAVE_PORT 1" >"$T/one-slot.conf"
start_master m1 "$T/one-slot.conf"
wait_slaves_up m1 1 || bail "slave not up"
for i in 1 2 3 4; do echo "echo start >>$T/conc.log; sleep 0.2; echo end >>$T/conc.log"; done >"$T/conc.txt"
rc=0; timeout 60 "$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/conc.txt" >/dev/null 2>&1 || rc=$?
max=$(awk '/start/ {n++; if (n > m) m = n} /end/ {n--} END {print m}' "$T/conc.log")
is "$rc/$max" "0/1" "slots column 1: one command at a time on a 4-slot slave"
: >"$T/conc.log"
echo "127.0.0.1 $SLAVE_PORT" >"$T/all-slots.conf"
start_master m2 "$T/all-slots.conf"
wait_slaves_up m2 1 || bail "slave not up"
for i in 1 2 3 4 5 6 7 8; do echo "echo start >>$T/conc.log; sleep 0.3; echo end >>$T/conc.log"; done >"$T/conc.txt"
rc=0; timeout 60 "$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/conc.txt" >/dev/null 2>&1 || rc=$?
max=$(awk '/start/ {n++; if (n > m) m = n} /end/ {n--} END {print m}' "$T/conc.log")
is "$rc/$max" "0/4" "no slots column: the slave's 4 slots are all used"

# The slave's own --timeout applies when the client gives none.
start_slave stimeout -t 1
echo "127.0.0.1 $SLAVE_PORT" >"$T/timeout.conf"
start_master mt "$T/timeout.conf"
wait_slaves_up mt 1 || bail "slave not up"
printf 'sleep 30\necho fast\n' >"$T/slow.txt"
start=$(date +%s)
rc=0; timeout 60 "$BIN/client" 127.0.0.1 "$MASTER_PORT" "$T/slow.txt" --joblog "$T/jt" >"$T/tout" 2>&1 || rc=$?
is "$rc/$(awk -F'\t' '$1==1 {print $7 "/" $8}' "$T/jt")" "1/-1/15" "serveur_esclave -t 1 ends a long command (TERM: Exitval -1, Signal 15)"
check "within a few seconds ($(( $(date +%s) - start )) s)" test $(( $(date +%s) - start )) -le 5
check "and says it timed out, by the slave's cap" grep -q "code retour = -1 (timed out: killed after 1 s: the slave's --timeout cap)" "$T/tout"

# No slave answering: the client is told why it waits, then the commands fail.
python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' >"$T/deadport"
echo "127.0.0.1 $(cat "$T/deadport")" >"$T/dead.conf"
start_master m3 "$T/dead.conf" --no-slave-timeout 1
printf 'echo never\necho never-either\n' >"$T/wait.txt"
rc=0; timeout 30 "$BIN/client" 127.0.0.1 "$MASTER_PORT" "$T/wait.txt" >"$T/wout" 2>"$T/werr" || rc=$?
is "$rc" 2 "no slave: both commands fail (exit 2), none dropped silently"
check "the client shows why it waits" grep -q 'master: waiting: no slave available (0 of 1 answering); giving up after 1 s' "$T/werr"
check "each command says no slave available" test "$(grep -c 'no result: no slave available' "$T/werr")" = 2

# The master is not there: 255 within the 10 s connect limit, cause named.
start=$(date +%s)
rc=0; timeout 30 "$BIN/client" 127.0.0.1 "$(cat "$T/deadport")" "$T/wait.txt" >/dev/null 2>"$T/cerr" || rc=$?
took=$(( $(date +%s) - start ))
is "$rc" 255 "master unreachable: exit 255"
check "after about 10 s (took ${took} s)" test "$took" -ge 9 -a "$took" -le 13
check "the message names the address and cause" grep -q "cannot reach the master at 127.0.0.1:$(cat "$T/deadport") within 10 s: Connection refused" "$T/cerr"

# Where results go is checked before any command is sent: a bad --results
# or --joblog is exit 255 at once, naming the path, and nothing runs.
start_slave sout -j 2
echo "127.0.0.1 $SLAVE_PORT" >"$T/out.conf"
start_master m4 "$T/out.conf"
wait_slaves_up m4 1 || bail "slave not up"
echo "touch $T/ran" >"$T/touch.txt"
touch "$T/plainfile"
for bad in "--results $T/plainfile|cannot use '$T/plainfile' as the results directory: it exists and is not a directory" \
           "--results /proc/1|cannot write in the results directory '/proc/1': " \
           "--results $T/plainfile/sub|cannot create the results directory '$T/plainfile/sub': Not a directory" \
           "--joblog /dev/full|cannot write the joblog '/dev/full': No space left on device"; do
    opt=${bad%%|*} msg=${bad#*|}
    rm -f "$T/ran"
    rc=0; timeout 30 "$BIN/client" $opt 127.0.0.1 "$MASTER_PORT" "$T/touch.txt" >/dev/null 2>"$T/oerr" || rc=$?
    is "$rc/$(test -e "$T/ran" && echo ran)" "255/" "client $opt: exit 255 before running anything"
    check "and says: $msg" grep -qF "client: $msg" "$T/oerr"
done

# A joblog that fails mid-run (file size limit) is named, with the cause,
# when it fails; the client still exits 255 at the end.
for i in $(seq 1 40); do echo "echo $i  # $(head -c 80 /dev/zero | tr '\0' x)"; done >"$T/forty.txt"
rc=0; bash -c 'trap "" XFSZ; ulimit -f 1; exec "$@"' sh timeout 60 "$BIN/client" -q --joblog "$T/jfull" \
    127.0.0.1 "$MASTER_PORT" "$T/forty.txt" >/dev/null 2>"$T/jerr" || rc=$? # stderr: 2 lines, under the limit
is "$rc" 255 "a joblog that cannot be written mid-run: exit 255"
is "$(grep -c "client: cannot write the joblog '$T/jfull': File too large" "$T/jerr")" 1 "the failure is said once, naming the file and the cause"
check "and the last word points at it" grep -q 'the joblog or the results directory is incomplete (the failed writes are named above)' "$T/jerr"

# A rate-limited log says what it suppressed.
python3 - "$MASTER_PORT" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(20):
    s.sendto(b"junk", ("127.0.0.1", int(sys.argv[1])))
time.sleep(1.2)
s.sendto(b"junk", ("127.0.0.1", int(sys.argv[1])))
PY
wait_for_line "$T/m4.log" 'more messages like this one were suppressed' 5 >/dev/null
check "the master says which message it suppressed" \
    grep -qE 'warning: [0-9]+ more messages like this one were suppressed: dropped a 4-byte datagram from 127\.0\.0\.1:[0-9]+: not a known slave$' "$T/m4.log"


# The daemons' key is -K (or --key-file): -k, once theirs too, is the
# client's --keep-order, and the daemons refuse it naming the new spelling.
(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/key")
for prog in serveur_maitre serveur_esclave; do
    case $prog in serveur_maitre) args=(0 "$T/one-slot.conf") ;; *) args=(0) ;; esac
    for k in "-k $T/key" "-k$T/key" "-vk"; do
        rc=0; timeout 10 "$BIN/$prog" $k "${args[@]}" >"$T/kgone" 2>&1 || rc=$?
        is "$rc/$(cat "$T/kgone")" "2/$prog: -k is gone: use -K FILE or --key-file FILE" "$prog $k: exit 2, one line naming -K and --key-file"
    done
    check "$prog --help gives -K, --key-file" sh -c "'$BIN/$prog' --help | grep -q -- '-K, --key-file FILE'"
    check "$prog --help offers no -k" sh -c "! '$BIN/$prog' --help | grep -q -- '-k,'"
done
start_slave skey -j 1 -K "$T/key"
check "slave -K FILE: keyed" grep -q 'authenticated)' "$T/skey.log"
echo "127.0.0.1 $SLAVE_PORT" >"$T/key.conf"
start_master mkey "$T/key.conf" -K "$T/key"
wait_slaves_up mkey 1 || bail "keyed slave not up: $(cat "$T/mkey.log")"
echo 'echo keyed-ok' >"$T/key.txt"
rc=0; timeout 60 "$BIN/client" -q --key-file "$T/key" 127.0.0.1 "$MASTER_PORT" "$T/key.txt" >"$T/kout" 2>&1 || rc=$?
is "$rc/$(cat "$T/kout")" "0/keyed-ok" "master and slave keyed with -K: a keyed client runs"
rc=0; timeout 60 "$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/key.txt" >"$T/kout" 2>&1 || rc=$?
check "and the master's -K is a real key: a client without it is refused ($rc)" grep -q 'authentication required' "$T/kout"

done_testing
