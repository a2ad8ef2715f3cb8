#!/usr/bin/env bash
# attack12_disk.t - a full disk under the early output and the SIGTERM
# pause (tests/attack12.t's other half; the tmpfs approach of
# tests/diskfull.t): results reach the client before the flush that then
# fails; the master is stopped (SIGTERM) while its journal cannot be
# written, restarted once there is room: the same client process ends
# with exit 0, every output once and byte-exact, every command run once.
if [ -z "${SMP_IN_MOUNTNS:-}" ]; then
    if unshare -m --propagation private true 2>/dev/null; then
        SMP_IN_MOUNTNS=1 exec unshare -m --propagation private -- bash "$0" "$@"
    fi
    echo "1..0 # SKIP attack12_disk.t needs a private mount namespace and tmpfs: run as root (util-linux unshare)"
    exit 0
fi
. "$(dirname "$0")/lib.sh"
mkdir -p "$T/small"
mount -t tmpfs -o size=4m tmpfs "$T/small" || skip_all "cannot mount a tmpfs (needs root)"
trap 'stop_all; umount "$T/small" 2>/dev/null; cleanup' EXIT

start_slave s1 -j 2
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
start_master m1 "$T/slaves.conf" --state-dir "$T/small/state" --client-grace 60
wait_slaves_up m1 1 || bail "slave not up"
PORT=$MASTER_PORT
dd if=/dev/zero of="$T/small/filler" bs=1k count=$(( $(df -k --output=avail "$T/small" | tail -1) - 300 )) 2>/dev/null
mkdir -p "$T/markers"
for n in $(seq 1 8); do
    echo "echo x >> $T/markers/$n; head -c 100000 /dev/zero | tr '\\0' '$((n % 10))'"
done >"$T/big.txt"
"$(prog client)" -q --reconnect 60 --results "$T/res" 127.0.0.1 "$PORT" "$T/big.txt" >"$T/big.out" 2>"$T/big.err" &
C=$!
PIDS+=("$C")
check "the journal fills up" wait_for_line "$T/m1.log" 'cannot write \(No space left on device\)' 20
sleep 1
# 1. SIGTERM while the journal fails: it stops (within its grace)
t0=$(date +%s)
stop_pid "$MASTER_PID"
is "$STOP_RC" 0 "SIGTERM while the journal fails: the master stops, exit 0"
check "within 15 s ($(($(date +%s) - t0)) s)" test $(($(date +%s) - t0)) -lt 15
check "the client waits to reconnect" kill -0 "$C"
rm -f "$T/small/filler"
MASTER_ON_PORT=$PORT start_master m2 "$T/slaves.conf" --state-dir "$T/small/state" --client-grace 60
RC=0
wait "$C" || RC=$?
is "$RC" 0 "restarted with room: the same client ends with exit 0"
bad=0; twice=0
for n in $(seq 1 8); do
    [ "$(cat "$T/res/$n/stdout" 2>/dev/null | tr -d "$((n % 10))" | wc -c)" = 0 ] && [ "$(wc -c <"$T/res/$n/stdout" 2>/dev/null)" = 100000 ] || bad=$((bad + 1))
    [ "$(wc -l <"$T/markers/$n" 2>/dev/null)" = 1 ] || twice=$((twice + 1))
done
is "$bad" 0 "every result byte-exact (100000 bytes each)"
is "$twice" 0 "every command ran once"
stop_pid "$MASTER_PID"

# 2. The same with kill -9 while the journal fails.
dd if=/dev/zero of="$T/small/filler" bs=1k count=$(( $(df -k --output=avail "$T/small" | tail -1) - 300 )) 2>/dev/null
mkdir -p "$T/markers2"
for n in $(seq 1 8); do
    echo "echo x >> $T/markers2/$n; head -c 100000 /dev/zero | tr '\\0' '$((n % 10))'"
done >"$T/big2.txt"
MASTER_ON_PORT=$PORT start_master m3 "$T/slaves.conf" --state-dir "$T/small/state" --client-grace 60
wait_slaves_up m3 1 || bail "slave not up"
"$(prog client)" -q --reconnect 60 --results "$T/res2" 127.0.0.1 "$PORT" "$T/big2.txt" >"$T/big2.out" 2>"$T/big2.err" &
C=$!
PIDS+=("$C")
check "kill -9: the journal fills up" wait_for_line "$T/m3.log" 'cannot write \(No space left on device\)' 20
sleep 2
kill -9 "$MASTER_PID"
wait "$MASTER_PID" 2>/dev/null
rm -f "$T/small/filler"
MASTER_ON_PORT=$PORT start_master m4 "$T/slaves.conf" --state-dir "$T/small/state" --client-grace 60
RC=0
wait "$C" || RC=$?
is "$RC" 0 "kill -9 while the journal fails, restarted with room: the same client ends with exit 0"
bad=0; twice=0
for n in $(seq 1 8); do
    [ "$(cat "$T/res2/$n/stdout" 2>/dev/null | tr -d "$((n % 10))" | wc -c)" = 0 ] && [ "$(wc -c <"$T/res2/$n/stdout" 2>/dev/null)" = 100000 ] || bad=$((bad + 1))
    [ "$(wc -l <"$T/markers2/$n" 2>/dev/null)" = 1 ] || twice=$((twice + 1))
done
is "$bad" 0 "kill -9: every result byte-exact (100000 bytes each)"
is "$twice" 0 "kill -9: every command ran once"
done_testing
