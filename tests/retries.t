#!/usr/bin/env bash
# client --retries N (GNU parallel's: a command that fails runs again, up
# to N runs in all, on another slave where it has not failed when there
# is one) against GNU parallel's own --retries; the failed runs' results
# are not delivered (one joblog line, the last run's output); a master
# killed with -9 between runs neither loses the command nor runs it more
# often than allowed (the journal counts its failed runs); --lost-retries
# is today's "attempts when the slave dies". Then --timeout N%.
. "$(dirname "$0")/lib.sh"

have_parallel=$(command -v parallel || true)
cluster 2 -j 1
main_port=$MASTER_PORT

# counter DIR: a command that counts its runs in DIR/c, notes each run's
# slave (its cwd) in DIR/runs, prints "run N", fails (exit 5) before run 3.
counter() {
    rm -rf "$1"; mkdir -p "$1"
    echo "n=\$(cat $1/c 2>/dev/null || echo 0); n=\$((n+1)); echo \$n >$1/c; echo \"\$n \$PWD\" >>$1/runs; echo \"run \$n\"; [ \$n -ge 3 ] || exit 5"
}

# 1. Fails twice, then succeeds: --retries 3 -> exit 0, one joblog line, the
# last run's output only.
{ counter "$T/a"; echo 'echo other'; } >"$T/a.cmds"
run_client -k -q --retries 3 --joblog "$T/a.log" "$T/a.cmds"
is "$RC/$(tr '\n' ' ' <"$T/out")" "0/run 3 other " "--retries 3: exit 0, the successful run's output only"
is "$(wc -l <"$T/a/runs" | tr -d ' ')" 3 "--retries 3: it ran 3 times"
is "$(tail -n +2 "$T/a.log" | cut -f1,7 | tr '\t\n' '= ')" "1=0 2=0 " "--retries 3: one joblog line per Seq, the last run's Exitval"
r1=$(sed -n 1p "$T/a/runs" | cut -d' ' -f2); r2=$(sed -n 2p "$T/a/runs" | cut -d' ' -f2)
check "--retries: the second run on the other slave ($r1 then $r2)" test -n "$r1" -a -n "$r2" -a "$r1" != "$r2"
check "--retries: the master says it runs it again" grep -q 'command 1 of .* failed on .* (exit 5): running it again (--retries: run 2 of 3)' "$T/master.log"

# 1c. Where the next run goes: two slaves of 2 slots, one busy with a
# `sleep 3`: the counter goes to the idle one and fails there; the least
# loaded is still that one, but the run goes to the other (GNU parallel:
# "on another computer on which it has not failed").
start_slave p1 -j 2; echo "127.0.0.1 $SLAVE_PORT" >"$T/pp.conf"
start_slave p2 -j 2; echo "127.0.0.1 $SLAVE_PORT" >>"$T/pp.conf"
start_master mp "$T/pp.conf"
wait_slaves_up mp 2 || bail "slaves not seen by master mp"
{ echo 'sleep 3; echo slept'; counter "$T/pp"; } >"$T/pp.cmds"
RC=0; timeout 60 "$(prog client)" -k -q --retries 3 127.0.0.1 "$MASTER_PORT" "$T/pp.cmds" >"$T/pp.out" 2>"$T/pp.err" || RC=$?
is "$RC/$(tr '\n' ' ' <"$T/pp.out")" "0/slept run 3 " "--retries 3 beside a busy slave: exit 0"
r1=$(sed -n 1p "$T/pp/runs" | cut -d' ' -f2); r2=$(sed -n 2p "$T/pp/runs" | cut -d' ' -f2)
check "the second run on the busy slave, where it had not failed (${r1##*/} then ${r2##*/}), not on the least loaded" \
    test -n "$r1" -a -n "$r2" -a "$r1" != "$r2"
MASTER_PORT=$main_port

# 1b. --json: "attempts", the runs it took (the result's host the last run's).
{ counter "$T/j"; echo 'echo other'; } >"$T/j.cmds"
run_client -k --retries 3 --json "$T/j.cmds"
is "$(grep -o '"seq":[0-9]*\|"attempts":[0-9]*' "$T/out" | tr '\n' ' ')" '"seq":1 "attempts":3 "seq":2 "attempts":1 ' \
    "--json --retries 3: attempts 3 for the one that failed twice, 1 for the other"
run_client -k --json "$T/j.cmds"
check "--json without --retries: no attempts" test "$(grep -c attempts "$T/out")" = 0

