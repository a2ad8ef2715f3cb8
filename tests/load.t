#!/usr/bin/env bash
# Load-aware dispatch (issue 15): slaves report their machine's load in
# their PONGs; the master prefers the least loaded (master/sched.c
# sched_score), --max-load and --memfree hold a slave back, slaves.conf
# weight=W shifts the split; the status shows it all. The slaves read
# their load from files (the test hooks SMP_LOADAVG_FILE, SMP_MEMINFO_FILE
# of slave/slave.c): a real load average moves too slowly for a test.
. "$(dirname "$0")/lib.sh"

# loadavg NAME VALUE, meminfo NAME KB: the files slave NAME reads.
loadavg() { printf '%s 0.00 0.00 1/100 12345\n' "$2" >"$T/$1.loadavg.tmp" && mv "$T/$1.loadavg.tmp" "$T/$1.loadavg"; }
meminfo() { printf 'MemTotal: 99999999 kB\nMemFree: 1 kB\nMemAvailable: %s kB\n' "$2" >"$T/$1.meminfo.tmp" &&
    mv "$T/$1.meminfo.tmp" "$T/$1.meminfo"; }

loadavg a 0.00; loadavg b 0.00; meminfo a 8000000; meminfo b 8000000
SMP_LOADAVG_FILE=$T/a.loadavg SMP_MEMINFO_FILE=$T/a.meminfo start_slave a -j 4; PA=$SLAVE_PORT
SMP_LOADAVG_FILE=$T/b.loadavg SMP_MEMINFO_FILE=$T/b.meminfo start_slave b -j 4; PB=$SLAVE_PORT
A=127.0.0.1:$PA B=127.0.0.1:$PB

# master NAME [options] (slaves.conf: $T/conf): started, both slaves up.
master() {
    local n=$1; shift
    start_master "$n" "$T/conf" --ephemeral "$@"
    wait_slaves_up "$n" 2 || bail "slaves not up for $n"
}
# status_json: client --status --json into $T/st.json
status_json() { timeout 30 "$(prog client)" --status --json 127.0.0.1 "$MASTER_PORT" >"$T/st.json" 2>"$T/st.err"; }
# slave_field NAME FIELD: a slave's JSON field ("load":1.50 -> 1.50)
slave_field() { grep -o "{\"name\":\"$1\"[^]]*" "$T/st.json" | grep -oE "\"$2\":(\"[^\"]*\"|[^,}]*)" | head -1 | cut -d: -f2-; }
# wait_field NAME FIELD VALUE: until the status says it (PONGs go twice a second)
wait_field() {
    local i
    for i in $(seq 1 100); do
        status_json && [ "$(slave_field "$1" "$2")" = "$3" ] && return 0
        sleep 0.1
    done
    return 1
}
# split N: N commands of 2 s, all dispatched at once; "a b" counts in $T/split
split() {
    seq 1 "$1" | sed 's/.*/sleep 2/' >"$T/cmds"
    run_client --json "$T/cmds"
    echo "$(grep -c "\"host\":\"$A\"" "$T/out") $(grep -c "\"host\":\"$B\"" "$T/out")" >"$T/split"
}

# 1. A loaded machine gets fewer commands than an idle one. Load 6 on the
# machine's CPUs (the real count) beside an idle one: the idle slave's 4
# slots are filled first.
printf '127.0.0.1 %s\n127.0.0.1 %s\n' "$PA" "$PB" >"$T/conf"
loadavg a 6.00
master m1
check "the status shows the load the slave reported (6.00)" wait_field "$A" load 6.00
is "$(slave_field "$B" load)" "0.00" "... and the idle one's (0.00)"
is "$(slave_field "$A" cpus)" "$(nproc)" "cpus: the machine's online CPUs"
is "$(slave_field "$A" memfree_bytes)" "$((8000000 * 1024))" "memfree_bytes: MemAvailable in bytes"
is "$(slave_field "$A" weight)/$(slave_field "$A" held)" "1/null" "weight 1, not held"
split 6
is "$RC" 0 "6 commands: exit 0"
is "$(cat "$T/split")" "2 4" "the loaded slave got 2 of 6, the idle one 4 (its slots first)"
loadavg a 0.00
check "load back to 0.00" wait_field "$A" load 0.00
split 6
is "$(cat "$T/split")" "3 3" "both idle: 3 and 3"
stop_pid "$MASTER_PID"

