#!/usr/bin/env bash
# What a command started dies with its slave, however the slave dies:
# kill -9 of a slave while its commands' grandchildren run. The keeper (a
# child of the slave) kills their process groups, and where the slave has a
# cgroup for its commands, the whole cgroup, setsid() escapees included;
# there each command has a cgroup of its own, so what escaped with setsid()
# also ends with its command.
. "$(dirname "$0")/lib.sh"

# Non-zombie processes whose process group is one of "$@" (one ps: fast).
alive_in_groups() {
    ps -eo pgid=,stat= | awk -v gs="$*" 'BEGIN { n = split(gs, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
                                         ($1 in want) && $2 !~ /^Z/' | wc -l
}
# Is PID alive (and not a zombie)?
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$s" ] && [ "${s#Z}" = "$s" ]; }
# wait_zero SECONDS CMD...: until CMD prints 0, for at most SECONDS (by the clock)
wait_zero() {
    local end=$(( $(date +%s%N) + $1 * 1000000000 )); shift
    while [ "$(date +%s%N)" -lt "$end" ]; do [ "$("$@")" = 0 ] && return 0; sleep 0.05; done
    return 1
}
keeper_of() { ps -o pid=,comm= --ppid "$1" | awk '$2 == "esclave-keeper" {print $1}'; }
commands_of() { ps -o pid=,comm= --ppid "$1" | awk '$2 != "esclave-keeper" {print $1}'; }

cluster 2 -j 4
cg_line=$(grep -m1 -E 'commands run in cgroup|no cgroup for commands' "$T/s1.log")
case "$cg_line" in
*"commands run in cgroup"*) cgroup=1; cg_dir=$(echo "$cg_line" | sed -E 's/.*in cgroup ([^:]*):.*/\1/') ;;
*) cgroup=0 ;;
esac
echo "# slave 1: ${cg_line#*info: }"
check "the slave says whether its commands have a cgroup" test -n "$cg_line"
k1=$(keeper_of "${SLAVE_PIDS[0]}")
check "the slave has a keeper" test -n "$k1"
[ -n "$k1" ] && { kill -HUP "$k1"; kill -INT "$k1"; kill -TERM "$k1"; }
sleep 0.2
check "the keeper ignores SIGHUP, SIGINT and SIGTERM (a signal to the slave's group)" alive "$k1"
check "the keeper is in a process group of its own" \
    test -n "$k1" -a "$(ps -o pgid= -p "${k1:-1}" 2>/dev/null | tr -d ' ')" != "$(ps -o pgid= -p "${SLAVE_PIDS[0]}" | tr -d ' ')"

# The issue's case: 8 commands whose work is a grandchild (sh -c 'sleep 4;
# ...'), one slave of two killed at 1 s. Its 4 commands are run again on
# the other slave; they must not also finish on the dead one.
mkdir -p "$T/markers"
for i in $(seq 1 8); do echo "sh -c 'sleep 4; echo RAN >> $T/markers/$i'; echo out-$i"; done >"$T/k9.txt"
"$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/k9.txt" --joblog "$T/jk9" >"$T/k9.out" 2>&1 &
cpid=$!
PIDS+=("$cpid")
for _ in $(seq 1 200); do [ "$(commands_of "${SLAVE_PIDS[0]}" | wc -l)" -ge 4 ] && break; sleep 0.02; done
sleep 1 # the fault: 1 s into the commands (which end 3 s later: check before)
groups=$(commands_of "${SLAVE_PIDS[0]}" | tr '\n' ' ')
procs=$(for g in $groups; do ps -eo pid=,pgid= | awk -v g="$g" '$2 == g {print $1}'; done | tr '\n' ' ')
echo "# killed slave's command groups: $groups; their processes: $procs"
is "$(echo $groups | wc -w)" 4 "the slave runs 4 commands"
check "and their grandchildren (more than 8 processes in their groups)" test "$(echo $procs | wc -w)" -ge 8
{ kill -KILL "${SLAVE_PIDS[0]}"; wait "${SLAVE_PIDS[0]}"; } 2>/dev/null
check "within 2 s no process of its commands' groups is left" wait_zero 2 alive_in_groups $groups
left=0
for p in $procs; do alive "$p" && left=$((left + 1)); done
is "$left" 0 "none of the processes seen before the kill is alive"
check "the keeper exited after its work" wait_zero 2 bash -c "ps -o stat= -p ${k1:-1} 2>/dev/null | grep -vc '^Z'"
if [ "$cgroup" = 1 ]; then
    check "the keeper removed the slave's cgroup ($cg_dir)" test ! -e "$cg_dir"
