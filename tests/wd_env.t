#!/usr/bin/env bash
# Where commands run (issue 12): client --wd DIR (the directory on the
# slave) and --env NAME (a variable of the client's environment, copied),
# as GNU parallel's --wd and --env; serveur_esclave --chdir DIR, said at
# start; and the batch's options (-j, --wd, --env) kept across a master
# killed -9 and restarted (the journal's OPTIONS record).
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/place/sub" "$T/abs dir"
# The slave's own variables: ZSLAVE is set there, not in the client.
ZSLAVE=slave-value start_slave s1 -j 2 --chdir "$T/place"
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
SP1=$SLAVE_PORT
start_master master "$T/slaves.conf"
wait_slaves_up master 1 || bail "slave not up"

# 1. serveur_esclave --chdir: said at start, and where commands run.
check "the slave says where commands run" grep -q "commands run in $T/place\$" "$T/s1.log"
echo pwd >"$T/pwd.txt"
run_client -q "$T/pwd.txt"
is "$RC/$(cat "$T/out")" "0/$T/place" "without --wd: in the slave's --chdir DIR"

# 2. --wd: relative to the slave's directory, or absolute (with a space).
run_client -q --wd sub "$T/pwd.txt"
is "$RC/$(cat "$T/out")" "0/$T/place/sub" "--wd sub: in DIR/sub"
run_client -q --wd "$T/abs dir" "$T/pwd.txt"
is "$RC/$(cat "$T/out")" "0/$T/abs dir" "--wd with an absolute path (a space in it)"
run_client -q --workdir sub "$T/pwd.txt"
is "$RC/$(cat "$T/out")" "0/$T/place/sub" "--workdir: GNU parallel's long name of --wd"

# 3. A --wd that does not exist: each command fails, exit 255 and a line
# on its stderr, as GNU parallel's on a remote ("cd DIR || exit 255"); it
# does not create it (GNU parallel would mkdir -p it: README says why not).
printf 'echo one > made\necho two\n' >"$T/two.txt"
run_client --wd nowhere --joblog "$T/jl.missing" "$T/two.txt"
is "$RC" 2 "a missing --wd: both commands fail (exit status 2: two failed)"
is "$(tail -n +2 "$T/jl.missing" | cut -f7 | tr '\n' ' ')" "255 255 " "joblog Exitval 255 for each"
is "$(grep -c 'serveur_esclave: --wd: cannot chdir to nowhere: No such file or directory' "$T/err")" 2 \
    "each command's stderr says which directory and why"
check "nothing ran: no file made, no output" test ! -e "$T/place/made" -a ! -s "$T/out"
check "no directory created" test ! -e "$T/place/nowhere"
if command -v parallel >/dev/null; then
    # GNU parallel on a "remote" (a fake ssh that runs the command here) with
    # a --wd it cannot create: its Exitval for the job.
    cat >"$T/fakessh" <<'EOF'
