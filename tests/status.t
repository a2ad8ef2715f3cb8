#!/usr/bin/env bash
# client --status (table and --json, doc/monitoring.md), SIGUSR1 (the
# status in the master's log) and SIGUSR2 (verbose logging toggled).
. "$(dirname "$0")/lib.sh"

# Two slaves of 2 slots, a master with a journal that declares a silent
# slave dead after 2 s.
: >"$T/slaves.conf"
SLAVE_PIDS=()
for i in 1 2; do
    start_slave "s$i" -j 2
    SLAVE_PIDS+=("$SLAVE_PID")
    echo "127.0.0.1 $SLAVE_PORT" >>"$T/slaves.conf"
done
start_master master "$T/slaves.conf" --dead-after 2
wait_slaves_up master 2 || bail "slaves not seen by the master"

# status [client options]: client --status --json into $T/st.json, exit in SRC.
status() {
    SRC=0
    timeout 30 "$(prog client)" "$@" --status --json 127.0.0.1 "$MASTER_PORT" >"$T/st.json" 2>"$T/st.err" || SRC=$?
}
# q EXPR: a Python expression over the JSON (j), printed.
q() {
    python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$T/st.json" "$1"
}

# 0. Usage: --status takes no FILE and goes alone.
RC=0; "$(prog client)" --status 127.0.0.1 "$MASTER_PORT" somefile >/dev/null 2>"$T/use.err" || RC=$?
is "$RC" 255 "--status with a FILE: exit 255"
check "saying so" grep -q 'expected \[HOST PORT\] and no FILE with --status' "$T/use.err"
RC=0; "$(prog client)" --status --batches >/dev/null 2>"$T/use.err" || RC=$?
is "$RC" 255 "--status --batches: exit 255"
check "saying so" grep -q -- '--batches and --status go alone' "$T/use.err"

# 1. Nothing running yet: both slaves up, 2 slots each, no batch.
status
is "$SRC" 0 "--status --json: exit 0"
is "$(q 'len(j["slaves"])')" 2 "two slaves"
is "$(q '" ".join(s["state"] + "/" + str(s["slots"]) for s in j["slaves"])')" "up/2 up/2" "each up with 2 slots"
is "$(q 'j["batches"]')" "[]" "no batch yet"
is "$(q 'type(j["journal_bytes"]).__name__ + str(j["journal_bytes"] > 0)')" "intTrue" "journal_bytes > 0 (a journal)"
is "$(q 'j["version"] == open("/dev/stdin").read().split()[1]' < <("$(prog client)" --version))" True \
    "version: the programs' version"
is "$(q 'all(k in s for s in j["slaves"] for k in ("name","state","slots","running","done","failed","rtt_ms","retransmit_ratio","last_heard_ms","load"))')" \
    True "every slave field of the issue is there"
is "$(q 'all(isinstance(s["load"], float) and s["load"] >= 0 and s["cpus"] >= 1 and s["memfree_bytes"] > 0 and s["weight"] == 1 and s["held"] is None for s in j["slaves"])')" \
    True "load, cpus, memfree_bytes as the slaves reported them; weight 1, not held (tests/load.t: the rest)"
is "$(q 'j["slaves"][0]["last_heard_ms"] < 2000 and j["slaves"][0]["rtt_ms"] is not None and j["slaves"][0]["rtt_ms"] < 1000')" \
    True "last_heard_ms and rtt_ms plausible"

# 2. A batch: 4 quick commands (2 fail), then 10 sleeps on 4 slots.
# (0.1 s each: commands under 50 ms on average would go 2 per slot)
printf 'sleep 0.1\nsleep 0.1; exit 3\nsleep 0.1; false\nsleep 0.1; echo x\n' >"$T/batch.txt"
for i in $(seq 1 10); do echo "sleep 20; echo s$i"; done >>"$T/batch.txt"
"$(prog client)" -q 127.0.0.1 "$MASTER_PORT" "$T/batch.txt" >"$T/batch.out" 2>&1 &
batch=$!
PIDS+=("$batch")
for _ in $(seq 1 100); do
    status
    [ "$SRC" = 0 ] && [ "$(q 'j["running"]')" = 4 ] && [ "$(q 'sum(b["done"] for b in j["batches"])')" = 4 ] && break
    sleep 0.1
done
is "$(q 'len(j["batches"])')" 1 "one batch"
is "$(q '" ".join(str(s["running"]) for s in j["slaves"])')" "2 2" "each slave runs 2"
is "$(q 'sum(s["running"] for s in j["slaves"])')" 4 "running sums to 4 (the slots)"
is "$(q '(lambda b: "%d/%d/%d/%d/%d" % (b["submitted"], b["queued"], b["running"], b["done"], b["failed"]))(j["batches"][0])')" \
    "14/6/4/4/2" "the batch: 14 submitted, 6 queued (14 - 4 - 4), 4 running, 4 done, 2 failed"
