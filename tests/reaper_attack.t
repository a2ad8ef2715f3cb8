#!/usr/bin/env bash
# Attacks on the slave as its commands' subreaper (no cgroup: a mount
# namespace of the slave's own where cgroup v2 is read-only, if the machine
# has one). What the slave reaps and sweeps must be only what ended
# commands left: never a process of a command still running, though its
# parent (a session leader of that command) has ended or is a zombie.
. "$(dirname "$0")/lib.sh"

alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$s" ] && [ "${s#Z}" = "$s" ]; }
# gone SECONDS PID: PID is dead (or a zombie) within SECONDS
gone() {
    local end=$(( $(date +%s%N) + $1 * 1000000000 ))
    while [ "$(date +%s%N)" -lt "$end" ]; do alive "$2" || return 0; sleep 0.05; done
    return 1
}

cat >"$T/nocg" <<'SH'
#!/bin/sh
for m in $(awk '/ - cgroup2 / {print $5}' /proc/self/mountinfo); do mount -o remount,bind,ro "$m" || exit 99; done
exec "$@"
SH
chmod +x "$T/nocg"
prefix=
if grep -q ' - cgroup2 ' /proc/self/mountinfo; then
    if ! unshare -m "$T/nocg" true 2>/dev/null; then
        echo "1..0 # SKIP cannot make a mount namespace where cgroup v2 is read-only (run as root, util-linux unshare)"
        exit 0
    fi
    prefix="unshare -m $T/nocg "
fi
SMP_PREFIX="$prefix$SMP_PREFIX" start_slave r -j 4
R=$SLAVE_PID
echo "127.0.0.1 $SLAVE_PORT" >"$T/r.conf"
start_master m "$T/r.conf"
wait_slaves_up m 1 || bail "slave not up"
grep -q 'what a command leaves is found by its SMP_JOB' "$T/r.log" || bail "the slave is not its commands' subreaper: $(grep -m1 'cgroup' "$T/r.log")"

# 1. A running command's daemon: a session leader (the slave's child once
# its parent has gone) that starts a worker in its group and exits. Its
# exit must not take the worker while the command runs; the command's end
# does.
cat >"$T/daemon.txt" <<EOF2
( setsid sh -c 'sleep 30 & echo \$! > $T/worker; exec sleep 0.5' >/dev/null 2>&1 & ); until [ -s $T/worker ]; do sleep 0.01; done; w=\$(cat $T/worker); sleep 2.5; kill -0 \$w && echo worker-alive > $T/seen; until [ -e $T/go ]; do sleep 0.05; done
EOF2
"$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/daemon.txt" >"$T/daemon.out" 2>&1 &
dc=$!
PIDS+=("$dc")
wait_for_line "$T/worker" . 10 >/dev/null
worker=$(cat "$T/worker")
PIDS+=("$worker")
wait_for_line "$T/seen" worker- 20 >/dev/null
check "1: the worker of a running command's daemon outlives the daemon's exit (the slave reaped it)" alive "$worker"
touch "$T/go"
wait "$dc"
is "$?" 0 "1: the command ends"
check "1: it saw its worker alive 2.5 s after the daemon's exit" grep -qx worker-alive "$T/seen"
check "1: then the worker is killed" gone 5 "$worker"

done_testing
