#!/usr/bin/env bash
# Batches with the real programs (issue 10): --detach / --batches /
# --attach round trip; a client killed with -9, its batch followed by
# client --attach; the master killed with -9 mid-batch and restarted on
# the same port and state dir while the same client process reconnects.
# (tests/resume_client.t checks the client alone, against a fake master.)
. "$(dirname "$0")/lib.sh"
if ! "$(prog serveur_maitre)" --help 2>&1 | grep -q -- --state-dir; then
    skip_all "needs the journal (issue 10): serveur_maitre has no --state-dir yet"
fi

# slow_marker_cmds N DIR: marker_cmds (tests/lib.sh), each taking a little
# while, so that a batch is still running when something is killed.
slow_marker_cmds() {
    local n
    mkdir -p "$2/markers"
    for n in $(seq 1 "$1"); do echo "sleep 0.02; echo x >> $2/markers/$n; echo out-$n"; done >"$2/cmds"
}
# joblog_jobs FILE: how many jobs a joblog holds (0 if it is not there yet)
joblog_jobs() { if [ -f "$1" ]; then tail -n +2 "$1" | wc -l; else echo 0; fi; }

: >"$T/slaves.conf"
for i in 1 2; do
    start_slave "s$i" -j 2
    echo "127.0.0.1 $SLAVE_PORT" >>"$T/slaves.conf"
done
start_master m1 "$T/slaves.conf" --state-dir "$T/state"
wait_slaves_up m1 2 || bail "slaves not up"

# 1. --detach, --batches, --attach.
D=$T/d1
slow_marker_cmds 40 "$D"
run_client --detach "$D/cmds"
id=$(cat "$T/out")
is "$RC" 0 "--detach: exit 0"
check "--detach: the batch ID alone on stdout (16 hex digits: '$id')" grep -Eqx '[0-9a-f]{16}' "$T/out"
run_client --batches
is "$RC" 0 "--batches: exit 0"
check "--batches: a header" grep -q '^ID  *STATE  *DONE/TOTAL  *RUNNING  *CREATED  *CLIENT$' "$T/out"
check "--batches: the detached batch, 40 commands" grep -Eq "^$id  +(detached|finished) +[0-9]+/40 " "$T/out"
run_client --batches --json
check "--batches --json: the batch as JSON" grep -q "\"batch\":\"$id\"" "$T/out"
run_client --attach "$id" -k --joblog "$D/joblog" --results "$D/res"
is "$RC" 0 "--attach: exit 0"
is "$(grep -c '^out-' "$T/out")" 40 "--attach: 40 results"
is "$(grep '^out-' "$T/out" | tr '\n' ' ')" "$(for n in $(seq 1 40); do printf 'out-%s ' "$n"; done)" \
    "--attach -k: in input order"
check_markers "detach/attach" 40 "$D"
# (the ACK of the --attach that just ended may still be on its way)
for _ in $(seq 1 40); do run_client --batches; grep -Eq "^$id  +delivered " "$T/out" && break; sleep 0.05; done
check "--batches: delivered once --attach got every result" grep -Eq "^$id  +delivered +40/40 " "$T/out"
run_client --attach 0123456789abcdef
is "$RC" 255 "--attach of an unknown batch: exit 255"
check "and says so" grep -q 'no batch 0123456789abcdef on this master' "$T/err"

# 2. A client killed with -9: its batch waits (--client-grace), and
# client --attach ID gets every result, the done ones first.
D=$T/d2
slow_marker_cmds 200 "$D"
"$(prog client)" -v 127.0.0.1 "$MASTER_PORT" --joblog "$D/joblog.first" "$D/cmds" >"$T/k.out" 2>"$T/k.err" &
kpid=$!
PIDS+=("$kpid")
for _ in $(seq 1 400); do [ "$(joblog_jobs "$D/joblog.first")" -ge 30 ] && break; sleep 0.05; done
{ kill -KILL "$kpid"; wait "$kpid"; } 2>/dev/null
id=$(sed -n 's/^client: batch \([0-9a-f]\{16\}\).*/\1/p' "$T/k.err")
check "the client said its batch ID with -v ('$id')" test -n "$id"
# (until the master has seen it go, the batch is another client's)
for _ in $(seq 1 100); do run_client --batches; grep -Eq "^$id  +(orphaned|finished) " "$T/out" && break; sleep 0.05; done
check "--batches: the killed client's batch is orphaned (or finished)" grep -Eq "^$id  +(orphaned|finished) " "$T/out"
run_client --attach "$id" --joblog "$D/joblog" --results "$D/res"
is "$RC" 0 "--attach after the client was killed: exit 0"
is "$(grep -c '^out-' "$T/out")/$(grep '^out-' "$T/out" | sort -u | wc -l)" "200/200" "--attach: every result, once"
check_markers "client killed, then --attach" 200 "$D"

# 3. The master killed with -9 mid-batch, restarted on the same port and
# state dir: the same client process reconnects and finishes.
D=$T/d3
slow_marker_cmds 300 "$D"
"$(prog client)" 127.0.0.1 "$MASTER_PORT" --joblog "$D/joblog" --results "$D/res" "$D/cmds" >"$T/r.out" 2>"$T/r.err" &
rpid=$!
PIDS+=("$rpid")
for _ in $(seq 1 400); do [ "$(joblog_jobs "$D/joblog")" -ge 60 ] && break; sleep 0.05; done
port=$MASTER_PORT
{ kill -KILL "$MASTER_PID"; wait "$MASTER_PID"; } 2>/dev/null
MASTER_ON_PORT=$port start_master m2 "$T/slaves.conf" --state-dir "$T/state"
rc=0; wait "$rpid" || rc=$?
is "$rc" 0 "master killed -9 and restarted: the same client exits 0"
check "it said it reconnected" grep -q '^client: reconnected$' "$T/r.err"
is "$(grep -c 'reconnecting for up to' "$T/r.err")" 1 "it said once that it was reconnecting"
is "$(grep -c '^out-' "$T/r.out")/$(grep '^out-' "$T/r.out" | sort -u | wc -l)" "300/300" "every result printed, once"
is "$(grep -c '^==> \[' "$T/r.err")" 300 "300 status lines, none twice"
check_markers "master killed and restarted" 300 "$D"

done_testing
