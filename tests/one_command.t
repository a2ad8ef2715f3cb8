#!/usr/bin/env bash
# one_command.t - examples/one-command.sh (make demo-trace), the run
# doc/protocol.md "A command's life" tells, and the faults it shows:
# --simulate drop=TYPE[:N] and double=TYPE[:N] (lib/simulate.c). Each run is
# the real programs on free ports; the trace lines it prints are checked:
# - nothing lost: each side's datagram types in order, the result relayed;
# - drop=JOB on the slave: the request is lost once (dropped=simulated_loss),
#   sent again by the master's timer (why=rto) within 200 ms: the timer is
#   armed when the request leaves, not at the next PING (it was: ~400 ms);
# - double=JOB on the slave: the copy is refused by the replay window, the
#   command runs once;
# - drop=JOB_ACK on the master: the master sends the request again, the
#   slave answers it with the job's state and does not run it twice;
# - drop=RESULT on the master: the slave's timer sends the result again;
# - the capture (tcpdump, when it may capture here) decoded by the
#   dissector has the trace's datagrams, in the same order.
. "$(dirname "$0")/lib.sh"

# one NAME [VAR=VALUE...]: the script's run into $T/NAME (its exit status in $T/NAME.rc)
one() {
    local name=$1; shift
    env "$@" SPORT=0 MPORT=0 OUT="$T/$name" timeout 60 "$TOP/examples/one-command.sh" >"$T/$name.out" 2>&1
    echo $? >"$T/$name.rc"
}
# types DIR PROG DIR2: the datagram types PROG sent (send) or received (recv), one line
types() { awk -v p="$2" -v d="$3" '$3 == p && $4 == d && $5 == "udp" { print $7 }' "$1/trace.txt" | tr '\n' ' '; }
# usec TIME: HH:MM:SS.uuuuuu in microseconds
usec() { echo "$1" | awk -F'[:.]' '{ printf "%.0f\n", (($1 * 60 + $2) * 60 + $3) * 1000000 + $4 }'; }

one plain
is "$(cat "$T/plain.rc")" 0 "nothing lost: the script's run succeeds"
grep -q '^   bonjour$' "$T/plain.out"; ok $? "the client printed the command's output"
is "$(types "$T/plain" maitre send)" "PING PING JOB RESULT_ACK " "the master sent PING, PING (the cookie's echo), JOB, RESULT_ACK"
is "$(types "$T/plain" esclave send)" "COOKIE PONG JOB_ACK RESULT " "the slave sent COOKIE, PONG, JOB_ACK, RESULT"
grep -Eq '^\[1\] code retour = 0 ' "$T/plain/esclave.out"; ok $? "the slave's console: [1] ... code retour = 0"
! grep -q LEAVING "$T/plain/trace.txt"; ok $? "the trace ends with the command's life (the stop's LEAVING is cut)"

one drop_job SLAVE_FAULT=drop=JOB
is "$(cat "$T/drop_job.rc")" 0 "drop=JOB on the slave: the run succeeds"
grep -Eq 'esclave recv udp \S+ JOB seq=3 job_id=1 size=[0-9]+ dropped=simulated_loss$' "$T/drop_job/trace.txt"
ok $? "the slave's trace: its first JOB dropped=simulated_loss"
first=$(awk '$3 == "maitre" && $4 == "send" && $7 == "JOB" && /why=first/ { print $2; exit }' "$T/drop_job/trace.txt")
again=$(awk '$3 == "maitre" && $4 == "send" && $7 == "JOB" && /why=rto/ { print $2; exit }' "$T/drop_job/trace.txt")
[ -n "$first" ] && [ -n "$again" ]; ok $? "the master sent it first (why=first) and again (why=rto)"
gap=$(( $(usec "${again:-0}") - $(usec "${first:-0}") ))
[ -n "$again" ] && [ "$gap" -ge 15000 ] && [ "$gap" -lt 200000 ]
ok $? "the retransmission came after the RTO (${gap} us: at least RTO_MIN 20 ms, under 200 ms, not at the next PING)"
grep -q "warning: --simulate loss=0% dup=0% reorder=0% drop=JOB:1" "$T/drop_job/esclave.trace"
ok $? "the slave's warning says drop=JOB:1"
grep -q "simulate: .* 1 dropped" "$T/drop_job/esclave.trace"; ok $? "and its count at exit: 1 dropped"

