#!/usr/bin/env bash
# simulate.t - --simulate on the master and the slaves (lib/simulate.c):
# received datagrams dropped, duplicated and reordered on purpose, without
# root. The same batch of 50 commands (5 of them print 200 KB; each appends
# to a marker file of its own) runs without it, then with loss=30% on every
# daemon, dup=50% alone and reorder=50% alone (seeded): every result is byte
# for byte the run without loss's, every command ran exactly once, and the
# counters say the loss, the copies, the reordering and the retransmissions
# really happened. Bad values are refused (exit 2, the bad part named);
# without --simulate no warning and the counters are 0. make demo-loss's
# script runs once.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || skip_all "needs curl: apt-get install curl"

NCMDS=50
# cmds DIR: DIR/cmds, markers in DIR/markers.
cmds() {
    local n
    mkdir -p "$1/markers"
    for n in $(seq 1 $NCMDS); do
        if [ $((n % 10)) = 0 ]; then
            echo "echo x >> $1/markers/$n; seq $n 100000 | head -c 204800"
        else
            echo "echo x >> $1/markers/$n; echo out-$n; echo err-$n >&2"
        fi
    done >"$1/cmds"
}

# run_batch NAME SPEC: 2 slaves and a master, each with --simulate SPEC
# (none when empty; the slaves' seeds differ from the master's), the batch
# in $T/NAME; the master's /metrics after it in $T/NAME/metrics; then all
# stopped (their logs: $T/NAME-m.log, $T/NAME-s1.log, $T/NAME-s2.log).
run_batch() {
    local name=$1 spec=$2 i sim
    local dir=$T/$name
    cmds "$dir"
    : >"$dir/slaves.conf"
    local pids=() key=()
    [ -n "${KEY:-}" ] && key=(--key-file "$KEY")
    for i in 1 2; do
        sim=()
        [ -n "$spec" ] && sim=(--simulate "$spec$i")
        start_slave "$name-s$i" -j 3 "${sim[@]}" "${key[@]}"
        pids+=("$SLAVE_PID")
        echo "127.0.0.1 $SLAVE_PORT" >>"$dir/slaves.conf"
    done
    sim=()
    [ -n "$spec" ] && sim=(--simulate "${spec}9")
    start_master "$name-m" "$dir/slaves.conf" --ephemeral --dead-after 10 --http 127.0.0.1:0 "${sim[@]}" "${key[@]}"
    pids+=("$MASTER_PID")
    http_port "$name-m"
    wait_slaves_up "$name-m" 2 || bail "$name: slaves not seen by the master: $(cat "$T/$name-m.log")"
    run_client "${key[@]}" --joblog "$dir/joblog" --results "$dir/res" "$dir/cmds"
    is "$RC" 0 "$name: the client exits 0"
    curl -s -o "$dir/metrics" "${HTTP_URL}metrics"
    for i in "${pids[@]}"; do stop_pid "$i"; done
}

metric() { awk -v n="$2" '$1 == n { print $2 }' "$T/$1/metrics"; }
# slaves_count NAME FIELD: the sum of FIELD (dropped, duplicated, reordered,
# retransmitted) in the slaves' "simulate:" lines at exit.
slaves_count() {
    cat "$T/$1-s1.log" "$T/$1-s2.log" |
        sed -nE "s/.*simulate: .* ([0-9]+) $2.*/\1/p" | awk '{ s += $1 } END { print s + 0 }'
}

# same_as_reference NAME: every result's stdout and stderr as the run without --simulate's.
same_as_reference() {
    local n bad=0
    for n in $(seq 1 $NCMDS); do
        cmp -s "$T/plain/res/$n/stdout" "$T/$1/res/$n/stdout" && cmp -s "$T/plain/res/$n/stderr" "$T/$1/res/$n/stderr" ||
            { bad=$((bad + 1)); echo "# $1: command $n's output differs" >&2; }
    done
    is "$bad" 0 "$1: all $NCMDS results byte for byte those of the run without --simulate"
}

