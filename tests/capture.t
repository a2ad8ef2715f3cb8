#!/usr/bin/env bash
# What an eavesdropper sees of a keyed run (issue 13, doc/security.md 1.2):
# a capture of loopback (tcpdump, in a network namespace of the test's own)
# holds neither a command's text nor its output, on TCP or on UDP. The same
# run without a key is captured first: there both are in clear, which shows
# that the capture does record the traffic.
PRIVATE_NETNS=1 # a loopback of our own: only this test's packets are captured
. "$(dirname "$0")/lib.sh"

command -v tcpdump >/dev/null || skip_all "needs tcpdump (apt-get install tcpdump)"

# in_capture NAME TEXT: the capture holds TEXT's bytes somewhere
in_capture() { grep -aqF -- "$2" "$T/$1.pcap"; }
not_in_capture() { ! in_capture "$@"; }

newkey() { (umask 077; random_key >"$1"); }
newkey "$T/key"
SECRET_OUT=out-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
SECRET_CMD=cmd-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
# the output secret is built by the shell, so that the command's text does
# not hold it: each secret can only be in the capture by its own path
half1=${SECRET_OUT:0:12} half2=${SECRET_OUT:12}
{
    echo "printf 'password=%s%s\\n' $half1 $half2; : $SECRET_CMD"
    echo "printf '%s%s\\n' $half1 $half2 >&2"
    echo "head -c 300000 /dev/zero | tr '\\0' Q"
} >"$T/cmds.txt"
QRUN=QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ # 32 of the 300,000 Qs in a row

# run_capture NAME [key options]: a cluster of 2 slaves, its run of
# cmds.txt captured
run_capture() {
    local name=$1 i
    shift
    capture_start "$name"
    : >"$T/$name.conf"
    for i in 1 2; do
        start_slave "$name-s$i" -j 2 "$@"
        echo "127.0.0.1 $SLAVE_PORT" >>"$T/$name.conf"
    done
    start_master "$name-m" "$T/$name.conf" --ephemeral "$@"
    wait_slaves_up "$name-m" 2 || bail "$name: slaves not up: $(cat "$T/$name-m.log")"
    run_client -k "$@" "$T/cmds.txt"
    capture_stop
}

run_capture plain
is "$RC/$(head -1 "$T/out")" "0/password=$SECRET_OUT" "without a key: the run works"
check "without a key, the capture holds the output (the capture works)" in_capture plain "password=$SECRET_OUT"
check "... and the command's text" in_capture plain "$SECRET_CMD"
check "... and the 300,000-byte output" in_capture plain "$QRUN"

run_capture keyed --key-file "$T/key"
is "$RC/$(head -1 "$T/out")" "0/password=$SECRET_OUT" "with a key: the run works"
is "$(grep -c "$SECRET_OUT" "$T/err")" 1 "its stderr too"
is "$(tail -1 "$T/out" | wc -c)" 300000 "and the 300,000 bytes"
size=$(wc -c <"$T/keyed.pcap")
check "tcpdump lost nothing" grep -q '^0 packets dropped by kernel' "$T/keyed.tcpdump"
check "the keyed run was captured ($size bytes, at least 600,000: the output went through twice)" test "$size" -ge 600000
check "with a key, the capture does not hold the output's secret" not_in_capture keyed "$SECRET_OUT"
check "... nor its halves (each is in the command's text)" not_in_capture keyed "$half2"
check "... nor the command's text" not_in_capture keyed "$SECRET_CMD"
check "... nor any piece of the commands: 'printf', '/dev/zero'" not_in_capture keyed printf
check "... (/dev/zero)" not_in_capture keyed /dev/zero
check "... nor a run of the 300,000 Qs" not_in_capture keyed "$QRUN"

# The batch paths, keyed: --detach, --batches, --status, --attach. The
# batch id (as text and as its 8 bytes), the slaves' names and the
# commands stay out of the capture; the same paths without a key show them.
batch_paths() {
    local name=$1 i
    shift
    capture_start "$name"
    : >"$T/$name.conf"
    start_slave "$name-s1" -j 2 "$@"
    echo "127.0.0.1 $SLAVE_PORT" >>"$T/$name.conf"
    start_master "$name-m" "$T/$name.conf" --state-dir "$T/$name-state" "$@"
    wait_slaves_up "$name-m" 1 || bail "$name: slave not up: $(cat "$T/$name-m.log")"
    run_client "$@" --detach "$T/cmds.txt"
    BATCH=$(head -1 "$T/out")
    run_client "$@" --batches
    cp "$T/out" "$T/$name.batches"
    run_client "$@" --status
    cp "$T/out" "$T/$name.status"
    run_client "$@" --attach "$BATCH"
    cp "$T/out" "$T/$name.attach"
    capture_stop
    printf '%s' "$BATCH" | sed 's/../\\x&/g' | xargs -0 printf >"$T/$name.batch.bin"
}
bin_in_capture() { python3 -c 'import sys; sys.exit(open(sys.argv[2], "rb").read() not in open(sys.argv[1], "rb").read())' "$T/$1.pcap" "$T/$1.batch.bin"; }
not_bin_in_capture() { ! bin_in_capture "$@"; }
batch_paths bplain
check "without a key: the batch id's 8 bytes in clear ($BATCH)" bin_in_capture bplain
check "... and the slave's name (--status)" in_capture bplain "127.0.0.1:$SLAVE_PORT"
batch_paths bkeyed --key-file "$T/key"
check "with a key: --batches lists the batch" grep -q "$BATCH" "$T/bkeyed.batches"
check "--status names the slave" grep -q "127.0.0.1:$SLAVE_PORT" "$T/bkeyed.status"
check "--attach gives the output" grep -q "password=$SECRET_OUT" "$T/bkeyed.attach"
check "the capture does not hold the batch id ($BATCH)" not_in_capture bkeyed "$BATCH"
check "... nor its 8 bytes" not_bin_in_capture bkeyed
check "... nor the slave's name" not_in_capture bkeyed "127.0.0.1:$SLAVE_PORT"
check "... nor the output or the commands" bash -c "! grep -aqF -e '$SECRET_OUT' -e '$SECRET_CMD' -e printf '$T/bkeyed.pcap'"

done_testing
