#!/usr/bin/env bash
# attack10_compact.t - the master killed with -9 while it compacts its
# journal (issue 10): a live detached batch of 1 MiB outputs, then
# delivered batches forgotten at once (--keep-results 0) until the journal
# is 64 MiB and half forgotten; the master is killed as soon as
# journal.compact appears, restarted on the same state dir, and the live
# batch must come back whole: every result byte-exact, every command once.
# The live batch's last command waits for a file, so that the batch is not
# finished (a finished detached batch is forgotten after --keep-results
# too) and one of its commands runs across the kills and compactions.
. "$(dirname "$0")/lib.sh"
if ! "$(prog serveur_maitre)" --help 2>&1 | grep -q -- --state-dir; then
    skip_all "needs the journal (issue 10)"
fi
S=$T/state
start_slave s1 -j 2
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
start_master m1 "$T/slaves.conf" --state-dir "$S" --keep-results 0
wait_slaves_up m1 1 || bail "slave not up"

# big_cmds N TAG DIR: N commands, each a marker and 1 MiB of its own output
big_cmds() {
    local n
    mkdir -p "$3/markers"
    for n in $(seq 1 "$1"); do
        echo "echo x >> $3/markers/$n; yes $2-$n | head -c 1048576"
    done >"$3/cmds"
}
L=$T/live
big_cmds 16 live "$L"
echo "echo x >> $L/markers/17; while [ ! -f $L/go ]; do sleep 0.1; done; echo live-17" >>"$L/cmds"
run_client --detach "$L/cmds"
id=$(cat "$T/out")
is "$RC" 0 "the live batch is detached ($id)"
for _ in $(seq 1 600); do
    run_client --batches
    grep -Eq "^$id +detached +16/17 " "$T/out" && break
    sleep 0.1
done
check "the live batch has 16 of its 17 results (the 17th waits)" grep -Eq "^$id +detached +16/17 " "$T/out"

# The watcher: kill -9 the master as soon as journal.compact exists.
python3 - "$S/journal.compact" "$MASTER_PID" >"$T/watch.out" <<'PY' &
import os, signal, sys, time
path, pid = sys.argv[1], int(sys.argv[2])
end = time.monotonic() + 300
while time.monotonic() < end:
    if os.path.exists(path):
        os.kill(pid, signal.SIGKILL)
        print("killed", flush=True)
        break
    time.sleep(0.0005)
PY
wpid=$!
PIDS+=("$wpid")
G=$T/garbage
big_cmds 12 garbage "$G"
for round in $(seq 1 10); do
    kill -0 "$MASTER_PID" 2>/dev/null || break
    run_client -q --reconnect 0 "$G/cmds" # (killed under it: no waiting for it to come back)
done
wait "$wpid"
check "the master was killed while it compacted (journal.compact appeared)" grep -q killed "$T/watch.out"
{ wait "$MASTER_PID"; } 2>/dev/null
PIDS=("$SLAVE_PID")
ls -l "$S" >&2
port=$MASTER_PORT
MASTER_ON_PORT=$port start_master m2 "$T/slaves.conf" --state-dir "$S" --keep-results 0
wait_slaves_up m2 1 || bail "slave not up after the restart"
check "the restarted master reports no damage" bash -c "! grep -Eq 'bad checksum|bad length|malformed|torn tail' '$T/m2.log'"
# Then a compaction that ends (the live batch rewritten into a new
# journal), a kill -9 after it, and a restart on the compacted journal.
for round in $(seq 1 10); do
    grep -q 'compacted' "$T/m2.log" && break
    run_client -q "$G/cmds"
done
check "the restarted master compacted its journal" grep -q "journal $S/journal compacted" "$T/m2.log"
{ kill -KILL "$MASTER_PID"; wait "$MASTER_PID"; } 2>/dev/null
PIDS=("$SLAVE_PID")
MASTER_ON_PORT=$port start_master m3 "$T/slaves.conf" --state-dir "$S" --keep-results 0
wait_slaves_up m3 1 || bail "slave not up after the second restart"
check "the master restarted on the compacted journal reports no damage" bash -c "! grep -Eq 'bad checksum|bad length|malformed|torn tail|cannot' '$T/m3.log'"
# The 17th may end only once the client is attached: a detached batch
# finished is forgotten at once here (--keep-results 0).
RC=0
timeout 120 "$(prog client)" 127.0.0.1 "$MASTER_PORT" --attach "$id" --results "$L/res" --joblog "$L/joblog" \
    >"$T/out" 2>"$T/err" &
apid=$!
wait_for_line "$T/m3.log" "batch $id: .* attached" 30 >/dev/null || bail "the client did not attach: $(cat "$T/err")"
touch "$L/go"
wait "$apid" || RC=$?
is "$RC" 0 "--attach of the live batch after the kill: exit 0"
bad=0 twice=0
for n in $(seq 1 16); do
    [ "$(cat "$L/res/$n/stdout" 2>/dev/null | cmp - <(yes "live-$n" | head -c 1048576) && echo same)" = same ] || bad=$((bad + 1))
    [ "$(wc -l <"$L/markers/$n")" = 1 ] || twice=$((twice + 1))
done
is "$(cat "$L/res/17/stdout" 2>/dev/null)/$(wc -l <"$L/markers/17")" "live-17/1" \
    "the command that ran across the kills and compactions: its result, and it ran once"
is "$bad" 0 "every result of the live batch byte-exact (1 MiB each)"
is "$twice" 0 "every command of the live batch ran once"
# and the journal, once compacted, still compacts and serves
run_client -q "$G/cmds"
is "$RC" 0 "a new batch is served after the restart"
done_testing