fi
wait "$cpid"; rc=$?
is "$rc" 0 "the client gets every result"
is "$(grep -c '^out-' "$T/k9.out")" 8 "8 results"
once=0
for i in $(seq 1 8); do
    [ "$(cat "$T/markers/$i" 2>/dev/null)" = RAN ] && once=$((once + 1)) || echo "# marker $i: $(wc -l <"$T/markers/$i" 2>/dev/null) lines" >&2
done
is "$once" 8 "every command finished exactly once (each marker holds one line)"

# A command that left a background grandchild and one that escaped with
# setsid, still running when its slave is killed. bg_case NAME [kill-keeper]:
# with a slave NAME started with $SMP_PREFIX; kill-keeper: its keeper is
# killed first, while the commands run (the slave starts another one and
# tells it the running groups).
bg_case() {
    local name=$1 s bg escapee has_cg=0 k k2
    start_slave "$name" -j 4
    s=$SLAVE_PID
    grep -q 'commands run in cgroup' "$T/$name.log" && has_cg=1
    echo "# slave $name: $(grep -m1 -E 'cgroup' "$T/$name.log" | sed 's/.*info: //')"
    echo "127.0.0.1 $SLAVE_PORT" >"$T/$name.conf"
    start_master "m-$name" "$T/$name.conf"
    wait_slaves_up "m-$name" 1 || bail "slave $name not up"
    cat >"$T/$name.txt" <<CMDS
sleep 30 & echo \$! > $T/$name.bg; sleep 30
setsid sleep 30 & echo \$! > $T/$name.setsid; sleep 30
CMDS
    "$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/$name.txt" >"$T/$name.out" 2>&1 &
    PIDS+=("$!")
    wait_for_line "$T/$name.bg" . 10 >/dev/null && wait_for_line "$T/$name.setsid" . 10 >/dev/null
    ok $? "$name: both commands started their grandchild"
    bg=$(cat "$T/$name.bg") escapee=$(cat "$T/$name.setsid")
    PIDS+=("$escapee") # killed at the end if it escaped
    check "$name: the setsid one is in a session of its own" test "$(ps -o sid= -p "$escapee" | tr -d ' ')" = "$escapee"
    if [ "${2:-}" = kill-keeper ]; then
        k=$(keeper_of "$s")
        kill -KILL "${k:-1}" 2>/dev/null
        wait_for_line "$T/$name.log" 'the keeper \(pid [0-9]+\) died \(status 0x9\): starting another' 5 >/dev/null
        ok $? "$name: the slave notices its keeper was killed, and says so"
        for _ in $(seq 1 100); do k2=$(keeper_of "$s"); [ -n "$k2" ] && [ "$k2" != "$k" ] && break; sleep 0.02; done
        check "$name: and starts another keeper" test -n "$k2" -a "$k2" != "$k"
    fi
    { kill -KILL "$s"; wait "$s"; } 2>/dev/null
    check "$name: the background grandchild dies with the slave" wait_zero 2 bash -c "ps -o stat= -p $bg | grep -vc '^Z'"
    sleep 0.5
    if [ "$has_cg" = 1 ]; then
        check "$name: the setsid() escapee dies with the slave too (cgroup.kill)" \
            bash -c "! ps -o stat= -p $escapee | grep -qv '^Z'"
    else
        check "$name: without a cgroup the setsid() escapee survives, as the README says" alive "$escapee"
        kill -KILL "$escapee"
    fi
}
bg_case s3 kill-keeper