# 2. --max-load: held back entirely (0 commands), shown so; the others serve.
loadavg a 3.00
master m2 --max-load 2 --http 127.0.0.1:0
http_port m2
check "--max-load 2, load 3.00: held: load" wait_field "$A" held '"load"'
is "$(slave_field "$B" held)" null "the idle one is not held"
split 8
is "$RC/$(cat "$T/split")" "0/0 8" "8 commands: none on the held slave, 8 on the other"
timeout 30 "$(prog client)" --status 127.0.0.1 "$MASTER_PORT" >"$T/table" 2>&1
check "the table: LOAD ... HELD columns" grep -qE '^SLAVE .* LOAD CPUS +MEMFREE WEIGHT HELD$' "$T/table"
check "the table: the held slave's line says held: load" grep -qE "^$A .* 3\.00 .* held: load\$" "$T/table"
curl -s "${HTTP_URL}metrics" >"$T/metrics"
check "/metrics: smp_slave_load" grep -qx "smp_slave_load{slave=\"$A\"} 3.00" "$T/metrics"
check "/metrics: smp_slave_held 1 for it" grep -qx "smp_slave_held{slave=\"$A\"} 1" "$T/metrics"
check "/metrics: smp_slave_held 0 for the other" grep -qx "smp_slave_held{slave=\"$B\"} 0" "$T/metrics"
check "/metrics: smp_slave_memfree_bytes" grep -qx "smp_slave_memfree_bytes{slave=\"$B\"} $((8000000 * 1024))" "$T/metrics"
curl -s "${HTTP_URL}status.json" >"$T/st.json"
is "$(slave_field "$A" held)" '"load"' "/status.json: held: load"
kill -USR1 "$MASTER_PID"
check "SIGUSR1: the slave's line with its load and held state" \
    wait_for_line "$T/m2.log" "status: slave $A up, .*, load 3.00 on [0-9]+ CPUs, 7812 MiB available, weight 1, held: load" 10

# 3. Every slave held back: commands wait (not fail), the log says why once.
loadavg b 2.50
check "both held" wait_field "$B" held '"load"'
echo 'echo waited' >"$T/one"
before=$(grep -c 'commands wait' "$T/m2.log")
timeout 60 "$(prog client)" 127.0.0.1 "$MASTER_PORT" "$T/one" >"$T/wait.out" 2>"$T/wait.err" &
CPID=$!
check "the master says why commands wait" wait_for_line "$T/m2.log" 'commands wait: every slave with a free slot is held back' 10
sleep 1.5 # several dispatch turns and PONGs while held: the reason is said once
is "$(($(grep -c 'commands wait' "$T/m2.log") - before))" 1 "... once"
check "... naming each slave and its load" grep -q "$A: load 3.00, $B: load 2.50; --max-load 2.00" "$T/m2.log"
check "... and the waiting client is told (a NOTICE), not left hanging in silence" \
    wait_for_line "$T/wait.err" 'commands wait: every slave with a free slot is held back by the master.s --max-load 2.00' 10
kill -0 "$CPID" 2>/dev/null; ok $? "the client still waits (its command neither ran nor failed)"
loadavg b 0.10
wait "$CPID"; CRC=$?
is "$CRC/$(cat "$T/wait.out")" "0/waited" "load lower: the command ran, exit 0"
stop_pid "$MASTER_PID"

# 4. --max-load N%: of the slave's CPUs.
loadavg a "$(nproc).00"; loadavg b 0.00
master m3 --max-load 90%
check "--max-load 90%, a load of one per CPU: held" wait_field "$A" held '"load"'
split 4
is "$(cat "$T/split")" "0 4" "4 commands: none on it"
stop_pid "$MASTER_PID"