# 2. Only 2 runs allowed: reported as GNU parallel does (exit 1, Exitval 5,
# the last run's output).
{ counter "$T/b"; echo 'echo other'; } >"$T/b.cmds"
run_client -k -q --retries 2 --joblog "$T/b.log" "$T/b.cmds"
is "$(wc -l <"$T/b/runs" | tr -d ' ')" 2 "--retries 2: it ran 2 times"
if [ -n "$have_parallel" ]; then
    { counter "$T/p"; echo 'echo other'; } >"$T/p.cmds"
    PRC=0; timeout 60 parallel -k -j2 --retries 2 --joblog "$T/p.log" <"$T/p.cmds" >"$T/p.out" 2>"$T/p.err" || PRC=$?
    is "$RC/$(tr '\n' ' ' <"$T/out")" "$PRC/$(tr '\n' ' ' <"$T/p.out")" "--retries 2: exit status and output as GNU parallel's ($PRC)"
    is "$(tail -n +2 "$T/b.log" | cut -f1,7 | tr '\t\n' '= ')" "$(tail -n +2 "$T/p.log" | cut -f1,7 | sort -n | tr '\t\n' '= ')" \
        "--retries 2: the joblog's Seqs and Exitvals as GNU parallel's"
else
    echo "ok $((++_tap_n)) # SKIP GNU parallel is not installed (apt-get install parallel)"
    echo "ok $((++_tap_n)) # SKIP GNU parallel is not installed (apt-get install parallel)"
fi
is "$RC/$(tr '\n' ' ' <"$T/out")" "1/run 2 other " "--retries 2: exit 1, the last run's output"

# 2b. With --halt now,fail=1: a failed run that runs again is not a failure
# yet (GNU parallel counts only a command's last run).
{ counter "$T/h"; echo 'echo other'; } >"$T/h.cmds"
run_client -k -q --retries 3 --halt now,fail=1 "$T/h.cmds"
if [ -n "$have_parallel" ]; then
    { counter "$T/ph"; echo 'echo other'; } >"$T/ph.cmds"
    PRC=0; timeout 60 parallel -k -j2 --retries 3 --halt now,fail=1 <"$T/ph.cmds" >"$T/ph.out" 2>"$T/ph.err" || PRC=$?
    is "$RC/$(tr '\n' ' ' <"$T/out")" "$PRC/$(tr '\n' ' ' <"$T/ph.out")" "--retries 3 --halt now,fail=1: as GNU parallel's ($PRC)"
else
    echo "ok $((++_tap_n)) # SKIP GNU parallel is not installed (apt-get install parallel)"
fi
is "$RC/$(tr '\n' ' ' <"$T/out")" "0/run 3 other " "--retries 3 --halt now,fail=1: no halt, exit 0"

# 3. Without --retries a failed command runs once (as before).
counter "$T/c" >"$T/c.cmds"
run_client -q "$T/c.cmds"
is "$RC/$(wc -l <"$T/c/runs" | tr -d ' ')" "1/1" "no --retries: one run, exit 1"
RC=0; "$(prog client)" --retries 0 127.0.0.1 "$MASTER_PORT" "$T/c.cmds" >/dev/null 2>"$T/bad.err" || RC=$?
is "$RC" 255 "--retries 0: a usage error (255)"
check "naming it" grep -q "client: --retries: '0' is not a number from 1 to 100" "$T/bad.err"

# 4. --lost-retries 1: a command whose slave dies is not run again (today's
# --retries); the default runs it again.
start_slave l1 -j 1; l1_pid=$SLAVE_PID; echo "127.0.0.1 $SLAVE_PORT" >"$T/l.conf"
start_slave l2 -j 1; echo "127.0.0.1 $SLAVE_PORT" >>"$T/l.conf"
start_master ml "$T/l.conf" --dead-after 1
wait_slaves_up ml 2 || bail "slaves not seen by master ml"
mkdir -p "$T/l"
echo "echo \$PWD >>$T/l/runs; sleep 8" >"$T/l.cmds"
RC=0; timeout 60 "$(prog client)" --lost-retries 1 127.0.0.1 "$MASTER_PORT" "$T/l.cmds" >"$T/l.out" 2>"$T/l.err" &
lc=$!
wait_for_line "$T/l/runs" . 10 >/dev/null || bail "the command did not start"
where=$(cat "$T/l/runs")
case "$where" in
    */l1) dead=$l1_pid ;;
    *) dead=$SLAVE_PID ;;