# A command's setsid() escapee: with a cgroup it ends with its command (the
# command's own cgroup, cmd.N: cgroup.kill), by its end or by its timeout;
# without one it outlives it (README). SIGTERM: the slave exits 0.
start_slave s5 -j 2
s5=$SLAVE_PID
echo "127.0.0.1 $SLAVE_PORT" >"$T/s5.conf"
start_master m-s5 "$T/s5.conf"
wait_slaves_up m-s5 1 || bail "slave s5 not up"
s5cg=$(grep -m1 'commands run in cgroup' "$T/s5.log" | sed -E 's/.*in cgroup ([^:]*):.*/\1/')
echo "setsid sleep 30 >/dev/null 2>&1 & echo \$! > $T/s5.setsid; sleep 0.5" >"$T/s5.txt"
run_client -q "$T/s5.txt"
esc5=$(cat "$T/s5.setsid" 2>/dev/null)
PIDS+=("${esc5:-}")
echo "setsid sleep 30 >/dev/null 2>&1 & echo \$! > $T/s5.timeout; sleep 30" >"$T/s5t.txt"
t0=$(date +%s%N)
run_client --timeout 1 -q "$T/s5t.txt"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
esc5t=$(cat "$T/s5.timeout" 2>/dev/null)
PIDS+=("${esc5t:-}")
check "s5: the command with an escapee ends at its 1 s timeout (${ms} ms)" test "$RC" -ne 0 -a "$ms" -lt 5000
if [ "$cgroup" = 1 ]; then
    check "s5: the command ended: its setsid() child is killed with it (its own cgroup)" \
        wait_zero 5 bash -c "ps -o stat= -p ${esc5:-1} | grep -vc '^Z'"
    check "s5: killed by its timeout: its setsid() child too" wait_zero 5 bash -c "ps -o stat= -p ${esc5t:-1} | grep -vc '^Z'"
    # 20 commands that each leave an escapee: their cgroups do not pile up
    # (removed at a later command's start once their processes are gone)
    for i in $(seq 1 20); do echo "setsid sleep 30 >/dev/null 2>&1 & echo \$! >> $T/s5.many"; done >"$T/s5m.txt"
    run_client -q "$T/s5m.txt"
    while read -r p; do PIDS+=("$p"); done <"$T/s5.many"
    is "$RC/$(wc -l <"$T/s5.many")" "0/20" "s5: 20 commands, each leaving a setsid() child"
    check "s5: none of the 20 children is left" wait_zero 5 bash -c "ps -o stat= -p $(paste -sd, "$T/s5.many") | grep -vc '^Z'"
    echo true >"$T/true.txt"
    cgs() { run_client -q "$T/true.txt" >/dev/null; ls -d "$s5cg"/cmd.* 2>/dev/null | wc -l; }
    check "s5: and their cgroups are removed ($(ls -d "$s5cg"/cmd.* 2>/dev/null | wc -l) left at the end of the batch)" wait_zero 10 cgs
else
    check "s5: without a cgroup the escapee survives, as the README says" alive "${esc5:-1}"
    kill -KILL "${esc5:-1}" "${esc5t:-1}" 2>/dev/null
fi
t0=$(date +%s%N)
stop_pid "$s5"
is "$STOP_RC" 0 "s5: the slave exits 0 on SIGTERM ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"
if [ "$cgroup" = 1 ]; then
    check "s5: its cgroup is removed" wait_zero 5 bash -c "ls -d ${cg_dir%/*}/smp-esclave.$s5-* 2>/dev/null | wc -l"
fi
# The same where no cgroup v2 is writable (a mount namespace of the slave's
# own where they are read-only), if this test may make one.
cat >"$T/nocg" <<'SH'
#!/bin/sh
for m in $(awk '/ - cgroup2 / {print $5}' /proc/self/mountinfo); do mount -o remount,bind,ro "$m" || exit 99; done
exec "$@"
SH
chmod +x "$T/nocg"
if [ "$cgroup" = 1 ] && unshare -m "$T/nocg" true 2>/dev/null; then
    SMP_PREFIX="unshare -m $T/nocg $SMP_PREFIX" bg_case s4 kill-keeper
    check "s4: the slave says it has no cgroup" grep -q 'no cgroup for commands (cannot create' "$T/s4.log"
fi

# A slave that died with its keeper (pkill -9 -f) leaves its cgroup and what
# escaped in it: the next slave started next to it kills and removes them.
if [ "$cgroup" = 1 ]; then
    parent=${cg_dir%/*}
    sh -c 'exit 0' & dead=$!; wait "$dead" # a pid no process has now
    stale="$parent/smp-esclave.$dead-$(stat -L -c %i /proc/self/ns/pid)"
    mkdir "$stale"
    sh -c "echo \$\$ > $stale/cgroup.procs && exec sleep 30" &
    left=$!
    disown "$left" # no "Killed" notice from bash when the slave kills it
    PIDS+=("$left")
    for _ in $(seq 1 100); do grep -qx "$left" "$stale/cgroup.procs" 2>/dev/null && break; sleep 0.02; done
    check "stale: a process in a dead slave's cgroup" grep -qx "$left" "$stale/cgroup.procs"
    start_slave s6
    check "stale: the new slave says it removes that cgroup" grep -q "removing $stale, left by a slave that died with its keeper" "$T/s6.log"
    check "stale: the process in it is killed" wait_zero 2 bash -c "ps -o stat= -p $left | grep -vc '^Z'"
    check "stale: and the cgroup is gone" test ! -e "$stale"
    [ -e "$stale" ] && { echo 1 >"$stale/cgroup.kill"; sleep 0.2; rmdir "$stale"; }
fi

done_testing
