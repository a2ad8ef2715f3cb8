#!/usr/bin/env bash
# Limits a client cannot lift (issue 13): the slave's --timeout is a cap
# (a client's --timeout, or --timeout N%, may ask for less, never more);
# --max-cpu, --max-memory, --max-files and --max-procs bound each command
# (setrlimit in its child before exec; no core files); and a fork bomb
# sent with the slave's default limits leaves the slave serving others and
# nothing of it behind.
#
# The bomb part runs only with two outer backstops that hold whatever the
# slave does: the slave under prlimit --nproc=300:300 AND as a uid of its
# own that nothing else uses (RLIMIT_NPROC does not apply to root), whose
# processes the test kills by PID at the end, whatever happened.
. "$(dirname "$0")/lib.sh"

# A master of the same name again: its old log goes first (start_master
# would read the old one's port before the new one truncates it).
recluster() { stop_all; rm -f "$T/master.log"; cluster "$@"; }

# ---- the slave's --timeout is a cap ----
cluster 1 -j 2 -t 1
echo "sleep 3" >"$T/sleep3.txt"
run_client --timeout 10 "$T/sleep3.txt" --joblog "$T/j1"
is "$RC/$(awk -F'\t' '$1==1 {print $7 "/" $8}' "$T/j1")" "1/-1/15" \
    "slave -t 1, client --timeout 10: sleep 3 times out (Exitval -1, Signal 15)"
runtime=$(awk -F'\t' '$1==1 {print $4}' "$T/j1")
check "killed at about 1 s, not 3 or 10 (ran $runtime s)" awk -v t="$runtime" 'BEGIN {exit !(t >= 0.9 && t < 2.5)}'
check "the client says the slave's cap killed it" \
    grep -q "code retour = -1 (timed out: killed after 1 s: the slave's --timeout cap)" "$T/err"
# --timeout N%: the master's per-command timeout is the request's, capped the same way
printf 'sleep 0.2\nsleep 3\n' >"$T/pct.txt"
run_client -j 1 --timeout 100000% "$T/pct.txt" --joblog "$T/j2"
runtime=$(awk -F'\t' '$1==2 {print $4}' "$T/j2")
is "$RC/$(awk -F'\t' '$1==2 {print $7 "/" $8}' "$T/j2")" "1/-1/15" \
    "--timeout 100000% (200 s after a 0.2 s success): capped at the slave's 1 s"
check "... at about 1 s (ran $runtime s)" awk -v t="$runtime" 'BEGIN {exit !(t >= 0.9 && t < 2.5)}'

recluster 1 -j 2 -t 5
run_client --timeout 1 "$T/sleep3.txt" --joblog "$T/j3"
runtime=$(awk -F'\t' '$1==1 {print $4}' "$T/j3")
is "$RC/$(awk -F'\t' '$1==1 {print $7 "/" $8}' "$T/j3")" "1/-1/15" "slave -t 5, client --timeout 1: the client's smaller one applies"
check "... at about 1 s (ran $runtime s)" awk -v t="$runtime" 'BEGIN {exit !(t >= 0.9 && t < 2.5)}'
check "... and it is the client's timeout, not the cap" grep -q 'code retour = -1 (timed out: killed)$' "$T/err"
stop_all

# ---- bad values are usage errors naming the option ----
rc=0; "$(prog serveur_esclave)" --max-memory 12X 0 >"$T/bad.out" 2>&1 || rc=$?
is "$rc" 2 "--max-memory 12X: exit 2"
check "... naming the option and the value" grep -q "max-memory: '12X' is not a size" "$T/bad.out"
rc=0; "$(prog serveur_esclave)" --max-procs -1 0 >"$T/bad.out" 2>&1 || rc=$?
is "$rc/$(grep -c "max-procs: '-1' is not a number" "$T/bad.out")" "2/1" "--max-procs -1: exit 2, named"

