#!/usr/bin/env bash
# reload_restart.t - a slave taken out of slaves.conf (SIGHUP), the master
# killed and restarted without it, then the slave listed again (SIGHUP):
# its job ids go on from where the journal left them, so its PONG (the
# highest id it took from this master) is not read as a journal that lost
# records; the batch queued across the restart runs to its end, each
# command once. (Found by the soak: seed 685813560, round 5.)
. "$(dirname "$0")/lib.sh"
start_slave a -j 1
A=$SLAVE_PORT
start_slave b -j 1
B=$SLAVE_PORT
printf '127.0.0.1 %s\n127.0.0.1 %s\n' "$A" "$B" >"$T/slaves.conf"
start_master m1 "$T/slaves.conf" --state-dir "$T/st"
wait_slaves_up m1 2 || bail "slaves not up"
PORT=$MASTER_PORT
mkdir -p "$T/markers"
for n in $(seq 1 12); do echo "sleep 0.3; echo x >> $T/markers/$n; echo out-$n"; done >"$T/cmds"
"$(prog client)" -k --joblog "$T/joblog" 127.0.0.1 "$PORT" "$T/cmds" >"$T/c.out" 2>"$T/c.err" &
C=$!
PIDS+=("$C")
for _ in $(seq 1 100); do [ "$(tail -n +2 "$T/joblog" 2>/dev/null | cut -f2 | sort -u | wc -l)" -ge 2 ] && break; sleep 0.05; done
check "both slaves ran commands" test "$(tail -n +2 "$T/joblog" | cut -f2 | sort -u | wc -l)" -ge 2
printf '127.0.0.1 %s\n' "$A" >"$T/slaves.conf"
kill -HUP "$MASTER_PID"
wait_for_line "$T/m1.log" "127.0.0.1:$B no longer listed" 10 >/dev/null
kill -9 "$MASTER_PID"
wait "$MASTER_PID" 2>/dev/null
MASTER_ON_PORT=$PORT start_master m2 "$T/slaves.conf" --state-dir "$T/st"
wait_slaves_up m2 1 || bail "slave a not up for m2"
printf '127.0.0.1 %s\n127.0.0.1 %s\n' "$A" "$B" >"$T/slaves.conf"
kill -HUP "$MASTER_PID"
check "slave b is listed again" wait_for_line "$T/m2.log" "127.0.0.1:$B is up" 10
RC=0
wait "$C" || RC=$?
is "$RC" 0 "the same client process ends with exit 0"
is "$(grep -c '^out-' "$T/c.out")" 12 "every result"
check "no 'journal lost records' for the slave listed again" bash -c "! grep -q 'journal lost records' '$T/m2.log'"
twice=0 missing=0
for n in $(seq 1 12); do
    if [ ! -f "$T/markers/$n" ]; then missing=$((missing + 1)); elif [ "$(wc -l <"$T/markers/$n")" != 1 ]; then twice=$((twice + 1)); fi
done
is "$missing" 0 "every command ran"
check "none twice unless its result says so ($twice)" test "$twice" -le "$(grep -c 'may have run twice' "$T/m2.log")"
done_testing
