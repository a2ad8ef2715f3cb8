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
# Is none of the PIDs (a,b,c) alive, within SECONDS? gone SECONDS PIDS
gone() { wait_zero "$1" bash -c "ps -o stat= -p $2 2>/dev/null | grep -vc '^Z'"; }
# esc_cmd FILE: a command line that starts a setsid() escapee (sleep 30)
# which writes its pid to FILE once it is in a session of its own, and
# waits for that (so that no group kill at the command's end reaches it)
esc_cmd() { printf "setsid sh -c 'echo \$\$ > %s; exec sleep 30' >/dev/null 2>&1 & until [ -s %s ]; do sleep 0.01; done" "$1" "$1"; }
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
        check "$name: without a cgroup the setsid() escapee dies with the slave too (the keeper, by its SMP_JOB)" \
            wait_zero 2 bash -c "ps -o stat= -p $escapee | grep -vc '^Z'"
    fi
}
bg_case s3 kill-keeper

# A command's setsid() escapee ends with its command, by its end or by its
# timeout: with a cgroup, the command's own (cmd.N: cgroup.kill); without
# one, the slave's sweep of its children (it is their subreaper) by their
# SMP_JOB. SIGTERM: the slave exits 0.
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
how=$([ "$cgroup" = 1 ] && echo "its own cgroup" || echo "the slave's sweep")
check "s5: the command ended: its setsid() child is killed with it ($how)" \
    wait_zero 5 bash -c "ps -o stat= -p ${esc5:-1} | grep -vc '^Z'"
check "s5: killed by its timeout: its setsid() child too" wait_zero 5 bash -c "ps -o stat= -p ${esc5t:-1} | grep -vc '^Z'"
# 20 commands that each leave an escapee: none is left (and with a cgroup,
# their cgroups do not pile up: removed at a later command's start once
# their processes are gone)
for i in $(seq 1 20); do esc_cmd "$T/s5.m$i"; echo; done >"$T/s5m.txt"
run_client -q "$T/s5m.txt"
cat "$T"/s5.m[0-9]* >"$T/s5.many" 2>/dev/null
while read -r p; do PIDS+=("$p"); done <"$T/s5.many"
is "$RC/$(wc -l <"$T/s5.many")" "0/20" "s5: 20 commands, each leaving a setsid() child"
check "s5: none of the 20 children is left" wait_zero 5 bash -c "ps -o stat= -p $(paste -sd, "$T/s5.many") | grep -vc '^Z'"
if [ "$cgroup" = 1 ]; then
    echo true >"$T/true.txt"
    cgs() { run_client -q "$T/true.txt" >/dev/null; ls -d "$s5cg"/cmd.* 2>/dev/null | wc -l; }
    check "s5: and their cgroups are removed ($(ls -d "$s5cg"/cmd.* 2>/dev/null | wc -l) left at the end of the batch)" wait_zero 10 cgs
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

# Without a cgroup (none here, or one of our own where cgroup v2 is made
# read-only), the slave is its commands' subreaper: what a command leaves,
# once its parent ends, becomes the slave's child, and carries the command's
# SMP_JOB (the slave's boot id and the command). The slave kills the ones
# whose command has ended, or with no marker of its life, as they come to
# it; the keeper kills what carries the marker when the slave dies.
reaper_prefix=
[ "$cgroup" = 1 ] && reaper_prefix="unshare -m $T/nocg "
if [ "$cgroup" = 1 ] && ! unshare -m "$T/nocg" true 2>/dev/null; then
    echo "# SKIP the no-cgroup cases: cannot make a mount namespace where cgroup v2 is read-only (run as root, util-linux unshare)"