# run_once NAME: joblog of NCMDS exit-0 jobs, every marker holds one line.
run_once() {
    local n once=0
    is "$(tail -n +2 "$T/$1/joblog" | awk -F'\t' '$7 == 0' | cut -f1 | sort -un | wc -l)" $NCMDS \
        "$1: $NCMDS jobs in the joblog, one per sequence number, all exit 0"
    for n in $(seq 1 $NCMDS); do
        [ "$(cat "$T/$1/markers/$n" 2>/dev/null)" = x ] && once=$((once + 1))
    done
    is "$once" $NCMDS "$1: every command ran exactly once (one line in each marker file)"
}

# 1. Without --simulate: the reference; no warning, the counters 0.
run_batch plain ""
run_once plain
bad=0
for n in $(seq 10 10 $NCMDS); do
    seq $n 100000 | head -c 204800 | cmp -s - "$T/plain/res/$n/stdout" || bad=$((bad + 1))
done
for n in 1 2 9 11 49; do
    [ "$(cat "$T/plain/res/$n/stdout")/$(cat "$T/plain/res/$n/stderr")" = "out-$n/err-$n" ] || bad=$((bad + 1))
done
is "$bad" 0 "plain: the outputs are the commands' own (200 KB ones and small ones)"
is "$(cat "$T"/plain-*.log | grep -c -- '--simulate\|simulate:')" 0 "plain: no --simulate warning nor count in any log"
is "$(metric plain 'smp_simulated_datagrams_total{effect="dropped"}')/$(metric plain 'smp_simulated_datagrams_total{effect="duplicated"}')/$(metric plain 'smp_simulated_datagrams_total{effect="reordered"}')" \
    0/0/0 "plain: /metrics says nothing was dropped, duplicated or reordered"

# 2. loss=30% on every daemon.
run_batch loss "loss=30%,seed=1"
run_once loss
same_as_reference loss
for f in loss-m loss-s1 loss-s2; do
    check "loss: $f warned at start, with the seed" \
        grep -Eq 'warning: --simulate loss=30% dup=0% reorder=0% \(seed [0-9]+\): received datagrams are dropped, duplicated and reordered on purpose' "$T/$f.log"
done
m_dropped=$(metric loss 'smp_simulated_datagrams_total{effect="dropped"}')
m_retrans=$(metric loss smp_datagrams_retransmitted_total)
s_dropped=$(slaves_count loss dropped)
s_retrans=$(slaves_count loss 'result fragments retransmitted')
check "loss: the master dropped received datagrams ($m_dropped)" test "${m_dropped:-0}" -gt 0
check "loss: the slaves dropped received datagrams ($s_dropped)" test "$s_dropped" -gt 0
check "loss: the master retransmitted request fragments ($m_retrans)" test "${m_retrans:-0}" -gt 0
check "loss: the slaves retransmitted result fragments ($s_retrans)" test "$s_retrans" -gt 0
is "$(metric loss 'smp_simulated_datagrams_total{effect="duplicated"}')/$(slaves_count loss duplicated)" 0/0 \
    "loss: nothing duplicated (dup not asked for)"
is "$(grep -c 'considered dead' "$T/loss-m.log")" 0 "loss: no slave declared dead"
echo "# loss=30%: master dropped $m_dropped, retransmitted $m_retrans; slaves dropped $s_dropped, retransmitted $s_retrans"

# 3. dup=50% alone: every copy after the first is a duplicate the protocol absorbs.
run_batch dup "dup=50%,seed=1"
run_once dup
same_as_reference dup
m_dup=$(metric dup 'smp_simulated_datagrams_total{effect="duplicated"}')
s_dup=$(slaves_count dup duplicated)
check "dup: the master doubled received datagrams ($m_dup)" test "${m_dup:-0}" -gt 0
check "dup: the slaves doubled received datagrams ($s_dup)" test "$s_dup" -gt 0
is "$(metric dup 'smp_simulated_datagrams_total{effect="dropped"}')/$(slaves_count dup dropped)" 0/0 "dup: nothing dropped"