#!/bin/bash
while [ $# -gt 0 ]; do case "$1" in -l|-p|-o) shift 2 ;; -*) shift ;; *) break ;; esac; done
shift
[ "${1:-}" = "--" ] && shift
exec bash -c "$*"
EOF
    chmod +x "$T/fakessh"
    parallel --ssh "$T/fakessh" -S fakehost --joblog "$T/pjl" --wd /proc/nonexistent/x echo ::: a >/dev/null 2>&1
    run_client -q --wd /proc/nonexistent/x --joblog "$T/ojl" "$T/pwd.txt"
    is "$(tail -n +2 "$T/ojl" | cut -f7)" "$(tail -n +2 "$T/pjl" | cut -f7)" \
        "a --wd that cannot be entered: the joblog's Exitval as GNU parallel's ($(tail -n +2 "$T/pjl" | cut -f7))"
else
    echo "ok $((++_tap_n)) # SKIP GNU parallel is not installed"
fi

# 4. --env: the value byte for byte (spaces, quotes, a newline, a tab,
# backslashes, a $), and several names, repeated or with commas.
export ZV1=$'a  b "q" \'s\'\nsecond line\t$HOME \\n \\'
export ZV2='x=y=z'
echo 'printf %s "$ZV1"' >"$T/v1.txt"
run_client -q --env ZV1 "$T/v1.txt"
printf %s "$ZV1" >"$T/v1.want"
check "--env ZV1: the value byte-exact" cmp -s "$T/out" "$T/v1.want"
is "$RC" 0 "--env ZV1: exit 0"
echo 'printf "%s|%s|%s" "$ZV2" "${ZV3-unset}" "$ZSLAVE"' >"$T/v2.txt"
unset ZV3
run_client -q --env ZV2,ZV3 --env ZSLAVE "$T/v2.txt"
is "$RC/$(cat "$T/out")" "0/x=y=z|unset|slave-value" \
    "--env A,B --env C: names not set in the client are left out (the slave's own stays), as GNU parallel"
ZSLAVE=client-value run_client -q --env ZSLAVE "$T/v2.txt"
is "$(cat "$T/out")" "|unset|client-value" "--env NAME set in the client: its value replaces the slave's"
run_client -q "$T/v2.txt"
is "$(cat "$T/out")" "|unset|slave-value" "without --env: the slave's environment"
run_client -q --wd sub --env ZV2 "$T/pwd.txt"
is "$RC/$(cat "$T/out")" "0/$T/place/sub" "--wd with --env"

# 5. Bad values: usage errors (255), each naming the option.
bad() { # bad DESCRIPTION PATTERN ARGS...
    local d=$1 p=$2; shift 2
    RC=0; "$(prog client)" "$@" 127.0.0.1 "$MASTER_PORT" "$T/pwd.txt" >"$T/bad.out" 2>"$T/bad.err" || RC=$?
    is "$RC" 255 "$d: a usage error (255)"
    check "$d: says so ($(head -c 120 "$T/bad.err"))" grep -q -- "$p" "$T/bad.err"
}
bad "--env a-b" "^client: --env: 'a-b' is not a variable name" --env a-b
bad "--env 1A" "^client: --env: '1A' is not a variable name" --env 1A
bad "--env A,,B" "^client: --env: '' is not a variable name" --env ZV2,,ZV1
bad "--env _" "^client: --env _" --env _
bad "--wd ''" "^client: --wd: '' is empty" --wd ''
bad "--wd ..." "^client: --wd \.\.\." --wd ...
bad "--wd of 5000 bytes" "^client: --wd: .* is too long" --wd "$(head -c 5000 /dev/zero | tr '\0' a)"
ZBIG=$(head -c 5000 /dev/zero | tr '\0' v) bad "--env of 5000 bytes" "^client: --env ZBIG: NAME=VALUE is 5005 bytes" \
    --env ZBIG
many=(); for i in $(seq 1 65); do export "ZM$i=v"; many+=(--env "ZM$i"); done
bad "65 --env" "^client: --env: at most 64 variables" "${many[@]}"
check "nothing ran for them" test ! -s "$T/bad.out"
run_client -q "${many[@]:2}" "$T/pwd.txt"
is "$RC" 0 "64 --env: accepted"

# 5b. The job request's tail at the slave (a forged master: tests/dgram_tool.py):
# --wd and --env as extensions 2 and 3; a key it does not know fails the job
# naming it, and runs nothing.
hexs() { printf %s "$1" | od -An -tx1 | tr -d ' \n'; }
tlv() { printf '%02x%04x%s' "$1" "${#2}" "$(hexs "$2")"; }
if command -v python3 >/dev/null; then
    TOOL=$TOP/tests/dgram_tool.py
    out=$(python3 "$TOOL" request "$SP1" 'pwd; printf %s "$ZT"' "$(tlv 2 sub)$(tlv 3 'ZT=a b')")
    is "$out" "status 0 exit 0 stdout b'$T/place/sub\\na b' stderr b'' message b''" \
        "the slave runs a request with JOBX_WD and JOBX_ENV in the directory, with the variable"
    out=$(python3 "$TOOL" request "$SP1" "touch $T/place/ran" "$(tlv 2 sub)$(tlv 9 x)")
    is "$out" "status 2 exit -1 stdout b'' stderr b'' message b'job request with an extension this slave does not know (key 9): a slave older than its master?'" \
        "an unknown extension key: the job fails naming it (not started)"
    check "and nothing ran" test ! -e "$T/place/ran"
    out=$(python3 "$TOOL" request "$SP1" "touch $T/place/ran" "$(tlv 3 'A-B=x')")
    is "$out" "status 2 exit -1 stdout b'' stderr b'' message b'malformed job request'" \
        "an --env extension with a bad name: malformed, nothing ran"
    tail65=; for i in $(seq 1 65); do tail65+=$(tlv 3 "Z$i=$i"); done
    out=$(python3 "$TOOL" request "$SP1" "touch $T/place/ran" "$tail65")
    is "$out" "status 2 exit -1 stdout b'' stderr b'' message b'malformed job request'" \
        "65 --env extensions (at most 64): malformed, none silently left out"
    check "and nothing ran (65 --env)" test ! -e "$T/place/ran"
    out=$(python3 "$TOOL" request "$SP1" "pwd")
    is "$out" "status 0 exit 0 stdout b'$T/place\\n' stderr b'' message b''" "a request without a tail: as before"
else
    echo "ok $((++_tap_n)) # SKIP python3 is not installed"
fi

# 6. serveur_esclave --chdir DIR that does not exist: it does not start.
RC=0; timeout 20 "$(prog serveur_esclave)" --chdir "$T/none" 0 >"$T/nochdir.log" 2>&1 || RC=$?
is "$RC" 1 "serveur_esclave --chdir a missing directory: refuses to start (exit 1)"
check "saying which and why" grep -q -- "--chdir: cannot chdir to $T/none: No such file or directory" "$T/nochdir.log"
check "without listening" sh -c "! grep -q 'listening on' '$T/nochdir.log'"
start_slave s0
check "without --chdir: the slave says where it was started" grep -q "commands run in $T/s0\$" "$T/s0.log"

# 7. The batch's options survive the master: -j 1, --wd, --env on a
# detached batch; the master killed -9 mid-batch and restarted on the same
# port and state dir; the batch ends with one command at a time (mkdir is
# the lock: a second one at once finds it taken), in --wd, with --env.
stop_all
rm -f "$T/place/made"
: >"$T/slaves.conf"
for i in 1 2; do
    start_slave "r$i" -j 2 --chdir "$T/place"
    echo "127.0.0.1 $SLAVE_PORT" >>"$T/slaves.conf"
done
start_master m1 "$T/slaves.conf" --state-dir "$T/state"
wait_slaves_up m1 2 || bail "slaves not up"
L=$T/lock
mkdir -p "$T/marks"
for n in $(seq 1 8); do
    echo "mkdir $L 2>/dev/null || echo overlap >> $T/marks/overlap; echo \$(pwd) \$ZR >> $T/marks/$n; sleep 0.4; rmdir $L"
done >"$T/r.txt"
export ZR='r v "1"'
run_client -j 1 --wd sub --env ZR --detach "$T/r.txt"
id=$(cat "$T/out")
is "$RC" 0 "--detach -j 1 --wd --env: exit 0"
for _ in $(seq 1 200); do [ "$(ls "$T/marks" | wc -l)" -ge 2 ] && break; sleep 0.05; done
check "two commands started before the kill" test "$(ls "$T/marks" | wc -l)" -ge 2
port=$MASTER_PORT
{ kill -KILL "$MASTER_PID"; wait "$MASTER_PID"; } 2>/dev/null
MASTER_ON_PORT=$port start_master m2 "$T/slaves.conf" --state-dir "$T/state"
run_client --attach "$id" --joblog "$T/jl.r"
is "$RC" 0 "restarted: --attach gets the batch to its end, exit 0"
is "$(tail -n +2 "$T/jl.r" | wc -l)" 8 "8 results"
is "$(cat "$T/marks"/[0-9]* | sort | uniq -c | sed 's/^ *//')" "8 $T/place/sub r v \"1\"" \
    "each ran once, in --wd, with --env, after the restart too"
check "never two at once: -j 1 restored ($(cat "$T/marks/overlap" 2>/dev/null | wc -l) overlaps)" \
    test ! -e "$T/marks/overlap"
check "the journal has the OPTIONS record" sh -c "'$(prog serveur_maitre)' --dump-journal '$T/state' 2>/dev/null |
    grep '\"type\":\"options\"' | grep -q '\"jobs\":1,.*\"wd\":\"sub\",\"env\":\[\"ZR=r v \\\\\"1\\\\\"\"\]'"

# 8. A slave with a policy file (--allow) runs only the command lines it
# lists: --env (LD_PRELOAD, PATH, IFS...) and --wd would change what an
# allowed line does, so a job carrying them is refused (126, the reason
# said), and the same line without them still runs.
stop_all
mkdir -p "$T/pol/sub"
# (a shell only where the line names one: --allow runs the words without one)
printf '%s\n' "sh -c 'echo \"[\$ZP]\"; pwd'" >"$T/pol.allow"
start_slave pol -j 2 --chdir "$T/pol" --allow "$T/pol.allow"
echo "127.0.0.1 $SLAVE_PORT" >"$T/pol.conf"
start_master polm "$T/pol.conf"
wait_slaves_up polm 1 || bail "policy slave not up"
cp "$T/pol.allow" "$T/pol.txt"
run_client "$T/pol.txt"
is "$RC/$(cat "$T/out" | tr '\n' ' ')" "0/[] $T/pol " "--allow: the listed line runs without --env and --wd"
export ZP=injected
run_client --env ZP "$T/pol.txt"
is "$RC" 1 "--allow and --env: the command fails"
check "with exit 126 and the reason" grep -q "code retour = 126 (refused by the slave's policy (--allow): --wd and --env are not allowed with it)" "$T/err"
check "--env's value never reached a command" sh -c "! grep -q injected '$T/out'"
run_client --wd sub "$T/pol.txt"
is "$RC" 1 "--allow and --wd: the command fails"
check "with exit 126 and the reason (--wd)" grep -q "code retour = 126 (refused by the slave's policy (--allow): --wd and --env are not allowed with it)" "$T/err"
check "it did not run in sub" sh -c "! grep -q '/sub' '$T/out'"
unset ZP

done_testing