# ---- the defaults, as a command sees them ----
recluster 1 -j 2
check "the start-up line says the limits" \
    grep -q 'limits per command: 256 processes (RLIMIT_NPROC [0-9]* .*), 1024 open files, no CPU limit, no memory limit, no core files' "$T/s1.log"
printf '%s\n' 'ulimit -n; ulimit -Hn' 'ulimit -c' 'ulimit -t; ulimit -v' \
    "awk '/^Max processes/ {print \$3, \$4}' /proc/self/limits" >"$T/ulimits.txt"
run_client -k "$T/ulimits.txt"
expected_files=1024
[ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt 1024 ] && expected_files=$(ulimit -Hn)
nproc=$(sed -nE 's/.*limits per command: 256 processes \(RLIMIT_NPROC ([0-9]+) .*/\1/p' "$T/s1.log")
is "$(tr '\n' ' ' <"$T/out")" "$expected_files $expected_files 0 unlimited unlimited $nproc $nproc " \
    "by default: $expected_files open files (hard too), no core files, no CPU or memory limit, RLIMIT_NPROC $nproc"
[ "$(ulimit -u)" = unlimited ] || [ "$(ulimit -u)" -ge 700 ] && is "$nproc" 576 "... 576: 2 slots x 256 + 64"
stop_all

