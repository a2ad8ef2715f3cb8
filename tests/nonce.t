#!/usr/bin/env bash
# nonce.t - no nonce is ever sealed twice (issue 13): a sealed datagram's
# nonce is its header's seq under a key bound to the sender's and the
# receiver's lives, so a (sender_boot, seq) seen twice on the wire would be
# a (key, nonce) pair used twice. A keyed run through udp_chaos (20% loss,
# duplicates, reordering: retransmitted request and result fragments,
# cookies, PINGs and PONGs, JOB_ACKs, cancels) recorded before the chaos
# in both directions: every datagram sealed, every (sender_boot, seq)
# distinct, with the slave restarted midway (a new life, new keys).
. "$(dirname "$0")/lib.sh"

(umask 077; random_key >"$T/key")
start_slave s1 -j 4 --key-file "$T/key"
sport=$SLAVE_PORT spid=$SLAVE_PID
start_chaos proxy "$sport" --drop 20 --dup 10 --reorder 10 --seed 8 --record "$T/to_slave" --record-answers "$T/to_master"
echo "127.0.0.1 $CHAOS_PORT" >"$T/slaves.conf"
start_master master "$T/slaves.conf" --key-file "$T/key"
wait_slaves_up master 1 || bail "slave not up: $(cat "$T/master.log")"
for i in $(seq 1 12); do echo "seq 1 $((i * 8000))"; done >"$T/cmds.txt"
echo "sleep 30" >>"$T/cmds.txt"
run_client --key-file "$T/key" -q --timeout 3 "$T/cmds.txt"
is "$(grep -c . "$T/out")" "$(sh -c "$(head -12 "$T/cmds.txt" | tr '\n' ';')" | grep -c .)" \
    "20% loss: every output line arrived (the timed-out command cancelled)"
stop_pid "$spid"
SLAVE_ON_PORT=$sport start_slave s1b -j 4 --key-file "$T/key"
wait_for_line "$T/master.log" 'restarted|is up' 15 >/dev/null
head -6 "$T/cmds.txt" >"$T/six.txt"
run_client --key-file "$T/key" -q "$T/six.txt"
is "$RC" 0 "the slave's next life serves too"
out=$(python3 - "$T/to_slave" "$T/to_master" <<'PY'
import struct, sys, collections
total = unsealed = dup = 0
types = collections.Counter()
for f in sys.argv[1:]:
    data = open(f, "rb").read()
    seen = set()
    off = 0
    while off + 4 <= len(data):
        (n,) = struct.unpack(">I", data[off:off + 4])
        d = data[off + 4:off + 4 + n]
        off += 4 + n
        total += 1
        if len(d) < 37 + 16 or not d[4] & 1:
            unsealed += 1
            continue
        sender, seq = struct.unpack(">Q", d[5:13])[0], struct.unpack(">Q", d[21:29])[0]
        types[(f[-9:], d[3])] += 1
        if (sender, seq) in seen:
            dup += 1
        seen.add((sender, seq))
print(total, unsealed, dup, len({t for _, t in types}))
PY
)
read -r total unsealed dup ntypes <<<"$out"
check "the proxy recorded datagrams of many kinds ($total datagrams, $ntypes types)" test "${total:-0}" -gt 200 -a "${ntypes:-0}" -ge 6
is "$unsealed" 0 "every datagram on the wire is sealed"
is "$dup" 0 "no (sender life, seq) twice: no nonce sealed twice, retransmissions included"
done_testing
