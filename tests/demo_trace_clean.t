#!/usr/bin/env bash
# demo_trace_clean.t: doc/protocol.md "A command's life" teaches why=rto as the mark
# of a lost datagram ("The master heard nothing of job 1: its retransmission
# timer fired"). With nothing lost, make demo-trace must show no resend.
# Today the slave's JOB_ACK for the first command of a fresh slave leaves
# 6 to 24 ms after the JOB (it is sent after the command is spawned), past
# the 20 ms RTO floor now and then: about 1 run in 6 here shows a JOB
# resent why=rto with no fault at all.
. "$(dirname "$0")/lib.sh"
command -v ss >/dev/null || skip_all "no ss"
N=${RUNS:-8}
bad=0 worst=0
for i in $(seq 1 "$N"); do
    MPORT=0 SPORT=0 OUT="$T/run$i" SMP_BIN="$BIN" timeout 60 "$TOP/examples/one-command.sh" >"$T/run$i.out" 2>&1 ||
        bail "one-command.sh failed: $(tail -5 "$T/run$i.out")"
    if grep -q 'why=rto' "$T/run$i/trace.txt"; then
        bad=$((bad + 1))
        echo "# run $i: $(grep 'why=rto' "$T/run$i/trace.txt" | head -1)" >&2
    fi
done
is "$bad" 0 "no why=rto in $N fault-free runs of examples/one-command.sh"
done_testing
