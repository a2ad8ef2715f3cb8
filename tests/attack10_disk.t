#!/usr/bin/env bash
# attack10_disk.t - the master's journal on a full filesystem (a tmpfs in a
# mount namespace of the test's own), as an attacker of issue 10 sees it:
# while the journal cannot be written, the master must wait, not spin.
if [ -z "${SMP_IN_MOUNTNS:-}" ]; then
    if unshare -m --propagation private true 2>/dev/null; then
        SMP_IN_MOUNTNS=1 exec unshare -m --propagation private -- bash "$0" "$@"
    fi
    echo "1..0 # SKIP attack10_disk.t needs a private mount namespace and tmpfs: run as root (util-linux unshare)"
    exit 0
fi
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/small"
mount -t tmpfs -o size=4m tmpfs "$T/small" || skip_all "cannot mount a tmpfs (needs root)"
trap 'stop_all; umount "$T/small" 2>/dev/null; cleanup' EXIT
# cpu_ticks PID: user + system clock ticks the process used so far
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start_slave s1
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
start_master master "$T/slaves.conf" --state-dir "$T/small/state"
wait_slaves_up master 1 || bail "slave not up"

# 1. A durable client connected, results waiting for a journal that
# cannot be written: they wait in its output buffer; the master must
# not poll that socket for output meanwhile (it is writable: poll would
# return at once, every turn, for ever).
dd if=/dev/zero of="$T/small/filler" bs=1k count=$(( $(df -k --output=avail "$T/small" | tail -1) - 300 )) 2>/dev/null
mkdir -p "$T/markers"
for n in $(seq 1 12); do
    echo "echo x >> $T/markers/$n; head -c 100000 /dev/zero | tr '\\0' '$((n % 10))'"
done >"$T/big.txt"
"$BIN/client" -q --results "$T/res" 127.0.0.1 "$MASTER_PORT" "$T/big.txt" >"$T/big.out" 2>"$T/big.err" &
cpid=$!
PIDS+=("$cpid")
wait_for_line "$T/master.log" 'cannot write \(No space left on device\)' 20 >/dev/null
ok $? "the journal cannot be written (No space left on device)"
sleep 1 # (the commands finish; their results wait)
a=$(cpu_ticks "$MASTER_PID")
sleep 4
b=$(cpu_ticks "$MASTER_PID")
# an idle master retrying every 200 ms uses a few ticks; a spinning one 400
check "the master does not spin while its journal fails ($((b - a)) ticks of CPU in 4 s)" test $((b - a)) -lt 60
check "the client still waits" kill -0 "$cpid"
rm -f "$T/small/filler"
rc=0
wait "$cpid" || rc=$?
is "$rc" 0 "space freed: the batch ends, exit 0"
bad=0
for n in $(seq 1 12); do
    [ "$(wc -c <"$T/res/$n/stdout" 2>/dev/null)" = 100000 ] && [ "$(wc -l <"$T/markers/$n")" = 1 ] || bad=$((bad + 1))
done
is "$bad" 0 "every result whole, every command run once"
done_testing