# ---- --max-cpu, --max-memory, --max-files ----
PY=$(command -v python3 >/dev/null && python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')
start_slave sizes --max-memory 2G --max-procs 0
check "--max-memory 2G (G suffix), --max-procs 0 (none), said at start" \
    grep -q 'limits per command: no process limit, 1024 open files, no CPU limit, 2048 MiB of memory, no core files' "$T/sizes.log"
recluster 1 -j 2 -t 20 --max-cpu 1 --max-memory 64M --max-files 16
check "the start-up line says them" \
    grep -q 'limits per command: 256 processes (.*), 16 open files, 1 s of CPU, 64 MiB of memory, no core files' "$T/s1.log"
echo 'while :; do :; done' >"$T/spin.txt"
run_client "$T/spin.txt" --joblog "$T/j4"
sig=$(awk -F'\t' '$1==1 {print $8}' "$T/j4")
runtime=$(awk -F'\t' '$1==1 {print $4}' "$T/j4")
check "--max-cpu 1: a busy loop is killed by SIGXCPU or SIGKILL (signal $sig)" test "$sig" = 24 -o "$sig" = 9
check "... after about 1 s of CPU (ran $runtime s; the -t 20 did not end it)" \
    awk -v t="$runtime" 'BEGIN {exit !(t >= 0.9 && t < 15)}'
printf '%s\n' 'ulimit -n; ulimit -Hn' 'ulimit -t' 'ulimit -v' >"$T/ul2.txt"
run_client -k "$T/ul2.txt"
is "$(tr '\n' ' ' <"$T/out")" "16 16 1 65536 " "the command sees 16 open files (hard), 1 s of CPU, 64 MiB of address space"
if [ -n "$PY" ]; then
    printf '%s\n' "$PY -c 'x = bytearray(200 << 20); print(\"allocated\")'" \
        "$PY -c 'f = [open(\"/dev/null\") for i in range(20)]; print(\"opened\")'" >"$T/big.txt"
    run_client -k "$T/big.txt" --joblog "$T/j5"
    is "$(awk -F'\t' 'NR > 1 {print $7}' "$T/j5" | tr '\n' ' ')/$(cat "$T/out")" "1 1 /" \
        "--max-memory 64M: 200 MB cannot be allocated; --max-files 16: 20 files cannot be opened"
    check "... MemoryError" grep -q MemoryError "$T/err"
    check "... Too many open files" grep -q 'Too many open files' "$T/err"
    recluster 1 -j 2
    run_client -k "$T/big.txt"
    is "$RC/$(tr '\n' ' ' <"$T/out")" "0/allocated opened " "without those limits the same commands succeed"
else
    echo "# python3 not found: --max-memory and --max-files allocation checks left out"
fi
stop_all

# ---- the fork bomb, behind two outer backstops ----
# processes of uid $1 not dead yet (zombies wait for init to reap them: gone)
live_procs() { ps -u "$1" -o stat= | grep -vc '^Z'; }
bomb_part() {
    local U
    command -v prlimit >/dev/null && command -v setpriv >/dev/null ||
        { skip_one "the fork bomb needs prlimit and setpriv (apt-get install util-linux)"; return; }
    [ "$(id -u)" = 0 ] ||
        { skip_one "the fork bomb runs as a uid of its own: run the test as root (then it drops to that uid)"; return; }
    # a uid of its own, used by nothing else now: its processes are all ours
    for U in $(seq $((60000 + $$ % 4000)) 64999); do
        getent passwd "$U" >/dev/null || [ -n "$(ps -u "$U" -o pid= 2>/dev/null)" ] || break
    done
    local become="setpriv --reuid=$U --regid=$U --clear-groups"
    mkdir -p "$T/bin"
    cp "$(prog serveur_esclave)" "$T/bin/serveur_esclave"
    chmod 755 "$T" "$T/bin" "$T/bin/serveur_esclave"
    mkdir -p "$T/bomb" && chmod 777 "$T/bomb"
    BOMB_UID=$U
    SMP_PREFIX="prlimit --nproc=300:300 $become" PROG_DIR=$T/bin start_slave bomb -j 2 -t 5
    echo "127.0.0.1 $SLAVE_PORT" >"$T/bomb.conf"
    start_master mbomb "$T/bomb.conf"
    wait_slaves_up mbomb 1 || bail "slave not up"
    MASTER_PORT_BOMB=$MASTER_PORT
    check "the slave runs as uid $U under prlimit --nproc=300:300" \
        grep -q "^Max processes *300 *300" "/proc/$SLAVE_PID/limits"
    is "$(stat -c %u "/proc/$SLAVE_PID")" "$U" "... as uid $U"
    # count the uid's processes while the bomb runs
    (peak=0; for _ in $(seq 1 400); do
         n=$(ps -u "$U" -o pid= 2>/dev/null | wc -l); [ "$n" -gt "$peak" ] && peak=$n; echo "$peak" >"$T/peak"
         [ -e "$T/bomb.done" ] && break; sleep 0.05
     done) &
    local sampler=$!
    echo 'bomb() { bomb | bomb & }; bomb; sleep 30' >"$T/bomb.txt"
    local start took rcb=0
    start=$(date +%s%N)
    timeout 20 "$BIN/client" 127.0.0.1 "$MASTER_PORT_BOMB" "$T/bomb.txt" --joblog "$T/jbomb" >"$T/bomb.out" 2>"$T/bomb.err" &
    local bomb_client=$!
    local grown=0
    for _ in $(seq 1 40); do # until it has grown (or for 2 s: its processes live a fork's time each, and
        # where the slave reaps them (its commands' subreaper, without a cgroup) few are there at once)
        grown=$(ps -u "$U" -o pid= | wc -l)
        [ "$grown" -ge 100 ] && break
        sleep 0.05
    done
    echo "# the bomb: $grown processes of uid $U (zombies included) before another client's commands"
    for i in 1 2 3 4 5; do echo "echo meanwhile-$i"; done >"$T/mw.txt"
    local mstart=$(date +%s%N)
    RC=0; timeout 30 "$BIN/client" -q -k 127.0.0.1 "$MASTER_PORT_BOMB" "$T/mw.txt" >"$T/mw.out" 2>"$T/mw.err" || RC=$?
    local mtook=$(( ($(date +%s%N) - mstart) / 1000000 ))
    wait "$bomb_client" || rcb=$?
    took=$(( ($(date +%s%N) - start) / 1000000 ))
    touch "$T/bomb.done"
    wait "$sampler"
    is "$RC/$(tr '\n' ' ' <"$T/mw.out")" "0/meanwhile-1 meanwhile-2 meanwhile-3 meanwhile-4 meanwhile-5 " \
        "while a fork bomb runs, another client's commands run and return their output"
    check "... within 15 s ($mtook ms)" test "$mtook" -lt 15000
    echo "# fork bomb: peak of $(cat "$T/peak") processes of uid $U; the other client took $mtook ms; the bomb's client $took ms"
    is "$rcb/$(awk -F'\t' '$1==1 {print $7}' "$T/jbomb")" "1/-1" "the bomb is ended at the slave's -t 5 (timed out)"
    check "... within 15 s ($took ms)" test "$took" -lt 15000
    check "the bomb reached the limit: its forks failed ($(grep -c 'Cannot fork' "$T/bomb.err") lines of 'Cannot fork')" \
        grep -q 'Cannot fork' "$T/bomb.err"
    local left=0
    for _ in $(seq 1 60); do
        left=$(live_procs "$U")
        [ "$left" -le 2 ] && break
        sleep 0.1
    done
    is "$left" 2 "no process of the bomb is left (uid $U has the slave and its keeper only)"
    local nproc
    nproc=$(sed -nE 's/.*limits per command: 256 processes \(RLIMIT_NPROC ([0-9]+) .*/\1/p' "$T/bomb.log")
    check "the peak ($(cat "$T/peak")) stayed within the commands' RLIMIT_NPROC ($nproc), under the outer 300" \
        test "$(cat "$T/peak")" -le "${nproc:-0}" -a "${nproc:-300}" -lt 300
    # --max-procs N, bounded (100 sleeps at most): 1 slot x 10 + 64 processes of the uid
    SMP_PREFIX="prlimit --nproc=300:300 $become" PROG_DIR=$T/bin start_slave procs -j 1 -t 10 --max-procs 10
    echo "127.0.0.1 $SLAVE_PORT" >"$T/procs.conf"
    start_master mprocs "$T/procs.conf"
    wait_slaves_up mprocs 1 || bail "slave not up"
    check "--max-procs 10 -j 1: RLIMIT_NPROC 74 said at start" grep -q 'limits per command: 10 processes (RLIMIT_NPROC 74 ' "$T/procs.log"
    printf '%s\n' "awk '/^Max processes/ {print \$3, \$4}' /proc/self/limits" 'for i in $(seq 1 100); do sleep 3 & done; echo all-started' >"$T/procs.txt"
    RC=0; timeout 30 "$BIN/client" -k 127.0.0.1 "$MASTER_PORT" "$T/procs.txt" --joblog "$T/jprocs" >"$T/procs.out" 2>"$T/procs.err" || RC=$?
    is "$(cat "$T/procs.out")" "74 74" "the command sees RLIMIT_NPROC 74, soft and hard (it cannot raise it)"
    check "starting 100 processes fails at the limit (exit $(awk -F'\t' '$1==2 {print $7}' "$T/jprocs"))" \
        awk -F'\t' '$1==2 {found=1; if ($7 == 0) exit 1} END {exit !found}' "$T/jprocs"
    check "... with fork's error on its stderr" grep -qi 'fork' "$T/procs.err"
}
sweep_bomb_uid() { # the outer backstop: every process of the bomb's uid, by PID
    [ -n "${BOMB_UID:-}" ] && [ "$BOMB_UID" != 0 ] || return 0
    local p i
    for i in 1 2 3 4 5 6 7 8 9 10; do
        p=$(ps -u "$BOMB_UID" -o pid=,stat= 2>/dev/null | awk '$2 !~ /^Z/ {print $1}')
        [ -z "$p" ] && return 0
        kill -KILL $p 2>/dev/null
        sleep 0.1
    done
}
skip_one() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n # SKIP $1"; }
trap 'stop_all; sweep_bomb_uid; cleanup' EXIT
bomb_part
stop_all
if [ -n "${BOMB_UID:-}" ]; then
    is "$(live_procs "$BOMB_UID")" 0 "after the slave stopped: no process of uid $BOMB_UID at all"
fi
sweep_bomb_uid

done_testing
