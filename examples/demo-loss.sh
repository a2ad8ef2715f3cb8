#!/bin/sh
# examples/demo-loss.sh (make demo-loss): the reliable UDP at work, without
# root. Three slaves and a master on loopback, all started with --simulate:
# each drops, duplicates and reorders the datagrams it receives on purpose.
# A batch of commands (small outputs and 200 KB ones) runs through them; the
# script then shows the retransmissions (client --status, /metrics, the
# daemons' own counts) and checks that every result is byte for byte what
# the same commands print when run here. Stops everything and cleans up.
#
#   LOSS=20% DUP=5% REORDER=10% SEED=1 examples/demo-loss.sh
set -u
cd "$(dirname "$0")/.."
LOSS=${LOSS:-20%} DUP=${DUP:-5%} REORDER=${REORDER:-10%} SEED=${SEED:-1}
# What every daemon gets besides its own options. For one line per datagram
# (why=rto / why=fast on retransmissions), add --trace here.
DAEMON_OPTS=""
work=$(mktemp -d /tmp/smp-demo-loss.XXXXXX)
pids=""
stop() {
    [ -n "$pids" ] && kill -TERM $pids 2>/dev/null
    wait 2>/dev/null
    rm -rf "$work"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
ready_port() { # LOG PROTO: the port a program says it listens on
    i=0
    until grep -q "listening on $2" "$1" 2>/dev/null; do
        i=$((i + 1)); [ $i -gt 200 ] && { cat "$1"; exit 1; }; sleep 0.1
    done
    sed -nE "s/.*listening on $2 [^ ]*:([0-9]+)[ ,].*/\1/p" "$1" | head -n 1
}
sim() { echo "loss=$LOSS,dup=$DUP,reorder=$REORDER,seed=$1"; }

echo "== 3 slaves, each with --simulate $(sim "$SEED")"
: >"$work/slaves.conf"
for n in 1 2 3; do
    ./serveur_esclave -j 2 --simulate "$(sim $((SEED + n)))" $DAEMON_OPTS 0 >"$work/esclave$n.log" 2>&1 &
    pids="$pids $!"
    port=$(ready_port "$work/esclave$n.log" UDP)
    echo "127.0.0.1 $port" >>"$work/slaves.conf"
done
grep -h 'warning: --simulate' "$work"/esclave*.log | sed 's/^/   /'
echo "== the master, --simulate too (and --dead-after 10: a slave silent for 3 s under this loss is not dead)"
./serveur_maitre --ephemeral --dead-after 10 --http 127.0.0.1:0 --simulate "$(sim "$SEED")" $DAEMON_OPTS \
    0 "$work/slaves.conf" >"$work/maitre.log" 2>&1 &
pids="$pids $!"
mport=$(ready_port "$work/maitre.log" TCP)
http=$(sed -nE 's,.*monitoring on (http://[^ ]*/).*,\1,p' "$work/maitre.log" | head -n 1)
grep -h 'warning: --simulate' "$work/maitre.log" | sed 's/^/   /'
echo "   pids:$pids (work dir $work)"
i=0 # the handshakes (PING, COOKIE, PING, PONG) go through the loss too
until [ "$(grep -c 'is up with' "$work/maitre.log")" -ge 3 ]; do
    i=$((i + 1)); [ $i -gt 200 ] && { echo "slaves not up: $(cat "$work/maitre.log")"; exit 1; }; sleep 0.1
done

# 30 commands: every fifth prints 200 KB (some 4 fragments of 60000 bytes
# on loopback, so a lost one is resent alone), the others a line each.
for n in $(seq 1 30); do
    if [ $((n % 5)) = 0 ]; then echo "seq $n 100000 | head -c 204800"; else echo "echo line $n; echo err $n >&2"; fi
done >"$work/commands.txt"
echo "== ./client 127.0.0.1 $mport commands.txt (30 commands, 6 of them 200 KB) --results results"
./client 127.0.0.1 "$mport" "$work/commands.txt" --results "$work/results" --joblog "$work/joblog" \
    2>"$work/client.err" >/dev/null
rc=$?
tail -n 1 "$work/client.err" | sed 's/^/   /'
echo "   client exit status: $rc (the number of failed commands)"

echo "== byte for byte: each result against the same command run here"
same=0
n=0
while IFS= read -r cmd; do
    n=$((n + 1))
    sh -c "$cmd" >"$work/expected.out" 2>"$work/expected.err"
    cmp -s "$work/expected.out" "$work/results/$n/stdout" && cmp -s "$work/expected.err" "$work/results/$n/stderr" &&
        same=$((same + 1))
done <"$work/commands.txt"
echo "   byte-exact: $same of $n results"

echo "== what the loss cost: client --status (RETRANS: request fragments the master sent again)"
./client --status 127.0.0.1 "$mport" | sed 's/^/   /'
if command -v curl >/dev/null 2>&1; then
    echo "== ${http}metrics (the same counters for Prometheus)"
    curl -s "${http}metrics" | grep -E '^smp_(datagrams_retransmitted_total|simulated_datagrams_total)' | sed 's/^/   /'
fi
echo "== stopping everything; each daemon says what --simulate did to what it received"
kill -TERM $pids 2>/dev/null
wait 2>/dev/null
pids=""
grep -h 'simulate: ' "$work/maitre.log" "$work"/esclave*.log | sed 's/^/   /'
[ "$rc" = 0 ] && [ "$same" = "$n" ]
