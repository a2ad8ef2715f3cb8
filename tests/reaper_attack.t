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

# 2. The sweep reads each child's environment for its marker. A command
# that leaves 100 processes of its session with ~5.8 MB of environment
# each and no marker (they stay: their command runs), then makes sweeps
# happen (a stream of orphans that end): each sweep must not read 580 MB
# in the slave's loop. The slave's CPU over 4 s and an echo's time are
# measured.
cat >"$T/bigenv.py" <<'PY'
import os, resource, sys, time
k, d, secs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
resource.setrlimit(resource.RLIMIT_STACK, (32 << 20, resource.getrlimit(resource.RLIMIT_STACK)[1]))
env = {"V%02d" % i: "x" * 128000 for i in range(45)}   # exec takes 6 MB of strings at most
for i in range(k):
    if os.fork() == 0:
        if os.fork() == 0:
            os.execve("/bin/sleep", ["sleep", "60"], env)
        os._exit(0)
    os.wait()
open(d + "/bigenv.ready", "w").write("ready\n")
end = time.time() + secs
while time.time() < end:
    if os.fork() == 0:
        if os.fork() == 0:
            time.sleep(0.005)
            os._exit(0)
        os._exit(0)
    os.wait()
    time.sleep(0.01)
PY
if [ "$(ulimit -H -s)" != unlimited ] && [ "$(ulimit -H -s)" -lt 32768 ]; then
    echo "# SKIP 2: needs a hard RLIMIT_STACK of 32 MB or more (ulimit -H -s; as root: ulimit -H -s unlimited)"
else
    echo "python3 $T/bigenv.py 100 $T 12" >"$T/bigenv.txt"
    "$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/bigenv.txt" >"$T/bigenv.out" 2>&1 &
    bc=$!
    PIDS+=("$bc")
    wait_for_line "$T/bigenv.ready" ready 60 >/dev/null
    env_bytes=$(for p in $(ps --ppid "$R" -o pid=,comm= | awk '$2 == "sleep" {print $1}' | head -1); do wc -c <"/proc/$p/environ"; done)
    check "2: 100 processes of ${env_bytes:-0} bytes of environment are the slave's children" test "${env_bytes:-0}" -gt 5000000
    ticks() { awk '{print $14 + $15}' "/proc/$R/stat"; }
    c0=$(ticks) t0=$(date +%s%N) worst=0
    printf 'echo e\n' >"$T/e.txt"
    for _ in 1 2 3 4 5 6; do
        e0=$(date +%s%N)
        timeout 30 "$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/e.txt" >/dev/null 2>&1
        ms=$(( ($(date +%s%N) - e0) / 1000000 ))
        [ "$ms" -gt "$worst" ] && worst=$ms
        sleep 0.5
    done
    cpu_ms=$(( ($(ticks) - c0) * 1000 / $(getconf CLK_TCK) )) wall_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "# slave CPU ${cpu_ms} ms in ${wall_ms} ms; the slowest of 6 echoes ${worst} ms"
    check "2: the slave's CPU stays under a third of the time (${cpu_ms} ms in ${wall_ms} ms)" test $((cpu_ms * 3)) -lt "$wall_ms"
    check "2: an echo answers within 1 s (slowest ${worst} ms)" test "$worst" -lt 1000
    kill "$bc" 2>/dev/null
fi

# 5. 100 such daemons of a running command end at once (their reaps and
# the sweeps they call for interleave; a sweep may meet one as a zombie,
# whose environment reads empty): none of their workers may go while the
# command runs.
cat >"$T/daemons.sh" <<'SH'
#!/bin/sh
# daemons.sh DIR: 100 session leaders, each with a worker in its group,
# that all exit when DIR/go appears; the command waits for DIR/end
for i in $(seq 1 100); do
    ( setsid sh -c "sleep 60 & echo \$! >> $1/workers; while [ ! -e $1/go ]; do sleep 0.02; done" >/dev/null 2>&1 & )
done
until [ "$(wc -l < $1/workers 2>/dev/null)" -ge 100 ]; do sleep 0.02; done
echo ready > $1/daemons.ready
until [ -e $1/end ]; do sleep 0.05; done
SH
chmod +x "$T/daemons.sh"
mkdir -p "$T/d5"
echo "$T/daemons.sh $T/d5" >"$T/d5.txt"
"$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/d5.txt" >/dev/null 2>&1 &
d5=$!
PIDS+=("$d5")
wait_for_line "$T/d5/daemons.ready" ready 60 >/dev/null
while read -r p; do PIDS+=("$p"); done <"$T/d5/workers"
touch "$T/d5/go"
for _ in $(seq 1 100); do [ "$(ps -o pid= --ppid "$R" | wc -l)" -le 103 ] && break; sleep 0.05; done
sleep 1
left=0
while read -r p; do alive "$p" && left=$((left + 1)); done <"$T/d5/workers"
is "$left" 100 "5: 100 daemons of a running command ended at once: their 100 workers are left"
touch "$T/d5/end"
wait "$d5"
dead=0
for _ in $(seq 1 100); do
    dead=0
    while read -r p; do alive "$p" || dead=$((dead + 1)); done <"$T/d5/workers"
    [ "$dead" = 100 ] && break
    sleep 0.05