else
    # reaper_slave NAME [options]: a slave without cgroup, and a master of its own
    reaper_slave() {
        local name=$1; shift
        SMP_PREFIX="$reaper_prefix$SMP_PREFIX" start_slave "$name" "$@"
        echo "127.0.0.1 $SLAVE_PORT" >"$T/$name.conf"
        start_master "m-$name" "$T/$name.conf"
        wait_slaves_up "m-$name" 1 || bail "slave $name not up"
    }
    reaper_slave r1 -j 4
    r1=$SLAVE_PID
    check "r1: the slave says it has no cgroup and sweeps by SMP_JOB" \
        grep -q 'no cgroup for commands (.*): what a command leaves is found by its SMP_JOB' "$T/r1.log"
    boot=$(sed -nE 's/.*listening on UDP.*\(boot ([0-9a-f]+).*/\1/p' "$T/r1.log")
    printf 'echo "$SMP_JOB"\necho "$SMP_JOB"\n' >"$T/r1m.txt"
    run_client -q "$T/r1m.txt"
    echo "# markers: $(paste -sd' ' "$T/out") (boot $boot)"
    is "$(grep -cE "^$boot\.[0-9]+\$" "$T/out")/$(sort -u "$T/out" | wc -l)" 2/2 \
        "r1: each command sees SMP_JOB=<the slave's boot id>.<its own number>"
    SMP_JOB=forged.1 run_client -q --env SMP_JOB "$T/r1m.txt"
    is "$(grep -cE "^$boot\.[0-9]+\$" "$T/out")" 2 "r1: a client's --env SMP_JOB does not replace it"

    # A double-forked escapee of a running command is the slave's child, and
    # stays while its command runs, even through a sweep (another command's
    # end that kills its own escapee, and one without a marker)
    echo "( setsid sleep 30 >/dev/null 2>&1 & echo \$! > $T/r1.df ); while [ ! -e $T/r1.go ]; do sleep 0.05; done; echo df-done" >"$T/r1df.txt"
    "$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/r1df.txt" >"$T/r1df.out" 2>&1 &
    dfc=$!
    PIDS+=("$dfc")
    wait_for_line "$T/r1.df" . 10 >/dev/null
    df=$(cat "$T/r1.df")
    PIDS+=("$df")
    ppid_of() { ps -o ppid= -p "$1" | tr -d ' '; }
    for _ in $(seq 1 100); do [ "$(ppid_of "$df")" = "$r1" ] && break; sleep 0.02; done
    is "$(ppid_of "$df")" "$r1" "r1: a double-forked setsid() child of a running command becomes the slave's child (subreaper)"
    { esc_cmd "$T/r1.other"; echo; echo -n "env -u SMP_JOB "; esc_cmd "$T/r1.nomark"; echo; } >"$T/r1o.txt"
    run_client -q "$T/r1o.txt"
    other=$(cat "$T/r1.other") nomark=$(cat "$T/r1.nomark")
    PIDS+=("$other" "$nomark")
    check "r1: an ended command's setsid() child is killed" gone 5 "$other"
    check "r1: and one without SMP_JOB" gone 5 "$nomark"
    check "r1: the running command's is left" alive "$df"
    touch "$T/r1.go"
    wait "$dfc"
    is "$?/$(cat "$T/r1df.out")" "0/df-done" "r1: the running command ends"
    check "r1: then its double-forked setsid() child is killed" gone 5 "$df"

    # A tree of escapees, each level in a session of its own: all gone
    cat >"$T/tree.sh" <<'SH'
#!/bin/sh
# tree.sh DEPTH FILE: a session leader that starts two more below it
echo $$ >> "$2"
if [ "$1" -gt 0 ]; then
    for i in 1 2; do setsid "$0" $(($1 - 1)) "$2" >/dev/null 2>&1 & done
fi
exec sleep 30
SH
    chmod +x "$T/tree.sh"
    : >"$T/tree.pids"
    echo "setsid $T/tree.sh 3 $T/tree.pids >/dev/null 2>&1 & for i in \$(seq 1 200); do [ \$(wc -l < $T/tree.pids) -ge 15 ] && break; sleep 0.05; done" >"$T/tree.txt"
    run_client -q "$T/tree.txt"
    while read -r p; do PIDS+=("$p"); done <"$T/tree.pids"
    is "$(wc -l <"$T/tree.pids")" 15 "r1: a command made a tree of 15 setsid() escapees (4 levels)"
    t0=$(date +%s%N)
    check "r1: none of them is left" gone 10 "$(paste -sd, "$T/tree.pids")"
    echo "# the tree went in $(( ($(date +%s%N) - t0) / 1000000 )) ms after its command"

    # kill -9 of the slave: the keeper kills by the marker what left every
    # process group it knows
    echo "( setsid sleep 30 >/dev/null 2>&1 & echo \$! > $T/r1.k9 ); sleep 30" >"$T/r1k9.txt"
    "$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/r1k9.txt" >/dev/null 2>&1 &
    PIDS+=("$!")
    wait_for_line "$T/r1.k9" . 10 >/dev/null
    k9=$(cat "$T/r1.k9")
    PIDS+=("$k9")
    check "r1: a double-forked escapee runs" alive "$k9"
    { kill -KILL "$r1"; wait "$r1"; } 2>/dev/null
    check "r1: it dies when its slave is killed with -9 (the keeper, by SMP_JOB)" gone 3 "$k9"

    # The slave's -t caps a command: at 1 s it and its setsid() child are gone
    reaper_slave r2 -t 1
    echo "setsid sleep 30 >/dev/null 2>&1 & echo \$! > $T/r2.esc; sleep 30" >"$T/r2.txt"
    t0=$(date +%s%N)
    run_client -q "$T/r2.txt"
    esc=$(cat "$T/r2.esc" 2>/dev/null)
    PIDS+=("${esc:-}")
    gone 5 "${esc:-1}"; rc=$?
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    check "r2: the command is killed at the slave's 1 s cap" test "$RC" -ne 0
    ok "$rc" "r2: and its setsid() child with it (both gone ${ms} ms after the start)"
    check "r2: within 5 s" test "$ms" -lt 5000
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