is "$(q 'len(j["batches"][0]["id"]) == 16 and j["batches"][0]["client"].startswith("127.0.0.1:") and j["batches"][0]["state"]')" \
    attached "the batch's id, client and state"
is "$(q 'abs(j["batches"][0]["started"] / 1000 - __import__("time").time()) < 60')" True "started: wall clock ms"
is "$(q 'j["finished_per_s"] > 0 and j["finished_total"] == 4 and j["failed_total"] == 2 and j["finished"]["exited"] == 4')" \
    True "finished_per_s > 0, 4 finished, 2 failed"
is "$(q 'j["queued"] == 6 and j["slots"] == 4 and j["slaves_up"] == 2 and j["clients"] >= 1')" True \
    "master totals: queued, slots, slaves_up, clients"
is "$(q '0 < j["uptime_s"] < 120')" True "uptime_s plausible"
is "$(q 'sum(s["done"] for s in j["slaves"]) == 4 and sum(s["failed"] for s in j["slaves"]) == 2')" True \
    "per slave done/failed sum to the batch's"
is "$(q 'all(s["datagrams_sent"] > 0 and s["retransmit_ratio"] is not None for s in j["slaves"])')" True \
    "datagrams counted per slave"
# jobs: the commands on each slave now, with the client's [N] (5.. are the sleeps)
is "$(q '" ".join(str(len(s["jobs"])) for s in j["slaves"])')" "2 2" "jobs: two on each slave"
is "$(q '" ".join(sorted(str(x["seq"]) + "=" + x["command"] for s in j["slaves"] for x in s["jobs"]))')" \
    "5=sleep 20; echo s1 6=sleep 20; echo s2 7=sleep 20; echo s3 8=sleep 20; echo s4" \
    "jobs: the first four sleeps, each with its seq and command line"
is "$(q 'all(x["state"] == "running" and x["batch"] == j["batches"][0]["id"] and x["client"] == j["batches"][0]["client"] and 0 <= x["running_ms"] < 60000 for s in j["slaves"] for x in s["jobs"])')" \
    True "jobs: running, of the batch, its client, running_ms plausible"

# 3. The table on a pipe: the master line, the column headers in their order.
RC=0; timeout 30 "$(prog client)" --status 127.0.0.1 "$MASTER_PORT" >"$T/table" 2>&1 || RC=$?
is "$RC" 0 "--status: exit 0"
check "the master line" grep -Eq '^master [0-9.]+ up [0-9.]+s, 2/2 slaves up, 4 slots, 4 running, 6 queued, 4 finished \(2 failed\)' "$T/table"
is "$(sed -n 2p "$T/table" | tr -s ' ')" "SLAVE STATE SLOTS RUNNING DONE FAILED RTT_MS RETRANS LAST_HEARD LOAD CPUS MEMFREE WEIGHT HELD" "the slaves' header"
is "$(grep -c '^127\.0\.0\.1:[0-9]* *up  *2  *2 ' "$T/table")" 2 "one line per slave: up, 2 slots, 2 running"
is "$(sed -n 5p "$T/table" | tr -s ' ')" "BATCH STATE TOTAL QUEUED RUNNING DONE FAILED AGE CLIENT PRIO ORDER" "the batches' header"
check "one line for the batch" grep -Eq '^[0-9a-f]{16} attached +14 +6 +4 +4 +2 +[0-9.]+s 127\.0\.0\.1:' "$T/table"
is "$(wc -l <"$T/table")" 6 "six lines: master, header, 2 slaves, header, 1 batch"

# 4. SIGUSR1: the status in the log, and the master goes on serving.
kill -USR1 "$MASTER_PID"
check "SIGUSR1: the master line" wait_for_line "$T/master.log" 'status: [0-9.]+ up [0-9]+ s, 2/2 slaves up, 4 slots, 4 running, 6 queued' 10
check "SIGUSR1: a line per slave" wait_for_line "$T/master.log" "status: slave 127.0.0.1:${SLAVE_PORT} up, 2 slots, 2 running" 10
check "SIGUSR1: a line per batch" wait_for_line "$T/master.log" 'status: batch [0-9a-f]{16} attached, client 127.0.0.1:[0-9]+, 14 submitted, 6 queued, 4 running, 4 done, 2 failed' 10
kill -0 "$MASTER_PID"; ok $? "the master is alive after SIGUSR1"
status
is "$SRC/$(q 'j["running"]')" "0/4" "and answers --status after it"

