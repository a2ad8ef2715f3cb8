#!/usr/bin/env bash
# diskfull.t - the master's state dir on a full filesystem (a 4 MiB tmpfs
# in a mount namespace of the test's own): the master says so, holds the
# results it cannot journal (nothing is acknowledged that is not on disk),
# refuses new batches with a clear message, keeps serving the rest; once
# space is freed, the held batch ends with every result byte-exact and
# every command run once; and it does not spin meanwhile.
if [ -z "${SMP_IN_MOUNTNS:-}" ]; then
    if unshare -m --propagation private true 2>/dev/null; then
        SMP_IN_MOUNTNS=1 exec unshare -m --propagation private -- bash "$0" "$@"
    fi
    echo "1..0 # SKIP diskfull.t needs a private mount namespace and tmpfs: run as root (util-linux unshare)"
    exit 0
fi
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/small"
mount -t tmpfs -o size=4m tmpfs "$T/small" || skip_all "cannot mount a tmpfs (needs root)"
trap 'stop_all; umount "$T/small" 2>/dev/null; cleanup' EXIT

start_slave s1
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
start_master master "$T/slaves.conf" --state-dir "$T/small/state"
wait_slaves_up master 1 || bail "slave not up"

# Leave about 300 KiB free; the batch's results need about 1.2 MiB.
dd if=/dev/zero of="$T/small/filler" bs=1k count=$(( $(df -k --output=avail "$T/small" | tail -1) - 300 )) 2>/dev/null
mkdir -p "$T/markers"
for n in $(seq 1 12); do
    echo "echo x >> $T/markers/$n; head -c 100000 /dev/zero | tr '\\0' '$((n % 10))'"
done >"$T/big.txt"
"$BIN/client" -q --results "$T/res" 127.0.0.1 "$MASTER_PORT" "$T/big.txt" >"$T/big.out" 2>"$T/big.err" &
cpid=$!
PIDS+=("$cpid")
wait_for_line "$T/master.log" 'cannot write \(No space left on device\)' 20 >/dev/null
ok $? "the master says its journal cannot be written (No space left on device)"
wait_for_line "$T/master.log" 'new batches are refused' 1 >/dev/null
ok $? "and what it does about it"

echo "echo new" >"$T/new.txt"
run_client -q "$T/new.txt"
is "$RC" 255 "a new batch is refused: the client exits 255"
check "with a clear message" grep -q "cannot write its journal (No space left on device): it takes no new batches for now" "$T/err"

check "the first batch waits (its results are not all acknowledged)" kill -0 "$cpid"
# Its results wait in its output buffer: the master must not poll that
# (writable) socket meanwhile, or poll returns at once, every turn
# (tests/attack10.t's finding). A master retrying every 200 ms uses a few
# clock ticks in 4 s; a spinning one about 400.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
a=$(cpu_ticks "$MASTER_PID")
sleep 4
b=$(cpu_ticks "$MASTER_PID")
check "the master does not spin while its journal fails ($((b - a)) ticks of CPU in 4 s)" test $((b - a)) -lt 60
run_client -q --batches
is "$RC" 0 "the master keeps serving: client --batches works meanwhile"

rm -f "$T/small/filler"
rc=0
wait "$cpid" || rc=$?
is "$rc" 0 "space freed: the held batch ends, exit 0"
wait_for_line "$T/master.log" 'writing again' 5 >/dev/null
ok $? "the master says it writes again"
bad=0; twice=0
for n in $(seq 1 12); do
    [ "$(cat "$T/res/$n/stdout" 2>/dev/null | tr -d "$((n % 10))" | wc -c)" = 0 ] && [ "$(wc -c <"$T/res/$n/stdout")" = 100000 ] || bad=$((bad + 1))
    [ "$(wc -l <"$T/markers/$n" 2>/dev/null)" = 1 ] || twice=$((twice + 1))
done
is "$bad" 0 "every result byte-exact (100000 bytes each)"
is "$twice" 0 "every command ran once"
run_client -q "$T/new.txt"
is "$RC/$(cat "$T/out")" "0/new" "new batches are taken again"
done_testing