esac
{ kill -9 "$dead"; wait "$dead"; } 2>/dev/null
wait "$lc" || RC=$?
is "$RC/$(wc -l <"$T/l/runs" | tr -d ' ')" "1/1" "--lost-retries 1: its slave died, not run again (exit 1)"
check "--lost-retries 1: after 1 attempt" grep -q "after 1 attempt" "$T/l.err"

# 5. The master killed -9 while the second run runs (the first one's
# failure journaled): restarted, the command is neither lost nor run a
# third time (--retries 2: 2 runs in all), the client's status GNU's.
start_slave k1 -j 1; echo "127.0.0.1 $SLAVE_PORT" >"$T/k.conf"
start_slave k2 -j 1; echo "127.0.0.1 $SLAVE_PORT" >>"$T/k.conf"
start_master mk "$T/k.conf" --state-dir "$T/sdk"
wait_slaves_up mk 2 || bail "slaves not seen by master mk"
pk=$MASTER_PORT mk_pid=$MASTER_PID
mkdir -p "$T/k"
echo "n=\$(cat $T/k/c 2>/dev/null || echo 0); n=\$((n+1)); echo \$n >$T/k/c; echo \"\$n \$PWD\" >>$T/k/runs; [ \$n -lt 2 ] || sleep 4; exit 4" >"$T/k.cmds"
RC=0; timeout 90 "$(prog client)" -q --reconnect 60 --retries 2 --joblog "$T/k.log" 127.0.0.1 "$pk" "$T/k.cmds" \
    >"$T/k.out" 2>"$T/k.err" &
kc=$!
wait_for_line "$T/k/runs" '^2 ' 10 >/dev/null || bail "the second run did not start: $(cat "$T/k.err")"
{ kill -9 "$mk_pid"; wait "$mk_pid"; } 2>/dev/null
MASTER_ON_PORT=$pk start_master mkb "$T/k.conf" --state-dir "$T/sdk"
wait "$kc" || RC=$?
is "$RC/$(wc -l <"$T/k/runs" | tr -d ' ')" "1/2" "master killed between runs: exit 1, 2 runs in all (neither lost nor run a 3rd time)"
is "$(tail -n +2 "$T/k.log" | cut -f1,7 | tr '\t\n' '= ')" "1=4 " "master killed between runs: one joblog line, Exitval 4"
r1=$(sed -n 1p "$T/k/runs" | cut -d' ' -f2); r2=$(sed -n 2p "$T/k/runs" | cut -d' ' -f2)
check "master killed between runs: the runs on both slaves" test -n "$r1" -a -n "$r2" -a "$r1" != "$r2"

# 5c. The same on a detached batch: no client resends its OPTIONS after the
# restart; --retries 3 comes back from the journal (its OPTIONS record),
# so the run killed with its master fails, runs a third time and succeeds.
start_master md "$T/k.conf" --state-dir "$T/sdd"
wait_slaves_up md 2 || bail "slaves not seen by master md"
pd=$MASTER_PORT md_pid=$MASTER_PID
mkdir -p "$T/d"
echo "n=\$(cat $T/d/c 2>/dev/null || echo 0); n=\$((n+1)); echo \$n >$T/d/c; echo \$n >>$T/d/runs; [ \$n -ge 3 ] && echo ok-\$n && exit 0; [ \$n -lt 2 ] || sleep 2; exit 6" >"$T/d.cmds"
run_client -q --retries 3 --detach "$T/d.cmds"
did=$(cat "$T/out")
is "$RC" 0 "--retries 3 --detach: exit 0"
wait_for_line "$T/d/runs" '^2$' 10 >/dev/null || bail "the second run did not start"
{ kill -9 "$md_pid"; wait "$md_pid"; } 2>/dev/null
MASTER_ON_PORT=$pd start_master mdb "$T/k.conf" --state-dir "$T/sdd"
run_client -q --attach "$did"
is "$RC/$(cat "$T/out")/$(wc -l <"$T/d/runs" | tr -d ' ')" "0/ok-3/3" \
    "detached, master killed -9 during run 2: --retries 3 restored from the journal (exit 0, 3 runs)"