done
is "$dead" 100 "5: and killed at its end"

# 3. Escapes from an ended command: a setsid() child that forged the
# marker of a command still running lives as long as that one (the
# residue doc/security.md names), and no longer; one that made itself
# not dumpable (its environment unreadable to other users: the slave is
# the same uid or root) and one that cleared its environment are killed
# at their command's end.
boot=$(sed -nE 's/.*listening on UDP.*\(boot ([0-9a-f]+).*/\1/p' "$T/r.log")
echo "echo \$SMP_JOB > $T/long.marker; until [ -e $T/long.go ]; do sleep 0.05; done" >"$T/long.txt"
"$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/long.txt" >/dev/null 2>&1 &
lc=$!
PIDS+=("$lc")
wait_for_line "$T/long.marker" "^$boot\." 10 >/dev/null
long_marker=$(cat "$T/long.marker")
cat >"$T/nodump.py" <<'PY'
import ctypes, os, sys
ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0
open(sys.argv[1], "w").write("%d\n" % os.getpid())
__import__("time").sleep(30)
PY
{
    printf "setsid env SMP_JOB=%s sh -c 'echo \$\$ > %s; exec sleep 30' >/dev/null 2>&1 & until [ -s %s ]; do sleep 0.01; done\n" \
        "$long_marker" "$T/forged" "$T/forged"
    printf "setsid python3 %s %s >/dev/null 2>&1 & until [ -s %s ]; do sleep 0.01; done\n" "$T/nodump.py" "$T/nodump" "$T/nodump"
    printf "setsid env -i sh -c 'echo \$\$ > %s; exec sleep 30' >/dev/null 2>&1 & until [ -s %s ]; do sleep 0.01; done\n" \
        "$T/cleared" "$T/cleared"
} >"$T/escape.txt"
run_client -q "$T/escape.txt"
forged=$(cat "$T/forged") nodump=$(cat "$T/nodump") cleared=$(cat "$T/cleared")
PIDS+=("$forged" "$nodump" "$cleared")
check "3: a not-dumpable setsid() child is killed at its command's end" gone 5 "$nodump"
check "3: one with its environment cleared too" gone 5 "$cleared"
check "3: one with the forged marker of a running command stays while that one runs" alive "$forged"
touch "$T/long.go"
wait "$lc"
check "3: and is killed when that command ends" gone 5 "$forged"

# 4. Two slaves on one machine, both without a cgroup: the sweeps of one
# never touch the other's commands, and its keeper, when it is killed
# with -9, kills only what carries its own life's marker.
M1=$MASTER_PORT
SMP_PREFIX="$prefix$SMP_PREFIX" start_slave r2 -j 2
R2=$SLAVE_PID
echo "127.0.0.1 $SLAVE_PORT" >"$T/r2.conf"
start_master m2 "$T/r2.conf"
wait_slaves_up m2 1 || bail "second slave not up"
echo "( setsid sleep 30 >/dev/null 2>&1 & echo \$! > $T/b.esc ); until [ -e $T/b.go ]; do sleep 0.05; done" >"$T/b.txt"
"$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/b.txt" >/dev/null 2>&1 &
b2=$!
PIDS+=("$b2")
wait_for_line "$T/b.esc" . 10 >/dev/null
besc=$(cat "$T/b.esc")
PIDS+=("$besc")
for i in $(seq 1 5); do esc_line=$(printf "setsid sh -c 'echo \$\$ > %s; exec sleep 30' >/dev/null 2>&1 & until [ -s %s ]; do sleep 0.01; done" "$T/a.esc$i" "$T/a.esc$i"); echo "$esc_line"; done >"$T/a.txt"
echo "( setsid sleep 30 >/dev/null 2>&1 & echo \$! > $T/a.k9 ); sleep 30" >>"$T/a.txt"
"$BIN/client" -q 127.0.0.1 "$M1" "$T/a.txt" >/dev/null 2>&1 &
PIDS+=("$!")
wait_for_line "$T/a.k9" . 20 >/dev/null
ak9=$(cat "$T/a.k9")
PIDS+=("$ak9")
for i in $(seq 1 5); do PIDS+=("$(cat "$T/a.esc$i")"); done
check "4: slave 1's ended commands' escapees are killed" gone 5 "$(cat "$T/a.esc5")"
check "4: slave 2's running command's escapee is left" alive "$besc"
{ kill -KILL "$R"; wait "$R"; } 2>/dev/null
check "4: slave 1 killed with -9: its running command's escapee dies (its keeper)" gone 5 "$ak9"
check "4: slave 2's is left" alive "$besc"
touch "$T/b.go"
wait "$b2"
check "4: and dies with its own command's end" gone 5 "$besc"

done_testing
