#!/usr/bin/env bash
# --allow: the program of an allowed line is looked up in the slave's PATH,
# absolute directories only. An empty PATH element (a leading, trailing or
# doubled ':') or a relative one ('.', 'bin') names the slave's current
# directory, where what a pattern names ("make **") could be any file put
# there: execvp would run ./make. Such elements are skipped: exit 127,
# "command not found", nothing run.
. "$(dirname "$0")/lib.sh"

echo 'probe-xyz' >"$T/allow"
echo 'true' >>"$T/allow"
echo 'echo *' >>"$T/allow"

# probe SLAVE_NAME PATH: a slave whose PATH is PATH, with an executable
# probe-xyz in its directory (and in its bin/), and a master for it.
probe() {
    mkdir -p "$T/$1/bin"
    for f in "$T/$1/probe-xyz" "$T/$1/bin/probe-xyz"; do
        printf '#!/bin/sh\necho ran >%s/ran\necho ran\n' "$T/$1" >"$f"
        chmod +x "$f"
    done
    rm -f "$T/$1/ran"
    PATH=$2 start_slave "$1" -j 1 --allow "$T/allow"
    echo "127.0.0.1 $SLAVE_PORT" >"$T/$1.conf"
    start_master "m-$1" "$T/$1.conf"
    wait_slaves_up "m-$1" 1 || bail "slave $1 not up"
}

n=0
for path in ":/usr/bin:/bin" "/usr/bin:/bin:" "/usr/bin::/bin" ".:/usr/bin:/bin" "bin:/usr/bin:/bin"; do
    n=$((n + 1))
    probe "p$n" "$path"
    echo probe-xyz >"$T/one.txt"
    run_client "$T/one.txt" --joblog "$T/jl"
    is "$(awk -F'\t' 'NR==2 {print $7}' "$T/jl")" 127 "PATH=$path: probe-xyz from the slave's directory is not run: exit 127"
    check "PATH=$path: the slave says command not found" grep -qF 'serveur_esclave: probe-xyz: command not found' "$T/err"
    check "PATH=$path: nothing ran" test ! -e "$T/p$n/ran"
    printf 'true\necho ok\n' >"$T/two.txt"
    run_client -k "$T/two.txt"
    is "$RC/$(cat "$T/out")" "0/ok" "PATH=$path: programs of its absolute directories still run"
    stop_pid "$MASTER_PID"
    stop_pid "$SLAVE_PID"
done

# An absolute PATH directory that holds it: found and run.
probe abs "$T/abs/bin:/usr/bin:/bin"
echo probe-xyz >"$T/one.txt"
run_client "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/ran" "an absolute PATH directory: probe-xyz found and run"
done_testing