# 5b. A run that fails while the master shuts down (SIGTERM: the running
# ones finish): the batch is kept in the journal, so the command stays
# queued and its next run comes after the restart.
start_master mt "$T/k.conf" --state-dir "$T/sdt"
wait_slaves_up mt 2 || bail "slaves not seen by master mt"
pt=$MASTER_PORT mt_pid=$MASTER_PID
mkdir -p "$T/st"
echo "n=\$(cat $T/st/c 2>/dev/null || echo 0); n=\$((n+1)); echo \$n >$T/st/c; echo \$n >>$T/st/runs; [ \$n -ge 2 ] && echo ok && exit 0; sleep 1; exit 3" >"$T/st.cmds"
RC=0; timeout 90 "$(prog client)" -q --reconnect 60 --retries 2 127.0.0.1 "$pt" "$T/st.cmds" >"$T/st.out" 2>"$T/st.err" &
tc=$!
wait_for_line "$T/st/runs" '^1$' 10 >/dev/null || bail "the first run did not start: $(cat "$T/st.err")"
kill -TERM "$mt_pid"
{ wait "$mt_pid"; } 2>/dev/null
check "the master stopped after the failed run, its command kept" grep -q "running it again (--retries: run 2 of 2)" "$T/mt.log"
MASTER_ON_PORT=$pt start_master mtb "$T/k.conf" --state-dir "$T/sdt"
wait "$tc" || RC=$?
is "$RC/$(cat "$T/st.out")/$(wc -l <"$T/st/runs" | tr -d ' ')" "0/ok/2" \
    "a run failed during the shutdown: run again after the restart (exit 0, 2 runs)"

# 6. --timeout 300%: -j1, three quick successes then a `sleep 30`: that one
# times out at 3 times their median (about 0.6 s), as a timeout (joblog
# Exitval -1, Signal 15, as a seconds --timeout), the exit status GNU's.
printf '%s\n' 'sleep 0.2; echo a' 'sleep 0.2; echo b' 'sleep 0.2; echo c' "sleep 30; touch $T/never" 'echo after' >"$T/t.cmds"
start=$(date +%s%N)
run_client -k -q -j1 --timeout 300% --joblog "$T/t.log" "$T/t.cmds"
took=$(( ($(date +%s%N) - start) / 1000000 ))
check "--timeout 300%: the sleep 30 killed early ($took ms in all)" test "$took" -lt 15000
is "$(tail -n +2 "$T/t.log" | cut -f1,7,8 | tr '\t\n' ':,')" "1:0:0,2:0:0,3:0:0,4:-1:15,5:0:0," \
    "--timeout 300%: the joblog's Exitval -1 and Signal 15 for it"
rt=$(awk -F'\t' '$1 == 4 { print $4 }' "$T/t.log" | tr -d ' ')
check "--timeout 300%: it ran about 3 times the median, not the 30 s (JobRuntime $rt)" awk -v r="$rt" 'BEGIN { exit !(r >= 0.5 && r < 5) }'
if [ -n "$have_parallel" ]; then
    PRC=0; timeout 60 parallel -k -j1 --timeout 300% --joblog "$T/pt.log" <"$T/t.cmds" >"$T/pt.out" 2>"$T/pt.err" || PRC=$?
    is "$RC/$(tr '\n' ' ' <"$T/out")" "$PRC/$(tr '\n' ' ' <"$T/pt.out")" "--timeout 300%: exit status and output as GNU parallel's ($PRC)"
    is "$(tail -n +2 "$T/t.log" | cut -f1,7,8 | tr '\t\n' ':,')" "$(tail -n +2 "$T/pt.log" | cut -f1,7,8 | tr '\t\n' ':,')" \
        "--timeout 300%: the joblog's Exitvals and Signals as GNU parallel's"
else
    echo "ok $((++_tap_n)) # SKIP GNU parallel is not installed (apt-get install parallel)"
    echo "ok $((++_tap_n)) # SKIP GNU parallel is not installed (apt-get install parallel)"
fi
# With no success yet, N% does not apply (GNU parallel's too): a lone failure
# then a slow one are not killed; bad values are usage errors.
printf '%s\n' 'exit 3' 'sleep 1.5; echo slow' >"$T/t2.cmds"
run_client -k -q -j1 --timeout 1% "$T/t2.cmds"
is "$RC/$(cat "$T/out")" "1/slow" "--timeout 1%: before any success, nothing is timed out"
RC=0; "$(prog client)" --timeout 0% 127.0.0.1 "$MASTER_PORT" "$T/t2.cmds" >/dev/null 2>"$T/bad.err" || RC=$?
is "$RC" 255 "--timeout 0%: a usage error (255)"
check "naming it" grep -q "client: --timeout (N%): '0' is not a number from 1 to 100000" "$T/bad.err"

done_testing
