#!/usr/bin/env bash
# client --halt WHEN,WHY=N[%] against GNU parallel's own --halt on the same
# command files, on the same number of slots (one slave of 2, parallel
# -j2): the same output, exit status and joblog Seqs; what must not run
# (marker files) does not, and what "now" kills leaves no side effect.
# The master applies the rule too (F_OPTIONS), before it dispatches
# anything more: no command starts in the round trip to the client.
. "$(dirname "$0")/lib.sh"

have_parallel=$(command -v parallel || true)
cluster 1 -j 2

# both DESCRIPTION HALT FILE: the client and GNU parallel (-k, -j2), each
# with its own marker dir ($T/m-client, $T/m-parallel: the commands'
# $M); RC/PRC, $T/c.out/$T/p.out, $T/cj/$T/pj.
both() {
    local desc=$1 halt=$2 file=$3
    rm -rf "$T/m-client" "$T/m-parallel"; mkdir -p "$T/m-client" "$T/m-parallel"
    sed "s|\$M|$T/m-client|g" "$file" >"$T/c.cmds"
    sed "s|\$M|$T/m-parallel|g" "$file" >"$T/p.cmds"
    RC=0; timeout 60 "$(prog client)" -k -q --halt "$halt" --joblog "$T/cj" 127.0.0.1 "$MASTER_PORT" "$T/c.cmds" \
        >"$T/c.out" 2>"$T/c.err" || RC=$?
    if [ -z "$have_parallel" ]; then
        echo "ok $((++_tap_n)) # SKIP $desc: GNU parallel is not installed (apt-get install parallel)"
        return 1
    fi
    PRC=0; timeout 60 parallel -k -j2 --halt "$halt" --joblog "$T/pj" <"$T/p.cmds" >"$T/p.out" 2>"$T/p.err" || PRC=$?
    is "$RC/$(cat "$T/c.out" | tr '\n' ' ')" "$PRC/$(cat "$T/p.out" | tr '\n' ' ')" \
        "$desc: exit status and output as GNU parallel's ($PRC)"
    is "$(tail -n +2 "$T/cj" | cut -f1,7 | sort -n | tr '\t\n' '= ')" "$(tail -n +2 "$T/pj" | cut -f1,7 | sort -n | tr '\t\n' '= ')" \
        "$desc: the joblog's Seqs and Exitvals as GNU parallel's"
}
markers() { ls "$T/m-$1" | sort | tr '\n' ' '; }

# 1. now,fail=1: the second command is killed in its sleep, the others never
# start; the exit status is the failing command's own.
printf '%s\n' 'sleep 0.3; exit 3' 'sleep 3; touch $M/2' 'touch $M/3' 'touch $M/4' >"$T/now.txt"
if both "now,fail=1" now,fail=1 "$T/now.txt"; then
    sleep 3.3 # the killed command would have touched its marker at 3 s
    is "$(markers client)" "$(markers parallel)" "now,fail=1: the same side effects as GNU parallel's (none)"
fi
check "now,fail=1: the client says why it stops" grep -q 'client: --halt: command 1 failed: stopping now' "$T/c.err"

# 2. soon,fail=1: the running command finishes, nothing new starts.
printf '%s\n' 'sleep 0.3; exit 3' 'sleep 1; touch $M/2; echo finished' 'touch $M/3' 'echo never' >"$T/soon.txt"
if both "soon,fail=1" soon,fail=1 "$T/soon.txt"; then
    is "$(markers client)" "$(markers parallel)" "soon,fail=1: the same side effects as GNU parallel's (the running one's)"
fi
is "$(markers client)" "2 " "soon,fail=1: the running command finished, the queued ones never ran"

# 3. now,success=1: exit 0 once one succeeds.
printf '%s\n' 'exit 2' 'sleep 0.3; echo ok' 'sleep 3; touch $M/3' 'touch $M/4' >"$T/succ.txt"
if both "now,success=1" now,success=1 "$T/succ.txt"; then
    sleep 3.3
    is "$(markers client)" "$(markers parallel)" "now,success=1: the same side effects as GNU parallel's"
fi

# 4. fail=2 (a count): the number of failed commands.
printf '%s\n' 'exit 3' 'sleep 0.3; exit 4' 'sleep 3; touch $M/3' 'touch $M/4' >"$T/two.txt"
both "now,fail=2" now,fail=2 "$T/two.txt"

# 5. now,done=50%: the share of the commands that failed (1 of 4: 25).
printf '%s\n' 'exit 3' 'sleep 0.3; echo a' 'sleep 2; echo b; touch $M/3' 'sleep 2.5; touch $M/4' >"$T/pct.txt"
if both "now,done=50%" now,done=50% "$T/pct.txt"; then
    sleep 2.7
    is "$(markers client)" "$(markers parallel)" "now,done=50%: the same side effects as GNU parallel's"
fi
is "$RC" 25 "now,done=50%: exit 25 (25% of the commands failed)"

# 6. The legacy forms and bad values.
printf '%s\n' 'sleep 0.3; exit 7' 'sleep 1; echo later' 'echo never' >"$T/legacy.txt"
both "2 (now,fail=1)" 2 "$T/legacy.txt"
RC=0; "$(prog client)" --halt sometimes 127.0.0.1 "$MASTER_PORT" "$T/now.txt" >/dev/null 2>"$T/bad.err" || RC=$?
is "$RC" 255 "--halt sometimes: a usage error (255)"
check "naming it" grep -q "client: --halt 'sometimes': expected now|soon,fail|success|done=N or N%" "$T/bad.err"
RC=0; "$(prog client)" --halt now,fail=0 127.0.0.1 "$MASTER_PORT" "$T/now.txt" >/dev/null 2>&1 || RC=$?
is "$RC" 255 "--halt now,fail=0: a usage error"

# 7. The master still serves.
served_meanwhile "after the halts" 10000

done_testing