# 4. reorder=50% alone: held back until the next datagram or 2-50 ms.
run_batch reorder "reorder=50%,seed=1"
run_once reorder
same_as_reference reorder
m_re=$(metric reorder 'smp_simulated_datagrams_total{effect="reordered"}')
s_re=$(slaves_count reorder reordered)
check "reorder: the master held back received datagrams ($m_re)" test "${m_re:-0}" -gt 0
check "reorder: the slaves held back received datagrams ($s_re)" test "$s_re" -gt 0
is "$(metric reorder 'smp_simulated_datagrams_total{effect="dropped"}')/$(slaves_count reorder dropped)" 0/0 "reorder: nothing dropped"

# 5. All three at once, keyed: applied before a datagram is opened (a
# duplicate is then refused as replayed by the replay window, a loss is a
# datagram that never came).
(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/key")
KEY=$T/key run_batch keyed "loss=20%,dup=20%,reorder=20%,seed=3"
run_once keyed
same_as_reference keyed
for e in dropped duplicated reordered; do
    m=$(metric keyed "smp_simulated_datagrams_total{effect=\"$e\"}")
    s=$(slaves_count keyed "$e")
    check "keyed: master and slaves $e received datagrams ($m, $s)" test "${m:-0}" -gt 0 -a "$s" -gt 0
done
check "keyed: retransmissions ($(metric keyed smp_datagrams_retransmitted_total), $(slaves_count keyed 'result fragments retransmitted'))" \
    test "$(metric keyed smp_datagrams_retransmitted_total)" -gt 0 -a "$(slaves_count keyed 'result fragments retransmitted')" -gt 0

# 6. reorder=100%: every datagram is held back, so none is ever released
# by the next one's arrival: only by its own delay, the loop's deadline.
run_batch held "reorder=100%,seed=4"
run_once held
same_as_reference held
held=$(sed -nE 's/.*simulate: ([0-9]+) datagrams received, 0 dropped, 0 duplicated, ([0-9]+) reordered.*/\1 \2/p' "$T/held-m.log")
check "held: most datagrams the master received were held back (of received, held: $held; the queue holds 8)" \
    test -n "$held" -a "${held#* }" -gt "$(( ${held% *} / 2 ))"

# 7. What --simulate accepts: a percentage or a fraction, the same warning.
echo "127.0.0.1 9" >"$T/one.conf"
for v in "loss=0.2:loss=20% dup=0% reorder=0% (seed 5)" "loss=20%:loss=20% dup=0% reorder=0% (seed 5)" \
    "dup=2.5%,reorder=1:loss=0% dup=2.5% reorder=100% (seed 5)"; do
    start_slave "accept-${v%%:*}" --simulate "${v%%:*},seed=5"
    check "--simulate ${v%%:*}: said as ${v#*:}" grep -qF "warning: --simulate ${v#*:}: received" "$T/accept-${v%%:*}.log"
    stop_pid "$SLAVE_PID"
done
start_slave accept-random --simulate loss=1%
check "without seed=: a random seed, said" grep -Eq 'warning: --simulate loss=1% dup=0% reorder=0% \(seed [0-9]+\)' "$T/accept-random.log"
kill -USR1 "$SLAVE_PID"
check "the slave's SIGUSR1: its counts" wait_for_line "$T/accept-random.log" \
    'info: simulate: 0 datagrams received, 0 dropped, 0 duplicated, 0 reordered; 0 result fragments retransmitted'
stop_pid "$SLAVE_PID"
start_master usr1 "$T/one.conf" --ephemeral --simulate dup=1%
# one signal at a time (two pending at once are one); its pings go to nobody (port 9): nothing received
for i in 1 2 3; do
    kill -USR1 "$MASTER_PID"
    for _ in $(seq 1 200); do [ "$(grep -c 'simulate: 0 datagrams received' "$T/usr1.log")" -ge $i ] && break; sleep 0.05; done
done
counts_after_status() { sed -n '/maitre: info: status: /,$p' "$T/usr1.log" | grep -q 'info: simulate: 0 datagrams received, 0 dropped, 0 duplicated, 0 reordered'; }
check "the master's SIGUSR1: its counts after its status" counts_after_status
stop_pid "$MASTER_PID"
is "$(grep -c 'simulate: 0 datagrams received' "$T/usr1.log")" 4 "the master: once per SIGUSR1, and once at exit"

# 8. Bad values: exit 2, the bad part named, nothing started.
while IFS='|' read -r value says; do
    for p in serveur_esclave serveur_maitre; do
        rc=0
        if [ $p = serveur_esclave ]; then
            timeout 10 "$BIN/$p" --simulate "$value" 0 >"$T/bad.out" 2>"$T/bad.err" || rc=$?
        else
            timeout 10 "$BIN/$p" --ephemeral --simulate "$value" 0 "$T/one.conf" >"$T/bad.out" 2>"$T/bad.err" || rc=$?
        fi
        is "$rc/$(grep -cF -- "$says" "$T/bad.err")/$(grep -c 'listening' "$T/bad.err")" 2/1/0 \
            "$p --simulate '$value': exit 2, says \"$says\", does not start"
    done
done <<'EOF'
loss=20|--simulate: 'loss=20': not a probability (a percentage from 0% to 100%
loss=101%|--simulate: 'loss=101%': not a probability
loss=1.5|--simulate: 'loss=1.5': not a probability
loss=-1%|--simulate: 'loss=-1%': not a probability
loss=0x1|--simulate: 'loss=0x1': not a probability
loss=.5|--simulate: 'loss=.5': not a probability
dup=5%,reorder=abc|--simulate: 'reorder=abc': not a probability
drop=5%|--simulate: 'drop=5%': not a datagram type and a count (write drop=JOB or drop=RESULT_ACK:2
lose=5%|--simulate: 'lose=5%': unknown (loss=P, dup=P, reorder=P, drop=TYPE:N, double=TYPE:N, seed=N)
double=JOB:0|--simulate: 'double=JOB:0': not a datagram type and a count
loss|--simulate: 'loss': no value
loss=5%,seed=x|--simulate: 'seed=x': the seed is a decimal number
loss=5%,seed=18446744073709551616|the seed is a decimal number below 2^64
loss=1%,loss=2%|--simulate: 'loss' given twice
loss=5%,|an empty part
seed=3|--simulate: 'seed=3' simulates nothing
|--simulate: an empty value
EOF

# 9. make demo-loss's script: by itself, byte-exact, retransmissions shown, nothing left behind.
rc=0
timeout 120 "$TOP/examples/demo-loss.sh" >"$T/demo.out" 2>&1 || rc=$?
is "$rc" 0 "demo-loss.sh exits 0 by itself"
check "demo-loss: every result byte-exact" grep -q 'byte-exact: 30 of 30 results' "$T/demo.out"
check "demo-loss: retransmissions shown (/metrics, > 0)" grep -Eq '^ *smp_datagrams_retransmitted_total [1-9]' "$T/demo.out"
check "demo-loss: result fragments retransmitted by the slaves shown (> 0)" \
    grep -Eq 'simulate: .*; [1-9][0-9]* result fragments retransmitted' "$T/demo.out"
demo_pids=$(sed -nE 's/^ *pids: *([0-9 ]*) \(work dir .*/\1/p' "$T/demo.out")
demo_dir=$(sed -nE 's/^ *pids: .*\(work dir (.*)\)$/\1/p' "$T/demo.out")
left=0
for p in $demo_pids; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
is "$(echo $demo_pids | wc -w)/$left" 4/0 "demo-loss: its 4 daemons are gone"
check "demo-loss: its work directory ($demo_dir) is removed" test -n "$demo_dir" -a ! -e "$demo_dir"

done_testing