# 5. SIGUSR2: verbose on (a debug line appears), off again (none).
check "no debug line before" test "$(grep -c ': debug: ' "$T/master.log")" = 0
kill -USR2 "$MASTER_PID"
check "SIGUSR2: 'verbose logging on'" wait_for_line "$T/master.log" 'SIGUSR2: verbose logging on' 10
status
is "$(q 'j["verbose"]')" True "--status says verbose"
check "a debug line appears (a connection's end)" wait_for_line "$T/master.log" ': debug: client 127.0.0.1:[0-9]+ disconnected' 10
kill -USR2 "$MASTER_PID"
check "SIGUSR2 again: 'verbose logging off'" wait_for_line "$T/master.log" 'SIGUSR2: verbose logging off' 10
off_at=$(grep -n 'verbose logging off' "$T/master.log" | tail -1 | cut -d: -f1)
status
is "$(q 'j["verbose"]')" False "--status says not verbose"
status
sleep 0.5 # the master logs a connection's end when it reads its EOF
is "$(tail -n +"$((off_at + 1))" "$T/master.log" | grep -c ': debug: ' || true)" 0 "no debug line after it"

# 6. A slave killed: dead (or suspect first) within the master's detection time.
{ kill -KILL "${SLAVE_PIDS[1]}"; wait "${SLAVE_PIDS[1]}"; } 2>/dev/null
dead_port=$(sed -n 2p "$T/slaves.conf" | cut -d' ' -f2)
t0=$(date +%s%N)
state=
for _ in $(seq 1 100); do
    status
    state=$(q '[s["state"] for s in j["slaves"] if s["name"].endswith(":'"$dead_port"'")][0]')
    [ "$state" = dead ] && break
    sleep 0.1
done
took=$(( ($(date +%s%N) - t0) / 1000000 ))
is "$state" dead "the killed slave is dead"
check "within --dead-after 2 s and a margin ($took ms)" test "$took" -lt 6000
is "$(q '[s["state"] for s in j["slaves"] if not s["name"].endswith(":'"$dead_port"'")][0]')" up "the other one is up"
is "$(q 'j["slaves_up"]')" 1 "slaves_up: 1"
kill -INT "$batch"; wait "$batch" 2>/dev/null

# 7. An ephemeral master: journal_bytes null.
sed -n 1p "$T/slaves.conf" >"$T/one.conf"
main_port=$MASTER_PORT
start_master eph "$T/one.conf" --ephemeral
wait_slaves_up eph 1 || bail "slave not seen by the ephemeral master"
status
is "$SRC/$(q 'j["journal_bytes"]')" "0/None" "--ephemeral: journal_bytes null"
RC=0; timeout 30 "$(prog client)" --status 127.0.0.1 "$MASTER_PORT" >"$T/table" 2>&1 || RC=$?
check "--ephemeral: the table says no journal" grep -q 'journal none (--ephemeral)' "$T/table"

# 8. A keyed master: --status needs the key.
(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/key")
start_master keyed "$T/one.conf" --ephemeral --key-file "$T/key"
status
is "$SRC" 255 "keyed master, no key: exit 255"
check "with the reason" grep -q 'authentication required' "$T/st.err"
is "$(wc -c <"$T/st.json")" 0 "and no status printed"
status --key-file "$T/key"
is "$SRC/$(q 'len(j["slaves"])')" "0/1" "with the key: the status"

# 9. A master older than --status (tests/fake_master.py nostatus, the
# words of the master before it: ERROR "ATTACH with an unknown mode 4").
python3 "$TOP/tests/fake_master.py" nostatus "$T/fake.frames" >"$T/fake.log" 2>&1 &
PIDS+=("$!")
line=$(wait_for_line "$T/fake.log" 'listening on TCP' 10) || bail "fake master did not start: $(cat "$T/fake.log")"
MASTER_PORT=$(echo "$line" | sed -E 's/.*TCP [^ ]*:([0-9]+),.*/\1/')
status
is "$SRC" 255 "an older master: exit 255"
check "this master is older than --status" grep -q 'this master is older than --status' "$T/st.err"
# A real one, if given: SMP_OLD=dir with an older serveur_maitre.
if [ -n "${SMP_OLD:-}" ] && [ -x "$SMP_OLD/serveur_maitre" ]; then
    "$SMP_OLD/serveur_maitre" --ephemeral 0 "$T/one.conf" >"$T/old.log" 2>&1 &
    PIDS+=("$!")
    line=$(wait_for_line "$T/old.log" 'listening on TCP' 10) || bail "old master did not start"
    MASTER_PORT=$(echo "$line" | sed -E 's/.*TCP [^ ]*:([0-9]+),.*/\1/')
    status
    is "$SRC" 255 "SMP_OLD's master: exit 255"
    check "SMP_OLD's master: older than --status" grep -q 'this master is older than --status' "$T/st.err"
fi

# 10. The master still serves commands after all this.
MASTER_PORT=$main_port
echo 'echo after' >"$T/after.txt"
run_client -q "$T/after.txt"
is "$RC/$(cat "$T/out")" "0/after" "the master serves a client after SIGUSR1, SIGUSR2 and --status"

done_testing