one double_job SLAVE_FAULT=double=JOB
is "$(cat "$T/double_job.rc")" 0 "double=JOB on the slave: the run succeeds"
is "$(grep -c 'esclave recv udp .* JOB seq=3 ' "$T/double_job/trace.txt")" 2 "the slave received the JOB twice"
grep -Eq 'esclave recv udp \S+ JOB seq=3 job_id=1 size=[0-9]+ dropped=replay$' "$T/double_job/trace.txt"
ok $? "the copy: dropped=replay (its seq was seen)"
is "$(grep -c 'code retour' "$T/double_job/esclave.out")" 1 "the command ran once"

one drop_ack MASTER_FAULT=drop=JOB_ACK "CMD=sleep 0.5; echo ran >> $T/ran"
is "$(cat "$T/drop_ack.rc")" 0 "drop=JOB_ACK on the master: the run succeeds"
grep -Eq 'maitre recv udp \S+ JOB_ACK seq=3 job_id=1 size=[0-9]+ dropped=simulated_loss$' "$T/drop_ack/trace.txt"
ok $? "the master lost the first JOB_ACK"
grep -Eq 'maitre send udp \S+ JOB seq=[0-9]+ job_id=1 .* why=rto$' "$T/drop_ack/trace.txt"
ok $? "and sent the request again (why=rto)"
is "$(grep -c 'esclave send udp .* JOB_ACK .*job_id=1 .*state=RUNNING' "$T/drop_ack/trace.txt")" 2 \
    "the slave answered both copies with the job's state (RUNNING)"
is "$(wc -l <"$T/ran" 2>/dev/null | tr -d ' ')" 1 "the command ran once (one line in its marker file)"

one drop_result MASTER_FAULT=drop=RESULT
is "$(cat "$T/drop_result.rc")" 0 "drop=RESULT on the master: the run succeeds"
grep -Eq 'esclave send udp \S+ RESULT seq=[0-9]+ job_id=1 .* why=rto$' "$T/drop_result/trace.txt"
ok $? "the slave sent its result again (why=rto)"
grep -q '^   bonjour$' "$T/drop_result.out"; ok $? "the client got it"

# The capture, decoded: the same datagrams as the trace, in the same order.
if [ ! -s "$T/plain/run.pcap" ]; then
    ok 0 "# SKIP no capture ($(grep -m1 'no capture' "$T/plain.out")): run as root with tcpdump (apt-get install tcpdump)"
elif ! command -v tshark >/dev/null; then
    ok 0 "# SKIP tshark is not installed: apt-get install tshark"
else
    sport=$(awk '$3 == "maitre" && $5 == "udp" { n = split($6, a, ":"); print a[n]; exit }' "$T/plain/trace.txt")
    tshark -X lua_script:"$TOP/tools/wireshark/smp.lua" -r "$T/plain/run.pcap" -o "smpm.udp_ports:$sport" \
        -Y "udp.port == $sport && smpm" -T fields -e smp.type -e smp.seq 2>/dev/null | head -n 8 |
        tr '\t' ' ' >"$T/wire.txt"
    awk '$5 == "udp" && $4 == "send" { s = $8; sub("seq=", "", s); print $7, s }' "$T/plain/trace.txt" |
        head -n 8 >"$T/sent.txt"
    is "$(cat "$T/wire.txt")" "$(cat "$T/sent.txt")" "the dissector's first 8 datagrams of the capture: the trace's, type and seq"
    client=$(sed -nE 's/^\[1\] echo bonjour +\(client (.*)\)$/\1/p' "$T/plain/esclave.out")
    is "$(tshark -X lua_script:"$TOP/tools/wireshark/smp.lua" -r "$T/plain/run.pcap" -o "smpm.udp_ports:$sport" \
        -Y 'smp.type == "JOB"' -T fields -E separator=, -e smp.command -e smp.ext_key -e smp.origin_seq \
        -e smp.origin_name 2>/dev/null)" "echo bonjour,4,1,$client" \
        "the JOB's origin decoded: the client's [1] and its name, as the slave's console prints them ($client)"
fi

done_testing