# 5. --memfree: held below it.
loadavg a 0.00; meminfo a 100000 # 97 MiB
master m4 --memfree 1G
check "--memfree 1G, 97 MiB available: held: memfree" wait_field "$A" held '"memfree"'
split 8
is "$(cat "$T/split")" "0 8" "8 commands: none on it"
timeout 30 "$(prog client)" --status 127.0.0.1 "$MASTER_PORT" >"$T/table" 2>&1
check "the table says held: memfree" grep -qE "^$A .* held: memfree\$" "$T/table"
stop_pid "$MASTER_PID"
meminfo a 8000000

# 6. Weights: weight=2 is filled to twice the ratio (4 and 2 of 6 on 4+4
# slots; 3 and 3 without, in 1.).
printf '127.0.0.1 %s weight=2\n127.0.0.1 %s\n' "$PA" "$PB" >"$T/conf"
master m5
check "the status shows the weight" wait_field "$A" weight 2
split 6
is "$(cat "$T/split")" "4 2" "6 commands: 4 on the weight-2 slave, 2 on the other"
stop_pid "$MASTER_PID"

# 7. Bad values: a usage error naming the option (exit 2); a bad weight line
# is skipped naming its line, the master serves with the rest.
for bad in abc 0 -1 2.5x 5%% ''; do
    RC=0; "$(prog serveur_maitre)" --ephemeral --max-load "$bad" 0 "$T/conf" >/dev/null 2>"$T/bad.err" || RC=$?
    is "$RC" 2 "--max-load '$bad': exit 2"
    check "... saying --max-load" grep -q -- "--max-load: '$bad' is not a load average" "$T/bad.err"
done
for bad in 12Q -5 0 1.5G; do
    RC=0; "$(prog serveur_maitre)" --ephemeral --memfree "$bad" 0 "$T/conf" >/dev/null 2>"$T/bad.err" || RC=$?
    is "$RC" 2 "--memfree '$bad': exit 2"
    check "... saying --memfree" grep -q -- "--memfree: '$bad'" "$T/bad.err"
done
printf '127.0.0.1 %s\n127.0.0.1 %s 4 weight=0\n127.0.0.1 %s weight=abc\n' "$PA" "$PB" "$PB" >"$T/conf"
start_master m6 "$T/conf" --ephemeral
wait_slaves_up m6 1 || bail "m6: slave not up"
check "weight=0: the line is named and skipped" grep -q "conf:2: weight is not a number from 0.001 to 100.*line skipped" "$T/m6.log"
check "weight=abc: likewise" grep -q "conf:3: weight is not a number" "$T/m6.log"
echo 'echo still' >"$T/one"
run_client "$T/one"
is "$RC/$(cat "$T/out")" "0/still" "the master serves with the good line"
stop_pid "$MASTER_PID"

# 8. The real figures: a slave without the hooks reports /proc/loadavg and
# MemAvailable, under a genuine busy loop beside it.
start_slave real -j 2
printf '127.0.0.1 %s\n' "$SLAVE_PORT" >"$T/conf"
R=127.0.0.1:$SLAVE_PORT
start_master m7 "$T/conf" --ephemeral
wait_slaves_up m7 1 || bail "m7: slave not up"
( while :; do :; done ) &
BUSY=$!
PIDS+=("$BUSY")
sleep 2 # the slave reads its load once a second, the PONGs go twice a second
status_json
got=$(slave_field "$R" load)
want=$(cut -d' ' -f1 /proc/loadavg)
check "the reported load ($got) follows /proc/loadavg ($want) within 0.5" \
    awk -v g="$got" -v w="$want" 'BEGIN { d = g - w; exit !(d < 0.5 && d > -0.5) }'
got=$(slave_field "$R" memfree_bytes)
want=$(($(sed -nE 's/^MemAvailable: +([0-9]+) kB/\1/p' /proc/meminfo) * 1024))
check "the reported memory ($got) is MemAvailable ($want) within 10%" \
    awk -v g="$got" -v w="$want" 'BEGIN { d = (g - w) / w; exit !(d < 0.1 && d > -0.1) }'
is "$(slave_field "$R" cpus)" "$(nproc)" "cpus: nproc"
kill "$BUSY"

done_testing
