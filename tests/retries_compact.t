#!/usr/bin/env bash
# retries_compact.t - client --retries across a journal compaction: a
# command whose first run failed runs again (its second run waits for a
# file) while forgotten batches of 1 MiB outputs grow the journal to a
# compaction; the master is then killed with -9 and restarted on the
# compacted journal: the command's failed run is still counted (--retries
# 2: it is not run a third time), nothing is lost.
. "$(dirname "$0")/lib.sh"
S=$T/state
start_slave s1 -j 2; echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
start_slave s2 -j 2; echo "127.0.0.1 $SLAVE_PORT" >>"$T/slaves.conf"
start_master m1 "$T/slaves.conf" --state-dir "$S" --keep-results 0
wait_slaves_up m1 2 || bail "slaves not up"
port=$MASTER_PORT

L=$T/live
mkdir -p "$L"
echo "n=\$(cat $L/c 2>/dev/null || echo 0); n=\$((n+1)); echo \$n >$L/c; echo \"\$n \$PWD\" >>$L/runs; if [ \$n -ge 2 ]; then while [ ! -f $L/go ]; do sleep 0.1; done; fi; exit 4" >"$L/cmds"
RC=0; timeout 300 "$(prog client)" -q --reconnect 120 --retries 2 --joblog "$L/joblog" 127.0.0.1 "$port" "$L/cmds" \
    >"$L/out" 2>"$L/err" &
lc=$!
wait_for_line "$L/runs" '^2 ' 20 >/dev/null || bail "the second run did not start: $(cat "$L/err")"

G=$T/garbage
mkdir -p "$G"
for n in $(seq 1 12); do echo "yes garbage-$n | head -c 1048576"; done >"$G/cmds"
for round in $(seq 1 12); do
    grep -q 'compacted' "$T/m1.log" && break
    run_client -q "$G/cmds"
done
check "the master compacted its journal while the second run ran" grep -q "journal $S/journal compacted" "$T/m1.log"
{ kill -KILL "$MASTER_PID"; wait "$MASTER_PID"; } 2>/dev/null
"$(prog serveur_maitre)" --dump-journal "$S" >"$T/dump.out" 2>&1 || true
check "the compacted journal names the failed run's slave (by its hash)" grep -q '"job_id":0.*"slave":"#[0-9a-f]\{8\}"' "$T/dump.out"
MASTER_ON_PORT=$port start_master m2 "$T/slaves.conf" --state-dir "$S" --keep-results 0
wait_slaves_up m2 2 || bail "slaves not up after the restart"
wait_for_line "$T/m2.log" 'attached \(resuming' 60 >/dev/null || bail "the client did not come back: $(cat "$L/err")"
touch "$L/go"
wait "$lc" || RC=$?
is "$RC/$(wc -l <"$L/runs" | tr -d ' ')" "1/2" "after the compaction and the kill: exit 1, 2 runs in all (not a 3rd)"
is "$(tail -n +2 "$L/joblog" | cut -f1,7 | tr '\t\n' '= ')" "1=4 " "one joblog line, Exitval 4"
done_testing
