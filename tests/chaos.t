#!/usr/bin/env bash
# chaos.t - the master <-> slave protocol over lossy links: a udp_chaos
# proxy in front of each slave drops, duplicates and reorders datagrams
# both ways. Every result must still arrive, intact, and no command may
# run twice (each one appends a line to a marker file of its own).
. "$(dirname "$0")/lib.sh"

[ -x "$TOOLS/udp_chaos" ] || bail "$TOOLS/udp_chaos is missing: run 'make check-programs'"
CHAOS_OPTS=(--drop 20 --dup 20 --reorder 20)
NSLAVES=3
NCMDS=300
SEQ_N=400000 # seq 1 400000: about 2.7 MB of output per command

# run_client_within SECONDS [client options and file]: run_client with a
# shorter limit, so that a hung transfer fails this test in bounded time.
run_client_within() {
    local limit=$1; shift
    RC=0
    timeout "$limit" $WRAP "$BIN/client" 127.0.0.1 "$MASTER_PORT" "$@" >"$T/out" 2>"$T/err" || RC=$?
}

# client_failed: why the last client run failed, for the TAP log.
client_failed() {
    [ "$RC" = 0 ] || echo "# client exit $RC (124: timed out): $(tail -c 400 "$T/err")" >&2
}

# chaos_count NAME DIRECTION WHAT: a number from the proxy's summary line.
chaos_count() {
    grep -m1 'summary:' "$T/$1.log" | grep -oE "$2: [^;]*" | grep -oE "$3 [0-9]+" | grep -oE '[0-9]+$'
}



: >"$T/slaves.conf"
CHAOS_PIDS=()
DAEMON_PIDS=()
for i in $(seq 1 $NSLAVES); do
    start_slave "s$i" -j 2
    DAEMON_PIDS+=("$SLAVE_PID")
    start_chaos "c$i" "$SLAVE_PORT" "${CHAOS_OPTS[@]}" --seed "$((1000 + i))"
    CHAOS_PIDS+=("$CHAOS_PID")
    echo "127.0.0.1 $CHAOS_PORT" >>"$T/slaves.conf"
done
start_master master "$T/slaves.conf"
DAEMON_PIDS+=("$MASTER_PID")
SLAVE_PORT_LIST=$(sed -nE 's/.*UDP [^ ]*:([0-9]+) .*/\1/p' "$T"/s?.log | tr '\n' ' ')
wait_slaves_up master $NSLAVES || bail "slaves not seen by the master through the proxies: $(cat "$T/master.log")"

# a) many small commands: each runs exactly once and its output comes back.
marker_cmds $NCMDS "$T/small"
run_client_within 100 --results "$T/small/res" --joblog "$T/small/joblog" "$T/small/cmds"
client_failed
is "$RC" 0 "$NCMDS commands through lossy links: client exits 0"
check_markers "20% chaos" $NCMDS "$T/small"

# b) large results: thousands of fragments each, compared byte for byte.
seq 1 $SEQ_N >"$T/seq.expected"
for k in 1 2 3; do echo "seq 1 $SEQ_N"; done >"$T/big.cmds"
run_client_within 60 --results "$T/res_big" --joblog "$T/big.joblog" "$T/big.cmds"
client_failed
is "$RC" 0 "3 commands with $(wc -c <"$T/seq.expected")-byte outputs: client exits 0"
bad=0
for k in 1 2 3; do
    cmp -s "$T/seq.expected" "$T/res_big/$k/stdout" || { bad=$((bad + 1)); echo "# result $k differs" >&2; }
done
is "$bad" 0 "large outputs identical to the local run"

# c) large requests: a command of many fragments.
As=$(printf 'A%.0s' $(seq 1 21000)) # 'echo ' + 21000 bytes: over 20 KiB
xs=$(printf 'x%.0s' $(seq 1 60000))
{
    echo "echo $As"
    echo ": $xs; echo ok"
} >"$T/long.cmds"
run_client_within 30 --results "$T/res_long" "$T/long.cmds"
client_failed
is "$RC" 0 "21 KB and 60 KB commands: client exits 0"
check "21 KB echo: output right" test "$(cat "$T/res_long/1/stdout" 2>/dev/null)" = "$As"
is "$(cat "$T/res_long/2/stdout" 2>/dev/null)" "ok" "60 KB command: output right"

alive=0
for p in "${DAEMON_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
is "$alive" $((NSLAVES + 1)) "master and slaves still running"
alive=0
for p in "${CHAOS_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
is "$alive" $NSLAVES "proxies still running"

# d) the proxies really did their damage, so the above is not vacuous.
stopped=0
for i in $(seq 1 $NSLAVES); do
    stop_pid "${CHAOS_PIDS[$((i - 1))]}"
    [ "$STOP_RC" = 0 ] && grep -q 'summary:' "$T/c$i.log" && stopped=$((stopped + 1))
done
is "$stopped" $NSLAVES "proxies exit 0 on SIGTERM with a summary"
for what in dropped duplicated reordered; do
    for dir in to-target to-master; do
        zero=0
        for i in $(seq 1 $NSLAVES); do
            v=$(chaos_count "c$i" "$dir" "$what")
            [ "${v:-0}" -gt 0 ] || { zero=$((zero + 1)); echo "# proxy c$i: $dir $what ${v:-?}" >&2; }
        done
        is "$zero" 0 "every proxy $what datagrams $dir"
    done
done

# e) high rates: half the datagrams duplicated, half held back and
# reordered, 10% lost, through fresh proxies and a second master.
: >"$T/high.conf"
HIGH_PIDS=()
i=0
for port in $SLAVE_PORT_LIST; do
    i=$((i + 1))
    start_chaos "h$i" "$port" --drop 10 --dup 50 --reorder 50 --seed "$((2000 + i))"
    HIGH_PIDS+=("$CHAOS_PID")
    echo "127.0.0.1 $CHAOS_PORT" >>"$T/high.conf"
done
start_master master2 "$T/high.conf"
wait_slaves_up master2 $NSLAVES || bail "slaves not seen through the high-rate proxies"
marker_cmds 150 "$T/high"
run_client_within 100 --results "$T/high/res" --joblog "$T/high/joblog" "$T/high/cmds"
client_failed
is "$RC" 0 "high rates: 150 commands, client exits 0"
check_markers "high rates" 150 "$T/high"
dups=0
for i in $(seq 1 $NSLAVES); do
    stop_pid "${HIGH_PIDS[$((i - 1))]}"
    dups=$((dups + $(chaos_count "h$i" to-target duplicated) + $(chaos_count "h$i" to-master duplicated)))
done
check "high rates: the proxies duplicated $dups datagrams" test "$dups" -gt 100

done_testing
